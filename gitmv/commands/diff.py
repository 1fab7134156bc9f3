from __future__ import annotations

import sys
from typing import Any

from gitmv.commands.output import print_json
from gitmv.ui import signed_size
from gitmv.worktree.diffing import (
    conflicts_in_workspace,
    diff_states,
    states_at,
    states_in_workspace,
)
from gitmv.worktree.workspace import Workspace

MAX_FILES_SHOWN = 20


def run(a: str | None, b: str | None, json: bool) -> int:
    ws = Workspace.open()
    old = states_at(ws, a or "HEAD")
    new = states_at(ws, b) if b else states_in_workspace(ws)
    conflicts = conflicts_in_workspace(ws) if not b else []
    for c in conflicts:  # neither removed nor modified: not decided yet
        old.pop(c["path"], None)
    result = diff_states(old, new)
    if conflicts:  # (the key only then: the JSON of a diff without conflicts is unchanged)
        result["conflict"] = conflicts
    ws.state.close()
    if json:
        print_json(result)
        return 0
    out: list[str] = []
    for it in conflicts:
        out.append(f"conflict: {it['path']}  (both sides changed it: {it['resolve']})")
    for it in result["added"]:
        out.append(f"added:    {it['path']}  {signed_size(it['size'])}{_files(it)}")
    for it in result["removed"]:
        out.append(f"removed:  {it['path']}  {signed_size(-it['size'])}{_files(it)}")
    for it in result["modified"]:
        out.append(f"modified: {it['path']}  {signed_size(it['size_delta'])}")
        files = it.get("files")
        if files:
            shown = 0
            for kind in ("added", "removed", "modified"):
                for f in files[kind]:
                    if shown < MAX_FILES_SHOWN:
                        out.append(f"    {kind + ':':9} {it['path']}/{f['path']}  "
                                   f"{signed_size(f['size_delta'])}")
                    shown += 1
            if shown > MAX_FILES_SHOWN:
                out.append(f"    … and {shown - MAX_FILES_SHOWN} more (--json lists all)")
        elif it["kind"] == "dir" and files is None:
            out.append("    (file list unknown: a manifest is not in the cache)")
    if out:
        sys.stdout.write("\n".join(out) + "\n")
    return 0


def _files(it: dict[str, Any]) -> str:
    return f" ({it['files']} files)" if it.get("kind") == "dir" else ""
