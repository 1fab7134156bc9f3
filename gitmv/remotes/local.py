"""A directory store (`/path`, `file://`; NFS and SMB shares are paths too): the cache layout.

Uploads go to a read-only temp file beside the object, `.mvm-tmp.<pid>.<host>.<random>`,
renamed into place when whole. One a killed push left behind is removed by a later upload
into the same directory (objects of CLEAN_MIN bytes or more: a listing there costs nothing
next to the copy) or by `clean_temps` (`fsck --remote --repair`, `gc --remote`): at once when
its writer ran on this host and is gone, else once nothing has written to it for STALE_AFTER.

What an upload creates is shared as the store is: a bare repository's `mvm/objects` as its
`core.sharedRepository` says (as git shares its own objects there), any other directory as a
shared cache is, by its own group bits (`chmod g+ws`: the group's; else the umask).

`gc --remote` moves an object aside to read its time (`delete_if_older`), under a name that
says which object it is, `.mvm-gc.<oid>.<pid>.<host>`. The same cleanups find one a killed gc
left and put the object back unless it is there again: a push may have been told it is
present (at worst an object nothing needs returns, and a later gc frees it).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import threading
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from gitmv import ui
from gitmv.errors import ObjectCorrupt
from gitmv.fsutil import (
    TMP_PREFIX,
    Sharing,
    copy_file,
    create_file,
    flush_to_disk,
    is_stale_tmp,
    make_dirs,
    parse_shared_repository,
    remove_file,
    share,
    sharing_of_dir,
    tmp_name,
    umask,
    writer_is_gone,
    writer_tag,
)
from gitmv.objects.hashing import BUFSIZE, copy_and_hash
from gitmv.objects.pack import pack_id_of
from gitmv.remotes.retry import RemoteError
from gitmv.remotes.stored import Stored

CLEAN_MIN = 1 << 20  # uploads this large look for dead temp files beside them
STALE_AFTER = 3600.0  # seconds untouched: a temp file from another host is dead
ASIDE_PREFIX = ".mvm-gc."


def _aside(path: str, oid: str) -> str:
    """Where gc holds an object while it reads its time: `.mvm-gc.<oid>.<pid>.<host>`."""
    return os.path.join(os.path.dirname(path), f"{ASIDE_PREFIX}{oid}.{writer_tag()}")


class LocalStore:
    can_list = True

    def __init__(self, name: str, url: str, root: str, git_dir: str | None = None) -> None:
        self.name = name
        self.url = url
        self.root = root
        self.git_dir = git_dir  # the bare repository whose mvm/objects this is
        self._lock = threading.Lock()
        self._written: list[str] = []
        self._sharing: Sharing | None = None

    @property
    def sharing(self) -> Sharing:
        """How uploads share what they create (read at the first one)."""
        if self._sharing is None:
            self._sharing = _sharing_of(self.root, self.git_dir)
        return self._sharing

    def _path(self, oid: str) -> str:
        return os.path.join(self.root, oid[:2], oid[2:4], oid)

    def exists_many(self, oids: Sequence[str]) -> set[str]:
        return {oid for oid in oids if os.path.exists(self._path(oid))}

    def stat_many(self, oids: Sequence[str], checksums: bool = False) -> dict[str, Stored]:
        out = {}
        for oid in oids:
            try:
                st = os.stat(self._path(oid))
                out[oid] = Stored(st.st_size, None, st.st_mtime)
            except (FileNotFoundError, NotADirectoryError):
                pass
            except OSError as exc:
                raise self._error(exc, "check") from None
        return out

    def upload(self, oid: str, size: int, src: BinaryIO) -> None:
        """Copy the object in, hashing it on the way (the cache's own copy loop: pipelined for
        large objects); created read-only under a temp name, renamed when whole (over an
        object of the same name that holds other bytes)."""
        dest = self._path(oid)
        tmp = tmp_name(os.path.dirname(dest))
        try:
            fd = create_file(tmp, 0o444, self.sharing)  # read-only; its creator writes it
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
        if size >= CLEAN_MIN:
            _remove_dead_temps(os.path.dirname(dest))

    def clean_temps(self) -> tuple[int, int]:
        """Remove the temp files killed uploads left anywhere in the store (and put back what
        a killed gc left aside); (how many files, their bytes)."""
        removed = nbytes = 0
        for level1 in _subdirs(self.root):
            for level2 in _subdirs(level1):
                n, size = _remove_dead_temps(level2)
                removed, nbytes = removed + n, nbytes + size
        for named, ext in (("packs", ".pack"), ("index", ".idx")):
            n, size = _remove_dead_temps(os.path.join(self.root, named), f"pack-{{}}{ext}")
            removed, nbytes = removed + n, nbytes + size
        return removed, nbytes

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
            if not os.path.isdir(self.root):  # not "not there": the store itself is missing
                raise RemoteError(
                    f"remote {self.name!r}: its directory {self.root} does not exist",
                    "mount it or put it back, or point the remote at where it is now "
                    "(`git mvm remote list` shows the URL)", store_wide=True) from None
            raise RemoteError(f"object sha256:{oid} is not on remote {self.name!r}") from None
        except OSError as exc:
            raise self._error(exc, "read") from None

    def list_objects(self) -> Iterator[tuple[str, int, float]]:
        from gitmv.objects.cache import Cache

        for oid in Cache(self.root, self.root).iter_loose():
            try:
                st = os.stat(self._path(oid))
            except FileNotFoundError:
                continue
            yield oid, st.st_size, st.st_mtime

    def delete(self, oid: str) -> None:
        remove_file(self._path(oid))

    def refresh(self, oids: Sequence[str]) -> set[str]:
        """Make the modification time of each of `oids` now, so `gc --remote` keeps what a
        push relies on; returns those still there (one being removed at that moment is not:
        the push sends it again)."""
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
        aside = _aside(path, oid)
        try:
            os.rename(path, aside)
            if os.stat(aside).st_mtime > cutoff:
                os.rename(aside, path)  # a push relies on it (or sent the same bytes meanwhile)
                return False
            os.unlink(aside)
        except FileNotFoundError:  # gone, or put back by a cleanup that took us for dead
            return False
        except OSError as exc:
            raise self._error(exc, "delete") from None
        return True

    # --- named files: packs, indexes, the layout file (docs/formats.md, "Store layout 2") ---
    def _named(self, name: str) -> str:
        return os.path.join(self.root, *name.split("/"))

    def put_named(self, name: str, src: str) -> Stored:
        """Put file `src` in as `name`: a temp file beside it, fsynced, renamed over, the
        directory fsynced; returns what the store then holds (read back: the confirmation).

        `src` is the caller's to remove afterwards, never to change: on the same file system
        the temp file is a hard link to it (a 64 MiB pack is not written a second time)."""
        dest = self._named(name)
        try:
            make_dirs(os.path.dirname(dest), self.sharing)
            tmp = tmp_name(os.path.dirname(dest))
            try:
                self._place(src, tmp)
                os.rename(tmp, dest)
            except BaseException:
                remove_file(tmp)
                raise
            dfd = os.open(os.path.dirname(dest), os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
            st = os.stat(dest)
        except OSError as exc:
            raise self._error(exc, "write") from None
        return Stored(st.st_size, None, st.st_mtime)

    def _place(self, src: str, tmp: str) -> None:
        """`src`'s bytes, durable, at `tmp`: a hard link, else a copy."""
        try:
            os.link(src, tmp)
        except OSError:  # another file system (EXDEV), or links refused: copy
            fd = create_file(tmp, 0o444, self.sharing)
            try:
                with open(src, "rb") as f:
                    copy_file(f.fileno(), fd, os.fstat(f.fileno()).st_size)
                os.fsync(fd)
            finally:
                os.close(fd)
            return
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.fchmod(fd, 0o444 & ~umask())  # as a file created read-only here would be
            share(fd, self.sharing)
        finally:
            os.close(fd)

    def read_named(self, name: str, offset: int = 0, length: int | None = None) -> bytes | None:
        """`length` bytes of `name` from `offset` (to its end when None); None when absent."""
        try:
            with open(self._named(name), "rb") as f:
                f.seek(offset)
                return f.read() if length is None else f.read(length)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise self._error(exc, "read") from None

    def list_named(self, prefix: str) -> list[tuple[str, int, float]]:
        """(name, size, mtime) of the files in directory `prefix` ("index/"), temp files
        left out."""
        out = []
        try:
            with os.scandir(self._named(prefix.rstrip("/"))) as it:
                for e in it:
                    if e.name.startswith((TMP_PREFIX, ".")) or not e.is_file():
                        continue
                    st = e.stat()
                    out.append((prefix + e.name, st.st_size, st.st_mtime))
        except FileNotFoundError:
            pass  # (a store nothing was pushed to yet)
        except OSError as exc:
            raise self._error(exc, "list") from None
        return sorted(out)

    def delete_named(self, name: str) -> None:
        try:
            os.unlink(self._named(name))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise self._error(exc, "delete") from None

    def refresh_named(self, name: str) -> bool:
        """Make `name`'s modification time now; False when it is gone."""
        try:
            os.utime(self._named(name))
        except FileNotFoundError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.EPERM, errno.EACCES):
                raise self._error(exc, "refresh") from None
            return os.path.exists(self._named(name))
        return True

    def delete_named_if_older(self, name: str, cutoff: float) -> bool:
        """Remove `name` (a pack's index or pack) unless it was refreshed after `cutoff`;
        True when removed. As `delete_if_older`: renamed aside first (`.mvm-gc.<pack id>.…`,
        which a cleanup of a dead gc puts back), its time read there."""
        path = self._named(name)
        pack_id = pack_id_of(os.path.basename(path)) or ""
        aside = _aside(path, pack_id)
        try:
            os.rename(path, aside)
            if os.stat(aside).st_mtime > cutoff:
                os.rename(aside, path)  # a push relies on it
                return False
            os.unlink(aside)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise self._error(exc, "delete") from None
        return True

    def has_loose_objects(self) -> bool:
        return bool(_subdirs(self.root))

    def _error(self, exc: OSError, verb: str) -> RemoteError:
        hint = "check that the directory exists and that you may write to it"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            hint = "the remote's filesystem is full"
        return RemoteError(
            f"remote {self.name!r} ({self.root}): cannot {verb}: {exc.strerror or exc}", hint
        )


