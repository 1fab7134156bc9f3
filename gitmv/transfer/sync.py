"""push / fetch / pull of artifacts: pick objects, move them, report per object."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gitmv import ui
from gitmv.errors import FormatError, GitFailed, GitMvmError
from gitmv.objects.pointer import Pointer, is_pointer_data
from gitmv.remotes.base import Store, holds
from gitmv.transfer import reach
from gitmv.transfer.engine import (
    Limits,
    Oids,
    TransferResult,
    download,
    held_as,
    refresh_after,
    rely_on,
    stat_on,
    tell_sizes,
    upload,
    verify_on,
)
from gitmv.transfer.reach import (
    file_windows,
    known_sizes,
    needed_by,
    parse_pointers,
    pointer_blobs_in_commits,
)
from gitmv.transfer.view import packed_view
from gitmv.worktree.workspace import Workspace

if TYPE_CHECKING:
    from gitmv.transfer.audit import Problem

NOT_ON_REMOTE = "is not on remote"  # how every store says it lacks an object
NOT_CACHED = "not in the cache"  # how an upload says this clone lacks one


class TransferFailed(GitMvmError):
    def __init__(self, verb: str, store: Store, failed: Sequence[tuple[str, str]],
                 hint: str | None = None) -> None:
        lines = [f"sha256:{oid}: {why}" for oid, why in failed[:10]]
        more = f"\n  … and {len(failed) - 10} more" if len(failed) > 10 else ""
        if hint is not None:
            pass
        elif verb.startswith("fetch") and all(NOT_ON_REMOTE in why for _, why in failed):
            # fetching again cannot help (and checkout's "run `git mvm pull`" would loop)
            hint = ("nobody pushed these bytes to this remote: whoever committed their pointers "
                    "(`git log -- PATH.mvm` says who) runs `git mvm push` in the clone that has "
                    "them")
        elif verb.startswith("push") and all(NOT_CACHED in why for _, why in failed):
            hint = ("this clone never had these bytes: push from the clone where they were "
                    "added (`git log -- PATH.mvm` says who committed them)")
        else:
            hint = ("fix the cause above and run the command again: finished objects are not "
                    "sent twice")
        super().__init__(
            f"{verb} {ui.plural(len(failed), 'object')} failed (remote {store.name!r}):\n  "
            + "\n  ".join(lines) + more, hint)
        self.failed = list(failed)


def commit_pointers(ws: Workspace, revs: Sequence[str]) -> list[Pointer]:
    return parse_pointers(ws.repo, pointer_blobs_in_commits(ws.repo, revs))


def _complete_dirs(ws: Workspace, store: Store, pointers: Sequence[Pointer]) -> set[str]:
    """Directory oids whose manifest the store already holds (at its size).

    gitmv uploads a manifest only after every file object it names is on the store (the
    phases of `upload`, each confirmed by the store), and `gc --remote` deletes a file object
    only when no manifest it keeps names it; so a manifest on the store stands for the whole
    directory and its files need no check of their own. A no-op push of a 20,000-file
    dataset is one request.
    """
    dirs = list(dict.fromkeys(p.oid for p in pointers if p.kind == "dir"))
    if not dirs:
        return set()
    sizes = known_sizes(ws, dirs, pointers, entries=False)
    tell_sizes(store, sizes)
    held = stat_on(store, dirs)
    return rely_on(store, held, [o for o in dirs if holds(held.get(o), o, sizes.get(o))])


def push_pointers(
    ws: Workspace, store: Store, pointers: Sequence[Pointer], jobs: int, full: bool = False
) -> TransferResult:
    """Upload every object the pointers name that the store lacks or holds at another size;
    manifests go last. `full` checks every file of a directory even when its manifest is on
    the store, and verifies the bytes of every object the store holds (its own sha256 where
    it keeps one, else a download, as `fsck --remote --verify`): other bytes of the right
    size are replaced from the cache's verified copy.

    The file objects go in windows of reach.WINDOW (`file_windows`), each checked and sent
    before the next is read. Without `full`, a directory whose earlier version (the same
    path in a recent commit) has its manifest on the store is checked only for the entries
    that differ from it (`_bases`): a one-file change to a million-file dataset checks one
    object, not a million.

    What the push finds on the store and relies on, it refreshes when old (`rely_on`):
    `gc --remote` keeps objects touched within its grace period, so none of them goes before
    git sends the refs that name them. A push that ran longer than `refresh_after()` refreshes
    them again at its end, and sends again any that went meanwhile.
    """
    started = time.monotonic()
    limits = Limits.of(ws.config)
    store = packed_view(ws, store)
    # --full re-checks the files it can: those of manifests in the cache (one only on the
    # store names files this clone cannot have, so there it stands for them still)
    unread = [p for p in pointers if not full or (p.kind == "dir" and not ws.cache.has(p.oid))]
    complete = _complete_dirs(ws, store, unread)
    rest = [p for p in pointers if not (p.kind == "dir" and p.oid in complete)]
    manifests = {p.oid: ws.cache.size_of(p.oid) or 0 for p in rest if p.kind == "dir"}
    unknown = [o for o in manifests if not ws.cache.has(o)]
    if unknown:  # not in the cache, and (see above) not on the store either
        raise TransferFailed(
            "push:", store,
            [(o, "directory manifest is neither in the cache nor on the remote")
             for o in unknown],
        )
    bases = {} if full else _bases(ws, store, rest)
    named = sum(p.files or 0 for p in pointers if p.kind == "dir") + len(pointers)
    small = named <= reach.WINDOW  # every oid checked can be kept, for an exact count at the end
    checked: set[str] = set()
    yielded: dict[str, int] = {}
    total = _Total()
    gone: list[tuple[str, str]] = []
    window: dict[str, int] | None = None
    for nxt in file_windows(ws.cache, rest, bases, counts=yielded):
        if window is not None:
            _push_window(ws, store, window, [], jobs, full, limits, total, gone)
        window = nxt
        if small:
            checked.update(nxt)
    # the last window goes with the manifests (one pack where the store keeps packs)
    _push_window(ws, store, window or {}, list(manifests), jobs, full, limits, total, gone)
    checked.update(manifests)
    if gone:
        raise TransferFailed("push:", store, _where_needed(ws, gone))
    if time.monotonic() - started > refresh_after():
        _refresh_again(ws, store, rest, [*manifests, *complete, *bases.values()], jobs)
    # already there, and not counted yet: the objects of directories whose manifest is on the
    # store, and those a directory shares with its earlier version there
    trusted = [p for p in pointers if p.kind == "dir" and (p.oid in complete or p.oid in bases)]
    if small:
        vouched = len(needed_by(ws, trusted).all() - checked)
    else:  # (an object named twice may count twice)
        vouched = sum((p.files or 0) - yielded.get(p.oid, 0) + (p.oid in complete)
                      for p in {p.oid: p for p in trusted}.values())
    return TransferResult(total.done, total.present + vouched, [], total.nbytes,
                          total.replaced)


class _Total:
    """What the windows of a push moved, added up (what moved as raw oids)."""

    def __init__(self) -> None:
        self.done = Oids()
        self.present = self.nbytes = self.replaced = 0


def _push_window(ws: Workspace, store: Store, window: dict[str, int], manifests: list[str],
                 jobs: int, full: bool, limits: Limits, total: _Total,
                 gone: list[tuple[str, str]]) -> None:
    """Send the objects of one window ({oid: size}) the store lacks, then `manifests`. One
    the cache lacks must be on the store (else it goes to `gone`); once anything is gone,
    nothing more is sent (the next windows are still checked, so that all are named)."""
    oids = [*window, *(o for o in manifests if o not in window)]
    missing = [o for o in oids if not ws.cache.has(o)]
    if missing:
        sizes = {o: window[o] for o in missing if o in window}
        tell_sizes(store, sizes)
        held = stat_on(store, missing, checksums=full)
        lost = [(o, "not in the cache (run `git mvm fetch` from where it was added)"
                 if o not in held else f"not in the cache, and on the remote wrong: "
                 f"{held_as(held[o], o, sizes.get(o))}; push it from a clone that has it")
                for o in missing if not holds(held.get(o), o, sizes.get(o))]
        if full and not lost:  # the store's copy is the only one: is it the object?
            corrupt, unsure = verify_on(store, missing, held, sizes, limits, jobs)
            lost = [(o, f"not in the cache, and on the remote other bytes ({why}): push it "
                     "from a clone that has it") for o, why in sorted(corrupt.items())]
            lost += [(o, f"not in the cache, and the remote's copy could not be read to "
                      f"verify it: {why}") for o, why in sorted(unsure.items())]
        if not lost:
            on_remote = rely_on(store, held, missing)
            lost = [(o, "deleted from the store just now (by `gc --remote`), and not in the "
                     "cache") for o in missing if o not in on_remote]
        gone += lost
        total.present += len(missing)
    if gone:
        return
    have = set(missing)
    result = upload(ws.cache, store, [[o for o in window if o not in have],
                                      [o for o in manifests if o not in have]],
                    jobs, verify=full, limits=limits)
    if result.failed:
        raise TransferFailed("push:", store, result.failed)
    total.done.extend(result.transferred)
    total.present += result.present
    total.nbytes += result.nbytes
    total.replaced += result.replaced


BASE_COMMITS = 20  # commits that change pointers, newest first, searched for a directory's base


def _bases(ws: Workspace, store: Store, pointers: Sequence[Pointer]) -> dict[str, str]:
    """{dir oid: base}: for each directory of `pointers`, the manifest of an earlier version
    of it (the same pointer path, in one of the last BASE_COMMITS commits of HEAD that change
    pointers) that is in the cache and that the store holds at its size.

    A manifest on the store stands for every file it names (`_complete_dirs` says why), so
    of the directory only the entries that differ from its base need a check. The base is
    relied on (refreshed when old), as a complete manifest is. `push --full` uses no base."""
    dirs = {p.oid for p in pointers if p.kind == "dir"}
    if not dirs:
        return {}
    try:
        blobs = pointer_blobs_in_commits(ws.repo, ["-n", str(BASE_COMMITS), "HEAD"])
        datas = ws.repo.read_objects(list(blobs))
    except GitFailed:  # no commit yet
        return {}
    history: list[tuple[str, Pointer]] = []  # (path, pointer), newest first
    for (blob, path), data in zip(blobs.items(), datas, strict=True):
        if data is not None and is_pointer_data(data):
            try:
                history.append((path, Pointer.parse(data, f"blob {blob}")))
            except FormatError:
                continue
    paths: dict[str, set[str]] = {}
    for path, p in history:
        if p.oid in dirs:
            paths.setdefault(p.oid, set()).add(path)
    candidates: dict[str, list[str]] = {}
    for path, p in history:
        if p.kind == "dir" and p.oid not in dirs and ws.cache.has(p.oid):
            for d, at in paths.items():
                if path in at:
                    candidates.setdefault(d, []).append(p.oid)
    olds = list(dict.fromkeys(o for os_ in candidates.values() for o in os_))
    if not olds:
        return {}
    sizes = {o: ws.cache.size_of(o) or 0 for o in olds}
    tell_sizes(store, sizes)
    held = stat_on(store, olds)
    whole = rely_on(store, held, [o for o in olds if holds(held.get(o), o, sizes[o])])
    return {d: next(o for o in os_ if o in whole) for d, os_ in candidates.items()
            if any(o in whole for o in os_)}


def _where_needed(ws: Workspace, failed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each failure with the artifact path and the commit that need the object (read only
    when a push fails: one pass over the history's pointers)."""
    named = _needed_by_problems(ws, {o for o, _ in failed})
    out = []
    for oid, why in failed:
        p = named.get(oid)
        if p is None or not p.where:
            out.append((oid, why))
            continue
        at = f"commit {p.commits[0][:12]}" if p.commits else "the work tree"
        more = f" (and {len(p.where) - 1} more paths)" if len(p.where) > 1 else ""
        out.append((oid, f"{p.where[0]}{more}, needed by {at}: {why}"))
    return out


