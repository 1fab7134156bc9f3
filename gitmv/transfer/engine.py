"""Moving objects between the cache and a remote store: batched existence checks, parallel
jobs, progress in bytes and objects, per-object failures collected and reported together,
every received object verified while it streams and placed atomically.

Uploads count once the store confirms them: after each phase the store is asked what it holds
(`stat_many`: a HEAD, a listing, a batch) and an object it does not hold at its size is sent
once more, then reported. An object the store holds at another size (or, where the store
keeps one, another sha256) is not "already there": it is sent again, replacing it.

Downloads are bounded: never more bytes than the pointer names (an object of unknown size,
a manifest whose pointer does not say, at most UNKNOWN_SIZE_MAX), and never longer than the
object's deadline, `transfer.deadline` seconds plus its size at `transfer.min_rate` (`Limits`),
over all its attempts. Reads return what has arrived (`read1`), so a server that sends a byte
now and then cannot hold a read past the deadline for longer than the store's `timeout`.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from typing import Any, BinaryIO, NamedTuple, cast, overload

from gitmv import ui
from gitmv.config import Config, parse_size
from gitmv.errors import FormatError, GitMvmError, ObjectCorrupt
from gitmv.fsutil import Sharing, remove_file, share, write_all
from gitmv.objects.cache import PACKED_MAX, Cache
from gitmv.objects.hashing import BUFSIZE, start_writeback
from gitmv.remotes.base import Store, Stored, holds
from gitmv.remotes.retry import RemoteError, TransientError, with_retries
from gitmv.ui import human_size

EXISTS_BATCH = 1000
# How long an object may sit on a store, named by no ref, before `gc --remote` may delete it:
# a push uploads objects before git sends the refs that name them. A push refreshes the old
# objects it relies on (`rely_on`), so each stays inside this window until its refs land.
GRACE_SECONDS = 3600.0
WRITEBACK_MIN = 1 << 20  # received bytes this many start their writeback at once
PREPARE_WINDOW = 1000  # objects per round of upload or download batches (Git LFS)
DEFAULT_JOBS = 8
DEADLINE = 300.0  # seconds every download gets, on top of its size at MIN_RATE
MIN_RATE = 8 * 1024  # bytes per second: slower than this (plus DEADLINE) fails
UNKNOWN_SIZE_MAX = 1 << 30  # an object whose size nothing says: a directory manifest


class Oids(Sequence[str]):
    """A list of hex oids kept as their 32 raw bytes each in one bytearray (a str oid costs
    about 120 bytes: a million-object push or fetch reports what it moved in 32 MB, not
    120)."""

    def __init__(self, oids: Iterable[str] = ()) -> None:
        self._raw = bytearray()
        self.extend(oids)

    def extend(self, oids: Iterable[str]) -> None:
        for o in oids:
            self._raw += bytes.fromhex(o)

    def __len__(self) -> int:
        return len(self._raw) // 32

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[n] for n in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._raw[32 * i:32 * i + 32].hex()

    def __iter__(self) -> Iterator[str]:
        raw = self._raw
        for at in range(0, len(raw), 32):
            yield raw[at:at + 32].hex()


class TransferResult(NamedTuple):
    transferred: Sequence[str]
    present: int  # already where they had to go
    failed: list[tuple[str, str]]  # (oid, why)
    nbytes: int
    replaced: int = 0  # on the store at another size (or sha256): sent again


class Limits(NamedTuple):
    """How long a download may take: `deadline` seconds plus its size at `min_rate` bytes a
    second (config `transfer.deadline`, `transfer.min_rate`)."""

    deadline: float = DEADLINE
    min_rate: float = MIN_RATE

    @classmethod
    def of(cls, config: Config) -> Limits:
        deadline = config.get("transfer.deadline", DEADLINE)
        if isinstance(deadline, bool) or not isinstance(deadline, int | float) or deadline <= 0:
            raise FormatError("transfer.deadline", f"not a number of seconds: {deadline!r}",
                              "write it like `deadline = 300` in [transfer]")
        rate = parse_size(config.get("transfer.min_rate", MIN_RATE), "transfer.min_rate")
        if rate <= 0:
            raise FormatError("transfer.min_rate", "must be more than 0 bytes a second",
                              'write it like `min_rate = "8KiB"` in [transfer]')
        return cls(float(deadline), float(rate))

    def allowed(self, size: int) -> float:
        """Seconds a download of `size` bytes may take."""
        return self.deadline + size / self.min_rate


class DeadlineExceeded(RemoteError):
    """A download took longer than its deadline (kept: the next run resumes it)."""


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
    function, called only for such a store. A packed store keeps them as given, to choose
    among several copies of an object (PackedStore.expect_sizes)."""
    expect = getattr(store, "expect_sizes", None)
    if expect is not None:
        expect(sizes)
        return
    learn = getattr(store, "learn_sizes", None)
    if learn is not None:
        learn(sizes() if callable(sizes) else sizes)


