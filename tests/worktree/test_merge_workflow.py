"""Merges, rebases and cherry-picks of pointers on real git: the merge driver, `git mvm
resolve`, and what status / diff / the hooks say during a conflict. Bytes asserted after every
step."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import (
    clone_hooked,
    git,
    git_ok,
    git_run,
    init_bare,
    init_hooked,
    mvm,
    run,
    run_json,
    save,
    tree_digest,
    write,
)

BASE = {"a.bin": b"a0" * 100, "b.bin": b"b0" * 100, "sub/c.bin": b"c0" * 100}


def commit_dataset(repo: Path, changes: dict[str, bytes | None], message: str) -> None:
    for name, data in changes.items():
        if data is None:
            (repo / "data" / name).unlink()
        else:
            write(repo / "data" / name, data)
    assert mvm(repo, "add", "-q", "data") == 0
    git_ok(repo, "commit", "-q", "-m", message)


def expect(files: dict[str, bytes]) -> dict[str, str]:
    import hashlib

    return {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}


def unmerged(repo: Path) -> str:
    return git(repo, "ls-files", "-u")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Hooked repository, dataset `data` on main, branch `feature` from there."""
    root = init_hooked(tmp_path / "repo")
    commit_dataset(root, dict(BASE), "dataset")
    git(root, "branch", "feature")
    return root


def diverge(repo: Path, ours: dict[str, bytes | None], theirs: dict[str, bytes | None]) -> None:
    git_ok(repo, "checkout", "-q", "feature")
    commit_dataset(repo, theirs, "theirs")
    git_ok(repo, "checkout", "-q", "main")
    commit_dataset(repo, ours, "ours")


def test_install_registers_the_merge_driver_once_and_uninstall_removes_it(repo: Path) -> None:
    info = repo / ".git" / "info" / "attributes"
    assert git(repo, "config", "merge.mvm.driver").strip() == "git mvm merge-driver %O %A %B %P"
    assert info.read_text().splitlines().count("*.mvm merge=mvm") == 1
    assert mvm(repo, "install", "-q") == 0
    assert info.read_text().splitlines().count("*.mvm merge=mvm") == 1
    assert git(repo, "check-attr", "merge", "--", "data.mvm").strip().endswith("merge: mvm")
    assert mvm(repo, "uninstall", "-q") == 0
    assert git_run(repo, "config", "merge.mvm.driver").returncode == 1
    assert "merge=mvm" not in info.read_text()


def test_different_files_changed_on_each_branch_merge_cleanly(repo: Path) -> None:
    diverge(repo, ours={"a.bin": b"a-ours", "new-ours.bin": b"n1"},
            theirs={"b.bin": b"b-theirs", "sub/c.bin": None, "new-theirs.bin": b"n2"})
    git_ok(repo, "merge", "-q", "--no-edit", "feature")
    want = {"a.bin": b"a-ours", "b.bin": b"b-theirs", "new-ours.bin": b"n1",
            "new-theirs.bin": b"n2"}
    assert tree_digest(repo / "data") == expect(want)  # the post-merge hook checked it out
    assert unmerged(repo) == "" and git(repo, "status", "--porcelain") == ""
    assert "sub" not in os.listdir(repo / "data")


def test_identical_changes_on_both_sides_merge(repo: Path) -> None:
    diverge(repo, ours={"a.bin": b"same", "x.bin": b"x"},
            theirs={"a.bin": b"same", "y.bin": b"y"})
    git_ok(repo, "merge", "-q", "--no-edit", "feature")
    assert tree_digest(repo / "data") == expect({**BASE, "a.bin": b"same", "x.bin": b"x",
                                                 "y.bin": b"y"})


def test_objects_the_merge_needs_come_from_the_store(tmp_path: Path) -> None:
    """Bob merges alice's pushed change: her manifest is only on the store; the driver fetches
    it, the post-merge hook her files."""
    bare = init_bare(tmp_path / "srv.git")
    alice = init_hooked(tmp_path / "alice", bare)
    commit_dataset(alice, dict(BASE), "dataset")
    git_ok(alice, "push", "-q", "-u", "origin", "main")
    bob = clone_hooked(bare, tmp_path / "bob")
    assert mvm(bob, "pull", "-q") == 0
    commit_dataset(alice, {"a.bin": b"alice"}, "alice")
    git_ok(alice, "push", "-q")
    commit_dataset(bob, {"b.bin": b"bob"}, "bob")
    git_ok(bob, "pull", "-q", "--no-rebase", "--no-edit")
    assert unmerged(bob) == ""
    assert tree_digest(bob / "data") == expect({**BASE, "a.bin": b"alice", "b.bin": b"bob"})
    git_ok(bob, "push", "-q")  # the merged manifest goes to the store with the merge
    git_ok(alice, "pull", "-q", "--ff-only")
    assert tree_digest(alice / "data") == tree_digest(bob / "data")


