"""What a push sends is verified, what it counts as pushed is confirmed, and what is wrong on
a store can be found and repaired: on every store kind (a directory, S3 on moto, plain HTTP
on the fault server, Git LFS on giftless), end to end through `git mvm` and git's hooks.

The invariant: a push (command or hook) never exits 0 while a pointer in what it pushes
names bytes the store does not hold; `fsck --remote` finds what is missing or wrong there
(sizes always, hashes with `--verify`) and `--repair` puts the cache's verified copy back.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitmv.remotes import retry
from tests.faultserver import Faults, FaultServer
from tests.helpers import (
    cache_objects,
    corrupt_object,
    error_lines,
    git_ok,
    git_run,
    init_bare,
    init_hooked,
    mvm,
    object_path,
    read_pointer,
    run,
    save,
    save_dir,
    sha,
    write,
)
from tests.remotes.kinds import KINDS, Remote, remote_of
from tests.remotes.kinds import add_remote as _add_remote


def add_remote(repo: Path, remote: Remote, commit: bool = True) -> None:
    _add_remote(repo, remote, commit)


def _replaced(err: str) -> int:
    """The N of a push's "replaced N object(s) it held wrong" (0 when it says none)."""
    m = re.search(r"replaced (\d+) objects? it held wrong", err)
    return int(m.group(1)) if m else 0


@pytest.fixture(autouse=True)
def _quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setattr(retry, "BASE_DELAY", 0.01)  # in-process retries: no need to wait long


@pytest.fixture(params=KINDS)
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Remote]:
    with remote_of(request.param, tmp_path) as r:
        yield r


def repo_with(tmp_path: Path, remote: Remote, name: str = "alice") -> Path:
    repo = init_hooked(tmp_path / name, init_bare(tmp_path / f"{name}-origin.git"))
    add_remote(repo, remote)
    return repo


def flip(data: bytes) -> bytes:
    """The same number of bytes, one of them different."""
    return bytes([data[0] ^ 0xFF]) + data[1:]


# --- item 4: no store sends a corrupt cache object ----------------------------------------------


