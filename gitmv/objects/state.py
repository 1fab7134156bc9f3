"""The stat cache: (path, inode, size, mtime_ns) -> oid, so unchanged files are never re-hashed.

Kept in `<git common dir>/mvm/state.sqlite`. Paths are absolute, so worktrees sharing the
common dir do not collide. A row is trusted only while inode, size and mtime all match.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable

from gitmv.objects.hashing import Stat

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stat (
    path TEXT PRIMARY KEY,
    ino INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    oid TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS complete_dirs (
    oid TEXT PRIMARY KEY
) WITHOUT ROWID;
"""


class StatCache:
    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            os.makedirs(os.path.dirname(self.db_path), exist_ok=True)
            try:
                conn = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.executescript(_SCHEMA)
            except sqlite3.DatabaseError:
                # A damaged stat cache only costs re-hashing: start a fresh one.
                os.replace(self.db_path, self.db_path + ".corrupt")
                conn = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def get(self, path: str, st: Stat) -> str | None:
        row = self._db().execute(
            "SELECT ino, size, mtime_ns, oid FROM stat WHERE path = ?", (path,)
        ).fetchone()
        if row and (row[0], row[1], row[2]) == st:
            return str(row[3])
        return None

    def load_tree(self, root: str) -> dict[str, tuple[Stat, str]]:
        """Every row under directory `root`, keyed by absolute path."""
        prefix = root.rstrip("/") + "/"
        rows = self._db().execute(
            "SELECT path, ino, size, mtime_ns, oid FROM stat WHERE path >= ? AND path < ?",
            (prefix, prefix[:-1] + "0"),  # "0" sorts right after "/"
        )
        return {r[0]: (Stat(r[1], r[2], r[3]), r[4]) for r in rows}

    def put_many(self, rows: Iterable[tuple[str, Stat, str]]) -> None:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT OR REPLACE INTO stat (path, ino, size, mtime_ns, oid) VALUES (?,?,?,?,?)",
                ((p, s.ino, s.size, s.mtime_ns, oid) for p, s, oid in rows),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # Directory manifests whose every object was seen in the cache, so `status` need not stat
    # 20,000 objects to say "in cache". Whatever deletes cache objects (gc) forgets them all.
    def is_complete(self, manifest_oid: str) -> bool:
        row = self._db().execute(
            "SELECT 1 FROM complete_dirs WHERE oid = ?", (manifest_oid,)
        ).fetchone()
        return row is not None

    def mark_complete(self, manifest_oid: str) -> None:
        self._db().execute("INSERT OR IGNORE INTO complete_dirs (oid) VALUES (?)", (manifest_oid,))

    def forget_complete(self) -> None:
        self._db().execute("DELETE FROM complete_dirs")

    def delete_tree(self, root: str) -> None:
        prefix = root.rstrip("/") + "/"
        db = self._db()
        db.execute("DELETE FROM stat WHERE path = ? OR (path >= ? AND path < ?)",
                   (root, prefix, prefix[:-1] + "0"))
