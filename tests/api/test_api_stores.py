"""gitmv.api in a clone whose cache is empty: the bytes come from the store (a directory, S3 on
moto, Git LFS on giftless), verified; only what is read is fetched; a corrupt store object is
never returned."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

import gitmv.api as mvm
from gitmv.remotes import retry
from tests.api.conftest import Project
from tests.helpers import cache_objects, git, git_ok, init_bare, sha
from tests.helpers import mvm as run_mvm
from tests.storefiles import DirFiles, S3Files, write_object

MODEL = "models/classifier.pt"


class Store(NamedTuple):
    args: tuple[str, ...]  # `git mvm remote add -d store …`
    corrupt: Callable[[str, bytes], None]  # the store holds these bytes under the oid


@pytest.fixture(params=["dir", "s3", "lfs"])
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[Store]:
    if request.param == "dir":
        root = tmp_path / "store"
        yield Store((str(root),), lambda oid, data: write_object(DirFiles(root), oid, data))
    elif request.param == "s3":
        from tests.stores.s3 import REGION, server, set_aws_env

        set_aws_env(monkeypatch)
        monkeypatch.setattr(retry, "BASE_DELAY", 0.01)
        moto = server()
        bucket = moto.new_bucket()
        files = S3Files(moto.client(), bucket, "objects/")
        yield Store((f"s3://{bucket}/objects", "--endpoint-url", moto.endpoint, "--region",
                     REGION), lambda oid, data: write_object(files, oid, data))
    else:
        from tests.stores.lfs import fresh_repo, shared_server

        lfs = shared_server()
        where = fresh_repo()

        def corrupt(oid: str, data: bytes) -> None:
            path = lfs.object_path(*where, oid)
            path.chmod(0o644)
            path.write_bytes(data)

        yield Store(("lfs+" + lfs.endpoint(*where),), corrupt)


def published(project: Project, store: Store, tmp_path: Path) -> Path:
    """The project's commits, tags and objects pushed: origin (bare) and the store."""
    r = project.root
    assert run_mvm(r, "remote", "add", "-q", "-d", "store", *store.args) == 0
    git(r, "commit", "-q", "-m", "the store", ".mvm/config.toml")
    assert run_mvm(r, "push", "-q", "--all-commits") == 0
    origin = init_bare(tmp_path / "origin.git")
    git(r, "remote", "add", "origin", str(origin))
    git_ok(r, "push", "-q", "origin", "main", "--tags")
    return origin


def clone(origin: Path, dest: Path) -> Path:
    """A clone without gitmv's hooks: pointers in its work tree, nothing in its cache."""
    proc = subprocess.run(["git", "clone", "-q", str(origin), str(dest)], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert cache_objects(dest) == {}
    return dest


def test_reads_fetch_from_the_store_only_what_is_read(
    project: Project, store: Store, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    origin = published(project, store, tmp_path)
    deploy = clone(origin, tmp_path / "deploy")
    capfd.readouterr()
    # one file of a directory artifact: its manifest and that file, not the directory
    assert mvm.read_bytes("data/train/sub/c.csv", repo=deploy) == b"5\n"
    held = set(cache_objects(deploy))
    assert sha(b"5\n") in held and sha(b"1,2\n") not in held and sha(b"3,4\n") not in held
    assert len(held) == 2  # + the manifest
    with mvm.open(MODEL, repo=deploy) as f:
        assert f.read() == b"weights 1"
    assert mvm.read_bytes(MODEL, repo=deploy, rev=project.v1) == b"weights 0"
    out = tmp_path / "serving" / "model.pt"
    mvm.get("classifier#production", out, repo=deploy)
    assert out.read_bytes() == b"weights 0"
    mvm.get("data/train", tmp_path / "train", repo=deploy)
    assert (tmp_path / "train" / "a.csv").read_bytes() == b"1,2\n"
    assert (tmp_path / "train" / "sub" / "c.csv").read_bytes() == b"5\n"
    # the bare origin (its own cache empty) reads through the same store
    assert mvm.read_bytes("data/train/b.csv", repo=origin) == b"3,4\n"
    assert capfd.readouterr() == ("", "")


def test_a_corrupt_store_object_is_never_returned(
    project: Project, store: Store, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    origin = published(project, store, tmp_path)
    store.corrupt(sha(b"weights 1"), b"weights X")
    store.corrupt(sha(b"5\n"), b"6\n")
    deploy = clone(origin, tmp_path / "deploy")
    capfd.readouterr()
    for read in (lambda: mvm.read_bytes(MODEL, repo=deploy),
                 lambda: mvm.open("data/train/sub/c.csv", repo=deploy),
                 lambda: mvm.get("classifier@v1.1.0", tmp_path / "m.pt", repo=deploy)):
        with pytest.raises(mvm.GitMvmError) as exc:
            read()
        assert "fetch: 1 object failed" in str(exc.value), str(exc.value)
    assert not (tmp_path / "m.pt").exists()
    held = set(cache_objects(deploy))
    assert sha(b"weights 1") not in held and sha(b"5\n") not in held
    # what is intact still reads
    assert mvm.read_bytes(MODEL, repo=deploy, rev=project.v1) == b"weights 0"
    assert capfd.readouterr() == ("", "")
