"""A plain HTTP(S) store: GET/HEAD/PUT of the cache layout `<url>/<aa>/<bb>/<hex>` on any
server that keeps what is PUT (nginx WebDAV, Artifactory generic repositories, …).

Settings, from the remote's `[remote.NAME]` table:
  token_env = "VAR"    send `Authorization: Bearer $VAR` (else Basic auth from the user's git
                       credential helpers, asked once on the first 401)
  webdav = true        the server answers PROPFIND and DELETE: list and delete (`gc --remote`)
  timeout = 60         seconds to connect, and at most between two bytes of a response
  ssl_verify = true    false, or the path of a CA bundle

Each thread has its own `requests.Session` (a Session is not thread-safe; one per thread
keeps its connections alive across requests). Uploads are hashed while they stream and cut
off before their last byte when the bytes are not the object's, so a corrupt cache file never
lands on the store; servers that know `X-Checksum-Sha256` (Artifactory, the test server)
check it too.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO, NamedTuple, cast
from urllib.parse import unquote, urlsplit, urlunsplit

import requests
import urllib3

from gitmv import __version__
from gitmv.errors import GitMvmError, ObjectCorrupt
from gitmv.remotes import credential
from gitmv.retry import RemoteError, TransientError, parse_retry_after

EXISTS_JOBS = 16  # parallel HEADs in exists_many
DEFAULT_TIMEOUT = 60.0
HEX2 = re.compile(r"[0-9a-f]{2}\Z")
HEX64 = re.compile(r"[0-9a-f]{64}\Z")
PROPFIND_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<propfind xmlns="DAV:"><prop><resourcetype/><getcontentlength/><getlastmodified/>'
    b"</prop></propfind>"
)


class HttpStore:
    def __init__(self, name: str, url: str, settings: dict[str, object]) -> None:
        self.name = name
        self.url = url
        parts = urlsplit(url)
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if parts.port is not None:
            netloc = f"{netloc}:{parts.port}"
        self.base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self._username = unquote(parts.username) if parts.username else None
        self._cred: credential.Credential | None = None
        if parts.username and parts.password is not None:  # user:password@ in the URL
            self._cred = credential.Credential(self._username or "", unquote(parts.password), {})
        self._asked = False  # git credential fill has run
        self._approved = False
        self._rejected = False
        self._auth_lock = threading.Lock()
        self._answered = False  # a request got past authentication
        self._needs_collections = False  # PUT needs its directories made first (WebDAV)
        self._collections: set[str] = set()  # directories known to exist
        self._token_env = _setting(name, settings, "token_env", str, None)
        self.can_list = bool(_setting(name, settings, "webdav", bool, False))
        timeout = _setting(name, settings, "timeout", (int, float), DEFAULT_TIMEOUT)
        self._timeout = float(cast(float, timeout))
        self._verify = _setting(name, settings, "ssl_verify", (bool, str), True)
        self._local = threading.local()
        self._shared = _Shared()
        weakref.finalize(self, self._shared.close)

    def close(self) -> None:
        """Close every connection (also done when the store is garbage-collected)."""
        self._shared.close()

    # --- the Store interface ------------------------------------------------------------
    def exists_many(self, oids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        if not self._answered and oids:
            # one request first: a 401 then asks for credentials once, not once per thread
            found = {oid for oid in oids[:1] if self._exists(oid)}
            oids = oids[1:]
        if len(oids) <= 1:
            return found | {oid for oid in oids if self._exists(oid)}
        stop = threading.Event()  # the first failure cancels the rest of the batch

        def one(oid: str) -> bool:
            if stop.is_set():
                return False
            try:
                return self._exists(oid)
            except BaseException:
                stop.set()
                raise

        futures = [(oid, self._shared.executor().submit(one, oid)) for oid in oids]
        return found | _collect(futures)

    def upload(self, oid: str, size: int, src: BinaryIO) -> None:
        start = src.tell()

        def body() -> _Body | bytes:
            src.seek(start)
            if size == 0:
                _check_hash(oid, hashlib.sha256())
                return b""
            return _Body(src, size, oid)

        headers = {"Content-Type": "application/octet-stream", "X-Checksum-Sha256": oid}
        what = f"upload of sha256:{oid}"
        premade = self._needs_collections
        if premade:
            self._make_collections(oid)
        resp = self._request("PUT", self._object_url(oid), what, headers=headers, body=body)
        resp.close()
        if resp.status_code in (409, 500) and not premade:
            # a WebDAV server whose PUT does not create directories: 409, or nginx without
            # `create_full_put_path` fails its final rename with a 500. Make them, try again
            # and, if that was it, make them first from now on.
            self._make_collections(oid)
            resp = self._request("PUT", self._object_url(oid), what, headers=headers, body=body)
            resp.close()
            if resp.status_code in (200, 201, 204):
                self._needs_collections = True
        if resp.status_code in (200, 201, 204):
            return
        if resp.status_code == 405:
            raise RemoteError(
                f"remote {self.name!r} ({self.base}): the server does not accept uploads "
                "(HTTP 405 on PUT)",
                "enable PUT on that location (nginx: `dav_methods PUT DELETE MKCOL;` and "
                "`create_full_put_path on;`), or check the remote's URL",
                store_wide=True,
            )
        raise self._status_error(resp, what)

    def open_download(self, oid: str, offset: int = 0) -> tuple[BinaryIO, int]:
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        what = f"download of sha256:{oid}"
        resp = self._request("GET", self._object_url(oid), what, headers=headers, stream=True)
        code = resp.status_code
        if code == 200:
            return cast(BinaryIO, _Stream(resp, self.name)), 0
        if code == 206 and offset and _range_start(resp) == offset:
            return cast(BinaryIO, _Stream(resp, self.name)), offset
        resp.close()
        if offset and code in (206, 416):  # a range we cannot use: start over
            return self.open_download(oid, 0)
        if code in (404, 410):
            raise RemoteError(
                f"object sha256:{oid} is not on remote {self.name!r}",
                "push it from a clone that has it (`git mvm push`)",
            )
        raise self._status_error(resp, what)

    def list_objects(self) -> Iterator[tuple[str, int, float]]:
        if not self.can_list:
            raise RemoteError(
                f"remote {self.name!r} cannot list its objects",
                f"if the server speaks WebDAV, set `webdav = true` in [remote.{self.name}]",
            )
        for aa in self._members(self.base + "/", HEX2, True):
            for bb in self._members(f"{self.base}/{aa.name}/", HEX2, True):
                url = f"{self.base}/{aa.name}/{bb.name}/"
                for obj in self._members(url, HEX64, False):
                    if obj.name.startswith(aa.name + bb.name):
                        yield obj.name, obj.size, obj.mtime

    def delete(self, oid: str) -> None:
        what = f"delete of sha256:{oid}"
        resp = self._request("DELETE", self._object_url(oid), what)
        resp.close()
        if resp.status_code in (200, 202, 204, 404, 410):
            return
        raise self._status_error(resp, what)

    # --- requests -----------------------------------------------------------------------
    def _object_url(self, oid: str) -> str:
        return f"{self.base}/{oid[:2]}/{oid[2:4]}/{oid}"

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.verify = cast(Any, self._verify)
            session.headers["User-Agent"] = f"gitmv/{__version__}"
            self._shared.add(session)
            self._local.session = session
        return session

    def _exists(self, oid: str) -> bool:
        resp = self._request("HEAD", self._object_url(oid), f"check of sha256:{oid}")
        resp.close()
        if 200 <= resp.status_code < 300:
            return True
        if resp.status_code in (404, 410):
            return False
        raise self._status_error(resp, f"check of sha256:{oid}")

    def _request(
        self, method: str, url: str, what: str, headers: dict[str, str] | None = None,
        body: Callable[[], Any] | None = None, stream: bool = False,
    ) -> requests.Response:
        """Send one request; a 401 asks git for credentials once and sends it again. Auth
        refusals raise; other statuses are the caller's."""
        for _ in range(2):
            cred = self._cred
            all_headers = dict(headers or {})
            all_headers.update(self._token_header())
            try:
                resp = self._session().request(
                    method, url, headers=all_headers, data=body() if body else None,
                    auth=(cred.username, cred.password) if cred else None, stream=stream,
                    timeout=self._timeout, allow_redirects=True,
                )
            except requests.exceptions.SSLError as exc:
                raise RemoteError(
                    f"remote {self.name!r} ({self.base}): TLS failed: {_reason(exc)}",
                    f"check the server's certificate, or set `ssl_verify` in "
                    f"[remote.{self.name}] to a CA bundle path",
                    store_wide=True,
                ) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                # refused: nothing listens there, every object would fail alike; a reset or
                # a timeout may hit one request only
                refused = isinstance(exc, requests.ConnectionError) and _is_refused(exc)
                raise TransientError(
                    f"cannot reach remote {self.name!r} ({self.base}) for {what}: "
                    f"{_reason(exc)}",
                    hint="check the remote's URL and that the server is up",
                    store_wide=refused,
                ) from None
            except requests.RequestException as exc:
                raise RemoteError(
                    f"remote {self.name!r} ({self.base}): {what} failed: {_reason(exc)}"
                ) from None
            if resp.status_code != 401 or self._token_env is not None:
                break
            resp.close()
            if not self._ask_credentials(cred):
                break
        if resp.status_code in (401, 403):
            resp.close()
            raise self._status_error(resp, what)
        self._answered = True
        if self._cred is not None and self._cred.fields and resp.status_code < 400:
            self._approve()
        return resp

    def _token_header(self) -> dict[str, str]:
        if self._token_env is None:
            return {}
        import os

        token = os.environ.get(self._token_env, "").strip()
        if not token:
            raise RemoteError(
                f"remote {self.name!r}: its token comes from ${self._token_env}, which is "
                "not set",
                f"export {self._token_env}=<token>, or remove `token_env` from "
                f"[remote.{self.name}] to use your git credential helpers",
                store_wide=True,
            )
        return {"Authorization": f"Bearer {token}"}

    def _ask_credentials(self, sent: credential.Credential | None) -> bool:
        """After a 401 for `sent`: True if other credentials are there to try."""
        with self._auth_lock:
            if self._cred is not sent:  # another thread already has new ones
                return True
            if self._asked:  # git's credentials were refused
                if self._cred is not None and self._cred.fields and not self._rejected:
                    credential.reject(self._cred)
                    self._rejected = True
                return False
            self._asked = True
            cred = credential.fill(self.base, self._username)
            if cred is None:
                return False
            self._cred = cred
            return True

    def _approve(self) -> None:
        with self._auth_lock:
            if not self._approved and self._cred is not None and self._cred.fields:
                self._approved = True
                credential.approve(self._cred)

    def _status_error(self, resp: requests.Response, what: str) -> RemoteError:
        code = resp.status_code
        status = f"HTTP {code}{' ' + resp.reason if resp.reason else ''}"
        where = f"remote {self.name!r} ({self.base})"
        if code == 401:
            if self._token_env is not None:
                return RemoteError(
                    f"{where}: the token in ${self._token_env} was refused ({status})",
                    "check the token's value, scope and expiry",
                    store_wide=True,
                )
            host = urlsplit(self.base).netloc
            if self._cred is None:
                return RemoteError(
                    f"{where}: the server asks for credentials ({status}) and git has none "
                    f"for {host}",
                    "store them with a git credential helper (`git config --global "
                    "credential.helper store`, then any git command that asks), or set "
                    f"`token_env` in [remote.{self.name}]",
                    store_wide=True,
                )
            return RemoteError(
                f"{where}: authentication failed ({status})",
                f"check the user name and password your git credential helper gives for "
                f"{host} (they were rejected, so the next command asks again)",
                store_wide=True,
            )
        if code == 403:
            return RemoteError(
                f"{where}: permission denied for {what} ({status})",
                "ask for read/write access to that location, or check which credentials "
                "are in use (`git credential fill`)",
                store_wide=True,
            )
        if code in (408, 425, 429) or code >= 500:
            return TransientError(
                f"{where}: {what} failed: {status}",
                retry_after=parse_retry_after(resp.headers.get("Retry-After")),
                hint="the server is busy or failing; run the command again later",
            )
        return RemoteError(
            f"{where}: {what} failed: {status}",
            "check the remote's URL (`git mvm remote list`)",
        )

    # --- WebDAV -------------------------------------------------------------------------
    def _make_collections(self, oid: str) -> None:
        """MKCOL the object's `<aa>/<bb>/` directories (once each per process)."""
        for url in (self.base + "/", f"{self.base}/{oid[:2]}/", f"{self.base}/{oid[:2]}/"
                    f"{oid[2:4]}/"):
            if url in self._collections:
                continue
            resp = self._request("MKCOL", url, f"creation of {url}")
            resp.close()
            if resp.status_code in (200, 201, 204, 405):  # 405: it exists already
                self._collections.add(url)  # set.add: atomic, so threads may share it

    def _members(self, url: str, pattern: re.Pattern[str], dirs: bool) -> list[_Member]:
        """The members of collection `url` whose names match `pattern` (PROPFIND Depth 1)."""
        from email.utils import parsedate_to_datetime
        from xml.etree import ElementTree

        what = f"listing of {url}"
        resp = self._request("PROPFIND", url, what, body=lambda: PROPFIND_BODY,
                             headers={"Depth": "1", "Content-Type": "application/xml"})
        with resp:
            if resp.status_code == 404:
                return []
            if resp.status_code != 207:
                raise self._status_error(resp, what)
            try:
                root = ElementTree.fromstring(resp.content)
            except ElementTree.ParseError as exc:
                raise RemoteError(f"remote {self.name!r}: bad PROPFIND answer for {url}: "
                                  f"{exc}") from None
        out = []
        for entry in root.iter("{DAV:}response"):
            href = entry.findtext("{DAV:}href") or ""
            is_dir = entry.find(".//{DAV:}resourcetype/{DAV:}collection") is not None
            name = unquote(urlsplit(href).path.rstrip("/").rsplit("/", 1)[-1])
            if is_dir != dirs or not pattern.match(name):
                continue
            size = (entry.findtext(".//{DAV:}getcontentlength") or "").strip()
            modified = (entry.findtext(".//{DAV:}getlastmodified") or "").strip()
            try:
                mtime = parsedate_to_datetime(modified).timestamp()
            except (TypeError, ValueError):  # unknown: take it as new (gc keeps new objects)
                mtime = time.time()
            out.append(_Member(name, int(size) if size.isdigit() else 0, mtime))
        return sorted(out)


