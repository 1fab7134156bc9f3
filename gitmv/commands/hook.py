from __future__ import annotations

from gitmv.hookrun import run as run_hook


def run(name: str, args: list[str]) -> int:
    return run_hook(name, args)
