"""Streamed sha256: hash a file, or hash it while copying it, in fixed-size buffers."""

from __future__ import annotations

import hashlib
import os
from typing import NamedTuple

from gitmv.errors import FileChanged

BUFSIZE = 8 << 20  # 8 MiB: large enough that hashlib releases the GIL, small enough for flat RSS
SMALL = 1 << 20


class Stat(NamedTuple):
    ino: int
    size: int
    mtime_ns: int


def stat_of(st: os.stat_result) -> Stat:
    return Stat(st.st_ino, st.st_size, st.st_mtime_ns)


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
    while True:
        n = os.readv(src_fd, [buf])
        if not n:
            break
        chunk = buf[:n]
        h.update(chunk)
        while chunk:
            chunk = chunk[os.write(dst_fd, chunk) :]
        total += n
    return h.hexdigest(), total
