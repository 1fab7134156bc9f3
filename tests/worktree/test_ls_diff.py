"""`git mvm ls [REV]` and `git mvm diff [A [B]]`."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    error_lines,
    git,
    make_dataset,
    mvm,
    object_path,
    oid_hex,
    read_pointer,
    run,
    run_json,
    sha,
    write,
)


@pytest.fixture
def history(repo: Path) -> Path:
    """Two commits: v1 (model + data), then v2 (model changed, data changed, new config)."""
    write(repo / "models" / "m.pt", b"v1" * 1000)
    make_dataset(repo / "data", n=9, size=100)
    assert mvm(repo, "add", "-q", "models/m.pt", "data") == 0
    git(repo, "commit", "-qm", "v1")
    git(repo, "tag", "v1")
    write(repo / "models" / "m.pt", b"v2" * 1500)
    write(repo / "data" / "d0" / "f0.bin", b"x" * 250)  # modified: 100 -> 250 bytes
    (repo / "data" / "d1" / "f1.bin").unlink()  # removed: 100 bytes
    write(repo / "data" / "d2" / "extra.bin", b"y" * 40)  # added: 40 bytes
    write(repo / "tok.json", b"{}")
    assert mvm(repo, "add", "-q", "models/m.pt", "data", "tok.json") == 0
    git(repo, "commit", "-qm", "v2")
    return repo


def by_path(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {it["path"]: it for it in items}


# --- ls ------------------------------------------------------------------------------------


def test_ls_lists_kind_size_files_oid_and_cache_presence(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = by_path(run_json(capsys, history, "ls"))
    assert sorted(items) == ["data", "models/m.pt", "tok.json"]
    m = items["models/m.pt"]
    assert (m["kind"], m["size"], m["files"], m["oid"], m["in_cache"]) == (
        "file", 3000, 1, f"sha256:{sha(b'v2' * 1500)}", True
    )
    d = items["data"]
    assert (d["kind"], d["size"], d["files"]) == ("dir", 9 * 100 + 150 - 100 + 40, 9)
    assert d["oid"] == read_pointer(history, "data")["oid"]
    assert d["in_cache"] is True


def test_ls_in_cache_false_when_an_object_is_gone(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    obj = object_path(history, sha(b"x" * 250))  # one file of the directory
    obj.chmod(0o644)
    obj.unlink()
    items = by_path(run_json(capsys, history, "ls"))
    assert items["data"]["in_cache"] is False
    assert items["models/m.pt"]["in_cache"] is True
    line = next(ln for ln in run(capsys, history, "ls").out.splitlines() if ln.endswith(" data"))
    assert " no " in line


def test_ls_text_table(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = run(capsys, history, "ls")
    assert res.rc == 0
    lines = res.out.splitlines()
    assert lines[0].split() == ["KIND", "SIZE", "FILES", "OID", "CACHE", "PATH"]
    row = next(ln.split() for ln in lines if ln.endswith("models/m.pt"))
    assert row[0] == "file"
    assert sha(b"v2" * 1500).startswith(row[-3])
    assert row[-2] == "yes"


def test_ls_at_a_past_revision(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for rev in ("HEAD~1", "v1"):
        items = by_path(run_json(capsys, history, "ls", rev))
        assert sorted(items) == ["data", "models/m.pt"], rev  # tok.json came later
        assert items["models/m.pt"]["oid"] == f"sha256:{sha(b'v1' * 1000)}"
        assert items["models/m.pt"]["size"] == 2000
        assert items["data"]["files"] == 9
        assert items["data"]["size"] == 900
        assert items["data"]["in_cache"] is True
    # the work tree is not touched by looking at the past
    assert (history / "models" / "m.pt").read_bytes() == b"v2" * 1500


def test_ls_at_an_unknown_revision_is_one_clear_error(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = run(capsys, history, "ls", "no-such-rev")
    assert res.rc == 1
    assert error_lines(res.err) == ["git mvm: error: unknown revision 'no-such-rev'"]
    assert "Traceback" not in res.err


def test_ls_shows_untracked_pointer_of_a_fresh_add_and_hides_deleted(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (history / "tok.json.mvm").unlink()
    assert "tok.json" not in by_path(run_json(capsys, history, "ls"))


# --- diff ----------------------------------------------------------------------------------


def test_diff_between_two_revisions(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_json(capsys, history, "diff", "HEAD~1", "HEAD")
    assert [it["path"] for it in result["added"]] == ["tok.json"]
    assert result["removed"] == []
    modified = by_path(result["modified"])
    assert sorted(modified) == ["data", "models/m.pt"]
    m = modified["models/m.pt"]
    assert (m["old_size"], m["new_size"], m["size_delta"]) == (2000, 3000, 1000)
    assert m["old_oid"] == f"sha256:{sha(b'v1' * 1000)}"
    assert m["new_oid"] == f"sha256:{sha(b'v2' * 1500)}"


def test_diff_lists_files_inside_a_directory_with_size_deltas(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = by_path(run_json(capsys, history, "diff", "v1", "HEAD")["modified"])["data"]
    assert data["size_delta"] == 150 - 100 + 40
    files = data["files"]
    assert files["added"] == [
        {"path": "d2/extra.bin", "old_size": 0, "new_size": 40, "size_delta": 40}
    ]
    assert files["removed"] == [
        {"path": "d1/f1.bin", "old_size": 100, "new_size": 0, "size_delta": -100}
    ]
    assert files["modified"] == [
        {"path": "d0/f0.bin", "old_size": 100, "new_size": 250, "size_delta": 150}
    ]


def test_diff_text_output(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = run(capsys, history, "diff", "HEAD~1", "HEAD")
    assert res.rc == 0
    lines = [ln.split() for ln in res.out.splitlines()]
    assert ["added:", "tok.json", "+2", "B"] in lines
    assert ["modified:", "models/m.pt", "+1.0", "KB"] in lines
    assert ["modified:", "data/d0/f0.bin", "+150", "B"] in lines
    assert ["removed:", "data/d1/f1.bin", "-100", "B"] in lines
    assert ["added:", "data/d2/extra.bin", "+40", "B"] in lines


def test_diff_reverse_direction_swaps_added_and_removed(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_json(capsys, history, "diff", "HEAD", "HEAD~1")
    assert [it["path"] for it in result["removed"]] == ["tok.json"]
    assert result["added"] == []
    m = by_path(result["modified"])["models/m.pt"]
    assert m["size_delta"] == -1000


def test_diff_against_the_work_tree(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_json(capsys, history, "diff") == {"added": [], "removed": [], "modified": []}
    write(history / "models" / "m.pt", b"v3")  # not added yet
    write(history / "data" / "d0" / "f3.bin", b"z" * 10)
    result = run_json(capsys, history, "diff")
    modified = by_path(result["modified"])
    assert modified["models/m.pt"]["new_oid"] == f"sha256:{sha(b'v3')}"
    assert modified["models/m.pt"]["size_delta"] == 2 - 3000
    assert modified["data"]["files"]["modified"] == [
        {"path": "d0/f3.bin", "old_size": 100, "new_size": 10, "size_delta": -90}
    ]
    # against an older revision: the work tree vs v1
    result = run_json(capsys, history, "diff", "v1")
    assert [it["path"] for it in result["added"]] == ["tok.json"]
    assert by_path(result["modified"])["models/m.pt"]["old_oid"] == f"sha256:{sha(b'v1' * 1000)}"


def test_diff_of_missing_work_tree_artifact_uses_its_pointer(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(history / "data")
    (history / "models" / "m.pt").unlink()
    assert run_json(capsys, history, "diff") == {"added": [], "removed": [], "modified": []}


def test_diff_when_a_manifest_is_not_in_the_cache(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = object_path(history, oid_hex(run_json(capsys, history, "ls", "v1")[0]["oid"]))
    old.chmod(0o644)
    old.unlink()
    data = by_path(run_json(capsys, history, "diff", "v1", "HEAD")["modified"])["data"]
    assert data["files"] is None
    res = run(capsys, history, "diff", "v1", "HEAD")
    assert "manifest is not in the cache" in res.out


def test_diff_of_unknown_revision_is_one_clear_error(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = run(capsys, history, "diff", "nope", "HEAD")
    assert res.rc == 1
    assert error_lines(res.err) == ["git mvm: error: unknown revision 'nope'"]
    assert res.err.count("\n") == 2  # the error and its hint
