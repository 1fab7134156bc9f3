"""push, fetch and pull."""

from __future__ import annotations

import os

from gitmv import ui
from gitmv.commands.output import report_failures
from gitmv.errors import GitMvmError, ObjectMissing
from gitmv.fsutil import repo_lock
from gitmv.objects.pointer import SUFFIX, Pointer
from gitmv.remotes import base as remotes
from gitmv.transfer.engine import TransferResult
from gitmv.transfer.sync import commit_pointers, fetch_pointers, push_pointers
from gitmv.ui import human_size
from gitmv.worktree.checkout import checkout_many
from gitmv.worktree.workspace import Workspace


def _split_remote(
    ws: Workspace, paths: list[str], remote: str | None
) -> tuple[str | None, list[str]]:
    """`push [REMOTE] [PATH…]`: the first word is a remote when one has that name."""
    if remote is None and paths:
        first = paths[0]
        known = ws.config.get(f"remote.{first}") is not None or remotes.git_remote_url(
            ws.repo, first
        ) is not None
        if known:
            return first, paths[1:]
        if not any(c in first for c in "/*?[") and not os.path.lexists(first) \
                and not os.path.lexists(first + SUFFIX):
            # neither a remote nor a path: most likely a remote's name mistyped
            names = sorted({*(ws.config.get("remote") or {}),
                            *ws.repo.git("remote").decode().split()})
            raise GitMvmError(
                f"no such remote {first!r} (nor a file of that name)",
                f"the remotes here: {', '.join(names)}" if names else
                "add one with `git mvm remote add NAME URL` or `git remote add origin URL`")
    return remote, paths


def _pointers(ws: Workspace, paths: list[str], strict: bool = False) -> list[Pointer]:
    """The pointers of the selected artifacts. An unreadable one is skipped with a warning,
    or (`strict`, a push) refused: it names bytes nobody can know, so none can be sent."""
    sels = ws.select(paths or None)
    bad = [s.artifact for s in sels if s.artifact.pointer is None]
    if bad and strict:
        from gitmv.transfer.reach import unreadable_error

        raise unreadable_error([str(a.error) for a in bad],
                               getattr(bad[0].error, "hint", None),
                               "or push the other artifacts by naming them")
    for a in bad:
        ui.warn(f"skipping {a.error}")
    return [s.artifact.pointer for s in sels if s.artifact.pointer is not None]


def _summary(verb: str, store: remotes.Store, r: TransferResult) -> None:
    replaced = (f"; replaced {ui.plural(r.replaced, 'object')} it held wrong (another size or "
                "other bytes)" if r.replaced else "")
    ui.info(f"{verb} {ui.plural(len(r.transferred), 'object')} ({human_size(r.nbytes)}) "
            f"{'to' if verb == 'pushed' else 'from'} {store.name}; "
            f"{r.present} already there{replaced}")


def push(
    paths: list[str], remote: str | None, all_commits: bool, full: bool, jobs: int | None
) -> int:
    ws = Workspace.open(jobs=jobs)
    remote, paths = _split_remote(ws, paths, remote)
    store = remotes.resolve(ws.repo, ws.config, remote=remote, push=True)
    if all_commits:
        pointers = commit_pointers(ws, ["--all"]) + _pointers(ws, paths, strict=True)
    else:
        pointers = _pointers(ws, paths, strict=True)
    r = push_pointers(ws, store, pointers, jobs or 8, full=full)
    _summary("pushed", store, r)
    return 0


def fetch(paths: list[str], remote: str | None, jobs: int | None) -> int:
    ws = Workspace.open(jobs=jobs)
    remote, paths = _split_remote(ws, paths, remote)
    store = remotes.resolve(ws.repo, ws.config, remote=remote)
    r = fetch_pointers(ws, store, _pointers(ws, paths), jobs or 8)
    _summary("fetched", store, r)
    return 0


def pull(paths: list[str], remote: str | None, force: bool, jobs: int | None) -> int:
    ws = Workspace.open(jobs=jobs)
    remote, paths = _split_remote(ws, paths, remote)
    store = remotes.resolve(ws.repo, ws.config, remote=remote)
    failures: list[tuple[str, GitMvmError]] = []
    try:
        r = fetch_pointers(ws, store, _pointers(ws, paths), jobs or 8)
        _summary("fetched", store, r)
    except GitMvmError as exc:
        failures.append(("", exc))  # still check out what did arrive
    with repo_lock(ws.lock_path):
        results, more = checkout_many(ws, ws.select(paths or None), force)
    for res in results:
        if res.written or res.removed:
            ui.info(f"checked out: {res.path} ({res.written} written)")
    ws.state.close()
    if any(getattr(exc, "store_wide", False) for _, exc in failures):
        # the store failed as a whole (credentials, bucket, unreachable): one line says it all,
        # not one more per artifact whose objects therefore did not arrive
        more = [(path, exc) for path, exc in more if not isinstance(exc, ObjectMissing)]
    # an object the fetch already reported (with where it can come from) is not said again
    # with a hint to pull it, which would send the user round in a circle
    unfetched = {f"sha256:{oid}" for _, exc in failures for oid, _ in getattr(exc, "failed", ())}
    more = [(path, exc) for path, exc in more
            if not (isinstance(exc, ObjectMissing) and exc.oid in unfetched)]
    return report_failures(failures + more)
