"""No hint sends a person round in a circle.

For the main ways a pull, fetch, checkout, push or gc fails (an object no remote has, a store
that is not there, a clone without gitmv's hooks), each hint is followed once, as a person
would: the next step either succeeds, or fails with a different instruction that names what
to do (never the command that just failed, never the hint just given).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.helpers import git_ok, mvm_proc, plain_git_env, save
from tests.transfer.team import DirStore, Team, join, start_team


def hints(err: str) -> list[str]:
    """The `hint:` lines, and the warnings' advice, of a stderr."""
    return [line.split("hint:", 1)[1].strip() for line in err.splitlines() if "hint:" in line] \
        + [line for line in err.splitlines() if "warning:" in line and "`" in line]


def commands_in(hint: str) -> list[str]:
    return re.findall(r"`(git [^`]*)`", hint)


def assert_moves_on(before: list[str], proc: subprocess.CompletedProcess[str]) -> None:
    """The step after a hint succeeded, or gives another, actionable instruction."""
    if proc.returncode == 0:
        return
    after = hints(proc.stderr)
    assert after, proc.stderr
    assert not set(after) & set(before), (before, proc.stderr)
    assert any(commands_in(h) or "`" in h for h in after), proc.stderr


def published_without_bytes(tmp_path: Path) -> tuple[Team, Path, str]:
    """alice commits a model and pushes the commit past her pre-push hook (`--no-verify`):
    its pointer is on origin, its bytes on no remote. bob clones."""
    team = start_team(tmp_path, DirStore(tmp_path / "store"))
    save(team.alice, "lost.pt", os.urandom(3000), "lost")
    git_ok(team.alice, "push", "-q", "--no-verify", "origin", "main")
    return team, join(team, tmp_path / "bob"), "lost.pt"


def test_an_object_no_remote_has(tmp_path: Path) -> None:
    team, bob, lost = published_without_bytes(tmp_path)
    pull = mvm_proc(bob, "pull")
    assert pull.returncode == 1
    said = hints(pull.stderr)
    # pulling again cannot help: no hint of pull may say pull, fetch or checkout
    for hint in said:
        assert not any(re.match(r"git mvm (pull|fetch|checkout)", c) for c in commands_in(hint)), \
            pull.stderr
    assert any("git mvm push" in h for h in said), pull.stderr
    here = re.compile(r"git mvm (pull|fetch|checkout|status)\b")  # what bob is told to run
    for args in (["checkout"], ["fetch"], ["push"]):  # their hints, followed once
        first = mvm_proc(bob, *args)
        assert first.returncode == 1, first.stderr
        for cmd in {c for h in hints(first.stderr) for c in commands_in(h)}:
            if here.match(cmd):
                assert_moves_on(hints(first.stderr), mvm_proc(bob, *cmd.split()[2:]))
    subprocess.run(["git", "checkout", "-q", "HEAD~1"], cwd=bob, capture_output=True,
                   text=True, env=plain_git_env(["checkout"]))
    hook = subprocess.run(["git", "checkout", "-q", "main"], cwd=bob, capture_output=True,
                          text=True, env=plain_git_env(["checkout"]))
    for cmd in {c for h in hints(hook.stderr) for c in commands_in(h)}:
        if here.match(cmd):
            assert_moves_on(hints(hook.stderr), mvm_proc(bob, *cmd.split()[2:]))
    # the instruction, followed where it points: alice pushes, bob's pull goes through
    assert mvm_proc(team.alice, "push").returncode == 0
    done = mvm_proc(bob, "pull")
    assert done.returncode == 0, done.stderr
    assert (bob / lost).exists()


def test_a_store_that_is_not_there(tmp_path: Path) -> None:
    team = start_team(tmp_path, DirStore(tmp_path / "store"))
    carol = join(team, tmp_path / "carol")
    shutil.move(tmp_path / "store", tmp_path / "store-away")  # an unmounted share
    for args in (["pull"], ["fetch"], ["checkout"]):
        first = mvm_proc(carol, *args)
        assert first.returncode == 1, first.stderr
        said = hints(first.stderr)
        assert said, first.stderr
        if args != ["checkout"]:
            assert str(tmp_path / "store") in first.stderr, first.stderr
            assert len([x for x in first.stderr.splitlines() if "error:" in x]) == 1, \
                first.stderr
        for cmd in {c for h in said for c in commands_in(h)}:
            if cmd.startswith("git mvm "):
                assert_moves_on(said, mvm_proc(carol, *cmd.split()[2:]))
    shutil.move(tmp_path / "store-away", tmp_path / "store")  # mounted again
    done = mvm_proc(carol, "pull")
    assert done.returncode == 0, done.stderr


def test_a_clone_without_gitmv_hooks(tmp_path: Path) -> None:
    team = start_team(tmp_path, DirStore(tmp_path / "store"))
    dave = tmp_path / "dave"
    subprocess.run(["git", "clone", "-q", str(team.origin), str(dave)], check=True,
                   env=plain_git_env(["clone"]))
    first = mvm_proc(dave, "checkout")
    assert first.returncode == 1, first.stderr
    said = hints(first.stderr)
    cmds = {c for h in said for c in commands_in(h)}
    assert cmds, first.stderr
    for cmd in cmds:
        assert_moves_on(said, mvm_proc(dave, *cmd.split()[2:]))
    assert mvm_proc(dave, "status").returncode == 0
