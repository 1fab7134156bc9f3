"""gc deletes an object only with positive proof that nothing names it.

Every place that could name an object on the store must have been read, and none may name
it: the refs of every git remote (listed, their commits present here), the whole history (not
a shallow clone's), every pointer in it (each one parsed). When a place cannot be read, gc
deletes nothing and says in one line why and what to do; `--force` takes the risk knowingly.
After every gc the invariant holds: every pointer in every ref of the origin names bytes the
store holds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.helpers import (
    git,
    git_ok,
    mvm,
    run,
    save,
    sha,
)
from tests.transfer.team import (
    MODEL,
    DirStore,
    Team,
    assert_origin_complete,
    join,
    missing_from_store,
    one_refusal,
    push_branch,
    start_team,
)


@pytest.fixture
def team(tmp_path: Path) -> Team:
    return start_team(tmp_path, DirStore(tmp_path / "store"))


def dir_store(team: Team) -> DirStore:
    assert isinstance(team.store, DirStore)
    return team.store


# --- item 1: the refs of every git remote, or nothing is deleted ----------------------------


@pytest.mark.parametrize("how", ["unreachable", "no remote"])
def test_gc_remote_without_the_remote_s_refs_deletes_nothing(
    team: Team, tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    """bob pushed a model on a branch alice never fetched. alice's origin cannot be listed
    (a moved server, or a CI checkout with no `origin` at all): gc --remote must not take
    that for "no branches"."""
    store = dir_store(team)
    bob = join(team, tmp_path / "bob")
    push_branch(bob, "exp", os.urandom(3000))
    stray = store.put(b"garbage nobody names")
    store.age()
    before = store.oids()
    if how == "unreachable":
        git(team.alice, "remote", "set-url", "origin", str(tmp_path / "moved.git"))
    else:
        git(team.alice, "remote", "remove", "origin")
    res = run(capsys, team.alice, "gc", "--remote")
    assert res.rc == 1, res.err
    one_refusal(res.err, "nothing was deleted")
    assert "--force" in res.err
    assert store.oids() == before
    assert_origin_complete(team.origin, store)
    # --dry-run says the same (it would refuse)
    assert mvm(team.alice, "gc", "--remote", "--dry-run") == 1
    if how == "unreachable":  # the remote back: proof, and only the garbage goes
        git(team.alice, "remote", "set-url", "origin", str(team.origin))
        git_ok(team.alice, "fetch", "-q", "origin")
        res = run(capsys, team.alice, "gc", "--remote")
        assert res.rc == 0, res.err
        assert store.oids() == before - {stray}
        assert_origin_complete(team.origin, store)


def test_gc_remote_force_takes_the_risk_knowingly(
    team: Team, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = dir_store(team)
    bob = join(team, tmp_path / "bob")
    exp = push_branch(bob, "exp", os.urandom(3000))
    store.age()
    git(team.alice, "remote", "remove", "origin")
    res = run(capsys, team.alice, "gc", "--remote", "--force")
    assert res.rc == 0, res.err
    assert "warning" in res.err  # it says what it could not read
    assert exp not in store.oids()  # the risk it took: bob's branch lost its model
    assert missing_from_store(team.origin, store)


def test_gc_remote_reads_every_git_remote_that_shares_the_store(
    team: Team, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second git remote (a fork) pushes to the same store (core.remote): its branches name
    objects too. Until alice has its commits, gc --remote refuses; then it keeps them."""
    store = dir_store(team)
    fork = tmp_path / "fork.git"
    git_ok(tmp_path, "clone", "-q", "--bare", str(team.origin), str(fork))
    bob = join(team, tmp_path / "bob")
    git(bob, "remote", "add", "fork", str(fork))
    git_ok(bob, "checkout", "-q", "-b", "feature")
    feature = save(bob, MODEL, os.urandom(3000), "on the fork")
    git_ok(bob, "push", "-q", "fork", "feature")
    git(team.alice, "remote", "add", "fork", str(fork))
    store.put(b"garbage")
    store.age()
    before = store.oids()
    res = run(capsys, team.alice, "gc", "--remote")
    assert res.rc == 1, res.err
    one_refusal(res.err, "fork", "not in this clone")
    assert "git fetch fork" in res.err
    assert store.oids() == before
    git_ok(team.alice, "fetch", "-q", "fork")
    res = run(capsys, team.alice, "gc", "--remote")
    assert res.rc == 0, res.err
    assert feature in store.oids()
    assert_origin_complete(team.origin, store)
    assert_origin_complete(fork, store)


