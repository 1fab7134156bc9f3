"""Remote faults against real loopback servers (tests/faultserver.py): a connection dropped
mid-body, 500 then 200, 429 with Retry-After, corrupt bytes, and a server (or the push
itself) killed during a push.

What a test asserts about time comes from the server's own clock (when requests arrived),
never from how long gitmv ran. Every wait is bounded; everything stays on 127.0.0.1.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faultserver import Faults, FaultServer, read_log, stored_objects
from tests.helpers import (
    cache_objects,
    error_lines,
    git,
    git_ok,
    git_run,
    init_bare,
    init_hooked,
    mvm_popen,
    object_path,
    plain_git_env,
    save,
    save_dir,
    sha,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
MIB = 1 << 20


def store_root(tmp_path: Path) -> Path:
    return tmp_path / "http-root"


def publish(tmp_path: Path, url: str, files: dict[str, bytes],
            dirs: dict[str, dict[str, bytes]] | None = None) -> tuple[Path, Path]:
    """alice commits artifacts with remote `web` = url as the default, pushes objects and
    commits; returns (bare git remote, alice)."""
    bare = init_bare(tmp_path / "srv.git")
    alice = init_hooked(tmp_path / "alice", bare)
    git_ok(alice, "mvm", "remote", "add", "web", url, "--default")
    for rel, data in files.items():
        save(alice, rel, data)
    for rel, content in (dirs or {}).items():
        save_dir(alice, rel, content)
    git_ok(alice, "commit", "-q", "-m", "artifacts")
    git_ok(alice, "push", "-q", "-u", "origin", "main")
    return bare, alice


def plain_clone(bare: Path, dest: Path) -> Path:
    git(bare.parent, "clone", "-q", str(bare), str(dest))
    return dest


def assert_store_sound(root: Path) -> dict[str, Path]:
    """Every object under its final name holds the bytes its name says."""
    objects = stored_objects(root)
    for name, path in objects.items():
        assert sha(path.read_bytes()) == name, f"{path} holds wrong bytes under its final name"
    return objects


# --- downloads ---------------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["direct", "proxy"])
def test_a_download_cut_mid_body_resumes_with_range(tmp_path: Path, via: str) -> None:
    model = os.urandom(3 * MIB + 12345)
    cut = MIB + 4321
    with FaultServer(store_root(tmp_path)) as origin:
        server = origin if via == "direct" else FaultServer(upstream=origin.url).start()
        try:
            bare, _ = publish(tmp_path, f"{server.url}/store", {"models/m.pt": model})
            server.faults = Faults(drop_after=cut)
            bob = plain_clone(bare, tmp_path / "bob")
            res = git_run(bob, "mvm", "pull")
            gets = server.requests("GET")
        finally:
            if server is not origin:
                server.stop()
    assert res.returncode == 0, res.stderr
    assert (bob / "models" / "m.pt").read_bytes() == model
    assert len(gets) == 2, gets
    assert gets[0].range is None and gets[0].status < 0  # cut off
    assert gets[1].range == f"bytes={cut}-"  # resumed where the bytes stopped
    assert gets[1].status == 206
    assert not list((bob / ".git" / "mvm" / "tmp").glob("partial-*"))



@pytest.mark.parametrize("kept", ["good", "bad"])
def test_a_partial_download_left_by_an_earlier_run(tmp_path: Path, kept: str) -> None:
    """An interrupted pull leaves `partial-<oid>`: the next pull asks only for the rest; if
    the kept bytes are not the object's, the whole object is fetched again, not refused."""
    model = os.urandom(2 * MIB)
    have = 700_000
    with FaultServer(store_root(tmp_path)) as server:
        bare, _ = publish(tmp_path, f"{server.url}/store", {"m.pt": model})
        bob = plain_clone(bare, tmp_path / "bob")
        partial = bob / ".git" / "mvm" / "tmp" / f"partial-{sha(model)}"
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(model[:have] if kept == "good" else os.urandom(have))
        res = git_run(bob, "mvm", "pull")
        gets = server.requests("GET")
    assert res.returncode == 0, res.stderr
    assert (bob / "m.pt").read_bytes() == model
    assert gets[0].range == f"bytes={have}-"
    assert [g.range for g in gets] == ([f"bytes={have}-"] if kept == "good"
                                       else [f"bytes={have}-", None])
    assert not partial.exists()

