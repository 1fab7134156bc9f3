from __future__ import annotations

import os
from urllib.parse import urlsplit

from gitmv import ui
from gitmv.hooks.install import hook_state, install, install_diff_driver
from gitmv.repo import Repo, clone


def run(url: str, directory: str | None, jobs: int | None) -> int:
    """git clone, install the hooks, pull the artifacts: one command for a teammate."""
    if directory is None:  # as git names it: the last part of the path (never the query)
        path = urlsplit(url).path if "://" in url else url
        base = path.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        directory = base[:-4] if base.endswith(".git") else base
    clone(url, directory)
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
