"""Artifacts in the working tree: find them, scan them, add them, report their status."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple, TypeVar

from gitmv import ui
from gitmv.config import Config
from gitmv.errors import (
    FileChanged,
    FormatError,
    GitMvmError,
    ObjectCorrupt,
    ObjectMissing,
    PathRefused,
    os_error,
    printable,
)
from gitmv.fsutil import (
    NOT_SHARED,
    Sharing,
    atomic_write,
    clean_stale_tmp,
    is_stale_tmp,
    is_tmp_name,
    remove_file,
    remove_stale,
    sharing_of_dir,
)
from gitmv.objects import manifest
from gitmv.objects.cache import Cache
from gitmv.objects.hashing import Stat, hash_bytes, hash_file, stat_of
from gitmv.objects.manifest import Entry
from gitmv.objects.pointer import (
    MAX_POINTER_SIZE,
    SUFFIX,
    Pointer,
    artifact_path,
    is_pointer_data,
    is_pointer_file,
    pointer_path,
)
from gitmv.objects.state import DirRow, Row, StatCache, hashed, is_racy
from gitmv.repo import Repo

DEFAULT_JOBS = 8
PARALLEL_MIN = 1 << 20  # smaller files are read or written on the calling thread (`parallel`)
WAITING_MAX = 4096  # results held behind a large file's still running (`iparallel`)
ROW_BATCH = 8192  # stat-cache rows written at a time by a scan or checkout that streams

_T = TypeVar("_T")
_R = TypeVar("_R")


class Artifact(NamedTuple):
    path: str  # work-tree relative, posix
    pointer: Pointer | None
    error: GitMvmError | None  # why the pointer could not be read


class Selection(NamedTuple):
    artifact: Artifact
    subpath: str | None  # inside a directory artifact: only this part ("" = whole)


class Status(NamedTuple):
    path: str
    kind: str
    # "up to date", "modified", "outdated" (the work tree holds another version the cache
    # has: git moved the pointer, `git mvm checkout` brings its bytes), "missing",
    # "not in cache", "invalid pointer", "conflict" (its pointer is unmerged in the index)
    state: str
    in_cache: bool
    detail: str  # human details: counts of changed files, the error


class Scan(NamedTuple):
    entries: list[Entry]
    rows: list[Row]  # new stat-cache rows, for the caller to put
    stamp: str | None  # the directory's stamp (`DirRow`), None when a stat is not vouched for


class Scanned(NamedTuple):
    """A directory scanned into its manifest (`scan_manifest`)."""

    oid: str  # the manifest's
    files: int
    size: int
    manifest_size: int
    stamp: str | None  # as `Scan`'s


class Failure(NamedTuple):
    path: str
    error: GitMvmError


class Workspace:
    """A repository's work tree together with its cache, stat cache and config."""

    def __init__(self, repo: Repo, config: Config | None = None, jobs: int | None = None):
        self.repo = repo
        self.config = config or Config.load(repo.root, repo.mvm_dir, repo.tracked_config())
        self.tmp_dir = os.path.join(repo.mvm_dir, "tmp")
        cache_dir = self.config.cache_dir
        cache_tmp = self.tmp_dir
        sharing = NOT_SHARED
        # why this clone is not registered in the shared cache it uses (None: it is)
        self.unregistered: GitMvmError | None = None
        if self.config.get("cache.dir"):
            cache_tmp = os.path.join(cache_dir, "tmp")
            sharing = sharing_of_dir(cache_dir)  # a group's (`chmod g+ws`): give it the group
            # gc in the other clones must read this one
            self.unregistered = _register(cache_dir, repo.common_dir, sharing)
        self.cache = Cache(cache_dir, cache_tmp, sharing)
        self.cache.links_as_root = self.config.link_as_root
        self.state = StatCache(os.path.join(repo.mvm_dir, "state.sqlite"))
        self.jobs = jobs or DEFAULT_JOBS
        self._unmerged: dict[str, dict[int, str]] | None = None
        self._tmp_cleaned: set[str] = set()  # work-tree directories `clean_tmp_beside` read

    @classmethod
    def open(cls, cwd: str | None = None, jobs: int | None = None, bare_ok: bool = False
             ) -> Workspace:
        """The workspace of the repository at `cwd` (or this process's); `bare_ok`: a bare
        repository too, for the commands that read only git objects and the cache."""
        return cls(Repo.discover(cwd, bare_ok=bare_ok), jobs=jobs)

    @property
    def lock_path(self) -> str:
        return os.path.join(self.repo.mvm_dir, "lock")

    def require_registered(self) -> None:
        """Refuse to write objects other clones' gc could delete without knowing this one
        names them (a shared cache this clone could not register in)."""
        if self.unregistered is not None:
            raise self.unregistered

    def clean_tmp(self) -> None:
        clean_stale_tmp(self.tmp_dir)
        self.cache.clean_tmp()

    def clean_tmp_beside(self, directory: str) -> None:
        """Remove what a killed checkout left in a work-tree directory: once per directory
        per command (a checkout of 20,000 file artifacts in one directory lists it once)."""
        if directory not in self._tmp_cleaned:
            self._tmp_cleaned.add(directory)
            clean_stale_tmp(directory)

    def flush(self) -> None:
        self.cache.flush(durable=self.config.fsync)

    # --- paths given by a person ---------------------------------------------------------
    def to_rel(self, path: str) -> str:
        """A path typed by a person (relative to cwd) -> work-tree relative posix path."""
        absolute = os.path.normpath(os.path.abspath(path))
        rel = os.path.relpath(absolute, self.repo.root)
        if rel == "." or rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
            raise PathRefused(
                f"{path}: outside the work tree {self.repo.root}",
                "gitmv tracks files inside this repository's work tree only",
            )
        rel = rel.replace(os.sep, "/")
        if ".git" in rel.split("/"):
            raise PathRefused(f"{path}: inside a .git directory", "gitmv never touches .git")
        return rel

    def expand(self, paths: Iterable[str]) -> list[str]:
        """Globs a shell did not expand (quoted ones) are expanded here."""
        out: list[str] = []
        for p in paths:
            if not os.path.lexists(p) and any(c in p for c in "*?["):
                import glob

                matches = sorted(glob.glob(p, recursive=True))
                if not matches:
                    raise PathRefused(f"{p}: did not match any files")
                out.extend(matches)
            else:
                out.append(p)
        return out

    # --- artifacts -----------------------------------------------------------------------
    def read_pointer(self, rel: str) -> Pointer:
        ppath = self.repo.abs(pointer_path(rel))
        try:
            with open(ppath, "rb") as f:
                data = f.read(256 * 1024)
        except FileNotFoundError:
            raise FormatError(pointer_path(rel), "pointer file is missing") from None
        return Pointer.parse(data, pointer_path(rel))

    def artifacts(self) -> list[Artifact]:
        result = []
        for ppath in self.repo.workspace_pointers():
            rel = artifact_path(ppath)
            if not os.path.lexists(self.repo.abs(ppath)):
                continue  # deleted in the work tree, still in the index
            try:
                refuse_name(rel, printable(ppath),
                            "rename the file and its pointer (`git mv`) to a name that is "
                            "valid UTF-8 without control characters")
                result.append(Artifact(rel, self.read_pointer(rel), None))
            except GitMvmError as exc:
                result.append(Artifact(rel, None, exc))
        return result

    def select(self, paths: Iterable[str] | None) -> list[Selection]:
        """Artifacts named by `paths` (all when None), each with the part inside it asked for."""
        arts = self.artifacts()
        if paths is None:
            return [Selection(a, "") for a in arts]
        chosen: dict[str, Selection] = {}
        for p in self.expand(paths):
            rel = self.to_rel(p)
            if rel.endswith(SUFFIX) and any(a.path == rel[: -len(SUFFIX)] for a in arts):
                rel = rel[: -len(SUFFIX)]
            hit = False
            for a in arts:
                if a.path == rel or a.path.startswith(rel + "/"):
                    chosen[a.path] = Selection(a, "")
                    hit = True
                elif rel.startswith(a.path + "/"):
                    if chosen.get(a.path, Selection(a, "x")).subpath != "":
                        chosen[a.path] = Selection(a, rel[len(a.path) + 1 :])
                    hit = True
            if not hit:
                raise PathRefused(
                    f"{p}: not tracked by gitmv", "`git mvm ls` lists the tracked artifacts"
                )
        return [chosen[k] for k in sorted(chosen)]

    # --- scanning --------------------------------------------------------------------------
    def scan_dir(
        self, rel: str, store: bool, cached_oids: frozenset[str] = frozenset()
    ) -> tuple[list[Entry], list[Row]]:
        """Entries of directory artifact `rel` as they are in the work tree.

        Files the stat cache knows are not read; the others are hashed in parallel (and copied
        into the cache when `store`). Returns the entries and the new stat-cache rows.
        """
        scan = self.scan_dir_stamped(rel, store, cached_oids)
        return scan.entries, scan.rows

    def scan_dir_stamped(
        self, rel: str, store: bool, cached_oids: frozenset[str] = frozenset()
    ) -> Scan:
        """`scan_dir`, with the directory's stamp when every file's stat is vouched for
        (`remember_dir` records it with the manifest the entries make)."""
        entries: list[Entry] = []
        rows: list[Row] = []
        links: dict[str, str] = {}
        stamp = _Stamper()
        for e, row in self._scan(rel, store, lambda _p, o: o in cached_oids, stamp, links):
            entries.append(e)
            if row is not None:
                rows.append(row)
        manifest.check_links(links, rel)  # resolved through each other, as the OS will
        return Scan(entries, rows, stamp.digest())

    def scan_manifest(self, rel: str, store: bool, old: Iterable[Entry] = ()) -> Scanned:
        """Directory artifact `rel` as it is in the work tree, as its manifest: streamed, so
        no list of its files is held (a million files cost what a few do, but for the
        manifest's bytes, and only when `store` puts it in the cache; above a few MiB they
        wait in a temp file). Files the stat cache knows are not read, the others are hashed
        (and put in the cache when `store`), their rows written as the walk goes. `old`: the
        entries of a version whose objects are all in the cache (sorted), read beside the
        walk so that a file still holding its object needs no look-up in the cache."""
        if store:  # refused before any object is put
            manifest.check_links(_symlinks(self.repo.abs(rel)), rel)
        sink = _ManifestSink(self.cache if store else None)
        old_oids = _Aligned(iter(old))
        rows: list[Row] = []
        links: dict[str, str] = {}
        stamp = _Stamper()
        try:
            for e, row in self._scan(rel, store, old_oids.has, stamp, links):
                sink.add(e)
                if row is not None:
                    rows.append(row)
                    if len(rows) >= ROW_BATCH:  # a row only says what the file's bytes hash to
                        self.state.put_many(rows)
                        rows.clear()
            manifest.check_links(links, rel)  # resolved through each other, as the OS will
            if rows:
                self.state.put_many(rows)
            return sink.finish(stamp.digest())
        finally:
            sink.abandon()

    def _scan(self, rel: str, store: bool, holds: Callable[[str, str], bool],
              stamp: _Stamper, links: dict[str, str]) -> Iterator[tuple[Entry, Row | None]]:
        """The files of directory artifact `rel` in path order, each as its entry and the new
        stat-cache row when its bytes were read; `holds(relpath, oid)`: that object is known
        to be in the cache (no look-up). Symlinks are put in `links` for the caller to check
        (`manifest.check_links`) once all are known."""
        root = self.repo.abs(rel)
        since = 0

        def items() -> Iterator[tuple[str, str, str, Stat] | Entry]:
            nonlocal since
            known = _Rows(self.state.iter_tree(root))
            try:
                for relpath, abspath, st in _walk(root, root, rel):
                    stamp.add(relpath, st)
                    if stat.S_ISLNK(st.st_mode):
                        stamp.spoil()  # a link's entry is not vouched for by its stat
                        target = os.readlink(abspath)
                        linked = self.linked_object(target)
                        if linked is not None:  # symlink link mode: the file is the object
                            yield Entry(relpath, "644", linked, self.object_size(linked))
                            continue
                        links[relpath] = target
                        data = target.encode("utf-8", "surrogateescape")
                        yield Entry(relpath, "link",
                                    self.cache.put_bytes(data) if store else hash_bytes(data),
                                    len(data))
                        continue
                    mode = "755" if st.st_mode & stat.S_IXUSR else "644"
                    s = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                    cached = known.find(abspath)
                    if cached is not None and cached[0] == s and (
                        not store or holds(relpath, cached[1]) or self.cache.has(cached[1])
                    ):
                        yield Entry(relpath, mode, cached[1], st.st_size)
                        continue
                    if not since:  # the clock before the first of these bytes is read
                        since = self.state.now()
                    yield relpath, abspath, mode, Stat(*s)
            finally:
                known.close()

        def work(item: tuple[str, str, str, Stat] | Entry) -> tuple[Entry, Row | None]:
            if isinstance(item, Entry):
                return item, None
            relpath, abspath, mode, s = item
            if store:
                oid, size, after = self.cache.put_file(abspath, expected=s)
            else:
                oid, size, after = hash_file(abspath)
            row = hashed(abspath, after, oid, since)
            if after != s or is_racy(row.stat, row.since):
                stamp.spoil()  # its row is not kept, or vouches for another stat
            return Entry(relpath, mode, oid, size), row

        yield from self.iparallel(
            work, items(), size=lambda it: 0 if isinstance(it, Entry) else it[3].size)

    def remember_dir(self, rel: str, stamp: str | None, oid: str, files: int, size: int
                     ) -> None:
        """Record that the files stamped `stamp` make manifest `oid` (see `DirRow`)."""
        if stamp is not None:
            self.state.put_dir(self.repo.abs(rel), DirRow(stamp, oid, files, size))

    def stamp_as(self, rel: str, entries: Iterable[Entry]) -> str | None:
        """The stamp of directory artifact `rel` when its files are exactly `entries` (sorted
        by path, as a manifest's) as the stat cache vouches: each file's kept row has its
        lstat and the entry's oid, and its mode is the entry's. None otherwise (a symlink, a
        file with no such row, one more or one less). A walk, the rows and the entries read
        side by side: what a checkout records so the status after it is at the floor."""
        root = self.repo.abs(rel)
        rows = _Rows(self.state.iter_tree(root))
        stamp = _Stamper()
        want = iter(entries)
        try:
            for relpath, abspath, st in _walk(root, root, rel):
                e = next(want, None)
                if (e is None or e.path != relpath or e.mode == "link"
                        or stat.S_ISLNK(st.st_mode)
                        or (e.mode == "755") != bool(st.st_mode & stat.S_IXUSR)):
                    return None
                row = rows.find(abspath)
                if row is None or row[1] != e.oid or row[0] != (
                        st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns):
                    return None
                stamp.add(relpath, st)
        finally:
            rows.close()
        return None if next(want, None) is not None else stamp.digest()

    def unchanged_dir(self, rel: str) -> DirRow | None:
        """The recorded manifest of directory artifact `rel` when every file in it has the
        name and stat it had then: a walk and an lstat per file, no row per file read."""
        root = self.repo.abs(rel)
        known = self.state.get_dir(root)
        if known is None:
            return None
        stamp = _Stamper()
        for relpath, _abspath, st in _walk(root, root, rel):
            if stat.S_ISLNK(st.st_mode):
                return None
            stamp.add(relpath, st)
        return known if stamp.digest() == known.stamp else None

    def parallel(self, fn: Callable[[_T], _R], items: list[_T],
                 size: Callable[[_T], int] | None = None) -> list[_R]:
        """`fn` over `items` on `jobs` threads, results in the items' order (`iparallel`)."""
        if len(items) < 4 or self.jobs <= 1:
            return [fn(i) for i in items]
        return list(self.iparallel(fn, items, size))

    def iparallel(self, fn: Callable[[_T], _R], items: Iterable[_T],
                  size: Callable[[_T], int] | None = None) -> Iterator[_R]:
        """`fn` over `items` on `jobs` threads, each result yielded in the items' order as
        soon as it and those before it are done: items are taken from `items` only as the
        window below has room, so a walk feeding it is never held whole.

        With `size`, an item under PARALLEL_MIN bytes runs on the calling thread: a small
        file's work is a few system calls, and threads only fight over the GIL and the
        directory's lock (20,000 x 4 KiB: checkout 6.0 s on one thread, 11-12 s on 2 or 8;
        add 2.1 s vs 4.8-5.2 s). Large items still overlap: hashing releases the GIL.
        """
        if self.jobs <= 1:
            yield from map(fn, items)
            return
        from collections import deque
        from concurrent.futures import Future, ThreadPoolExecutor

        # a bounded window of futures, not one per item (`pool.map` makes them all at once:
        # about a kilobyte each, 120 MB of a 100,000-file add); a small item's result waits
        # behind the futures before it, so the order holds, and at most WAITING_MAX wait
        waiting: deque[tuple[Future[_R] | None, _R | None]] = deque()
        running = 0

        def take() -> _R:
            nonlocal running
            fut, value = waiting.popleft()
            if fut is None:
                return value  # type: ignore[return-value]  # a small item's own result
            running -= 1
            return fut.result()

        pool: ThreadPoolExecutor | None = None
        try:
            for item in items:
                if size is not None and size(item) < PARALLEL_MIN:
                    value = fn(item)
                    if waiting:
                        waiting.append((None, value))
                        while len(waiting) > WAITING_MAX:
                            yield take()
                    else:
                        yield value
                    continue
                while running >= 4 * self.jobs:
                    yield take()
                if pool is None:
                    pool = ThreadPoolExecutor(max_workers=self.jobs)
                waiting.append((pool.submit(fn, item), None))
                running += 1
            while waiting:
                yield take()
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def linked_object(self, target: str) -> str | None:
        """The oid when a symlink's target is a cache object (the `symlink` link mode)."""
        oid = os.path.basename(target)
        if len(oid) == 64 and target == self.cache.oid_to_path(oid):
            # An in-place edit through the link changes the object: check it like a file.
            obj = self.cache.oid_to_path(oid)
            try:
                if self.current_file_oid(obj, os.stat(obj)) == oid:
                    return oid
            except FileNotFoundError:
                return None
            return hash_file(obj)[0]
        return None

    def object_intact(self, oid: str, held: os.stat_result | None = None) -> bool:
        """Whether the cache holds object `oid` with the right bytes, so a work-tree copy of
        them (`held`, the file whose bytes are `oid`) may go. A file that is the object itself
        (a hardlink) is: the object's bytes are the ones found to be `oid`. Otherwise the
        object is hashed once and then vouched for by the stat cache while its stat is
        unchanged (any write through the file system changes it; bit rot under an unchanged
        stat is `fsck`'s to find); `add` and downloads record that row as they place an
        object (`remember_placed`), so a branch switch reads no object it is leaving."""
        obj = self.cache.oid_to_path(oid)
        try:
            st = os.stat(obj)
        except FileNotFoundError:  # packed (small): read and hashed
            try:
                return self.cache.verify(oid)
            except ObjectMissing:
                return False
        if held is not None and (held.st_dev, held.st_ino) == (st.st_dev, st.st_ino):
            return True
        return self.current_file_oid(obj, st) == oid

    def remember_placed(self) -> None:
        """Stat-cache rows for the objects this command put in the cache (hashed as they were
        written), so that `object_intact` need not read them."""
        placed = self.cache.placed
        if placed:
            self.state.put_many(Row(self.cache.oid_to_path(oid), st, oid, since)
                                for oid, (st, since) in placed.items())
            placed.clear()

    def object_size(self, oid: str) -> int:
        return self.cache.size_of(oid) or 0

    def current_file_oid(self, abspath: str, st: os.stat_result) -> str:
        """The oid of a work-tree file, from the stat cache when it is unchanged."""
        s = stat_of(st)
        oid = self.state.get(abspath, s)
        if oid is None:
            since = self.state.now()
            oid, _, after = hash_file(abspath)
            self.state.put_many([hashed(abspath, after, oid, since)])
        return oid

    # --- which pointers the work tree has followed ------------------------------------------
    # A pointer file's own row in the stat cache (its stat, the sha256 of its bytes) is written
    # when gitmv has brought its artifact into line with it (checkout, the hooks), so a hook
    # that fires on every work-tree update looks only at the pointers git rewrote since: one
    # `lstat` and one row read each, no read of any artifact (gitmv/hooks/run.py `_followed`).
    def mark_followed(self, rels: Iterable[str]) -> None:
        """Record that the artifacts `rels` were brought into line with their pointers."""
        rows = []
        since = 0
        for rel in rels:
            ppath = self.repo.abs(pointer_path(rel))
            since = since or self.state.now()
            try:
                with open(ppath, "rb") as f:
                    st = os.fstat(f.fileno())
                    data = f.read(MAX_POINTER_SIZE + 1)
            except (FileNotFoundError, IsADirectoryError):
                continue
            rows.append(hashed(ppath, stat_of(st), hash_bytes(data), since))
        if rows:
            self.state.put_many(rows)

    # --- add -----------------------------------------------------------------------------
    def check_addable(self, rel: str, tracked: Iterable[str], artifacts: Iterable[str]) -> None:
        """Refuse what cannot become an artifact. `tracked`: files git tracks at or under the
        paths being added; `artifacts`: the paths of existing artifacts."""
        refuse_name(rel, printable(rel), "rename it to a name that is valid UTF-8 without "
                    "control characters, then add it")
        abspath = self.repo.abs(rel)
        if not os.path.lexists(abspath):
            raise PathRefused(f"{rel}: no such file or directory")
        if os.path.islink(abspath):
            raise PathRefused(
                f"{rel}: is a symbolic link", "add the file or directory it points to instead"
            )
        if rel.endswith(SUFFIX) and is_pointer_file(abspath):
            raise PathRefused(f"{rel}: is a gitmv pointer file, not an artifact")
        ppath = pointer_path(rel)
        if ppath not in tracked:
            why = self.not_a_pointer(ppath)
            if why:
                raise PathRefused(
                    f"{ppath} exists and is not a gitmv pointer ({why}): adding {rel} would "
                    "overwrite it",
                    f"move {ppath} aside (it may be your data), then run `git mvm add` again")
        mine = [t for t in tracked if t == rel or t.startswith(rel + "/")]
        mine = [t for t in mine if not t.endswith(SUFFIX) or os.path.isfile(abspath)]
        if mine:
            raise PathRefused(
                f"{rel}: already tracked by git ({len(mine)} file(s), e.g. {mine[0]})",
                f"stop tracking it in git first: git rm -r --cached -- {rel}",
            )
        for other in artifacts:
            if rel.startswith(other + "/"):
                raise PathRefused(f"{rel}: inside directory artifact {other}",
                                  f"re-add the whole directory: git mvm add {other}")
            if other.startswith(rel + "/"):
                raise PathRefused(f"{rel}: contains the artifact {other}",
                                  f"untrack it first: git mvm untrack {other}")

    def not_a_pointer(self, ppath: str) -> str | None:
        """Why the file where an artifact's pointer goes is not a pointer gitmv may replace
        (someone's data that happens to be named so); None when there is none, or it is."""
        abspath = self.repo.abs(ppath)
        try:
            st = os.lstat(abspath)
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file"
        if st.st_size > MAX_POINTER_SIZE:
            return f"{st.st_size} bytes"
        with open(abspath, "rb") as f:
            data = f.read(MAX_POINTER_SIZE + 1)
        try:
            Pointer.parse(data, ppath)
        except FormatError as exc:
            # a damaged pointer (a bad edit, a newer gitmv's) still says it is one: `add`
            # is how it is repaired
            if is_pointer_data(data):
                return None
            return exc.why.split(":")[0]
        return None

    def add_many(
        self, rels: list[str], meta: dict[str, str]
    ) -> tuple[list[tuple[str, Pointer, bool]], list[tuple[str, GitMvmError]]]:
        """Add artifacts: objects first (flushed to disk once), then pointers and .gitignore
        entries, then one `git add`. Returns (path, pointer, changed) and the failures."""
        self.require_registered()
        # the pointers too: one git tracks may be overwritten whatever it holds (a conflict)
        tracked = self.repo.tracked_under([*rels, *map(pointer_path, rels)])
        artifacts = [a.path for a in self.artifacts()]
        failures: list[tuple[str, GitMvmError]] = []
        stored: list[tuple[str, Pointer]] = []
        rows: list[Row] = []
        for rel in rels:
            try:
                self.check_addable(rel, tracked, [a for a in artifacts if a != rel])
                ptr, new_rows = self._store(rel, meta)
            except FileChanged as exc:
                failures.append((rel, FileChanged(self.repo.rel(exc.path))))
                continue
            except GitMvmError as exc:
                failures.append((rel, exc))
                continue
            except OSError as exc:  # disk full, permissions: say which artifact, go on
                failures.append((rel, os_error(exc, f"{rel}: cannot add")))
                continue
            stored.append((rel, ptr))
            rows += new_rows
            artifacts.append(rel)
        self.flush()  # objects are on disk before any pointer names them
        if rows:
            self.state.put_many(rows)
        self.remember_placed()
        done: list[tuple[str, Pointer, bool]] = []
        for rel, ptr in stored:
            data = ptr.dump()
            ppath = self.repo.abs(pointer_path(rel))
            try:
                with open(ppath, "rb") as f:
                    changed = f.read() != data
            except FileNotFoundError:
                changed = True
            if changed:
                atomic_write(ppath, data)
            changed = add_ignore_entry(self.repo.abs(rel)) or changed
            done.append((rel, ptr, changed))
        self.repo.stage(p for rel, _, _ in done for p in (pointer_path(rel), _gitignore_rel(rel)))
        self.mark_followed(rel for rel, _, _ in done)  # the pointer was written from the bytes
        return done, failures

    def _complete_entries(self, old: Pointer | None) -> Iterator[Entry]:
        """Entries of the directory's previous version, when all its objects are known to be
        in the cache: re-adding a 20,000-file directory then needs no `stat` of 20,000 cache
        objects (read beside the walk, one at a time)."""
        if old is None or old.kind != "dir" or not self.state.is_complete(old.oid):
            return iter(())
        try:
            data = self.cache.read_bytes(old.oid)
        except (ObjectMissing, ObjectCorrupt):
            return iter(())
        return _lenient(manifest.iter_entries(data, f"manifest {old.oid_str}"))

    def _store(self, rel: str, meta: dict[str, str]) -> tuple[Pointer, list[Row]]:
        """Put an artifact's bytes in the cache; its new pointer and stat-cache rows."""
        abspath = self.repo.abs(rel)
        old: Pointer | None = None
        if os.path.exists(self.repo.abs(pointer_path(rel))):
            try:
                old = self.read_pointer(rel)
            except GitMvmError:
                old = None
        merged_meta = {**(old.meta if old else {}), **meta}
        st = os.lstat(abspath)
        if stat.S_ISDIR(st.st_mode):
            scanned = self.scan_manifest(rel, store=True, old=self._complete_entries(old))
            self.remember_dir(rel, scanned.stamp, scanned.oid, scanned.files, scanned.size)
            self.state.mark_complete(scanned.oid)  # every object was put or found
            return Pointer("dir", scanned.oid, scanned.size, scanned.files, merged_meta,
                           scanned.manifest_size), []
        if stat.S_ISREG(st.st_mode):
            s = stat_of(st)
            known = self.state.get(abspath, s)
            if known is not None and self.cache.has(known):
                return Pointer("file", known, s.size, None, merged_meta), []
            since = self.state.now()
            oid, size, after = self.cache.put_file(abspath, expected=s)
            row = hashed(abspath, after, oid, since)
            return Pointer("file", oid, size, None, merged_meta), [row]
        raise PathRefused(f"{rel}: not a regular file or directory")

    # --- status --------------------------------------------------------------------------
    def unmerged(self) -> dict[str, dict[int, str]]:
        """Artifacts whose pointer is in conflict in the index: {artifact: {stage: blob}}."""
        if self._unmerged is None:
            self._unmerged = {artifact_path(p): stages
                              for p, stages in self.repo.unmerged_pointers().items()}
        return self._unmerged

    def conflict_status(self, a: Artifact) -> Status:
        """An artifact whose pointer is unmerged: never "modified" or "removed", whatever the
        work tree holds; the detail is the command that finishes it."""
        stages = self.unmerged()[a.path]
        ptr = a.pointer
        if ptr is None:  # git's conflict markers: the kind from our side, else theirs
            blob = stages.get(2) or stages.get(3) or stages[min(stages)]
            try:
                ptr = Pointer.parse(self.repo.read_blobs([blob])[0], pointer_path(a.path))
            except GitMvmError:
                ptr = None
        return Status(a.path, ptr.kind if ptr else "?", "conflict",
                      ptr is not None and self.in_cache(ptr),
                      f"both sides changed it: git mvm resolve {a.path} --ours|--theirs|--union")

    def status(self, sel: Selection) -> Status:
        a = sel.artifact
        if a.path in self.unmerged():
            return self.conflict_status(a)
        if a.pointer is None:
            return Status(a.path, "?", "invalid pointer", False, str(a.error))
        ptr = a.pointer
        abspath = self.repo.abs(a.path)
        in_cache = self.in_cache(ptr)
        problem = self.pointer_problem(ptr)
        if problem:
            return Status(a.path, ptr.kind, "invalid pointer", in_cache, problem)
        try:
            st = os.lstat(abspath)
        except FileNotFoundError:
            return Status(a.path, ptr.kind, "missing", in_cache, "")
        if ptr.kind == "file":
            if stat.S_ISLNK(st.st_mode) and os.readlink(abspath) == self.cache.oid_to_path(ptr.oid):
                # symlink mode: the work tree file *is* the cache object
                same = self.linked_object(os.readlink(abspath)) == ptr.oid
                detail = "" if same else "the cache object was changed in place (run git mvm fsck)"
                return Status(a.path, "file", "up to date" if same else "modified", in_cache,
                              detail)
            if stat.S_ISLNK(st.st_mode):
                linked = self.linked_object(os.readlink(abspath))  # another version's object
                if linked is not None and linked != ptr.oid:
                    return self._outdated(a.path, "file", linked, in_cache)
            if not stat.S_ISREG(st.st_mode):
                return Status(a.path, "file", "modified", in_cache, "not a regular file")
            held = self.current_file_oid(abspath, st)
            if held == ptr.oid:
                return Status(a.path, "file", "up to date", in_cache, "")
            if st.st_ino == _ino(self.cache.oid_to_path(ptr.oid)):
                return Status(a.path, "file", "modified", in_cache,
                              "edited in place through a hardlink: the cache object is corrupt too")
            if self.cache.has(held):
                return self._outdated(a.path, "file", held, in_cache)
            return Status(a.path, "file", "modified", in_cache, "")
        if not stat.S_ISDIR(st.st_mode):
            return Status(a.path, "dir", "modified", in_cache, "not a directory")
        try:
            recorded = self.unchanged_dir(a.path)
            if recorded is not None and (recorded.oid, recorded.files, recorded.size) == (
                    ptr.oid, ptr.files, ptr.size):  # the manifest's files, as the pointer says
                return Status(a.path, "dir", "up to date" if in_cache else "not in cache",
                              in_cache, "")
            scanned = self.scan_manifest(a.path, store=False)
        except (PathRefused, FileChanged) as exc:  # a file no manifest can hold; a race
            return Status(a.path, "dir", "modified", in_cache, exc.message)
        held = scanned.oid
        self.remember_dir(a.path, scanned.stamp, held, scanned.files, scanned.size)
        if held == ptr.oid:  # so these are the manifest's
            problem = self.pointer_problem(ptr, counts=(scanned.files, scanned.size))
            if problem:
                return Status(a.path, "dir", "invalid pointer", in_cache, problem)
            return Status(a.path, "dir", "up to date" if in_cache else "not in cache", in_cache, "")
        if self.cache.has(held):  # exactly a version the cache has (its manifest)
            return self._outdated(a.path, "dir", held, in_cache)
        detail = ""
        if self.cache.has(ptr.oid):
            old = self.cache.read_manifest(ptr.oid, f"manifest of {a.path}")
            problem = self.pointer_problem(ptr, old)
            if problem:
                return Status(a.path, "dir", "invalid pointer", in_cache, problem)
            try:  # the rows are written: a second walk, no hashing
                entries = self.scan_dir(a.path, store=False)[0]
            except (PathRefused, FileChanged) as exc:
                return Status(a.path, "dir", "modified", in_cache, exc.message)
            detail = describe_changes(diff_entries(old, entries))
        return Status(a.path, "dir", "modified", in_cache, detail)

    def _outdated(self, rel: str, kind: str, held: str, in_cache: bool) -> Status:
        """The work tree holds version `held`, which the cache has, not the pointer's: git
        moved the pointer (a cherry-pick, revert, reset or stash with no hook, or with hooks
        off). Its bytes are safe, so the way on is the pointer's bytes, never `add` (that
        would quietly undo what git did)."""
        return Status(rel, kind, "outdated", in_cache,
                      f"holds the cached version sha256:{held[:12]}, not the pointer's; "
                      f"`git mvm checkout {rel}` brings the pointer's")

    def pointer_problem(
        self, ptr: Pointer, entries: Sequence[Entry] | None = None, read: bool = False,
        counts: tuple[int, int] | None = None,
    ) -> str | None:
        """What a (hand-edited) pointer says about its bytes that they contradict: a size, a
        manifest's size, or a directory's file count and total. Checked against the cache
        object's size, and a directory's manifest `entries` (or their `counts`: files, bytes)
        when given (or, with `read`, its manifest read from the cache, as pre-commit does)."""
        held = self.cache.size_of(ptr.oid)
        if held is None:
            return None  # nothing to compare with; not in the cache is said elsewhere
        if ptr.kind == "file":
            if held != ptr.size:
                return (f"size = {ptr.size} in the pointer, but its object {ptr.oid_str} "
                        f"holds {held} bytes")
            return None
        if ptr.manifest_size is not None and held != ptr.manifest_size:
            return (f"manifest_size = {ptr.manifest_size} in the pointer, but its manifest "
                    f"{ptr.oid_str} holds {held} bytes")
        if entries is None and counts is None and read:
            try:
                entries = self.cache.read_manifest(ptr.oid, f"manifest {ptr.oid_str}")
            except GitMvmError:
                return None  # a corrupt or invalid manifest is reported where it is read
        if counts is not None:
            files, size = counts
        elif entries is None:
            return None
        else:
            files, size = len(entries), sum(e.size for e in entries)
        if (ptr.files, ptr.size) != (files, size):
            return (f"files = {ptr.files}, size = {ptr.size} in the pointer, but its manifest "
                    f"lists {files} files of {size} bytes")
        return None

    def in_cache(self, ptr: Pointer, thorough: bool = False) -> bool:
        """Whether every object of the artifact is in the cache.

        For directories this trusts the stat cache's record that all objects were present
        when the directory was last added or checked out, unless `thorough` (`ls`, `fsck`).
        """
        if not self.cache.has(ptr.oid):
            return False
        if ptr.kind == "file":
            return True
        try:
            return not self.missing_in_dir(ptr.oid, thorough=thorough)
        except GitMvmError:
            return False

    def missing_in_dir(
        self, manifest_oid: str, entries: Sequence[Entry] | None = None, thorough: bool = False
    ) -> list[str]:
        """Objects of a directory that are not in the cache (its manifest must be)."""
        if not thorough and self.state.is_complete(manifest_oid):
            return []
        if entries is None:
            entries = self.cache.read_manifest(manifest_oid, f"manifest sha256:{manifest_oid}")
        missing = sorted({e.oid for e in entries if not self.cache.has(e.oid)})
        if not missing:
            self.state.mark_complete(manifest_oid)
        return missing


