"""get: write one registered version's bytes anywhere, without a checkout (deployments)."""

from __future__ import annotations

import os

from gitmv import ui
from gitmv.commands.output import print_json
from gitmv.errors import WouldOverwrite
from gitmv.registry import read as registry
from gitmv.registry import write as rw
from gitmv.transfer.ensure import ensure_cached
from gitmv.worktree.diffing import pointers_at
from gitmv.worktree.export import check_destination, destination, write_artifact
from gitmv.worktree.workspace import Workspace


def run(spec: str, output: str | None, force: bool, remote: str | None, json: bool,
        jobs: int | None) -> int:
    ws = Workspace.open(jobs=jobs, bare_ok=True)
    reg = registry.load(ws)
    v = reg.resolve(spec)
    deprecated = reg.model(v.model).deprecated
    if deprecated is not None:
        ui.warn(f"model {v.model} is deprecated ({deprecated.tag}, {deprecated.date[:10]}"
                f"{': ' + deprecated.subject if deprecated.subject else ''})")
    model = reg.model(v.model)
    recorded = v.summary.get("path")
    path = recorded if isinstance(recorded, str) else rw.model_path(ws, model, None)
    if pointers_at(ws, v.commit).get(path) is None:  # GTO's: a file in git, a DVC output
        from gitmv.registry import foreign

        dest = os.path.abspath(output or os.path.basename(path))
        if os.path.isdir(dest) and not os.path.islink(dest):
            dest = os.path.join(dest, os.path.basename(path))
        if os.path.lexists(dest) and not force:
            raise WouldOverwrite(f"{dest} already exists",
                                 "choose another -o PATH, or replace it with --force")
        how = foreign.write_untracked(ws.repo, v.commit, path, dest,
                                      f"cannot get {v.model} {v.version}")
        ui.info(f"{v.model} {v.version} ({how} at commit {v.commit[:12]}) -> "
                f"{os.path.relpath(dest)}")
        return 0
    path, ptr = rw.version_pointer(ws, model, v, f"cannot get {v.model} {v.version}")
    dest = destination(output or os.path.basename(path), os.path.basename(path), ptr.kind)
    check_destination(ws, dest, ptr.kind, force)
    ensure_cached(ws, [ptr], remote)
    write_artifact(ws, ptr, dest)
    shown = os.path.relpath(dest) if not os.path.relpath(dest).startswith("..") else dest
    if json:
        print_json({"model": v.model, "version": v.version, "tag": v.tag, "commit": v.commit,
                    "oid": ptr.oid_str, "kind": ptr.kind, "size": ptr.size, "path": shown})
    else:
        ui.info(f"{v.model} {v.version} ({ptr.oid_str[:19]}…, commit {v.commit[:12]}) -> "
                f"{shown}")
    return 0