def _needed_by_problems(ws: Workspace, oids: set[str]) -> dict[str, Problem]:
    """Each of `oids` with the artifact paths and commits that need it (one pass over every
    pointer of the history and the work tree, and their cached manifests)."""
    from gitmv.transfer.audit import all_pointers, problems_of

    problems = problems_of(ws, all_pointers(ws)[0], dict.fromkeys(oids, ("", "")), ())
    return {p.oid: p for p in problems}


def _needed_where(ws: Workspace, oids: set[str]) -> dict[str, tuple[str, str]]:
    return {oid: (p.where[0], p.commits[0] if p.commits else "")
            for oid, p in _needed_by_problems(ws, oids).items() if p.where}


def _refresh_again(ws: Workspace, store: Store, pointers: Sequence[Pointer],
                   dirs: Sequence[str], jobs: int) -> None:
    """At the end of a long push: refresh everything it sent or relies on, window by window
    (every file of `pointers`, bases or not, then the manifests `dirs`), and send again what
    is gone (gc --remote took it while it was older than the grace period)."""
    for window in [*file_windows(ws.cache, pointers), dict.fromkeys(dict.fromkeys(dirs), 0)]:
        relied = list(window)
        held = stat_on(store, relied)
        gone = set(relied) - rely_on(store, held, [o for o in relied if o in held])
        if not gone:
            continue
        lost = [(o, "deleted from the store during the push, and not in the cache")
                for o in sorted(gone) if not ws.cache.has(o)]
        if lost:
            raise TransferFailed("push:", store, lost)
        again = upload(ws.cache, store, [[o for o in relied if o in gone]], jobs)
        if again.failed:
            raise TransferFailed("push:", store, again.failed)


