"""Making sure an artifact's objects are in the cache before they are read or written out:
fetched from the store (verified as they arrive) when they are not (`get`, the Python API);
and where a path names a file inside a directory artifact (`locate_at`, `cached_entry`: only
the manifest fetched for it)."""

from __future__ import annotations

from collections.abc import Sequence

from gitmv import ui
from gitmv.errors import GitMvmError
from gitmv.objects.pointer import Pointer
from gitmv.worktree.workspace import Workspace


def ensure_cached(ws: Workspace, pointers: Sequence[Pointer], remote: str | None = None) -> int:
    """Fetch what the cache lacks of these artifacts from the store (`remote`, else the one a
    fetch would use); the number of objects fetched. A failure is the fetch's error."""
    wanted = [p for p in pointers if not ws.in_cache(p, thorough=True)]
    if not wanted:
        return 0
    from gitmv.remotes import base as remotes
    from gitmv.transfer.sync import fetch_pointers

    store = remotes.resolve(ws.repo, ws.config, remote=remote)
    r = fetch_pointers(ws, store, wanted, ws.jobs)
    ws.flush()
    ui.info(f"fetched {ui.plural(len(r.transferred), 'object')} from {store.name}")
    return len(r.transferred)


def candidates(path: str) -> list[tuple[str, str | None]]:
    """(artifact, file inside it) pairs a repository path may be, the artifact itself first:
    `data/train/a.csv` is that artifact, or `a.csv` inside `data/train`, or …"""
    parts = path.split("/")
    return [("/".join(parts[:n]), "/".join(parts[n:]) or None)
            for n in range(len(parts), 0, -1)]


def check_inside(artifact: str, ptr: Pointer, inner: str | None, path: str, where: str) -> None:
    """Refuse a path below a file artifact."""
    if inner is not None and ptr.kind != "dir":
        raise GitMvmError(f"{path}: {artifact} is a file artifact in {where}, not a directory",
                          f"name {artifact} itself")


def locate_at(ws: Workspace, commit: str, path: str, where: str
              ) -> tuple[str, Pointer, str | None] | None:
    """(artifact, its pointer, the file inside it or None) that repository path `path` names
    at `commit`, only the candidates' pointers read (a mirror fetches each one read); None
    when no artifact is there."""
    from gitmv.worktree.diffing import pointers_at

    pairs = candidates(path)
    found = pointers_at(ws, commit, [artifact for artifact, _ in pairs])
    for artifact, inner in pairs:
        ptr = found.get(artifact)
        if ptr is not None:
            check_inside(artifact, ptr, inner, path, where)
            return artifact, ptr, inner
    return None


def cached_entry(ws: Workspace, artifact: str, ptr: Pointer, inner: str, where: str,
                 remote: str | None = None) -> Pointer:
    """The file `inner` of directory artifact `artifact` (`ptr`) as a file pointer; only the
    manifest is fetched for it (all of it from a store that must be told sizes, Git LFS, for
    an old pointer without the manifest's size), not the directory."""
    if not ws.cache.has(ptr.oid):
        if ptr.manifest_size is not None:
            ensure_cached(ws, [Pointer("file", ptr.oid, ptr.manifest_size)], remote)
        else:
            ensure_cached(ws, [ptr], remote)
    entries = ws.cache.read_manifest(ptr.oid, f"manifest {ptr.oid_str}")
    for e in entries:
        if e.path == inner:
            if e.mode == "link":
                raise GitMvmError(f"{artifact}/{e.path} is a symbolic link in {where}",
                                  "name the file it points to")
            return ptr._replace(kind="file", oid=e.oid, size=e.size, files=None,
                                manifest_size=None)
    if any(e.path.startswith(f"{inner}/") for e in entries):
        raise GitMvmError(f"{artifact}/{inner} is a directory inside {artifact} in {where}",
                          "name one file in it")
    raise GitMvmError(f"no file {inner!r} in directory artifact {artifact} ({where})",
                      f"`git mvm ls {artifact}` lists its files")