# --- helpers -------------------------------------------------------------------------------


def refuse_name(rel: str, shown: str, hint: str) -> None:
    """PathRefused when `rel` cannot be an artifact's name: a byte that is not UTF-8 (the
    pointer's and the .gitignore's text, the stat cache and JSON hold text), or a control
    character (a newline splits the .gitignore line that keeps the bytes out of git)."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        raise PathRefused(f"{shown}: the name is not valid UTF-8", hint) from None
    if any(c < " " or c == "\x7f" for c in rel):
        raise PathRefused(f"{shown}: the name holds a control character (a newline, carriage "
                          "return, tab, …)", hint)


def _register(cache_dir: str, common_dir: str, sharing: Sharing) -> GitMvmError | None:
    """Register the clone in its shared cache; why it could not (a warning now: commands
    that add objects refuse, gc deletes nothing)."""
    from gitmv.worktree import clones

    try:
        clones.register(cache_dir, common_dir, sharing)
    except OSError as exc:
        err = clones.not_registered(cache_dir, exc)
        ui.warn(err.message)
        return err
    return None


def _ino(path: str) -> int:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return -1


WALK_RUN = 128  # files `_walk` lstats in a row


def _walk(root: str, start: str, where: str) -> Iterable[tuple[str, str, os.stat_result]]:
    """(relative posix path, absolute path, lstat) of every file and symlink under `start`,
    in the order of their relative paths' bytes: a manifest's order, and the stat cache's
    (`StatCache.iter_tree`), so a walk, the rows and a manifest are read side by side and
    none of them is held whole. (A directory's names are sorted with a `/` after each
    subdirectory's name: `a-b` < `a.c` < `a/x`, as the full paths sort.)"""
    rootlen = len(root) + 1
    try:
        st0 = os.lstat(start)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st0.st_mode):
        if start != root:
            yield start[rootlen:].replace(os.sep, "/"), start, st0
        return
    lstat = os.lstat
    # per directory being read: (its path, its relative path with a "/" after it, whether
    # every name in it is printable ASCII without a backslash, so its files need no further
    # check of their names, its names still to go: sorted, last first, a subdirectory's
    # with a "/" after it)
    stack = [_entered(start, start == root or _is_plain(start[rootlen:]), rootlen)]
    while stack:
        d, prefix, plain, names = stack[-1]
        if not names:
            stack.pop()
            continue
        if names[-1][-1] != "/":  # files up to the next subdirectory, stat'ed in a row
            run: list[str] = []  # (a few at a time: a directory of a million files is never held)
            while names and names[-1][-1] != "/" and len(run) < WALK_RUN:
                run.append(names.pop())
            stats: list[os.stat_result | None]
            try:
                stats = [lstat(f"{d}/{name}") for name in run]
            except FileNotFoundError:  # one went since the directory was read
                stats = [_lstat_or_none(f"{d}/{name}") for name in run]
            for name, st in zip(run, stats, strict=True):
                if st is None:
                    continue
                if stat.S_ISDIR(st.st_mode):  # a file when listed, a directory now
                    names.append(name + "/")
                    continue
                relpath = prefix + name
                if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                    raise PathRefused(f"{where}/{relpath}: not a regular file or symlink")
                if not plain:
                    _check_name(relpath, where)
                yield relpath, f"{d}/{name}", st
            continue
        name = names.pop()[:-1]
        path = f"{d}/{name}"
        st = _lstat_or_none(path)
        if st is None:
            continue  # gone since the directory was read
        if not stat.S_ISDIR(st.st_mode):  # a directory when listed, something else now
            names.append(name)
            continue
        if name == ".git":
            raise PathRefused(f"{where}: contains a .git directory ({path})")
        stack.append(_entered(path, plain and _is_plain(name), rootlen))


