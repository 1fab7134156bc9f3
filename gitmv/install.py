"""Installing gitmv's hook shims into the hooks directory git really uses.

A hook already there that is not ours is kept as `<name>.mvm-chained` and run first by the
shim (same arguments, same stdin; its failure fails the git command). `uninstall` puts it
back. Installing twice changes nothing.
"""

from __future__ import annotations

import os
from importlib import resources
from typing import NamedTuple

from gitmv.errors import GitMvmError
from gitmv.fsutil import atomic_write
from gitmv.repo import Repo

HOOKS = ("pre-commit", "pre-push", "post-checkout", "post-merge", "post-rewrite")
MARKER = b"git-mvm hook shim"
CHAINED = ".mvm-chained"


class HookChange(NamedTuple):
    name: str
    action: str  # "installed", "unchanged", "chained", "updated", "removed", "restored"


def hooks_dir(repo: Repo) -> str:
    """`core.hooksPath` when set, else the common dir's hooks (worktrees share it)."""
    out = repo.git("rev-parse", "--git-path", "hooks").decode().strip()
    return out if os.path.isabs(out) else os.path.normpath(os.path.join(repo.root, out))


def shim(name: str) -> bytes:
    return (resources.files("gitmv") / "hooks" / name).read_bytes()


def is_ours(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return MARKER in f.read(4096)
    except (FileNotFoundError, IsADirectoryError):
        return False


def install(repo: Repo, force: bool = False) -> list[HookChange]:
    directory = hooks_dir(repo)
    os.makedirs(directory, exist_ok=True)
    changes = []
    for name in HOOKS:
        path = os.path.join(directory, name)
        chained = path + CHAINED
        want = shim(name)
        action = "installed"
        if os.path.lexists(path):
            if is_ours(path):
                with open(path, "rb") as f:
                    if f.read() == want:
                        changes.append(HookChange(name, "unchanged"))
                        continue
                action = "updated"
            else:
                if os.path.lexists(chained) and not force:
                    raise GitMvmError(
                        f"hook {path} is not gitmv's, and {chained} already holds another one",
                        "merge the two by hand, or run `git mvm install --force` to replace "
                        f"{chained} with the current {name} hook",
                    )
                os.replace(path, chained)
                action = "chained"
        atomic_write(path, want, mode=0o755)
        os.chmod(path, 0o755)
        changes.append(HookChange(name, action))
    return changes


def uninstall(repo: Repo) -> list[HookChange]:
    directory = hooks_dir(repo)
    changes = []
    for name in HOOKS:
        path = os.path.join(directory, name)
        chained = path + CHAINED
        if is_ours(path):
            os.unlink(path)
            if os.path.lexists(chained):
                os.replace(chained, path)
                changes.append(HookChange(name, "restored"))
            else:
                changes.append(HookChange(name, "removed"))
    return changes

