"""`git mvm import lfs`: Git LFS pointers become gitmv pointers with the same oid and size.

A Git LFS object and a gitmv object have the same name (the sha256 of the bytes), so the LFS
server keeps serving them: nothing is uploaded again. What is read (docs/migrating.md):
- the index: every blob that reads as an LFS pointer (`version https://git-lfs…`, `oid
  sha256:…`, `size N`) is an LFS file, as `git lfs ls-files` finds them;
- the bytes, in this order: the work-tree file when it is smudged (hashed as it is copied
  into the cache: a file whose hash is not its pointer's oid has changes not committed, and
  the import is refused before anything changes), else `.git/lfs/objects` (hashed as it is
  copied), else none: the pointer converts all the same and a pull fetches the bytes;
- `.gitattributes`: a `filter=lfs` line goes when every tracked file it matches was imported
  (and, with a pathspec, it matched one of them); a gitmv pointer a remaining line would still
  send through the LFS filter gets a line of its own that unsets it.
A pointer with LFS extensions (`ext-N-…`) names bytes an extension transformed: refused.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from gitmv import ui
from gitmv.errors import GitMvmError
from gitmv.fsutil import atomic_write, remove_file, tmp_name
from gitmv.importers.common import (
    Converted,
    ignore_file_of,
    nothing_to_import,
    refuse_taken_pointers,
    write_pointers,
)
from gitmv.objects.cache import PACKED_MAX
from gitmv.objects.hashing import hash_file
from gitmv.objects.pointer import DIFF_ATTRIBUTES_LINE, Pointer, pointer_path
from gitmv.objects.state import Row, hashed
from gitmv.repo import Repo
from gitmv.worktree.workspace import Workspace

SPEC_URLS = ("https://git-lfs.github.com/spec/v1", "https://hawser.github.com/spec/v1")
MAX_POINTER = 1024  # git-lfs reads at most this much of a blob as a pointer
_OID = re.compile(r"sha256:([0-9a-f]{64})")


class LfsPointer(NamedTuple):
    oid: str
    size: int
    extensions: tuple[str, ...]  # `ext-N-name` keys: the object is not the file's bytes


class LfsFile(NamedTuple):
    rel: str
    oid: str
    size: int
    executable: bool


def parse_pointer(data: bytes) -> LfsPointer | None:
    """The Git LFS pointer these bytes are, or None (git-lfs docs/spec.md)."""
    if len(data) >= MAX_POINTER or not data.startswith(b"version "):
        return None
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(" ")
        if not sep:
            return None
        fields[key] = value
    if fields.get("version") not in SPEC_URLS:
        return None
    m = _OID.fullmatch(fields.get("oid", ""))
    size = fields.get("size", "")
    if m is None or not size.isdigit():
        return None
    return LfsPointer(m.group(1), int(size), tuple(k for k in fields if k.startswith("ext-")))


def find_files(repo: Repo, pathspecs: Sequence[str]) -> list[LfsFile]:
    """The LFS files of the index (under `pathspecs`, top-relative, when given)."""
    out = repo.git("ls-files", "-s", "-z", "--", *pathspecs)
    staged: list[tuple[str, str, bool]] = []
    for record in out.split(b"\0"):
        meta, _, path = record.partition(b"\t")
        parts = meta.split()
        if len(parts) == 3 and parts[0] in (b"100644", b"100755") and parts[2] == b"0":
            staged.append((path.decode("utf-8", "surrogateescape"), parts[1].decode(),
                           parts[0] == b"100755"))
    if not staged:
        return []
    sizes = repo.git("cat-file", "--batch-check",
                     input="".join(f"{b}\n" for _, b, _ in staged).encode()).splitlines()
    small = [(rel, blob, x) for (rel, blob, x), line in zip(staged, sizes, strict=True)
             if int(line.split()[2]) < MAX_POINTER]
    found: list[LfsFile] = []
    refused: list[str] = []
    for (rel, _, executable), data in zip(small, repo.read_objects([b for _, b, _ in small]),
                                          strict=True):
        ptr = parse_pointer(data or b"")
        if ptr is None:
            continue
        if ptr.extensions:
            refused.append(f"{rel} ({', '.join(ptr.extensions)})")
            continue
        found.append(LfsFile(rel, ptr.oid, ptr.size, executable))
    if refused:
        raise GitMvmError(
            f"Git LFS pointers with extensions cannot be imported: {', '.join(refused)}: "
            "their object is the bytes an extension wrote, not the file's",
            "leave them out with a pathspec, or smudge them (`git lfs pull`), `git rm "
            "--cached` them and `git mvm add` the files",
        )
    return found


def objects_dir(repo: Repo) -> str:
    """Where git-lfs keeps this clone's objects (`lfs.storage`, else `<git dir>/lfs`)."""
    storage = repo.git("config", "--get", "lfs.storage", check=False).decode().strip()
    base = os.path.join(repo.common_dir, storage or "lfs") if storage else os.path.join(
        repo.common_dir, "lfs")
    return os.path.join(base, "objects")


