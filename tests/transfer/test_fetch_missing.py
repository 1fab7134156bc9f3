"""When the store lacks an object a pull needs, no fetch can bring it: the error names the
artifact and the commit that need it, and the hint sends the user to a clone that has it
(`git mvm push --all-commits` there), never round to `git mvm pull` again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import clone_hooked, git_ok, init_bare, init_hooked, rev, run, save, save_dir
from tests.remotes.kinds import add_remote, remote_of


def test_pull_of_an_object_nobody_pushed_says_where_it_can_come_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with remote_of("local", tmp_path) as remote:
        origin = init_bare(tmp_path / "origin.git")
        alice = init_hooked(tmp_path / "alice", origin)
        add_remote(alice, remote)
        model = os.urandom(4000)
        save(alice, "models/m.pt", model, "model")
        save_dir(alice, "data", {"a.bin": os.urandom(300), "b.bin": os.urandom(301)}, "data")
        commit = rev(alice)
        git_ok(alice, "push", "-q", "--no-verify", "origin", "main")  # git only: no bytes
        (tmp_path / "dir-store").mkdir(exist_ok=True)  # the store is there, without them
        bob = clone_hooked(origin, tmp_path / "bob")

        res = run(capsys, bob, "pull")
        assert res.rc == 1
        assert "models/m.pt" in res.err and commit[:12] in res.err, res.err
        hints = [ln for ln in res.err.splitlines() if ln.startswith("hint:")]
        assert hints and all("git mvm pull" not in h and "run the command again" not in h
                             for h in hints), res.err
        assert any("git mvm push --all-commits" in h and commit[:12] in h for h in hints), \
            res.err
        assert "Traceback" not in res.err

        res = run(capsys, alice, "push", "--all-commits")  # what the hint says, where it says
        assert res.rc == 0, res.err
        res = run(capsys, bob, "pull")
        assert res.rc == 0, res.err
        assert (bob / "models" / "m.pt").read_bytes() == model
