"""Store layout 2 end to end (docs/formats.md, "Store layout 2"): pushes write packs and
indexes, pulls read ranges, on every store kind gitmv owns (directory, S3 on moto, WebDAV on
the fault server), with real git clones."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import (
    clone_hooked,
    git,
    init_bare,
    init_hooked,
    mvm,
    mvm_proc,
    rev,
    save,
    save_dir,
    sha,
    tree_digest,
)
from tests.remotes.kinds import Remote, add_remote, remote_of

PACKED_KINDS = ["local", "s3", "http"]


@pytest.fixture(params=PACKED_KINDS)
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Remote]:
    with packed_remote(request.param, tmp_path) as r:
        yield r


def packed_remote(kind: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """remote_of, with WebDAV on for HTTP (packs are found by listing); layout 2 is the
    default there, no setting asks for it."""
    from contextlib import contextmanager

    @contextmanager
    def make() -> Iterator[Remote]:
        with remote_of(kind, tmp_path) as r:
            more = {"webdav": "true"} if kind == "http" else {}
            r = r._replace(settings={**r.settings, **more})
            yield r

    return make()


def store_files(remote: Remote, tmp_path: Path) -> dict[str, int]:
    """Every file the store holds (name relative to the store: `packs/…`, `aa/bb/oid`) and
    its size, read behind gitmv's back."""
    if remote.kind == "s3":
        from tests.stores.s3 import server

        bucket = remote.url.split("/")[2]
        client = server().client()
        out = {}
        for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix="objects/"):
            for item in page.get("Contents", ()):
                out[item["Key"][len("objects/"):]] = int(item["Size"])
        return out
    root = tmp_path / ("dir-store" if remote.kind == "local" else "http-root/store")
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def setup(tmp_path: Path, remote: Remote) -> tuple[Path, Path]:
    bare = init_bare(tmp_path / "origin.git")
    alice = init_hooked(tmp_path / "alice", bare)
    add_remote(alice, remote)
    git(alice, "push", "-q", "-u", "origin", "HEAD")
    return bare, alice


def test_push_writes_packs_and_a_clone_pulls_them(tmp_path: Path, remote: Remote) -> None:
    bare, alice = setup(tmp_path, remote)
    files = {f"d/f{i}.bin": os.urandom(100 + i) for i in range(200)}
    digest = save_dir(alice, "data", files, "data")
    big = os.urandom(3 << 20)
    save(alice, "model.pt", big, "model")
    git(alice, "push", "-q")
    held = store_files(remote, tmp_path)
    assert held.get("mvm-layout") == len(b"gitmv store layout 2\n")
    packs = {n for n in held if n.startswith("packs/")}
    indexes = {n for n in held if n.startswith("index/")}
    assert packs and {p.replace("packs/", "index/").replace(".pack", ".idx")
                      for p in packs} == indexes
    assert not [n for n in held if n[:2] != "mv" and "/" in n and n.split("/")[0] not in
                ("packs", "index")], "nothing loose"
    bob = clone_hooked(bare, tmp_path / "bob")
    assert mvm(bob, "pull", "-q") == 0
    assert tree_digest(bob / "data") == digest
    assert (bob / "model.pt").read_bytes() == big
    assert mvm(bob, "fsck", "-q") == 0


def test_a_noop_push_sends_nothing(tmp_path: Path, remote: Remote) -> None:
    _, alice = setup(tmp_path, remote)
    save_dir(alice, "data", {f"f{i}": os.urandom(50) for i in range(50)}, "data")
    git(alice, "push", "-q")
    before = store_files(remote, tmp_path)
    assert mvm(alice, "push", "-q") == 0
    assert store_files(remote, tmp_path) == before
    assert sha(b"") and True


def stored_bytes(remote: Remote, tmp_path: Path) -> int:
    return sum(store_files(remote, tmp_path).values())


@pytest.fixture(params=["local", "s3"])
def dedup_remote(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Remote]:
    with packed_remote(request.param, tmp_path) as r:
        yield r


