"""One contract, every store kind: local directory, S3 (moto server), Git LFS (giftless), HTTP.

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

import pytest

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
