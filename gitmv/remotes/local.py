"""A directory store (`/path`, `file://`; NFS and SMB shares are paths too): the cache layout."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from gitmv.errors import ObjectCorrupt
from gitmv.fsutil import remove_file, tmp_name
from gitmv.hashing import BUFSIZE
from gitmv.remotes import RemoteError


class LocalStore:
    can_list = True

    def __init__(self, name: str, url: str, root: str) -> None:
        self.name = name
        self.url = url
        self.root = root

    def _path(self, oid: str) -> str:
        return os.path.join(self.root, oid[:2], oid[2:4], oid)

    def exists_many(self, oids: Sequence[str]) -> set[str]:
        return {oid for oid in oids if os.path.exists(self._path(oid))}

    def upload(self, oid: str, size: int, src: BinaryIO) -> None:
        import hashlib

        dest = self._path(oid)
        directory = os.path.dirname(dest)
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise self._error(exc, "create") from None
        tmp = tmp_name(directory)
        h = hashlib.sha256()
        try:
            with open(tmp, "xb") as out:
                while True:
                    chunk = src.read(BUFSIZE)
                    if not chunk:
                        break
                    h.update(chunk)
                    out.write(chunk)
            if h.hexdigest() != oid:
                raise ObjectCorrupt(f"sha256:{oid}", f"sha256:{h.hexdigest()}", "local cache")
            os.chmod(tmp, 0o444)
            os.rename(tmp, dest)  # visible under its name only when complete
        except OSError as exc:
            remove_file(tmp)
            raise self._error(exc, "write") from None
        except BaseException:
            remove_file(tmp)
            raise

    def open_download(self, oid: str, offset: int = 0) -> tuple[BinaryIO, int]:
        try:
            f = open(self._path(oid), "rb")  # noqa: SIM115 - the caller closes it
            f.seek(offset)
            return f, offset
        except FileNotFoundError:
            raise RemoteError(f"object sha256:{oid} is not on remote {self.name!r}") from None
        except OSError as exc:
            raise self._error(exc, "read") from None

    def list_objects(self) -> Iterator[tuple[str, int, float]]:
        from gitmv.cache import Cache

        for oid in Cache(self.root, self.root).iter_oids():
            try:
                st = os.stat(self._path(oid))
            except FileNotFoundError:
                continue
            yield oid, st.st_size, st.st_mtime

    def delete(self, oid: str) -> None:
        remove_file(self._path(oid))

    def _error(self, exc: OSError, verb: str) -> RemoteError:
        hint = "check that the directory exists and that you may write to it"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            hint = "the remote's filesystem is full"
        return RemoteError(
            f"remote {self.name!r} ({self.root}): cannot {verb}: {exc.strerror or exc}", hint
        )
