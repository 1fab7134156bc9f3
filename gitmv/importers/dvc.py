"""`git mvm import dvc`: DVC-tracked outputs become gitmv pointers (docs/migrating.md).

What is read:
- `.dvc` files (`dvc add`): each `outs:` entry, a file (`md5`) or a directory (`md5: ….dir`,
  whose listing `[{"md5", "relpath"}, …]` is an object of DVC's cache);
- `dvc.lock` (pipelines): each stage's `outs:` that git does not track (a `cache: false`
  metric git tracks stays git's); `dvc.yaml` and `dvc.lock` stay, so `dvc repro` still runs;
- the bytes of each file from the work tree (a symlink or a missing file: from DVC's cache,
  `files/md5/ab/cdef…` (DVC 3) or `ab/cdef…` (DVC 2)), md5 and sha256 computed in the one
  read pass that copies them into gitmv's cache. A file whose md5 is not the one DVC recorded
  has changes DVC has not committed: the import is refused before anything changes. DVC 2
  (`outs` without `hash: md5`) hashed text files with CRLF as LF: such a file is checked that
  way too.
- DVC's remotes (`.dvc/config`, `.dvc/config.local`), for the gitmv remote (`remotes`).
`dvc import` / `import-url` stages (a `.dvc` file with `deps`) are refused: their source would
be lost.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import posixpath
import re
import stat
from collections.abc import Sequence
from typing import Any, NamedTuple

from gitmv.errors import GitMvmError
from gitmv.fsutil import create_file, remove_file, remove_stale, swap_in, tmp_name, write_all
from gitmv.importers.common import (
    Converted,
    nothing_to_import,
    refuse_taken_pointers,
    write_pointers,
)
from gitmv.objects import manifest
from gitmv.objects.cache import PACKED_MAX
from gitmv.objects.hashing import stat_of
from gitmv.objects.manifest import Entry
from gitmv.objects.pointer import Pointer
from gitmv.objects.state import Row, hashed
from gitmv.repo import Repo
from gitmv.worktree.workspace import Workspace

BUFSIZE = 8 << 20


def load_yaml(path: str, data: bytes | None = None) -> Any:
    """A YAML file (or `data`, read from `path` in git), through PyYAML (the `yaml` extra),
    imported only here."""
    try:
        import yaml
    except ImportError:
        raise GitMvmError(f"{path}: reading YAML needs PyYAML, which is not installed",
                          "pip install 'gitmv[yaml]'") from None
    try:
        if data is not None:
            return yaml.safe_load(data)
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except yaml.YAMLError as exc:
        raise GitMvmError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}",
                          "fix the file (`dvc status` reads it too), then try again") from None


class DvcOut(NamedTuple):
    path: str  # top-relative, posix
    md5: str  # hex; a directory's listing is `<md5>.dir`
    is_dir: bool
    legacy: bool  # DVC 2's md5 (text files hashed with CRLF as LF)
    origin: str  # the .dvc file or dvc.lock that names it


class DvcFiles(NamedTuple):
    outs: list[DvcOut]
    dvc_files: list[str]  # the .dvc files these outputs replace


def _listed(repo: Repo, glob: str) -> list[str]:
    out = repo.git("ls-files", "-z", "--cached", "--others", "--exclude-standard", "--",
                   f":(glob){glob}")
    return sorted({p for p in out.decode("utf-8", "surrogateescape").split("\0") if p})


def _out(entry: Any, base: str, origin: str) -> DvcOut | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        raise GitMvmError(f"{origin}: an output without a path", "fix the file, then import")
    md5 = entry.get("md5")
    if entry.get("cache") is False or not isinstance(md5, str):
        return None  # not in DVC's cache: git's, or nothing to import
    raw = entry["path"]  # an external output (`s3://…`, `/data/x`) is kept as written
    path = raw if "://" in raw or posixpath.isabs(raw) else \
        posixpath.normpath(posixpath.join(base, raw))
    is_dir = md5.endswith(".dir")
    return DvcOut(path, md5.removesuffix(".dir"), is_dir, entry.get("hash") != "md5", origin)


def _not_cached(repo: Repo, base: str, lock: Any) -> set[str]:
    """The outputs the dvc.yaml beside `lock` declares `cache: false` (git's to keep, not
    in DVC's cache; dvc.lock records their md5 all the same), top-relative."""
    path = repo.abs(posixpath.join(base, "dvc.yaml"))
    doc = load_yaml(path) if os.path.isfile(path) else None
    found: list[str] = []
    for name, stage in ((doc or {}).get("stages") or {}).items() if isinstance(doc, dict) \
            else ():
        body = _stage_body(stage)
        if not isinstance(body, dict):
            continue
        paths = [posixpath.join(base, str(k)) for kind in ("outs", "metrics", "plots")
                 for e in body.get(kind) or [] if isinstance(e, dict)
                 for k, v in e.items() if isinstance(v, dict) and v.get("cache") is False]
        found += _resolved(paths, lock, str(name), base)
    return {posixpath.normpath(p) for p in found}


def _stage_body(stage: Any) -> Any:
    """A dvc.yaml stage's definition: a `foreach` stage keeps it under `do:` (a `matrix`
    one does not)."""
    return stage.get("do") if isinstance(stage, dict) and "foreach" in stage else stage


def _outside(repo: Repo, path: str) -> bool:
    """Whether output `path` is not a place in this work tree gitmv may write a pointer
    beside: an external output, one above the top, in `.git/`, or under a symbolic link
    to a directory elsewhere."""
    if "://" in path or path.startswith(("/", "../")) or path == ".." \
            or ".git" in path.lower().split("/"):
        return True
    parent = os.path.realpath(os.path.dirname(repo.abs(path)))
    top = os.path.realpath(repo.root)
    return parent != top and not parent.startswith(top + os.sep)


def find_outs(ws: Workspace, targets: Sequence[str]) -> DvcFiles:
    """The outputs `.dvc` files and `dvc.lock` name (those under `targets` when given)."""
    repo = ws.repo
    outs: list[DvcOut] = []
    dvc_files: list[str] = []
    imports: list[str] = []
    dvc_listed, locks = _listed(repo, "**/*.dvc"), _listed(repo, "**/dvc.lock")
    deleted = [rel for rel in dvc_listed + locks if not os.path.isfile(repo.abs(rel))]
    if deleted:
        raise GitMvmError(
            f"{', '.join(deleted)}: deleted from the work tree, still in git's index",
            f"`git rm --cached {deleted[0]}` if DVC no longer tracks it (`dvc remove`), or "
            f"`git checkout -- {deleted[0]}` to bring it back; then import again")
    for rel in dvc_listed:
        doc = load_yaml(repo.abs(rel)) or {}
        base = posixpath.dirname(rel)
        if doc.get("deps"):
            imports.append(rel)
            continue
        found = [o for o in (_out(e, base, rel) for e in doc.get("outs") or []) if o]
        if found:
            outs += found
            dvc_files.append(rel)
    tracked = set(repo.git("ls-files", "-z").decode("utf-8", "surrogateescape").split("\0"))
    for rel in locks:
        doc = load_yaml(repo.abs(rel)) or {}
        base = posixpath.dirname(rel)
        uncached = _not_cached(repo, base, doc)
        for stage in (doc.get("stages") or {}).values():
            for entry in (stage or {}).get("outs") or []:
                o = _out(entry, base, rel)
                if o is not None and o.path not in tracked and o.path not in uncached:
                    outs.append(o)
    if targets:
        def wanted(o: DvcOut) -> bool:
            return any(t in (o.path, o.origin) or o.path.startswith(t.rstrip("/") + "/")
                       for t in targets)
        outs = [o for o in outs if wanted(o)]
        dvc_files = [f for f in dvc_files if any(o.origin == f for o in outs)]
        imports = [f for f in imports if f in targets]
    outside = [f"{o.origin} names {o.path}" for o in outs if _outside(repo, o.path)]
    if outside:
        raise GitMvmError(
            f"{'; '.join(outside)}: outside the git repository (an external output); gitmv "
            "tracks files inside it",
            "leave them out by naming the other targets (`git mvm import dvc PATH…`)")
    if imports:
        raise GitMvmError(
            f"{', '.join(imports)}: made by `dvc import` (or import-url): gitmv would lose "
            "where the data comes from",
            "leave them out (name the other targets), or `dvc update` and `dvc unprotect` "
            "them, `git rm` the .dvc file and `git mvm add` the data")
    return DvcFiles(outs, dvc_files)


# --- DVC's cache and one read pass ----------------------------------------------------------


def project_of(repo: Repo, rel: str) -> str:
    """The DVC project (top-relative directory holding `.dvc/`, "" at the top) that the
    file `rel` belongs to: the nearest directory above it with a `.dvc/` (`dvc init
    --subdir` makes one below the top of the git repository); the top when none has."""
    parts = rel.split("/")[:-1]
    while parts:
        if os.path.isdir(repo.abs("/".join([*parts, ".dvc"]))):
            return "/".join(parts)
        parts.pop()
    return ""


def cache_dir(repo: Repo, project: str = "") -> str:
    """DVC's cache directory of `project`: `cache.dir` of .dvc/config(.local), else
    .dvc/cache."""
    dot_dvc = os.path.join(repo.root, project, ".dvc")
    configured = read_config(repo, project).get("cache", {}).get("dir")
    if configured:
        return os.path.normpath(os.path.join(dot_dvc, configured))
    return os.path.join(dot_dvc, "cache")


def in_dvc_cache(root: str, md5: str, suffix: str = "") -> str | None:
    """The path of object `md5` in DVC's cache, DVC 3's layout first, else DVC 2's."""
    for path in (os.path.join(root, "files", "md5", md5[:2], md5[2:] + suffix),
                 os.path.join(root, md5[:2], md5[2:] + suffix)):
        if os.path.isfile(path):
            return path
    return None


class Hashed(NamedTuple):
    sha256: str
    md5: str
    size: int
    st: os.stat_result


def cache_with_md5(ws: Workspace, path: str) -> Hashed:
    """Copy the file at `path` into gitmv's cache, its md5 and sha256 computed in the same
    read pass (DVC names objects by md5, gitmv by sha256)."""
    cache = ws.cache
    fd = os.open(path, os.O_RDONLY)
    try:
        before = os.fstat(fd)
        if before.st_size <= PACKED_MAX:
            data = os.read(fd, before.st_size + 1)
            oid = hashlib.sha256(data).hexdigest()
            cache.put_bytes(data, oid)
            return Hashed(oid, hashlib.md5(data).hexdigest(), len(data), os.fstat(fd))
        cache.make_tmp_dir()
        tmp = tmp_name(cache.tmp_dir)
        sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
        try:
            out = create_file(tmp, 0o644, cache.sharing)
            try:
                buf = bytearray(BUFSIZE)
                view = memoryview(buf)
                while n := os.readv(fd, [buf]):
                    chunk = view[:n]
                    sha.update(chunk)
                    md5.update(chunk)
                    written = 0
                    while written < n:
                        written += os.write(out, chunk[written:])
                    size += n
            finally:
                os.close(out)
            oid = sha.hexdigest()
            cache.place_download(tmp, oid)
        except BaseException:
            remove_file(tmp)
            raise
        return Hashed(oid, md5.hexdigest(), size, os.fstat(fd))
    finally:
        os.close(fd)


def dos2unix_md5(path: str) -> str:
    """DVC 2's md5 of a text file: CRLF read as LF."""
    md5 = hashlib.md5()
    carry = b""
    with open(path, "rb") as f:
        while chunk := f.read(BUFSIZE):
            chunk = carry + chunk
            carry = b"\r" if chunk.endswith(b"\r") else b""
            md5.update(chunk[: len(chunk) - len(carry)].replace(b"\r\n", b"\n"))
    md5.update(carry)
    return md5.hexdigest()


class _Problem(Exception):
    """Why one output cannot be imported (collected, then reported together)."""


class _Place(NamedTuple):
    """One file to import: where its bytes are read and what they must hash to."""

    out: DvcOut
    relpath: str  # inside a directory output ("" for a file output)
    md5: str


def _read_one(ws: Workspace, dvc_cache: str, p: _Place) -> tuple[Entry, Row | None, str]:
    """Import one file's bytes; its manifest entry, stat-cache row, and where they came
    from. Raises _Problem when they are not the bytes DVC recorded."""
    rel = f"{p.out.path}/{p.relpath}" if p.relpath else p.out.path
    abspath = ws.repo.abs(rel)
    try:
        st = os.lstat(abspath)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISREG(st.st_mode):
        since = ws.state.now()
        h = cache_with_md5(ws, abspath)
        if h.md5 != p.md5 and not (p.out.legacy and dos2unix_md5(abspath) == p.md5):
            raise _Problem(f"{rel}: changed since DVC recorded it")
        mode = "755" if h.st.st_mode & stat.S_IXUSR else "644"
        return (Entry(p.relpath, mode, h.sha256, h.size),
                hashed(abspath, stat_of(h.st), h.sha256, since), "work tree")
    src = in_dvc_cache(dvc_cache, p.md5)
    if src is None:
        raise _Problem(f"{rel}: neither in the work tree nor in DVC's cache")
    h = cache_with_md5(ws, src)
    if h.md5 != p.md5 and not (p.out.legacy and dos2unix_md5(src) == p.md5):
        raise _Problem(f"{rel}: DVC's cached copy {src} is corrupt")
    return Entry(p.relpath, "644", h.sha256, h.size), None, "dvc cache"


def _listing(dvc_cache: str, out: DvcOut) -> list[tuple[str, str]]:
    """A directory output's files, (relpath, md5), from DVC's `.dir` object."""
    path = in_dvc_cache(dvc_cache, out.md5, ".dir")
    if path is None:
        raise _Problem(f"{out.path}: DVC's listing {out.md5}.dir is not in its cache")
    with open(path, "rb") as f:
        raw = f.read()
    if hashlib.md5(raw).hexdigest() != out.md5:
        raise _Problem(f"{out.path}: DVC's listing {path} is corrupt")
    try:
        items = [(str(i["relpath"]).replace(os.sep, "/"), str(i["md5"]))
                 for i in json.loads(raw)]
    except (ValueError, TypeError, KeyError):
        raise _Problem(f"{out.path}: DVC's listing {path} is not a list of files") from None
    for rel, _ in items:
        if not rel or rel.startswith("/") or ".." in rel.split("/"):
            raise _Problem(f"{out.path}: DVC's listing {path} names {rel!r}, outside the "
                           "directory")
    return items


def _extra_files(ws: Workspace, out: DvcOut, listed: set[str]) -> list[str]:
    root = ws.repo.abs(out.path)
    extra = []
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for name in files:
            rel = os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/")
            if rel not in listed:
                extra.append(f"{out.path}/{rel}")
    return extra


def _dvcignored(repo: Repo, paths: list[str]) -> set[str]:
    """Those of `paths` (files git does not track) that a `.dvcignore` ignores: the
    gitignore rules, which DVC's are, read by git from every .dvcignore above them."""
    if not paths:
        return set()
    out = repo.git("ls-files", "-z", "--others", "--ignored",
                   "--exclude-per-directory=.dvcignore", "--",
                   *(f":(literal){p}" for p in paths))
    return {p for p in out.decode("utf-8", "surrogateescape").split("\0") if p}


class DvcImport(NamedTuple):
    converted: list[Converted]
    dvc_files: list[str]  # .dvc files these outputs replace (`finish` removes them)
    relinked: list[str]  # outputs whose work-tree files were links into DVC's cache
    projects: list[str]  # the DVC projects (directories holding .dvc/) they came from


def import_dvc(ws: Workspace, targets: Sequence[str]) -> DvcImport:
    """Convert the outputs under `targets` (all when empty); the caller holds the lock.
    Stages the result; a checkout of what was not in the work tree is the caller's."""
    found = find_outs(ws, targets)
    if not found.outs:
        raise nothing_to_import(
            "no DVC-tracked output" + (f" matches {' '.join(targets)}" if targets else ""),
            "`dvc data status` lists what DVC tracks; only outputs in DVC's cache are imported")
    refuse_taken_pointers(ws, (o.path for o in found.outs))
    projects = {o.origin: project_of(ws.repo, o.origin) for o in found.outs}
    caches = {p: cache_dir(ws.repo, p) for p in set(projects.values())}

    def dvc_cache(out: DvcOut) -> str:
        return caches[projects[out.origin]]

    problems: list[str] = []
    places: list[_Place] = []
    extra: list[str] = []
    for out in found.outs:
        if not out.is_dir:
            places.append(_Place(out, "", out.md5))
            continue
        try:
            listing = _listing(dvc_cache(out), out)
        except _Problem as exc:
            problems.append(str(exc))
            continue
        if os.path.isdir(ws.repo.abs(out.path)):
            extra += _extra_files(ws, out, {r for r, _ in listing})
        places += [_Place(out, r, m) for r, m in listing]
    dvcignored = _dvcignored(ws.repo, extra[:1000])  # the ones shown, and argv bounded
    problems += [f"{x}: ignored by .dvcignore (DVC's listing leaves it out, a gitmv directory "
                 "holds every file in it)" if x in dvcignored else
                 f"{x}: not in the directory DVC recorded" for x in extra]

    def one(p: _Place) -> tuple[Entry, Row | None, str] | str:
        try:
            return _read_one(ws, dvc_cache(p.out), p)
        except _Problem as exc:
            return str(exc)

    results = ws.parallel(one, places)
    problems += [r for r in results if isinstance(r, str)]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more"
                                           if len(problems) > 5 else "")
        hint = "`dvc commit` what you changed (or `dvc checkout` to undo it), `dvc pull` " \
            "what is missing, then import again"
        if dvcignored:
            hint = "move the files .dvcignore keeps out of the directory (or delete them)" + (
                "; " + hint if len(dvcignored) < len(problems) else ", then import again")
        raise GitMvmError(f"cannot import: {shown}", hint)
    ws.flush()  # objects are on disk before any pointer names them
    ws.state.put_many(r[1] for r in results if not isinstance(r, str) and r[1] is not None)
    ws.remember_placed()
    by_out: dict[str, list[tuple[Entry, str]]] = {}
    for p, r in zip(places, results, strict=True):
        assert not isinstance(r, str)
        by_out.setdefault(p.out.path, []).append((r[0], r[2]))
    converted: list[Converted] = []
    relinked: list[str] = []
    for out in found.outs:
        got = by_out.get(out.path, [])
        sources = {s for _, s in got}
        source = "work tree" if sources <= {"work tree"} else "dvc cache"
        if "dvc cache" in sources and os.path.lexists(ws.repo.abs(out.path)):
            relinked.append(out.path)
        if not out.is_dir:
            e = got[0][0]
            converted.append(Converted(out.path, Pointer("file", e.oid, e.size), source))
            continue
        entries = sorted((e for e, _ in got), key=lambda e: e.path.encode())
        data = manifest.dump(entries)
        oid = ws.cache.put_bytes(data)
        size = sum(e.size for e in entries)
        if source == "work tree":
            ws.remember_dir(out.path, ws.stamp_as(out.path, entries), oid, len(entries), size)
        ws.state.mark_complete(oid)
        converted.append(Converted(out.path, Pointer("dir", oid, size, len(entries), {},
                                                     len(data)), source))
    ws.flush()
    write_pointers(ws, converted)
    return DvcImport(converted, found.dvc_files, relinked,
                     sorted(set(projects.values()), key=lambda p: (p.count("/"), p)))


