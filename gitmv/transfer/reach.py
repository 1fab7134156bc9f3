"""Which pointers (and so which objects) a set of commits, the index or the work trees need.

Used by push (objects the remote lacks), the pre-push hook and gc (objects nothing needs).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from gitmv import ui
from gitmv.errors import GitMvmError
from gitmv.objects.cache import Cache
from gitmv.objects.pointer import SUFFIX, Pointer
from gitmv.repo import Repo

ZERO = "0" * 40


def pointer_blobs_in_commits(repo: Repo, revs: Iterable[str]) -> set[str]:
    """Blob ids of every pointer version that the given commits introduce.

    `revs` are `git log` arguments (`abc123`, `--not`, `--remotes=origin`, `--all`, …). Every
    version of a pointer a reachable commit holds was introduced by some reachable commit
    (root commits count against the empty tree, merges against each parent), so this finds
    all of them, not only the tips.
    """
    out = repo.git(
        "log", "--format=", "--raw", "-z", "-m", "--no-renames", "--no-abbrev",
        "--diff-filter=d", *revs, "--", f"*{SUFFIX}",
    )
    blobs: set[str] = set()
    fields = out.split(b"\0")
    i = 0
    while i < len(fields):
        rec = fields[i]
        if rec.startswith(b":"):
            parts = rec.split()
            if len(parts) >= 5 and parts[3].decode() != ZERO:
                blobs.add(parts[3].decode())
            i += 2  # the path follows
        else:
            i += 1
    return blobs


def pointer_blobs_in_index(repo: Repo, cwd: str | None = None) -> set[str]:
    """Blob ids of the pointers staged in the index of the worktree at `cwd` (default: ours)."""
    from gitmv.repo import run_git

    out = run_git(["ls-files", "-s", "-z", "--", f"*{SUFFIX}"], cwd=cwd or repo.root)
    return {rec.split()[1].decode() for rec in out.split(b"\0") if rec}


def parse_pointers(repo: Repo, blobs: Iterable[str]) -> list[Pointer]:
    ids = sorted(blobs)
    pointers = []
    for blob, data in zip(ids, repo.read_blobs(ids), strict=True):
        try:
            pointers.append(Pointer.parse(data, f"pointer blob {blob}"))
        except GitMvmError as exc:
            ui.warn(f"skipping {exc}")
    return pointers


def work_tree_pointers(root: str) -> list[Pointer]:
    """Pointer files present in a work tree (tracked or not), read from disk."""
    from gitmv.repo import run_git

    out = run_git(["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--",
                   f"*{SUFFIX}"], cwd=root)
    pointers = []
    for rel in {p for p in out.decode("utf-8", "surrogateescape").split("\0") if p}:
        try:
            with open(os.path.join(root, rel), "rb") as f:
                pointers.append(Pointer.parse(f.read(), rel))
        except FileNotFoundError:
            continue
        except GitMvmError as exc:
            ui.warn(f"skipping {exc}")
    return pointers


class Needed:
    """Objects named by pointers: file objects first, then directory manifests."""

    def __init__(self) -> None:
        self.files: dict[str, None] = {}
        self.manifests: dict[str, None] = {}
        self.unknown_dirs: list[str] = []  # manifests not in the cache: contents unknown

    def add(self, ptr: Pointer, cache: Cache) -> None:
        if ptr.kind == "file":
            self.files[ptr.oid] = None
            return
        self.manifests[ptr.oid] = None
        if not cache.has(ptr.oid):
            self.unknown_dirs.append(ptr.oid)
            return
        for e in cache.read_manifest(ptr.oid, f"manifest {ptr.oid_str}"):
            self.files[e.oid] = None

    def all(self) -> set[str]:
        return set(self.files) | set(self.manifests)
