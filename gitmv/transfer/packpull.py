"""Fetching from a store of layout 2: ranged reads of its packs.

The objects a fetch wants are looked up in the indexes; the entries of one pack that lie near
each other (gaps under GAP_MAX, reads up to READ_MAX) are read with one request, requests run
in parallel (`-j`). A chunked object is its chunk list, then its chunks' ranges, written in
order into its partial file. Every chunk is checked against its id and every object against
its oid before it reaches the cache; a range that does not verify is read once more on its
own, then reported, and nothing of it is placed. A pack that is gone (repacked by gc under
us) makes the indexes listed again and the object tried once more. Objects no index holds
come loose, as from a layout 1 store (engine.download_one).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

from gitmv.errors import GitMvmError
from gitmv.fsutil import remove_file
from gitmv.objects.cache import Cache
from gitmv.objects.hashing import HashPipe
from gitmv.objects.pack import CHUNK, OBJECT
from gitmv.remotes.retry import RemoteError
from gitmv.transfer.engine import (
    UNKNOWN_SIZE_MAX,
    DeadlineExceeded,
    Limits,
    TransferResult,
    download_one,
    run_each,
)
from gitmv.transfer.packed import Located, PackedStore, PackGone

GAP_MAX = 1 << 20  # bytes between two wanted ranges of a pack still read in one request
# bytes one request reads at most. Large: a ranged GET costs a round trip and, on some
# servers, work in proportion to the whole pack (moto, one 64 MiB pack read by ranges: 13 MiB/s
# at 1 MiB, 51 at 4, 179 at 16); AWS advises 8-16 MB ranges too.
READ_MAX = 16 << 20
FLIGHT_MAX = 64 << 20  # bytes of reads in flight at most (memory), whatever `jobs` says


class Want(NamedTuple):
    id: str  # the object's or the chunk's
    pack_id: str
    offset: int
    length: int


class Read(NamedTuple):
    pack_id: str
    offset: int
    length: int
    wants: list[Want]


def coalesce(wants: Sequence[Want]) -> list[Read]:
    """The requests that read `wants`: near ranges of one pack merged."""
    reads: list[Read] = []
    for w in sorted(wants, key=lambda w: (w.pack_id, w.offset)):
        last = reads[-1] if reads else None
        if last is not None and last.pack_id == w.pack_id and \
                w.offset - (last.offset + last.length) < GAP_MAX and \
                w.offset + w.length - last.offset <= READ_MAX and \
                w.offset >= last.offset + last.length:
            reads[-1] = last._replace(length=w.offset + w.length - last.offset,
                                      wants=[*last.wants, w])
        else:
            reads.append(Read(w.pack_id, w.offset, w.length, [w]))
    return reads


class Corrupt(RemoteError):
    """A range of a pack holds other bytes than its index says."""


def read_verified(store: PackedStore, read: Read) -> dict[str, memoryview]:
    """{id: bytes} of a read's entries (views into the one read: not copied), each verified
    by its id; an entry that does not verify is read once more on its own, then Corrupt."""
    data = memoryview(store.read_range(read.pack_id, read.offset, read.length))
    out = {}
    for w in read.wants:
        piece = data[w.offset - read.offset:w.offset - read.offset + w.length]
        if hashlib.sha256(piece).hexdigest() != w.id:
            piece = memoryview(store.read_range(w.pack_id, w.offset, w.length))
            got = hashlib.sha256(piece).hexdigest()
            if got != w.id:
                other = store.other_copy(w.id, w.pack_id, w.offset)
                if other is not None:
                    out[w.id] = memoryview(other)
                    continue
                raise Corrupt(
                    f"remote {store.name!r}: pack {w.pack_id[:12]} holds other bytes at "
                    f"{w.offset} for sha256:{w.id} (they hash to {got[:12]}; nothing of it "
                    "was placed): `git mvm fsck --remote --verify --repair` in a clone that "
                    "has it sends it again",
                    "run `git mvm fsck --remote --verify`, then `--repair` from a clone "
                    "that has the object")
        out[w.id] = piece
    return out


def _parallel(items: Sequence[Read], jobs: int, store: PackedStore
              ) -> Iterator[tuple[Read, dict[str, memoryview] | GitMvmError]]:
    """Each read's verified entries (or its error), in order, `jobs` in flight at most."""

    def one(r: Read) -> dict[str, memoryview] | GitMvmError:
        try:
            return read_verified(store, r)
        except GitMvmError as exc:
            if isinstance(exc, RemoteError) and exc.store_wide:
                raise
            return exc

    if jobs <= 1 or len(items) <= 1:
        for r in items:
            yield r, one(r)
        return
    with ThreadPoolExecutor(jobs) as pool:
        # at most `jobs` reads and FLIGHT_MAX bytes in flight (one read, whatever its size);
        # a result is dropped once handed on
        pending: deque[tuple[Read, Future[dict[str, memoryview] | GitMvmError]]] = deque()
        nxt = flight = 0
        while nxt < len(items) or pending:
            while nxt < len(items) and len(pending) < jobs and (
                    not pending or flight + items[nxt].length <= FLIGHT_MAX):
                pending.append((items[nxt], pool.submit(one, items[nxt])))
                flight += items[nxt].length
                nxt += 1
            read, fut = pending.popleft()
            flight -= read.length
            yield read, fut.result()


