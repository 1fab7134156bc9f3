"""Faults on a store of layout 2 (directory store, real git): a flipped byte in a pack is
refused by the pull, which places nothing corrupt; a pack deleted under a reader is one
clear error after one more listing; a push killed (SIGKILL) while its pack uploads leaves no
index for the half pack, the next push completes, and the dead temp file goes with
`fsck --remote --repair`."""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import pytest

from tests.helpers import (
    cache_dir,
    clone_hooked,
    git,
    mvm,
    mvm_popen,
    run,
    save,
    save_dir,
    tree_digest,
    wait_for,
)
from tests.transfer.test_packed import packed_remote, setup


def cached(repo: Path) -> set[str]:
    root = cache_dir(repo)
    return {p.name for p in root.rglob("*") if p.is_file() and len(p.name) == 64}


def test_a_flipped_byte_in_a_pack_is_refused_and_nothing_corrupt_is_placed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with packed_remote("local", tmp_path) as remote:
        bare, alice = setup(tmp_path, remote)
        digest = save_dir(alice, "data", {f"f{i}": os.urandom(400) for i in range(20)}, "d")
        model = os.urandom(3 << 20)
        save(alice, "model.pt", model, "model")
        git(alice, "push", "-q")
        packs = sorted((tmp_path / "dir-store" / "packs").iterdir())
        for pack in packs:  # a byte in the model's chunks (the bulk of each pack)
            data = bytearray(pack.read_bytes())
            data[len(data) // 2] ^= 0x01
            pack.chmod(0o644)
            pack.write_bytes(bytes(data))
        bob = clone_hooked(bare, tmp_path / "bob")
        res = run(capsys, bob, "pull")
        assert res.rc != 0
        assert "other bytes" in res.err or "hash to" in res.err, res.err
        assert "fsck --remote" in res.err and "Traceback" not in res.err, res.err
        oid = hashlib.sha256(model).hexdigest()
        assert oid not in cached(bob)
        assert not (bob / "model.pt").exists() or (bob / "model.pt").read_bytes() == model
        for o in cached(bob):  # whatever was placed verifies
            assert hashlib.sha256((cache_dir(bob) / o[:2] / o[2:4] / o).read_bytes()
                                  ).hexdigest() == o
        assert tree_digest(bob / "data") == digest  # the good files came


def test_a_pack_deleted_under_a_reader_is_one_clear_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with packed_remote("local", tmp_path) as remote:
        bare, alice = setup(tmp_path, remote)
        save_dir(alice, "data", {f"f{i}": os.urandom(400) for i in range(20)}, "d")
        git(alice, "push", "-q")
        bob = clone_hooked(bare, tmp_path / "bob")
        for pack in (tmp_path / "dir-store" / "packs").iterdir():
            pack.unlink()
        res = run(capsys, bob, "pull")
        assert res.rc != 0
        assert "is gone" in res.err and "Traceback" not in res.err, res.err


def test_a_push_killed_while_its_pack_uploads(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with packed_remote("local", tmp_path) as remote:
        bare, alice = setup(tmp_path, remote)
        save(alice, "model.pt", os.urandom(200 << 20), "a large model")
        store = tmp_path / "dir-store"
        proc = mvm_popen(alice, "push")

        def uploading() -> bool:
            d = store / "packs"
            return d.is_dir() and any(p.name.startswith(".") for p in d.iterdir())

        assert wait_for(uploading, proc)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        index = store / "index"
        assert not index.exists() or not list(index.iterdir()), "no index for a half pack"
        assert mvm(alice, "push", "-q") == 0
        git(alice, "push", "-q")
        res = run(capsys, alice, "fsck", "--remote", "--repair")
        assert res.rc == 0, (res.out, res.err)
        assert "dead upload temp file" in res.err, res.err
        assert not [p for p in (store / "packs").iterdir() if p.name.startswith(".")]
        bob = clone_hooked(bare, tmp_path / "bob")
        assert mvm(bob, "pull", "-q") == 0
        assert (bob / "model.pt").read_bytes() == (alice / "model.pt").read_bytes()
