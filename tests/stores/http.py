"""Contract-suite factory for the plain HTTP store: a loopback object server (tests/faultserver.py)
that speaks the WebDAV subset nginx does, so listing and deleting are covered too."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gitmv.remotes.base import Store, open_store
from tests.faultserver import FaultServer


@contextmanager
def make_store(tmp_path: Path) -> Iterator[Store]:
    with FaultServer(tmp_path / "http-root", create_parents=False) as server:
        store = open_store("contract", f"{server.url}/store", {"webdav": True})
        try:
            yield store
        finally:
            store.close()  # type: ignore[attr-defined]
