"""Pushing into a store of layout 2: the objects its indexes do not hold go into packs of
about PACK_TARGET bytes, each built in the cache's tmp dir while the one before uploads.

An object of more than chunking.CHUNKED_MIN bytes is cut by content (over an mmap of its
cache file) and only the chunks no index holds are added, with its chunk list (CHUNKS). Packs
are uploaded in the order they were filled, each pack confirmed before its index goes up, so
an index never names a missing pack and the manifests (the last phase) become visible after
every file they name. A chunk found in an older pack makes the push rely on that pack: it is
refreshed when older than `refresh_after()`, as loose objects are (engine.rely_on).
"""

from __future__ import annotations

import hashlib
import mmap
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from gitmv.errors import GitMvmError, ObjectCorrupt
from gitmv.fsutil import create_file, remove_file, tmp_name
from gitmv.objects import chunking
from gitmv.objects.cache import Cache
from gitmv.objects.hashing import HashPipe
from gitmv.objects.pack import CHUNK, CHUNKS, OBJECT, PackWriter, index_name, pack_name
from gitmv.remotes.base import holds
from gitmv.remotes.retry import RemoteError, with_retries
from gitmv.transfer.engine import Limits, TransferResult, refresh_after, rely_on, verify_on
from gitmv.transfer.packed import (
    INDEX_DIR,
    LAYOUT,
    LAYOUT_NAME,
    PACK_DIR,
    Layout,
    PackedStore,
    dump_layout,
)

PACK_TARGET = 64 << 20  # bytes: a pack is sealed and sent once it holds this much
RELEASE_EVERY = 64 << 20  # bytes of a mapped object read before its pages are let go


