"""Make the work tree match the pointers, writing only what differs, never losing work.

A work-tree file whose bytes differ from the pointer is replaced only when those bytes are
safe in the cache (or with force). New bytes go to a temp file first and are renamed into
place, so the artifact's path never holds half a file. Nothing is written through a symlink
found in the way: the link itself is replaced.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

from gitmv.errors import (
    FormatError,
    GitMvmError,
    ObjectMissing,
    PathRefused,
    WouldOverwrite,
    os_error,
)
from gitmv.fsutil import remove_file, tmp_name
from gitmv.objects import manifest
from gitmv.objects.cache import usable_link_modes
from gitmv.objects.hashing import Stat, hash_file, stat_of
from gitmv.objects.manifest import Entry
from gitmv.objects.pointer import Pointer
from gitmv.objects.state import Row, hashed
from gitmv.worktree import workspace
from gitmv.worktree.workspace import (
    Artifact,
    Selection,
    Workspace,
    _Rows,
    _walk,
    add_ignore_entry,
)


class CheckoutResult(NamedTuple):
    path: str
    written: int  # files written
    removed: int  # stray files removed
    unchanged: int
    kept: tuple[str, ...] = ()  # files of a directory left as they are (`keep`): unsaved edits


def checkout(ws: Workspace, sel: Selection, force: bool, keep: bool = False) -> CheckoutResult:
    """Bring one artifact into the work tree. A file system failure (a full disk) is a
    GitMvmError naming the artifact, so the other artifacts still get their turn.

    `keep` (the hooks, after git moved the pointer): files of a directory with changes that
    are not in the cache are left as they are and named in the result, and every other file
    is brought to the pointer's version, rather than refusing the whole directory."""
    a = sel.artifact
    if a.pointer is None:
        assert a.error is not None
        raise a.error
    try:
        _check_parents(ws, a.path)
        if a.pointer.kind == "file":
            result = _checkout_file(ws, a.path, a.pointer, force)
        else:
            result = _checkout_dir(ws, a.path, a.pointer, sel.subpath or "", force, keep)
        # The bytes now at this path must stay out of git: after `git mv a.pt.mvm b.pt.mvm`
        # only `/a.pt` is listed, and `git add -A` would stage b.pt.
        add_ignore_entry(ws.repo.abs(a.path))
        if not sel.subpath:
            ws.mark_followed([a.path])
        return result
    except OSError as exc:
        raise os_error(exc, f"{a.path}: cannot check out") from None


def _check_parents(ws: Workspace, rel: str) -> None:
    """No directory between the work-tree root and the artifact may be a symlink."""
    parts = rel.split("/")[:-1]
    cur = ws.repo.root
    for part in parts:
        cur = os.path.join(cur, part)
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(st.st_mode):
            raise PathRefused(
                f"{rel}: {ws.repo.rel(cur)} is not a directory"
                + (" (a symlink)" if stat.S_ISLNK(st.st_mode) else ""),
                "gitmv does not write through symlinks; move it away and run again",
            )


def _is_safe(ws: Workspace, abspath: str, st: os.stat_result, oid: str | None = None) -> bool:
    """Whether a work-tree file's bytes are recoverable from the cache: an object of their
    oid that verifies, not merely one of that name (`oid`: theirs, when already known)."""
    if stat.S_ISLNK(st.st_mode):
        return True  # a symlink holds no data of its own
    if not stat.S_ISREG(st.st_mode):
        return False
    return ws.object_intact(oid or ws.current_file_oid(abspath, st), st)


_Written = tuple[str, "tuple[Stat, int] | None", str]  # path, (stat, since) or None, oid


def _write(ws: Workspace, abspath: str, oid: str, mode: str,
           modes: tuple[str, ...] | None = None, in_place: bool = False) -> _Written:
    """Place object `oid` at `abspath` (temp file beside it, then a rename); `modes`: the
    link modes, when the caller read them once for many files; `in_place`: `abspath` is in a
    directory being built aside (`Cache.link_out`)."""
    if mode == "link":
        target = ws.cache.read_bytes(oid).decode("utf-8", "surrogateescape")
        tmp = tmp_name(os.path.dirname(abspath))
        try:
            os.symlink(target, tmp)
            os.rename(tmp, abspath)
        except BaseException:
            remove_file(tmp)
            raise
        return abspath, None, oid
    try:
        st = ws.cache.link_out(oid, abspath, modes or ws.config.link_modes,
                               executable=mode == "755", in_place=in_place)
    except IsADirectoryError:
        raise PathRefused(f"{ws.repo.rel(abspath)}: a directory is in the way") from None
    return abspath, st, oid


