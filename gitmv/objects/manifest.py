"""Directory manifests: the canonical list of a directory artifact's files.

    mvm-manifest 1
    <mode> <sha256 hex> <size>\\t<relative/posix/path>

Entries are sorted by path bytes; the manifest's own sha256 is the directory's oid.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
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


MAX_LINKS = 40  # symlinks followed to resolve one path, as Linux (MAXSYMLINKS) and macOS


def check_link_target(path: str, target: str, where: str) -> None:
    """A symlink's target must stay inside the artifact's directory (the link alone)."""
    check_links({path: target}, where)


def check_links(
    links: Mapping[str, str], where: str, on_disk: Callable[[str], str | None] | None = None
) -> None:
    """Refuse a symlink of a directory artifact that, resolved as the OS will resolve it once
    the directory holds `links` ({relative path: target}), leaves the directory, lands on it
    or in a `.git`, or does not end (a loop, or more than MAX_LINKS links deep).

    Every component is resolved in turn: one that is itself a symlink, of `links` or, through
    `on_disk`, one already in the directory that the checkout leaves alone, is replaced by its
    target, so `..` after it climbs from where that link points, not from where it is. A
    component that is none of those is taken as a directory (as a name, `..` undoes it).
    """
    for path in sorted(links):
        _resolve(path, links, on_disk, where)


def _resolve(
    path: str, links: Mapping[str, str], on_disk: Callable[[str], str | None] | None,
    where: str,
) -> None:
    target = links[path]

    def refuse(why: str) -> FormatError:
        return FormatError(where, f"symlink {path!r} -> {target!r} {why}",
                           "replace it by a link inside the directory, or by the file itself")

    if not target or "\0" in target:
        raise refuse("points outside its directory")
    if target.startswith("/"):
        raise refuse("points outside its directory (an absolute path)")
    current: list[str] = path.split("/")[:-1]  # the link's own directory
    pending = target.split("/")[::-1]  # still to walk, next last
    hops = 1
    via = ""
    while pending:
        part = pending.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not current:
                raise refuse("points outside its directory" + via)
            current.pop()
            continue
        name = "/".join([*current, part])
        hop = links.get(name)
        if hop is None and on_disk is not None:
            hop = on_disk(name)
        if hop is None:
            current.append(part)
            continue
        hops += 1
        if hops > MAX_LINKS:
            raise refuse(f"never ends: a loop of symlinks, or more than {MAX_LINKS} deep")
        if not hop or hop.startswith("/"):
            raise refuse(f"points outside its directory (through {name!r} -> {hop!r})")
        via = f" (through {name!r} -> {hop!r})"
        pending.extend(hop.split("/")[::-1])
    if not current:
        raise refuse("points outside its directory (at the directory itself)")
    if ".git" in (s.lower() for s in current):
        raise refuse("points into .git")


def dump(entries: list[Entry]) -> bytes:
    entries = sorted(entries, key=lambda e: e.path.encode())
    out = [MAGIC]
    for e in entries:
        out.append(f"{e.mode} {e.oid} {e.size}\t{e.path}\n".encode())
    return b"".join(out)


def parse(data: bytes, where: str) -> list[Entry]:
    return list(iter_entries(data, where))


def iter_entries(data: bytes, where: str) -> Iterator[Entry]:
    """`parse`, one entry at a time (a million-file manifest is never a list): each line is
    checked as it is reached, so a reader acts only on what it has been given; one that must
    refuse a bad manifest before acting reads it through once first (or uses `parse`)."""
    if not data.startswith(MAGIC):
        raise FormatError(where, "not a gitmv directory manifest (bad header)")
    yield from _entries(_lines_of(data, len(MAGIC)), where)


def iter_entries_of(blocks: Iterable[bytes], where: str) -> Iterator[Entry]:
    """`iter_entries` of a manifest read in blocks (a file's chunks): never more than a block
    and one line of it in memory, where a million-file manifest is about 90 MB."""
    yield from _entries(_lines_in(blocks, where), where)


def changed_entries_of(new: Iterable[bytes], old: Iterable[bytes], where: str
                       ) -> Iterator[Entry]:
    """The entries of manifest `new` whose line manifest `old` lacks (no line there with the
    same path, mode, oid and size), read in blocks: both are walked once, side by side, a
    block's lines at a time, and compared as sets of lines (a million-file manifest with one
    change is compared, not parsed). Only the lines handed on are parsed and checked (as
    `iter_entries` does). A line is left out only when `old` holds that very line, whatever
    the order of either: an order that is not the manifests' own costs more lines handed on
    (the old lines kept to compare with are those near in path order), never one missed."""
    olds = _line_blocks(old, where)
    near: deque[tuple[bytes, set[bytes]]] = deque()  # (last path, lines) of old blocks
    old_done = False
    lineno = 1
    for lines in _line_blocks(new, where):
        first, last = _path_of(lines[0]) or b"", _path_of(lines[-1]) or b""
        while not old_done and (not near or near[-1][0] < last):
            chunk = next(olds, None)
            if chunk is None:
                old_done = True
            else:
                near.append((_path_of(chunk[-1]) or b"", set(chunk)))
        while len(near) > 1 and near[0][0] < first:
            near.popleft()
        fresh = set(lines).difference(*(chunk for _, chunk in near))
        if fresh:
            for i, line in enumerate(lines, lineno + 1):
                if line and line in fresh:
                    yield _entry_of(line, i, where)
        lineno += len(lines)


def _path_of(line: bytes) -> bytes | None:
    tab = line.find(b"\t")
    return None if tab < 0 else line[tab + 1:]


def _line_blocks(blocks: Iterable[bytes], where: str) -> Iterator[list[bytes]]:
    """The lines after the header of a manifest read in blocks, a block's worth at a time
    (a list never empty)."""
    rest = b""
    for block in _body(blocks, where):
        rest += block
        cut = rest.rfind(b"\n")
        if cut >= 0:
            yield rest[:cut].split(b"\n")
            rest = rest[cut + 1:]
    if rest:
        yield [rest]


def _body(blocks: Iterable[bytes], where: str) -> Iterator[bytes]:
    """The blocks of a manifest after its header (FormatError when it has none)."""
    head = b""
    blocks = iter(blocks)
    for block in blocks:
        head += block
        if len(head) >= len(MAGIC):
            break
    if not head.startswith(MAGIC):
        raise FormatError(where, "not a gitmv directory manifest (bad header)")
    yield head[len(MAGIC):]
    yield from blocks


def _lines_in(blocks: Iterable[bytes], where: str) -> Iterator[bytes]:
    """The lines after the header of a manifest read in blocks, one at a time."""
    rest = b""
    for block in _body(blocks, where):
        rest += block
        cut = rest.rfind(b"\n")
        if cut >= 0:
            yield from _lines_of(rest, 0, cut)
            rest = rest[cut + 1:]
    if rest:
        yield rest


def _lines_of(data: bytes, start: int, end: int | None = None) -> Iterator[bytes]:
    """The lines of data[start:end], one at a time (never a list of them)."""
    end = len(data) if end is None else end
    while start < end:
        stop = data.find(b"\n", start)
        if stop < 0:
            stop = end
        yield data[start:stop]
        start = stop + 1


def _entries(lines: Iterator[bytes], where: str) -> Iterator[Entry]:
    previous = b""
    # the files still able to be the parent of a later path (`a` before `a/b`): each one a
    # prefix of the one after it, so a stack as deep as a path, not a set of every file
    parents: list[str] = []
    lineno = 1
    for line in lines:
        lineno += 1
        if not line:
            continue
        e = _entry_of(line, lineno, where)
        raw_path = line[line.index(b"\t") + 1:]
        if raw_path <= previous:
            raise FormatError(where, f"line {lineno}: entries are not sorted or not unique")
        previous = raw_path
        path = e.path
        while parents and not path.startswith(parents[-1]):
            parents.pop()
        for parent in parents:
            if path[len(parent)] == "/":
                raise FormatError(where, f"{parent!r} is both a file and a directory")
        parents.append(path)
        yield e


def _entry_of(line: bytes, lineno: int, where: str) -> Entry:
    """One line of a manifest, parsed and checked on its own."""
    m = _LINE.fullmatch(line)
    if m is None:
        raise FormatError(where, f"line {lineno}: malformed manifest entry")
    try:
        path = m.group(4).decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError(where, f"line {lineno}: path is not UTF-8") from None
    check_rel_path(path, f"{where}: line {lineno}")
    return Entry(path, m.group(1).decode(), m.group(2).decode(), int(m.group(3)))
