"""Moving objects between the cache and a remote store: batched existence checks, parallel
jobs, progress in bytes and objects, per-object failures collected and reported together,
every received object verified while it streams and placed atomically.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, NamedTuple, cast

from gitmv import ui
from gitmv.errors import GitMvmError, ObjectCorrupt
from gitmv.fsutil import remove_file
from gitmv.objects.cache import Cache
from gitmv.objects.hashing import BUFSIZE, start_writeback
from gitmv.remotes.base import Store
from gitmv.remotes.retry import RemoteError, TransientError, with_retries

EXISTS_BATCH = 1000
WRITEBACK_MIN = 1 << 20  # received chunks this large start their writeback at once
PREPARE_WINDOW = 1000  # objects per round of upload batches (Git LFS)
DEFAULT_JOBS = 8


class TransferResult(NamedTuple):
    transferred: list[str]
    present: int  # already where they had to go
    failed: list[tuple[str, str]]  # (oid, why)
    nbytes: int


class _Progress:
    """tqdm in bytes (and a count of objects) on a tty; nothing otherwise."""

    def __init__(self, desc: str, total_bytes: int, total_objects: int) -> None:
        self._bar: Any = None
        self._lock = threading.Lock()
        self._objects = 0
        self._total_objects = total_objects
        if ui.progress_enabled() and total_objects:
            from tqdm import tqdm

            self._bar = tqdm(total=total_bytes, desc=desc, unit="B", unit_scale=True,
                             unit_divisor=1024, leave=False, dynamic_ncols=True)

    def advance(self, nbytes: int) -> None:
        if self._bar is not None:
            with self._lock:
                self._objects += 1
                self._bar.update(nbytes)
                self._bar.set_postfix_str(f"{self._objects}/{self._total_objects} objects",
                                          refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@contextmanager
def _progress(desc: str, total_bytes: int, total_objects: int) -> Iterator[_Progress]:
    bar = _Progress(desc, total_bytes, total_objects)
    try:
        yield bar
    finally:
        bar.close()


def _batches(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def tell_sizes(store: Store, sizes: Mapping[str, int] | Callable[[], Mapping[str, int]]) -> None:
    """Give object sizes to a store that needs them: the Git LFS Batch API names an object by
    oid and size, and some servers refuse a download under the wrong size. `sizes` may be a
    function, called only for such a store."""
    learn = getattr(store, "learn_sizes", None)
    if learn is not None:
        learn(sizes() if callable(sizes) else sizes)


def present_on(store: Store, oids: Sequence[str], refresh: bool = False) -> set[str]:
    """The subset of `oids` the store holds. `refresh`: a push relies on them, so a store
    that `gc --remote` can delete from makes their times now (gc keeps them)."""
    found: set[str] = set()
    # a store that lists (S3) answers a large batch with one listing: it says how many it takes
    size = int(getattr(store, "exists_batch", EXISTS_BATCH))
    ask = getattr(store, "refresh", None) if refresh else None
    for batch in _batches(oids, size):

        def check(b: Sequence[str] = batch) -> set[str]:
            return cast(set[str], ask(b)) if ask is not None else store.exists_many(b)

        found |= with_retries(check, f"check {store.name}")
    return found


def _run(
    items: Sequence[str], work: Callable[[str], int], jobs: int, desc: str, sizes: dict[str, int],
    bar: _Progress | None = None,
) -> tuple[list[str], list[tuple[str, str]], int]:
    done: list[str] = []
    failed: list[tuple[str, str]] = []
    total = 0
    lock = threading.Lock()
    store_wide: list[RemoteError] = []  # every other object would fail the same way: stop

    def one(oid: str, bar: _Progress) -> None:
        nonlocal total
        if store_wide:
            return
        try:
            n = work(oid)
        except RemoteError as exc:
            with lock:
                if exc.store_wide:
                    store_wide.append(exc)
                else:
                    failed.append((oid, exc.message))
            return
        except GitMvmError as exc:
            with lock:
                failed.append((oid, exc.message))
            return
        except OSError as exc:
            with lock:
                failed.append((oid, f"{exc.strerror or exc}"))
            return
        with lock:
            done.append(oid)
            total += n
        bar.advance(n)

    def drive(bar: _Progress) -> None:
        if jobs <= 1 or len(items) <= 1:
            for oid in items:
                one(oid, bar)
        else:
            # a bounded window of queued work, not one future per object: memory stays flat
            # for 100,000 objects. An error `one` does not collect (a bug, Ctrl-C) is raised
            # from whichever future holds it, and the queued rest is cancelled.
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                pending: set[Future[None]] = set()
                try:
                    for oid in items:
                        if store_wide:
                            break
                        if len(pending) >= 4 * jobs:
                            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                            for fut in finished:
                                fut.result()
                        pending.add(pool.submit(one, oid, bar))
                    for fut in pending:
                        fut.result()
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise

    if bar is not None:
        drive(bar)
    else:
        with _progress(desc, sum(sizes.get(o, 0) for o in items), len(items)) as own:
            drive(own)
    if store_wide:
        raise store_wide[0]
    return done, failed, total


def upload(
    cache: Cache, store: Store, phases: Sequence[Sequence[str]], jobs: int = DEFAULT_JOBS
) -> TransferResult:
    """Upload objects missing from the store, phase by phase (file objects before the
    manifests that name them); a later phase is not started after a failure."""
    done: list[str] = []
    failed: list[tuple[str, str]] = []
    present = 0
    nbytes = 0
    for phase in phases:
        oids = list(dict.fromkeys(phase))
        if not oids:
            continue

        def cache_sizes(oids: list[str] = oids) -> dict[str, int]:
            return {o: _size(cache, o) for o in oids}

        tell_sizes(store, cache_sizes)

        def put(oid: str) -> int:
            def attempt() -> int:
                with open(cache.oid_to_path(oid), "rb") as f:  # reopened: a retry starts over
                    size = os.fstat(f.fileno()).st_size
                    store.upload(oid, size, f)
                return size

            return with_retries(attempt, f"upload sha256:{oid[:12]}")

        desc = f"push to {store.name}"
        prepare = getattr(store, "prepare_upload", None)
        if prepare is None:
            have = present_on(store, oids, refresh=True)
            present += len(have)
            todo = [o for o in oids if o not in have]
            d, f, n = _run(todo, put, jobs, desc, {o: _size(cache, o) for o in todo})
        else:
            # Git LFS: an upload batch both tells which objects the server lacks and hands out
            # their upload actions. Windows of PREPARE_WINDOW objects keep those actions fresh
            # (they expire) and few in memory; one progress bar spans them.
            d, f, n = [], [], 0
            sizes = cache_sizes()
            with _progress(desc, sum(sizes.values()), len(oids)) as bar:
                for window in _batches(oids, PREPARE_WINDOW):

                    def check(w: Sequence[str] = window, ask: Any = prepare) -> set[str]:
                        return cast(set[str], ask(w))

                    have = with_retries(check, f"check {store.name}")
                    present += len(have)
                    for o in have:
                        bar.advance(sizes.get(o, 0))
                    todo = [o for o in window if o not in have]
                    wd, wf, wn = _run(todo, put, jobs, desc, {}, bar)
                    d, f, n = d + wd, f + wf, n + wn
                    if wf:
                        break
        done += d
        failed += f
        nbytes += n
        flush = getattr(store, "flush", None)
        if flush is not None:  # durable before the next phase names them (a directory store)
            flush()
        if failed:
            break
    return TransferResult(done, present, failed, nbytes)


def download(
    cache: Cache, store: Store, oids: Sequence[str], jobs: int = DEFAULT_JOBS,
    sizes: Mapping[str, int] | None = None,
) -> TransferResult:
    """Fetch objects the cache lacks; each is verified while it streams. `sizes` (what the
    pointers and manifests say) serve the progress bar and stores that need them."""
    wanted = [o for o in dict.fromkeys(oids) if not cache.has(o)]
    present = len(set(oids)) - len(wanted)
    if sizes:
        tell_sizes(store, sizes)

    def get(oid: str) -> int:
        return download_one(cache, store, oid)

    try:
        done, failed, nbytes = _run(wanted, get, jobs, f"fetch from {store.name}",
                                    dict(sizes) if sizes else {})
    except RemoteError:  # the store as a whole failed: what did arrive stays, on disk
        cache.flush()
        raise
    cache.flush()
    return TransferResult(done, present, failed, nbytes)


def download_one(cache: Cache, store: Store, oid: str) -> int:
    """Fetch one object, resuming a partial download, verifying it while it streams.

    The bytes collect in `<tmp>/partial-<oid>` (kept across runs, so an interrupted fetch
    resumes where it stopped when the store can); only a complete file whose sha256 is `oid`
    is renamed into the cache. A mismatch deletes the partial file: it never reaches the
    cache or the work tree.
    """
    os.makedirs(cache.tmp_dir, exist_ok=True)
    partial = cache.partial_path(oid)
    fd = os.open(partial, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another process fetching the same object waits
        if cache.has(oid):
            remove_file(partial)
            return 0

        def attempt() -> int:
            have = os.fstat(fd).st_size
            h = hashlib.sha256()
            if have:
                os.lseek(fd, 0, os.SEEK_SET)
                _hash_prefix(fd, have, h)
            src, start = store.open_download(oid, have)
            with src:
                if start != have:  # the store cannot resume: start over
                    os.ftruncate(fd, 0)
                    h = hashlib.sha256()
                os.lseek(fd, start, os.SEEK_SET)
                total = start
                while True:
                    chunk = src.read(BUFSIZE)
                    if not chunk:
                        break
                    h.update(chunk)
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view) :]
                    if len(chunk) >= WRITEBACK_MIN:  # the flush at the end finds less to do
                        start_writeback(fd, total, len(chunk))
                    total += len(chunk)
            got = h.hexdigest()
            if got != oid:
                os.ftruncate(fd, 0)
                if start:  # the bytes kept from an earlier attempt may be the bad ones
                    raise TransientError(f"sha256:{oid} did not verify after resuming; "
                                         "fetching it whole")
                raise ObjectCorrupt(f"sha256:{oid}", f"sha256:{got}", f"remote {store.name!r}")
            return total

        nbytes = with_retries(attempt, f"download sha256:{oid[:12]}")
        cache.place_download(partial, oid)
        return nbytes
    except ObjectCorrupt:
        remove_file(partial)
        raise
    finally:
        os.close(fd)


def _hash_prefix(fd: int, size: int, h: hashlib._Hash) -> None:
    left = size
    while left:
        chunk = os.read(fd, min(BUFSIZE, left))
        if not chunk:
            break
        h.update(chunk)
        left -= len(chunk)


def _size(cache: Cache, oid: str) -> int:
    try:
        return os.stat(cache.oid_to_path(oid)).st_size
    except FileNotFoundError:
        return 0
