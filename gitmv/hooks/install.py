"""Installing gitmv's hook shims into the hooks directory git really uses.

A hook already there that is not ours is kept as `<name>.mvm-chained` and run first by the
shim (same arguments, same stdin; its failure fails the git command). `uninstall` puts it
back. Installing twice changes nothing.

It also registers the `mvm` diff driver, so `git diff` shows pointers as people read them:
`diff.mvm.textconv` in the repository's git config (local, removed by `uninstall`) and
`*.mvm diff=mvm` in the tracked `.gitattributes` (shared with the team; `uninstall` leaves it,
as git ignores a driver that is not configured).

And the `mvm` merge driver (`git mvm merge-driver`, a three-way merge of directory pointers'
manifests): `merge.mvm.driver` in the local config and `*.mvm merge=mvm` in
`<git dir>/info/attributes`, both this clone's only: a merge attribute in the tracked file
would name, in a clone without gitmv, a driver that is not there. `uninstall` removes both.
"""

from __future__ import annotations

import os
from importlib import resources
from typing import NamedTuple

from gitmv.errors import GitMvmError
from gitmv.fsutil import atomic_write
from gitmv.objects.pointer import DIFF_ATTRIBUTES_LINE
from gitmv.repo import Repo

HOOKS = ("pre-commit", "pre-push", "post-checkout", "post-merge", "post-rewrite", "post-commit",
         "post-index-change")
MARKER = b"git-mvm hook shim"
CHAINED = ".mvm-chained"
# git appends the file as "$1". Where `git mvm` cannot run (gitmv uninstalled, a virtualenv not
# active), the raw pointer is shown instead of failing the whole diff.
TEXTCONV = 'f() { git mvm hook textconv "$1" 2>/dev/null || cat "$1"; }; f'
ATTRIBUTES = ".gitattributes"
ATTRIBUTES_LINE = DIFF_ATTRIBUTES_LINE
MERGE_DRIVER = "git mvm merge-driver %O %A %B %P"  # git shell-quotes %P itself
MERGE_LINE = "*.mvm merge=mvm"


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
    try:
        changes = _install_shims(directory, force)
    except OSError as exc:
        where = " (core.hooksPath)" if _custom_hooks_path(repo, directory) else ""
        raise GitMvmError(
            f"cannot install the git hooks in {directory}{where}: {exc.strerror or exc}",
            "make that directory writable, or point core.hooksPath at one you can write "
            "(`git config --unset core.hooksPath` uses the repository's own), then run "
            "`git mvm install`",
        ) from None
    return changes + install_diff_driver(repo, shared)


def _custom_hooks_path(repo: Repo, directory: str) -> bool:
    """Whether git's hooks directory is not the repository's own (`core.hooksPath`)."""
    return os.path.realpath(directory) != os.path.realpath(os.path.join(repo.common_dir, "hooks"))


def _install_shims(
    directory: str, force: bool, names: tuple[str, ...] = HOOKS
) -> list[HookChange]:
    os.makedirs(directory, exist_ok=True)
    changes = []
    for name in names:
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


# --- are they installed? (`git mvm add` asks) ---------------------------------------------


class HookState(NamedTuple):
    directory: str
    custom: bool  # core.hooksPath points elsewhere than the repository's own hooks directory
    missing: list[str]  # hooks that are not there at all
    foreign: list[str]  # hooks of another tool that do not run gitmv


def runs_gitmv(repo: Repo, path: str, name: str) -> bool:
    """Whether the hook at `path` runs gitmv's `name` hook: ours, one written by hand that
    calls `git mvm hook NAME`, or the pre-commit framework's with a gitmv id configured."""
    try:
        with open(path, "rb") as f:
            text = f.read(1 << 16)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return False
    if MARKER in text or f"mvm hook {name}".encode() in text:
        return True
    if b"pre-commit" in text and b"hook-impl" in text:  # the framework's generated hook
        try:
            with open(os.path.join(repo.root, ".pre-commit-config.yaml"), "rb") as f:
                config = f.read()
        except OSError:
            return False
        return f"gitmv-{name}".encode() in config or f"mvm hook {name}".encode() in config
    return False


def hook_state(repo: Repo) -> HookState:
    directory = hooks_dir(repo)
    missing, foreign = [], []
    for name in HOOKS:
        path = os.path.join(directory, name)
        if not os.path.lexists(path):
            missing.append(name)
        elif not runs_gitmv(repo, path, name):
            foreign.append(name)
    return HookState(directory, _custom_hooks_path(repo, directory), missing, foreign)


