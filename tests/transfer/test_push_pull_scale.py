"""Push and pull of large directories: memory bounded by a window of objects, not by the
dataset (a million-file manifest is read entry by entry), and a push of a one-file change
checks the entries that differ from the version whose manifest the store already holds."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gitmv.transfer.engine import TransferResult
from tests.helpers import git, init_bare, init_hooked, mvm, read_pointer, save_dir, sha
from tests.remotes.kinds import Remote, add_remote, remote_of


@pytest.fixture(params=["local", "s3"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Remote]:
    with remote_of(request.param, tmp_path) as r:
        yield r


def _pushed(tmp_path: Path, remote: Remote, files: dict[str, bytes]) -> tuple[Path, Path]:
    """(origin, alice): alice's directory `data` of `files`, committed and pushed to the
    store."""
    bare = init_bare(tmp_path / "origin.git")
    alice = init_hooked(tmp_path / "alice", bare)
    add_remote(alice, remote)
    save_dir(alice, "data", files, "data v1")
    assert mvm(alice, "push", "-q") == 0
    return bare, alice


def test_a_one_file_change_checks_what_differs_and_full_checks_everything(
    tmp_path: Path, remote: Remote
) -> None:
    """The rule (docs/remotes.md, "What a push checks"): a directory whose earlier version's
    manifest the store holds is checked only for the entries that differ, so an object of the
    unchanged part removed behind gitmv's back goes unnoticed by `push` (as it does for a
    directory whose own manifest is there), and `push --full` finds it and sends it again."""
    files = {f"d/f{i:03d}.bin": os.urandom(200 + i) for i in range(40)}
    bare, alice = _pushed(tmp_path, remote, files)
    damaged = sha(files["d/f007.bin"])
    remote.delete(damaged)
    assert remote.read(damaged) is None
    changed = {**files, "d/f020.bin": os.urandom(300)}
    save_dir(alice, "data", changed, "data v2")
    assert mvm(alice, "push", "-q") == 0
    assert remote.read(sha(changed["d/f020.bin"])) == changed["d/f020.bin"]
    manifest = read_pointer(alice, "data")["oid"].removeprefix("sha256:")
    assert remote.read(manifest) is not None
    assert remote.read(damaged) is None  # only the entries that differ were checked
    assert mvm(alice, "push", "-q", "--full") == 0
    assert remote.read(damaged) == files["d/f007.bin"]
    # and a clone gets every file of the new version
    git(alice, "push", "-q", "-u", "origin", "HEAD")
    clone = tmp_path / "bob"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    assert mvm(clone, "pull", "-q") == 0
    assert {str(p.relative_to(clone / "data")): p.read_bytes()
            for p in (clone / "data").rglob("*.bin")} == changed


def test_a_base_that_left_the_store_is_not_relied_on(tmp_path: Path, remote: Remote) -> None:
    """The earlier version's manifest gone from the store (gc, or behind gitmv's back): the
    push checks every file of the new version, and sends what the store lacks."""
    files = {f"f{i:02d}.bin": os.urandom(100 + i) for i in range(20)}
    _, alice = _pushed(tmp_path, remote, files)
    old = read_pointer(alice, "data")["oid"].removeprefix("sha256:")
    damaged = sha(files["f03.bin"])
    remote.delete(damaged)
    remote.delete(old)
    save_dir(alice, "data", {**files, "f10.bin": b"new"}, "v2")
    assert mvm(alice, "push", "-q") == 0
    assert remote.read(damaged) == files["f03.bin"]


def _traced(run: Callable[[], TransferResult]) -> tuple[TransferResult, int]:
    """What `run` returns, and the peak of the memory it traced while it ran."""
    import tracemalloc

    tracemalloc.start()
    try:
        return run(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _peaks(repo: Path, n: int, clone_at: Path) -> tuple[int, int]:
    """(push peak, fetch peak) in bytes traced, of a directory of `n` files, in process."""
    from gitmv.remotes import base as remotes
    from gitmv.transfer.sync import fetch_pointers, push_pointers
    from gitmv.worktree.workspace import Workspace

    rel = f"data{n}"
    save_dir(repo, rel, {f"d{i // 500}/f{i:05d}.bin": os.urandom(8) + i.to_bytes(4, "big")
                         for i in range(n)}, rel)
    ws = Workspace.open(str(repo))
    ptr = ws.select([str(repo / rel)])[0].artifact.pointer
    assert ptr is not None
    store = remotes.resolve(ws.repo, ws.config, push=True)
    r, push = _traced(lambda: push_pointers(ws, store, [ptr], 2))
    assert len(r.transferred) == n + 1
    ws.state.close()
    git(repo, "push", "-q")
    git(clone_at, "pull", "-q")
    ws = Workspace.open(str(clone_at))
    store = remotes.resolve(ws.repo, ws.config)
    r, fetch = _traced(lambda: fetch_pointers(ws, store, [ptr], 2))
    assert len(r.transferred) == n + 1
    ws.state.close()
    return push, fetch


def test_memory_of_push_and_pull_of_a_directory_stays_flat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A push and a fetch of a directory hold no list of its files: objects are planned,
    moved and verified a window at a time (here 256), and what is held for all of them is
    compact (the manifest's bytes, raw oids, the cache's new pack index). The peak at 4,000
    files is within 400 bytes per extra file of the peak at 1,000, where a parsed manifest
    with its dicts and sets costs about a kilobyte a file."""
    from gitmv.objects import chunking
    from gitmv.transfer import reach

    # at these sizes as at a million files: windows, manifest blocks and the whole-object
    # limit small beside the dataset (a million-file manifest of 90 MB is read in blocks
    # and sent in chunks)
    monkeypatch.setattr(reach, "WINDOW", 256, raising=False)
    monkeypatch.setattr(reach, "BLOCK", 4096, raising=False)
    monkeypatch.setattr(chunking, "CHUNKED_MIN", 256 << 10)  # (what the cache packs)
    with remote_of("local", tmp_path) as remote:
        bare = init_bare(tmp_path / "origin.git")
        alice = init_hooked(tmp_path / "alice", bare)
        add_remote(alice, remote)
        git(alice, "push", "-q", "-u", "origin", "HEAD")
        bob = tmp_path / "bob"
        git(tmp_path, "clone", "-q", str(bare), str(bob))
        # warm-up: what is imported lazily (unless a test before did), the chunker too: the
        # manifest of 4,000 files is past CHUNKED_MIN, those of 100 and 1,000 are not
        chunking._chunker()
        _peaks(alice, 100, bob)
        small = _peaks(alice, 1000, bob)
        large = _peaks(alice, 4000, bob)
    for what, a, b in zip(("push", "fetch"), small, large, strict=True):
        assert b - a < 400 * 3000, (what, small, large)


