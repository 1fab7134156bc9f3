"""`git mvm clone URL [DIR] [git clone options]`: git clone's options pass through, `-q` is
quiet (git's output and gitmv's), and the artifacts of the branch cloned are in place."""

from __future__ import annotations

import os
from pathlib import Path

from tests.helpers import git, git_ok, init_bare, init_hooked, mvm_proc, save, sha


def _origin(tmp_path: Path) -> tuple[Path, bytes, bytes]:
    server = init_bare(tmp_path / "server.git")
    alice = init_hooked(tmp_path / "alice", origin=server)
    main_model = os.urandom(3000)
    save(alice, "m.pt", main_model, "main model")
    git_ok(alice, "push", "-q", "-u", "origin", "main")
    git(alice, "checkout", "-q", "-b", "feature")
    feature_model = os.urandom(3000)
    save(alice, "m.pt", feature_model, "feature model")
    save(alice, "other.bin", os.urandom(100), "another commit")
    git_ok(alice, "push", "-q", "-u", "origin", "feature")
    return server, main_model, feature_model


def test_clone_passes_git_clone_options_and_q_is_quiet(tmp_path: Path) -> None:
    server, _main, feature = _origin(tmp_path)
    git(server, "config", "uploadpack.allowFilter", "true")
    bob = tmp_path / "bob"
    proc = mvm_proc(tmp_path, "clone", "-q", f"file://{server}", str(bob), "-b", "feature",
                    "--depth", "1", "--single-branch", "-o", "up", "--filter=blob:none")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == "", (proc.stdout, proc.stderr)
    assert git(bob, "branch", "--show-current").strip() == "feature"
    assert git(bob, "rev-parse", "--is-shallow-repository").strip() == "true"
    assert git(bob, "remote").split() == ["up"]
    assert git(bob, "config", "remote.up.partialclonefilter").strip() == "blob:none"
    assert git(bob, "branch", "-r").split() == ["up/feature"]
    assert sha((bob / "m.pt").read_bytes()) == sha(feature)
    assert (bob / ".git" / "hooks" / "pre-push").exists()


def test_clone_no_checkout_and_recurse_submodules(tmp_path: Path) -> None:
    server, main_model, _ = _origin(tmp_path)
    bob = tmp_path / "bob"
    proc = mvm_proc(tmp_path, "clone", "--no-checkout", str(server), str(bob))
    assert proc.returncode == 0, proc.stderr
    assert not (bob / "m.pt").exists() and not (bob / "m.pt.mvm").exists()
    assert "git mvm pull" in proc.stderr  # the next step once something is checked out
    carol = tmp_path / "carol"
    proc = mvm_proc(tmp_path, "clone", "--recurse-submodules", "--no-tags", str(server),
                    str(carol))
    assert proc.returncode == 0, proc.stderr
    assert (carol / "m.pt").read_bytes() == main_model
    assert "Cloning into" in proc.stderr  # not quiet: git speaks


def test_clone_bare_and_unknown_option(tmp_path: Path) -> None:
    server, _, _ = _origin(tmp_path)
    proc = mvm_proc(tmp_path, "clone", "--bare", str(server), str(tmp_path / "mirror.git"))
    assert proc.returncode == 0, proc.stderr
    assert git(tmp_path / "mirror.git", "rev-parse", "--is-bare-repository").strip() == "true"
    proc = mvm_proc(tmp_path, "clone", "--no-such-option", str(server), str(tmp_path / "x"))
    assert proc.returncode == 2 and "--no-such-option" in proc.stderr
    assert not (tmp_path / "x").exists()
