"""Store layout 2 end to end (docs/formats.md, "Store layout 2"): pushes write packs and
indexes, pulls read ranges, on every store kind gitmv owns (directory, S3 on moto, WebDAV on
the fault server), with real git clones."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import (
    clone_hooked,
    git,
    init_bare,
    init_hooked,
    mvm,
    save,
    save_dir,
    sha,
    tree_digest,
)
from tests.remotes.kinds import Remote, add_remote, remote_of

PACKED_KINDS = ["local", "s3", "http"]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(params=PACKED_KINDS)
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Remote]:
    with packed_remote(request.param, tmp_path) as r:
        yield r


def packed_remote(kind: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """remote_of, with WebDAV on for HTTP (packs are found by listing)."""
    from contextlib import contextmanager

    @contextmanager
    def make() -> Iterator[Remote]:
        with remote_of(kind, tmp_path) as r:
            if kind == "http":
                r = r._replace(settings={**r.settings, "webdav": "true"})
            yield r

    return make()


def store_files(remote: Remote, tmp_path: Path) -> dict[str, int]:
    """Every file the store holds (name relative to the store: `packs/…`, `aa/bb/oid`) and
    its size, read behind gitmv's back."""
    if remote.kind == "s3":
        from tests.stores.s3 import server

        bucket = remote.url.split("/")[2]
        client = server().client()
        out = {}
        for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix="objects/"):
            for item in page.get("Contents", ()):
                out[item["Key"][len("objects/"):]] = int(item["Size"])
        return out
    root = tmp_path / ("dir-store" if remote.kind == "local" else "http-root/store")
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def setup(tmp_path: Path, remote: Remote) -> tuple[Path, Path]:
    bare = init_bare(tmp_path / "origin.git")
    alice = init_hooked(tmp_path / "alice", bare)
    add_remote(alice, remote)
    git(alice, "push", "-q", "-u", "origin", "HEAD")
    return bare, alice


def test_push_writes_packs_and_a_clone_pulls_them(tmp_path: Path, remote: Remote) -> None:
    bare, alice = setup(tmp_path, remote)
    files = {f"d/f{i}.bin": os.urandom(100 + i) for i in range(200)}
    digest = save_dir(alice, "data", files, "data")
    big = os.urandom(3 << 20)
    save(alice, "model.pt", big, "model")
    git(alice, "push", "-q")
    held = store_files(remote, tmp_path)
    assert held.get("mvm-layout") == len(b"gitmv store layout 2\n")
    packs = {n for n in held if n.startswith("packs/")}
    indexes = {n for n in held if n.startswith("index/")}
    assert packs and {p.replace("packs/", "index/").replace(".pack", ".idx")
                      for p in packs} == indexes
    assert not [n for n in held if n[:2] != "mv" and "/" in n and n.split("/")[0] not in
                ("packs", "index")], "nothing loose"
    bob = clone_hooked(bare, tmp_path / "bob")
    assert mvm(bob, "pull", "-q") == 0
    assert tree_digest(bob / "data") == digest
    assert (bob / "model.pt").read_bytes() == big
    assert mvm(bob, "fsck", "-q") == 0


def test_a_noop_push_sends_nothing(tmp_path: Path, remote: Remote) -> None:
    _, alice = setup(tmp_path, remote)
    save_dir(alice, "data", {f"f{i}": os.urandom(50) for i in range(50)}, "data")
    git(alice, "push", "-q")
    before = store_files(remote, tmp_path)
    assert mvm(alice, "push", "-q") == 0
    assert store_files(remote, tmp_path) == before
    assert sha(b"") and True
