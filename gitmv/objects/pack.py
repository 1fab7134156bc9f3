"""Pack files and their indexes: many objects (or chunks) in one file, found by an index.

A pack is written once, front to back, and never changed; its name is the sha256 of its bytes
(`pack-<hex>.pack`), so a pack that reads back to its name is whole. Every entry carries its
own header (kind, id, length), so a pack alone says what it holds (an index can be rebuilt
from it). The index (`pack-<hex>.idx`) lists the entries sorted by id, with a fan-out table for
the search and a sha256 of itself at the end: a truncated or altered index is refused, never
half-read. An index is written after its pack is complete and durable, and is what makes the
pack's entries visible: a pack without an index is a write that did not finish.

Entry kinds: OBJECT (the bytes of a whole object; they hash to its id), CHUNK (a piece of a
large object cut by content, objects/chunking.py; the bytes hash to the id), CHUNKS (an
object's chunk list: the id is the object's, the bytes list its chunks). docs/formats.md,
"Packs".
"""

from __future__ import annotations

import array
import bisect
import hashlib
import mmap
import os
import struct
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from gitmv.errors import FormatError
from gitmv.fsutil import write_all
from gitmv.objects.hashing import HashPipe

PACK_MAGIC = b"MVMPACK\x00"
INDEX_MAGIC = b"MVMIDX\x00\x00"
VERSION = 1
PACK_HEADER = struct.Struct(">8sII")  # magic, version, reserved (0)
ENTRY_HEADER = struct.Struct(">B32sQ")  # kind, raw id, length; the bytes follow
INDEX_HEADER = struct.Struct(">8sII32sQ")  # magic, version, count, pack id, pack size
RECORD = struct.Struct(">32sBQQ")  # raw id, kind, offset of the bytes, length
FANOUT = struct.Struct(">256I")  # entries whose id's first byte is <= i
TRAILER = 32  # sha256 of everything before it
SCAN_MAX = 256  # records of one fan-out bucket searched by a scan (bisection past that)

OBJECT, CHUNK, CHUNKS = 1, 2, 3
KINDS = {OBJECT: "object", CHUNK: "chunk", CHUNKS: "chunk list"}


class Entry(NamedTuple):
    id: str  # hex
    kind: int
    offset: int  # where the bytes start in the pack
    length: int


def pack_name(pack_id: str) -> str:
    return f"pack-{pack_id}.pack"


def index_name(pack_id: str) -> str:
    return f"pack-{pack_id}.idx"


def pack_id_of(name: str) -> str | None:
    """The id in `pack-<hex>.pack` / `.idx`, else None."""
    stem, dot, ext = name.rpartition(".")
    if dot and ext in ("pack", "idx") and stem.startswith("pack-") and len(stem) == 69:
        hexid = stem[5:]
        if all(c in "0123456789abcdef" for c in hexid):
            return hexid
    return None


DIRECT_MIN = 16 << 10  # entries at least this large are written without buffering


class PackWriter:
    """Appends entries to a pack being written at `path` (a temp file the caller owns) and
    hashes it as it goes. `finish()` returns the pack id and the index bytes; the caller makes
    the pack durable, renames it to `pack_name(id)`, then writes the index.

    What it remembers of each entry is small (about 75 bytes: a million entries cost 75 MB):
    its index record (57 bytes) in one bytearray, and its place in an open-addressing table
    of record numbers (`_Records`), not a Python object per entry."""

    def __init__(self, fd: int, pipe: HashPipe | None = None) -> None:
        self.fd = fd
        self._sha = hashlib.sha256()
        self._pipe = pipe  # the pack's own hash on a second thread (the caller syncs and closes)
        self.size = 0
        self._records = _Records()
        self._buf: list[bytes] = []
        self._buffered = 0
        self._write(PACK_HEADER.pack(PACK_MAGIC, VERSION, 0))

    def __len__(self) -> int:
        return len(self._records)

    def _write(self, data: bytes | memoryview) -> None:
        if self._pipe is not None:
            self._pipe.update(self._sha, data)
        else:
            self._sha.update(data)
        self.size += len(data)
        if len(data) >= DIRECT_MIN:  # a chunk: written from where it is, not copied twice
            self.drain()
            write_all(self.fd, memoryview(data))
            return
        self._buf.append(bytes(data))
        self._buffered += len(data)
        if self._buffered >= 1 << 20:
            self.drain()

    def drain(self) -> None:
        """Write out what is buffered (before anyone reads the temp file)."""
        if self._buf:
            write_all(self.fd, memoryview(b"".join(self._buf)))
            self._buf = []
            self._buffered = 0

    def find(self, id_hex: str, kind: int = OBJECT) -> Entry | None:
        """The entry written for `id_hex` and `kind`, None when there is none."""
        n = self._records.find(bytes.fromhex(id_hex) + bytes((kind,)))
        return None if n < 0 else self._records.entry(n)

    def add(self, kind: int, id_hex: str, data: bytes | memoryview) -> Entry:
        """Append one entry (once per id and kind: a second add returns the first)."""
        raw = bytes.fromhex(id_hex)
        known = self._records.find(raw + bytes((kind,)))
        if known >= 0:
            return self._records.entry(known)
        self._write(ENTRY_HEADER.pack(kind, raw, len(data)))
        entry = Entry(id_hex, kind, self.size, len(data))
        self._write(data)
        self._records.append(raw, kind, entry.offset, entry.length)
        return entry

    def entries(self) -> Iterator[Entry]:
        """The entries written so far, in pack order."""
        for n in range(len(self._records)):
            yield self._records.entry(n)

    def finish(self) -> tuple[str, bytes]:
        self.drain()
        if self._pipe is not None:
            self._pipe.sync()
        pack_id = self._sha.hexdigest()
        return pack_id, self._records.index(pack_id, self.size)


