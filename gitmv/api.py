"""gitmv's Python API: read artifacts and registered versions from a repository, in-process.

    import gitmv.api as mvm

    with mvm.open("models/classifier.pt", rev="v1.0") as f:   # verified bytes
        weights = f.read()
    v = mvm.resolve("classifier#production")                  # what the registry holds
    mvm.get("classifier#production", "/srv/model.pt")         # written atomically

Every function takes `repo`: a path to a work tree (or any directory inside one) or to a bare
repository; None is the current directory (the repository git would find there). Nothing
prints: gitmv's progress and warnings are silenced for the length of a call (see
`_quiet`); every refusal is a `GitMvmError` (re-exported here, with the family), whose
`hint` says how to go on. Bytes handed to the caller were hashed whole against their id
first, or are vouched for by the stat cache as unchanged since they were (the rule every
gitmv checkout follows); a corrupt object raises `ObjectCorrupt`, never reaches the caller.
docs/api.md documents each name with an example.

May import `worktree`, `transfer`, `remotes`, `registry`, `review`, `repo`, `objects` and
the floor, like a command; never `cli` or `commands` (they may not import it either). Heavy
libraries (boto3, requests, tqdm, tomlkit) are imported only when a call needs a store.
"""

from __future__ import annotations

import builtins
import io
import os
import re
import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Literal, TextIO, Union, overload

from gitmv import ui
from gitmv.errors import (
    FileChanged,
    FormatError,
    GitFailed,
    GitMvmError,
    LockTimeout,
    NotARepository,
    ObjectCorrupt,
    ObjectMissing,
    PathRefused,
    UsageError,
    WouldOverwrite,
    os_error,
)

if TYPE_CHECKING:
    from gitmv.objects.pointer import Pointer
    from gitmv.registry.read import Registry, Version
    from gitmv.registry.rollback import RollbackDrill
    from gitmv.worktree.workspace import Workspace

__all__ = [
    "FileChanged",
    "FormatError",
    "GitFailed",
    "GitMvmError",
    "LockTimeout",
    "ModelVersion",
    "NotARepository",
    "ObjectCorrupt",
    "ObjectMissing",
    "PathRefused",
    "RepoLike",
    "UsageError",
    "WouldOverwrite",
    "get",
    "metrics",
    "models",
    "open",
    "params",
    "read_bytes",
    "read_text",
    "resolve",
    "rollback_drill",
    "stages",
    "versions",
]

RepoLike = Union[str, "os.PathLike[str]", None]
"""What `repo=` takes: a local path (work tree, a directory in one, a bare repository) or
None for the current directory."""

Scalar = int | float | str | bool


# --- the one way in: a repository argument becomes a Workspace -----------------------------