def test_gc_remote_reads_refs_outside_branches_and_tags(
    team: Team, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pull request's head (`refs/pull/1/head`) names a model as surely as a branch."""
    store = dir_store(team)
    bob = join(team, tmp_path / "bob")
    git_ok(bob, "checkout", "-q", "-b", "pr")
    pr_model = save(bob, MODEL, os.urandom(3000), "proposed")
    git_ok(bob, "push", "-q", "origin", "HEAD:refs/pull/1/head")
    store.age()
    before = store.oids()
    res = run(capsys, team.alice, "gc", "--remote")
    assert res.rc == 1, res.err
    one_refusal(res.err, "origin", "not in this clone")
    assert store.oids() == before
    git_ok(team.alice, "fetch", "-q", "origin", "+refs/pull/*:refs/remotes/origin/pull/*")
    res = run(capsys, team.alice, "gc", "--remote")
    assert res.rc == 0, res.err
    assert pr_model in store.oids()
    assert_origin_complete(team.origin, store)


# --- item 2: a shallow or partial clone ------------------------------------------------------


def shallow_clone(team: Team, dest: Path, depth: int = 1) -> Path:
    git_ok(dest.parent, "clone", "-q", f"--depth={depth}", f"file://{team.origin}", str(dest))
    assert mvm(dest, "install", "-q") == 0
    return dest


def test_gc_remote_from_a_shallow_clone_deletes_nothing(
    team: Team, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The usual CI checkout (`--depth 1`) sees one version: every older one would go."""
    store = dir_store(team)
    ci = shallow_clone(team, tmp_path / "ci")
    store.age()
    before = store.oids()
    res = run(capsys, ci, "gc", "--remote")
    assert res.rc == 1, res.err
    one_refusal(res.err, "shallow")
    assert "git fetch --unshallow" in res.err
    assert store.oids() == before
    assert_origin_complete(team.origin, store)
    git_ok(ci, "fetch", "-q", "--unshallow")
    res = run(capsys, ci, "gc", "--remote")
    assert res.rc == 0, res.err
    assert_origin_complete(team.origin, store)


def test_local_gc_in_a_shallow_clone_deletes_nothing(
    team: Team, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A clone made shallow after it fetched every version: the older ones are named only by
    history it no longer has, which is no proof that nothing needs them."""
    carol = join(team, tmp_path / "carol")
    git_ok(carol, "checkout", "-q", "main~1")  # fetches v1 into carol's cache
    git_ok(carol, "checkout", "-q", "main")
    git_ok(carol, "fetch", "-q", "--depth=1", "origin")
    git(carol, "reflog", "expire", "--expire=now", "--all")
    assert git(carol, "rev-parse", "--is-shallow-repository").strip() == "true"
    cache = carol / ".git" / "mvm" / "objects"
    for p in cache.rglob("*"):
        if p.is_file():
            os.utime(p, (1_000_000_000, 1_000_000_000))
    before = {p.name for p in cache.rglob("*") if p.is_file()}
    res = run(capsys, carol, "gc")
    assert res.rc == 1, res.err
    one_refusal(res.err, "shallow")
    assert {p.name for p in cache.rglob("*") if p.is_file()} == before


def partial_clone(team: Team, dest: Path) -> Path:
    git_ok(dest.parent, "clone", "-q", "--filter=blob:none", f"file://{team.origin}",
           str(dest))
    assert mvm(dest, "install", "-q") == 0
    return dest


def test_gc_remote_in_a_partial_clone_reads_pointers_it_lacks(
    team: Team, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--filter=blob:none`: the older pointer blobs are not here; gc reads them from the
    promisor remote and keeps what they name."""
    store = dir_store(team)
    carol = partial_clone(team, tmp_path / "carol")
    missing = git(carol, "rev-list", "--objects", "--all", "--missing=print")
    assert any(line.startswith("?") for line in missing.splitlines())
    stray = store.put(b"garbage")
    store.age()
    before = store.oids()
    res = run(capsys, carol, "gc", "--remote")
    assert res.rc == 0, res.err
    assert store.oids() == before - {stray}
    assert_origin_complete(team.origin, store)


def test_gc_in_a_partial_clone_cannot_read_a_pointer_blob(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pointer blob the partial clone never had, its promisor gone: gc cannot read the
    pointer, so it cannot prove its object unneeded, and deletes nothing."""
    team = start_team(tmp_path, DirStore(tmp_path / "store"))
    bob = join(team, tmp_path / "bob")
    carol = partial_clone(team, tmp_path / "carol")
    shared = os.urandom(3000)  # the same bytes in carol's cache, named by a pointer carol lacks
    save(bob, "other.pt", shared, "other")
    git_ok(bob, "push", "-q", "origin", "main")
    git_ok(bob, "rm", "-q", "other.pt.mvm")
    git_ok(bob, "commit", "-q", "-m", "gone again")
    git_ok(bob, "push", "-q", "origin", "main")
    subprocess.run(["git", "fetch", "-q", "origin"], cwd=carol, check=True,
                   capture_output=True)
    git_ok(carol, "merge", "-q", "--ff-only", "origin/main")
    save(carol, "copy.pt", shared)  # in carol's cache (staged, then unstaged: garbage?)
    git_ok(carol, "rm", "-q", "--cached", "copy.pt.mvm")
    (carol / "copy.pt.mvm").unlink()
    (carol / "copy.pt").unlink()
    shutil.move(team.origin, tmp_path / "elsewhere.git")
    cache = carol / ".git" / "mvm" / "objects"
    for p in cache.rglob("*"):
        if p.is_file():
            os.utime(p, (1_000_000_000, 1_000_000_000))
    res = run(capsys, carol, "gc")
    assert res.rc == 1, res.err
    one_refusal(res.err, "pointer", "nothing was deleted")
    assert (cache / sha(shared)[:2] / sha(shared)[2:4] / sha(shared)).exists()


def follow_fetch_hint(repo: Path, err: str) -> None:
    """Run the `git fetch …` the hint names, as a person would paste it."""
    import re
    import shlex

    found = re.search(r"`(git fetch [^`]*)`", err)
    assert found, err
    argv = shlex.split(found.group(1))
    git_ok(repo, *argv[1:])


@pytest.mark.parametrize("shape", ["--single-branch", "--depth then --unshallow",
                                   "narrowed refspec", "pull request ref"])
def test_the_fetch_hint_of_gc_remote_is_the_one_gc_needs(
    team: Team, tmp_path: Path, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    """bob pushed a model on a branch (or a pull request ref). A clone that does not fetch
    every branch (`--single-branch`, `--depth`, a narrowed `remote.origin.fetch`) lacks its
    commits: gc --remote refuses, and running the `git fetch` its hint names, once, lets gc
    go on, keeping bob's model (a plain `git fetch --tags` there brings no branch)."""
    store = dir_store(team)
    bob = join(team, tmp_path / "bob")
    ref = "refs/pull/7/head" if shape == "pull request ref" else "refs/heads/feature"
    git_ok(bob, "checkout", "-q", "-b", "feature")
    bobs = save(bob, MODEL, os.urandom(3000), "bob's model")
    git_ok(bob, "push", "-q", "origin", f"HEAD:{ref}")
    ci = tmp_path / "ci"
    url = f"file://{team.origin}"
    if shape == "--single-branch":
        git_ok(tmp_path, "clone", "-q", "--single-branch", "-b", "main", url, str(ci))
    elif shape == "--depth then --unshallow":
        git_ok(tmp_path, "clone", "-q", "--depth=1", url, str(ci))
        git_ok(ci, "fetch", "-q", "--unshallow")  # the hint for a shallow clone, followed
    else:
        git_ok(tmp_path, "clone", "-q", url, str(ci))
        if shape == "narrowed refspec":
            git_ok(ci, "config", "remote.origin.fetch", "+refs/heads/main:refs/remotes/origin/main")
            git_ok(ci, "branch", "-q", "-r", "-D", "origin/feature")
            git_ok(ci, "reflog", "expire", "--expire=now", "--all")
            git_ok(ci, "gc", "-q", "--prune=now")
    assert mvm(ci, "install", "-q") == 0
    store.age()
    before = store.oids()
    res = run(capsys, ci, "gc", "--remote")
    assert res.rc == 1, res.err
    one_refusal(res.err, "origin", "not in this clone")
    assert store.oids() == before
    follow_fetch_hint(ci, res.err)
    res = run(capsys, ci, "gc", "--remote")
    assert res.rc == 0, res.err
    assert bobs in store.oids()
    assert_origin_complete(team.origin, store)


def test_gc_that_cannot_fetch_a_manifest_says_why(
    team: Team, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """bob has the commit of a dataset but not its manifest, and the store lost it: gc
    cannot know which files the dataset needs, deletes nothing, and says what the store
    answered (it once printed "could not be fetched ()")."""
    from tests.helpers import save_dir

    store = dir_store(team)
    bob = join(team, tmp_path / "bob")
    save_dir(team.alice, "data", {"a.bin": os.urandom(100), "b.bin": os.urandom(200)}, "data")
    git_ok(team.alice, "push", "-q", "origin", "main")
    manifest = str(tomllib.loads((team.alice / "data.mvm").read_text())["oid"])
    store.path(manifest.removeprefix("sha256:")).unlink()
    git_ok(bob, "-c", f"core.hooksPath={tmp_path / 'no-hooks'}", "pull", "-q", "origin", "main")
    res = run(capsys, bob, "gc")
    assert res.rc == 1, res.err
    line = one_refusal(res.err, "directory manifest", "nothing was deleted")
    assert "()" not in line and manifest in line, line
