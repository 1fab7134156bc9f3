"""Which pointers (and so which objects) a set of commits, the index or the work trees need.

Used by push (objects the remote lacks), the pre-push hook and gc (objects nothing needs).
A pointer that cannot be read is never skipped: it names bytes nobody can know, so a push
cannot send them and gc cannot prove them unneeded. The readers refuse (`unreadable_error`,
naming every such pointer), or, given a list to collect them in, return the rest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from gitmv.errors import FormatError, GitFailed, GitMvmError, ObjectCorrupt
from gitmv.objects import manifest
from gitmv.objects.cache import Cache
from gitmv.objects.manifest import Entry
from gitmv.objects.pointer import SUFFIX, Pointer, is_pointer_data
from gitmv.repo import Repo

if TYPE_CHECKING:
    from gitmv.worktree.workspace import Workspace

ZERO = "0" * 40


def unreadable_error(problems: Sequence[str], hint: str | None, escape: str | None
                     ) -> GitMvmError:
    """The refusal for pointers that do not parse or whose blobs are missing (one line each
    in `problems`, naming the pointer)."""
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    fix = hint or "fix or restore the pointer file"
    return GitMvmError(
        f"cannot read pointer {problems[0]}{more}: it names bytes gitmv cannot know",
        f"{fix}; {escape}" if escape else fix,
    )


def pointer_blobs_in_commits(
    repo: Repo, revs: Iterable[str], commits: Sequence[str] = ()
) -> dict[str, str]:
    """{blob id: a path it had} for every pointer version that the given commits introduce.

    `revs` are `git log` arguments (`abc123`, `--not`, `--remotes=origin`, `--all`, …);
    `commits` are more commit ids, passed on stdin (any number of them). Every version of a
    pointer a reachable commit holds was introduced by some reachable commit (root commits
    count against the empty tree, merges against each parent), so this finds all of them, not
    only the tips.
    """
    args = ["log", "--format=", "--raw", "-z", "-m", "--no-renames", "--no-abbrev",
            "--diff-filter=d", *revs]
    stdin = None
    if commits:
        args.append("--stdin")
        stdin = "".join(f"{c}\n" for c in commits).encode()
    out = repo.git(*args, "--", f"*{SUFFIX}", input=stdin)
    blobs: dict[str, str] = {}
    fields = out.split(b"\0")
    i = 0
    while i < len(fields):
        rec = fields[i]
        if rec.startswith(b":"):
            parts = rec.split()
            if len(parts) >= 5 and parts[3].decode() != ZERO and i + 1 < len(fields):
                blobs.setdefault(parts[3].decode(),
                                 fields[i + 1].decode("utf-8", "surrogateescape"))
            i += 2  # the path follows
        else:
            i += 1
    return blobs


def pointer_blobs_in_index(repo: Repo) -> dict[str, str]:
    """{blob id: path} of the pointers staged in the index of `repo`'s worktree (see
    `Repo.worktrees` for the others), every stage of a conflict included."""
    out = repo.git("ls-files", "-s", "-z", "--", f"*{SUFFIX}")
    blobs: dict[str, str] = {}
    for rec in out.split(b"\0"):
        meta, _, path = rec.partition(b"\t")
        if meta:
            blobs.setdefault(meta.split()[1].decode(), path.decode("utf-8", "surrogateescape"))
    return blobs


def parse_pointers(
    repo: Repo, blobs: Mapping[str, str] | Iterable[str], unreadable: list[str] | None = None,
    escape: str | None = None,
) -> list[Pointer]:
    """The pointers in those blobs (a {blob: path} mapping names them better in errors).

    A blob that does not parse, or that this repository lacks, is refused (`unreadable_error`;
    its hint: the parser's, then `escape`); when `unreadable` is given, each one is described
    there instead and the others are returned.
    """
    ids = sorted(blobs)
    paths = blobs if isinstance(blobs, Mapping) else {}
    try:
        datas = repo.read_objects(ids)
    except GitFailed as exc:  # a partial clone whose promisor remote could not send a blob
        raise GitMvmError(
            f"cannot read the pointer blobs of this repository's history ({exc.detail})",
            "a partial clone fetches them from its promisor remote: make that remote "
            "reachable and run the command again",
        ) from None
    pointers: list[Pointer] = []
    problems: list[str] = []
    hint: str | None = None
    for blob, data in zip(ids, datas, strict=True):
        where = f"{paths[blob]} (blob {blob[:12]})" if blob in paths else f"blob {blob}"
        if data is None:
            problems.append(f"{where}: not in this repository")
            continue
        if not is_pointer_data(data):
            continue  # a file named `*.mvm` that is data, not a pointer
        try:
            pointers.append(Pointer.parse(data, where))
        except FormatError as exc:
            problems.append(f"{where}: {exc.why}")
            hint = hint or exc.hint
    _report(problems, unreadable, hint, escape)
    return pointers


def work_tree_pointers(
    repo: Repo, unreadable: list[str] | None = None, escape: str | None = None
) -> list[Pointer]:
    """Pointer files present in `repo`'s work tree (tracked or not), read from disk;
    unreadable ones as in `parse_pointers`."""
    pointers: list[Pointer] = []
    problems: list[str] = []
    hint: str | None = None
    for rel in repo.workspace_pointers():
        path = repo.abs(rel)
        try:
            with open(path, "rb") as f:
                pointers.append(Pointer.parse(f.read(), path))
        except (FileNotFoundError, IsADirectoryError):
            continue
        except FormatError as exc:
            problems.append(f"{path}: {exc.why}")
            hint = hint or exc.hint
    _report(problems, unreadable, hint, escape)
    return pointers


def _report(problems: list[str], unreadable: list[str] | None, hint: str | None,
            escape: str | None) -> None:
    if not problems:
        return
    if unreadable is None:
        raise unreadable_error(problems, hint, escape)
    unreadable.extend(problems)


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


def needed_by(ws: Workspace, pointers: Sequence[Pointer]) -> Needed:
    needed = Needed()
    for ptr in pointers:
        needed.add(ptr, ws.cache)
    return needed


def known_sizes(ws: Workspace, oids: Sequence[str], pointers: Sequence[Pointer],
                entries: bool = True) -> dict[str, int]:
    """Sizes of `oids`: what the pointers (and, with `entries`, the cached manifests they
    name) say, else the cache's."""
    known = {}
    for o in oids:
        size = ws.cache.size_of(o)
        if size is not None:
            known[o] = size
    for p in pointers:
        if p.kind == "file":
            known[p.oid] = p.size
        else:
            if p.manifest_size is not None:
                known[p.oid] = p.manifest_size
            if entries and ws.cache.has(p.oid):
                try:
                    known.update((e.oid, e.size) for e in
                                 ws.cache.read_manifest(p.oid, f"manifest {p.oid_str}"))
                except GitMvmError:
                    pass  # (reported where the manifest is used)
    return known


# objects a push or a fetch plans, moves and verifies at once: what it holds per object is
# bounded by this, not by the size of a dataset (a million-file manifest is read entry by
# entry, never held as a million objects)
WINDOW = 50_000


def dir_entries(cache: Cache, ptr: Pointer, base: str | None = None) -> Iterator[Entry]:
    """The entries of a directory's manifest (in the cache), one at a time; with `base` (the
    oid of another manifest in the cache), only those `base` lacks at the same path with the
    mode, oid and size (`manifest.changed_entries_of`: only those lines are parsed). A
    manifest of up to WINDOW files is parsed whole (and kept: `read_manifest`) before any
    entry is handed on; a larger one is streamed, and one bad line stops it there."""
    where = f"manifest {ptr.oid_str}"
    entries: Iterable[Entry]
    if base is not None:
        return manifest.changed_entries_of(_verified_blocks(cache, ptr.oid),
                                           _verified_blocks(cache, base), where)
    if ptr.files is not None and ptr.files <= WINDOW:
        entries = cache.read_manifest(ptr.oid, where)
    else:
        entries = manifest.iter_entries_of(_verified_blocks(cache, ptr.oid), where)
    return iter(entries)


BLOCK = 1 << 20  # bytes of a manifest read at once


def _verified_blocks(cache: Cache, oid: str) -> Iterator[bytes]:
    """The bytes of object `oid` in blocks of BLOCK, read twice: hashed through once (now:
    ObjectCorrupt unless they are `oid`), then handed on (a cache object is read-only)."""
    h = hashlib.sha256()
    with cache.open_object(oid) as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            h.update(block)
    if h.hexdigest() != oid:
        raise ObjectCorrupt(f"sha256:{oid}", f"sha256:{h.hexdigest()}")

    def blocks() -> Iterator[bytes]:
        with cache.open_object(oid) as f:
            yield from iter(lambda: f.read(BLOCK), b"")

    return blocks()


def file_windows(cache: Cache, pointers: Iterable[Pointer], bases: Mapping[str, str] | None = None,
                 failed: list[tuple[str, str]] | None = None, size: int | None = None,
                 counts: dict[str, int] | None = None) -> Iterator[dict[str, int]]:
    """The file objects the pointers name, as {oid: size} windows of at most `size` (default
    WINDOW) objects: the file pointers', then each cached manifest's entries (`dir_entries`,
    less what its base in `bases` ({dir oid: manifest oid}) names). An oid is in a window
    once; one named again in a later window comes again (whoever moves it finds it done). A
    manifest that cannot be read is added to `failed` as (oid, why) when given, else raised;
    a directory whose manifest is not in the cache is left out (its caller says so).
    `counts` is told, per directory oid, how many of its entries were handed on."""
    size = size or WINDOW
    window: dict[str, int] = {}
    dirs: dict[str, Pointer] = {}
    for p in pointers:
        if p.kind == "file":
            window[p.oid] = p.size
            if len(window) >= size:
                yield window
                window = {}
        elif cache.has(p.oid):
            dirs.setdefault(p.oid, p)
    for p in dirs.values():
        try:
            for e in dir_entries(cache, p, (bases or {}).get(p.oid)):
                window[e.oid] = e.size
                if counts is not None:
                    counts[p.oid] = counts.get(p.oid, 0) + 1
                if len(window) >= size:
                    yield window
                    window = {}
        except GitMvmError as exc:
            if failed is None:
                raise
            failed.append((p.oid, exc.message))
    if window:
        yield window
