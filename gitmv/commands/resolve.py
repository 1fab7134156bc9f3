"""`git mvm resolve PATH… --ours|--theirs|--union`, and the merge driver git runs for pointers.

The driver (`git mvm merge-driver %O %A %B %P`, registered by `git mvm install`) merges a
directory three-way on its manifests (gitmv/worktree/merge.py); what it cannot merge it leaves
as ours' pointer with a conflict mark, exit 1, and git shows the pointer as conflicted. `resolve`
reads the conflict from the index (stages 1/2/3, so it works the same when git merged the
pointer as text and left conflict markers), writes the chosen pointer, stages it and puts the
chosen bytes in the work tree.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from gitmv import ui
from gitmv.errors import FormatError, GitMvmError, PathRefused, UsageError
from gitmv.fsutil import atomic_write, repo_lock
from gitmv.objects import manifest
from gitmv.objects.manifest import Entry
from gitmv.objects.pointer import SUFFIX, Pointer, artifact_path, is_pointer_data, pointer_path
from gitmv.worktree.merge import (
    describe,
    dir_pointer,
    mark_conflict,
    merge_manifests,
    merge_meta,
)
from gitmv.worktree.workspace import Workspace

RESOLVE = "git mvm resolve {rel} --ours|--theirs|--union"


# --- the merge driver --------------------------------------------------------------------
def merge_driver(base: str, ours: str, theirs: str, path: str) -> int:
    """Merge pointer `path`: `base`, `ours` (also where the result goes) and `theirs` are the
    temp files git hands over. 0: merged into `ours`; 1: a conflict (`ours` keeps our pointer,
    marked)."""
    rel = artifact_path(path) if path.endswith(SUFFIX) else path
    data = {side: _read(f) for side, f in (("base", base), ("ours", ours), ("theirs", theirs))}
    if not any(is_pointer_data(d) for d in data.values()):
        # a *.mvm file that is somebody's data on every side, not a pointer: git's own text
        # merge (a pointer on one side only is a conflict, below)
        from gitmv.repo import merge_file

        return 1 if merge_file(ours, base, theirs) else 0
    try:
        pointers = {side: _parse(d, f"{path} ({side})") for side, d in data.items()}
    except FormatError as exc:
        return _conflict(ours, data["ours"], rel, exc.message, mark=False)
    b, o, t = pointers["base"], pointers["ours"], pointers["theirs"]
    if o is None or t is None:
        return _conflict(ours, data["ours"], rel, "not a pointer on one side", mark=False)
    if data["ours"] == data["theirs"] or data["theirs"] == data["base"]:
        return 0
    if data["ours"] == data["base"]:
        atomic_write(ours, data["theirs"])
        return 0
    meta = merge_meta(b.meta if b else {}, o.meta, t.meta)
    if (o.kind, o.oid) == (t.kind, t.oid):  # the same bytes; only [meta] differs
        atomic_write(ours, o._replace(meta=meta).dump())
        return 0
    if o.kind != "dir" or t.kind != "dir":
        favor = strategy_favor()
        if favor == "theirs":
            atomic_write(ours, data["theirs"])
        if favor is not None:
            return 0
        what = ("a file artifact changed on both sides" if o.kind == t.kind == "file" else
                "a file on one side, a directory on the other")
        return _conflict(ours, data["ours"], rel, what)
    try:
        ws = Workspace.open()
        base_dir = b if b is not None and b.kind == "dir" else None
        entries = _manifests(ws, [p for p in (base_dir, o, t) if p is not None])
    except GitMvmError as exc:
        return _conflict(ours, data["ours"], rel, f"cannot read a manifest: {exc.message}")
    favor = strategy_favor()
    merged = merge_manifests(entries.get(base_dir.oid, ()) if base_dir else (),
                             entries[o.oid], entries[t.oid], prefer=favor)
    if merged.conflicts:
        return _conflict(ours, data["ours"], rel, f"{len(merged.conflicts)} file(s) in "
                         f"conflict: {describe(merged.conflicts)}")
    atomic_write(ours, _store_dir(ws, merged.entries, meta).dump())
    ws.state.close()
    return 0


def strategy_favor() -> str | None:
    """"ours" / "theirs" when the git command this driver runs under was given `-X ours` /
    `-X theirs` (`--strategy-option`): git settles text conflicts that way but tells a merge
    driver nothing, so its command line is read from /proc (Linux; elsewhere None, and those
    conflicts stay conflicts)."""
    pid = os.getppid()
    for _ in range(6):  # sh -c, git merge, git pull, …
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return None
        name = os.path.basename(argv[0]) if argv else b""
        for i, arg in enumerate(argv if name == b"git" or name.startswith(b"git-") else []):
            value = None
            if arg in (b"-X", b"--strategy-option") and i + 1 < len(argv):
                value = argv[i + 1]
            elif arg.startswith(b"--strategy-option="):
                value = arg.split(b"=", 1)[1]
            elif arg.startswith(b"-X"):
                value = arg[2:]
            if value in (b"ours", b"theirs"):
                return value.decode()
        if ppid <= 1:
            return None
        pid = ppid
    return None


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _parse(data: bytes, where: str) -> Pointer | None:
    return Pointer.parse(data, where) if data.strip() else None


def _conflict(ours: str, data: bytes, rel: str, what: str, mark: bool = True) -> int:
    sys.stderr.write(f"git mvm: CONFLICT in {rel}: {what}\n"
                     f"hint: {RESOLVE.format(rel=rel)} picks a side and puts its bytes in "
                     "the work tree\n")
    if mark:
        atomic_write(ours, mark_conflict(data, rel, what))
    return 1


def _manifests(ws: Workspace, pointers: Sequence[Pointer]) -> dict[str, tuple[Entry, ...]]:
    """The manifests of directory pointers, from the cache, else fetched from the store."""
    missing = [p for p in pointers if not ws.cache.has(p.oid)]
    if missing:
        from gitmv.remotes import base as remotes
        from gitmv.transfer.engine import Limits, download
        from gitmv.transfer.sync import TransferFailed
        from gitmv.transfer.view import packed_view

        store = packed_view(ws, remotes.resolve(ws.repo, ws.config))  # (its packs, if any)
        sizes = {p.oid: p.manifest_size for p in missing if p.manifest_size is not None}
        result = download(ws.cache, store, [p.oid for p in missing], ws.jobs, sizes,
                          Limits.of(ws.config))
        if result.failed:
            raise TransferFailed("fetch:", store, result.failed)
    return {p.oid: ws.cache.read_manifest(p.oid, f"manifest {p.oid_str}") for p in pointers}


def _store_dir(ws: Workspace, entries: Sequence[Entry], meta: dict[str, str]) -> Pointer:
    """Write a merged manifest into the cache; its pointer."""
    data = manifest.dump(list(entries))
    oid = ws.cache.put_bytes(data)
    ws.flush()
    return dir_pointer(entries, len(data), oid, meta)


# --- git mvm resolve -----------------------------------------------------------------------
def run(paths: list[str], side: str | None, prefer: str | None, jobs: int | None) -> int:
    if side is None:
        raise UsageError("say which version to keep", "git mvm resolve PATH "
                         "--ours|--theirs|--union (--union --prefer ours|theirs settles the "
                         "files changed on both sides)")
    if prefer is not None and side != "union":
        raise UsageError("--prefer goes with --union",
                         "git mvm resolve PATH --union --prefer ours|theirs")
    ws = Workspace.open(jobs=jobs)
    unmerged = ws.repo.unmerged_pointers()
    chosen: dict[str, bytes | None] = {}
    for p in paths:
        rel = ws.to_rel(p)
        rel = artifact_path(rel) if rel.endswith(SUFFIX) else rel
        stages = unmerged.get(pointer_path(rel))
        if stages is None:
            raise PathRefused(f"{rel}: not in conflict", _not_in_conflict_hint(ws, rel))
        chosen[rel] = _choose(ws, rel, stages, side, prefer)
    from gitmv.worktree.checkout import remove_artifact

    with repo_lock(ws.lock_path):
        for rel, data in chosen.items():
            ppath = pointer_path(rel)
            if data is None:
                if os.path.lexists(ws.repo.abs(ppath)):
                    os.unlink(ws.repo.abs(ppath))
                ws.repo.unstage_remove([ppath])
                if not remove_artifact(ws, rel):
                    ui.warn(f"{rel}: the chosen side deletes it, but it holds bytes that are "
                            "not in the cache; left as it is")
                continue
            atomic_write(ws.repo.abs(ppath), data)
            ws.repo.stage([ppath])
    kept = [rel for rel, data in chosen.items() if data is not None]
    rc = _bring_bytes(ws, kept)
    for rel, data in chosen.items():
        ui.info(f"resolved: {rel} ({side if data is not None else 'deleted'})")
    ws.state.close()
    return rc


def refuse_add(ws: Workspace, rel: str) -> GitMvmError | None:
    """Why `git mvm add` must not record an artifact whose pointer is in conflict: its work
    tree holds one side's version (ours, until something checks out theirs), so the add would
    pick that side silently (`git checkout --theirs P.mvm` then `add` committed ours). Bytes
    that are neither side's (a version merged by hand) may be added: that resolves it."""
    stages = ws.unmerged().get(rel)
    if not stages:
        return None
    from gitmv.objects.hashing import hash_bytes

    abspath = ws.repo.abs(rel)
    try:
        if os.path.isdir(abspath) and not os.path.islink(abspath):
            oid = hash_bytes(manifest.dump(ws.scan_dir(rel, store=False)[0]))
        else:
            oid = ws.current_file_oid(abspath, os.stat(abspath))
    except (OSError, GitMvmError):
        return None  # nothing there to add: `add` says so itself
    sides = {}
    for n, blob in zip(stages, ws.repo.read_objects(list(stages.values())), strict=True):
        try:
            sides[n] = Pointer.parse(blob or b"", pointer_path(rel)).oid
        except FormatError:
            continue
    held = [name for n, name in ((2, "ours"), (3, "theirs")) if sides.get(n) == oid]
    if not held:
        return None
    other = "theirs" if held[0] == "ours" else "ours"
    return GitMvmError(
        f"{rel}: its pointer is in conflict and the work tree holds {held[0]}' version: "
        f"adding it would silently keep {held[0]}",
        f"git mvm resolve {rel} --{other} (or --{held[0]}) picks a side and checks out its "
        "bytes; `git mvm add` is for bytes of your own (a version merged by hand)")