def test_chunks_make_a_store_grow_by_what_changed(tmp_path: Path, dedup_remote: Remote
                                                  ) -> None:
    """64 MiB pushed; then 1 MiB appended, then 1 MiB inserted at the start: each push adds
    less than 4 MiB to the store, and every version comes back whole."""
    remote = dedup_remote
    bare, alice = setup(tmp_path, remote)
    base = os.urandom(64 << 20)
    versions = [base, base + os.urandom(1 << 20), os.urandom(1 << 20) + base]
    sizes = []
    for i, data in enumerate(versions):
        save(alice, "model.pt", data, f"v{i}")
        git(alice, "push", "-q")
        sizes.append(stored_bytes(remote, tmp_path))
    assert sizes[0] > 64 << 20
    assert sizes[1] - sizes[0] < 4 << 20, sizes
    assert sizes[2] - sizes[1] < 4 << 20, sizes
    bob = clone_hooked(bare, tmp_path / "bob")
    revs = [rev(alice, f"HEAD~{2 - i}") for i in range(3)]
    for i, data in enumerate(versions):
        git(bob, "checkout", "-q", revs[i])
        assert mvm(bob, "pull", "-q") == 0
        assert (bob / "model.pt").read_bytes() == data, f"version {i}"


def test_a_checkpoint_with_a_tenth_of_its_tensors_changed(tmp_path: Path,
                                                          dedup_remote: Remote) -> None:
    """A checkpoint of 40 tensors (256 KiB .. 1 MiB each, one file) whose every tenth tensor
    changes: the store grows by at most 15% of the checkpoint."""
    import random

    rng = random.Random(13)
    remote = dedup_remote
    _, alice = setup(tmp_path, remote)
    # seeded bytes, not os.urandom: where the chunks are cut depends on the bytes, and the
    # result must not vary from run to run
    tensors = [rng.randbytes(rng.randrange(256 << 10, 1 << 20)) for _ in range(40)]
    first = b"".join(tensors)
    save(alice, "ckpt.pt", first, "step 1")
    git(alice, "push", "-q")
    before = stored_bytes(remote, tmp_path)
    for i in range(0, 40, 10):
        tensors[i] = rng.randbytes(len(tensors[i]))
    save(alice, "ckpt.pt", b"".join(tensors), "step 2")
    git(alice, "push", "-q")
    grown = stored_bytes(remote, tmp_path) - before
    assert grown <= 0.15 * len(first), (grown, len(first))


def test_one_file_changed_in_a_2000_file_dataset_costs_at_most_5_requests(
        tmp_path: Path) -> None:
    """Through a logging proxy in front of moto: the push after one file of 2,000 changed
    (one listing of the indexes, the pack, its index; the layout is read once)."""
    from tests.faultserver import FaultServer

    with remote_of("s3", tmp_path) as s3, \
            FaultServer(upstream=s3.settings["endpoint_url"].strip('"')) as proxy:
        counted = s3._replace(settings={**s3.settings, "endpoint_url": f'"{proxy.url}"',
                                        "packs": "true"})
        _, alice = setup(tmp_path, counted)
        files = {f"f{i:04}.bin": os.urandom(200) for i in range(2000)}
        save_dir(alice, "data", files, "v1")
        git(alice, "push", "-q")
        files["f0007.bin"] = os.urandom(200)
        save_dir(alice, "data", files, "v2")
        before = len(proxy.records)
        assert mvm(alice, "push", "-q") == 0
        sent = proxy.records[before:]
        assert len(sent) <= 5, [(r.method, r.path) for r in sent]
        before = len(proxy.records)
        assert mvm(alice, "push", "-q") == 0  # nothing to do: the layout and one listing
        sent = proxy.records[before:]
        assert [r.method for r in sent] == ["GET", "GET"], [(r.method, r.path) for r in sent]


