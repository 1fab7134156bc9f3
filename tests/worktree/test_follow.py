"""Bytes follow the pointer, whichever git command moved it (issue 12).

Each test runs real git with gitmv's hooks installed, then asserts the work-tree bytes and
`git mvm status` after every step: after a cherry-pick, revert, reset, stash, file checkout,
rename, branch switch over a partly edited dataset or a file <-> directory type change, every
artifact holds its pointer's version, or, where it held unsaved bytes, those bytes, named.
Where git runs no hook, `status` says `outdated` and names `git mvm checkout`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    dataset_files,
    git,
    git_ok,
    init_hooked,
    mvm,
    oid_hex,
    read_pointer,
    run_json,
    save,
    save_dir,
    sha,
    tree_digest,
    write,
)

NO_HOOKS = ("-c", "core.hooksPath=/dev/null/none")  # git as run where no hook fires


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return init_hooked(tmp_path / "repo")


def status(capsys: pytest.CaptureFixture[str], repo: Path) -> dict[str, dict[str, Any]]:
    return {s["path"]: s for s in run_json(capsys, repo, "status")}


def assert_follows(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The invariant: every artifact holds its pointer's bytes and status says so."""
    states = status(capsys, repo)
    assert {p: s["state"] for p, s in states.items()} == dict.fromkeys(states, "up to date")
    for path, s in states.items():
        if s["kind"] == "file":
            assert sha((repo / path).read_bytes()) == oid_hex(read_pointer(repo, path)["oid"])


@pytest.fixture
def history(repo: Path) -> dict[str, Any]:
    """main: m.pt v1, data d1. exp: one commit changing both (v2, d2), then one adding a
    file that does not touch the artifacts. Back on main."""
    v1, v2 = os.urandom(3000), os.urandom(3100)
    d1 = dataset_files(n=6, tag=b"d1")
    d2 = {**d1, "part0/f0.bin": b"changed on exp", "part1/new.bin": b"added on exp"}
    save(repo, "m.pt", v1)
    t1 = save_dir(repo, "data", d1, "v1")
    git(repo, "checkout", "-q", "-b", "exp")
    save(repo, "m.pt", v2)
    t2 = save_dir(repo, "data", d2, "v2")
    write(repo / "notes.txt", "notes")
    git(repo, "add", "notes.txt")
    git_ok(repo, "commit", "-q", "-m", "notes")
    git_ok(repo, "checkout", "-q", "main")
    assert (repo / "m.pt").read_bytes() == v1
    return {"v1": v1, "v2": v2, "t1": t1, "t2": t2, "d1": d1, "d2": d2}


def at(repo: Path, h: dict[str, Any], which: str) -> None:
    model, tree = (h["v1"], h["t1"]) if which == "1" else (h["v2"], h["t2"])
    assert (repo / "m.pt").read_bytes() == model
    assert tree_digest(repo / "data") == tree


# --- git commands that run a hook ----------------------------------------------------------