def test_500_then_200_is_retried(tmp_path: Path) -> None:
    model = os.urandom(200_000)
    with FaultServer(store_root(tmp_path)) as server:
        bare, _ = publish(tmp_path, f"{server.url}/store", {"m.pt": model})
        server.faults = Faults(fail_first=1, fail_status=500, fail_methods=frozenset({"GET"}))
        bob = plain_clone(bare, tmp_path / "bob")
        res = git_run(bob, "mvm", "pull")
        gets = server.requests("GET")
    assert res.returncode == 0, res.stderr
    assert (bob / "m.pt").read_bytes() == model
    assert [g.status for g in gets] == [500, 200]


def test_5xx_on_upload_is_retried(tmp_path: Path) -> None:
    files = {f"m{i}.pt": os.urandom(50_000) for i in range(3)}
    with FaultServer(store_root(tmp_path),
                     faults=Faults(fail_first=2, fail_status=503,
                                   fail_methods=frozenset({"PUT"}))) as server:
        _, alice = publish(tmp_path, f"{server.url}/store", files)
        puts = server.requests("PUT")
    assert sorted(p.status for p in puts) == [201, 201, 201, 503, 503]
    assert set(assert_store_sound(store_root(tmp_path))) == set(cache_objects(alice))


def test_429_with_retry_after_waits_that_long(tmp_path: Path) -> None:
    model = os.urandom(100_000)
    with FaultServer(store_root(tmp_path)) as server:
        bare, _ = publish(tmp_path, f"{server.url}/store", {"m.pt": model})
        server.faults = Faults(fail_first=1, fail_status=429, retry_after="1",
                               fail_methods=frozenset({"GET"}))
        bob = plain_clone(bare, tmp_path / "bob")
        res = git_run(bob, "mvm", "pull")
        gets = server.requests("GET")
    assert res.returncode == 0, res.stderr
    assert (bob / "m.pt").read_bytes() == model
    assert [g.status for g in gets] == [429, 200]
    assert gets[1].time - gets[0].time >= 0.9  # the server's clock: Retry-After was honoured


def test_gives_up_after_the_attempts_with_one_clear_error(tmp_path: Path) -> None:
    model = os.urandom(10_000)
    with FaultServer(store_root(tmp_path)) as server:
        bare, _ = publish(tmp_path, f"{server.url}/store", {"m.pt": model})
        server.faults = Faults(fail_first=10**6, fail_status=502, retry_after="0",
                               fail_methods=frozenset({"GET"}))
        bob = plain_clone(bare, tmp_path / "bob")
        res = git_run(bob, "mvm", "pull")
        gets = server.requests("GET")
    assert res.returncode == 1
    assert len(gets) == 5  # bounded attempts
    assert "gave up after 5 attempts" in res.stderr and "remote 'web'" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (bob / "m.pt").exists()


@pytest.mark.parametrize("where", ["in-flight", "on-disk"])
def test_corrupt_bytes_are_refused_and_reach_neither_cache_nor_work_tree(
    tmp_path: Path, where: str
) -> None:
    model = os.urandom(150_000)
    with FaultServer(store_root(tmp_path)) as server:
        bare, _ = publish(tmp_path, f"{server.url}/store", {"m.pt": model})
        oid = sha(model)
        if where == "in-flight":
            server.faults = Faults(corrupt=True)
        else:  # what a broken disk or a careless server does
            stored = store_root(tmp_path) / "store" / oid[:2] / oid[2:4] / oid
            stored.write_bytes(b"X" + model[1:])
        bob = plain_clone(bare, tmp_path / "bob")
        res = git_run(bob, "mvm", "pull")
    assert res.returncode == 1
    assert f"sha256:{oid}" in res.stderr and "'web'" in res.stderr
    assert "corrupt" in res.stderr
    assert "Traceback" not in res.stderr
    assert not object_path(bob, oid).exists()
    assert not (bob / "m.pt").exists()
    assert not list((bob / ".git" / "mvm").rglob(f"*{oid}*"))


