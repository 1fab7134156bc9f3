"""Contract-suite factory for the S3 store, and the moto server (`moto_server`, moto's S3 API
server) it runs against on 127.0.0.1.

One server per test process, started on first use on a free port and stopped at exit, so each
pytest-xdist worker has its own; every store gets a fresh bucket. `MotoServer(auth=True)`
starts a separate server that checks credentials (IAM users made through moto's IAM API).
"""

from __future__ import annotations

import atexit
import itertools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from gitmv.remotes.base import Store, open_store

ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"
REGION = "us-east-1"

# Everything boto3 would otherwise read from the environment or reach over the network
# (instance metadata is not loopback): the tests set exactly what they mean.
AWS_ENV_CLEARED = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
    "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
    "AWS_REGION", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CA_BUNDLE",
)


def aws_env(access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def set_aws_env(mp: pytest.MonkeyPatch, access_key: str = ACCESS_KEY,
                secret_key: str = SECRET_KEY) -> None:
    for key in AWS_ENV_CLEARED:
        mp.delenv(key, raising=False)
    for key, value in aws_env(access_key, secret_key).items():
        mp.setenv(key, value)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def stop_process(proc: subprocess.Popen[bytes] | None) -> None:
    """A test server's process ended: asked to, then killed if it does not within 10 s."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, even by kill -9 (Linux)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class MotoServer:
    _buckets = itertools.count()

    def __init__(self, auth: bool = False) -> None:
        self.auth = auth
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log = Path(tempfile.mkstemp(prefix="moto-", suffix=".log")[1])
        self.keys: dict[str, tuple[str, str]] = {}  # IAM user -> (access key, secret)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        exe = os.path.join(os.path.dirname(sys.executable), "moto_server")
        cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "moto.server"]
        for _ in range(5):  # a free port may be taken before the server binds it: try another
            self.port = free_port()
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(
                    [*cmd, "-H", "127.0.0.1", "-p", str(self.port)], stdout=log, stderr=log,
                    stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
                )
            if self._wait_ready():
                atexit.register(self.stop)
                if self.auth:
                    self._enable_auth()
                return self
            self.stop(keep_log=True)
        raise RuntimeError(f"moto_server did not start: see {self.log}")

    def _wait_ready(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        assert self.proc is not None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=2):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self, keep_log: bool = False) -> None:
        stop_process(self.proc)
        self.proc = None
        if not keep_log:
            self.log.unlink(missing_ok=True)

    def client(self, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY,
               service: str = "s3") -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=REGION
        ).client(service, endpoint_url=self.endpoint)

    def new_bucket(self) -> str:
        name = f"gitmv-test-{os.getpid()}-{next(self._buckets)}"
        access, secret = self.keys.get("writer", (ACCESS_KEY, SECRET_KEY))
        self.client(access, secret).create_bucket(Bucket=name)
        return name

    def _enable_auth(self) -> None:
        """Make IAM users `writer` (s3:* allowed) and `nobody` (no policy) while moto does not
        check yet, then make it check every request."""
        iam = self.client(service="iam")
        for user in ("writer", "nobody"):
            iam.create_user(UserName=user)
            key = iam.create_access_key(UserName=user)["AccessKey"]
            self.keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])
        iam.put_user_policy(
            UserName="writer", PolicyName="s3",
            PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
            '"Action": "s3:*", "Resource": "*"}]}',
        )
        req = urllib.request.Request(f"{self.endpoint}/moto-api/reset-auth", data=b"0",
                                     method="POST", headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(req, timeout=10):
            pass


_servers: dict[bool, MotoServer] = {}


def server(auth: bool = False) -> MotoServer:
    """This process's moto server (started on first use, stopped at exit)."""
    if auth not in _servers:
        _servers[auth] = MotoServer(auth=auth).start()
    return _servers[auth]


@contextmanager
def make_store(tmp_path: Path) -> Iterator[Store]:
    with pytest.MonkeyPatch.context() as mp:
        set_aws_env(mp)
        srv = server()
        bucket = srv.new_bucket()
        yield open_store("contract", f"s3://{bucket}/objects",
                         {"endpoint_url": srv.endpoint, "region": REGION})
