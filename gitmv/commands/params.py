"""`git mvm params show|diff`: the same tables as metrics, for the params files."""

from __future__ import annotations

from gitmv.commands.metrics import run_kind


def run(action: str, args: list[str], all: bool = False, md: bool = False, json: bool = False,
        precision: int | None = None) -> int:
    return run_kind("params", action, args, all, md, json, precision)