FLUSH_WINDOWS = 4  # windows of small objects a fetch puts in one pack of the cache


def fetch_pointers(
    ws: Workspace, store: Store, pointers: Sequence[Pointer], jobs: int
) -> TransferResult:
    """Download what the cache lacks: directory manifests first, then every file object,
    each bounded by the size its pointer or manifest names and by its deadline. The file
    objects go in windows of reach.WINDOW (`file_windows`: a manifest read entry by entry),
    each planned, fetched and verified before the next is read, so a million-file dataset
    costs what a window does; the small ones become a pack of the cache every FLUSH_WINDOWS
    windows (200,000 objects) and at the end."""
    limits = Limits.of(ws.config)
    store = packed_view(ws, store)
    dirs = [p for p in pointers if p.kind == "dir"]
    manifest_sizes = {p.oid: p.manifest_size for p in dirs if p.manifest_size is not None}
    first = download(ws.cache, store, [p.oid for p in dirs], jobs, manifest_sizes, limits)
    failed = list(first.failed)
    done, present, nbytes = Oids(first.transferred), first.present, first.nbytes
    try:
        for n, window in enumerate(file_windows(ws.cache, pointers, failed=failed), 1):
            r = download(ws.cache, store, list(window), jobs, window, limits, flush=False)
            done.extend(r.transferred)
            present += r.present
            nbytes += r.nbytes
            failed += r.failed
            if n % FLUSH_WINDOWS == 0:
                ws.cache.flush()  # (a pack's index is built in memory: a few, not one huge)
    finally:
        ws.cache.flush()
    ws.remember_placed()  # verified as they arrived: a checkout need not read them again
    if failed:
        raise _fetch_failed(ws, store, failed)
    return TransferResult(done, present, failed, nbytes)


