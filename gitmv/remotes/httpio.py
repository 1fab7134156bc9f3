"""requests plumbing for the stores that speak HTTP (Git LFS, plain HTTP/WebDAV): per-thread
sessions, Basic-auth credentials from git, requests whose failures come back as gitmv errors,
upload bodies hashed as they stream (and rewound on a redirect), download streams that notice
a cut connection, the first lasting error of a batch, and the words of a failure.

Imported only by those stores, so `requests` stays out of commands that need no remote.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO, TypeVar, cast
from urllib.parse import SplitResult, unquote, urlunsplit

import requests
import urllib3

from gitmv import __version__
from gitmv.errors import GitMvmError, ObjectCorrupt
from gitmv.remotes import credential
from gitmv.remotes.retry import (
    RemoteError,
    TransientError,
    is_transient_status,
    parse_retry_after,
)

T = TypeVar("T")


class Sessions:
    """One `requests.Session` per thread (a Session is not thread-safe), and a small pool of
    threads for batched requests (named gitmv-`name`). Sessions of threads that ended are
    closed as new ones come, and everything is closed by `close()` (call it from a
    `weakref.finalize` of the store)."""

    def __init__(self, verify: bool | str, pool_threads: int, name: str) -> None:
        self._verify = verify
        self._pool_threads = pool_threads
        self._name = name
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sessions: list[tuple[threading.Thread, requests.Session]] = []
        self._pool: ThreadPoolExecutor | None = None

    def get(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.verify = cast(Any, self._verify)
            session.headers["User-Agent"] = f"gitmv/{__version__}"
            with self._lock:
                ended = [s for t, s in self._sessions if not t.is_alive()]
                self._sessions = [(t, s) for t, s in self._sessions if t.is_alive()]
                self._sessions.append((threading.current_thread(), session))
            for s in ended:  # a thread that has ended leaves no open connection behind
                s.close()
            self._local.session = session
        return session

    def executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._pool_threads,
                                                thread_name_prefix=f"gitmv-{self._name}")
            return self._pool

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)  # may run in any thread
        for _, s in sessions:
            s.close()


def plain_url(parts: SplitResult) -> str:
    """The URL `parts` with no user, password, query, fragment or trailing slash."""
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


class Credentials:
    """The Basic-auth credentials of a store at `url`, shared by its threads: the user and
    password of its URL as configured (`parts`), else what the user's git credential helpers
    give for `url`, asked once, after the first 401. Those are approved after a success (the
    helpers keep them) and rejected after a refusal (they forget them: the next command asks
    again)."""

    def __init__(self, url: str, parts: SplitResult) -> None:
        self._url = url
        self.username = unquote(parts.username) if parts.username else None
        self.current: credential.Credential | None = None
        if parts.username and parts.password is not None:  # user:password@ in the URL
            password = unquote(parts.password)
            self.current = credential.Credential(self.username or "", password, {})
        self._asked = False  # git credential fill has run
        self._approved = False
        self._rejected = False
        self._lock = threading.Lock()

    def ask(self, sent: credential.Credential | None) -> bool:
        """After a 401 for `sent`: True if other credentials are there to try."""
        with self._lock:
            if self.current is not sent:  # another thread already has new ones
                return True
            if self._asked:
                return False
            self._asked = True
            cred = credential.fill(self._url, self.username)
            if cred is None:
                return False
            self.current = cred
            return True

    def approve(self) -> None:
        """After a success: the helpers keep credentials they gave (once)."""
        with self._lock:
            if not self._approved and self.current is not None and self.current.fields:
                self._approved = True
                credential.approve(self.current)

    def reject(self, *, unless_approved: bool) -> None:
        """After a refusal: the helpers forget credentials they gave (once), with
        `unless_approved` only if these never worked."""
        with self._lock:
            if (not self._rejected and not (unless_approved and self._approved)
                    and self.current is not None and self.current.fields):
                self._rejected = True
                credential.reject(self.current)


def send(session: requests.Session, method: str, url: str, *, store: str, base: str,
         what: str, **kwargs: Any) -> requests.Response:
    """`session.request(method, url, **kwargs)` for remote `store` (at `base`), its failures
    as gitmv errors: a TLS failure or a refused connection fails the whole store; a reset or
    a timeout may hit one request only, and is transient."""
    try:
        return session.request(method, url, **kwargs)
    except requests.exceptions.SSLError as exc:
        raise RemoteError(
            f"remote {store!r} ({base}): TLS failed: {reason(exc)}",
            f"check the server's certificate, or set `ssl_verify` in [remote.{store}] to a "
            "CA bundle path",
            store_wide=True,
        ) from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        refused = isinstance(exc, requests.ConnectionError) and is_refused(exc)
        raise TransientError(
            f"cannot reach remote {store!r} ({base}) for {what}: {reason(exc)}",
            hint="check the remote's URL and that the server is up",
            store_wide=refused,
        ) from None
    except requests.RequestException as exc:
        raise RemoteError(f"remote {store!r} ({base}): {what} failed: {reason(exc)}") from None


def status_text(resp: requests.Response) -> str:
    """`HTTP 404 Not Found`."""
    return f"HTTP {resp.status_code}{' ' + resp.reason if resp.reason else ''}"


def status_error(resp: requests.Response, where: str, what: str, detail: str = "") -> RemoteError:
    """The error of a request that failed with a status other than an auth refusal (the
    stores word those themselves): busy or failing servers are transient."""
    code = resp.status_code
    if is_transient_status(code):
        return TransientError(
            f"{where}: {what} failed: {status_text(resp)}{detail}",
            retry_after=parse_retry_after(resp.headers.get("Retry-After")),
            hint="the server is busy or failing; run the command again later",
        )
    hint = ("the server does not support this request (a read-only HTTP server refuses "
            "uploads): push to a store that accepts them (WebDAV, S3, a Git LFS server)"
            if code == 501 else "check the remote's URL (`git mvm remote list`)")
    return RemoteError(f"{where}: {what} failed: {status_text(resp)}{detail}", hint)


def results(futures: Iterable[Future[T]]) -> list[T]:
    """The results of a batch's `futures`, in order, once all have finished; when some
    failed, the first lasting error is raised, else the first transient one."""
    out: list[T] = []
    error: GitMvmError | None = None
    for fut in futures:
        try:
            out.append(fut.result())
        except GitMvmError as exc:
            if error is None or (isinstance(error, TransientError)
                                 and not isinstance(exc, TransientError)):
                error = exc
    if error is not None:
        raise error
    return out


class UploadBody:
    """An upload body of exactly `size` bytes from `src` (from where it stands now), hashed
    as it is read: when the bytes are not object `oid`, the read before the end raises, so
    the request never completes and the server keeps nothing (some servers, giftless for
    one, would keep whatever they are sent). It is iterable and seeks back to its start, so
    requests rewinds it to send it again on a redirect (a 307)."""

    def __init__(self, src: BinaryIO, size: int, oid: str) -> None:
        self._src = src
        self._start = src.tell()
        self._left = size
        self._size = size
        self._oid = oid
        self._hash = hashlib.sha256()

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[bytes]:  # iterable: requests then rewinds it on a redirect
        return iter(lambda: self.read(1 << 20), b"")

    def tell(self) -> int:
        return self._size - self._left

    def seek(self, pos: int, whence: int = 0) -> int:
        """Back to the start only (requests rewinds a body to send it again on a redirect)."""
        if pos != 0 or whence != 0:
            raise OSError("an upload body can only start over")
        self._src.seek(self._start)
        self._left = self._size
        self._hash = hashlib.sha256()
        return 0

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        want = self._left if n is None or n < 0 else min(n, self._left)
        data = self._src.read(want)
        if not data:
            raise ObjectCorrupt(f"sha256:{self._oid}", f"a file {self._left} bytes short",
                                "local cache")
        self._left -= len(data)
        self._hash.update(data)
        if self._left <= 0:
            check_hash(self._oid, self._hash)
        return data


def upload_body(src: BinaryIO, size: int, oid: str) -> UploadBody | bytes:
    """What to send as object `oid`: an empty body is checked here (requests would send a
    zero-length stream chunked)."""
    if size == 0:
        check_hash(oid, hashlib.sha256())
        return b""
    return UploadBody(src, size, oid)


def check_hash(oid: str, h: Any) -> None:
    if h.hexdigest() != oid:
        raise ObjectCorrupt(f"sha256:{oid}", f"sha256:{h.hexdigest()}", "local cache")


class DownloadStream(io.RawIOBase):
    """A response body as a file; a connection that breaks off (or closes early) raises
    TransientError, so the transfer engine retries and resumes from what it has. The length
    to expect is the Content-Length, else `left` (what remains of the object's known size,
    when the store knows it: without it, a body cut short by a server that sends no
    Content-Length would look whole)."""

    def __init__(self, resp: requests.Response, store: str, left: int | None = None) -> None:
        super().__init__()
        self._resp = resp
        self._store = store
        self._got = 0
        self._expect: int | None = None
        encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
        # undecoded reads hand over every byte that arrived before a connection broke off
        # (decoding ones buffer them), so a resumed download starts where this one stopped
        self._decode = encoding not in ("", "identity")
        length = resp.headers.get("Content-Length", "")
        if not self._decode:
            self._expect = int(length) if length.strip().isdigit() else left

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        return self._read(size, self._resp.raw.read)

    def read1(self, size: int = -1) -> bytes:
        """What has arrived, up to `size` bytes (waiting at most the timeout for some): the
        engine checks its deadline between reads, whatever the pace of the server."""
        return self._read(size, self._resp.raw.read1)

    def _read(self, size: int | None, read: Any) -> bytes:
        amount = None if size is None or size < 0 else size
        try:
            data = read(amount, decode_content=self._decode)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransientError(
                f"download from remote {self._store!r} broke off after {self._got} bytes: "
                f"{reason(exc)}"
            ) from None
        self._got += len(data)
        if (not data or amount is None) and self._expect is not None \
                and self._got < self._expect:
            raise TransientError(
                f"download from remote {self._store!r} broke off after {self._got} of "
                f"{self._expect} bytes"
            )
        return bytes(data)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._resp.close()
        super().close()


def range_start(resp: requests.Response) -> int | None:
    """Where a 206 answer's Content-Range starts."""
    m = re.match(r"\s*bytes\s+(\d+)-", resp.headers.get("Content-Range", ""))
    return int(m.group(1)) if m else None


