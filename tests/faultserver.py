"""A loopback HTTP object server with fault injection, for the store tests.

Either it keeps objects itself (a plain WebDAV-ish file server over a directory: GET with
Range, HEAD, PUT written to a temp file and renamed, DELETE, MKCOL, PROPFIND Depth 1), or it
is a proxy in front of another loopback server (`upstream`: moto, giftless, another one of
these) and only injects the faults. Knobs (`Faults`):

- `fail_first` K requests (of `fail_methods`, all when empty) answer `fail_status`, with a
  `Retry-After: <retry_after>` header when set;
- `drop_after` N: the first `drop_times` GET bodies stop after N bytes and the connection
  closes (headers announce the full length);
- `corrupt`: every GET body has its first byte flipped;
- `put_rate`: PUT bodies are read at most this many bytes per second (a slow upload, so that
  a test can kill the server mid-push);
- `endless` N: every GET body goes on for N bytes of zeros past the object, sent without a
  Content-Length (a server that never stops sending);
- `trickle` S: GET bodies are sent one byte every S seconds (a server too slow to finish);
- `lie_put`: a PUT body is read and dropped, and the answer says it was stored (201);
- `lie_head`: every HEAD is answered 200 with `Content-Length: 0`, whatever is stored;
- `lie_verify`: a Git LFS verify call (POST …/verify) is answered 200, never forwarded;
- `refuse_header` H: a request that carries header H is answered `refuse_status` (501) with
  the S3 error `refuse_code` (`NotImplemented`): a server that knows no x-amz-checksum-sha256,
  say, or one that answers `InvalidRequest` to a checksum it will not keep;
- `copy_too_large`: a whole-object S3 copy (a PUT carrying x-amz-copy-source that is not a
  part of a multipart upload) is answered 400 `InvalidRequest`, as AWS answers one whose
  source is over 5 GB (a part copy goes through).

The lies are a server that says it stored an object but did not: the proxy tells them in
front of a real server (moto, giftless) as well as its own directory backend does.

Every request is logged (method, path, Range, status, server-side time), in memory and, with
`log`, as JSON lines in a file (for a server run as a subprocess).

    python -m tests.faultserver --root DIR [--port N] [--upstream URL] [--auth USER:PASS]
        [--token T] [--fail-first K --fail-status S --fail-methods GET,PUT --retry-after 1]
        [--drop-after N --drop-times T] [--corrupt] [--put-rate BPS] [--endless N]
        [--trickle S] [--lie-put] [--lie-head] [--lie-verify] [--log FILE]

prints `listening on http://127.0.0.1:PORT` once it accepts connections, and serves until
killed. Only 127.0.0.1 is ever bound or proxied to.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import shutil
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, unquote, urlsplit

CHUNK = 64 << 10
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade"}


@dataclass
class Faults:
    fail_first: int = 0
    fail_status: int = 500
    fail_methods: frozenset[str] = frozenset()
    retry_after: str | None = None
    drop_after: int | None = None
    drop_times: int = 1
    corrupt: bool = False
    put_rate: int | None = None
    endless: int | None = None
    trickle: float | None = None
    lie_put: bool = False
    lie_head: bool = False
    lie_verify: bool = False
    refuse_header: str | None = None
    refuse_status: int = 501
    refuse_code: str = "NotImplemented"
    copy_too_large: bool = False


@dataclass
class Record:
    method: str
    path: str
    range: str | None
    time: float  # time.time() when the request line arrived
    status: int = 0
    sent: int = 0  # body bytes written to the client


@dataclass
class _State:
    faults: Faults
    root: Path | None
    upstream: tuple[str, int] | None
    auth: tuple[str, str] | None
    token: str | None
    log_file: IO[str] | None
    create_parents: bool = True  # False: PUT into a missing directory is 409 (nginx's default)
    lock: threading.Lock = field(default_factory=threading.Lock)
    records: list[Record] = field(default_factory=list)
    failed: int = 0
    dropped: int = 0
    sockets: set[socket.socket] = field(default_factory=set)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection ends its thread after this
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # --- plumbing -------------------------------------------------------------------------
    @property
    def st(self) -> _State:
        return self.server.state

    def setup(self) -> None:
        super().setup()
        with self.st.lock:
            self.st.sockets.add(self.connection)

    def finish(self) -> None:
        with self.st.lock:
            self.st.sockets.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def _begin(self) -> Record:
        rec = Record(self.command, self.path, self.headers.get("Range"), time.time())
        with self.st.lock:
            self.st.records.append(rec)
        return rec

    def _end(self, rec: Record, status: int) -> None:
        rec.status = status
        if self.st.log_file is not None:
            with self.st.lock:
                self.st.log_file.write(json.dumps(rec.__dict__) + "\n")
                self.st.log_file.flush()

    def _length(self) -> int | None:
        value = self.headers.get("Content-Length")
        return int(value) if value is not None and value.strip().isdigit() else None

    def _drain(self) -> None:
        """Read and drop a request body, so the answer can come before it on a keep-alive
        connection."""
        left = self._length() or 0
        while left > 0:
            data = self.rfile.read(min(CHUNK, left))
            if not data:
                break
            left -= len(data)

    def _reply(self, rec: Record, status: int, body: bytes = b"",
               headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.command != "HEAD" or "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        self._end(rec, status)

    # --- dispatch -------------------------------------------------------------------------
    def _handle(self) -> None:
        rec = self._begin()
        refusal = self._check_auth()
        if refusal is not None:
            self._drain()
            self._reply(rec, 401, refusal.encode(), {"WWW-Authenticate": 'Basic realm="mvm"'})
            return
        f = self.st.faults
        with self.st.lock:
            fail = (self.st.failed < f.fail_first
                    and (not f.fail_methods or self.command in f.fail_methods))
            if fail:
                self.st.failed += 1
        if fail:
            self._drain()
            extra = {"Retry-After": f.retry_after} if f.retry_after is not None else {}
            self._reply(rec, f.fail_status, b"injected fault\n", extra)
            return
        if self._lie(rec, f):
            return
        if self.st.upstream is not None:
            self._proxy(rec)
        else:
            getattr(self, f"_local_{self.command.lower()}")(rec)

    do_GET = do_HEAD = do_PUT = do_DELETE = do_MKCOL = do_PROPFIND = _handle
    do_POST = do_PATCH = do_OPTIONS = _handle

    def _lie(self, rec: Record, f: Faults) -> bool:
        """Answer as a server that says it stored what it did not (True when it did)."""
        path = urlsplit(self.path).path
        if f.lie_put and self.command == "PUT":
            self._drain_body()
            self._reply(rec, 201 if self.st.upstream is None else 200)
        elif f.lie_head and self.command == "HEAD":
            self._reply(rec, 200, b"", {"Content-Length": "0"})
        elif f.lie_verify and self.command == "POST" and path.endswith("/verify"):
            self._drain_body()
            self._reply(rec, 200)
        elif f.refuse_header and self.headers.get(f.refuse_header) is not None:
            self._drain_body()
            self._s3_error(rec, f.refuse_status, f.refuse_code, "A header you provided implies "
                           "functionality that is not implemented")
        elif (f.copy_too_large and self.command == "PUT"
              and self.headers.get("x-amz-copy-source") is not None
              and "uploadId=" not in urlsplit(self.path).query):
            self._drain_body()
            self._s3_error(rec, 400, "InvalidRequest", "The specified copy source is larger "
                           "than the maximum allowable size for a copy source: 5368709120")
        else:
            return False
        return True

    def _s3_error(self, rec: Record, status: int, code: str, message: str) -> None:
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>{message}</Message></Error>").encode()
        self._reply(rec, status, body, {"Content-Type": "application/xml"})

    def _drain_body(self) -> None:
        """Read and drop a request body, chunked or not."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            for _ in self._request_chunks():
                pass
        else:
            self._drain()

    def _check_auth(self) -> str | None:
        got = self.headers.get("Authorization", "")
        if self.st.token is not None and got == f"Bearer {self.st.token}":
            return None
        if self.st.auth is not None:
            want = base64.b64encode(":".join(self.st.auth).encode()).decode()
            if got == f"Basic {want}":
                return None
        if self.st.auth is None and self.st.token is None:
            return None
        return "credentials required\n"

    # --- faults on a response body ----------------------------------------------------------
    def _send_body(self, rec: Record, chunks: Iterator[bytes]) -> None:
        f = self.st.faults
        if self.command == "GET" and f.endless:
            chunks = _then_zeros(chunks, f.endless)
        sent = 0
        first = True
        for chunk in chunks:
            if f.corrupt and first and chunk and self.command == "GET":
                chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
            first = first and not chunk
            if (f.drop_after is not None and self.command == "GET"
                    and sent + len(chunk) > f.drop_after and self._may_drop()):
                self.wfile.write(chunk[: f.drop_after - sent])
                self.wfile.flush()
                rec.sent = f.drop_after
                self._cut(rec)
                return
            try:
                if f.trickle and self.command == "GET":
                    for i in range(len(chunk)):
                        self.wfile.write(chunk[i : i + 1])
                        self.wfile.flush()
                        rec.sent += 1
                        time.sleep(f.trickle)
                else:
                    self.wfile.write(chunk)
                    rec.sent += len(chunk)
            except OSError:  # the client hung up
                self.close_connection = True
                return
            sent += len(chunk)

    def _may_drop(self) -> bool:
        with self.st.lock:
            if self.st.dropped >= self.st.faults.drop_times:
                return False
            self.st.dropped += 1
            return True

    def _cut(self, rec: Record) -> None:
        """Close the connection mid-body (FIN after the bytes sent so far)."""
        self.close_connection = True
        rec.status = -rec.status if rec.status > 0 else rec.status
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # --- the directory backend --------------------------------------------------------------
    def _fs_path(self) -> Path | None:
        assert self.st.root is not None
        rel = unquote(urlsplit(self.path).path)
        parts = [p for p in rel.split("/") if p]
        if any(p in (".", "..") or p.startswith(".tmp") for p in parts):
            return None
        return self.st.root.joinpath(*parts)

    def _local_get(self, rec: Record) -> None:
        path = self._fs_path()
        if path is None or not path.is_file():
            self._reply(rec, 404, b"not found\n")
            return
        size = path.stat().st_size
        start, status, headers = 0, 200, {"Accept-Ranges": "bytes"}
        end = size  # (exclusive)
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng[6:].split("-")[0].isdigit():
            start = int(rng[6:].split("-")[0])
            last = rng[6:].split("-", 1)[1]
            if last.isdigit():  # bytes=N-M (M inclusive)
                end = min(size, int(last) + 1)
            if start >= size:
                self._reply(rec, 416, b"", {"Content-Range": f"bytes */{size}"})
                return
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/octet-stream")
        if self.command == "GET" and self.st.faults.endless:
            self.send_header("Connection", "close")  # the body ends when the connection does
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(end - start))
        self.end_headers()
        rec.status = status
        if self.command == "HEAD":
            self._end(rec, status)
            return
        with open(path, "rb") as f:
            f.seek(start)
            left = [end - start]

            def piece() -> bytes:
                data = f.read(min(CHUNK, left[0]))
                left[0] -= len(data)
                return data

            self._send_body(rec, iter(piece, b""))
        self._end(rec, rec.status)

    _local_head = _local_get

    def _local_put(self, rec: Record) -> None:
        path = self._fs_path()
        length = self._length()
        if path is None or length is None:
            self._drain()
            self._reply(rec, 400 if path is None else 411, b"bad request\n")
            return
        assert self.st.root is not None
        tmp_dir = self.st.root / ".tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / uuid.uuid4().hex
        h = hashlib.sha256()
        rate = self.st.faults.put_rate
        started = time.monotonic()
        left = length
        try:
            with open(tmp, "wb") as out:
                while left > 0:
                    data = self.rfile.read(min(CHUNK if rate is None else 8192, left))
                    if not data:
                        raise ConnectionError("request body ended early")
                    out.write(data)
                    h.update(data)
                    left -= len(data)
                    if rate:  # sleep until the bytes so far fit the rate
                        ahead = (length - left) / rate - (time.monotonic() - started)
                        if ahead > 0:
                            time.sleep(min(ahead, 1.0))
        except (OSError, ConnectionError):
            tmp.unlink(missing_ok=True)
            self.close_connection = True
            self._end(rec, -1)
            return
        want = self.headers.get("X-Checksum-Sha256")
        if want is not None and want.lower() != h.hexdigest():
            tmp.unlink()
            self._reply(rec, 400, b"X-Checksum-Sha256 does not match the body\n")
            return
        if not path.parent.is_dir():
            if not self.st.create_parents:
                tmp.unlink()
                self._reply(rec, 409, b"no such collection\n")
                return
            path.parent.mkdir(parents=True, exist_ok=True)
        existed = path.exists()
        os.replace(tmp, path)
        self._reply(rec, 204 if existed else 201)

    def _local_delete(self, rec: Record) -> None:
        self._drain()
        path = self._fs_path()
        if path is None or not path.is_file():
            self._reply(rec, 404, b"not found\n")
            return
        path.unlink()
        self._reply(rec, 204)

    def _local_mkcol(self, rec: Record) -> None:
        self._drain()
        path = self._fs_path()
        if path is None:
            self._reply(rec, 403)
        elif path.exists():
            self._reply(rec, 405)
        elif not path.parent.is_dir():
            self._reply(rec, 409)
        else:
            path.mkdir()
            self._reply(rec, 201)

    def _local_propfind(self, rec: Record) -> None:
        self._drain()
        path = self._fs_path()
        if path is None or not path.exists():
            self._reply(rec, 404, b"not found\n")
            return
        base = urlsplit(self.path).path.rstrip("/")
        entries = [(base + ("/" if path.is_dir() else ""), path)]
        if path.is_dir() and self.headers.get("Depth", "infinity") != "0":
            for child in sorted(path.iterdir()):
                if not child.name.startswith(".tmp"):
                    entries.append((f"{base}/{child.name}" + ("/" if child.is_dir() else ""),
                                    child))
        parts = ['<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">']
        for href, p in entries:
            st = p.stat()
            props = f"<D:getlastmodified>{formatdate(st.st_mtime, usegmt=True)}</D:getlastmodified>"
            if p.is_dir():
                props += "<D:resourcetype><D:collection/></D:resourcetype>"
            else:
                props += f"<D:resourcetype/><D:getcontentlength>{st.st_size}</D:getcontentlength>"
            parts.append(f"<D:response><D:href>{quote(href)}</D:href><D:propstat><D:prop>"
                         f"{props}</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>"
                         "</D:response>")
        parts.append("</D:multistatus>\n")
        self._reply(rec, 207, "".join(parts).encode(),
                    {"Content-Type": 'application/xml; charset="utf-8"'})

    def _local_post(self, rec: Record) -> None:
        self._drain()
        self._reply(rec, 405)

    _local_patch = _local_options = _local_post

    # --- the proxy backend ------------------------------------------------------------------
    def _proxy(self, rec: Record) -> None:
        assert self.st.upstream is not None
        host, port = self.st.upstream
        conn = http.client.HTTPConnection(host, port, timeout=60)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
            for k, v in self.headers.items():
                if k.lower() not in HOP_BY_HOP:
                    conn.putheader(k, v)
            if chunked:
                conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            if chunked:
                for data in self._request_chunks():
                    conn.send(b"%x\r\n%s\r\n" % (len(data), data))
                conn.send(b"0\r\n\r\n")
            else:
                left = self._length() or 0
                while left > 0:
                    data = self.rfile.read(min(CHUNK, left))
                    if not data:
                        raise ConnectionError("request body ended early")
                    conn.send(data)
                    left -= len(data)
            resp = conn.getresponse()
            self.send_response(resp.status, resp.reason)
            length = resp.getheader("Content-Length")
            if self.command == "GET" and self.st.faults.endless:
                length = None  # the body ends when the connection does
            for k, v in resp.getheaders():
                if k.lower() not in HOP_BY_HOP and not (length is None
                                                          and k.lower() == "content-length"):
                    self.send_header(k, v)
            if length is None and self.command != "HEAD":
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            rec.status = resp.status
            if self.command != "HEAD":
                self._send_body(rec, iter(lambda: resp.read(CHUNK), b""))
            self._end(rec, rec.status)
        except (OSError, http.client.HTTPException):
            self.close_connection = True
            if rec.status == 0:
                try:
                    self._reply(rec, 502, b"upstream failed\n", {"Connection": "close"})
                except OSError:
                    pass
        finally:
            conn.close()

    def _request_chunks(self) -> Iterator[bytes]:
        while True:
            line = self.rfile.readline(1024)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return
            data = self.rfile.read(size)
            self.rfile.readline(16)
            yield data


