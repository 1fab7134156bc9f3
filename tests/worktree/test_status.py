"""`git mvm status`: up to date, modified, missing, not in cache; no hashing if nothing changed."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    HashSpy,
    error_lines,
    git,
    make_dataset,
    mvm,
    object_path,
    oid_hex,
    read_pointer,
    run,
    run_json,
    write,
)


@pytest.fixture
def tracked_repo(repo: Path) -> Path:
    """A repo with a committed file artifact `models/m.pt` and directory artifact `data`."""
    write(repo / "models" / "m.pt", b"weights v1" * 100)
    make_dataset(repo / "data", n=9, size=50)
    assert mvm(repo, "add", "-q", "models/m.pt", "data") == 0
    git(repo, "commit", "-qm", "artifacts")
    return repo


def by_path(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {it["path"]: it for it in items}


def test_everything_up_to_date(tracked_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = by_path(run_json(capsys, tracked_repo, "status"))
    assert items == {
        "data": {"path": "data", "kind": "dir", "state": "up to date", "in_cache": True,
                 "detail": ""},
        "models/m.pt": {"path": "models/m.pt", "kind": "file", "state": "up to date",
                        "in_cache": True, "detail": ""},
    }
    res = run(capsys, tracked_repo, "status")
    assert res.rc == 0
    lines = res.out.splitlines()
    assert len(lines) == 2
    assert all(ln.startswith("up to date:") for ln in lines)


def test_no_artifacts_says_how_to_start(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = run(capsys, repo, "status")
    assert res.rc == 0
    assert "git mvm add" in res.out
    assert run_json(capsys, repo, "status") == []


def test_modified_file(tracked_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tracked_repo / "models" / "m.pt", b"weights v2")
    items = by_path(run_json(capsys, tracked_repo, "status"))
    assert items["models/m.pt"]["state"] == "modified"
    assert items["data"]["state"] == "up to date"
    res = run(capsys, tracked_repo, "status")
    assert any(ln.startswith("modified:") and "models/m.pt" in ln for ln in res.out.splitlines())


def test_modified_file_with_same_size_and_restored_mtime_is_detected_after_inode_change(
    tracked_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file replaced by a new one (new inode) is re-hashed even when size and mtime match."""
    path = tracked_repo / "models" / "m.pt"
    st = path.stat()
    replacement = write(tracked_repo / "models" / "new", b"weights v9" * 100)
    os.utime(replacement, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(replacement, path)
    assert by_path(run_json(capsys, tracked_repo, "status"))["models/m.pt"]["state"] == "modified"


def test_modified_directory_counts_added_removed_modified(
    tracked_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tracked_repo / "data"
    write(data / "d0" / "new1.bin", b"new")
    write(data / "new2.bin", b"new too")
    (data / "d1" / "f1.bin").unlink()
    write(data / "d2" / "f2.bin", b"changed")
    items = by_path(run_json(capsys, tracked_repo, "status"))
    assert items["data"]["state"] == "modified"
    assert items["data"]["detail"] == "2 added, 1 removed, 1 modified"
    res = run(capsys, tracked_repo, "status", "data")
    assert res.out.split() == ["modified:", "data", "(2", "added,", "1", "removed,", "1",
                               "modified)"]


def test_executable_bit_change_is_a_modification(
    tracked_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tracked_repo / "data" / "d0" / "f0.bin").chmod(0o755)
    item = by_path(run_json(capsys, tracked_repo, "status"))["data"]
    assert item["state"] == "modified"
    assert item["detail"] == "1 modified"


def test_missing_file_and_directory(tracked_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tracked_repo / "models" / "m.pt").unlink()
    shutil.rmtree(tracked_repo / "data")
    items = by_path(run_json(capsys, tracked_repo, "status"))
    assert items["models/m.pt"]["state"] == "missing"
    assert items["data"]["state"] == "missing"
    assert items["data"]["in_cache"] is True
    res = run(capsys, tracked_repo, "status")
    assert [ln.split()[0] for ln in res.out.splitlines()] == ["missing:", "missing:"]


def _drop_from_cache(path: Path) -> None:
    path.chmod(0o644)
    path.unlink()


def test_not_in_cache_file(tracked_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _drop_from_cache(object_path(tracked_repo, oid_hex(read_pointer(tracked_repo,
                                                                    "models/m.pt")["oid"])))
    item = by_path(run_json(capsys, tracked_repo, "status"))["models/m.pt"]
    assert item["in_cache"] is False
    res = run(capsys, tracked_repo, "status", "models/m.pt")
    assert "not in cache" in res.out


def test_not_in_cache_directory_file_object(
    tracked_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One file object of a directory gone from the cache is enough."""
    from tests.helpers import sha

    _drop_from_cache(object_path(tracked_repo,
                                 sha((tracked_repo / "data" / "d0" / "f3.bin").read_bytes())))
    # status trusts the record that the directory was complete until fsck re-checks the cache
    assert run(capsys, tracked_repo, "fsck").rc == 0
    item = by_path(run_json(capsys, tracked_repo, "status"))["data"]
    assert item["in_cache"] is False
    assert item["state"] == "not in cache"
    assert "not in cache" in run(capsys, tracked_repo, "status", "data").out


def test_missing_and_not_in_cache(tracked_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A fresh clone: pointer present, neither bytes nor cache object."""
    (tracked_repo / "models" / "m.pt").unlink()
    _drop_from_cache(object_path(tracked_repo, oid_hex(read_pointer(tracked_repo,
                                                                    "models/m.pt")["oid"])))
    item = by_path(run_json(capsys, tracked_repo, "status"))["models/m.pt"]
    assert (item["state"], item["in_cache"]) == ("missing", False)
    assert "missing, not in cache" in run(capsys, tracked_repo, "status").out


def test_status_of_paths_filters_and_refuses_untracked(
    tracked_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert [it["path"] for it in run_json(capsys, tracked_repo, "status", "data")] == ["data"]
    assert [it["path"] for it in run_json(capsys, tracked_repo, "status", "models/m.pt.mvm")] == [
        "models/m.pt"
    ]
    assert [it["path"] for it in run_json(capsys, tracked_repo, "status", "models")] == [
        "models/m.pt"
    ]
    res = run(capsys, tracked_repo, "status", "nothing/here")
    assert res.rc == 1
    assert error_lines(res.err) == ["git mvm: error: nothing/here: not tracked by gitmv"]


def test_nothing_changed_means_no_hashing_at_all(
    tracked_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spy = HashSpy(monkeypatch)
    assert mvm(tracked_repo, "status") == 0
    assert spy.paths == []
    # and the spy does see hashing when a file did change
    write(tracked_repo / "data" / "d0" / "f0.bin", b"changed")
    assert mvm(tracked_repo, "status") == 0
    assert spy.files_read(tracked_repo) == {"data/d0/f0.bin"}
    spy.reset()
    assert mvm(tracked_repo, "status") == 0
    assert spy.paths == []  # the changed file's stat was remembered


def test_status_after_checkout_of_old_pointer_shows_outdated(
    tracked_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Switching commits without hooks changes the pointer, not the bytes: status says the
    work tree holds another cached version."""
    write(tracked_repo / "models" / "m.pt", b"weights v2")
    assert mvm(tracked_repo, "add", "-q", "models/m.pt") == 0
    git(tracked_repo, "commit", "-qm", "v2")
    git(tracked_repo, "checkout", "-q", "HEAD~1")
    assert by_path(run_json(capsys, tracked_repo, "status"))["models/m.pt"]["state"] == "outdated"
    assert mvm(tracked_repo, "checkout", "-q") == 0
    assert (tracked_repo / "models" / "m.pt").read_bytes() == b"weights v1" * 100
    assert by_path(run_json(capsys, tracked_repo, "status"))["models/m.pt"]["state"] == (
        "up to date"
    )


# --- racily clean files: a rewrite the stat cannot see --------------------------------------


def test_same_size_rewrite_with_its_mtime_put_back_is_modified_and_never_overwritten(
    tracked_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file rewritten in place with the same size and its mtime set back (`touch -d`,
    `cp -p`, `rsync -t`, or a coarse clock) keeps inode, size and mtime: only its ctime moved.
    status must hash it, and a checkout must not take it for the cached version."""
    path = tracked_repo / "models" / "m.pt"
    v2 = b"weights v2" * 100
    write(path, v2)
    assert mvm(tracked_repo, "add", "-q", "models/m.pt") == 0
    git(tracked_repo, "commit", "-qm", "v2")
    assert by_path(run_json(capsys, tracked_repo, "status"))["models/m.pt"]["state"] == (
        "up to date")  # the stat cache knows v2 now
    before = path.stat()
    v3 = b"weights v3" * 100  # same size, unsaved
    with open(path, "r+b") as f:
        f.write(v3)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino, before.st_size, before.st_mtime_ns)
    assert by_path(run_json(capsys, tracked_repo, "status"))["models/m.pt"]["state"] == (
        "modified")
    git(tracked_repo, "checkout", "-q", "HEAD~1")  # the pointer says v1 (no hooks here)
    res = run(capsys, tracked_repo, "checkout", "models/m.pt")
    assert res.rc == 1
    assert "has changes that are not in the cache" in res.err
    assert path.read_bytes() == v3


def _rewrite_within_one_tick(path: Path, first: bytes, second: bytes, add: Any) -> bool:
    """Write `first`, run `add`, then rewrite `second` (same size) in place; True when every
    stat field came out as before (the rewrite fell in the same tick of the clock)."""
    time.sleep(1 - time.time() % 1)  # start at the beginning of a second
    write(path, first)
    add()
    before = path.stat()
    with open(path, "r+b") as f:
        f.write(second)
    after = path.stat()
    return (after.st_ino, after.st_size, after.st_mtime_ns, after.st_ctime_ns) == (
        before.st_ino, before.st_size, before.st_mtime_ns, before.st_ctime_ns)


def test_racily_clean_file_on_a_coarse_clock_is_hashed_again(
    coarse_fs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a file system with one-second timestamps, a same-size rewrite right after `add`
    leaves every stat field as it was: the row taken in that second must not vouch for it."""
    repo = coarse_fs / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    assert mvm(repo, "init", "-q", "--no-hooks") == 0
    path = repo / "m.pt"
    write(path, b"version 0 " * 100)
    assert mvm(repo, "add", "-q", "m.pt") == 0
    git(repo, "commit", "-qm", "v0")
    unsaved = b"version 2 " * 100

    def add_and_commit() -> None:
        assert mvm(repo, "add", "-q", "m.pt") == 0
        git(repo, "commit", "-qm", "v1", "--allow-empty")

    for _ in range(5):
        if _rewrite_within_one_tick(path, b"version 1 " * 100, unsaved, add_and_commit):
            break
    else:
        pytest.skip("could not rewrite the file within the second it was added in")
    assert by_path(run_json(capsys, repo, "status"))["m.pt"]["state"] == "modified"
    git(repo, "checkout", "-q", "HEAD~1")
    res = run(capsys, repo, "checkout")
    assert res.rc == 1, res.err
    assert "has changes that are not in the cache" in res.err
    assert path.read_bytes() == unsaved


# --- a pointer whose sizes contradict its bytes ---------------------------------------------


@pytest.mark.parametrize(("rel", "edit", "why"), [
    ("models/m.pt", ("size = 1000", "size = 999"), "size = 999 in the pointer"),
    ("data", ("files = 9", "files = 10"), "files = 10, size = 450 in the pointer"),
    ("data", ("size = 450", "size = 4500"), "size = 4500 in the pointer"),
    ("data", ("manifest_size = ", "manifest_size = 1"), "manifest_size = 1"),
])
def test_a_hand_edited_pointer_whose_sizes_disagree_with_its_object_is_reported(
    tracked_repo: Path, capsys: pytest.CaptureFixture[str], rel: str,
    edit: tuple[str, str], why: str
) -> None:
    pointer = tracked_repo / f"{rel}.mvm"
    text = pointer.read_text()
    assert edit[0] in text
    pointer.write_text(text.replace(edit[0], edit[1], 1))
    res = run(capsys, tracked_repo, "status")
    assert res.rc == 1
    assert f"invalid pointer:  {rel}" in res.out or f"invalid pointer: {rel}" in res.out
    errors = error_lines(res.err)
    assert len(errors) == 1, res.err
    assert errors[0].startswith(f"git mvm: error: {rel}.mvm: ")
    assert why in errors[0]
    assert f"git mvm add {rel}" in res.err
    git(tracked_repo, "checkout", "--", f"{rel}.mvm")
    assert run(capsys, tracked_repo, "status").rc == 0


# --- a directory where nothing changed: its stamp, not a row per file -----------------------


def test_an_unchanged_directory_reads_no_row_per_file_and_builds_no_manifest(
    tracked_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """After one status (or the add) recorded the directory's stamp, status walks and lstats
    its files and compares one digest."""
    assert by_path(run_json(capsys, tracked_repo, "status"))["data"]["state"] == "up to date"
    assert _status_without_per_file_work(monkeypatch, capsys, tracked_repo) == "up to date"


def _rewrite_same_stat(path: Path) -> None:
    """New bytes of the same size, mtime put back: only the ctime moves."""
    before = path.stat()
    path.write_bytes(bytes(b ^ 0xFF for b in path.read_bytes()))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


_EDITS: dict[str, Any] = {
    "same size, mtime put back": lambda d: _rewrite_same_stat(d / "d0" / "f0.bin"),
    "appended": lambda d: write(d / "d1" / "f1.bin", (d / "d1" / "f1.bin").read_bytes() + b"x"),
    "executable": lambda d: (d / "d2" / "f2.bin").chmod(0o755),
    "new file": lambda d: write(d / "d0" / "new.bin", b"new"),
    "new empty file in a new directory": lambda d: write(d / "d9" / "e" / "new.bin", b""),
    "deleted": lambda d: (d / "d0" / "f3.bin").unlink(),
    "renamed": lambda d: (d / "d0" / "f0.bin").rename(d / "d0" / "g0.bin"),
    "moved to another directory": lambda d: (d / "d0" / "f0.bin").rename(d / "d1" / "f0.bin"),
    "replaced by a symlink": lambda d: ((d / "d1" / "f4.bin").unlink(),
                                        (d / "d1" / "f4.bin").symlink_to("f1.bin")),
    "replaced by a copy (new inode)": lambda d: shutil.copy2(d / "d1" / "f1.bin",
                                                             d / "d1" / "f4.bin"),
}


@pytest.mark.parametrize("edit", sorted(_EDITS))
def test_every_edit_of_a_stamped_directory_shows_in_status(
    tracked_repo: Path, capsys: pytest.CaptureFixture[str], edit: str
) -> None:
    """Whatever changes in a directory whose stamp was recorded, status says modified (and
    says it again: the stamp recorded for the new state vouches for no other)."""
    for _ in range(2):
        assert by_path(run_json(capsys, tracked_repo, "status"))["data"]["state"] == (
            "up to date")
    _EDITS[edit](tracked_repo / "data")
    for _ in range(2):
        item = by_path(run_json(capsys, tracked_repo, "status"))["data"]
        assert item["state"] == "modified", item
    assert mvm(tracked_repo, "add", "-q", "data") == 0
    assert by_path(run_json(capsys, tracked_repo, "status"))["data"]["state"] == "up to date"


def test_racily_clean_file_in_a_directory_on_a_coarse_clock_is_hashed_again(
    coarse_fs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A same-size rewrite in the second a directory was added in leaves every stat as it
    was: neither the file's row nor the directory's stamp taken in that second vouches."""
    repo = coarse_fs / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    assert mvm(repo, "init", "-q", "--no-hooks") == 0
    make_dataset(repo / "data", n=5, size=100)
    path = repo / "data" / "d0" / "f0.bin"
    unsaved = b"version 2 " * 10

    def add_and_status() -> None:
        assert mvm(repo, "add", "-q", "data") == 0
        assert by_path(run_json(capsys, repo, "status"))["data"]["state"] == "up to date"

    for _ in range(5):
        if _rewrite_within_one_tick(path, b"version 1 " * 10, unsaved, add_and_status):
            break
    else:
        pytest.skip("could not rewrite the file within the second it was added in")
    for _ in range(2):
        assert by_path(run_json(capsys, repo, "status"))["data"]["state"] == "modified"


def test_status_of_an_unchanged_directory_holds_no_state_per_file(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Memory stays flat in the number of files: the peak of a status at 4,000 files is
    within 256 KiB of the peak at 1,000."""
    import tracemalloc

    from gitmv.worktree.workspace import Workspace

    peaks = []
    for n in (1000, 4000):
        make_dataset(repo / f"data{n}", n=n, size=1)
        assert mvm(repo, "add", "-q", f"data{n}") == 0
        ws = Workspace.open(str(repo))
        sel = ws.select([str(repo / f"data{n}")])[0]
        assert ws.status(sel).state == "up to date"  # warm: imports, the database
        tracemalloc.start()
        try:
            assert ws.status(sel).state == "up to date"
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        ws.state.close()
    assert peaks[1] - peaks[0] < 256 << 10, peaks


def _status_without_per_file_work(monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str], repo: Path) -> str:
    """The state status gives `data` when reading a row per file or a manifest is refused."""
    from gitmv.objects import manifest
    from gitmv.objects.state import StatCache

    def refuse(*_args: object, **_kw: object) -> None:
        raise AssertionError("per-file work in a status where nothing changed")

    with monkeypatch.context() as m:
        m.setattr(StatCache, "iter_tree", refuse)
        m.setattr(manifest, "dump", refuse)
        m.setattr(manifest, "parse", refuse)
        return str(by_path(run_json(capsys, repo, "status"))["data"]["state"])


_CHECKOUTS: dict[str, Any] = {
    "the deleted directory": lambda d: shutil.rmtree(d),
    "some files deleted, one edited, one added": lambda d: (
        (d / "d0" / "f0.bin").unlink(), (d / "d1").rename(d.parent / "d1-aside"),
        write(d / "d2" / "f2.bin", b"edited"),
        write(d / "d9" / "stray.bin", b"stray")),
    "another version": lambda d: (
        write(d / "d0" / "f0.bin", b"version 2"), write(d / "new" / "x.bin", b"x")),
}


@pytest.mark.parametrize("how", sorted(_CHECKOUTS))
def test_status_after_a_checkout_is_at_the_floor(
    tracked_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    how: str
) -> None:
    """A checkout records the directory's stamp as `status` would (`Workspace.unchanged_dir`),
    so the first status after it walks and lstats the files and reads no row per file and no
    manifest; and what changes after the checkout still shows."""
    from gitmv.worktree.workspace import Workspace

    data = tracked_repo / "data"
    _CHECKOUTS[how](data)
    if data.exists():  # the edits are saved (a version the cache has), then left
        assert mvm(tracked_repo, "add", "-q", "data") == 0
        git(tracked_repo, "checkout", "-q", "HEAD", "--", "data.mvm")
    assert mvm(tracked_repo, "checkout", "-q", "data") == 0
    ws = Workspace.open(str(tracked_repo))
    recorded = ws.unchanged_dir("data")
    assert recorded is not None
    assert recorded.oid == read_pointer(tracked_repo, "data")["oid"].split(":")[-1]
    ws.state.close()
    assert _status_without_per_file_work(monkeypatch, capsys, tracked_repo) == "up to date"
    write(data / "d0" / "f0.bin", b"edited after the checkout")
    for _ in range(2):
        assert by_path(run_json(capsys, tracked_repo, "status"))["data"]["state"] == "modified"
