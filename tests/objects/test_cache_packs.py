"""The cache's packs: a command's small objects go into one pack, every read takes packed and
loose objects alike, and what is damaged or removed under a reader is refused clearly or found
again, never half-read."""

from __future__ import annotations

import os
import random
import shutil
import stat
import tracemalloc
from pathlib import Path

import pytest

from gitmv.errors import FormatError, ObjectCorrupt, ObjectMissing
from gitmv.objects import manifest, pack, packed
from gitmv.objects.cache import HELD_MAX, PACKED_MAX, Cache
from gitmv.objects.packed import check_pack
from tests.helpers import (
    assert_cache_sound,
    cache_objects,
    error_lines,
    git,
    mvm,
    mvm_popen,
    run,
    sha,
    wait_for,
    write,
)


def _cache(root: Path) -> Cache:
    return Cache(str(root / "objects"), str(root / "tmp"))


def _blobs(n: int, seed: int = 1, size: int = 300) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(rng.randrange(1, size)) + i.to_bytes(4, "big") for i in range(n)]


def _put_packed(cache: Cache, n: int) -> list[bytes]:
    """`n` small blobs put and flushed (more than HELD_MAX: one pack); the blobs."""
    blobs = _blobs(n)
    for b in blobs:
        cache.put_bytes(b)
    cache.flush()
    return blobs


def _packs(root: Path) -> list[Path]:
    return sorted((root / "objects" / "packs").glob("pack-*.pack"))


def _loose(root: Path) -> list[Path]:
    return [p for p in (root / "objects").glob("??/??/*") if p.is_file()]


def _every_read(cache: Cache, oid: str, data: bytes) -> None:
    assert cache.has(oid)
    assert cache.size_of(oid) == len(data)
    with cache.open_object(oid) as f:
        assert f.read() == data
    assert cache.read_bytes(oid) == data
    assert cache.verify(oid)


def test_a_commands_small_objects_go_into_one_pack_and_read_back_every_way(tmp_path):
    cache = _cache(tmp_path)
    blobs = _blobs(HELD_MAX * 3)
    big = os.urandom(PACKED_MAX + 1)
    for b in blobs:
        cache.put_bytes(b)
    cache.put_bytes(big)
    entries = [manifest.Entry(f"f{i}", "644", sha(b), len(b)) for i, b in enumerate(blobs)]
    mdata = manifest.dump(entries)
    moid = cache.put_bytes(mdata)
    # before flush: readable by this Cache, not yet published
    _every_read(cache, sha(blobs[0]), blobs[0])
    _every_read(cache, sha(blobs[-1]), blobs[-1])
    assert not _packs(tmp_path)
    cache.flush()
    assert len(_packs(tmp_path)) == 1
    assert [p.name for p in _loose(tmp_path)] == [sha(big)]  # only the large one is loose
    again = _cache(tmp_path)  # another command
    for b in [*blobs, big, mdata]:
        _every_read(again, sha(b), b)
    assert sorted(e.path for e in again.read_manifest(moid, "m")) == sorted(e.path for e in entries)
    assert sorted(again.iter_oids()) == sorted({sha(b) for b in [*blobs, big, mdata]})
    # link_out: a packed object is copied out, verified, whatever the link mode
    for mode in ("hardlink", "symlink", "reflink", "copy"):
        dest = tmp_path / f"out-{mode}"
        placed = again.link_out(sha(blobs[5]), str(dest), (mode,), executable=True)
        assert placed is not None
        st = os.lstat(dest)
        assert stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and st.st_mode & stat.S_IXUSR
        assert dest.read_bytes() == blobs[5]
        assert placed[0].ino == st.st_ino


def test_a_few_small_objects_stay_loose_as_before(tmp_path):
    cache = _cache(tmp_path)
    blobs = _blobs(HELD_MAX)
    for b in blobs:
        cache.put_bytes(b)
    cache.flush()
    assert not _packs(tmp_path)
    assert sorted(p.name for p in _loose(tmp_path)) == sorted(sha(b) for b in blobs)


def test_objects_an_earlier_gitmv_wrote_loose_are_read(tmp_path):
    data = b"v1 object " * 50
    path = tmp_path / "objects" / sha(data)[:2] / sha(data)[2:4] / sha(data)
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    cache = _cache(tmp_path)
    for b in _blobs(HELD_MAX + 5):  # and a pack beside it
        cache.put_bytes(b)
    cache.flush()
    again = _cache(tmp_path)
    _every_read(again, sha(data), data)
    assert sha(data) in set(again.iter_oids())


