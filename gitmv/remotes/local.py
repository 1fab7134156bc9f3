"""A directory store (`/path`, `file://`; NFS and SMB shares are paths too): the cache layout."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import threading
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from gitmv.errors import ObjectCorrupt
from gitmv.fsutil import flush_to_disk, remove_file, tmp_name
from gitmv.objects.hashing import BUFSIZE, copy_and_hash
from gitmv.remotes.retry import RemoteError


class LocalStore:
    can_list = True

    def __init__(self, name: str, url: str, root: str) -> None:
        self.name = name
        self.url = url
        self.root = root
        self._lock = threading.Lock()
        self._written: list[str] = []

    def _path(self, oid: str) -> str:
        return os.path.join(self.root, oid[:2], oid[2:4], oid)

    def exists_many(self, oids: Sequence[str]) -> set[str]:
        return {oid for oid in oids if os.path.exists(self._path(oid))}

    def upload(self, oid: str, size: int, src: BinaryIO) -> None:
        """Copy the object in, hashing it on the way (the cache's own copy loop: pipelined for
        large objects); created read-only under a temp name, renamed when whole."""
        dest = self._path(oid)
        tmp = tmp_name(os.path.dirname(dest))
        try:
            fd = _create(tmp)
        except OSError as exc:
            raise self._error(exc, "create") from None
        try:
            try:
                got = _copy_in(src, fd, size)
            finally:
                os.close(fd)
            if got != oid:
                raise ObjectCorrupt(f"sha256:{oid}", f"sha256:{got}", "local cache")
            os.rename(tmp, dest)  # visible under its name only when complete
        except OSError as exc:
            remove_file(tmp)
            raise self._error(exc, "write") from None
        except BaseException:
            remove_file(tmp)
            raise
        with self._lock:
            self._written.append(dest)

    def flush(self) -> None:
        """Make what this command wrote durable (one syncfs for many objects): called after
        the file objects, before the manifests that name them, and again at the end."""
        with self._lock:
            written, self._written = self._written, []
        if written:
            flush_to_disk(written, self.root)

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
        from gitmv.objects.cache import Cache

        for oid in Cache(self.root, self.root).iter_oids():
            try:
                st = os.stat(self._path(oid))
            except FileNotFoundError:
                continue
            yield oid, st.st_size, st.st_mtime

    def delete(self, oid: str) -> None:
        remove_file(self._path(oid))

    def refresh(self, oids: Sequence[str]) -> set[str]:
        """The subset of `oids` the store holds, each one's modification time made now, so
        `gc --remote` keeps what a push relies on. An object being removed at that moment is
        reported absent (the push sends it again)."""
        present = set()
        for oid in oids:
            path = self._path(oid)
            try:
                os.utime(path)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except PermissionError:  # another user's read-only object: a fresh copy in place
                if not self._copy_in_place(oid):
                    continue
            except OSError as exc:
                if exc.errno != errno.EROFS:  # a read-only store: nobody deletes from it
                    raise self._error(exc, "refresh") from None
                if not os.path.exists(path):
                    continue
            present.add(oid)
        return present

    def _copy_in_place(self, oid: str) -> bool:
        try:
            with open(self._path(oid), "rb") as src:
                self.upload(oid, os.fstat(src.fileno()).st_size, src)
        except FileNotFoundError:
            return False
        return True

    def delete_if_older(self, oid: str, cutoff: float) -> bool:
        """Remove the object unless it was modified (refreshed) after `cutoff`; True when
        removed. Atomic against `refresh`: the object is renamed aside first and its time read
        there, so a refresh before the rename shows (the object is put back) and one after it
        finds no object (and its push sends it again)."""
        path = self._path(oid)
        aside = tmp_name(os.path.dirname(path))
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise self._error(exc, "delete") from None
        if os.stat(aside).st_mtime > cutoff:
            os.rename(aside, path)  # a push relies on it (or sent the same bytes meanwhile)
            return False
        os.unlink(aside)
        return True

    def _error(self, exc: OSError, verb: str) -> RemoteError:
        hint = "check that the directory exists and that you may write to it"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            hint = "the remote's filesystem is full"
        return RemoteError(
            f"remote {self.name!r} ({self.root}): cannot {verb}: {exc.strerror or exc}", hint
        )


def _create(path: str) -> int:
    """A new read-only file open for writing (its creator may write it), directories made."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        return os.open(path, flags, 0o444)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return os.open(path, flags, 0o444)


def _copy_in(src: BinaryIO, fd: int, size: int) -> str:
    try:
        src_fd = src.fileno()
    except (AttributeError, io.UnsupportedOperation):  # not a file: bytes in memory
        h = hashlib.sha256()
        while True:
            chunk = src.read(BUFSIZE)
            if not chunk:
                return h.hexdigest()
            h.update(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
    os.lseek(src_fd, src.tell(), os.SEEK_SET)  # where the file object stands
    return copy_and_hash(src_fd, fd, size)[0]