def _is_lfs_pointer_file(path: str, st: os.stat_result) -> bool:
    if st.st_size >= MAX_POINTER:
        return False
    with open(path, "rb") as f:
        return parse_pointer(f.read(MAX_POINTER)) is not None


def cache_bytes(ws: Workspace, files: list[LfsFile]) -> list[Converted]:
    """Each file's bytes into the cache (verified by their sha256), from the smudged work-tree
    file, else git-lfs's object, else none. Refuses, having changed nothing but the cache,
    when a smudged file's bytes are not its committed pointer's."""
    lfs_dir = objects_dir(ws.repo)
    converted: list[Converted] = []
    changed: list[str] = []
    rows: list[Row] = []

    def one(f: LfsFile) -> tuple[Converted | None, Row | None]:
        abspath = ws.repo.abs(f.rel)
        try:
            st = os.lstat(abspath)
        except FileNotFoundError:
            st = None
        obj = os.path.join(lfs_dir, f.oid[:2], f.oid[2:4], f.oid)
        if st is not None and os.path.isfile(abspath) and not os.path.islink(abspath) \
                and not _is_lfs_pointer_file(abspath, st):
            since = ws.state.now()
            if st.st_size > PACKED_MAX and (ws.cache.has(f.oid) or os.path.isfile(obj)):
                # a large smudged file whose bytes git-lfs also keeps: the work-tree file is
                # only read (is it the committed object?), the cache takes git-lfs's copy by
                # a link: no second copy of a 1 GiB model written
                oid, _, after = hash_file(abspath)
                if oid != f.oid:
                    return None, None
                if ws.cache.has(f.oid) or _take_object(ws, obj) == f.oid:
                    return Converted(f.rel, Pointer("file", f.oid, f.size), "work tree"), \
                        hashed(abspath, after, oid, since)
                # git-lfs's copy is damaged: the work tree's is copied in
            oid, _, after = ws.cache.put_file(abspath)
            if oid != f.oid:
                return None, None
            return Converted(f.rel, Pointer("file", f.oid, f.size), "work tree"), \
                hashed(abspath, after, oid, since)
        if ws.cache.has(f.oid):
            return Converted(f.rel, Pointer("file", f.oid, f.size), "gitmv cache"), None
        if os.path.isfile(obj):
            oid = _take_object(ws, obj)
            if oid == f.oid:
                return Converted(f.rel, Pointer("file", f.oid, f.size), "lfs cache"), None
            ui.warn(f"{f.rel}: the Git LFS object {obj} is corrupt (its sha256 is {oid}); "
                    "converted without bytes: a pull fetches them")
        return Converted(f.rel, Pointer("file", f.oid, f.size), "missing"), None

    for f, (c, row) in zip(files, ws.parallel(one, files), strict=True):
        if c is None:
            changed.append(f.rel)
            continue
        converted.append(c)
        if row is not None:
            rows.append(row)
    if changed:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5
                                          else "")
        raise GitMvmError(
            f"{shown}: changed since the last commit (not the committed Git LFS object)",
            "commit or stash the changes (or restore the files with `git checkout -- PATH`), "
            "then import again")
    ws.flush()  # objects are on disk before any pointer names them
    if rows:
        ws.state.put_many(rows)
    return converted


def _take_object(ws: Workspace, obj: str) -> str:
    """A git-lfs object into gitmv's cache; its sha256. A large one is hard-linked (the
    same bytes twice on disk for a 1 GiB model otherwise) and hashed through the link; where
    the cache is on another file system, or linking is refused, it is copied and hashed."""
    if os.path.getsize(obj) <= PACKED_MAX:
        return ws.cache.put_file(obj)[0]
    ws.cache.make_tmp_dir()
    tmp = tmp_name(ws.cache.tmp_dir)
    try:
        os.link(obj, tmp)
    except OSError:  # EXDEV, EPERM, a file system without links
        return ws.cache.put_file(obj)[0]
    try:
        oid, _, _ = hash_file(tmp)
        ws.cache.place_download(tmp, oid)  # read-only, as every cache object
    except BaseException:
        remove_file(tmp)
        raise
    return oid