def stat_on(store: Store, oids: Sequence[str], checksums: bool = False) -> dict[str, Stored]:
    """What the store says it holds of `oids` (sizes and times; with `checksums`, its sha256s
    where it keeps them), in batches: a store that lists (S3) answers a large batch with one
    listing, and says how many it takes."""
    found: dict[str, Stored] = {}
    size = int(getattr(store, "exists_batch", EXISTS_BATCH))
    for batch in _batches(oids, size):

        def check(b: Sequence[str] = batch) -> dict[str, Stored]:
            return store.stat_many(b, checksums)

        found |= with_retries(check, f"check {store.name}")
    return found


def refresh_after() -> float:
    """How old an object on a store may be before a push that relies on it refreshes it: a
    quarter of gc's grace period, so that it stays younger than that until git has sent the
    refs that name it (read at each call: tests shorten the grace period)."""
    return GRACE_SECONDS / 4


def rely_on(store: Store, held: Mapping[str, Stored], oids: Sequence[str]) -> set[str]:
    """A push relies on `oids`, which the store holds (`held` says so): those older than
    `refresh_after()`, or of an age the store does not say, are refreshed so that
    `gc --remote` keeps them. Returns the oids still there; one gc took meanwhile is not (the
    push sends it). Young objects cost nothing, so neither does pushing what was just pushed;
    a store gc cannot delete from has nothing to refresh."""
    refresh = getattr(store, "refresh", None)
    if refresh is None or not oids:
        return set(oids)
    cutoff = time.time() - refresh_after()
    old = [o for o in oids if (held[o].mtime if o in held else None) is None
           or cast(float, held[o].mtime) < cutoff]
    kept = set(oids) - set(old)
    for batch in _batches(old, int(getattr(store, "exists_batch", EXISTS_BATCH))):

        def again(b: Sequence[str] = batch) -> set[str]:
            return cast(set[str], refresh(b))

        kept |= with_retries(again, f"refresh on {store.name}")
    return kept


def verify_on(store: Store, oids: Sequence[str], held: Mapping[str, Stored],
              sizes: Mapping[str, int], limits: Limits, jobs: int
              ) -> tuple[dict[str, str], dict[str, str]]:
    """Whether the store's bytes of `oids` (which it holds at their size: `held`, asked with
    checksums) are the objects: by the store's own sha256 where it keeps one, else downloaded
    and hashed (bounded as a fetch is). Returns ({oid: why} of those that are not, {oid: why}
    of those that could not be read to tell)."""
    corrupt: dict[str, str] = {}
    unsure: list[str] = []
    for oid in oids:
        stored = held.get(oid)
        if stored is not None and stored.sha256 is not None:
            if stored.sha256 != oid:
                corrupt[oid] = held_as(stored, oid, sizes.get(oid))
        else:
            unsure.append(oid)

    def hashed(oid: str) -> int:
        got = remote_sha256(store, oid, sizes.get(oid), limits)
        if got != oid:
            corrupt[oid] = f"its bytes hash to sha256:{got}"  # (one key per thread)
        return 0

    _, failed, _ = run_each(unsure, hashed, jobs, f"verify {store.name}", dict(sizes))
    return corrupt, dict(failed)


def remote_sha256(store: Store, oid: str, size: int | None, limits: Limits) -> str:
    """The sha256 of the bytes the store holds as `oid`, read and dropped (never more than
    `size` bytes, within the deadline of a download of that size)."""
    started = time.monotonic()

    def attempt() -> str:
        h = hashlib.sha256()
        src, _ = store.open_download(oid, 0)
        with src:
            receive(src, None, h, 0, size, store, oid, limits, started)
        return h.hexdigest()

    return with_retries(attempt, f"verify sha256:{oid[:12]}")


