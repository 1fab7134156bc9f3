"""A store's objects read and changed behind gitmv's back, on either store layout: loose
objects (`aa/bb/<oid>`, layout 1) and packs with their indexes (`packs/`, `index/`,
`mvm-layout`: layout 2, docs/formats.md). What a broken disk, a careless tool or an old gitmv
leaves, for the tests to set up, and what the store holds, for them to check:

    files = DirFiles(tmp_path / "dir-store")
    holds(files, oid)                  # in a pack (an object, or a chunk list) or loose
    read_object(files, oid)            # its bytes, a chunked one put together, or None
    write_object(files, oid, b"rot")   # the store now holds these bytes under oid
    delete_object(files, oid)          # the store no longer holds it

On a store of layout 2 an object is deleted by writing its pack again without it (a new pack
and index, then the old index and pack removed: what a repack does), and bytes are written
under an oid as a pack of their own (an index never changes under its name: a clone keeps
the indexes it fetched). On layout 1, the loose file. Chunks are left where they are (other
objects may share them).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple, Protocol

LAYOUT_FILE = "mvm-layout"


class Files(Protocol):
    """A store's named files: `packs/pack-….pack`, `aa/bb/<oid>`, `mvm-layout`."""

    def names(self, prefix: str = "") -> dict[str, int]: ...  # name -> size
    def get(self, name: str) -> bytes | None: ...
    def put(self, name: str, data: bytes) -> None: ...
    def remove(self, name: str) -> None: ...


