"""A cache shared by several clones (`cache.dir`): gc in one clone keeps what any of them
names, and stops when one it knows of cannot be read.

Every clone that opens a shared cache registers itself in it; `git mvm gc` reads the refs,
reflogs, index and work trees of every registered clone. A registered clone that is gone
(`--forget-clone`), unreadable for this user (permissions: run as its owner or `chmod`) or
broken stops the deletion (one line, the hint for that case, `--force`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import (
    dataset_files,
    error_lines,
    git_ok,
    make_old,
    mvm,
    mvm_popen,
    read_pointer,
    run,
    save,
    save_dir,
    sha,
    wait_for,
    write,
)
from tests.transfer.team import MODEL, DirStore, Team, join, start_team
from tests.transfer.test_transfer import (  # noqa: F401 (fixtures)
    OtherUser,
    _other_user_python,
    other_user,
)


def use_cache(repo: Path, cache: Path) -> None:
    """This clone's own (untracked) config points its cache at `cache`."""
    write(repo / ".git" / "mvm" / "config.toml", f'[cache]\ndir = "{cache}"\n')


def cache_files(cache: Path) -> dict[str, Path]:
    return {p.name: p for p in cache.glob("??/??/*") if p.is_file() and len(p.name) == 64}


def age(cache: Path) -> None:
    make_old(list(cache_files(cache).values()))


@pytest.fixture
def shared(tmp_path: Path) -> tuple[Team, Path, Path, Path]:
    """alice and bob, two clones of one origin, one cache directory between them."""
    team = start_team(tmp_path, DirStore(tmp_path / "store"))
    cache = tmp_path / "shared-cache"
    use_cache(team.alice, cache)
    bob = join(team, tmp_path / "bob")
    use_cache(bob, cache)
    assert mvm(team.alice, "pull", "-q") == 0
    assert mvm(bob, "pull", "-q") == 0
    return team, cache, team.alice, bob