# --- a server, or the push, killed mid-push ----------------------------------------------------


class ServerProcess:
    """`python -m tests.faultserver` as a real process, its requests logged to a file."""

    def __init__(self, root: Path, log: Path, port: int = 0, *args: str) -> None:
        self.log = log
        deadline = time.monotonic() + 30
        while True:  # a restart may find the port still held for a moment
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.faultserver", "--root", str(root),
                 "--port", str(port), "--log", str(log), *args],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            assert self.proc.stdout is not None
            ready, _, _ = select.select([self.proc.stdout], [], [], 30)
            line = self.proc.stdout.readline() if ready else ""
            if line.startswith("listening on "):
                self.url = line.split()[-1]
                self.port = int(self.url.rsplit(":", 1)[1])
                return
            self.kill()
            if time.monotonic() > deadline:
                raise AssertionError(f"the fault server did not start: {line!r}")
            time.sleep(0.2)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.communicate(timeout=30)


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for s in started:
        s.kill()


def push_fixture(tmp_path: Path, url: str) -> tuple[Path, dict[str, bytes]]:
    """alice with a directory of 8 files and one larger file, committed, nothing pushed."""
    alice = init_hooked(tmp_path / "alice")
    git_ok(alice, "mvm", "remote", "add", "web", url, "--default")
    files = {f"part{i % 2}/f{i}.bin": os.urandom(300_000) for i in range(8)}
    save_dir(alice, "data/train", files)
    save(alice, "models/m.pt", os.urandom(MIB), "artifacts")
    return alice, files


def in_progress_upload(root: Path) -> bool:
    """A non-empty temp file of the server's in the store (one may vanish while we look: the
    server finishes or drops it between our listing and our stat)."""
    for p in (root / ".tmp").glob("*") if (root / ".tmp").is_dir() else ():
        try:
            if p.stat().st_size > 0:
                return True
        except FileNotFoundError:
            continue
    return False


def test_server_killed_and_restarted_during_a_push(
    tmp_path: Path, servers: list[ServerProcess]
) -> None:
    root = store_root(tmp_path)
    log = tmp_path / "server.log"
    first = ServerProcess(root, log, 0, "--put-rate", str(400_000))
    servers.append(first)
    alice, _ = push_fixture(tmp_path, f"{first.url}/store")
    expected = set(cache_objects(alice))

    push = mvm_popen(alice, "push", "-j", "2")
    try:
        killed = wait_for(lambda: bool(stored_objects(root)) and in_progress_upload(root),
                          push, timeout=60)
        assert killed, "the push ended before it could be interrupted"
        first.proc.send_signal(signal.SIGKILL)
        _, err = push.communicate(timeout=120)
    finally:
        if push.poll() is None:
            push.kill()
            push.communicate()
    first.kill()

    assert push.returncode == 1, err
    errors = error_lines(err)
    assert len(errors) == 1, err
    assert "remote 'web'" in errors[0]
    assert "Traceback" not in err
    stored = assert_store_sound(root)  # nothing under its final name with wrong bytes
    assert stored and set(stored) < expected
    leftovers = [p for p in root.rglob("*") if p.is_file() and p.name not in expected]
    assert all(".tmp" in p.relative_to(root).parts for p in leftovers), leftovers

    log.unlink()
    second = ServerProcess(root, log, first.port)  # same URL, no throttle
    servers.append(second)
    res = git_run(alice, "mvm", "push")
    assert res.returncode == 0, res.stderr
    assert set(assert_store_sound(root)) == expected
    puts = [r for r in read_log(log) if r.method == "PUT" and r.status in (200, 201, 204)]
    assert len(puts) == len(expected - set(stored))  # finished objects were not sent again