def test_a_corrupt_cache_object_is_never_sent(
    remote: Remote, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = repo_with(tmp_path, remote)
    model = os.urandom(300_000)
    oid = save(alice, "m.pt", model, "model")
    corrupt_object(object_path(alice, oid), flip(model))  # bit rot in the cache, same size
    res = run(capsys, alice, "push")
    assert res.rc == 1
    assert f"sha256:{oid}" in res.err and "corrupt" in res.err, res.err
    assert "Traceback" not in res.err
    held = remote.read(oid)  # nothing reached the store whole (giftless keeps what arrived of
    assert held is None or (remote.kind == "lfs" and len(held) < len(model))  # a cut upload)

    # the artifact is intact in the work tree: fsck moves the bad copy aside, add puts it back
    assert run(capsys, alice, "fsck").rc == 1
    assert mvm(alice, "add", "-q", "m.pt") == 0
    res = run(capsys, alice, "push")
    assert res.rc == 0, res.err
    assert remote.read(oid) == model


# --- item 11: a wrong object on the store is repaired, not trusted -------------------------------


def test_push_replaces_an_object_of_the_wrong_size_on_the_store(
    remote: Remote, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = repo_with(tmp_path, remote)
    model = os.urandom(200_000)
    oid = save(alice, "m.pt", model, "model")
    files = {f"f{i}.bin": os.urandom(3000 + i) for i in range(4)}
    save_dir(alice, "data", files, "data")
    assert run(capsys, alice, "push").rc == 0
    remote.write(oid, model[:1000])  # cut short on the store
    victim = sha(files["f2.bin"])
    remote.write(victim, b"")

    res = run(capsys, alice, "push")  # the file's own object is checked: replaced
    assert res.rc == 0, res.err
    assert remote.read(oid) == model
    first = res.err
    res = run(capsys, alice, "push", "--full")  # the directory's files too
    assert res.rc == 0, res.err
    assert remote.read(victim) == files["f2.bin"]
    if remote.kind != "lfs":  # (an LFS server just asks for it again: the wrong size is its)
        # (a packed store's indexes give every object's size: its plain push may replace
        # the directory's file already; a loose store's manifest stands for its files)
        assert _replaced(first) + _replaced(res.err) == 2, first + res.err
        assert _replaced(first) >= 1, first


def test_push_full_replaces_other_bytes_of_the_right_size_on_the_store(
    remote: Remote, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bytes rotten on the store at the object's own size: a plain push trusts the size,
    `push --full` verifies as `fsck --remote --verify` does (the store's sha256, else a
    download) and puts the cache's verified copy in their place; a Git LFS server, which
    takes no other bytes for an object it holds, gets one line per object saying so."""
    alice = repo_with(tmp_path, remote)
    model = os.urandom(200_000)
    oid = save(alice, "m.pt", model, "model")
    files = {f"f{i}.bin": os.urandom(3000 + i) for i in range(3)}
    save_dir(alice, "data", files, "data")
    assert run(capsys, alice, "push").rc == 0
    victim = sha(files["f1.bin"])
    remote.write(oid, flip(model))
    remote.write(victim, flip(files["f1.bin"]))

    res = run(capsys, alice, "push", "--full")
    if remote.kind == "lfs":
        assert res.rc == 1, res.err
        for bad in (oid, victim):
            lines = [ln for ln in res.err.splitlines() if bad in ln]
            assert len(lines) == 1 and "server's own interface" in lines[0], res.err
        assert "Traceback" not in res.err
        return
    assert res.rc == 0, res.err
    assert remote.read(oid) == model
    assert remote.read(victim) == files["f1.bin"]
    assert "replaced 2 objects" in res.err, res.err
    res = run(capsys, alice, "fsck", "--remote", "--verify")
    assert res.rc == 0, res.out + res.err


def test_push_counts_as_replaced_exactly_what_the_store_held_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """"replaced N" counts the objects the store held at another size or with other bytes
    and that were sent again: not those `gc --remote` took between the push's check and its
    refresh (sent again, but nothing was replaced), nor those already right."""
    from gitmv.remotes.local import LocalStore
    from tests.helpers import make_old

    with remote_of("local", tmp_path) as remote:
        # layout 1: the race is with loose objects' refresh (a packed store's: a push relying
        # on a pack during gc, tests/transfer/test_packed_gc.py)
        remote = remote._replace(settings={**remote.settings, "packs": "false"})
        alice = repo_with(tmp_path, remote)
        data = {name: os.urandom(5000 + i) for i, name in enumerate("abcde")}
        oids = {name: save(alice, f"{name}.pt", d, name) for name, d in data.items()}
        assert run(capsys, alice, "push").rc == 0
        remote.write(oids["a"], data["a"][:10])  # another size
        remote.write(oids["b"], flip(data["b"]))  # other bytes (found by --full)
        make_old(list((tmp_path / "dir-store").rglob("*")))  # old: the push refreshes them
        real = LocalStore.refresh

        def gc_first(self: LocalStore, wanted: list[str]) -> set[str]:
            for name in "cd":  # a gc --remote deletes them just before the refresh
                remote.delete(oids[name])
            return real(self, wanted)

        monkeypatch.setattr(LocalStore, "refresh", gc_first)
        res = run(capsys, alice, "push", "--full")
        assert res.rc == 0, res.err
        assert "pushed 4 objects" in res.err and "1 already there" in res.err, res.err
        assert "replaced 2 objects" in res.err, res.err
        for name, d in data.items():
            assert remote.read(oids[name]) == d


# --- item 17: an upload counts only once the store confirms it -----------------------------------


@pytest.mark.parametrize("lie", ["put", "put+head"])
def test_an_http_server_that_says_it_stored_what_it_did_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lie: str
) -> None:
    faults = Faults(lie_put=True, lie_head=lie == "put+head")
    with FaultServer(tmp_path / "root", faults=faults) as server:
        http = Remote("http", f"{server.url}/store", {}, lambda o: None, lambda o, d: None,
                      lambda o: None)
        alice = repo_with(tmp_path, http)
        oid = save(alice, "m.pt", os.urandom(50_000), "model")
        res = run(capsys, alice, "push")
    assert res.rc == 1, res.err
    assert f"sha256:{oid}" in res.err, res.err
    assert "Traceback" not in res.err


def test_s3_behind_a_proxy_that_swallows_uploads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with remote_of("s3", tmp_path) as s3, \
            FaultServer(upstream=s3.settings["endpoint_url"].strip('"'),
                        faults=Faults(lie_put=True)) as proxy:
        lying = s3._replace(settings={**s3.settings, "endpoint_url": f'"{proxy.url}"'})
        alice = repo_with(tmp_path, lying)
        oid = save(alice, "m.pt", os.urandom(40_000), "model")
        res = run(capsys, alice, "push")
        assert res.rc == 1, res.err
        # (a packed store's first upload is its layout file, refused the same way)
        assert f"sha256:{oid}" in res.err or "not there at its size after its upload" \
            in res.err, res.err
        assert s3.read(oid) is None


def test_lfs_server_whose_uploads_and_verify_lie(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.stores.lfs import fresh_repo, shared_server

    giftless = shared_server()
    org, name = fresh_repo()
    with FaultServer(upstream=giftless.url,
                     faults=Faults(lie_put=True, lie_verify=True)) as proxy:
        lying = Remote("lfs", f"lfs+{proxy.url}/{org}/{name}.git/info/lfs", {},
                       lambda o: None, lambda o, d: None, lambda o: None)
        alice = repo_with(tmp_path, lying)
        oid = save(alice, "m.pt", os.urandom(40_000), "model")
        res = run(capsys, alice, "push")
    assert res.rc == 1, res.err
    assert f"sha256:{oid}" in res.err, res.err
    assert not giftless.object_path(org, name, oid).exists()


def test_the_pre_push_hook_fails_a_git_push_the_store_did_not_confirm(tmp_path: Path) -> None:
    with FaultServer(tmp_path / "root", faults=Faults(lie_put=True)) as server:
        bare = init_bare(tmp_path / "origin.git")
        alice = init_hooked(tmp_path / "alice", bare)
        add_remote(alice, Remote("http", f"{server.url}/store", {}, lambda o: None,
                                 lambda o, d: None, lambda o: None))
        oid = save(alice, "m.pt", os.urandom(30_000), "model")
        res = git_run(alice, "push", "-q", "origin", "main")
    assert res.returncode != 0, res.stderr
    assert f"sha256:{oid}" in res.stderr
    assert git_run(bare, "rev-parse", "-q", "--verify", "refs/heads/main").returncode != 0


# --- fsck --remote [--verify] [--repair] ----------------------------------------------------------


def test_fsck_remote_finds_and_repairs_what_is_wrong_on_the_store(
    remote: Remote, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = repo_with(tmp_path, remote)
    good = save(alice, "good.pt", os.urandom(20_000))
    rotten_data = os.urandom(30_000)
    rotten = save(alice, "rotten.pt", rotten_data)
    short_data = os.urandom(40_000)
    short = save(alice, "short.pt", short_data)
    gone_data = os.urandom(50_000)
    gone = save(alice, "gone.pt", gone_data, "models")
    assert run(capsys, alice, "push").rc == 0
    remote.write(rotten, flip(rotten_data))  # same size: only a hash tells
    remote.write(short, short_data[:100])
    remote.delete(gone)

    res = run(capsys, alice, "fsck", "--remote")
    assert res.rc == 1
    assert f"sha256:{short}" in res.out and f"sha256:{gone}" in res.out, res.out
    assert rotten not in res.out and good not in res.out  # sizes only: the hash is unchecked

    res = run(capsys, alice, "fsck", "--remote", "--verify", "--json")
    assert res.rc == 1
    import json

    report = json.loads(res.out)
    bad = {p["oid"]: p["problem"] for p in report["remote"]["problems"]}
    assert bad == {f"sha256:{rotten}": "corrupt", f"sha256:{short}": "wrong size",
                   f"sha256:{gone}": "missing"}, bad

    res = run(capsys, alice, "fsck", "--remote", "--verify", "--repair")
    assert (remote.read(short), remote.read(gone)) == (short_data, gone_data)
    if remote.kind == "lfs":
        # a Git LFS server that holds an object at its size takes no other bytes for it
        assert res.rc == 1
        line = next(ln for ln in res.out.splitlines() if rotten in ln)
        assert "not repaired" in line and "server's own interface" in line, res.out
        remote.delete(rotten)
        assert run(capsys, alice, "push").rc == 0
    else:
        assert res.rc == 0, res.out + res.err
    assert remote.read(rotten) == rotten_data
    res = run(capsys, alice, "fsck", "--remote", "--verify")
    assert res.rc == 0, res.out + res.err
    assert remote.read(good) is not None


def test_fsck_remote_repair_names_the_commits_it_cannot_repair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad object on the store that this clone's cache does not hold (or holds corrupt)
    cannot be put back from here: fsck says which artifacts and commits need it."""
    with remote_of("local", tmp_path) as remote:
        alice = repo_with(tmp_path, remote)
        data = os.urandom(10_000)
        oid = save(alice, "models/m.pt", data, "first model")
        first = git_ok(alice, "rev-parse", "HEAD").stdout.strip()
        save(alice, "other.pt", os.urandom(100), "unrelated")
        assert run(capsys, alice, "push").rc == 0
        remote.write(oid, data[:10])
        corrupt_object(object_path(alice, oid), flip(data))
        res = run(capsys, alice, "fsck", "--remote", "--repair")
    assert res.rc == 1
    line = next(ln for ln in res.out.splitlines() if ln.startswith("wrong size on store"))
    assert f"sha256:{oid}" in line and "models/m.pt" in line and first[:12] in line, res.out
    assert "not repaired" in line
    assert "hint:" in res.err


def test_fsck_remote_finds_what_needs_each_bad_object_in_one_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Which artifacts and commits need each bad object is found in one pass over the pointers
    and their manifests, not one pass per problem (that was quadratic: 1,000 missing files
    0.5 s, 3,000 3.1 s); each problem still names every commit that needs it."""
    import json

    from gitmv.objects.cache import Cache

    with remote_of("local", tmp_path) as remote:
        alice = repo_with(tmp_path, remote)
        files = {f"f{i}.bin": os.urandom(50) for i in range(300)}
        commits = []
        for version in range(3):
            files["f0.bin"] = os.urandom(50 + version)
            save_dir(alice, "data", files, f"v{version}")
            commits.append(git_ok(alice, "rev-parse", "HEAD").stdout.strip())
        assert run(capsys, alice, "push", "--all-commits").rc == 0
        for data in files.values():
            remote.delete(sha(data))
        reads = []
        real = Cache.read_manifest

        def counted(cache: Cache, oid: str, where: str) -> object:
            reads.append(oid)
            return real(cache, oid, where)

        monkeypatch.setattr(Cache, "read_manifest", counted)
        res = run(capsys, alice, "fsck", "--remote", "--json")
    assert res.rc == 1
    problems = {p["oid"]: p for p in json.loads(res.out)["remote"]["problems"]}
    assert set(problems) == {f"sha256:{sha(d)}" for d in files.values()}
    assert problems[f"sha256:{sha(files['f7.bin'])}"]["paths"] == ["data/f7.bin"]
    assert set(problems[f"sha256:{sha(files['f7.bin'])}"]["commits"]) == set(commits)
    assert problems[f"sha256:{sha(files['f0.bin'])}"]["commits"] == [commits[-1]]
    assert len(reads) < 50, len(reads)  # a few per pointer; it was one per pointer and problem


# --- a pointer whose size disagrees with its object -----------------------------------------------


def test_fsck_reports_a_pointer_whose_size_is_not_its_objects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = init_hooked(tmp_path / "repo")
    data = os.urandom(5000)
    oid = save(repo, "m.pt", data, "model")
    pointer = (repo / "m.pt.mvm").read_text()
    assert read_pointer(repo, "m.pt")["size"] == len(data)
    write(repo / "m.pt.mvm", pointer.replace(f"size = {len(data)}", f"size = {len(data) + 7}"))
    git_ok(repo, "commit", "-q", "--no-verify", "-am", "hand-edited size")
    res = run(capsys, repo, "fsck")
    assert res.rc == 1
    assert "m.pt" in res.out and f"sha256:{oid}" in res.out and str(len(data) + 7) in res.out
    assert oid in cache_objects(repo)  # the object is fine: nothing moved aside
    assert error_lines(res.err) == []


# --- the invariant, over a seeded random history of damage and lies -------------------------------


def committed_objects(repo: Path) -> dict[str, int]:
    """{oid: size} of every object a pointer of any commit names (a directory: its manifest
    and its files)."""
    import subprocess

    from gitmv.objects import manifest
    from gitmv.objects.pointer import Pointer

    out = subprocess.run(["git", "log", "--all", "--format=", "--raw", "--no-abbrev", "-z",
                          "--diff-filter=d", "--", "*.mvm"], cwd=repo, capture_output=True,
                         check=True).stdout.split(b"\0")
    blobs = {f.split()[3].decode() for f in out if f.lstrip(b"\n").startswith(b":")}
    objects: dict[str, int] = {}
    for blob in blobs:
        data = subprocess.run(["git", "cat-file", "blob", blob], cwd=repo, capture_output=True,
                              check=True).stdout
        ptr = Pointer.parse(data, blob)
        if ptr.kind == "file":
            objects[ptr.oid] = ptr.size
            continue
        listing = object_path(repo, ptr.oid).read_bytes()
        objects[ptr.oid] = len(listing)
        objects.update((e.oid, e.size) for e in manifest.parse(listing, blob))
    return objects


def holds_whole(remote: Remote, oid: str) -> bool:
    held = remote.read(oid)
    return held is not None and sha(held) == oid


def assert_all_on_store(repo: Path, remote: Remote, seed: int, step: str,
                        skip: set[str] | frozenset[str] = frozenset()) -> None:
    for oid, size in committed_objects(repo).items():
        if oid in skip:
            continue
        held = remote.read(oid)
        assert held is not None and len(held) == size and sha(held) == oid, (
            f"seed {seed}, after {step}: a push exited 0 but the store does not hold "
            f"sha256:{oid} whole")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_push_that_exits_0_leaves_every_committed_object_on_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, seed: int
) -> None:
    """Commits, damage on the store (objects deleted, cut short, other bytes of another
    size), corrupt cache objects, a server that lies about PUTs, in a seeded random order;
    after every `push --all-commits --full` that exits 0 the store holds every committed
    object whole. (`--full`: a plain push lets a directory's manifest on the store stand for
    its files, so damage to those behind gitmv's back is `--full`'s to find.) Same-size
    damage is for `fsck --remote --verify --repair`, checked the same way at the end. An
    object the test damages in both places (its cache copy rotted and moved aside, then its
    store copy damaged, or the other way round) is truly lost: fsck must name it as not
    repairable and repair the rest."""
    import random

    rng = random.Random(seed)
    with remote_of(kind, tmp_path) as remote, \
            FaultServer(tmp_path / "lying-root", faults=Faults(lie_put=True)) as liar:
        alice = repo_with(tmp_path, remote)
        files: dict[str, bytes] = {}
        lost: set[str] = set()
        log: list[str] = []  # what each step did, for the failure message
        for step in range(14):
            action = rng.choice(["commit", "commit", "dir", "delete", "truncate", "replace",
                                 "rot-cache", "lie"] if files else ["commit"])
            oids = sorted(committed_objects(alice)) if files else []
            if action == "commit":
                rel = f"m{rng.randrange(4)}.pt"
                files[rel] = os.urandom(rng.randrange(1, 300_000))
                save(alice, rel, files[rel], f"step {step}")
            elif action == "dir":
                save_dir(alice, "data", {f"f{i}.bin": os.urandom(rng.randrange(1, 5000))
                                         for i in range(rng.randrange(1, 6))}, f"step {step}")
                files["data"] = b""
            elif action in ("delete", "truncate", "replace") and oids:
                oid = rng.choice(oids)
                held = remote.read(oid)
                if oid not in cache_objects(alice):  # the store held the only copy
                    lost.add(oid)
                if action == "delete":
                    remote.delete(oid)
                elif held:
                    remote.write(oid, held[: len(held) // 2] if action == "truncate"
                                 else held + b"more")
            elif action == "rot-cache" and oids:
                oid = rng.choice(oids)
                if object_path(alice, oid).exists():
                    if not holds_whole(remote, oid):  # the cache held the only copy
                        lost.add(oid)
                    data = object_path(alice, oid).read_bytes()
                    corrupt_object(object_path(alice, oid), flip(data) if data else b"x")
            if action == "lie" and kind == "http":
                configure_url(alice, remote.url, f"{liar.url}/store")
            res = run(capsys, alice, "push", "--all-commits", "--full")
            configure_url(alice, f"{liar.url}/store", remote.url)
            hit = oid[:12] if oids and action in ("delete", "truncate", "replace", "rot-cache") \
                else ""
            log.append(f"step {step}: {action} {hit} -> push {res.rc}")
            if res.rc == 0:
                assert_all_on_store(alice, remote, seed, "; ".join(log))
            else:
                assert "Traceback" not in res.err
            # a rotten cache copy is found and healed the way the user would: fsck, then add
            if run(capsys, alice, "fsck").rc != 0:
                for rel in files:
                    assert mvm(alice, "add", "-q", rel) == 0
            lost -= set(cache_objects(alice))  # back in the cache: `add` of the same bytes
        in_cache = cache_objects(alice)
        for oid in committed_objects(alice):  # same-size damage: for fsck --verify
            held = remote.read(oid)  # (not on Git LFS, which takes no other bytes for it)
            if held and rng.random() < 0.3 and kind != "lfs":
                remote.write(oid, flip(held))
                if oid not in in_cache:
                    lost.add(oid)
        res = run(capsys, alice, "fsck", "--remote", "--verify", "--repair")
        if not lost:
            assert res.rc == 0, f"seed {seed}: {res.out}{res.err}\n" + "\n".join(log)
        else:
            assert res.rc == 1, f"seed {seed}: {res.out}{res.err}\n" + "\n".join(log)
            unrepaired = {m.group(1) for line in res.out.splitlines() if "not repaired" in line
                          for m in [re.search(r"sha256:([0-9a-f]{64})", line)] if m}
            assert unrepaired and unrepaired <= lost, f"seed {seed}: {lost}: {res.out}"
        assert_all_on_store(alice, remote, seed, "fsck --remote --verify --repair", skip=lost)


def configure_url(repo: Path, old: str, new: str) -> None:
    cfg = repo / ".mvm" / "config.toml"
    cfg.write_text(cfg.read_text().replace(f'"{old}"', f'"{new}"'))
