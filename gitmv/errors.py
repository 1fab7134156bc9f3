"""One exception family; the CLI maps it to messages and exit codes.

    GitMvmError                 exit 1, "git mvm: error: <message>" and the hint
    ├── UsageError              exit 2 (bad arguments the parser could not catch)
    ├── NotARepository          not inside a git work tree
    ├── GitFailed               the git binary failed (cmd, rc, stderr)
    ├── FormatError             a pointer, manifest or config that is not valid (path, why)
    ├── PathRefused             a path outside the work tree, inside .git, or tracked by git
    ├── ObjectMissing           an object is not in the cache (oid)
    ├── ObjectCorrupt           bytes whose hash is not their name (oid, got)
    ├── FileChanged             a file changed while it was being read
    ├── WouldOverwrite          a workspace file holds changes that are not in the cache
    └── LockTimeout             another gitmv holds the repository lock for too long
"""

from __future__ import annotations


class GitMvmError(Exception):
    """Base of every error gitmv reports to a person."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(GitMvmError):
    exit_code = 2


class NotARepository(GitMvmError):
    pass


class GitFailed(GitMvmError):
    def __init__(self, cmd: list[str], rc: int, stderr: str) -> None:
        detail = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {rc}"
        super().__init__(f"`git {' '.join(cmd)}` failed: {detail}")
        self.cmd = cmd
        self.rc = rc
        self.stderr = stderr


class FormatError(GitMvmError):
    def __init__(self, path: str, why: str, hint: str | None = None) -> None:
        super().__init__(f"{path}: {why}", hint)
        self.path = path
        self.why = why


class PathRefused(GitMvmError):
    pass


class ObjectMissing(GitMvmError):
    def __init__(self, oid: str, hint: str | None = None) -> None:
        super().__init__(f"object {oid} is not in the cache", hint or "run `git mvm pull`")
        self.oid = oid


class ObjectCorrupt(GitMvmError):
    def __init__(self, oid: str, got: str, where: str = "cache") -> None:
        super().__init__(f"object {oid} in the {where} is corrupt (its bytes hash to {got})")
        self.oid = oid
        self.got = got
        self.where = where


class FileChanged(GitMvmError):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path}: file changed while it was being read",
            "wait until whatever writes it has finished, then run the command again",
        )
        self.path = path


class WouldOverwrite(GitMvmError):
    pass


class LockTimeout(GitMvmError):
    pass


def os_error(exc: OSError, context: str) -> GitMvmError:
    """An OSError as one line a person can act on."""
    import errno

    where = f": {exc.filename}" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = "free some space (`git mvm gc` drops cache objects nothing needs) and run again"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = "check the permissions of the file and of the cache directory"
    else:
        hint = "run again with -v for details"
    return GitMvmError(f"{context}: {exc.strerror or exc}{where}", hint)
