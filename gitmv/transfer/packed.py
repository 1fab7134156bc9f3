"""A store in layout 2 (docs/formats.md, "Store layout 2"): its layout file, its indexes
cached locally, and `PackedStore`, the Store a push, fetch, gc or fsck uses on it.

The store's indexes are listed once per command (`StoreIndex.load`) and kept under
`<git common dir>/mvm/stores/<sha256(url)[:16]>/`: an index is immutable (named by its pack),
so only new ones are fetched and those no longer listed are dropped. Existence checks come
from them; a store upgraded from layout 1 (`loose objects: yes`) is also asked for what they
do not hold, as before. Pushing is `packpush`, fetching `packpull`.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, BinaryIO, NamedTuple, cast

from gitmv import ui
from gitmv.errors import FormatError, GitMvmError
from gitmv.fsutil import atomic_write, remove_file
from gitmv.objects import chunking
from gitmv.objects.cache import Cache
from gitmv.objects.pack import CHUNK, CHUNKS, OBJECT, Entry, PackIndex, index_name, pack_id_of
from gitmv.remotes.base import Store, Stored
from gitmv.remotes.retry import RemoteError, TransientError, with_retries

LAYOUT_NAME = "mvm-layout"
LAYOUT = 2  # the newest store layout this gitmv reads and writes
LAYOUT_HEAD = "gitmv store layout "
LOOSE_LINE = "loose objects: yes"
INDEX_DIR = "index/"
PACK_DIR = "packs/"


class Layout(NamedTuple):
    version: int  # 1: no layout file (loose objects only)
    loose: bool  # loose objects may be there (layout 1, or upgraded from it)


def parse_layout(data: bytes, where: str) -> Layout:
    lines = data.decode("utf-8", "replace").splitlines()
    if not lines or not lines[0].startswith(LAYOUT_HEAD) or \
            not lines[0][len(LAYOUT_HEAD):].strip().isdigit():
        raise FormatError(where, "not a gitmv store layout file",
                          "check the remote's URL; a file named mvm-layout there is not gitmv's")
    return Layout(int(lines[0][len(LAYOUT_HEAD):]), LOOSE_LINE in lines[1:])


def dump_layout(layout: Layout) -> bytes:
    return (f"{LAYOUT_HEAD}{layout.version}\n" + (f"{LOOSE_LINE}\n" if layout.loose else "")
            ).encode()


def read_layout(raw: Any, name: str) -> Layout:
    """The store's layout; RemoteError for one newer than this gitmv knows."""
    data = with_retries(lambda: raw.read_named(LAYOUT_NAME), f"read {name}'s layout")
    if data is None:
        return Layout(1, True)
    layout = parse_layout(data, f"remote {name!r}: {LAYOUT_NAME}")
    if layout.version > LAYOUT:
        raise RemoteError(
            f"remote {name!r} is written by a newer gitmv (store layout {layout.version}; "
            f"this gitmv knows layout {LAYOUT} and older)",
            "upgrade gitmv (`pip install -U gitmv`) to read or write it", store_wide=True)
    return layout


class Located(NamedTuple):
    pack_id: str
    entry: Entry


