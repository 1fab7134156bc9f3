from __future__ import annotations

import os

from gitmv import ui
from gitmv.commands.output import report_failures
from gitmv.errors import GitMvmError, UsageError
from gitmv.fsutil import repo_lock
from gitmv.objects.pointer import SUFFIX, artifact_path, is_pointer_file
from gitmv.ui import human_size
from gitmv.worktree.workspace import Workspace


def parse_meta(items: list[str]) -> dict[str, str]:
    meta: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--meta {item!r}: expected KEY=VALUE", "e.g. --meta author=ana")
        meta[key.strip()] = value
    return meta


def check_set_up(ws: Workspace) -> None:
    """A repository `add` may write pointers into: one with `.mvm/` (`git mvm init`), whose
    git hooks are installed (they upload at push and fetch at checkout; without them a push
    sends pointers whose bytes nobody can get). Installs them where that is plainly right,
    refuses with the way on otherwise; `hooks.install = false` in this clone's own config
    opts out (`init --no-hooks` writes it). One in the committed config counts for nothing:
    whoever commits it would leave every clone pushing pointers without bytes. docs/hooks.md."""
    root = ws.repo.root
    if not os.path.isdir(os.path.join(root, ".mvm")):
        raise GitMvmError(
            f"not a gitmv repository: {root} has no .mvm/",
            "run `git mvm init` first: it writes .mvm/config.toml and installs the git hooks "
            "that upload and fetch the bytes",
        )
    if ws.config.is_local("hooks.install") and ws.config.get("hooks.install") is False:
        return
    from gitmv.hooks.install import ensure_installed, hooks_dir

    if ensure_installed(ws.repo):
        where = os.path.relpath(hooks_dir(ws.repo), root)
        ui.info(f"installed gitmv's git hooks in {where}: `git push` uploads the bytes, "
                "`git checkout` and `git pull` bring them")


def _everything(ws: Workspace) -> list[str]:
    """What `add .` at the top of the work tree adds, as `git add .` would: every artifact
    again (the changed ones are updated), and each untracked, not ignored file or directory
    at the top (gitmv's pointers, and dot files such as .gitignore and .mvm/, are not)."""
    found = [a.path for a in ws.artifacts()]
    for name in ws.repo.untracked_top():
        if not name.startswith(".") and not is_pointer_file(ws.repo.abs(name)):
            found.append(name)
    return found


def run(paths: list[str], meta: list[str], jobs: int | None) -> int:
    ws = Workspace.open(jobs=jobs)
    metadata = parse_meta(meta)
    check_set_up(ws)
    failures: list[tuple[str, GitMvmError]] = []
    with repo_lock(ws.lock_path):
        ws.clean_tmp()
        rels: list[str] = []
        from gitmv.commands.resolve import refuse_add

        for p in ws.expand(paths):
            if os.path.realpath(p) == os.path.realpath(ws.repo.root):
                rels += _everything(ws)
                continue
            if p.endswith(SUFFIX) and is_pointer_file(p):
                # `add *` matches pointers too: their artifacts are what is meant
                if os.path.lexists(artifact_path(p)):
                    p = artifact_path(p)
                else:
                    ui.debug(f"{p}: a pointer file, its artifact is not here: skipped")
                    continue
            try:
                rels.append(ws.to_rel(p))
            except GitMvmError as exc:
                failures.append((p, exc))
                continue
            refused = refuse_add(ws, rels[-1]) if ws.unmerged() else None
            if refused is not None:  # a pointer in conflict: the other side's bytes are lost
                failures.append((p, refused))
                rels.pop()
        done, more = ws.add_many(list(dict.fromkeys(rels)), metadata)
        failures += more
        for rel, ptr, changed in done:
            files = f", {ui.plural(ptr.files or 0, 'file')}" if ptr.kind == "dir" else ""
            verb = "added" if changed else "unchanged"
            ui.info(f"{verb}: {rel} ({human_size(ptr.size)}{files})")
    ws.state.close()
    return report_failures(failures)
