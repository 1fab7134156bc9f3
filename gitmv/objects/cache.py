"""The local object store, write-once, hashed while streaming: loose objects
(`<root>/<aa>/<bb>/<hex>`) and packs (`<root>/packs/`, objects/packed.py).

Objects are read-only once in place. Every placement goes through a temp file on the same
filesystem and an atomic rename, so no reader ever sees half an object. Small objects (up to
PACKED_MAX) are read whole (one read) and hashed; a command's first few are held in memory,
and once there are more, all go into one pack written front to back in `tmp_dir`; `flush`
publishes the pack (or writes the few as loose objects, as before packs). Large ones stream
through `tmp_dir` in fixed buffers, hashed in the same pass, and stay loose files, so the
link modes can share them. Every read takes either kind: a pointer never says which.

A cache a group shares (`sharing`: `chmod g+ws` on a configured `cache.dir`) gives the group
what it creates, as git's core.sharedRepository=group does: directories g+rwx and setgid,
objects and temp files g+r (g+w while they are written), in the cache's group.
"""

from __future__ import annotations

import errno
import fcntl
import io
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import BinaryIO

from gitmv import ui
from gitmv.errors import FileChanged, FormatError, GitMvmError, ObjectCorrupt, ObjectMissing
from gitmv.fsutil import (
    FSYNC_EACH_MAX,
    NOT_SHARED,
    Sharing,
    clean_stale_tmp,
    create_file,
    flush_to_disk,
    make_dirs,
    remove_file,
    share,
    tmp_name,
    write_all,
)
from gitmv.objects import manifest
from gitmv.objects.hashing import (
    SMALL,
    Stat,
    copy_and_hash,
    granularity,
    hash_bytes,
    hash_fd,
    stat_of,
)
from gitmv.objects.packed import NewPack, Packs

# Parsed manifests a Cache remembers, in entries (about 350 bytes each, measured: ~85 MB).
# A pull reads a directory's manifest when it fetches the files, when it checks them out and
# when it records what it wrote; remembering it makes that one read and one parse.
MANIFEST_MEMO_ENTRIES = 250_000
# Objects up to this size go into packs (docs/architecture.md, "Choices": measured).
PACKED_MAX = 256 << 10
# A command's small objects are held in memory until there are more than this many (or this
# many bytes): then they all go into one pack; fewer are written as loose objects at `flush`
# (a pack per small command would only leave gc more packs to merge).
HELD_MAX = 64
HELD_BYTES_MAX = 8 << 20
FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)
_NO_REFLINK = (errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.ENOSYS)
# Link modes whose work-tree file is the object itself (its inode, or a link to it): a write
# in place there rewrites the object. Its read-only mode stops a user; it does not stop root.
INODE_SHARING_MODES = ("hardlink", "symlink")


def usable_link_modes(modes: tuple[str, ...], as_root_too: bool = False) -> tuple[str, ...]:
    """The link modes this process may use: as root, none that shares the object's inode
    (the next one configured, else a copy) unless `as_root_too` (`cache.link_as_root`).
    docs/formats.md, "Link modes"."""
    if as_root_too or os.geteuid() != 0:
        return modes
    kept = tuple(m for m in modes if m not in INODE_SHARING_MODES)
    return kept or ("copy",)


def _warn_as_root(modes: tuple[str, ...], usable: tuple[str, ...]) -> None:
    dropped = ", ".join(m for m in modes if m not in usable)
    ui.warn(f"running as root: cache.link {dropped} not used, {usable[0]} instead (root "
            "writes through read-only files: a tool rewriting a checked-out file in place "
            "would corrupt the cache object)")