class StoreIndex:
    """The indexes of one store, listed once, cached locally, searched in place."""

    def __init__(self, raw: Any, name: str, cache_dir: str) -> None:
        self.raw = raw
        self.name = name
        self.dir = cache_dir
        self.indexes: dict[str, PackIndex] = {}  # pack id -> index
        self.mtimes: dict[str, float] = {}  # pack id -> its index's time on the store
        self.bad: dict[str, str] = {}  # pack id -> why its index does not read
        self.loaded = False

    def load(self, strict: bool = True) -> None:
        """List the store's indexes; fetch those not cached, drop cached ones not listed. A
        downloaded index that does not parse is fetched once more, then reported (`strict`:
        raised, else kept in `bad` for fsck)."""
        listed = with_retries(lambda: self.raw.list_named(INDEX_DIR), f"list {self.name}")
        os.makedirs(self.dir, exist_ok=True)
        keep = set()
        for name, size, mtime in listed:
            pack_id = pack_id_of(name[len(INDEX_DIR):])
            if pack_id is None or not name.endswith(".idx"):
                continue
            keep.add(index_name(pack_id))
            self.mtimes[pack_id] = mtime
            if pack_id in self.indexes:
                continue
            try:
                self.indexes[pack_id] = self._fetch(pack_id, size)
            except FormatError as exc:
                self.bad[pack_id] = exc.message
        for stale in set(os.listdir(self.dir)) - keep:
            if pack_id_of(stale) is not None:
                remove_file(os.path.join(self.dir, stale))
        for pack_id in [p for p in self.indexes if index_name(p) not in keep]:
            self.indexes.pop(pack_id).close()
        self.loaded = True
        if strict and self.bad:
            pack_id, why = next(iter(self.bad.items()))
            raise RemoteError(
                f"remote {self.name!r}: index of pack {pack_id[:12]} does not read: {why}",
                "run `git mvm fsck --remote --repair` (it rebuilds the index from its pack)",
                store_wide=True)

    def _fetch(self, pack_id: str, size: int) -> PackIndex:
        local = os.path.join(self.dir, index_name(pack_id))
        try:
            if os.path.getsize(local) == size:
                return PackIndex.read(local)
        except (OSError, FormatError):
            remove_file(local)
        why = ""
        for _ in range(2):  # a truncated download is fetched once more
            data = with_retries(lambda: self.raw.read_named(INDEX_DIR + index_name(pack_id)),
                                f"fetch an index of {self.name}")
            if data is None:
                raise FormatError(f"index/{index_name(pack_id)}", "listed, then gone")
            try:
                index = PackIndex(data, f"remote {self.name!r}: index/{index_name(pack_id)}")
            except FormatError as exc:
                why = exc.why
                continue
            if index.pack_id != pack_id:
                why = f"it names pack {index.pack_id[:12]}"
                continue
            atomic_write(local, data)
            return index
        raise FormatError(f"index/{index_name(pack_id)}", why)

    def add(self, pack_id: str, data: bytes, mtime: float) -> None:
        """An index this command uploaded."""
        atomic_write(os.path.join(self.dir, index_name(pack_id)), data)
        self.indexes[pack_id] = PackIndex(data, index_name(pack_id))
        self.mtimes[pack_id] = mtime

    def drop(self, pack_id: str) -> None:
        index = self.indexes.pop(pack_id, None)
        if index is not None:
            index.close()
        self.mtimes.pop(pack_id, None)
        remove_file(os.path.join(self.dir, index_name(pack_id)))

    def find(self, id_hex: str, kind: int) -> Located | None:
        """Where an entry is (the newest index first: a repack's copy before the old one)."""
        for pack_id in sorted(self.indexes, key=lambda p: -self.mtimes.get(p, 0)):
            entry = self.indexes[pack_id].find(id_hex, kind)
            if entry is not None:
                return Located(pack_id, entry)
        return None

    def find_all(self, id_hex: str, kind: int) -> list[Located]:
        """Every copy of an entry, the newest index first (a push that replaced a copy held
        wrong, or a repack, wrote another)."""
        return [Located(pack_id, e)
                for pack_id in sorted(self.indexes, key=lambda p: -self.mtimes.get(p, 0))
                if (e := self.indexes[pack_id].find(id_hex, kind)) is not None]

    def find_object(self, oid: str) -> Located | None:
        return self.find(oid, OBJECT) or self.find(oid, CHUNKS)


def packed_objects(index: StoreIndex) -> list[tuple[str, int, float]]:
    """(oid, length, its index's time) of every object entry (OBJECT, CHUNKS) the store's
    indexes list (an object in two packs: twice)."""
    return [(e.id, e.length, index.mtimes.get(pack_id, 0.0))
            for pack_id, idx in index.indexes.items() for e in idx if e.kind != CHUNK]


def live_chunks(store: PackedStore, live: Iterable[str]) -> set[str]:
    """The chunks the chunk lists of the `live` objects held chunked name."""
    chunks: set[str] = set()
    for oid in live:
        at = store.index.find(oid, CHUNKS)
        if at is not None:
            chunks.update(c.id for c in store.chunks_of(at))
    return chunks


def pack_is_live(index: PackIndex, live: Collection[str], chunks: Collection[str],
                 copies: Sequence[PackIndex] = ()) -> bool:
    """Whether an entry of the pack is live (an object of `live`, a chunk of `chunks`) and
    not also in one of the packs `copies` index (a repack's)."""
    return any(e.id in (chunks if e.kind == CHUNK else live)
               and not any(c.find(e.id, e.kind) is not None for c in copies) for e in index)


