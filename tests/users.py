"""Several Unix users in one group, to run git and gitmv as (the permission tests).

As root the users are numbers (`setpriv`; nothing is added to /etc/passwd): alice and bob,
each with a primary group of their own, both in the group `TEAM`. As another user there is
only that user, so a test that needs two says so and is skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

TEAM = 47100  # the group alice and bob share
UIDS = {"alice": 47101, "bob": 47102}
IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(
    not IS_ROOT, reason="acting as two users (setpriv) needs root; as one user only the modes "
    "gitmv gives are checked")


_SH = ["sh", "-c", 'exec "$@"', "sh"]  # how commands start (dash may refuse what setpriv runs)


def _pythonpath() -> str:
    import site

    root = str(Path(__file__).resolve().parents[1])
    return os.pathsep.join([root, *site.getsitepackages()])


def _python(probe_as: list[str]) -> str:
    """An interpreter the users may run (the test's may live under /root) with gitmv on it."""
    for python in dict.fromkeys([sys.executable, getattr(sys, "_base_executable", ""),
                                 f"/usr/bin/python{sys.version_info.major}."
                                 f"{sys.version_info.minor}"]):
        if python and subprocess.run(
            [*probe_as, *_SH, python, "-c", "import gitmv.cli, tomllib"], capture_output=True,
            env={"PATH": os.environ["PATH"], "PYTHONPATH": _pythonpath(), "HOME": "/"},
        ).returncode == 0:
            return python
    pytest.fail("no python the test users can run gitmv with")


class User:
    """One user: runs commands in `base` (a directory all test users may enter) with a HOME,
    a git identity and a `git-mvm` on PATH of its own."""

    def __init__(self, name: str, base: Path, python: str, prefix: list[str]) -> None:
        self.name = name
        self.prefix = prefix
        self.home = base / f"home-{name}"
        self.home.mkdir()
        (self.home / ".gitconfig").write_text(
            f"[user]\n\tname = {name}\n\temail = {name}@example.com\n"
            "[init]\n\tdefaultBranch = main\n[protocol \"file\"]\n\tallow = always\n"
            # a repository another user owns (a team's shared one): git >= 2.35.2 asks this
            "[safe]\n\tdirectory = *\n")
        bindir = self.home / "bin"
        bindir.mkdir()
        shim = bindir / "git-mvm"
        shim.write_text(f'#!/bin/sh\nexec {python} -m gitmv "$@"\n')
        shim.chmod(0o755)
        self.python = python
        self.env = {"HOME": str(self.home), "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
                    "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C.UTF-8", "PYTHONPATH": _pythonpath(),
                    "PYTHONDONTWRITEBYTECODE": "1", "GIT_TERMINAL_PROMPT": "0"}
        self.own(self.home)

    def own(self, path: Path) -> None:
        """Give `path` and everything under it to this user (files the test made as root)."""
        if not IS_ROOT:
            return
        uid = UIDS[self.name]
        for root, dirs, files in os.walk(path):
            for name in [*dirs, *files]:
                os.lchown(os.path.join(root, name), uid, uid)
        os.chown(path, uid, uid)

    def run(self, cwd: Path, *argv: str, umask: int = 0o022) -> subprocess.CompletedProcess[str]:
        """`argv` as this user under `umask`, in `cwd`."""
        wrapped = ["sh", "-c", f'umask {umask:03o} && exec "$@"', *_SH[3:], *argv]
        return subprocess.run([*self.prefix, *wrapped], cwd=cwd, env=self.env, text=True,
                              capture_output=True, check=False, timeout=300)

    def mvm(self, cwd: Path, *args: str, umask: int = 0o022) -> subprocess.CompletedProcess[str]:
        return self.run(cwd, self.python, "-m", "gitmv", *args, umask=umask)

    def git(self, cwd: Path, *args: str, umask: int = 0o022) -> str:
        res = self.run(cwd, "git", *args, umask=umask)
        assert res.returncode == 0, f"{self.name}: git {' '.join(args)}: {res.stderr}"
        return res.stdout


def _prefix(name: str) -> list[str]:
    if not IS_ROOT:
        return []
    uid = UIDS[name]
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", f"--groups={TEAM}", "--"]


@pytest.fixture(scope="session")
def users_python() -> str:
    return _python(_prefix("alice"))


@pytest.fixture
def team_base() -> Iterator[Path]:
    """A directory every test user may enter (pytest's own temp dirs are root's alone)."""
    base = Path(tempfile.mkdtemp(prefix="gitmv-users-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def alice(team_base: Path, users_python: str) -> User:
    return User("alice", team_base, users_python, _prefix("alice"))


@pytest.fixture
def bob(team_base: Path, users_python: str) -> User:
    return User("bob", team_base, users_python, _prefix("bob"))