def test_a_layout_1_store_is_read_and_upgraded_by_a_push(tmp_path: Path) -> None:
    """A store of loose objects (what gitmv wrote before layout 2: `packs = false` here) is
    read as it was; the first push without the setting (packs, the default) writes
    `mvm-layout` saying loose objects are there, and a clone gets old and new objects alike."""
    with packed_remote("local", tmp_path) as remote:
        bare, alice = setup(tmp_path, remote._replace(settings={"packs": "false"}))
        old = save_dir(alice, "data", {f"f{i}": os.urandom(300) for i in range(20)}, "old")
        git(alice, "push", "-q")
        held = store_files(remote, tmp_path)
        assert "mvm-layout" not in held and not any(n.startswith("packs/") for n in held)
        config = alice / ".mvm" / "config.toml"  # (as after an upgrade: no setting, the default)
        config.write_text(config.read_text().replace("packs = false\n", ""))
        git(alice, "commit", "-q", "-am", "packs by default")
        new = os.urandom(2 << 20)
        save(alice, "model.pt", new, "new")
        git(alice, "push", "-q")
        layout = (tmp_path / "dir-store" / "mvm-layout").read_text()
        assert layout == "gitmv store layout 2\nloose objects: yes\n"
        bob = clone_hooked(bare, tmp_path / "bob")
        assert mvm(bob, "pull", "-q") == 0
        assert tree_digest(bob / "data") == old
        assert (bob / "model.pt").read_bytes() == new


def test_a_loose_object_an_older_gitmv_pushed_to_a_layout_2_store_is_pulled(
        tmp_path: Path) -> None:
    """A store born in layout 2 (no `loose objects: yes`) shared with a clone still running
    a gitmv from before packs: that clone writes loose objects there. A pull finds them (it
    asks for a loose object when no index holds one); one that is truly missing is still
    named."""
    with packed_remote("local", tmp_path) as remote:
        bare, alice = setup(tmp_path, remote)
        save(alice, "a.pt", os.urandom(3000), "packed")
        git(alice, "push", "-q")
        assert "loose" not in (tmp_path / "dir-store" / "mvm-layout").read_text()
        old, other = os.urandom(5000), os.urandom(700)
        loose = tmp_path / "dir-store" / sha(old)[:2] / sha(old)[2:4] / sha(old)
        loose.parent.mkdir(parents=True)
        loose.write_bytes(old)  # what the older gitmv's push wrote
        for name, data in (("b.pt", old), ("c.pt", other)):
            (alice / name).write_bytes(data)
            assert mvm(alice, "add", "-q", name) == 0
        git(alice, "commit", "-q", "--no-verify", "-m", "from the older clone")
        git(alice, "-c", "core.hooksPath=/dev/null", "push", "-q")  # c.pt's bytes: nowhere
        bob = clone_hooked(bare, tmp_path / "bob")
        res = mvm(bob, "pull", "-q")
        assert (bob / "b.pt").read_bytes() == old
        assert (bob / "a.pt").exists()
        assert res == 1 and not (bob / "c.pt").exists()


