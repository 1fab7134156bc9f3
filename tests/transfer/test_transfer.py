"""push / fetch / pull / clone / remote / status --remote over the local directory store, and
the transfer engine's behaviour: verification, atomic placement, collected failures.

Remotes are real directories and real bare repositories; clones are real `git clone`s.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitmv.hooks.install import shim
from tests.helpers import (
    HOOK_NAMES,
    assert_cache_sound,
    assert_store_sound,
    cache_objects,
    clone_hooked,
    configure,
    corrupt_object,
    corrupt_remote_object,
    dataset_files,
    delete_remote_object,
    error_lines,
    git,
    git_ok,
    gitmv_temp_files,
    init_bare,
    init_hooked,
    mvm,
    object_path,
    oid_hex,
    read_pointer,
    remote_oids,
    remote_store,
    run,
    run_json,
    save,
    save_dir,
    sha,
    staged,
    tree_digest,
    write,
)
from tests.storefiles import DirFiles, delete_object, object_ids


def plain_clone(url: Path | str, dest: Path) -> Path:
    """`git clone` alone: no hooks, so no artifact bytes yet."""
    proc = subprocess.run(["git", "clone", "-q", str(url), str(dest)], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return dest


def shared_config(repo: Path) -> dict[str, object]:
    return tomllib.loads((repo / ".mvm" / "config.toml").read_text())


def every_file_bytes(root: Path) -> set[bytes]:
    return {p.read_bytes() for p in root.rglob("*") if p.is_file() and ".git" not in p.parts}


@pytest.fixture
def published(tmp_path: Path) -> tuple[Path, Path, bytes, dict[str, str]]:
    """A bare repository and alice's repo that pushed models/m.pt and data/train to it."""
    bare = init_bare(tmp_path / "srv.git")
    alice = init_hooked(tmp_path / "alice", bare)
    model = os.urandom(5000)
    save(alice, "models/m.pt", model)
    digest = save_dir(alice, "data/train", dataset_files(n=8), "models")
    git_ok(alice, "push", "-q", "-u", "origin", "main")
    return bare, alice, model, digest


# --- the zero-config remote ----------------------------------------------------------------


