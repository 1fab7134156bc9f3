"""scripts/chaos.py checks what it claims: a lost or corrupt object, on the store or in a
clone's cache, and a crash are violations; a seed always makes the same steps."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import chaos  # scripts/ is not a package: found through the path set just above


@pytest.fixture
def world(tmp_path: Path) -> Iterator[chaos.World]:
    w = chaos.make_world(tmp_path / "w", "dir", None)
    for step in (chaos.Step("add-model", "a", 0.0, 1), chaos.Step("commit", "a", 0.0, 2),
                 chaos.Step("push", "a", 0.0, 3), chaos.Step("pull", "b", 0.0, 4)):
        chaos.do_step(w, step)
    yield w


def stored(world: chaos.World) -> list[Path]:
    """The store's files, the largest first (a pack, or a loose object's file)."""
    return sorted((p for p in Path(world.store_url).rglob("*") if p.is_file()),
                  key=lambda p: -p.stat().st_size)


def test_a_sound_world_has_no_violation(world: chaos.World) -> None:
    assert stored(world)
    assert chaos.check(world, full=True) == []


def test_an_object_gone_from_the_store_is_a_violation(world: chaos.World) -> None:
    for path in stored(world):
        path.unlink()
    problems = chaos.check(world, full=True)
    assert any("is not on the store" in p for p in problems), problems


def test_a_corrupt_object_on_the_store_is_a_violation(world: chaos.World) -> None:
    path = stored(world)[0]
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # (same size: what only a hash sees)
    path.write_bytes(bytes(data))
    assert chaos.check(world, full=True)


def test_a_clone_that_lost_an_unpushed_model_is_a_violation(world: chaos.World) -> None:
    chaos.do_step(world, chaos.Step("add-model", "c", 0.5, 9))
    chaos.do_step(world, chaos.Step("commit", "c", 0.0, 10))
    assert chaos.check(world, full=True) == []
    cache = world.clone_dir("c") / ".git" / "mvm" / "objects"
    for path in [p for p in cache.rglob("*") if p.is_file()]:
        path.chmod(0o644)
        path.unlink()
    problems = chaos.check(world, full=True)
    assert any("neither in the cache nor on the store" in p for p in problems), problems


def test_a_crash_is_a_violation(world: chaos.World) -> None:
    world.run([sys.executable, "-c", "print('git mvm: unexpected error; this is a bug in gitmv')"],
              world.base)
    assert any("crashed" in p for p in chaos.check(world, full=False))


def test_a_seed_makes_the_same_steps() -> None:
    assert chaos.make_steps(7, 50) == chaos.make_steps(7, 50)
    assert chaos.make_steps(7, 50) != chaos.make_steps(8, 50)
    assert {s.op for s in chaos.make_steps(1, 2000)} == set(chaos.OPS)
