"""One exception family; the CLI maps it to messages and exit codes.

    GitMvmError                 exit 1, "git mvm: error: <message>" and the hint
    ├── UsageError              exit 2 (bad arguments the parser could not catch)
    ├── NotARepository          not inside a git work tree
    ├── GitFailed               the git binary failed (cmd, rc, stderr; `detail`: git's own line)
    ├── FormatError             a pointer, manifest or config that is not valid (path, why)
    ├── PathRefused             a path outside the work tree, inside .git, or tracked by git
    ├── ObjectMissing           an object is not in the cache (oid)
    ├── ObjectCorrupt           bytes whose hash is not their name (oid, got)
    ├── FileChanged             a file changed while it was being read
    ├── WouldOverwrite          a workspace file holds changes that are not in the cache
    └── LockTimeout             another gitmv holds the repository lock for too long
"""

from __future__ import annotations

import re


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
        self.detail = git_message(stderr) or f"exit {rc}"
        super().__init__(mask_urls(f"`git {' '.join(cmd)}` failed: {self.detail}"))
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


# --- what a message may show ---------------------------------------------------------------

_GIT_SAYS = re.compile(r"(fatal|error): .*")


def git_message(stderr: str) -> str:
    """What git said went wrong, as a person should see it: its first `fatal:` or `error:`
    line (git adds advice and "Please make sure you have the correct access rights" after
    it), else its last line; credentials in URLs masked; "" when git printed nothing."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    said = next((line for line in lines if _GIT_SAYS.fullmatch(line)), lines[-1] if lines else "")
    return mask_urls(said)


def printable(path: str) -> str:
    """A file name as it may be printed on one line: a byte that is not UTF-8 (held as a
    surrogate escape) as `\\xNN`, control characters (newline, carriage return, …) as
    Python writes them."""
    if path.isprintable():
        return path
    out = []
    for c in path:
        if "\udc80" <= c <= "\udcff":
            out.append(f"\\x{ord(c) - 0xDC00:02x}")
        elif c.isprintable():
            out.append(c)
        else:
            out.append(repr(c)[1:-1])
    return "".join(out)


# Credentials a URL may carry (gitmv.remotes.urls says which and where): query parameter
# names that carry one (case-insensitive, anywhere in the name), and user names that are
# tokens (the known prefixes, or anything long and opaque).
SECRET_PARAM = re.compile(r"token|secret|passw|pwd|key|sig|credential|auth", re.IGNORECASE)
TOKEN_USER = re.compile(r"(ghp_|gho_|ghu_|ghs_|github_pat_|glpat-|hf_|xox[bp]-)"
                        r"|[A-Za-z0-9_\-]{24,}$")
MASK = "***"
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"`<>]+")


def mask_url(url: str) -> str:
    """The URL with every credential it carries replaced by `***`, for printing."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit  # (10 ms: when used)

    try:
        parts = urlsplit(url)
        password, user, host, port = parts.password, parts.username, parts.hostname, parts.port
    except ValueError:
        return url
    if parts.netloc and (password is not None or user is not None):
        netloc = host or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if port is not None:
            netloc += f":{port}"
        if user is not None and parts.scheme.lower() in ("http", "https") \
                and TOKEN_USER.match(user):
            user = MASK
        userinfo = (user or "") + (f":{MASK}" if password is not None else "")
        parts = parts._replace(netloc=f"{userinfo}@{netloc}")
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if any(SECRET_PARAM.search(name) for name, _ in pairs):
            masked = [(n, MASK if SECRET_PARAM.search(n) else v) for n, v in pairs]
            parts = parts._replace(query=urlencode(masked, safe="*"))
    return urlunsplit(parts)


def mask_urls(text: str) -> str:
    """`text` with every URL in it masked (`mask_url`)."""
    return _URL.sub(lambda m: mask_url(m.group(0)), text) if "://" in text else text
