"""Fixtures shared by the remote-store tests: loopback servers reached without a proxy, and
a fault-injecting HTTP store server (`server`; test_lfs.py has its own, a Git LFS server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faultserver import FaultServer


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FaultServer]:
    with FaultServer(tmp_path / "http-root") as s:
        yield s