def ensure_installed(repo: Repo) -> bool:
    """Install the hooks where that is plainly right (the repository's own hooks directory,
    nothing of another tool's there); refuse with the way on otherwise. True when this call
    installed them. See docs/hooks.md: `add` without the hooks leaves pushes uploading
    nothing."""
    state = hook_state(repo)
    if not state.missing and not state.foreign:
        return False
    off = ("or, to go on without them (then `git mvm push` uploads by hand), set "
           "`hooks.install = false` in .git/mvm/config.toml")
    if state.foreign:
        raise GitMvmError(
            f"gitmv's git hooks are not installed: {state.directory} holds another tool's "
            f"{', '.join(state.foreign)} hook",
            "run `git mvm install` (it keeps those hooks and runs them first), then add "
            f"again; {off}",
        )
    if state.custom:
        raise GitMvmError(
            f"gitmv's git hooks are not installed in {state.directory} (core.hooksPath)",
            f"run `git mvm install` to install them there, then add again; {off}",
        )
    try:  # only where none is: a hook that already runs gitmv's part stays as it is
        _install_shims(state.directory, force=False, names=tuple(state.missing))
    except OSError as exc:
        raise GitMvmError(
            f"cannot install gitmv's git hooks in {state.directory}: {exc.strerror or exc}",
            f"make it writable and run `git mvm install`; {off}",
        ) from None
    install_diff_driver(repo, shared=False)
    return True


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
    changes += install_merge_driver(repo)
    if not os.path.isdir(os.path.join(repo.root, ".mvm")):
        return changes
    if shared:
        changes.append(_add_attributes_line(repo))
    else:
        changes.append(_add_info_attributes_line(repo))
    return changes


def install_merge_driver(repo: Repo) -> list[HookChange]:
    """`merge.mvm.driver` in the local config, and `*.mvm merge=mvm` in info/attributes when
    this is a gitmv repository. Installing twice changes nothing."""
    name = f"merge driver (merge.mvm.driver = {MERGE_DRIVER})"
    current = repo.git("config", "--local", "--get", "merge.mvm.driver", check=False).strip()
    if current.decode(errors="replace") == MERGE_DRIVER:
        changes = [HookChange(name, "unchanged")]
    else:
        repo.git("config", "--local", "merge.mvm.name", "gitmv pointers (three-way on manifests)")
        repo.git("config", "--local", "merge.mvm.driver", MERGE_DRIVER)
        changes = [HookChange(name, "updated" if current else "installed")]
    if not os.path.isdir(os.path.join(repo.root, ".mvm")):
        return changes
    path = _info_attributes(repo)
    body = _read(path)
    if MERGE_LINE in body.decode("utf-8", "replace").splitlines():
        return changes
    if body and not body.endswith(b"\n"):
        body += b"\n"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write(path, body + MERGE_LINE.encode() + b"\n")
    return [*changes, HookChange(f"info/attributes ({MERGE_LINE}; this clone only)",
                                 "installed")]


def uninstall_merge_driver(repo: Repo) -> list[HookChange]:
    """Remove the driver's config section and its info/attributes line (if ours)."""
    changes = []
    current = repo.git("config", "--local", "--get", "merge.mvm.driver", check=False).strip()
    if current.decode(errors="replace") == MERGE_DRIVER:
        repo.git("config", "--local", "--remove-section", "merge.mvm", check=False)
        changes.append(HookChange("merge driver (merge.mvm.driver)", "removed"))
    path = _info_attributes(repo)
    lines = _read(path).decode("utf-8", "surrogateescape").splitlines()
    if MERGE_LINE in lines:
        atomic_write(path, "".join(f"{x}\n" for x in lines if x != MERGE_LINE)
                     .encode("utf-8", "surrogateescape"))
        changes.append(HookChange(f"info/attributes ({MERGE_LINE})", "removed"))
    return changes


def _info_attributes(repo: Repo) -> str:
    return os.path.join(repo.common_dir, "info", "attributes")


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


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
        if data is not None and data.strip() == ATTRIBUTES_LINE.encode() and repo.git(
                "status", "--porcelain", "-z", "--ignored=matching", "--",
                f":(literal){ATTRIBUTES}").startswith(b"??"):
            repo.stage([ATTRIBUTES])  # the new file an install stopped before staging wrote
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
    return changes + uninstall_diff_driver(repo) + uninstall_merge_driver(repo)


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

