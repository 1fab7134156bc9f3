from __future__ import annotations

from gitmv.commands.install import run_uninstall


def run() -> int:
    return run_uninstall()