def fetch_objects(store: PackedStore, cache: Cache, oids: Sequence[str], jobs: int,
                  sizes: Mapping[str, int] | None, limits: Limits | None, flush: bool = True
                  ) -> TransferResult:
    """engine.download for a store of layout 2 (same contract)."""
    limits = limits or Limits()
    distinct = dict.fromkeys(oids)
    wanted = [o for o in distinct if not cache.has(o)]
    present = len(distinct) - len(wanted)
    del distinct
    known = sizes or {}
    store.ready()
    done: list[str] = []
    failed: list[tuple[str, str]] = []
    nbytes = 0
    for attempt in range(2):  # again once, after listing the indexes again, for gone packs
        small, chunked, loose = _plan(store, wanted, known, failed)
        try:
            n, gone = _fetch_small(store, cache, small, jobs, done, failed)
            nbytes += n
            for oid, at in chunked:
                try:
                    nbytes += _fetch_chunked(store, cache, oid, at, known.get(oid), jobs,
                                             limits)
                    done.append(oid)
                except PackGone as exc:
                    gone.append((oid, exc.message))
                except GitMvmError as exc:
                    if isinstance(exc, RemoteError) and exc.store_wide:
                        raise
                    failed.append((oid, exc.message))
            if loose:
                d, f, n = run_each(loose, lambda o: download_one(
                    cache, store.raw, o, known.get(o), limits), jobs,
                    f"fetch from {store.name}", known)
                done, failed, nbytes = done + d, failed + f, nbytes + n
        except BaseException:  # (what did arrive stays, on disk)
            cache.flush()
            raise
        if flush:
            cache.flush()
        if not gone or attempt:
            failed += gone
            break
        store.reload()
        wanted = [o for o, _ in gone]
    return TransferResult(done, present, failed, nbytes)


def _plan(store: PackedStore, wanted: Sequence[str], sizes: Mapping[str, int],
          failed: list[tuple[str, str]]
          ) -> tuple[list[Want], list[tuple[str, Located]], list[str]]:
    small: list[Want] = []
    chunked: list[tuple[str, Located]] = []
    loose: list[str] = []
    for oid in wanted:
        at = store.index.find_object(oid)
        if at is None:  # a loose object, where the store had them before, or where an
            loose.append(oid)  # older gitmv sharing it wrote one whatever its layout file says
            continue
        size = sizes.get(oid)
        if at.entry.kind == OBJECT:
            if size is not None and at.entry.length != size:  # a copy of the right size?
                at = next((a for a in store.index.find_all(oid, OBJECT)
                           if a.entry.length == size), at)
            if at.entry.length > (UNKNOWN_SIZE_MAX if size is None else size):
                failed.append((oid, f"remote {store.name!r} holds {at.entry.length} bytes "
                               f"for it, not the {size} its pointer names"))
                continue
            small.append(Want(oid, at.pack_id, at.entry.offset, at.entry.length))
        else:
            chunked.append((oid, at))
    return small, chunked, loose