class Packer:
    """Fills packs and sends them, one uploading while the next fills (flat memory: at most
    two temp packs on disk, a few MiB of buffers)."""

    def __init__(self, store: PackedStore, cache: Cache, force: bool = False) -> None:
        self.store = store
        self.force = force  # every chunk sent, whatever the indexes hold (a repair)
        self.cache = cache
        self.pool = ThreadPoolExecutor(1)
        self.sending: Future[None] | None = None
        self.writer: PackWriter | None = None
        self.fd = -1
        self.path = ""
        self.oids: list[str] = []  # objects of the pack being filled
        self.chunks: set[str] = set()  # chunk ids this push added
        self.done: list[str] = []
        self.sent: list[str] = []  # ids of the packs sent
        self.broken = ""  # why a pack could not be sent: none after it is
        self.failed: list[tuple[str, str]] = []
        self.nbytes = 0
        self.relied: set[str] = set()  # packs already refreshed (or young)
        self.lock = threading.Lock()
        self.pipe = HashPipe()  # the packs' and large objects' own hashes, on a second core

    def _open(self) -> PackWriter:
        if self.writer is None:
            self.cache.make_tmp_dir()
            self.path = tmp_name(self.cache.tmp_dir)
            self.fd = create_file(self.path, 0o600)
            self.writer = PackWriter(self.fd, self.pipe)
        return self.writer

    def add_entry(self, kind: int, id_hex: str, data: bytes | memoryview) -> None:
        """An entry as it is (a repack's copy of one in another pack)."""
        self._open().add(kind, id_hex, data)
        if kind != CHUNK:
            self.oids.append(id_hex)
        self.nbytes += len(data)
        self._maybe_seal()

    def add_object(self, oid: str, data: bytes) -> None:
        self.add_entry(OBJECT, oid, data)

    def add_chunked(self, oid: str, view: memoryview,
                    done_with: Callable[[int], None] | None = None) -> None:
        """Cut `view` (a large object, whose bytes must be `oid`'s: checked as they are cut,
        before its chunk list is written) and pack the chunks no index holds; `done_with(n)`
        is told, every RELEASE_EVERY bytes, that the first n bytes are no longer needed."""
        chunks = []
        release_at = RELEASE_EVERY
        whole = hashlib.sha256()
        for c, piece in chunking.cut(view):
            if c.offset >= release_at:
                self.pipe.sync()  # (the hashes have read that far)
                if done_with is not None:
                    done_with(c.offset)
                release_at = c.offset + RELEASE_EVERY
            self.pipe.update(whole, piece)
            chunks.append(c)
            if c.id in self.chunks:
                continue
            at = None if self.force else self.store.index.find(c.id, CHUNK)
            if at is not None:
                self._rely(at.pack_id)
                continue
            self._open().add(CHUNK, c.id, piece)
            self.chunks.add(c.id)
            self.nbytes += len(piece)
            self._maybe_seal()
        self.pipe.sync()
        got = whole.hexdigest()
        if got != oid:  # its chunks are sound (each is its own id) but name no object
            raise ObjectCorrupt(f"sha256:{oid}", f"sha256:{got}", "local cache")
        self._open().add(CHUNKS, oid, chunking.dump_list(len(view), chunks))
        self.oids.append(oid)
        self._maybe_seal()

    def _rely(self, pack_id: str) -> None:
        """A chunk in an older pack: refresh that pack when gc could take it soon."""
        if pack_id in self.relied:
            return
        import time

        if self.store.index.mtimes.get(pack_id, 0) < time.time() - refresh_after():
            self.store.refresh_pack(pack_id)
        self.relied.add(pack_id)

    def _maybe_seal(self) -> None:
        # a large object's chunks may span packs: its chunk list goes in the last, which is
        # sent after the others, so it never names a chunk that is not there
        if self.writer is not None and self.writer.size >= PACK_TARGET:
            self.seal()

    def seal(self) -> None:
        """Finish the pack being filled and send it (after the one before has gone)."""
        if self.writer is None:
            return
        pack_id, index = self.writer.finish()
        os.close(self.fd)
        path, oids = self.path, self.oids
        self.writer, self.oids, self.fd = None, [], -1
        self.wait()
        self.sending = self.pool.submit(self._send, pack_id, path, index, oids)

    def wait(self) -> None:
        if self.sending is not None:
            self.sending.result()
            self.sending = None

    def _send(self, pack_id: str, path: str, index: bytes, oids: list[str]) -> None:
        try:
            if self.broken:  # a pack before this one failed: its index could name what is
                raise RemoteError(f"not sent: an earlier pack failed ({self.broken})")
            send_pack(self.store, pack_id, path, index)
        except GitMvmError as exc:
            # (a pack of chunks alone names no object: the chunk list after it fails too)
            self.broken = self.broken or exc.message
            self.failed += [(o, exc.message) for o in oids]
        else:
            self.done += oids
            self.sent.append(pack_id)
        finally:
            remove_file(path)

    def close(self) -> None:
        self.seal()
        self.wait()
        self.pool.shutdown()
        self.pipe.close()

    def abort(self) -> None:
        self.pipe.close()
        if self.writer is not None:
            os.close(self.fd)
            remove_file(self.path)
            self.writer = None
        self.pool.shutdown(wait=True, cancel_futures=True)


def send_pack(store: PackedStore, pack_id: str, path: str, index: bytes) -> None:
    """Upload a pack, then (confirmed at its size) its index: the index makes it visible."""
    raw = store.raw
    size = os.path.getsize(path)
    held = with_retries(lambda: raw.put_named(PACK_DIR + pack_name(pack_id), path),
                        f"upload pack {pack_id[:12]}")
    if not holds(held, pack_id, size):
        raise RemoteError(f"remote {store.name!r} answered that it stored pack "
                          f"{pack_id[:12]}, but holds {held.size} bytes, not {size}")
    idx_path = path + ".idx"
    try:
        with open(idx_path, "wb") as f:
            f.write(index)
        held = with_retries(lambda: raw.put_named(INDEX_DIR + index_name(pack_id), idx_path),
                            f"upload index {pack_id[:12]}")
    finally:
        remove_file(idx_path)
    if held.size != len(index):
        raise RemoteError(f"remote {store.name!r} holds {held.size} bytes of index "
                          f"{pack_id[:12]}, not {len(index)}")
    store.index.add(pack_id, index, held.mtime or 0.0)