def _record(ws: Workspace, rows: list[_Written], moved: tuple[str, str] | None = None) -> None:
    """Remember the stat of files just written so status need not hash them; `moved`:
    (aside, final) when they were written in a directory built aside, to be renamed to
    `final` (a rename of a directory leaves the stat of the files in it as it was)."""
    out = []
    for p, placed, oid in rows:
        if placed is None:  # a symlink; in the symlink link mode status checks the object
            obj = ws.cache.oid_to_path(oid)
            if os.readlink(p) != obj:
                continue
            since = ws.state.now()
            out.append(hashed(obj, stat_of(os.stat(obj)), oid, since))
        else:
            if moved is not None:
                p = moved[1] + p[len(moved[0]):]
            out.append(Row(p, placed[0], oid, placed[1]))
    if out:
        ws.state.put_many(out)


def _checkout_file(ws: Workspace, rel: str, ptr: Pointer, force: bool) -> CheckoutResult:
    abspath = ws.repo.abs(rel)
    if not ws.cache.has(ptr.oid):
        raise ObjectMissing(ptr.oid_str, f"run `git mvm pull {rel}` to fetch it")
    ws.clean_tmp_beside(os.path.dirname(abspath))  # what a killed checkout left there
    try:
        st = os.lstat(abspath)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):  # a directory artifact before (type change)
        _remove_dir_in_the_way(ws, rel, abspath, force)
        st = None
    if st is not None:
        if stat.S_ISLNK(st.st_mode) and os.readlink(abspath) == ws.cache.oid_to_path(ptr.oid):
            return CheckoutResult(rel, 0, 0, 1)
        oid = ws.current_file_oid(abspath, st) if stat.S_ISREG(st.st_mode) else None
        if oid == ptr.oid and _link_mode_ok(ws, st, ptr.oid):
            return CheckoutResult(rel, 0, 0, 1)
        if not force and not _is_safe(ws, abspath, st, oid):
            corrupt = oid is not None and ws.cache.has(oid)
            raise WouldOverwrite(
                f"{rel}: has changes that are not in the cache"
                + (" (the cache's copy of these bytes is corrupt)" if corrupt else ""),
                ("`git mvm fsck` moves the corrupt object aside, then " if corrupt else "")
                + f"save them with `git mvm add {rel}`, or discard them with "
                f"`git mvm checkout --force {rel}`",
            )
    _record(ws, [_write(ws, abspath, ptr.oid, "644")])
    return CheckoutResult(rel, 1, 0, 0)


def _remove_dir_in_the_way(ws: Workspace, rel: str, abspath: str, force: bool) -> None:
    """Remove the directory where a file artifact goes when every byte in it is in the cache
    (a directory artifact's version, clean), or with force; refuse naming what is unsaved."""
    import shutil

    if not force:
        unsaved = [relpath for relpath, path, fst in _walk(abspath, abspath, rel)
                   if not _is_safe(ws, path, fst)]
        if unsaved:
            more = f" and {len(unsaved) - 3} more" if len(unsaved) > 3 else ""
            raise WouldOverwrite(
                f"{rel}: a directory with changes that are not in the cache is where the file "
                f"artifact goes ({', '.join(unsaved[:3])}{more})",
                "move the directory away, or discard it with "
                f"`git mvm checkout --force {rel}`",
            )
    shutil.rmtree(abspath)
    ws.state.delete_tree(abspath)


def _link_mode_ok(ws: Workspace, st: os.stat_result, oid: str) -> bool:
    """A copy is fine whatever the mode; a hardlink mode wants the cache inode."""
    first = usable_link_modes(ws.config.link_modes, ws.cache.links_as_root)[0]
    if first == "hardlink":
        try:
            return os.stat(ws.cache.oid_to_path(oid)).st_ino == st.st_ino
        except FileNotFoundError:
            return True
    if first == "symlink":  # a packed object is always copied out
        return stat.S_ISLNK(st.st_mode) or not ws.cache.is_loose(oid)
    return True


