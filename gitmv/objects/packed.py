"""The cache's packs (`<cache>/packs/pack-<id>.pack` + `.idx`): finding and reading the small
objects they hold, writing a command's new pack, and rewriting packs (gc's repack, fsck's
salvage).

Indexes are read when first needed and kept for the command; a pack is opened when first read
and its descriptor kept, so a pack another process removes (a repack) can still be read
through it. A miss looks again when the directory changed since it was listed (a pack another
process wrote); a pack that vanished before it was opened makes the list be read again and
the read retried once. An index whose pack is missing is left out (its objects are missing:
`git mvm fsck` says so and removes it).

Every command that publishes a pack may merge packs after it (`merge_plan`): a lookup that
misses asks every index, so a cache that gathered a pack per command for a year would make
each new object cost hundreds of lookups. One process rewrites packs at a time (`merging`: a
command's merge gives way, gc's repack and fsck wait).

A new pack is written front to back into a temp file in the cache's tmp dir (`NewPack`), and
published by `Packs.publish`: the pack fsynced and renamed into `packs/`, then its index
written atomically, each rename made durable by an fsync of the directory. A kill before that
leaves a temp file (removed as any stale temp file is); after the pack's rename but before its
index, a pack without an index, which the next gc or fsck indexes again from the pack itself.
docs/formats.md, "Packs".
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import BinaryIO, NamedTuple

from gitmv.errors import FormatError, ObjectMissing
from gitmv.fsutil import (
    NOT_SHARED,
    Sharing,
    atomic_write,
    create_file,
    make_dirs,
    remove_file,
    share,
    tmp_name,
)
from gitmv.objects import pack
from gitmv.objects.hashing import hash_bytes
from gitmv.objects.pack import OBJECT, Entry, PackIndex, PackWriter

# Packs a cache may hold before a command that publishes one merges the smaller ones: a miss
# costs a lookup in every index (20,000 misses: 0.02 s with 1 pack, 1.0 s with 50, 6.8 s
# with 200, measured here).
AUTO_MERGE_AT = 12
# The packs a merge leaves grow by at least this factor, smallest to largest: a merge rewrites
# the small packs and leaves the large ones, so a byte is rewritten about log2(cache / pack)
# times over the cache's life rather than at every merge (git's geometric repack does so).
MERGE_FACTOR = 2
MERGE_LOCK = "merge.lock"


def merge_plan(sizes: dict[str, int], at: int | None = None) -> list[str]:
    """The packs (by id; `sizes`: their bytes) to merge into one: none while there are at
    most `at` (AUTO_MERGE_AT); else the smallest, as many as it takes for the packs left to
    grow by MERGE_FACTOR each, and at least enough to leave at most at / 2."""
    at = AUTO_MERGE_AT if at is None else at
    if len(sizes) <= at:
        return []
    order = sorted(sizes, key=lambda p: (sizes[p], p))
    n = len(order)
    top = n - 1  # the packs above `top` already grow geometrically: they may stay
    while top > 0 and sizes[order[top]] >= MERGE_FACTOR * sizes[order[top - 1]]:
        top -= 1
    k = top + 1 if top > 0 else 0
    k = max(k, n - at // 2 + 1)
    total = sum(sizes[p] for p in order[:k])
    while k < n and sizes[order[k]] < MERGE_FACTOR * total:  # the merged pack must fit below
        total += sizes[order[k]]
        k += 1
    return order[:k] if k >= 2 else []


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class NewPack:
    """A pack being written by this command: a temp file in `tmp_dir`, readable (`read`)
    before it is published."""

    def __init__(self, tmp_dir: str, sharing: Sharing = NOT_SHARED) -> None:
        self.path = tmp_name(tmp_dir)
        fd = create_file(self.path, 0o644, sharing)
        os.close(fd)
        self.fd = os.open(self.path, os.O_RDWR)
        self.writer = PackWriter(self.fd)

    def __len__(self) -> int:
        return len(self.writer)

    def find(self, oid: str) -> Entry | None:
        return self.writer.find(oid)

    def add(self, oid: str, data: bytes | memoryview) -> Entry:
        return self.writer.add(OBJECT, oid, data)

    def read(self, entry: Entry) -> bytes:
        self.writer.drain()
        return os.pread(self.fd, entry.length, entry.offset)

    def abandon(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        remove_file(self.path)


class Located(NamedTuple):
    pack_id: str
    entry: Entry


class Packs:
    """The packs of one cache directory (`directory` is `<cache>/packs`)."""

    def __init__(self, directory: str, sharing: Sharing = NOT_SHARED) -> None:
        self.dir = directory
        self.sharing = sharing
        self._indexes: dict[str, PackIndex] | None = None
        self._listed: tuple[int, int] | None = None  # the directory's (ino, mtime) when listed
        self._fds: dict[str, int] = {}
        self._lock = threading.RLock()
        self.unindexed: list[str] = []  # packs without an index (a kill between the renames)
        self.orphan_indexes: list[str] = []  # indexes whose pack is missing

    # --- the list of packs -----------------------------------------------------------------
    def _dir_stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.dir)
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns

    def indexes(self) -> dict[str, PackIndex]:
        """Every usable index, by pack id (read on first use). A damaged index is a
        FormatError naming it, with `git mvm fsck` as the way on."""
        found = self._indexes
        if found is None:
            with self._lock:
                if self._indexes is None:
                    self.reload()
                found = self._indexes
        assert found is not None
        return found

    def reload(self) -> None:
        """Read the directory again: new indexes read, gone ones dropped."""
        with self._lock:
            stamp = self._dir_stamp()
            try:
                names = set(os.listdir(self.dir))
            except FileNotFoundError:
                names = set()
            old = self._indexes or {}
            new: dict[str, PackIndex] = {}
            unindexed, orphans = [], []
            for name in sorted(names):
                pid = pack.pack_id_of(name)
                if pid is None:
                    continue
                if name.endswith(".pack"):
                    if pack.index_name(pid) not in names:
                        unindexed.append(pid)
                    continue
                if pack.pack_name(pid) not in names:
                    orphans.append(pid)
                    continue
                if pid in old:
                    new[pid] = old[pid]
                    continue
                try:
                    new[pid] = PackIndex.read(os.path.join(self.dir, name))
                except FileNotFoundError:  # removed since the listing (a repack)
                    continue
            for pid in set(old) - set(new):
                old[pid].close()
                fd = self._fds.pop(pid, None)
                if fd is not None:
                    os.close(fd)
            self._indexes = new
            self._listed = stamp
            self.unindexed = unindexed
            self.orphan_indexes = orphans

    def _changed(self) -> bool:
        return self._dir_stamp() != self._listed

    def close(self) -> None:
        with self._lock:
            for idx in (self._indexes or {}).values():
                idx.close()
            for fd in self._fds.values():
                os.close(fd)
            self._indexes, self._fds = None, {}

    # --- finding and reading -----------------------------------------------------------------
    def _find(self, oid: str) -> Located | None:
        for pid, idx in self.indexes().items():
            e = idx.find(oid)
            if e is not None:
                return Located(pid, e)
        return None

    def find(self, oid: str, fresh: bool = True) -> Located | None:
        """Where a pack holds object `oid`; a miss looks again when the directory changed
        (`fresh`)."""
        hit = self._find(oid)
        if hit is None and fresh and self._changed():
            self.reload()
            hit = self._find(oid)
        return hit

    def pread(self, at: Located) -> bytes:
        """The bytes of an entry (not verified). FileNotFoundError when its pack is gone."""
        fd = self._fds.get(at.pack_id)
        if fd is None:
            with self._lock:
                fd = self._fds.get(at.pack_id)
                if fd is None:
                    fd = os.open(os.path.join(self.dir, pack.pack_name(at.pack_id)),
                                 os.O_RDONLY)
                    self._fds[at.pack_id] = fd
        return os.pread(fd, at.entry.length, at.entry.offset)  # short: a truncated pack

    def read(self, oid: str) -> bytes | None:
        """Object `oid`'s bytes from a pack (not verified), None when no pack holds it. A pack
        gone since its index was read (a repack by another process): the list is read again
        and the read retried once."""
        for attempt in (0, 1):
            at = self.find(oid)
            if at is None:
                return None
            try:
                return self.pread(at)
            except FileNotFoundError:
                if attempt:
                    raise ObjectMissing(f"sha256:{oid}", "its pack is missing: run "
                                        "`git mvm fsck`, then `git mvm pull`") from None
                self.reload()
        return None

    def iter_oids(self) -> Iterator[str]:
        """The objects the packs hold (an object in two packs is listed twice)."""
        for idx in list(self.indexes().values()):
            for e in idx:
                if e.kind == OBJECT:
                    yield e.id

    # --- writing -----------------------------------------------------------------------------
    def publish(self, new: NewPack, durable: bool) -> str:
        """Make a written pack part of the cache: pack renamed into place (fsynced first when
        `durable`), then its index written atomically; returns its id."""
        pack_id, index = new.writer.finish()
        if durable:
            os.fsync(new.fd)
        os.close(new.fd)
        new.fd = -1
        make_dirs(self.dir, self.sharing)
        dest = os.path.join(self.dir, pack.pack_name(pack_id))
        idx_path = os.path.join(self.dir, pack.index_name(pack_id))
        if os.path.exists(dest) and os.path.exists(idx_path):
            remove_file(new.path)  # the same bytes, written before
        else:
            os.chmod(new.path, 0o444)
            share(new.path, self.sharing)
            os.rename(new.path, dest)
            if durable:
                _fsync_dir(self.dir)
            self._write_index(idx_path, index, durable)
        with self._lock:  # a new dict: readers iterate the old one without the lock
            if self._indexes is not None and pack_id not in self._indexes:
                self._indexes = {**self._indexes, pack_id: PackIndex(index, idx_path)}
        return pack_id

    def _write_index(self, path: str, index: bytes, durable: bool) -> None:
        atomic_write(path, index, 0o444, self.sharing)
        if durable:
            _fsync_dir(self.dir)

    def rewrite(self, tmp_dir: str, sources: Iterable[str], keep: Callable[[str, Entry], bool],
                durable: bool = True) -> tuple[str | None, list[tuple[str, int]]]:
        """One new pack holding the entries `keep` accepts of packs `sources`, each verified
        as it is copied; made durable, and only then the old indexes and packs removed
        (index first). Returns the new pack's id (None when nothing was kept) and the
        (oid, size) of the entries dropped. A corrupt entry stops it (FormatError) with the old
        packs untouched: `git mvm fsck` salvages them."""
        sources = list(sources)
        indexes = self.indexes()
        new = NewPack(tmp_dir, self.sharing)
        dropped: list[tuple[str, int]] = []
        try:
            for pid in sources:
                for e in indexes[pid]:
                    if not keep(pid, e):
                        dropped.append((e.id, e.length))
                        continue
                    data = self.pread(Located(pid, e))
                    if e.kind == OBJECT and hash_bytes(data) != e.id:
                        raise FormatError(
                            os.path.join(self.dir, pack.pack_name(pid)),
                            f"object sha256:{e.id} in it is corrupt, so it was not repacked",
                            "run `git mvm fsck`: it moves corrupt objects aside and keeps "
                            "the good ones")
                    new.writer.add(e.kind, e.id, data)
            pack_id = self.publish(new, durable) if len(new) else None
        except BaseException:
            new.abandon()
            raise
        if pack_id is None:
            new.abandon()
        for pid in sources:
            if pid != pack_id:
                self.remove(pid)
        return pack_id, dropped

    @contextmanager
    def merging(self, wait: bool) -> Iterator[bool]:
        """Hold the lock under which packs are rewritten (`merge.lock` in the packs
        directory). `wait` (gc's repack, fsck): until it is free, yielding True; a lock that
        cannot be made (a cache this user may only read, where it rewrites nothing either)
        is gone without. Otherwise (a command's merge): False at once when another process
        holds it or it cannot be taken."""
        path = os.path.join(self.dir, MERGE_LOCK)
        try:
            make_dirs(self.dir, self.sharing)
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except PermissionError:  # another user's lock file: flock needs no more
                fd = os.open(path, os.O_RDONLY)
        except OSError:
            yield wait
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    yield False
                    return
                from gitmv import ui

                ui.info(f"git mvm: waiting for another git mvm to finish merging {self.dir}")
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:  # (a file system without flock)
                yield wait
                return
            yield True
        finally:
            os.close(fd)

    def merge(self, tmp_dir: str, durable: bool) -> list[str]:
        """Merge packs by `merge_plan` unless another process is rewriting packs: every
        entry kept (deduplicated), the new pack durable before the old ones go. Returns the
        ids of the packs merged away. The lock is taken only when a merge is due."""

        def plan() -> list[str]:
            self.reload()
            return merge_plan({pid: idx.pack_size for pid, idx in self.indexes().items()})

        if not plan():
            return []
        with self.merging(wait=False) as mine:
            merged = plan() if mine else []  # (again: another may have merged meanwhile)
            if merged:
                self.rewrite(tmp_dir, merged, lambda pid, e: True, durable)
            return merged

    def remove(self, pack_id: str) -> None:
        """Remove a pack: its index first (its objects stop being visible), then the pack."""
        with self._lock:
            remove_file(os.path.join(self.dir, pack.index_name(pack_id)))
            remove_file(os.path.join(self.dir, pack.pack_name(pack_id)))
            if self._indexes is not None and pack_id in self._indexes:
                kept = dict(self._indexes)
                kept.pop(pack_id).close()
                self._indexes = kept
            fd = self._fds.pop(pack_id, None)
            if fd is not None:
                os.close(fd)

    def salvage(self, tmp_dir: str, pack_id: str, quarantine_dir: str,
                drop: Iterable[str] = ()) -> dict[str, str]:
        """Replace a damaged pack by one holding its intact entries: every entry its index or
        a front-to-back read finds is read at its place and checked against its id. Entries
        that fail (and those of `drop`) are moved aside to `quarantine_dir/<oid>` unless an
        intact copy is kept; returns {oid: where its bytes went}. The new pack is durable
        before the old one is removed."""
        drop = set(drop)
        path = os.path.join(self.dir, pack.pack_name(pack_id))
        found: dict[tuple[str, int, int, int], Entry] = {}
        try:
            for e in PackIndex.read(os.path.join(self.dir, pack.index_name(pack_id))):
                found[e] = e
        except (FileNotFoundError, FormatError):
            pass  # the pack itself says what it holds
        with open(path, "rb") as f:
            try:
                for e, _ in pack.read_entries(f, path):
                    found[e] = e
            except FormatError:
                pass  # what follows a damaged header is found by the index, or lost
            fd = f.fileno()
            new = NewPack(tmp_dir, self.sharing)
            aside: dict[str, bytes] = {}
            try:
                for e in sorted(found.values(), key=lambda e: e.offset):
                    data = os.pread(fd, e.length, e.offset)
                    if _intact(e, data) and e.id not in drop:
                        new.writer.add(e.kind, e.id, data)
                    elif e.kind == OBJECT:
                        aside.setdefault(e.id, data)
                new_id = self.publish(new, True) if len(new) else None
            except BaseException:
                new.abandon()
                raise
        if new_id is None:
            new.abandon()
        moved: dict[str, str] = {}
        for oid, data in aside.items():
            if new.writer.find(oid) is None:
                dest = os.path.join(quarantine_dir, oid)
                atomic_write(dest, data, 0o444)
                moved[oid] = dest
        if new_id != pack_id:
            self.remove(pack_id)
        return moved

    def check(self, tmp_dir: str, quarantine_dir: str) -> PacksChecked:
        """fsck: every pack read whole; an index that does not describe its whole pack is
        written again from it; a damaged pack's intact entries are kept in a new pack and the
        others moved to `quarantine_dir`; an index whose pack is missing is removed."""
        try:
            names = set(os.listdir(self.dir))
        except FileNotFoundError:
            names = set()
        out = PacksChecked(0, {}, [], [], [])
        checked = 0
        for name in sorted(names):
            pid = pack.pack_id_of(name)
            if pid is None:
                continue
            if name.endswith(".idx"):
                if pack.pack_name(pid) not in names:
                    remove_file(os.path.join(self.dir, name))
                    out.indexes_removed.append(pid)
                continue
            result = check_pack(os.path.join(self.dir, name), pid)
            checked += len(result.good) + result.bad
            if result.problem:
                out.moved.update(self.salvage(tmp_dir, pid, quarantine_dir))
                out.salvaged.append((pid, result.problem))
                continue
            why = index_problem(os.path.join(self.dir, pack.index_name(pid)), result)
            if why:
                self.reindex(pid, result.good, result.size)
                out.rebuilt.append((pid, why))
        self.reload()
        return out._replace(checked=checked)

    def mtime(self, pack_id: str) -> float:
        """When a pack was published (its index's mtime: written last)."""
        return os.stat(os.path.join(self.dir, pack.index_name(pack_id))).st_mtime

    def index_unindexed(self, older_than: float) -> list[tuple[str, str]]:
        """Index again the packs a kill left without an index (untouched since
        `older_than`), when they read back whole; (pack id, why not) of those that do not."""
        self.reload()
        damaged = []
        for pid in list(self.unindexed):
            path = os.path.join(self.dir, pack.pack_name(pid))
            try:
                if os.stat(path).st_mtime > older_than:
                    continue
            except FileNotFoundError:
                continue
            check = check_pack(path, pid)
            if check.problem:
                damaged.append((pid, check.problem))
            else:
                self.reindex(pid, check.good, check.size)
        return damaged

    def reindex(self, pack_id: str, entries: Iterable[Entry], size: int) -> None:
        """Write the index of a pack from its entries (read from the pack itself)."""
        index = pack.build_index(pack_id, size, entries)
        self._write_index(os.path.join(self.dir, pack.index_name(pack_id)), index, True)
        with self._lock:
            if self._indexes is not None:
                self._indexes = {**self._indexes,
                                 pack_id: PackIndex(index, pack.index_name(pack_id))}
            if pack_id in self.unindexed:
                self.unindexed.remove(pack_id)


# --- checking a pack whole (fsck, and indexing a pack again) --------------------------------


class _Hashing:
    """A file read front to back, hashed as it is read."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.sha = hashlib.sha256()
        self.size = 0

    def read(self, n: int) -> bytes:
        data = self.f.read(n)
        self.sha.update(data)
        self.size += len(data)
        return data


def _intact(e: Entry, data: bytes) -> bool:
    """Whether an entry's bytes are what its header says (a chunk list has no hash of its
    own: its length)."""
    return len(data) == e.length and (e.kind == pack.CHUNKS or hash_bytes(data) == e.id)


class PacksChecked(NamedTuple):
    checked: int  # entries read
    moved: dict[str, str]  # corrupt objects: where their bytes went
    rebuilt: list[tuple[str, str]]  # (pack id, what was wrong with its index)
    salvaged: list[tuple[str, str]]  # (pack id, what was wrong with it)
    indexes_removed: list[str]  # indexes of packs that are missing


class PackCheck(NamedTuple):
    pack_id: str
    good: list[Entry]  # entries read front to back whose bytes hash to their id
    bad: int  # entries whose bytes do not
    size: int
    problem: str  # why the pack is not whole ("" when it is)


def check_pack(path: str, pack_id: str) -> PackCheck:
    """Read a pack front to back: its sha256 against its name, each entry against its id."""
    good: list[Entry] = []
    bad = 0
    problem = ""
    with open(path, "rb") as f:
        src = _Hashing(f)
        try:
            for e, data in pack.read_entries(src, path):
                if _intact(e, data):
                    good.append(e)
                else:
                    bad += 1
        except FormatError as exc:
            problem = exc.why
        while src.read(1 << 20):  # the rest, for the pack's own hash
            pass
    if not problem and bad:
        problem = f"{bad} corrupt entr{'y' if bad == 1 else 'ies'}"
    if not problem and src.sha.hexdigest() != pack_id:
        problem = "its bytes do not match its name"
    return PackCheck(pack_id, good, bad, src.size, problem)


def index_problem(idx_path: str, check: PackCheck) -> str:
    """Why the index at `idx_path` does not describe the whole pack `check` read ("" when
    it does): the index is a function of the pack, so it must be that one, byte for byte."""
    try:
        with open(idx_path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return "missing"
    if data == pack.build_index(check.pack_id, check.size, check.good):
        return ""
    try:
        PackIndex(data, idx_path)
    except FormatError as exc:
        return exc.why
    return "does not list what the pack holds"
