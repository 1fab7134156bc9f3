"""`git mvm rollback MODEL STAGE --dry-run`, the rollback drill, on every store kind a model
lives on (a directory, S3 on moto, Git LFS on giftless): real git, real servers.

The invariant: the drill exits 0 only when the real rollback then succeeds and puts back
exactly what the drill said (the same tags on the same commit) with bytes the store holds
verified; any object of the target missing, corrupt (same size, other bytes) or cut short on
the store, or a failing gate of a protected stage, is exit 1 and one line naming the object
(or the gate). The drill writes no tag and touches no work-tree file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import error_lines, git, mvm, read_pointer, run, save_dir
from tests.registry.test_registry import MODEL, Clock, setup_project, train
from tests.remotes.kinds import Remote, add_remote, remote_of

DRILL_KINDS = ["local", "s3", "lfs"]
WEIGHTS = [b"weights of v1.0.0 " * 40, b"weights of v1.1.0 " * 40]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


@pytest.fixture
def project(repo: Path, clock: Clock) -> Path:
    setup_project(repo)
    return repo


@pytest.fixture(params=DRILL_KINDS)
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Remote]:
    with remote_of(request.param, tmp_path) as r:
        yield r


def promoted(project: Path, clock: Clock, remote: Remote) -> str:
    """v1.0.0 then v1.1.0 in production (protected: accuracy no-regression), every version's
    bytes pushed; returns v1.0.0's object (what a rollback puts back)."""
    add_remote(project, remote)
    oids = []
    for i, data in enumerate(WEIGHTS):
        clock.tick()
        train(project, data, 0.90 + i / 100)
        oids.append(read_pointer(project, MODEL)["oid"].removeprefix("sha256:"))
        assert mvm(project, "register", "-q", "--no-env", "classifier", f"v1.{i}.0") == 0
        clock.tick()
        assert mvm(project, "promote", "-q", "classifier", f"v1.{i}.0", "production") == 0
    assert mvm(project, "push", "-q", "--all-commits") == 0
    return oids[0]


def tags(repo: Path) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname:strip=2) %(*objectname)", "refs/tags")
    return dict(line.split(" ", 1) for line in out.splitlines())


def drill(capsys: pytest.CaptureFixture[str], repo: Path, *args: str) -> tuple[int, dict, str]:
    res = run(capsys, repo, "rollback", "classifier", "production", "--dry-run", "--json",
              *args)
    return res.rc, json.loads(res.out), res.err


def test_drill_passes_then_the_rollback_does_what_it_said(
    project: Path, clock: Clock, remote: Remote, capsys: pytest.CaptureFixture[str]
) -> None:
    oid = promoted(project, clock, remote)
    before, tree = tags(project), git(project, "status", "--porcelain")
    rc, out, err = drill(capsys, project)
    assert rc == 0, err
    assert (out["ok"], out["current"], out["target"], out["oid"], out["problems"]) == (
        True, "v1.1.0", "v1.0.0", oid, [])
    assert out["gates"] == "passed" and out["checked"] == 1
    assert out["tags"] == ["classifier#production#3", "classifier#production!#4"]
    # nothing written
    assert tags(project) == before and git(project, "status", "--porcelain") == tree
    text = run(capsys, project, "rollback", "classifier", "production", "-n")
    assert text.rc == 0 and "would write tag classifier#production#3" in text.err \
        and "drill passed" in text.err
    clock.tick()
    assert mvm(project, "rollback", "-q", "classifier", "production") == 0
    after = tags(project)
    assert set(after) - set(before) == set(out["tags"])
    assert after[out["tags"][0]] == out["commit"]  # the tag the drill named, on its commit
    assert after[out["tags"][1]] == before["classifier@v1.1.0"]


@pytest.mark.parametrize("damage", ["missing", "corrupt", "cut short"])
def test_drill_fails_when_the_targets_bytes_are_not_on_the_store(
    project: Path, clock: Clock, remote: Remote, capsys: pytest.CaptureFixture[str],
    damage: str,
) -> None:
    oid = promoted(project, clock, remote)
    if damage == "missing":
        remote.delete(oid)
    elif damage == "corrupt":  # the same size, other bytes
        remote.write(oid, b"X" * len(WEIGHTS[0]))
    else:
        remote.write(oid, WEIGHTS[0][:-7])
    before = tags(project)
    rc, out, err = drill(capsys, project)
    assert rc == 1 and out["ok"] is False
    assert [p["oid"] for p in out["problems"]] == [oid]
    kind = out["problems"][0]["kind"]
    assert kind == {"missing": "missing", "corrupt": "corrupt"}.get(damage, kind)
    assert kind in ("wrong size", "corrupt") if damage == "cut short" else True
    lines = error_lines(err)
    assert len(lines) == 1 and f"sha256:{oid}" in lines[0] and MODEL in lines[0], err
    assert lines[0].startswith("git mvm: error: rollback drill failed: ")
    assert tags(project) == before