def _checkout_dir(
    ws: Workspace, rel: str, ptr: Pointer, sub: str, force: bool, keep: bool = False
) -> CheckoutResult:
    """Three reads of the manifest, each beside a walk of the directory and the stat cache's
    rows in the same (path) order, so no list of its files is held: the manifest checked
    whole (and its objects found in the cache) before anything is touched; then which files
    stay, go, or hold unsaved changes (one byte per file noted: write it or not); then the
    writes. A million files cost a few megabytes, not a list of a million entries."""
    root = ws.repo.abs(rel)
    if not ws.cache.has(ptr.oid):
        raise ObjectMissing(ptr.oid_str, f"run `git mvm pull {rel}` to fetch it")
    where = f"manifest of {rel}"
    parsed = ws.cache.parsed_manifest(ptr.oid)  # a pull's fetch read it: not read again
    data = b"" if parsed is not None else ws.cache.read_bytes(ptr.oid)  # verified

    def every() -> Iterator[Entry]:
        return iter(parsed) if parsed is not None else manifest.iter_entries(data, where)

    def mine() -> Iterator[Entry]:
        for e in every():
            if not sub or e.path == sub or e.path.startswith(sub + "/"):
                yield e

    # pass 0: the whole manifest is valid, its objects are here, its links stay inside
    files = total = chosen = 0
    links: list[Entry] = []
    complete = ws.state.is_complete(ptr.oid)
    missing: set[str] = set()
    for e in every():
        files += 1
        total += e.size
        if sub and not (e.path == sub or e.path.startswith(sub + "/")):
            continue
        chosen += 1
        if e.mode == "link":
            links.append(e)
        if not complete and not ws.cache.has(e.oid):
            missing.add(e.oid)
    if sub and not chosen:
        raise PathRefused(f"{rel}/{sub}: not in the artifact's manifest")
    if missing:
        raise ObjectMissing(
            f"sha256:{min(missing)}",
            f"{len(missing)} object(s) of {rel} are not in the cache: run `git mvm pull {rel}`",
        )
    if not sub:
        ws.state.mark_complete(ptr.oid)
    _check_links(ws, root, links, sub, where)  # before anything is written
    # A file where the artifact's directory should be.
    fresh = False  # no directory there: it is built aside and renamed in whole
    try:
        st_root = os.lstat(root)
        if not stat.S_ISDIR(st_root.st_mode):
            if not force and not _is_safe(ws, root, st_root):
                raise WouldOverwrite(
                    f"{rel}: a file with changes not in the cache is where the directory goes",
                    f"move it away, or discard it with `git mvm checkout --force {rel}`",
                )
            os.unlink(root)
            fresh = True
    except FileNotFoundError:
        fresh = True
    if fresh and not sub:
        return _checkout_new_dir(ws, rel, ptr, root, every, files, total)

    # pass 1: which present files can stay, which must go, which would lose data
    write = bytearray(chosen)  # per entry of the part checked out: 1 = write it
    plan = _Plan(ws, write)
    known = _Rows(ws.state.iter_tree(root))
    walk = iter(_walk(root, os.path.join(root, sub) if sub else root, rel))
    try:
        want = enumerate(mine())
        w = next(walk, None)
        ie = next(want, None)
        while w is not None or ie is not None:
            if ie is not None and (w is None or ie[1].path < w[0]):
                write[ie[0]] = 1  # not in the work tree
                ie = next(want, None)
            elif ie is None or (w is not None and w[0] < ie[1].path):
                assert w is not None
                plan.present(w[0], w[1], w[2], None, known)  # not in the manifest
                w = next(walk, None)
            else:
                assert w is not None
                plan.present(w[0], w[1], w[2], ie, known)
                w, ie = next(walk, None), next(want, None)
    finally:
        known.close()
    plan.flush_rows()
    conflicts = plan.conflicts
    to_remove = plan.to_remove
    kept: tuple[str, ...] = ()
    if conflicts and not force and keep:  # leave the edited files, update the rest
        kept = tuple(sorted(c[0] for c in conflicts))
        for _relpath, n, _abspath in conflicts:
            if n >= 0:
                write[n] = 0
        skip_abs = {c[2] for c in conflicts}
        to_remove = [p for p in to_remove if p not in skip_abs]
    elif conflicts and not force:
        names = sorted(c[0] for c in conflicts)
        more = f" and {len(names) - 3} more" if len(names) > 3 else ""
        shown = ", ".join(names[:3]) + more
        raise WouldOverwrite(
            f"{rel}: {len(names)} file(s) have changes that are not in the cache: {shown}",
            f"save them with `git mvm add {rel}`, or discard them with "
            f"`git mvm checkout --force {rel}`",
        )
    # pass 2: the writes
    for abspath in to_remove:
        remove_file(abspath)
    _remove_empty_dirs(root, to_remove)
    os.makedirs(root, exist_ok=True)
    ready: set[str] = set()

    def to_write() -> Iterator[Entry]:
        for n, e in enumerate(mine()):
            if write[n]:
                _make_parents(root, e.path, rel, ready)
                yield e

    modes = ws.config.link_modes

    def write_one(e: Entry) -> _Written:
        return _write(ws, os.path.join(root, e.path), e.oid, e.mode, modes)

    written = 0
    batch: list[_Written] = []
    for done in ws.iparallel(write_one, to_write(), size=lambda e: e.size):
        batch.append(done)
        written += 1
        if len(batch) >= workspace.ROW_BATCH:
            _record(ws, batch)
            batch = []
    _record(ws, batch)
    if not sub and not kept:  # the status after it is at the floor
        ws.remember_dir(rel, ws.stamp_as(rel, every()), ptr.oid, files, total)
    return CheckoutResult(rel, written, len(to_remove), plan.unchanged, kept)


