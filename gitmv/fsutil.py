"""Filesystem helpers: atomic writes, temp files, the repository lock, durability, and the
permissions of what gitmv creates where a group shares it (`Sharing`)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import stat
import time
from collections.abc import Iterator
from typing import NamedTuple

from gitmv import ui
from gitmv.errors import LockTimeout

TMP_PREFIX = ".mvm-tmp."
# Who writes a temp file: its process and its host (a hash of the host name), so that a later
# run removes what a killed one left, and only that: a cache or store shared over NFS or
# between containers holds other hosts' temp files too, whose pids mean nothing here.
STALE_AFTER = 24 * 3600.0  # seconds untouched: another host's temp file in the cache is dead


@functools.cache
def host_tag() -> str:
    """This host, as temp file names record it: a hash of its name."""
    import hashlib
    import socket

    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def writer_tag() -> str:
    """`<pid>.<host>`: this process, as temp file names record their writer."""
    return f"{os.getpid()}.{host_tag()}"


def tmp_name(directory: str) -> str:
    """A fresh temp file name inside `directory`: `.mvm-tmp.<pid>.<host>.<random>`.

    Temp files live beside their destination (same directory, so the final rename is cheap
    and never crosses a filesystem); the writer's tag lets a later run remove what a killed
    one left.
    """
    return os.path.join(directory, f"{TMP_PREFIX}{writer_tag()}.{os.urandom(6).hex()}")


def is_tmp_name(name: str) -> bool:
    return name.startswith(TMP_PREFIX)


def writer_is_gone(pid: str, host: str, changed: float | None = None,
                   stale_after: float = STALE_AFTER) -> bool:
    """Whether the writer of a temp file (its `pid` and `host` tag) is gone: one of this
    host's whose process is gone (killed, crashed), or from anywhere, once the file was
    untouched for `stale_after` (`changed`: its last modification or rename, when known). A
    live writer on another host cannot be asked."""
    if changed is not None and time.time() - changed > stale_after:
        return True
    if host != host_tag() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def is_stale_tmp(name: str, changed: float | None = None,
                 stale_after: float = STALE_AFTER) -> bool:
    """A temp file (`tmp_name`) whose writer is gone (`writer_is_gone`). One named by an
    older gitmv (no host) is judged by its age alone."""
    parts = name[len(TMP_PREFIX):].split(".")
    if len(parts) != 3:
        return changed is not None and time.time() - changed > stale_after
    return writer_is_gone(parts[0], parts[1], changed, stale_after)


# --- permissions where a group shares a directory -------------------------------------------
# git's core.sharedRepository as a number (git's `git_config_perm`): 0 leaves files to the
# umask; a positive value adds its bits (group 0660, all 0664); a negative one is the exact
# mode, negated (`0640` -> -0o640).
PERM_UMASK = 0
PERM_GROUP = 0o660
PERM_EVERYBODY = 0o664


class Sharing(NamedTuple):
    """How gitmv's new files and directories in one place are shared: `perm` as git's
    core.sharedRepository, and the group they belong to (-1: whatever they get)."""

    perm: int = PERM_UMASK
    gid: int = -1


NOT_SHARED = Sharing()


def parse_shared_repository(value: str | None) -> int:
    """git's core.sharedRepository (`group`, `true`, `all`, `0660`, …) as a `Sharing.perm`;
    what git would refuse counts as not shared."""
    if value is None:
        return PERM_UMASK
    v = value.strip().lower()
    if v in ("", "umask", "false", "no", "off", "0"):
        return PERM_UMASK
    if v in ("group", "true", "yes", "on", "1"):
        return PERM_GROUP
    if v in ("all", "world", "everybody", "2"):
        return PERM_EVERYBODY
    try:
        n = int(v, 8)
    except ValueError:
        return PERM_UMASK
    if n & 0o600 != 0o600 or n & ~0o777:  # git dies on these: owner must read and write
        return PERM_UMASK
    return -(n & 0o666)


def umask() -> int:
    """The process's umask, read without changing it where Linux says it (/proc/self/status;
    elsewhere set and put back)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def sharing_of_dir(path: str) -> Sharing:
    """A directory a group shares (group-writable or setgid: `chmod g+ws`) shares what gitmv
    creates in it as git's core.sharedRepository=group would, in the directory's group;
    any other (or none yet) leaves it to the umask."""
    try:
        st = os.stat(path)
    except OSError:
        return NOT_SHARED
    if st.st_mode & (stat.S_ISGID | stat.S_IWGRP):
        return Sharing(PERM_GROUP, st.st_gid)
    return NOT_SHARED


def shared_mode(mode: int, perm: int) -> int:
    """The permission bits git's adjust_shared_perm gives a file or directory of `mode`."""
    if perm == PERM_UMASK:
        return stat.S_IMODE(mode)
    tweak = -perm if perm < 0 else perm
    if not mode & stat.S_IWUSR:
        tweak &= ~0o222  # a read-only file stays read-only for everyone
    if mode & stat.S_IXUSR:
        tweak |= (tweak & 0o444) >> 2
    new = (mode & ~0o777) | tweak if perm < 0 else mode | tweak
    if stat.S_ISDIR(mode):
        new |= (new & 0o444) >> 2
        if new & 0o060:
            new |= stat.S_ISGID  # what is created inside stays in the group
    return stat.S_IMODE(new)


