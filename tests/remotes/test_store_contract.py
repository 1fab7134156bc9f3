"""One contract, every store kind: local directory, S3 (moto server), Git LFS (giftless), HTTP;
and the kinds gitmv owns (directory, S3, WebDAV) again in store layout 2, the default there:
packs, chunks, and a store of the previous layout read and upgraded.

Each kind has a factory `make_store(tmp_path)` (a context manager yielding a Store) in
tests/stores/<kind>.py; servers are started on 127.0.0.1 by those modules and stopped after.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from gitmv.objects.cache import Cache
from gitmv.remotes.base import Store

KINDS = ["local", "s3", "lfs", "http"]


def _factory(kind: str):  # type: ignore[no-untyped-def]
    try:
        return importlib.import_module(f"tests.stores.{kind}").make_store
    except ModuleNotFoundError as exc:
        if exc.name == f"tests.stores.{kind}":
            pytest.fail(f"no contract factory for store kind {kind!r} (tests/stores/{kind}.py)")
        raise


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with _factory(request.param)(tmp_path) as s:
        yield s


def _obj(data: bytes) -> tuple[str, bytes]:
    return hashlib.sha256(data).hexdigest(), data


def _get(store: Store, oid: str, offset: int = 0) -> tuple[bytes, int]:
    src, start = store.open_download(oid, offset)
    with src:
        return src.read(), start


def test_upload_then_exists_and_download(store: Store) -> None:
    objs = dict(_obj(os.urandom(n)) for n in (0, 1, 1000, 3 << 20))
    assert store.exists_many(list(objs)) == set()
    for oid, data in objs.items():
        store.upload(oid, len(data), io.BytesIO(data))
    assert store.exists_many(list(objs)) == set(objs)
    for oid, data in objs.items():
        got, start = _get(store, oid)
        assert start == 0
        assert got == data


def test_exists_many_reports_only_what_is_there(store: Store) -> None:
    oid, data = _obj(b"present")
    absent = hashlib.sha256(b"absent").hexdigest()
    store.upload(oid, len(data), io.BytesIO(data))
    assert store.exists_many([oid, absent]) == {oid}


def test_upload_twice_is_harmless(store: Store) -> None:
    oid, data = _obj(b"twice" * 100)
    store.upload(oid, len(data), io.BytesIO(data))
    store.upload(oid, len(data), io.BytesIO(data))
    assert _get(store, oid)[0] == data


def test_download_from_an_offset_resumes_or_says_it_restarts(store: Store) -> None:
    oid, data = _obj(os.urandom(100_000))
    store.upload(oid, len(data), io.BytesIO(data))
    got, start = _get(store, oid, 40_000)
    assert start in (0, 40_000)
    assert got == data[start:]


def test_download_of_a_missing_object_is_a_clear_error(store: Store) -> None:
    from gitmv.errors import GitMvmError

    absent = hashlib.sha256(b"nowhere").hexdigest()
    with pytest.raises(GitMvmError) as info:
        _get(store, absent)
    assert absent[:12] in str(info.value) or "not on remote" in str(info.value)


def test_list_and_delete_when_the_store_can(store: Store) -> None:
    if not store.can_list:
        pytest.skip(f"{type(store).__name__} cannot list or delete")
    objs = dict(_obj(os.urandom(64)) for _ in range(5))
    for oid, data in objs.items():
        store.upload(oid, len(data), io.BytesIO(data))
    listed = {oid: size for oid, size, _mtime in store.list_objects()}
    assert {oid: listed.get(oid) for oid in objs} == {oid: len(d) for oid, d in objs.items()}
    victim = next(iter(objs))
    store.delete(victim)
    assert victim not in {oid for oid, _, _ in store.list_objects()}
    assert store.exists_many(list(objs)) == set(objs) - {victim}


# --- the same stores in layout 2 (packs and chunks), the default where gitmv owns the store ---

PACKED_KINDS = ["local", "s3", "http"]  # (http: WebDAV, which lists: packs are found so)


class Packed(NamedTuple):
    raw: Store
    cache: Cache  # what pushes send from
    common_dir: Path  # where a command keeps the store's indexes

    def view(self, settings: dict[str, object] | None = None) -> Store:
        """The store as a new command sees it (packed.of: the indexes listed afresh)."""
        from gitmv.transfer import packed, packpull, packpush

        self.raw.__dict__.pop("_packed_view", None)
        return packed.of(self.raw, str(self.common_dir), self.cache, settings or {},
                         packpush.push_objects, packpull.fetch_objects)

    def put(self, data: bytes) -> str:
        path = self.common_dir / "scratch"
        path.write_bytes(data)
        oid = self.cache.put_file(str(path))[0]
        self.cache.flush()
        return oid


@pytest.fixture(params=PACKED_KINDS)
def packed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Packed]:
    (tmp_path / "common").mkdir()
    cache = Cache(str(tmp_path / "cache"), str(tmp_path / "cache" / "tmp"))
    with _factory(request.param)(tmp_path) as raw:
        yield Packed(raw, cache, tmp_path / "common")


def _fetch(view: Store, oids: list[str], tmp_path: Path, sizes: dict[str, int]
           ) -> dict[str, bytes]:
    """What a fetch into an empty cache places (verified there), by oid."""
    where = tmp_path / f"fetched-{len(list(tmp_path.glob('fetched-*')))}"
    cache = Cache(str(where), str(where / "tmp"))
    result = view.fetch_objects(cache, oids, 2, sizes, None)  # type: ignore[attr-defined]
    assert not result.failed, result.failed
    return {o: cache.read_bytes(o) if cache.size_of(o) <= (1 << 20) else
            _read_all(cache, o) for o in oids}


def _read_all(cache: Cache, oid: str) -> bytes:
    with cache.open_object(oid) as f:
        data: bytes = f.read()
    assert hashlib.sha256(data).hexdigest() == oid
    return data


def test_packed_push_then_exists_download_and_fetch(packed: Packed, tmp_path: Path) -> None:
    from gitmv.transfer.packed import PackedStore, read_layout

    datas = [os.urandom(n) for n in (0, 1, 1000, 300_000)] + [os.urandom(3 << 20)]
    oids = [packed.put(d) for d in datas]
    view = packed.view()
    assert isinstance(view, PackedStore), "a store gitmv owns is packed by default"
    assert view.exists_many(oids) == set()
    result = view.push_objects(packed.cache, [oids], 2, False, False, None)  # type: ignore[attr-defined]
    assert not result.failed and sorted(result.transferred) == sorted(oids)
    assert read_layout(packed.raw, "contract") == (2, False)
    assert not list(packed.raw.list_objects()), "nothing loose: all in packs"
    view = packed.view()
    assert view.exists_many(oids) == set(oids)
    for oid, data in zip(oids, datas, strict=True):
        assert _get(view, oid)[0] == data
    sizes = dict(zip(oids, map(len, datas), strict=True))
    assert _fetch(view, oids, tmp_path, sizes) == dict(zip(oids, datas, strict=True))
    again = packed.view().push_objects(packed.cache, [oids], 2, False, False, None)  # type: ignore[attr-defined]
    assert again.transferred == [] and again.present == len(oids)


def test_packed_push_sends_only_the_chunks_the_store_lacks(packed: Packed) -> None:
    base = os.urandom(3 << 20)
    first = packed.put(base)
    view = packed.view()
    view.push_objects(packed.cache, [[first]], 2, False, False, None)  # type: ignore[attr-defined]
    grown = packed.put(base + os.urandom(64 << 10))
    result = packed.view().push_objects(  # type: ignore[attr-defined]
        packed.cache, [[grown]], 2, False, False, None)
    assert result.transferred == [grown]
    assert result.nbytes < 1 << 20, f"{result.nbytes} bytes sent for 64 KiB appended"
    assert _get(packed.view(), grown)[0] == _read_all(packed.cache, grown)


def test_a_store_of_the_previous_layout_is_read_and_upgraded(packed: Packed,
                                                              tmp_path: Path) -> None:
    """Loose objects as an older gitmv wrote them (layout 1, no layout file) read through
    today's default view; its next push writes packs and says `loose objects: yes`, and
    both are read from then on."""
    from gitmv.transfer.packed import read_layout

    old = {packed.put(d): d for d in (os.urandom(500), os.urandom(2 << 20))}
    for oid, data in old.items():
        packed.raw.upload(oid, len(data), io.BytesIO(data))  # (the raw store: layout 1)
    assert read_layout(packed.raw, "contract").version == 1
    view = packed.view()
    assert view.exists_many(list(old)) == set(old)
    assert {o: _get(view, o)[0] for o in old} == old
    new = [packed.put(os.urandom(700)), packed.put(os.urandom(2 << 20))]
    result = view.push_objects(packed.cache, [list(old) + new], 2, False, False, None)  # type: ignore[attr-defined]
    assert sorted(result.transferred) == sorted(new) and result.present == len(old)
    assert read_layout(packed.raw, "contract") == (2, True)
    # what an older gitmv (loose objects only: the raw store) sees now, docs/remotes.md
    everything = list(old) + new
    assert packed.raw.exists_many(everything) == set(old)
    view = packed.view()
    assert view.exists_many(everything) == set(everything)
    fetched = _fetch(view, everything, tmp_path,
                     {o: packed.cache.size_of(o) or 0 for o in everything})
    assert {o: fetched[o] for o in old} == old
    assert {o for o, d in fetched.items() if hashlib.sha256(d).hexdigest() == o} == \
        set(everything)


def test_packs_false_keeps_a_layout_1_store_and_reads_a_layout_2_one(packed: Packed) -> None:
    from gitmv.transfer.packed import PackedStore, read_layout

    loose = packed.put(os.urandom(900))
    view = packed.view({"packs": False})
    assert not isinstance(view, PackedStore)
    view.upload(loose, 900, io.BytesIO(packed.cache.read_bytes(loose)))
    assert read_layout(packed.raw, "contract").version == 1
    in_pack = packed.put(os.urandom(800))
    packed.view().push_objects(packed.cache, [[in_pack]], 2, False, False, None)  # type: ignore[attr-defined]
    view = packed.view({"packs": False})  # (a store of layout 2 is read as one all the same)
    assert isinstance(view, PackedStore)
    assert view.exists_many([loose, in_pack]) == {loose, in_pack}
