"""The Git LFS store against a real giftless server on loopback: the Batch API details,
push/pull end to end, the default store of an http(s) or ssh git remote, Basic auth through
`git credential`, corrupt bytes on the server, and interop with the real `git-lfs` client.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import http.server
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitmv.errors import GitMvmError
from gitmv.objects.pointer import Pointer
from gitmv.remotes.base import open_store, resolve
from gitmv.remotes.lfs import LfsStore, store_for_git_remote
from gitmv.remotes.lfs_endpoint import SshAuth, lfs_endpoint
from gitmv.remotes.retry import RemoteError, TransientError
from gitmv.repo import Repo
from tests.helpers import (
    cache_objects,
    error_lines,
    git,
    mvm,
    run,
    save,
    save_dir,
    sha,
    tree_digest,
    write,
)
from tests.stores.lfs import Giftless, fresh_repo, shared_server

SECRET = "gitmv-test-secret"


# --- fixtures and helpers ----------------------------------------------------------------


@pytest.fixture
def server() -> Giftless:
    return shared_server()


@pytest.fixture
def endpoint(server: Giftless) -> str:
    return server.endpoint(*fresh_repo())


@pytest.fixture
def store(endpoint: str) -> Iterator[LfsStore]:
    s = open_store("lfs", "lfs+" + endpoint)
    assert isinstance(s, LfsStore)
    yield s
    s.close()


@pytest.fixture(scope="module")
def jwt_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Giftless]:
    """A giftless that wants a token: `_jwt` and the token as Basic user and password."""
    s = Giftless(tmp_path_factory.mktemp("giftless-jwt"), jwt_secret=SECRET)
    yield s
    s.stop()


def jwt(org: str, secret: str = SECRET) -> str:
    """An HS256 token granting everything under `org` (giftless's scope syntax)."""
    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    now = int(time.time())
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": "tester", "iat": now, "nbf": now - 5, "exp": now + 3600,
                           "scopes": [f"obj:{org}/*"]}).encode())
    sig = b64(hmac.new(secret.encode(), head + b"." + body, hashlib.sha256).digest())
    return (head + b"." + body + b"." + sig).decode()


def credential_helper(tmp_path: Path, password: str | None) -> Path:
    """Install a git credential helper that answers `_jwt`/`password` and logs what git
    asks of it (one `ACTION key=value…` line each); returns the log."""
    log = tmp_path / "credential.log"
    script = tmp_path / "credential-helper"
    answer = f"printf 'username=_jwt\\npassword=%s\\n' '{password}'" if password else ":"
    script.write_text(
        "#!/bin/sh\n"
        f'input=$(cat | tr "\\n" " ")\n'
        f'echo "$1 $input" >> "{log}"\n'
        f'if [ "$1" = get ]; then {answer}; fi\n'
    )
    script.chmod(0o755)
    subprocess.run(["git", "config", "--global", "credential.helper", str(script)], check=True)
    return log


def helper_actions(log: Path) -> list[str]:
    return [ln.split()[0] for ln in log.read_text().splitlines()] if log.exists() else []


def obj(data: bytes) -> tuple[str, bytes]:
    return sha(data), data


def raw_put(endpoint: str, oid: str, data: bytes) -> None:
    """Upload `data` under `oid` as a careless client could: ask for an upload action (with
    a size the server does not hold, so that it offers one) and PUT the bytes."""
    parts = http.client.urlsplit(endpoint)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        lfs = {"Accept": "application/vnd.git-lfs+json",
               "Content-Type": "application/vnd.git-lfs+json"}
        batch = {"operation": "upload", "objects": [{"oid": oid, "size": len(data) + 1}]}
        conn.request("POST", parts.path + "/objects/batch", body=json.dumps(batch), headers=lfs)
        resp = conn.getresponse()
        action = json.loads(resp.read())["objects"][0]["actions"]["upload"]
        href = http.client.urlsplit(action["href"])
        conn.request("PUT", href.path, body=data, headers=action.get("header") or {})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200, resp.status
    finally:
        conn.close()


def count_calls(monkeypatch: pytest.MonkeyPatch, target: Any, name: str) -> list[tuple[Any, ...]]:
    """Record the arguments of every call of `target.name` (still calling it)."""
    calls: list[tuple[Any, ...]] = []
    real = getattr(target, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, wrapper)
    return calls


def init_repo(root: Path) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q")
    assert mvm(root, "init", "-q", "--no-hooks") == 0
    git(root, "commit", "-q", "-m", "init")
    return root


def plain_clone(src: Path, dest: Path) -> Path:
    git(src.parent, "clone", "-q", str(src), str(dest))
    return dest


