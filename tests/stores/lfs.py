"""Contract-suite factory for the Git LFS store, and the giftless server the LFS tests use.

giftless 0.6.2 declares none of its dependencies, and the set it works with (Flask 2.3,
marshmallow 3, PyJWT < 2.10) would pull the test venv's Flask back from the 3.x that moto's
server wants. So it lives in its own venv, `.venv-giftless/` (tests/venvs.py).

One server per pytest process (a free port on 127.0.0.1, stopped at exit); every store gets
a fresh `<org>/<repo>` on it, so tests never see each other's objects.
"""

from __future__ import annotations

import atexit
import http.client
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gitmv.remotes.base import Store, open_store
from tests.venvs import pinned_venv

REQUIREMENTS = [
    "giftless==0.6.2",
    "figcan==0.0.*",
    "flask~=2.3",
    "flask-marshmallow~=0.15",
    "marshmallow~=3.21",
    "pyyaml~=6.0",
    "PyJWT<2.10",
    "webargs~=8.3",
    "typing-extensions~=4.9",
    "python-dotenv~=1.0",
    "python-dateutil~=2.8",
    "flask-classful~=0.16",
    "werkzeug~=3.0",
    "cachetools~=5.3",
]
START_TIMEOUT = 60.0


def giftless_python() -> Path:
    """The python of `.venv-giftless/` (made first if it is missing or out of date)."""
    return pinned_venv("giftless", REQUIREMENTS) / "bin" / "python"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Giftless:
    """A giftless server on 127.0.0.1 with local storage under `root/storage`.

    `jwt_secret`: require a JWT (HS256, this secret) as a Bearer token or as the password of
    Basic auth user `_jwt`, giftless's own way of taking tokens from git credential helpers;
    without it anyone may read and write.
    """

    def __init__(self, root: Path, jwt_secret: str | None = None,
                 action_lifetime: int = 900) -> None:
        self.root = root
        self.storage = root / "storage"
        self.storage.mkdir(parents=True, exist_ok=True)
        if jwt_secret is None:
            auth = "  - giftless.auth.allow_anon:read_write\n"
        else:
            auth = ("  - factory: giftless.auth.jwt:factory\n"
                    "    options:\n"
                    "      algorithm: HS256\n"
                    f"      private_key: {jwt_secret}\n")
        self.config = root / "giftless.yaml"
        self.config.write_text(
            "AUTH_PROVIDERS:\n" + auth
            + "TRANSFER_ADAPTERS:\n"
            "  basic:\n"
            "    factory: giftless.transfer.basic_streaming:factory\n"
            "    options:\n"
            "      storage_class: giftless.storage.local_storage:LocalStorage\n"
            "      storage_options:\n"
            f"        path: {self.storage}\n"
            f"      action_lifetime: {action_lifetime}\n"
            "LEGACY_ENDPOINTS: false\n"
        )
        self.log = root / "giftless.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def endpoint(self, org: str, repo: str) -> str:
        return f"{self.url}/{org}/{repo}.git/info/lfs"

    def object_path(self, org: str, repo: str, oid: str) -> Path:
        return self.storage / org / repo / oid

    def start(self) -> None:
        python = giftless_python()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "GIFTLESS_"))}
        env.update(FLASK_APP="giftless.wsgi_entrypoint", GIFTLESS_CONFIG_FILE=str(self.config),
                   PYTHONDONTWRITEBYTECODE="1")
        for _ in range(3):  # another process may take the free port first
            self.port = _free_port()
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(
                    [str(python), "-m", "flask", "run", "--host", "127.0.0.1", "--port",
                     str(self.port)],
                    cwd=self.root, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                )
            if self._wait_ready():
                return
            self.stop()
        raise RuntimeError(f"giftless did not start; its log:\n{self.log.read_text()[-3000:]}")

    def _wait_ready(self) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", "/")
                conn.getresponse().read()
                return True
            except OSError:
                time.sleep(0.05)
            finally:
                conn.close()
        return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


_shared: Giftless | None = None


def shared_server() -> Giftless:
    """This process's anonymous read-write giftless (started on first use)."""
    global _shared
    if _shared is None:
        root = Path(tempfile.mkdtemp(prefix="gitmv-giftless-"))
        _shared = Giftless(root)

        def stop(server: Giftless = _shared) -> None:
            server.stop()
            shutil.rmtree(server.root, ignore_errors=True)

        atexit.register(stop)
    return _shared


def fresh_repo() -> tuple[str, str]:
    """An `<org>, <repo>` nobody has used on the shared server."""
    return f"org-{uuid.uuid4().hex[:12]}", "repo"


@contextmanager
def make_store(tmp_path: Path) -> Iterator[Store]:
    server = shared_server()
    store = open_store("contract", "lfs+" + server.endpoint(*fresh_repo()))
    try:
        yield store
    finally:
        store.close()  # type: ignore[attr-defined]
