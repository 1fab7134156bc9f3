"""The local object store: `<root>/<aa>/<bb>/<hex>`, write-once, hashed while streaming.

Objects are read-only once in place. Every placement goes through a temp file in `tmp_dir`
(same filesystem) and an atomic rename, so no reader ever sees half an object.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator

from gitmv.errors import FileChanged, ObjectCorrupt, ObjectMissing
from gitmv.fsutil import make_read_only, remove_file, tmp_name
from gitmv.hashing import Stat, copy_and_hash, hash_bytes, hash_fd, stat_of

FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)


class Cache:
    def __init__(self, root: str, tmp_dir: str) -> None:
        self.root = root
        self.tmp_dir = tmp_dir
        self.wrote = False  # any new object placed during this command (flush before pointers)
        self._reflink_works = True
        os.makedirs(tmp_dir, exist_ok=True)

    def oid_to_path(self, oid: str) -> str:
        return os.path.join(self.root, oid[:2], oid[2:4], oid)

    def has(self, oid: str) -> bool:
        return os.path.exists(self.oid_to_path(oid))

    def _place(self, tmp: str, oid: str) -> None:
        """Move a complete, verified temp file into place as object `oid` (read-only)."""
        dest = self.oid_to_path(oid)
        if os.path.exists(dest):
            remove_file(tmp)
            return
        make_read_only(tmp)
        try:
            os.rename(tmp, dest)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            os.rename(tmp, dest)
        self.wrote = True

    def put_file(self, path: str, expected: Stat | None = None) -> tuple[str, int, Stat]:
        """Copy a workspace file into the cache, hashing it in the same read pass."""
        src = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            before = os.fstat(src)
            tmp = tmp_name(self.tmp_dir, "obj")
            try:
                dst = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                try:
                    oid, size = copy_and_hash(src, dst, before.st_size)
                finally:
                    os.close(dst)
                after = os.fstat(src)
                if size != before.st_size or after.st_mtime_ns != before.st_mtime_ns or (
                    expected is not None and stat_of(after) != expected
                ):
                    raise FileChanged(path)
                self._place(tmp, oid)
            except BaseException:
                remove_file(tmp)
                raise
        finally:
            os.close(src)
        return oid, size, stat_of(after)

    def put_bytes(self, data: bytes) -> str:
        oid = hash_bytes(data)
        if not self.has(oid):
            tmp = tmp_name(self.tmp_dir, "obj")
            try:
                with open(tmp, "xb") as f:
                    f.write(data)
                self._place(tmp, oid)
            except BaseException:
                remove_file(tmp)
                raise
        return oid

    def read_bytes(self, oid: str) -> bytes:
        """A small object (a manifest), verified."""
        try:
            with open(self.oid_to_path(oid), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise ObjectMissing(f"sha256:{oid}") from None
        got = hash_bytes(data)
        if got != oid:
            raise ObjectCorrupt(f"sha256:{oid}", f"sha256:{got}")
        return data

    def verify(self, oid: str) -> bool:
        fd = os.open(self.oid_to_path(oid), os.O_RDONLY)
        try:
            got, _ = hash_fd(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)
        return got == oid

    def quarantine(self, oid: str, quarantine_dir: str) -> str:
        os.makedirs(quarantine_dir, exist_ok=True)
        dest = os.path.join(quarantine_dir, oid)
        os.replace(self.oid_to_path(oid), dest)
        return dest

    def iter_oids(self) -> Iterator[str]:
        try:
            level1 = os.scandir(self.root)
        except FileNotFoundError:
            return
        with level1:
            for a in level1:
                if len(a.name) != 2 or not a.is_dir(follow_symlinks=False):
                    continue
                with os.scandir(a.path) as level2:
                    for b in level2:
                        if len(b.name) != 2 or not b.is_dir(follow_symlinks=False):
                            continue
                        with os.scandir(b.path) as objs:
                            for o in objs:
                                if len(o.name) == 64 and o.name.startswith(a.name + b.name):
                                    yield o.name

    # --- placing objects in the work tree ---------------------------------------------------
    def link_out(self, oid: str, tmp: str, modes: tuple[str, ...], executable: bool) -> None:
        """Create `tmp` holding object `oid` by the first link mode that works.

        Copies are verified while they stream, so a corrupt object never reaches the work tree.
        The caller renames `tmp` to its final place.
        """
        obj = self.oid_to_path(oid)
        if not os.path.exists(obj):
            raise ObjectMissing(f"sha256:{oid}")
        last: OSError | None = None
        for mode in modes:
            try:
                if mode == "hardlink":
                    os.link(obj, tmp)
                elif mode == "symlink":
                    os.symlink(obj, tmp)
                elif mode == "reflink":
                    if not self._reflink_works:
                        continue
                    try:
                        self._reflink(obj, tmp, oid, executable)
                    except OSError as exc:
                        if exc.errno in (errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY):
                            self._reflink_works = False  # this filesystem cannot: stop asking
                        raise
                else:
                    self._copy(obj, tmp, oid, executable)
                return
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise
                remove_file(tmp)
                last = exc
        if last is None:
            raise OSError(errno.EINVAL, f"no usable link mode among {', '.join(modes)}")
        raise last

    def _copy(self, obj: str, tmp: str, oid: str, executable: bool) -> None:
        src = os.open(obj, os.O_RDONLY)
        try:
            dst = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755 if executable else 0o644)
            try:
                got, _ = copy_and_hash(src, dst, os.fstat(src).st_size)
            finally:
                os.close(dst)
        finally:
            os.close(src)
        if got != oid:
            remove_file(tmp)
            raise ObjectCorrupt(f"sha256:{oid}", f"sha256:{got}")

    def _reflink(self, obj: str, tmp: str, oid: str, executable: bool) -> None:
        with open(obj, "rb") as src:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755 if executable else 0o644)
            try:
                fcntl.ioctl(fd, FICLONE, src.fileno())
            finally:
                os.close(fd)
            got, _ = hash_fd(src.fileno(), os.fstat(src.fileno()).st_size)
        if got != oid:
            remove_file(tmp)
            raise ObjectCorrupt(f"sha256:{oid}", f"sha256:{got}")

