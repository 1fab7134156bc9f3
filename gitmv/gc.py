"""Garbage collection that never loses data: drop cache objects nothing can need.

Needed = named by a pointer in any work tree (tracked or not) or index of any worktree, or in
any commit reachable from any ref (branches, tags, remote branches, the stash) or reflog entry,
plus every object listed by a needed directory manifest. Objects younger than `KEEP_SECONDS`
are kept too: a concurrent `add` may be about to write the pointer that names them.
"""

from __future__ import annotations

import os
import time
from typing import NamedTuple

from gitmv.reach import (
    Needed,
    parse_pointers,
    pointer_blobs_in_commits,
    pointer_blobs_in_index,
    work_tree_pointers,
)
from gitmv.workspace import Workspace

KEEP_SECONDS = 3600


class GcResult(NamedTuple):
    kept: int
    deleted: list[tuple[str, int]]  # (oid, size)


def worktree_roots(ws: Workspace) -> list[str]:
    out = ws.repo.git("worktree", "list", "--porcelain", "-z").decode("utf-8", "surrogateescape")
    roots = []
    for field in out.split("\0"):
        if field.startswith("worktree "):
            roots.append(field[len("worktree ") :])
    return roots or [ws.repo.root]


def needed_objects(ws: Workspace) -> Needed:
    repo = ws.repo
    blobs = pointer_blobs_in_commits(repo, ["--all", "--reflog"])
    pointers = parse_pointers(repo, blobs)
    for root in worktree_roots(ws):
        if not os.path.isdir(root):
            continue
        pointers += parse_pointers(repo, pointer_blobs_in_index(repo, cwd=root))
        pointers += work_tree_pointers(root)
        # other worktrees' HEADs and reflogs are theirs: ask each one
        if os.path.realpath(root) != os.path.realpath(repo.root):
            from gitmv.repo import run_git

            head = run_git(["rev-parse", "-q", "--verify", "HEAD"], cwd=root, check=False)
            if head.strip():
                pointers += parse_pointers(
                    repo, pointer_blobs_in_commits(repo, [head.decode().strip()])
                )
    needed = Needed()
    for ptr in pointers:
        needed.add(ptr, ws.cache)
    return needed


def collect(ws: Workspace, dry_run: bool) -> GcResult:
    needed = needed_objects(ws).all()
    cutoff = time.time() - KEEP_SECONDS
    kept = 0
    deleted: list[tuple[str, int]] = []
    for oid in ws.cache.iter_oids():
        if oid in needed:
            kept += 1
            continue
        path = ws.cache.oid_to_path(oid)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue
        if st.st_mtime > cutoff:
            kept += 1
            continue
        if not dry_run:
            os.unlink(path)
        deleted.append((oid, st.st_size))
    if deleted and not dry_run:
        ws.state.forget_complete()
    return GcResult(kept, deleted)
