"""`git mvm import lfs|dvc`: bring a repository versioned with Git LFS or DVC over to gitmv
(gitmv/importers/; docs/migrating.md)."""

from __future__ import annotations

import os
import posixpath

from gitmv import ui
from gitmv.commands.output import report_failures
from gitmv.errors import GitMvmError, UsageError
from gitmv.fsutil import repo_lock
from gitmv.importers.common import Converted, finish
from gitmv.worktree.workspace import Workspace


def _top_relative(ws: Workspace, paths: list[str]) -> list[str]:
    """Paths and globs typed relative to the current directory, as top-relative pathspecs."""
    prefix = os.path.relpath(os.getcwd(), ws.repo.root).replace(os.sep, "/")
    out = []
    for p in paths:
        if os.path.isabs(p):
            p = os.path.relpath(p, os.getcwd())
        out.append(posixpath.normpath(p if prefix == "." else f"{prefix}/{p}"))
    return out


def _set_up(ws: Workspace) -> Workspace:
    """After an import: the repository made a gitmv one (`git mvm init`) when it is not, and
    the hooks installed. Not before: a refused import changes nothing. A repository whose
    last commit has no .mvm/config.toml becomes a gitmv one in this change: `init` again
    (it keeps the config) finishes what an import stopped in the middle of it started (the
    hooks of git-lfs chained, the diff driver's line)."""
    opted_out = ws.config.is_local("hooks.install") and ws.config.get("hooks.install") is False
    if not os.path.isdir(os.path.join(ws.repo.root, ".mvm")) or (
            not opted_out and not ws.repo.read_objects(["HEAD:.mvm/config.toml"])[0]):
        from gitmv.commands import init

        init.run(install_hooks=True)
        ws = Workspace.open(jobs=ws.jobs)
    from gitmv.commands.add import check_set_up

    check_set_up(ws)
    return ws


def _check_out(ws: Workspace, converted: list[Converted], sources: tuple[str, ...]
               ) -> list[tuple[str, GitMvmError]]:
    from gitmv.worktree.checkout import checkout_many
    from gitmv.worktree.workspace import Artifact, Selection

    wanted = [Selection(Artifact(c.rel, c.pointer, None), "") for c in converted
              if c.source in sources]
    if not wanted:
        return []
    _, failures = checkout_many(ws, wanted, force=False)
    return failures


def _summary(converted: list[Converted]) -> None:
    by_source: dict[str, int] = {}
    for c in converted:
        ui.debug(f"imported: {c.rel} ({c.pointer.kind}, {ui.human_size(c.pointer.size)}, "
                 f"bytes: {c.source})")
        by_source[c.source] = by_source.get(c.source, 0) + 1
    parts = ", ".join(f"{n} from the {s}" if s != "missing" else f"{n} without bytes here"
                      for s, n in sorted(by_source.items()))
    ui.info(f"imported {ui.plural(len(converted), 'artifact')} ({parts}); staged: review "
            "with `git status`, then `git commit`")


def _add_remote(ws: Workspace, name: str, url: str, endpoint_url: str | None = None) -> None:
    """A gitmv remote for the store the bytes already live on (default when none is)."""
    from gitmv.commands import remote

    section = ws.config.get("remote", {}) or {}
    for existing, entry in section.items():
        if isinstance(entry, dict) and entry.get("url") == url:
            ui.info(f"the gitmv remote {existing!r} is already {url}")
            return
    if name in section:
        name = f"{name}-import"
    default = not ws.config.get("core.remote")
    remote.run("add", name, url, local=False, default=default, json=False,
               endpoint_url=endpoint_url)
    said = "the default remote" if default else f"a remote (the default stays "\
        f"{ws.config.get('core.remote')!r})"
    ui.info(f"gitmv remote {name!r} is {url}, {said}, in .mvm/config.toml (staged)")


def run(source: str, paths: list[str], push: bool, remote: str | None,
        jobs: int | None) -> int:
    if source == "lfs":
        if push:
            raise UsageError("--push is for `import dvc`: the Git LFS server already holds "
                             "the objects")
        return _run_lfs(paths, remote, jobs)
    return _run_dvc(paths, push, remote, jobs)


