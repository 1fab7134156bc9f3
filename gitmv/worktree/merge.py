"""Three-way merges of pointers and directory manifests (pure functions: no I/O).

A directory merges file by file against the merge base: a file changed on one side only takes
that side; changed the same way on both, either; changed differently on both (or changed on
one and deleted on the other, or a file on one side where the other put a directory) is a
conflict. `union` keeps every file either side has (deletions are not applied); `prefer`
settles the conflicts for one side. DVC's driver only unions directories: a file deleted on
one branch came back; here it stays deleted unless a union is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from gitmv.objects.manifest import Entry
from gitmv.objects.pointer import Pointer

# The first line the merge driver adds to a pointer it leaves in conflict (a TOML comment, so
# the pointer still parses); pre-commit refuses a staged pointer that holds it.
CONFLICT_MARK = "# mvm-conflict:"
SIDES = ("ours", "theirs")


class FileConflict(NamedTuple):
    path: str  # inside the directory
    base: Entry | None
    ours: Entry | None  # None: deleted (or never there) on that side
    theirs: Entry | None


class ManifestMerge(NamedTuple):
    entries: list[Entry]  # the merged files (a conflicted path keeps ours, if ours has it)
    conflicts: list[FileConflict]


def _same(a: Entry | None, b: Entry | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.mode, a.oid) == (b.mode, b.oid)


def merge_manifests(
    base: Sequence[Entry], ours: Sequence[Entry], theirs: Sequence[Entry],
    union: bool = False, prefer: str | None = None,
) -> ManifestMerge:
    """Merge two directory versions against their base (empty when both sides added it)."""
    assert prefer in (None, *SIDES)
    b = {e.path: e for e in base}
    o = {e.path: e for e in ours}
    t = {e.path: e for e in theirs}
    out: dict[str, Entry] = {}
    conflicts: list[FileConflict] = []
    for path in sorted(b.keys() | o.keys() | t.keys()):
        eb, eo, et = b.get(path), o.get(path), t.get(path)
        if _same(eo, et):
            pick = eo
        elif _same(eo, eb):
            pick = et if et is not None or not union else eo
        elif _same(et, eb):
            pick = eo if eo is not None or not union else et
        elif union and (eo is None or et is None):
            pick = eo or et  # changed on one side, deleted on the other: kept
        elif prefer is not None:
            pick = eo if prefer == "ours" else et
        else:
            conflicts.append(FileConflict(path, eb, eo, et))
            pick = eo
        if pick is not None:
            out[path] = pick
    conflicts += _file_dir_clashes(out, b, o, t, prefer)
    return ManifestMerge([out[p] for p in sorted(out, key=str.encode)], conflicts)


def _file_dir_clashes(
    out: dict[str, Entry], b: Mapping[str, Entry], o: Mapping[str, Entry],
    t: Mapping[str, Entry], prefer: str | None,
) -> list[FileConflict]:
    """A path that is a file in the result while other result paths lie under it (one side
    made `a` a file, the other put `a/x` in): a manifest cannot hold both. The preferred side's
    shape wins (ours without `prefer`, and then every path involved is a conflict)."""
    parents = {p.rsplit("/", n)[0] for p in out for n in range(1, p.count("/") + 1)}
    clashes: list[FileConflict] = []
    for path in sorted(parents & out.keys()):
        under = [p for p in out if p.startswith(path + "/")]
        if prefer is None:
            clashes += [FileConflict(p, b.get(p), o.get(p), t.get(p)) for p in [path, *under]]
        file_wins = path in (t if prefer == "theirs" else o)
        for p in under if file_wins else [path]:
            out.pop(p, None)
    return clashes


def merge_meta(
    base: Mapping[str, str], ours: Mapping[str, str], theirs: Mapping[str, str]
) -> dict[str, str]:
    """A pointer's [meta] table, key by key against the base; ours wins where both changed."""
    out: dict[str, str] = {}
    for key in sorted(base.keys() | ours.keys() | theirs.keys()):
        vb, vo, vt = base.get(key), ours.get(key), theirs.get(key)
        value = vt if vo == vb else vo
        if value is not None:
            out[key] = value
    return out


def dir_pointer(
    entries: Sequence[Entry], manifest_size: int, oid: str, meta: Mapping[str, str]
) -> Pointer:
    """The pointer of a merged directory whose manifest (`oid`, `manifest_size` bytes) lists
    `entries`."""
    return Pointer("dir", oid, sum(e.size for e in entries), len(entries), dict(meta),
                   manifest_size)


def mark_conflict(data: bytes, rel: str, what: str) -> bytes:
    """A pointer left in conflict: still a valid pointer (ours), with comment lines that say
    why and what to run (pre-commit refuses it if someone stages it as it is)."""
    text = data.decode("utf-8") if data.endswith(b"\n") or not data else \
        data.decode("utf-8") + "\n"
    return (text + f"{CONFLICT_MARK} {what}\n"
            f"# resolve it: git mvm resolve {rel} --ours|--theirs|--union\n").encode("utf-8")


def is_unresolved(data: bytes) -> bool:
    """Whether a pointer file still holds a conflict: git's markers or the driver's mark."""
    return CONFLICT_MARK.encode() in data or data.startswith(b"<<<<<<<") or \
        b"\n<<<<<<<" in data


def describe(conflicts: Sequence[FileConflict]) -> str:
    """`a.bin (changed on both sides), b.bin (changed here, deleted there)`, at most 10."""
    parts = []
    for c in conflicts[:10]:
        if c.ours is None:
            why = "deleted in ours, changed in theirs"
        elif c.theirs is None:
            why = "changed in ours, deleted in theirs"
        elif c.base is None:
            why = "added differently on both sides"
        else:
            why = "changed on both sides"
        parts.append(f"{c.path} ({why})")
    more = f", … and {len(conflicts) - 10} more" if len(conflicts) > 10 else ""
    return ", ".join(parts) + more
