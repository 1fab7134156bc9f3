from __future__ import annotations

from gitmv.hooks.run import run as run_hook


def run(name: str, args: list[str]) -> int:
    return run_hook(name, args)