def rebuild_index(store: PackedStore, pack_id: str) -> tuple[bytes, int, int]:
    """An index of the pack as the store holds it: its entries read front to back, those
    whose bytes do not hash to their id (and all after a truncation) left out. Returns (the
    index, entries kept, entries left out or lost)."""
    from gitmv.objects.pack import build_index, read_entries

    data = with_retries(lambda: store.raw.read_named(PACK_DIR + f"pack-{pack_id}.pack"),
                        f"read pack {pack_id[:12]}")
    if data is None:
        raise PackGone(pack_id, store.name)
    kept: list[Entry] = []
    bad = 0
    try:
        for entry, piece in read_entries(io.BytesIO(data), f"pack {pack_id[:12]}"):
            if entry.kind == CHUNKS:
                try:
                    chunking.parse_list(piece, entry.id)
                except GitMvmError:
                    bad += 1
                    continue
            elif hashlib.sha256(piece).hexdigest() != entry.id:
                bad += 1
                continue
            kept.append(entry)
    except FormatError:
        bad += 1  # (at least one: the entry cut short)
    return build_index(pack_id, len(data), kept), len(kept), bad


def stores_dir(common_dir: str, url: str) -> str:
    return os.path.join(common_dir, "mvm", "stores",
                        hashlib.sha256(url.encode()).hexdigest()[:16])


