"""requests plumbing for the stores that speak HTTP (Git LFS; the plain HTTP store has the
same pieces of its own): per-thread sessions, upload bodies hashed as they stream, download
streams that notice a cut connection, and the words of a failure.

Imported only by those stores, so `requests` stays out of commands that need no remote.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, cast

import requests
import urllib3

from gitmv import __version__
from gitmv.errors import ObjectCorrupt
from gitmv.retry import RemoteError, TransientError


class Sessions:
    """One `requests.Session` per thread (a Session is not thread-safe), and a small pool of
    threads for batched requests. Sessions of threads that ended are closed as new ones come,
    and everything is closed by `close()` (call it from a `weakref.finalize` of the store)."""

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


class UploadBody:
    """An upload body of exactly `size` bytes from `src`, hashed as it is read: when the
    bytes are not object `oid`, the read before the end raises, so the request never
    completes and the server keeps nothing (some servers, giftless for one, would keep
    whatever they are sent)."""

    def __init__(self, src: BinaryIO, size: int, oid: str) -> None:
        self._src = src
        self._left = size
        self._size = size
        self._oid = oid
        self._hash = hashlib.sha256()

    def __len__(self) -> int:
        return self._size

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
    to expect is the Content-Length, else `left` (what remains of the object's known size:
    without it, a body cut short by a server that sends no Content-Length would look whole)."""

    def __init__(self, resp: requests.Response, store: str, left: int | None = None) -> None:
        super().__init__()
        self._resp = resp
        self._store = store
        self._got = 0
        self._expect: int | None = None
        encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
        length = resp.headers.get("Content-Length", "")
        if encoding in ("", "identity"):
            self._expect = int(length) if length.strip().isdigit() else left

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        amount = None if size is None or size < 0 else size
        try:
            data = self._resp.raw.read(amount, decode_content=True)
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
    m = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if m:
        return m.group(1)
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
