"""Bad input and faults: invalid pointers and manifests, files that change while read,
concurrent commands, kill -9, a full disk, a failing write.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gitmv.objects.pointer import Pointer
from tests.helpers import (
    assert_cache_sound,
    big_file,
    cache_objects,
    configure,
    error_lines,
    git,
    make_dataset,
    mvm,
    mvm_dir,
    mvm_popen,
    oid_hex,
    put_object,
    read_pointer,
    run,
    sha,
    staged,
    tree_digest,
    wait_for,
    write,
)

HEX = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def everything(top: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Digest of every file under `top` but gitmv's own state, the index and `skip`."""
    return {
        k: v for k, v in tree_digest(top).items()
        if "/.git/mvm/" not in f"/{k}" and not k.endswith(".git/index")
        and not any(k == s or k.startswith(s + "/") for s in skip)
    }


def leftover_temp_files(repo: Path) -> list[str]:
    """Temp files anywhere in the work tree or gitmv's directories (not git's own)."""
    out = []
    for p in repo.rglob("*"):
        rel = p.relative_to(repo).as_posix()
        if rel.startswith(".git/") and not rel.startswith(".git/mvm/"):
            continue
        if p.is_file() and (".mvm-tmp" in rel or "/tmp/" in f"/{rel}"):  # (or in a directory
            # a checkout built aside)
            out.append(rel)
    return sorted(out)


# --- invalid pointers ----------------------------------------------------------------------

BAD_POINTERS = {
    "bad TOML": ('mvm = 1\nkind = "file\nsize = 3\n', "not a valid pointer"),
    "oid form": (f'mvm = 1\nkind = "file"\noid = "sha1:{HEX[:40]}"\nsize = 3\n', "oid must be"),
    "negative size": (f'mvm = 1\nkind = "file"\noid = "sha256:{HEX}"\nsize = -3\n',
                      "size must be a non-negative integer"),
    "newer version": (f'mvm = 2\nkind = "file"\noid = "sha256:{HEX}"\nsize = 3\n',
                      "pointer format version 2 is newer"),
}


@pytest.fixture
def good_missing(repo: Path) -> Path:
    """A committed file artifact `good.pt` whose bytes are only in the cache."""
    write(repo / "good.pt", b"good bytes")
    assert mvm(repo, "add", "-q", "good.pt") == 0
    git(repo, "commit", "-qm", "good")
    (repo / "good.pt").unlink()
    return repo


