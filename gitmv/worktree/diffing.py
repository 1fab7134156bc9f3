"""Artifacts at a revision or in the work tree, and what changed between two such states."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, NamedTuple

from gitmv import ui
from gitmv.errors import GitMvmError
from gitmv.objects import manifest
from gitmv.objects.hashing import hash_bytes
from gitmv.objects.manifest import Entry
from gitmv.objects.pointer import Pointer, artifact_path, is_pointer_data, pointer_path
from gitmv.worktree.workspace import Workspace, diff_entries


class State(NamedTuple):
    """An artifact as one side of a diff sees it."""

    pointer: Pointer
    entries: Sequence[Entry] | None  # directory contents when known


def pointers_at(ws: Workspace, rev: str, paths: Sequence[str] = ()) -> dict[str, Pointer]:
    """Every artifact's pointer in the tree of `rev` (read from git objects, no checkout);
    with `paths` (artifact paths), only theirs: in a blobless mirror (worktree.mirror) each
    pointer read is a blob fetched."""
    if paths:
        blobs = {p: b for p, b in ws.repo.tree_blobs(rev, [pointer_path(a) for a in paths])
                 .items() if artifact_path(p) in paths}
    else:
        blobs = ws.repo.pointers_at(rev)
    paths = sorted(blobs)
    result: dict[str, Pointer] = {}
    for path, data in zip(paths, ws.repo.read_blobs([blobs[p] for p in paths]), strict=True):
        if not is_pointer_data(data):
            continue  # data named `*.mvm`, not a pointer
        try:
            result[artifact_path(path)] = Pointer.parse(data, f"{rev}:{path}")
        except GitMvmError as exc:
            ui.warn(str(exc))
    return result


def states_at(ws: Workspace, rev: str) -> dict[str, State]:
    return {p: State(ptr, _manifest(ws, ptr)) for p, ptr in pointers_at(ws, rev).items()}


def states_in_workspace(ws: Workspace) -> dict[str, State]:
    """What `git mvm add` would record now: the work tree's bytes, else the pointer."""
    out: dict[str, State] = {}
    unmerged = ws.unmerged()
    for a in ws.artifacts():
        if a.path in unmerged:
            continue  # neither side yet: `conflicts_in_workspace` names it
        if a.pointer is None:
            ui.warn(str(a.error))
            continue
        ptr = a.pointer
        abspath = ws.repo.abs(a.path)
        if ptr.kind == "dir" and os.path.isdir(abspath) and not os.path.islink(abspath):
            entries, rows = ws.scan_dir(a.path, store=False)
            if rows:
                ws.state.put_many(rows)
            oid = hash_bytes(manifest.dump(entries))
            size = sum(e.size for e in entries)
            out[a.path] = State(ptr._replace(oid=oid, size=size, files=len(entries)), entries)
        elif ptr.kind == "file" and os.path.isfile(abspath):
            oid = ws.current_file_oid(abspath, os.stat(abspath))
            size = os.path.getsize(abspath)
            out[a.path] = State(ptr._replace(oid=oid, size=size, files=None), None)
        else:
            out[a.path] = State(ptr, _manifest(ws, ptr))
    return out


def conflicts_in_workspace(ws: Workspace) -> list[dict[str, Any]]:
    """Artifacts whose pointer is unmerged, each with the command that finishes it."""
    return [{"path": rel, "kind": ws.conflict_status(a).kind, "sides": sorted(
                {1: "base", 2: "ours", 3: "theirs"}[n] for n in ws.unmerged()[rel]),
             "resolve": f"git mvm resolve {rel} --ours|--theirs|--union"}
            for a in ws.artifacts() if (rel := a.path) in ws.unmerged()]


def _manifest(ws: Workspace, ptr: Pointer) -> Sequence[Entry] | None:
    if ptr.kind != "dir" or not ws.cache.has(ptr.oid):
        return None
    try:
        return ws.cache.read_manifest(ptr.oid, f"manifest {ptr.oid_str}")
    except GitMvmError as exc:
        ui.warn(str(exc))
        return None


def _brief(path: str, ptr: Pointer) -> dict[str, Any]:
    d: dict[str, Any] = {"path": path, "kind": ptr.kind, "oid": ptr.oid_str, "size": ptr.size}
    if ptr.kind == "dir":
        d["files"] = ptr.files
    return d


def diff_states(old: dict[str, State], new: dict[str, State]) -> dict[str, list[dict[str, Any]]]:
    added = [_brief(p, new[p].pointer) for p in sorted(new.keys() - old.keys())]
    removed = [_brief(p, old[p].pointer) for p in sorted(old.keys() - new.keys())]
    modified = []
    for p in sorted(old.keys() & new.keys()):
        a, b = old[p], new[p]
        if (a.pointer.kind, a.pointer.oid) == (b.pointer.kind, b.pointer.oid):
            continue
        item: dict[str, Any] = {
            "path": p,
            "kind": b.pointer.kind,
            "old_oid": a.pointer.oid_str,
            "new_oid": b.pointer.oid_str,
            "old_size": a.pointer.size,
            "new_size": b.pointer.size,
            "size_delta": b.pointer.size - a.pointer.size,
        }
        if a.pointer.kind == "dir" and b.pointer.kind == "dir":
            if a.entries is not None and b.entries is not None:
                changes = diff_entries(a.entries, b.entries)
                item["files"] = {
                    k: [{"path": f, "old_size": o, "new_size": n, "size_delta": n - o}
                        for f, o, n in v]
                    for k, v in changes.items()
                }
            else:
                item["files"] = None  # a manifest is not in the cache
        modified.append(item)
    return {"added": added, "removed": removed, "modified": modified}
