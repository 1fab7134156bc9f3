"""iterative/gto (PyPI) in its own venv, for the registry interop tests.

gto pins its own pydantic, typer, scmrepo and gitpython; in the test venv they could fight
the packages gitmv's tests need, so it lives in `.venv-gto/` (tests/venvs.py).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.venvs import pinned_venv, run_tool

REQUIREMENTS = ["gto==1.10.1"]


def gto_executable() -> Path:
    """The `gto` script of `.venv-gto/` (made first if it is missing or out of date)."""
    return pinned_venv("gto", REQUIREMENTS) / "bin" / "gto"


def gto(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `gto ARGS` in `repo` (the hermetic environment of the test is inherited)."""
    return run_tool(gto_executable(), repo, args,
                    {"GTO_EMOJIS": "false", "NO_COLOR": "1", "COLUMNS": "200"}, check)


def gto_json(repo: Path, *args: str) -> Any:
    return json.loads(gto(repo, *args, "--json").stdout)
