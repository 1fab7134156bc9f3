from __future__ import annotations

import sys

from gitmv.commands import print_json, report_failures, table
from gitmv.workspace import Workspace


def run(paths: list[str], json: bool, jobs: int | None) -> int:
    ws = Workspace.open(jobs=jobs)
    sels = ws.select(paths or None)
    results = [ws.status(s) for s in sels]
    ws.state.close()
    # An unreadable pointer is bad input: listed with the others, then reported (exit 1).
    failures = [(s.artifact.path, s.artifact.error) for s in sels if s.artifact.error]
    if json:
        print_json([r._asdict() for r in results])
        return report_failures(failures)
    if not results:
        sys.stdout.write("no artifacts tracked by gitmv (`git mvm add PATH` starts)\n")
        return 0
    rows = []
    for r in results:
        state = r.state
        if not r.in_cache and r.state not in ("not in cache", "invalid pointer"):
            state = f"{r.state}, not in cache"
        rows.append((f"{state}:", r.path, f"({r.detail})" if r.detail else ""))
    sys.stdout.write(table(rows))
    return report_failures(failures)
