"""Every store kind as a gitmv remote for end-to-end tests, with a way behind gitmv's back to
the bytes the server holds: read them, replace them (what a broken disk, a careless tool or
an old gitmv that sent a corrupt cache object leaves), or delete them.

    with remote_of("s3", tmp_path) as remote:
        add_remote(repo, remote)
        remote.write(oid, b"other bytes")

Servers: a directory, moto (tests/stores/s3.py), the fault server's own directory backend
(tests/faultserver.py) and giftless (tests/stores/lfs.py), all on 127.0.0.1.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.helpers import configure, git, mvm
from tests.storefiles import DirFiles, Files, S3Files, delete_object, read_object, write_object

KINDS = ["local", "s3", "http", "lfs"]
NAME = "store"


class Remote(NamedTuple):
    kind: str
    url: str
    settings: dict[str, str]  # more keys for [remote.store] (TOML values, written as they are)
    read: Callable[[str], bytes | None]  # the bytes held under an oid, None when absent
    write: Callable[[str, bytes], None]  # hold these bytes under the oid instead
    delete: Callable[[str], None]
    files: Files | None = None  # the store's files (not Git LFS: it keeps whole objects)


def add_remote(repo: Path, remote: Remote, commit: bool = True) -> None:
    """`git mvm remote add store URL --default` (+ its settings), committed."""
    assert mvm(repo, "remote", "add", "-q", "-d", NAME, remote.url) == 0
    for key, value in remote.settings.items():
        configure(repo, f"remote.{NAME}", f"{key} = {value}")
    if commit:
        git(repo, "commit", "-q", "-m", "remote", ".mvm/config.toml")


def _files(root: Path, layout: Callable[[str], Path]) -> tuple[
        Callable[[str], bytes | None], Callable[[str, bytes], None], Callable[[str], None]]:
    """A Git LFS server's objects (whole files under the server's own layout)."""
    def read(oid: str) -> bytes | None:
        path = layout(oid)
        return path.read_bytes() if path.is_file() else None

    def write(oid: str, data: bytes) -> None:
        path = layout(oid)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".test-tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def delete(oid: str) -> None:
        layout(oid).unlink(missing_ok=True)

    return read, write, delete


def _owned(files: Files) -> tuple[
        Callable[[str], bytes | None], Callable[[str, bytes], None], Callable[[str], None],
        Files]:
    """A store gitmv owns, on either layout (tests/storefiles.py)."""
    return (lambda oid: read_object(files, oid), lambda oid, data: write_object(files, oid, data),
            lambda oid: delete_object(files, oid), files)


@contextmanager
def remote_of(kind: str, tmp_path: Path) -> Iterator[Remote]:
    if kind == "local":
        root = tmp_path / "dir-store"
        yield Remote(kind, str(root), {}, *_owned(DirFiles(root)))
    elif kind in ("http", "webdav"):  # plain HTTP (layout 1: no listing), or WebDAV
        from tests.faultserver import FaultServer

        root = tmp_path / "http-root"
        with FaultServer(root) as server:
            yield Remote(kind, f"{server.url}/store",
                         {"webdav": "true"} if kind == "webdav" else {},
                         *_owned(DirFiles(root / "store")))
    elif kind == "lfs":
        from tests.stores.lfs import fresh_repo, shared_server

        server = shared_server()
        org, repo = fresh_repo()
        yield Remote(kind, "lfs+" + server.endpoint(org, repo), {},
                     *_files(server.storage, lambda oid: server.object_path(org, repo, oid)))
    elif kind == "s3":
        with pytest.MonkeyPatch.context() as mp:
            from tests.stores.s3 import REGION, server, set_aws_env

            set_aws_env(mp)
            moto = server()
            bucket = moto.new_bucket()
            client = moto.client()
            yield Remote(kind, f"s3://{bucket}/objects",
                         {"endpoint_url": f'"{moto.endpoint}"', "region": f'"{REGION}"'},
                         *_owned(S3Files(client, bucket)))
    else:
        raise AssertionError(f"no such store kind: {kind}")