def _checkout_new_dir(ws: Workspace, rel: str, ptr: Pointer, root: str,
                      every: Callable[[], Iterator[Entry]], files: int, total: int
                      ) -> CheckoutResult:
    """A directory artifact where there is no directory (a fresh clone, a deleted one): its
    files are written in place in a temp directory beside it, which is then renamed to it.
    One rename instead of a temp file and a rename per file (creating a file and renaming it
    costs about twice creating it), and a kill leaves no half-written file where the artifact
    goes: only the temp directory, which the next checkout there (or a walk) removes."""
    import shutil

    parent = os.path.dirname(root)
    os.makedirs(parent, exist_ok=True)
    ws.clean_tmp_beside(parent)  # a killed checkout's directory built aside
    aside = tmp_name(parent)
    os.mkdir(aside)
    ready: set[str] = set()
    modes = ws.config.link_modes

    def to_write() -> Iterator[Entry]:
        for e in every():
            _make_parents(aside, e.path, rel, ready)
            yield e

    def write_one(e: Entry) -> _Written:
        return _write(ws, os.path.join(aside, e.path), e.oid, e.mode, modes, in_place=True)

    written = 0
    batch: list[_Written] = []
    try:
        for done in ws.iparallel(write_one, to_write(), size=lambda e: e.size):
            batch.append(done)
            written += 1
            if len(batch) >= workspace.ROW_BATCH:
                _record(ws, batch, (aside, root))
                batch = []
        _record(ws, batch, (aside, root))
        try:
            os.rename(aside, root)
        except OSError as exc:  # a directory with files in it appeared there meanwhile
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise
            raise WouldOverwrite(f"{rel}: appeared while it was checked out",
                                 f"run `git mvm checkout {rel}` again") from None
    except BaseException:
        shutil.rmtree(aside, ignore_errors=True)
        raise
    ws.remember_dir(rel, ws.stamp_as(rel, every()), ptr.oid, files, total)
    return CheckoutResult(rel, written, 0, 0)


class _Plan:
    """Pass 1 of `_checkout_dir`: what each file found in the work tree means (`present`)."""

    def __init__(self, ws: Workspace, write: bytearray) -> None:
        self.ws = ws
        self.write = write
        self.unchanged = 0
        self.to_remove: list[str] = []  # absolute paths of files no entry wants
        self.conflicts: list[tuple[str, int, str]] = []  # (relpath, entry number or -1, abs)
        self.rows: list[Row] = []
        self.since = 0

    def present(self, relpath: str, abspath: str, st: os.stat_result,
                numbered: tuple[int, Entry] | None, known: _Rows) -> None:
        ws = self.ws
        n, e = numbered if numbered is not None else (-1, None)
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(abspath)
            if e is not None and e.mode == "link":
                current = target.encode("utf-8", "surrogateescape")
                if ws.cache.has(e.oid) and current == ws.cache.read_bytes(e.oid):
                    self.unchanged += 1
                    return
            elif e is not None and target == ws.cache.oid_to_path(e.oid):
                self.unchanged += 1  # symlink link mode: the link into the cache is the file
                return
            self.to_remove.append(abspath)  # a link holds no data of its own: replace it
            if e is not None:
                self.write[n] = 1
            return
        cached = known.find(abspath)
        if cached is not None and cached[0] == stat_of(st):
            oid: str | None = cached[1]
        else:
            if not self.since:
                self.since = ws.state.now()
            oid, _, after = hash_file(abspath)
            self.rows.append(hashed(abspath, after, oid, self.since))
            if len(self.rows) >= workspace.ROW_BATCH:
                self.flush_rows()
        if e is not None and oid == e.oid:
            if _mode_matches(e, st):
                self.unchanged += 1
            else:
                os.chmod(abspath, 0o755 if e.mode == "755" else 0o644)
            return
        if oid is None or not ws.object_intact(oid, st):
            self.conflicts.append((relpath, n, abspath))
        if e is not None:
            self.write[n] = 1
        else:
            self.to_remove.append(abspath)

    def flush_rows(self) -> None:
        if self.rows:
            self.ws.state.put_many(self.rows)
            self.rows = []