# --- DVC's remotes --------------------------------------------------------------------------


def read_config(repo: Repo, project: str = "") -> dict[str, dict[str, str]]:
    """.dvc/config of DVC project `project` with .dvc/config.local over it: {section:
    {key: value}}, DVC's `'remote "NAME"'` sections as `remote NAME`."""
    merged: dict[str, dict[str, str]] = {}
    for name in ("config", "config.local"):
        path = os.path.join(repo.root, project, ".dvc", name)
        try:
            with open(path, encoding="utf-8") as f:
                text = "\n".join(line.strip() for line in f)
        except FileNotFoundError:
            continue
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text, path)
        except configparser.Error as exc:
            raise GitMvmError(f"{path}: cannot read it: {str(exc).splitlines()[0]}",
                              "`dvc config --list` shows what DVC reads there") from None
        for section in parser.sections():
            key = section.strip("'\" ").replace('"', "").replace("'", "")
            merged.setdefault(key, {}).update(parser[section])
    return merged


class DvcRemote(NamedTuple):
    name: str
    url: str | None  # the gitmv remote's URL, None when gitmv cannot use it
    endpoint_url: str | None
    why: str | None  # why not, when url is None


def default_remote(repo: Repo, project: str = "") -> DvcRemote | None:
    """DVC's default remote (`core.remote`) of DVC project `project` as a gitmv remote: a
    directory (a relative path is DVC's, relative to .dvc/) or S3 (with its `endpointurl`);
    gitmv's objects go in a `gitmv/` folder inside it, beside DVC's `files/`."""
    cfg = read_config(repo, project)
    name = cfg.get("core", {}).get("remote")
    if not name:
        return None
    section = cfg.get(f"remote {name}")
    if section is None or not section.get("url"):
        return DvcRemote(name, None, None, f"DVC's config has no url for remote {name!r}")
    url = section["url"].rstrip("/")
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "s3":
        return DvcRemote(name, url + "/gitmv", section.get("endpointurl"), None)
    if scheme in ("", "file"):
        path = url.removeprefix("file://")
        if not os.path.isabs(path):
            path = os.path.relpath(os.path.normpath(os.path.join(
                repo.root, project, ".dvc", path)), repo.root)
        return DvcRemote(name, os.path.join(path, "gitmv"), None, None)
    return DvcRemote(name, None, None, f"a {scheme}:// remote; gitmv takes directories and "
                     "S3 from DVC's config (add others with `git mvm remote add`)")