def conflict(repo: Path) -> None:
    diverge(repo, ours={"a.bin": b"a-ours", "b.bin": b"b-ours"},
            theirs={"a.bin": b"a-theirs", "sub/c.bin": b"c-theirs", "t.bin": b"t"})
    proc = git_run(repo, "merge", "--no-edit", "feature")
    assert proc.returncode != 0
    assert "data/a.bin" in proc.stderr or "a.bin (changed on both sides)" in proc.stderr, \
        proc.stderr
    assert "git mvm resolve data --ours|--theirs|--union" in proc.stderr


OURS = {**BASE, "a.bin": b"a-ours", "b.bin": b"b-ours"}
THEIRS = {**BASE, "a.bin": b"a-theirs", "sub/c.bin": b"c-theirs", "t.bin": b"t"}


@pytest.mark.parametrize(("args", "want"), [
    (["--ours"], OURS),
    (["--theirs"], THEIRS),
    (["--union", "--prefer", "theirs"], {**OURS, **THEIRS, "b.bin": b"b-ours"}),
])
def test_conflict_then_resolve(repo: Path, capsys: pytest.CaptureFixture[str],
                               args: list[str], want: dict[str, bytes]) -> None:
    conflict(repo)
    assert "data.mvm" in unmerged(repo)
    assert tree_digest(repo / "data") == expect(OURS)  # the work tree is still ours
    res = run(capsys, repo, "resolve", "data", *args)
    assert res.rc == 0, res.err
    assert unmerged(repo) == ""
    assert tree_digest(repo / "data") == expect(want)
    assert run_json(capsys, repo, "status", "data")[0]["state"] == "up to date"
    git_ok(repo, "commit", "-q", "--no-edit")  # pre-commit accepts it
    assert tree_digest(repo / "data") == expect(want)
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.parametrize("favor", ["ours", "theirs"])
def test_strategy_option_settles_file_conflicts(repo: Path, favor: str) -> None:
    """`git merge -X ours|theirs` settles conflicting files for that side (as git does for
    text conflicts); the files changed on one side only still merge."""
    diverge(repo, ours={"a.bin": b"a-ours", "b.bin": b"b-ours"},
            theirs={"a.bin": b"a-theirs", "t.bin": b"t"})
    git_ok(repo, "merge", "-q", "--no-edit", "-X", favor, "feature")
    assert unmerged(repo) == ""
    assert tree_digest(repo / "data") == expect(
        {**BASE, "a.bin": b"a-" + favor.encode(), "b.bin": b"b-ours", "t.bin": b"t"})