class PackedStore:
    """A Store over a raw store of layout 2: objects in packs, found through the indexes,
    and loose objects where the store had them before (or where no index holds them)."""

    def __init__(self, raw: Any, cache_dir: str, cache: Cache, pusher: Any, fetcher: Any
                 ) -> None:
        self.pusher = pusher
        self.fetcher = fetcher
        self.raw = raw
        self.name: str = raw.name
        self.url: str = raw.url
        self.can_list: bool = raw.can_list
        self.exists_batch = getattr(raw, "exists_batch", 1000)
        self.cache = cache
        self.index = StoreIndex(raw, self.name, cache_dir)
        self._layout: Layout | None = None
        self._lock = threading.Lock()
        self._expected: list[Mapping[str, int] | Callable[[], Mapping[str, int]]] = []

    # --- what the store holds ------------------------------------------------------------
    @property
    def layout(self) -> Layout:
        if self._layout is None:
            self._layout = read_layout(self.raw, self.name)
        return self._layout

    def ready(self, strict: bool = True) -> StoreIndex:
        with self._lock:
            if not self.index.loaded:
                _ = self.layout
                self.index.load(strict)
        return self.index

    def reload(self) -> None:
        """List the indexes again (a pack went: repacked by gc under us)."""
        with self._lock:
            self.index.load()

    def expect_sizes(self, sizes: Mapping[str, int] | Callable[[], Mapping[str, int]]) -> None:
        """Object sizes the caller knows (a function: called only when needed). The store may
        hold several copies of an object (a push that replaced a copy held wrong wrote
        another, and two packs written in one second have the same time on S3, so "the
        newest" may be the bad one): the copy of the expected size is the one reported."""
        self._expected.append(sizes)

    def _expected_size(self, oid: str) -> int | None:
        for i, sizes in enumerate(self._expected):
            if callable(sizes):
                sizes = self._expected[i] = sizes()
            if oid in sizes:
                return sizes[oid]
        return None

    def _located(self, index: StoreIndex, oid: str) -> Located | None:
        """Where the store holds `oid`: the newest copy, unless only another has the size
        the caller expects."""
        at = index.find_object(oid)
        if at is None or at.entry.kind != OBJECT or not self._expected:
            return at
        size = self._expected_size(oid)
        if size is None or at.entry.length == size:
            return at
        return next((o for o in index.find_all(oid, OBJECT) if o.entry.length == size), at)

    def stat_many(self, oids: Sequence[str], checksums: bool = False) -> dict[str, Stored]:
        index = self.ready()
        found: dict[str, Stored] = {}
        rest = []
        for oid in oids:
            at = self._located(index, oid)
            if at is None:
                rest.append(oid)
            else:
                size = at.entry.length if at.entry.kind == OBJECT else None
                found[oid] = Stored(size, None, index.mtimes.get(at.pack_id))
        if rest and self.layout.loose:
            found |= self.raw.stat_many(rest, checksums)
        return found

    def exists_many(self, oids: Sequence[str]) -> set[str]:
        return set(self.stat_many(oids))

    def chunks_of(self, at: Located) -> list[chunking.Chunk]:
        """The chunk list a CHUNKS entry holds."""
        data = self.read_range(at.pack_id, at.entry.offset, at.entry.length)
        return chunking.parse_list(data, f"remote {self.name!r}: chunk list of "
                                         f"sha256:{at.entry.id}")

    def read_range(self, pack_id: str, offset: int, length: int) -> bytes:
        """Bytes of a pack; RemoteError (not transient) when the pack is gone."""
        name = PACK_DIR + f"pack-{pack_id}.pack"

        def attempt() -> bytes:
            data = self.raw.read_named(name, offset, length)
            if data is None:
                raise PackGone(pack_id, self.name)
            if len(data) != length:
                raise TransientError(f"remote {self.name!r}: {name}: {len(data)} bytes at "
                                     f"{offset}, not {length}")
            return cast(bytes, data)

        return with_retries(attempt, f"read {name}")

    # --- the rest of the Store interface ---------------------------------------------------
    def open_download(self, oid: str, offset: int = 0) -> tuple[BinaryIO, int]:
        index = self.ready()
        at = self._located(index, oid)
        if at is None:
            # (loose, as the store had it, or as gc lists it: an older gitmv that shares the
            # store writes loose objects whatever the layout file says; the raw store says
            # "not on remote" for one it lacks)
            return cast(tuple[BinaryIO, int], self.raw.open_download(oid, offset))
        if at.entry.kind == OBJECT:
            return io.BytesIO(self._verified_copy(oid, at)), 0
        return cast(BinaryIO, _ChunkStream(self, self.chunks_of(at))), 0

    def _verified_copy(self, oid: str, newest: Located) -> bytes:
        """The bytes of the newest copy of packed object `oid` that hashes to it (a push
        that replaced a copy held wrong wrote another), else of the newest: the caller's
        check then finds it corrupt."""
        data = self.read_range(newest.pack_id, newest.entry.offset, newest.entry.length)
        if hashlib.sha256(data).hexdigest() == oid:
            return data
        other = self.other_copy(oid, newest.pack_id, newest.entry.offset)
        return data if other is None else other

    def other_copy(self, id_hex: str, pack_id: str, offset: int) -> bytes | None:
        """The bytes of a copy of entry `id_hex` other than the one at `offset` of `pack_id`
        that hash to it (any entry of that id holds them: an object or a chunk), None when
        there is none."""
        for kind in (OBJECT, CHUNK):
            for at in self.index.find_all(id_hex, kind):
                if (at.pack_id, at.entry.offset) == (pack_id, offset):
                    continue
                try:
                    data = self.read_range(at.pack_id, at.entry.offset, at.entry.length)
                except GitMvmError:
                    continue
                if hashlib.sha256(data).hexdigest() == id_hex:
                    return data
        return None

    def upload(self, oid: str, size: int, src: BinaryIO) -> None:
        """One object as a loose one (what a repair of a loose object sends)."""
        self.raw.upload(oid, size, src)

    def list_objects(self) -> Iterator[tuple[str, int, float]]:
        return cast(Iterator[tuple[str, int, float]], self.raw.list_objects())

    def delete(self, oid: str) -> None:
        self.raw.delete(oid)

    def refresh(self, oids: Sequence[str]) -> set[str]:
        """Refresh what `oids` rely on: the packs holding them (and a chunked object's chunks),
        index and pack; loose ones as the raw store does. Returns those still there."""
        index = self.ready()
        present: set[str] = set()
        loose: list[str] = []
        packs: set[str] = set()
        for oid in oids:
            at = index.find_object(oid)
            if at is None:
                loose.append(oid)
                continue
            packs.add(at.pack_id)
            if at.entry.kind == CHUNKS:
                try:
                    packs |= self.packs_of_chunks(self.chunks_of(at))
                except GitMvmError:
                    continue
            present.add(oid)
        gone = {p for p in packs if not self.refresh_pack(p)}
        present = {o for o in present if (a := index.find_object(o)) and a.pack_id not in gone}
        refresh = getattr(self.raw, "refresh", None)
        if loose:
            present |= set(refresh(loose)) if refresh else set(loose)
        return present

    def packs_of_chunks(self, chunks: Sequence[chunking.Chunk]) -> set[str]:
        packs = set()
        for c in chunks:
            at = self.index.find(c.id, CHUNK)
            if at is None:
                raise RemoteError(f"remote {self.name!r}: chunk {c.id[:12]} is in no pack")
            packs.add(at.pack_id)
        return packs

    def refresh_pack(self, pack_id: str) -> bool:
        """Make a pack's index and pack new (gc keeps what was touched within its grace);
        False when the index is gone."""
        refresh = getattr(self.raw, "refresh_named", None)
        if refresh is None:
            return True
        if not with_retries(lambda: refresh(INDEX_DIR + index_name(pack_id)),
                            f"refresh on {self.name}"):
            return False
        with_retries(lambda: refresh(PACK_DIR + f"pack-{pack_id}.pack"), f"refresh on {self.name}")
        self.index.mtimes[pack_id] = time.time()
        return True

    def push_objects(self, cache: Cache, phases: Sequence[Sequence[str]], jobs: int,
                     force: bool, verify: bool, limits: Any) -> Any:
        """engine.upload's work on this store (packpush.push_objects, handed in by `of`)."""
        return self.pusher(self, cache, phases, jobs, force, verify, limits)

    def fetch_objects(self, cache: Cache, oids: Sequence[str], jobs: int,
                      sizes: Mapping[str, int] | None, limits: Any, flush: bool = True) -> Any:
        """engine.download's work on this store (packpull.fetch_objects, handed in)."""
        return self.fetcher(self, cache, oids, jobs, sizes, limits, flush)

    def __getattr__(self, attr: str) -> Any:  # clean_temps, flush, delete_if_older, …
        if attr in ("raw", "index", "cache", "pusher", "fetcher"):
            raise AttributeError(attr)
        return getattr(self.raw, attr)


