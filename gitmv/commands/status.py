from __future__ import annotations

import sys

from gitmv.commands import print_json, table
from gitmv.workspace import Workspace


def run(paths: list[str], json: bool, jobs: int | None) -> int:
    ws = Workspace.open(jobs=jobs)
    sels = ws.select(paths or None)
    results = [ws.status(s) for s in sels]
    ws.state.close()
    if json:
        print_json([r._asdict() for r in results])
        return 0
    if not results:
        sys.stdout.write("no artifacts tracked by gitmv (`git mvm add PATH` starts)\n")
        return 0
    rows = []
    for r in results:
        state = r.state if r.in_cache or r.state == "not in cache" else f"{r.state}, not in cache"
        rows.append((f"{state}:", r.path, f"({r.detail})" if r.detail else ""))
    sys.stdout.write(table(rows))
    return 0
