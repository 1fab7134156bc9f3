"""The stat cache's rules: which rows vouch for a file (racily clean ones do not), and one clear
error naming the database when SQLite or the disk fails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitmv.errors import GitMvmError
from gitmv.objects.hashing import Stat, granularity
from gitmv.objects.state import Row, StatCache, hashed, is_racy

S = 1_000_000_000
T = 1_790_000_000 * S + 123_456_789  # a time with nanoseconds


@pytest.mark.parametrize(("mtime", "ctime", "tick"), [
    (T, T + 7, 1),
    (T - 89, T + 10, 1),
    (1_790_000_000 * S + 120_000_000, 1_790_000_000 * S + 450_000_000, 10_000_000),  # exFAT
    (1_790_000_000 * S, 1_790_000_001 * S, 2 * S),  # whole seconds: FAT's two
    (1_790_000_000 * S, T, 1),  # an mtime put back to a whole second, a fine ctime
])
def test_granularity_is_the_tick_both_timestamps_show(mtime: int, ctime: int, tick: int) -> None:
    assert granularity(mtime, ctime) == tick


def test_a_file_is_racy_until_it_is_a_tick_older_than_the_clock_that_read_it() -> None:
    fine = Stat(1, 10, T, T)
    assert is_racy(fine, T)  # read in the very nanosecond it was written
    assert not is_racy(fine, T + 1)
    coarse = Stat(1, 10, 1_790_000_000 * S, 1_790_000_000 * S)
    assert is_racy(coarse, 1_790_000_000 * S)  # the same second
    assert is_racy(coarse, 1_790_000_001 * S)  # FAT: two seconds a tick
    assert not is_racy(coarse, 1_790_000_002 * S)


def test_a_row_for_bytes_read_right_after_a_ctime_change_is_never_trusted() -> None:
    """An mtime put back (old) with a ctime of now: a rewrite in this tick could put it back
    again, and nothing would show."""
    assert hashed("/f", Stat(1, 10, T - 60 * S, T), "a" * 64, T).since == 0
    row = hashed("/f", Stat(1, 10, T - 60 * S, T - 30 * S), "a" * 64, T)
    assert row.since == T


def test_get_and_iter_tree_leave_racy_rows_out(tmp_path: Path) -> None:
    cache = StatCache(str(tmp_path / "mvm" / "state.sqlite"))
    old = Stat(1, 10, T - 5 * S, T - 5 * S)
    fresh = Stat(2, 10, T, T)
    cache.put_many([Row("/w/d/old", old, "a" * 64, T), Row("/w/d/fresh", fresh, "b" * 64, T)])
    assert cache.get("/w/d/old", old) == "a" * 64
    assert cache.get("/w/d/fresh", fresh) is None
    assert cache.get("/w/d/old", old._replace(ctime_ns=T + 1)) is None  # ctime compared too
    assert list(cache.iter_tree("/w/d")) == [("/w/d/old", old, "a" * 64)]
    cache.put_many([Row("/w/d/fresh", fresh, "b" * 64, T + 1)])  # hashed again, later
    assert cache.get("/w/d/fresh", fresh) == "b" * 64
    cache.close()


def test_now_is_the_file_systems_clock(tmp_path: Path) -> None:
    cache = StatCache(str(tmp_path / "mvm" / "state.sqlite"))
    first = cache.now()
    probe = tmp_path / "probe"
    probe.write_bytes(b"x")
    assert first <= probe.stat().st_mtime_ns <= cache.now()


def test_a_stat_cache_that_cannot_be_opened_is_one_error_naming_it(tmp_path: Path) -> None:
    db = tmp_path / "mvm" / "state.sqlite"
    db.mkdir(parents=True)  # a directory where the database should be
    cache = StatCache(str(db))
    with pytest.raises(GitMvmError) as info:
        cache.get("/w/f", Stat(1, 1, 1, 1))
    assert str(db) in info.value.message
    assert "stat cache" in info.value.message
    assert info.value.hint
    assert db.is_dir()  # not moved aside as if it were damaged
    assert not os.path.exists(f"{db}.corrupt")


@pytest.mark.parametrize("created", [T, T + 1, T + 11, 1_790_000_000 * S + 10, 1_790_000_000 * S])
def test_a_checked_out_file_is_backdated_by_one_tick_and_kept(tmp_path: Path, created: int) -> None:
    """checkout gives what it writes an mtime one tick before the clock it read: such a row
    is kept whatever ctime the rename gives the file (a file ending …0 after one that ended
    …1 must not look like a coarser clock's)."""
    from gitmv.objects.cache import _backdate

    path = tmp_path / "f"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        st = _backdate(fd, created)
    finally:
        os.close(fd)
    assert created - granularity(created, created) * 2 <= st.st_mtime_ns < created
    for ctime in (created, created + 90, created + 1000, created + S):
        assert not is_racy(Stat(1, 0, st.st_mtime_ns, ctime), created)


def test_a_directory_row_is_dropped_with_its_tree(tmp_path: Path) -> None:
    from gitmv.objects.state import DirRow

    cache = StatCache(str(tmp_path / "mvm" / "state.sqlite"))
    row = DirRow("s" * 64, "a" * 64, 3, 30)
    cache.put_dir("/w/d", row)
    cache.put_dir("/w/d/sub", row)
    cache.put_dir("/w/d2", row)
    assert cache.get_dir("/w/d") == row
    cache.delete_tree("/w/d")
    assert (cache.get_dir("/w/d"), cache.get_dir("/w/d/sub")) == (None, None)
    assert cache.get_dir("/w/d2") == row
    cache.close()


def test_iter_tree_reads_a_directory_in_path_order(tmp_path: Path) -> None:
    """Rows under a directory come in the order of their paths' UTF-8 bytes (what a walk in
    manifest order is read beside), only that directory's, whatever order they were put in."""
    cache = StatCache(str(tmp_path / "mvm" / "state.sqlite"))
    st = Stat(1, 10, T - 5 * S, T - 5 * S)
    paths = ["/w/d/b", "/w/d/a-b", "/w/d/a/x", "/w/d/a.c", "/w/d/é", "/w/d/z", "/w/d0/y",
             "/w/c/x", "/w/d"]
    cache.put_many([Row(p, st, "a" * 64, T) for p in paths])
    got = [p for p, _, _ in cache.iter_tree("/w/d")]
    assert got == sorted((p for p in paths if p.startswith("/w/d/")), key=str.encode)
    assert got[:3] == ["/w/d/a-b", "/w/d/a.c", "/w/d/a/x"]
    cache.close()


def test_rows_put_while_holding_are_written_once_and_seen_by_every_reader(
    tmp_path: Path
) -> None:
    """`holding()` defers the rows to one transaction at its end; a read or a delete in the
    meantime writes them first (never a stale answer); an error inside leaves them unwritten
    (they are a cache: the files are hashed again), and the error is the one raised."""
    db = StatCache(str(tmp_path / "state.sqlite"))
    st = Stat(1, 10, 5_000_000_000, 5_000_000_000)
    old = 10_000_000_000  # read long after the stat: not racy

    def row(name: str) -> Row:
        return Row(str(tmp_path / name), st, "a" * 64, old)

    other = StatCache(db.db_path)  # another connection: what is in the database
    with db.holding():
        db.put_many([row("a")])
        with db.holding():  # nested: the outer one writes
            db.put_many([row("b")])
        assert other.get(str(tmp_path / "a"), st) is None  # not written yet
        assert db.get(str(tmp_path / "b"), st) == "a" * 64  # a read writes them first
        assert other.get(str(tmp_path / "a"), st) == "a" * 64
        db.put_many([row("c")])
        db.delete_tree(str(tmp_path))  # a delete after the put wins, as without holding
    assert db.get(str(tmp_path / "c"), st) is None
    with db.holding():
        db.put_many([row("d")])
    assert other.get(str(tmp_path / "d"), st) == "a" * 64
    with pytest.raises(KeyError), db.holding():
        db.put_many([row("e")])
        raise KeyError("boom")
    assert other.get(str(tmp_path / "e"), st) is None
    db.put_many([row("f")])  # no longer holding: written at once
    assert other.get(str(tmp_path / "f"), st) == "a" * 64
