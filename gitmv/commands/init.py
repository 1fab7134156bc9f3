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
    _record_hooks_choice(repo, install_hooks)
    if install_hooks:
        from gitmv.hooks.install import install

        for change in install(repo):
            if change.action not in ("unchanged", "updated"):
                ui.debug(f"hook {change.action}: {change.name}")
    return 0


def _record_hooks_choice(repo: Repo, install_hooks: bool) -> None:
    """`--no-hooks` is this clone's choice, kept as `hooks.install = false` in the local
    config so that `git mvm add` does not install them after all; `init` with the hooks
    forgets it."""
    import tomlkit

    path = os.path.join(repo.mvm_dir, "config.toml")
    try:
        with open(path, encoding="utf-8") as f:
            doc = tomlkit.parse(f.read())
    except FileNotFoundError:
        if install_hooks:
            return
        doc = tomlkit.document()
    hooks = doc.get("hooks")
    if install_hooks:
        if hooks is None or "install" not in hooks:
            return
        del hooks["install"]
    else:
        if hooks is None:
            hooks = doc.setdefault("hooks", tomlkit.table())
        if hooks.get("install") is False:
            return
        hooks["install"] = False
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write(path, tomlkit.dumps(doc).encode())