class _Records:
    """Index records (RECORD) in one bytearray, found by id and kind through an
    open-addressing table of record numbers (an `array` of 8-byte slots, at most half full):
    about 75 bytes per entry where a dict would cost 200."""

    def __init__(self) -> None:
        self.data = bytearray()
        self._count = 0
        self._slots = array.array("q", [-1]) * 1024

    def __len__(self) -> int:
        return self._count

    def _slot(self, key: bytes) -> tuple[int, int]:
        """(slot, record) for `key` (raw id + kind byte): its record, or the empty slot."""
        slots = self._slots
        mask = len(slots) - 1
        i = int.from_bytes(key[:8], "big") & mask
        size = RECORD.size
        while True:
            n = slots[i]
            if n < 0:
                return i, -1
            at = n * size
            if self.data[at:at + 33] == key:
                return i, n
            i = (i + 1) & mask

    def find(self, key: bytes) -> int:
        return self._slot(key)[1]

    def append(self, raw: bytes, kind: int, offset: int, length: int) -> None:
        key = raw + bytes((kind,))
        if (self._count + 1) * 2 > len(self._slots):
            self._grow()
        i, _ = self._slot(key)
        self._slots[i] = self._count
        self.data += RECORD.pack(raw, kind, offset, length)
        self._count += 1

    def _grow(self) -> None:
        self._slots = array.array("q", [-1]) * (len(self._slots) * 2)
        size = RECORD.size
        for n in range(self._count):
            i, _ = self._slot(bytes(self.data[n * size:n * size + 33]))
            self._slots[i] = n

    def entry(self, n: int) -> Entry:
        raw, kind, offset, length = RECORD.unpack_from(self.data, n * RECORD.size)
        return Entry(raw.hex(), kind, offset, length)

    def index(self, pack_id: str, pack_size: int) -> bytes:
        """The pack's index: the records sorted (big-endian, so as (id, kind, offset,
        length)) a bucket at a time, by the id's first byte (the fan-out's buckets), and
        appended to the index as they are: no list of a million records is ever built (a
        million-entry index costs its own size twice, not 250 bytes per entry)."""
        size = RECORD.size
        data = self.data
        buckets = [array.array("I") for _ in range(256)]
        for n, first in enumerate(data[0::size]):
            buckets[first].append(n)
        fanout, total = [], 0
        for bucket in buckets:
            total += len(bucket)
            fanout.append(total)
        out = bytearray(INDEX_HEADER.pack(INDEX_MAGIC, VERSION, total, bytes.fromhex(pack_id),
                                          pack_size))
        out += FANOUT.pack(*fanout)
        for bucket in buckets:
            out += b"".join(sorted(bytes(data[n * size:n * size + size]) for n in bucket))
        out += hashlib.sha256(out).digest()
        return bytes(out)


def build_index(pack_id: str, pack_size: int, entries: Iterable[Entry]) -> bytes:
    rows = sorted(RECORD.pack(bytes.fromhex(e.id), e.kind, e.offset, e.length)
                  for e in entries)
    return _index_of_rows(pack_id, pack_size, rows)


def _index_of_rows(pack_id: str, pack_size: int, rows: list[bytes]) -> bytes:
    """The index of a pack from its records (RECORD bytes), sorted."""
    counts = [0] * 256
    for row in rows:
        counts[row[0]] += 1
    fanout, total = [], 0
    for c in counts:
        total += c
        fanout.append(total)
    parts = [INDEX_HEADER.pack(INDEX_MAGIC, VERSION, len(rows), bytes.fromhex(pack_id),
                               pack_size), FANOUT.pack(*fanout)]
    parts.extend(rows)
    body = b"".join(parts)
    return body + hashlib.sha256(body).digest()


