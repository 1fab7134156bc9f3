"""Which clones share a cache directory (`cache.dir`).

Every clone that opens a configured cache leaves one small file in `<cache>/clones/`, named
for its git common dir and holding that directory's path (written once, atomically). gc in
any clone reads the refs, reflogs, indexes and work trees of every clone listed there before
it deletes an object from the shared cache: without the list, one clone's gc would delete
another's committed, unpushed model. So a clone that cannot register adds nothing to the
cache (`add` refuses), and gc deletes nothing while it cannot read every registration, or
cannot register itself (others may have failed too): `unreadable`.

In a cache a group shares (`chmod g+ws`), `clones/` and every registration are the group's
(fsutil.Sharing), so each user's gc reads everyone's.
"""

from __future__ import annotations

import hashlib
import os
from typing import NamedTuple

from gitmv.errors import GitMvmError
from gitmv.fsutil import NOT_SHARED, Sharing, atomic_write, remove_file

DIRNAME = "clones"


class Registration(NamedTuple):
    git_dir: str  # the clone's git common dir, as it was when it registered
    file: str  # the registration file in the cache


def _file(cache_root: str, git_dir: str) -> str:
    name = hashlib.sha256(os.fsencode(git_dir)).hexdigest()[:24]
    return os.path.join(cache_root, DIRNAME, name)


class Unreadable(NamedTuple):
    what: str  # what could not be read or written, so which clones use the cache is unknown
    fix: str


def register(cache_root: str, common_dir: str, sharing: Sharing = NOT_SHARED) -> None:
    """Record that the clone whose git common dir is `common_dir` uses this cache (one stat
    when it already did)."""
    git_dir = os.path.realpath(common_dir)
    path = _file(cache_root, git_dir)
    if not os.path.exists(path):
        atomic_write(path, os.fsencode(git_dir) + b"\n", 0o444, sharing)


def not_registered(cache_root: str, exc: OSError) -> GitMvmError:
    """Why this clone could not register (`exc`), and how the cache's owner lets it."""
    directory = os.path.join(cache_root, DIRNAME)
    blocked = directory if os.path.isdir(directory) else cache_root
    return GitMvmError(
        f"cannot register this clone in {directory} ({exc.strerror or exc}), so gc in the "
        "other clones that share the cache would not know what this one names",
        f"everyone who uses the cache must be able to write there: its owner runs `chgrp "
        f"-R GROUP {cache_root} && chmod -R g+rwX {cache_root} && chmod g+ws {blocked}` "
        "(GROUP: one you are in); or set cache.dir to a cache of your own")


def registered(cache_root: str) -> list[Registration]:
    """Every clone registered in this cache that can be read, in a stable order."""
    return read_all(cache_root)[0]


def read_all(cache_root: str) -> tuple[list[Registration], list[Unreadable]]:
    """Every clone registered in this cache, in a stable order, and what could not be read
    (a clone it hides may name any object)."""
    directory = os.path.join(cache_root, DIRNAME)
    fix = (f"let everyone who uses the cache read it: its owner runs `chmod -R g+rX "
           f"{directory}` (and `chmod g+ws {directory}`, so later ones are the group's)")
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        return [], [Unreadable(f"cannot list the clones that share this cache, {directory} "
                               f"({exc.strerror or exc})", fix)]
    out = []
    problems = []
    for name in names:
        path = os.path.join(directory, name)
        if name.startswith(".") or not os.path.isfile(path):
            continue  # a temp file of a registration being written
        try:
            with open(path, "rb") as f:
                git_dir = os.fsdecode(f.read().strip())
        except FileNotFoundError:
            continue  # forgotten meanwhile
        except OSError as exc:
            problems.append(Unreadable(f"cannot read {path}, the registration of a clone that "
                                       f"shares this cache ({exc.strerror or exc})", fix))
            continue
        if git_dir:
            out.append(Registration(git_dir, path))
    return sorted(out), problems


def forget(cache_root: str, git_dir: str) -> bool:
    """Drop the registration of the clone at `git_dir` (its git dir, or its work tree)."""
    names = {p for d in (git_dir, os.path.realpath(git_dir)) for p in (d, os.path.join(d, ".git"))}
    found = False
    for reg in registered(cache_root):
        if reg.git_dir in names:
            remove_file(reg.file)
            found = True
    return found
