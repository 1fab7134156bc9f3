"""Pinned tools that would fight the test venv's packages live in venvs of their own at the
top of the repository (`.venv-NAME/`): made once, under a lock (parallel pytest workers wait
for one another), and remade when the pins change. `scripts/test` makes them before pytest."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pinned_venv(name: str, requirements: list[str]) -> Path:
    """`.venv-NAME/` with `requirements` installed (made first if missing or out of date)."""
    venv = ROOT / f".venv-{name}"
    python = venv / "bin" / "python"
    stamp = venv / ".gitmv-requirements"
    want = "\n".join(requirements) + "\n"
    with open(ROOT / f".venv-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and stamp.exists() and stamp.read_text() == want:
            return venv
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True)
        proc = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
             *requirements],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"cannot install {' '.join(requirements)} into {venv}:\n"
                               f"{proc.stderr}")
        stamp.write_text(want)
    return venv


def run_tool(exe: Path, repo: Path, args: tuple[str, ...], env: dict[str, str],
             check: bool) -> subprocess.CompletedProcess[str]:
    """Run a pinned tool's `exe ARGS` in `repo` with `env` added to the test's (hermetic)
    environment; with `check`, a failure is an AssertionError showing what it printed."""
    proc = subprocess.run([str(exe), *args], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, **env}, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{exe.name} {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc
