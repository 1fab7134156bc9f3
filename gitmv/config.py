"""Settings from `.mvm/config.toml` (tracked, shared) and `<git dir>/mvm/config.toml` (local)."""

from __future__ import annotations

import os
import re
import tomllib
from typing import Any, NamedTuple

from gitmv.errors import FormatError

SHARED_CONFIG = os.path.join(".mvm", "config.toml")
LINK_MODES = ("reflink", "copy", "hardlink", "symlink")

DEFAULT_CONFIG = """\
# gitmv configuration, shared by everyone who clones this repository.
# Personal overrides go in .git/mvm/config.toml (never committed).

[core]
# remote = "origin"          # default remote; without it, derived from the git remote

[cache]
# dir = ".git/mvm/objects"   # the local object cache; a shared directory works for several clones
# link = ["reflink", "copy"] # how artifacts are placed in the work tree, tried in order;
#                            # "hardlink" and "symlink" are opt-in (cache objects are read-only;
#                            # as root they give way to a copy: docs/formats.md, "Link modes")

[hooks]
# install = true             # `git mvm add` installs the git hooks in a clone without them
# max_file_size = "5MB"      # pre-commit refuses larger files that gitmv does not track
# auto_pull = true           # post-checkout / post-merge fetch missing objects

# metrics and params: tracked TOML, JSON or YAML files, paths or globs ("eval/*.toml"), read by
# `git mvm metrics show|diff|plot`, `params show|diff`, `check` and `report`
[metrics]
# files = ["metrics.toml"]
# better = { accuracy = "higher", loss = "lower" }  # a full dotted key or a last name

[params]
# files = ["params.toml"]

# [gates]                    # `git mvm check` rules against a baseline (docs/formats.md)
# accuracy = ">= 0.90"       # also >, <=, <, ==; a list holds several rules
# loss = "no-regression 1%"  # relative to the baseline, or absolute: "no-regression 0.002"
# f1 = "improves 0.5%"       # at least this much better than the baseline

# [models.classifier]
# path = "models/classifier.pt"
"""

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*", re.IGNORECASE)


def parse_size(value: object, where: str) -> int:
    """`5MB`, `5 MiB`, `1.5G` or an integer number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    m = _SIZE.fullmatch(str(value))
    if not m:
        raise FormatError(where, f"not a size: {value!r}", 'write it like "5MB" or "512KiB"')
    power = " KMGT".index(m.group(2).upper() or " ")
    base = 1024 if m.group(3) else 1000
    return int(float(m.group(1)) * base**power)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _load(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise FormatError(path, f"invalid TOML: {exc}", "fix the file and run again") from None


class Config(NamedTuple):
    """Merged settings. A NamedTuple rather than a dataclass: `import dataclasses` pulls in
    `inspect` and costs hooks several milliseconds."""

    data: dict[str, Any]  # the two files merged, the local one winning
    root: str = ""
    mvm_dir: str = ""
    local: dict[str, Any] | None = None  # what the never-committed local file says alone

    @classmethod
    def load(cls, root: str, mvm_dir: str, shared_text: bytes | None = None) -> Config:
        """The tracked config (the work tree's, or `shared_text`: a bare repository's, read
        from HEAD) merged with the local one."""
        if shared_text is None:
            shared = _load(os.path.join(root, SHARED_CONFIG))
        else:
            try:
                shared = tomllib.loads(shared_text.decode("utf-8"))
            except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise FormatError(f"HEAD:{SHARED_CONFIG}", f"invalid TOML: {exc}",
                                  "fix the file in a clone, commit and push") from None
        local = _load(os.path.join(mvm_dir, "config.toml"))
        return cls(_merge(shared, local), root, mvm_dir, local)

    def is_local(self, dotted: str) -> bool:
        """Whether the setting's value comes from the local file, which only this user writes
        (a tracked file is written by anyone who can commit)."""
        node: Any = self.data if self.local is None else self.local
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    def get(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    @property
    def cache_dir(self) -> str:
        configured = self.get("cache.dir")
        if not configured:
            return os.path.join(self.mvm_dir, "objects")
        path = os.path.expanduser(str(configured))
        return path if os.path.isabs(path) else os.path.normpath(os.path.join(self.root, path))

    @property
    def link_modes(self) -> tuple[str, ...]:
        value = self.get("cache.link", ["reflink", "copy"])
        modes = (value,) if isinstance(value, str) else tuple(value)
        bad = [m for m in modes if m not in LINK_MODES]
        if bad or not modes:
            raise FormatError(
                "cache.link",
                f"unknown link mode {bad[0] if bad else '(empty)'}",
                f"use some of {', '.join(LINK_MODES)}",
            )
        return tuple(str(m) for m in modes)

    @property
    def link_as_root(self) -> bool:
        """`cache.link_as_root = true` in this clone's own config: hardlink and symlink modes
        as root too. One in the committed config counts for nothing: whoever commits it would
        choose for every root (CI, containers) that a write in place may corrupt the cache."""
        return self.is_local("cache.link_as_root") and self.get("cache.link_as_root") is True

    @property
    def fsync(self) -> bool:
        return bool(self.get("core.fsync", True))