class PackIndex:
    """One index, read whole and checked against its trailer, searched in place."""

    def __init__(self, data: bytes | mmap.mmap, where: str) -> None:
        self.where = where
        base = INDEX_HEADER.size + FANOUT.size
        if len(data) < base + TRAILER:
            raise FormatError(where, "pack index is truncated",
                              "run `git mvm fsck` to rebuild it from its pack")
        magic, version, count, raw_pack, pack_size = INDEX_HEADER.unpack_from(data, 0)
        if magic != INDEX_MAGIC:
            raise FormatError(where, "not a gitmv pack index", "run `git mvm fsck`")
        if version != VERSION:
            raise FormatError(where, f"pack index version {version}, this gitmv reads "
                              f"version {VERSION}", "upgrade gitmv")
        if len(data) != base + count * RECORD.size + TRAILER:
            raise FormatError(where, "pack index is truncated",
                              "run `git mvm fsck` to rebuild it from its pack")
        end = len(data) - TRAILER
        if hashlib.sha256(memoryview(data)[:end]).digest() != bytes(data[end:]):
            raise FormatError(where, "pack index does not match its checksum",
                              "run `git mvm fsck` to rebuild it from its pack")
        self.data = data
        self.count: int = count
        self.pack_id: str = raw_pack.hex()
        self.pack_size: int = pack_size
        self._fanout = FANOUT.unpack_from(data, INDEX_HEADER.size)
        self._base = base

    @classmethod
    def read(cls, path: str) -> PackIndex:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size >= 1 << 20:
                return cls(mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ), path)
            return cls(f.read(), path)

    def _raw_id(self, i: int) -> bytes:
        at = self._base + i * RECORD.size
        return bytes(self.data[at:at + 32])

    def _entry(self, i: int) -> Entry:
        raw, kind, offset, length = RECORD.unpack_from(self.data, self._base + i * RECORD.size)
        return Entry(raw.hex(), kind, offset, length)

    def find(self, id_hex: str, kind: int = OBJECT) -> Entry | None:
        raw = bytes.fromhex(id_hex)
        lo = self._fanout[raw[0] - 1] if raw[0] else 0
        hi = self._fanout[raw[0]]
        if hi - lo <= SCAN_MAX:  # a short run of records: searched in C, not by bisection
            i = self._scan(raw, lo, hi)
        else:
            i = bisect.bisect_left(_Ids(self), raw, lo, hi)
        while i < hi and self._raw_id(i) == raw:
            entry = self._entry(i)
            if entry.kind == kind:
                return entry
            i += 1
        return None

    def _scan(self, raw: bytes, lo: int, hi: int) -> int:
        """The first record in [lo, hi) with id `raw`, else hi."""
        start, end = self._base + lo * RECORD.size, self._base + hi * RECORD.size
        while True:
            at = self.data.find(raw, start, end)
            if at < 0:
                return hi
            if (at - self._base) % RECORD.size == 0:
                return (at - self._base) // RECORD.size
            start = at + 1  # found across two records: not an id

    def __iter__(self) -> Iterator[Entry]:
        for i in range(self.count):
            yield self._entry(i)

    def close(self) -> None:
        if isinstance(self.data, mmap.mmap):
            self.data.close()


class _Ids:
    """The ids of an index as a sequence, for bisect."""

    def __init__(self, index: PackIndex) -> None:
        self.index = index

    def __len__(self) -> int:
        return self.index.count

    def __getitem__(self, i: int) -> bytes:
        return self.index._raw_id(i)


def read_entries(f: object, where: str) -> Iterator[tuple[Entry, bytes]]:
    """Every entry of a pack read front to back (file object `f`), with its bytes; for fsck,
    repack and rebuilding an index. Stops with FormatError at a header that does not fit."""
    read = f.read  # type: ignore[attr-defined]
    head = read(PACK_HEADER.size)
    if len(head) != PACK_HEADER.size or head[:8] != PACK_MAGIC:
        raise FormatError(where, "not a gitmv pack", "run `git mvm fsck`")
    _, version, _ = PACK_HEADER.unpack(head)
    if version != VERSION:
        raise FormatError(where, f"pack version {version}, this gitmv reads version "
                          f"{VERSION}", "upgrade gitmv")
    at = PACK_HEADER.size
    while True:
        head = read(ENTRY_HEADER.size)
        if not head:
            return
        if len(head) != ENTRY_HEADER.size:
            raise FormatError(where, f"pack is truncated at byte {at}", "run `git mvm fsck`")
        kind, raw, length = ENTRY_HEADER.unpack(head)
        if kind not in KINDS:
            raise FormatError(where, f"unknown entry kind {kind} at byte {at}",
                              "run `git mvm fsck`")
        at += ENTRY_HEADER.size
        data = read(length)
        if len(data) != length:
            raise FormatError(where, f"pack is truncated at byte {at + len(data)}",
                              "run `git mvm fsck`")
        yield Entry(raw.hex(), kind, at, length), data
        at += length
