"""get: write one registered version's bytes anywhere, without a checkout (deployments)."""

from __future__ import annotations

import os
import shutil

from gitmv import ui
from gitmv.commands.output import print_json
from gitmv.errors import WouldOverwrite
from gitmv.fsutil import remove_file, tmp_name
from gitmv.objects import manifest
from gitmv.objects.pointer import Pointer
from gitmv.registry import read as registry
from gitmv.registry import write as rw
from gitmv.worktree.diffing import pointers_at
from gitmv.worktree.workspace import Workspace

MODES = ("reflink", "copy")  # both hash the object while placing it


def _fetch(ws: Workspace, ptr: Pointer, remote: str | None) -> None:
    if ws.in_cache(ptr, thorough=True):
        return
    from gitmv.remotes import base as remotes
    from gitmv.transfer.sync import fetch_pointers

    store = remotes.resolve(ws.repo, ws.config, remote=remote)
    r = fetch_pointers(ws, store, [ptr], ws.jobs)
    ws.flush()
    ui.info(f"fetched {ui.plural(len(r.transferred), 'object')} from {store.name}")


def _write_file(ws: Workspace, oid: str, dest: str) -> None:
    ws.cache.link_out(oid, dest, MODES, executable=False)


def _write_dir(ws: Workspace, ptr: Pointer, dest: str) -> None:
    entries = ws.cache.read_manifest(ptr.oid, f"manifest {ptr.oid_str}")
    parent = os.path.dirname(dest) or "."
    tmp = tmp_name(parent)
    os.mkdir(tmp)
    try:
        dirs = {posix.rpartition("/")[0] for posix in (e.path for e in entries)}
        for d in sorted(x for x in dirs if x):
            os.makedirs(os.path.join(tmp, d), exist_ok=True)
        links = {e.path: ws.cache.read_bytes(e.oid).decode("utf-8", "surrogateescape")
                 for e in entries if e.mode == "link"}
        manifest.check_links(links, f"manifest {ptr.oid_str}")  # through each other, too
        for path, target in links.items():
            os.symlink(target, os.path.join(tmp, path))
        files = [e for e in entries if e.mode != "link"]
        ws.parallel(lambda e: ws.cache.link_out(e.oid, os.path.join(tmp, e.path), MODES,
                                                executable=e.mode == "755"), files,
                    size=lambda e: e.size)
        if os.path.lexists(dest):
            old = tmp_name(parent)
            os.rename(dest, old)
            os.rename(tmp, dest)
            _remove(old)
        else:
            os.rename(tmp, dest)
    except BaseException:
        _remove(tmp)
        raise


def _refuse_replacing_home(ws: Workspace, dest: str) -> None:
    """A directory artifact replaces `dest` whole: never the directory we are in or the
    repository (or one holding them), which --force would otherwise delete."""
    real = os.path.realpath(dest)
    for what, where in (("the repository", ws.repo.root), ("the current directory", os.getcwd())):
        if os.path.commonpath([real, os.path.realpath(where)]) == real:
            raise WouldOverwrite(
                f"{dest} holds {what}: the model directory would replace it, deleting it",
                "-o names the directory the model becomes: choose a new or a model's own one")


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        remove_file(path)


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
    dest = os.path.abspath(output or os.path.basename(path))
    if ptr.kind == "file" and os.path.isdir(dest) and not os.path.islink(dest):
        dest = os.path.join(dest, os.path.basename(path))
    if os.path.lexists(dest) and not force:
        raise WouldOverwrite(f"{dest} already exists",
                             "choose another -o PATH, or replace it with --force")
    if ptr.kind == "dir" and os.path.isdir(dest) and not os.path.islink(dest):
        _refuse_replacing_home(ws, dest)
    _fetch(ws, ptr, remote)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if ptr.kind == "file":
        if os.path.isdir(dest) and not os.path.islink(dest):
            raise WouldOverwrite(f"{dest} is a directory", "choose another -o PATH")
        _write_file(ws, ptr.oid, dest)
    else:
        _write_dir(ws, ptr, dest)
    shown = os.path.relpath(dest) if not os.path.relpath(dest).startswith("..") else dest
    if json:
        print_json({"model": v.model, "version": v.version, "tag": v.tag, "commit": v.commit,
                    "oid": ptr.oid_str, "kind": ptr.kind, "size": ptr.size, "path": shown})
    else:
        ui.info(f"{v.model} {v.version} ({ptr.oid_str[:19]}…, commit {v.commit[:12]}) -> "
                f"{shown}")
    return 0