def test_a_manifest_read_in_blocks_and_its_changes_against_another() -> None:
    """`iter_entries_of` reads what `iter_entries` reads, whatever the block size;
    `changed_entries_of` hands on exactly the entries the other manifest lacks (path, mode,
    oid and size), refuses a changed line that does not parse, and misses none of them
    whatever the order of the lines."""
    import random

    from gitmv.errors import FormatError
    from gitmv.objects import manifest as m

    rnd = random.Random(7)
    entries = [m.Entry(f"d{i // 7}/f{i}", "644", rnd.randbytes(32).hex(), i)
               for i in range(2000)]
    new = list(entries)
    new[5] = new[5]._replace(oid=rnd.randbytes(32).hex())
    new[200] = new[200]._replace(mode="755")
    del new[100]
    new.append(m.Entry("zz/new", "644", rnd.randbytes(32).hex(), 3))
    old = entries[:1500] + entries[1501:]
    data, old_data = m.dump(new), m.dump(old)

    def blocks(b: bytes, n: int) -> list[bytes]:
        return [b[i:i + n] for i in range(0, len(b), n)]

    lacking = [e for e in m.parse(data, "new") if e not in set(old)]
    assert [e.path for e in lacking] == ["d0/f5", "d214/f1500", "d28/f200", "zz/new"]
    for n in (1, 13, 4096, 1 << 20):
        assert list(m.iter_entries_of(blocks(data, n), "x")) == m.parse(data, "x")
        assert list(m.changed_entries_of(blocks(data, n), blocks(old_data, n), "x")) == lacking
    bad = data.replace(f"644 {new[5].oid}".encode(), f"64 {new[5].oid}".encode())
    with pytest.raises(FormatError, match="malformed"):
        list(m.changed_entries_of([bad], [old_data], "x"))
    # whatever the order (a manifest gitmv did not write), no entry the other lacks is missed
    lines = data.split(b"\n")
    body = lines[1:-1]
    rnd.shuffle(body)
    shuffled = b"\n".join([lines[0], *body, b""])
    for n in (333, 1 << 20):
        got = list(m.changed_entries_of(blocks(shuffled, n), blocks(old_data, n), "x"))
        assert set(lacking) <= set(got) <= set(new)
