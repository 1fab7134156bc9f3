"""iterative/dvc (PyPI) in its own venv, for the importer tests.

dvc pins many packages of its own (dvc-data, scmrepo, pygit2, fsspec, s3fs ...); in the test
venv they could fight gitmv's test packages, so it lives in `.venv-dvc/` (tests/venvs.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.venvs import pinned_venv, run_tool

REQUIREMENTS = ["dvc==3.67.1", "dvc-s3==3.3.0"]


def dvc_executable() -> Path:
    """The `dvc` script of `.venv-dvc/` (made first if it is missing or out of date)."""
    return pinned_venv("dvc", REQUIREMENTS) / "bin" / "dvc"


def dvc(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `dvc ARGS` in `repo` (the hermetic environment of the test is inherited)."""
    return run_tool(dvc_executable(), repo, args, {
        "DVC_NO_ANALYTICS": "1", "DVC_NO_UPDATER": "1",
        "DVC_SITE_CACHE_DIR": str(repo.parent / ".dvc-site-cache"), "NO_COLOR": "1"}, check)