def _check_links(ws: Workspace, root: str, entries: Sequence[Entry], sub: str, where: str) -> None:
    """The manifest's symlinks, resolved as they will be after this checkout: through each
    other, and, outside the part `sub` being checked out, through the links already there."""
    links = {e.path: ws.cache.read_bytes(e.oid).decode("utf-8", "surrogateescape")
             for e in entries if e.mode == "link"}
    if not links:
        return

    def on_disk(path: str) -> str | None:
        if not sub or path == sub or path.startswith(sub + "/"):
            return None  # this checkout writes (or removes) what is there
        full = os.path.join(root, path)
        return os.readlink(full) if os.path.islink(full) else None

    manifest.check_links(links, where, on_disk)


def _mode_matches(e: Entry, st: os.stat_result) -> bool:
    return (e.mode == "755") == bool(st.st_mode & stat.S_IXUSR)


def _make_parents(root: str, relpath: str, where: str, ready: set[str]) -> None:
    """Create the directories above a file, refusing anything that is not a real directory."""
    cur = root
    for part in relpath.split("/")[:-1]:
        cur = os.path.join(cur, part)
        if cur in ready:
            continue
        ready.add(cur)
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            os.mkdir(cur)
            continue
        if stat.S_ISLNK(st.st_mode):
            os.unlink(cur)  # replace the link itself; never write through it
            os.mkdir(cur)
        elif not stat.S_ISDIR(st.st_mode):
            raise FormatError(where, f"{relpath}: {cur} is in the way and is not a directory")


def _remove_empty_dirs(root: str, removed: list[str]) -> None:
    dirs = sorted({os.path.dirname(p) for p in removed}, key=len, reverse=True)
    for d in dirs:
        while d.startswith(root + os.sep):
            try:
                os.rmdir(d)
            except OSError:
                break
            d = os.path.dirname(d)


def warn_kept(r: CheckoutResult, then: str) -> None:
    """One warning naming the files of a directory a keep-mode checkout left as they were
    (unsaved edits), and `then`: what the other files are and what to run."""
    if not r.kept:
        return
    from gitmv import ui

    more = f" and {len(r.kept) - 3} more" if len(r.kept) > 3 else ""
    ui.warn(f"{r.path}: kept {ui.plural(len(r.kept), 'file')} with changes that are not in the "
            f"cache: {', '.join(r.kept[:3])}{more}; {then}")


def checkout_many(
    ws: Workspace, sels: list[Selection], force: bool, keep: bool = False
) -> tuple[list[CheckoutResult], list[tuple[str, GitMvmError]]]:
    results: list[CheckoutResult] = []
    failures: list[tuple[str, GitMvmError]] = []
    with ws.state.holding():  # the stat rows of all of them in one transaction
        for sel in sels:
            try:
                results.append(checkout(ws, sel, force, keep))
            except GitMvmError as exc:
                failures.append((sel.artifact.path, exc))
    return results, failures


def remove_artifact(ws: Workspace, rel: str) -> bool:
    """Remove an artifact whose pointer git just removed, if every byte of it is in the cache
    (so nothing is lost: checking out the old commit brings it back). False if it is kept."""
    import shutil

    abspath = ws.repo.abs(rel)
    try:
        st = os.lstat(abspath)
    except FileNotFoundError:
        return True
    if os.path.lexists(abspath + ".mvm"):
        return True  # a pointer is still there (untracked): not ours to remove
    if stat.S_ISDIR(st.st_mode):
        for _relpath, path, fst in _walk(abspath, abspath, rel):
            if not _is_safe(ws, path, fst):
                return False
        shutil.rmtree(abspath)
        return True
    if not _is_safe(ws, abspath, st):
        return False
    os.unlink(abspath)
    return True