def test_zero_config_push_clone_pull(
    published: tuple[Path, Path, bytes, dict[str, str]], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare, alice, model, digest = published
    assert "remote" not in shared_config(alice)
    assert set(cache_objects(alice)) <= remote_oids(bare)
    assert_store_sound(remote_store(bare))

    bob = plain_clone(bare, tmp_path / "bob")
    assert not (bob / "models" / "m.pt").exists()
    res = run(capsys, bob, "pull")
    assert res.rc == 0, res.err
    assert (bob / "models" / "m.pt").read_bytes() == model
    assert tree_digest(bob / "data" / "train") == digest

    model2 = os.urandom(5000)
    save(alice, "models/m.pt", model2, "v2")
    git_ok(alice, "push", "-q")
    assert mvm(bob, "install", "-q") == 0
    git_ok(bob, "pull", "-q", "--ff-only")
    assert (bob / "models" / "m.pt").read_bytes() == model2


def test_pull_hashes_a_large_object_once(
    published: tuple[Path, Path, bytes, dict[str, str]], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A download is verified while it streams; the checkout that follows copies it without
    hashing it again. An object that was already in the cache is still verified on the way
    out (a corrupt one never reaches the work tree)."""
    import gitmv.objects.cache

    bare, alice, _, _ = published
    big = os.urandom(3 << 20)
    save(alice, "models/big.pt", big, "big")
    git_ok(alice, "push", "-q")
    bob = plain_clone(bare, tmp_path / "bob")
    hashed: list[int] = []
    real_copy, real_hash = gitmv.objects.cache.copy_and_hash, gitmv.objects.cache.hash_fd

    def spy_copy(src: int, dst: int, size: int) -> tuple[str, int]:
        hashed.append(size)
        return real_copy(src, dst, size)

    def spy_hash(fd: int, size: int) -> tuple[str, int]:
        hashed.append(size)
        return real_hash(fd, size)

    monkeypatch.setattr(gitmv.objects.cache, "copy_and_hash", spy_copy)
    monkeypatch.setattr(gitmv.objects.cache, "hash_fd", spy_hash)
    assert mvm(bob, "pull", "-q") == 0
    assert (bob / "models" / "big.pt").read_bytes() == big
    assert hashed == []
    (bob / "models" / "big.pt").unlink()
    corrupt_object(object_path(bob, sha(big)), os.urandom(len(big)))
    assert mvm(bob, "checkout", "-q", "models/big.pt") == 1  # a new command: verified again
    assert hashed == [len(big)]
    assert not (bob / "models" / "big.pt").exists()


def test_a_pull_reads_and_parses_each_manifest_once(
    published: tuple[Path, Path, bytes, dict[str, str]], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fetching a directory's files, checking them out and recording what was written all
    need its manifest: it is read (and verified) once and parsed once, then handed down."""
    import gitmv.objects.cache
    from gitmv.objects import manifest

    bare, alice, _, digest = published
    save_dir(alice, "data/val", dataset_files(n=5, tag=b"val"), "val")
    git_ok(alice, "push", "-q")
    bob = plain_clone(bare, tmp_path / "bob")
    dirs = {oid_hex(read_pointer(bob, d)["oid"]) for d in ("data/train", "data/val")}
    parsed: list[bytes] = []
    read: list[str] = []
    real_parse, real_read = manifest.parse, gitmv.objects.cache.Cache.read_bytes

    def spy_parse(data: bytes, where: str) -> list[manifest.Entry]:
        parsed.append(data)
        return real_parse(data, where)

    def spy_read(cache: gitmv.objects.cache.Cache, oid: str) -> bytes:
        read.append(oid)
        return real_read(cache, oid)

    monkeypatch.setattr(manifest, "parse", spy_parse)
    monkeypatch.setattr(gitmv.objects.cache.Cache, "read_bytes", spy_read)
    assert mvm(bob, "pull", "-q") == 0
    assert tree_digest(bob / "data" / "train") == digest
    assert sorted(sha(d) for d in parsed) == sorted(dirs)
    assert sorted(o for o in read if o in dirs) == sorted(dirs)


def test_pulling_from_a_non_bare_repository_reads_its_cache(tmp_path: Path) -> None:
    alice = init_hooked(tmp_path / "alice")
    model = os.urandom(3000)
    save(alice, "m.pt", model, "v1")
    bob = plain_clone(alice, tmp_path / "bob")
    assert mvm(bob, "pull", "-q") == 0
    assert (bob / "m.pt").read_bytes() == model


def test_pull_uses_the_branch_upstream_remote(tmp_path: Path) -> None:
    bare = init_bare(tmp_path / "srv.git")
    alice = init_hooked(tmp_path / "alice")
    git(alice, "remote", "add", "upstream", str(bare))
    model = os.urandom(3000)
    save(alice, "m.pt", model, "v1")
    git_ok(alice, "push", "-q", "-u", "upstream", "main")
    bob = tmp_path / "bob"
    git(tmp_path, "clone", "-q", "-o", "upstream", str(bare), str(bob))
    assert git(bob, "remote").split() == ["upstream"]
    assert mvm(bob, "pull", "-q") == 0
    assert (bob / "m.pt").read_bytes() == model


def test_no_remote_at_all_is_one_error_with_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = init_hooked(tmp_path / "alice")
    save(alice, "m.pt", os.urandom(100), "v1")
    res = run(capsys, alice, "push")
    assert res.rc == 1
    assert len(error_lines(res.err)) == 1
    assert "no remote" in res.err
    assert "git mvm remote add" in res.err


def test_missing_remote_repository_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = init_hooked(tmp_path / "alice", tmp_path / "gone.git")
    save(alice, "m.pt", os.urandom(100), "v1")
    res = run(capsys, alice, "push")
    assert res.rc == 1
    assert "gone.git" in res.err
    assert "does not exist" in res.err


# --- git mvm remote ------------------------------------------------------------------------


def test_remote_add_list_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = init_hooked(tmp_path / "repo")
    assert mvm(repo, "remote", "add", "nas", str(tmp_path / "nas")) == 0
    cfg = shared_config(repo)
    assert cfg["remote"] == {"nas": {"url": str(tmp_path / "nas")}}
    assert ".mvm/config.toml" in staged(repo)
    assert run_json(capsys, repo, "remote", "list") == [
        {"name": "nas", "url": str(tmp_path / "nas"), "default": False}
    ]

    assert mvm(repo, "remote", "add", "--default", "share", f"file://{tmp_path}/share") == 0
    assert shared_config(repo)["core"] == {"remote": "share"}
    listed = {r["name"]: r for r in run_json(capsys, repo, "remote", "list")}
    assert listed["share"]["default"] is True
    assert listed["nas"]["default"] is False
    res = run(capsys, repo, "remote", "list")
    assert "* share" in res.out

    assert mvm(repo, "remote", "remove", "share") == 0
    cfg = shared_config(repo)
    assert "share" not in cfg["remote"]  # type: ignore[operator]
    assert "remote" not in cfg.get("core", {})  # type: ignore[operator]
    assert mvm(repo, "remote", "remove", "nas") == 0
    assert run_json(capsys, repo, "remote", "list") == []


def test_remote_add_local_is_never_committed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = init_hooked(tmp_path / "repo")
    before = (repo / ".mvm" / "config.toml").read_text()
    assert mvm(repo, "remote", "add", "--local", "--default", "mine", str(tmp_path / "mine")) == 0
    assert (repo / ".mvm" / "config.toml").read_text() == before
    local = tomllib.loads((repo / ".git" / "mvm" / "config.toml").read_text())
    assert local["remote"]["mine"]["url"] == str(tmp_path / "mine")
    assert local["core"]["remote"] == "mine"
    assert staged(repo) == set()
    assert run_json(capsys, repo, "remote", "list") == [
        {"name": "mine", "url": str(tmp_path / "mine"), "default": True}
    ]
    # the local default is the one push uses
    oid = save(repo, "m.pt", os.urandom(300), "v1")
    assert mvm(repo, "push", "-q") == 0
    assert oid in store_oids(tmp_path / "mine")
    assert mvm(repo, "remote", "remove", "--local", "mine") == 0
    assert run_json(capsys, repo, "remote", "list") == []


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["remote", "add", "x"], 2, "URL"),
        (["remote", "remove"], 2, "NAME"),
        (["remote", "remove", "nope"], 1, "nope"),
        (["remote", "add", "web", "gopher://example.invalid/x"], 1, "unsupported URL"),
    ],
)
def test_remote_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, needle: str
) -> None:
    repo = init_hooked(tmp_path / "repo")
    res = run(capsys, repo, *args)
    assert res.rc == code
    assert needle in res.err
    assert "Traceback" not in res.err