def _lfs_corrupt(store: Store, oids: Sequence[str], sizes: Mapping[str, int], limits: Limits,
                 jobs: int) -> list[tuple[str, str]]:
    """Of `oids`, which a Git LFS server says it holds, those whose bytes are not the object,
    each with the one line that says it cannot be replaced from here."""
    corrupt, unread = verify_on(store, oids, {}, sizes, limits, jobs)
    return [(o, f"{why}, and remote {store.name!r} (Git LFS) takes no other bytes for an "
             f"object it holds: {LFS_REPLACE_HINT}") for o, why in sorted(corrupt.items())] + \
        [(o, f"could not be read to verify it: {why}") for o, why in sorted(unread.items())]


LFS_REPLACE_HINT = ("delete it through the server's own interface, then run "
                    "`git mvm push`")


def clean_store_temps(store: Store) -> tuple[int, int]:
    """Remove what killed uploads left on the store, where it can tell (a directory store's
    temp files whose writer is gone, S3's multipart uploads a day old): (how many, bytes)."""
    clean = getattr(store, "clean_temps", None)
    if clean is None:
        return 0, 0
    return cast(tuple[int, int], with_retries(clean, f"clean up {store.name}"))


def held_as(stored: Stored | None, oid: str, size: int | None) -> str:
    """What is wrong with a store's answer for object `oid` of `size` bytes, in words."""
    if stored is None:
        return "the store does not hold it"
    if stored.size is not None and size is not None and stored.size != size:
        if stored.size < 0:
            return f"the store holds it at another size than {size} bytes"
        return f"the store holds {stored.size} bytes, not {size}"
    return f"the store's sha256 of it is {stored.sha256}"


def run_each(
    items: Sequence[str], work: Callable[[str], int], jobs: int, desc: str,
    sizes: Mapping[str, int],
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
            where = f": {exc.filename}" if exc.filename else ""
            with lock:
                failed.append((oid, f"{exc.strerror or exc}{where}"))
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
    cache: Cache, store: Store, phases: Sequence[Sequence[str]], jobs: int = DEFAULT_JOBS,
    force: bool = False, verify: bool = False, limits: Limits | None = None,
) -> TransferResult:
    """Upload objects the store lacks (or holds at another size), phase by phase (file
    objects before the manifests that name them), each confirmed by the store before the
    next phase; a later phase is not started after a failure. `force` sends every object
    (a repair; a Git LFS server still decides for itself). `verify` also sends those the
    store holds at their size but with other bytes (`verify_on`: the store's sha256, else a
    download within `limits`); a Git LFS server takes no other bytes for an object it holds,
    so there each such object is a failure that says so."""
    push_objects = getattr(store, "push_objects", None)
    if push_objects is not None:  # a store of layout 2: packs (transfer/packpush.py)
        return cast(TransferResult, push_objects(cache, phases, jobs, force, verify, limits))
    done: list[str] = []
    failed: list[tuple[str, str]] = []
    present = 0
    replaced = 0
    nbytes = 0
    for phase in phases:
        oids = list(dict.fromkeys(phase))
        if not oids:
            continue
        sizes = {o: cache.size_of(o) or 0 for o in oids}
        tell_sizes(store, sizes)

        def put(oid: str) -> int:
            def attempt() -> int:
                with cache.open_object(oid) as f:  # reopened: a retry starts over
                    size = _size(cache, oid)
                    store.upload(oid, size, f)
                return size

            return with_retries(attempt, f"upload sha256:{oid[:12]}")

        desc = f"push to {store.name}"
        prepare = getattr(store, "prepare_upload", None)
        wrong: set[str] = set()  # held at another size, or with other bytes: replaced if sent
        if prepare is None or force:
            held = {} if force else stat_on(store, oids, checksums=verify)
            fit = [o for o in oids if holds(held.get(o), o, sizes[o])]
            wrong = {o for o in oids if o in held} - set(fit)
            if verify and fit:
                corrupt, unsure = verify_on(store, fit, held, sizes, limits or Limits(), jobs)
                wrong |= set(corrupt)
                fit = [o for o in fit if o not in corrupt and o not in unsure]  # sent again
            have = rely_on(store, held, fit)
            present += len(have)
            todo = [o for o in oids if o not in have]
            d, f, n = run_each(todo, put, jobs, desc, sizes)
        else:
            # Git LFS: an upload batch both tells which objects the server lacks and hands out
            # their upload actions. Windows of PREPARE_WINDOW objects keep those actions fresh
            # (they expire) and few in memory; one progress bar spans them.
            d, f, n = [], [], 0
            with _progress(desc, sum(sizes.values()), len(oids)) as bar:
                for window in _batches(oids, PREPARE_WINDOW):

                    def check(w: Sequence[str] = window, ask: Any = prepare) -> set[str]:
                        return cast(set[str], ask(w))

                    have = with_retries(check, f"check {store.name}")
                    bad: list[tuple[str, str]] = []
                    if verify and have:  # it takes no other bytes for what it holds: say so
                        bad = _lfs_corrupt(store, sorted(have), sizes, limits or Limits(), jobs)
                        have -= {o for o, _ in bad}
                    present += len(have)
                    for o in have:
                        bar.advance(sizes.get(o, 0))
                    todo = [o for o in window if o not in have and o not in dict(bad)]
                    wd, wf, wn = run_each(todo, put, jobs, desc, {}, bar)
                    d, f, n = d + wd, f + bad + wf, n + wn
                    if wf:
                        break
        flush = getattr(store, "flush", None)
        if flush is not None:  # durable before the next phase names them (a directory store)
            flush()
        d, unconfirmed = _confirm(store, d, sizes, put, jobs, desc, prepare)
        done += d
        replaced += sum(1 for o in d if o in wrong)
        failed += f + unconfirmed
        nbytes += n
        if failed:
            break
    return TransferResult(done, present, failed, nbytes, replaced)