def _entered(d: str, plain: bool, rootlen: int) -> tuple[str, str, bool, list[str]]:
    """A directory as `_walk` keeps it while it reads it."""
    names = _listing(d)
    if plain and names and not _is_plain("".join(names)):
        plain = False
    prefix = d[rootlen:].replace(os.sep, "/") + "/" if len(d) >= rootlen else ""
    return d, prefix, plain, names


def _lstat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _check_name(relpath: str, where: str) -> None:
    refuse_name(relpath, printable(f"{where}/{relpath}"), "rename the file")
    if "\\" in relpath:
        raise PathRefused(f"{where}/{relpath}: file names with backslashes "
                          "cannot be stored in a manifest", "rename the file")


def _listing(d: str) -> list[str]:
    """A directory's names for `_walk`, a subdirectory's with a "/" after it, sorted as full
    paths sort (`a-b` < `a.c` < `a/`), last first (popped from the end); names only, so a
    directory of many files costs a string each while it is walked. gitmv's temp files are
    skipped (stale ones, left by a killed checkout, removed)."""
    out = []
    with os.scandir(d) as it:
        for e in it:
            name = e.name
            if is_tmp_name(name):
                if is_stale_tmp(name):
                    remove_stale(e.path)
                continue
            out.append(name + "/" if e.is_dir(follow_symlinks=False) else name)
    out.sort(reverse=True)  # code point order: the UTF-8 bytes' order
    return out


