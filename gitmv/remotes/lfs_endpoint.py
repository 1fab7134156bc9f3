"""Where a git remote's Git LFS server is, as `git lfs` finds it, and `git-lfs-authenticate`
for ssh remotes; when an action or token expires (`expires_in` / `expires_at`).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit, urlunsplit

from gitmv.remotes.retry import RemoteError, TransientError
from gitmv.repo import Repo

EXPIRY_MARGIN = 5.0  # seconds: what expires sooner than this is asked for again


class Endpoint(NamedTuple):
    url: str  # the Batch API's base (…/info/lfs), http(s)
    ssh: SshAuth | None  # asked for the href and header first, when set


def find_endpoint(repo: Repo, name: str, url: str, upload: bool = False) -> Endpoint:
    """The Git LFS endpoint of git remote `name` (an http(s), ssh or scp-style URL), found as
    `git lfs` finds it: `lfs.url`, else `remote.<name>.lfsurl` (from git config, then from a
    committed `.lfsconfig`), else `<url>.git/info/lfs` (`<url>/info/lfs` for `….git`).

    For an upload `lfs.pushurl` comes first, `remote.<name>.lfspushurl` before
    `remote.<name>.lfsurl`, and the endpoint is derived from git's `remote.<name>.pushurl`
    when there is one: pushes may go to another server than fetches."""
    keys = ["lfs.url", f"remote.{name}.lfsurl"]
    if upload:
        keys = ["lfs.pushurl", "lfs.url", f"remote.{name}.lfspushurl", f"remote.{name}.lfsurl"]
    for key in keys:
        configured = _lfs_setting(repo, key)
        if configured:
            return _endpoint_of(repo, name, configured, derive=False)
    if upload:
        pushurl = repo.git("config", "--get", f"remote.{name}.pushurl", check=False)
        url = pushurl.decode().strip() or url
    return _endpoint_of(repo, name, url, derive=True)


def lfs_endpoint(url: str) -> str:
    """`<url>.git/info/lfs`, or `<url>/info/lfs` when the URL ends with `.git`."""
    url = url.rstrip("/")
    return url + "/info/lfs" if url.endswith(".git") else url + ".git/info/lfs"


def _endpoint_of(repo: Repo, name: str, url: str, derive: bool) -> Endpoint:
    parts = urlsplit(url)
    scheme = parts.scheme.lower() if "://" in url else ""
    if scheme in ("http", "https"):
        return Endpoint(lfs_endpoint(url) if derive else url.rstrip("/"), None)
    if scheme == "git":  # git:// has no LFS: git-lfs asks the same host over https
        https = urlunsplit(("https", parts.hostname or "", parts.path, "", ""))
        return Endpoint(lfs_endpoint(https) if derive else https, None)
    ssh = SshAuth.parse(name, url, _ssh_command(repo))
    if ssh is None:
        raise RemoteError(
            f"remote {name!r}: cannot find a Git LFS server for {url!r}",
            "add a gitmv remote (`git mvm remote add NAME URL`), or set `lfs.url`",
        )
    https = f"https://{ssh.host}/{ssh.path}"  # git-lfs's fallback when ssh gives no href
    return Endpoint(lfs_endpoint(https) if derive else https, ssh)


def _lfs_setting(repo: Repo, key: str) -> str | None:
    """A git config value, else the same key from the repository's `.lfsconfig` (the work
    tree's file, else the committed one), as git-lfs reads them."""
    value = repo.git("config", "--get", key, check=False).decode().strip()
    if value:
        return value
    path = os.path.join(repo.root, ".lfsconfig")
    if os.path.isfile(path):
        args = ["config", "-f", path, "--get", key]
    else:
        args = ["config", "--blob", "HEAD:.lfsconfig", "--get", key]
    return repo.git(*args, check=False).decode().strip() or None


def _ssh_command(repo: Repo) -> str | None:
    if os.environ.get("GIT_SSH_COMMAND") or os.environ.get("GIT_SSH"):
        return None
    return repo.git("config", "--get", "core.sshCommand", check=False).decode().strip() or None


class SshAuthResult(NamedTuple):
    href: str | None
    header: dict[str, str]
    deadline: float | None