def test_a_corrupt_packed_object_never_reaches_the_work_tree_and_is_quarantined(tmp_path):
    cache = _cache(tmp_path)
    blobs = _put_packed(cache, HELD_MAX + 10)
    victim = blobs[7]
    (path,) = _packs(tmp_path)
    data = bytearray(path.read_bytes())
    at = bytes(data).index(victim)
    data[at] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    again = _cache(tmp_path)
    assert not again.verify(sha(victim))
    with pytest.raises(ObjectCorrupt):
        again.read_bytes(sha(victim))
    dest = tmp_path / "out"
    with pytest.raises(ObjectCorrupt):
        again.link_out(sha(victim), str(dest), ("copy",), executable=False)
    assert not dest.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".mvm")]
    moved = again.quarantine(sha(victim), str(tmp_path / "q"))
    assert Path(moved).read_bytes() != victim
    third = _cache(tmp_path)
    assert not third.has(sha(victim))
    for b in blobs:  # the others kept, in a new pack
        if b != victim:
            _every_read(third, sha(b), b)


def test_a_pack_repacked_under_a_reader_is_found_in_its_new_pack(tmp_path):
    writer = _cache(tmp_path)
    blobs = _put_packed(writer, HELD_MAX + 10)
    reader = _cache(tmp_path)
    assert reader.has(sha(blobs[0]))  # its index read, its pack not yet opened
    other = _cache(tmp_path)  # another process merges the pack into a new one
    (old,) = _packs(tmp_path)
    new_id, _ = other.packs.rewrite(str(tmp_path / "tmp"), [old.name[5:-5]],
                                    lambda pid, e: e.id != sha(blobs[1]))
    assert new_id is not None and not old.exists()
    _every_read(reader, sha(blobs[0]), blobs[0])
    assert not reader.has(sha(blobs[1]))
    with pytest.raises(ObjectMissing):
        reader.read_bytes(sha(blobs[1]))


def test_a_pack_published_by_another_process_is_seen(tmp_path):
    reader = _cache(tmp_path)
    assert not reader.has(sha(b"nothing"))  # the (empty) list is read
    writer = _cache(tmp_path)
    blobs = _blobs(HELD_MAX + 1)
    for b in blobs:
        writer.put_bytes(b)
    writer.flush()
    _every_read(reader, sha(blobs[3]), blobs[3])


def test_a_missing_pack_named_by_an_index_makes_its_objects_missing(tmp_path):
    cache = _cache(tmp_path)
    blobs = _blobs(HELD_MAX + 1)
    for b in blobs:
        cache.put_bytes(b)
    cache.flush()
    _packs(tmp_path)[0].unlink()
    again = _cache(tmp_path)
    assert not again.has(sha(blobs[0]))
    assert again.size_of(sha(blobs[0])) is None
    for read in (again.read_bytes, again.open_object, again.verify):
        with pytest.raises(ObjectMissing):
            read(sha(blobs[0]))
    with pytest.raises(ObjectMissing):
        again.link_out(sha(blobs[0]), str(tmp_path / "out"), ("copy",), executable=False)


@pytest.mark.parametrize("cut", [10, 2000, -1])
def test_a_truncated_index_is_refused_in_one_line_that_names_fsck(tmp_path, cut):
    cache = _cache(tmp_path)
    blobs = _blobs(HELD_MAX + 1)
    for b in blobs:
        cache.put_bytes(b)
    cache.flush()
    (idx,) = (tmp_path / "objects" / "packs").glob("*.idx")
    data = idx.read_bytes()
    idx.chmod(0o644)
    idx.write_bytes(data[:cut])
    with pytest.raises(FormatError) as info:
        _cache(tmp_path).has(sha(blobs[0]))
    assert "truncated" in info.value.why and "git mvm fsck" in (info.value.hint or "")
    checked = _cache(tmp_path).packs.check(str(tmp_path / "tmp"), str(tmp_path / "q"))
    assert [p for p, _ in checked.rebuilt] == [_packs(tmp_path)[0].name[5:-5]]
    assert idx.read_bytes() == data
    _every_read(_cache(tmp_path), sha(blobs[0]), blobs[0])


