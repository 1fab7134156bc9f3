"""What killed uploads leave on a directory store (read-only `.mvm-tmp.<pid>.<host>.<random>`
files beside the objects) is removed by every `fsck --remote --repair` (whether or not
anything else was wrong) and every `gc --remote`, which say how many and how large; what a
live writer is still writing is left alone. (S3's stale multipart uploads: test_s3_integrity.)
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from gitmv.fsutil import host_tag
from tests.helpers import git_ok, init_bare, init_hooked, make_old, run, save
from tests.remotes.kinds import add_remote, remote_of


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def leave_temps(store: Path, oid: str) -> tuple[list[Path], list[Path]]:
    """Temp files beside `oid` on the store: (those whose writer is gone, those whose writer
    may be alive)."""
    where = store / oid[:2] / oid[2:4]
    host = host_tag()

    def temp(name: str, size: int) -> Path:
        path = where / f".mvm-tmp.{name}"
        path.write_bytes(b"x" * size)
        path.chmod(0o444)
        return path

    dead = [temp(f"{dead_pid()}.{host}.aaaaaaaaaaaa", 300_000),  # killed on this host
            temp("4242.0ther0ho.bbbbbbbbbbbb", 200_000)]  # another host's, untouched 2 h
    make_old([dead[1]])
    alive = [temp(f"{os.getpid()}.{host}.cccccccccccc", 1000),  # a live writer here
             temp("4242.0ther0ho.dddddddddddd", 1000)]  # another host's, fresh
    return dead, alive


@pytest.mark.parametrize("command", [["fsck", "--remote", "--repair"], ["gc", "--remote"]])
def test_dead_upload_temp_files_are_removed_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    with remote_of("local", tmp_path) as remote:
        alice = init_hooked(tmp_path / "alice", init_bare(tmp_path / "origin.git"))
        # (temp files beside a loose object: layout 1; a pack's: test_packed_faults.py)
        add_remote(alice, remote._replace(settings={**remote.settings, "packs": "false"}))
        oid = save(alice, "m.pt", os.urandom(5000), "model")
        git_ok(alice, "push", "-q", "origin", "main")  # (the hook pushes the object)
        store = Path(remote.url)
        dead, alive = leave_temps(store, oid)

        res = run(capsys, alice, *command)
        assert res.rc == 0, res.out + res.err
        assert [p for p in dead if p.exists()] == []
        assert all(p.exists() for p in alive)
        assert "removed 2 dead upload temp files (500.0 KB)" in res.err, res.err
        assert remote.read(oid) is not None

        dead, _ = leave_temps(store, oid)
        res = run(capsys, alice, *command, "--json")
        assert res.rc == 0, res.out + res.err
        report = json.loads(res.out)
        temps = report["remote"]["temps_removed"] if command[0] == "fsck" else \
            report["store_temps"]
        assert temps == {"removed": 2, "bytes": 500_000}, report
