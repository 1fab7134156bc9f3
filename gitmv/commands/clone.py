from __future__ import annotations

import os
from collections.abc import Sequence
from urllib.parse import urlsplit

from gitmv import ui
from gitmv.hooks.install import hook_state, install, install_diff_driver
from gitmv.repo import Repo, clone

_NO_WORK_TREE = ("--bare", "--mirror")


def run(url: str, directory: str | None, jobs: int | None,
        git_options: Sequence[str] = ()) -> int:
    """git clone (its options as given), install the hooks, pull the artifacts: one command
    for a teammate."""
    bare = any(o in _NO_WORK_TREE for o in git_options)
    if directory is None:  # as git names it: the last part of the path (never the query)
        path = urlsplit(url).path if "://" in url else url
        base = path.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        directory = base[:-4] if base.endswith(".git") else base
        if bare:
            directory += ".git"
    quiet = ["-q"] if ui.level <= ui.QUIET else []
    clone(url, directory, [*quiet, *git_options])
    if bare:
        ui.info(f"cloned {directory} without a work tree: `git mvm show`, `history`, `get`, "
                "`metrics`, `check` and `report` work in it")
        return 0
    repo = Repo.discover(os.path.abspath(directory))
    state = hook_state(repo)
    if state.custom:  # core.hooksPath: a directory every repository of the user shares
        install_diff_driver(repo, shared=False)
        ui.warn(f"gitmv's git hooks were not installed: git runs the hooks in "
                f"{state.directory} (core.hooksPath), which serves other repositories too; "
                f"run `git mvm install` in {directory} to install them there (pushes upload "
                "nothing without them)")
    else:
        install(repo, shared=False)  # a fresh clone starts with nothing to commit
    if "-n" in git_options or "--no-checkout" in git_options:
        ui.info(f"cloned without a checkout: after `git checkout BRANCH` in {directory}, run "
                "`git mvm pull`")
        return 0
    if not os.path.isdir(os.path.join(repo.root, ".mvm")):
        ui.info("cloned; this repository has no .mvm/ yet (run `git mvm init` there)")
        return 0
    from gitmv.commands.transfer import pull

    old = os.getcwd()
    os.chdir(repo.root)
    try:
        return pull([], None, False, jobs)
    finally:
        os.chdir(old)
