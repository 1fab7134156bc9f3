"""Streamed sha256: hash a file, or hash it while copying it, in fixed-size buffers."""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any, NamedTuple

from gitmv.errors import FileChanged

BUFSIZE = 8 << 20  # 8 MiB: large enough that hashlib releases the GIL, small enough for flat RSS
SMALL = 1 << 20
PIPELINE_MIN = 64 << 20  # from here on, reading overlaps hashing and writing
PIPE_BATCH = 4 << 20  # bytes handed to HashPipe's thread at a time
PIPELINE_BUFFERS = 4  # in flight at once: RSS stays at 4 x 8 MiB whatever the file size


class Stat(NamedTuple):
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int  # as git does: `utime` can put an mtime back, nothing puts a ctime back


def stat_of(st: os.stat_result) -> Stat:
    return Stat(st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def granularity(mtime_ns: int, ctime_ns: int) -> int:
    """The tick of the clock a file's timestamps show: the largest power of ten dividing both,
    and two seconds for whole seconds (FAT keeps even seconds)."""
    tick = 1
    while tick < 1_000_000_000 and mtime_ns % (tick * 10) == 0 and ctime_ns % (tick * 10) == 0:
        tick *= 10
    return 2_000_000_000 if tick == 1_000_000_000 else tick


# Holes: a whole block of zeros is skipped (a seek) rather than written, so a sparse file
# copied into the cache or the work tree stays sparse where the file system keeps holes.
# `bytearray.startswith` compares in C: ~0.7 ms per 8 MiB of zeros, nothing for other data.
HOLE_BLOCK = 1 << 20
_ZEROS = bytes(HOLE_BLOCK)


def _write_keeping_holes(dst_fd: int, buf: memoryview, n: int) -> bool:
    """Write `buf[:n]` (a view of a whole bytearray) at dst's offset, seeking over every
    whole block of zeros; True when it ends in a hole (`_end_holes` then sets the size)."""
    data = buf.obj
    assert isinstance(data, bytearray)
    at, hole = 0, False
    while at < n:
        end = min(at + HOLE_BLOCK, n)
        if end - at == HOLE_BLOCK and data.startswith(_ZEROS, at, end):
            os.lseek(dst_fd, HOLE_BLOCK, os.SEEK_CUR)
            hole = True
        else:
            chunk = buf[at:end]
            while chunk:
                chunk = chunk[os.write(dst_fd, chunk) :]
            hole = False
        at = end
    return hole


def _end_holes(dst_fd: int) -> None:
    """Give a file whose last block was a hole its size (a seek past the end writes none)."""
    os.ftruncate(dst_fd, os.lseek(dst_fd, 0, os.SEEK_CUR))


def _buffer(size_hint: int) -> memoryview:
    return memoryview(bytearray(max(min(size_hint + 1, BUFSIZE), 1 << 16)))


def hash_fd(fd: int, size_hint: int = BUFSIZE) -> tuple[str, int]:
    """Hash an open file from its current offset to EOF; returns (hex, size)."""
    h = hashlib.sha256()
    if size_hint <= SMALL:
        data = os.read(fd, size_hint + 1)
        total = 0
        while data:
            h.update(data)
            total += len(data)
            data = os.read(fd, BUFSIZE)
        return h.hexdigest(), total
    buf = _buffer(size_hint)
    total = 0
    while True:
        n = os.readv(fd, [buf])
        if not n:
            break
        h.update(buf[:n])
        total += n
    return h.hexdigest(), total


def hash_file(path: str) -> tuple[str, int, Stat]:
    """Hash a regular file; refuse it if it changed while being read."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        before = os.fstat(fd)
        hexdigest, size = hash_fd(fd, before.st_size)
        after = os.fstat(fd)
    finally:
        os.close(fd)
    if size != before.st_size or before.st_mtime_ns != after.st_mtime_ns:
        raise FileChanged(path)
    return hexdigest, size, stat_of(after)


def hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def copy_and_hash(src_fd: int, dst_fd: int, size_hint: int) -> tuple[str, int]:
    """Copy src to dst in one read pass, hashing the bytes as they go by."""
    if size_hint >= PIPELINE_MIN:
        return _copy_and_hash_pipelined(src_fd, dst_fd)
    h = hashlib.sha256()
    total = 0
    if size_hint <= SMALL:
        data = os.read(src_fd, size_hint + 1)
        while data:
            h.update(data)
            view = memoryview(data)
            while view:
                view = view[os.write(dst_fd, view) :]
            total += len(data)
            data = os.read(src_fd, BUFSIZE)
        return h.hexdigest(), total
    buf = _buffer(size_hint)
    hole = False
    while True:
        n = os.readv(src_fd, [buf])
        if not n:
            break
        h.update(buf[:n])
        hole = _write_keeping_holes(dst_fd, buf, n)
        total += n
    if hole:
        _end_holes(dst_fd)
    return h.hexdigest(), total


def _copy_and_hash_pipelined(src_fd: int, dst_fd: int) -> tuple[str, int]:
    """Large files: a reader thread fills buffers while this thread hashes and writes them.

    os.readv, hashlib on 8 MiB buffers and os.write all release the GIL, so the disk read of
    the next buffer overlaps the hashing and the write of this one. Still one read pass.
    """
    import queue

    free: queue.Queue[memoryview] = queue.Queue()
    full: queue.Queue[tuple[memoryview, int] | BaseException | None] = queue.Queue()
    for _ in range(PIPELINE_BUFFERS):
        free.put(memoryview(bytearray(BUFSIZE)))
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                buf = free.get()
                n = os.readv(src_fd, [buf])
                if not n:
                    full.put(None)
                    return
                full.put((buf, n))
        except BaseException as exc:  # handed to the writer, which raises it
            full.put(exc)

    thread = threading.Thread(target=reader, name="gitmv-read", daemon=True)
    thread.start()
    h = hashlib.sha256()
    total = 0
    hole = False
    try:
        while True:
            item = full.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            buf, n = item
            h.update(buf[:n])
            hole = _write_keeping_holes(dst_fd, buf, n)
            start_writeback(dst_fd, total, n)
            total += n
            free.put(buf)
        if hole:
            _end_holes(dst_fd)
    finally:
        stop.set()
        free.put(memoryview(bytearray(1)))  # unblock a reader waiting for a buffer
        thread.join()
    return h.hexdigest(), total


class HashPipe:
    """sha256 updates run in order on one background thread, handed over in batches, so a
    caller that cuts or writes on this core hashes on the other (hashlib lets the GIL go).

    A buffer handed to `update` must stay unchanged until `sync()` returns; at most two
    batches (2 x PIPE_BATCH bytes) are in flight."""

    def __init__(self) -> None:
        self._pool: Any = None
        self._batch: list[tuple[Any, bytes | memoryview]] = []
        self._size = 0
        self._last: Any = None

    def update(self, h: Any, data: bytes | memoryview) -> None:
        self._batch.append((h, data))
        self._size += len(data)
        if self._size >= PIPE_BATCH:
            self._hand_over()

    def _hand_over(self) -> None:
        if not self._batch:
            return
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(1, thread_name_prefix="gitmv-hash")
        batch, self._batch, self._size = self._batch, [], 0
        before, self._last = self._last, self._pool.submit(_update_all, batch)
        if before is not None:
            before.result()

    def sync(self) -> None:
        """Wait until every update handed over so far is done."""
        self._hand_over()
        if self._last is not None:
            last, self._last = self._last, None
            last.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._batch, self._last = [], None


def _update_all(batch: list[tuple[Any, bytes | memoryview]]) -> None:
    for h, data in batch:
        h.update(data)


_SYNC_FILE_RANGE_WRITE = 2
_sync_file_range: Any = None


def start_writeback(fd: int, offset: int, nbytes: int) -> None:
    """Ask the kernel to start writing a range to disk now (Linux sync_file_range, async).

    The once-per-command flush then finds little left to do: writeback overlaps the copy
    instead of following it. A no-op where the call is unavailable.
    """
    global _sync_file_range
    if _sync_file_range is None:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            func = libc.sync_file_range
            func.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
            _sync_file_range = func
        except (OSError, AttributeError):
            _sync_file_range = False
    if _sync_file_range:
        _sync_file_range(fd, offset, nbytes, _SYNC_FILE_RANGE_WRITE)
