"""Fixtures shared by the transfer tests: the loopback servers (moto, the fault proxy) are
reached without a proxy, whatever the environment says."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