class PackGone(RemoteError):
    """A pack an index names is not on the store (repacked or deleted meanwhile)."""

    def __init__(self, pack_id: str, name: str) -> None:
        super().__init__(f"remote {name!r}: pack {pack_id[:12]} is gone (repacked or deleted "
                         "while this command read it)",
                         "run the command again; if it persists, `git mvm fsck --remote`")
        self.pack_id = pack_id


class _ChunkStream(io.RawIOBase):
    """A chunked object's bytes, chunk by chunk."""

    def __init__(self, store: PackedStore, chunks: list[chunking.Chunk]) -> None:
        self.store = store
        self.chunks = iter(chunks)
        self.buf = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes (all that is left when `size` is None or negative), as a file
        would give them: a read stops short only at the end."""
        parts, want = [], -1 if size is None else size
        while want != 0:
            piece = self.read1(want)
            if not piece:
                break
            parts.append(piece)
            if want > 0:
                want -= len(piece)
        return b"".join(parts)

    def read1(self, size: int | None = -1) -> bytes:
        """The bytes of the current chunk (up to `size`), fetching the next when it is used
        up: what has arrived, for a reader that streams."""
        if not self.buf:
            c = next(self.chunks, None)
            if c is None:
                return b""
            at = self.store.index.find(c.id, CHUNK)
            if at is None:
                raise RemoteError(f"remote {self.store.name!r}: chunk {c.id[:12]} is in no "
                                  "pack", "run `git mvm fsck --remote`")
            # (not verified here: the reader hashes the whole object against its oid, and
            # so reports a bad chunk as the object's corruption)
            self.buf = self.store.read_range(at.pack_id, at.entry.offset, at.entry.length)
        n = len(self.buf) if size is None or size < 0 else size
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def of(store: Store, common_dir: str, cache: Cache, settings: Mapping[str, object],
       pusher: Any, fetcher: Any) -> Store:
    """The Store a command uses for `store`. Where the store kind keeps named files and lists
    them (a directory, S3, WebDAV) that is a PackedStore, the default: a store of layout 1
    is read as it is (loose objects) and upgraded to layout 2 by the next push, which writes
    packs (its layout file says `loose objects: yes`, so they are still read). `packs = false`
    keeps a store of layout 1 as it is, for a team that shares it with an older gitmv (one
    already of layout 2 is read and written as one whatever the setting). The store itself
    otherwise: Git LFS, and plain HTTP, which cannot list (packs are found by listing)."""
    if isinstance(store, PackedStore) or not hasattr(store, "put_named"):
        return store
    made = getattr(store, "_packed_view", None)  # one per store: its indexes listed once
    if made is not None:
        return cast(Store, made)
    wanted = settings.get("packs")
    if not store.can_list:  # (plain HTTP: layout 1; packs need a listing)
        if wanted is True:
            raise RemoteError(f"remote {store.name!r}: packs are found by listing, and "
                              "this remote cannot list",
                              f"set `webdav = true` in [remote.{store.name}]",
                              store_wide=True)
        return store
    layout = None
    if wanted is False:
        layout = read_layout(store, store.name)
        if layout.version < 2:
            store._packed_view = store  # type: ignore[attr-defined]  # (read once)
            return store
    made = PackedStore(store, stores_dir(common_dir, store.url), cache, pusher, fetcher)
    made._layout = layout
    store._packed_view = made  # type: ignore[attr-defined]
    return cast(Store, made)


def note(message: str) -> None:
    ui.debug(message)
