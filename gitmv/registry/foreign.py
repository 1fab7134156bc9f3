"""The bytes of a version GTO registered for a model gitmv does not track: a file committed
to git itself, or a DVC output (`PATH.dvc` or a `dvc.lock` at the commit names it; its bytes
come from DVC's local cache: gitmv/importers/dvc.py). `get` writes them where it would write a
gitmv artifact's."""

from __future__ import annotations

import os

from gitmv.errors import GitMvmError
from gitmv.fsutil import atomic_write
from gitmv.repo import Repo


def _blob(repo: Repo, commit: str, path: str) -> bytes | None:
    spec = f"{commit}:{path}"
    if repo.git("cat-file", "-t", spec, check=False).strip() != b"blob":
        return None
    return repo.git("cat-file", "blob", spec)


def write_untracked(repo: Repo, commit: str, path: str, dest: str, what: str) -> str:
    """Write the bytes of `path` at `commit` to `dest` from git or from DVC's cache;
    returns where they came from. Refuses, saying why, when neither has them."""
    from gitmv.importers import dvc as dvc_files

    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    data = _blob(repo, commit, path)
    if data is not None:
        atomic_write(dest, data)
        return f"{path}, a file in git"
    how = dvc_files.write_output(repo, commit, path, dest, what)
    if how is None:
        raise GitMvmError(
            f"{what}: {path} at commit {commit[:12]} is neither a gitmv pointer, a file in git "
            "nor a DVC output",
            f"`git show {commit[:12]} --stat` shows what the commit holds; the model's path "
            "comes from [models.NAME] path, artifacts.yaml or dvc.yaml")
    return how
