from __future__ import annotations

import sys
from typing import Any

from gitmv.commands.output import print_json, report_failures, table
from gitmv.errors import GitMvmError
from gitmv.ui import human_size
from gitmv.worktree.diffing import pointers_at
from gitmv.worktree.workspace import Workspace


def run(rev: str | None, json: bool) -> int:
    ws = Workspace.open()
    failures: list[tuple[str, GitMvmError]] = []
    if rev:
        pointers = pointers_at(ws, rev)
    else:
        arts = ws.artifacts()
        pointers = {a.path: a.pointer for a in arts if a.pointer is not None}
        failures = [(a.path, a.error) for a in arts if a.error is not None]
    items: list[dict[str, Any]] = []
    for path in sorted(pointers):
        ptr = pointers[path]
        items.append({
            "path": path,
            "kind": ptr.kind,
            "size": ptr.size,
            "files": ptr.files if ptr.kind == "dir" else 1,
            "oid": ptr.oid_str,
            "in_cache": ws.in_cache(ptr, thorough=True),
            "meta": ptr.meta,
        })
    if json:
        print_json(items)
        return report_failures(failures)
    rows = [("KIND", "SIZE", "FILES", "OID", "CACHE", "PATH")]
    for it in items:
        rows.append((it["kind"], human_size(it["size"]), str(it["files"]), it["oid"][7:19],
                     "yes" if it["in_cache"] else "no", it["path"]))
    if items:
        sys.stdout.write(table(rows))
    return report_failures(failures)