def follow_renames(ws: Workspace, arts: Sequence[Artifact]) -> list[str]:
    """Artifacts whose pointer was renamed (`git mv a.pt.mvm b.pt.mvm`, not yet committed):
    the bytes follow. A pointer in the work tree whose artifact is absent, where HEAD has a
    pointer to the same object at a path whose pointer is gone and whose bytes are still
    there: those bytes are moved (when they are the pointer's version), or the new path is
    checked out from the cache and the old one removed when every byte of it is in the cache
    (otherwise it is kept, with a warning). Each `.gitignore` line follows too. Returns the
    `.gitignore` files changed (work-tree relative), for the caller to stage or name."""
    from gitmv import ui
    from gitmv.objects.pointer import SUFFIX, artifact_path, pointer_path
    from gitmv.worktree.workspace import _gitignore_rel, remove_ignore_entry

    missing = {a.path: a.pointer for a in arts
               if a.pointer is not None and not os.path.lexists(ws.repo.abs(a.path))}
    if not missing:
        return []
    out = ws.repo.git("diff", "--raw", "-z", "--no-renames", "--no-abbrev", "--diff-filter=D",
                      "HEAD", "--", f"*{SUFFIX}", check=False)
    fields = out.decode("utf-8", "surrogateescape").split("\0")
    gone: list[tuple[str, str]] = []  # (old artifact path, its blob at HEAD)
    for i in range(0, len(fields) - 1, 2):
        meta = fields[i].split()
        if len(meta) >= 5:
            gone.append((artifact_path(fields[i + 1]), meta[2]))
    gone = [(old, blob) for old, blob in gone
            if os.path.lexists(ws.repo.abs(old)) and not os.path.lexists(
                ws.repo.abs(pointer_path(old)))]
    if not gone:
        return []
    changed: set[str] = set()
    for (old, _), data in zip(gone, ws.repo.read_blobs([b for _, b in gone]), strict=True):
        try:
            was = Pointer.parse(data, pointer_path(old))
        except GitMvmError:
            continue
        new = next((p for p, ptr in sorted(missing.items())
                    if ptr is not None and (ptr.kind, ptr.oid) == (was.kind, was.oid)), None)
        if new is None:
            continue
        ptr = missing.pop(new)
        assert ptr is not None
        old_abs, new_abs = ws.repo.abs(old), ws.repo.abs(new)
        try:
            _check_parents(ws, new)
            os.makedirs(os.path.dirname(new_abs), exist_ok=True)
            if add_ignore_entry(new_abs):  # before the bytes arrive: never visible to git
                changed.add(_gitignore_rel(new))
            if ws.status(Selection(Artifact(old, ptr, None), "")).state == "up to date":
                os.rename(old_abs, new_abs)
                ws.state.delete_tree(old_abs)
                ui.info(f"git mvm: {new}: moved from {old} (its pointer was renamed)")
            else:
                checkout(ws, Selection(Artifact(new, ptr, None), ""), force=False)
                if remove_artifact(ws, old):
                    ui.info(f"git mvm: {new}: checked out, {old} removed (its pointer was "
                            "renamed; its bytes are in the cache)")
                else:
                    ui.warn(f"{new}: checked out; {old}, where its pointer was, holds changes "
                            "that are not in the cache and was left as it is")
        except (GitMvmError, OSError) as exc:
            msg = exc.message if isinstance(exc, GitMvmError) else str(exc)
            ui.warn(f"{new}: could not follow the rename from {old}: {msg}")
            continue
        if not os.path.lexists(old_abs) and remove_ignore_entry(old_abs):
            changed.add(_gitignore_rel(old))
    return sorted(changed)


def say_unstaged_ignores(changed: Sequence[str]) -> None:
    """Name the `.gitignore` files a rename changed that are left for the user to stage."""
    from gitmv import ui

    if changed:
        names = ", ".join(changed)
        ui.info(f"git mvm: listed the renamed artifact(s) in {names}; commit it too "
                f"(`git add {names}`)")
