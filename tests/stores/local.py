"""Contract-suite factory for the local directory store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gitmv.remotes.base import Store, open_store


@contextmanager
def make_store(tmp_path: Path) -> Iterator[Store]:
    root = tmp_path / "store"
    root.mkdir()
    yield open_store("contract", str(root))
