"""A packed push whose large object spans several packs: when a pack of chunks alone fails to
upload, no pack after it is sent (its chunk list would name chunks the store lacks), the push
fails for that object, and the next push completes it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitmv.remotes.retry import RemoteError
from gitmv.transfer import packpush
from tests.helpers import clone_hooked, git, init_bare, init_hooked, mvm, save, sha
from tests.remotes.kinds import add_remote
from tests.transfer.test_packed import packed_remote, store_files


def test_a_failed_pack_of_chunks_stops_the_packs_after_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with packed_remote("local", tmp_path) as remote:
        bare = init_bare(tmp_path / "origin.git")
        alice = init_hooked(tmp_path / "alice", bare)
        add_remote(alice, remote)
        model = os.urandom(6 << 20)
        save(alice, "model.pt", model, "model")
        monkeypatch.setattr(packpush, "PACK_TARGET", 1 << 20)  # the model spans ~6 packs
        real = packpush.send_pack
        calls: list[str] = []

        def first_fails(store, pack_id, path, index):  # type: ignore[no-untyped-def]
            calls.append(pack_id)
            if len(calls) == 1:
                raise RemoteError("the store went away for a moment")
            return real(store, pack_id, path, index)

        monkeypatch.setattr(packpush, "send_pack", first_fails)
        assert mvm(alice, "push") != 0, "the model's chunks are not all there"
        assert len(calls) == 1, "no pack after the failed one was sent"
        assert not [n for n in store_files(remote, tmp_path) if n.startswith("index/")]

        monkeypatch.setattr(packpush, "send_pack", real)
        assert mvm(alice, "push") == 0
        git(alice, "push", "-q", "origin", "HEAD")
        bob = clone_hooked(bare, tmp_path / "bob")
        assert mvm(bob, "pull", "-q") == 0
        assert sha((bob / "model.pt").read_bytes()) == sha(model)
