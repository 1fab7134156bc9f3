"""An S3 API server (moto) on loopback for the S3 rows, which counts the requests each
command makes and adds up what a bucket holds.

Counting: moto's server is werkzeug, which logs one line per request it answered
(`"PUT /bucket/key HTTP/1.1" 200 -`); the server's output goes to a log file, `mark()` notes
where it ends before a command, and `requests(mark)` counts the request lines written since
(after waiting until the log has stopped growing: werkzeug logs after it has answered).
Nothing sits between the tool and the server, so the count costs the tools nothing.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

from benchmarks.harness import ROOT, BenchError

_REQUEST = re.compile(rb'"(GET|PUT|POST|HEAD|DELETE) \S+ HTTP/[\d.]+"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class S3Server:
    """moto_server on a free loopback port, its log in `log`; a context manager."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> S3Server:
        exe = shutil.which("moto_server") or str(ROOT / ".venv" / "bin" / "moto_server")
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(self.port)],
                                         env=self.env, stdout=out, stderr=subprocess.STDOUT)
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise BenchError(f"moto_server did not start (see {self.log})")

    def __exit__(self, *_exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()
            self.proc = None

    def client(self) -> object:
        import boto3  # the gitmv venv's, which runs the benchmark

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="bench", aws_secret_access_key="bench")

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)  # type: ignore[attr-defined]

    def bytes_under(self, bucket: str, prefix: str) -> int:
        """The sum of the sizes of the objects under `prefix` (listing requests: measure
        them outside a command's mark)."""
        pages = self.client().get_paginator("list_objects_v2")  # type: ignore[attr-defined]
        return sum(o["Size"] for page in pages.paginate(Bucket=bucket, Prefix=prefix)
                   for o in page.get("Contents", []))

    def mark(self) -> int:
        self._settle()
        return self.log.stat().st_size

    def requests(self, mark: int) -> Counter[str]:
        """Requests answered since `mark`, by method."""
        self._settle()
        with open(self.log, "rb") as f:
            f.seek(mark)
            return Counter(m.group(1).decode() for m in _REQUEST.finditer(f.read()))

    def _settle(self) -> None:
        """Wait until the log stops growing (werkzeug logs a request after answering it)."""
        size = -1
        for _ in range(50):
            now = self.log.stat().st_size
            if now == size:
                return
            size = now
            time.sleep(0.2)


def describe(counts: Counter[str]) -> str:
    """"412 requests (PUT 400, GET 10, HEAD 2)"."""
    total = sum(counts.values())
    parts = ", ".join(f"{k} {v}" for k, v in counts.most_common())
    return f"{total:,} requests" + (f" ({parts})" if parts else "")
