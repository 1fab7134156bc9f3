"""A Git LFS server as a store (GitHub, GitLab, Gitea, Bitbucket, Hugging Face, giftless),
through the Batch API and the `basic` transfer: objects are LFS objects (same oid and size).

URLs: `lfs+https://host/org/repo.git/info/lfs` (`lfs+http://` too), or, with no gitmv remote
configured, the LFS endpoint of an http(s) or ssh git remote, found as `git lfs` finds it
(`store_for_git_remote`; the rules and `git-lfs-authenticate` are in lfs_endpoint.py).
Settings, from the remote's `[remote.NAME]` table:
  timeout = 60         seconds to connect, and at most between two bytes of a response
  ssl_verify = true    false, or the path of a CA bundle

Protocol (git-lfs docs/api/batch.md, basic-transfers.md):
- `POST <endpoint>/objects/batch` with up to 100 `{oid, size}`; each object comes back with
  `actions` (`upload` + `verify`, or `download`: href, header, expires_in/expires_at) or an
  `error` (404: not there; 422: the server holds another size). An upload batch that returns
  no upload action means the server has the object: it is not sent again.
- The Batch API names objects by oid *and* size, and some servers (giftless, Gitea) refuse a
  download whose size is wrong. Stores have no sizes in their interface, so the transfer
  engine tells this store what it knows (`learn_sizes`); an unknown size is sent as 0.
- Auth: Basic through the user's `git credential` helpers, asked once after the first 401,
  approved after a success and rejected after a refusal; ssh remotes get a header and href
  from `ssh host git-lfs-authenticate <path> <operation>`. Action hrefs carry their own
  headers; Basic credentials go only to the endpoint's own origin.

Each thread has its own `requests.Session` (httpio.Sessions: a Session is not thread-safe);
the credentials, their asking, approval and rejection are httpio.Credentials.
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, BinaryIO, NamedTuple, cast
from urllib.parse import urlsplit

import requests

from gitmv import ui
from gitmv.remotes import credential
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
from gitmv.remotes.lfs_endpoint import SshAuth, deadline, find_endpoint, is_past
from gitmv.remotes.retry import RemoteError, TransientError
from gitmv.remotes.stored import ANOTHER_SIZE, Stored
from gitmv.repo import Repo

BATCH_SIZE = 100  # objects per batch request (git-lfs sends 100; servers cap it)
BATCH_JOBS = 8  # batch requests in flight at once in exists_many
DEFAULT_TIMEOUT = 60.0
ACTION_CACHE = 1024  # download actions kept for retries and resumes
LFS_JSON = "application/vnd.git-lfs+json"
AUTH_HINT = ("check the user name and token your git credential helper gives for {host} "
             "(`git credential fill`); the token needs read/write access to the repository")

Obj = dict[str, Any]  # one object entry of a batch response


class _Action(NamedTuple):
    href: str
    header: dict[str, str]
    deadline: float | None  # time.time() after which it must not be used
    authenticated: bool  # the server says the href needs no other credentials


class _WholeBatch(Exception):
    """The server answered the whole batch with 404 or 422 (giftless does, when every
    object is missing or in error) instead of per-object errors."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class LfsStore:
    can_list = False  # the LFS API can neither list nor delete

    def __init__(self, name: str, url: str, settings: Mapping[str, object],
                 *, endpoint: str | None = None, ssh: SshAuth | None = None) -> None:
        self.name = name
        self.url = url
        raw = endpoint or (url[4:] if url.lower().startswith("lfs+") else url)
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RemoteError(f"remote {name!r}: {url!r} is not an http(s) Git LFS endpoint",
                              "use lfs+https://host/org/repo.git/info/lfs")
        self.endpoint = plain_url(parts)
        self._origin = _origin(self.endpoint)
        self._creds = Credentials(self.endpoint, parts)
        self._ssh = ssh
        self._lock = threading.Lock()  # guards _downloads
        docs = "Git LFS servers"
        timeout = setting(name, settings, "timeout", (int, float), DEFAULT_TIMEOUT, docs)
        self._timeout = float(cast(float, timeout))
        verify = setting(name, settings, "ssl_verify", (bool, str), True, docs)
        self._sizes: dict[str, int] = {}
        self._downloads: dict[str, _Action] = {}
        self._uploads: dict[str, Obj] = {}  # upload batch entries kept by prepare_upload
        self._other_size: set[str] = set()  # the server holds these under another size
        self._sessions = Sessions(verify, BATCH_JOBS, "lfs")
        weakref.finalize(self, self._sessions.close)

    def close(self) -> None:
        """Close every connection (also done when the store is garbage-collected)."""
        self._sessions.close()

    def learn_sizes(self, sizes: Mapping[str, int]) -> None:
        """Object sizes the caller knows: the Batch API names an object by oid and size."""
        self._sizes.update(sizes)

    # --- the Store interface ------------------------------------------------------------
    def exists_many(self, oids: Sequence[str]) -> set[str]:
        return self._per_batch(self._exists_chunk, oids)

    def stat_many(self, oids: Sequence[str], checksums: bool = False) -> dict[str, Stored]:
        """Download batches: an object the server offers under the size gitmv knows is there
        at that size (the Batch API names objects by oid and size, and servers check it:
        giftless answers 422 for another size); one of unknown size, at a size unknown."""
        found = self.exists_many(oids)
        out = {oid: Stored(self._sizes.get(oid)) for oid in oids if oid in found}
        out |= {oid: Stored(ANOTHER_SIZE) for oid in oids
                if oid not in found and oid in self._other_size}
        return out

    def _per_batch(self, ask: Callable[[list[str]], set[str]], oids: Sequence[str]) -> set[str]:
        """`ask` about batches of up to BATCH_SIZE objects, in parallel; the union of answers."""
        chunks = [list(oids[i : i + BATCH_SIZE]) for i in range(0, len(oids), BATCH_SIZE)]
        if len(chunks) <= 1:
            return set().union(*(ask(c) for c in chunks))
        pool = self._sessions.executor()
        return set().union(*results([pool.submit(ask, c) for c in chunks]))

    def prepare_upload(self, oids: Sequence[str]) -> set[str]:
        """Upload batches of up to 100 objects, in parallel: the objects the server already
        has come back without actions (returned: not sent again); the others' upload and
        verify actions are kept for `upload`, so a push costs one batch per 100 objects."""
        return self._per_batch(self._prepare_chunk, oids)

    def _prepare_chunk(self, oids: list[str]) -> set[str]:
        unsized = [o for o in oids if o not in self._sizes]
        if unsized:  # an upload batch needs every size: ask as for a download
            return self._exists_chunk(oids)
        try:
            entries = self._batch("upload", [(o, self._sizes[o]) for o in oids])
        except _WholeBatch:
            return self._exists_chunk(oids)
        have = set()
        for oid in oids:
            entry = entries.get(oid)
            if entry is None or _error_code(entry) is not None:
                continue  # `upload` asks again on its own and reports the error
            if _action(entry, "upload") is None:
                have.add(oid)
            else:
                with self._lock:
                    self._uploads[oid] = entry
        return have

    def upload(self, oid: str, size: int, src: BinaryIO) -> None:
        self._sizes[oid] = size
        start = src.tell()
        with self._lock:
            kept = self._uploads.pop(oid, None)
        if kept is not None and _action(kept, "upload") is not None \
                and not _expired(cast(_Action, _action(kept, "upload"))):
            entry = kept
        else:
            entry = self._entry("upload", oid, size)
        up = _action(entry, "upload")
        if up is None:
            return  # the server has it: not sent again
        if _expired(up):  # stale on arrival: asked for once more, then used
            entry = self._entry("upload", oid, size)
            up = _action(entry, "upload")
            if up is None:
                return

        def body() -> object:
            src.seek(start)
            return upload_body(src, size, oid)

        what = f"upload of sha256:{oid}"
        headers = {"Content-Type": "application/octet-stream"}
        resp = self._action_request("PUT", up, what, headers=headers, body=body)
        resp.close()
        if not 200 <= resp.status_code < 300:
            raise self._status_error(resp, what)
        verify = _action(entry, "verify")
        if verify is None:
            return
        if _expired(verify):
            again = self._entry("upload", oid, size)
            if _action(again, "upload") is None and _action(again, "verify") is None:
                return  # the server has it
            verify = _action(again, "verify")
            if verify is None:
                raise TransientError(f"remote {self.name!r}: sha256:{oid} did not arrive")
        what = f"verification of sha256:{oid}"
        payload = json.dumps({"oid": oid, "size": size}).encode()
        resp = self._action_request("POST", verify, what, body=lambda: payload,
                                    headers={"Accept": LFS_JSON, "Content-Type": LFS_JSON})
        resp.close()
        if not 200 <= resp.status_code < 300:
            if resp.status_code in (404, 422):  # the server lost it or holds other bytes
                raise TransientError(
                    f"remote {self.name!r}: {what} failed (HTTP {resp.status_code}): the "
                    "server does not hold the object that was sent")
            raise self._status_error(resp, what)

    def open_download(self, oid: str, offset: int = 0) -> tuple[BinaryIO, int]:
        what = f"download of sha256:{oid}"
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        for attempt in range(2):
            action, cached = self._download_action(oid, fresh=attempt > 0)
            resp = self._action_request("GET", action, what, headers=headers, stream=True,
                                        check=False)
            code = resp.status_code
            size = self._sizes.get(oid)
            if code == 200:
                return cast(BinaryIO, DownloadStream(resp, self.name, size)), 0
            if code == 206 and offset and range_start(resp) == offset:
                left = None if size is None else size - offset
                return cast(BinaryIO, DownloadStream(resp, self.name, left)), offset
            resp.close()
            with self._lock:
                self._downloads.pop(oid, None)
            if not (cached and code in (401, 403, 404, 410)):
                break  # else an href that stopped working: ask the server for a new one
        if offset and code in (206, 416):  # a range we cannot use: start over
            return self.open_download(oid, 0)
        if code in (404, 410):
            raise self._not_there(oid)
        self._checked(resp, what, self._ours(action))
        raise self._status_error(resp, what)

    def list_objects(self) -> Iterator[tuple[str, int, float]]:
        raise RemoteError(
            f"remote {self.name!r} is a Git LFS server, which cannot list its objects",
            "`gc --remote` needs a store that can list (a directory, S3, WebDAV); clean up an "
            "LFS server through its own interface",
        )

    def delete(self, oid: str) -> None:
        raise RemoteError(f"remote {self.name!r} is a Git LFS server, which cannot delete "
                          f"objects (sha256:{oid})")

    # --- batches ------------------------------------------------------------------------
    def _exists_chunk(self, oids: list[str]) -> set[str]:
        self._other_size.difference_update(oids)
        try:
            entries = self._batch("download", [(o, self._sizes.get(o, 0)) for o in oids])
        except _WholeBatch as exc:
            if exc.code == 404:
                return set()  # giftless: none of them is there
            if len(oids) == 1:
                if oids[0] in self._sizes:
                    self._other_size.add(oids[0])
                    return set()
                return {oids[0]}
            # every object in error, which ones we cannot tell: ask one by one
            return set().union(*(self._exists_chunk([o]) for o in oids))
        found = set()
        for oid in oids:
            entry = entries.get(oid)
            if entry is None:
                continue
            code = _error_code(entry)
            action = _action(entry, "download")
            if code is None and action is not None:
                found.add(oid)
                self._keep_download(oid, action)
            elif code == 422 and oid not in self._sizes:
                found.add(oid)  # it is there, under a size we did not know
            elif code == 422:
                self._other_size.add(oid)  # there, but not of the size it should have
        return found

    def prepare_download(self, oids: Sequence[str]) -> set[str]:
        """Download batches of up to 100 objects, in parallel: the download actions are kept
        for `open_download`, so a fetch costs one batch per 100 objects as git lfs's does,
        not one per object. Returns the objects the server has."""
        return self._per_batch(self._exists_chunk, oids)

    def _keep_download(self, oid: str, action: _Action) -> None:
        with self._lock:
            if oid not in self._downloads and len(self._downloads) >= ACTION_CACHE:
                self._downloads.pop(next(iter(self._downloads)))
            self._downloads[oid] = action

    def _download_action(self, oid: str, fresh: bool = False) -> tuple[_Action, bool]:
        """The download action for `oid` (kept from an earlier batch while it is valid, so a
        retry or resume costs no batch); True with it when it came from there."""
        with self._lock:
            cached = None if fresh else self._downloads.get(oid)
        if cached is not None and not _expired(cached):
            return cached, True
        action = _action(self._entry("download", oid, self._sizes.get(oid, 0)), "download")
        if action is not None and _expired(action):  # stale on arrival: asked once more
            action = _action(self._entry("download", oid, self._sizes.get(oid, 0)), "download")
        if action is None:
            raise RemoteError(f"remote {self.name!r} offers no download of sha256:{oid}",
                              "the server's answer lacks a download action")
        self._keep_download(oid, action)
        return action, False

    def _entry(self, operation: str, oid: str, size: int) -> Obj:
        """The server's entry for one object, or a RemoteError for its per-object error."""
        try:
            entry = self._batch(operation, [(oid, size)]).get(oid)
        except _WholeBatch as exc:
            entry = {"oid": oid, "error": {"code": exc.code, "message": exc.message}}
        if entry is None:
            raise RemoteError(f"remote {self.name!r}: the batch answer lacks sha256:{oid}",
                              "the server does not follow the Git LFS Batch API")
        code = _error_code(entry)
        if code is None:
            return entry
        message = str((entry.get("error") or {}).get("message") or "").strip()
        if operation == "download" and code in (404, 410):
            raise self._not_there(oid)
        if operation == "download" and code == 422 and oid not in self._sizes:
            raise RemoteError(
                f"remote {self.name!r} (Git LFS) needs the size of sha256:{oid} to send it, "
                "and gitmv does not know it",
                "directory manifests carry no size in their pointer: fetch the directory "
                "from another remote once, or use a server that ignores sizes on download",
            )
        detail = f": {message}" if message else ""
        raise RemoteError(
            f"remote {self.name!r} refused the {operation} of sha256:{oid} "
            f"(error {code}{detail})",
            "the server holds other bytes under that oid" if code == 422 else None,
        )

    def _batch(self, operation: str, objects: Sequence[tuple[str, int]]) -> dict[str, Obj]:
        """One batch request: {oid: the server's entry}."""
        what = f"{operation} batch ({ui.plural(len(objects), 'object')})"
        payload = json.dumps({
            "operation": operation,
            "transfers": ["basic"],
            "objects": [{"oid": oid, "size": size} for oid, size in objects],
        }).encode()
        resp = self._api_request(operation, what, payload)
        with resp:
            code = resp.status_code
            if code == 404 and "json" not in resp.headers.get("Content-Type", ""):
                raise RemoteError(
                    f"remote {self.name!r}: no Git LFS server answers at {self.endpoint} "
                    "(HTTP 404)",
                    "check the URL (`git mvm remote list`, or git's `lfs.url`)",
                    store_wide=True,
                )
            if code in (404, 422):
                raise _WholeBatch(code, _message(resp))
            if code != 200:
                raise self._status_error(resp, what)
            try:
                doc = resp.json()
            except ValueError:
                doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("objects"), list):
            raise RemoteError(
                f"remote {self.name!r} ({self.endpoint}): the answer to the {what} is not "
                "Git LFS JSON",
                "check that the URL is a Git LFS endpoint (…/info/lfs)",
                store_wide=True,
            )
        transfer = doc.get("transfer") or "basic"
        if transfer != "basic":
            raise RemoteError(f"remote {self.name!r} chose transfer {transfer!r}, and gitmv "
                              "speaks only `basic`", store_wide=True)
        received = time.time()
        out: dict[str, Obj] = {}
        for entry in doc["objects"]:
            if isinstance(entry, dict) and isinstance(entry.get("oid"), str):
                entry["_received"] = received
                out[entry["oid"]] = entry
        return out

    # --- requests -----------------------------------------------------------------------
    def _api_request(self, operation: str, what: str, payload: bytes) -> requests.Response:
        """A batch request; a 401 asks git (or ssh) for credentials once and sends again."""
        for _ in range(2):
            headers = {"Accept": LFS_JSON, "Content-Type": LFS_JSON}
            endpoint = self.endpoint
            cred = self._creds.current
            if self._ssh is not None:
                auth = self._ssh.authenticate(operation)
                endpoint = auth.href or endpoint
                headers.update(auth.header)
            basic = cred if "Authorization" not in headers else None
            resp = self._send("POST", endpoint + "/objects/batch", what, headers, basic,
                              lambda: payload)
            if resp.status_code != 401:
                break
            resp.close()
            if self._ssh is not None and "Authorization" in headers:
                self._ssh.forget(operation)  # perhaps expired early: run ssh once more
            elif not self._creds.ask(cred):
                break
        return self._checked(resp, what, "Authorization" not in headers)

    def _action_request(
        self, method: str, action: _Action, what: str, headers: dict[str, str] | None = None,
        body: Callable[[], Any] | None = None, stream: bool = False, check: bool = True,
    ) -> requests.Response:
        """A request to an action's href with its headers; our Basic credentials go along
        only to the endpoint's own origin, when the action brings no authorization."""
        all_headers = {**(headers or {}), **action.header}
        ours = self._ours(action)
        for _ in range(2):
            cred = self._creds.current if ours else None
            resp = self._send(method, action.href, what, all_headers, cred, body, stream)
            if resp.status_code != 401 or not ours:
                break
            resp.close()
            if not self._creds.ask(cred):
                break
        return self._checked(resp, what, ours) if check else resp

    def _ours(self, action: _Action) -> bool:
        """Whether our credentials go to this action's href."""
        return ("Authorization" not in action.header and not action.authenticated
                and _origin(action.href) == self._origin)

    def _send(
        self, method: str, url: str, what: str, headers: dict[str, str],
        cred: credential.Credential | None, body: Callable[[], Any] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        return send(
            self._sessions.get(), method, url, store=self.name, base=self.endpoint, what=what,
            headers=headers, data=body() if body else None,
            auth=(cred.username, cred.password) if cred else None, stream=stream,
            timeout=self._timeout, allow_redirects=True,
        )

    def _checked(self, resp: requests.Response, what: str, ours: bool) -> requests.Response:
        """Auth refusals raise (credentials we sent are rejected); others are the caller's."""
        if resp.status_code in (401, 403):
            resp.close()
            if resp.status_code == 401 and ours:
                self._creds.reject(unless_approved=True)
            raise self._status_error(resp, what)
        if resp.status_code < 400 and ours:
            self._creds.approve()
        return resp

    # --- errors -------------------------------------------------------------------------
    def _not_there(self, oid: str) -> RemoteError:
        return RemoteError(f"object sha256:{oid} is not on remote {self.name!r}",
                           "push it from a clone that has it (`git mvm push`)")

    def _status_error(self, resp: requests.Response, what: str) -> RemoteError:
        code = resp.status_code
        status = status_text(resp)
        where = f"remote {self.name!r} ({self.endpoint})"
        host = urlsplit(self.endpoint).netloc
        message = _message(resp)
        detail = f": {message}" if message else ""
        if code == 401:
            if self._ssh is not None:
                return RemoteError(
                    f"{where}: the server refused the token from `git-lfs-authenticate` "
                    f"({status})",
                    f"check that your ssh key may use {self._ssh.user_host}:{self._ssh.path}",
                    store_wide=True,
                )
            if self._creds.current is None:
                return RemoteError(
                    f"{where}: the Git LFS server asks for credentials ({status}) and git "
                    f"has none for {host}",
                    "store them with a git credential helper (`git config --global "
                    "credential.helper store`, then `git credential fill` or any git "
                    "command that asks)",
                    store_wide=True,
                )
            return RemoteError(f"{where}: authentication failed ({status})",
                               AUTH_HINT.format(host=host) + "; they were rejected, so the "
                               "next command asks again", store_wide=True)
        if code == 403:
            return RemoteError(f"{where}: permission denied for {what} ({status}{detail})",
                               AUTH_HINT.format(host=host), store_wide=True)
        return status_error(resp, where, what, detail)


def store_for_git_remote(repo: Repo, name: str, url: str, upload: bool = False) -> LfsStore:
    """The Git LFS store of an http(s), ssh or scp-style git remote, found as `git lfs`
    finds it (lfs_endpoint.find_endpoint); `upload` for a push."""
    endpoint = find_endpoint(repo, name, url, upload)
    if endpoint.ssh is None:
        url = "lfs+" + endpoint.url
    return LfsStore(name, url, {}, endpoint=endpoint.url, ssh=endpoint.ssh)


# --- helpers -----------------------------------------------------------------------------


def _action(entry: Obj, name: str) -> _Action | None:
    actions = entry.get("actions")
    spec = actions.get(name) if isinstance(actions, dict) else None
    if not isinstance(spec, dict) or not isinstance(spec.get("href"), str):
        return None
    header = spec.get("header") or {}
    return _Action(
        spec["href"],
        {str(k): str(v) for k, v in header.items()} if isinstance(header, dict) else {},
        deadline(spec, float(entry.get("_received") or time.time())),
        entry.get("authenticated") is True,
    )


def _expired(action: _Action) -> bool:
    return is_past(action.deadline)


def _error_code(entry: Obj) -> int | None:
    error = entry.get("error")
    if not isinstance(error, dict):
        return None
    code = error.get("code")
    return code if isinstance(code, int) else 500


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _message(resp: requests.Response) -> str:
    """The `message` of an LFS JSON error body, if any (one line, bounded)."""
    try:
        doc = json.loads(resp.content[:65536] or b"null")
    except Exception:  # no body, a consumed stream, not JSON: no message
        return ""
    message = doc.get("message") if isinstance(doc, dict) else None
    return " ".join(str(message).split())[:300] if message else ""
