from __future__ import annotations

import os
import sys

from gitmv import ui
from gitmv.commands.output import print_json
from gitmv.fsutil import repo_lock
from gitmv.worktree.workspace import Workspace


def run(json: bool, jobs: int | None) -> int:
    ws = Workspace.open(jobs=jobs)
    quarantine = os.path.join(ws.repo.mvm_dir, "quarantine")
    with repo_lock(ws.lock_path):
        oids = list(ws.cache.iter_oids())
        ok = ws.parallel(ws.cache.verify, oids)
        corrupt = [oid for oid, good in zip(oids, ok, strict=True) if not good]
        moved = {oid: ws.cache.quarantine(oid, quarantine) for oid in corrupt}
        ws.state.forget_complete()  # objects may have gone missing or been moved aside
    if json:
        print_json({"checked": len(oids),
                    "corrupt": [{"oid": f"sha256:{o}", "moved_to": p} for o, p in moved.items()]})
    else:
        for oid, dest in moved.items():
            sys.stdout.write(f"corrupt: sha256:{oid} (moved to {dest})\n")
        ui.info(f"checked {len(oids)} object(s): {len(corrupt)} corrupt")
        if corrupt:
            ui.info("hint: `git mvm pull` fetches good copies from the remote; "
                    "`git mvm add` re-adds artifacts still intact in the work tree")
    return 1 if corrupt else 0