def test_the_pack_writer_remembers_little_per_entry(tmp_path):
    """Flat memory at a million objects: the writer keeps a raw id and a record per entry,
    not an object per field."""
    n = 100_000
    fd = os.open(tmp_path / "p", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        tracemalloc.start()
        w = pack.PackWriter(fd)
        base = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            w.add(pack.OBJECT, sha(i.to_bytes(4, "big")), b"x")
        w.drain()
        per_entry = (tracemalloc.get_traced_memory()[0] - base) / n
        tracemalloc.stop()
    finally:
        os.close(fd)
    assert per_entry < 120, per_entry  # a dict of ids: about 200


def test_a_large_index_is_searched_by_bisection(tmp_path):
    ids = [sha(i.to_bytes(4, "big")) for i in range(pack.SCAN_MAX * 256 * 2)]
    entries = [pack.Entry(h, pack.OBJECT, 12 + i, 1) for i, h in enumerate(ids)]
    idx = pack.PackIndex(pack.build_index("ab" * 32, 10, entries), "idx")
    for e in entries[::97]:
        assert idx.find(e.id) == e
    assert idx.find(sha(b"absent")) is None


# --- through the commands, with real git --------------------------------------------------


def _dataset(repo: Path, n: int, seed: int = 3) -> dict[str, bytes]:
    rng = random.Random(seed)
    files = {f"data/d{i % 7}/f{i}.bin": rng.randbytes(rng.randrange(100, 3000))
             for i in range(n)}
    for rel, data in files.items():
        write(repo / rel, data)
    return files


def test_kill_9_while_a_pack_is_written_loses_nothing_and_a_rerun_succeeds(repo: Path):
    files = _dataset(repo, 6000)
    tmp = repo / ".git" / "mvm" / "tmp"
    proc = mvm_popen(repo, "add", "data")
    assert wait_for(lambda: any(p.stat().st_size > 1 << 20 for p in tmp.glob(".mvm-tmp*")),
                    proc), proc.communicate()
    proc.kill()
    proc.communicate()
    assert not (repo / "data.mvm").exists()  # no pointer names what was not published
    for idx in (repo / ".git" / "mvm" / "objects" / "packs").glob("*.idx"):
        check = check_pack(str(idx.with_suffix(".pack")), idx.stem[5:])
        assert not check.problem  # a visible pack is a whole pack
    assert list(tmp.glob(".mvm-tmp*"))  # the half pack, in the tmp dir only
    assert mvm(repo, "add", "-q", "data") == 0
    assert not list(tmp.glob(".mvm-tmp*"))  # cleaned as any stale temp file
    git(repo, "commit", "-qm", "data")
    assert_cache_sound(repo)
    shutil.rmtree(repo / "data")
    assert mvm(repo, "checkout", "data") == 0
    assert {rel: (repo / rel).read_bytes() for rel in files} == files


def test_a_truncated_index_is_refused_by_commands_and_rebuilt_by_fsck(repo: Path, capsys):
    _dataset(repo, 200)
    assert mvm(repo, "add", "-q", "data") == 0
    git(repo, "commit", "-qm", "data")
    (idx,) = (repo / ".git" / "mvm" / "objects" / "packs").glob("*.idx")
    good = idx.read_bytes()
    idx.chmod(0o644)
    idx.write_bytes(good[:-100])
    shutil.rmtree(repo / "data")
    res = run(capsys, repo, "checkout", "data")
    assert res.rc == 1 and "Traceback" not in res.err
    (line,) = error_lines(res.err)
    assert "pack index is truncated" in line and "hint: run `git mvm fsck`" in res.err, res.err
    res = run(capsys, repo, "fsck")
    assert res.rc == 1 and "pack index rebuilt" in res.out, res.out
    assert idx.read_bytes() == good
    assert run(capsys, repo, "fsck").rc == 0
    assert mvm(repo, "checkout", "data") == 0


def test_a_corrupt_entry_is_never_checked_out_and_fsck_salvages_the_rest(repo: Path, capsys):
    files = _dataset(repo, 200)
    assert mvm(repo, "add", "-q", "data") == 0
    git(repo, "commit", "-qm", "data")
    (path,) = (repo / ".git" / "mvm" / "objects" / "packs").glob("*.pack")
    victim = "data/d3/f10.bin"
    raw = bytearray(path.read_bytes())
    raw[bytes(raw).index(files[victim]) + 5] ^= 0x01
    path.chmod(0o644)
    path.write_bytes(bytes(raw))
    shutil.rmtree(repo / "data")
    res = run(capsys, repo, "checkout", "data")
    assert res.rc == 1 and "Traceback" not in res.err
    assert "corrupt" in res.err and sha(files[victim]) in res.err, res.err
    assert not (repo / victim).exists()
    res = run(capsys, repo, "fsck")
    assert res.rc == 1
    assert f"corrupt: sha256:{sha(files[victim])}" in res.out
    assert "damaged pack" in res.out
    assert_cache_sound(repo)
    assert set(cache_objects(repo)) >= {sha(b) for rel, b in files.items() if rel != victim}
    assert sha(files[victim]) not in cache_objects(repo)
    res = run(capsys, repo, "fsck")
    assert res.rc == 0, res.out


# --- merging a command's packs ---------------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_a_merge_plan_takes_the_smallest_packs_and_leaves_few(seed: int) -> None:
    """Not more than AUTO_MERGE_AT packs: nothing. More: the k smallest (k >= 2), leaving at
    most half the limit, and the merged pack smaller than 1/MERGE_FACTOR of every pack left
    (so those stay in a geometric row and are not rewritten by the next merge)."""
    rng = random.Random(seed)
    n = rng.randrange(0, 4 * packed.AUTO_MERGE_AT)
    sizes = {f"p{i:03d}": rng.choice([rng.randrange(1, 100), rng.randrange(1, 1 << 30)])
             for i in range(n)}
    plan = packed.merge_plan(sizes)
    if n <= packed.AUTO_MERGE_AT:
        assert plan == []
        return
    assert len(plan) >= 2 and len(set(plan)) == len(plan)
    left = [p for p in sizes if p not in plan]
    assert max(sizes[p] for p in plan) <= min((sizes[p] for p in left), default=1 << 62)
    assert len(left) + 1 <= packed.AUTO_MERGE_AT // 2
    merged = sum(sizes[p] for p in plan)
    assert all(sizes[p] >= packed.MERGE_FACTOR * merged for p in left)


def test_a_byte_is_rewritten_a_logarithmic_number_of_times() -> None:
    """A pack a command for 5,000 commands, each merged as the commands do: each byte is
    rewritten about log2(cache / pack) times, not once per merge; never more than
    AUTO_MERGE_AT packs."""
    import math

    sizes: dict[str, int] = {}
    rewritten = written = 0
    for i in range(5000):
        sizes[f"n{i}"] = 100
        written += 100
        plan = packed.merge_plan(sizes)
        if plan:
            merged = sum(sizes.pop(p) for p in plan)
            sizes[f"m{i}"] = merged
            rewritten += merged
        assert len(sizes) <= packed.AUTO_MERGE_AT
    assert rewritten / written < 2 * math.log2(written / 100), rewritten / written


def test_a_command_that_publishes_a_pack_merges_when_there_are_many(tmp_path):
    """Packs of many commands are merged as they come: never more than AUTO_MERGE_AT, every
    object reads back verified, also through a Cache that listed the packs before the merges
    (its packs were merged away under it)."""
    early = _cache(tmp_path)
    every: list[bytes] = []
    for i in range(3 * packed.AUTO_MERGE_AT):
        cache = _cache(tmp_path)
        blobs = [b + i.to_bytes(2, "big") for b in _blobs(HELD_MAX + 1, seed=i)]
        for b in blobs:
            cache.put_bytes(b)
        cache.flush()
        every += blobs
        if i == 0:
            _every_read(early, sha(blobs[0]), blobs[0])  # it has read the first pack
        assert len(_packs(tmp_path)) <= packed.AUTO_MERGE_AT
    fresh = _cache(tmp_path)
    for b in every:
        _every_read(fresh, sha(b), b)
    for b in every[:: len(every) // 50]:
        _every_read(early, sha(b), b)
    assert fresh.packs.check(str(tmp_path / "tmp"), str(tmp_path / "q")).salvaged == []


def test_a_merge_that_meets_a_corrupt_entry_leaves_every_pack_and_the_command_goes_on(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(packed, "AUTO_MERGE_AT", 3)
    blobs = [_put_packed(_cache(tmp_path), HELD_MAX + 1)]
    path = _packs(tmp_path)[0]
    first = next(iter(pack.PackIndex.read(str(path.with_suffix(".idx")))))
    data = bytearray(path.read_bytes())
    data[first.offset] ^= 1  # inside an entry's bytes
    os.chmod(path, 0o644)
    path.write_bytes(bytes(data))
    for i in range(1, 4):
        cache = _cache(tmp_path)
        blobs.append([b + bytes([i]) for b in _blobs(HELD_MAX + 1, seed=10 + i)])
        for b in blobs[-1]:
            cache.put_bytes(b)
        cache.flush()  # the 4th pack: the merge fails on the corrupt entry, nothing goes
        for b in _blobs(HELD_MAX + 1, seed=20 + i):
            cache.put_bytes(b)
        cache.flush()  # (a second pack of the same command: the merge is not tried again)
    assert len(_packs(tmp_path)) == 7
    said = capsys.readouterr().err.splitlines()
    assert len(said) == 2 and all("corrupt" in s and "git mvm fsck" in s for s in said), said
    fresh = _cache(tmp_path)
    for group in blobs[1:]:
        for b in group:
            _every_read(fresh, sha(b), b)


def test_commands_merging_at_once_lose_nothing(tmp_path):
    """Four processes, each publishing 12 packs (and merging): every object reads back."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import random, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from gitmv.objects.cache import Cache, HELD_MAX
        w = int(sys.argv[1])
        rng = random.Random(w)
        for i in range(12):
            c = Cache({str(tmp_path / "objects")!r}, {str(tmp_path / "tmp")!r})
            for j in range(HELD_MAX + 1):
                c.put_bytes(rng.randbytes(200) + bytes([w, i, j]))
            c.flush()
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(w)]) for w in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 4
    fresh = _cache(tmp_path)
    for w in range(4):
        rng = random.Random(w)
        for i in range(12):
            for j in range(HELD_MAX + 1):
                b = rng.randbytes(200) + bytes([w, i, j])
                _every_read(fresh, sha(b), b)
    assert len(_packs(tmp_path)) <= packed.AUTO_MERGE_AT + 3  # (a merge gives way to another)


def test_kill_9_during_merges_loses_no_published_object(tmp_path):
    """A process publishing packs with a merge after nearly every one (AUTO_MERGE_AT = 3),
    killed at random moments, again and again: every object of a flush that returned reads
    back verified, and fsck finds no damaged pack."""
    import signal
    import subprocess
    import sys
    import textwrap
    import time

    script = textwrap.dedent(f"""
        import random, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from gitmv.objects import packed
        from gitmv.objects.cache import Cache, HELD_MAX
        packed.AUTO_MERGE_AT = 3
        start = int(sys.argv[1])
        for i in range(start, start + 1000):
            c = Cache({str(tmp_path / "objects")!r}, {str(tmp_path / "tmp")!r})
            rng = random.Random(i)
            for j in range(HELD_MAX + 1):
                c.put_bytes(rng.randbytes(rng.randrange(1, 400)) + i.to_bytes(4, "big"))
            c.flush()
            print(i, flush=True)
    """)
    rng = random.Random(7)
    published: list[int] = []
    start = 0
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, "-c", script, str(start)],
                                stdout=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.3, 1.0))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        done = [int(x) for x in out.split()]
        published += done
        start = (done[-1] + 1) if done else start + 1000  # (a killed flush's i not reused)
    assert len(published) > 10, published
    fresh = _cache(tmp_path)
    for i in published:
        gen = random.Random(i)
        for _ in range(HELD_MAX + 1):
            b = gen.randbytes(gen.randrange(1, 400)) + i.to_bytes(4, "big")
            _every_read(fresh, sha(b), b)
    checked = fresh.packs.check(str(tmp_path / "tmp"), str(tmp_path / "q"))
    assert checked.salvaged == [] and checked.moved == {}, checked


def test_a_command_does_not_merge_while_another_process_rewrites_packs(tmp_path, monkeypatch):
    """The merge lock held elsewhere (gc's repack, fsck, another command's merge): a command
    publishes its pack and leaves the merging to a later one."""
    import fcntl

    monkeypatch.setattr(packed, "AUTO_MERGE_AT", 3)
    every = []
    for i in range(3):
        every += _put_packed_seeded(tmp_path, i)
    lock = os.open(tmp_path / "objects" / "packs" / packed.MERGE_LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        every += _put_packed_seeded(tmp_path, 3)
        assert len(_packs(tmp_path)) == 4
    finally:
        os.close(lock)
    every += _put_packed_seeded(tmp_path, 4)
    assert len(_packs(tmp_path)) < 4
    fresh = _cache(tmp_path)
    for b in every:
        _every_read(fresh, sha(b), b)


def _put_packed_seeded(root: Path, seed: int) -> list[bytes]:
    blobs = [b + seed.to_bytes(2, "big") for b in _blobs(HELD_MAX + 1, seed=100 + seed)]
    cache = _cache(root)
    for b in blobs:
        cache.put_bytes(b)
    cache.flush()
    return blobs