def _not_in_conflict_hint(ws: Workspace, rel: str) -> str:
    from gitmv.worktree.merge import is_unresolved

    try:
        with open(ws.repo.abs(pointer_path(rel)), "rb") as f:
            marked = is_unresolved(f.read(1 << 16))
    except OSError:
        marked = False
    if marked:
        return (f"its pointer still holds the conflict, but git was told it is resolved "
                f"(`git add`): `git checkout -m -- {pointer_path(rel)}` brings the conflict "
                "back, then resolve it")
    return "`git mvm status` lists the artifacts in conflict"


def _choose(ws: Workspace, rel: str, stages: dict[int, str], side: str,
            prefer: str | None) -> bytes | None:
    """The pointer the resolution keeps (a side's blob as committed, or a union's new one);
    None: the artifact goes (the chosen side deleted it)."""
    blobs = dict(zip(stages, ws.repo.read_blobs(list(stages.values())), strict=True))
    ptr = {n: Pointer.parse(blobs[n], f"{pointer_path(rel)} (stage {n})") if n in blobs
           else None for n in (1, 2, 3)}
    base, ours, theirs = ptr[1], ptr[2], ptr[3]
    if side in ("ours", "theirs"):
        return blobs.get(2 if side == "ours" else 3)
    if ours is None or theirs is None:
        return blobs.get(2) or blobs.get(3)  # deleted on one side: the union is the other
    if ours.kind != "dir" or theirs.kind != "dir":
        if prefer is not None:
            return blobs[2 if prefer == "ours" else 3]
        raise GitMvmError(f"{rel}: a file artifact has no union",
                          f"git mvm resolve {rel} --ours or --theirs")
    base_dir = base if base is not None and base.kind == "dir" else None
    entries = _manifests(ws, [p for p in (base_dir, ours, theirs) if p is not None])
    merged = merge_manifests(entries[base_dir.oid] if base_dir else (), entries[ours.oid],
                             entries[theirs.oid], union=True, prefer=prefer)
    if merged.conflicts:
        raise GitMvmError(f"{rel}: files changed on both sides: {describe(merged.conflicts)}",
                          f"choose a side for them: git mvm resolve {rel} --union --prefer "
                          "ours|theirs (or --ours / --theirs for the whole directory)")
    return _store_dir(ws, merged.entries,
                      merge_meta(base.meta if base else {}, ours.meta, theirs.meta)).dump()


def _bring_bytes(ws: Workspace, rels: list[str]) -> int:
    """Fetch what the chosen pointers need and check them out (bytes of the side left behind
    are in the cache: checkout replaces them; unsaved changes are kept and named)."""
    from gitmv.commands.output import report_failures
    from gitmv.worktree.checkout import checkout_many, warn_kept

    sels = ws.select(rels) if rels else []
    pointers = [s.artifact.pointer for s in sels if s.artifact.pointer is not None]
    missing = [p for p in pointers if not ws.in_cache(p)]
    if missing:
        from gitmv.remotes import base as remotes
        from gitmv.transfer.sync import fetch_pointers

        fetch_pointers(ws, remotes.resolve(ws.repo, ws.config), missing, jobs=ws.jobs)
    with repo_lock(ws.lock_path):
        # file by file, as the hooks do: a directory's files with unsaved edits stay, every
        # other file takes the chosen side's version (the side left behind is in the cache)
        results, failures = checkout_many(ws, sels, force=False, keep=True)
    for r in results:
        warn_kept(r, f"the other files are the chosen version (`git mvm add {r.path}` records "
                  f"your changes on top of it, `git mvm checkout --force {r.path}` discards "
                  "them)")
    return report_failures(failures)
