"""A pointer gitmv cannot read (say `mvm = 2`, written by a newer gitmv) is never skipped.

It names bytes gitmv cannot know, so gc cannot prove them unneeded and a push cannot send
them: gc (local and --remote), `git mvm push` (work tree and --all) and the pre-push hook
refuse, naming the pointer, with a hint (upgrade gitmv; `git push --no-verify` for a push,
`--force` for gc).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import (
    git,
    git_ok,
    git_run,
    make_old,
    mvm,
    rev,
    run,
    save,
)
from tests.transfer.team import (
    DirStore,
    Team,
    assert_origin_complete,
    one_refusal,
    start_team,
)

NEWER = "new.pt"


@pytest.fixture
def team(tmp_path: Path) -> Team:
    return start_team(tmp_path, DirStore(tmp_path / "store"))


def write_newer_pointer(repo: Path, rel: str) -> str:
    """Add `rel`, then make its pointer one a newer gitmv wrote (`mvm = 2`), staged.
    Returns the object's oid (in this clone's cache)."""
    oid = save(repo, rel, os.urandom(2500))
    pointer = repo / f"{rel}.mvm"
    text = pointer.read_text()
    assert "mvm = 1\n" in text
    pointer.write_text(text.replace("mvm = 1\n", "mvm = 2\n"))
    git(repo, "add", f"{rel}.mvm")
    return oid


def commit_newer_pointer(repo: Path, rel: str = NEWER) -> str:
    oid = write_newer_pointer(repo, rel)
    git_ok(repo, "commit", "-q", "--no-verify", "-m", "written by a newer gitmv")
    return oid


def cache_paths(repo: Path) -> list[Path]:
    return [p for p in (repo / ".git" / "mvm" / "objects").glob("??/??/*") if p.is_file()]


def test_local_gc_refuses_and_keeps_the_object(
    team: Team, capsys: pytest.CaptureFixture[str]
) -> None:
    oid = commit_newer_pointer(team.alice)
    make_old(cache_paths(team.alice))
    res = run(capsys, team.alice, "gc")
    assert res.rc == 1, res.err
    one_refusal(res.err, f"{NEWER}.mvm", "newer")
    assert "--force" in res.err
    assert oid in {p.name for p in cache_paths(team.alice)}
    res = run(capsys, team.alice, "gc", "--force")  # knowingly: the object goes
    assert res.rc == 0, res.err
    assert f"{NEWER}.mvm" in res.err  # the warning still names it
    assert oid not in {p.name for p in cache_paths(team.alice)}


def test_local_gc_refuses_for_an_unreadable_pointer_in_the_work_tree(
    team: Team, capsys: pytest.CaptureFixture[str]
) -> None:
    oid = write_newer_pointer(team.alice, NEWER)
    git(team.alice, "rm", "-q", "--cached", f"{NEWER}.mvm")  # on disk only, untracked
    make_old(cache_paths(team.alice))
    res = run(capsys, team.alice, "gc")
    assert res.rc == 1, res.err
    one_refusal(res.err, f"{NEWER}.mvm")
    assert oid in {p.name for p in cache_paths(team.alice)}


def test_gc_remote_refuses_and_keeps_the_object(
    team: Team, capsys: pytest.CaptureFixture[str]
) -> None:
    store = team.store
    assert isinstance(store, DirStore)
    oid = save(team.alice, NEWER, os.urandom(2500))
    assert mvm(team.alice, "push", "-q", NEWER) == 0  # its bytes reach the store
    pointer = team.alice / f"{NEWER}.mvm"
    pointer.write_text(pointer.read_text().replace("mvm = 1\n", "mvm = 2\n"))
    git(team.alice, "add", f"{NEWER}.mvm")
    git_ok(team.alice, "commit", "-q", "--no-verify", "-m", "written by a newer gitmv")
    git_ok(team.alice, "push", "-q", "--no-verify", "origin", "main")
    git_ok(team.alice, "rm", "-q", f"{NEWER}.mvm")
    git_ok(team.alice, "commit", "-q", "-m", "dropped")
    git_ok(team.alice, "push", "-q", "origin", "main")
    store.age()
    res = run(capsys, team.alice, "gc", "--remote")
    assert res.rc == 1, res.err
    one_refusal(res.err, f"{NEWER}.mvm")
    assert oid in store.oids()


def test_pre_push_refuses_a_pointer_it_cannot_read(
    team: Team, capsys: pytest.CaptureFixture[str]
) -> None:
    oid = commit_newer_pointer(team.alice)
    before = rev(team.origin, "main")
    proc = git_run(team.alice, "push", "origin", "main")
    assert proc.returncode != 0, proc.stderr
    assert f"{NEWER}.mvm" in proc.stderr
    assert "--no-verify" in proc.stderr
    assert rev(team.origin, "main") == before  # git sent nothing
    assert oid not in team.store.oids()
    assert_origin_complete(team.origin, team.store)


def test_mvm_push_all_refuses_a_pointer_it_cannot_read(
    team: Team, capsys: pytest.CaptureFixture[str]
) -> None:
    commit_newer_pointer(team.alice)
    res = run(capsys, team.alice, "push", "--all")
    assert res.rc == 1, res.err
    one_refusal(res.err, f"{NEWER}.mvm")


def test_mvm_push_refuses_an_unreadable_pointer_in_the_work_tree(
    team: Team, capsys: pytest.CaptureFixture[str]
) -> None:
    oid = write_newer_pointer(team.alice, NEWER)
    res = run(capsys, team.alice, "push")
    assert res.rc == 1, res.err
    one_refusal(res.err, f"{NEWER}.mvm")
    assert oid not in team.store.oids()


@pytest.mark.parametrize("remote", [False, True])
def test_fsck_reports_every_unreadable_pointer_with_its_path_and_commit(
    team: Team, capsys: pytest.CaptureFixture[str], remote: bool
) -> None:
    """fsck (and fsck --remote) names each pointer it cannot read, in any commit or the work
    tree, with the commits that hold it, and exits 1: such a pointer names bytes nothing
    checks, so it is never skipped in silence."""
    import json

    newer = commit_newer_pointer(team.alice)
    assert newer
    newer_commit = rev(team.alice)
    (team.alice / "junk.pt.mvm").write_bytes(b"\x00not a pointer at all\xff")
    git(team.alice, "add", "junk.pt.mvm")
    git_ok(team.alice, "commit", "-q", "--no-verify", "-m", "garbage")
    junk_commit = rev(team.alice)
    git_ok(team.alice, "rm", "-q", "junk.pt.mvm")  # gone from the tip: still in history
    git_ok(team.alice, "commit", "-q", "--no-verify", "-m", "dropped")
    args = ["fsck", "--remote"] if remote else ["fsck"]

    res = run(capsys, team.alice, *args)
    assert res.rc == 1, res.out + res.err
    lines = [ln for ln in res.out.splitlines() if ln.startswith("unreadable pointer:")]
    assert len(lines) == 2, res.out
    newer_line = next(ln for ln in lines if f"{NEWER}.mvm" in ln)
    assert newer_commit[:12] in newer_line and "mvm" in newer_line
    junk_line = next(ln for ln in lines if "junk.pt.mvm" in ln)
    assert junk_commit[:12] in junk_line
    assert "hint:" in res.err and "Traceback" not in res.err

    res = run(capsys, team.alice, *args, "--json")
    assert res.rc == 1
    bad = {u["path"]: u["commits"] for u in json.loads(res.out)["unreadable_pointers"]}
    assert bad == {NEWER: [newer_commit], "junk.pt": [junk_commit]}, bad