def is_refused(exc: BaseException) -> bool:
    """A connection refused: nothing listens there, so every request would fail alike."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:  # the cause chain, and urllib3's reason
        seen.add(id(cur))
        if isinstance(cur, ConnectionRefusedError) or "[Errno 111]" in str(cur):
            return True
        nxt = getattr(cur, "reason", None)
        cur = nxt if isinstance(nxt, BaseException) else (cur.__cause__ or cur.__context__)
    return False


def reason(exc: BaseException) -> str:
    """The innermost useful words of a requests/urllib3 exception."""
    text = str(exc)
    for marker in ("Caused by ", "Failed to establish a new connection: "):
        if marker in text:
            text = text.rsplit(marker, 1)[-1]
    text = text.strip("()'\" ")
    m = re.search(r"\[SSL: [A-Z0-9_]+\] ([^'\"(]+)", text) or re.search(
        r"\[Errno -?\d+\] ([^'\")]+)", text)
    if m:
        return m.group(1).strip()
    return text or type(exc).__name__


def setting(name: str, settings: Mapping[str, object], key: str,
            types: type | tuple[type, ...], default: object, docs: str) -> Any:
    """A remote's setting of the right kind (`docs`: the docs/remotes.md section)."""
    value = settings.get(key, default)
    if value is not default and (not isinstance(value, types) or value == ""):
        raise RemoteError(
            f"remote {name!r}: `{key}` has a value of the wrong kind: {value!r}",
            f"see docs/remotes.md ({docs}) for the settings such a remote takes",
        )
    if key == "timeout" and (isinstance(value, bool) or float(cast(float, value)) <= 0):
        raise RemoteError(f"remote {name!r}: `timeout` must be a positive number of seconds")
    return value
