"""`git mvm gc` on a cache with packs: entries nothing needs leave by a repack (the new pack
durable before the old one goes), a pack with nothing live is deleted, many small packs are
merged; and after any mix of add, commit, branch deletion and gc, every object any commit
names reads back verified."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

import gitmv.objects.cache
from gitmv.objects.cache import Cache
from gitmv.objects.pointer import Pointer
from gitmv.transfer import gc as gcmod
from tests.helpers import (
    assert_cache_sound,
    cache_dir,
    cache_objects,
    git,
    make_old,
    mvm,
    oid_hex,
    packed_objects,
    read_pointer,
    tree_digest,
    write,
)


@pytest.fixture(autouse=True)
def small_commands_pack(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command with more than a handful of small objects packs them (cheaper tests)."""
    monkeypatch.setattr(gitmv.objects.cache, "HELD_MAX", 4)


def _files(rng: random.Random, n: int, tag: str) -> dict[str, bytes]:
    return {f"{tag}/f{i}.bin": rng.randbytes(rng.randrange(10, 400)) for i in range(n)}


def _put(repo: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        write(repo / rel, data)


def _packs(repo: Path) -> list[Path]:
    return sorted((cache_dir(repo) / "packs").glob("pack-*.pack"))


def _age_everything(repo: Path) -> None:
    make_old([p for p in cache_dir(repo).rglob("*") if p.is_file()])


def named_by_history(repo: Path) -> set[str]:
    """Every object a pointer in any commit of any ref names (a directory: its manifest and
    every file in it), read with a fresh Cache: each must read back verified."""
    cache = Cache(str(cache_dir(repo)), str(cache_dir(repo) / "tmp"))
    out: set[str] = set()
    for commit in git(repo, "rev-list", "--all").split():
        for line in git(repo, "ls-tree", "-r", "--name-only", commit).splitlines():
            if not line.endswith(".mvm"):
                continue
            ptr = Pointer.parse(git(repo, "show", f"{commit}:{line}").encode(), line)
            out.add(ptr.oid)
            if ptr.kind == "dir":
                out.update(e.oid for e in cache.read_manifest(ptr.oid, line))
    for oid in out:
        cache.read_bytes(oid)  # verified: ObjectMissing / ObjectCorrupt fail the test
    return out


def test_dead_entries_leave_by_repack_and_a_dead_pack_is_deleted(repo: Path) -> None:
    rng = random.Random(13)
    data, junk = _files(rng, 30, "data"), _files(rng, 30, "junk")
    _put(repo, {**data, **junk})
    assert mvm(repo, "add", "-q", "data", "junk") == 0  # one command: one pack for both
    git(repo, "rm", "-q", "--cached", "junk.mvm")
    git(repo, "commit", "-qm", "data only")
    junk_oids = {oid_hex(read_pointer(repo, "junk")["oid"])}
    shutil.rmtree(repo / "junk")
    os.unlink(repo / "junk.mvm")
    _put(repo, (junk2 := _files(rng, 20, "junk2")))
    assert mvm(repo, "add", "-q", "junk2") == 0  # a second pack, nothing in it needed
    junk_oids.add(oid_hex(read_pointer(repo, "junk2")["oid"]))
    git(repo, "rm", "-q", "--cached", "junk2.mvm")
    shutil.rmtree(repo / "junk2")
    os.unlink(repo / "junk2.mvm")
    from tests.helpers import sha

    junk_oids |= {sha(b) for b in [*junk.values(), *junk2.values()]}
    assert len(_packs(repo)) == 2
    before = packed_objects(repo)
    assert junk_oids <= before

    assert mvm(repo, "gc") == 0  # young: nothing goes
    assert packed_objects(repo) == before

    _age_everything(repo)
    digest = tree_digest(repo / "data")
    assert mvm(repo, "gc") == 0
    assert packed_objects(repo) == before - junk_oids
    assert len(_packs(repo)) == 1
    assert_cache_sound(repo)
    named_by_history(repo)
    shutil.rmtree(repo / "data")
    assert mvm(repo, "checkout", "data") == 0
    assert tree_digest(repo / "data") == digest


def _many_packs_unmerged(repo: Path, monkeypatch: pytest.MonkeyPatch,
                         rng: random.Random) -> None:
    """PACKS_MAX + 3 commands' packs, committed, with the merges commands make turned off
    (as an older gitmv left them)."""
    from gitmv.objects import packed

    with monkeypatch.context() as m:
        m.setattr(packed, "AUTO_MERGE_AT", 1 << 30)
        for i in range(gcmod.PACKS_MAX + 3):
            _put(repo, _files(rng, 6, f"d{i}"))
            assert mvm(repo, "add", "-q", f"d{i}") == 0
    git(repo, "commit", "-qm", "many")


def test_many_small_packs_are_merged(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Packs a command did not merge (an older gitmv's, or merges another process held off)
    are merged by gc."""
    _many_packs_unmerged(repo, monkeypatch, random.Random(5))
    assert len(_packs(repo)) == gcmod.PACKS_MAX + 3
    objects = packed_objects(repo)
    _age_everything(repo)
    assert mvm(repo, "gc") == 0
    assert len(_packs(repo)) == 1
    assert packed_objects(repo) == objects
    assert_cache_sound(repo)
    named_by_history(repo)


def test_gc_plans_from_the_packs_there_once_it_holds_the_merge_lock(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A command that merged packs after gc first read the list (gc reads every clone's
    pointers before it locks the packs): gc plans from the packs that are there, not from
    the list it read first."""
    from gitmv.objects import packed
    from gitmv.worktree.workspace import Workspace

    rng = random.Random(6)
    _many_packs_unmerged(repo, monkeypatch, rng)
    objects = packed_objects(repo)
    _age_everything(repo)
    old = os.getcwd()
    os.chdir(repo)
    try:
        ws = Workspace.open()
        assert len(ws.cache.packs.indexes()) == gcmod.PACKS_MAX + 3  # gc's first read
        monkeypatch.setattr(packed, "AUTO_MERGE_AT", 12)
        other = Cache(str(cache_dir(repo)), str(cache_dir(repo) / "tmp"))
        for b in _files(rng, 6, "x").values():
            other.put_bytes(b)
        other.flush()  # another command: its pack, then a merge
        assert len(_packs(repo)) < gcmod.PACKS_MAX
        gcmod.collect(ws, dry_run=False)
        ws.state.close()
    finally:
        os.chdir(old)
    assert len(_packs(repo)) == 1
    assert objects <= packed_objects(repo)
    assert_cache_sound(repo)
    named_by_history(repo)


def test_a_repack_that_fails_midway_leaves_the_old_packs(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new pack is complete and durable before any old pack goes: a failure while it is
    written (a full disk) removes nothing."""
    rng = random.Random(7)
    _put(repo, {**_files(rng, 10, "keep"), **_files(rng, 10, "drop")})
    assert mvm(repo, "add", "-q", "keep", "drop") == 0
    git(repo, "rm", "-q", "--cached", "drop.mvm")
    git(repo, "commit", "-qm", "keep")
    shutil.rmtree(repo / "drop")
    os.unlink(repo / "drop.mvm")
    packs = _packs(repo)
    objects = cache_objects(repo)
    _age_everything(repo)

    from gitmv.objects import packed

    def full_disk(self: object, new: object, durable: bool) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(packed.Packs, "publish", full_disk)
    assert mvm(repo, "gc") == 1
    assert _packs(repo) == packs and cache_objects(repo) == objects
    monkeypatch.undo()
    monkeypatch.setattr(gitmv.objects.cache, "HELD_MAX", 4)
    assert mvm(repo, "gc") == 0
    named_by_history(repo)


@pytest.mark.parametrize("seed", [1, 2])
def test_every_object_a_commit_names_survives_add_commit_gc_cycles(repo: Path, seed: int
                                                                  ) -> None:
    rng = random.Random(seed)
    print(f"seed {seed}")
    dirs = ["a", "b", "c"]
    for step in range(8):
        branch = f"br{step}"
        action = rng.choice(["add", "add", "branch", "drop", "gc"])
        if action == "add":
            name = rng.choice(dirs)
            shutil.rmtree(repo / name, ignore_errors=True)
            _put(repo, _files(rng, rng.randrange(3, 15), name))
            write(repo / "m.bin", rng.randbytes(rng.randrange(10, 3000)))
            assert mvm(repo, "add", "-q", name, "m.bin") == 0
            git(repo, "commit", "-qm", f"step {step}")
        elif action == "branch":  # a side branch with its own versions
            git(repo, "checkout", "-q", "-b", branch)
            _put(repo, _files(rng, 8, "side"))
            assert mvm(repo, "add", "-q", "side") == 0
            git(repo, "commit", "-qm", f"side {step}")
            git(repo, "checkout", "-q", "-")
            assert mvm(repo, "checkout") == 0
        elif action == "drop":  # every side branch goes, and what only it named
            for b in git(repo, "branch", "--format=%(refname:short)").split():
                if b.startswith("br"):
                    git(repo, "branch", "-q", "-D", b)
            git(repo, "reflog", "expire", "--expire=now", "--all")
        else:
            _age_everything(repo)
            assert mvm(repo, "gc") == 0
            assert_cache_sound(repo)
        named_by_history(repo)
    _age_everything(repo)
    assert mvm(repo, "gc") == 0
    assert_cache_sound(repo)
    named = named_by_history(repo)
    assert set(cache_objects(repo)) >= named