class Cache:
    def __init__(self, root: str, tmp_dir: str, sharing: Sharing = NOT_SHARED) -> None:
        self.root = root
        self.tmp_dir = tmp_dir
        self.sharing = sharing  # how what it creates is shared with a group
        self.written: list[str] = []  # objects placed by this command, to flush before pointers
        # objects this command hashed as it placed them (verified downloads): copying one out
        # needs no second hash, so a pull reads each byte once after it arrives
        self.verified: set[str] = set()
        # objects of more than SMALL bytes this command placed, each with the stat and the
        # clock (`since`) a stat-cache row for it needs (`Workspace.remember_placed`): their
        # bytes were hashed as they were written, so a checkout need not read them again to
        # know them intact
        self.placed: dict[str, tuple[Stat, int]] = {}
        self._reflink_works = True
        self._said_as_root = False
        self.links_as_root = False  # cache.link_as_root: hardlink and symlink as root too
        self._manifests: OrderedDict[str, tuple[manifest.Entry, ...]] = OrderedDict()
        self._manifest_entries = 0
        self.packs = Packs(os.path.join(root, "packs"), sharing)
        self._lock = threading.Lock()  # over the small objects not yet flushed:
        self._held: dict[str, bytes] = {}  # the first few, in memory
        self._held_bytes = 0
        self._new: NewPack | None = None  # or all of them, in the pack being written
        self._merge_failed = False

    def oid_to_path(self, oid: str) -> str:
        """Where object `oid` is (or would be) a loose file: only large objects and those of
        an earlier gitmv are; the link modes that share a file need one."""
        return os.path.join(self.root, oid[:2], oid[2:4], oid)

    def is_loose(self, oid: str) -> bool:
        return os.path.exists(self.oid_to_path(oid))

    def has(self, oid: str, fresh: bool = True) -> bool:
        """Whether the cache holds `oid`; not `fresh`: packs another process published since
        they were listed may be missed (where that only costs a second copy)."""
        if oid in self._held:
            return True
        new = self._new
        if new is not None and new.find(oid) is not None:
            return True
        if self.packs.find(oid, fresh) is not None:
            return True
        return os.path.exists(self.oid_to_path(oid))

    # --- putting objects in ----------------------------------------------------------------
    def _place(self, tmp: str, oid: str) -> bool:
        """Move a complete, verified, read-only temp file into place as object `oid`; False
        when the object was already there (the temp file is dropped). A large one is noted in
        `placed`, for a stat-cache row that spares hashing it again."""
        dest = self.oid_to_path(oid)
        if os.path.exists(dest):
            remove_file(tmp)
            return False
        fd = os.open(tmp, os.O_RDONLY)
        try:  # its mtime a tick before its last write: any later write moves it
            written = os.fstat(fd)
            before = _backdate(fd, written.st_mtime_ns)
        finally:
            os.close(fd)
        try:
            os.rename(tmp, dest)
        except FileNotFoundError:
            make_dirs(os.path.dirname(dest), self.sharing)
            os.rename(tmp, dest)
        self._wrote(dest)
        if written.st_size > SMALL:
            self.placed[oid] = (_stat_after_rename(dest, before), written.st_mtime_ns)
        return True

    def _wrote(self, path: str) -> None:
        if len(self.written) <= FSYNC_EACH_MAX:  # past that, only the count matters
            self.written.append(path)

    def flush(self, durable: bool = True) -> None:
        """Publish this command's new small objects (its pack, or the few held as loose
        objects) and, when `durable`, make every new object durable: call before writing
        any pointer that names them."""
        with self._lock:
            new, self._new = self._new, None
            held, self._held, self._held_bytes = self._held, {}, 0
        if new is not None:
            try:
                self.packs.publish(new, durable)
            except BaseException:
                new.abandon()
                raise
            self._merge_packs(durable)
        for oid, data in held.items():
            self._put_loose(data, oid)
        if durable and self.written:
            flush_to_disk(self.written, self.root)
        self.written = []

    def _merge_packs(self, durable: bool) -> None:
        """Merge the smaller packs when there are many (`packed.merge_plan`). Best effort: a
        merge that fails (a full disk; a corrupt entry, said once a command until fsck
        salvages the pack) leaves every pack as it was, and the command goes on."""
        if self._merge_failed:  # (tried once a command)
            return
        try:
            self.make_tmp_dir()
            merged = self.packs.merge(self.tmp_dir, durable)
        except FormatError as exc:
            self._merge_failed = True
            ui.warn(f"cache packs not merged: {exc.message} ({exc.hint})")
            return
        except (OSError, GitMvmError) as exc:
            self._merge_failed = True
            ui.debug(f"cache packs not merged: {exc}")
            return
        if merged:
            ui.debug(f"merged {len(merged)} cache packs into one")

    def put_bytes(self, data: bytes, oid: str | None = None) -> str:
        """Store small bytes; `oid`, when given, must be their hash (already computed). Up to
        PACKED_MAX bytes they are this command's to pack: visible to this Cache at once, to
        others after `flush`."""
        oid = oid or hash_bytes(data)
        if len(data) > PACKED_MAX:
            return self._put_loose(data, oid)
        if self.has(oid, fresh=False):
            return oid
        with self._lock:
            if self._new is not None:
                self._new.add(oid, data)
            elif oid not in self._held:
                self._held[oid] = data
                self._held_bytes += len(data)
                if len(self._held) > HELD_MAX or self._held_bytes > HELD_BYTES_MAX:
                    self.make_tmp_dir()
                    new = NewPack(self.tmp_dir, self.sharing)
                    for o, d in self._held.items():
                        new.add(o, d)
                    self._new, self._held, self._held_bytes = new, {}, 0
        return oid

    def _put_loose(self, data: bytes, oid: str) -> str:
        dest = self.oid_to_path(oid)
        if os.path.exists(dest):
            return oid
        tmp = tmp_name(os.path.dirname(dest))
        try:
            fd = create_file(tmp, 0o444, self.sharing)
            try:
                write_all(fd, data)
            finally:
                os.close(fd)
            os.rename(tmp, dest)
        except BaseException:
            remove_file(tmp)
            raise
        self._wrote(dest)
        return oid

    def put_file(self, path: str, expected: Stat | None = None) -> tuple[str, int, Stat]:
        """Copy a work-tree file into the cache, hashing it in the same read pass.

        Refused (FileChanged) when the file changes while it is read: no object is placed.
        """
        src = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            before = os.fstat(src)
            if before.st_size <= SMALL:
                data = os.read(src, before.st_size + 1)
                after = os.fstat(src)
                _check_unchanged(path, before, after, len(data), expected)
                return self.put_bytes(data), len(data), stat_of(after)
            self.make_tmp_dir()
            tmp = tmp_name(self.tmp_dir)
            try:
                dst = create_file(tmp, 0o444, self.sharing)
                try:
                    oid, size = copy_and_hash(src, dst, before.st_size)
                finally:
                    os.close(dst)
                after = os.fstat(src)
                _check_unchanged(path, before, after, size, expected)
                self._place(tmp, oid)
            except BaseException:
                remove_file(tmp)
                raise
        finally:
            os.close(src)
        return oid, size, stat_of(after)

    def make_tmp_dir(self) -> None:
        make_dirs(self.tmp_dir, self.sharing)

    def clean_tmp(self) -> None:
        """Remove what killed commands left: temp files of objects and packs, of indexes."""
        clean_stale_tmp(self.tmp_dir)
        clean_stale_tmp(self.packs.dir)

    def partial_path(self, oid: str) -> str:
        """Where an interrupted download of `oid` keeps its bytes, to resume from."""
        return os.path.join(self.tmp_dir, f"partial-{oid}")

    def place_download(self, partial: str, oid: str) -> None:
        """A complete, verified download becomes object `oid` (read-only)."""
        os.chmod(partial, 0o444)
        share(partial, self.sharing)
        if self._place(partial, oid):
            self.verified.add(oid)

    # --- reading and checking --------------------------------------------------------------
    def _packed(self, oid: str) -> bytes | None:
        """A small object's bytes (not verified): held, in the pack being written, or in a
        pack; None when none of them has it."""
        data = self._held.get(oid)
        if data is not None:
            return data
        new = self._new
        if new is not None:
            with self._lock:
                if self._new is not None:
                    e = self._new.find(oid)
                    if e is not None:
                        return self._new.read(e)
        return self.packs.read(oid)

    def size_of(self, oid: str) -> int | None:
        """The object's size, None when the cache does not hold it."""
        data = self._held.get(oid)
        if data is not None:
            return len(data)
        new = self._new
        e = new.find(oid) if new is not None else None
        if e is None:
            at = self.packs.find(oid)
            e = at.entry if at is not None else None
        if e is not None:
            return e.length
        try:
            return os.stat(self.oid_to_path(oid)).st_size
        except FileNotFoundError:
            return None

    def open_object(self, oid: str) -> BinaryIO:
        """A binary file object reading the object's bytes from the start (not verified: the
        reader hashes what it sends). ObjectMissing when the cache does not hold it."""
        try:
            return open(self.oid_to_path(oid), "rb")
        except FileNotFoundError:
            pass
        data = self._packed(oid)
        if data is None:
            raise ObjectMissing(f"sha256:{oid}")
        return io.BytesIO(data)

    def _read(self, oid: str) -> bytes:
        data = self._packed(oid)
        if data is not None:
            return data
        try:
            with open(self.oid_to_path(oid), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise ObjectMissing(f"sha256:{oid}") from None

    def read_bytes(self, oid: str) -> bytes:
        """A small object (a manifest, a symlink target), verified."""
        data = self._read(oid)
        got = hash_bytes(data)
        if got != oid:
            raise ObjectCorrupt(f"sha256:{oid}", f"sha256:{got}")
        return data

    def read_manifest(self, oid: str, where: str) -> tuple[manifest.Entry, ...]:
        """A directory manifest, verified and parsed once for this Cache's life (one command):
        objects are immutable, so what was parsed stays true. The most recently used
        manifests are kept, up to MANIFEST_MEMO_ENTRIES entries in all; a larger one is parsed
        again when asked for again. `where` names the manifest in a FormatError."""
        entries = self._manifests.get(oid)
        if entries is not None:
            self._manifests.move_to_end(oid)
            return entries
        entries = tuple(manifest.parse(self.read_bytes(oid), where))
        if len(entries) <= MANIFEST_MEMO_ENTRIES:
            self._manifests[oid] = entries
            self._manifest_entries += len(entries)
            while self._manifest_entries > MANIFEST_MEMO_ENTRIES:
                _, dropped = self._manifests.popitem(last=False)
                self._manifest_entries -= len(dropped)
        return entries

    def parsed_manifest(self, oid: str) -> tuple[manifest.Entry, ...] | None:
        """The manifest `read_manifest` already parsed in this command, None when it has not
        (a reader that streams a large one uses this parse rather than read it again)."""
        return self._manifests.get(oid)

    def verify(self, oid: str) -> bool:
        """Whether the object's bytes hash to its id; ObjectMissing when there are none."""
        try:
            fd = os.open(self.oid_to_path(oid), os.O_RDONLY)
        except FileNotFoundError:
            return hash_bytes(self._read(oid)) == oid
        try:
            got, _ = hash_fd(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)
        return got == oid

    def quarantine(self, oid: str, quarantine_dir: str) -> str:
        """Move a (corrupt) object aside to `quarantine_dir`; a packed one leaves its pack,
        which is written again without it (its other good entries kept)."""
        os.makedirs(quarantine_dir, exist_ok=True)
        dest = os.path.join(quarantine_dir, oid)
        try:
            os.replace(self.oid_to_path(oid), dest)
            return dest
        except FileNotFoundError:
            pass
        at = self.packs.find(oid)
        if at is None:
            raise ObjectMissing(f"sha256:{oid}")
        moved = self.packs.salvage(self.tmp_dir, at.pack_id, quarantine_dir, drop={oid})
        return moved.get(oid, dest)

    def iter_oids(self) -> Iterator[str]:
        """Every object: loose, then packed (one stored twice is listed twice)."""
        yield from self.iter_loose()
        yield from self.packs.iter_oids()

    def iter_loose(self) -> Iterator[str]:
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

    # --- placing objects in the work tree ----------------------------------------------------
    def link_out(
        self, oid: str, dest: str, modes: tuple[str, ...], executable: bool,
        in_place: bool = False,
    ) -> tuple[Stat, int] | None:
        """Make `dest` hold object `oid`, by the first link mode that works.

        Returns the new file's stat and the file system's clock from before its bytes were
        placed, for the stat cache (None for a symlink into the cache, which has no stat of its
        own). The bytes go to a temp file beside `dest` that is renamed over it when complete;
        `in_place`: `dest` is new, in a directory nobody else sees yet (a checkout builds a
        missing directory aside and renames it in whole), so it is written where it is.
        Copies are verified while they stream, so a corrupt object never reaches the work tree;
        they get an mtime just before the temp file was created, so a write after this one,
        however soon, changes it (see objects/state.py).
        """
        obj = self.oid_to_path(oid)
        if not os.path.exists(obj):
            data = self._packed(oid)
            if data is None:
                raise ObjectMissing(f"sha256:{oid}")
            return self._write_out(data, oid, dest, executable, in_place)
        usable = usable_link_modes(modes, self.links_as_root)
        if usable != modes:
            if not self._said_as_root:  # once per command
                self._said_as_root = True
                _warn_as_root(modes, usable)
            modes = usable
        tmp = dest if in_place else tmp_name(os.path.dirname(dest))
        last: OSError | None = None
        try:
            for mode in modes:
                try:
                    if mode == "hardlink":  # the object's own (old) mtime; since: now
                        os.link(obj, tmp)
                        st = os.lstat(tmp)
                        since = st.st_ctime_ns
                    elif mode == "symlink":
                        os.symlink(obj, tmp)
                        if tmp != dest:
                            os.rename(tmp, dest)
                        return None
                    elif mode == "reflink":
                        if not self._reflink_works:
                            continue
                        st, since = self._reflink(obj, tmp, oid, executable)
                    else:
                        st, since = self._copy(obj, tmp, oid, executable)
                    if tmp == dest:
                        return stat_of(st), since
                    os.rename(tmp, dest)
                    return _stat_after_rename(dest, st), since
                except FileNotFoundError as exc:
                    if exc.filename == obj or not os.path.exists(obj):
                        raise ObjectMissing(f"sha256:{oid}") from None
                    raise
                except OSError as exc:
                    if exc.errno in (errno.ENOSPC, errno.EDQUOT) or isinstance(
                        exc, IsADirectoryError
                    ):
                        raise
                    remove_file(tmp)
                    last = exc
        except BaseException:
            remove_file(tmp)
            raise
        if last is None:
            raise OSError(errno.EINVAL, f"no usable link mode among {', '.join(modes)}")
        raise last

    def _write_out(self, data: bytes, oid: str, dest: str, executable: bool,
                   in_place: bool = False) -> tuple[Stat, int]:
        """A packed object's bytes, verified, become the file `dest` (a copy whatever the link
        mode: there is no file of its own to share; `in_place` as for `link_out`)."""
        got = hash_bytes(data)
        if got != oid:
            raise ObjectCorrupt(f"sha256:{oid}", f"sha256:{got}")
        tmp = dest if in_place else tmp_name(os.path.dirname(dest))
        try:
            fd, created = _create_placed(tmp, executable)
            try:
                write_all(fd, data)
                st = _backdate(fd, created)
            finally:
                os.close(fd)
            if in_place:
                return stat_of(st), created
            os.rename(tmp, dest)
        except BaseException:
            remove_file(tmp)
            raise
        return _stat_after_rename(dest, st), created

    def _copy(self, obj: str, tmp: str, oid: str, executable: bool) -> tuple[os.stat_result, int]:
        src = os.open(obj, os.O_RDONLY)
        try:
            size = os.fstat(src).st_size
            dst, created = _create_placed(tmp, executable)
            try:
                if size <= SMALL:
                    data = os.read(src, size + 1)
                    got = hash_bytes(data)
                    if got == oid:
                        write_all(dst, data)
                elif oid in self.verified:
                    got = oid if _copy_range(src, dst, size) else copy_and_hash(src, dst, size)[0]
                else:
                    got, _ = copy_and_hash(src, dst, size)
                st = _backdate(dst, created)
            finally:
                os.close(dst)
        finally:
            os.close(src)
        if got != oid:
            remove_file(tmp)
            raise ObjectCorrupt(f"sha256:{oid}", f"sha256:{got}")
        return st, created

    def _reflink(
        self, obj: str, tmp: str, oid: str, executable: bool
    ) -> tuple[os.stat_result, int]:
        """Clone first, then verify the bytes the clone shares: on a filesystem that cannot
        clone, the failed attempt costs no read of the object."""
        with open(obj, "rb") as src:
            fd, created = _create_placed(tmp, executable)
            try:
                try:
                    fcntl.ioctl(fd, FICLONE, src.fileno())
                except OSError as exc:
                    if exc.errno in _NO_REFLINK:
                        self._reflink_works = False  # this filesystem cannot: stop asking
                    raise
                st = _backdate(fd, created)
            finally:
                os.close(fd)
            if oid not in self.verified:
                got, _ = hash_fd(src.fileno(), st.st_size)
                if got != oid:
                    raise ObjectCorrupt(f"sha256:{oid}", f"sha256:{got}")
            return st, created


def _create_placed(tmp: str, executable: bool) -> tuple[int, int]:
    """A new temp file for bytes going to the work tree, and its file system's clock then."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755 if executable else 0o644)
    try:
        return fd, os.fstat(fd).st_mtime_ns
    except BaseException:
        os.close(fd)
        raise


def _backdate(fd: int, created: int) -> os.stat_result:
    """Give a placed file an mtime one tick of its file system's clock before `created`, so
    any later write moves it (a write in the same tick would not, on a coarse clock). The
    mtime shows no coarser tick than `created` does (…990 rather than …000), or the stat cache
    would take the file for one stamped by a coarser clock, and as racily clean."""
    tick = granularity(created, created)
    mtime = created - tick
    while granularity(mtime, mtime) > tick:
        mtime -= tick
    os.utime(fd, ns=(mtime, mtime))
    return os.fstat(fd)


def _stat_after_rename(dest: str, before: os.stat_result) -> Stat:
    """The stat a placed file has now: a rename gives the inode a new ctime. Should the file
    have changed in between (another inode, size or mtime), the stat from before the rename
    is returned, which matches nothing, so the file is hashed when next looked at."""
    try:
        after = os.lstat(dest)
    except FileNotFoundError:
        return stat_of(before)
    same = (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino, before.st_size, before.st_mtime_ns)
    return stat_of(after if same else before)


def _check_unchanged(
    path: str, before: os.stat_result, after: os.stat_result, size: int, expected: Stat | None
) -> None:
    if (
        size != before.st_size
        or after.st_size != before.st_size
        or after.st_mtime_ns != before.st_mtime_ns
        or (expected is not None and stat_of(after) != expected)
    ):
        raise FileChanged(path)


def _data_segments(fd: int, size: int) -> list[tuple[int, int]]:
    """(start, end) of the parts of the file that hold data, by SEEK_DATA / SEEK_HOLE (the
    whole file where the file system does not say)."""
    segments: list[tuple[int, int]] = []
    at = 0
    try:
        while at < size:
            try:
                start = os.lseek(fd, at, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # only a hole from here to the end
                    break
                raise
            end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
            segments.append((start, end))
            at = end
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
            raise
        return [(0, size)]
    return segments


def _copy_range(src: int, dst: int, size: int) -> bool:
    """Copy in the kernel (copy_file_range: no bytes through Python). False, with both
    offsets back at 0 and dst empty, where the call is not supported or the object is shorter
    than it was: the caller then copies and hashes it the usual way."""
    done = 0
    try:
        for start, end in _data_segments(src, size):  # holes stay holes
            at = start
            while at < end:
                n = os.copy_file_range(src, dst, end - at, at, at)
                if n == 0:
                    break
                at += n
            done += at - start
            if at < end:
                break
        else:
            os.ftruncate(dst, size)
            done = size
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
            raise
    if done == size:
        return True
    os.lseek(src, 0, os.SEEK_SET)
    os.lseek(dst, 0, os.SEEK_SET)
    os.ftruncate(dst, 0)
    return False
