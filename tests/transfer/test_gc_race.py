"""A push and `gc --remote` at the same time, interleaved at the dangerous points, on a
directory store and on S3 (moto's server): afterwards every pointer in every ref of the
origin still names bytes the store holds, and a push that lost its bytes says so.

The dangerous points: a push found an object already on the store (so it sends nothing) and
git has not sent the refs that name it yet; gc read the refs before that push landed and
deletes from a listing made before the push relied on the object; an object leaves the store
just as a push refreshes it; a push that ran so long that what it uploaded first has aged past
gc's grace period before git sends the refs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from gitmv.hooks.run import pre_push
from gitmv.remotes import local as localmod
from gitmv.remotes import retry
from gitmv.transfer import engine
from tests.helpers import ZERO_SHA, git_ok, git_run, mvm, rev, sha
from tests.stores.s3 import REGION, MotoServer, server, set_aws_env
from tests.transfer.team import (
    MODEL,
    DirStore,
    Team,
    assert_origin_complete,
    join,
    missing_from_store,
    push_branch,
    start_team,
)

S3_GRACE = 3  # seconds: gc's grace period in the S3 tests (moto's clock cannot be moved)


class BucketStore:
    def __init__(self, moto: MotoServer, bucket: str, prefix: str = "objects") -> None:
        self.client = moto.client()
        self.bucket = bucket
        self.prefix = prefix
        self.url = f"s3://{bucket}/{prefix}"

    def key(self, oid: str) -> str:
        return f"{self.prefix}/{oid[:2]}/{oid[2:4]}/{oid}"

    def oids(self) -> set[str]:
        out = set()
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.prefix}/")
        for page in pages:
            for item in page.get("Contents", ()):
                name = item["Key"].rsplit("/", 1)[1]
                if len(name) == 64:
                    out.add(name)
        return out

    def read(self, oid: str) -> bytes | None:
        try:
            data: bytes = self.client.get_object(Bucket=self.bucket, Key=self.key(oid))[
                "Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None
        return data

    def put(self, data: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=self.key(sha(data)), Body=data)
        return sha(data)


class World(NamedTuple):
    team: Team
    kind: str
    store_class: type[Any]  # gitmv's store class for this kind
    age: Callable[[], None]  # make every object on the store older than gc's grace period


@pytest.fixture(params=["dir", "s3"])
def world(request: pytest.FixtureRequest, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    if request.param == "dir":
        store = DirStore(tmp_path / "store")
        team = start_team(tmp_path, store)
        yield World(team, "dir", localmod.LocalStore, store.age)
        return
    from gitmv.remotes import s3 as s3mod

    set_aws_env(monkeypatch)
    monkeypatch.setattr(retry, "BASE_DELAY", 0.01)
    moto = server()
    bucket = BucketStore(moto, moto.new_bucket())
    team = start_team(tmp_path, bucket, ("--endpoint-url", moto.endpoint, "--region", REGION))
    monkeypatch.setattr(engine, "GRACE_SECONDS", S3_GRACE)  # moto's LastModified is real time

    def age() -> None:
        time.sleep(S3_GRACE + 1.5)

    yield World(team, "s3", s3mod.S3Store, age)


def once_after(monkeypatch: pytest.MonkeyPatch, cls: type[Any], names: tuple[str, ...],
               action: Callable[[], None], before: bool = False) -> list[str]:
    """Run `action` once: right after (or before) the first call of any of `cls.<names>`
    (those the class has). Returns the list the method name is appended to when it ran."""
    ran: list[str] = []
    for name in names:
        real = getattr(cls, name, None)
        if real is None:
            continue

        def wrapper(self: Any, *a: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            if before and not ran:
                ran.append(_name)
                action()
            out = _real(self, *a, **kw)
            if not before and not ran:
                ran.append(_name)
                action()
            return out

        monkeypatch.setattr(cls, name, wrapper)
    return ran


def revival(world: World, tmp_path: Path) -> tuple[Path, str, str]:
    """alice pushed branch `old` (its model reached the store), then deleted it on the
    origin; carol cloned after that. The model is on the store, named by no ref there.
    Returns carol, the model's oid and the commit `old` names."""
    team = world.team
    model = push_branch(team.alice, "old", os.urandom(3000))
    git_ok(team.alice, "push", "-q", "origin", ":old")
    carol = join(team, tmp_path / "carol")
    assert model in team.store.oids()
    return carol, model, rev(team.alice, "old")