def test_drill_checks_every_file_of_a_directory_artifact(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with remote_of("local", tmp_path) as remote:
        cfg = project / ".mvm" / "config.toml"
        cfg.write_text(cfg.read_text().replace('path = "models/classifier.pt"',
                                               'path = "models/clf"'))
        add_remote(project, remote)
        for i in range(2):
            clock.tick()
            save_dir(project, "models/clf", {"a.bin": f"a{i}".encode() * 100,
                                             "b.bin": f"b{i}".encode() * 100})
            git(project, "add", "-A")
            git(project, "commit", "-q", "-m", f"train {i}")
            assert mvm(project, "register", "-q", "--no-env", "classifier", f"v1.{i}.0") == 0
            clock.tick()
            assert mvm(project, "promote", "-q", "classifier", f"v1.{i}.0", "staging") == 0
        assert mvm(project, "push", "-q", "--all-commits") == 0
        res = run(capsys, project, "rollback", "classifier", "staging", "-n", "--json")
        out = json.loads(res.out)
        assert res.rc == 0 and out["checked"] == 3 and out["gates"] == "unprotected", res.err
        from hashlib import sha256

        inner = sha256(b"b0" * 100).hexdigest()
        remote.write(inner, b"b9" * 100)
        res = run(capsys, project, "rollback", "classifier", "staging", "-n")
        assert res.rc == 1
        lines = error_lines(res.err)
        assert len(lines) == 1 and lines[0].startswith(
            "git mvm: error: rollback drill failed: models/clf/b.bin: object "
            f"sha256:{inner} is corrupt on the store"), res.err


def test_drill_fails_when_the_target_fails_the_stages_gates(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with remote_of("local", tmp_path) as remote:
        promoted(project, clock, remote)
        # the gates tightened since v1.0.0 went in: it no longer passes them
        cfg = project / ".mvm" / "config.toml"
        cfg.write_text(cfg.read_text().replace('accuracy = "no-regression"',
                                               'accuracy = ">= 0.905"'))
        before = tags(project)
        rc, out, err = drill(capsys, project)
        assert rc == 1 and out["gates"] == "failed" and out["problems"] == []
        assert out["failed_gates"] and "accuracy >= 0.905" in out["failed_gates"][0]
        lines = error_lines(err)
        assert len(lines) == 1 and "v1.0.0 fails the gates of production" in lines[0]
        assert tags(project) == before
        # a drill refuses what the rollback refuses, before it checks anything
        res = run(capsys, project, "rollback", "classifier", "production", "-n", "--to",
                  "v1.1.0")
        assert res.rc == 1 and error_lines(res.err) == [
            "git mvm: error: classifier v1.1.0 is already in production"]


def test_drill_refuses_as_the_rollback_refuses(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with remote_of("local", tmp_path) as remote:
        promoted(project, clock, remote)
        for args in (("classifier", "staging"), ("classifier", "production", "--to", "v9.0.0")):
            drilled = run(capsys, project, "rollback", *args, "--dry-run")
            real = run(capsys, project, "rollback", *args)
            assert drilled.rc == real.rc == 1
            assert error_lines(drilled.err) == error_lines(real.err)


def test_options_only_a_real_rollback_uses_are_refused_with_the_drill(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """-m, --sign and --push write or send a tag: with --dry-run they would silently do
    nothing, so they are refused (usage error, exit 2) and no tag is written."""
    with remote_of("local", tmp_path) as remote:
        promoted(project, clock, remote)
        before = git(project, "tag", "-l")
        for extra in (("-m", "why"), ("--sign",), ("--push",)):
            res = run(capsys, project, "rollback", "classifier", "production", "--dry-run",
                      *extra)
            assert res.rc == 2 and extra[0] in res.err and "Traceback" not in res.err
        assert git(project, "tag", "-l") == before