# --- params and metrics a pipeline names ----------------------------------------------------


def _params_files(entries: Any, base: str) -> list[str]:
    """`params:` of dvc.yaml: key names (of the default params.yaml) or {file: keys}."""
    out = []
    for e in entries or []:
        if isinstance(e, str):
            out.append(posixpath.join(base, "params.yaml"))
        elif isinstance(e, dict):
            out += [posixpath.join(base, str(k)) for k in e]
    return out


def _metrics_files(entries: Any, base: str) -> list[str]:
    """`metrics:` of dvc.yaml: paths, or {path: options}."""
    out = []
    for e in entries or []:
        if isinstance(e, str):
            out.append(posixpath.join(base, e))
        elif isinstance(e, dict):
            out += [posixpath.join(base, str(k)) for k in e]
    return out


def _resolved(paths: list[str], lock: Any, stage: str, base: str) -> list[str]:
    """`paths` as DVC resolved them: one with `${…}` (a `foreach`/`matrix` stage's
    templates) is each path of the stage's instances (`STAGE@KEY` in dvc.lock) it matches."""
    if not any("${" in p for p in paths):
        return paths
    known: list[str] = []
    stages = lock.get("stages") if isinstance(lock, dict) else None
    for name, done in (stages or {}).items():
        if str(name).startswith(f"{stage}@") and isinstance(done, dict):
            known += [posixpath.join(base, str(o.get("path"))) for o in done.get("outs") or []
                      if isinstance(o, dict)]
            known += [posixpath.join(base, str(k)) for k in done.get("params") or {}]
    out = []
    for p in paths:
        if "${" not in p:
            out.append(p)
            continue
        pattern = re.compile(".+".join(re.escape(part) for part in
                                       re.split(r"\$\{[^}]*\}", p)))
        out += [k for k in known if pattern.fullmatch(k)]
    return out


