"""`gc --remote` repacks a store pack of which at least half the bytes are dead
(gc.REPACK_DEAD): its live entries (objects, chunks of live objects, chunk lists) are copied
into a new pack, confirmed with its index, before the old pack goes (index first, only if no
push refreshed it since). On a directory store and on S3 (moto); after every gc each commit of
the origin pulls whole in a fresh clone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitmv.objects.pack import PackIndex
from gitmv.transfer import gc as gcmod
from tests.helpers import git, run, save, save_dir
from tests.transfer.test_packed_gc import World, assert_every_ref_pulls, new_packs, team
from tests.transfer.test_packed_gc import world as world  # (the fixture)


def _mixed_pack(w: World) -> tuple[Path, Path, str, set[str]]:
    """Branch `mix` pushes one pack with 8 MiB of junk, a 3 MiB model and a small file; main
    then takes the model and the small file (its push relies on that pack), and `mix` is
    deleted: the pack holds 4 MiB live and 8 MiB dead. Returns the origin, alice, the pack's
    id, and the live objects' oids."""
    bare, alice, bob = team(w)
    model, small = os.urandom(3 << 20), os.urandom(2000)
    git(bob, "checkout", "-q", "-b", "mix")
    save_dir(bob, "junk", {f"j{i}": os.urandom(100_000) for i in range(80)})
    oids = {save(bob, "model.pt", model), save(bob, "small.bin", small)}
    git(bob, "commit", "-qm", "mix")
    before = w.packs()
    git(bob, "push", "-q", "origin", "mix")
    (mixed,) = new_packs(w, before)
    save(alice, "model.pt", model)
    save(alice, "small.bin", small, "main takes two of mix's files")
    before = w.packs()
    git(alice, "push", "-q")
    sizes = w.files()
    assert all(sizes[f"packs/pack-{p}.pack"] < 100_000 for p in new_packs(w, before)), \
        "main's push relies on mix's pack for the model, it does not send it again"
    git(bob, "push", "-q", "origin", ":mix")
    git(alice, "fetch", "-q", "--prune")
    w.age()
    return bare, alice, mixed, oids


def _index_of(w: World, pack_id: str) -> PackIndex:
    """A pack's index as the store holds it, read behind gitmv's back."""
    name = f"index/pack-{pack_id}.idx"
    if w.remote.kind == "s3":
        from tests.stores.s3 import server

        bucket = w.remote.url.split("/")[2]
        data = server().client().get_object(Bucket=bucket, Key=f"objects/{name}")["Body"].read()
    else:
        data = (w.tmp / "dir-store" / name).read_bytes()
    return PackIndex(data, name)


def test_a_mostly_dead_pack_is_repacked(world: World, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    w = world
    bare, alice, mixed, oids = _mixed_pack(w)
    size_before = sum(w.files().values())

    res = run(capsys, alice, "gc", "--remote", "--dry-run")
    assert res.rc == 0, res.err
    assert f"would repack: pack {mixed[:12]}" in res.out, res.out
    assert mixed in w.packs(), "a dry run changes nothing"

    packs_before = w.packs()
    res = run(capsys, alice, "gc", "--remote", "-v")
    assert res.rc == 0, res.err
    assert f"repacked: pack {mixed[:12]}" in res.out, res.out
    assert mixed not in w.packs() | w.indexes(), "the mostly dead pack and its index go"
    (copy,) = w.packs() - packs_before
    assert copy in w.indexes()
    held = {e.id for e in _index_of(w, copy)}
    assert oids <= held, "the live objects are in the new pack"
    assert sum(w.files().values()) < size_before - (7 << 20), "the dead 8 MiB are freed"
    assert_every_ref_pulls(bare, w, "carol")
    res = run(capsys, alice, "gc", "--remote")  # the new pack is all live: nothing to do
    assert res.rc == 0 and "freed 0 B" in res.err, res.err


def test_a_push_relying_on_the_pack_during_the_repack_keeps_it(
        world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between gc's listing and its deletions a push relies on the mostly dead pack (it
    refreshes it): the pack and its index stay (the copy of its live entries too), and every
    commit still pulls."""
    w = world
    bare, alice, mixed, _ = _mixed_pack(w)
    real_hide = gcmod._StorePacks.hide

    def hide_after_a_push(self: gcmod._StorePacks, dead: list[tuple[str, int, int]],
                          cutoff: float, cache: object) -> set[str]:
        assert self.store.refresh_pack(mixed)
        return real_hide(self, dead, cutoff, cache)  # type: ignore[arg-type]

    monkeypatch.setattr(gcmod._StorePacks, "hide", hide_after_a_push)
    packs_before = w.packs()
    res = run(capsys, alice, "gc", "--remote")
    assert res.rc == 0, res.err
    assert len(w.packs() - packs_before) == 1, "the live entries were copied"
    assert mixed in w.packs() and mixed in w.indexes(), "a pack a push relies on stays"
    assert_every_ref_pulls(bare, w, "dave")
