"""`git mvm checkout`: restore from the cache, never lose work, write only what differs.

Also the link modes (`[cache] link`): hardlinks and symlinks into a read-only cache.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from tests.helpers import (
    HashSpy,
    configure,
    configure_local,
    corrupt_object,
    error_lines,
    git,
    git_ok,
    init_bare,
    init_hooked,
    make_dataset,
    mvm,
    object_path,
    oid_hex,
    read_pointer,
    run,
    run_json,
    sha,
    tree_digest,
    write,
)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """{relative path: (inode, mtime_ns)}: what proves a file was not rewritten."""
    return {
        p.relative_to(root).as_posix(): (p.lstat().st_ino, p.lstat().st_mtime_ns)
        for p in root.rglob("*")
        if not p.is_dir() or p.is_symlink()
    }


@pytest.fixture
def dataset_repo(repo: Path) -> Path:
    """A committed directory artifact `data/train` with cats, dogs, a symlink and an exe."""
    for i in range(6):
        write(repo / "data" / "train" / "cats" / f"c{i}.jpg", f"cat {i}" * 20)
        write(repo / "data" / "train" / "dogs" / f"d{i}.jpg", f"dog {i}" * 20)
    write(repo / "data" / "train" / "prep.sh", b"#!/bin/sh\necho prep\n")
    (repo / "data" / "train" / "prep.sh").chmod(0o755)
    os.symlink("cats/c0.jpg", repo / "data" / "train" / "best")
    os.symlink("../dogs/d1.jpg", repo / "data" / "train" / "cats" / "friend")
    write(repo / "models" / "m.pt", b"weights" * 500)
    assert mvm(repo, "add", "-q", "data/train", "models/m.pt") == 0
    git(repo, "commit", "-qm", "artifacts")
    return repo


def test_restores_missing_file_and_directory(dataset_repo: Path) -> None:
    digest = tree_digest(dataset_repo / "data" / "train")
    shutil.rmtree(dataset_repo / "data" / "train")
    (dataset_repo / "models" / "m.pt").unlink()
    assert mvm(dataset_repo, "checkout") == 0
    assert tree_digest(dataset_repo / "data" / "train") == digest
    assert (dataset_repo / "models" / "m.pt").read_bytes() == b"weights" * 500
    assert not git(dataset_repo, "status", "--porcelain")


def test_symlinks_inside_directories_are_restored(dataset_repo: Path) -> None:
    train = dataset_repo / "data" / "train"
    shutil.rmtree(train)
    assert mvm(dataset_repo, "checkout", "data/train") == 0
    assert os.readlink(train / "best") == "cats/c0.jpg"
    assert os.readlink(train / "cats" / "friend") == "../dogs/d1.jpg"
    assert (train / "best").read_text() == "cat 0" * 20
    # a symlink replaced by a regular file holding the same bytes is put back as a link
    (train / "best").unlink()
    write(train / "best", "cat 0" * 20)
    assert mvm(dataset_repo, "checkout", "data/train") == 0
    assert (train / "best").is_symlink()


def test_executable_bit_is_restored(dataset_repo: Path) -> None:
    prep = dataset_repo / "data" / "train" / "prep.sh"
    prep.unlink()
    assert mvm(dataset_repo, "checkout") == 0
    assert prep.stat().st_mode & stat.S_IXUSR
    assert not (dataset_repo / "data" / "train" / "cats" / "c0.jpg").stat().st_mode & 0o111
    # a mode-only change is put back too, without rewriting the bytes
    ino = prep.stat().st_ino
    prep.chmod(0o644)
    assert mvm(dataset_repo, "checkout") == 0
    assert prep.stat().st_mode & stat.S_IXUSR
    assert prep.stat().st_ino == ino


def test_only_files_that_differ_are_written(dataset_repo: Path) -> None:
    train = dataset_repo / "data" / "train"
    (train / "cats" / "c3.jpg").unlink()
    write(train / "dogs" / "d2.jpg", "dog 5" * 20)  # another file's bytes: safe in the cache
    before = snapshot(train)
    assert mvm(dataset_repo, "checkout") == 0
    after = snapshot(train)
    changed = {p for p in after if before.get(p) != after[p]}
    assert changed == {"cats/c3.jpg", "dogs/d2.jpg"}
    assert (train / "dogs" / "d2.jpg").read_text() == "dog 2" * 20
    # and a second checkout writes nothing at all
    again = snapshot(train)
    assert mvm(dataset_repo, "checkout") == 0
    assert snapshot(train) == again


def test_checkout_of_a_path_inside_a_directory_restores_that_part(dataset_repo: Path) -> None:
    train = dataset_repo / "data" / "train"
    digest = tree_digest(train)
    shutil.rmtree(train / "cats")
    shutil.rmtree(train / "dogs")
    assert mvm(dataset_repo, "checkout", "data/train/cats") == 0
    assert tree_digest(train / "cats") == {
        k[len("cats/"):]: v for k, v in digest.items() if k.startswith("cats/")
    }
    assert not (train / "dogs").exists()
    assert mvm(dataset_repo, "checkout", "data/train/dogs/d4.jpg") == 0
    assert sorted(p.name for p in (train / "dogs").iterdir()) == ["d4.jpg"]
    assert mvm(dataset_repo, "checkout", "data/train") == 0
    assert tree_digest(train) == digest


def test_checkout_of_a_path_not_in_the_manifest_is_an_error(
    dataset_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = run(capsys, dataset_repo, "checkout", "data/train/birds")
    assert res.rc == 1
    assert "data/train/birds" in error_lines(res.err)[0]


def test_work_tree_changes_not_in_the_cache_are_never_overwritten(
    dataset_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = write(dataset_repo / "models" / "m.pt", b"hours of training")
    res = run(capsys, dataset_repo, "checkout")
    assert res.rc == 1
    errors = error_lines(res.err)
    assert len(errors) == 1
    assert "models/m.pt" in errors[0]
    assert "not in the cache" in errors[0]
    assert "--force" in res.err
    assert "git mvm add models/m.pt" in res.err
    assert model.read_bytes() == b"hours of training"

    res = run(capsys, dataset_repo, "checkout", "--force", "models/m.pt")
    assert res.rc == 0
    assert model.read_bytes() == b"weights" * 500


def test_changed_file_inside_a_directory_is_kept_without_force(
    dataset_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = dataset_repo / "data" / "train"
    write(train / "cats" / "c1.jpg", b"a better cat")
    (train / "dogs" / "d0.jpg").unlink()
    res = run(capsys, dataset_repo, "checkout", "data/train")
    assert res.rc == 1
    assert "cats/c1.jpg" in error_lines(res.err)[0]
    assert "--force" in res.err
    assert (train / "cats" / "c1.jpg").read_bytes() == b"a better cat"
    assert mvm(dataset_repo, "checkout", "-f", "data/train") == 0
    assert (train / "cats" / "c1.jpg").read_text() == "cat 1" * 20
    assert (train / "dogs" / "d0.jpg").read_text() == "dog 0" * 20


def test_file_whose_bytes_are_in_the_cache_is_replaced_without_force(dataset_repo: Path) -> None:
    model = dataset_repo / "models" / "m.pt"
    write(model, b"version two")
    assert mvm(dataset_repo, "add", "-q", "models/m.pt") == 0  # v2 is now safe in the cache
    git(dataset_repo, "checkout", "-q", "HEAD", "--", "models/m.pt.mvm")  # back to v1's pointer
    assert mvm(dataset_repo, "checkout") == 0
    assert model.read_bytes() == b"weights" * 500


@pytest.mark.parametrize("where", ["file", "in a directory", "stray in a directory"])
def test_bytes_whose_cache_object_is_corrupt_are_not_safe(
    dataset_repo: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    """An object of the right name whose bytes do not hash to it holds nothing: the work-tree
    copy is the only good one, so it is kept (the object existing is not enough)."""
    repo = dataset_repo
    if where == "file":
        path, rel = repo / "models" / "m.pt", "models/m.pt"
        good = b"version two"
    else:
        rel = "data/train"
        path = repo / rel / "cats" / ("c1.jpg" if where == "in a directory" else "extra.jpg")
        good = b"a better cat"
    write(path, good)
    assert mvm(repo, "add", "-q", rel) == 0  # the new bytes are in the cache...
    corrupt_object(object_path(repo, sha(good)))  # ...until their object rots
    git(repo, "checkout", "-q", "HEAD", "--", f"{rel}.mvm")  # back to the committed pointer
    res = run(capsys, repo, "checkout", rel)
    assert res.rc == 1
    assert "not in the cache" in error_lines(res.err)[0]
    assert path.read_bytes() == good
    if where == "file":
        assert "corrupt" in res.err and "git mvm fsck" in res.err


def test_stray_files_whose_bytes_are_cached_are_removed(dataset_repo: Path) -> None:
    train = dataset_repo / "data" / "train"
    write(train / "cats" / "copy-of-c2.jpg", "cat 2" * 20)
    write(train / "new" / "deep" / "d3.jpg", "dog 3" * 20)
    assert mvm(dataset_repo, "checkout") == 0
    assert not (train / "cats" / "copy-of-c2.jpg").exists()
    assert not (train / "new").exists()  # emptied directories go too
    assert (train / "cats" / "c2.jpg").exists()


def test_stray_file_with_new_bytes_is_kept_without_force(
    dataset_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = dataset_repo / "data" / "train"
    stray = write(train / "cats" / "unsaved.jpg", b"only copy")
    res = run(capsys, dataset_repo, "checkout")
    assert res.rc == 1
    assert "cats/unsaved.jpg" in res.err
    assert stray.read_bytes() == b"only copy"
    assert mvm(dataset_repo, "checkout", "--force") == 0
    assert not stray.exists()


def test_file_in_place_of_directory_and_directory_in_place_of_file(
    dataset_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(dataset_repo / "data" / "train")
    write(dataset_repo / "data" / "train", "cat 0" * 20)  # bytes that are in the cache
    (dataset_repo / "models" / "m.pt").unlink()
    write(dataset_repo / "models" / "m.pt" / "x", b"precious")
    res = run(capsys, dataset_repo, "checkout")
    assert res.rc == 1
    assert "models/m.pt" in error_lines(res.err)[0]
    assert (dataset_repo / "models" / "m.pt" / "x").read_bytes() == b"precious"
    assert (dataset_repo / "data" / "train").is_dir()  # the other artifact went on


def test_checkout_switches_versions_with_git(repo: Path) -> None:
    digest_v1 = make_dataset(repo / "data", n=10)
    write(repo / "m.pt", b"v1")
    assert mvm(repo, "add", "-q", "data", "m.pt") == 0
    git(repo, "commit", "-qm", "v1")
    write(repo / "data" / "d0" / "f0.bin", b"v2 file")
    (repo / "data" / "d1" / "f1.bin").unlink()
    write(repo / "m.pt", b"v2")
    assert mvm(repo, "add", "-q", "data", "m.pt") == 0
    git(repo, "commit", "-qm", "v2")
    digest_v2 = tree_digest(repo / "data")

    git(repo, "checkout", "-q", "HEAD~1")
    assert mvm(repo, "checkout") == 0
    assert tree_digest(repo / "data") == digest_v1
    assert (repo / "m.pt").read_bytes() == b"v1"
    git(repo, "checkout", "-q", "main")
    assert mvm(repo, "checkout") == 0
    assert tree_digest(repo / "data") == digest_v2
    assert (repo / "m.pt").read_bytes() == b"v2"


def test_missing_object_is_reported_and_other_artifacts_still_restored(
    dataset_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    oid = oid_hex(read_pointer(dataset_repo, "models/m.pt")["oid"])
    obj = object_path(dataset_repo, oid)
    obj.chmod(0o644)
    obj.unlink()
    (dataset_repo / "models" / "m.pt").unlink()
    shutil.rmtree(dataset_repo / "data" / "train" / "dogs")
    res = run(capsys, dataset_repo, "checkout")
    assert res.rc == 1
    errors = error_lines(res.err)
    assert len(errors) == 1
    assert oid in errors[0]
    assert "pull" in res.err
    assert not (dataset_repo / "models" / "m.pt").exists()
    assert (dataset_repo / "data" / "train" / "dogs" / "d5.jpg").exists()


# --- link modes ----------------------------------------------------------------------------


def test_default_link_mode_gives_an_independent_writable_copy(dataset_repo: Path) -> None:
    model = dataset_repo / "models" / "m.pt"
    model.unlink()
    assert mvm(dataset_repo, "checkout") == 0
    obj = object_path(dataset_repo, sha(b"weights" * 500))
    assert not model.is_symlink()
    assert model.stat().st_ino != obj.stat().st_ino
    assert model.stat().st_mode & stat.S_IWUSR
    write(model, b"edited")
    assert sha(obj.read_bytes()) == obj.name


@pytest.fixture
def hardlink_repo(repo: Path) -> Path:
    configure(repo, "cache", 'link = ["hardlink"]')
    configure_local(repo, "cache", "link_as_root = true")  # (tests run as root)
    git(repo, "commit", "-qam", "hardlinks")
    write(repo / "models" / "m.pt", b"weights" * 500)
    make_dataset(repo / "data", n=6)
    assert mvm(repo, "add", "-q", "models/m.pt", "data") == 0
    git(repo, "commit", "-qm", "artifacts")
    (repo / "models" / "m.pt").unlink()
    shutil.rmtree(repo / "data")
    assert mvm(repo, "checkout") == 0
    return repo


def test_hardlink_mode_links_read_only_cache_objects(hardlink_repo: Path) -> None:
    for path in [hardlink_repo / "models" / "m.pt", *(hardlink_repo / "data").rglob("*.bin")]:
        obj = object_path(hardlink_repo, sha(path.read_bytes()))
        assert path.stat().st_ino == obj.stat().st_ino, path
        assert stat.S_IMODE(obj.stat().st_mode) & 0o222 == 0, obj


def test_hardlink_mode_status_up_to_date_then_detects_in_place_edit(
    hardlink_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = {it["path"]: it for it in run_json(capsys, hardlink_repo, "status")}
    assert items["models/m.pt"]["state"] == "up to date"
    assert items["data"]["state"] == "up to date"
    model = hardlink_repo / "models" / "m.pt"
    # root may write to a read-only file: that is exactly how a hardlinked cache gets corrupted
    with open(model, "r+b") as f:
        f.write(b"W")
    item = {it["path"]: it for it in run_json(capsys, hardlink_repo, "status")}["models/m.pt"]
    assert item["state"] == "modified"
    assert "hardlink" in item["detail"]
    assert "cache" in item["detail"]
    res = run(capsys, hardlink_repo, "status", "models/m.pt")
    assert "hardlink" in res.out
    # the damage is in the cache too: fsck finds it
    assert mvm(hardlink_repo, "fsck", "-q") == 1


def test_hardlink_mode_copy_in_the_work_tree_becomes_a_link_again(hardlink_repo: Path) -> None:
    model = hardlink_repo / "models" / "m.pt"
    data = model.read_bytes()
    model.unlink()
    write(model, data)  # same bytes, its own inode
    assert mvm(hardlink_repo, "checkout") == 0
    assert model.stat().st_ino == object_path(hardlink_repo, sha(data)).stat().st_ino


@pytest.fixture
def symlink_repo(repo: Path) -> Path:
    configure(repo, "cache", 'link = ["symlink"]')
    configure_local(repo, "cache", "link_as_root = true")  # (tests run as root)
    git(repo, "commit", "-qam", "symlinks")
    write(repo / "models" / "m.pt", b"weights" * 500)
    make_dataset(repo / "data", n=6)
    assert mvm(repo, "add", "-q", "models/m.pt", "data") == 0
    git(repo, "commit", "-qm", "artifacts")
    (repo / "models" / "m.pt").unlink()
    shutil.rmtree(repo / "data")
    assert mvm(repo, "checkout") == 0
    return repo


def test_symlink_mode_points_into_the_read_only_cache(
    symlink_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in [symlink_repo / "models" / "m.pt", *(symlink_repo / "data").rglob("*.bin")]:
        assert path.is_symlink(), path
        obj = object_path(symlink_repo, sha(path.read_bytes()))
        assert os.path.realpath(path) == os.path.realpath(obj)
        assert stat.S_IMODE(obj.stat().st_mode) & 0o222 == 0
    items = {it["path"]: it["state"] for it in run_json(capsys, symlink_repo, "status")}
    assert items == {"data": "up to date", "models/m.pt": "up to date"}


def test_symlink_mode_status_detects_in_place_edit(
    symlink_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open(symlink_repo / "models" / "m.pt", "r+b") as f:
        f.write(b"W")
    item = {it["path"]: it for it in run_json(capsys, symlink_repo, "status")}["models/m.pt"]
    assert item["state"] == "modified"
    assert item["detail"]


def test_symlink_mode_second_checkout_keeps_every_file(
    symlink_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_digest(symlink_repo / "data")
    assert mvm(symlink_repo, "checkout") == 0
    assert tree_digest(symlink_repo / "data") == before
    assert all(p.is_symlink() for p in (symlink_repo / "data").rglob("*.bin"))
    items = {it["path"]: it["state"] for it in run_json(capsys, symlink_repo, "status")}
    assert items == {"data": "up to date", "models/m.pt": "up to date"}


def test_retargeted_symlink_and_file_replaced_by_symlink_are_restored(
    dataset_repo: Path,
) -> None:
    train = dataset_repo / "data" / "train"
    digest = tree_digest(train)
    (train / "best").unlink()
    os.symlink("dogs/d0.jpg", train / "best")
    (train / "cats" / "c4.jpg").unlink()
    os.symlink("c5.jpg", train / "cats" / "c4.jpg")
    assert mvm(dataset_repo, "checkout") == 0
    assert tree_digest(train) == digest
    assert not (train / "cats" / "c4.jpg").is_symlink()


@pytest.mark.parametrize("mode", ["default", "copy", "hardlink", "symlink"])
def test_status_right_after_checkout_hashes_nothing(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    """checkout remembers what it wrote, so the next status need not read it back."""
    if mode != "default":
        configure(repo, "cache", f'link = ["{mode}"]')
        configure_local(repo, "cache", "link_as_root = true")  # (tests run as root)
    write(repo / "models" / "m.pt", b"weights" * 500)
    make_dataset(repo / "data", n=8)
    assert mvm(repo, "add", "-q", "models/m.pt", "data") == 0
    (repo / "models" / "m.pt").unlink()
    shutil.rmtree(repo / "data")
    assert mvm(repo, "checkout", "-q") == 0
    spy = HashSpy(monkeypatch)
    items = {it["path"]: it["state"] for it in run_json(capsys, repo, "status")}
    assert items == {"data": "up to date", "models/m.pt": "up to date"}
    assert spy.paths == []


def test_checkout_in_a_linked_worktree_uses_the_shared_cache(repo: Path) -> None:
    digest = make_dataset(repo / "data", n=6)
    assert mvm(repo, "add", "-q", "data") == 0
    git(repo, "commit", "-qm", "data")
    other = repo.parent / "wt"
    git(repo, "worktree", "add", "-q", str(other), "HEAD")
    assert not (other / "data").exists()
    assert mvm(other, "checkout") == 0
    assert tree_digest(other / "data") == digest
    assert not (other / ".git").is_dir()  # a linked worktree: objects came from the common dir


# --- what a branch switch reads ------------------------------------------------------------

BIG = (2 << 20) + 7  # past SMALL: an object worth a stat-cache row of its own


def commit_versions(repo: Path, branches: tuple[str, ...]) -> dict[str, set[str]]:
    """On each branch (the first is the current one, the others start from it) a new model
    and a new large file in a directory, committed: {branch: the oids of its versions}."""
    versions = {}
    for i, branch in enumerate(branches):
        if i:
            git(repo, "checkout", "-q", "-b", branch)
        model, part = os.urandom(BIG), os.urandom(BIG)
        write(repo / "models" / "m.pt", model)
        write(repo / "data" / "part.bin", part)
        write(repo / "data" / "small.txt", f"version {i}")
        assert mvm(repo, "add", "-q", "models/m.pt", "data") == 0
        git(repo, "commit", "-qm", f"{branch} models")
        versions[branch] = {sha(model), sha(part)}
    return versions


def switch(repo: Path, branch: str, spy: HashSpy, *command: str) -> set[str]:
    """`git checkout BRANCH` then `git mvm COMMAND` (checkout): the cache objects it hashed."""
    git(repo, "checkout", "-q", branch)
    spy.paths.clear()
    assert mvm(repo, *(command or ("checkout",)), "-q") == 0
    return {os.path.basename(p) for p in spy.paths}


@pytest.mark.parametrize("mode", ["copy", "hardlink", "symlink"])
def test_a_branch_switch_reads_no_object_it_leaves(
    repo: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """Checkout makes sure the bytes it replaces are safe in the cache without reading their
    object on every switch (a 300 MB model was 300 MB read per `git checkout`): a file that
    is the object (hardlink) is safe as it is, and a copy's object is vouched for by the
    stat-cache row `add` recorded as it placed it."""
    configure(repo, "cache", f'link = ["{mode}"]')
    configure_local(repo, "cache", "link_as_root = true")  # (tests run as root)
    git(repo, "commit", "-qam", mode)
    versions = commit_versions(repo, ("main", "b"))
    spy = HashSpy(monkeypatch)
    for branch, leaving in (("main", "b"), ("b", "main"), ("main", "b"), ("b", "main")):
        read = switch(repo, branch, spy)
        assert not read & versions[leaving], (branch, mode)
        assert sha((repo / "models" / "m.pt").read_bytes()) in versions[branch]
        assert sha((repo / "data" / "part.bin").read_bytes()) in versions[branch]


def test_objects_a_pull_downloaded_are_not_read_again_to_leave_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A download hashes what arrives, and records the object's stat-cache row as it places
    it: leaving that version later reads nothing more of it."""
    origin = init_bare(tmp_path / "origin.git")
    alice = init_hooked(tmp_path / "alice", origin)
    versions = commit_versions(alice, ("main", "b"))
    git_ok(alice, "push", "-q", "origin", "main", "b")
    bob = tmp_path / "bob"
    git(tmp_path, "clone", "-q", str(origin), str(bob))  # (no hooks: each step is ours)
    spy = HashSpy(monkeypatch)
    switch(bob, "main", spy, "pull")
    assert not switch(bob, "b", spy, "pull") & versions["main"]
    assert not switch(bob, "main", spy) & versions["b"]
    assert sha((bob / "models" / "m.pt").read_bytes()) in versions["main"]


