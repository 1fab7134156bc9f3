"""A directory store's named files (packs, indexes, the layout file): on the cache's file
system the pack is hard-linked in, not written twice; across file systems it is copied; either
way the store holds `src`'s bytes, read-only, durable under their name, and no temp file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gitmv.fsutil import is_tmp_name
from gitmv.remotes.local import LocalStore

SHM = Path("/dev/shm")


def _put_and_check(src_dir: Path, store_root: Path) -> None:
    data = os.urandom(3 << 20) + b"tail"
    src = src_dir / "pack.tmp"
    src.write_bytes(data)
    store = LocalStore("store", str(store_root), str(store_root))
    held = store.put_named("packs/pack-x.pack", str(src))
    src.unlink()  # the caller removes its temp file; the store's copy stays
    dest = store_root / "packs" / "pack-x.pack"
    assert held.size == len(data)
    assert dest.read_bytes() == data
    assert stat.S_IMODE(dest.stat().st_mode) & 0o222 == 0, "a stored pack is read-only"
    assert dest.stat().st_nlink == 1
    assert not [n for n in os.listdir(dest.parent) if is_tmp_name(n)]
    assert store.read_named("packs/pack-x.pack", 5, 10) == data[5:15]


def test_put_named_on_the_same_file_system(tmp_path: Path) -> None:
    (tmp_path / "cache").mkdir()
    _put_and_check(tmp_path / "cache", tmp_path / "store")


@pytest.mark.skipif(not SHM.is_dir() or not os.access(SHM, os.W_OK),
                    reason="no second file system (/dev/shm) to copy across")
def test_put_named_across_file_systems(tmp_path: Path) -> None:
    other = Path(os.environ.get("GITMV_TEST_OTHER_FS", str(SHM))) / f"mvm-{os.getpid()}"
    other.mkdir()
    try:
        if os.stat(other).st_dev == os.stat(tmp_path).st_dev:
            pytest.skip("/dev/shm is on the test directory's file system")
        _put_and_check(other, tmp_path / "store")
    finally:
        for p in other.iterdir():
            p.unlink()
        other.rmdir()
