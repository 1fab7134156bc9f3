"""What every importer does the same way once it knows each artifact's pointer: write the
pointers, drop the files they replace from the index, ignore the artifacts, stage it all."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import NamedTuple

from gitmv.errors import GitMvmError, PathRefused, printable
from gitmv.fsutil import FSYNC_EACH_MAX, atomic_write, flush_to_disk, remove_file, tmp_name
from gitmv.objects.pointer import Pointer, pointer_path
from gitmv.worktree.workspace import Workspace, add_ignore_entries, refuse_name


class Converted(NamedTuple):
    """One artifact an importer made: where, its pointer, and where its bytes came from
    ("work tree", "lfs cache", "dvc cache", or "missing": the pointer names bytes this
    clone does not have; a pull brings them from the store)."""

    rel: str
    pointer: Pointer
    source: str


def refuse_taken_pointers(ws: Workspace, rels: Iterable[str]) -> None:
    """Refuse before anything changes when a name cannot be an artifact's (gitmv would
    write a pointer that every later command refuses) or a pointer would overwrite
    someone's file."""
    rels = list(rels)
    bad = []
    for rel in rels:
        try:
            refuse_name(rel, printable(rel), "")
        except PathRefused as exc:
            bad.append(exc.message)
    if bad:
        shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise PathRefused(
            f"cannot import: {shown}",
            "rename them (`git mv`, then commit) to names that are valid UTF-8 without "
            "control characters, or leave them out by naming the others, then import again")
    for rel in rels:
        why = ws.not_a_pointer(pointer_path(rel))
        if why:
            raise PathRefused(
                f"{pointer_path(rel)} exists and is not a gitmv pointer ({why}): importing "
                f"{rel} would overwrite it",
                f"move {pointer_path(rel)} aside (it may be your data), then import again")


def ignore_file_of(rel: str) -> str:
    """The .gitignore that lists artifact `rel`."""
    parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
    return f"{parent}/.gitignore" if parent else ".gitignore"


def write_pointers(ws: Workspace, converted: list[Converted],
                   also_stage: Iterable[str] = ()) -> None:
    """Pointers written (atomically), each artifact listed in the .gitignore beside it, one
    `git add` of the pointers, the .gitignore files and `also_stage`. What they replace
    stays in the index until `finish`: an import stopped (killed) anywhere before it is
    done again by a rerun, which finds what it imports where it found it the first time."""
    write_files([(ws.repo.abs(pointer_path(c.rel)), c.pointer.dump()) for c in converted])
    by_dir: dict[str, list[str]] = {}
    for c in converted:
        by_dir.setdefault(os.path.dirname(ws.repo.abs(c.rel)), []).append(
            os.path.basename(c.rel))
    for directory, names in by_dir.items():
        add_ignore_entries(directory, names)
    ignores = {ignore_file_of(c.rel) for c in converted}
    staged = [pointer_path(c.rel) for c in converted] + sorted(ignores) + list(also_stage)
    ws.repo.stage(p for p in staged if os.path.lexists(ws.repo.abs(p)))


def write_files(items: list[tuple[str, bytes]]) -> None:
    """Write many small files (pointers), each atomically: temp files written, made durable
    together (`flush_to_disk`: one syncfs for many, not one fsync each: 20,000 pointers took
    minutes that way), then each renamed into place."""
    if len(items) <= FSYNC_EACH_MAX:
        for path, data in items:
            atomic_write(path, data)
        return
    tmps: list[str] = []
    try:
        for path, data in items:
            os.makedirs(os.path.dirname(path), exist_ok=True)  # a directory not checked out
            tmps.append(tmp_name(os.path.dirname(path)))
            with open(tmps[-1], "xb") as f:
                f.write(data)
        flush_to_disk(tmps, items[0][0])
        for tmp, (path, _) in zip(tmps, items, strict=True):
            os.replace(tmp, path)
    except BaseException:
        for tmp in tmps:
            remove_file(tmp)
        raise


def finish(ws: Workspace, replaced: Iterable[str], delete: Iterable[str] = ()) -> None:
    """An import's last step: what the pointers replace leaves the index (the work-tree
    files stay), then the files in `delete` (DVC's .dvc files) leave the work tree.
    Forced: what the index held (an LFS pointer with no commit yet, so "staged content
    different from both the file and the HEAD") is in git's objects, its bytes in the cache."""
    ws.repo.unstage_remove(replaced, force=True)
    for rel in delete:
        remove_file(ws.repo.abs(rel))


def nothing_to_import(what: str, hint: str) -> GitMvmError:
    return GitMvmError(f"nothing to import: {what}", hint)
