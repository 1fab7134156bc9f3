"""A sparse file (1 GiB, a few MiB of data) stays sparse: in the cache after `add`, and in the
work tree after `checkout`, where the file system keeps holes (tmpfs, ext4, xfs, btrfs do)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.helpers import cache_objects, mvm_proc

GIB = 1 << 30


def _sparse(path: Path) -> str:
    """1 GiB with 3 x 1 MiB of data (start, middle, end) and holes between; its sha256."""
    with open(path, "wb") as f:
        for at in (0, GIB // 2, GIB - (1 << 20)):
            f.seek(at)
            f.write(os.urandom(1 << 20))
        f.truncate(GIB)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def _allocated(path: Path) -> int:
    return os.stat(path).st_blocks * 512


@pytest.mark.slow
def test_a_sparse_file_stays_sparse(repo: Path) -> None:
    model = repo / "big.bin"
    digest = _sparse(model)
    if _allocated(model) > 64 << 20:
        pytest.skip("this file system keeps no holes")
    proc = mvm_proc(repo, "add", "big.bin")
    assert proc.returncode == 0, proc.stderr
    obj = cache_objects(repo)[digest]
    assert _allocated(obj) < 64 << 20, _allocated(obj)
    model.unlink()
    proc = mvm_proc(repo, "checkout")
    assert proc.returncode == 0, proc.stderr
    assert model.stat().st_size == GIB
    assert _allocated(model) < 64 << 20, _allocated(model)
    proc = mvm_proc(repo, "status")  # and its bytes are the same
    assert proc.returncode == 0 and "modified" not in proc.stdout, proc.stdout
