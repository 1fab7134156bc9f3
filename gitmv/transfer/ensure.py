"""Making sure an artifact's objects are in the cache before they are read or written out:
fetched from the store (verified as they arrive) when they are not (`get`, the Python API)."""

from __future__ import annotations

from collections.abc import Sequence

from gitmv import ui
from gitmv.objects.pointer import Pointer
from gitmv.worktree.workspace import Workspace


def ensure_cached(ws: Workspace, pointers: Sequence[Pointer], remote: str | None = None) -> int:
    """Fetch what the cache lacks of these artifacts from the store (`remote`, else the one a
    fetch would use); the number of objects fetched. A failure is the fetch's error."""
    wanted = [p for p in pointers if not ws.in_cache(p, thorough=True)]
    if not wanted:
        return 0
    from gitmv.remotes import base as remotes
    from gitmv.transfer.sync import fetch_pointers

    store = remotes.resolve(ws.repo, ws.config, remote=remote)
    r = fetch_pointers(ws, store, wanted, ws.jobs)
    ws.flush()
    ui.info(f"fetched {ui.plural(len(r.transferred), 'object')} from {store.name}")
    return len(r.transferred)
