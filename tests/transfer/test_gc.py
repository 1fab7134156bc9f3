"""`git mvm gc`: drop cache objects nothing needs, and never one that something does.

Needed = named by a pointer in any work tree or index, in any commit reachable from a branch,
tag, remote branch, stash or reflog entry, or in another worktree, plus every object of a
needed directory manifest; objects younger than an hour are kept whatever names them. The
tests build such a history, run gc, then check every one of those states out again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.helpers import (
    cache_objects,
    dataset_files,
    git,
    git_ok,
    init_hooked,
    make_old,
    mvm,
    mvm_proc,
    oid_hex,
    put_object,
    read_pointer,
    rev,
    run,
    save,
    save_dir,
    sha,
    tree_digest,
    write,
)

MODEL = "models/m.pt"


class History(NamedTuple):
    repo: Path
    wt: Path
    models: dict[str, bytes]  # state name -> bytes of models/m.pt there
    data: dict[str, dict[str, str]]  # state name -> tree digest of data/train there
    commits: dict[str, str]  # state name -> commit
    orphans_old: set[str]
    orphans_young: set[str]


def model_at(repo: Path) -> bytes:
    return (repo / MODEL).read_bytes()


def refs_containing(repo: Path, commit: str) -> set[str]:
    return set(git(repo, "for-each-ref", "--format=%(refname)", "--contains", commit).split())


def build_history(tmp_path: Path) -> History:
    repo = init_hooked(tmp_path / "repo")
    models: dict[str, bytes] = {}
    data: dict[str, dict[str, str]] = {}
    commits: dict[str, str] = {}

    def version(state: str, message: str | None = "commit") -> None:
        models[state] = os.urandom(2000)
        save(repo, MODEL, models[state], None if message is None else f"{state}: {message}")
        if message is not None:
            commits[state] = rev(repo)

    version("main-old")
    data["main"] = save_dir(repo, "data/train", dataset_files(tag=b"main"), "main data")
    version("main")

    git_ok(repo, "checkout", "-q", "-b", "exp")  # a branch with its own model and dataset
    version("exp", message=None)
    data["exp"] = save_dir(repo, "data/train", dataset_files(n=9, tag=b"exp"), "exp")
    commits["exp"] = rev(repo)

    git_ok(repo, "checkout", "-q", "-b", "tagged", "main")  # reachable from a tag only
    version("tag")
    git_ok(repo, "tag", "-a", "-m", "release", "v1.0")
    git_ok(repo, "checkout", "-q", "main")
    git_ok(repo, "branch", "-q", "-D", "tagged")

    git_ok(repo, "checkout", "-q", "-b", "gone")  # reachable from a remote branch only
    version("remote")
    git_ok(repo, "update-ref", "refs/remotes/origin/gone", "HEAD")
    git_ok(repo, "checkout", "-q", "main")
    git_ok(repo, "branch", "-q", "-D", "gone")

    git_ok(repo, "checkout", "-q", "--detach", "main")  # reachable from the reflog only
    version("reflog")
    git_ok(repo, "checkout", "-q", "main")

    version("stash", message=None)  # a stashed (staged) pointer change
    git_ok(repo, "stash", "-q")
    assert mvm(repo, "checkout", "-q") == 0
    assert model_at(repo) == models["main"]

    wt = tmp_path / "wt"  # another worktree: a detached commit and a staged pointer there
    git_ok(repo, "worktree", "add", "-q", "--detach", str(wt), "main")
    models["wt-commit"] = os.urandom(2000)
    save(wt, MODEL, models["wt-commit"], "worktree commit")
    commits["wt-commit"] = rev(wt)
    models["wt-index"] = os.urandom(2000)
    save(wt, MODEL, models["wt-index"])

    models["index"] = os.urandom(2000)  # staged, never committed, in this worktree
    write(repo / "other.pt", models["index"])
    assert mvm(repo, "add", "-q", "other.pt") == 0

    models["untracked"] = os.urandom(2000)  # a pointer on disk that git does not track
    write(repo / "loose.pt", models["untracked"])
    assert mvm(repo, "add", "-q", "loose.pt") == 0
    git_ok(repo, "rm", "-q", "--cached", "loose.pt.mvm")

    # each state is reachable the way its name says, and no other way
    assert refs_containing(repo, commits["tag"]) == {"refs/tags/v1.0"}
    assert refs_containing(repo, commits["remote"]) == {"refs/remotes/origin/gone"}
    assert refs_containing(repo, commits["reflog"]) == set()
    assert refs_containing(repo, commits["wt-commit"]) == set()
    assert sha(models["stash"]) not in git(repo, "log", "--exclude=refs/stash", "--all",
                                             "-p", "--", "*.mvm")

    orphans_old = set()
    for name in ("junk1.pt", "junk2.pt"):  # added, then the pointer thrown away
        write(repo / name, os.urandom(1500))
        assert mvm(repo, "add", "-q", name) == 0
        orphans_old.add(oid_hex(read_pointer(repo, name)["oid"]))
        git_ok(repo, "rm", "-q", "-f", f"{name}.mvm")
        (repo / name).unlink()
    orphans_old.add(put_object(repo, b"a stray object"))
    make_old(list(cache_objects(repo).values()))

    orphans_young = {put_object(repo, b"written a moment ago by a concurrent add")}
    return History(repo, wt, models, data, commits, orphans_old, orphans_young)


@pytest.fixture
def history(tmp_path: Path) -> History:
    return build_history(tmp_path)


def needed_oids(h: History) -> set[str]:
    return set(cache_objects(h.repo)) - h.orphans_old - h.orphans_young


def test_dry_run_deletes_nothing(history: History, capsys: pytest.CaptureFixture[str]) -> None:
    before = set(cache_objects(history.repo))
    res = run(capsys, history.repo, "gc", "--dry-run")
    assert res.rc == 0, res.err
    assert set(cache_objects(history.repo)) == before
    said = {ln.split()[2].removeprefix("sha256:") for ln in res.out.splitlines()
            if ln.startswith("would delete:")}
    assert said == history.orphans_old
    assert "would free" in res.err


def test_gc_deletes_only_old_unneeded_objects_then_every_state_checks_out(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    h = history
    keep = needed_oids(h)
    for bytes_ in h.models.values():
        assert sha(bytes_) in keep
    res = run(capsys, h.repo, "gc", "--json")
    assert res.rc == 0, res.err
    report = json.loads(res.out)
    assert report["dry_run"] is False
    assert {d.removeprefix("sha256:") for d in report["deleted"]} == h.orphans_old
    assert report["kept"] == len(keep) + len(h.orphans_young)
    assert set(cache_objects(h.repo)) == keep | h.orphans_young
    assert mvm(h.repo, "gc", "-q") == 0  # nothing more to do
    assert set(cache_objects(h.repo)) == keep | h.orphans_young

    repo = h.repo
    # the index (staged, uncommitted) and a pointer git does not track
    (repo / "other.pt").unlink()
    (repo / "loose.pt").unlink()
    assert mvm(repo, "checkout", "-q") == 0
    assert (repo / "other.pt").read_bytes() == h.models["index"]
    assert (repo / "loose.pt").read_bytes() == h.models["untracked"]
    git_ok(repo, "rm", "-q", "-f", "--cached", "other.pt.mvm")

    checks = [
        ("exp", "exp"),
        ("v1.0", "tag"),
        ("origin/gone", "remote"),
        (h.commits["reflog"], "reflog"),
        ("main~1", "main-old"),
        ("main", "main"),
    ]
    for target, state in checks:
        git_ok(repo, "checkout", "-q", target)
        assert model_at(repo) == h.models[state], state
    git_ok(repo, "checkout", "-q", "exp")
    assert tree_digest(repo / "data" / "train") == h.data["exp"]
    git_ok(repo, "checkout", "-q", "main")
    assert tree_digest(repo / "data" / "train") == h.data["main"]

    git_ok(repo, "stash", "apply", "-q")
    assert mvm(repo, "checkout", "-q", MODEL) == 0
    assert model_at(repo) == h.models["stash"]

    wt = h.wt
    (wt / MODEL).unlink()
    assert mvm(wt, "checkout", "-q") == 0
    assert model_at(wt) == h.models["wt-index"]
    git_ok(wt, "reset", "-q", "--hard")
    assert mvm(wt, "checkout", "-q") == 0
    assert model_at(wt) == h.models["wt-commit"]


def test_gc_prints_what_it_frees(history: History, capsys: pytest.CaptureFixture[str]) -> None:
    res = run(capsys, history.repo, "gc")
    assert res.rc == 0
    n = len(history.orphans_old)
    assert f"in {n} object{'' if n == 1 else 's'}" in res.err
    assert "freed" in res.err
    res = run(capsys, history.repo, "gc", "-v")
    assert "freed 0 B in 0 objects" in res.err


def test_gc_keeps_every_file_of_a_needed_directory(tmp_path: Path) -> None:
    repo = init_hooked(tmp_path / "repo")
    digest = save_dir(repo, "data", dataset_files(n=12), "data")
    git_ok(repo, "checkout", "-q", "-b", "side")
    save_dir(repo, "data", dataset_files(n=3), "other data")
    git_ok(repo, "checkout", "-q", "main")
    git_ok(repo, "branch", "-q", "-D", "side")  # side's dataset: needed by the reflog only
    git(repo, "reflog", "expire", "--expire=now", "--all")  # now by nothing at all
    make_old(list(cache_objects(repo).values()))
    before = set(cache_objects(repo))
    assert mvm(repo, "gc", "-q") == 0
    after = set(cache_objects(repo))
    assert len(before - after) == 4  # the side dataset's three files and its manifest
    import shutil

    shutil.rmtree(repo / "data")
    assert mvm(repo, "checkout", "-q") == 0
    assert tree_digest(repo / "data") == digest


def test_gc_in_a_linked_worktree_sees_the_main_one(history: History) -> None:
    keep = needed_oids(history)
    assert mvm(history.wt, "gc", "-q") == 0
    assert set(cache_objects(history.repo)) == keep | history.orphans_young


def test_gc_on_an_empty_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = init_hooked(tmp_path / "repo")
    res = run(capsys, repo, "gc")
    assert res.rc == 0
    assert "freed 0 B in 0 objects" in res.err


def test_gc_frees_interrupted_downloads_of_what_nothing_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pull killed mid-download leaves `tmp/partial-<oid>` to resume from. gc removes those
    of objects nothing needs, once older than the grace period, and never one a download is
    writing (it holds the partial's lock) or one of a needed object the cache lacks (a later
    pull resumes). A needed object already in the cache (fetched whole some other way, as a
    packed pull does) leaves its partial nothing to resume: it goes too."""
    import fcntl

    other = init_hooked(tmp_path / "other")
    needed = save(other, MODEL, os.urandom(2000), "model")  # named here, never in this cache
    repo = init_hooked(tmp_path / "repo")
    write(repo / f"{MODEL}.mvm", (other / f"{MODEL}.mvm").read_bytes())
    git_ok(repo, "add", f"{MODEL}.mvm")
    git_ok(repo, "commit", "-q", "--no-verify", "-m", "a pointer whose bytes are elsewhere")
    cached = save(repo, "b.pt", os.urandom(2000), "in the cache")
    tmp = repo / ".git" / "mvm" / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    garbage, busy, young = sha(b"garbage"), sha(b"busy"), sha(b"young")
    paths = {oid: write(tmp / f"partial-{oid}", os.urandom(5000))
             for oid in (needed, cached, garbage, busy, young)}
    make_old([paths[needed], paths[cached], paths[garbage], paths[busy]])
    with open(paths[busy], "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # a download in flight
        res = run(capsys, repo, "gc", "--json")
    assert res.rc == 0, res.err
    assert sorted(json.loads(res.out)["partial_downloads"]) == sorted(
        [f"sha256:{garbage}", f"sha256:{cached}"])
    assert {oid for oid, p in paths.items() if p.exists()} == {needed, busy, young}


def _gc_env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


@pytest.mark.parametrize("where", ["main", "linked"])
@pytest.mark.parametrize("variables", ["none", "git-dir", "index-file", "all"])
def test_gc_reads_every_worktree_whatever_locating_variables_it_inherits(
    history: History, where: str, variables: str
) -> None:
    """Git hands its hooks `GIT_INDEX_FILE` (post-commit, pre-commit) and, in a linked
    worktree, `GIT_DIR`; users export `GIT_DIR` / `GIT_WORK_TREE` for a bare repository with
    a separate work tree. gc started under any of them reads each *other* worktree through
    that worktree's own index, not through the one the variables name (which lost the model
    staged there)."""
    h = history
    here = h.repo if where == "main" else h.wt
    git_dir = git(here, "rev-parse", "--absolute-git-dir").strip()
    env: dict[str, str] = {}
    if variables in ("git-dir", "all"):
        env.update(GIT_DIR=git_dir, GIT_WORK_TREE=str(here))
    if variables in ("index-file", "all"):
        env["GIT_INDEX_FILE"] = os.path.join(git_dir, "index")
    if variables == "all":
        env.update(GIT_COMMON_DIR=str(h.repo / ".git"), GIT_PREFIX="",
                   GIT_OBJECT_DIRECTORY=str(h.repo / ".git" / "objects"))
    keep = needed_oids(h)
    (h.wt / f"{MODEL}.mvm").unlink()  # what is staged is then named by the index alone
    (h.repo / "other.pt.mvm").unlink()
    proc = mvm_proc(here, "gc", env=_gc_env(**env))
    assert proc.returncode == 0, proc.stderr
    assert set(cache_objects(h.repo)) == keep | h.orphans_young


def test_gc_reads_the_index_of_a_worktree_whose_directory_is_missing(
    history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A worktree on a disk that is not mounted (`git worktree lock`ed, say): its directory is
    missing, but its index is still in the common git dir. What is staged there is kept; its
    untracked pointer files cannot be read, so gc stops (and says how to go on), and with
    --force still keeps what the index names."""
    h = history
    git_ok(h.repo, "worktree", "lock", str(h.wt))
    os.rename(h.wt, tmp_path / "unmounted")
    keep = needed_oids(h)
    before = set(cache_objects(h.repo))
    res = run(capsys, h.repo, "gc")
    assert res.rc == 1, res.err
    errors = [ln for ln in res.err.splitlines() if ln.startswith("git mvm: error:")]
    assert len(errors) == 1 and str(h.wt) in errors[0], res.err
    assert "git worktree prune" in res.err
    assert set(cache_objects(h.repo)) == before
    res = run(capsys, h.repo, "gc", "--force")
    assert res.rc == 0, res.err
    assert set(cache_objects(h.repo)) == keep | h.orphans_young
    os.rename(tmp_path / "unmounted", h.wt)  # mounted again: the staged model is there
    (h.wt / MODEL).unlink()
    assert mvm(h.wt, "checkout", "-q") == 0
    assert model_at(h.wt) == h.models["wt-index"]