def test_gc_keeps_what_another_clone_of_the_cache_names(
    shared: tuple[Team, Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """bob's committed, unpushed model; a model he staged; a pointer git does not track:
    alice's gc in the shared cache must keep all three."""
    _, cache, alice, bob = shared
    committed = save(bob, MODEL, os.urandom(3000), "bob's model, not pushed")
    staged = save(bob, "staged.pt", os.urandom(3000))
    loose = save(bob, "loose.pt", os.urandom(3000))
    git_ok(bob, "rm", "-q", "--cached", "loose.pt.mvm")
    garbage = save(alice, "junk.pt", os.urandom(3000))  # added, then thrown away by alice
    git_ok(alice, "rm", "-q", "-f", "junk.pt.mvm")
    (alice / "junk.pt").unlink()
    age(cache)
    res = run(capsys, alice, "gc")
    assert res.rc == 0, res.err
    left = cache_files(cache)
    assert {committed, staged, loose} <= set(left)
    assert garbage not in left
    for rel in (MODEL, "staged.pt", "loose.pt"):
        (bob / rel).unlink()
    assert mvm(bob, "checkout", "-q") == 0


def test_gc_stops_when_a_registered_clone_is_gone(
    shared: tuple[Team, Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, cache, alice, bob = shared
    save(bob, MODEL, os.urandom(3000), "bob's model, not pushed")
    shutil.move(bob, tmp_path / "bob-moved")  # moved (or deleted, or on an unmounted disk)
    age(cache)
    before = set(cache_files(cache))
    res = run(capsys, alice, "gc")
    assert res.rc == 1, res.err
    lines = error_lines(res.err)
    assert len(lines) == 1 and str(bob / ".git") in lines[0], res.err
    assert "--forget-clone" in res.err and "--force" in res.err
    assert set(cache_files(cache)) == before
    # the moved clone registers again the next time gitmv runs there
    assert mvm(tmp_path / "bob-moved", "status", "-q") == 0
    res = run(capsys, alice, "gc", "--forget-clone", str(bob / ".git"))
    assert res.rc == 0, res.err
    assert set(cache_files(cache)) == before  # bob-moved's model kept: it names it
    res = run(capsys, alice, "gc")  # forgotten for good
    assert res.rc == 0, res.err


def test_gc_stops_when_a_registered_clone_cannot_be_read(
    shared: tuple[Team, Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, cache, alice, bob = shared
    shutil.rmtree(bob / ".git" / "refs")  # no longer a git repository git can open
    (bob / ".git" / "HEAD").unlink()
    age(cache)
    before = set(cache_files(cache))
    res = run(capsys, alice, "gc")
    assert res.rc == 1, res.err
    assert str(bob / ".git") in error_lines(res.err)[0]
    assert set(cache_files(cache)) == before
    res = run(capsys, alice, "gc", "--force")
    assert res.rc == 0, res.err
    assert "warning" in res.err


@pytest.mark.parametrize("closed", ["its work tree", "its git dir"])
def test_a_registered_clone_gc_may_not_read_is_unreadable_not_gone(
    other_user: OtherUser, closed: str  # noqa: F811
) -> None:
    """A user's gc, a clone it may not read (permissions): that clone is not "gone", whose
    hint (`--forget-clone`) would let gc delete its models, but "unreadable", with the way
    to read it; once that is done, gc goes on and keeps the clone's model."""
    from tests.helpers import init_hooked

    base = other_user.base
    cache = base / "shared-cache"
    alice = init_hooked(base / "alice")
    use_cache(alice, cache)
    save(alice, "a.pt", os.urandom(3000), "alice's model")
    bob = init_hooked(base / "bob")
    use_cache(bob, cache)
    bobs = save(bob, MODEL, os.urandom(3000), "bob's model, not pushed")
    age(cache)
    other_user.own()
    shut = bob if closed == "its work tree" else bob / ".git"
    shut.chmod(0)
    try:
        before = set(cache_files(cache))
        res = other_user.mvm(alice, "gc")
        assert res.returncode == 1, res.stderr
        lines = error_lines(res.stderr)
        assert len(lines) == 1 and str(bob / ".git") in lines[0], res.stderr
        assert "unreadable" in lines[0] and "Permission denied" in lines[0], res.stderr
        assert "gone" not in res.stderr and "--forget-clone" not in res.stderr, res.stderr
        assert "chmod" in res.stderr and "as the user who owns" in res.stderr
        assert set(cache_files(cache)) == before
    finally:
        shut.chmod(0o755)  # the hint, followed
    res = other_user.mvm(alice, "gc")
    assert res.returncode == 0, res.stderr
    assert bobs in cache_files(cache)


def test_a_clone_registers_once(shared: tuple[Team, Path, Path, Path]) -> None:
    _, cache, alice, bob = shared
    regs = sorted((cache / "clones").iterdir())
    assert len(regs) == 2
    texts = {p.read_text().strip() for p in regs}
    assert texts == {str(alice / ".git"), str(bob / ".git")}
    stamps = [p.stat().st_mtime_ns for p in regs]
    assert mvm(alice, "status", "-q") == 0
    assert [p.stat().st_mtime_ns for p in sorted((cache / "clones").iterdir())] == stamps


def test_gc_waits_for_a_command_running_in_another_clone(
    shared: tuple[Team, Path, Path, Path], tmp_path: Path
) -> None:
    """While a gitmv command holds bob's repository lock (an `add` about to write a pointer
    naming an old object), alice's gc waits for it rather than reading bob's state under
    its feet."""
    _, _, alice, bob = shared
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); sys.stdin.read()",
         str(bob / ".git" / "mvm" / "lock")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    log = tmp_path / "gc.err"
    with open(log, "w") as err:
        gc = mvm_popen(alice, "gc", stderr=err)
        waited = wait_for(lambda: "waiting for lock" in log.read_text(), gc)
        holder.communicate("")  # bob's command ends
        gc.communicate(timeout=120)
    assert waited, log.read_text()
    assert gc.returncode == 0, log.read_text()
    assert str(bob / ".git" / "mvm" / "lock") in log.read_text()


@pytest.mark.parametrize("variables", ["git-dir", "index-file"])
def test_gc_reads_another_clone_as_itself_whatever_this_one_exports(
    shared: tuple[Team, Path, Path, Path], variables: str
) -> None:
    """`GIT_DIR` / `GIT_WORK_TREE` (a user's, or a linked worktree's hook's) or `GIT_INDEX_FILE`
    (a post-commit hook's) point at alice's repository; gc reads bob's clone through his own
    git dir and index all the same, and keeps his committed and his staged model."""
    _, cache, alice, bob = shared
    committed = save(bob, MODEL, os.urandom(3000), "bob's model, not pushed")
    staged = save(bob, "staged.pt", os.urandom(3000))
    (bob / "staged.pt.mvm").unlink()  # named by bob's index alone
    age(cache)
    env = dict(os.environ)
    if variables == "git-dir":
        env.update(GIT_DIR=str(alice / ".git"), GIT_WORK_TREE=str(alice))
    else:
        env["GIT_INDEX_FILE"] = str(alice / ".git" / "index")
    proc = subprocess.run([sys.executable, "-m", "gitmv", "gc", "-n", "--json"], cwd=alice,
                          env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    doomed = {d.removeprefix("sha256:") for d in json.loads(proc.stdout)["deleted"]}
    assert not doomed & {committed, staged}, proc.stderr


def test_gc_makes_every_clone_forget_which_directories_it_had_whole(
    shared: tuple[Team, Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Each clone's stat cache records the directories whose every object is in the cache, so
    that adding one again stats none of them. alice's gc deleted objects of such a directory
    of bob's; when bob added it again his record vouched for files the cache no longer held,
    and the new pointer named bytes that were nowhere."""
    _, cache, alice, bob = shared
    files = dataset_files(n=6, tag=b"bob's")
    save_dir(bob, "data", files)
    pointer = (bob / "data.mvm").read_bytes()
    manifest = read_pointer(bob, "data")["oid"].removeprefix("sha256:")
    git_ok(bob, "rm", "-q", "--cached", "data.mvm")
    (bob / "data.mvm").unlink()  # for a while nothing names the directory
    make_old([p for oid, p in cache_files(cache).items() if oid != manifest])
    res = run(capsys, alice, "gc")
    assert res.rc == 0, res.err
    assert {sha(b) for b in files.values()}.isdisjoint(cache_files(cache))
    (bob / "data.mvm").write_bytes(pointer)  # back, from wherever bob kept it
    assert mvm(bob, "add", "-q", "data") == 0
    assert {sha(b) for b in files.values()} <= set(cache_files(cache))
    shutil.rmtree(bob / "data")
    assert mvm(bob, "checkout", "-q", "data") == 0
    assert {p.relative_to(bob / "data").as_posix(): p.read_bytes()
            for p in (bob / "data").rglob("*") if p.is_file()} == files
