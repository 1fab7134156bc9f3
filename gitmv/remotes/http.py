"""A plain HTTP(S) store: GET/HEAD/PUT of the cache layout `<url>/<aa>/<bb>/<hex>` on any
server that keeps what is PUT (nginx WebDAV, Artifactory generic repositories, …).

Settings, from the remote's `[remote.NAME]` table:
  token_env = "VAR"    send `Authorization: Bearer $VAR` (else Basic auth from the user's git
                       credential helpers, asked once on the first 401)
  webdav = true        the server answers PROPFIND and DELETE: list and delete (`gc --remote`)
  timeout = 60         seconds to connect, and at most between two bytes of a response
  ssl_verify = true    false, or the path of a CA bundle

Each thread has its own `requests.Session` (httpio.Sessions: a Session is not thread-safe;
one per thread keeps its connections alive across requests). Uploads are hashed while they
stream and cut off before their last byte when the bytes are not the object's
(httpio.UploadBody), so a corrupt cache file never lands on the store; servers that know
`X-Checksum-Sha256` (Artifactory, the test server) check it too.
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO, NamedTuple, cast
from urllib.parse import unquote, urlsplit

import requests

from gitmv.remotes.httpio import (
    Credentials,
    DownloadStream,
    Sessions,
    plain_url,
    range_start,
    results,
    send,
    setting,
    status_error,
    status_text,
    upload_body,
)
from gitmv.remotes.retry import RemoteError, TransientError
from gitmv.remotes.stored import Stored, byte_range

EXISTS_JOBS = 16  # parallel HEADs in exists_many
DEFAULT_TIMEOUT = 60.0
HEX2 = re.compile(r"[0-9a-f]{2}\Z")
HEX64 = re.compile(r"[0-9a-f]{64}\Z")
ANY_NAME = re.compile(r"[^.]")  # any file but a hidden (temp) one
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
        self.base = plain_url(parts)
        self._creds = Credentials(self.base, parts)
        self._answered = False  # a request got past authentication
        self._needs_collections = False  # PUT needs its directories made first (WebDAV)
        self._collections: set[str] = set()  # directories known to exist
        docs = "Plain HTTP(S)"
        self._token_env = setting(name, settings, "token_env", str, None, docs)
        self.can_list = bool(setting(name, settings, "webdav", bool, False, docs))
        timeout = setting(name, settings, "timeout", (int, float), DEFAULT_TIMEOUT, docs)
        self._timeout = float(cast(float, timeout))
        verify = setting(name, settings, "ssl_verify", (bool, str), True, docs)
        self._sessions = Sessions(verify, EXISTS_JOBS, "head")
        weakref.finalize(self, self._sessions.close)

    def close(self) -> None:
        """Close every connection (also done when the store is garbage-collected)."""
        self._sessions.close()

    # --- the Store interface ------------------------------------------------------------
    def exists_many(self, oids: Sequence[str]) -> set[str]:
        return set(self.stat_many(oids))

    def stat_many(self, oids: Sequence[str], checksums: bool = False) -> dict[str, Stored]:
        """A HEAD each (16 at a time): the Content-Length of its answer is the size."""
        found: dict[str, Stored] = {}
        if not self._answered and oids:
            # one request first: a 401 then asks for credentials once, not once per thread
            found = {oid: st for oid in oids[:1] if (st := self._stat(oid)) is not None}
            oids = oids[1:]
        if len(oids) <= 1:
            return found | {oid: st for oid in oids if (st := self._stat(oid)) is not None}
        stop = threading.Event()  # the first failure cancels the rest of the batch

        def one(oid: str) -> Stored | None:
            if stop.is_set():
                return None
            try:
                return self._stat(oid)
            except BaseException:
                stop.set()
                raise

        pool = self._sessions.executor()
        answers = results([pool.submit(one, oid) for oid in oids])
        return found | {oid: st for oid, st in zip(oids, answers, strict=True)
                        if st is not None}

    def upload(self, oid: str, size: int, src: BinaryIO) -> None:
        start = src.tell()

        def body() -> object:
            src.seek(start)
            return upload_body(src, size, oid)

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
            return cast(BinaryIO, DownloadStream(resp, self.name)), 0
        if code == 206 and offset and range_start(resp) == offset:
            return cast(BinaryIO, DownloadStream(resp, self.name)), offset
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

    # --- named files: packs, indexes, the layout file (docs/formats.md, "Store layout 2") ---
    def put_named(self, name: str, src: str) -> Stored:
        """PUT file `src` as `name` (the server makes it visible when complete, as for
        objects), then a HEAD confirms it is there at its size."""
        import hashlib
        import os

        size = os.stat(src).st_size
        h = hashlib.sha256()
        with open(src, "rb") as f:
            while chunk := f.read(1 << 23):
                h.update(chunk)
        oid = h.hexdigest()
        url = f"{self.base}/{name}"
        what = f"upload of {name}"
        self._make_named_collection(url.rsplit("/", 1)[0] + "/")
        with open(src, "rb") as f:

            def body() -> object:
                f.seek(0)
                return upload_body(f, size, oid)

            resp = self._request("PUT", url, what, body=body, headers={
                "Content-Type": "application/octet-stream", "X-Checksum-Sha256": oid})
            resp.close()
        if resp.status_code not in (200, 201, 204):
            raise self._status_error(resp, what)
        held = self._stat_url(url, f"check of {name}")
        if held is None or held.size != size:
            raise TransientError(f"remote {self.name!r}: {name} is not there at its size "
                                 "after its upload")
        return held

    def read_named(self, name: str, offset: int = 0, length: int | None = None) -> bytes | None:
        if length == 0:
            return b""
        headers = {"Accept-Encoding": "identity"}
        span = byte_range(offset, length)
        if span:
            headers["Range"] = span
        what = f"download of {name}"
        resp = self._request("GET", f"{self.base}/{name}", what, headers=headers, stream=True)
        with resp:
            if resp.status_code in (404, 410):
                return None
            if resp.status_code == 206 and range_start(resp) == offset:
                stream = DownloadStream(resp, self.name)
                if length is not None:  # (a server may send more than asked)
                    return stream.read(length)
            elif resp.status_code == 200:
                stream = DownloadStream(resp, self.name)
                if offset or length is not None:  # the whole file: cut out the range
                    data = stream.read()
                    return data[offset:] if length is None else data[offset:offset + length]
            else:
                raise self._status_error(resp, what)
            return stream.read()

    def list_named(self, prefix: str) -> list[tuple[str, int, float]]:
        if not self.can_list:
            raise RemoteError(
                f"remote {self.name!r} cannot list its packs",
                f"if the server speaks WebDAV, set `webdav = true` in [remote.{self.name}]",
                store_wide=True)
        members = self._members(f"{self.base}/{prefix}", ANY_NAME, False)
        return [(prefix + m.name, m.size, m.mtime) for m in members]

    def delete_named(self, name: str) -> None:
        what = f"delete of {name}"
        resp = self._request("DELETE", f"{self.base}/{name}", what)
        resp.close()
        if resp.status_code not in (200, 202, 204, 404, 410):
            raise self._status_error(resp, what)

    def has_loose_objects(self) -> bool:
        return not self.can_list or bool(self._members(self.base + "/", HEX2, True))

    def _make_named_collection(self, url: str) -> None:
        for each in dict.fromkeys((self.base + "/", url)):
            if each in self._collections:
                continue
            resp = self._request("MKCOL", each, f"creation of {each}")
            resp.close()
            if resp.status_code in (200, 201, 204, 405):
                self._collections.add(each)

    # --- requests -----------------------------------------------------------------------
    def _object_url(self, oid: str) -> str:
        return f"{self.base}/{oid[:2]}/{oid[2:4]}/{oid}"

    def _stat(self, oid: str) -> Stored | None:
        return self._stat_url(self._object_url(oid), f"check of sha256:{oid}")

    def _stat_url(self, url: str, what: str) -> Stored | None:
        resp = self._request("HEAD", url, what)
        resp.close()
        if 200 <= resp.status_code < 300:
            length = resp.headers.get("Content-Length", "").strip()
            return Stored(int(length) if length.isdigit() else None)
        if resp.status_code in (404, 410):
            return None
        raise self._status_error(resp, what)

    def _request(
        self, method: str, url: str, what: str, headers: dict[str, str] | None = None,
        body: Callable[[], Any] | None = None, stream: bool = False,
    ) -> requests.Response:
        """Send one request; a 401 asks git for credentials once and sends it again. Auth
        refusals raise; other statuses are the caller's."""
        for _ in range(2):
            cred = self._creds.current
            all_headers = dict(headers or {})
            all_headers.update(self._token_header())
            resp = send(
                self._sessions.get(), method, url, store=self.name, base=self.base, what=what,
                headers=all_headers, data=body() if body else None,
                auth=(cred.username, cred.password) if cred else None, stream=stream,
                timeout=self._timeout, allow_redirects=True,
            )
            if resp.status_code != 401 or self._token_env is not None:
                break
            resp.close()
            if not self._creds.ask(cred):  # none other: git's, if it gave these, are refused
                self._creds.reject(unless_approved=False)
                break
        if resp.status_code in (401, 403):
            resp.close()
            raise self._status_error(resp, what)
        self._answered = True
        if resp.status_code < 400:
            self._creds.approve()
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

    def _status_error(self, resp: requests.Response, what: str) -> RemoteError:
        code = resp.status_code
        status = status_text(resp)
        where = f"remote {self.name!r} ({self.base})"
        if code == 401:
            if self._token_env is not None:
                return RemoteError(
                    f"{where}: the token in ${self._token_env} was refused ({status})",
                    "check the token's value, scope and expiry",
                    store_wide=True,
                )
            host = urlsplit(self.base).netloc
            if self._creds.current is None:
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
        return status_error(resp, where, what)

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
