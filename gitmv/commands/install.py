from __future__ import annotations

from gitmv import ui
from gitmv.hooks.install import hooks_dir, install, uninstall
from gitmv.repo import Repo


def run(force: bool) -> int:
    repo = Repo.discover()
    for change in install(repo, force=force):
        if change.action != "unchanged":
            chained = change.action == "chained"
            note = " (the hook that was there still runs first)" if chained else ""
            ui.info(f"{change.action}: {change.name}{note}")
    ui.debug(f"hooks directory: {hooks_dir(repo)}")
    return 0


def run_uninstall() -> int:
    repo = Repo.discover()
    for change in uninstall(repo):
        ui.info(f"{change.action}: {change.name}")
    return 0
