"""Packs, their indexes and chunk lists: what is written reads back, and what is damaged is
refused, never half-read."""

from __future__ import annotations

import hashlib
import io
import os
import random

import pytest

from gitmv.errors import FormatError
from gitmv.objects import chunking, pack


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_pack(tmp_path, blobs):
    path = tmp_path / "p.tmp"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    w = pack.PackWriter(fd)
    for b in blobs:
        w.add(pack.OBJECT, _sha(b), b)
    pack_id, index = w.finish()
    os.close(fd)
    return path, pack_id, index


def test_every_entry_is_found_and_reads_back(tmp_path):
    rng = random.Random(5)
    blobs = [rng.randbytes(rng.randrange(0, 5000)) for _ in range(3000)]
    path, pack_id, index_bytes = _write_pack(tmp_path, blobs)
    data = path.read_bytes()
    assert _sha(data) == pack_id
    idx = pack.PackIndex(index_bytes, "idx")
    assert idx.pack_id == pack_id and idx.pack_size == len(data)
    assert idx.count == len({_sha(b) for b in blobs})
    for b in blobs:
        e = idx.find(_sha(b))
        assert e is not None and data[e.offset:e.offset + e.length] == b
    assert idx.find(_sha(b"not there")) is None
    assert idx.find(_sha(blobs[0]), pack.CHUNK) is None
    # the pack alone says what it holds
    listed = {e.id: d for e, d in pack.read_entries(io.BytesIO(data), "p")}
    assert listed == {_sha(b): b for b in blobs}


@pytest.mark.parametrize("cut", [1, 40, 1000, -33, -1])
def test_a_truncated_or_altered_index_is_refused(tmp_path, cut):
    _, _, index_bytes = _write_pack(tmp_path, [b"a", b"b", b"c" * 100])
    with pytest.raises(FormatError):
        pack.PackIndex(index_bytes[:cut], "idx")
    altered = bytearray(index_bytes)
    altered[cut] ^= 1
    with pytest.raises(FormatError):
        pack.PackIndex(bytes(altered), "idx")


def test_a_truncated_pack_is_reported_where_it_ends(tmp_path):
    path, _, _ = _write_pack(tmp_path, [b"x" * 100, b"y" * 100])
    data = path.read_bytes()
    for end in (len(data) - 1, len(data) - 100, 20):
        with pytest.raises(FormatError, match="truncated"):
            list(pack.read_entries(io.BytesIO(data[:end]), "p"))


def test_pack_names_are_recognised_exactly():
    good = "pack-" + "a" * 64
    assert pack.pack_id_of(good + ".pack") == "a" * 64
    assert pack.pack_id_of(good + ".idx") == "a" * 64
    bad_names = (good + ".tmp", "pack-" + "A" * 64 + ".idx", "pack-abc.idx",
                 "x" + good[1:] + ".idx")
    for bad in bad_names:
        assert pack.pack_id_of(bad) is None


def test_chunks_put_the_object_back_together_and_follow_the_content():
    rng = random.Random(7)
    data = rng.randbytes(3 << 20)
    chunks = [c for c, _ in chunking.cut(data)]
    assert b"".join(data[c.offset:c.offset + c.length] for c in chunks) == data
    assert all(_sha(data[c.offset:c.offset + c.length]) == c.id for c in chunks)
    assert all(c.length <= chunking.MAX_SIZE for c in chunks)
    listed = chunking.parse_list(chunking.dump_list(len(data), chunks), "list")
    assert listed == chunks
    # bytes inserted at the start change only the first chunks
    shifted = {c.id for c, _ in chunking.cut(rng.randbytes(1000) + data)}
    assert len({c.id for c in chunks} - shifted) <= 2


def test_a_chunk_list_that_does_not_add_up_is_refused():
    good = chunking.dump_list(10, [chunking.Chunk("a" * 64, 0, 10)])
    with pytest.raises(FormatError, match="adds up"):
        chunking.parse_list(chunking.dump_list(11, [chunking.Chunk("a" * 64, 0, 10)]), "l")
    with pytest.raises(FormatError, match="truncated"):
        chunking.parse_list(good[:-1], "l")
