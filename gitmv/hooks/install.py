"""Installing gitmv's hook shims into the hooks directory git really uses.

A hook already there that is not ours is kept as `<name>.mvm-chained` and run first by the
shim (same arguments, same stdin; its failure fails the git command). `uninstall` puts it
back. Installing twice changes nothing.

It also registers the `mvm` diff driver, so `git diff` shows pointers as people read them:
`diff.mvm.textconv` in the repository's git config (local, removed by `uninstall`) and
`*.mvm diff=mvm` in the tracked `.gitattributes` (shared with the team; `uninstall` leaves it,
as git ignores a driver that is not configured).
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
# git appends the file as "$1". Where `git mvm` cannot run (gitmv uninstalled, a virtualenv not
# active), the raw pointer is shown instead of failing the whole diff.
TEXTCONV = 'f() { git mvm hook textconv "$1" 2>/dev/null || cat "$1"; }; f'
ATTRIBUTES = ".gitattributes"
ATTRIBUTES_LINE = "*.mvm diff=mvm"


class HookChange(NamedTuple):
    name: str
    action: str  # "installed", "unchanged", "chained", "updated", "removed", "restored"


def hooks_dir(repo: Repo) -> str:
    """`core.hooksPath` when set, else the common dir's hooks (worktrees share it)."""
    out = repo.git("rev-parse", "--git-path", "hooks").decode().strip()
    return out if os.path.isabs(out) else os.path.normpath(os.path.join(repo.root, out))


def shim(name: str) -> bytes:
    return (resources.files("gitmv.hooks") / "shims" / name).read_bytes()


def is_ours(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return MARKER in f.read(4096)
    except (FileNotFoundError, IsADirectoryError):
        return False


def install(repo: Repo, force: bool = False, shared: bool = True) -> list[HookChange]:
    """Install the hooks and the diff driver. `shared=False` (a fresh clone) leaves the
    tracked `.gitattributes` alone and puts the driver's line in `<git dir>/info/attributes`,
    so a clone never starts with a change to commit."""
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
    return changes + install_diff_driver(repo, shared)


def install_diff_driver(repo: Repo, shared: bool = True) -> list[HookChange]:
    """`diff.mvm.textconv` in the local git config; `*.mvm diff=mvm` in `.gitattributes`
    when this is a gitmv repository (it has `.mvm/`), staged when that touches nothing else."""
    name = "diff driver (diff.mvm.textconv = git mvm hook textconv)"
    current = repo.git("config", "--local", "--get", "diff.mvm.textconv", check=False).strip()
    if current.decode(errors="replace") == TEXTCONV:
        changes = [HookChange(name, "unchanged")]
    else:
        repo.git("config", "--local", "diff.mvm.textconv", TEXTCONV)
        changes = [HookChange(name, "updated" if current else "installed")]
    if not os.path.isdir(os.path.join(repo.root, ".mvm")):
        return changes
    if shared:
        changes.append(_add_attributes_line(repo))
    else:
        changes.append(_add_info_attributes_line(repo))
    return changes


def _add_info_attributes_line(repo: Repo) -> HookChange:
    """The driver's line in `<git dir>/info/attributes` (this clone only), unless the tracked
    `.gitattributes` already chooses a diff for pointers."""
    try:
        with open(os.path.join(repo.root, ATTRIBUTES), "rb") as f:
            if _diff_attribute(f.read()) is not None:
                return HookChange(f"{ATTRIBUTES} (already sets a diff for *.mvm)", "unchanged")
    except FileNotFoundError:
        pass
    path = os.path.join(repo.common_dir, "info", "attributes")
    try:
        with open(path, "rb") as f:
            body = f.read()
    except FileNotFoundError:
        body = b""
    if _diff_attribute(body) is not None:
        return HookChange(f"info/attributes ({ATTRIBUTES_LINE})", "unchanged")
    if body and not body.endswith(b"\n"):
        body += b"\n"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write(path, body + ATTRIBUTES_LINE.encode() + b"\n")
    return HookChange(f"info/attributes ({ATTRIBUTES_LINE}; this clone only)", "installed")


def _diff_attribute(data: bytes) -> str | None:
    """What the last `*.mvm` line of a .gitattributes says about `diff` (None: nothing)."""
    found = None
    for raw in data.decode("utf-8", "replace").splitlines():
        fields = raw.split()
        if len(fields) < 2 or fields[0] != "*.mvm":
            continue
        for attr in fields[1:]:
            if attr.lstrip("-!").split("=", 1)[0] == "diff" or attr == "binary":
                found = attr
    return found


def _add_attributes_line(repo: Repo) -> HookChange:
    path = os.path.join(repo.root, ATTRIBUTES)
    try:
        with open(path, "rb") as f:
            data: bytes | None = f.read()
    except FileNotFoundError:
        data = None
    existing = _diff_attribute(data or b"")
    if existing == "diff=mvm":
        return HookChange(f"{ATTRIBUTES} ({ATTRIBUTES_LINE})", "unchanged")
    if existing is not None:  # the team chose another diff for pointers: theirs wins
        return HookChange(f"{ATTRIBUTES} (its `*.mvm {existing}` line; `{ATTRIBUTES_LINE}` "
                          "not added)", "kept")
    # Stage it only when that stages nothing but our line: a new file, or one whose work-tree
    # copy matched the index.
    status = repo.git("status", "--porcelain", "-z", "--ignored=matching", "--",
                      f":(literal){ATTRIBUTES}")
    clean = data is None or not status or (status[1:2] == b" " and status[:2] != b"!!")
    body = data or b""
    eol = b"\r\n" if b"\r\n" in body else b"\n"  # keep a Windows file's line endings
    if body and not body.endswith(b"\n"):
        body += eol
    atomic_write(path, body + ATTRIBUTES_LINE.encode() + eol)
    if clean:
        repo.stage([ATTRIBUTES])
        return HookChange(f"{ATTRIBUTES} ({ATTRIBUTES_LINE}; staged: commit it so the team's "
                          "diffs use the driver too)", "installed")
    return HookChange(f"{ATTRIBUTES} ({ATTRIBUTES_LINE}; not staged, as the file had other "
                      "changes)", "installed")


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
    return changes + uninstall_diff_driver(repo)


def uninstall_diff_driver(repo: Repo) -> list[HookChange]:
    """Remove `diff.mvm.textconv` (and the `diff.mvm` section once it is empty).

    `.gitattributes` keeps its line: it is the team's tracked file, and git treats
    `diff=mvm` without a configured driver as an ordinary diff."""
    current = repo.git("config", "--local", "--get", "diff.mvm.textconv", check=False).strip()
    if current.decode(errors="replace") not in (TEXTCONV, "git mvm hook textconv"):
        return []  # not ours
    repo.git("config", "--local", "--unset-all", "diff.mvm.textconv")
    if not repo.git("config", "--local", "--get-regexp", r"^diff\.mvm\.", check=False):
        repo.git("config", "--local", "--remove-section", "diff.mvm", check=False)
    return [HookChange("diff driver (diff.mvm.textconv)", "removed")]

