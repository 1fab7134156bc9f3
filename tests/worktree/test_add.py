"""`git mvm init` and `git mvm add`: pointers, .gitignore, staging, the cache, refusals."""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from gitmv.objects import manifest
from tests.helpers import (
    HashSpy,
    assert_cache_sound,
    big_file,
    cache_objects,
    error_lines,
    git,
    make_dataset,
    mvm,
    object_path,
    oid_hex,
    read_pointer,
    run,
    sha,
    staged,
    tracked,
    tree_digest,
    write,
)

# --- init ----------------------------------------------------------------------------------


def test_init_writes_commented_defaults_and_stages_them(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q")
    assert mvm(root, "init") == 0
    cfg = root / ".mvm" / "config.toml"
    text = cfg.read_text()
    # Every setting is a commented default: the file is valid TOML that sets nothing.
    doc = tomllib.loads(text)
    assert all(value == {} for value in doc.values()), doc
    assert {"core", "cache", "hooks"} <= doc.keys()
    for setting in ("remote =", "dir =", "link =", "max_file_size ="):
        assert f"# {setting}" in text, setting
    assert ".mvm/config.toml" in staged(root)


def test_init_is_idempotent_and_keeps_an_edited_config(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = repo / ".mvm" / "config.toml"
    before = cfg.read_bytes(), cfg.stat().st_mtime_ns, cfg.stat().st_ino
    res = run(capsys, repo, "init")
    assert res.rc == 0
    assert "already exists" in res.err
    assert (cfg.read_bytes(), cfg.stat().st_mtime_ns, cfg.stat().st_ino) == before
    cfg.write_text('[core]\nremote = "mine"\n')
    assert mvm(repo, "init", "-q") == 0
    assert cfg.read_text() == '[core]\nremote = "mine"\n'


# --- add: what it writes -------------------------------------------------------------------


def test_add_without_init_refuses_and_says_how_to_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without `.mvm/` the hooks would do nothing (a push uploads no bytes, a teammate's pull
    finds none): `add` refuses before writing anything."""
    repo = tmp_path / "plain"
    repo.mkdir()
    git(repo, "init", "-q")
    write(repo / "m.pt", b"weights")
    res = run(capsys, repo, "add", "m.pt")
    assert res.rc == 1
    assert error_lines(res.err) == [
        f"git mvm: error: not a gitmv repository: {repo} has no .mvm/"]
    assert "hint: run `git mvm init` first" in res.err
    assert not (repo / "m.pt.mvm").exists()
    assert not (repo / ".gitignore").exists()
    assert staged(repo) == set()
    assert not (repo / ".git" / "mvm" / "objects").exists() or cache_objects(repo) == {}
    assert mvm(repo, "init", "-q") == 0
    assert mvm(repo, "add", "-q", "m.pt") == 0
    assert (repo / ".git" / "hooks" / "pre-push").exists()


def test_add_with_an_unwritable_hooks_path_refuses_and_install_names_it(
    tmp_path: Path, tmpfs: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    assert mvm(repo, "init", "-q", "--no-hooks") == 0
    (repo / ".git" / "mvm" / "config.toml").unlink()  # this clone never chose: it must ask
    readonly = tmpfs("1m", ro=True)
    git(repo, "config", "core.hooksPath", str(readonly))
    write(repo / "m.pt", b"weights")
    res = run(capsys, repo, "add", "m.pt")
    assert res.rc == 1
    assert f"not installed in {readonly} (core.hooksPath)" in error_lines(res.err)[0]
    assert not (repo / "m.pt.mvm").exists()
    res = run(capsys, repo, "install")
    assert res.rc == 1
    assert error_lines(res.err) == [
        f"git mvm: error: cannot install the git hooks in {readonly} (core.hooksPath): "
        "Read-only file system"]
    assert "core.hooksPath" in res.err.splitlines()[-1]
    assert "Traceback" not in res.err


def test_add_file_writes_pointer_ignore_entry_and_stages_both(repo: Path) -> None:
    data = os.urandom(5000)
    write(repo / "models" / "m.pt", data)
    assert mvm(repo, "add", "models/m.pt") == 0

    ptr = read_pointer(repo, "models/m.pt")
    assert ptr == {"mvm": 1, "kind": "file", "oid": f"sha256:{sha(data)}", "size": 5000}
    assert (repo / "models" / "m.pt.mvm").read_text().startswith("# managed by git-mvm")
    assert (repo / "models" / ".gitignore").read_text().splitlines() == ["/m.pt"]
    assert staged(repo) == {"models/m.pt.mvm", "models/.gitignore"}
    # git no longer sees the artifact itself
    assert "m.pt\n" not in git(repo, "status", "--porcelain", "--ignored=no", "-uall")
    # its bytes are in the cache, read-only, and the work-tree file is untouched
    obj = object_path(repo, sha(data))
    assert obj.read_bytes() == data
    assert stat.S_IMODE(obj.stat().st_mode) & 0o222 == 0
    assert (repo / "models" / "m.pt").read_bytes() == data


def test_cache_objects_are_read_only_whatever_their_size(repo: Path) -> None:
    write(repo / "small.bin", b"s")
    big = big_file(repo / "big.bin", 3)  # streamed through a temp file, not read whole
    make_dataset(repo / "data", n=4)
    assert mvm(repo, "add", "small.bin", "big.bin", "data") == 0
    objects = assert_cache_sound(repo)
    assert {sha(b"s"), big} <= objects.keys()
    assert len(objects) == 2 + 4 + 1  # the files, the dataset's files, its manifest
    for path in objects.values():
        assert stat.S_IMODE(path.stat().st_mode) & 0o222 == 0, path


def test_add_directory_stores_manifest_and_every_file(repo: Path) -> None:
    digest = make_dataset(repo / "data" / "train", n=12, size=300)
    write(repo / "data" / "train" / "empty.txt", b"")
    digest["empty.txt"] = sha(b"")
    assert mvm(repo, "add", "data/train") == 0

    ptr = read_pointer(repo, "data/train")
    assert ptr["kind"] == "dir"
    assert ptr["files"] == 13
    assert ptr["size"] == 12 * 300
    obj = object_path(repo, oid_hex(ptr["oid"]))
    entries = manifest.parse(obj.read_bytes(), "manifest")
    assert {e.path: e.oid for e in entries} == {
        k: v for k, v in digest.items() if not k.endswith(("d0", "d1", "d2"))
    }
    assert all(e.mode == "644" for e in entries)
    for e in entries:
        assert object_path(repo, e.oid).exists(), e.path
    assert (repo / "data" / ".gitignore").read_text().splitlines() == ["/train"]
    assert staged(repo) == {"data/train.mvm", "data/.gitignore"}


def test_add_keeps_other_gitignore_lines_and_lists_each_artifact_once(repo: Path) -> None:
    write(repo / "models" / ".gitignore", "*.log")  # no final newline
    git(repo, "add", "models/.gitignore")
    git(repo, "commit", "-qm", "ignore logs")
    write(repo / "models" / "a.pt", b"a")
    write(repo / "models" / "b pt[1]", b"b")
    assert mvm(repo, "add", "models/a.pt", "models/b pt[1]") == 0
    assert mvm(repo, "add", "models/a.pt") == 0
    lines = (repo / "models" / ".gitignore").read_text().splitlines()
    assert lines[0] == "*.log"
    assert lines.count("/a.pt") == 1
    assert len(lines) == 3
    # the escaped pattern really ignores the odd name, and only it
    write(repo / "models" / "b pt1", b"not an artifact")
    ignored = git(repo, "check-ignore", "models/a.pt", "models/b pt[1]", "models/b pt1",
                  check=False)
    assert ignored.splitlines() == ["models/a.pt", "models/b pt[1]"]


def test_add_quoted_glob_is_expanded_by_gitmv(repo: Path) -> None:
    for name in ("a.pt", "b.pt", "notes.txt"):
        write(repo / "models" / name, name * 10)
    write(repo / "models" / "sub" / "c.pt", b"c")
    assert mvm(repo, "add", "models/*.pt") == 0  # no shell: gitmv sees the pattern
    assert staged(repo) == {"models/a.pt.mvm", "models/b.pt.mvm", "models/.gitignore"}
    assert mvm(repo, "add", "models/**/c.pt") == 0
    assert "models/sub/c.pt.mvm" in staged(repo)
    assert not (repo / "models" / "notes.txt.mvm").exists()


def test_add_glob_matching_nothing_is_an_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = run(capsys, repo, "add", "models/*.pt")
    assert res.rc == 1
    assert error_lines(res.err) == ["git mvm: error: models/*.pt: did not match any files"]
    assert staged(repo) == set()


def test_add_meta_goes_into_the_pointer_and_is_kept_on_re_add(repo: Path) -> None:
    write(repo / "m.pt", b"v1")
    assert mvm(repo, "add", "m.pt", "--meta", "author=ana", "--meta", "note=a b=c") == 0
    assert read_pointer(repo, "m.pt")["meta"] == {"author": "ana", "note": "a b=c"}
    write(repo / "m.pt", b"v2")
    assert mvm(repo, "add", "m.pt", "--meta", "epoch=3") == 0
    assert read_pointer(repo, "m.pt")["meta"] == {"author": "ana", "note": "a b=c", "epoch": "3"}


def test_add_meta_without_equals_is_a_usage_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / "m.pt", b"v1")
    res = run(capsys, repo, "add", "m.pt", "--meta", "author")
    assert res.rc == 2
    assert "KEY=VALUE" in res.err
    assert not (repo / "m.pt.mvm").exists()


def test_add_from_a_subdirectory_takes_paths_relative_to_it(repo: Path) -> None:
    write(repo / "models" / "m.pt", b"weights")
    assert mvm(repo / "models", "add", "m.pt") == 0
    assert staged(repo) == {"models/m.pt.mvm", "models/.gitignore"}


def test_add_executable_and_symlink_inside_a_directory(repo: Path) -> None:
    write(repo / "tool" / "run.sh", b"#!/bin/sh\n")
    (repo / "tool" / "run.sh").chmod(0o755)
    write(repo / "tool" / "sub" / "x.bin", b"x")
    os.symlink("sub/x.bin", repo / "tool" / "latest")
    assert mvm(repo, "add", "tool") == 0
    ptr = read_pointer(repo, "tool")
    entries = {
        e.path: e
        for e in manifest.parse(object_path(repo, oid_hex(ptr["oid"])).read_bytes(), "m")
    }
    assert entries["run.sh"].mode == "755"
    assert entries["sub/x.bin"].mode == "644"
    assert entries["latest"].mode == "link"
    assert object_path(repo, entries["latest"].oid).read_bytes() == b"sub/x.bin"


@pytest.mark.parametrize(
    ("links", "why"),
    [
        ({"a/b/c/l": "../../../q", "y": "a/b/c/l/../../../../outside.txt"}, "through 'a/b/c/l'"),
        ({"deep/er/d": "../../q", "y": "deep/er/d/../../x"}, "through 'deep/er/d'"),
        ({"abs": "/etc", "y": "abs/passwd"}, "an absolute path"),
        ({"a": "b", "b": "a"}, "never ends"),
    ],
)
def test_a_dataset_whose_symlinks_leave_it_through_each_other_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str], links: dict[str, str], why: str
) -> None:
    """Each link alone looks inside; resolved the way the OS does, through the other, one
    leaves the directory (or never ends). Nothing is added, staged or cached."""
    write(repo / "data" / "q" / "file.txt", b"inside")
    write(repo / "data" / "deep" / "er" / "file.txt", b"inside")
    for path, target in links.items():
        (repo / "data" / path).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, repo / "data" / path)
    res = run(capsys, repo, "add", "data")
    assert res.rc == 1
    errors = error_lines(res.err)
    assert len(errors) == 1, res.err
    assert errors[0].startswith("git mvm: error: data: symlink ")
    assert why in errors[0]
    assert "hint:" in res.err
    assert not (repo / "data.mvm").exists()
    assert staged(repo) == set()
    assert cache_objects(repo) == {}


# --- add: nothing to do means no work ------------------------------------------------------


def test_re_adding_an_unchanged_file_hashes_nothing_and_writes_nothing(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / "m.pt", os.urandom(3 << 20))
    spy = HashSpy(monkeypatch)
    assert mvm(repo, "add", "m.pt") == 0
    assert spy.files_read(repo) == {"m.pt"}  # the spy sees gitmv hash
    pointer = repo / "m.pt.mvm"
    ignore = repo / ".gitignore"
    before = [(p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino) for p in (pointer, ignore)]
    objects = {o: p.stat().st_mtime_ns for o, p in cache_objects(repo).items()}

    spy.reset()
    res = run(capsys, repo, "add", "m.pt")
    assert res.rc == 0
    assert "unchanged: m.pt" in res.err
    assert spy.paths == []
    after = [(p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino) for p in (pointer, ignore)]
    assert after == before
    assert {o: p.stat().st_mtime_ns for o, p in cache_objects(repo).items()} == objects


def test_re_adding_an_unchanged_directory_hashes_nothing_and_writes_nothing(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_dataset(repo / "data", n=30)
    assert mvm(repo, "add", "data") == 0
    git(repo, "commit", "-qm", "data")
    pointer = repo / "data.mvm"
    before = pointer.read_bytes(), pointer.stat().st_mtime_ns
    spy = HashSpy(monkeypatch)
    assert mvm(repo, "add", "data") == 0
    assert spy.paths == []
    assert (pointer.read_bytes(), pointer.stat().st_mtime_ns) == before
    assert staged(repo) == set()


def test_re_add_after_changing_one_file_of_a_directory_hashes_that_file_only(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_dataset(repo / "data", n=30)
    assert mvm(repo, "add", "data") == 0
    old_oid = read_pointer(repo, "data")["oid"]
    write(repo / "data" / "d1" / "f4.bin", b"new content, new size")
    spy = HashSpy(monkeypatch)
    assert mvm(repo, "add", "data") == 0
    assert spy.files_read(repo / "data") == {"d1/f4.bin"}
    ptr = read_pointer(repo, "data")
    assert ptr["oid"] != old_oid
    assert ptr["files"] == 30
    entries = manifest.parse(object_path(repo, oid_hex(ptr["oid"])).read_bytes(), "m")
    assert {e.path: e.oid for e in entries}["d1/f4.bin"] == sha(b"new content, new size")


def test_re_add_of_a_changed_file_writes_the_new_version(repo: Path) -> None:
    write(repo / "m.pt", b"version one")
    assert mvm(repo, "add", "m.pt") == 0
    write(repo / "m.pt", b"version two!")
    assert mvm(repo, "add", "m.pt") == 0
    assert read_pointer(repo, "m.pt")["oid"] == f"sha256:{sha(b'version two!')}"
    assert {sha(b"version one"), sha(b"version two!")} <= cache_objects(repo).keys()


# --- add: refusals -------------------------------------------------------------------------


def test_file_tracked_by_git_is_refused_with_git_rm_cached_hint(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / "m.pt", b"in git")
    git(repo, "add", "m.pt")
    git(repo, "commit", "-qm", "m")
    res = run(capsys, repo, "add", "m.pt")
    assert res.rc == 1
    assert error_lines(res.err) and "m.pt" in error_lines(res.err)[0]
    assert "already tracked by git" in res.err
    assert "git rm --cached" in res.err or "git rm -r --cached" in res.err
    assert not (repo / "m.pt.mvm").exists()
    assert not (repo / ".gitignore").exists()
    assert cache_objects(repo) == {}


def test_directory_holding_git_tracked_files_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_dataset(repo / "data", n=4)
    git(repo, "add", "data/d1")
    res = run(capsys, repo, "add", "data")
    assert res.rc == 1
    assert "already tracked by git" in res.err
    assert "--cached" in res.err
    assert not (repo / "data.mvm").exists()


# (`add .` at the top adds each untracked entry there: tests/test_papercuts.py)
@pytest.mark.parametrize("where", ["outside", "dotdot", "git_dir", "git_dir_file"])
def test_paths_outside_the_work_tree_or_inside_git_are_refused(
    repo: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    outside = write(repo.parent / "outside.bin", b"not yours")
    path = {
        "outside": str(outside),
        "dotdot": "../outside.bin",
        "git_dir": ".git",
        "git_dir_file": ".git/config",
    }[where]
    def outside_gitmv() -> dict[str, str]:
        return {k: v for k, v in tree_digest(repo.parent).items() if "/.git/mvm/" not in k}

    before = outside_gitmv()
    res = run(capsys, repo, "add", path)
    assert res.rc == 1
    errors = error_lines(res.err)
    assert len(errors) == 1
    assert path in errors[0]
    assert "hint:" in res.err or ".git" in errors[0]
    assert outside_gitmv() == before
    assert staged(repo) == set()
    assert cache_objects(repo) == {}


@pytest.mark.parametrize("target", ["file", "dir"])
def test_symlink_at_top_level_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    if target == "file":
        write(repo / "real.pt", b"x")
        os.symlink("real.pt", repo / "link.pt")
    else:
        make_dataset(repo / "real", n=2)
        os.symlink("real", repo / "link.pt")
    res = run(capsys, repo, "add", "link.pt")
    assert res.rc == 1
    assert "link.pt" in error_lines(res.err)[0]
    assert "symbolic link" in res.err
    assert not (repo / "link.pt.mvm").exists()
    assert cache_objects(repo) == {}


def test_pointer_file_is_its_artifact_and_a_missing_path_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / "m.pt", b"x")
    assert mvm(repo, "add", "m.pt") == 0
    res = run(capsys, repo, "add", "m.pt.mvm")  # (`add *` matches it: its artifact is meant)
    assert res.rc == 0, res.err
    assert "unchanged: m.pt" in res.err and not (repo / "m.pt.mvm.mvm").exists()
    res = run(capsys, repo, "add", "nope.pt")
    assert res.rc == 1
    assert "nope.pt" in res.err


def test_one_refused_path_does_not_stop_the_others(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / "good.pt", b"good")
    write(repo / "tracked.pt", b"in git")
    git(repo, "add", "tracked.pt")
    write(repo.parent / "outside.bin", b"x")
    res = run(capsys, repo, "add", "tracked.pt", "../outside.bin", "good.pt", "missing.pt")
    assert res.rc == 1
    assert len(error_lines(res.err)) == 3
    assert read_pointer(repo, "good.pt")["oid"] == f"sha256:{sha(b'good')}"
    assert "good.pt.mvm" in staged(repo)
    assert tracked(repo) == {".mvm/config.toml", "tracked.pt", "good.pt.mvm", ".gitignore"}


def test_artifact_inside_a_directory_artifact_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_dataset(repo / "data", n=4)
    assert mvm(repo, "add", "data") == 0
    res = run(capsys, repo, "add", "data/d1")
    assert res.rc == 1
    assert "inside directory artifact data" in res.err
    assert not (repo / "data" / "d1.mvm").exists()


def test_parallel_keeps_order_bounds_its_window_and_raises(repo: Path) -> None:
    """Items are handed to the pool a window at a time (a future per item for 1M files is a
    gigabyte), results come back in order, and an error stops it."""
    from gitmv.repo import Repo
    from gitmv.worktree.workspace import Workspace

    ws = Workspace(Repo.discover(str(repo)), jobs=4)
    taken: list[int] = []
    ahead = [0]

    class Lazy(list):  # type: ignore[type-arg]
        def __iter__(self):  # type: ignore[no-untyped-def]
            for i in super().__iter__():
                taken.append(i)
                yield i

    def work(i: int) -> int:
        ahead[0] = max(ahead[0], len(taken) - i)  # items taken beyond this one
        return i * i

    assert ws.parallel(work, Lazy(range(5000))) == [i * i for i in range(5000)]
    assert ahead[0] <= 4 * 4 + 4

    def fails(i: int) -> int:
        if i == 777:
            raise ValueError("item 777")
        return i

    with pytest.raises(ValueError, match="777"):
        ws.parallel(fails, list(range(3000)))


def test_memory_of_add_and_checkout_of_a_directory_stays_flat(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adding, checking out and checking the status of a directory holds no list of its
    files (a million-file dataset must fit in a few hundred megabytes): the peak at 4,000
    files is within 350 bytes per extra file of the peak at 1,000, where a list of entries
    and rows costs about a kilobyte. What does grow is what a pack's index and the manifest's
    bytes cost: about 40 bytes of index record and 80 of manifest line per file, each in a
    buffer that doubles as it grows (a resize briefly holds the old and the new), plus the
    index's slot table; 130-200 bytes per file measured at the peak."""
    import shutil
    import tracemalloc

    from gitmv.worktree import checkout as co
    from gitmv.worktree import workspace
    from gitmv.worktree.workspace import Workspace

    monkeypatch.setattr(workspace, "ROW_BATCH", 256)  # rows written as they come
    peaks: dict[str, list[int]] = {"add": [], "checkout": [], "status": []}
    # the first run imports what add, checkout and status import lazily (socket, logging,
    # the thread pool: half a megabyte), unless an earlier test in this process already did:
    # a warm-up of 100 files keeps that out of the measured two
    for n in (100, 1000, 4000):
        rel = f"data{n}"
        make_dataset(repo / rel, n=n, size=1)
        ws = Workspace.open(str(repo))
        tracemalloc.start()
        try:
            done, failed = ws.add_many([rel], {})
            peaks["add"].append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert not failed and done
        shutil.rmtree(repo / rel)
        ws.state.close()
        ws = Workspace.open(str(repo))
        sel = ws.select([str(repo / rel)])[0]
        tracemalloc.start()
        try:
            assert co.checkout(ws, sel, force=False).written == n
            peaks["checkout"].append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        ws.state.close()
        ws = Workspace.open(str(repo))
        ws.state.delete_tree(str(repo / rel))  # no stamp, no rows: every file is hashed
        tracemalloc.start()
        try:
            assert ws.status(sel).state == "up to date"
            peaks["status"].append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        ws.state.close()
    for what, (_, small, large) in peaks.items():
        assert large - small < 350 * 3000, (what, peaks)
