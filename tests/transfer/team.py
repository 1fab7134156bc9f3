"""What the gc tests share: a team (a bare origin, one object store, several clones) and the
invariant every one of them checks after gc ran: every pointer in every ref of the origin
names bytes the store holds.

The store is a directory (`DirStore`) or an S3 bucket on moto's server (`BucketStore`); both
answer the same few questions, so one test body runs over both.
"""

from __future__ import annotations

import os
import time
import tomllib
from pathlib import Path
from typing import NamedTuple, Protocol

from tests.helpers import (
    cache_objects,
    clone_hooked,
    error_lines,
    git,
    git_ok,
    init_bare,
    init_hooked,
    mvm,
    save,
    sha,
)

MODEL = "models/m.pt"
HOUR = 3600


class StoreView(Protocol):
    """The test's own view of a store (never through gitmv)."""

    url: str

    def oids(self) -> set[str]: ...

    def read(self, oid: str) -> bytes | None: ...

    def put(self, data: bytes) -> str: ...


class DirStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)

    def oids(self) -> set[str]:
        return set(cache_objects(self.root, self.root)) if self.root.exists() else set()

    def path(self, oid: str) -> Path:
        return self.root / oid[:2] / oid[2:4] / oid

    def read(self, oid: str) -> bytes | None:
        try:
            return self.path(oid).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, data: bytes) -> str:
        oid = sha(data)
        self.path(oid).parent.mkdir(parents=True, exist_ok=True)
        self.path(oid).write_bytes(data)
        return oid

    def age(self, seconds: int = 2 * HOUR) -> None:
        """Every object older than gc's grace period."""
        when = time.time() - seconds
        for oid in self.oids():
            os.utime(self.path(oid), (when, when))

    def mtime(self, oid: str) -> float:
        return self.path(oid).stat().st_mtime


def pointers_in_refs(bare: Path) -> dict[str, dict[str, object]]:
    """{pointer blob: parsed pointer} for every `*.mvm` blob any ref of `bare` reaches."""
    out: dict[str, dict[str, object]] = {}
    for line in git(bare, "rev-list", "--objects", "--all",
                    "--filter=object:type=blob").splitlines():
        blob, _, path = line.partition(" ")
        if path.endswith(".mvm"):
            out[blob] = tomllib.loads(git(bare, "cat-file", "blob", blob))
    return out


def missing_from_store(bare: Path, store: StoreView) -> list[str]:
    """What the invariant forbids: objects named by the origin's refs (a directory's manifest
    and every file it lists) that the store does not hold whole."""
    missing = []
    for blob, doc in pointers_in_refs(bare).items():
        oid = str(doc["oid"]).removeprefix("sha256:")
        data = store.read(oid)
        if data is None or sha(data) != oid:
            missing.append(f"{oid} (pointer blob {blob})")
            continue
        if doc["kind"] == "dir":
            for line in data.decode().splitlines()[1:]:
                file_oid = line.split()[1]
                got = store.read(file_oid)
                if got is None or sha(got) != file_oid:
                    missing.append(f"{file_oid} (in manifest {oid})")
    return missing


def assert_origin_complete(bare: Path, store: StoreView) -> None:
    missing = missing_from_store(bare, store)
    assert not missing, f"refs of {bare.name} name bytes the store lacks: {missing}"


def one_refusal(err: str, *words: str) -> str:
    """The one error line of a refusal (it has a hint), checked for `words`."""
    lines = error_lines(err)
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], err
    assert "hint:" in err, err
    return lines[0]


class Team(NamedTuple):
    origin: Path  # bare repository every clone pushes to
    store: StoreView  # the team's object store (core.remote in the shared config)
    alice: Path  # published main with two model versions


def start_team(tmp_path: Path, store: StoreView, remote_args: tuple[str, ...] = ()) -> Team:
    """alice publishes main (two versions of the model) with `store` as the shared store,
    kept in layout 1 (`--no-packs`): these tests read, age and race over its objects one by
    one (the proof they check is the same on packs; gc of packs and its races:
    test_packed_gc.py, test_gc_packs.py)."""
    origin = init_bare(tmp_path / "origin.git")
    git(origin, "config", "uploadpack.allowFilter", "true")  # partial clones may ask
    alice = init_hooked(tmp_path / "alice", origin)
    assert mvm(alice, "remote", "add", "-q", "-d", "store", store.url, "--no-packs",
               *remote_args) == 0
    git_ok(alice, "commit", "-q", "-m", "the team's store", ".mvm/config.toml")
    save(alice, MODEL, os.urandom(3000), "v1")
    save(alice, MODEL, os.urandom(3000), "v2")
    git_ok(alice, "push", "-q", "-u", "origin", "main")
    return Team(origin, store, alice)


def join(team: Team, dest: Path) -> Path:
    """A teammate's clone, hooks installed."""
    return clone_hooked(team.origin, dest)


def push_branch(repo: Path, branch: str, data: bytes, start: str = "main") -> str:
    """Commit `data` as the model on a new branch and push it (the hook uploads it)."""
    git_ok(repo, "checkout", "-q", "-b", branch, start)
    oid = save(repo, MODEL, data, f"{branch} model")
    git_ok(repo, "push", "-q", "origin", branch)
    git_ok(repo, "checkout", "-q", start)
    return oid
