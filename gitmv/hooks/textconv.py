"""`git mvm hook textconv FILE`: the readable view of a pointer file that `git diff` shows.

`git mvm install` registers it as the textconv command of the `mvm` diff driver
(`diff.mvm.textconv`, and `*.mvm diff=mvm` in `.gitattributes`), so `git diff`, `git log -p`
and `git show` print kind, size, file count, oid and meta instead of the raw TOML; for a
directory whose manifest is in the cache, its files too (or a summary by top-level entry).

Git runs this for each side of every changed pointer, so it stays cheap: standard library
only, no git call for a file pointer, one `git rev-parse` and a manifest read for a directory.
It never fails a diff: anything that goes wrong becomes a note in the text, and exit 0.
"""

from __future__ import annotations

import os
import sys

from gitmv.errors import GitMvmError
from gitmv.objects.pointer import MAX_POINTER_SIZE, Pointer
from gitmv.ui import human_size

LIST_FILES_MAX = 100  # a directory with more files is summarized by top-level entry
GROUPS_MAX = 100  # top-level entries shown in a summary
MANIFEST_MAX = 16 * 1024 * 1024  # larger manifests are not read (about 250,000 files)
RAW_MAX = MAX_POINTER_SIZE  # bytes of an invalid pointer shown as they are


def run(args: list[str]) -> int:
    try:
        if args:
            with open(args[0], "rb") as f:
                data = f.read(RAW_MAX + 1)
                rest = os.fstat(f.fileno()).st_size - len(data)
        else:
            data = sys.stdin.buffer.read()
            rest = 0
    except OSError as exc:
        sys.stdout.write(f"(gitmv: cannot read this pointer: {exc.strerror or exc})\n")
        return 0
    sys.stdout.buffer.write(render(data, max(rest, 0)))
    sys.stdout.flush()
    return 0


def render(data: bytes, rest: int = 0) -> bytes:
    """The human view of pointer bytes; raw bytes after a note when they are not a pointer."""
    try:
        if rest:
            raise GitMvmError(f"{len(data) + rest:,} bytes is too large for a pointer")
        ptr = Pointer.parse(data, "pointer")
    except GitMvmError as exc:
        why = str(getattr(exc, "why", exc.message))
        for prefix in ("not a valid pointer: ", "not a gitmv pointer: "):
            why = why.removeprefix(prefix)
        out = f"(gitmv: not a valid pointer: {why}; its raw text follows)\n".encode()
        raw = data[:RAW_MAX]
        more = rest + len(data) - len(raw)
        out += raw if raw.endswith(b"\n") or not raw else raw + b"\n"
        if more:
            out += f"(gitmv: {more:,} more bytes not shown)\n".encode()
        return out
    return "".join(describe(ptr)).encode("utf-8", "surrogateescape")


def _size(n: int) -> str:
    return f"{human_size(n)} ({n:,} bytes)" if n >= 1000 else f"{n:,} bytes"


def describe(ptr: Pointer) -> list[str]:
    lines = [f"kind: {ptr.kind}\n", f"size: {_size(ptr.size)}\n"]
    if ptr.kind == "dir":
        lines.append(f"files: {ptr.files or 0:,}\n")
    lines.append(f"oid: {ptr.oid_str}\n")
    lines += [f"meta.{key}: {ptr.meta[key]}\n" for key in sorted(ptr.meta)]
    if ptr.kind == "dir":
        lines += _contents(ptr)
    return lines


def _contents(ptr: Pointer) -> list[str]:
    """The directory's files from its manifest, when the manifest is in the cache."""
    try:
        path = _object_path(ptr.oid)
        try:
            size = os.path.getsize(path)
            data = None
        except FileNotFoundError:  # not loose: packed, or not in the cache
            data = _packed(path, ptr.oid)
            size = len(data)
        if size > MANIFEST_MAX:
            return [f"contents: not listed (its manifest is {_size(size)})\n"]
        if data is None:
            with open(path, "rb") as f:
                data = f.read()
        import hashlib

        if hashlib.sha256(data).hexdigest() != ptr.oid:
            return ["contents: not listed (the manifest in the cache is corrupt; run "
                    "`git mvm fsck`)\n"]
        entries = _entries(data)
    except FileNotFoundError:
        return ["contents: not listed (manifest not in the cache; `git mvm pull` brings "
                "it)\n"]
    except (GitMvmError, OSError, ValueError) as exc:
        why = (exc.message if isinstance(exc, GitMvmError)
               else exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc))
        return [f"contents: not listed ({why})\n"]
    if len(entries) <= LIST_FILES_MAX:
        lines = ["contents:\n"]  # the count is on the `files:` line
        for path, mode, oid, size in entries:
            mark = {"755": "  executable", "link": "  symlink"}.get(mode, "")
            lines.append(f"  {path}  {human_size(size)}  sha256:{oid[:12]}{mark}\n")
        return lines
    groups: dict[str, list[int]] = {}  # top-level entry -> [files, bytes]
    for path, _mode, _oid, size in entries:
        head, sep, _ = path.partition("/")
        group = groups.setdefault(head + sep, [0, 0])
        group[0] += 1
        group[1] += size
    lines = ["contents by top-level entry:\n"]
    for name in sorted(groups)[:GROUPS_MAX]:
        count, total = groups[name]
        what = f"{count:,} files" if name.endswith("/") else "file"
        lines.append(f"  {name}  {what}  {human_size(total)}\n")
    if len(groups) > GROUPS_MAX:
        lines.append(f"  … and {len(groups) - GROUPS_MAX:,} more entries\n")
    return lines


def _entries(data: bytes) -> list[tuple[str, str, str, int]]:
    """(path, mode, oid, size) of each manifest line. Only displayed, never used to write, so
    this skips the path checks of `manifest.parse` (a third of a 20,000-file diff's time); the
    bytes were checked against their sha256 already."""
    from gitmv.objects.manifest import MAGIC

    if not data.startswith(MAGIC):
        raise ValueError("not a gitmv directory manifest (bad header)")
    out = []
    for lineno, line in enumerate(data[len(MAGIC):].decode("utf-8", "replace").split("\n"), 2):
        if not line:
            continue
        meta, tab, path = line.partition("\t")
        fields = meta.split(" ")
        if not tab or len(fields) != 3 or not fields[2].isdigit():
            raise ValueError(f"manifest line {lineno} is malformed")
        out.append((path, fields[0], fields[1], int(fields[2])))
    return out


def _packed(loose: str, oid: str) -> bytes:
    """A packed object's bytes (not verified), from the cache whose loose path is `loose`;
    FileNotFoundError when no pack holds it."""
    from gitmv.objects.packed import Packs

    root = os.path.dirname(os.path.dirname(os.path.dirname(loose)))
    data = Packs(os.path.join(root, "packs")).read(oid)
    if data is None:
        raise FileNotFoundError(loose)
    return data


def _object_path(oid: str) -> str:
    from gitmv.config import Config
    from gitmv.repo import Repo

    repo = Repo.discover()
    cache = Config.load(repo.root, repo.mvm_dir).cache_dir
    return os.path.join(cache, oid[:2], oid[2:4], oid)
