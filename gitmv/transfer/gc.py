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

from gitmv.remotes.base import Store
from gitmv.transfer.reach import (
    Needed,
    parse_pointers,
    pointer_blobs_in_commits,
    pointer_blobs_in_index,
    work_tree_pointers,
)
from gitmv.worktree.workspace import Workspace

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


def remote_heads(ws: Workspace, git_remote: str) -> list[str]:
    """Commits that the git remote's branches and tags name now (`git ls-remote`)."""
    from gitmv.errors import GitMvmError

    out = ws.repo.git("ls-remote", "--heads", "--tags", git_remote, check=False)
    shas = sorted({line.split()[0].decode() for line in out.splitlines() if line.strip()})
    unknown = [s for s in shas if not _has_commit(ws, s)]
    if unknown:
        raise GitMvmError(
            f"{len(unknown)} commit(s) that branches or tags on {git_remote!r} name are not in "
            "this clone, so their objects cannot be told apart from garbage",
            f"run `git fetch {git_remote} --tags` first",
        )
    return [s.split("^")[0] for s in shas]


def _has_commit(ws: Workspace, sha: str) -> bool:
    return bool(ws.repo.git("cat-file", "-t", sha, check=False).strip())


def collect_remote(ws: Workspace, store: Store, git_remote: str, dry_run: bool) -> GcResult:
    """Local gc's reachability rules applied to a remote store, plus everything the git
    remote's branches and tags still name, plus anything uploaded in the last hour (a push in
    flight uploads objects before git sends the commits that name them)."""
    from gitmv.errors import GitMvmError
    from gitmv.transfer.engine import download

    if not store.can_list:
        raise GitMvmError(
            f"remote {store.name!r} cannot list or delete objects",
            "gc --remote works on directory and S3 stores; clean a Git LFS server with its own "
            "tools",
        )
    heads = remote_heads(ws, git_remote)

    def compute() -> Needed:
        needed = needed_objects(ws)
        if heads:
            for ptr in parse_pointers(ws.repo, pointer_blobs_in_commits(ws.repo, heads)):
                needed.add(ptr, ws.cache)
        return needed

    needed = compute()
    if needed.unknown_dirs:  # manifests we lack: read them from the store itself
        result = download(ws.cache, store, needed.unknown_dirs)
        if result.failed:
            raise GitMvmError(
                f"{len(result.failed)} directory manifest(s) still needed could not be read, "
                "so the objects they list are unknown; nothing was deleted",
                "run `git mvm fetch` and try again",
            )
        needed = compute()
    keep = needed.all()
    cutoff = time.time() - KEEP_SECONDS
    listed = list(store.list_objects())
    # A manifest kept only for its age (a push from another clone, whose commits git has not
    # received yet) keeps its files too, however old they are: a later push trusts the
    # manifest on the store to stand for them and would never send them again.
    keep |= _files_of_manifests(
        store, [oid for oid, _, mtime in listed if oid not in keep and mtime > cutoff]
    )
    kept = 0
    deleted: list[tuple[str, int]] = []
    for oid, size, mtime in listed:
        if oid in keep or mtime > cutoff:
            kept += 1
            continue
        if not dry_run:
            store.delete(oid)
        deleted.append((oid, size))
    return GcResult(kept, deleted)


def _files_of_manifests(store: Store, oids: list[str]) -> set[str]:
    """The file objects named by those of `oids` that are directory manifests (told by their
    first bytes, read from the store; only objects younger than KEEP_SECONDS get here)."""
    from gitmv.errors import GitMvmError
    from gitmv.objects import manifest

    files: set[str] = set()
    for oid in oids:
        src, _ = store.open_download(oid, 0)
        with src:
            head = src.read(len(manifest.MAGIC))
            if head != manifest.MAGIC:
                continue
            data = head + src.read()
        try:
            entries = manifest.parse(data, f"sha256:{oid}")
        except GitMvmError:  # a file that only starts like one: it names nothing
            continue
        files.update(e.oid for e in entries)
    return files