def test_a_store_of_a_newer_layout_is_refused_with_one_clear_error(
        tmp_path: Path, remote: Remote, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.helpers import run

    bare, alice = setup(tmp_path, remote)
    save(alice, "m.pt", os.urandom(1000), "model")
    git(alice, "push", "-q")
    layout = tmp_path / "layout"
    layout.write_text("gitmv store layout 3\n")
    _put_behind_gitmv(remote, tmp_path, "mvm-layout", layout.read_bytes())
    bob = clone_hooked(bare, tmp_path / "bob")
    res = run(capsys, bob, "pull")
    assert res.rc == 1
    assert "layout 3" in res.err and "upgrade gitmv" in res.err, res.err
    assert "not on remote" not in res.err
    assert "Traceback" not in res.err


def _put_behind_gitmv(remote: Remote, tmp_path: Path, name: str, data: bytes) -> None:
    if remote.kind == "s3":
        from tests.stores.s3 import server

        server().client().put_object(Bucket=remote.url.split("/")[2], Key=f"objects/{name}",
                                     Body=data)
        return
    root = tmp_path / ("dir-store" if remote.kind == "local" else "http-root/store")
    (root / name).write_bytes(data)


def test_remote_add_packs_turns_layout_2_on_and_refuses_stores_that_cannot(
        tmp_path: Path) -> None:
    """`git mvm remote add --packs` is how a user asks for packs: a directory store pushed
    to that way gets layout 2; a Git LFS URL is refused at once (whole objects there)."""
    bare = init_bare(tmp_path / "origin.git")
    alice = init_hooked(tmp_path / "alice")
    git(alice, "remote", "add", "origin", str(bare))
    store = tmp_path / "store"
    store.mkdir()
    assert mvm(alice, "remote", "add", "store", str(store), "--default", "--packs") == 0
    assert "packs = true" in (alice / ".mvm" / "config.toml").read_text()
    git(alice, "commit", "-q", "-m", "remote")
    data = os.urandom(3 << 20)
    save(alice, "model.pt", data, "model")
    git(alice, "push", "-q", "origin", "HEAD:main")
    assert (store / "mvm-layout").read_text() == "gitmv store layout 2\n"
    assert any((store / "index").iterdir()) and not any(
        len(p.name) == 2 for p in store.iterdir() if p.is_dir())
    bob = clone_hooked(bare, tmp_path / "bob")
    assert mvm(bob, "pull", "-q") == 0
    assert (bob / "model.pt").read_bytes() == data
    assert mvm(alice, "remote", "add", "lfs", "lfs+http://127.0.0.1:9/x/info/lfs",
               "--packs") == 2


@pytest.mark.parametrize("flag", [None, "--no-packs"])
def test_remote_add_without_a_flag_packs_and_no_packs_keeps_layout_1(
        tmp_path: Path, flag: str | None) -> None:
    """Layout 2 is the default on a directory store (nothing written in the config);
    `--no-packs` writes `packs = false` and the store stays loose objects, as an older gitmv
    reads it. Git LFS takes neither flag."""
    bare = init_bare(tmp_path / "origin.git")
    alice = init_hooked(tmp_path / "alice", bare)
    store = tmp_path / "store"
    assert mvm(alice, "remote", "add", "store", str(store), "--default",
               *([flag] if flag else [])) == 0
    config = (alice / ".mvm" / "config.toml").read_text()
    assert ("packs = false" in config) == bool(flag) and "packs = true" not in config
    git(alice, "commit", "-q", "-m", "remote")
    data = os.urandom(3 << 20)
    oid = save(alice, "model.pt", data, "model")
    git(alice, "push", "-q", "origin", "HEAD:main")
    if flag:
        assert not (store / "mvm-layout").exists() and not (store / "index").exists()
        assert (store / oid[:2] / oid[2:4] / oid).read_bytes() == data
    else:
        assert (store / "mvm-layout").read_text() == "gitmv store layout 2\n"
        assert any((store / "index").iterdir()) and not (store / oid[:2]).exists()
    bob = clone_hooked(bare, tmp_path / "bob")
    assert mvm(bob, "pull", "-q") == 0
    assert (bob / "model.pt").read_bytes() == data
    assert mvm(alice, "remote", "add", "lfs", "lfs+http://127.0.0.1:9/x/info/lfs",
               "--no-packs") == 2


def test_a_chunked_object_reads_whole_like_a_file(tmp_path: Path) -> None:
    """`open_download` of a chunked object is a stream a reader may `read()` to the end or
    `read(n)` exactly n bytes from, as from any store (a chaos check read one chunk as the
    whole object and took it for lost)."""
    import hashlib

    from gitmv.objects.cache import Cache
    from gitmv.remotes.base import open_store
    from gitmv.transfer.packed import PackedStore

    alice = init_hooked(tmp_path / "alice")
    store = tmp_path / "store"
    store.mkdir()
    assert mvm(alice, "remote", "add", "store", str(store), "--default", "--packs") == 0
    data = os.urandom(3 << 20)
    oid = save(alice, "model.pt", data, "model")
    assert mvm(alice, "push", "-q") == 0
    scratch = str(tmp_path / "view")
    view = PackedStore(open_store("store", str(store)), scratch, Cache(scratch, scratch),
                       None, None)
    src, start = view.open_download(oid)
    with src:
        assert start == 0 and src.read() == data
    src, _ = view.open_download(oid)
    with src:
        head = src.read(200_000)
        assert len(head) == 200_000 and head == data[:200_000]
        rest = src.read()
    assert hashlib.sha256(head + rest).hexdigest() == oid


def test_the_zero_config_store_packs_by_default_and_packs_false_keeps_it_loose(
        tmp_path: Path) -> None:
    """The store of a local git remote (`<bare>/mvm/objects`) is a directory store: layout 2
    by default; `[remote.origin] packs = false` (no url: still the git remote's store) keeps
    it loose, as an older gitmv that shares it reads it."""
    from tests.helpers import configure, remote_objects_dir

    for packs in (True, False):
        bare = init_bare(tmp_path / f"origin-{packs}.git")
        alice = init_hooked(tmp_path / f"alice-{packs}", bare)
        if not packs:
            configure(alice, "remote.origin", "packs = false")
            git(alice, "commit", "-q", "-m", "loose store", ".mvm/config.toml")
        data = os.urandom(5000)
        oid = save(alice, "m.pt", data, "model")
        git(alice, "push", "-q", "origin", "HEAD:main")
        store = remote_objects_dir(bare)
        assert (store / "mvm-layout").exists() == packs
        assert (store / oid[:2] / oid[2:4] / oid).exists() == (not packs)
        bob = clone_hooked(bare, tmp_path / f"bob-{packs}")
        assert mvm(bob, "pull", "-q") == 0
        assert (bob / "m.pt").read_bytes() == data


def test_commands_that_fetch_manifests_themselves_read_them_from_packs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Local gc reads the manifests of directories this clone lacks from the default store,
    as the merge driver and the CI script do: through its packs (they went through the raw
    store, and took every packed manifest for missing)."""
    from tests.helpers import run

    bare = init_bare(tmp_path / "origin.git")
    alice = init_hooked(tmp_path / "alice", bare)
    save_dir(alice, "data", {f"f{i}": os.urandom(300) for i in range(5)}, "data")
    git(alice, "push", "-q", "origin", "HEAD:main")
    bob = tmp_path / "bob"
    git(tmp_path, "clone", "-q", str(bare), str(bob))  # no hooks: nothing fetched
    res = run(capsys, bob, "gc", "--dry-run")
    assert res.rc == 0, res.err
    assert "not in" not in res.err and "deletes nothing" not in res.err, res.err


def test_a_bad_copy_newer_than_the_good_one_is_not_taken_for_the_object(
        tmp_path: Path) -> None:
    """A store may hold two copies of an object: the one a push replaced because it was held
    wrong, and the push's own (on S3 both packs may carry the same second, so either can look
    "newest"). Every command takes the copy of the right size: fsck --remote of a clone whose
    cache lacks the object finds nothing wrong (it used to report the bad copy and could not
    repair it), a push --full sends nothing, a pull gets the bytes."""
    from gitmv.objects.pack import index_name
    from tests.storefiles import add_copy

    with packed_remote("local", tmp_path) as remote:
        bare, alice = setup(tmp_path, remote)
        data = os.urandom(30_000)
        save(alice, "a.pt", data, "a model")
        git(alice, "push", "-q")
        assert remote.files is not None
        bad = add_copy(remote.files, sha(data), data[: len(data) // 2])
        idx = tmp_path / "dir-store" / "index" / index_name(bad)
        later = idx.stat().st_mtime + 60
        os.utime(idx, (later, later))  # the bad copy is the newest
        bob = clone_hooked(bare, tmp_path / "bob")
        res = mvm_proc(bob, "fsck", "--remote", "--verify")
        assert res.returncode == 0, res.stdout + res.stderr
        before = store_files(remote, tmp_path)
        assert mvm(alice, "push", "--full", "-q") == 0
        assert store_files(remote, tmp_path) == before
        assert mvm(bob, "pull", "-q") == 0
        assert (bob / "a.pt").read_bytes() == data