def share(target: int | str, sharing: Sharing) -> None:
    """Give a file or directory gitmv just created (a path, or an open fd) the group and
    mode `sharing` says; nothing when not shared. The group first: a chown by its owner may
    clear a setgid bit."""
    if sharing.perm == PERM_UMASK:
        return
    st = os.stat(target)
    if sharing.gid >= 0 and st.st_gid != sharing.gid:
        with contextlib.suppress(PermissionError):  # not in that group: the umask's group
            os.chown(target, -1, sharing.gid)
            st = os.stat(target)
    mode = shared_mode(st.st_mode, sharing.perm)
    if mode != stat.S_IMODE(st.st_mode):
        os.chmod(target, mode)


def make_dirs(path: str, sharing: Sharing = NOT_SHARED) -> None:
    """`os.makedirs(path, exist_ok=True)`, each directory it creates shared as `sharing`
    says (one another process created meanwhile is left as it is)."""
    if sharing.perm == PERM_UMASK:
        os.makedirs(path, exist_ok=True)
        return
    missing: list[str] = []
    cur = os.path.abspath(path)
    while not os.path.isdir(cur):
        missing.append(cur)
        parent = os.path.dirname(cur)
        if parent == cur:
            break
        cur = parent
    for d in reversed(missing):
        try:
            os.mkdir(d)
        except FileExistsError:
            continue
        share(d, sharing)


def create_file(path: str, mode: int, sharing: Sharing = NOT_SHARED) -> int:
    """A new file (`O_EXCL`) open for writing, shared as `sharing` says; its directory is
    made when missing."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        fd = os.open(path, flags, mode)
    except FileNotFoundError:
        make_dirs(os.path.dirname(path), sharing)
        fd = os.open(path, flags, mode)
    try:
        share(fd, sharing)
    except BaseException:
        os.close(fd)
        raise
    return fd


def copy_file(src_fd: int, dst_fd: int, size: int) -> int:
    """Copy the first `size` bytes of `src_fd` to `dst_fd` (both from offset 0), in the kernel
    where it can (copy_file_range); the number of bytes copied (fewer when src is shorter)."""
    at = 0
    try:
        while at < size:
            n = os.copy_file_range(src_fd, dst_fd, size - at, at, at)
            if n == 0:
                return at
            at += n
        return at
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
            raise
    while at < size:
        data = os.pread(src_fd, min(size - at, 1 << 20), at)
        if not data:
            break
        view = memoryview(data)
        while view:
            view = view[os.pwrite(dst_fd, view, at + len(data) - len(view)):]
        at += len(data)
    return at


def atomic_write(path: str, data: bytes, mode: int = 0o644,
                 sharing: Sharing = NOT_SHARED) -> None:
    """Write `data` to `path` so that a reader sees the old file or the new one, never half."""
    directory = os.path.dirname(path) or "."
    make_dirs(directory, sharing)
    tmp = tmp_name(directory)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            share(fd, sharing)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


FSYNC_EACH_MAX = 32  # up to this many new files: fsync each; more: one syncfs


def flush_to_disk(paths: list[str], any_path: str) -> None:
    """Make newly written files durable before anything names them, once per command.

    A few files are fsynced one by one with their directories (cheap, and untouched by other
    programs' dirty data); many are flushed with one `syncfs` of their filesystem rather than
    one fsync each. `any_path` is a path on that filesystem.
    """
    if len(paths) <= FSYNC_EACH_MAX:
        dirs = {os.path.dirname(p) for p in paths}
        for p in [*paths, *dirs]:
            try:
                fd = os.open(p, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return
    _syncfs(any_path)


def _syncfs(path: str) -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(path, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        pass
    os.sync()  # no syncfs here: flush every filesystem


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write all of `data` (os.write may write less)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def remove_file(path: str) -> None:
    """Unlink a file if it exists."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@contextlib.contextmanager
def repo_lock(path: str, timeout: float = 600.0) -> Iterator[None]:
    """Hold an exclusive lock on `path` (flock), telling the person when we have to wait."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError as exc:  # another user's (gc in a shared cache locks every clone)
        try:
            fd = os.open(path, os.O_RDONLY)  # flock needs no more
        except FileNotFoundError:
            raise exc from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            ui.info(f"git mvm: waiting for lock {path} (another git mvm is running)")
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LockTimeout(
                            f"timed out after {timeout:.0f}s waiting for lock {path}",
                            "another git mvm is still running in this repository; "
                            "let it finish, then run the command again",
                        ) from None
                    time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def remove_stale(path: str) -> None:
    """Remove a stale temp file, or a stale temp directory (a checkout building a directory
    aside, killed) with what is in it."""
    import shutil

    try:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path, ignore_errors=True)
            return
    except FileNotFoundError:
        return
    remove_file(path)


def swap_in(tmp: str, dest: str) -> None:
    """Put `tmp` (a file or a directory written aside, beside `dest`) at `dest`. What is at
    `dest` goes: a file is replaced by the rename itself; a directory (which no rename can
    replace), or anything a directory replaces, is renamed aside first and removed after, so
    a reader sees the old or the new, never half of either."""
    if os.path.lexists(dest) and (os.path.isdir(tmp) or (
            os.path.isdir(dest) and not os.path.islink(dest))):
        old = tmp_name(os.path.dirname(dest) or ".")
        os.rename(dest, old)
        os.rename(tmp, dest)
        remove_stale(old)
    else:
        os.replace(tmp, dest)


def clean_stale_tmp(directory: str) -> None:
    """Remove temp files (and directories) left in `directory` by gitmv processes that died
    (kill -9)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    for name in names:
        if not is_tmp_name(name):
            continue
        path = os.path.join(directory, name)
        try:
            mtime = os.lstat(path).st_mtime
        except FileNotFoundError:
            continue
        if is_stale_tmp(name, mtime):
            remove_stale(path)