@pytest.mark.parametrize("case", sorted(BAD_POINTERS))
def test_checkout_with_an_invalid_pointer_still_restores_the_others(
    good_missing: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    repo = good_missing
    text, why = BAD_POINTERS[case]
    write(repo / "sub" / "bad.pt.mvm", text)
    before = everything(repo.parent, skip=("repo/good.pt",))
    res = run(capsys, repo, "checkout")
    assert res.rc == 1
    errors = error_lines(res.err)
    assert len(errors) == 1, res.err
    assert errors[0].startswith("git mvm: error: sub/bad.pt.mvm: ")
    assert why in errors[0]
    assert "Traceback" not in res.err
    assert (repo / "good.pt").read_bytes() == b"good bytes"
    assert not os.path.lexists(repo / "sub" / "bad.pt")
    assert everything(repo.parent, skip=("repo/good.pt",)) == before


@pytest.mark.parametrize("case", sorted(BAD_POINTERS))
def test_status_and_ls_name_an_invalid_pointer_and_list_the_others(
    good_missing: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    repo = good_missing
    text, why = BAD_POINTERS[case]
    write(repo / "bad.pt.mvm", text)
    res = run(capsys, repo, "status")
    assert res.rc == 1
    assert next(ln for ln in res.out.splitlines() if "good.pt" in ln).startswith("missing:")
    errors = error_lines(res.err)
    assert len(errors) == 1
    assert errors[0].startswith("git mvm: error: bad.pt.mvm: ")
    assert why in errors[0]
    res = run(capsys, repo, "ls")
    assert res.rc == 1
    assert "good.pt" in res.out
    assert error_lines(res.err) == errors


def test_add_replaces_an_invalid_pointer(good_missing: Path) -> None:
    repo = good_missing
    write(repo / "bad.pt.mvm", BAD_POINTERS["bad TOML"][0])
    write(repo / "bad.pt", b"fresh")
    assert mvm(repo, "add", "bad.pt") == 0
    assert read_pointer(repo, "bad.pt")["oid"] == f"sha256:{sha(b'fresh')}"


def test_diff_warns_about_an_invalid_pointer_at_a_revision(
    good_missing: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = good_missing
    write(repo / "bad.pt.mvm", BAD_POINTERS["newer version"][0])
    git(repo, "add", "bad.pt.mvm")
    git(repo, "commit", "-qm", "from the future")
    res = run(capsys, repo, "diff", "HEAD~1", "HEAD")
    assert "HEAD:bad.pt.mvm" in res.err
    assert "newer" in res.err
    assert "Traceback" not in res.err


# --- invalid manifests ---------------------------------------------------------------------


def craft_dir(repo: Path, rel: str, entries: list[tuple[str, bytes, str]]) -> None:
    """A directory pointer whose manifest (mode, object bytes, path) is stored in the cache
    under its correct sha256, so that only validation can refuse it."""
    lines = []
    for mode, data, path in sorted(entries, key=lambda e: e[2].encode()):
        lines.append(f"{mode} {put_object(repo, data)} {len(data)}\t{path}\n")
    moid = put_object(repo, ("mvm-manifest 1\n" + "".join(lines)).encode())
    size = sum(len(d) for _, d, _ in entries)
    write(repo / f"{rel}.mvm", Pointer("dir", moid, size, len(entries)).dump())


BAD_MANIFESTS: dict[str, tuple[list[tuple[str, bytes, str]], str]] = {
    "dotdot": ([("644", b"pwned", "../escape.txt")], "'..'"),
    "deep dotdot": ([("644", b"pwned", "sub/../../escape.txt")], "'..'"),
    "absolute": ([("644", b"pwned", "/tmp/gitmv-absolute-escape.txt")], "absolute"),
    "empty segment": ([("644", b"pwned", "sub//x.txt")], "empty"),
    "git segment": ([("755", b"#!/bin/sh\necho pwned\n", ".git/hooks/post-checkout")], ".git"),
    "nested git segment": ([("644", b"pwned", "sub/.git/config")], ".git"),
    "link escaping": ([("link", b"../../escape", "evil")], "points outside"),
    "link absolute": ([("link", b"/etc/passwd", "evil")], "points outside"),
    "link deep escaping": ([("link", b"../../../escape", "sub/evil")], "points outside"),
    "link into git": ([("link", b"../.git/config", "evil")], "points outside"),
}


def checkout_refuses(repo: Path, capsys: pytest.CaptureFixture[str],
                     bad: list[tuple[str, bytes, str]], why: str) -> str:
    """Check out `data`, made of `bad` and a fine file: refused in one error line saying
    `why` (returned), `good.pt` restored all the same, nothing written outside."""
    craft_dir(repo, "data", [("644", b"fine", "ok.txt"), *bad])
    before = everything(repo.parent, skip=("repo/good.pt", "repo/data"))
    res = run(capsys, repo, "checkout")
    assert res.rc == 1
    errors = error_lines(res.err)
    assert len(errors) == 1, res.err
    assert "data" in errors[0]
    assert why in errors[0]
    assert "Traceback" not in res.err
    assert (repo / "good.pt").read_bytes() == b"good bytes"
    assert everything(repo.parent, skip=("repo/good.pt", "repo/data")) == before
    return errors[0]


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_checkout_refuses_an_invalid_manifest_and_restores_the_others(
    good_missing: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    repo = good_missing
    checkout_refuses(repo, capsys, *BAD_MANIFESTS[case])
    assert not os.path.lexists("/tmp/gitmv-absolute-escape.txt")
    assert not os.path.lexists(repo / "data" / "evil")
    assert not os.path.lexists(repo / "data" / "sub" / "evil")
    assert not os.path.lexists(repo / "data" / ".git")


CHAINED_LINKS: dict[str, tuple[list[tuple[str, bytes, str]], str]] = {
    "the issue's chain": ([("link", b"../../../q", "a/b/c/l"),
                           ("link", b"a/b/c/l/../../../../outside.txt", "y"),
                           ("644", b"q", "q/keep")], "through 'a/b/c/l'"),
    "through a directory link": ([("link", b"../../q", "deep/er/d"), ("644", b"q", "q/keep"),
                                  ("link", b"deep/er/d/../../escape", "y")],
                                 "through 'deep/er/d'"),
    "a chain of three": ([("link", b"../b/l2", "a/l1"), ("link", b"../c/l3", "b/l2"),
                          ("link", b"../c", "c/l3"), ("644", b"c", "c/keep"),
                          ("link", b"a/l1/../../escape", "y")], "through 'c/l3'"),
    "absolute at a hop": ([("link", b"/tmp", "abs"), ("link", b"abs/x", "y")], "absolute path"),
    "a loop": ([("link", b"b", "a"), ("link", b"a", "b")], "never ends"),
}


@pytest.mark.parametrize("case", sorted(CHAINED_LINKS))
def test_checkout_refuses_symlinks_that_leave_through_each_other(
    good_missing: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    """A hand-made manifest whose links each look inside, but resolve outside (or never
    end) through one another: refused before anything is written."""
    error = checkout_refuses(good_missing, capsys, *CHAINED_LINKS[case])
    assert error.startswith("git mvm: error: manifest of data: symlink ")
    assert not (good_missing / "data").exists()


def test_partial_checkout_counts_the_links_already_in_the_directory(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checking out one part of a directory leaves the rest as it is on disk, links too."""
    craft_dir(repo, "data", [("link", b"../new", "old/l"), ("link", b"../old/l/x", "new/y"),
                             ("644", b"n", "new/n")])
    (repo / "data" / "old").mkdir(parents=True)
    os.symlink("../..", repo / "data" / "old" / "l")  # made by hand, not what the manifest says
    res = run(capsys, repo, "checkout", "data/new")
    assert res.rc == 1
    assert "through 'old/l' -> '../..'" in res.err
    assert not (repo / "data" / "new").exists()
    (repo / "data" / "old" / "l").unlink()
    os.symlink("../new", repo / "data" / "old" / "l")
    assert mvm(repo, "checkout", "data/new") == 0
    assert os.readlink(repo / "data" / "new" / "y") == "../old/l/x"


@pytest.mark.parametrize("case", ["dotdot", "link escaping"])
def test_status_ls_and_diff_survive_an_invalid_manifest(
    good_missing: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    repo = good_missing
    craft_dir(repo, "data", BAD_MANIFESTS[case][0])
    for args in (["status"], ["ls"], ["diff"], ["status", "--json"], ["ls", "--json"]):
        res = run(capsys, repo, *args)
        assert "Traceback" not in res.err, args
        assert "unexpected" not in res.err, args
        if args[0] != "diff":
            assert "good.pt" in res.out, args


# --- nothing is written through a symlink in the way ---------------------------------------


def test_checkout_replaces_a_symlink_in_place_of_a_file_artifact(good_missing: Path) -> None:
    repo = good_missing
    victim = write(repo.parent / "victim.txt", b"do not touch")
    os.symlink(victim, repo / "good.pt")
    assert mvm(repo, "checkout") == 0
    assert not (repo / "good.pt").is_symlink()
    assert (repo / "good.pt").read_bytes() == b"good bytes"
    assert victim.read_bytes() == b"do not touch"


def test_checkout_replaces_a_symlinked_directory_inside_a_directory_artifact(repo: Path) -> None:
    digest = make_dataset(repo / "data", n=6)
    assert mvm(repo, "add", "-q", "data") == 0
    outside = repo.parent / "outside"
    outside.mkdir()
    write(outside / "keep.txt", b"mine")
    shutil.rmtree(repo / "data" / "d1")
    os.symlink(outside, repo / "data" / "d1")
    assert mvm(repo, "checkout") == 0
    assert tree_digest(outside) == {"keep.txt": sha(b"mine")}
    assert not (repo / "data" / "d1").is_symlink()
    assert tree_digest(repo / "data") == digest


def test_checkout_refuses_a_symlinked_parent_directory(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / "models" / "m.pt", b"weights")
    assert mvm(repo, "add", "-q", "models/m.pt") == 0
    git(repo, "commit", "-qm", "m")
    outside = repo.parent / "outside"
    outside.mkdir()
    shutil.move(repo / "models" / "m.pt.mvm", outside / "m.pt.mvm")
    shutil.rmtree(repo / "models")
    os.symlink(outside, repo / "models")
    git(repo, "checkout", "-q", "--", ".", check=False)  # git, too, refuses to go through it
    res = run(capsys, repo, "checkout")
    assert not (outside / "m.pt").exists()
    assert "Traceback" not in res.err


# --- a file that changes while it is added -------------------------------------------------


def _wrap_copies(monkeypatch: pytest.MonkeyPatch, after: Callable[[str], None]) -> list[str]:
    """Call `after(path)` each time gitmv finishes hashing a file it is copying to the cache."""
    import gitmv.objects.hashing

    seen: list[str] = []
    real = gitmv.objects.hashing.copy_and_hash

    def copy_and_hash(src_fd: int, *a: object, **kw: object) -> object:
        result = real(src_fd, *a, **kw)  # type: ignore[arg-type]
        path = os.readlink(f"/proc/self/fd/{src_fd}")
        seen.append(path)
        after(path)
        return result

    for name, mod in list(sys.modules.items()):
        if name.startswith("gitmv") and getattr(mod, "copy_and_hash", None) is real:
            monkeypatch.setattr(mod, "copy_and_hash", copy_and_hash)
    return seen


def _append(path: str) -> None:
    if "/.git/" not in path:
        with open(path, "ab") as f:
            f.write(b"late bytes")


def test_file_changed_between_hashing_and_final_stat_is_refused(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    big_file(repo / "m.pt", 4)  # large enough to be streamed
    seen = _wrap_copies(monkeypatch, _append)
    res = run(capsys, repo, "add", "m.pt")
    assert seen, "the copy was not intercepted: update _wrap_copies"
    assert res.rc == 1
    errors = error_lines(res.err)
    assert len(errors) == 1
    assert errors[0].endswith("m.pt: file changed while it was being read")
    assert not (repo / "m.pt.mvm").exists()
    assert cache_objects(repo) == {}
    assert leftover_temp_files(repo) == []
    assert staged(repo) == set()


def test_directory_with_a_file_changing_during_add_is_refused(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    make_dataset(repo / "data", n=5)
    big_file(repo / "data" / "big.bin", 3)
    _wrap_copies(monkeypatch, _append)
    res = run(capsys, repo, "add", "data")
    assert res.rc == 1
    assert "data/big.bin: file changed while it was being read" in error_lines(res.err)[0]
    assert not (repo / "data.mvm").exists()
    assert_cache_sound(repo)
    assert leftover_temp_files(repo) == []


APPENDER = """
import sys, time
with open(sys.argv[1], "ab", buffering=0) as f:
    while True:
        f.write(b"x" * 4096)
        time.sleep(0.0005)
"""


@pytest.mark.slow
def test_file_appended_to_by_another_process_during_add_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = repo / "growing.log"
    big_file(path, 96)
    start = path.stat().st_size
    writer = subprocess.Popen([sys.executable, "-c", APPENDER, str(path)])
    try:
        assert wait_for(lambda: path.stat().st_size > start, writer)
        res = run(capsys, repo, "add", "growing.log")
    finally:
        writer.kill()
        writer.wait()
    assert res.rc == 1
    assert "growing.log: file changed while it was being read" in res.err
    assert not (repo / "growing.log.mvm").exists()
    assert cache_objects(repo) == {}
    assert leftover_temp_files(repo) == []
    # once it stops changing, it can be added
    assert mvm(repo, "add", "growing.log") == 0
    assert read_pointer(repo, "growing.log")["oid"] == f"sha256:{sha(path.read_bytes())}"


# --- concurrent commands, kill -9 ----------------------------------------------------------


def _watch(repo: Path, dirs: list[Path]) -> Callable[[], list[Path]]:
    """New files appearing in `dirs`: gitmv's temp files, so its writing has started.

    gitmv's directory is searched all the way down (but the lock and the stat cache, directly
    in it, do not count); work-tree directories only at their top level.
    """

    def files() -> set[Path]:
        found: set[Path] = set()
        for d in dirs:
            if d.exists():
                listing = d.rglob("*") if d == mvm_dir(repo) else d.glob("*")
                found.update(p for p in listing if p.parent != mvm_dir(repo))
        return found

    before = files()

    def new() -> list[Path]:  # (or the directory a checkout builds aside)
        return [p for p in files() - before if p.is_file() or p.name.startswith(".mvm-tmp")]

    return new


def _integrity(repo: Path) -> list[tuple[str]]:
    with sqlite3.connect(mvm_dir(repo) / "state.sqlite") as db:
        return db.execute("PRAGMA integrity_check").fetchall()


@pytest.mark.slow
def test_two_adds_at_once_both_finish_and_one_waits_for_the_lock(
    repo: Path, tmp_path: Path
) -> None:
    big = big_file(repo / "models" / "big.bin", 128)
    make_dataset(repo / "models" / "small", n=12)
    new_temp = _watch(repo, [mvm_dir(repo), repo / "models"])
    first = mvm_popen(repo, "add", "models/big.bin")
    second: subprocess.Popen[str] | None = None
    log = tmp_path / "second.err"
    with open(log, "w") as err_file:
        try:
            assert wait_for(lambda: bool(new_temp()), first), "first add never started writing"
            os.kill(first.pid, signal.SIGSTOP)  # hold it while it holds the lock
            second = mvm_popen(repo, "add", "models/small", stderr=err_file)
            assert wait_for(lambda: "waiting for lock" in log.read_text(), second)
        finally:
            os.kill(first.pid, signal.SIGCONT)
            _, err1 = first.communicate(timeout=300)
            if second is not None:
                second.communicate(timeout=300)
    assert second is not None
    assert second.returncode == 0, log.read_text()
    assert first.returncode == 0, err1
    assert "waiting for lock" not in err1

    assert read_pointer(repo, "models/big.bin")["oid"] == f"sha256:{big}"
    assert read_pointer(repo, "models/small")["files"] == 12
    assert sorted((repo / "models" / ".gitignore").read_text().splitlines()) == [
        "/big.bin", "/small"
    ]
    assert staged(repo) == {"models/big.bin.mvm", "models/small.mvm", "models/.gitignore"}
    assert big in assert_cache_sound(repo)
    assert _integrity(repo) == [("ok",)]
    assert leftover_temp_files(repo) == []
    assert mvm(repo, "status", "-q") == 0


@pytest.mark.slow
def test_kill_9_during_add_leaves_no_partial_object(repo: Path) -> None:
    big = big_file(repo / "big.bin", 128)
    new_temp = _watch(repo, [mvm_dir(repo), repo])
    proc = mvm_popen(repo, "add", "big.bin")
    assert wait_for(lambda: bool(new_temp()), proc), "add never started writing"
    proc.kill()
    proc.communicate()

    assert_cache_sound(repo)
    assert sha((repo / "big.bin").read_bytes()) == big
    if (repo / "big.bin.mvm").exists():  # the kill came late: then the pointer is whole
        assert read_pointer(repo, "big.bin")["oid"] == f"sha256:{big}"
    assert _integrity(repo) == [("ok",)]

    assert mvm(repo, "add", "big.bin") == 0
    assert read_pointer(repo, "big.bin")["oid"] == f"sha256:{big}"
    assert big in assert_cache_sound(repo)
    assert leftover_temp_files(repo) == []


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["file", "dir", "missing-dir"])
def test_kill_9_during_checkout_leaves_no_half_written_file(repo: Path, kind: str) -> None:
    """`missing-dir`: the whole directory artifact is gone, so checkout builds it aside and
    renames it in: after a kill it is there whole or not at all."""
    import shutil

    configure(repo, "cache", 'link = ["copy"]')  # a streamed copy, the slow path
    git(repo, "commit", "-qam", "copies")
    target = repo / "models" / "big.bin" if kind == "file" else repo / "data" / "big.bin"
    big = big_file(target, 128)
    if kind != "file":
        make_dataset(repo / "data" / "small", n=6)
    artifact = "models/big.bin" if kind == "file" else "data"
    assert mvm(repo, "add", "-q", artifact) == 0
    git(repo, "commit", "-qm", "big")
    small = {p.relative_to(repo): p.read_bytes() for p in (repo / "data").rglob("*")
             if p.is_file()} if kind != "file" else {}
    if kind == "missing-dir":
        shutil.rmtree(repo / "data")
    else:
        target.unlink()

    new_temp = _watch(repo, [mvm_dir(repo), repo if kind == "missing-dir" else target.parent])
    proc = mvm_popen(repo, "checkout")
    assert wait_for(lambda: bool(new_temp()), proc), "checkout never started writing"
    proc.kill()
    proc.communicate()

    assert_cache_sound(repo)
    if target.exists():  # the kill came late: then the file is whole
        assert sha(target.read_bytes()) == big
    if kind == "missing-dir" and (repo / "data").exists():  # and so is the directory
        assert {p.relative_to(repo): p.read_bytes() for p in (repo / "data").rglob("*")
                if p.is_file()} == small
    assert mvm(repo, "checkout") == 0
    assert sha(target.read_bytes()) == big
    assert leftover_temp_files(repo) == []
    assert git(repo, "status", "--porcelain") == ""
    assert mvm(repo, "status", "-q") == 0


# --- a full disk, a failing write ----------------------------------------------------------


def _assert_disk_full_error(err: str) -> None:
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert lines[-2].startswith("git mvm: error: ")
    assert "No space left on device" in lines[-2]
    assert lines[-1].startswith("hint: free some space")


def test_disk_full_during_add_of_a_large_file(
    repo: Path, tmpfs: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmpfs("1m")
    configure(repo, "cache", f'dir = "{cache}"')
    path = repo / "m.pt"
    big = big_file(path, 3)
    st = path.stat()
    res = run(capsys, repo, "add", "m.pt")
    assert res.rc == 1
    _assert_disk_full_error(res.err)
    assert sha(path.read_bytes()) == big
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == (st.st_mtime_ns, st.st_ino)
    assert not (repo / "m.pt.mvm").exists()
    assert [p for p in cache.rglob("*") if p.is_file() and p.parent.name != "clones"] == []
    assert leftover_temp_files(repo) == []
    assert staged(repo) == set()


def test_disk_full_during_add_of_a_directory_of_small_files(
    repo: Path, tmpfs: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmpfs("1m")
    configure(repo, "cache", f'dir = "{cache}"')
    digest = make_dataset(repo / "data", n=8, size=300_000)
    res = run(capsys, repo, "add", "data")
    assert res.rc == 1
    _assert_disk_full_error(res.err)
    assert tree_digest(repo / "data") == digest
    assert not (repo / "data.mvm").exists()
    objects = assert_cache_sound(repo, cache)  # complete objects only, no temp file
    assert len(objects) < 8
    assert [p for p in cache.rglob("*")
            if p.is_file() and p.name not in objects and p.parent.name != "clones"] == []


def test_disk_full_during_checkout_keeps_the_old_file(
    tmp_path: Path, tmpfs: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmpfs("4m")
    git(repo, "init", "-q")
    assert mvm(repo, "init", "-q", "--no-hooks") == 0
    configure(repo, "cache", f'dir = "{tmp_path / "cache"}"')
    configure(repo, "cache", 'link = ["copy"]')
    model = repo / "m.pt"
    v2 = big_file(model, 3)
    assert mvm(repo, "add", "-q", "m.pt") == 0
    git(repo, "commit", "-qm", "v2")
    v1 = b"v1" * (3 << 19)  # 1.5 MiB
    write(model, v1)
    assert mvm(repo, "add", "-q", "m.pt") == 0
    git(repo, "commit", "-qm", "v1")
    git(repo, "checkout", "-q", "HEAD~1")  # the pointer says v2: 3 MiB more than fits
    res = run(capsys, repo, "checkout")
    assert res.rc == 1
    _assert_disk_full_error(res.err)
    assert model.read_bytes() == v1
    assert leftover_temp_files(repo) == []
    assert_cache_sound(repo, tmp_path / "cache")
    assert oid_hex(read_pointer(repo, "m.pt")["oid"]) == v2



def test_disk_full_in_the_post_checkout_hook_is_one_warning(
    tmp_path: Path, tmpfs: Callable[[str], Path]
) -> None:
    """The hook cannot undo git's checkout: it says what went wrong in one line, no traceback."""
    repo = tmpfs("4m")
    git(repo, "init", "-q")
    assert mvm(repo, "init", "-q") == 0  # with the hooks
    configure(repo, "cache", f'dir = "{tmp_path / "cache"}"')
    configure(repo, "cache", 'link = ["copy"]')
    model = repo / "m.pt"
    big_file(model, 3)
    assert mvm(repo, "add", "-q", "m.pt") == 0
    git(repo, "commit", "-qm", "v2")
    v1 = b"v1" * (3 << 19)
    write(model, v1)
    assert mvm(repo, "add", "-q", "m.pt") == 0
    git(repo, "commit", "-qm", "v1")
    proc = subprocess.run(["git", "checkout", "-q", "HEAD~1"], cwd=repo, capture_output=True,
                          text=True, check=False)
    assert "Traceback" not in proc.stderr
    assert "No space left on device" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("git mvm: warning: m.pt: ")  # which artifact was left
    assert "free some space" in proc.stderr
    assert model.read_bytes() == v1
    assert leftover_temp_files(repo) == []

LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from gitmv.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_write_error_during_add_leaves_file_and_cache_intact(repo: Path) -> None:
    path = repo / "m.pt"
    big = big_file(path, 3)
    st = path.stat()
    proc = subprocess.run(
        [sys.executable, "-c", LIMITED, str(1 << 20), "add", "m.pt"], cwd=repo,
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-2].startswith("git mvm: error: ")
    assert os.strerror(errno.EFBIG) in lines[-2]
    assert lines[-1].startswith("hint: ")
    assert sha(path.read_bytes()) == big
    assert (path.stat().st_mtime_ns, path.stat().st_size) == (st.st_mtime_ns, st.st_size)
    assert not (repo / "m.pt.mvm").exists()
    assert cache_objects(repo) == {}
    assert leftover_temp_files(repo) == []
    assert mvm(repo, "add", "m.pt") == 0  # without the limit it goes through
    assert big in assert_cache_sound(repo)


def test_damaged_stat_cache_costs_only_re_hashing(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / "m.pt", b"weights")
    assert mvm(repo, "add", "-q", "m.pt") == 0
    db = mvm_dir(repo) / "state.sqlite"
    for extra in ("-wal", "-shm"):
        Path(f"{db}{extra}").unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    res = run(capsys, repo, "status")
    assert res.rc == 0, res.err
    assert res.out.startswith("up to date:")
    assert _integrity(repo) == [("ok",)]



def _fill(where: Path) -> None:
    """Use up every free byte of the file system holding `where`."""
    for name, size in (("filler", 1 << 16), ("filler2", 512)):
        fd = os.open(where / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        try:
            while True:
                os.write(fd, b"\0" * size)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)


def test_disk_full_in_status_is_one_line_naming_the_stat_cache(
    tmp_path: Path, tmpfs: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """status must record what it hashed; on a full disk it says so in one line, naming the
    file it could not write, and leaves the database as it was."""
    repo = tmpfs("4m")
    git(repo, "init", "-q")
    assert mvm(repo, "init", "-q", "--no-hooks") == 0
    make_dataset(repo / "data", n=6, size=100)
    assert mvm(repo, "add", "-q", "data") == 0
    git(repo, "commit", "-qm", "data")
    write(repo / "data" / "d0" / "f0.bin", b"changed")
    _fill(repo)
    res = run(capsys, repo, "status")
    assert res.rc == 1
    assert "Traceback" not in res.err and "unexpected" not in res.err
    lines = res.err.strip().splitlines()
    assert len(lines) == 2, res.err
    assert lines[0].startswith("git mvm: error: ")
    assert str(mvm_dir(repo) / "state.sqlite") in lines[0]
    assert "No space left on device" in lines[0]
    assert lines[1].startswith("hint: free some space")
    (repo / "filler").unlink()
    (repo / "filler2").unlink()
    assert _integrity(repo) == [("ok",)]
    res = run(capsys, repo, "status")
    assert res.rc == 0
    assert res.out.startswith("modified:")


def test_temp_files_of_a_shared_cache_are_judged_by_their_host(
    repo: Path, tmp_path: Path
) -> None:
    """A cache shared over NFS or between containers holds other hosts' temp files, whose pids
    mean nothing here: a live upload elsewhere must not lose its temp file because a process
    with its pid is gone on this host. This host's dead writers' temp files go at once,
    anyone's once untouched for a day."""
    import hashlib
    import socket

    this_host = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
    cache = tmp_path / "shared-cache"
    write(repo / ".git" / "mvm" / "config.toml", f'[cache]\ndir = "{cache}"\n')
    dead = subprocess.Popen(["true"])  # a pid that is surely no writer now
    dead.wait()
    tmp = cache / "tmp"
    tmp.mkdir(parents=True)
    elsewhere = write(tmp / f".mvm-tmp.{dead.pid}.0123abcd.aaaaaaaaaaaa", b"being written")
    here = write(tmp / f".mvm-tmp.{dead.pid}.{this_host}.bbbbbbbbbbbb", b"left by a kill")
    old = write(tmp / f".mvm-tmp.{os.getpid()}.0123abcd.cccccccccccc", b"untouched long")
    os.utime(old, (0, 0))
    write(repo / "m.pt", b"a model")
    assert mvm(repo, "add", "-q", "m.pt") == 0
    assert elsewhere.exists()
    assert not here.exists() and not old.exists()
    written = {p.name for p in tmp_path.rglob(".mvm-tmp.*")} | {
        p.name for p in repo.rglob(".mvm-tmp.*")}
    assert written == {elsewhere.name}
