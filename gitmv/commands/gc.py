from __future__ import annotations

import sys

from gitmv import ui
from gitmv.commands import human_size, print_json
from gitmv.fsutil import repo_lock
from gitmv.gc import collect
from gitmv.workspace import Workspace


def run(dry_run: bool, json: bool) -> int:
    ws = Workspace.open()
    with repo_lock(ws.lock_path):
        result = collect(ws, dry_run)
    freed = sum(size for _, size in result.deleted)
    if json:
        print_json({"dry_run": dry_run, "kept": result.kept, "freed_bytes": freed,
                    "deleted": [f"sha256:{o}" for o, _ in result.deleted]})
        return 0
    if ui.level > ui.NORMAL or dry_run:
        for oid, size in result.deleted:
            sys.stdout.write(f"{'would delete' if dry_run else 'deleted'}: sha256:{oid} "
                             f"({human_size(size)})\n")
    verb = "would free" if dry_run else "freed"
    ui.info(f"{verb} {human_size(freed)} in {len(result.deleted)} object(s); "
            f"kept {result.kept}")
    return 0