def test_push_killed_mid_upload_leaves_nothing_half_written(tmp_path: Path) -> None:
    root = store_root(tmp_path)
    with FaultServer(root, faults=Faults(put_rate=300_000)) as server:
        alice, _ = push_fixture(tmp_path, f"{server.url}/store")
        expected = set(cache_objects(alice))
        push = mvm_popen(alice, "push", "-j", "2")
        try:
            assert wait_for(lambda: in_progress_upload(root), push, timeout=60)
            push.send_signal(signal.SIGKILL)
        finally:
            push.communicate(timeout=60)
        # the server notices the cut body and drops its temp file: wait for that (bounded)
        assert wait_for(lambda: not in_progress_upload(root), timeout=30)
        assert set(assert_store_sound(root)) < expected
        server.faults = Faults()
        res = git_run(alice, "mvm", "push")
    assert res.returncode == 0, res.stderr
    assert set(assert_store_sound(root)) == expected



# --- downloads are bounded: by the size the pointer names, and by a deadline ------------------


def test_a_server_that_never_stops_sending_is_cut_at_the_pointers_size(tmp_path: Path) -> None:
    model = os.urandom(100_000)
    extra = 64 * MIB  # zeros after the object, with no Content-Length: "endless" for a test
    with FaultServer(store_root(tmp_path)) as server:
        bare, _ = publish(tmp_path, f"{server.url}/store", {"m.pt": model})
        server.faults = Faults(endless=extra)
        bob = plain_clone(bare, tmp_path / "bob")
        res = git_run(bob, "mvm", "pull")
        gets = server.requests("GET")
    assert res.returncode == 1
    assert f"sha256:{sha(model)}" in res.stderr, res.stderr
    assert f"more than the {len(model)} bytes" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert not (bob / "m.pt").exists()
    # the client hung up right after the size, it did not take in the 64 MiB
    assert all(g.sent < len(model) + 8 * MIB for g in gets), [g.sent for g in gets]
    leftovers = list((bob / ".git" / "mvm" / "tmp").glob("partial-*"))
    assert all(p.stat().st_size <= len(model) for p in leftovers)


def test_a_download_that_trickles_stops_at_its_deadline(tmp_path: Path) -> None:
    """A byte every 20 ms never trips the per-read `timeout`; the overall deadline (here made
    small in the repository's config: 1 s + size at 1 MiB/s) stops it, and the bytes that
    came are kept for the next run to resume from."""
    model = os.urandom(50_000)
    with FaultServer(store_root(tmp_path)) as server:
        bare, _ = publish(tmp_path, f"{server.url}/store", {"m.pt": model})
        server.faults = Faults(trickle=0.02)
        bob = plain_clone(bare, tmp_path / "bob")
        (bob / ".git" / "mvm").mkdir(parents=True, exist_ok=True)
        (bob / ".git" / "mvm" / "config.toml").write_text(
            '[transfer]\ndeadline = 1\nmin_rate = "1MiB"\n')
        try:
            res = subprocess.run(["git", "mvm", "pull"], cwd=bob, capture_output=True, text=True,
                                 env=plain_git_env(["mvm"]),
                                 timeout=120)  # a guard against a hang, not a time check
        except subprocess.TimeoutExpired:
            pytest.fail("the pull never ended: downloads have no overall deadline")
        server.faults = Faults()
        partial = bob / ".git" / "mvm" / "tmp" / f"partial-{sha(model)}"
        kept = partial.stat().st_size if partial.exists() else 0
        again = git_run(bob, "mvm", "pull")
        gets = server.requests("GET")
    assert res.returncode == 1
    assert "deadline" in res.stderr and "transfer.min_rate" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert 0 < kept < len(model)
    assert again.returncode == 0, again.stderr
    assert (bob / "m.pt").read_bytes() == model
    assert gets[-1].range == f"bytes={kept}-"  # resumed from what the slow run kept