def _run_lfs(paths: list[str], remote_name: str | None, jobs: int | None) -> int:
    from gitmv.importers.lfs import find_server, import_lfs

    ws = Workspace.open(jobs=jobs)
    with repo_lock(ws.lock_path):
        ws.clean_tmp()
        result = import_lfs(ws, _top_relative(ws, paths))
        failures = _check_out(ws, result.converted, ("lfs cache", "gitmv cache"))
    ws.state.close()
    ws = _set_up(ws)
    _summary(result.converted)
    if result.attributes:
        ui.info(f"removed the Git LFS filter of the imported files from "
                f"{', '.join(result.attributes)}")
    if result.remaining:
        ui.info(f"{ui.plural(result.remaining, 'Git LFS file')} not imported stay with Git LFS")
    server = find_server(ws.repo)
    if server.url is not None:
        _add_remote(ws, remote_name or "lfs", server.url)
    elif server.why is None:
        ui.info(f"the Git LFS server of git remote {server.git_remote!r} stays the store: "
                "gitmv finds it as git-lfs does (ssh)")
    else:
        ui.warn(f"cannot tell where the Git LFS objects live ({server.why}); add the server "
                "with `git mvm remote add NAME lfs+https://…/info/lfs`")
    with repo_lock(ws.lock_path):  # the last step: until it, a rerun does the import again
        finish(ws, result.replaced)
    missing = sum(c.source == "missing" for c in result.converted)
    if missing:
        ui.info(f"{ui.plural(missing, 'artifact')} had no bytes here: `git mvm pull` fetches "
                "them from the Git LFS server")
    return report_failures(failures)


def _configure_values(ws: Workspace, wanted: dict[str, list[str]]) -> None:
    """The params and metrics files DVC's pipelines name, added to `[params]` / `[metrics]`
    `files` of .mvm/config.toml (staged), so `git mvm params|metrics diff` read them."""
    import tomlkit

    from gitmv.config import SHARED_CONFIG
    from gitmv.fsutil import atomic_write

    path = os.path.join(ws.repo.root, SHARED_CONFIG)
    with open(path, encoding="utf-8") as f:
        doc = tomlkit.parse(f.read())
    added = []
    for kind, files in wanted.items():
        table = doc.setdefault(kind, tomlkit.table())
        have = list(table.get("files", []))
        new = [f for f in files if f not in have]
        if new:
            table["files"] = have + new
            added += new
    if added:
        atomic_write(path, tomlkit.dumps(doc).encode())
        ws.repo.stage([SHARED_CONFIG])
        ui.info(f"params and metrics read from {', '.join(added)} (.mvm/config.toml): "
                "`git mvm params diff`, `git mvm metrics diff`")


def _unlink_links(path: str) -> None:
    """Symlinks into DVC's cache (`cache.type = symlink`) at or under `path` go; the
    checkout that follows writes the files from gitmv's cache."""
    if os.path.islink(path):
        os.unlink(path)
        return
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            if os.path.islink(os.path.join(dirpath, name)):
                os.unlink(os.path.join(dirpath, name))


def _run_dvc(paths: list[str], push: bool, remote_name: str | None, jobs: int | None) -> int:
    from gitmv.importers.dvc import default_remote, import_dvc, pipeline_values

    ws = Workspace.open(jobs=jobs)
    with repo_lock(ws.lock_path):
        ws.clean_tmp()
        result = import_dvc(ws, _top_relative(ws, paths))
        for rel in result.relinked:
            _unlink_links(ws.repo.abs(rel))
        failures = _check_out(ws, result.converted, ("dvc cache",))
    ws.state.close()
    ws = _set_up(ws)
    _summary(result.converted)
    if result.dvc_files:
        ui.info(f"replaced {ui.plural(len(result.dvc_files), '.dvc file')} (removed, staged)")
    dvc_remote = next((r for r in (default_remote(ws.repo, p) for p in result.projects)
                       if r is not None), None)
    if dvc_remote is not None and dvc_remote.url is None:
        ui.warn(f"DVC's remote {dvc_remote.name!r} is not converted: {dvc_remote.why}")
    elif dvc_remote is not None and dvc_remote.url is not None:
        if "://" not in dvc_remote.url:  # a directory: gitmv's folder inside DVC's
            parent = os.path.dirname(ws.repo.abs(dvc_remote.url))
            if os.path.isdir(parent):
                os.makedirs(ws.repo.abs(dvc_remote.url), exist_ok=True)
        _add_remote(ws, remote_name or dvc_remote.name, dvc_remote.url,
                    dvc_remote.endpoint_url)
    _configure_values(ws, pipeline_values(ws.repo))
    with repo_lock(ws.lock_path):  # the last step: until it, a rerun does the import again
        finish(ws, result.dvc_files, delete=result.dvc_files)
    if push and dvc_remote is None:
        raise GitMvmError("--push: DVC has no default remote to make a gitmv remote of",
                          "add one with `git mvm remote add -d NAME URL`, then "
                          "`git mvm push`")
    if failures:
        return report_failures(failures)
    if push:
        from gitmv.commands import transfer

        return transfer.push([ws.repo.abs(c.rel) for c in result.converted], remote=None,
                             all_commits=False, full=False, jobs=jobs)
    return 0