def _fetch_small(store: PackedStore, cache: Cache, wants: list[Want], jobs: int,
                 done: list[str], failed: list[tuple[str, str]]
                 ) -> tuple[int, list[tuple[str, str]]]:
    nbytes = 0
    gone: list[tuple[str, str]] = []
    for read, result in _parallel(coalesce(wants), jobs, store):
        if isinstance(result, GitMvmError):
            where = gone if isinstance(result, PackGone) else failed
            where += [(w.id, result.message) for w in read.wants]
            continue
        for oid, data in result.items():  # placed from this thread only
            cache.put_bytes(data.tobytes(), oid)
            done.append(oid)
            nbytes += len(data)
    return nbytes, gone


def _fetch_chunked(store: PackedStore, cache: Cache, oid: str, at: Located, size: int | None,
                   jobs: int, limits: Limits) -> int:
    """One chunked object: its chunk list, then its chunks in order into its partial file,
    the whole checked against `oid` before it is placed."""
    started = time.monotonic()
    chunks = store.chunks_of(at)
    total = sum(c.length for c in chunks)
    if size is not None and total != size:
        raise RemoteError(f"remote {store.name!r}: the chunk list of sha256:{oid} adds up to "
                          f"{total} bytes, not the {size} its pointer names",
                          "run `git mvm fsck --remote`")
    wants = []
    for c in chunks:
        where = store.index.find(c.id, CHUNK)
        if where is None:
            raise RemoteError(f"remote {store.name!r}: chunk {c.id[:12]} of sha256:{oid} is "
                              "in no pack", "run `git mvm fsck --remote`")
        wants.append(Want(c.id, where.pack_id, where.entry.offset, where.entry.length))
    reads = _in_order(wants)
    cache.make_tmp_dir()
    partial = cache.partial_path(oid)
    h = hashlib.sha256()
    pipe = HashPipe()  # the whole object's hash on another core than the writes
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for read, result in _parallel(reads, jobs, store):
            if isinstance(result, GitMvmError):
                raise result
            for w in read.wants:
                piece = result[w.id]
                pipe.update(h, piece)
                view = memoryview(piece)
                while view:
                    view = view[os.write(fd, view):]
            if time.monotonic() - started > limits.allowed(total):
                raise DeadlineExceeded(f"download of sha256:{oid} from remote {store.name!r} "
                                       "passed its deadline", "run the command again")
        pipe.sync()
    except BaseException:
        pipe.close()
        os.close(fd)
        remove_file(partial)
        raise
    pipe.close()
    os.close(fd)
    if h.hexdigest() != oid:
        remove_file(partial)
        raise RemoteError(f"remote {store.name!r}: the chunks of sha256:{oid} put together "
                          f"hash to sha256:{h.hexdigest()}", "run `git mvm fsck --remote`")
    cache.place_download(partial, oid)
    return total


def _in_order(wants: list[Want]) -> list[Read]:
    """Reads of consecutive chunks (in the object's order) that lie next to each other in
    one pack merged: the order is the object's, so the file is written front to back."""
    reads: list[Read] = []
    for w in wants:
        last = reads[-1] if reads else None
        if last is not None and last.pack_id == w.pack_id and \
                0 <= w.offset - (last.offset + last.length) < GAP_MAX and \
                w.offset + w.length - last.offset <= READ_MAX:
            reads[-1] = last._replace(length=w.offset + w.length - last.offset,
                                      wants=[*last.wants, w])
        else:
            reads.append(Read(w.pack_id, w.offset, w.length, [w]))
    return reads
