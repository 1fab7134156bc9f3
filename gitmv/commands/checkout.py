from __future__ import annotations

from gitmv import ui
from gitmv.commands.output import report_failures
from gitmv.fsutil import repo_lock
from gitmv.worktree.checkout import checkout_many
from gitmv.worktree.workspace import Workspace


def run(paths: list[str], force: bool, jobs: int | None) -> int:
    ws = Workspace.open(jobs=jobs)
    with repo_lock(ws.lock_path):
        ws.clean_tmp()
        results, failures = checkout_many(ws, ws.select(paths or None), force)
    ws.state.close()
    for r in results:
        if r.written or r.removed:
            removed = f", {r.removed} removed" if r.removed else ""
            ui.info(f"checked out: {r.path} ({r.written} written{removed})")
        else:
            ui.debug(f"up to date: {r.path}")
    return report_failures(failures)
