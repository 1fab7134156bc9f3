"""The small things a new user trips over (issue 12, "Also fix"), each on real git."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitmv.ui import plural
from tests.faultserver import Faults, FaultServer
from tests.helpers import (
    configure,
    error_lines,
    git,
    git_ok,
    git_run,
    init_bare,
    init_hooked,
    mvm_proc,
    save,
    sha,
    staged,
    write,
)


def test_no_arguments_prints_help(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "gitmv"], cwd=tmp_path, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 2
    assert "usage: git mvm" in proc.stdout and "clone" in proc.stdout and "add" in proc.stdout
    assert "error" not in proc.stderr


@pytest.mark.parametrize("jobs", ["0", "-1", "-8"])
def test_jobs_must_be_positive(repo: Path, jobs: str) -> None:
    write(repo / "m.pt", b"x" * 100)
    proc = mvm_proc(repo, "add", "-j", jobs, "m.pt")
    assert proc.returncode == 2, proc.stderr
    assert "at least 1" in proc.stderr
    assert "m.pt.mvm" not in staged(repo)


def test_plural() -> None:
    assert plural(1, "file") == "1 file"
    assert plural(0, "file") == "0 files"
    assert plural(2, "object") == "2 objects"
    assert plural(1, "directory", "directories") == "1 directory"
    assert plural(1234, "file") == "1234 files"


def test_one_file_is_not_files(repo: Path) -> None:
    write(repo / "d" / "a.bin", os.urandom(100))
    proc = mvm_proc(repo, "add", "d")
    assert proc.returncode == 0, proc.stderr
    assert "1 file)" in proc.stderr and "1 files" not in proc.stderr, proc.stderr


def test_dir_pointer_without_files_says_what_is_missing(repo: Path) -> None:
    write(repo / "d.mvm", 'mvm = 1\nkind = "dir"\noid = "sha256:' + "a" * 64 + '"\nsize = 3\n')
    proc = mvm_proc(repo, "status")
    assert "got None" not in proc.stderr
    assert "`files = N`" in proc.stderr and "missing" in proc.stderr, proc.stderr


def test_add_star_skips_the_pointer_files_it_matches(repo: Path) -> None:
    write(repo / "m.pt", os.urandom(100))
    write(repo / "d" / "a.bin", os.urandom(100))
    assert mvm_proc(repo, "add", "m.pt", "d").returncode == 0
    write(repo / "m.pt", os.urandom(100))  # changed: `add *` adds it again
    names = sorted(p.name for p in repo.iterdir() if not p.name.startswith("."))
    assert names == ["d", "d.mvm", "m.pt", "m.pt.mvm"]
    proc = mvm_proc(repo, "add", *names)
    assert proc.returncode == 0, proc.stderr
    assert "error" not in proc.stderr and "warning" not in proc.stderr, proc.stderr
    assert "added: m.pt" in proc.stderr
    assert not (repo / "m.pt.mvm.mvm").exists() and not (repo / "d.mvm.mvm").exists()


def test_add_of_an_ignored_file_keeps_one_gitignore_line(repo: Path) -> None:
    write(repo / ".gitignore", "/m.pt\n")
    write(repo / "sub" / ".gitignore", "big.bin\n")
    write(repo / "m.pt", os.urandom(100))
    write(repo / "sub" / "big.bin", os.urandom(100))
    for _ in range(2):
        assert mvm_proc(repo, "add", "m.pt", "sub/big.bin").returncode == 0
    assert (repo / ".gitignore").read_text().count("m.pt") == 1
    assert (repo / "sub" / ".gitignore").read_text().count("big.bin") == 1


def test_add_dot_at_the_root_adds_each_untracked_entry(repo: Path) -> None:
    write(repo / "m.pt", os.urandom(100))
    write(repo / "data" / "a.bin", os.urandom(100))
    write(repo / "train.py", "print(1)\n")
    git(repo, "add", "train.py")
    git_ok(repo, "commit", "-q", "-m", "code")
    proc = mvm_proc(repo, "add", ".")
    assert proc.returncode == 0, proc.stderr
    assert {"m.pt.mvm", "data.mvm"} <= staged(repo)
    assert "train.py.mvm" not in staged(repo) and not (repo / ".mvm.mvm").exists()
    proc = mvm_proc(repo / "data", "add", ".")  # in a directory: that directory
    assert proc.returncode == 0, proc.stderr


def test_push_to_a_misspelled_remote_says_no_such_remote(tmp_path: Path) -> None:
    alice = init_hooked(tmp_path / "alice", origin=init_bare(tmp_path / "srv.git"))
    save(alice, "m.pt", os.urandom(100), "m")
    proc = mvm_proc(alice, "push", "orign")
    assert proc.returncode == 1
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and "no such remote 'orign'" in lines[0], proc.stderr
    assert "origin" in proc.stderr  # the remotes there are


def test_http_501_on_put_is_not_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with FaultServer(tmp_path / "http-root",
                     faults=Faults(fail_first=10**6, fail_status=501, fail_methods=("PUT",))
                     ) as server:
        alice = init_hooked(tmp_path / "alice", origin=init_bare(tmp_path / "srv.git"))
        git_ok(alice, "mvm", "remote", "add", "web", f"{server.url}/store", "--default")
        save(alice, "m.pt", os.urandom(1000), "m")
        res = git_run(alice, "mvm", "push")
        puts = server.requests("PUT")
    assert res.returncode == 1
    assert "501" in res.stderr and "gave up" not in res.stderr, res.stderr
    assert len(puts) == 1, [r.path for r in puts]


def test_a_resumed_download_reports_the_bytes_it_fetched(tmp_path: Path) -> None:
    """(A loose object's download resumes from its partial file: a store of layout 1. A
    packed one is read by ranges, whole.)"""
    server = init_bare(tmp_path / "srv.git")
    alice = init_hooked(tmp_path / "alice", origin=server)
    configure(alice, "remote.origin", "packs = false")
    git_ok(alice, "commit", "-q", "-m", "loose store", ".mvm/config.toml")
    model = os.urandom(300_000)
    save(alice, "m.pt", model, "model")
    git_ok(alice, "push", "-q", "origin", "main")
    bob = tmp_path / "bob"
    subprocess.run(["git", "clone", "-q", str(server), str(bob)], check=True)
    tmp = bob / ".git" / "mvm" / "tmp"
    tmp.mkdir(parents=True)
    (tmp / f"partial-{sha(model)}").write_bytes(model[:200_000])  # a killed fetch's bytes
    proc = mvm_proc(bob, "pull")
    assert proc.returncode == 0, proc.stderr
    assert (bob / "m.pt").read_bytes() == model
    assert "fetched 1 object (100.0 KB)" in proc.stderr, proc.stderr


def test_a_push_missing_an_object_names_the_path_and_commit(tmp_path: Path) -> None:
    server = init_bare(tmp_path / "srv.git")
    alice = init_hooked(tmp_path / "alice", origin=server)
    model = os.urandom(3000)
    save(alice, "models/m.pt", model, "model")
    commit = git(alice, "rev-parse", "HEAD").strip()
    for obj in (alice / ".git" / "mvm" / "objects").rglob(sha(model)):
        obj.chmod(0o644)
        obj.unlink()  # this clone lost the bytes before pushing them
    proc = mvm_proc(alice, "push", "--all")
    assert proc.returncode == 1
    assert "models/m.pt" in proc.stderr and commit[:12] in proc.stderr, proc.stderr


def test_status_after_a_plain_clone_from_a_subdirectory(tmp_path: Path) -> None:
    """Paths relative to the current directory, as git prints them; the next step named:
    after a plain `git clone` (no hooks, nothing cached) `git mvm install && git mvm pull`,
    then with the hooks `git mvm pull`, with the bytes cached `git mvm checkout`. Exit 0, as
    `git status` and `dvc status`: the state is reported, not an error."""
    server = init_bare(tmp_path / "srv.git")
    alice = init_hooked(tmp_path / "alice", origin=server)
    save(alice, "models/m.pt", os.urandom(1000), "model")
    save(alice, "data.bin", os.urandom(1000), "data")
    git_ok(alice, "push", "-q", "origin", "main")
    bob = tmp_path / "bob"
    subprocess.run(["git", "clone", "-q", str(server), str(bob)], check=True)
    proc = mvm_proc(bob / "models", "status")
    assert proc.returncode == 0, proc.stderr
    assert "m.pt" in proc.stdout and "models/m.pt" not in proc.stdout, proc.stdout
    assert "../data.bin" in proc.stdout, proc.stdout
    assert "git mvm install && git mvm pull" in proc.stderr, proc.stderr
    assert mvm_proc(bob, "install", "-q").returncode == 0
    proc = mvm_proc(bob, "status")
    assert "models/m.pt" in proc.stdout
    assert "`git mvm pull`" in proc.stderr and "install" not in proc.stderr, proc.stderr
    assert mvm_proc(bob, "pull", "-q").returncode == 0
    (bob / "data.bin").unlink()
    proc = mvm_proc(bob, "status")
    assert "`git mvm checkout`" in proc.stderr, proc.stderr


@pytest.mark.parametrize("kind", ["metrics", "params"])
def test_a_diff_with_nothing_changed_says_so(repo: Path, kind: str) -> None:
    from tests.helpers import configure

    configure(repo, kind, f'files = ["{kind}.toml"]')
    write(repo / f"{kind}.toml", "accuracy = 0.9\n")
    git(repo, "add", ".mvm/config.toml", f"{kind}.toml")
    git_ok(repo, "commit", "-q", "-m", kind)
    proc = mvm_proc(repo, kind, "diff")
    assert proc.returncode == 0, proc.stderr
    assert f"no {kind} changed between HEAD and the work tree" in proc.stderr, proc.stderr