_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?[^/:]+:(?!//)")  # user@host:path, as git reads it


def _is_url(repo: str) -> bool:
    return "://" in repo or (_SCP_LIKE.match(repo) is not None and not os.path.exists(repo))


def _workspace(repo: RepoLike, rev: str | None = None) -> Workspace:
    """The Workspace a call works on. Every `repo=` argument of this module comes through
    here (and only here): a local path is its repository; a git URL, a minimal mirror of it
    (gitmv/worktree/mirror.py: the registry's tags and HEAD, or the one `rev`; shallow and
    blobless, kept under the user's cache directory and reused by later calls)."""
    from gitmv.worktree.workspace import Workspace

    how = "pass the path of a clone (its work tree) or of a bare repository, or a git URL"
    if repo is None:
        try:
            return Workspace.open(bare_ok=True)
        except NotARepository as exc:
            exc.hint = f"call it from inside a repository, or name one: repo=PATH or URL ({how})"
            raise
    where = os.fspath(repo)
    if _is_url(where):
        from gitmv.worktree.mirror import open_mirror

        ws = open_mirror(where, rev=rev)
        _mirrors[ws] = where
        return ws
    from gitmv.worktree.mirror import local_repository

    path = local_repository(where)  # `~` expanded; a bare repository's `.git` as git adds it
    if path is None:
        raise NotARepository(f"repo={where!r}: no such directory", how)
    try:
        return Workspace.open(cwd=path, bare_ok=True)
    except NotARepository:
        raise NotARepository(f"repo={where!r} is not inside a git repository", how) from None


_mirrors: weakref.WeakKeyDictionary[Workspace, str] = weakref.WeakKeyDictionary()


@contextmanager
def _at_commit(ws: Workspace, commit: str | None) -> Iterator[Workspace]:
    """The Workspace whose store is the one `commit` names: a mirror's config is its HEAD's
    (or its rev's), and a version's bytes are where the version's own commit put them, as a
    clone checking it out would find them. A local repository: `ws` itself."""
    if commit is None or ws not in _mirrors:
        yield ws
        return
    from gitmv.worktree.mirror import config_at
    from gitmv.worktree.workspace import Workspace

    at = Workspace(ws.repo, config_at(ws.repo, commit), jobs=ws.jobs)
    try:
        yield at
    finally:
        at.state.close()
        at.cache.packs.close()


_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_saved = ui.NORMAL


@contextmanager
def _quiet() -> Iterator[None]:
    """gitmv's services report through `ui`; an API call prints nothing. `ui.level` is the
    process's: calls in several threads keep it quiet until the last one ends, then put back
    what it was (a CLI call in another thread meanwhile reports less, never more)."""
    global _quiet_depth, _quiet_saved
    with _quiet_lock:
        if _quiet_depth == 0:
            _quiet_saved = ui.level
            ui.level = ui.QUIET
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                ui.level = _quiet_saved


@contextmanager
def _session(repo: RepoLike, what: str, rev: str | None = None) -> Iterator[Workspace]:
    """A quiet Workspace for one call, closed after it; an OSError of gitmv's own work is
    the family's one line. `rev`: the revision the call reads (a mirror fetches it)."""
    with _quiet():
        try:
            ws = _workspace(repo, rev)
        except OSError as exc:
            raise os_error(exc, what) from exc
        try:
            yield ws
        except ObjectCorrupt as exc:
            raise _corrupt(exc) from None
        except OSError as exc:
            raise os_error(exc, what) from exc
        finally:
            ws.state.close()
            ws.cache.packs.close()


# --- artifacts: where a path's bytes are -------------------------------------------------


class _Located:
    """An artifact path at a revision: its pointer, and the file inside it asked for."""

    def __init__(self, artifact: str, pointer: Pointer, inner: str | None, where: str) -> None:
        self.artifact = artifact
        self.pointer = pointer
        self.inner = inner  # a file inside a directory artifact ("" / None: the artifact)
        self.where = where  # "the work tree" or the commit, for messages


def _norm_path(path: str | os.PathLike[str]) -> str:
    text = os.fspath(path).replace(os.sep, "/")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if not parts or ".." in parts or text.startswith("/"):
        raise PathRefused(f"{text!r} is not a path inside the repository",
                          "name an artifact as `git mvm ls` shows it: models/classifier.pt, "
                          "or a file inside a directory artifact: data/train/x.bin")
    return "/".join(parts)


def _locate(ws: Workspace, path: str, rev: str | None) -> _Located:
    from gitmv.objects.pointer import is_pointer_file, pointer_path
    from gitmv.transfer.ensure import candidates, locate_at

    if rev is None and not ws.repo.bare:
        for artifact, inner in candidates(path):
            ppath = ws.repo.abs(pointer_path(artifact))
            if is_pointer_file(ppath):
                return _inside(artifact, ws.read_pointer(artifact), inner, path, "the work tree")
    if rev is None:
        rev = "HEAD"
    try:
        commit = ws.repo.resolve(rev)
    except GitMvmError as exc:
        if re.fullmatch(r"[^@#\s]+(@v?[\d.]+|@latest|#[^#\s]+)", rev):  # a registry spec
            exc.hint = (f"rev= is a commit, branch or tag; for what {rev} names pass "
                        f"rev=resolve({rev!r}).commit, or get({rev!r}, OUT) its bytes")
        raise
    where = f"commit {commit[:12]} ({rev})"
    located = locate_at(ws, commit, path, where)
    if located is not None:
        return _Located(*located, where)
    raise GitMvmError(f"{path} is not a tracked artifact at {rev} (commit {commit[:12]})",
                      "`git mvm ls` lists the artifacts; name a file inside a directory "
                      "artifact as data/train/x.bin, or pass another rev=")


def _inside(artifact: str, ptr: Pointer, inner: str | None, path: str, where: str) -> _Located:
    from gitmv.transfer.ensure import check_inside

    check_inside(artifact, ptr, inner, path, where)
    return _Located(artifact, ptr, inner, where)


def _entry(ws: Workspace, loc: _Located, remote: str | None) -> tuple[str, int]:
    """(oid, size) of the file `loc` names inside its directory artifact; only the manifest
    is fetched for it, not the directory."""
    from gitmv.transfer.ensure import cached_entry

    assert loc.inner is not None
    ptr = cached_entry(ws, loc.artifact, loc.pointer, loc.inner, loc.where, remote)
    return ptr.oid, ptr.size


def _open_object(ws: Workspace, oid: str, size: int, remote: str | None) -> BinaryIO:
    """The object's bytes, read-only, fetched into the cache first when it lacks them, and
    verified: a loose object hashed through the descriptor returned (unless the stat cache
    vouches for it unchanged since it was), a packed one read whole and hashed."""
    from gitmv.objects.hashing import hash_fd, stat_of
    from gitmv.objects.pointer import Pointer
    from gitmv.objects.state import hashed
    from gitmv.transfer.ensure import ensure_cached

    if not ws.cache.has(oid):
        ensure_cached(ws, [Pointer("file", oid, size)], remote)
    path = ws.cache.oid_to_path(oid)
    try:
        f = builtins.open(path, "rb")  # noqa: SIM115 (handed to the caller)
    except FileNotFoundError:
        data = ws.cache.read_bytes(oid)  # packed: small, verified in memory
        return io.BufferedReader(io.BytesIO(data))
    try:
        st = os.fstat(f.fileno())
        before = stat_of(st)
        if ws.state.get(path, before) != oid:
            since = ws.state.now()
            got, _ = hash_fd(f.fileno(), st.st_size)
            if got != oid:
                raise ObjectCorrupt(f"sha256:{oid}", f"sha256:{got}")
            if stat_of(os.fstat(f.fileno())) != before:
                raise FileChanged(path)
            try:
                ws.state.put_many([hashed(path, before, oid, since)])
            except GitMvmError:
                pass  # a read-only stat cache: hashed again next time
            f.seek(0)
        return f
    except BaseException:
        f.close()
        raise


def _corrupt(exc: ObjectCorrupt) -> ObjectCorrupt:
    exc.hint = exc.hint or ("`git mvm fsck` moves it aside; then `git mvm pull` (or this "
                            "call again) fetches a good copy from the store")
    return exc


# --- reading -------------------------------------------------------------------------------

@overload
def open(path: str | os.PathLike[str], repo: RepoLike = None, rev: str | None = None,
         mode: Literal["rb"] = "rb", *, remote: str | None = None,
         encoding: None = None) -> BinaryIO: ...
@overload
def open(path: str | os.PathLike[str], repo: RepoLike = None, rev: str | None = None, *,
         mode: Literal["r"], remote: str | None = None,
         encoding: str | None = None) -> TextIO: ...
def open(path: str | os.PathLike[str], repo: RepoLike = None, rev: str | None = None,
         mode: str = "rb", *, remote: str | None = None,
         encoding: str | None = None) -> IO[Any]:
    """A read-only file object over an artifact's bytes (or a file's inside a directory
    artifact) at `rev`; None: the work tree's pointer when there is one, else HEAD's.

    Bytes come from the cache; what the cache lacks is fetched from the store first (`remote`
    or the one `git mvm pull` uses) and verified as it arrives. A large object is read from
    its cache file, never held in memory; `seek`/`tell`/`readinto` work. `mode="r"` gives
    text (`encoding`, default UTF-8)."""
    if mode not in ("rb", "r"):
        raise UsageError(f"open(mode={mode!r}): artifacts open read-only",
                         'use mode="rb" (bytes) or mode="r" (text)')
    rel = _norm_path(path)
    with _session(repo, f"cannot open {rel}", rev) as ws:
        loc = _locate(ws, rel, rev)
        if loc.inner is not None:
            oid, size = _entry(ws, loc, remote)
        elif loc.pointer.kind == "dir":
            raise GitMvmError(f"{rel} is a directory artifact ({loc.where})",
                              f"open a file inside it ({rel}/NAME), or get({rel!r}, OUT) it")
        else:
            oid, size = loc.pointer.oid, loc.pointer.size
        f = _open_object(ws, oid, size, remote)
    if mode == "r":
        return io.TextIOWrapper(f, encoding=encoding or "utf-8")
    return f


def read_bytes(path: str | os.PathLike[str], repo: RepoLike = None, rev: str | None = None, *,
               remote: str | None = None) -> bytes:
    """All of an artifact's bytes (see `open`): for small ones."""
    with open(path, repo, rev, remote=remote) as f:
        return f.read()


def read_text(path: str | os.PathLike[str], repo: RepoLike = None, rev: str | None = None, *,
              remote: str | None = None, encoding: str = "utf-8") -> str:
    """An artifact's bytes decoded (see `open`)."""
    return read_bytes(path, repo, rev, remote=remote).decode(encoding)


# --- writing out ---------------------------------------------------------------------------

def _is_spec(reg: Registry, text: str) -> bool:
    """`MODEL@…` or `MODEL#…` naming a model the registry knows (a path may hold @ or #)."""
    model = re.split(r"[@#]", text, maxsplit=1)[0]
    return text != model and model in reg.models


def get(spec_or_path: str | os.PathLike[str], out: str | os.PathLike[str], repo: RepoLike = None,
        rev: str | None = None, *, force: bool = False, remote: str | None = None) -> str:
    """Write a registered version (`MODEL@v1.2.0`, `MODEL#STAGE`, `MODEL@latest`) or an
    artifact path at `rev` to `out`, atomically (a directory artifact is built aside and
    renamed in whole); the absolute path written. `out` may be an existing directory for a
    file (it lands inside, under its own name). What is there is replaced only with
    `force`. A spec names a model the registry holds; anything else is a path."""
    from gitmv.registry import read as registry
    from gitmv.transfer.ensure import ensure_cached
    from gitmv.worktree import export

    text = os.fspath(spec_or_path)
    with _session(repo, f"cannot get {text}", rev) as ws:
        reg = registry.load(ws)
        commit: str | None = None  # a version's: its bytes are on the store it names
        if rev is None and _is_spec(reg, text):
            v = reg.resolve(text)
            path, ptr = _version_artifact(ws, reg, v)
            if ptr is None:  # GTO's: a file in git, a DVC output
                from gitmv.registry import foreign

                dest = export.destination(os.fspath(out), os.path.basename(path), "file")
                export.check_destination(ws, dest, "file", force)
                foreign.write_untracked(ws.repo, v.commit, path, dest,
                                        f"cannot get {v.model} {v.version}")
                return dest
            commit = v.commit
        else:
            loc = _locate(ws, _norm_path(text), rev)
            path, ptr = loc.artifact, loc.pointer
            if loc.inner is not None:
                from gitmv.transfer.ensure import cached_entry

                ptr = cached_entry(ws, loc.artifact, ptr, loc.inner, loc.where, remote)
                path = f"{path}/{loc.inner}"
        dest = export.destination(os.fspath(out), os.path.basename(path), ptr.kind)
        export.check_destination(ws, dest, ptr.kind, force)
        with _at_commit(ws, commit) as at:
            ensure_cached(at, [ptr], remote)
            export.write_artifact(at, ptr, dest)
        return dest


# --- the registry --------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelVersion:
    """A registered version, as its registration tag records it.

    `oid`/`size`/`kind`/`path` are the artifact's (None for a version GTO registered with
    none of them and no pointer at its commit); `params`/`metrics` are `{file: {key:
    value}}` (flattened dotted keys, as `git mvm metrics` shows them); `lineage` is
    `{data path: {kind, oid, size[, files]}}`; `stages` the stages it is in now."""

    model: str
    version: str
    tag: str
    commit: str
    oid: str | None
    size: int | None
    kind: str | None
    path: str | None
    params: Mapping[str, Mapping[str, Any]]
    metrics: Mapping[str, Mapping[str, Any]]
    lineage: Mapping[str, Mapping[str, Any]]
    stages: tuple[str, ...]
    author: str
    date: str
    description: str | None
    active: bool

    @property
    def spec(self) -> str:
        return f"{self.model}@{self.version}"


def _version_artifact(ws: Workspace, reg: Registry, v: Version) -> tuple[str, Pointer | None]:
    """(path, pointer at the version's commit) of a version; None: GTO's untracked bytes."""
    from gitmv.registry import write as rw

    return rw.version_artifact(ws, reg.model(v.model), v, f"cannot get {v.model} {v.version}")


def _frozen(table: Any) -> Mapping[str, Mapping[str, Any]]:
    if not isinstance(table, dict):
        return MappingProxyType({})
    return MappingProxyType({str(k): MappingProxyType(dict(v)) if isinstance(v, dict) else v
                             for k, v in table.items()})


def _model_version(ws: Workspace, reg: Registry, v: Version) -> ModelVersion:
    snap = v.summary
    oid, size, kind = snap.get("oid"), snap.get("size"), snap.get("kind")
    path = snap.get("path")
    if not isinstance(oid, str):  # GTO's tag: the pointer at the commit says, if any
        try:
            path, ptr = _version_artifact(ws, reg, v)
        except GitMvmError:
            ptr = None
        if ptr is not None:
            oid, size, kind = ptr.oid_str, ptr.size, ptr.kind
    m = reg.model(v.model)
    in_stages = tuple(s for s, held in m.stages.items() if held is v)
    description = snap.get("description")
    return ModelVersion(
        model=v.model, version=v.version, tag=v.tag, commit=v.commit,
        oid=oid if isinstance(oid, str) else None,
        size=size if isinstance(size, int) else None,
        kind=kind if isinstance(kind, str) else None,
        path=path if isinstance(path, str) else None,
        params=_frozen(snap.get("params")), metrics=_frozen(snap.get("metrics")),
        lineage=_frozen(snap.get("data")), stages=in_stages,
        author=str(snap.get("author") or v.tagger), date=str(snap.get("date") or v.date),
        description=description if isinstance(description, str) else None,
        active=v.active)


def resolve(spec: str, repo: RepoLike = None) -> ModelVersion:
    """What `MODEL@vX.Y.Z`, `MODEL#STAGE` or `MODEL@latest` names, as the registry holds it."""
    from gitmv.registry import read as registry

    with _session(repo, f"cannot resolve {spec}") as ws:
        reg = registry.load(ws)
        return _model_version(ws, reg, reg.resolve(spec))


def versions(model: str, repo: RepoLike = None) -> list[ModelVersion]:
    """The model's registered versions that are not deregistered, highest first."""
    from gitmv.registry import read as registry

    with _session(repo, f"cannot list the versions of {model}") as ws:
        reg = registry.load(ws)
        return [_model_version(ws, reg, v) for v in reg.model(model).active_versions()]


def stages(model: str, repo: RepoLike = None) -> dict[str, str]:
    """{stage: version in it now} for the model (stages holding nothing left out)."""
    from gitmv.registry import read as registry

    with _session(repo, f"cannot list the stages of {model}") as ws:
        return {s: v.version for s, v in registry.load(ws).model(model).stages.items()}


def models(repo: RepoLike = None) -> list[str]:
    """The names of the models the registry holds, sorted."""
    from gitmv.registry import read as registry

    with _session(repo, "cannot list the models") as ws:
        return sorted(registry.load(ws).models)


def rollback_drill(model: str, stage: str, repo: RepoLike = None, *, to: str | None = None,
                   remote: str | None = None) -> RollbackDrill:
    """Rehearse `git mvm rollback MODEL STAGE [--to VERSION]` (what `--dry-run` does): the
    version it would put back (refused, raising, as the rollback refuses), every object of
    that version read back from the store and hashed (or checked by the store's checksum),
    and a protected stage's gates run on it. Writes nothing. The result's `ok` is whether
    the real rollback would succeed; `problems` and `failed_gates` say why not, `tags` the
    tags it would write."""
    from gitmv.registry.rollback import rollback_drill as drill
    from gitmv.review.gates import drill_gates

    with _session(repo, f"cannot rehearse the rollback of {model} in {stage}") as ws:
        return drill(ws, model, stage, to, remote, drill_gates(ws))


# --- params and metrics --------------------------------------------------------------------

def _values(kind: str, rev: str | None, repo: RepoLike, strict: bool
            ) -> dict[str, dict[str, Scalar]]:
    from gitmv.review.metrics import values_at

    with _session(repo, f"cannot read the {kind}", rev) as ws:
        if rev is None and ws.repo.bare:
            rev = "HEAD"
        if rev is not None:
            ws.repo.resolve(rev)  # an unknown revision is one clear error
        found = values_at(ws, rev, kind)
        if strict and found.problems:
            raise GitMvmError("; ".join(str(p) for p in found.problems),
                              f"fix the {kind} files, or pass strict=False to get what "
                              "could be read")
        return {f: dict(keys) for f, keys in found.files.items()}


def params(rev: str | None = None, repo: RepoLike = None, *, strict: bool = True
           ) -> dict[str, dict[str, Scalar]]:
    """The params at `rev` (None: the work tree; HEAD in a bare repository) from the files
    `[params] files` configures: `{file: {dotted key: value}}`, the values `git mvm params
    diff` compares. A missing or unreadable file is an error unless `strict=False`."""
    return _values("params", rev, repo, strict)


def metrics(rev: str | None = None, repo: RepoLike = None, *, strict: bool = True
            ) -> dict[str, dict[str, Scalar]]:
    """The metrics at `rev`, as `params` reads params (`[metrics] files`)."""
    return _values("metrics", rev, repo, strict)