def ensure_layout(store: PackedStore) -> None:
    """Write the layout file before the first pack: a store that had loose objects (layout
    1) says so, so that readers still look for them."""
    layout = store.layout
    if layout.version == LAYOUT:
        return
    raw = store.raw
    loose = with_retries(raw.has_loose_objects, f"list {store.name}")
    new = Layout(LAYOUT, bool(loose))
    import tempfile

    with tempfile.NamedTemporaryFile(dir=store.cache.tmp_dir, delete=False) as f:
        f.write(dump_layout(new))
    try:
        with_retries(lambda: raw.put_named(LAYOUT_NAME, f.name), f"write {store.name}'s layout")
    finally:
        remove_file(f.name)
    store._layout = new


def push_objects(store: PackedStore, cache: Cache, phases: Sequence[Sequence[str]],
                 jobs: int, force: bool, verify: bool, limits: Limits | None
                 ) -> TransferResult:
    """engine.upload for a store of layout 2 (same contract: what the store holds at its
    size is relied on, not sent; `force` sends everything; `verify` sends again what is
    there with other bytes)."""
    store.ready()
    oids = list(dict.fromkeys(o for phase in phases for o in phase))
    sizes = {o: cache.size_of(o) or 0 for o in oids}
    held = {} if force else store.stat_many(oids, checksums=verify)
    for o, stored in list(held.items()):  # (held twice: a copy of the right size will do)
        if stored.size not in (None, sizes[o]):
            right = [a for a in store.index.find_all(o, OBJECT) if a.entry.length == sizes[o]]
            if right:
                held[o] = stored._replace(size=sizes[o],
                                          mtime=store.index.mtimes.get(right[0].pack_id))
    fit = [o for o in oids if holds(held.get(o), o, sizes[o])]
    wrong = {o for o in oids if o in held} - set(fit)
    if verify and fit:
        corrupt, unsure = verify_on(store, fit, held, sizes, limits or Limits(), jobs)
        wrong |= set(corrupt)
        fit = [o for o in fit if o not in corrupt and o not in unsure]
    have = rely_on(store, held, fit)
    todo = [o for o in oids if o not in have]
    if not todo:
        return TransferResult([], len(have), [], 0)
    cache.make_tmp_dir()
    ensure_layout(store)
    packer = Packer(store, cache, force)
    failed: list[tuple[str, str]] = []
    try:
        for oid in todo:  # (in phase order: manifests last)
            try:
                _add(packer, cache, oid, sizes[oid])
            except (GitMvmError, OSError) as exc:
                failed.append((oid, getattr(exc, "message", None) or str(exc)))
        packer.close()
    except BaseException:
        packer.abort()
        raise
    failed += packer.failed
    done = packer.done
    return TransferResult(done, len(have), failed, packer.nbytes,
                          sum(1 for o in done if o in wrong))


def _add(packer: Packer, cache: Cache, oid: str, size: int) -> None:
    if size <= chunking.CHUNKED_MIN:
        packer.add_object(oid, cache.read_bytes(oid))
        return
    with cache.open_object(oid) as f:
        length = os.fstat(f.fileno()).st_size
        with mmap.mmap(f.fileno(), length, access=mmap.ACCESS_READ) as m:

            def done_with(upto: int) -> None:
                # the pages read so far leave this process (they stay in the page cache): a
                # mapped 1 GiB object would otherwise count 1 GiB in its resident memory
                upto -= upto % mmap.PAGESIZE
                if upto:
                    m.madvise(mmap.MADV_DONTNEED, 0, upto)

            view = memoryview(m)
            try:
                packer.add_chunked(oid, view, done_with)
            finally:
                packer.pipe.sync()  # nothing still reads the map when it closes
                view.release()

