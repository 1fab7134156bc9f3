"""Garbage collection with positive proof: an object is deleted only when every place that
could name it was read and none does.

Local (`collect`), the cache: in this clone and in every clone registered in a shared
`cache.dir` (gitmv.worktree.clones), the refs and reflogs (the whole history: not a shallow
clone's), every worktree's index and pointer files, and the manifest of every directory they
name. Objects younger than the grace period (`engine.GRACE_SECONDS`) are kept too: a
concurrent `add` may be about to write the pointer that names them. Every clone's repository
lock is held meanwhile.

Remote (`collect_remote`), a store: the above for this clone, plus every ref of every git
remote (`git ls-remote`; each named commit must be here), plus the files of manifests younger
than the grace period (a push from another clone whose refs git has not sent yet). An object
modified within the grace period before gc began reading the refs is kept: a push refreshes
the old objects it relies on (`engine.rely_on`), and the store's removal (`delete_if_older`)
reads the time again.

What cannot be read is a `Doubt`; any doubt stops the deletion (one line each, with what to
do) unless `force`, which reports them as warnings and deletes what nothing read names.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any, BinaryIO, NamedTuple

from gitmv import ui
from gitmv.errors import GitFailed, GitMvmError
from gitmv.fsutil import remove_file
from gitmv.objects.cache import Cache
from gitmv.objects.state import StatCache
from gitmv.remotes.base import Store
from gitmv.repo import Repo
from gitmv.transfer import engine
from gitmv.transfer.reach import (
    Needed,
    parse_pointers,
    pointer_blobs_in_commits,
    pointer_blobs_in_index,
    work_tree_pointers,
)
from gitmv.worktree.workspace import Workspace


class GcResult(NamedTuple):
    kept: int
    deleted: list[tuple[str, int]]  # (oid, size)
    partials: tuple[tuple[str, int], ...] = ()  # interrupted downloads nothing needs
    temps: tuple[int, int] = (0, 0)  # (how many, bytes) killed uploads left on the store
    packs: tuple[tuple[str, int, int], ...] = ()  # (pack id, bytes freed, objects) of store
    repacked: tuple[str, ...] = ()  # those of `packs` whose live entries went to a new pack


class Doubt(NamedTuple):
    what: str  # what could not be read (so may name objects)
    fix: str  # how to make it readable


class Proof:
    """What gc read (`needed`), and what it could not (`doubts`)."""

    def __init__(self, force: bool, command: str) -> None:
        self.needed = Needed()
        self.doubts: list[Doubt] = []
        self.force = force
        self.command = command

    def doubt(self, what: str, fix: str) -> None:
        self.doubts.append(Doubt(what, fix))

    def settle(self) -> None:
        """Refuse (nothing deleted) on any doubt, unless forced: then warn and go on."""
        if not self.doubts:
            return
        if self.force:
            for d in self.doubts:
                ui.warn(f"{d.what} (--force: deleting what nothing that was read names)")
            return
        also = "".join(f"\n  also: {d.what}" for d in self.doubts[1:])
        fixes = "; ".join(dict.fromkeys(d.fix for d in self.doubts))
        raise GitMvmError(
            f"{self.doubts[0].what}; nothing was deleted{also}",
            f"{fixes}; or `{self.command} --force` deletes anyway, at the risk that what "
            "could not be read needs those objects",
        )


# --- reading one clone -------------------------------------------------------------------


def read_clone(proof: Proof, repo: Repo, cache: Cache, commits: Sequence[str] = (),
               where: str = "this clone") -> None:
    """Every pointer `repo` names (refs, reflogs, every worktree's index and pointer files,
    and `commits` with their history) into `proof.needed`; what cannot be read, a doubt."""
    if repo.git("rev-parse", "--is-shallow-repository").strip() == b"true":
        there = "" if where == "this clone" else f" in {repo.root}"
        proof.doubt(f"{where} is shallow: the versions older than its history are unknown",
                    f"`git fetch --unshallow`{there} first")
    unreadable: list[str] = []
    blobs = pointer_blobs_in_commits(repo, ["--all", "--reflog"], commits)
    pointers = []
    for wt in repo.worktrees():
        blobs.update(pointer_blobs_in_index(wt.repo))
        if wt.missing:
            _doubt_missing_worktree(proof, repo, wt.path, wt.repo.git_dir)
        else:
            pointers += work_tree_pointers(wt.repo, unreadable)
    try:
        pointers += parse_pointers(repo, blobs, unreadable)
    except GitMvmError as exc:  # the blobs themselves cannot be read (a partial clone)
        raise GitMvmError(f"{exc.message}; nothing was deleted", exc.hint) from None
    if unreadable:
        more = f" (and {len(unreadable) - 1} more)" if len(unreadable) > 1 else ""
        proof.doubt(f"cannot read pointer {unreadable[0]}{more}, so what it names is unknown",
                    "upgrade gitmv if a newer one wrote it (pip install -U gitmv), or fix the "
                    "pointer")
    for ptr in pointers:
        proof.needed.add(ptr, cache)


def _doubt_missing_worktree(proof: Proof, repo: Repo, path: str, admin: str) -> None:
    """A worktree whose directory is missing: its index was read, its files cannot be."""
    git = f"git --git-dir={repo.common_dir}" if repo.bare else "git"  # another clone's
    unlock = f"`{git} worktree unlock {path}`, then " if os.path.exists(
        os.path.join(admin, "locked")) else ""
    proof.doubt(f"worktree {path} is missing, so the pointer files in it that git does not "
                "track are unknown",
                f"mount it (or put it back); if it is gone for good, {unlock}"
                f"`{git} worktree prune`")


def read_manifests(proof: Proof, cache: Cache, store: Store | None, why: str) -> None:
    """The files of directories whose manifest is not in the cache: read from `store`."""
    from gitmv.transfer.engine import download

    unknown = list(dict.fromkeys(proof.needed.unknown_dirs))
    if not unknown:
        return
    failed = len(unknown)
    if store is not None:
        try:
            fails = download(cache, store, unknown).failed
            failed = len(fails)
            if fails:  # the store's own word for the first (`not on remote`, a bad hash, ...)
                why = f"sha256:{fails[0][0]}: {fails[0][1]}"
        except GitMvmError as exc:
            why = exc.message
    for oid in unknown:
        if cache.has(oid):
            for e in cache.read_manifest(oid, f"manifest sha256:{oid}"):
                proof.needed.files[e.oid] = None
    if failed:
        proof.doubt(f"{ui.plural(failed, 'directory manifest')} that pointers name are not in "
                    "the cache "
                    "and could not be fetched" + (f" ({why})" if why else "")
                    + ", so the files they list are unknown",
                    "make the remote reachable")


# --- the local cache ---------------------------------------------------------------------


def _same_dir(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


class Registered(NamedTuple):
    repo: Repo | None  # the clone, when git can open it
    state: str  # else what is wrong: "is gone", "is unreadable", "cannot be opened by git"
    why: str  # and how that shows ("Permission denied", git's line)


def open_clone(git_dir: str) -> Registered:
    """The registered clone at `git_dir` (its work trees are `Repo.worktrees`). Gone only
    when its directory provably does not exist: one the file system or git may not read
    (permissions, another user's clone git calls of dubious ownership) is unreadable, and
    forgetting it would let gc delete what it names."""
    try:
        os.stat(git_dir)
    except (FileNotFoundError, NotADirectoryError):
        return Registered(None, "is gone", "")
    except OSError as exc:
        return Registered(None, "is unreadable", exc.strerror or str(exc))
    for sub in ("", "refs", "objects"):
        path = os.path.join(git_dir, sub) if sub else git_dir
        if os.path.exists(path) and not os.access(path, os.R_OK | os.X_OK):
            return Registered(None, "is unreadable", f"{path}: Permission denied")
    repo = Repo.at_git_dir(git_dir)
    try:
        repo.git("rev-parse", "--git-dir")
    except GitFailed as exc:
        if "Permission denied" in exc.stderr or "dubious ownership" in exc.stderr:
            return Registered(None, "is unreadable", exc.detail)
        return Registered(None, "cannot be opened by git", exc.detail)
    except OSError as exc:
        return Registered(None, "is unreadable", exc.strerror or str(exc))
    return Registered(repo, "", "")


def other_clones(proof: Proof, ws: Workspace, forget: Sequence[str]) -> list[Repo]:
    """The other clones registered in this cache that git can open; the rest are doubts
    (`--forget-clone` drops a registration; with --force a clone that is gone is dropped)."""
    from gitmv.worktree import clones

    for path in forget:
        if not clones.forget(ws.cache.root, path):
            known = ", ".join(r.git_dir for r in clones.registered(ws.cache.root)) or "none"
            raise GitMvmError(f"no clone {path} is registered in the cache {ws.cache.root}",
                              f"registered: {known}")
    regs, unreadable = clones.read_all(ws.cache.root)
    for u in unreadable:
        proof.doubt(f"{u.what}, so a clone that uses the cache may be unknown", u.fix)
    if ws.unregistered is not None:  # the others may have failed the same way
        proof.doubt("this clone cannot register in the shared cache, so clones that could not "
                    "either are unknown", ws.unregistered.hint or "")
    repos = []
    for reg in regs:
        if _same_dir(reg.git_dir, ws.repo.common_dir):
            continue
        found = open_clone(reg.git_dir)
        if found.repo is not None:
            repos.append(found.repo)
            continue
        why = f" ({found.why})" if found.why else ""
        what = f"clone {reg.git_dir} uses this cache but {found.state}{why}, so what it names " \
            "is unknown"
        if found.state == "is gone":
            proof.doubt(what, f"if it was deleted, `git mvm gc --forget-clone {reg.git_dir}` "
                        "(a moved clone registers again when gitmv next runs there)")
            if proof.force:
                clones.forget(ws.cache.root, reg.git_dir)
        elif found.state == "is unreadable":
            proof.doubt(what, f"run gc as the user who owns {reg.git_dir}, or give yourself "
                        f"read access to it (`chmod -R a+rX {reg.git_dir}`; for git's ownership "
                        f"check, `git config --global --add safe.directory {reg.git_dir}`)")
        else:
            proof.doubt(what, f"repair the repository at {reg.git_dir} (`git --git-dir="
                        f"{reg.git_dir} fsck`); if nothing there is needed any more, "
                        f"`git mvm gc --forget-clone {reg.git_dir}`")
    return repos


@contextlib.contextmanager
def _locked(paths: Sequence[str]) -> Iterator[None]:
    """Hold every clone's repository lock (in one order: two gcs never wait on each other)."""
    from gitmv.fsutil import repo_lock

    with contextlib.ExitStack() as stack:
        for path in sorted(set(paths)):
            stack.enter_context(repo_lock(path))
        yield


def collect(ws: Workspace, dry_run: bool, force: bool = False,
            forget: Sequence[str] = ()) -> GcResult:
    proof = Proof(force, "git mvm gc")
    cutoff = time.time() - engine.GRACE_SECONDS
    others = other_clones(proof, ws, forget)
    locks = [ws.lock_path] + [os.path.join(r.common_dir, "mvm", "lock") for r in others]
    with _locked(locks):
        read_clone(proof, ws.repo, ws.cache)
        for repo in others:
            read_clone(proof, repo, ws.cache, where=f"clone {repo.common_dir}")
        if proof.needed.unknown_dirs:
            _read_manifests_from_default(proof, ws)
        proof.settle()
        needed = proof.needed.all()
        kept = 0
        doomed: list[tuple[str, str, int]] = []  # (oid, path, size)
        # no command merges packs meanwhile (a merge's pack would be young and unplanned)
        with ws.cache.packs.merging(wait=True) if not dry_run else contextlib.nullcontext(True):
            ws.cache.packs.reload()  # (packs a merge wrote before the lock was ours)
            if not dry_run:
                for pid, why in ws.cache.packs.index_unindexed(cutoff):
                    ui.warn(f"pack {pid[:12]} has no index and is damaged ({why}): "
                            "run `git mvm fsck`")
            repack = plan_repack(ws.cache, needed, cutoff)
            for oid in ws.cache.iter_loose():
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
                doomed.append((oid, path, st.st_size))
            if (doomed or repack.dead) and not dry_run:
                states = [ws.state, *_states_of(others)]
                _forget_complete(states, before=True)
                for _, path, _ in doomed:
                    remove_file(path)
                apply_repack(ws.cache, repack)
                _forget_complete(states, before=False)
            elif repack.sources and not dry_run:  # only merging: no object goes
                apply_repack(ws.cache, repack)
        kept += repack.kept
        deleted = [(oid, size) for oid, _, size in doomed] + repack.dead
        partials = _stale_partials(ws.cache, needed, cutoff, dry_run)
    return GcResult(kept, deleted, tuple(partials))


class Repack(NamedTuple):
    """What gc does to the cache's packs: `sources` rewritten into one new pack without their
    dead entries, `empty` (nothing live in them) removed."""

    sources: list[str]
    empty: list[str]
    young: set[str]  # packs published within the grace period: every entry kept
    dead: list[tuple[str, int]]  # (oid, size) of the entries that go
    kept: int
    needed: set[str]


REPACK_DEAD = 0.5  # a store pack at least this share of whose bytes nothing needs is repacked
PACKS_MAX = 16  # more packs than this (after the dead ones go) are merged into one


def plan_repack(cache: Cache, needed: set[str], cutoff: float) -> Repack:
    """Which packs hold entries nothing needs (outside the grace period), and which are
    merged because there are too many."""
    sources, empty, young = [], [], set()
    dead: list[tuple[str, int]] = []
    kept = 0
    indexes = cache.packs.indexes()
    for pid, idx in indexes.items():
        if cache.packs.mtime(pid) > cutoff:
            young.add(pid)
            kept += idx.count
            continue
        gone = [(e.id, e.length) for e in idx if e.id not in needed]
        kept += idx.count - len(gone)
        dead += gone
        if len(gone) == idx.count:
            empty.append(pid)
        elif gone:
            sources.append(pid)
    if len(indexes) - len(empty) > PACKS_MAX:
        sources = [pid for pid in indexes if pid not in empty]
    return Repack(sources, empty, young, dead, kept, needed)


def apply_repack(cache: Cache, plan: Repack) -> None:
    """The new pack first (durable), then the old packs and the empty ones (index first)."""
    if plan.sources:
        cache.make_tmp_dir()
        cache.packs.rewrite(cache.tmp_dir, plan.sources,
                            lambda pid, e: pid in plan.young or e.id in plan.needed)
    for pid in plan.empty:
        cache.packs.remove(pid)


def _states_of(clones: Sequence[Repo]) -> list[StatCache]:
    """The stat caches of the other clones of a shared cache (those that have one; the file
    `Workspace` opens)."""
    paths = [os.path.join(r.mvm_dir, "state.sqlite") for r in clones]
    return [StatCache(p) for p in paths if os.path.exists(p)]


def _forget_complete(states: Sequence[StatCache], before: bool) -> None:
    """Every clone of the cache forgets which directories it had whole there (each clone's
    stat cache records them, so that adding one again stats none of its objects): the
    objects gc deletes may be theirs. Before the deletion a record that cannot be cleared
    stops gc; after it (a `status` may have marked one meanwhile), a warning."""
    for state in states:
        try:
            state.forget_complete()
        except GitMvmError as exc:
            if not before:
                ui.warn(f"{exc.message}: run `git mvm fsck` in that clone")
                continue
            raise GitMvmError(f"{exc.message}; nothing was deleted",
                              "gc clears what every clone of the cache records as whole there: "
                              "make that file writable for you, or run gc as its owner") from None
        finally:
            if state is not states[0]:
                state.close()


def _stale_partials(cache: Cache, needed: set[str], cutoff: float, dry_run: bool
                    ) -> list[tuple[str, int]]:
    """Interrupted downloads (`tmp/partial-<oid>`, kept for a later run to resume) of objects
    nothing needs, untouched within the grace period and not being written now (a download
    holds its partial's lock): (oid, size) of each removed. A needed object's partial goes
    too once the object is in the cache (a packed pull fetched it whole some other way), as
    nothing would ever resume it."""
    import fcntl

    out: list[tuple[str, int]] = []
    try:
        names = os.listdir(cache.tmp_dir)
    except FileNotFoundError:
        return out
    for name in names:
        oid = name.removeprefix("partial-")
        if oid == name or (oid in needed and not cache.has(oid)):
            continue
        path = os.path.join(cache.tmp_dir, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # in use: a download holds it
            if st.st_mtime > cutoff:
                continue
            if not dry_run:
                os.unlink(path)
            out.append((oid, st.st_size))
        except OSError:
            continue
        finally:
            os.close(fd)
    return out


def _read_manifests_from_default(proof: Proof, ws: Workspace) -> None:
    from gitmv.remotes import base as remotes
    from gitmv.transfer.view import packed_view

    try:
        store: Store | None = packed_view(ws, remotes.resolve(ws.repo, ws.config))
        why = ""
    except GitMvmError as exc:
        store, why = None, exc.message
    read_manifests(proof, ws.cache, store, why)


# --- a remote store ----------------------------------------------------------------------


def remote_commits(proof: Proof, repo: Repo) -> list[str]:
    """The commits every ref of every git remote names (`git ls-remote`), each present here;
    a remote that cannot be listed, or names commits this clone lacks, is a doubt."""
    names = repo.git("remote").decode().split()
    if not names:
        proof.doubt("this clone has no git remote, so the branches and tags that name objects "
                    "on the store cannot be read",
                    "add the remote the team pushes to (`git remote add origin URL`) and fetch")
    commits: list[str] = []
    for name in names:
        try:
            out = repo.git("ls-remote", name)
        except GitFailed as exc:
            proof.doubt(f"git remote {name!r} could not be listed ({exc.detail}), so its branches "
                        "are unknown",
                        f"make it reachable, or `git remote remove {name}` if it is gone")
            continue
        targets: dict[str, str] = {}
        for line in out.decode("utf-8", "surrogateescape").splitlines():
            sha, _, ref = line.partition("\t")
            if ref.endswith("^{}"):
                targets[ref[:-3]] = sha  # an annotated tag, peeled
            else:
                targets.setdefault(ref, sha)
        kinds = _object_kinds(repo, sorted(set(targets.values())))
        absent = sorted(ref for ref, sha in targets.items() if kinds.get(sha) is None)
        if absent:
            shown = ", ".join(absent[:3]) + (", …" if len(absent) > 3 else "")
            proof.doubt(f"{ui.plural(len(absent), 'ref')} of git remote {name!r} name commits "
                        "not in this "
                        f"clone ({shown}), so their objects cannot be told from garbage",
                        _fetch_hint(repo, name, absent))
        for ref, sha in targets.items():
            if kinds.get(sha) == "commit":
                commits.append(sha)
            elif kinds.get(sha) == "tree":
                proof.doubt(f"ref {ref} of git remote {name!r} names a tree, which gc does not "
                            "read", f"point {ref} at a commit")
    return sorted(set(commits))


def _object_kinds(repo: Repo, shas: Sequence[str]) -> dict[str, str]:
    """{sha: type} of the objects this repository has (missing ones left out)."""
    if not shas:
        return {}
    out = repo.git("cat-file", "--batch-check", input="".join(f"{s}\n" for s in shas).encode())
    kinds: dict[str, str] = {}
    for line in out.decode().splitlines():
        parts = line.split()
        if len(parts) == 3:
            kinds[parts[0]] = parts[1]
    return kinds


def _fetch_hint(repo: Repo, name: str, refs: Sequence[str]) -> str:
    """The `git fetch` that brings the commits of `refs` (refs of git remote `name`): its
    tags, and each other namespace by an explicit refspec, branches too where this clone's
    `remote.NAME.fetch` does not take them all (a `--single-branch` or `--depth` clone, a
    narrowed refspec: a plain fetch would bring nothing new, and gc would refuse again)."""
    spaces = sorted({"/".join(r.split("/")[:2]) for r in refs if r.startswith("refs/")}
                    - {"refs/heads", "refs/tags"})
    specs = [f"'+{s}/*:refs/remotes/{name}/{s[5:]}/*'" for s in spaces]
    if any(r.startswith("refs/heads/") for r in refs):
        configured = repo.git("config", "--get-all", f"remote.{name}.fetch", check=False)
        sources = {line.lstrip("+").split(":")[0]
                   for line in configured.decode("utf-8", "replace").splitlines()}
        if "refs/heads/*" not in sources:
            specs.insert(0, f"'+refs/heads/*:refs/remotes/{name}/*'")
    return f"`git fetch {name} --tags{''.join(' ' + s for s in specs)}` first"


def collect_remote(ws: Workspace, store: Store, dry_run: bool, force: bool = False) -> GcResult:
    """Delete from `store` what nothing names (see the module docstring)."""
    from gitmv.transfer.view import packed_view

    if not store.can_list:
        raise GitMvmError(
            f"remote {store.name!r} cannot list or delete objects",
            "gc --remote works on directory and S3 stores; clean a Git LFS server with its own "
            "tools",
        )
    store = packed_view(ws, store)
    proof = Proof(force, "git mvm gc --remote")
    temps = engine.clean_store_temps(store)  # what a killed gc left aside goes back first
    cutoff = time.time() - engine.GRACE_SECONDS  # before any ref is read
    delete_if_older = getattr(store, "delete_if_older", None)
    if getattr(store, "refresh", None) is None or delete_if_older is None:
        proof.doubt(f"remote {store.name!r} cannot refresh the objects a push relies on, so a "
                    "push running meanwhile could lose what gc deletes",
                    "run it while nobody pushes")
    packs = _StorePacks.of(store, proof)
    commits = remote_commits(proof, ws.repo)
    read_clone(proof, ws.repo, ws.cache, commits)
    read_manifests(proof, ws.cache, store, "")
    proof.settle()
    keep = proof.needed.all()
    listed = list(store.list_objects())
    in_packs = packs.objects() if packs else []
    # A manifest kept only for its age (a push from another clone, whose commits git has not
    # received yet) keeps its files too, however old they are: a later push trusts the
    # manifest on the store to stand for them and would never send them again.
    young = [oid for oid, _, mtime in listed + in_packs if oid not in keep and mtime > cutoff]
    keep |= _files_of_manifests(store, ws.cache, young)
    doomed = [(oid, size) for oid, size, mtime in listed if oid not in keep and mtime <= cutoff]
    live = keep | set(young)
    dead = packs.dead(live, cutoff) if packs else []
    sparse = packs.sparse(live, dead, cutoff) if packs else []
    kept_packed = len(in_packs) - sum(n for _, _, n in dead + sparse)
    repacked = tuple(pack_id for pack_id, _, _ in sparse)
    if dry_run:
        return GcResult(len(listed) - len(doomed) + kept_packed, doomed, temps=temps,
                        packs=tuple(dead + sparse), repacked=repacked)
    if packs:  # the live entries of mostly dead packs copied first, then they go as dead ones
        if sparse:
            packs.repack(sparse, live, ws.cache)
        # indexes first: what a push refreshed meanwhile stays, and keeps what it names
        keep |= packs.hide(dead + sparse, cutoff, ws.cache)
    # Manifests go first: one a push refreshes meanwhile stays, and keeps the files it names.
    manifests = _manifests_among(store, ws.cache, doomed)
    deleted: list[tuple[str, int]] = []
    for phase in ([d for d in doomed if d[0] in manifests],
                  [d for d in doomed if d[0] not in manifests]):
        for oid, size in phase:
            if oid in keep:
                continue
            if delete_if_older is None:
                store.delete(oid)
            elif not delete_if_older(oid, cutoff):
                keep.add(oid)  # refreshed since the listing: a push relies on it
                if oid in manifests:
                    keep |= _files_of_manifests(store, ws.cache, [oid])
                continue
            deleted.append((oid, size))
    gone = packs.remove(keep, cutoff) if packs else []
    kept_packed = len(in_packs) - sum(n for _, _, n in gone)
    return GcResult(len(listed) - len(deleted) + kept_packed, deleted, temps=temps,
                    packs=tuple(gone), repacked=repacked)


class _StorePacks:
    """The packs of a store of layout 2, as gc sees them: which are dead (no entry live,
    index and pack older than the grace period; a pack no index names, older than it: what
    a killed push left), hidden (their indexes deleted, each only if not refreshed since),
    then removed, unless what a push refreshed meanwhile needs them (their index is then
    put back from the local copy, before any pack goes)."""

    def __init__(self, store: Any) -> None:
        from gitmv.transfer.packed import PackedStore

        self.store: PackedStore = store
        self.hidden: list[tuple[str, int, int]] = []
        self.new: list[str] = []  # packs a repack wrote: what they hold is needed nowhere else
        self._listed: list[tuple[str, int, float]] = []
        self._chunks: set[str] = set()

    @classmethod
    def of(cls, store: Store, proof: Proof) -> _StorePacks | None:
        from gitmv.transfer.packed import PackedStore

        if not isinstance(store, PackedStore):
            return None
        index = store.ready(strict=False)
        for pack_id, why in index.bad.items():
            proof.doubt(f"the index of pack {pack_id[:12]} on remote {store.name!r} does not "
                        f"read ({why}), so what that pack holds is unknown",
                        "`git mvm fsck --remote --repair` rebuilds it from its pack")
        return cls(store)

    def objects(self) -> list[tuple[str, int, float]]:
        from gitmv.transfer.packed import packed_objects

        return packed_objects(self.store.index)

    def dead(self, live: set[str], cutoff: float) -> list[tuple[str, int, int]]:
        from gitmv.objects.pack import CHUNK, pack_id_of
        from gitmv.remotes.retry import with_retries
        from gitmv.transfer.packed import PACK_DIR, live_chunks, pack_is_live

        store, index = self.store, self.store.index
        chunks = live_chunks(store, live)
        listed = with_retries(lambda: store.raw.list_named(PACK_DIR), f"list {store.name}")
        self._listed, self._chunks = listed, chunks  # (for `sparse`)
        out = []
        for name, size, mtime in listed:
            pack_id = pack_id_of(name[len(PACK_DIR):])
            if pack_id is None or not name.endswith(".pack") or mtime > cutoff:
                continue
            idx = index.indexes.get(pack_id)
            if idx is None:
                if pack_id not in index.bad:  # (a killed push's: no index ever named it)
                    out.append((pack_id, size, 0))
                continue
            if index.mtimes.get(pack_id, 0.0) <= cutoff and not pack_is_live(idx, live, chunks):
                out.append((pack_id, size, sum(1 for e in idx if e.kind != CHUNK)))
        return out

    def sparse(self, live: set[str], dead: list[tuple[str, int, int]], cutoff: float
               ) -> list[tuple[str, int, int]]:
        """Packs (and indexes) older than the grace period that hold something live, but of
        whose bytes nothing needs REPACK_DEAD or more: (pack id, bytes a repack frees, objects
        nothing needs). Call after `dead` (its listing and live chunks)."""
        from gitmv.objects.pack import CHUNK, ENTRY_HEADER, pack_id_of
        from gitmv.transfer.packed import PACK_DIR

        index, chunks = self.store.index, self._chunks
        skip = {pack_id for pack_id, _, _ in dead}
        out = []
        for name, size, mtime in self._listed:
            pack_id = pack_id_of(name[len(PACK_DIR):])
            if pack_id is None or pack_id in skip or not name.endswith(".pack") or \
                    mtime > cutoff or index.mtimes.get(pack_id, cutoff + 1) > cutoff:
                continue
            idx = index.indexes.get(pack_id)
            if idx is None:
                continue
            live_bytes, dead_objects = 0, 0
            for e in idx:
                if e.id in (chunks if e.kind == CHUNK else live):
                    live_bytes += ENTRY_HEADER.size + e.length
                elif e.kind != CHUNK:
                    dead_objects += 1
            if size - live_bytes >= REPACK_DEAD * size:
                out.append((pack_id, size - live_bytes, dead_objects))
        return out

    def repack(self, sparse: list[tuple[str, int, int]], live: set[str], cache: Cache) -> None:
        """The live entries of the `sparse` packs, read and verified, into new packs, each
        confirmed on the store before its index; then the sparse packs go as dead ones do
        (`hide`, `remove`): a push that relies on one meanwhile keeps it."""
        from gitmv.objects import chunking
        from gitmv.objects.pack import CHUNK, CHUNKS
        from gitmv.remotes.retry import RemoteError
        from gitmv.transfer.packpull import Want, coalesce, read_verified
        from gitmv.transfer.packpush import Packer

        store, chunks = self.store, self._chunks
        packer = Packer(store, cache, force=True)
        try:
            for pack_id, _, _ in sparse:
                idx = store.index.indexes[pack_id]
                kinds: dict[str, list[int]] = {}
                wants, lists = [], []
                for e in idx:
                    if e.id not in (chunks if e.kind == CHUNK else live):
                        continue
                    if e.kind == CHUNKS:
                        lists.append(e)
                        continue
                    kinds.setdefault(e.id, []).append(e.kind)
                    wants.append(Want(e.id, pack_id, e.offset, e.length))
                for read in coalesce(wants):
                    for w, piece in read_verified(store, read).items():
                        for kind in kinds.pop(w, []):
                            packer.add_entry(kind, w, piece)
                for e in lists:  # after the chunks; a list is not its own hash: checked by form
                    data = store.read_range(pack_id, e.offset, e.length)
                    chunking.parse_list(data, f"remote {store.name!r}: chunk list of "
                                              f"sha256:{e.id}")
                    packer.add_entry(CHUNKS, e.id, data)
            packer.close()
        except BaseException:
            packer.abort()
            raise
        if packer.broken:
            raise RemoteError(f"remote {store.name!r}: a repacked pack could not be sent "
                              f"({packer.broken}); nothing was deleted",
                              "run `git mvm gc --remote` again")
        self.new = packer.sent

    def hide(self, dead: list[tuple[str, int, int]], cutoff: float, cache: Cache) -> set[str]:
        """Delete the indexes of `dead` (those not refreshed since `cutoff`); returns what
        the refreshed ones hold, with the files of their manifests: a push relies on it."""
        from gitmv.objects.pack import CHUNK, index_name
        from gitmv.transfer.packed import INDEX_DIR

        store = self.store
        relied: set[str] = set()
        for pack_id, size, n in dead:
            idx = store.index.indexes.get(pack_id)
            if idx is None or self._delete_if_older(INDEX_DIR + index_name(pack_id), cutoff):
                self.hidden.append((pack_id, size, n))
            else:
                relied.update(e.id for e in idx if e.kind != CHUNK)
        return relied | _files_of_manifests(store, cache, sorted(relied)) if relied else relied

    def remove(self, keep: set[str], cutoff: float) -> list[tuple[str, int, int]]:
        """The packs hidden that nothing kept since needs, deleted; the rest shown again."""
        from gitmv.objects.pack import index_name, pack_name
        from gitmv.remotes.retry import with_retries
        from gitmv.transfer.packed import INDEX_DIR, PACK_DIR, live_chunks, pack_is_live

        store, index = self.store, self.store.index
        chunks = live_chunks(store, keep)
        copies = [index.indexes[p] for p in self.new if p in index.indexes]
        gone = []
        for pack_id, size, n in self.hidden:
            idx = index.indexes.get(pack_id)
            if idx is not None and pack_is_live(idx, keep, chunks, copies):
                local = os.path.join(index.dir, index_name(pack_id))
                with_retries(partial(store.raw.put_named, INDEX_DIR + index_name(pack_id),
                                     local), f"restore an index on {store.name}")
                continue
            with_retries(partial(store.raw.delete_named, PACK_DIR + pack_name(pack_id)),
                         f"delete a pack on {store.name}")
            if idx is not None:
                index.drop(pack_id)
            gone.append((pack_id, size, n))
        return gone

    def _delete_if_older(self, name: str, cutoff: float) -> bool:
        from gitmv.remotes.retry import with_retries

        raw = self.store.raw
        conditional = getattr(raw, "delete_named_if_older", None)
        if conditional is None:
            with_retries(lambda: raw.delete_named(name), f"delete on {self.store.name}")
            return True
        return bool(with_retries(lambda: conditional(name, cutoff),
                                 f"delete on {self.store.name}"))


def _open(store: Store, cache: Cache, oid: str) -> BinaryIO:
    """An object's bytes: from the cache when it has them, else from the store."""
    if cache.has(oid):
        return cache.open_object(oid)
    return store.open_download(oid, 0)[0]


def _head(store: Store, cache: Cache, oid: str, n: int) -> bytes:
    with _open(store, cache, oid) as src:
        return src.read(n)


def _manifests_among(store: Store, cache: Cache, objects: Sequence[tuple[str, int]]
                     ) -> set[str]:
    """Which of `objects` are directory manifests (told by their first bytes)."""
    from gitmv.objects import manifest

    n = len(manifest.MAGIC)
    return {oid for oid, size in objects
            if size >= n and _head(store, cache, oid, n) == manifest.MAGIC}


def _files_of_manifests(store: Store, cache: Cache, oids: Sequence[str]) -> set[str]:
    """The file objects named by those of `oids` that are directory manifests (told by their
    first bytes; read from the cache or the store)."""
    from gitmv.objects import manifest

    files: set[str] = set()
    for oid in oids:
        with _open(store, cache, oid) as src:
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
