"""A relative store path in the tracked config (`url = "../store"`) is relative to the
repository root, wherever the command runs: from a subdirectory, in a sibling clone; a clone in
another place whose `../store` does not exist is told that directory is missing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.helpers import configure, error_lines, git, git_ok, init_bare, init_hooked, mvm_proc, sha
from tests.storefiles import DirFiles, object_ids


def test_relative_store_path_resolves_against_the_repository_root(tmp_path: Path) -> None:
    server = init_bare(tmp_path / "server.git")
    store = tmp_path / "store"
    store.mkdir()
    alice = init_hooked(tmp_path / "alice", origin=server)
    configure(alice, "core", 'remote = "team"')
    configure(alice, "remote.team", 'url = "../store"')
    git(alice, "add", ".mvm/config.toml")
    (alice / "sub").mkdir()
    data = os.urandom(3000)
    (alice / "sub" / "m.pt").write_bytes(data)
    proc = mvm_proc(alice / "sub", "add", "m.pt")
    assert proc.returncode == 0, proc.stderr
    git_ok(alice, "commit", "-q", "--no-verify", "-m", "model")
    proc = mvm_proc(alice / "sub", "push")  # from a subdirectory: ../store is alice/store
    assert proc.returncode == 0, proc.stderr
    assert not (alice / "store").exists() and not (alice / "sub" / "store").exists()
    assert object_ids(DirFiles(store)) == {sha(data)}  # (in a pack: layout 2, the default)
    git_ok(alice, "push", "-q", "origin", "main")

    bob = tmp_path / "bob"  # a sibling clone: its ../store is the same directory
    subprocess.run(["git", "clone", "-q", str(server), str(bob)], check=True)
    proc = mvm_proc(bob / "sub", "pull")
    assert proc.returncode == 0, proc.stderr
    assert (bob / "sub" / "m.pt").read_bytes() == data

    carol = tmp_path / "far" / "carol"  # elsewhere: its ../store is not there
    subprocess.run(["git", "clone", "-q", str(server), str(carol)], check=True)
    proc = mvm_proc(carol / "sub", "pull")
    assert proc.returncode == 1
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert str(tmp_path / "far" / "store") in lines[0] and "does not exist" in lines[0], lines
    assert "push" not in proc.stderr.split("hint:")[-1], proc.stderr  # not "ask them to push"
    proc = mvm_proc(carol, "push")  # nor does a push start a store nobody else reads
    assert proc.returncode == 1 and "does not exist" in proc.stderr, proc.stderr
    assert not (tmp_path / "far" / "store").exists()