class SshAuth:
    """`ssh [-p PORT] [user@]host git-lfs-authenticate PATH OPERATION`: a JSON answer with
    the endpoint (`href`) and headers for the Batch API, cached per operation until it
    expires. The ssh program is `GIT_SSH_COMMAND`, `GIT_SSH`, `core.sshCommand` or `ssh`."""

    def __init__(self, remote: str, user_host: str, port: str | None, path: str,
                 config_command: str | None = None) -> None:
        self.remote = remote
        self.user_host = user_host
        self.host = user_host.rsplit("@", 1)[-1]
        self.port = port
        self.path = path
        self._config_command = config_command
        self._lock = threading.Lock()
        self._cache: dict[str, SshAuthResult] = {}

    @classmethod
    def parse(cls, remote: str, url: str, config_command: str | None = None) -> SshAuth | None:
        """`ssh://[user@]host[:port]/path` or scp-style `[user@]host:path`; else None."""
        if url.lower().startswith(("ssh://", "git+ssh://", "ssh+git://")):
            parts = urlsplit(url)
            if not parts.hostname:
                return None
            user_host = f"{unquote(parts.username)}@{parts.hostname}" if parts.username \
                else parts.hostname
            port = str(parts.port) if parts.port is not None else None
            return cls(remote, user_host, port, parts.path.lstrip("/"), config_command)
        m = re.fullmatch(r"(\[[^\]]+\]|[^/:\[]+):(.+)", url)
        if m is None or "://" in url:
            return None
        host, path = m.group(1), m.group(2)
        port = None
        if host.startswith("["):  # [user@host:port]:path
            host = host[1:-1]
            if re.search(r":\d+\Z", host):
                host, port = host.rsplit(":", 1)
        return cls(remote, host, port, path.lstrip("/"), config_command)

    def authenticate(self, operation: str) -> SshAuthResult:
        with self._lock:
            cached = self._cache.get(operation)
            if cached is not None and not is_past(cached.deadline):
                return cached
            result = self._run(operation)
            self._cache[operation] = result
            return result

    def forget(self, operation: str) -> None:
        """Drop a token the server refused."""
        with self._lock:
            self._cache.pop(operation, None)

    def argv(self, operation: str) -> list[str]:
        command = f"git-lfs-authenticate {shlex.quote(self.path)} {operation}"
        shell = os.environ.get("GIT_SSH_COMMAND") or None
        program = os.environ.get("GIT_SSH") or None
        if shell is None and program is None:
            shell = self._config_command
        first = shlex.split(shell)[0] if shell else (program or "ssh")
        base = os.path.splitext(os.path.basename(first))[0].lower()
        args: list[str] = []
        if base == "tortoiseplink":
            args.append("-batch")
        if self.port:
            args += ["-P" if base in ("plink", "tortoiseplink") else "-p", self.port]
        if base == "ssh":
            args += ["--", self.user_host]
        else:
            args.append(self.user_host.lstrip("-"))
        args.append(command)
        if shell:
            return ["sh", "-c", f'{shell} "$@"', shell, *args]
        return [program or "ssh", *args]

    def _run(self, operation: str) -> SshAuthResult:
        argv = self.argv(operation)
        where = f"remote {self.remote!r}: `ssh {self.user_host} git-lfs-authenticate`"
        started = time.time()
        try:
            proc = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL,
                                  timeout=120, check=False)
        except FileNotFoundError:
            raise RemoteError(f"{where}: {argv[0]} is not installed",
                              "install OpenSSH, or use an https remote", store_wide=True) from None
        except subprocess.TimeoutExpired:
            raise TransientError(f"{where} did not answer within 120 s",
                                 store_wide=True) from None
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            detail = err[-1] if err else f"exit {proc.returncode}"
            raise RemoteError(
                f"{where} failed: {detail}",
                "check that `ssh` reaches the host with your key and that the server runs "
                "Git LFS; or set `lfs.url` to the server's https endpoint",
                store_wide=True,
            )
        try:
            doc = json.loads(proc.stdout)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise RemoteError(f"{where} did not answer with JSON", store_wide=True)
        header = doc.get("header") or {}
        href = doc.get("href")
        return SshAuthResult(
            href.rstrip("/") if isinstance(href, str) and href else None,
            {str(k): str(v) for k, v in header.items()} if isinstance(header, dict) else {},
            deadline(doc, started),
        )


def deadline(spec: Mapping[str, Any], received: float) -> float | None:
    """When an action (or ssh token) expires: `expires_in` wins over `expires_at`."""
    expires_in = spec.get("expires_in")
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) \
            and expires_in != 0:
        return received + float(expires_in)
    expires_at = spec.get("expires_at")
    if isinstance(expires_at, str) and expires_at:
        try:
            when = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.year > 1970:  # Go servers send the zero time for "never"
            return when.timestamp()
    return None


def is_past(when: float | None) -> bool:
    """Whether a deadline has passed, or comes within the margin."""
    return when is not None and time.time() + EXPIRY_MARGIN >= when
