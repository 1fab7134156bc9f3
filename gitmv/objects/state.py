"""The stat cache: (path, inode, size, mtime, ctime) -> oid, so unchanged files are never re-hashed.

Kept in `<git common dir>/mvm/state.sqlite`. Paths are absolute, so worktrees sharing the
common dir do not collide.

A row is trusted only while inode, size, mtime and ctime all match the file *and* the file was
already older than the moment its bytes were read ("racily clean" entries, as git calls them):
a file rewritten with the same size within one tick of the file system's clock (a second on
ext4 with 128-byte inodes and many network shares, two on FAT, a jiffy where the kernel stamps
files from its coarse clock) keeps its timestamps, so a row taken in the tick the file was last
written cannot vouch for it. Each row records `since`, the file system's own clock before the
bytes were read (read from a stamp file beside the database, as git reads its index file's
mtime, so the tick and any clock skew of a network share are the files' own). A row whose
mtime is not older than `since` by the tick its timestamps show is not kept (decided once, in
`put_many`, so reads need no check): the file is hashed again, and the new row, taken later,
is kept. A row for bytes that were read is not kept either when the file's ctime is that recent
(`hashed`): an mtime put back by `touch -d` or `cp -p` then hides no rewrite in that tick.
Files a checkout writes get an mtime just before their temp file was created
(`Cache.link_out`), so their rows are kept at once and any later write, however soon, moves
their mtime.

A directory artifact also gets one row (`DirRow`): a digest of every file's name and stat and
the manifest they made, kept only when each of those stats is vouched for by a kept row, so
`status` of a directory where nothing changed walks and lstats it and compares one digest: no
row per file is read and no manifest is built.

Every SQLite or file system failure (a full disk, a read-only or locked database) is one
`GitMvmError` naming the database; only a database damaged beyond reading is moved aside and
rebuilt, because it only ever saves hashing.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

from gitmv.errors import GitMvmError
from gitmv.objects.hashing import Stat, granularity

_SCHEMA = """
DROP TABLE IF EXISTS stat;
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    ino INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    oid TEXT NOT NULL,
    since_ns INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS complete_dirs (
    oid TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dirs (
    path TEXT PRIMARY KEY,
    stamp TEXT NOT NULL,
    oid TEXT NOT NULL,
    files INTEGER NOT NULL,
    size INTEGER NOT NULL
) WITHOUT ROWID;
"""
# (`stat`, the table of gitmv before rows had a ctime and a `since`, is dropped: its rows
# cannot tell a racily clean file from a clean one, so they only cost one more hashing.)

_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
_SQLITE_FULL = 13
_SQLITE_READONLY = 8
_SQLITE_PERM = 3
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6


class Row(NamedTuple):
    """What a file was when its bytes were read (or written): its stat, its oid, and the
    file system's clock before that read (`since`)."""

    path: str
    stat: Stat
    oid: str
    since: int


class DirRow(NamedTuple):
    """What a directory artifact was when its manifest was last computed: the digest of every
    file's name and stat (`stamp`), the manifest's oid, its file count and total size. Kept
    only when every one of those stats was vouched for by a row that is kept (none racily
    clean, no symlink), so an equal stamp vouches for the manifest as those rows would."""

    stamp: str
    oid: str
    files: int
    size: int


def is_racy(st: Stat, since: int) -> bool:
    """A file last written no earlier than a tick of its timestamps before `since`: a rewrite
    in that tick, keeping the size, would leave every stat field as it is."""
    return st.mtime_ns + granularity(st.mtime_ns, st.ctime_ns) > since


def hashed(path: str, st: Stat, oid: str, since: int) -> Row:
    """The row for bytes read after the clock said `since`; never trusted (since 0) when the
    file's ctime is as recent as that: its mtime may have been put back in that tick."""
    recent = st.ctime_ns + granularity(st.mtime_ns, st.ctime_ns) > since
    return Row(path, st, oid, 0 if recent else since)


def _hint(code: int) -> str:
    if code == _SQLITE_FULL:
        return "free some space (`git mvm gc` drops cache objects nothing needs) and run again"
    if code in (_SQLITE_READONLY, _SQLITE_PERM):
        return "check the permissions of the file and of its directory"
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return "another gitmv holds it; wait for it to finish and run again"
    return ("free some space and check the disk; deleting the file only costs hashing the "
            "work tree again")


def _disk_is_full(path: str) -> bool:
    """SQLite reports a full disk as an I/O error when it cannot grow its shared memory."""
    try:
        return os.statvfs(os.path.dirname(path)).f_bavail == 0
    except OSError:
        return False


class StatCache:
    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        self.clock_path = os.path.join(os.path.dirname(db_path), "state.clock")
        self._conn: sqlite3.Connection | None = None
        self._held: list[Row] | None = None  # rows put while `holding()`, not yet written

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """SQLite's and the file system's failures as one line naming the database."""
        try:
            yield
        except sqlite3.Error as exc:
            code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
            why = str(exc)
            if code != _SQLITE_FULL and _disk_is_full(self.db_path):
                code, why = _SQLITE_FULL, f"{os.strerror(errno.ENOSPC)} ({exc})"
            raise GitMvmError(f"{self.db_path}: cannot {doing} the stat cache: {why}",
                              _hint(code)) from None
        except OSError as exc:
            from gitmv.errors import os_error

            raise os_error(exc, f"cannot {doing} the stat cache") from None

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            with self._guard("open"):
                os.makedirs(os.path.dirname(self.db_path), exist_ok=True)
                try:
                    conn = self._open()
                except sqlite3.DatabaseError as exc:
                    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
                    if code not in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
                        raise  # a full disk or a lock is not damage: keep the database
                    # A damaged stat cache only costs re-hashing: start a fresh one.
                    os.replace(self.db_path, self.db_path + ".corrupt")
                    conn = self._open()
            self._conn = conn
        return self._conn

    def close(self) -> None:
        self._release()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def now(self) -> int:
        """The file system's clock now, in ns: the mtime a stamp file beside the database
        gets when it is touched (the same clock, and the same tick, as the work tree's files).
        Call it before reading bytes whose stat will be recorded."""
        with self._guard("update"):
            try:
                os.stat(self.clock_path)
            except FileNotFoundError:
                os.makedirs(os.path.dirname(self.clock_path), exist_ok=True)
                os.close(os.open(self.clock_path, os.O_WRONLY | os.O_CREAT, 0o644))
            # Twice: Linux (6.13+, "multigrain" timestamps) stamps a file from its coarse clock
            # (a jiffy) unless that would not move a timestamp someone has looked at; the
            # second touch of a just-looked-at stamp reads the fine clock, so files written
            # a moment before are already older (and the floor it sets keeps later ones newer).
            os.utime(self.clock_path)
            os.stat(self.clock_path)
            os.utime(self.clock_path)
            return os.stat(self.clock_path).st_mtime_ns

    def get(self, path: str, st: Stat) -> str | None:
        """The oid of the file at `path` if the row for it still vouches for `st`."""
        self._release()
        with self._guard("read"):
            row = self._db().execute(
                "SELECT ino, size, mtime_ns, ctime_ns, oid FROM files WHERE path = ?", (path,)
            ).fetchone()
        if row and Stat(row[0], row[1], row[2], row[3]) == st:
            return str(row[4])
        return None

    def iter_tree(self, root: str) -> Iterator[tuple[str, tuple[int, int, int, int], str]]:
        """Every row under directory `root`, in path order (SQLite's BINARY order: the bytes
        of the UTF-8 path, the order `Workspace`'s walk yields files in): (absolute path, the
        stat as a plain tuple, oid). Read as it is consumed, a batch at a time, so a million
        rows are never held at once; a reader that stops early just drops the iterator."""
        self._release()
        prefix = root.rstrip("/") + "/"
        with self._guard("read"):
            cur = self._db().execute(
                "SELECT path, ino, size, mtime_ns, ctime_ns, oid FROM files "
                "WHERE path >= ? AND path < ? ORDER BY path",
                (prefix, prefix[:-1] + "0"),  # "0" sorts right after "/"
            )
        while True:
            with self._guard("read"):
                batch = cur.fetchmany(512)
            if not batch:
                return
            for p, i, n, m, c, o in batch:
                yield p, (i, n, m, c), o

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Rows put meanwhile are written together, in one transaction, when the block ends
        (or before anything reads or deletes rows): a checkout of 20,000 file artifacts
        costs one write, not two per file. Rows are a cache: a kill before the end loses
        them, and `status` hashes those files once more."""
        if self._held is not None:
            yield
            return
        self._held = []
        try:
            yield
            self._release()
        finally:
            self._held = None

    def _release(self) -> None:
        if self._held:
            rows, self._held = self._held, []
            self._write(rows)

    def put_many(self, rows: Iterable[Row]) -> None:
        """Record rows; a racily clean one is not kept (nor any older row for its path): it
        could never vouch for its file, so deciding here spares every read the check."""
        if self._held is not None:
            self._held.extend(rows)
            return
        self._write(rows)

    def _write(self, rows: Iterable[Row]) -> None:
        keep: list[Row] = []
        drop: list[Row] = []
        for r in rows:
            (drop if is_racy(r.stat, r.since) else keep).append(r)
        with self._guard("update"):
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT OR REPLACE INTO files "
                    "(path, ino, size, mtime_ns, ctime_ns, oid, since_ns) VALUES (?,?,?,?,?,?,?)",
                    ((r.path, r.stat.ino, r.stat.size, r.stat.mtime_ns, r.stat.ctime_ns, r.oid,
                      r.since) for r in keep),
                )
                db.executemany("DELETE FROM files WHERE path = ?", ((r.path,) for r in drop))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def get_dir(self, root: str) -> DirRow | None:
        """The last manifest recorded for directory `root` (absolute), with its stamp."""
        with self._guard("read"):
            row = self._db().execute(
                "SELECT stamp, oid, files, size FROM dirs WHERE path = ?", (root,)
            ).fetchone()
        return DirRow(*row) if row else None

    def put_dir(self, root: str, row: DirRow) -> None:
        with self._guard("update"):
            self._db().execute(
                "INSERT OR REPLACE INTO dirs (path, stamp, oid, files, size) VALUES (?,?,?,?,?)",
                (root, *row))

    # Directory manifests whose every object was seen in the cache, so `status` need not stat
    # 20,000 objects to say "in cache". Whatever deletes cache objects (gc) forgets them all.
    def is_complete(self, manifest_oid: str) -> bool:
        with self._guard("read"):
            row = self._db().execute(
                "SELECT 1 FROM complete_dirs WHERE oid = ?", (manifest_oid,)
            ).fetchone()
        return row is not None

    def mark_complete(self, manifest_oid: str) -> None:
        with self._guard("update"):
            self._db().execute("INSERT OR IGNORE INTO complete_dirs (oid) VALUES (?)",
                               (manifest_oid,))

    def forget_complete(self) -> None:
        with self._guard("update"):
            self._db().execute("DELETE FROM complete_dirs")

    def delete_tree(self, root: str) -> None:
        self._release()
        prefix = root.rstrip("/") + "/"
        with self._guard("update"):
            for table in ("files", "dirs"):
                self._db().execute(
                    f"DELETE FROM {table} WHERE path = ? OR (path >= ? AND path < ?)",
                    (root, prefix, prefix[:-1] + "0"))
