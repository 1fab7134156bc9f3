"""`open` streams a 1 GiB artifact with flat memory: from the cache (first read hashes it
whole, later ones are vouched for by the stat cache) and from a directory store (fetched and
verified into the cache first). Each read runs in a fresh process that reports its peak
resident set (scripts/benchmarks/api_read.py, which the benchmark runs too)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import big_file, git, git_ok, mvm, object_path

ROOT = Path(__file__).resolve().parents[2]
READER = ROOT / "scripts" / "benchmarks" / "api_read.py"
MIB = 1024
FLAT = 64 << 20  # bytes of growth allowed while reading 1 GiB


def read_in_a_process(repo: Path, path: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(READER), str(repo), path, str(1 << 20)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@pytest.mark.slow
def test_open_streams_a_1_gib_artifact_with_flat_memory(tmp_path: Path) -> None:
    repo = tmp_path / "big"
    repo.mkdir()
    try:
        git(repo, "init", "-q")
        assert mvm(repo, "init", "-q", "--no-hooks") == 0
        oid = big_file(repo / "model.bin", MIB)
        assert mvm(repo, "add", "-q", "model.bin") == 0
        git_ok(repo, "add", "-A")
        git_ok(repo, "commit", "-q", "-m", "a 1 GiB model")
        os.unlink(repo / "model.bin")  # the cache's copy is what is read
        for how in ("cache, first read", "cache, vouched"):
            r = read_in_a_process(repo, "model.bin")
            assert (r["bytes"], r["sha256"]) == (MIB << 20, oid), how
            assert r["rss_peak"] - r["rss_before"] < FLAT, (how, r)
        assert mvm(repo, "remote", "add", "-q", "-d", "store", str(tmp_path / "store")) == 0
        assert mvm(repo, "push", "-q") == 0
        obj = object_path(repo, oid)
        obj.unlink()
        r = read_in_a_process(repo, "model.bin")
        assert (r["bytes"], r["sha256"]) == (MIB << 20, oid)
        assert r["rss_peak"] - r["rss_before"] < FLAT, r
        assert obj.exists()  # fetched into the cache, then read from it
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)