def _confirm(
    store: Store, sent: list[str], sizes: dict[str, int], put: Callable[[str], int], jobs: int,
    desc: str, prepare: Any,
) -> tuple[list[str], list[tuple[str, str]]]:
    """Ask the store for what it says it stored: an object it does not hold at its size is
    sent once more, and if it still does not, reported. Returns (confirmed, failures). A Git
    LFS server is asked with an upload batch (what the push is allowed, and the server
    checks oid and size), any other store with `stat_many`."""
    if not sent:
        return [], []

    def ask(oids: list[str]) -> dict[str, Stored]:
        if prepare is None:
            return stat_on(store, oids)
        have = with_retries(lambda: cast(set[str], prepare(oids)), f"check {store.name}")
        return {o: Stored(sizes[o]) for o in have}

    held = ask(sent)
    missing = [o for o in sent if not holds(held.get(o), o, sizes[o])]
    if not missing:
        return sent, []
    ui.debug(f"{store.name}: {len(missing)} upload(s) not there after the store said they "
             "were stored; sending them again")
    again, failed, _ = run_each(missing, put, jobs, desc, sizes)
    if again:
        held = ask(again)
    failed += [(o, f"remote {store.name!r} answered that it stored it, but "
                f"{held_as(held.get(o), o, sizes[o])}") for o in again
               if not holds(held.get(o), o, sizes[o])]
    bad = {o for o, _ in failed}
    return [o for o in sent if o not in bad], failed


def download(
    cache: Cache, store: Store, oids: Sequence[str], jobs: int = DEFAULT_JOBS,
    sizes: Mapping[str, int] | None = None, limits: Limits | None = None, flush: bool = True,
) -> TransferResult:
    """Fetch objects the cache lacks; each is verified while it streams and stops at the size
    `sizes` says (what the pointers and manifests name; they also serve the progress bar and
    stores that need them) and at its deadline (`limits`). Not `flush`: the small objects
    stay this command's to publish (`Cache.flush`), as one pack after many downloads."""
    fetch_objects = getattr(store, "fetch_objects", None)
    if fetch_objects is not None:  # a store of layout 2: ranges of packs (packpull.py)
        return cast(TransferResult, fetch_objects(cache, oids, jobs, sizes, limits, flush))
    wanted = [o for o in dict.fromkeys(oids) if not cache.has(o)]
    present = len(set(oids)) - len(wanted)
    if sizes:
        tell_sizes(store, sizes)
    known = dict(sizes) if sizes else {}

    def get(oid: str) -> int:
        return download_one(cache, store, oid, known.get(oid), limits or Limits())

    desc = f"fetch from {store.name}"
    prepare = getattr(store, "prepare_download", None)
    try:
        if prepare is None:
            done, failed, nbytes = run_each(wanted, get, jobs, desc, known)
        else:  # Git LFS: the actions for a window of objects in batches of 100, then the GETs
            done, failed, nbytes = [], [], 0
            with _progress(desc, sum(known.get(o, 0) for o in wanted), len(wanted)) as bar:
                for window in _batches(wanted, PREPARE_WINDOW):

                    def ask(w: Sequence[str] = window, batch: Any = prepare) -> set[str]:
                        return cast(set[str], batch(w))

                    with_retries(ask, f"check {store.name}")
                    wd, wf, wn = run_each(window, get, jobs, desc, {}, bar)
                    done, failed, nbytes = done + wd, failed + wf, nbytes + wn
    except RemoteError:  # the store as a whole failed: what did arrive stays, on disk
        cache.flush()
        raise
    if flush:
        cache.flush()
    return TransferResult(done, present, failed, nbytes)


