"""A team's day with plain git: the models follow commits, pushes, clones, pulls, checkouts
and rebases, with no gitmv remote configured (objects live beside the bare repository).

Every step asserts the bytes in each teammate's working tree.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from gitmv.hooks.install import shim
from tests.helpers import (
    HOOK_NAMES,
    assert_cache_sound,
    assert_store_sound,
    cache_objects,
    dataset_files,
    git,
    git_ok,
    git_run,
    init_bare,
    mvm,
    remote_oids,
    remote_store,
    rev,
    save,
    save_dir,
    sha,
    tree_digest,
    write,
)

MODEL = "models/classifier.pt"
DATA = "data/train"


def model(repo: Path) -> bytes:
    return (repo / MODEL).read_bytes()


def data(repo: Path) -> dict[str, str]:
    return tree_digest(repo / DATA)


def commit_code(repo: Path, name: str, text: str) -> None:
    write(repo / name, text)
    git(repo, "add", name)
    git_ok(repo, "commit", "-q", "-m", f"code: {name}")


def test_team_workflow(tmp_path: Path) -> None:
    server = init_bare(tmp_path / "server" / "models.git")

    # Alice starts the project: init (installs the hooks), add, commit, push.
    alice = tmp_path / "alice"
    alice.mkdir()
    git(alice, "init", "-q")
    assert mvm(alice, "init", "-q") == 0
    for name in HOOK_NAMES:
        assert (alice / ".git" / "hooks" / name).read_bytes() == shim(name)
    write(alice / "train.py", "print('train')\n")
    write(alice / "metrics.toml", "accuracy = 0.81\n")
    git(alice, "add", "train.py", "metrics.toml")
    m1 = os.urandom(20_000)
    save(alice, MODEL, m1)
    d1 = save_dir(alice, DATA, dataset_files(n=10, tag=b"d1"), "classifier v1")
    git(alice, "remote", "add", "origin", str(server))
    git_ok(alice, "push", "-q", "-u", "origin", "main")
    assert set(cache_objects(alice)) <= remote_oids(server)
    assert_store_sound(remote_store(server))

    # Bob joins with one command.
    assert mvm(tmp_path, "clone", "-q", str(server), str(tmp_path / "bob")) == 0
    bob = tmp_path / "bob"
    assert model(bob) == m1
    assert data(bob) == d1

    # Alice trains v2 and pushes; Bob pulls (merge) and has it.
    m2 = os.urandom(20_000)
    save(alice, MODEL, m2, "classifier v2")
    git_ok(alice, "push", "-q")
    git_ok(bob, "pull", "-q", "--no-rebase")
    assert model(bob) == m2
    assert data(bob) == d1

    # Bob experiments with the data on a branch and pushes it.
    git_ok(bob, "checkout", "-q", "-b", "more-data")
    files2 = dataset_files(n=10, tag=b"d2")
    d2 = save_dir(bob, DATA, files2, "more data")
    m3 = os.urandom(20_000)
    save(bob, MODEL, m3, "classifier v3 on more data")
    git_ok(bob, "push", "-q", "-u", "origin", "more-data")

    # Alice checks the branch out: the new data and model arrive by themselves.
    git_ok(alice, "fetch", "-q")
    git_ok(alice, "checkout", "-q", "more-data")
    assert model(alice) == m3
    assert data(alice) == d2
    git_ok(alice, "checkout", "-q", "main")
    assert model(alice) == m2
    assert data(alice) == d1

    # Meanwhile main moves on: Alice pushes code; Bob rebases his branch onto it.
    commit_code(alice, "eval.py", "print('eval')\n")
    git_ok(alice, "push", "-q")
    git_ok(bob, "fetch", "-q")
    git_ok(bob, "rebase", "-q", "origin/main")
    assert (bob / "eval.py").exists()
    assert model(bob) == m3
    assert data(bob) == d2
    git_ok(bob, "push", "-q", "--force", "origin", "more-data")

    # Alice trains v4 on main; Bob has a local code commit on main and pulls with --rebase.
    git_ok(bob, "checkout", "-q", "main")
    assert model(bob) == m2
    assert data(bob) == d1
    commit_code(bob, "notes.md", "bob's notes\n")
    m4 = os.urandom(20_000)
    git_ok(alice, "pull", "-q", "--ff-only")
    save(alice, MODEL, m4, "classifier v4")
    git_ok(alice, "push", "-q")
    git_ok(bob, "pull", "-q", "--rebase")
    assert model(bob) == m4
    assert (bob / "notes.md").exists()
    assert (bob / "eval.py").exists()
    git_ok(bob, "push", "-q")

    # The branch is merged into main (a true merge), and the merge is pulled.
    git_ok(alice, "pull", "-q", "--ff-only")
    git_ok(alice, "merge", "-q", "--no-edit", "-X", "theirs", "origin/more-data")
    assert model(alice) == m3
    assert data(alice) == d2
    git_ok(alice, "push", "-q")
    git_ok(bob, "pull", "-q", "--ff-only")
    assert model(bob) == m3
    assert data(bob) == d2

    # Old versions stay reachable: Carol (plain `git clone`, then install + pull) walks history.
    carol = tmp_path / "carol"
    subprocess.run(["git", "clone", "-q", str(server), str(carol)], check=True)
    assert not (carol / MODEL).exists()
    assert mvm(carol, "install", "-q") == 0
    assert mvm(carol, "pull", "-q") == 0
    assert model(carol) == m3
    for commit_msg, want in (("classifier v1", m1), ("classifier v2", m2),
                             ("classifier v4", m4)):
        commit = git(carol, "log", "--format=%H", f"--grep=^{commit_msg}$", "main").split()[0]
        git_ok(carol, "checkout", "-q", commit)
        assert model(carol) == want, commit_msg
    git_ok(carol, "checkout", "-q", "main")
    assert model(carol) == m3

    # Deleting the merged branch on the server pushes nothing and needs nothing.
    git_ok(bob, "push", "-q", "origin", ":more-data")
    assert "more-data" not in git(server, "branch")

    # Everything everybody has is whole, and the server has every version ever pushed.
    for repo in (alice, bob, carol):
        assert_cache_sound(repo)
    assert {sha(m) for m in (m1, m2, m3, m4)} <= remote_oids(server)


def test_commit_refusal_and_recovery_in_a_team(tmp_path: Path) -> None:
    """A teammate forgets `git mvm add`; the hooks stop the commit, then the push goes."""
    server = init_bare(tmp_path / "server.git")
    alice = tmp_path / "alice"
    alice.mkdir()
    git(alice, "init", "-q")
    assert mvm(alice, "init", "-q") == 0
    write(alice / ".mvm" / "config.toml",
          (alice / ".mvm" / "config.toml").read_text().replace(
              "[hooks]\n", '[hooks]\nmax_file_size = "10KB"\n'))
    git(alice, "add", ".mvm/config.toml")
    git_ok(alice, "commit", "-q", "-m", "init")
    git(alice, "remote", "add", "origin", str(server))

    weights = os.urandom(50_000)
    write(alice / MODEL, weights)
    git(alice, "add", MODEL)  # the mistake: plain git add of a big file
    proc = git_run(alice, "commit", "-q", "-m", "oops")
    assert proc.returncode != 0
    assert f"git mvm add {MODEL}" in proc.stderr
    git(alice, "rm", "-q", "--cached", MODEL)
    assert mvm(alice, "add", "-q", MODEL) == 0
    git_ok(alice, "commit", "-q", "-m", "model")
    git_ok(alice, "push", "-q", "-u", "origin", "main")
    assert rev(server, "main") == rev(alice)
    assert sha(weights) in remote_oids(server)
    assert MODEL not in git(server, "ls-tree", "-r", "--name-only", "main").split()

    bob = tmp_path / "bob"
    assert mvm(tmp_path, "clone", "-q", str(server), str(bob)) == 0
    assert model(bob) == weights
