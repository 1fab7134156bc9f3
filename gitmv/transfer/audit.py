"""`fsck`'s checks beyond the cache: pointers whose size is not their object's, and what a
remote store holds of what the pointers name (sizes always; sha256s on request, from the
store's own checksum where it keeps one, else by download), repaired from the cache.

Which pointers: those of every commit any ref reaches (one `git log --raw` over `--all`) and
those of the work tree. For each bad object the paths and commits that name it are kept, so
that what cannot be repaired from here says which versions it breaks.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import NamedTuple

from gitmv.errors import GitMvmError
from gitmv.objects.pointer import SUFFIX, Pointer, artifact_path
from gitmv.remotes.base import Store, holds
from gitmv.transfer.engine import (
    LFS_REPLACE_HINT,
    Limits,
    download,
    held_as,
    stat_on,
    tell_sizes,
    upload,
    verify_on,
)
from gitmv.transfer.reach import known_sizes, needed_by
from gitmv.worktree.workspace import Workspace


class Named(NamedTuple):
    """A pointer, where it is (work-tree path) and the commits that hold it ("" for the work
    tree)."""

    pointer: Pointer
    path: str
    commits: tuple[str, ...]


class Problem(NamedTuple):
    oid: str
    kind: str  # "missing", "wrong size", "corrupt", "unreadable" (could not be verified)
    detail: str
    where: tuple[str, ...]  # artifact paths that need the object
    commits: tuple[str, ...]  # commits that hold those pointers (most recent first)
    manifest: bool  # a directory's manifest (repaired after the files it names)


class Unreadable(NamedTuple):
    """A pointer that does not parse (a newer gitmv's `mvm = 2`, garbage): where it is, the
    commits that hold it ("" for none: the work tree's) and why."""

    path: str
    commits: tuple[str, ...]
    why: str


def all_pointers(ws: Workspace) -> tuple[list[Named], list[Unreadable]]:
    """Every pointer version of any commit any ref reaches, and the work tree's; and those
    that cannot be read, which fsck reports (never skipped: they name bytes nobody checks)."""
    out = ws.repo.git("log", "--all", "--format=%H", "--raw", "-z", "-m", "--no-renames",
                      "--no-abbrev", "--diff-filter=d", "--", f"*{SUFFIX}")
    found: dict[str, tuple[str, list[str]]] = {}  # blob -> (path, commits)
    commit = ""
    fields = out.split(b"\0")
    i = 0
    while i < len(fields):
        field = fields[i].lstrip(b"\n")
        if field.startswith(b":") and i + 1 < len(fields):
            blob = field.split()[3].decode()
            path = artifact_path(fields[i + 1].decode("utf-8", "surrogateescape"))
            commits = found.setdefault(blob, (path, []))[1]
            if commit not in commits:
                commits.append(commit)
            i += 2
            continue
        if len(field) == 40:
            commit = field.decode()
        i += 1
    blobs = sorted(found)
    named: list[Named] = []
    bad: list[Unreadable] = []
    for blob, data in zip(blobs, ws.repo.read_blobs(blobs), strict=True):
        path, commits = found[blob]
        try:
            ptr = Pointer.parse(data, f"{path}{SUFFIX}")
        except GitMvmError as exc:
            bad.append(Unreadable(path, tuple(commits),
                                  exc.message.removeprefix(f"{path}{SUFFIX}: ")))
            continue
        named.append(Named(ptr, path, tuple(commits)))
    for a in ws.artifacts():
        if a.pointer is not None:
            named.append(Named(a.pointer, a.path, ()))
        elif not any(u.path == a.path for u in bad):  # (committed: reported with its commits)
            why = a.error.message if a.error else "unreadable"
            bad.append(Unreadable(a.path, (), why.removeprefix(f"{a.path}{SUFFIX}: ")))
    return named, sorted(bad)


# --- pointers against the cache ------------------------------------------------------------


class SizeProblem(NamedTuple):
    path: str  # the artifact (a file inside a directory: DIR/FILE)
    oid: str
    pointer_size: int  # what the pointer (or the directory's manifest) says
    object_size: int  # what the cached object has
    commits: tuple[str, ...]


def pointer_size_problems(ws: Workspace, named: Sequence[Named]) -> list[SizeProblem]:
    """Pointers (and manifest entries) whose size is not that of the cached object they
    name: a hand-edited pointer, say. Objects not in the cache are not checked here."""
    out: dict[tuple[str, str], SizeProblem] = {}

    def check(path: str, oid: str, size: int | None, commits: tuple[str, ...]) -> None:
        if size is None:
            return
        have = ws.cache.size_of(oid)
        if have is None:
            return
        if have != size:
            old = out.get((path, oid))
            out[(path, oid)] = SizeProblem(path, oid, size, have,
                                           (old.commits if old else ()) + commits)

    for n in named:
        p = n.pointer
        if p.kind == "file":
            check(n.path, p.oid, p.size, n.commits)
            continue
        check(n.path, p.oid, p.manifest_size, n.commits)
        if ws.cache.has(p.oid):
            try:
                entries = ws.cache.read_manifest(p.oid, f"manifest {p.oid_str}")
            except GitMvmError:
                continue  # a corrupt manifest is the cache check's to report
            for e in entries:
                check(f"{n.path}/{e.path}", e.oid, e.size, n.commits)
    return sorted(out.values())


# --- a remote store ------------------------------------------------------------------------


def check_store(ws: Workspace, store: Store, named: Sequence[Named], verify: bool,
                jobs: int) -> tuple[int, list[Problem]]:
    """(objects checked, problems) of every object the pointers name, on `store`: missing,
    of the wrong size, and with `verify` of the wrong sha256 (the store's own checksum where
    it keeps one, else the bytes downloaded and hashed, bounded as a fetch is)."""
    from gitmv.transfer.view import packed_view

    store = packed_view(ws, store)
    pointers = [n.pointer for n in named]
    _fetch_manifests(ws, store, pointers, jobs)
    needed = needed_by(ws, pointers)
    oids = sorted(needed.all())
    sizes = known_sizes(ws, oids, pointers)
    tell_sizes(store, sizes)
    held = stat_on(store, oids, checksums=verify)
    bad: dict[str, tuple[str, str]] = {}
    for oid in oids:
        stored = held.get(oid)
        if stored is None:
            bad[oid] = ("missing", "the store does not hold it")
        elif not holds(stored, oid, sizes.get(oid)):
            kind = "corrupt" if stored.sha256 not in (None, oid) else "wrong size"
            bad[oid] = (kind, held_as(stored, oid, sizes.get(oid)))
    if verify:
        fit = [o for o in oids if o not in bad]
        corrupt, unread = verify_on(store, fit, held, sizes, Limits.of(ws.config), jobs)
        bad |= {oid: ("corrupt", why) for oid, why in corrupt.items()}
        bad |= {oid: ("unreadable", f"could not be read to verify it: {why}")
                for oid, why in unread.items()}
    return len(oids), problems_of(ws, named, bad, needed.manifests)


class PackProblem(NamedTuple):
    """A pack or index of a store of layout 2 that is not as it should be."""

    name: str  # on the store: "index/pack-<id>.idx", "packs/pack-<id>.pack"
    pack_id: str
    kind: str  # "unreadable index", "missing pack", "wrong size"
    detail: str


def check_packs(ws: Workspace, store: Store) -> list[PackProblem]:
    """Every index of the store parses and the pack it names is there at the size it says.
    The entries of a pack that is missing are then left out of what the store holds (the
    objects only there are reported missing)."""
    from gitmv.objects.pack import index_name, pack_id_of, pack_name
    from gitmv.remotes.retry import with_retries
    from gitmv.transfer.packed import INDEX_DIR, PACK_DIR, PackedStore
    from gitmv.transfer.view import packed_view

    store = packed_view(ws, store)
    if not isinstance(store, PackedStore):
        return []
    index = store.ready(strict=False)
    out = [PackProblem(INDEX_DIR + index_name(p), p, "unreadable index", why)
           for p, why in sorted(index.bad.items())]
    listed = with_retries(lambda: store.raw.list_named(PACK_DIR), f"list {store.name}")
    sizes = {pack_id_of(n[len(PACK_DIR):]): size for n, size, _ in listed}
    for pack_id, idx in sorted(index.indexes.items()):
        size = sizes.get(pack_id)
        if size is None:
            out.append(PackProblem(PACK_DIR + pack_name(pack_id), pack_id, "missing pack",
                                   f"its index names it ({idx.count} entries)"))
            index.indexes.pop(pack_id).close()
        elif size != idx.pack_size:
            out.append(PackProblem(PACK_DIR + pack_name(pack_id), pack_id, "wrong size",
                                   f"{size} bytes, its index says {idx.pack_size}"))
    return out


def repair_packs(ws: Workspace, store: Store, problems: Sequence[PackProblem]
                 ) -> list[tuple[PackProblem, str]]:
    """An unreadable index, or that of a pack of the wrong size, rebuilt from what the pack
    holds (entries that verify); the index of a missing pack deleted (the objects only there
    are then missing, and sent again from the cache by `repair_store`). Returns
    [(problem, "" when repaired, else why not)]."""
    import tempfile

    from gitmv.objects.pack import index_name
    from gitmv.remotes.retry import with_retries
    from gitmv.transfer.packed import INDEX_DIR, PackedStore, rebuild_index
    from gitmv.transfer.view import packed_view

    store = packed_view(ws, store)
    assert isinstance(store, PackedStore)
    out: list[tuple[PackProblem, str]] = []
    for p in problems:
        name = INDEX_DIR + index_name(p.pack_id)
        try:
            if p.kind == "missing pack":
                with_retries(lambda n=name: store.raw.delete_named(n),  # type: ignore[misc]
                             f"delete on {store.name}")
                store.index.drop(p.pack_id)
                out.append((p, ""))
                continue
            data, _, lost = rebuild_index(store, p.pack_id)
            ws.cache.make_tmp_dir()
            with tempfile.NamedTemporaryFile(dir=ws.cache.tmp_dir) as f:
                f.write(data)
                f.flush()
                held = with_retries(lambda n=name, path=f.name:  # type: ignore[misc]
                                    store.raw.put_named(n, path), f"upload to {store.name}")
            store.index.bad.pop(p.pack_id, None)
            store.index.drop(p.pack_id)
            store.index.add(p.pack_id, data, held.mtime or 0.0)
            out.append((p, "" if not lost else
                        f"index rebuilt; {lost} entries of the pack do not verify"))
        except GitMvmError as exc:
            out.append((p, exc.message))
    return out


def repair_store(ws: Workspace, store: Store, problems: Sequence[Problem], jobs: int
                 ) -> tuple[list[Problem], list[tuple[Problem, str]]]:
    """Put the cache's copy of each bad object back on the store, where the cache holds one
    that verifies (file objects before the manifests that name them). Returns (repaired,
    [(not repaired, why)])."""
    from gitmv.transfer.view import packed_view

    store = packed_view(ws, store)
    fixable = []
    left: list[tuple[Problem, str]] = []
    for p in problems:
        if not ws.cache.has(p.oid):
            left.append((p, "not in this clone's cache: repair it from a clone that has it"))
        elif not ws.cache.verify(p.oid):
            left.append((p, "this clone's copy is corrupt too (`git mvm fsck` moves it "
                            "aside): repair it from a clone that has a good one"))
        else:
            fixable.append(p)
    files = [p.oid for p in fixable if not p.manifest]
    dirs = [p.oid for p in fixable if p.manifest]
    result = upload(ws.cache, store, [files, dirs], jobs, force=True)
    failed = dict(result.failed)
    sent = set(result.transferred)
    repaired = [p for p in fixable if p.oid in sent]
    left += [(p, failed.get(p.oid, "not sent: an earlier upload failed")) for p in fixable
             if p.oid not in sent]
    if hasattr(store, "prepare_upload"):  # Git LFS: the server decides what it takes again
        left, repaired = _lfs_kept(store, repaired, left)
    return repaired, left


def _lfs_kept(store: Store, repaired: list[Problem], left: list[tuple[Problem, str]]
              ) -> tuple[list[tuple[Problem, str]], list[Problem]]:
    """A Git LFS server that says it holds an object of the right size takes no upload of
    it: same-size corruption there cannot be replaced through the Batch API."""
    kept = [p for p in repaired if p.kind == "corrupt"]
    why = (f"remote {store.name!r} (Git LFS) holds it at its size and takes no other bytes "
           f"for it: {LFS_REPLACE_HINT}")
    return left + [(p, why) for p in kept], [p for p in repaired if p not in kept]


def _fetch_manifests(ws: Workspace, store: Store, pointers: Sequence[Pointer], jobs: int
                     ) -> None:
    """Directory manifests this clone lacks, from the store (they say which files to check);
    one the store lacks too is reported as missing by the check itself."""
    missing = [p for p in pointers if p.kind == "dir" and not ws.cache.has(p.oid)]
    if missing:
        sizes = {p.oid: p.manifest_size for p in missing if p.manifest_size is not None}
        download(ws.cache, store, [p.oid for p in missing], jobs, sizes, Limits.of(ws.config))


def problems_of(ws: Workspace, named: Sequence[Named], bad: dict[str, tuple[str, str]],
              manifests: Collection[str]) -> list[Problem]:
    """The bad objects (`bad`: oid -> (kind, detail)), each with the artifact paths and the
    commits that need it: one pass over the pointers and the entries of their cached
    manifests, whatever the number of problems (20,000 missing files cost one such pass)."""
    where: dict[str, dict[str, None]] = {oid: {} for oid in bad}
    commits: dict[str, dict[str, None]] = {oid: {} for oid in bad}

    def hit(oid: str, path: str, n: Named) -> None:
        where[oid][path] = None
        commits[oid].update(dict.fromkeys(c for c in n.commits if c))

    for n in named:
        p = n.pointer
        if p.oid in bad:
            hit(p.oid, n.path, n)
        elif p.kind == "dir" and ws.cache.has(p.oid):
            try:
                entries = ws.cache.read_manifest(p.oid, f"manifest {p.oid_str}")
            except GitMvmError:
                continue
            seen: set[str] = set()  # an object at several paths: its first is named
            for e in entries:
                if e.oid in bad and e.oid not in seen:
                    seen.add(e.oid)
                    hit(e.oid, f"{n.path}/{e.path}", n)
    return [Problem(oid, kind, detail, tuple(where[oid]), tuple(commits[oid]),
                    oid in manifests)
            for oid, (kind, detail) in sorted(bad.items())]