class _Member(NamedTuple):
    name: str
    size: int
    mtime: float


class _Shared:
    """What the threads using one store share: their sessions and the HEAD pool. Kept apart
    from the store so that a finalizer can close it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: list[tuple[threading.Thread, requests.Session]] = []
        self._pool: ThreadPoolExecutor | None = None

    def add(self, session: requests.Session) -> None:
        with self._lock:
            ended = [s for t, s in self._sessions if not t.is_alive()]
            self._sessions = [(t, s) for t, s in self._sessions if t.is_alive()]
            self._sessions.append((threading.current_thread(), session))
        for s in ended:  # a thread that has ended leaves no open connection behind
            s.close()

    def executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(EXISTS_JOBS, thread_name_prefix="gitmv-head")
            return self._pool

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)  # may run in any thread
        for _, s in sessions:
            s.close()


def _collect(futures: list[tuple[str, Future[bool]]]) -> set[str]:
    """The oids whose check said yes; the first lasting error wins over a transient one."""
    found: set[str] = set()
    error: GitMvmError | None = None
    for oid, fut in futures:
        try:
            if fut.result():
                found.add(oid)
        except GitMvmError as exc:
            if error is None or (isinstance(error, TransientError)
                                 and not isinstance(exc, TransientError)):
                error = exc
    if error is not None:
        raise error
    return found


class _Body:
    """An upload body of exactly `size` bytes from `src`, hashed as it is read: when the
    bytes are not object `oid`, the read before the end raises, so the request never
    completes and the server keeps nothing."""

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
            raise OSError(f"sha256:{self._oid}: the cache file ended {self._left} bytes early")
        self._left -= len(data)
        self._hash.update(data)
        if self._left <= 0:
            _check_hash(self._oid, self._hash)
        return data


def _check_hash(oid: str, h: Any) -> None:
    if h.hexdigest() != oid:
        raise ObjectCorrupt(f"sha256:{oid}", f"sha256:{h.hexdigest()}", "local cache")


class _Stream(io.RawIOBase):
    """A response body as a file; a connection that breaks off (or closes early) raises
    TransientError, so the transfer engine retries and resumes from what it has."""

    def __init__(self, resp: requests.Response, store: str) -> None:
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
        if not self._decode and length.strip().isdigit():
            self._expect = int(length)

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        amount = None if size is None or size < 0 else size
        try:
            data = self._resp.raw.read(amount, decode_content=self._decode)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransientError(
                f"download from remote {self._store!r} broke off after {self._got} bytes: "
                f"{_reason(exc)}"
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


def _range_start(resp: requests.Response) -> int | None:
    m = re.match(r"\s*bytes\s+(\d+)-", resp.headers.get("Content-Range", ""))
    return int(m.group(1)) if m else None


def _is_refused(exc: BaseException) -> bool:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:  # the cause chain, and urllib3's reason
        seen.add(id(cur))
        if isinstance(cur, ConnectionRefusedError) or "[Errno 111]" in str(cur):
            return True
        nxt = getattr(cur, "reason", None)
        cur = nxt if isinstance(nxt, BaseException) else (cur.__cause__ or cur.__context__)
    return False


def _reason(exc: BaseException) -> str:
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


def _setting(name: str, settings: dict[str, object], key: str,
             types: type | tuple[type, ...], default: object) -> Any:
    value = settings.get(key, default)
    if value is not default and (not isinstance(value, types) or value == ""):
        raise RemoteError(
            f"remote {name!r}: `{key}` has a value of the wrong kind: {value!r}",
            "see docs/remotes.md (Plain HTTP(S)) for the settings an HTTP remote takes",
        )
    if key == "timeout" and (isinstance(value, bool) or float(cast(float, value)) <= 0):
        raise RemoteError(f"remote {name!r}: `timeout` must be a positive number of seconds")
    return value
