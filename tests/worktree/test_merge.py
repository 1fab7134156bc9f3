"""Three-way merges of directory manifests (gitmv/worktree/merge.py): pure functions."""

from __future__ import annotations

import random

from gitmv.objects import manifest
from gitmv.objects.manifest import Entry
from gitmv.objects.pointer import Pointer
from gitmv.worktree.merge import (
    dir_pointer,
    is_unresolved,
    mark_conflict,
    merge_manifests,
    merge_meta,
)


def e(path: str, tag: str, mode: str = "644") -> Entry:
    return Entry(path, mode, (tag * 64)[:64], len(tag))


BASE = [e("a", "1"), e("b", "2"), e("c", "3")]


def paths(entries: list[Entry]) -> dict[str, str]:
    return {x.path: x.oid[0] for x in entries}


def test_changes_to_different_files_merge_cleanly() -> None:
    ours = [e("a", "4"), e("b", "2"), e("c", "3"), e("new1", "5")]  # a changed, new1 added
    theirs = [e("a", "1"), e("b", "6"), e("new2", "7")]  # b changed, c deleted, new2 added
    m = merge_manifests(BASE, ours, theirs)
    assert m.conflicts == []
    assert paths(m.entries) == {"a": "4", "b": "6", "new1": "5", "new2": "7"}
    manifest.parse(manifest.dump(m.entries), "merged")  # a valid manifest


def test_identical_changes_merge() -> None:
    both = [e("a", "9"), e("b", "2"), e("d", "8")]
    m = merge_manifests(BASE, both, both)
    assert m.conflicts == [] and paths(m.entries) == {"a": "9", "b": "2", "d": "8"}


def test_same_file_changed_differently_is_a_conflict() -> None:
    m = merge_manifests(BASE, [e("a", "4"), e("b", "2"), e("c", "3")],
                        [e("a", "5"), e("b", "6"), e("c", "3")])
    assert [c.path for c in m.conflicts] == ["a"]
    assert paths(m.entries)["b"] == "6"  # the clean part merged anyway
    assert paths(merge_manifests(BASE, [e("a", "4")], [e("a", "5")], prefer="theirs")
                 .entries) == {"a": "5"}


def test_mode_change_counts_as_a_change() -> None:
    m = merge_manifests(BASE, [e("a", "1", "755"), *BASE[1:]], [e("a", "4"), *BASE[1:]])
    assert [c.path for c in m.conflicts] == ["a"]


def test_changed_on_one_side_deleted_on_the_other() -> None:
    ours = [e("a", "4"), e("b", "2"), e("c", "3")]
    theirs = [e("b", "2"), e("c", "3")]
    m = merge_manifests(BASE, ours, theirs)
    assert [(c.path, c.theirs) for c in m.conflicts] == [("a", None)]
    assert paths(merge_manifests(BASE, ours, theirs, union=True).entries)["a"] == "4"


def test_union_keeps_every_file_and_needs_a_side_for_true_conflicts() -> None:
    ours = [e("a", "4"), e("b", "2")]  # c deleted
    theirs = [e("a", "5"), e("c", "3"), e("d", "6")]  # b deleted
    m = merge_manifests(BASE, ours, theirs, union=True)
    assert [c.path for c in m.conflicts] == ["a"]
    m = merge_manifests(BASE, ours, theirs, union=True, prefer="ours")
    assert m.conflicts == [] and paths(m.entries) == {"a": "4", "b": "2", "c": "3", "d": "6"}


def test_added_on_both_sides_without_base() -> None:
    m = merge_manifests([], [e("x", "1"), e("y", "2")], [e("x", "1"), e("y", "3")])
    assert [c.path for c in m.conflicts] == ["y"] and paths(m.entries)["x"] == "1"


def test_file_on_one_side_directory_on_the_other_is_a_conflict() -> None:
    ours = [*BASE, e("n", "4")]
    theirs = [*BASE, e("n/x", "5")]
    m = merge_manifests(BASE, ours, theirs)
    assert sorted(c.path for c in m.conflicts) == ["n", "n/x"]
    manifest.parse(manifest.dump(m.entries), "merged")  # still a valid manifest (ours' shape)
    m = merge_manifests(BASE, ours, theirs, prefer="theirs")
    assert m.conflicts == [] and "n/x" in paths(m.entries) and "n" not in paths(m.entries)


def test_random_merges_follow_the_three_way_rule() -> None:
    """Invariant over random edits: every path changed on one side only takes that side; the
    result is a valid manifest; a conflict exactly where both sides changed a path
    differently."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    for _ in range(200):
        base = [e(f"f{i}", rng.choice("0123")) for i in range(rng.randrange(8))]

        def edit(side: list[Entry]) -> list[Entry]:
            out = [x for x in side if rng.random() > 0.2]
            out = [e(x.path, rng.choice("456")) if rng.random() < 0.3 else x for x in out]
            return out + [e(f"g{rng.randrange(5)}", rng.choice("78"))] * (rng.random() < 0.5)

        ours, theirs = edit(base), edit(base)
        ours = list({x.path: x for x in ours}.values())
        theirs = list({x.path: x for x in theirs}.values())
        m = merge_manifests(base, ours, theirs)
        manifest.parse(manifest.dump(m.entries), f"seed {seed}")
        b, o, t, r = ({x.path: x.oid for x in s} for s in (base, ours, theirs, m.entries))
        conflicted = {c.path for c in m.conflicts}
        for p in b.keys() | o.keys() | t.keys():
            if o.get(p) == t.get(p) or o.get(p) == b.get(p) or t.get(p) == b.get(p):
                assert p not in conflicted, f"seed {seed}: {p}"
                want = o.get(p) if o.get(p) != b.get(p) else t.get(p)
                assert r.get(p) == want, f"seed {seed}: {p}"
            else:
                assert p in conflicted, f"seed {seed}: {p}"


def test_meta_merges_key_by_key() -> None:
    assert merge_meta({"a": "1", "b": "1"}, {"a": "2", "b": "1"}, {"a": "1", "c": "3"}) == \
        {"a": "2", "c": "3"}


def test_conflict_mark_keeps_a_valid_pointer() -> None:
    entries = [e("a", "1")]
    data = manifest.dump(entries)
    ptr = dir_pointer(entries, len(data), "f" * 64, {"k": "v"})
    marked = mark_conflict(ptr.dump(), "data", "both sides changed a")
    assert Pointer.parse(marked, "data.mvm") == ptr
    assert is_unresolved(marked) and not is_unresolved(ptr.dump())
    assert is_unresolved(b"<<<<<<< HEAD\nmvm = 1\n=======\nmvm = 1\n>>>>>>> b\n")