class DirFiles:
    """A directory store (or the directory behind an HTTP/WebDAV store)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def names(self, prefix: str = "") -> dict[str, int]:
        base = self.root / prefix if prefix else self.root
        if not base.is_dir():
            return {}
        return {p.relative_to(self.root).as_posix(): p.stat().st_size
                for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")}

    def get(self, name: str) -> bytes | None:
        path = self.root / name
        return path.read_bytes() if path.is_file() else None

    def put(self, name: str, data: bytes) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".test-tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def remove(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)


class S3Files:
    """The keys under a prefix of an S3 bucket (moto)."""

    def __init__(self, client: object, bucket: str, prefix: str = "objects/") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def names(self, prefix: str = "") -> dict[str, int]:
        out = {}
        pages = self.client.get_paginator("list_objects_v2").paginate(  # type: ignore[attr-defined]
            Bucket=self.bucket, Prefix=self.prefix + prefix)
        for page in pages:
            for item in page.get("Contents", ()):
                out[item["Key"][len(self.prefix):]] = int(item["Size"])
        return out

    def get(self, name: str) -> bytes | None:
        try:
            obj = self.client.get_object(  # type: ignore[attr-defined]
                Bucket=self.bucket, Key=self.prefix + name)
        except self.client.exceptions.NoSuchKey:  # type: ignore[attr-defined]
            return None
        body: bytes = obj["Body"].read()
        return body

    def put(self, name: str, data: bytes) -> None:
        self.client.put_object(  # type: ignore[attr-defined]
            Bucket=self.bucket, Key=self.prefix + name, Body=data)

    def remove(self, name: str) -> None:
        self.client.delete_object(  # type: ignore[attr-defined]
            Bucket=self.bucket, Key=self.prefix + name)


def loose_name(oid: str) -> str:
    return f"{oid[:2]}/{oid[2:4]}/{oid}"


def is_packed_store(files: Files) -> bool:
    """Layout 2: the store has its layout file."""
    return files.get(LAYOUT_FILE) is not None


class Found(NamedTuple):
    pack_id: str
    kind: int
    offset: int
    length: int


def index_entries(files: Files) -> Iterator[tuple[str, Found, str]]:
    """(entry id, where, index file name) of every entry of every index on the store."""
    from gitmv.objects.pack import PackIndex, pack_id_of

    for name in sorted(files.names("index/")):
        pack_id = pack_id_of(name.rsplit("/", 1)[-1])
        data = files.get(name)
        if pack_id is None or data is None or not name.endswith(".idx"):
            continue
        for e in PackIndex(data, name):
            yield e.id, Found(pack_id, e.kind, e.offset, e.length), name


def packs_of(files: Files, oid: str) -> list[Found]:
    """Where the object `oid` is packed (an OBJECT or a CHUNKS entry), in every pack."""
    from gitmv.objects.pack import CHUNK

    return [at for id_, at, _ in index_entries(files) if id_ == oid and at.kind != CHUNK]


def object_ids(files: Files) -> set[str]:
    """Every object the store holds: loose, or named by an index (chunks are not objects)."""
    from gitmv.objects.pack import CHUNK

    out = {id_ for id_, at, _ in index_entries(files) if at.kind != CHUNK}
    for name in files.names():
        parts = name.split("/")
        if len(parts) == 3 and len(parts[2]) == 64 and parts[0] == parts[2][:2] and \
                parts[1] == parts[2][2:4]:
            out.add(parts[2])
    return out


def holds(files: Files, oid: str) -> bool:
    return bool(packs_of(files, oid)) or files.get(loose_name(oid)) is not None


def _range(files: Files, at: Found) -> bytes:
    from gitmv.objects.pack import pack_name

    data = files.get("packs/" + pack_name(at.pack_id))
    assert data is not None, f"pack {at.pack_id[:12]} is named by an index and gone"
    return data[at.offset:at.offset + at.length]


def read_object(files: Files, oid: str) -> bytes | None:
    """The bytes the store holds under `oid` (a chunked object put together from its chunk
    list), None when it holds none. A packed object may have several copies (a push that
    replaced one held wrong writes another; gitmv reads the one that verifies): the first
    that hashes to `oid`, else the first."""
    import hashlib

    from gitmv.objects import chunking
    from gitmv.objects.pack import CHUNK, OBJECT

    copies = []
    for at in packs_of(files, oid):
        if at.kind == OBJECT:
            copies.append(_range(files, at))
            continue
        chunks = {id_: a for id_, a, _ in index_entries(files) if a.kind == CHUNK}
        copies.append(b"".join(_range(files, chunks[c.id])
                               for c in chunking.parse_list(_range(files, at), oid)))
    for data in copies:
        if hashlib.sha256(data).hexdigest() == oid:
            return data
    return copies[0] if copies else files.get(loose_name(oid))


def _write_pack(files: Files, entries: list[tuple[int, str, bytes]]) -> str:
    """A new pack of these (kind, id, bytes) and its index, pack first. Returns its id."""
    from gitmv.objects.pack import PackWriter, index_name, pack_name

    with tempfile.TemporaryFile() as f:
        writer = PackWriter(f.fileno())
        for kind, id_, data in entries:
            writer.add(kind, id_, data)
        pack_id, index = writer.finish()
        f.seek(0)
        files.put("packs/" + pack_name(pack_id), f.read())
    files.put("index/" + index_name(pack_id), index)
    return pack_id


def delete_object(files: Files, oid: str) -> None:
    """The store no longer holds `oid`: its loose file removed, each pack holding it written
    again without it (a pack left empty: just removed), index before pack."""
    import io

    from gitmv.objects.pack import CHUNK, index_name, pack_name, read_entries

    files.remove(loose_name(oid))
    for pack_id in {at.pack_id for at in packs_of(files, oid)}:
        data = files.get("packs/" + pack_name(pack_id))
        assert data is not None
        rest = [(e.kind, e.id, piece) for e, piece in read_entries(io.BytesIO(data), pack_id)
                if e.id != oid or e.kind == CHUNK]
        if rest:
            _write_pack(files, rest)
        files.remove("index/" + index_name(pack_id))
        files.remove("packs/" + pack_name(pack_id))


def add_copy(files: Files, oid: str, data: bytes) -> str:
    """Another copy of `oid` holding `data`, in a pack of its own; the copies the store held
    stay (what a push that replaced a copy held wrong leaves). Returns the new pack's id."""
    from gitmv.objects.pack import OBJECT

    return _write_pack(files, [(OBJECT, oid, data)])


def write_object(files: Files, oid: str, data: bytes) -> None:
    """The store holds `data` under `oid` instead of what it held (if anything): a loose
    file on layout 1; on layout 2, the object taken out of its packs and `data` put in a pack
    of its own."""
    from gitmv.objects.pack import OBJECT

    if not is_packed_store(files):
        files.put(loose_name(oid), data)
        return
    delete_object(files, oid)
    _write_pack(files, [(OBJECT, oid, data)])


def store_files(files: Files) -> list[str]:
    """Every file of the store, packs, indexes and the layout file included."""
    return sorted(files.names())
