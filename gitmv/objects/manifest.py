"""Directory manifests: the canonical list of a directory artifact's files.

    mvm-manifest 1
    <mode> <sha256 hex> <size>\\t<relative/posix/path>

Entries are sorted by path bytes; the manifest's own sha256 is the directory's oid.
"""

from __future__ import annotations

import posixpath
import re
from typing import NamedTuple

from gitmv.errors import FormatError

MAGIC = b"mvm-manifest 1\n"
MODES = ("644", "755", "link")
_LINE = re.compile(rb"(644|755|link) ([0-9a-f]{64}) (0|[1-9][0-9]*)\t([^\n]+)")


class Entry(NamedTuple):
    path: str  # relative, posix
    mode: str  # "644", "755" or "link"
    oid: str  # hex
    size: int


def check_rel_path(path: str, where: str) -> None:
    """Refuse a path that would write outside its directory or into .git."""
    if not path:
        raise FormatError(where, "empty path")
    if path.startswith("/") or "\\" in path or "\0" in path:
        raise FormatError(where, f"path {path!r} is absolute or not a posix relative path")
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            raise FormatError(where, f"path {path!r} has an empty, '.' or '..' segment")
        if segment.lower() == ".git":
            raise FormatError(where, f"path {path!r} would write into a .git directory")


def check_link_target(path: str, target: str, where: str) -> None:
    """A symlink's target must stay inside the artifact's directory."""
    if not target or target.startswith("/") or "\0" in target:
        raise FormatError(where, f"symlink {path!r} -> {target!r} points outside its directory")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    if resolved == ".." or resolved.startswith("../") or resolved == ".":
        raise FormatError(where, f"symlink {path!r} -> {target!r} points outside its directory")
    if ".git" in (s.lower() for s in resolved.split("/")):
        raise FormatError(where, f"symlink {path!r} -> {target!r} points into .git")


def dump(entries: list[Entry]) -> bytes:
    entries = sorted(entries, key=lambda e: e.path.encode())
    out = [MAGIC]
    for e in entries:
        out.append(f"{e.mode} {e.oid} {e.size}\t{e.path}\n".encode())
    return b"".join(out)


def parse(data: bytes, where: str) -> list[Entry]:
    if not data.startswith(MAGIC):
        raise FormatError(where, "not a gitmv directory manifest (bad header)")
    entries: list[Entry] = []
    previous = b""
    for lineno, line in enumerate(data[len(MAGIC) :].split(b"\n"), start=2):
        if not line:
            continue
        m = _LINE.fullmatch(line)
        if m is None:
            raise FormatError(where, f"line {lineno}: malformed manifest entry")
        raw_path = m.group(4)
        if raw_path <= previous:
            raise FormatError(where, f"line {lineno}: entries are not sorted or not unique")
        previous = raw_path
        try:
            path = raw_path.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(where, f"line {lineno}: path is not UTF-8") from None
        check_rel_path(path, f"{where}: line {lineno}")
        entries.append(Entry(path, m.group(1).decode(), m.group(2).decode(), int(m.group(3))))
    _check_no_prefix_conflicts(entries, where)
    return entries


def _check_no_prefix_conflicts(entries: list[Entry], where: str) -> None:
    """A path cannot be both a file and a directory (`a` and `a/b`)."""
    files = {e.path for e in entries}
    for e in entries:
        parent = e.path
        while "/" in parent:
            parent = parent.rsplit("/", 1)[0]
            if parent in files:
                raise FormatError(where, f"{parent!r} is both a file and a directory")