def _subdirs(path: str) -> list[str]:
    try:
        with os.scandir(path) as it:
            return [e.path for e in it if len(e.name) == 2 and e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def _remove_dead_temps(directory: str, name_of: str = "{}") -> tuple[int, int]:
    """Remove the temp files dead uploads left in `directory`, and put back the objects a
    dead gc left aside (unless they are there again), under `name_of` their id (a pack's
    file: `pack-{}.idx`); (temp files removed, their bytes)."""
    removed = nbytes = 0
    try:
        with os.scandir(directory) as it:
            entries = [e for e in it if e.name.startswith((TMP_PREFIX, ASIDE_PREFIX))]
        for e in entries:
            st = e.stat(follow_symlinks=False)
            if e.name.startswith(TMP_PREFIX):
                if is_stale_tmp(e.name, st.st_mtime, STALE_AFTER):
                    remove_file(e.path)
                    removed, nbytes = removed + 1, nbytes + st.st_size
                continue
            oid, _, writer = e.name[len(ASIDE_PREFIX):].partition(".")
            pid, _, host = writer.partition(".")
            # its mtime is the object's: the move aside (a rename: ctime) says when gc ran
            if len(oid) == 64 and writer_is_gone(pid, host, st.st_ctime, STALE_AFTER):
                _put_back(e.path, os.path.join(directory, name_of.format(oid)))
    except FileNotFoundError:
        pass
    except OSError as exc:  # another user's, say: left for them or gc
        ui.debug(f"could not remove a temp file in {directory}: {exc.strerror or exc}")
    return removed, nbytes


def _put_back(aside: str, path: str) -> None:
    """The object a dead gc held aside back in place, unless it is there again (a fresher
    copy a push sent, which must keep its time)."""
    try:
        os.link(aside, path)  # never over an object that is there
    except FileExistsError:
        pass
    except FileNotFoundError:
        return  # another cleanup was first
    except OSError:  # a share without hard links
        if os.path.exists(path):
            remove_file(aside)
            return
        with contextlib.suppress(FileNotFoundError):
            os.rename(aside, path)
        return
    remove_file(aside)


def _sharing_of(root: str, git_dir: str | None) -> Sharing:
    if git_dir is None:
        return sharing_of_dir(root)
    from gitmv.repo import run_git

    value = run_git(["config", "--file", os.path.join(git_dir, "config"), "--get",
                     "core.sharedRepository"], check=False).decode(errors="replace").strip()
    perm = parse_shared_repository(value or None)
    return Sharing(perm, os.stat(git_dir).st_gid if perm else -1)


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