def download_one(cache: Cache, store: Store, oid: str, size: int | None = None,
                 limits: Limits | None = None) -> int:
    """Fetch one object, resuming a partial download, verifying it while it streams.

    The bytes collect in `<tmp>/partial-<oid>` (kept across runs, so an interrupted fetch
    resumes where it stopped when the store can), locked by the process that writes it (a
    second one waits, then finds the object in the cache); only a complete file whose sha256
    is `oid` is renamed into the cache. A mismatch, or more bytes than `size`, deletes the
    partial file: it never reaches the cache or the work tree.
    """
    limits = limits or Limits()
    if size is not None and size <= PACKED_MAX and not os.path.exists(cache.partial_path(oid)):
        return _download_small(cache, store, oid, size, limits)
    limit = UNKNOWN_SIZE_MAX if size is None else size
    cache.make_tmp_dir()
    partial = cache.partial_path(oid)
    fd, lock_fd = _open_partial(partial, cache.sharing)
    started = time.monotonic()  # (the wait for another process's lock does not count)
    try:
        if cache.has(oid):
            remove_file(partial)
            return 0

        kept: list[int] = []  # bytes an earlier run left that the first attempt went on from

        def attempt() -> int:
            have = os.fstat(fd).st_size
            if have > limit:  # not a prefix of this object
                os.ftruncate(fd, 0)
                have = 0
            _check_deadline(store, oid, size, limits, started, have)
            h = hashlib.sha256()
            if have:
                os.lseek(fd, 0, os.SEEK_SET)
                _hash_prefix(fd, have, h)
                if have == size and h.hexdigest() == oid:
                    kept.append(have)
                    return have  # all there already (a kill came before its rename)
            src, start = store.open_download(oid, have)
            if not kept:
                kept.append(start)
            with src:
                if start != have:  # the store cannot resume: start over
                    os.ftruncate(fd, 0)
                    h = hashlib.sha256()
                os.lseek(fd, start, os.SEEK_SET)
                total = receive(src, fd, h, start, size, store, oid, limits, started)
            if size is not None and total < size:  # (a connection cut short is transient)
                raise _short(store, oid, total, size)
            got = h.hexdigest()
            if got != oid:
                os.ftruncate(fd, 0)
                if start:  # the bytes kept from an earlier attempt may be the bad ones
                    raise TransientError(f"sha256:{oid} did not verify after resuming; "
                                         "fetching it whole")
                raise ObjectCorrupt(f"sha256:{oid}", f"sha256:{got}", f"remote {store.name!r}")
            return total

        total = with_retries(attempt, f"download sha256:{oid[:12]}")
        cache.place_download(partial, oid)
        return total - (kept[0] if kept else 0)  # the bytes this run fetched
    except (ObjectCorrupt, _WrongSize):
        remove_file(partial)
        raise
    finally:
        os.close(fd)
        if lock_fd is not None:
            os.close(lock_fd)


def _download_small(cache: Cache, store: Store, oid: str, size: int, limits: Limits) -> int:
    """An object small enough for the cache's packs (`PACKED_MAX`, its size known): read into
    memory, verified whole and put in this command's cache pack, with no partial file (nothing
    worth resuming on a good link) and no loose file: a fetch of many small objects from a
    Git LFS server creates no file per object. One that passes its deadline (a link that
    trickles) leaves what came in its partial file, for the next run to resume from."""
    started = time.monotonic()

    def attempt() -> int:
        data = bytearray()
        h = hashlib.sha256()
        src, _ = store.open_download(oid, 0)
        with src:
            try:
                total = receive(src, data, h, 0, size, store, oid, limits, started)
            except DeadlineExceeded:
                if data:
                    cache.make_tmp_dir()
                    fd, lock_fd = _open_partial(cache.partial_path(oid), cache.sharing)
                    try:
                        if not os.fstat(fd).st_size:  # (another process's may be longer)
                            write_all(fd, data)
                    finally:
                        os.close(fd)
                        if lock_fd is not None:
                            os.close(lock_fd)
                raise
        if total < size:  # (a connection cut short is transient)
            raise _short(store, oid, total, size)
        if h.hexdigest() != oid:
            raise ObjectCorrupt(f"sha256:{oid}", f"sha256:{h.hexdigest()}",
                                f"remote {store.name!r}")
        cache.put_bytes(bytes(data), oid)
        return total

    return with_retries(attempt, f"download sha256:{oid[:12]}")


