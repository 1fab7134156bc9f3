from __future__ import annotations

import os
import sys
from typing import Any

from gitmv.commands.output import print_json, report_failures, table
from gitmv.errors import FormatError
from gitmv.objects.pointer import SUFFIX
from gitmv.worktree.workspace import Status, Workspace


def _shown(ws: Workspace, rel: str) -> str:
    """A path as git prints it: relative to the current directory."""
    return os.path.relpath(ws.repo.abs(rel)).replace(os.sep, "/")


def _next_step(ws: Workspace, results: list[Status]) -> None:
    """What brings missing artifacts back: after a plain `git clone` (no hooks, nothing
    cached) the install too. Exit stays 0, as `git status` and `dvc status` exit."""
    from gitmv import ui

    missing = [r for r in results if r.state in ("missing", "not in cache")]
    if not missing:
        return
    if any(not r.in_cache for r in missing):
        from gitmv.hooks.install import HOOKS, hook_state

        state = hook_state(ws.repo)
        if len(state.missing) == len(HOOKS) and not state.custom:
            ui.info("hint: this clone has no gitmv hooks (a plain `git clone`): run "
                    "`git mvm install && git mvm pull`")
        else:
            ui.info("hint: `git mvm pull` fetches the missing bytes and checks them out")
    else:
        ui.info("hint: `git mvm checkout` puts the cached bytes in place")


def run(paths: list[str], remote: str | None, json: bool, jobs: int | None) -> int:
    ws = Workspace.open(jobs=jobs)
    sels = ws.select(paths or None)
    from gitmv.worktree.checkout import follow_renames, say_unstaged_ignores

    say_unstaged_ignores(follow_renames(ws, [s.artifact for s in sels]))  # `git mv` of pointers
    results = [ws.status(s) for s in sels]
    on_remote: dict[str, bool] = {}
    store_name = ""
    if remote is not None:
        from gitmv.remotes import base as remotes
        from gitmv.transfer.sync import not_on_remote

        store = remotes.resolve(ws.repo, ws.config, remote=remote or None)
        store_name = store.name
        for s in sels:
            ptr = s.artifact.pointer
            if ptr is not None:
                on_remote[s.artifact.path] = not not_on_remote(ws, store, [ptr])
    ws.state.close()
    # An unreadable pointer, or one whose sizes contradict its bytes, is bad input: listed
    # with the others, then reported (exit 1).
    failures = [(s.artifact.path, s.artifact.error) for s, r in zip(sels, results, strict=True)
                if s.artifact.error and r.state != "conflict"]
    failures += [(r.path, FormatError(
        f"{r.path}{SUFFIX}", r.detail,
        f"restore it with `git checkout -- {r.path}{SUFFIX}`, or re-create it with "
        f"`git mvm add {r.path}`")) for s, r in zip(sels, results, strict=True)
        if r.state == "invalid pointer" and not s.artifact.error]
    if json:
        items: list[dict[str, Any]] = []
        for r in results:
            item: dict[str, Any] = r._asdict()
            if remote is not None:
                item["on_remote"] = on_remote.get(r.path)
            items.append(item)
        print_json(items)
        return report_failures(failures)
    if not results:
        sys.stdout.write("no artifacts tracked by gitmv (`git mvm add PATH` starts)\n")
        return 0
    rows = []
    for r in results:
        state = r.state
        if not r.in_cache and r.state not in ("not in cache", "invalid pointer", "conflict"):
            state = f"{r.state}, not in cache"
        if remote is not None and not on_remote.get(r.path, True):
            state += f", not on {store_name}"
        rows.append((f"{state}:", _shown(ws, r.path), f"({r.detail})" if r.detail else ""))
    sys.stdout.write(table(rows))
    if any(r.state == "conflict" for r in results):
        from gitmv import ui

        ui.info("hint: a merge left these pointers in conflict; `git mvm resolve PATH --ours`, "
                "`--theirs` or `--union` picks a version, stages it and checks out its bytes")
    _next_step(ws, results)
    if remote is not None and not all(on_remote.values()):
        from gitmv import ui

        ui.info(f"hint: `git mvm push {store_name}` uploads them; `--full` also re-checks the "
                "files of directories whose manifest is already there")
    return report_failures(failures)