def test_remote_add_twice_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = init_hooked(tmp_path / "repo")
    assert mvm(repo, "remote", "add", "nas", str(tmp_path / "a")) == 0
    res = run(capsys, repo, "remote", "add", "nas", str(tmp_path / "b"))
    assert res.rc == 1
    assert "already exists" in res.err
    assert "git mvm remote remove nas" in res.err
    assert shared_config(repo)["remote"] == {"nas": {"url": str(tmp_path / "a")}}


# --- push / fetch / pull with a named directory store --------------------------------------


def _with_store(tmp_path: Path, *flags: str) -> tuple[Path, Path, bytes, dict[str, str]]:
    bare = init_bare(tmp_path / "srv.git")
    repo = init_hooked(tmp_path / "alice", bare)
    store = tmp_path / "store"
    assert mvm(repo, "remote", "add", *flags, "store", str(store)) == 0
    model = os.urandom(4000)
    save(repo, "models/m.pt", model)
    digest = save_dir(repo, "data/train", dataset_files(n=10), "artifacts")
    return repo, store, model, digest


@pytest.fixture
def with_store(tmp_path: Path) -> tuple[Path, Path, bytes, dict[str, str]]:
    """A repo (bare origin) with a `store` remote (layout 2, the default), a model and a
    dataset, committed."""
    return _with_store(tmp_path)


@pytest.fixture
def with_loose_store(tmp_path: Path) -> tuple[Path, Path, bytes, dict[str, str]]:
    """The same with the store kept in layout 1 (`remote add --no-packs`): for what is about
    loose objects on a store (their files, modes, fan-out directories, flushes, temps)."""
    return _with_store(tmp_path, "--no-packs")


def store_oids(store: Path) -> set[str]:
    """The objects a directory store holds, loose or packed."""
    return object_ids(DirFiles(store))