# --- .gitattributes -----------------------------------------------------------------------


def _attributes_files(repo: Repo) -> list[str]:
    out = repo.git("ls-files", "-z", "--cached", "--others", "--exclude-standard", "--",
                   ":(glob)**/.gitattributes")
    return sorted({p for p in out.decode("utf-8", "surrogateescape").split("\0") if p})


def _is_lfs_line(line: str) -> bool:
    words = line.split()
    return len(words) > 1 and not line.lstrip().startswith("#") and "filter=lfs" in words[1:]


def _matched(repo: Repo, where: str, pattern: str) -> set[str]:
    """Tracked files an attributes `pattern` in `<where>/.gitattributes` matches (the
    gitignore rules, as git applies them to attributes)."""
    if where and "/" in pattern.rstrip("/"):
        pattern = f"{where}/{pattern.lstrip('/')}"
    args = ["ls-files", "-z", "--cached", "--ignored", "--exclude", pattern]
    if where:
        args += ["--", f":(literal){where}/"]
    return {p for p in repo.git(*args).decode("utf-8", "surrogateescape").split("\0") if p}


def drop_filter_lines(repo: Repo, imported: set[str], remaining: set[str],
                      all_of_them: bool) -> list[str]:
    """Remove the `filter=lfs` lines that only imported files needed; the attributes files
    changed. `all_of_them`: no pathspec, so a line matching no file goes too."""
    changed = []
    for rel in _attributes_files(repo):
        path = repo.abs(rel)
        if not os.path.isfile(path):
            continue
        where = rel.rpartition("/")[0]
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "surrogateescape")
        kept: list[str] = []
        for line in text.splitlines(keepends=True):
            if _is_lfs_line(line):
                matched = _matched(repo, where, line.split()[0])
                if not (matched & remaining) and (all_of_them or matched & imported):
                    continue
            kept.append(line)
        new = "".join(kept)
        if new != text:
            atomic_write(path, new.encode("utf-8", "surrogateescape"))
            changed.append(rel)
    return changed


UNSET_COMMENT = "# gitmv's pointers and .gitignore files are small text files, not LFS objects"
UNSET = " !filter !diff !merge text"


def _only_import_edits(before: str, after: str) -> bool:
    """Whether attributes text `after` is `before` with nothing changed but what an import
    changes: `filter=lfs` lines taken out, gitmv's lines that unset the filter and its diff
    driver's line added (what an import stopped before it staged them leaves)."""
    def without_ours(text: str) -> list[str]:
        return [ln for ln in text.splitlines() if ln not in (UNSET_COMMENT, DIFF_ATTRIBUTES_LINE)
                and not ln.endswith(UNSET)]

    kept = without_ours(after)
    i = 0
    for line in without_ours(before):
        if i < len(kept) and line == kept[i]:
            i += 1
        elif not _is_lfs_line(line):
            return False
    return i == len(kept)


def _unstaged_attributes(repo: Repo) -> list[str]:
    """Attributes files with changes not staged, each checked to hold only an import's
    edits (a rerun of an import that was stopped stages them); refuses otherwise."""
    edited = repo.git("diff", "--name-only", "-z", "--", ":(glob)**/.gitattributes")
    names = [n for n in edited.decode("utf-8", "surrogateescape").split("\0") if n]
    theirs = []
    for rel, staged in zip(names, repo.read_objects([f":{n}" for n in names]), strict=True):
        try:
            with open(repo.abs(rel), "rb") as f:
                text = f.read().decode("utf-8", "surrogateescape")
        except FileNotFoundError:
            text = None
        if text is None or staged is None or not _only_import_edits(
                staged.decode("utf-8", "surrogateescape"), text):
            theirs.append(rel)
    if theirs:
        raise GitMvmError(f"{', '.join(theirs)}: changes not staged; the import edits and "
                          "stages it", "stage (`git add`), commit or stash those changes, "
                          "then import")
    return names


