from __future__ import annotations

import sys

from gitmv import ui
from gitmv.commands.output import print_json
from gitmv.transfer.gc import collect
from gitmv.ui import human_size
from gitmv.worktree.workspace import Workspace


def run(dry_run: bool, remote: str | None, json: bool, force: bool = False,
        forget_clone: list[str] | None = None) -> int:
    ws = Workspace.open()
    if remote is not None:
        from gitmv.remotes import base as remotes
        from gitmv.transfer.gc import collect_remote

        store = remotes.resolve(ws.repo, ws.config, remote=remote or None)
        result = collect_remote(ws, store, dry_run, force)
    else:
        result = collect(ws, dry_run, force, forget_clone or [])
    freed = sum(size for _, size in result.deleted) + sum(size for _, size, _ in result.packs)
    partial = sum(size for _, size in result.partials)
    if json:
        print_json({"dry_run": dry_run, "kept": result.kept, "freed_bytes": freed + partial,
                    "deleted": [f"sha256:{o}" for o, _ in result.deleted],
                    "partial_downloads": [f"sha256:{o}" for o, _ in result.partials],
                    "packs": [{"pack": p, "bytes": size, "objects": n,
                               "repacked": p in result.repacked}
                              for p, size, n in result.packs],
                    "store_temps": {"removed": result.temps[0], "bytes": result.temps[1]}})
        return 0
    if ui.level > ui.NORMAL or dry_run:
        for oid, size in result.deleted:
            sys.stdout.write(f"{'would delete' if dry_run else 'deleted'}: sha256:{oid} "
                             f"({human_size(size)})\n")
        for pack_id, size, n in result.packs:
            if pack_id in result.repacked:
                sys.stdout.write(f"{'would repack' if dry_run else 'repacked'}: pack "
                                 f"{pack_id[:12]} ({human_size(size)} freed, "
                                 f"{ui.plural(n, 'object')} nothing needs; the rest moved to a "
                                 "new pack)\n")
                continue
            sys.stdout.write(f"{'would delete' if dry_run else 'deleted'}: pack {pack_id[:12]} "
                             f"({human_size(size)}, {ui.plural(n, 'object')} nothing needs)\n")
    verb = "would free" if dry_run else "freed"
    objects = len(result.deleted) + sum(n for _, _, n in result.packs)
    packs = f" ({ui.plural(len(result.packs), 'pack')})" if result.packs else ""
    ui.info(f"{verb} {human_size(freed)} in {ui.plural(objects, 'object')}{packs}; "
            f"kept {result.kept}")
    if result.temps[0]:
        ui.info(f"removed {ui.plural(result.temps[0], 'dead upload temp file')} "
                f"({human_size(result.temps[1])}) from the store")
    if result.partials:
        ui.info(f"{verb} {human_size(partial)} in "
                f"{ui.plural(len(result.partials), 'interrupted download')} of objects nothing "
                "needs")
    return 0
