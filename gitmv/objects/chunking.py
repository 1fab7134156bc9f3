"""Content-defined chunks of large objects, and the chunk list that puts an object back together.

A store keeps a large object as chunks cut where the content says (FastCDC, by pyfastcdc's
native extension), so bytes shared with an earlier version (a fine-tune's unchanged tensors, a
file with bytes appended or inserted) are stored and sent once. A chunk's id is the sha256 of
its bytes: a store is shared, and an id that two different chunks could share would corrupt
other people's files. Where the cuts fall only decides how much is shared; every object is
still checked whole against its own sha256 when it is put back together.

The chunk list (an entry of kind CHUNKS in a pack, id = the object's) is the object's size
and its chunks in order, each id and length. docs/formats.md, "Chunks".
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from typing import NamedTuple

from gitmv.errors import FormatError, GitMvmError

# Parameters are part of the store format only as far as sharing goes: another cutter still
# writes correct objects, it just shares fewer chunks with what is there.
AVG_SIZE = 64 * 1024
MIN_SIZE = 16 * 1024
MAX_SIZE = 256 * 1024
CHUNKED_MIN = 1 << 20  # objects larger than this are chunked on a store

LIST_MAGIC = b"MVMCHNK\x00"
LIST_HEADER = struct.Struct(">8sIIQ")  # magic, version, count, object size
LIST_ROW = struct.Struct(">32sI")  # raw chunk id, length
VERSION = 1


class Chunk(NamedTuple):
    id: str
    offset: int
    length: int


def _chunker() -> object:
    try:
        from pyfastcdc.cy import FastCDC
    except ImportError:  # pragma: no cover - the wheel ships the extension
        raise GitMvmError(
            "pyfastcdc's native extension does not load, and chunking in Python is about a "
            "hundred times too slow", "reinstall gitmv (`pip install --force-reinstall "
            "pyfastcdc`)") from None
    return FastCDC(AVG_SIZE, min_size=MIN_SIZE, max_size=MAX_SIZE, normalized_chunking=1)


def cut(data: bytes | memoryview) -> Iterator[tuple[Chunk, memoryview]]:
    """The chunks of `data` (a buffer or a read-only mmap of a file), each hashed."""
    view = memoryview(data)
    for c in _chunker().cut_buf(view):  # type: ignore[attr-defined]
        piece = view[c.offset:c.offset + c.length]
        yield Chunk(hashlib.sha256(piece).hexdigest(), c.offset, c.length), piece


def dump_list(size: int, chunks: list[Chunk]) -> bytes:
    parts = [LIST_HEADER.pack(LIST_MAGIC, VERSION, len(chunks), size)]
    parts.extend(LIST_ROW.pack(bytes.fromhex(c.id), c.length) for c in chunks)
    return b"".join(parts)


def parse_list(data: bytes, where: str) -> list[Chunk]:
    """The chunks (with their offsets) of a chunk list; FormatError when it does not add up."""
    if len(data) < LIST_HEADER.size:
        raise FormatError(where, "chunk list is truncated", "run `git mvm fsck --remote`")
    magic, version, count, size = LIST_HEADER.unpack_from(data, 0)
    if magic != LIST_MAGIC:
        raise FormatError(where, "not a gitmv chunk list", "run `git mvm fsck --remote`")
    if version != VERSION:
        raise FormatError(where, f"chunk list version {version}, this gitmv reads version "
                          f"{VERSION}", "upgrade gitmv")
    if len(data) != LIST_HEADER.size + count * LIST_ROW.size:
        raise FormatError(where, "chunk list is truncated", "run `git mvm fsck --remote`")
    chunks, at = [], 0
    for i in range(count):
        raw, length = LIST_ROW.unpack_from(data, LIST_HEADER.size + i * LIST_ROW.size)
        chunks.append(Chunk(raw.hex(), at, length))
        at += length
    if at != size:
        raise FormatError(where, f"chunk list adds up to {at} bytes, not {size}",
                          "run `git mvm fsck --remote`")
    return chunks