@pytest.mark.parametrize("mode", ["copy", "hardlink"])
def test_a_large_object_rotten_after_add_is_not_vouched_for_by_its_row(
    repo: Path, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    """The row `add` recorded for an object vouches for it only while its stat is unchanged:
    bytes rewritten in place (same size) are hashed again, and the work tree's copy, the only
    good one, is kept."""
    configure(repo, "cache", f'link = ["{mode}"]')
    configure_local(repo, "cache", "link_as_root = true")  # (tests run as root)
    write(repo / "m.pt", os.urandom(BIG))
    assert mvm(repo, "add", "-q", "m.pt") == 0
    git(repo, "commit", "-qam", "v1")
    good = os.urandom(BIG)
    write(repo / "m.pt", good)
    assert mvm(repo, "add", "-q", "m.pt") == 0
    corrupt_object(object_path(repo, sha(good)), os.urandom(BIG))
    git(repo, "checkout", "-q", "HEAD", "--", "m.pt.mvm")
    res = run(capsys, repo, "checkout", "m.pt")
    assert res.rc == 1 and "corrupt" in res.err
    assert (repo / "m.pt").read_bytes() == good


def test_on_a_coarse_clock_the_row_add_records_is_kept_and_catches_a_rewrite_that_second(
    coarse_fs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One-second timestamps: the object `add` placed gets an mtime a tick before its last
    write, so its row is no racily clean one (a switch reads nothing), and a same-size
    rewrite in the very second it was placed still changes its stat."""
    repo = coarse_fs / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    assert mvm(repo, "init", "-q", "--no-hooks") == 0
    git(repo, "commit", "-q", "--allow-empty", "-m", "init")
    versions = commit_versions(repo, ("main", "b"))
    spy = HashSpy(monkeypatch)
    assert not switch(repo, "main", spy) & versions["b"]
    for _ in range(5):
        good = os.urandom(BIG)
        write(repo / "models" / "m.pt", good)
        assert mvm(repo, "add", "-q", "models/m.pt") == 0
        obj = object_path(repo, sha(good))
        placed = obj.stat().st_ctime_ns
        corrupt_object(obj, os.urandom(BIG))
        if obj.stat().st_ctime_ns == placed:  # rewritten within the tick it was placed in
            break
    else:
        pytest.skip("could not rewrite the object within the second it was placed in")
    git(repo, "checkout", "-q", "HEAD", "--", "models/m.pt.mvm")
    res = run(capsys, repo, "checkout", "models/m.pt")
    assert res.rc == 1 and "corrupt" in res.err
    assert (repo / "models" / "m.pt").read_bytes() == good