def in_process_pre_push(repo: Path, branch: str, commit: str, origin: Path,
                        monkeypatch: pytest.MonkeyPatch) -> int:
    """The pre-push hook for `git push origin BRANCH` (a new branch), run in this process."""
    with monkeypatch.context() as mp:
        mp.chdir(repo)
        line = f"refs/heads/{branch} {commit} refs/heads/{branch} {ZERO_SHA}\n"
        return pre_push(["origin", str(origin)], line.encode())


def test_gc_between_a_push_s_check_and_its_refs(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's race: alice pushes `old` again (a revived commit whose model is past the
    grace period); carol's gc --remote runs right after the push found the model already on
    the store and before git sends the refs."""
    team = world.team
    carol, model, commit = revival(world, tmp_path)
    world.age()
    gc_rc: list[int] = []
    ran = once_after(monkeypatch, world.store_class, ("stat_many",),
                     lambda: gc_rc.append(mvm(carol, "gc", "-q", "--remote")))
    rc = in_process_pre_push(team.alice, "old", commit, team.origin, monkeypatch)
    assert ran and gc_rc == [0]
    if rc == 0:  # git sends the refs only when the hook agreed
        git_ok(team.alice, "push", "-q", "--no-verify", "origin", "old")
    assert model in team.store.oids()
    assert_origin_complete(team.origin, team.store)


def test_a_push_lands_between_gc_s_ref_read_and_its_deletions(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """carol's gc --remote read the refs and listed the store; then alice's whole push of the
    revived branch (the hook, then git sending the refs) lands; then gc deletes. (The hook
    runs in this process, so that both sides see the test's short grace period.)"""
    team = world.team
    carol, model, commit = revival(world, tmp_path)
    team.store.put(b"garbage: something for gc to delete")
    world.age()
    pushes: list[int] = []

    def push() -> None:
        rc = in_process_pre_push(team.alice, "old", commit, team.origin, monkeypatch)
        if rc == 0:
            rc = git_run(team.alice, "push", "-q", "--no-verify", "origin", "old").returncode
        pushes.append(rc)

    ran = once_after(monkeypatch, world.store_class, ("delete", "delete_if_older"), push,
                     before=True)
    assert mvm(carol, "gc", "-q", "--remote") == 0
    assert ran and pushes == [0]
    assert model in team.store.oids()
    assert_origin_complete(team.origin, team.store)


def test_a_refresh_just_before_the_object_leaves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Directory store: a push refreshes the model at the last moment before gc's removal
    call for it (the rename or unlink that takes it away). gc must notice and keep it."""
    store = DirStore(tmp_path / "store")
    team = start_team(tmp_path, store)
    world = World(team, "dir", localmod.LocalStore, store.age)
    carol, model, _ = revival(world, tmp_path)
    store.age()
    path = str(store.path(model))
    touched: list[str] = []
    real_rename, real_unlink = os.rename, os.unlink

    def refresh_first(src: Any) -> None:
        if os.fspath(src) == path and not touched:
            touched.append(path)
            os.utime(path)  # what a push that relies on the object does

    def rename(src: Any, dst: Any, *a: Any, **kw: Any) -> None:
        refresh_first(src)
        real_rename(src, dst, *a, **kw)

    def unlink(p: Any, *a: Any, **kw: Any) -> None:
        refresh_first(p)
        real_unlink(p, *a, **kw)

    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(os, "unlink", unlink)
    assert mvm(carol, "gc", "-q", "--remote") == 0
    monkeypatch.undo()
    assert touched
    assert model in store.oids()


def test_a_long_push_whose_first_uploads_aged(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A push so long that what it uploaded first is past gc's grace period before the push
    is done: gc deletes it meanwhile. The push checks again at its end and sends it again."""
    from gitmv.transfer import sync

    team = world.team
    carol = join(team, tmp_path / "carol")
    git_ok(team.alice, "checkout", "-q", "-b", "long")
    from tests.helpers import dataset_files, save_dir

    save_dir(team.alice, "data/train", dataset_files(n=4), "a dataset")
    commit = rev(team.alice)
    monkeypatch.setattr(sync, "refresh_after", lambda: 0.0)  # as if it had run for an hour
    gc_rc: list[int] = []

    def an_hour_later() -> None:
        world.age()
        gc_rc.append(mvm(carol, "gc", "-q", "--remote"))

    # after the file objects went up (the first flush or upload of a manifest)
    uploads: list[str] = []
    real_upload = world.store_class.upload

    def upload(self: Any, oid: str, size: int, src: Any) -> None:
        real_upload(self, oid, size, src)
        uploads.append(oid)
        if len(uploads) == 4:  # the dataset's four files are up; its manifest is next
            an_hour_later()

    monkeypatch.setattr(world.store_class, "upload", upload)
    rc = in_process_pre_push(team.alice, "long", commit, team.origin, monkeypatch)
    assert gc_rc == [0]
    if rc == 0:
        git_ok(team.alice, "push", "-q", "--no-verify", "origin", "long")
    missing = missing_from_store(team.origin, team.store)
    assert not missing, f"push rc {rc}, yet the origin names bytes the store lacks: {missing}"


def test_s3_refresh_of_an_object_past_copy_object_s_limit(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """CopyObject stops at 5 GB; a larger object is refreshed by a multipart copy onto
    itself: a new LastModified, the same bytes (a 1 KB multipart threshold stands in for the
    size here)."""
    from gitmv.remotes.base import open_store
    from gitmv.remotes.s3 import S3Store

    set_aws_env(monkeypatch)
    moto = server()
    bucket = BucketStore(moto, moto.new_bucket())
    data = os.urandom(3000)
    oid = bucket.put(data)
    store = open_store("s3", bucket.url, {"endpoint_url": moto.endpoint, "region": REGION,
                                          "multipart_threshold": "1KB"})
    assert isinstance(store, S3Store)

    def modified() -> float:
        head = bucket.client.head_object(Bucket=bucket.bucket, Key=bucket.key(oid))
        return float(head["LastModified"].timestamp())

    before = modified()
    time.sleep(1.1)  # LastModified has a resolution of one second
    store._copy_in_parts(oid)
    assert modified() > before
    assert bucket.read(oid) == data
    assert store.refresh([oid, sha(b"absent")]) == {oid}


def test_a_push_refreshes_only_the_old_objects_it_relies_on(tmp_path: Path) -> None:
    """Refreshing costs a request per object on S3: a push refreshes what it relies on only
    once it is older than a quarter of the grace period (15 minutes), which keeps it young
    until git sends the refs; pushing what was just pushed refreshes nothing."""
    store = DirStore(tmp_path / "store")
    team = start_team(tmp_path, store)
    model = sha((team.alice / MODEL).read_bytes())
    path = store.path(model)

    def push_full_at(age: float) -> float:
        when = time.time() - age
        os.utime(path, (when, when))
        assert mvm(team.alice, "push", "-q", "--full") == 0
        return path.stat().st_mtime

    ten_minutes_ago = time.time() - 600
    assert abs(push_full_at(600) - ten_minutes_ago) < 2  # young: left as it is
    assert push_full_at(20 * 60) > time.time() - 60  # old: refreshed
    assert_origin_complete(team.origin, store)


# --- gc killed while it holds an object aside --------------------------------------------

# A gc that removes one object from a directory store and is killed (SIGKILL) at `point`:
# "aside" at its first look at the object once moved aside, "back" as it moves it back.
KILLED_GC = r"""
import os, signal, sys
from gitmv.remotes.local import LocalStore

root, oid, cutoff, point = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
store = LocalStore("store", root, root)
obj = store._path(oid)

def is_aside(p):
    p = os.fspath(p)
    return p != obj and os.path.dirname(p) == os.path.dirname(obj)

def hook(name):
    real = getattr(os, name)
    def call(p, *a, **kw):
        back = name in ("rename", "replace", "link")
        if is_aside(p) and (point == "aside" or (point == "back" and back)):
            os.kill(os.getpid(), signal.SIGKILL)
        return real(p, *a, **kw)
    setattr(os, name, call)

for name in ("stat", "lstat", "rename", "replace", "link", "unlink"):
    hook(name)
store.delete_if_older(oid, cutoff)
sys.exit("not killed")
"""


def same_directory_object(oid: str) -> bytes:
    """Bytes whose object lands in the same store directory as `oid` (~65,000 tries)."""
    i = 0
    while True:
        data = b"neighbour %d" % i
        if sha(data)[:4] == oid[:4]:
            return data
        i += 1


@pytest.mark.parametrize("cleaner", ["clean_temps", "upload", "gc --remote"])
@pytest.mark.parametrize("point", ["aside", "back"])
def test_gc_killed_with_an_object_aside_loses_nothing_a_push_relies_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str, cleaner: str
) -> None:
    """gc moves an object aside to read its time; a push refreshed it just before, so gc
    would put it back; gc is killed first. Whatever finds the aside file next (the temp
    cleanup of `fsck --remote --repair`, an upload into that directory, the next
    `gc --remote`) puts the object back: it used to delete it as a dead writer's temp file."""
    import io
    import subprocess
    import sys

    store_dir = DirStore(tmp_path / "store")
    team = start_team(tmp_path, store_dir)
    store = localmod.LocalStore("store", str(store_dir.root), str(store_dir.root))
    data = b"a model a push was just told is on the store"
    oid = sha(data)
    store.upload(oid, len(data), io.BytesIO(data))
    store_dir.age()
    cutoff = time.time() - engine.GRACE_SECONDS
    assert store.refresh([oid]) == {oid}  # the push relies on it
    proc = subprocess.run([sys.executable, "-c", KILLED_GC, str(store_dir.root), oid,
                           str(cutoff), point], capture_output=True, text=True, check=False)
    assert proc.returncode == -9, proc.stderr
    assert oid not in store_dir.oids()  # aside, its gc dead
    if cleaner == "clean_temps":
        store.clean_temps()
    elif cleaner == "upload":
        monkeypatch.setattr(localmod, "CLEAN_MIN", 0)
        other = same_directory_object(oid)
        store.upload(sha(other), len(other), io.BytesIO(other))
    else:
        assert mvm(team.alice, "gc", "-q", "--remote") == 0
    assert store_dir.read(oid) == data
    assert time.time() - store_dir.mtime(oid) < engine.GRACE_SECONDS  # still fresh
    left = [p.name for p in store_dir.path(oid).parent.iterdir() if p.name.startswith(".")]
    assert left == []


def test_an_aside_file_another_run_put_back_does_not_abort_gc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between gc's move aside and its look at the time, another process (the cleanup of an
    upload on another host, say) found the aside file and put the object back: gc keeps it
    and goes on (it raised FileNotFoundError)."""
    import io

    root = tmp_path / "store"
    store = localmod.LocalStore("store", str(root), str(root))
    data = b"an old model"
    oid = sha(data)
    store.upload(oid, len(data), io.BytesIO(data))
    obj = store._path(oid)
    real_rename = os.rename

    def rename(src: Any, dst: Any) -> None:
        real_rename(src, dst)
        if os.fspath(src) == obj:
            real_rename(dst, obj)  # someone else puts it back at once

    monkeypatch.setattr(os, "rename", rename)
    assert store.delete_if_older(oid, time.time() + 10) is False
    monkeypatch.undo()
    assert os.path.exists(obj)
