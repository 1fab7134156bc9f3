"""Shared test helpers: hermetic real git, running gitmv in-process or as a subprocess."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitmv import ui
from gitmv.cli import main


def hermetic_env(home: Path) -> dict[str, str]:
    """An environment with no inherited GIT_* variables, a temp HOME and a fixed identity."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="Test",
        GIT_COMMITTER_EMAIL="test@example.com",
        GIT_TERMINAL_PROMPT="0",
        LC_ALL="C.UTF-8",
    )
    return env


def git(repo: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def mvm(repo: Path, *args: str, capsys: pytest.CaptureFixture[str] | None = None) -> int:
    """Run `git mvm ARGS` in-process with cwd = repo; returns the exit code."""
    old = os.getcwd()
    os.chdir(repo)
    try:
        return main(list(args))
    finally:
        ui.level = ui.NORMAL
        os.chdir(old)


def mvm_proc(repo: Path, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    """Run `git mvm ARGS` as a real subprocess (through git, as a user would)."""
    return subprocess.run(
        [sys.executable, "-m", "gitmv", *args], cwd=repo, capture_output=True, text=True,
        check=False, **kw,  # type: ignore[call-overload]
    )


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree_digest(root: Path) -> dict[str, str]:
    """{relative path: sha256 or 'link:<target>'} of everything under root."""
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_file():
            out[rel] = sha(p.read_bytes())
    return out


def make_dataset(root: Path, n: int = 20, size: int = 100) -> dict[str, str]:
    for i in range(n):
        write(root / f"d{i % 3}" / f"f{i}.bin", os.urandom(size))
    return tree_digest(root)
