"""`git mvm fsck` (re-hash, quarantine) and `git mvm untrack` (back to an ordinary file)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.helpers import (
    assert_cache_sound,
    cache_objects,
    configure,
    configure_local,
    corrupt_object,
    git,
    make_dataset,
    mvm,
    mvm_dir,
    object_path,
    run,
    run_json,
    sha,
    staged,
    tracked,
    tree_digest,
    write,
)


@pytest.fixture
def stocked(repo: Path) -> Path:
    write(repo / "models" / "m.pt", b"weights" * 100)
    make_dataset(repo / "data", n=5)
    assert mvm(repo, "add", "-q", "models/m.pt", "data") == 0
    git(repo, "commit", "-qm", "artifacts")
    return repo


# --- fsck ----------------------------------------------------------------------------------


def test_fsck_clean_cache_exits_0(stocked: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = run(capsys, stocked, "fsck")
    assert res.rc == 0
    assert "checked 7 objects: 0 corrupt" in res.err  # 5 files, 1 manifest, 1 model
    assert res.out == ""
    assert run_json(capsys, stocked, "fsck") == {
        "checked": 7, "corrupt": [], "wrong_size": [], "unreadable_pointers": [],
        "packs": {"indexes_rebuilt": [], "salvaged": [], "indexes_removed": []}}
    assert not (mvm_dir(stocked) / "quarantine").exists()


def test_fsck_moves_a_corrupt_object_aside_and_exits_1(
    stocked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hexoid = sha(b"weights" * 100)
    obj = object_path(stocked, hexoid)
    corrupt_object(obj, b"bit rot")
    res = run(capsys, stocked, "fsck")
    assert res.rc == 1
    quarantined = mvm_dir(stocked) / "quarantine" / hexoid
    assert res.out.splitlines() == [f"corrupt: sha256:{hexoid} (moved to {quarantined})"]
    assert "1 corrupt" in res.err
    assert "hint:" in res.err
    assert quarantined.read_bytes() == b"bit rot"
    assert not obj.exists()
    assert_cache_sound(stocked)
    # the model is now reported as not in the cache, and a re-add heals the cache
    status = {it["path"]: it for it in run_json(capsys, stocked, "status")}
    assert status["models/m.pt"]["in_cache"] is False
    assert mvm(stocked, "add", "-q", "models/m.pt") == 0
    assert obj.read_bytes() == b"weights" * 100
    assert run(capsys, stocked, "fsck").rc == 0


def test_fsck_json_reports_every_corrupt_object(
    stocked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victims = sorted(cache_objects(stocked))[:3]
    for hexoid in victims:
        corrupt_object(object_path(stocked, hexoid))
    capsys.readouterr()
    assert mvm(stocked, "fsck", "--json") == 1
    report = __import__("json").loads(capsys.readouterr().out)
    assert report["checked"] == 7
    assert sorted(c["oid"] for c in report["corrupt"]) == [f"sha256:{h}" for h in victims]
    for c in report["corrupt"]:
        assert Path(c["moved_to"]).parent == mvm_dir(stocked) / "quarantine"
    assert len(cache_objects(stocked)) == 4


def test_fsck_truncated_object_is_corrupt(
    stocked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    obj = object_path(stocked, sha(b"weights" * 100))
    corrupt_object(obj, (b"weights" * 100)[:-1])
    assert run(capsys, stocked, "fsck").rc == 1
    assert not obj.exists()


def test_checkout_never_copies_a_corrupt_object_into_the_work_tree(
    stocked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = stocked / "models" / "m.pt"
    model.unlink()
    corrupt_object(object_path(stocked, sha(b"weights" * 100)), b"W" * 700)
    res = run(capsys, stocked, "checkout")
    assert res.rc == 1
    assert "corrupt" in res.err
    assert not model.exists()
    assert not [p for p in model.parent.iterdir() if p.name not in ("m.pt.mvm", ".gitignore")]


# --- untrack -------------------------------------------------------------------------------


def test_untrack_file_removes_pointer_keeps_bytes_and_ignore_entry_goes(stocked: Path) -> None:
    write(stocked / "models" / "other.pt", b"other")
    assert mvm(stocked, "add", "-q", "models/other.pt") == 0
    git(stocked, "commit", "-qm", "other")
    assert mvm(stocked, "untrack", "models/m.pt") == 0

    assert not (stocked / "models" / "m.pt.mvm").exists()
    assert "models/m.pt.mvm" not in tracked(stocked)
    assert staged(stocked) == {"models/m.pt.mvm", "models/.gitignore"}  # deletion + edit
    model = stocked / "models" / "m.pt"
    assert model.read_bytes() == b"weights" * 100
    assert (stocked / "models" / ".gitignore").read_text().splitlines() == ["/other.pt"]
    assert git(stocked, "check-ignore", "models/m.pt", check=False) == ""
    # git now sees it as an ordinary untracked file; the cache keeps its copy
    assert "?? models/m.pt" in git(stocked, "status", "--porcelain", "-uall")
    assert object_path(stocked, sha(b"weights" * 100)).exists()


def test_untrack_last_artifact_of_a_gitignore_removes_the_file(stocked: Path) -> None:
    assert mvm(stocked, "untrack", "models/m.pt") == 0
    assert not (stocked / "models" / ".gitignore").exists()
    assert "models/.gitignore" not in tracked(stocked)


def test_untrack_directory(stocked: Path) -> None:
    digest = tree_digest(stocked / "data")
    assert mvm(stocked, "untrack", "data") == 0
    assert not (stocked / "data.mvm").exists()
    assert "data.mvm" not in tracked(stocked)
    assert tree_digest(stocked / "data") == digest
    assert not (stocked / ".gitignore").exists()
    assert "?? data/" in git(stocked, "status", "--porcelain")


def test_untrack_restores_a_missing_artifact_first(stocked: Path) -> None:
    (stocked / "models" / "m.pt").unlink()
    assert mvm(stocked, "untrack", "models/m.pt") == 0
    assert (stocked / "models" / "m.pt").read_bytes() == b"weights" * 100


def test_untrack_refuses_to_drop_unsaved_changes(
    stocked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(stocked / "models" / "m.pt", b"unsaved")
    res = run(capsys, stocked, "untrack", "models/m.pt")
    assert res.rc == 1
    assert "models/m.pt" in res.err
    assert "git mvm add models/m.pt" in res.err
    assert (stocked / "models" / "m.pt").read_bytes() == b"unsaved"
    assert (stocked / "models" / "m.pt.mvm").exists()
    assert "models/m.pt.mvm" in tracked(stocked)


def test_untrack_in_hardlink_mode_gives_a_private_writable_file(repo: Path) -> None:
    configure(repo, "cache", 'link = ["hardlink"]')
    configure_local(repo, "cache", "link_as_root = true")  # (tests run as root)
    write(repo / "m.pt", b"weights")
    assert mvm(repo, "add", "-q", "m.pt") == 0
    (repo / "m.pt").unlink()
    assert mvm(repo, "checkout", "-q") == 0
    obj = object_path(repo, sha(b"weights"))
    assert (repo / "m.pt").stat().st_ino == obj.stat().st_ino
    assert mvm(repo, "untrack", "m.pt") == 0
    st = (repo / "m.pt").stat()
    assert st.st_ino != obj.stat().st_ino
    assert st.st_nlink == 1
    assert st.st_mode & stat.S_IWUSR
    with open(repo / "m.pt", "ab") as f:
        f.write(b" edited")
    assert obj.read_bytes() == b"weights"


def test_untrack_in_symlink_mode_gives_a_regular_file(repo: Path) -> None:
    configure(repo, "cache", 'link = ["symlink"]')
    configure_local(repo, "cache", "link_as_root = true")  # (tests run as root)
    write(repo / "m.pt", b"weights")
    assert mvm(repo, "add", "-q", "m.pt") == 0
    (repo / "m.pt").unlink()
    assert mvm(repo, "checkout", "-q") == 0
    assert (repo / "m.pt").is_symlink()
    assert mvm(repo, "untrack", "m.pt") == 0
    assert not (repo / "m.pt").is_symlink()
    assert (repo / "m.pt").read_bytes() == b"weights"
    assert os.stat(repo / "m.pt").st_mode & stat.S_IWUSR


def test_untrack_a_path_not_tracked_is_an_error(
    stocked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = run(capsys, stocked, "untrack", "nothing")
    assert res.rc == 1
    assert "not tracked by gitmv" in res.err