def _is_plain(name: str) -> bool:
    """Printable ASCII without a backslash: a name `_walk` need not check further."""
    return name.isascii() and name.isprintable() and "\\" not in name


def _symlinks(root: str) -> dict[str, str]:
    """{relative posix path: target} of the symlinks under `root`: a walk that reads no
    stat (the directory entries' types), so a scan can refuse bad links before it puts any
    object in the cache."""
    links: dict[str, str] = {}
    stack = [root]
    rootlen = len(root) + 1
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for e in it:
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
                    elif e.is_symlink() and not is_tmp_name(e.name):
                        links[e.path[rootlen:].replace(os.sep, "/")] = os.readlink(e.path)
        except (FileNotFoundError, NotADirectoryError):
            continue
    return links


def _lenient(entries: Iterator[Entry]) -> Iterator[Entry]:
    """`entries` until one of them is refused (a hint, not a promise: what follows is
    looked up)."""
    try:
        yield from entries
    except FormatError:
        return


class _Aligned:
    """Entries of a manifest read beside a walk in the same (path) order: `has(relpath, oid)`
    says whether the entry at that path names that object."""

    def __init__(self, entries: Iterator[Entry]) -> None:
        self._entries = entries
        self._next = next(entries, None)

    def has(self, relpath: str, oid: str) -> bool:
        e = self._next
        while e is not None and e.path < relpath:
            e = next(self._entries, None)
        self._next = e
        return e is not None and e.path == relpath and e.oid == oid


