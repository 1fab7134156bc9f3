"""`gc --remote` on a store of layout 2 (docs/formats.md, "Store layout 2"), on a directory
and on S3 (moto), with real git: a pack none of whose entries anything live names goes
(index first, then pack) once older than the grace period; a pack with a live entry (an
object, or a chunk of a live object's chunk list) stays; a push that relies on a pack during
gc keeps it. After every gc each commit of the origin pulls whole in a fresh clone."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from gitmv.transfer import engine
from tests.helpers import (
    clone_hooked,
    git,
    init_bare,
    init_hooked,
    mvm,
    rev,
    run,
    save,
    save_dir,
)
from tests.remotes.kinds import Remote, add_remote
from tests.transfer.test_gc_race import in_process_pre_push
from tests.transfer.test_packed import packed_remote, store_files

S3_GRACE = 3  # seconds (moto's clock cannot be moved)


class World(NamedTuple):
    remote: Remote
    tmp: Path

    def files(self) -> dict[str, int]:
        return store_files(self.remote, self.tmp)

    def packs(self) -> set[str]:
        return {n[len("packs/pack-"):-len(".pack")] for n in self.files()
                if n.startswith("packs/") and n.endswith(".pack")}

    def indexes(self) -> set[str]:
        return {n[len("index/pack-"):-len(".idx")] for n in self.files()
                if n.startswith("index/") and n.endswith(".idx")}

    def age(self) -> None:
        """Everything on the store older than gc's grace period."""
        if self.remote.kind == "s3":
            time.sleep(S3_GRACE + 1.5)
            return
        old = time.time() - 2 * 3600
        for p in (self.tmp / "dir-store").rglob("*"):
            if p.is_file():
                os.utime(p, (old, old))


