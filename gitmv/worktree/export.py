"""Writing an artifact's bytes out of the cache to any path, atomically (`get`, the Python API).

A file is placed by `Cache.link_out` (temp file, hashed while copied, renamed); a directory is
built aside in a temp directory beside the destination and renamed in whole, so a reader sees
the old artifact or the new one, never half of one. Nothing here fetches: the caller makes
sure the objects are cached first (`gitmv.transfer.ensure`).
"""

from __future__ import annotations

import os

from gitmv.errors import GitMvmError, UsageError, WouldOverwrite
from gitmv.fsutil import clean_stale_tmp, remove_stale, swap_in, tmp_name
from gitmv.objects import manifest
from gitmv.objects.pointer import Pointer
from gitmv.worktree.workspace import Workspace

MODES = ("reflink", "copy")  # both hash the object while placing it


def write_file(ws: Workspace, oid: str, dest: str) -> None:
    ws.cache.link_out(oid, dest, MODES, executable=False)


def write_dir(ws: Workspace, ptr: Pointer, dest: str) -> None:
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
        swap_in(tmp, dest)
    except BaseException:
        remove_stale(tmp)
        raise


def refuse_replacing_home(ws: Workspace, dest: str) -> None:
    """A directory artifact replaces `dest` whole: never the directory we are in or the
    repository (or one holding them), which --force would otherwise delete."""
    real = os.path.realpath(dest)
    for what, where in (("the repository", ws.repo.root), ("the current directory", os.getcwd())):
        if os.path.commonpath([real, os.path.realpath(where)]) == real:
            raise WouldOverwrite(
                f"{dest} holds {what}: the model directory would replace it, deleting it",
                "-o names the directory the model becomes: choose a new or a model's own one")


def destination(out: str | None, name: str, kind: str) -> str:
    """Where `out` puts an artifact called `name`: `name` in the current directory when
    there is no `out`; inside `out` when it is a directory (or a symbolic link to one), or
    ends with a slash (made if missing), and the artifact a file (`cp`'s rule); else `out`
    itself. An empty `out` (a variable meant to hold a path) is refused, not taken as the
    current directory."""
    if out is None:
        out = name
    elif not out:
        raise UsageError("the output path is empty (-o '')",
                         "name the file or directory to write, or leave -o out")
    dest = os.path.abspath(out)
    if kind == "file" and (out.endswith(("/", os.sep)) or os.path.isdir(dest)):
        dest = os.path.join(dest, name)
    return dest


def check_destination(ws: Workspace, dest: str, kind: str, force: bool) -> None:
    """Refuse to replace what is at `dest` without `force`, and a directory artifact
    replacing the repository or the current directory even with it."""
    if os.path.lexists(dest) and not force:
        raise WouldOverwrite(f"{dest} already exists",
                             "choose another -o PATH, or replace it with --force")
    check_writable(dest)
    if kind == "dir" and os.path.isdir(dest) and not os.path.islink(dest):
        refuse_replacing_home(ws, dest)


def check_writable(dest: str) -> None:
    """Refuse, before anything is fetched, a `dest` that cannot be made: under a file, or in
    a directory this user may not write (the missing directories on the way are made)."""
    parent = os.path.dirname(dest)
    while not os.path.lexists(parent) and os.path.dirname(parent) != parent:
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise GitMvmError(f"cannot write {dest}: {parent} is not a directory",
                          "choose another -o PATH")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise GitMvmError(f"cannot write {dest}: no permission to write in {parent}",
                          "choose another -o PATH (a directory you may write in)")


def write_artifact(ws: Workspace, ptr: Pointer, dest: str) -> None:
    """The artifact's bytes (all cached) at `dest`, atomically."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    clean_stale_tmp(os.path.dirname(dest))  # what a get killed there (kill -9) left
    if ptr.kind == "file":
        if os.path.isdir(dest) and not os.path.islink(dest):
            raise WouldOverwrite(f"{dest} is a directory", "choose another -o PATH")
        write_file(ws, ptr.oid, dest)
    else:
        write_dir(ws, ptr, dest)