class _ManifestSink:
    """A manifest written as its entries come (in path order, as `manifest.dump` sorts them):
    hashed as it goes; with a cache, kept to be put in it (in memory up to SPILL bytes, then
    in a temp file in the cache's tmp dir)."""

    SPILL = 4 << 20

    def __init__(self, cache: Cache | None) -> None:
        self._cache = cache
        self._h = hashlib.sha256(manifest.MAGIC)
        self._lines: list[bytes] = []  # not yet hashed
        self._kept = bytearray(manifest.MAGIC)  # with a cache, until SPILL bytes
        self._tmp: str | None = None
        self._fd = -1
        self.files = 0
        self.size = 0
        self.length = len(manifest.MAGIC)
        self._last = ""

    def add(self, e: Entry) -> None:
        if self.files and e.path <= self._last:
            raise FileChanged(e.path)  # the walk's order broke: a directory changed under it
        self._last = e.path
        self._lines.append(f"{e.mode} {e.oid} {e.size}\t{e.path}\n".encode())
        self.files += 1
        self.size += e.size
        if len(self._lines) >= 4096:
            self._drain()

    def _drain(self) -> None:
        if not self._lines:
            return
        data = b"".join(self._lines)
        self._lines = []
        self._h.update(data)
        self.length += len(data)
        if self._cache is None:
            return
        if self._fd < 0:
            self._kept += data
            if len(self._kept) <= self.SPILL:
                return
            from gitmv.fsutil import tmp_name

            self._cache.make_tmp_dir()
            self._tmp = tmp_name(self._cache.tmp_dir)
            self._fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            data, self._kept = bytes(self._kept), bytearray()
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def finish(self, stamp: str | None) -> Scanned:
        """The manifest's oid and counts; with a cache, the manifest is in it."""
        self._drain()
        oid = self._h.hexdigest()
        if self._cache is not None:
            if self._fd < 0:
                self._cache.put_bytes(bytes(self._kept), oid)
            else:
                os.close(self._fd)
                self._fd = -1
                assert self._tmp is not None
                got = self._cache.put_file(self._tmp)[0]  # hashed again as it is copied
                if got != oid:
                    raise ObjectCorrupt(f"sha256:{oid}", f"sha256:{got}")
        return Scanned(oid, self.files, self.size, self.length, stamp)

    def abandon(self) -> None:
        """Drop the temp file (done or not)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._tmp is not None:
            remove_file(self._tmp)
            self._tmp = None


class _Rows:
    """Stat-cache rows read side by side with a walk in the same (path) order: `find` a path
    at or after the last one found; a row per file is read once and never held."""

    def __init__(self, rows: Iterator[tuple[str, tuple[int, int, int, int], str]]) -> None:
        self._rows = rows
        self._next = next(rows, None)

    def find(self, path: str) -> tuple[tuple[int, int, int, int], str] | None:
        row = self._next
        while row is not None and row[0] < path:
            row = next(self._rows, None)
        self._next = row
        if row is not None and row[0] == path:
            return row[1], row[2]
        return None

    def close(self) -> None:
        self._next = None
        self._rows = iter(())


class _Stamper:
    """The digest of a directory's files, names and stats (`DirRow.stamp`), built as they are
    walked; `spoil` when one of them is not vouched for. Stats are hashed a batch at a time,
    as the `repr` of a list of tuples (unambiguous, and built in C)."""

    BATCH = 1024

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self._batch: list[tuple[str, int, int, int, int, int]] = []
        self._spoiled = False

    def add(self, relpath: str, st: os.stat_result) -> None:
        batch = self._batch
        batch.append((relpath, st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns,
                      st.st_ctime_ns))
        if len(batch) >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        self._h.update(repr(self._batch).encode("utf-8", "surrogateescape"))
        self._batch.clear()

    def spoil(self) -> None:
        self._spoiled = True

    def digest(self) -> str | None:
        self._flush()
        return None if self._spoiled else self._h.hexdigest()


def diff_entries(
    old: Sequence[Entry], new: Sequence[Entry]
) -> dict[str, list[tuple[str, int, int]]]:
    """Files added / removed / modified between two manifests: (path, old size, new size)."""
    a = {e.path: e for e in old}
    b = {e.path: e for e in new}
    return {
        "added": [(p, 0, b[p].size) for p in sorted(b.keys() - a.keys())],
        "removed": [(p, a[p].size, 0) for p in sorted(a.keys() - b.keys())],
        "modified": [
            (p, a[p].size, b[p].size)
            for p in sorted(a.keys() & b.keys())
            if (a[p].oid, a[p].mode) != (b[p].oid, b[p].mode)
        ],
    }


def describe_changes(changes: dict[str, list[tuple[str, int, int]]]) -> str:
    parts = [f"{len(v)} {k}" for k, v in changes.items() if v]
    return ", ".join(parts)


def _gitignore_rel(rel: str) -> str:
    parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
    return f"{parent}/.gitignore" if parent else ".gitignore"


def _ignore_pattern(name: str) -> str:
    escaped = "".join("\\" + c if c in "*?[]\\!# " else c for c in name)
    return f"/{escaped}"


def add_ignore_entry(artifact_abspath: str) -> bool:
    """List the artifact in the .gitignore beside it; returns whether the file changed."""
    return add_ignore_entries(os.path.dirname(artifact_abspath),
                              [os.path.basename(artifact_abspath)])


def add_ignore_entries(directory: str, names: Iterable[str]) -> bool:
    """List artifacts `names` of `directory` in its .gitignore, in one write (an importer
    adds thousands); returns whether the file changed."""
    path = os.path.join(directory, ".gitignore")
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        text = ""
    # listed already, by gitmv (`/name`) or by hand (`name`, which ignores it here too)
    listed = {x.rstrip(" \r") for x in text.splitlines()}
    new = []
    for name in names:
        line = _ignore_pattern(name)
        if not {line, line[1:]} & listed:
            new.append(line)
            listed.add(line)
    if not new:
        return False
    if text and not text.endswith("\n"):
        text += "\n"
    text += "".join(line + "\n" for line in new)
    atomic_write(path, text.encode("utf-8", "surrogateescape"))
    return True


def remove_ignore_entry(artifact_abspath: str) -> bool:
    path = os.path.join(os.path.dirname(artifact_abspath), ".gitignore")
    line = _ignore_pattern(os.path.basename(artifact_abspath))
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "surrogateescape").splitlines()
    except FileNotFoundError:
        return False
    kept = [x for x in lines if x != line]
    if kept == lines:
        return False
    text = "".join(x + "\n" for x in kept)
    if text:
        atomic_write(path, text.encode("utf-8", "surrogateescape"))
    else:
        os.unlink(path)
    return True
