"""`git mvm card MODEL [VERSION] [-o FILE]`: a model card for a registered version."""

from __future__ import annotations

import os
import re
import sys

from gitmv import ui

_SEMVER = re.compile(r"v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?")


def spec_for(model: str, version: str | None) -> str:
    """`classifier` + `v1.2.0` / `1.2.0` / `production` / `latest` / nothing -> registry spec.

    MODEL may itself be a full spec (`classifier@v1.2.0`, `classifier#production`).
    """
    if version is None:
        return model if ("@" in model or "#" in model) else f"{model}@latest"
    if version == "latest":
        return f"{model}@latest"
    if _SEMVER.fullmatch(version):
        return f"{model}@{version if version.startswith('v') else 'v' + version}"
    return f"{model}#{version}"


def run(model: str, version: str | None = None, output: str | None = None) -> int:
    from gitmv.registry import card
    from gitmv.registry import read as registry
    from gitmv.worktree.workspace import Workspace

    ws = Workspace.open()
    reg = registry.load(ws)
    v = reg.resolve(spec_for(model, version))
    stages = [s for s, held in reg.model(v.model).stages.items() if held.version == v.version]
    text = card.build(ws.repo, ws.config, v, stages)
    if output is None:
        sys.stdout.write(text)
        return 0
    from gitmv.fsutil import atomic_write

    atomic_write(os.path.abspath(output), text.encode())
    ui.info(f"wrote the card of {v.model} {v.version} to {output}")
    return 0
