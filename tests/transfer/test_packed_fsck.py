"""`fsck --remote` on a store of layout 2, on a directory and on S3 (moto), with real git:
every index parses (a truncated one is reported by name, with the fix), every pack an index
names is there at its size; `--verify` hashes the entries by ranged reads; `--repair`
rebuilds an index from its pack and sends again, from the cache's verified copies, objects
whose entries are corrupt. After a repair a fresh clone pulls everything whole."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import clone_hooked, git, mvm, run, save, save_dir, tree_digest
from tests.remotes.kinds import Remote
from tests.transfer.test_packed import _put_behind_gitmv, packed_remote, setup, store_files


@pytest.fixture(params=["local", "s3"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Remote]:
    with packed_remote(request.param, tmp_path) as r:
        yield r


def read_behind(remote: Remote, tmp_path: Path, name: str) -> bytes:
    if remote.kind == "s3":
        from tests.stores.s3 import server

        body = server().client().get_object(Bucket=remote.url.split("/")[2],
                                            Key=f"objects/{name}")["Body"]
        return bytes(body.read())
    return (tmp_path / "dir-store" / name).read_bytes()


def pushed(tmp_path: Path, remote: Remote) -> tuple[Path, Path, dict[str, str], bytes]:
    bare, alice = setup(tmp_path, remote)
    digest = save_dir(alice, "data", {f"f{i}": os.urandom(500 + i) for i in range(40)}, "data")
    model = os.urandom(3 << 20)
    save(alice, "model.pt", model, "model")
    git(alice, "push", "-q")
    return bare, alice, digest, model


def assert_pulls_whole(bare: Path, tmp_path: Path, name: str, digest: dict[str, str],
                       model: bytes) -> None:
    clone = clone_hooked(bare, tmp_path / name)
    assert mvm(clone, "pull", "-q") == 0
    assert tree_digest(clone / "data") == digest
    assert (clone / "model.pt").read_bytes() == model


def test_a_truncated_index_is_reported_and_rebuilt_from_its_pack(
        tmp_path: Path, remote: Remote, capsys: pytest.CaptureFixture[str]) -> None:
    bare, _, digest, model = pushed(tmp_path, remote)
    indexes = sorted(n for n in store_files(remote, tmp_path) if n.startswith("index/"))
    assert indexes
    name = indexes[0]
    whole = read_behind(remote, tmp_path, name)
    _put_behind_gitmv(remote, tmp_path, name, whole[:len(whole) // 2])
    bob = clone_hooked(bare, tmp_path / "bob")
    res = run(capsys, bob, "fsck", "--remote")
    assert res.rc == 1
    assert name in res.out + res.err and "--repair" in res.out + res.err, (res.out, res.err)
    assert "Traceback" not in res.err
    res = run(capsys, bob, "fsck", "--remote", "--repair")
    assert res.rc == 0, (res.out, res.err)
    assert read_behind(remote, tmp_path, name) == whole
    assert mvm(bob, "fsck", "-q", "--remote", "--verify") == 0
    assert_pulls_whole(bare, tmp_path, "carol", digest, model)


def test_a_pack_shorter_than_its_index_says_is_reported(
        tmp_path: Path, remote: Remote, capsys: pytest.CaptureFixture[str]) -> None:
    _, alice, _, _ = pushed(tmp_path, remote)
    packs = sorted(n for n in store_files(remote, tmp_path) if n.startswith("packs/"))
    data = read_behind(remote, tmp_path, packs[0])
    _put_behind_gitmv(remote, tmp_path, packs[0], data[:-10])
    res = run(capsys, alice, "fsck", "--remote")
    assert res.rc == 1
    assert packs[0] in res.out and f"{len(data) - 10}" in res.out, res.out


def test_verify_finds_a_flipped_byte_and_repair_sends_the_object_again(
        tmp_path: Path, remote: Remote, capsys: pytest.CaptureFixture[str]) -> None:
    bare, alice, digest, model = pushed(tmp_path, remote)
    packs = sorted(n for n in store_files(remote, tmp_path) if n.startswith("packs/"))
    for name in packs:  # a byte in the middle of each pack: in a file or in a chunk
        data = bytearray(read_behind(remote, tmp_path, name))
        data[len(data) // 2] ^= 0xFF
        _put_behind_gitmv(remote, tmp_path, name, bytes(data))
    assert mvm(alice, "fsck", "-q", "--remote") == 0  # sizes: all there
    res = run(capsys, alice, "fsck", "--remote", "--verify")
    assert res.rc == 1
    assert "corrupt on store" in res.out, res.out
    res = run(capsys, alice, "fsck", "--remote", "--verify", "--repair")
    assert res.rc == 0, (res.out, res.err)
    assert mvm(alice, "fsck", "-q", "--remote", "--verify") == 0
    assert_pulls_whole(bare, tmp_path, "carol", digest, model)
