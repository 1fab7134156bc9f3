"""Git servers on loopback for tests and the benchmark: `git daemon` (git://) and
`git http-backend` behind a small threaded HTTP server (http://), both serving the bare
repositories under one directory (each must allow filters: `uploadpack.allowFilter`).

    with GitDaemon(root) as d: d.url("origin.git")      # git://127.0.0.1:PORT/origin.git
    with GitHttp(root) as h: h.url("origin.git")        # http://127.0.0.1:PORT/origin.git

`GitHttp(root, auth="user:secret")` answers 401 to a request without those Basic credentials.
`GitHttp(root, stall=DIR)`: while `DIR/hold` exists, a fetch's answer stops after the start
of its pack (the server creates `DIR/stalled` then): a client is caught mid-fetch.
The HTTP server is this module run as a script (`python -m tests.gitserver ROOT PORT [AUTH]`):
it runs `git http-backend` as a CGI for each request, as a web server would.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from tests.stores.s3 import _die_with_parent, free_port, stop_process

ROOT = Path(__file__).resolve().parent.parent


def _plain_env() -> dict[str, str]:
    """The server's environment: no user config (a hostile ~/.gitconfig is the client's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")
           and k not in ("LANGUAGE", "LC_ALL")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, LC_ALL="C")
    return env


class _Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        raise NotImplementedError

    def url(self, name: str) -> str:
        raise NotImplementedError

    def start(self) -> _Server:
        for _ in range(5):
            self.port = free_port()
            self.proc = subprocess.Popen(self.argv(), env=_plain_env(), cwd=ROOT,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL,
                                         preexec_fn=_die_with_parent)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return self
                except OSError:
                    time.sleep(0.05)
            self.stop()
        raise RuntimeError(f"{type(self).__name__} did not start")

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def __enter__(self) -> _Server:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class GitDaemon(_Server):
    def argv(self) -> list[str]:
        return ["git", "daemon", "--reuseaddr", "--export-all", "--informative-errors",
                f"--base-path={self.root}", "--listen=127.0.0.1", f"--port={self.port}",
                str(self.root)]

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"


class GitHttp(_Server):
    def __init__(self, root: Path, auth: str | None = None, stall: Path | None = None) -> None:
        super().__init__(root)
        self.auth = auth
        self.stall = stall

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "tests.gitserver", str(self.root), str(self.port),
                self.auth or "", str(self.stall or "")]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


def serve(root: str, port: int, auth: str | None, stall: str | None) -> None:
    """`git http-backend` as a CGI behind http.server (threads: one request each)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import urlsplit

    expected = "Basic " + base64.b64encode(auth.encode()).decode() if auth else None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._cgi()

        def do_POST(self) -> None:
            self._cgi()

        def _cgi(self) -> None:
            if expected and self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            parts = urlsplit(self.path)
            env = _plain_env()
            env.update(GIT_PROJECT_ROOT=root, GIT_HTTP_EXPORT_ALL="1",
                       PATH_INFO=parts.path, QUERY_STRING=parts.query,
                       REQUEST_METHOD=self.command, REMOTE_ADDR="127.0.0.1",
                       CONTENT_TYPE=self.headers.get("Content-Type", ""),
                       GIT_PROTOCOL=self.headers.get("Git-Protocol", ""))
            if self.headers.get("Content-Encoding"):
                env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
            length = self.headers.get("Content-Length")
            if length is not None:
                env["CONTENT_LENGTH"] = length
            body = self.rfile.read(int(length)) if length else b""
            if length is None and self.headers.get("Transfer-Encoding") == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                body = b"".join(chunks)
                env["CONTENT_LENGTH"] = str(len(body))
            out = subprocess.run(["git", "http-backend"], input=body, env=env,
                                 capture_output=True, check=False).stdout
            head, _, payload = out.partition(b"\r\n\r\n")
            status = 200
            headers = []
            for line in head.decode("latin-1").split("\r\n"):
                key, _, value = line.partition(":")
                if key.lower() == "status":
                    status = int(value.strip().split()[0])
                elif key:
                    headers.append((key, value.strip()))
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            cut = payload.find(b"packfile\n")
            if stall and cut >= 0 and os.path.exists(os.path.join(stall, "hold")):
                cut = min(cut + 200, len(payload) - 10)
                self.wfile.write(payload[:cut])
                self.wfile.flush()
                Path(stall, "stalled").touch()
                while os.path.exists(os.path.join(stall, "hold")):
                    time.sleep(0.05)
                payload = payload[cut:]
            self.wfile.write(payload)

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), sys.argv[3] or None, sys.argv[4] or None)