def pipeline_values(repo: Repo) -> dict[str, list[str]]:
    """The params and metrics files every dvc.yaml names, top-relative: {"params": […],
    "metrics": […]}, each file once, in the order found."""
    found: dict[str, list[str]] = {"params": [], "metrics": []}
    for rel in _listed(repo, "**/dvc.yaml"):
        doc = load_yaml(repo.abs(rel)) or {}
        base = posixpath.dirname(rel)
        lock_path = repo.abs(posixpath.join(base, "dvc.lock"))
        lock = load_yaml(lock_path) if os.path.isfile(lock_path) else None
        found["params"] += _params_files(doc.get("params"), base)
        found["metrics"] += _metrics_files(doc.get("metrics"), base)
        for name, stage in (doc.get("stages") or {}).items():
            body = _stage_body(stage)
            if isinstance(body, dict):
                for kind, files in (("params", _params_files(body.get("params"), base)),
                                    ("metrics", _metrics_files(body.get("metrics"), base))):
                    found[kind] += _resolved(files, lock, str(name), base)
    return {k: list(dict.fromkeys(posixpath.normpath(p) for p in v)) for k, v in found.items()}


# --- one output at a commit, from DVC's cache (`get` of a version GTO registered) -----------


def output_at(repo: Repo, commit: str, path: str) -> DvcOut | None:
    """The DVC output `path` (top-relative, posix) at `commit`, as `PATH.dvc` or the
    `dvc.lock` of a directory above it records it; None when none names it. The candidate
    files are read in one git call."""
    parts = path.split("/")
    bases = ["/".join(parts[:depth]) for depth in range(len(parts) - 1, -1, -1)]
    named = [(f"{path}.dvc", posixpath.dirname(path))] + [
        (posixpath.join(base, "dvc.lock"), base) for base in bases]
    for (name, base), data in zip(named, repo.read_objects([f"{commit}:{n}" for n, _ in named]),
                                  strict=True):
        doc = load_yaml(name, data) if data is not None else None
        if not isinstance(doc, dict):
            continue
        if name.endswith(".dvc"):
            entries = doc.get("outs") or []
        else:
            entries = [e for stage in (doc.get("stages") or {}).values()
                       for e in (stage or {}).get("outs") or []]
        for entry in entries:
            o = _out(entry, base, name)
            if o is not None and o.path == path:
                return o
    return None