@pytest.fixture(params=["local", "s3"])
def world(request: pytest.FixtureRequest, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with packed_remote(request.param, tmp_path) as remote:
        if request.param == "s3":
            monkeypatch.setattr(engine, "GRACE_SECONDS", S3_GRACE)
        yield World(remote, tmp_path)


def team(w: World) -> tuple[Path, Path, Path]:
    bare = init_bare(w.tmp / "origin.git")
    alice = init_hooked(w.tmp / "alice", bare)
    add_remote(alice, w.remote)
    git(alice, "push", "-q", "-u", "origin", "HEAD")
    bob = clone_hooked(bare, w.tmp / "bob")
    return bare, alice, bob


def new_packs(w: World, before: set[str]) -> set[str]:
    return w.packs() - before


def assert_every_ref_pulls(bare: Path, w: World, name: str) -> None:
    """Each branch of the origin, checked out in a fresh clone, pulls whole and verifies."""
    clone = clone_hooked(bare, w.tmp / name)
    for ref in git(clone, "for-each-ref", "--format=%(refname:short)",
                   "refs/remotes/origin").split():
        if ref.endswith("/HEAD") or ref == "origin":
            continue
        git(clone, "checkout", "-q", "--detach", ref)
        assert mvm(clone, "pull", "-q") == 0, ref
    assert mvm(clone, "fsck", "-q") == 0


def test_dead_packs_go_and_packs_with_live_entries_stay(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    w = world
    bare, alice, bob = team(w)
    save_dir(alice, "data", {f"f{i}": os.urandom(200 + i) for i in range(30)}, "data")
    git(alice, "push", "-q")
    # bob: branch `tmp` with a model whose chunks main's next model reuses, and `junk`
    # whose objects nothing else names
    git(bob, "pull", "-q")
    model = os.urandom(3 << 20)
    git(bob, "checkout", "-q", "-b", "tmp")
    save(bob, "model.pt", model, "tmp model")
    before = w.packs()
    git(bob, "push", "-q", "origin", "tmp")
    tmp_packs = new_packs(w, before)
    git(bob, "checkout", "-q", "-b", "junk", "main")
    save_dir(bob, "junk", {f"j{i}": os.urandom(300) for i in range(20)}, "junk")
    before = w.packs()
    git(bob, "push", "-q", "origin", "junk")
    junk_packs = new_packs(w, before)
    assert tmp_packs and junk_packs
    save(alice, "model.pt", model + os.urandom(1 << 20), "main's model: tmp's + 1 MiB")
    git(alice, "push", "-q")
    git(bob, "push", "-q", "origin", ":tmp", ":junk")
    git(alice, "fetch", "-q", "--prune")
    w.age()
    held = w.files()

    res = run(capsys, alice, "gc", "--remote", "--dry-run")
    assert res.rc == 0, res.err
    assert w.files() == held, "a dry run deletes nothing"
    for p in junk_packs:
        assert f"pack {p[:12]}" in res.out, res.out
    for p in tmp_packs:
        assert f"pack {p[:12]}" not in res.out

    res = run(capsys, alice, "gc", "--remote")
    assert res.rc == 0, res.err
    assert not (junk_packs & (w.packs() | w.indexes())), "a dead pack and its index go"
    assert tmp_packs <= w.packs() and tmp_packs <= w.indexes(), \
        "a pack with chunks main's model uses stays"
    assert w.packs() == w.indexes()
    assert_every_ref_pulls(bare, w, "carol")
    res = run(capsys, alice, "gc", "--remote")  # nothing more to do
    assert res.rc == 0 and "freed 0 B" in res.err, res.err


def test_young_dead_packs_stay(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    w = world
    # (the S3 world's 3-second grace passes by under load before gc even starts)
    monkeypatch.setattr(engine, "GRACE_SECONDS", 600)
    _, alice, bob = team(w)
    git(bob, "checkout", "-q", "-b", "junk")
    save_dir(bob, "junk", {f"j{i}": os.urandom(300) for i in range(5)}, "junk")
    git(bob, "push", "-q", "origin", "junk")
    git(bob, "push", "-q", "origin", ":junk")
    held = w.files()
    assert mvm(alice, "gc", "-q", "--remote") == 0
    assert w.files() == held


def test_a_push_that_relies_on_a_pack_during_gc_keeps_it(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """alice pushed branch `old`, deleted it on the origin; carol cloned after that and runs
    gc --remote; between gc's listing and its deletions alice pushes `old` again (its objects
    are in the old pack: the push sends nothing, it refreshes the pack). gc keeps the pack
    and `old` pulls whole afterwards."""
    w = world
    bare, alice, _ = team(w)
    git(alice, "checkout", "-q", "-b", "old")
    save_dir(alice, "data", {f"f{i}": os.urandom(300) for i in range(10)}, "old data")
    save(alice, "model.pt", os.urandom(2 << 20), "old model")
    git(alice, "push", "-q", "origin", "old")
    commit = rev(alice)
    git(alice, "push", "-q", "origin", ":old")
    carol = clone_hooked(bare, w.tmp / "carol")
    packs = w.packs()
    w.age()
    pushes: list[int] = []
    raw_class = _raw_class(w.remote)

    def push() -> None:
        rc = in_process_pre_push(alice, "old", commit, bare, monkeypatch)
        if rc == 0:
            git(alice, "push", "-q", "--no-verify", "origin", "old")
        pushes.append(rc)

    real = raw_class.delete_named_if_older

    def delete_named_if_older(self: Any, *a: Any, **kw: Any) -> Any:
        if not pushes:
            push()
        return real(self, *a, **kw)

    monkeypatch.setattr(raw_class, "delete_named_if_older", delete_named_if_older)
    assert mvm(carol, "gc", "-q", "--remote") == 0
    monkeypatch.undo()
    assert pushes == [0]
    assert packs <= w.packs() and packs <= w.indexes()
    assert_every_ref_pulls(bare, w, "dave")


def _raw_class(remote: Remote) -> type[Any]:
    if remote.kind == "s3":
        from gitmv.remotes.s3 import S3Store

        return S3Store
    from gitmv.remotes.local import LocalStore

    return LocalStore