def _then_zeros(chunks: Iterator[bytes], n: int) -> Iterator[bytes]:
    yield from chunks
    while n > 0:
        yield bytes(min(CHUNK, n))
        n -= CHUNK


class FaultServer:
    """The server in a background thread of this process: `with FaultServer(root) as s:`."""

    def __init__(self, root: Path | None = None, *, upstream: str | None = None, port: int = 0,
                 auth: tuple[str, str] | None = None, token: str | None = None,
                 faults: Faults | None = None, log: Path | None = None,
                 create_parents: bool = True) -> None:
        if (root is None) == (upstream is None):
            raise ValueError("give a root directory or an upstream URL")
        up = None
        if upstream is not None:
            parts = urlsplit(upstream)
            if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
                raise ValueError("the proxy only forwards to loopback")
            up = (parts.hostname or "127.0.0.1", parts.port or 80)
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        self.state = _State(faults or Faults(), root, up, auth, token,
                            open(log, "a") if log is not None else None,  # noqa: SIM115
                            create_parents)
        self._httpd = _Server(("127.0.0.1", port), Handler)
        self._httpd.state = self.state
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    @property
    def faults(self) -> Faults:
        return self.state.faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        with self.state.lock:
            self.state.faults = value
            self.state.failed = 0
            self.state.dropped = 0

    @property
    def records(self) -> list[Record]:
        with self.state.lock:
            return list(self.state.records)

    def requests(self, method: str | None = None) -> list[Record]:
        return [r for r in self.records if method is None or r.method == method]

    def start(self) -> FaultServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut every open connection (as a killed server would)."""
        self._httpd.shutdown()
        self._httpd.server_close()
        with self.state.lock:
            conns = list(self.state.sockets)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.state.log_file is not None:
            self.state.log_file.close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def read_log(path: Path) -> list[Record]:
    """The records a subprocess server wrote with `--log`."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(Record(**json.loads(line)))
        except (ValueError, TypeError):
            pass  # a line cut short by a kill
    return out