def unset_filter_on(repo: Repo, pointers: Iterable[str]) -> list[str]:
    """Pointers an LFS line left in place still sends through the LFS filter get a line
    that unsets it, at the end of the deepest .gitattributes above them (a deeper file's
    lines win over the top's: `sub/.gitattributes` with `* filter=lfs` overrode a line in
    the top one); the attributes files changed."""
    paths = sorted(set(pointers))
    if not paths:
        return []
    out = repo.git("check-attr", "-z", "--stdin", "filter",
                   input="".join(p + "\0" for p in paths).encode("utf-8", "surrogateescape"))
    fields = out.decode("utf-8", "surrogateescape").split("\0")
    lfs = [fields[i] for i in range(0, len(fields) - 2, 3) if fields[i + 2] == "lfs"]
    if not lfs:
        return []
    existing = set(_attributes_files(repo))
    by_file: dict[str, list[str]] = {}
    for p in lfs:
        where = p.rpartition("/")[0]
        while where and f"{where}/.gitattributes" not in existing:
            where = where.rpartition("/")[0]
        by_file.setdefault(where, []).append(p[len(where) + 1:] if where else p)
    for where, names in by_file.items():
        path = repo.abs(f"{where}/.gitattributes" if where else ".gitattributes")
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "surrogateescape")
        except FileNotFoundError:
            text = ""
        if text and not text.endswith("\n"):
            text += "\n"
        text += UNSET_COMMENT + "\n"
        for name in names:
            # a space ends the pattern in .gitattributes (a backslash does not escape it)
            escaped = "".join("[[:space:]]" if c == " " else "\\" + c if c in "*?[]\\!#"
                              else c for c in name)
            text += f"/{escaped}{UNSET}\n"
        atomic_write(path, text.encode("utf-8", "surrogateescape"))
    return [f"{w}/.gitattributes" if w else ".gitattributes" for w in by_file]


# --- the import ---------------------------------------------------------------------------


class LfsImport(NamedTuple):
    converted: list[Converted]
    attributes: list[str]  # the .gitattributes files changed
    remaining: int  # LFS files left (not matched by the pathspec)
    replaced: list[str]  # the LFS files the pointers replace (`finish` unstages them)


def import_lfs(ws: Workspace, pathspecs: Sequence[str]) -> LfsImport:
    """Convert the LFS files under `pathspecs` (all of them when empty); the caller holds
    the repository lock. Stages the result; checks out nothing (the caller does)."""
    if ws.unmerged() or ws.repo.git("ls-files", "-u", "-z"):
        raise GitMvmError("the index has unmerged paths",
                          "finish the merge (or `git merge --abort`), then import")
    everything = find_files(ws.repo, [])
    chosen = find_files(ws.repo, pathspecs) if pathspecs else everything
    if not chosen:
        if everything:
            raise nothing_to_import(f"no Git LFS file matches {' '.join(pathspecs)}",
                                    "`git lfs ls-files` lists the LFS files")
        raise nothing_to_import("the index holds no Git LFS pointers",
                                "`git lfs ls-files` lists LFS files; commit them first")
    refuse_taken_pointers(ws, (f.rel for f in chosen))
    left_unstaged = _unstaged_attributes(ws.repo)
    converted = cache_bytes(ws, chosen)
    imported = {f.rel for f in chosen}
    remaining = {f.rel for f in everything} - imported
    attributes = drop_filter_lines(ws.repo, imported, remaining, all_of_them=not pathspecs)
    for c in converted:
        if c.source in ("lfs cache", "gitmv cache", "missing"):
            abspath = ws.repo.abs(c.rel)
            # the work tree holds the LFS pointer text (or nothing): the bytes are checked
            # out from the cache, or fetched by a pull
            if os.path.isfile(abspath) and not os.path.islink(abspath):
                os.unlink(abspath)
    # what the import writes must not go through a filter line that stays (`weights/**`)
    written = [pointer_path(r) for r in imported] + [ignore_file_of(r) for r in imported]
    changed = sorted(set(attributes) | set(unset_filter_on(ws.repo, written)))
    write_pointers(ws, converted, also_stage=sorted(set(changed) | set(left_unstaged)))
    return LfsImport(converted, changed, len(remaining), sorted(imported))


class LfsServer(NamedTuple):
    """Where the imported objects already are: `url` for a gitmv remote (`lfs+https://…`),
    or None when gitmv reaches it through the git remote itself (ssh: git-lfs-authenticate),
    with `why` when it cannot be found."""

    url: str | None
    git_remote: str
    why: str | None


def find_server(repo: Repo) -> LfsServer:
    """The Git LFS endpoint this clone's git-lfs uses, found as git-lfs finds it."""
    from gitmv.remotes.base import default_git_remote, git_remote_url
    from gitmv.remotes.lfs_endpoint import find_endpoint
    from gitmv.remotes.retry import RemoteError

    name = default_git_remote(repo)
    url = git_remote_url(repo, name) or ""
    try:
        endpoint = find_endpoint(repo, name, url)
    except RemoteError as exc:
        return LfsServer(None, name, exc.message)
    if endpoint.ssh is not None:
        return LfsServer(None, name, None)
    return LfsServer("lfs+" + endpoint.url, name, None)
