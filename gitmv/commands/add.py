from __future__ import annotations

from gitmv import ui
from gitmv.commands.output import report_failures
from gitmv.errors import GitMvmError, UsageError
from gitmv.fsutil import repo_lock
from gitmv.ui import human_size
from gitmv.worktree.workspace import Workspace


def parse_meta(items: list[str]) -> dict[str, str]:
    meta: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--meta {item!r}: expected KEY=VALUE", "e.g. --meta author=ana")
        meta[key.strip()] = value
    return meta


def run(paths: list[str], meta: list[str], jobs: int | None) -> int:
    ws = Workspace.open(jobs=jobs)
    metadata = parse_meta(meta)
    failures: list[tuple[str, GitMvmError]] = []
    with repo_lock(ws.lock_path):
        ws.clean_tmp()
        rels: list[str] = []
        for p in ws.expand(paths):
            try:
                rels.append(ws.to_rel(p))
            except GitMvmError as exc:
                failures.append((p, exc))
        done, more = ws.add_many(list(dict.fromkeys(rels)), metadata)
        failures += more
        for rel, ptr, changed in done:
            files = f", {ptr.files} files" if ptr.kind == "dir" else ""
            verb = "added" if changed else "unchanged"
            ui.info(f"{verb}: {rel} ({human_size(ptr.size)}{files})")
    ws.state.close()
    return report_failures(failures)