# --- the Batch API ------------------------------------------------------------------------


def test_batches_hold_at_most_100_objects(store: LfsStore,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    present = dict(obj(os.urandom(50)) for _ in range(3))
    for oid, data in present.items():
        store.upload(oid, len(data), io.BytesIO(data))
    absent = [sha(str(i).encode()) for i in range(247)]
    calls = count_calls(monkeypatch, store, "_batch")
    assert store.exists_many([*absent[:120], *present, *absent[120:]]) == set(present)
    assert sorted(len(c[1]) for c in calls) == [50, 100, 100]
    assert all(c[0] == "download" for c in calls)


def test_a_push_costs_two_upload_batches_per_100_objects(
    store: LfsStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitmv.objects.cache import Cache
    from gitmv.transfer.engine import upload

    cache = Cache(str(tmp_path / "cache"), str(tmp_path / "tmp"))
    oids = [cache.put_bytes(os.urandom(100) + bytes([i % 256, i // 256])) for i in range(250)]
    there = oids[:5]
    for oid in there:
        store.upload(oid, 102, io.BytesIO(cache.read_bytes(oid)))
    calls = count_calls(monkeypatch, store, "_batch")
    result = upload(cache, store, [oids], jobs=4)
    assert result.failed == []
    assert result.present == 5 and sorted(result.transferred) == sorted(oids[5:])
    # one to learn what the server lacks (with the actions), one to confirm it has them now
    assert sorted((c[0], len(c[1])) for c in calls) == [
        ("upload", 45), ("upload", 50), ("upload", 100), ("upload", 100), ("upload", 100),
        ("upload", 100)]
    for oid in oids:
        with store.open_download(oid)[0] as got:
            assert got.read() == cache.read_bytes(oid)


def test_a_fetch_costs_one_download_batch_per_100_objects(
    store: LfsStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitmv.objects.cache import Cache
    from gitmv.transfer.engine import download

    blobs = dict(obj(os.urandom(100) + bytes([i % 256, i // 256])) for i in range(250))
    for oid, data in blobs.items():
        store.upload(oid, len(data), io.BytesIO(data))
    cache = Cache(str(tmp_path / "cache"), str(tmp_path / "tmp"))
    calls = count_calls(monkeypatch, store, "_batch")
    result = download(cache, store, list(blobs), jobs=4, sizes=dict.fromkeys(blobs, 102))
    assert result.failed == [] and sorted(result.transferred) == sorted(blobs)
    assert sorted((c[0], len(c[1])) for c in calls) == [
        ("download", 50), ("download", 100), ("download", 100)]
    assert all(cache.read_bytes(oid) == data for oid, data in blobs.items())
    # small objects went into one cache pack, not a loose file (and a partial) each
    files = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert sorted(p.suffix for p in files) == [".idx", ".pack"], files
    assert not any((tmp_path / "tmp").glob("partial-*"))


def test_an_object_the_server_has_is_not_sent_again(store: LfsStore) -> None:
    oid, data = obj(os.urandom(1000))
    store.upload(oid, len(data), io.BytesIO(data))

    class Untouchable(io.BytesIO):
        def read(self, *args: Any) -> bytes:
            raise AssertionError("the bytes were read again")

    store.upload(oid, len(data), Untouchable())


def test_upload_puts_then_verifies(store: LfsStore, monkeypatch: pytest.MonkeyPatch) -> None:
    oid, data = obj(os.urandom(1000))
    calls = count_calls(monkeypatch, store, "_action_request")
    store.upload(oid, len(data), io.BytesIO(data))
    assert [(c[0], c[1].href.rsplit("/", 1)[-1]) for c in calls] == [("PUT", oid),
                                                                      ("POST", "verify")]
    assert all(c[1].header.get("Authorization", "").startswith("Bearer ") for c in calls)


def test_an_expired_download_action_is_asked_for_again(
    store: LfsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    oid, data = obj(os.urandom(3000))
    store.upload(oid, len(data), io.BytesIO(data))
    src, _ = store.open_download(oid)
    src.close()
    calls = count_calls(monkeypatch, store, "_batch")
    src, _ = store.open_download(oid, 100)  # a resume: the action it has is still valid
    src.close()
    assert calls == []
    store._downloads[oid] = store._downloads[oid]._replace(deadline=time.time() - 1)
    src, _ = store.open_download(oid)
    with src:
        assert src.read() == data
    assert len(calls) == 1


def test_an_action_stale_on_arrival_is_asked_for_once_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = Giftless(tmp_path / "srv", action_lifetime=1)  # expires within the margin
    try:
        s = open_store("short", "lfs+" + short.endpoint("org", "repo"))
        calls = count_calls(monkeypatch, s, "_batch")
        oid, data = obj(os.urandom(500))
        s.upload(oid, len(data), io.BytesIO(data))
        assert [c[0] for c in calls] == ["upload", "upload"]
        del calls[:]
        src, _ = s.open_download(oid)
        with src:
            assert src.read() == data
        assert [c[0] for c in calls] == ["download", "download"]
        s.close()  # type: ignore[attr-defined]
    finally:
        short.stop()


def test_objects_of_unknown_size_exist_but_need_their_size_to_download(
    endpoint: str, store: LfsStore
) -> None:
    oid, data = obj(os.urandom(2000))
    store.upload(oid, len(data), io.BytesIO(data))
    other = open_store("other", "lfs+" + endpoint)  # knows no sizes: asks with size 0
    assert isinstance(other, LfsStore)
    absent = sha(b"absent")
    assert other.exists_many([oid]) == {oid}  # giftless: 422 for the whole batch
    assert other.exists_many([oid, absent]) == {oid}  # 422 and 404, object by object
    with pytest.raises(RemoteError, match="needs the size"):
        other.open_download(oid)
    other.learn_sizes({oid: len(data)})
    src, _ = other.open_download(oid)
    with src:
        assert src.read() == data
    other.close()


def test_other_bytes_under_the_oid_are_replaced_on_upload(
    server: Giftless, store: LfsStore
) -> None:
    org, repo = store.endpoint.split("/")[-4], store.endpoint.split("/")[-3][:-4]
    oid, data = obj(os.urandom(700))
    raw_put(store.endpoint, oid, b"short")
    store.learn_sizes({oid: len(data)})
    assert store.exists_many([oid]) == set()  # the server's 422: another size, so not there
    store.upload(oid, len(data), io.BytesIO(data))
    assert server.object_path(org, repo, oid).read_bytes() == data


def test_a_corrupt_upload_never_completes(store: LfsStore) -> None:
    from gitmv.errors import ObjectCorrupt

    oid = sha(b"the real bytes")
    with pytest.raises(ObjectCorrupt):
        store.upload(oid, 14, io.BytesIO(b"other  bytes!!"))
    store.learn_sizes({oid: 14})
    assert store.exists_many([oid]) == set()


def test_download_of_a_missing_object_names_it(store: LfsStore) -> None:
    absent = sha(b"nowhere")
    store.learn_sizes({absent: 10})
    with pytest.raises(RemoteError, match=f"sha256:{absent} is not on remote 'lfs'"):
        store.open_download(absent)


def test_lfs_cannot_list(store: LfsStore) -> None:
    assert store.can_list is False
    with pytest.raises(RemoteError, match="cannot list"):
        list(store.list_objects())


# --- faults and the errors a person sees --------------------------------------------------


class Canned(http.server.ThreadingHTTPServer):
    """A loopback server that answers every request with one canned status."""

    def __init__(self, status: int, headers: dict[str, str] | None = None,
                 body: bytes = b'{"message": "canned"}') -> None:
        self.status = status
        self.extra = headers or {}
        self.body = body
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                server.seen.append((self.command, self.path, dict(self.headers)))
                self.send_response(server.status)
                self.send_header("Content-Type", "application/vnd.git-lfs+json")
                self.send_header("Content-Length", str(len(server.body)))
                for k, v in server.extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(server.body)

            do_POST = do_GET = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join()


@pytest.fixture
def canned() -> Iterator[Callable[..., Canned]]:
    servers: list[Canned] = []

    def make(status: int, headers: dict[str, str] | None = None) -> Canned:
        servers.append(Canned(status, headers))
        return servers[-1]

    yield make
    for s in servers:
        s.stop()


@pytest.mark.parametrize(("status", "headers", "retry_after"), [
    (429, {"Retry-After": "7"}, 7.0),
    (503, {"Retry-After": "2"}, 2.0),
    (500, {}, None),
    (502, {}, None),
])
def test_busy_or_failing_servers_are_transient(
    canned: Callable[..., Canned], status: int, headers: dict[str, str],
    retry_after: float | None,
) -> None:
    srv = canned(status, headers)
    s = open_store("busy", f"lfs+{srv.url}/org/repo.git/info/lfs")
    with pytest.raises(TransientError) as info:
        s.exists_many([sha(b"x")])
    assert info.value.retry_after == retry_after
    assert "remote 'busy'" in info.value.message and str(status) in info.value.message
    method, path, seen = srv.seen[0]
    assert (method, path) == ("POST", "/org/repo.git/info/lfs/objects/batch")
    assert seen["Accept"] == seen["Content-Type"] == "application/vnd.git-lfs+json"
    s.close()  # type: ignore[attr-defined]


def test_an_unreachable_server_is_transient_and_store_wide(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    s = open_store("gone", f"lfs+http://127.0.0.1:{port}/org/repo.git/info/lfs")
    with pytest.raises(TransientError) as info:
        s.exists_many([sha(b"x")])
    assert info.value.store_wide
    assert "cannot reach remote 'gone'" in info.value.message
    s.close()  # type: ignore[attr-defined]


def test_permission_denied_is_one_line_with_a_credential_hint(
    canned: Callable[..., Canned],
) -> None:
    srv = canned(403)
    s = open_store("team", f"lfs+{srv.url}/org/repo.git/info/lfs")
    with pytest.raises(RemoteError) as info:
        s.upload(sha(b"x"), 1, io.BytesIO(b"x"))
    assert "remote 'team'" in info.value.message and "permission denied" in info.value.message
    assert "\n" not in info.value.message
    assert "git credential" in (info.value.hint or "")
    assert info.value.store_wide
    s.close()  # type: ignore[attr-defined]


class MiniLfs(http.server.ThreadingHTTPServer):
    """A small LFS server that does what giftless does not: download hrefs with no headers
    of their own (so the client's Basic auth goes along), HTTP Range, and Basic auth."""

    def __init__(self, objects: dict[str, bytes], user: str, password: str) -> None:
        self.objects = objects
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.seen: list[tuple[str, str, str | None, str | None]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, code: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(code)
                for k, v in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _authorized(self) -> bool:
                auth = self.headers.get("Authorization")
                server.seen.append((self.command, self.path, auth, self.headers.get("Range")))
                if auth == server.auth:
                    return True
                self._send(401, b'{"message": "credentials, please"}',
                           {"Content-Type": "application/vnd.git-lfs+json",
                            "LFS-Authenticate": 'Basic realm="mini"'})
                return False

            def do_POST(self) -> None:
                doc = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not self._authorized():
                    return
                base = f"http://127.0.0.1:{server.server_address[1]}/obj/"
                out = []
                for o in doc["objects"]:
                    if o["oid"] in server.objects:
                        out.append({**o, "actions": {"download": {"href": base + o["oid"]}}})
                    else:
                        out.append({**o, "error": {"code": 404, "message": "not here"}})
                self._send(200, json.dumps({"transfer": "basic", "objects": out}).encode(),
                           {"Content-Type": "application/vnd.git-lfs+json"})

            def do_GET(self) -> None:
                if not self._authorized():
                    return
                data = server.objects[self.path.rsplit("/", 1)[-1]]
                rng = self.headers.get("Range")
                if rng:
                    start = int(rng.split("=")[1].rstrip("-"))
                    self._send(206, data[start:], {
                        "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
                else:
                    self._send(200, data, {})

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/info/lfs"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join()


def test_range_resume_and_basic_auth_on_hrefs_of_the_same_host(tmp_path: Path) -> None:
    oid, data = obj(os.urandom(50_000))
    log = credential_helper(tmp_path, "s3cret")
    srv = MiniLfs({oid: data}, "_jwt", "s3cret")
    try:
        s = open_store("mini", "lfs+" + srv.endpoint)
        s.learn_sizes({oid: len(data)})  # type: ignore[attr-defined]
        src, start = s.open_download(oid, 20_000)
        with src:
            assert (start, src.read()) == (20_000, data[20_000:])
        src, start = s.open_download(oid)
        with src:
            assert (start, src.read()) == (0, data)
        s.close()  # type: ignore[attr-defined]
    finally:
        srv.stop()
    assert [(m, a is not None, r) for m, _, a, r in srv.seen] == [
        ("POST", False, None),  # no credentials yet: 401
        ("POST", True, None),  # git credential fill, then the batch again
        ("GET", True, "bytes=20000-"),  # the href is on the same host: Basic goes along
        ("GET", True, None),  # the download action is reused while it is valid
    ]
    assert helper_actions(log) == ["get", "store"]


def test_faults_between_gitmv_and_giftless_are_retried(
    server: Giftless, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through tests/faultserver.py as a proxy in front of giftless (which builds its hrefs
    from the Host header, so the transfers go through the proxy too)."""
    from tests.faultserver import Faults, FaultServer

    org, repo = fresh_repo()
    batch_busy = Faults(fail_first=1, fail_status=503, retry_after="0",
                        fail_methods=frozenset({"POST"}))
    with FaultServer(upstream=server.url, faults=batch_busy) as proxy:
        alice = init_repo(tmp_path / "alice")
        assert mvm(alice, "remote", "add", "-q", "-d", "hub",
                   f"lfs+{proxy.url}/{org}/{repo}.git/info/lfs") == 0
        first = os.urandom(300_000)
        save(alice, "a.pt", first, "a")
        assert run(capsys, alice, "push").rc == 0
        assert proxy.requests("POST")[0].status == 503

        proxy.faults = Faults(fail_first=1, fail_status=500, fail_methods=frozenset({"PUT"}))
        second = os.urandom(200_000)
        save(alice, "b.pt", second, "b")
        res = run(capsys, alice, "push")
        assert res.rc == 0, res.err
        assert [r.status for r in proxy.requests("PUT")][-2:] == [500, 200]

        proxy.faults = Faults(drop_after=50_000, drop_times=2)  # both downloads cut once
        bob = plain_clone(alice, tmp_path / "bob")
        res = run(capsys, bob, "pull")
        assert res.rc == 0, res.err
        gets = proxy.requests("GET")
    assert (bob / "a.pt").read_bytes() == first
    assert (bob / "b.pt").read_bytes() == second
    assert sorted(r.status for r in gets) == [-200, -200, 200, 200]  # cut, then whole
    assert server.object_path(org, repo, sha(first)).read_bytes() == first


# --- Basic auth through git credential ----------------------------------------------------


def test_basic_auth_comes_from_git_credential_once(
    jwt_server: Giftless, tmp_path: Path
) -> None:
    org, repo = fresh_repo()
    log = credential_helper(tmp_path, jwt(org))
    s = open_store("auth", "lfs+" + jwt_server.endpoint(org, repo))
    objs = dict(obj(os.urandom(n)) for n in (10, 2000, 0))
    for oid, data in objs.items():
        s.upload(oid, len(data), io.BytesIO(data))
    assert s.exists_many(list(objs)) == set(objs)
    for oid, data in objs.items():
        src, _ = s.open_download(oid)
        with src:
            assert src.read() == data
    assert helper_actions(log) == ["get", "store"]  # asked once, approved once
    first = log.read_text().splitlines()[0]
    assert "protocol=http" in first and f"host=127.0.0.1:{jwt_server.port}" in first
    s.close()  # type: ignore[attr-defined]


def test_refused_credentials_are_rejected_and_reported_in_one_line(
    jwt_server: Giftless, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    org, repo = fresh_repo()
    log = credential_helper(tmp_path, jwt(org, secret="not-the-secret"))
    work = init_repo(tmp_path / "work")
    assert mvm(work, "remote", "add", "-q", "-d", "team",
               "lfs+" + jwt_server.endpoint(org, repo)) == 0
    save(work, "m.pt", os.urandom(100), "model")
    res = run(capsys, work, "push")
    assert res.rc == 1
    [line] = error_lines(res.err)
    assert "remote 'team'" in line and "authentication failed" in line
    assert "git credential" in res.err
    assert "Traceback" not in res.err
    assert helper_actions(log) == ["get", "erase"]


def test_no_credentials_at_all(
    jwt_server: Giftless, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    org, repo = fresh_repo()
    work = init_repo(tmp_path / "work")
    assert mvm(work, "remote", "add", "-q", "-d", "team",
               "lfs+" + jwt_server.endpoint(org, repo)) == 0
    save(work, "m.pt", os.urandom(100), "model")
    res = run(capsys, work, "push")
    assert res.rc == 1
    [line] = error_lines(res.err)
    assert "remote 'team'" in line and "git has none" in line
    assert "credential.helper" in res.err


# --- ssh remotes: git-lfs-authenticate ----------------------------------------------------


def fake_ssh(tmp_path: Path, href: str, token: str) -> Path:
    """A GIT_SSH_COMMAND that logs its arguments and answers like git-lfs-authenticate."""
    log = tmp_path / "ssh.log"
    script = tmp_path / "bin" / "ssh"  # called ssh: it gets OpenSSH's `--` before the host
    script.parent.mkdir()
    answer = json.dumps({"href": href, "header": {"Authorization": f"Bearer {token}"},
                         "expires_in": 3600})
    script.write_text(f"#!/bin/sh\necho \"$*\" >> '{log}'\ncat <<'EOF'\n{answer}\nEOF\n")
    script.chmod(0o755)
    return log


@pytest.mark.parametrize(("url", "expect"), [
    ("ssh://git@git.example:2222/team/models.git", "-o BatchMode=yes -p 2222 -- git@git.example"),
    ("git@git.example:team/models.git", "-o BatchMode=yes -- git@git.example"),
])
def test_ssh_remote_uses_git_lfs_authenticate(
    jwt_server: Giftless, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], url: str, expect: str,
) -> None:
    org, repo = fresh_repo()
    log = fake_ssh(tmp_path, jwt_server.endpoint(org, repo), jwt(org))
    monkeypatch.setenv("GIT_SSH_COMMAND", f"{tmp_path / 'bin' / 'ssh'} -o BatchMode=yes")
    work = init_repo(tmp_path / "work")
    git(work, "remote", "add", "origin", url)
    data = os.urandom(3000)
    save(work, "m.pt", data, "model")
    res = run(capsys, work, "push")
    assert res.rc == 0, res.err
    assert jwt_server.object_path(org, repo, sha(data)).read_bytes() == data
    calls = log.read_text().splitlines()
    # a push asks only for upload: its upload batches also tell what the server has
    assert calls == [f"{expect} git-lfs-authenticate team/models.git upload"]
    (work / "m.pt").unlink()
    shutil.rmtree(work / ".git" / "mvm" / "objects")
    res = run(capsys, work, "pull")
    assert res.rc == 0, res.err
    assert (work / "m.pt").read_bytes() == data


def test_ssh_failure_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "bad-ssh"
    script.write_text("#!/bin/sh\necho 'Permission denied (publickey).' >&2\nexit 255\n")
    script.chmod(0o755)
    monkeypatch.setenv("GIT_SSH", str(script))
    work = init_repo(tmp_path / "work")
    git(work, "remote", "add", "origin", "git@git.example:team/models.git")
    save(work, "m.pt", b"model", "model")
    res = run(capsys, work, "push")
    assert res.rc == 1
    [line] = error_lines(res.err)
    assert "remote 'origin'" in line and "Permission denied (publickey)" in line


def test_ssh_url_forms() -> None:
    a = SshAuth.parse("o", "ssh://me@host.example:2222/a/b.git")
    assert a is not None and (a.user_host, a.port, a.path) == ("me@host.example", "2222", "a/b.git")
    b = SshAuth.parse("o", "git@host.example:a/b.git")
    assert b is not None and (b.user_host, b.port, b.path) == ("git@host.example", None, "a/b.git")
    c = SshAuth.parse("o", "[git@host.example:2200]:a/b.git")
    assert c is not None
    assert (c.user_host, c.port, c.path) == ("git@host.example", "2200", "a/b.git")
    assert SshAuth.parse("o", "https://host/a") is None
    argv = SshAuth("o", "-oProxyCommand=x", None, "p", None).argv("download")
    assert argv[-3:] == ["--", "-oProxyCommand=x", "git-lfs-authenticate p download"]


# --- the LFS endpoint of a git remote -----------------------------------------------------


def test_endpoint_of_a_clone_url() -> None:
    assert lfs_endpoint("https://h.example/team/models") == \
        "https://h.example/team/models.git/info/lfs"
    assert lfs_endpoint("https://h.example/team/models.git") == \
        "https://h.example/team/models.git/info/lfs"
    assert lfs_endpoint("https://h.example/team/models/") == \
        "https://h.example/team/models.git/info/lfs"


def test_endpoint_settings_follow_git_lfs(tmp_path: Path) -> None:
    work = init_repo(tmp_path / "work")
    repo = Repo.discover(str(work))
    url = "https://git.example/team/models"

    def endpoint() -> str:
        return store_for_git_remote(repo, "origin", url).endpoint  # type: ignore[no-any-return]

    assert endpoint() == "https://git.example/team/models.git/info/lfs"
    write(work / ".lfsconfig", '[remote "origin"]\n\tlfsurl = https://a.example/lfs\n')
    assert endpoint() == "https://a.example/lfs"
    git(work, "config", "remote.origin.lfsurl", "https://b.example/lfs")
    assert endpoint() == "https://b.example/lfs"  # git config before .lfsconfig
    write(work / ".lfsconfig", "[lfs]\n\turl = https://c.example/lfs\n")
    assert endpoint() == "https://c.example/lfs"  # lfs.url before remote.<name>.lfsurl
    git(work, "add", ".lfsconfig")
    git(work, "commit", "-q", "-m", "lfsconfig")
    (work / ".lfsconfig").unlink()  # the committed one still counts
    assert endpoint() == "https://c.example/lfs"
    git(work, "config", "lfs.url", "https://d.example/lfs")
    assert endpoint() == "https://d.example/lfs"


def test_push_endpoint_settings_follow_git_lfs(tmp_path: Path) -> None:
    work = init_repo(tmp_path / "work")
    repo = Repo.discover(str(work))
    git(work, "remote", "add", "origin", "https://git.example/team/models")

    def endpoints() -> tuple[str, str]:
        url = "https://git.example/team/models"
        return (store_for_git_remote(repo, "origin", url).endpoint,
                store_for_git_remote(repo, "origin", url, upload=True).endpoint)

    fetch = "https://git.example/team/models.git/info/lfs"
    assert endpoints() == (fetch, fetch)
    git(work, "config", "remote.origin.pushurl", "https://push.example/team/models.git")
    assert endpoints() == (fetch, "https://push.example/team/models.git/info/lfs")
    git(work, "config", "remote.origin.lfsurl", "https://a.example/lfs")
    assert endpoints() == ("https://a.example/lfs", "https://a.example/lfs")
    git(work, "config", "remote.origin.lfspushurl", "https://b.example/lfs")
    assert endpoints() == ("https://a.example/lfs", "https://b.example/lfs")
    git(work, "config", "lfs.url", "https://c.example/lfs")  # before the remote's settings
    assert endpoints() == ("https://c.example/lfs", "https://c.example/lfs")
    write(work / ".lfsconfig", "[lfs]\n\tpushurl = https://d.example/lfs\n")
    assert endpoints() == ("https://c.example/lfs", "https://d.example/lfs")


def test_push_goes_to_the_lfs_push_url(
    server: Giftless, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fetch_side, push_side = fresh_repo(), fresh_repo()
    work = init_repo(tmp_path / "work")
    git(work, "remote", "add", "origin", f"{server.url}/{fetch_side[0]}/{fetch_side[1]}")
    git(work, "config", "lfs.pushurl", server.endpoint(*push_side))
    data = os.urandom(1800)
    save(work, "m.pt", data, "model")
    res = run(capsys, work, "push")
    assert res.rc == 0, res.err
    assert server.object_path(*push_side, sha(data)).read_bytes() == data
    assert not server.object_path(*fetch_side, sha(data)).exists()
    res = run(capsys, work, "status", "--remote")  # status and fetch ask the fetch side
    assert "not on origin" in res.out


def test_default_store_of_an_http_git_remote(
    server: Giftless, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    org, repo = fresh_repo()
    work = init_repo(tmp_path / "work")
    git(work, "remote", "add", "origin", f"{server.url}/{org}/{repo}")  # → <url>.git/info/lfs
    data = os.urandom(1500)
    save(work, "m.pt", data, "model")
    res = run(capsys, work, "push")
    assert res.rc == 0, res.err
    assert "pushed 1 object" in res.err
    assert server.object_path(org, repo, sha(data)).read_bytes() == data


def test_committed_lfsconfig_points_a_dummy_git_remote_at_the_server(
    server: Giftless, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint = server.endpoint(*fresh_repo())
    alice = init_repo(tmp_path / "alice")
    write(alice / ".lfsconfig", f"[lfs]\n\turl = {endpoint}\n")
    git(alice, "add", ".lfsconfig")
    git(alice, "remote", "add", "origin", "https://git.invalid/team/models.git")
    data = os.urandom(2500)
    save(alice, "models/m.pt", data, "model")
    assert run(capsys, alice, "push").rc == 0
    bob = plain_clone(alice, tmp_path / "bob")
    git(bob, "remote", "add", "hub", "https://git.invalid/team/models.git")
    res = run(capsys, bob, "pull", "hub")
    assert res.rc == 0, res.err
    assert (bob / "models" / "m.pt").read_bytes() == data
    store = resolve(Repo.discover(str(bob)), _config(bob), remote="hub")
    assert isinstance(store, LfsStore) and store.endpoint == endpoint


def _config(root: Path) -> Any:
    from gitmv.config import Config

    return Config.load(str(root), str(root / ".git" / "mvm"))


# --- push and pull end to end -------------------------------------------------------------


def test_push_pull_through_an_lfs_remote(
    endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = init_repo(tmp_path / "alice")
    assert mvm(alice, "remote", "add", "-q", "-d", "hub", "lfs+" + endpoint) == 0
    model = os.urandom(300_000)
    save(alice, "models/m.pt", model)
    save(alice, "models/empty.bin", b"", "models")
    res = run(capsys, alice, "push")
    assert res.rc == 0, res.err
    assert "pushed 2 objects" in res.err
    res = run(capsys, alice, "push")
    assert "pushed 0 objects" in res.err and "2 already there" in res.err
    res = run(capsys, alice, "status", "--remote")
    assert res.rc == 0, res.err
    bob = plain_clone(alice, tmp_path / "bob")
    res = run(capsys, bob, "pull")
    assert res.rc == 0, res.err
    assert (bob / "models" / "m.pt").read_bytes() == model
    assert (bob / "models" / "empty.bin").read_bytes() == b""


def test_directory_artifacts_through_an_lfs_remote(
    endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = init_repo(tmp_path / "alice")
    assert mvm(alice, "remote", "add", "-q", "-d", "hub", "lfs+" + endpoint) == 0
    files = {f"part{i % 2}/f{i}.bin": os.urandom(200) for i in range(6)}
    digest = save_dir(alice, "data/train", files, "dataset")
    assert run(capsys, alice, "push").rc == 0
    bob = plain_clone(alice, tmp_path / "bob")
    res = run(capsys, bob, "pull")
    assert res.rc == 0, res.err
    assert tree_digest(bob / "data" / "train") == digest


def test_corrupt_bytes_on_the_server_are_refused(
    endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = init_repo(tmp_path / "alice")
    assert mvm(alice, "remote", "add", "-q", "-d", "hub", "lfs+" + endpoint) == 0
    model = os.urandom(4000)
    oid = save(alice, "m.pt", model, "model")
    assert run(capsys, alice, "push").rc == 0
    bad = os.urandom(len(model))  # same size: the server hands it out as the object
    raw_put(endpoint, oid, bad)
    bob = plain_clone(alice, tmp_path / "bob")
    res = run(capsys, bob, "pull")
    assert res.rc == 1
    assert f"sha256:{oid}" in res.err and "'hub'" in res.err and "corrupt" in res.err
    assert oid not in cache_objects(bob)
    assert not (bob / "m.pt").exists()
    assert not any(bad == p.read_bytes() for p in bob.rglob("*") if p.is_file())


# --- interop with the real git-lfs client -------------------------------------------------


def git_lfs_repo(root: Path, endpoint: str) -> Path:
    """A git repository set up for git-lfs, talking to `endpoint`."""
    if shutil.which("git-lfs") is None:
        pytest.fail("git-lfs is not installed (scripts/test installs Debian's git-lfs)")
    root.mkdir(parents=True)
    git(root, "init", "-q")
    git(root, "lfs", "install", "--local")
    git(root, "config", "lfs.url", endpoint)
    git(root, "config", "lfs.locksverify", "false")
    write(root / ".gitattributes", "*.bin filter=lfs diff=lfs merge=lfs -text\n")
    return root


@pytest.mark.slow
def test_git_lfs_fetches_what_gitmv_pushed(
    endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = init_repo(tmp_path / "alice")
    assert mvm(alice, "remote", "add", "-q", "-d", "hub", "lfs+" + endpoint) == 0
    model = os.urandom(200_000)
    oid = save(alice, "model.pt", model, "model")
    assert run(capsys, alice, "push").rc == 0

    lfs = git_lfs_repo(tmp_path / "lfs", endpoint)
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(model)}\n"
    write(lfs / "model.bin", pointer)
    git(lfs, "add", ".gitattributes", "model.bin")
    git(lfs, "commit", "-q", "-m", "pointer")
    assert git(lfs, "cat-file", "blob", "HEAD:model.bin") == pointer
    git(lfs, "lfs", "pull")
    assert (lfs / "model.bin").read_bytes() == model
    assert sha((lfs / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid).read_bytes()) == oid


@pytest.mark.slow
def test_gitmv_pulls_what_git_lfs_pushed(
    endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lfs = git_lfs_repo(tmp_path / "lfs", endpoint)
    model = os.urandom(150_000)
    write(lfs / "model.bin", model)
    git(lfs, "add", ".gitattributes", "model.bin")
    git(lfs, "commit", "-q", "-m", "model")
    oid = sha(model)
    assert f"oid sha256:{oid}" in git(lfs, "cat-file", "blob", "HEAD:model.bin")
    bare = tmp_path / "lfs-remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(lfs, "remote", "add", "origin", str(bare))
    git(lfs, "lfs", "push", "--all", "origin")

    bob = init_repo(tmp_path / "bob")
    assert mvm(bob, "remote", "add", "-q", "-d", "hub", "lfs+" + endpoint) == 0
    (bob / "model.bin.mvm").write_bytes(Pointer("file", oid, len(model)).dump())
    git(bob, "add", "model.bin.mvm")
    res = run(capsys, bob, "pull")
    assert res.rc == 0, res.err
    assert (bob / "model.bin").read_bytes() == model
    assert oid in cache_objects(bob)
    mode = (bob / "model.bin").stat().st_mode
    assert stat.S_ISREG(mode)


def test_requests_stays_out_of_store_free_commands() -> None:
    code = ("import sys; from gitmv.cli import main; from gitmv.remotes.base import open_store; "
            "open_store('x', '/tmp'); print('requests' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
    with pytest.raises(GitMvmError):
        open_store("x", "lfs+ftp://nowhere")