def test_union_without_a_side_names_the_files_changed_on_both(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conflict(repo)
    res = run(capsys, repo, "resolve", "data", "--union")
    assert res.rc == 1
    assert "a.bin (changed on both sides)" in res.err and "--prefer" in res.err
    assert "data.mvm" in unmerged(repo)  # nothing changed
    assert tree_digest(repo / "data") == expect(OURS)


def test_status_and_diff_during_a_conflict(repo: Path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    conflict(repo)
    res = run(capsys, repo, "status")
    assert "conflict:" in res.out and "data" in res.out
    assert "git mvm resolve data --ours|--theirs|--union" in res.out + res.err
    assert "modified" not in res.out and "removed" not in res.out
    [item] = run_json(capsys, repo, "status")
    assert item["state"] == "conflict"
    res = run(capsys, repo, "diff")
    assert res.rc == 0, res.err
    assert "conflict:" in res.out and "git mvm resolve data" in res.out
    assert "removed" not in res.out
    assert run_json(capsys, repo, "diff")["conflict"][0]["path"] == "data"


def test_a_staged_unresolved_pointer_is_refused(repo: Path) -> None:
    conflict(repo)
    git(repo, "add", "data.mvm")  # the pointer as the driver left it: ours, marked
    proc = git_run(repo, "commit", "--no-edit")
    assert proc.returncode != 0
    assert "git mvm resolve data" in proc.stderr and "git checkout -m" in proc.stderr


def test_model_changed_on_both_sides(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git_ok(repo, "checkout", "-q", "feature")
    theirs = save(repo, "m.bin", b"model-theirs", "theirs")
    git_ok(repo, "checkout", "-q", "main")
    ours = save(repo, "m.bin", b"model-ours", "ours")
    proc = git_run(repo, "merge", "--no-edit", "feature")
    assert proc.returncode != 0 and "git mvm resolve m.bin" in proc.stderr
    assert {i["path"]: i["state"] for i in run_json(capsys, repo, "status")} == \
        {"data": "up to date", "m.bin": "conflict"}
    res = run(capsys, repo, "resolve", "m.bin", "--union")
    assert res.rc == 1 and "--ours or --theirs" in res.err
    assert run(capsys, repo, "resolve", "m.bin", "--theirs").rc == 0
    assert (repo / "m.bin").read_bytes() == b"model-theirs"
    git_ok(repo, "commit", "-q", "--no-edit")
    assert git(repo, "show", "HEAD:m.bin.mvm").count(theirs) == 1
    assert ours != theirs


def test_git_checkout_theirs_then_add_does_not_commit_ours(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The trap in the issue: `git checkout --theirs m.bin.mvm`, then `git mvm add m.bin`
    (the work tree still holds ours' bytes) committed ours."""
    git_ok(repo, "checkout", "-q", "feature")
    save(repo, "m.bin", b"model-theirs", "theirs")
    git_ok(repo, "checkout", "-q", "main")
    save(repo, "m.bin", b"model-ours", "ours")
    assert git_run(repo, "merge", "--no-edit", "feature").returncode != 0
    git(repo, "checkout", "--theirs", "m.bin.mvm")
    # post-checkout (flag 0) brought the bytes of the pointer git wrote: theirs
    assert (repo / "m.bin").read_bytes() == b"model-theirs"
    res = run(capsys, repo, "status")
    assert "conflict" in res.out and "git mvm resolve m.bin" in res.out + res.err
    res = run(capsys, repo, "add", "m.bin")
    assert res.rc == 1 and "git mvm resolve m.bin --" in res.err and "--theirs" in res.err
    assert "m.bin.mvm" in unmerged(repo)
    assert run(capsys, repo, "resolve", "m.bin", "--theirs").rc == 0
    assert (repo / "m.bin").read_bytes() == b"model-theirs"


def test_conflict_without_the_driver(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The driver not installed (another clone, an old install): git merges the pointer as
    text and leaves conflict markers; resolve reads the index all the same."""
    git(repo, "config", "--remove-section", "merge.mvm", check=False)
    (repo / ".git" / "info" / "attributes").write_text("")
    diverge(repo, ours={"a.bin": b"a-ours"}, theirs={"b.bin": b"b-theirs"})
    assert git_run(repo, "merge", "--no-edit", "feature").returncode != 0
    assert "<<<<<<<" in (repo / "data.mvm").read_text()
    res = run(capsys, repo, "status")
    assert "conflict:" in res.out and "invalid" not in res.out
    res = run(capsys, repo, "resolve", "data", "--union")
    assert res.rc == 0, res.err
    assert tree_digest(repo / "data") == expect({**BASE, "a.bin": b"a-ours",
                                                 "b.bin": b"b-theirs"})
    git_ok(repo, "commit", "-q", "--no-edit")


@pytest.mark.parametrize("side", ["--ours", "--theirs", "--union"])
def test_modified_on_one_branch_deleted_on_the_other(
        repo: Path, capsys: pytest.CaptureFixture[str], side: str) -> None:
    git_ok(repo, "checkout", "-q", "feature")
    git_ok(repo, "rm", "-q", "data.mvm")
    git_ok(repo, "commit", "-q", "-m", "drop the dataset")
    git_ok(repo, "checkout", "-q", "main")
    commit_dataset(repo, {"a.bin": b"a-ours"}, "ours")
    assert git_run(repo, "merge", "--no-edit", "feature").returncode != 0
    assert run_json(capsys, repo, "status")[0]["state"] == "conflict"
    res = run(capsys, repo, "resolve", "data", side)
    assert res.rc == 0, res.err
    git_ok(repo, "commit", "-q", "--no-edit")
    if side == "--theirs":  # deleted: the pointer and (its bytes being cached) the directory
        assert not (repo / "data.mvm").exists() and not (repo / "data").exists()
    else:
        assert tree_digest(repo / "data") == expect({**BASE, "a.bin": b"a-ours"})
    assert git(repo, "status", "--porcelain") == ""


def test_rebase_over_a_diverged_dataset_uses_the_driver(repo: Path) -> None:
    diverge(repo, ours={"a.bin": b"a-main"}, theirs={"b.bin": b"b-feature"})
    git_ok(repo, "checkout", "-q", "feature")
    git_ok(repo, "rebase", "-q", "main")
    assert unmerged(repo) == ""
    assert tree_digest(repo / "data") == expect({**BASE, "a.bin": b"a-main",
                                                 "b.bin": b"b-feature"})


def test_cherry_pick_of_a_dataset_change_over_a_diverged_dataset(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    diverge(repo, ours={"a.bin": b"a-main"}, theirs={"b.bin": b"b-feature"})
    git_ok(repo, "cherry-pick", "feature")
    assert unmerged(repo) == ""
    assert git(repo, "status", "--porcelain") == ""
    [picked] = run_json(capsys, repo, "diff", "HEAD~1", "HEAD")["modified"]
    assert picked["files"]["modified"][0]["path"] == "b.bin"  # the pick's change alone
    assert picked["files"]["added"] == picked["files"]["removed"] == []
    want = expect({**BASE, "a.bin": b"a-main", "b.bin": b"b-feature"})
    git_ok(repo, "checkout", "-q", "HEAD~1")  # bytes follow the picked commit both ways
    git_ok(repo, "checkout", "-q", "main")
    assert tree_digest(repo / "data") == want


def test_the_driver_as_git_runs_it_refuses_junk_without_a_traceback(tmp_path: Path) -> None:
    root = init_hooked(tmp_path / "r")
    for name, data in (("o", b"junk"), ("a", b"mvm = 1\nkind = 'dir'\n"), ("b", b"")):
        write(tmp_path / name, data)
    proc = subprocess.run(["git", "mvm", "merge-driver", str(tmp_path / "o"), str(tmp_path / "a"),
                           str(tmp_path / "b"), "x.mvm"], cwd=root, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "CONFLICT in x" in proc.stderr


def test_a_mvm_file_that_is_not_a_pointer_merges_as_text(repo: Path) -> None:
    """Only files that read as pointers are pointers: a `notes.mvm` of somebody's text gets
    git's own merge (the driver took it for a pointer, reported a conflict and left ours'
    text without theirs' edit or any marker)."""
    lines = [f"line{i}\n" for i in range(1, 6)]
    write(repo / "notes.mvm", "".join(lines))
    git_ok(repo, "add", "notes.mvm")
    git_ok(repo, "commit", "-q", "-m", "notes")
    git_ok(repo, "checkout", "-q", "-b", "edit")
    write(repo / "notes.mvm", "".join(["first\n", *lines[1:]]))
    git_ok(repo, "commit", "-q", "-am", "theirs")
    git_ok(repo, "checkout", "-q", "main")
    write(repo / "notes.mvm", "".join([*lines[:4], "last\n"]))
    git_ok(repo, "commit", "-q", "-am", "ours")
    res = git_run(repo, "merge", "--no-edit", "edit")
    assert res.returncode == 0, res.stdout + res.stderr
    assert (repo / "notes.mvm").read_text() == "".join(["first\n", *lines[1:4], "last\n"])

    git_ok(repo, "checkout", "-q", "-b", "clash", "HEAD~1")  # ours' side, then both edit line 3
    write(repo / "notes.mvm", "".join([*lines[:2], "clash\n", *lines[3:4], "last\n"]))
    git_ok(repo, "commit", "-q", "-am", "clash")
    git_ok(repo, "checkout", "-q", "main")
    write(repo / "notes.mvm", (repo / "notes.mvm").read_text().replace("line3", "mine"))
    git_ok(repo, "commit", "-q", "-am", "mine")
    assert git_run(repo, "merge", "--no-edit", "clash").returncode != 0
    text = (repo / "notes.mvm").read_text()
    assert "<<<<<<< ours" in text and "clash" in text and "mine" in text


@pytest.mark.parametrize("how", [["--theirs"], ["--union", "--prefer", "theirs"]])
def test_resolve_with_an_unsaved_edit_brings_the_chosen_side_and_keeps_the_edit(
    repo: Path, capsys: pytest.CaptureFixture[str], how: list[str]
) -> None:
    """An unsaved edit in another file of the dataset: resolve still brings every other file
    to the chosen side (it left all of ours' and suggested `git mvm add`, which recorded ours'
    a.bin and undid the choice) and keeps the edit, named."""
    diverge(repo, ours={"a.bin": b"a-ours"}, theirs={"a.bin": b"a-theirs"})
    assert git_run(repo, "merge", "--no-edit", "feature").returncode != 0
    write(repo / "data" / "b.bin", b"my unsaved edit")
    res = run(capsys, repo, "resolve", "data", *how)
    assert (repo / "data" / "a.bin").read_bytes() == b"a-theirs", res.err
    assert (repo / "data" / "b.bin").read_bytes() == b"my unsaved edit"
    assert "b.bin" in res.err and "git mvm add data" in res.err
    assert run(capsys, repo, "add", "data").rc == 0  # records theirs plus the edit
    assert tree_digest(repo / "data") == expect({**BASE, "a.bin": b"a-theirs",
                                                 "b.bin": b"my unsaved edit"})
