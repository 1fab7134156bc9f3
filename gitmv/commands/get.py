"""get: write one registered version's bytes anywhere, without a checkout (deployments);
`--repo URL`: without a clone either (a minimal mirror: gitmv/worktree/mirror.py)."""

from __future__ import annotations

import os

from gitmv import ui
from gitmv.commands.output import print_json
from gitmv.errors import GitMvmError, NotARepository, mask_url
from gitmv.objects.pointer import SUFFIX, Pointer, artifact_path
from gitmv.registry import read as registry
from gitmv.registry import write as rw
from gitmv.transfer.ensure import cached_entry, ensure_cached, locate_at
from gitmv.worktree.export import check_destination, destination, write_artifact
from gitmv.worktree.workspace import Workspace


def run(spec: str, output: str | None, force: bool, remote: str | None, json: bool,
        jobs: int | None, repo: str | None = None, rev: str | None = None) -> int:
    if repo is not None:  # no clone: a shallow, blobless mirror of the repository at URL
        from gitmv.worktree.mirror import open_mirror

        ws = open_mirror(repo, rev=rev, jobs=jobs)
    else:
        try:
            ws = Workspace.open(jobs=jobs, bare_ok=True)
        except NotARepository as exc:
            exc.hint = ("run it in a clone of the models repository, or name the repository: "
                        "`git mvm get --repo URL SPEC`")
            raise
    if rev is not None:
        return _get_path(ws, spec, rev, output, force, remote, json, repo)
    reg = registry.load(ws)
    try:
        v = reg.resolve(spec)
    except GitMvmError as exc:
        if repo is not None and "git mvm show" in (exc.hint or ""):  # no clone to run it in
            exc.hint = (f"`git ls-remote --tags {mask_url(repo)}` lists the registered "
                        "versions (MODEL@vX.Y.Z) and stage assignments (MODEL#STAGE#N)")
        raise
    deprecated = reg.model(v.model).deprecated
    if deprecated is not None:
        ui.warn(f"model {v.model} is deprecated ({deprecated.tag}, {deprecated.date[:10]}"
                f"{': ' + deprecated.subject if deprecated.subject else ''})")
    what = f"cannot get {v.model} {v.version}"
    path, ptr = rw.version_artifact(ws, reg.model(v.model), v, what)
    if ptr is None:  # GTO's: a file in git, a DVC output
        from gitmv.registry import foreign

        dest = destination(output, os.path.basename(path), "file")
        check_destination(ws, dest, "file", force)
        how = foreign.write_untracked(ws.repo, v.commit, path, dest, what)
        ui.info(f"{v.model} {v.version} ({how} at commit {v.commit[:12]}) -> "
                f"{os.path.relpath(dest)}")
        return 0
    if repo is not None:  # the store the version's commit names
        from gitmv.worktree.mirror import config_at

        ws = Workspace(ws.repo, config_at(ws.repo, v.commit), jobs=jobs)
    shown = _write(ws, path, ptr, output, force, remote, repo)
    if json:
        print_json({"model": v.model, "version": v.version, "tag": v.tag, "commit": v.commit,
                    "oid": ptr.oid_str, "kind": ptr.kind, "size": ptr.size, "path": shown})
    else:
        ui.info(f"{v.model} {v.version} ({ptr.oid_str[:19]}…, commit {v.commit[:12]}) -> "
                f"{shown}")
    return 0


def _get_path(ws: Workspace, spec: str, rev: str, output: str | None, force: bool,
              remote: str | None, json: bool, mirror_of: str | None) -> int:
    """`get --rev REV PATH`: the artifact at PATH (its pointer's path or its own, from the
    repository's top) in commit REV."""
    commit = ws.repo.resolve(rev)
    path = spec.strip("/")
    while path.startswith("./"):
        path = path[2:]
    if path.endswith(SUFFIX):
        path = artifact_path(path)
    where = f"{rev} ({commit[:12]})"
    located = locate_at(ws, commit, path, where)  # the artifact, or a file inside one
    if located is None:
        raise GitMvmError(f"no artifact {path} at {where}",
                          f"`git ls-tree -r --name-only {commit[:12]}` lists its files (the "
                          "path is from the repository's top; artifacts have `*.mvm` pointers)")
    artifact, ptr, inner = located
    if inner is not None:
        ptr = cached_entry(ws, artifact, ptr, inner, where, remote)
    shown = _write(ws, path, ptr, output, force, remote, mirror_of)
    if json:
        print_json({"path": path, "rev": rev, "commit": commit, "oid": ptr.oid_str,
                    "kind": ptr.kind, "size": ptr.size, "written": shown})
    else:
        ui.info(f"{path} at {rev} ({ptr.oid_str[:19]}…, commit {commit[:12]}) -> {shown}")
    return 0


def _write(ws: Workspace, path: str, ptr: Pointer, output: str | None, force: bool,
           remote: str | None, mirror_of: str | None) -> str:
    """Fetch the artifact's objects when the cache lacks them (`mirror_of`: the URL a mirror
    was made of, for the error when it names no store) and write it to `output` (or its
    name, here), atomically; the path written, as shown."""
    from gitmv.remotes.retry import RemoteError

    dest = destination(output, os.path.basename(path), ptr.kind)
    check_destination(ws, dest, ptr.kind, force)
    try:
        ensure_cached(ws, [ptr], remote)
    except RemoteError as exc:
        if mirror_of is None or remote or ws.config.get("core.remote") \
                or "no Git LFS server answers" not in exc.message:
            raise
        raise GitMvmError(
            f"{mask_url(mirror_of)} names no gitmv store (no core.remote in its "
            f".mvm/config.toml) and has no Git LFS server to fetch from",
            "its owner adds one and commits it (`git mvm remote add -d NAME URL`), or sets "
            "lfs.url in a committed .lfsconfig; or name a remote with --remote") from None
    write_artifact(ws, ptr, dest)
    return os.path.relpath(dest) if not os.path.relpath(dest).startswith("..") else dest
