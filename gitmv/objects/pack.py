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

import bisect
import hashlib
import mmap
import os
import struct
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from gitmv.errors import FormatError

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


class PackWriter:
    """Appends entries to a pack being written at `path` (a temp file the caller owns) and
    hashes it as it goes. `finish()` returns the pack id and the index bytes; the caller makes
    the pack durable, renames it to `pack_name(id)`, then writes the index.

    What it remembers of each entry is small (a million entries cost about 130 MB): the raw
    id and kind as a dict key, and the index record (57 bytes) in one bytearray."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._sha = hashlib.sha256()
        self.size = 0
        self._at: dict[bytes, int] = {}  # raw id + kind byte -> record number
        self._records = bytearray()  # RECORD per entry, in the order written
        self._buf: list[bytes] = []
        self._buffered = 0
        self._write(PACK_HEADER.pack(PACK_MAGIC, VERSION, 0))

    def __len__(self) -> int:
        return len(self._at)

    def _write(self, data: bytes | memoryview) -> None:
        self._sha.update(data)
        self._buf.append(bytes(data))
        self._buffered += len(data)
        self.size += len(data)
        if self._buffered >= 1 << 22:
            self.drain()

    def drain(self) -> None:
        """Write out what is buffered (before anyone reads the temp file)."""
        if self._buf:
            view = memoryview(b"".join(self._buf))
            while view:
                view = view[os.write(self.fd, view):]
            self._buf = []
            self._buffered = 0

    def _record(self, n: int) -> Entry:
        raw, kind, offset, length = RECORD.unpack_from(self._records, n * RECORD.size)
        return Entry(raw.hex(), kind, offset, length)

    def find(self, id_hex: str, kind: int = OBJECT) -> Entry | None:
        """The entry written for `id_hex` and `kind`, None when there is none."""
        n = self._at.get(bytes.fromhex(id_hex) + bytes((kind,)))
        return None if n is None else self._record(n)

    def add(self, kind: int, id_hex: str, data: bytes | memoryview) -> Entry:
        """Append one entry (once per id and kind: a second add returns the first)."""
        raw = bytes.fromhex(id_hex)
        key = raw + bytes((kind,))
        known = self._at.get(key)
        if known is not None:
            return self._record(known)
        self._write(ENTRY_HEADER.pack(kind, raw, len(data)))
        entry = Entry(id_hex, kind, self.size, len(data))
        self._write(data)
        self._at[key] = len(self._records) // RECORD.size
        self._records += RECORD.pack(raw, kind, entry.offset, entry.length)
        return entry

    def entries(self) -> Iterator[Entry]:
        """The entries written so far, in pack order."""
        for n in range(len(self._records) // RECORD.size):
            yield self._record(n)

    def finish(self) -> tuple[str, bytes]:
        self.drain()
        pack_id = self._sha.hexdigest()
        rows = [bytes(self._records[i:i + RECORD.size])
                for i in range(0, len(self._records), RECORD.size)]
        rows.sort()  # big-endian records sort as (id, kind, offset, length)
        return pack_id, _index_of_rows(pack_id, self.size, rows)


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
