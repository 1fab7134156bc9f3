"""Filesystem helpers: atomic writes, temp files, the repository lock, durability."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import time
from collections.abc import Iterator

from gitmv import ui
from gitmv.errors import LockTimeout

TMP_PREFIX = ".mvm-tmp."


def tmp_name(directory: str) -> str:
    """A fresh temp file name inside `directory`: `.mvm-tmp.<pid>.<random>`.

    Temp files live beside their destination (same directory, so the final rename is cheap
    and never crosses a filesystem); the pid lets a later run remove what a killed one left.
    """
    return os.path.join(directory, f"{TMP_PREFIX}{os.getpid()}.{secrets.token_hex(6)}")


def is_tmp_name(name: str) -> bool:
    return name.startswith(TMP_PREFIX)


def is_stale_tmp(name: str) -> bool:
    """A temp file whose writer is gone (killed, crashed)."""
    parts = name[len(TMP_PREFIX) :].split(".")
    if not parts[0].isdigit():
        return False
    pid = int(parts[0])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def atomic_write(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` so that a reader sees the old file or the new one, never half."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    tmp = tmp_name(directory)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
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
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
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


def clean_stale_tmp(directory: str) -> None:
    """Remove temp files left in `directory` by gitmv processes that died (kill -9)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    for name in names:
        if is_tmp_name(name) and is_stale_tmp(name):
            remove_file(os.path.join(directory, name))