def _copy_checked(src: str, dest: str, out_path: str, md5: str, legacy: bool,
                  what: str) -> None:
    """`src` (in DVC's cache) copied to a new file `dest`, its md5 checked in the same pass
    (DVC 2's text md5 too, for an output DVC 2 recorded)."""
    digest = hashlib.md5(usedforsecurity=False)
    fd = create_file(dest, 0o644)
    try:
        with open(src, "rb") as fin:
            while chunk := fin.read(BUFSIZE):
                digest.update(chunk)
                write_all(fd, chunk)
        os.fsync(fd)
    finally:
        os.close(fd)
    if digest.hexdigest() != md5 and not (legacy and dos2unix_md5(dest) == md5):
        raise GitMvmError(f"{what}: {src} in DVC's cache does not hash to {md5}: it is "
                          "damaged", f"`dvc pull --force {out_path}` brings a good copy, then "
                          "get again")


def _missing(what: str, out: DvcOut, commit: str, detail: str) -> GitMvmError:
    return GitMvmError(f"{what}: {out.path} is a DVC output ({out.origin}) whose {detail} "
                       "not in DVC's local cache",
                       f"`dvc fetch {out.origin}` at commit {commit[:12]} (or `dvc pull`) "
                       "brings them from DVC's remote; then get again")


