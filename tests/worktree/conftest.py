"""File systems the work-tree tests mount: a small tmpfs (a disk that fills up), a read-only
one, and an ext4 image with 128-byte inodes, whose timestamps are whole seconds (the coarse
clocks of FAT, many network shares and older file systems). Each skips where mounting is not
allowed."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def _mount(args: list[str], where: Path) -> None:
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    proc = subprocess.run(["mount", *args, str(where)], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here: {proc.stderr.strip()}")


@pytest.fixture
def mounts() -> Iterator[list[Path]]:
    mounted: list[Path] = []
    yield mounted
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def tmpfs(tmp_path: Path, mounts: list[Path]) -> Callable[..., Path]:
    """Mount a small tmpfs (`ro=True`: read-only) and return where."""

    def mount(size: str, ro: bool = False) -> Path:
        where = tmp_path / f"fs{len(mounts)}"
        where.mkdir()
        options = f"size={size}" + (",ro" if ro else "")
        _mount(["-t", "tmpfs", "-o", options, "tmpfs"], where)
        mounts.append(where)
        return where

    return mount


@pytest.fixture
def coarse_fs(tmp_path: Path, mounts: list[Path]) -> Path:
    """An ext4 file system whose timestamps have a granularity of one second."""
    if shutil.which("mkfs.ext4") is None:
        pytest.skip("no mkfs.ext4")
    image = tmp_path / "coarse.img"
    with open(image, "wb") as f:
        f.truncate(64 << 20)
    proc = subprocess.run(["mkfs.ext4", "-q", "-F", "-I", "128", str(image)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"mkfs.ext4 failed: {proc.stderr.strip()}")
    where = tmp_path / "coarse"
    where.mkdir()
    _mount(["-o", "loop", str(image)], where)
    mounts.append(where)
    probe = where / "probe"
    probe.write_bytes(b"x")
    if probe.stat().st_mtime_ns % 1_000_000_000:
        pytest.skip("this ext4 keeps sub-second timestamps even with 128-byte inodes")
    probe.unlink()
    return where
