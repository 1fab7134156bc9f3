"""iterative/gto (PyPI) in its own venv, for the registry interop tests.

gto pins its own pydantic, typer, scmrepo and gitpython; in the test venv they could fight
the packages gitmv's tests need, so it lives in `.venv-gto/` at the top of the repository,
made once (under a lock, so parallel pytest workers wait for one another) and remade when
the pin below changes. `scripts/test` makes it before pytest starts.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-gto"
REQUIREMENTS = ["gto==1.10.1"]


def gto_executable() -> Path:
    """The `gto` script of `.venv-gto/`, made first if it is missing or out of date."""
    gto = VENV / "bin" / "gto"
    stamp = VENV / ".gitmv-requirements"
    want = "\n".join(REQUIREMENTS) + "\n"
    with open(ROOT / ".venv-gto.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if gto.exists() and stamp.exists() and stamp.read_text() == want:
            return gto
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", "--clear", str(VENV)], check=True)
        proc = subprocess.run(
            [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q",
             "--disable-pip-version-check", *REQUIREMENTS],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"cannot install gto into {VENV}:\n{proc.stderr}")
        stamp.write_text(want)
    return gto


def gto(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `gto ARGS` in `repo` (the hermetic environment of the test is inherited)."""
    env = {**os.environ, "GTO_EMOJIS": "false", "NO_COLOR": "1", "COLUMNS": "200"}
    proc = subprocess.run([str(gto_executable()), *args], cwd=repo, capture_output=True,
                          text=True, env=env, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"gto {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def gto_json(repo: Path, *args: str) -> Any:
    return json.loads(gto(repo, *args, "--json").stdout)
