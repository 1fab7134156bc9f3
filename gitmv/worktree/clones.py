"""Which clones share a cache directory (`cache.dir`).

Every clone that opens a configured cache leaves one small file in `<cache>/clones/`, named
for its git common dir and holding that directory's path (written once, atomically). gc in
any clone reads the refs, reflogs, indexes and work trees of every clone listed there before
it deletes an object from the shared cache: without the list, one clone's gc would delete
another's committed, unpushed model.
"""

from __future__ import annotations

import hashlib
import os
from typing import NamedTuple

from gitmv.fsutil import atomic_write, remove_file

DIRNAME = "clones"


class Registration(NamedTuple):
    git_dir: str  # the clone's git common dir, as it was when it registered
    file: str  # the registration file in the cache


def _file(cache_root: str, git_dir: str) -> str:
    name = hashlib.sha256(os.fsencode(git_dir)).hexdigest()[:24]
    return os.path.join(cache_root, DIRNAME, name)


def register(cache_root: str, common_dir: str) -> None:
    """Record that the clone whose git common dir is `common_dir` uses this cache (one stat
    when it already did)."""
    git_dir = os.path.realpath(common_dir)
    path = _file(cache_root, git_dir)
    if not os.path.exists(path):
        atomic_write(path, os.fsencode(git_dir) + b"\n")


def registered(cache_root: str) -> list[Registration]:
    """Every clone registered in this cache, in a stable order."""
    directory = os.path.join(cache_root, DIRNAME)
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        path = os.path.join(directory, name)
        if name.startswith(".") or not os.path.isfile(path):
            continue  # a temp file of a registration being written
        with open(path, "rb") as f:
            git_dir = os.fsdecode(f.read().strip())
        if git_dir:
            out.append(Registration(git_dir, path))
    return sorted(out)


def forget(cache_root: str, git_dir: str) -> bool:
    """Drop the registration of the clone at `git_dir` (its git dir, or its work tree)."""
    names = {p for d in (git_dir, os.path.realpath(git_dir)) for p in (d, os.path.join(d, ".git"))}
    found = False
    for reg in registered(cache_root):
        if reg.git_dir in names:
            remove_file(reg.file)
            found = True
    return found
