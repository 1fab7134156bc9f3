"""Which view of a store a command works through: its packs where it keeps them (store layout
2, transfer/packed.py), else the store as it is. Its own module so that sync, audit and gc
share it without importing each other."""

from __future__ import annotations

from gitmv.remotes.base import Store
from gitmv.worktree.workspace import Workspace


def packed_view(ws: Workspace, store: Store) -> Store:
    """The store as this command reads and writes it: through its packs where it keeps
    them (transfer/packed.py)."""
    from gitmv.transfer import packed, packpull, packpush

    settings = ws.config.get(f"remote.{store.name}")
    return packed.of(store, ws.repo.common_dir, ws.cache,
                     settings if isinstance(settings, dict) else {},
                     packpush.push_objects, packpull.fetch_objects)
