from __future__ import annotations

import os

from gitmv import ui
from gitmv.config import DEFAULT_CONFIG, SHARED_CONFIG
from gitmv.fsutil import atomic_write
from gitmv.repo import Repo


def run(install_hooks: bool) -> int:
    repo = Repo.discover()
    path = os.path.join(repo.root, SHARED_CONFIG)
    if os.path.exists(path):
        ui.info(f"{SHARED_CONFIG} already exists; left as it is")
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, DEFAULT_CONFIG.encode())
        ui.info(f"wrote {SHARED_CONFIG}")
    os.makedirs(os.path.join(repo.mvm_dir, "objects"), exist_ok=True)
    repo.stage([SHARED_CONFIG.replace(os.sep, "/")])
    if install_hooks:
        from gitmv.hooks.install import install

        for change in install(repo):
            if change.action not in ("unchanged", "updated"):
                ui.debug(f"hook {change.action}: {change.name}")
    return 0