def test_cherry_pick_brings_the_picked_version(
    repo: Path, history: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    git_ok(repo, "cherry-pick", "exp~1")
    at(repo, history, "2")
    assert_follows(repo, capsys)


def test_revert_brings_the_reverted_version(
    repo: Path, history: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    git_ok(repo, "merge", "-q", "--ff-only", "exp")
    at(repo, history, "2")
    git_ok(repo, "revert", "--no-edit", "HEAD~1")
    at(repo, history, "1")
    assert_follows(repo, capsys)


def test_reset_hard_brings_that_commits_version(
    repo: Path, history: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    git_ok(repo, "reset", "-q", "--hard", "exp")  # the same branch, moved: no post-checkout
    at(repo, history, "2")
    assert_follows(repo, capsys)
    git_ok(repo, "reset", "-q", "--hard", "HEAD~2")
    at(repo, history, "1")
    assert_follows(repo, capsys)


def test_reset_mixed_then_a_file_checkout(
    repo: Path, history: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    git_ok(repo, "reset", "-q", "--hard", "exp")
    git_ok(repo, "reset", "-q", "HEAD~2")  # the index moves, the work tree does not
    at(repo, history, "2")
    assert_follows(repo, capsys)
    git_ok(repo, "checkout", "--", "m.pt.mvm", "data.mvm")  # from the index: version 1
    at(repo, history, "1")
    assert_follows(repo, capsys)


def test_stash_and_stash_pop(
    repo: Path, history: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    v3 = os.urandom(2000)
    save(repo, "m.pt", v3)  # added, not committed
    git_ok(repo, "stash", "-q")
    at(repo, history, "1")
    assert_follows(repo, capsys)
    git_ok(repo, "stash", "pop", "-q")
    assert (repo / "m.pt").read_bytes() == v3
    assert_follows(repo, capsys)


@pytest.mark.parametrize("how", [("checkout", "exp", "--"), ("restore", "--source", "exp")])
def test_file_checkout_and_restore_of_pointers(
    repo: Path, history: dict[str, Any], capsys: pytest.CaptureFixture[str],
    how: tuple[str, ...],
) -> None:
    git_ok(repo, *how, "m.pt.mvm", "data.mvm")
    at(repo, history, "2")
    assert_follows(repo, capsys)
    git_ok(repo, "checkout", "HEAD", "--", "m.pt.mvm", "data.mvm")  # back again
    at(repo, history, "1")
    assert_follows(repo, capsys)


def test_a_commit_of_a_pointer_rewritten_by_hand_brings_its_bytes(
    repo: Path, history: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """No hook fires when a pointer is written by hand; the commit that records it is not
    refused as stale (the work tree holds a cached version) and post-commit follows it."""
    write(repo / "m.pt.mvm", git(repo, "show", "exp:m.pt.mvm"))
    assert status(capsys, repo)["m.pt"]["state"] == "outdated"
    git_ok(repo, "commit", "-q", "-am", "model v2 by hand")
    assert (repo / "m.pt").read_bytes() == history["v2"]
    assert_follows(repo, capsys)


def test_unsaved_bytes_are_kept_and_named(
    repo: Path, history: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    unsaved = os.urandom(500)
    write(repo / "m.pt", unsaved)
    proc = git_ok(repo, "cherry-pick", "exp~1")
    assert "m.pt" in proc.stderr and "not in the cache" in proc.stderr
    assert (repo / "m.pt").read_bytes() == unsaved
    assert tree_digest(repo / "data") == history["t2"]
    assert status(capsys, repo)["m.pt"]["state"] == "modified"


# --- where git runs no hook: status says what to run -----------------------------------------


@pytest.mark.parametrize("op", ["cherry-pick", "revert", "reset", "stash"])
def test_status_says_outdated_and_names_checkout(
    repo: Path, history: dict[str, Any], capsys: pytest.CaptureFixture[str], op: str
) -> None:
    if op == "cherry-pick":
        git_ok(repo, *NO_HOOKS, "cherry-pick", "exp~1")
    elif op == "revert":
        git_ok(repo, "merge", "-q", "--ff-only", "exp")
        git_ok(repo, *NO_HOOKS, "revert", "--no-edit", "HEAD~1")
    elif op == "reset":
        git_ok(repo, *NO_HOOKS, "reset", "-q", "--hard", "exp")
    else:
        save(repo, "m.pt", os.urandom(100))
        save_dir(repo, "data", dataset_files(n=3, tag=b"d3"))
        git_ok(repo, *NO_HOOKS, "stash", "-q")
    states = status(capsys, repo)
    for path in ("m.pt", "data"):
        s = states[path]
        assert s["state"] == "outdated", s
        assert f"git mvm checkout {path}" in s["detail"]
        assert "git mvm add" not in s["detail"]
    capsys.readouterr()
    assert mvm(repo, "status") == 0
    assert "outdated:" in capsys.readouterr().out
    assert mvm(repo, "checkout", "-q") == 0
    assert_follows(repo, capsys)


# --- branch switches over a partly edited dataset -------------------------------------------


def test_a_switch_updates_the_untouched_files_and_keeps_the_edited_ones(
    repo: Path, history: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    edited = repo / "data" / "part1" / "f1.bin"  # the same on both branches
    write(edited, b"my unsaved edit")
    proc = git_ok(repo, "checkout", "-q", "exp")
    assert "part1/f1.bin" in proc.stderr  # named
    want = {**history["t2"], "part1/f1.bin": sha(b"my unsaved edit")}
    assert tree_digest(repo / "data") == want  # the rest is exp's: f0 changed, new.bin added
    assert (repo / "m.pt").read_bytes() == history["v2"]
    s = status(capsys, repo)["data"]
    assert (s["state"], s["detail"]) == ("modified", "1 modified")
    # The hint on the new branch commits exp's dataset with the one edit, nothing of main's.
    assert mvm(repo, "add", "-q", "data") == 0
    git_ok(repo, "commit", "-q", "-m", "edit")
    files = {e for e in git(repo, "show", "HEAD:data.mvm").split("\n") if "files" in e}
    assert files == {f"files = {len(history['d2'])}"}
    git_ok(repo, "checkout", "-q", "main")
    at(repo, history, "1")


def test_an_edited_file_that_the_new_branch_changes_is_kept(
    repo: Path, history: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / "data" / "part0" / "f0.bin", b"mine")  # exp changes this one too
    proc = git_ok(repo, "checkout", "-q", "exp")
    assert "part0/f0.bin" in proc.stderr
    want = {**history["t2"], "part0/f0.bin": sha(b"mine")}
    assert tree_digest(repo / "data") == want
    assert mvm(repo, "checkout", "-q", "--force", "data") == 0
    assert_follows(repo, capsys)


# --- a path that is a directory artifact on one branch and a file artifact on another ------


def type_change(repo: Path) -> tuple[bytes, dict[str, str]]:
    files = dataset_files(n=4, tag=b"dir")
    tree = save_dir(repo, "thing", files, "thing is a directory")
    git(repo, "checkout", "-q", "-b", "as-file")
    shutil.rmtree(repo / "thing")
    single = os.urandom(1234)
    save(repo, "thing", single, "thing is a file")
    git_ok(repo, "checkout", "-q", "main")
    return single, tree


def test_a_clean_type_change_is_followed_both_ways(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    single, tree = type_change(repo)
    assert tree_digest(repo / "thing") == tree
    git_ok(repo, "checkout", "-q", "as-file")
    assert (repo / "thing").read_bytes() == single
    assert_follows(repo, capsys)
    git_ok(repo, "checkout", "-q", "main")
    assert tree_digest(repo / "thing") == tree
    assert_follows(repo, capsys)


def test_a_type_change_keeps_unsaved_bytes_until_forced(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    single, _tree = type_change(repo)
    write(repo / "thing" / "part0" / "f0.bin", b"unsaved")
    proc = git_ok(repo, "checkout", "-q", "as-file")
    assert "thing" in proc.stderr and "part0/f0.bin" in proc.stderr
    assert (repo / "thing" / "part0" / "f0.bin").read_bytes() == b"unsaved"
    assert mvm(repo, "checkout", "-q", "thing") == 1
    assert (repo / "thing" / "part0" / "f0.bin").read_bytes() == b"unsaved"
    assert mvm(repo, "checkout", "-q", "--force", "thing") == 0
    assert (repo / "thing").read_bytes() == single
    assert_follows(repo, capsys)


# --- renames: `git mv a.mvm b.mvm` -----------------------------------------------------------


def ignored(repo: Path, rev: str | None = None, where: str = "") -> list[str]:
    name = f"{where}/.gitignore" if where else ".gitignore"
    if rev is None:
        path = repo / name
        return path.read_text().splitlines() if path.exists() else []
    return git(repo, "show", f"{rev}:{name}").splitlines()


def test_a_renamed_pointer_takes_its_bytes_at_the_commit(
    repo: Path, history: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "models").mkdir()
    git(repo, "mv", "m.pt.mvm", "models/best.pt.mvm")
    git(repo, "mv", "data.mvm", "train.mvm")
    proc = git_ok(repo, "commit", "-q", "-m", "rename")
    assert "moved from m.pt" in proc.stderr
    assert (repo / "models" / "best.pt").read_bytes() == history["v1"]
    assert tree_digest(repo / "train") == history["t1"]
    assert not (repo / "m.pt").exists() and not (repo / "data").exists()
    assert "/best.pt" in ignored(repo, "HEAD", "models")
    assert "/train" in ignored(repo, "HEAD")
    assert "/m.pt" not in ignored(repo, "HEAD") and "/data" not in ignored(repo, "HEAD")
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert_follows(repo, capsys)


def test_status_follows_a_rename_before_any_commit(
    repo: Path, history: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    git(repo, "mv", "data.mvm", "train.mvm")
    assert_follows(repo, capsys)  # status moved it
    assert tree_digest(repo / "train") == history["t1"]
    assert not (repo / "data").exists()
    assert "/train" in ignored(repo) and "/data" not in ignored(repo)
    git_ok(repo, "commit", "-q", "-m", "rename")  # the .gitignore line goes with the rename
    assert git(repo, "status", "--porcelain") == ""
    assert "/train" in git(repo, "show", "HEAD:.gitignore").splitlines()


def test_a_renamed_pointer_whose_old_bytes_were_edited_keeps_them(
    repo: Path, history: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / "m.pt", b"unsaved")
    git(repo, "mv", "m.pt.mvm", "n.pt.mvm")
    proc = git_ok(repo, "commit", "-q", "-m", "rename")
    assert "m.pt" in proc.stderr and "not in the cache" in proc.stderr
    assert (repo / "m.pt").read_bytes() == b"unsaved"  # kept, and named
    assert (repo / "n.pt").read_bytes() == history["v1"]  # the pointer's, from the cache
    assert_follows(repo, capsys)
