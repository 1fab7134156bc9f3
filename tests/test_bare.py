"""In a bare repository (a central server, a CI mirror) the read-only commands work, reading
pointers from git objects and bytes from the store (the server's own `mvm/objects`, or the
mirror's remote); every other command refuses with one line saying it is a bare repository."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import (
    configure,
    error_lines,
    git,
    git_ok,
    init_bare,
    init_hooked,
    mvm,
    mvm_proc,
    save,
    sha,
)


@pytest.fixture
def server(tmp_path: Path) -> tuple[Path, bytes]:
    server = init_bare(tmp_path / "server.git")
    alice = init_hooked(tmp_path / "alice", origin=server)
    configure(alice, "metrics", 'files = ["metrics.toml"]')
    cfg = alice / ".mvm" / "config.toml"
    cfg.write_text(cfg.read_text() + '\n[gates]\naccuracy = ">= 0.5"\n')
    (alice / "metrics.toml").write_text("accuracy = 0.7\n")
    git(alice, "add", ".mvm/config.toml", "metrics.toml")
    v1 = os.urandom(4000)
    save(alice, "model.pt", v1, "model v1")
    (alice / "metrics.toml").write_text("accuracy = 0.9\n")
    git(alice, "add", "metrics.toml")
    git_ok(alice, "commit", "-q", "-m", "better")
    assert mvm(alice, "register", "-q", "clf", "v1.0.0", "--path", "model.pt") == 0
    git_ok(alice, "push", "-q", "origin", "main", "--tags")
    return server, v1


def ok(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = mvm_proc(cwd, *args)
    assert proc.returncode == 0, (args, proc.stderr)
    assert "Traceback" not in proc.stderr
    return proc


@pytest.mark.parametrize("kind", ["server", "mirror"])
def test_read_only_commands_work_in_a_bare_repository(
    tmp_path: Path, server: tuple[Path, bytes], kind: str
) -> None:
    bare, v1 = server
    if kind == "mirror":  # a CI mirror: bytes come from the remote's store
        bare = tmp_path / "mirror.git"
        subprocess.run(["git", "clone", "-q", "--mirror", str(server[0]), str(bare)],
                       check=True)
    assert "clf" in ok(bare, "show").stdout
    assert "v1.0.0" in ok(bare, "history", "clf").stdout
    out = tmp_path / f"got-{kind}.pt"
    ok(bare, "get", "clf@v1.0.0", "-o", str(out))
    assert sha(out.read_bytes()) == sha(v1)
    shown = json.loads(ok(bare, "metrics", "show", "--json").stdout)
    assert "0.9" in json.dumps(shown)
    assert "accuracy" in ok(bare, "metrics", "diff", "HEAD~1", "HEAD").stdout
    ok(bare, "check", "--baseline", "HEAD~1")
    assert "model.pt" in ok(bare, "report", "HEAD~2", "HEAD").stdout


@pytest.mark.parametrize("args", [["status"], ["add", "x"], ["checkout"], ["pull"], ["push"],
                                  ["ls"], ["gc"], ["install"]])
def test_other_commands_refuse_in_a_bare_repository(
    server: tuple[Path, bytes], args: list[str]
) -> None:
    proc = mvm_proc(server[0], *args)
    assert proc.returncode == 1, (args, proc.stderr)
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and "bare repository" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