def test_push_to_a_named_store_uses_the_cache_layout(
    with_loose_store: tuple[Path, Path, bytes, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    repo, store, model, _ = with_loose_store
    res = run(capsys, repo, "push", "store")
    assert res.rc == 0, res.err
    assert store_oids(store) == set(cache_objects(repo))
    objects = assert_cache_sound(repo, store)  # every object whole, nothing else left there
    for path in objects.values():
        assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert object_path(repo, sha(model), store).read_bytes() == model
    assert "pushed 12 objects" in res.err  # the model, 10 files and the manifest
    res = run(capsys, repo, "push", "--remote", "store")
    assert "pushed 0 objects" in res.err
    assert "12 already there" in res.err


def test_push_sends_only_what_changed_in_a_dataset(
    with_store: tuple[Path, Path, bytes, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    repo, _, _, _ = with_store
    assert mvm(repo, "push", "-q", "store") == 0
    write(repo / "data" / "train" / "extra.bin", os.urandom(100))
    assert mvm(repo, "add", "-q", "data/train") == 0
    res = run(capsys, repo, "push", "store", "data/train")
    assert res.rc == 0, res.err
    assert "pushed 2 objects" in res.err  # the new file and the new manifest


def test_push_named_paths_only(
    with_store: tuple[Path, Path, bytes, dict[str, str]]
) -> None:
    repo, store, model, _ = with_store
    assert mvm(repo, "push", "-q", "store", "models/m.pt") == 0
    assert store_oids(store) == {sha(model)}
    assert mvm(repo, "push", "-q", "--remote", "store", "data/train") == 0
    assert store_oids(store) == set(cache_objects(repo))


def test_push_all_commits_sends_old_versions(
    with_store: tuple[Path, Path, bytes, dict[str, str]], tmp_path: Path
) -> None:
    repo, store, first, _ = with_store
    old = [sha(first)]
    for i in range(2):
        old.append(save(repo, "models/m.pt", os.urandom(4000), f"v{i + 2}"))
    git_ok(repo, "checkout", "-q", "-b", "side")
    side = save(repo, "models/other.pt", os.urandom(100), "side branch")
    git_ok(repo, "checkout", "-q", "main")
    assert mvm(repo, "push", "-q", "store") == 0
    assert old[-1] in store_oids(store)
    assert not {old[0], old[1], side} & store_oids(store)
    assert mvm(repo, "push", "-q", "store", "--all-commits") == 0
    assert {*old, side} <= store_oids(store)
    # a clone can get every version from the store
    git_ok(repo, "push", "-q", "--no-verify", "origin", "main", "side")
    bob = clone_hooked(tmp_path / "srv.git", tmp_path / "bob")
    write(bob / ".git" / "mvm" / "config.toml", '[core]\nremote = "store"\n')
    for i, oid in enumerate(old):
        git_ok(bob, "checkout", "-q", f"main~{len(old) - 1 - i}")
        assert sha((bob / "models" / "m.pt").read_bytes()) == oid


def test_fetch_then_pull_by_path(
    with_store: tuple[Path, Path, bytes, dict[str, str]], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo, _, model, digest = with_store
    assert mvm(repo, "push", "-q", "store") == 0
    git_ok(repo, "push", "-q", "--no-verify", "origin", "main")
    bob = plain_clone(tmp_path / "srv.git", tmp_path / "bob")
    res = run(capsys, bob, "fetch", "store", "models/m.pt")
    assert res.rc == 0, res.err
    assert set(cache_objects(bob)) == {sha(model)}
    assert not (bob / "models" / "m.pt").exists()  # fetch does not check out
    assert mvm(bob, "pull", "-q", "--remote", "store", "data/train") == 0
    assert tree_digest(bob / "data" / "train") == digest
    assert not (bob / "models" / "m.pt").exists()
    assert mvm(bob, "pull", "-q", "store") == 0
    assert (bob / "models" / "m.pt").read_bytes() == model
    assert set(cache_objects(bob)) == set(cache_objects(repo))
    assert gitmv_temp_files(bob) == []


def test_default_remote_from_config(
    with_store: tuple[Path, Path, bytes, dict[str, str]], tmp_path: Path
) -> None:
    repo, store, model, _ = with_store
    assert mvm(repo, "remote", "remove", "store") == 0
    assert mvm(repo, "remote", "add", "--default", "store", f"file://{store}") == 0
    git_ok(repo, "commit", "-q", "-m", "default store")
    git_ok(repo, "push", "-q", "origin", "main")  # the pre-push hook uses core.remote
    assert sha(model) in store_oids(store)
    assert remote_oids(tmp_path / "srv.git") == set()
    bob = clone_hooked(tmp_path / "srv.git", tmp_path / "bob")
    assert mvm(bob, "pull", "-q") == 0
    assert (bob / "models" / "m.pt").read_bytes() == model


def test_unknown_remote_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = init_hooked(tmp_path / "repo")
    save(repo, "m.pt", os.urandom(100), "v1")
    res = run(capsys, repo, "push", "--remote", "nowhere")
    assert res.rc == 1
    assert "nowhere" in res.err
    assert "git mvm remote list" in res.err


@pytest.mark.parametrize("jobs", ["1", "4"])
def test_jobs_give_the_same_result(
    tmp_path: Path, jobs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = init_hooked(tmp_path / "repo")
    digest = save_dir(repo, "data", dataset_files(n=30, size=64), "data")
    store = tmp_path / "store"
    assert mvm(repo, "remote", "add", "store", str(store)) == 0
    res = run(capsys, repo, "push", "store", "-j", jobs)
    assert res.rc == 0
    assert "\r" not in res.err  # no progress bar when stderr is not a terminal
    shutil.rmtree(repo / "data")
    shutil.rmtree(repo / ".git" / "mvm" / "objects")
    res = run(capsys, repo, "pull", "store", "-j", jobs)
    assert res.rc == 0, res.err
    assert "\r" not in res.err
    assert tree_digest(repo / "data") == digest


# --- status --remote -----------------------------------------------------------------------


def test_status_remote_reports_what_is_not_pushed(
    with_store: tuple[Path, Path, bytes, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    repo, _, _, _ = with_store
    res = run(capsys, repo, "status", "--remote", "store")
    assert res.rc == 0
    lines = {ln.split()[-1]: ln for ln in res.out.splitlines()}
    assert "not on store" in lines["models/m.pt"]
    assert "not on store" in lines["data/train"]
    assert mvm(repo, "push", "-q", "store", "models/m.pt") == 0
    items = {i["path"]: i for i in run_json(capsys, repo, "status", "--remote", "store")}
    assert items["models/m.pt"]["on_remote"] is True
    assert items["data/train"]["on_remote"] is False
    assert mvm(repo, "push", "-q", "store") == 0
    res = run(capsys, repo, "status", "--remote", "store")
    assert "not on" not in res.out


def test_status_remote_with_zero_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    bare = init_bare(tmp_path / "srv.git")
    repo = init_hooked(tmp_path / "repo", bare)
    save(repo, "m.pt", os.urandom(100), "v1")
    res = run(capsys, repo, "status", "--remote")
    assert "not on origin" in res.out
    git_ok(repo, "push", "-q", "origin", "main")
    res = run(capsys, repo, "status", "--remote")
    assert res.rc == 0
    assert "not on" not in res.out


def test_manifest_on_the_store_stands_for_its_files(
    with_store: tuple[Path, Path, bytes, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """A push checks a pushed directory's manifest, not its files; `status --remote` checks
    every file and `push --full` repairs a store that lost one behind gitmv's back."""
    repo, store, _, _ = with_store
    assert mvm(repo, "push", "-q", "store") == 0
    manifest = oid_hex(read_pointer(repo, "data/train")["oid"])
    lost = sorted(o for o in store_oids(store) if o != manifest
                  and o != sha((repo / "models" / "m.pt").read_bytes()))[0]
    delete_object(DirFiles(store), lost)
    res = run(capsys, repo, "push", "store")
    assert res.rc == 0, res.err
    assert "pushed 0 objects" in res.err
    assert lost not in store_oids(store)  # the manifest vouched for it: not checked
    res = run(capsys, repo, "status", "--remote", "store")
    assert "not on store:" in res.out and "data/train" in res.out
    assert "--full" in res.err
    res = run(capsys, repo, "push", "--full", "store")
    assert res.rc == 0, res.err
    assert "pushed 1 object" in res.err
    assert lost in store_oids(store)
    assert_store_sound(DirFiles(store))


def test_status_remote_for_a_directory_missing_one_file(
    with_store: tuple[Path, Path, bytes, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    repo, store, _, _ = with_store
    assert mvm(repo, "push", "-q", "store") == 0
    some = oid_hex(read_pointer(repo, "data/train")["oid"])
    files = [o for o in store_oids(store) if o != some]
    delete_object(DirFiles(store), files[0])
    items = {i["path"]: i for i in run_json(capsys, repo, "status", "--remote", "store")}
    assert sum(not i["on_remote"] for i in items.values()) == 1


# --- verification and collected failures ---------------------------------------------------


def test_corrupt_remote_object_never_reaches_cache_or_work_tree(
    published: tuple[Path, Path, bytes, dict[str, str]], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare, _, model, digest = published
    oid = sha(model)
    bad = b"corrupted on the server " * 50
    corrupt_remote_object(bare, oid, bad)
    bob = plain_clone(bare, tmp_path / "bob")
    res = run(capsys, bob, "pull")
    assert res.rc == 1
    assert f"sha256:{oid}" in res.err
    assert oid not in cache_objects(bob)
    assert_cache_sound(bob)
    assert gitmv_temp_files(bob) == []
    assert not (bob / "models" / "m.pt").exists()
    assert bad not in every_file_bytes(bob)
    assert tree_digest(bob / "data" / "train") == digest  # the good artifact still arrived


def test_corrupt_remote_object_is_refused_by_the_checkout_hook(tmp_path: Path) -> None:
    bare = init_bare(tmp_path / "srv.git")
    alice = init_hooked(tmp_path / "alice", bare)
    save(alice, "m.pt", os.urandom(2000), "v1")
    git_ok(alice, "checkout", "-q", "-b", "exp")
    oid = save(alice, "m.pt", os.urandom(2000), "v2")
    git_ok(alice, "push", "-q", "origin", "main", "exp")
    bad = b"corrupted on the server " * 50
    corrupt_remote_object(bare, oid, bad)
    bob = clone_hooked(bare, tmp_path / "bob")
    proc = git_ok(bob, "checkout", "exp")  # a checkout never fails for a missing object
    assert f"sha256:{oid}" in proc.stderr
    assert "git mvm pull" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert oid not in cache_objects(bob)
    assert bad not in every_file_bytes(bob)
    assert gitmv_temp_files(bob) == []


def test_corrupt_file_of_a_remote_directory_is_refused(
    published: tuple[Path, Path, bytes, dict[str, str]], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare, alice, _, _ = published
    manifest = oid_hex(read_pointer(alice, "data/train")["oid"])
    victim = next(p for p in (alice / "data" / "train").rglob("*.bin"))
    oid = sha(victim.read_bytes())
    assert oid != manifest
    bad = b"flipped bits"
    corrupt_remote_object(bare, oid, bad)
    bob = plain_clone(bare, tmp_path / "bob")
    res = run(capsys, bob, "fetch")
    assert res.rc == 1
    assert f"sha256:{oid}" in res.err
    assert oid not in cache_objects(bob)
    assert manifest in cache_objects(bob)
    assert_cache_sound(bob)
    assert bad not in every_file_bytes(bob)


def test_fetch_failures_are_collected_and_reported_together(
    published: tuple[Path, Path, bytes, dict[str, str]], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare, alice, model, _ = published
    files = sorted(p for p in (alice / "data" / "train").rglob("*.bin"))
    gone = [sha(files[0].read_bytes()), sha(files[1].read_bytes())]
    for oid in gone:
        delete_remote_object(bare, oid)
    corrupt = sha(files[2].read_bytes())
    corrupt_remote_object(bare, corrupt)
    bob = plain_clone(bare, tmp_path / "bob")
    res = run(capsys, bob, "fetch")
    assert res.rc == 1
    for oid in [*gone, corrupt]:
        assert f"sha256:{oid}" in res.err
    assert "3 objects failed" in res.err
    assert len(error_lines(res.err)) == 1
    # everything else arrived: failures do not stop the batch
    fetched = set(cache_objects(bob))
    assert sha(model) in fetched
    assert {sha(f.read_bytes()) for f in files[3:]} <= fetched
    assert_cache_sound(bob)


def test_push_failures_are_collected_and_reported_together(
    with_store: tuple[Path, Path, bytes, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    repo, _, model, _ = with_store
    files = sorted(p for p in (repo / "data" / "train").rglob("*.bin"))
    lost = [sha(files[0].read_bytes()), sha(model)]
    for oid in lost:
        object_path(repo, oid).unlink()
    res = run(capsys, repo, "push", "store")
    assert res.rc == 1
    for oid in lost:
        assert f"sha256:{oid}" in res.err
    assert "2 objects failed" in res.err
    assert "hint:" in res.err


def test_store_write_errors_are_collected_per_object(
    with_loose_store: tuple[Path, Path, bytes, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    repo, store, _, _ = with_loose_store
    store.write_bytes(b"a file where the store directory should be")
    res = run(capsys, repo, "push", "store", "models/m.pt", "data/train")
    assert res.rc == 1
    assert "Traceback" not in res.err
    assert "cannot create" in res.err
    # every file object failed and is counted (the manifest waits for its files); the first
    # ten are listed one per line
    assert "11 objects failed" in res.err
    assert res.err.count("\n  sha256:") == 10
    assert "and 1 more" in res.err


def test_a_directory_store_is_flushed_before_manifests_name_its_files(
    with_loose_store: tuple[Path, Path, bytes, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import gitmv.remotes.local as local

    flushed: list[set[str]] = []
    real = local.flush_to_disk

    def spy(paths: list[str], any_path: str) -> None:
        flushed.append({os.path.basename(p) for p in paths})
        real(paths, any_path)

    monkeypatch.setattr(local, "flush_to_disk", spy)
    repo, store, _, _ = with_loose_store
    assert mvm(repo, "push", "-q", "store") == 0
    manifest = oid_hex(read_pointer(repo, "data/train")["oid"])
    assert len(flushed) == 2
    assert flushed[0] == store_oids(store) - {manifest}  # every file object, then
    assert flushed[1] == {manifest}  # the manifest that names them
    assert mvm(repo, "push", "-q", "store") == 0
    assert len(flushed) == 2  # nothing written, nothing flushed


def test_manifest_is_uploaded_after_its_files(
    with_loose_store: tuple[Path, Path, bytes, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """If a file of a directory cannot go up, its manifest does not go either, so the store
    never names files it lacks."""
    repo, store, _, _ = with_loose_store
    manifest = oid_hex(read_pointer(repo, "data/train")["oid"])
    victim = sha(next((repo / "data" / "train").rglob("*.bin")).read_bytes())
    # a file where the victim's fan-out directory would go: its upload fails
    write(store / victim[:2] / victim[2:4], b"in the way")
    res = run(capsys, repo, "push", "store", "data/train")
    assert res.rc == 1
    assert f"sha256:{victim}" in res.err
    assert manifest not in store_oids(store)


# --- git mvm clone -------------------------------------------------------------------------


def test_mvm_clone_installs_hooks_and_pulls(
    published: tuple[Path, Path, bytes, dict[str, str]], tmp_path: Path
) -> None:
    bare, alice, model, digest = published
    assert mvm(tmp_path, "clone", "-q", str(bare)) == 0  # run in tmp_path
    bob = tmp_path / "srv"  # the name git would pick
    assert (bob / "models" / "m.pt").read_bytes() == model
    assert tree_digest(bob / "data" / "train") == digest
    for name in HOOK_NAMES:
        assert (bob / ".git" / "hooks" / name).read_bytes() == shim(name)
    # the hooks work from then on
    model2 = os.urandom(3000)
    save(alice, "models/m.pt", model2, "v2")
    git_ok(alice, "push", "-q")
    git_ok(bob, "pull", "-q", "--ff-only")
    assert (bob / "models" / "m.pt").read_bytes() == model2


def test_mvm_clone_leaves_tracked_files_alone(
    published: tuple[Path, Path, bytes, dict[str, str]], tmp_path: Path
) -> None:
    """A repository made before the diff driver existed: the clone gets the driver's line in
    its own info/attributes and starts with nothing to commit."""
    bare, alice, _, _ = published
    git_ok(alice, "rm", "-q", "--cached", ".gitattributes")
    (alice / ".gitattributes").unlink()
    git_ok(alice, "commit", "-q", "-m", "no attributes")
    git_ok(alice, "push", "-q")
    assert mvm(tmp_path, "clone", "-q", str(bare), "bob") == 0
    bob = tmp_path / "bob"
    assert git(bob, "status", "--porcelain") == ""
    assert not (bob / ".gitattributes").exists()
    assert "*.mvm diff=mvm" in (bob / ".git" / "info" / "attributes").read_text()
    assert git(bob, "check-attr", "diff", "--", "models/m.pt.mvm").strip().endswith(": mvm")


def test_mvm_clone_into_a_directory(
    published: tuple[Path, Path, bytes, dict[str, str]], tmp_path: Path
) -> None:
    bare, _, model, _ = published
    assert mvm(tmp_path, "clone", "-q", f"file://{bare}", str(tmp_path / "carol")) == 0
    assert (tmp_path / "carol" / "models" / "m.pt").read_bytes() == model


def test_mvm_clone_of_a_repository_without_mvm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    git(src, "init", "-q")
    write(src / "README", "hi\n")
    git(src, "add", "README")
    git(src, "commit", "-q", "-m", "init")
    res = run(capsys, tmp_path, "clone", str(src), str(tmp_path / "dst"))
    assert res.rc == 0
    assert "git mvm init" in res.err
    assert (tmp_path / "dst" / "README").exists()


def test_mvm_clone_failure_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    res = run(capsys, tmp_path, "clone", str(tmp_path / "nothing-here.git"), str(tmp_path / "x"))
    assert res.rc == 1
    assert "git clone" in res.err



def test_an_unexpected_error_in_a_file_upload_stops_the_manifest(
    with_loose_store: tuple[Path, Path, bytes, dict[str, str]], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An error the transfer engine does not collect per object (here a RuntimeError, as a
    bug or a library's own exception would be) fails the push, even when it happens early in
    a long run of parallel uploads, and the manifest does not go up without its files."""
    import threading

    import gitmv.remotes.local as local

    real = local.LocalStore.upload
    calls: list[str] = []
    lock = threading.Lock()

    def first_three_fail(self: local.LocalStore, oid: str, size: int, src: object) -> None:
        with lock:
            calls.append(oid)
            n = len(calls)
        if n <= 3:
            raise RuntimeError("boom")
        real(self, oid, size, src)  # type: ignore[arg-type]

    monkeypatch.setattr(local.LocalStore, "upload", first_three_fail)
    repo, store, _, _ = with_loose_store
    manifest = oid_hex(read_pointer(repo, "data/train")["oid"])
    res = run(capsys, repo, "push", "-j", "2", "store")  # 11 file objects, a window of 8
    assert res.rc == 1
    assert "unexpected RuntimeError: boom" in res.err
    assert manifest not in store_oids(store)


def test_already_there_counts_objects_only_the_store_has(
    with_store: tuple[Path, Path, bytes, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """An object gone from the cache but on the store is already there too, as is every
    object of a directory whose manifest is there: the count is the whole 12 each time."""
    repo, _, model, _ = with_store
    assert mvm(repo, "push", "-q", "store") == 0
    object_path(repo, sha(model)).unlink()
    for extra in ([], ["--full"]):
        res = run(capsys, repo, "push", *extra, "store")
        assert res.rc == 0, res.err
        assert "pushed 0 objects" in res.err
        assert "; 12 already there" in res.err


@pytest.mark.parametrize("packs", [True, False])
def test_gc_remote_keeps_the_old_files_of_a_recent_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], packs: bool
) -> None:
    """A directory pushed from another clone whose commit git does not have yet: its manifest
    is recent (kept), its files were already on the store (old). gc --remote keeps them, or
    the next push, trusting the manifest, would never send them again."""
    repo, store, _, _ = _with_store(tmp_path, *([] if packs else ["--no-packs"]))
    files = dataset_files(n=6)
    tmp_dir = repo / "data" / "tmp"
    for rel, data in files.items():
        write(tmp_dir / rel, data)
    assert mvm(repo, "add", "-q", "data/tmp") == 0
    assert mvm(repo, "push", "-q", "store", "data/tmp") == 0  # files + manifest A
    manifest_a = oid_hex(read_pointer(repo, "data/tmp")["oid"])
    old = store_oids(store)
    for path in store.rglob("*"):  # over an hour ago (loose objects, or packs and indexes)
        os.utime(path, (1_000_000_000, 1_000_000_000))
    write(tmp_dir / "extra.bin", b"one more file")
    assert mvm(repo, "add", "-q", "data/tmp") == 0
    assert mvm(repo, "push", "-q", "store", "data/tmp") == 0  # the new file + manifest B
    manifest_b = oid_hex(read_pointer(repo, "data/tmp")["oid"])
    named_by_b = {sha(data) for data in files.values()}
    assert named_by_b <= old
    # this clone forgets the directory: nothing it has names manifest B any more
    git_ok(repo, "rm", "-q", "--cached", "data/tmp.mvm")
    shutil.rmtree(tmp_dir)
    (repo / "data" / "tmp.mvm").unlink()
    res = run(capsys, repo, "gc", "--remote", "store")
    assert res.rc == 0, res.err
    left = store_oids(store)
    if not packs:  # (a pack with a live entry is kept whole: manifest A shares its pack)
        assert manifest_a not in left  # old and named by nothing: gone
    assert manifest_b in left
    assert named_by_b <= left


def test_push_full_with_a_manifest_only_the_store_has(
    with_store: tuple[Path, Path, bytes, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """--full cannot re-check the files of a manifest this clone lacks; the manifest on the
    store stands for them, as without --full (not 'neither in the cache nor on the remote')."""
    repo, _, _, _ = with_store
    assert mvm(repo, "push", "-q", "store") == 0
    manifest = oid_hex(read_pointer(repo, "data/train")["oid"])
    object_path(repo, manifest).unlink()
    res = run(capsys, repo, "push", "--full", "store")
    assert res.rc == 0, res.err
    assert "pushed 0 objects" in res.err
    assert "; 2 already there" in res.err  # the model and the manifest (its files unknown here)


# --- temp files left by a kill never block a later run, for any user ------------------------------

OTHER_USER = "gitmv-tester"


class OtherUser:
    """A user that is not root, and a workspace it owns (outside pytest's root-only temp
    dirs), to run gitmv as: the permission checks root skips are the ones under test."""

    def __init__(self, base: Path, uid: int, gid: int, python: str) -> None:
        self.base = base
        self.uid = uid
        self.gid = gid
        self.python = python
        self.home = base / "home"

    def own(self) -> None:
        """Give everything in the workspace to the user (files made as root in the test)."""
        for root, dirs, files in os.walk(self.base):
            for name in [*dirs, *files]:
                os.lchown(os.path.join(root, name), self.uid, self.gid)
        os.chown(self.base, self.uid, self.gid)

    def popen(self, cwd: Path, *args: str) -> subprocess.Popen[str]:
        env = {"HOME": str(self.home), "PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1",
               "LC_ALL": "C.UTF-8", "PYTHONPATH": _user_pythonpath(),
               "PYTHONDONTWRITEBYTECODE": "1"}
        prefix = [] if os.geteuid() != 0 else ["runuser", "-u", OTHER_USER, "--"]
        return subprocess.Popen([*prefix, self.python, "-m", "gitmv", *args], cwd=cwd, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def mvm(self, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        proc = self.popen(cwd, *args)
        out, err = proc.communicate(timeout=300)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _user_pythonpath() -> str:
    import site

    root = str(Path(__file__).resolve().parents[2])
    return os.pathsep.join([root, *site.getsitepackages()])


@pytest.fixture(scope="session")
def _other_user_python() -> tuple[int, int, str]:
    import pwd

    if os.geteuid() != 0:
        return os.getuid(), os.getgid(), sys.executable
    made = subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                           "/usr/sbin/nologin", OTHER_USER], capture_output=True, text=True)
    assert made.returncode in (0, 9), made.stderr  # 9: it exists (another worker made it)
    pw = pwd.getpwnam(OTHER_USER)
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": _user_pythonpath(), "HOME": "/"}
    # the test's interpreter may live where the user cannot go (/root/.pyenv): then the
    # system's python of the same version, with this interpreter's packages
    for python in dict.fromkeys([sys.executable, getattr(sys, "_base_executable", ""),
                                 f"/usr/bin/python{sys.version_info.major}."
                                 f"{sys.version_info.minor}"]):
        if not python:
            continue
        probe = subprocess.run(["runuser", "-u", OTHER_USER, "--", python, "-c",
                                "import gitmv.cli, requests, tomllib"],
                               env=env, capture_output=True, text=True)
        if probe.returncode == 0:
            return pw.pw_uid, pw.pw_gid, python
    pytest.fail(f"no python that user {OTHER_USER} can run gitmv with")


@pytest.fixture
def other_user(_other_user_python: tuple[int, int, str]) -> Iterator[OtherUser]:
    import tempfile

    uid, gid, python = _other_user_python
    base = Path(tempfile.mkdtemp(prefix="gitmv-user-"))
    user = OtherUser(base, uid, gid, python)
    user.home.mkdir()
    (user.home / ".gitconfig").write_text(
        "[user]\n\tname = Other\n\temail = other@example.com\n[init]\n\tdefaultBranch = main\n")
    try:
        yield user
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _published_for(user: OtherUser, n_files: int = 40, loose: bool = False
                   ) -> tuple[Path, dict[str, bytes]]:
    """A bare repository (and its objects) that alice pushed, and bob's plain clone of it,
    all owned by the user; `loose`: its store kept in layout 1."""
    bare = init_bare(user.base / "srv.git")
    alice = init_hooked(user.base / "alice", bare)
    if loose:
        configure(alice, "remote.origin", "packs = false")
        git_ok(alice, "commit", "-q", "-m", "loose store", ".mvm/config.toml")
    files = {f"part{i % 3}/f{i}.bin": os.urandom(20_000 + i) for i in range(n_files)}
    save_dir(alice, "data/train", files)
    models = {f"m{i}.pt": os.urandom(400_000 + i) for i in range(4)}
    for rel, data in models.items():
        save(alice, rel, data)
    git_ok(alice, "commit", "-q", "-m", "artifacts")
    git_ok(alice, "push", "-q", "origin", "main")
    bob = plain_clone(bare, user.base / "bob")
    return bob, {**{f"data/train/{k}": v for k, v in files.items()}, **models}


@pytest.mark.parametrize("left", ["read-only", "another user's"])
def test_a_partial_download_left_by_a_kill_does_not_block_the_next_pull(
    other_user: OtherUser, left: str
) -> None:
    """kill -9 between the chmod and the rename of a finished download leaves a read-only
    `partial-<oid>`; a killed pull run by someone else (root, say) leaves one the user may
    not write. Either way the next pull of the user goes through. (Partial files are a
    loose object's download, which resumes: a store of layout 1; a packed object is read by
    ranges into memory.)"""
    bob, files = _published_for(other_user, n_files=3, loose=True)
    model = files["m0.pt"]
    tmp = bob / ".git" / "mvm" / "tmp"
    tmp.mkdir(parents=True)
    partial = tmp / f"partial-{sha(model)}"
    partial.write_bytes(model if left == "read-only" else model[:1000])
    other_user.own()
    if left == "read-only":
        partial.chmod(0o444)
    else:
        os.chown(partial, 0, 0)  # root's, rw-r--r--: the user may read it, not write it
        partial.chmod(0o644)
    res = other_user.mvm(bob, "pull")
    assert res.returncode == 0, res.stderr
    for rel, data in files.items():
        assert (bob / rel).read_bytes() == data, rel
    assert not list(tmp.glob("partial-*"))


def test_two_pulls_at_once_in_one_repository_both_succeed(other_user: OtherUser) -> None:
    bob, files = _published_for(other_user)
    other_user.own()
    for _ in range(3):  # both racing for the same objects, several times over
        shutil.rmtree(bob / ".git" / "mvm" / "objects", ignore_errors=True)
        first = other_user.popen(bob, "pull", "-q")
        second = other_user.popen(bob, "pull", "-q")
        for proc in (first, second):
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
        for rel, data in files.items():
            assert (bob / rel).read_bytes() == data, rel
    assert not list((bob / ".git" / "mvm" / "tmp").glob("partial-*"))


def test_a_push_killed_mid_copy_leaves_no_temp_file_on_the_directory_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A push killed while it copies a large object into a directory store leaves a read-only
    temp file beside where the object goes; the next push to that store removes it."""
    from tests.helpers import big_file, mvm_popen, wait_for

    repo = init_hooked(tmp_path / "alice")
    store = tmp_path / "store"
    # (layout 1: a loose object's temp file; a pack's: test_packed_faults.py)
    assert mvm(repo, "remote", "add", "-q", "-d", "--no-packs", "store", str(store)) == 0
    oid = big_file(repo / "big.bin", 256)
    assert mvm(repo, "add", "-q", "big.bin") == 0

    def temps() -> list[Path]:
        return [p for p in store.rglob(".mvm-tmp.*") if p.is_file()] if store.exists() else []

    push = mvm_popen(repo, "push")
    try:
        caught = wait_for(lambda: any(p.stat().st_size > 0 for p in temps()), push, timeout=60)
        push.kill()
    finally:
        push.communicate(timeout=60)
    assert caught, "the push finished before it could be killed mid-copy"
    left = temps()
    assert left and not left[0].stat().st_mode & 0o222  # read-only, as it was being written
    res = run(capsys, repo, "push")
    assert res.rc == 0, res.err
    assert temps() == []
    assert store_oids(store) == {oid}