def write_output(repo: Repo, commit: str, path: str, dest: str, what: str) -> str | None:
    """Write DVC output `path` at `commit` to `dest` (a file, or a directory built aside and
    renamed in whole; an existing `dest` is replaced) from DVC's cache, every md5 checked.
    Returns what was written, None when no `.dvc` file or `dvc.lock` names the output."""
    out = output_at(repo, commit, path)
    if out is None:
        return None
    root = cache_dir(repo, project_of(repo, out.origin))
    parent = os.path.dirname(dest) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tmp_name(parent)
    try:
        if not out.is_dir:
            src = in_dvc_cache(root, out.md5)
            if src is None:
                raise _missing(what, out, commit, f"bytes (md5 {out.md5}) are")
            _copy_checked(src, tmp, out.path, out.md5, out.legacy, what)
        else:
            try:
                listing = _listing(root, out)
            except _Problem as exc:
                if "not in its cache" in str(exc):
                    raise _missing(what, out, commit, f"listing ({out.md5}.dir) is") from None
                raise GitMvmError(f"{what}: {exc}", f"`dvc pull --force {out.path}` brings a "
                                  "good copy, then get again") from None
            os.mkdir(tmp)
            for rel, md5 in listing:
                src = in_dvc_cache(root, md5)
                if src is None:
                    raise _missing(what, out, commit, f"file {rel} (md5 {md5}) is")
                _copy_checked(src, os.path.join(tmp, rel), f"{out.path}/{rel}", md5,
                              out.legacy, what)
        swap_in(tmp, dest)
    except BaseException:
        remove_stale(tmp)
        raise
    kind = "directory" if out.is_dir else "output"
    return f"{path}, a DVC {kind} ({out.origin}) from DVC's cache"