def _fetch_failed(ws: Workspace, store: Store, failed: Sequence[tuple[str, str]]
                  ) -> TransferFailed:
    """A fetch's failures. An object the store does not hold cannot come from fetching
    again: it is named with the artifact and the commit that need it, and the hint sends the
    user to where it can come from, a clone that has it."""
    try:
        held = stat_on(store, [o for o, _ in failed])
    except GitMvmError:
        return TransferFailed("fetch:", store, failed)
    absent = {o for o, _ in failed if o not in held}
    if not absent:
        return TransferFailed("fetch:", store, failed)
    where = _needed_where(ws, absent)
    lines = []
    for oid, why in failed:
        if oid in absent:
            path, commit = where.get(oid, ("", ""))
            at = f"{path}, committed in {commit[:12]}" if commit else path
            why = f"not on remote {store.name!r}" + (f" ({at})" if at else "")
        lines.append((oid, why))
    commits = list(dict.fromkeys(c for _, c in where.values() if c))
    made = (f" (the clone that made commit {', '.join(c[:12] for c in commits[:3])}"
            f"{' …' if len(commits) > 3 else ''})" if commits else "")
    return TransferFailed(
        "fetch:", store, lines,
        f"whoever committed it did not push its bytes: push them from a clone that has them"
        f"{made}: `git mvm push --all-commits` there; then fetch again")


def not_on_remote(ws: Workspace, store: Store, pointers: Sequence[Pointer]) -> set[str]:
    """Oids (of the given pointers) whose objects the store does not hold at their size.
    Every object is checked, so this finds a directory whose files were removed from the
    store behind gitmv's back (which `push` alone, trusting the manifest, would not
    notice)."""
    store = packed_view(ws, store)
    oids = sorted(needed_by(ws, pointers).all())
    sizes = known_sizes(ws, oids, pointers)
    tell_sizes(store, sizes)
    held = stat_on(store, oids)
    return {o for o in oids if not holds(held.get(o), o, sizes.get(o))}