def stored_objects(root: Path) -> dict[str, Path]:
    """{name: path} of every file under a directory backend's root but its temp files."""
    return {p.name: p for p in root.rglob("*")
            if p.is_file() and ".tmp" not in p.relative_to(root).parts}


def wipe(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.faultserver", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path)
    p.add_argument("--upstream")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--auth", help="USER:PASSWORD for Basic auth")
    p.add_argument("--token", help="a bearer token the server accepts")
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--fail-status", type=int, default=500)
    p.add_argument("--fail-methods", default="", help="comma-separated; default: every method")
    p.add_argument("--retry-after")
    p.add_argument("--drop-after", type=int)
    p.add_argument("--drop-times", type=int, default=1)
    p.add_argument("--corrupt", action="store_true")
    p.add_argument("--put-rate", type=int)
    p.add_argument("--endless", type=int)
    p.add_argument("--trickle", type=float)
    p.add_argument("--lie-put", action="store_true")
    p.add_argument("--lie-head", action="store_true")
    p.add_argument("--lie-verify", action="store_true")
    p.add_argument("--log", type=Path)
    a = p.parse_args(argv)
    faults = Faults(a.fail_first, a.fail_status,
                    frozenset(m for m in a.fail_methods.upper().split(",") if m),
                    a.retry_after, a.drop_after, a.drop_times, a.corrupt, a.put_rate,
                    a.endless, a.trickle, a.lie_put, a.lie_head, a.lie_verify)
    auth = tuple(a.auth.split(":", 1)) if a.auth else None
    server = FaultServer(a.root, upstream=a.upstream, port=a.port, token=a.token,
                         auth=auth,  # type: ignore[arg-type]
                         faults=faults, log=a.log)
    print(f"listening on {server.url}", flush=True)
    try:
        server._httpd.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