class _WrongSize(RemoteError):
    """The store holds another number of bytes than the object has."""


def _short(store: Store, oid: str, total: int, size: int) -> _WrongSize:
    return _WrongSize(f"remote {store.name!r} holds {total} bytes for sha256:{oid}, not the "
                      f"{size} its pointer names", _WRONG_HINT)


_WRONG_HINT = ("the store holds other bytes under that name: `git mvm fsck --remote --repair` "
               "from a clone that has the object replaces them")


def receive(src: BinaryIO, fd: int | bytearray | None, h: Any, start: int, size: int | None,
            store: Store, oid: str, limits: Limits, started: float) -> int:
    """Copy a download stream into `fd` from offset `start` (a bytearray: appended to it;
    None: hash only), hashing it into
    `h`, never past `size` bytes (UNKNOWN_SIZE_MAX when None) nor the object's deadline
    (counted from `started`, a time.monotonic()). Returns the bytes there are in all."""
    limit = UNKNOWN_SIZE_MAX if size is None else size
    read = getattr(src, "read1", None) or src.read
    total = start
    pending = 0  # written since the last writeback
    while True:
        chunk = read(min(BUFSIZE, limit - total + 1))
        if not chunk:
            return total
        if total + len(chunk) > limit:
            what = (f"the {limit} bytes gitmv accepts for an object whose size nothing names"
                    if size is None else f"the {limit} bytes its pointer names")
            raise _WrongSize(f"remote {store.name!r} sent more than {what} for sha256:{oid}",
                             _WRONG_HINT)
        h.update(chunk)
        if isinstance(fd, bytearray):
            fd += chunk
        elif fd is not None:
            write_all(fd, chunk)
            pending += len(chunk)
            if pending >= WRITEBACK_MIN:  # the flush at the end finds less to do
                start_writeback(fd, total + len(chunk) - pending, pending)
                pending = 0
        total += len(chunk)
        _check_deadline(store, oid, size, limits, started, total)


def _check_deadline(store: Store, oid: str, size: int | None, limits: Limits, started: float,
                    got: int) -> None:
    """Past the object's deadline: DeadlineExceeded (its bytes so far are kept). An object of
    unknown size gets the deadline of the bytes that arrived."""
    allowed = limits.allowed(size if size is not None else got)
    elapsed = time.monotonic() - started
    if elapsed > allowed:
        raise DeadlineExceeded(
            f"download from remote {store.name!r} passed its deadline: {got} of "
            f"{size if size is not None else '?'} bytes in {elapsed:.0f}s, allowed "
            f"{limits.deadline:g}s + the size at {human_size(int(limits.min_rate))}/s (the "
            "bytes are kept: the next run resumes; on a slow link raise `transfer.deadline` "
            "or lower `transfer.min_rate`, or use -j 1)")


def _open_partial(path: str, sharing: Sharing) -> tuple[int, int | None]:
    """Open `path` for writing and hold its lock: (fd to write, fd that holds the lock when it
    is another one). A partial file left read-only by a kill (between its chmod and its
    rename), or by another user, is made writable or replaced once its lock is ours; one
    renamed away or replaced while we waited for its lock is opened again."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            writable = True
        except PermissionError:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)  # enough to lock it
            except FileNotFoundError:
                continue  # placed or removed meanwhile: start again
            writable = False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # another process fetching the same object waits
            st, now = os.fstat(fd), os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            raise
        if (st.st_dev, st.st_ino) != (now.st_dev, now.st_ino):
            os.close(fd)  # the file we locked is gone from that name: lock the one there now
            continue
        if writable:
            with suppress(PermissionError):  # (another user's: theirs to share)
                share(fd, sharing)  # in a group's cache, the group may resume it
            return fd, None
        try:  # a leftover; its lock is ours, so nobody else uses it
            try:
                os.chmod(path, 0o644)
                return os.open(path, os.O_RDWR | os.O_NOFOLLOW), fd
            except PermissionError:  # not ours to change: replace it
                os.unlink(path)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise GitMvmError(
                    f"cannot use or remove {path}, which an earlier run left: "
                    f"{exc.strerror}",
                    f"remove it (`rm -f {path}`), or ask whoever owns it to") from None
            raise
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
    return cache.size_of(oid) or 0
