"""The model registry on real repositories: register, promote, rollback, unassign, deprecate,
show, history, get; every refusal; counters and stage order; concurrent clones."""

from __future__ import annotations

import json
import platform
import tomllib
from pathlib import Path
from typing import Any

import pytest

from gitmv.registry.semver import SemVer
from tests.helpers import (
    cache_objects,
    corrupt_remote_object,
    error_lines,
    git,
    git_ok,
    git_run,
    init_bare,
    mvm,
    object_path,
    remote_oids,
    rev,
    run,
    run_json,
    save,
    save_dir,
    sha,
    tree_digest,
    write,
)

MODEL = "models/classifier.pt"
CONFIG = """
[metrics]
files = ["metrics.toml"]
better = { accuracy = "higher", loss = "lower" }

[params]
files = ["params.toml"]

[gates]
accuracy = "no-regression"

[registry]
stages = ["dev", "staging", "production"]
protected = ["production"]

[models.classifier]
path = "models/classifier.pt"
metrics = ["metrics.toml"]
params = ["params.toml"]
data = ["data/train"]
description = "sorts things"
"""


class Clock:
    """Tagger dates one second apart, so GTO's time order is unambiguous too."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.now = 1_800_000_000

    def tick(self) -> None:
        self.now += 1
        self.monkeypatch.setenv("GIT_COMMITTER_DATE", f"{self.now} +0000")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


def setup_project(repo: Path) -> None:
    cfg = repo / ".mvm" / "config.toml"
    cfg.write_text(cfg.read_text().replace("[metrics]\n", "[old-metrics]\n")
                   .replace("[params]\n", "[old-params]\n") + CONFIG)
    save_dir(repo, "data/train", {"a.csv": b"1,2\n", "b.csv": b"3,4\n"})
    git(repo, "add", "-A")
    git_ok(repo, "commit", "-q", "-m", "config and data")


def train(repo: Path, data: bytes, accuracy: float, lr: float = 0.1) -> str:
    """A new model version: bytes, metrics, params, one commit; returns the commit."""
    write(repo / "metrics.toml", f"accuracy = {accuracy}\nloss = {1 - accuracy:.2f}\n")
    write(repo / "params.toml", f"[train]\nlr = {lr}\n")
    save(repo, MODEL, data)
    git(repo, "add", "metrics.toml", "params.toml")
    git_ok(repo, "commit", "-q", "-m", f"train {accuracy}")
    return rev(repo)


def tag_message(repo: Path, tag: str) -> tuple[str, dict[str, Any]]:
    """(subject, [gitmv] table) of an annotated tag."""
    assert git(repo, "cat-file", "-t", f"refs/tags/{tag}").strip() == "tag"
    text = git(repo, "tag", "-l", "--format=%(contents)", tag)
    subject, _, body = text.partition("\n\n")
    return subject, tomllib.loads(body)["gitmv"]


def show(capsys: pytest.CaptureFixture[str], repo: Path, *args: str) -> dict[str, Any]:
    out = run_json(capsys, repo, "show", *args)
    return {m["model"]: m for m in out["models"]}


def stages(capsys: pytest.CaptureFixture[str], repo: Path) -> dict[str, str]:
    model = show(capsys, repo)["classifier"]
    return {s: v["version"] for s, v in model["stages"].items()}


@pytest.fixture
def project(repo: Path, clock: Clock) -> Path:
    setup_project(repo)
    return repo


# --- semver ----------------------------------------------------------------------------------


def test_semver_precedence_follows_the_spec() -> None:
    spec_order = ["v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-alpha.beta", "v1.0.0-beta",
                  "v1.0.0-beta.2", "v1.0.0-beta.11", "v1.0.0-rc.1", "v1.0.0", "v1.0.1",
                  "v1.1.0", "v1.10.0", "v2.0.0"]
    shuffled = spec_order[::-1][3:] + spec_order[::-1][:3]
    assert sorted(shuffled, key=lambda t: SemVer.parse(t).key()) == spec_order
    assert SemVer.parse("v1.0.0+a").precedence() == SemVer.parse("v1.0.0+b").precedence()
    assert str(SemVer.parse("v1.2.3-rc.1+build.5")) == "v1.2.3-rc.1+build.5"
    assert str(SemVer.parse("v1.2.3").bump("minor")) == "v1.3.0"
    assert str(SemVer.parse("v1.2.3").bump("major")) == "v2.0.0"
    assert str(SemVer.parse("v1.3.0-rc.1").bump("patch")) == "v1.3.0"
    for bad in ("1.0.0", "v1.0", "v01.0.0", "v1.0.0-01", "v1.0.0-", "v1.0.0+"):
        assert not SemVer.is_valid(bad), bad


# --- register --------------------------------------------------------------------------------


def test_register_writes_an_annotated_tag_with_the_snapshot(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    commit = train(project, b"weights v1", 0.91)
    clock.tick()
    assert mvm(project, "register", "classifier", "v1.0.0", "-m", "first model") == 0
    subject, snap = tag_message(project, "classifier@v1.0.0")
    assert subject == "first model"
    assert git(project, "rev-parse", "classifier@v1.0.0^{commit}").strip() == commit
    assert snap["format"] == 1 and snap["event"] == "register"
    assert (snap["model"], snap["version"], snap["path"]) == (
        "classifier", "v1.0.0", MODEL)
    assert (snap["kind"], snap["oid"], snap["size"]) == (
        "file", f"sha256:{sha(b'weights v1')}", 10)
    assert snap["commit"] == commit
    assert snap["author"] == "Test <test@example.com>"
    assert snap["date"] == "2027-01-15T08:00:01+00:00"
    assert snap["description"] == "sorts things"
    assert snap["params"] == {"params.toml": {"train.lr": 0.1}}
    assert snap["metrics"] == {"metrics.toml": {"accuracy": 0.91, "loss": 0.09}}
    data_oid = tomllib.loads(git(project, "show", "HEAD:data/train.mvm"))["oid"]
    assert snap["data"] == {"data/train": {"kind": "dir", "oid": data_oid, "size": 8,
                                           "files": 2}}
    assert snap["env"]["python"] == platform.python_version()
    assert "tomlkit" in snap["env"]["packages"]

    clock.tick()
    train(project, b"weights v2", 0.92)
    assert mvm(project, "register", "classifier", "--no-env") == 0
    _, snap = tag_message(project, "classifier@v1.0.1")
    assert "env" not in snap
    assert tag_message(project, "classifier@v1.0.1")[0] == "Register classifier v1.0.1"


def test_versions_default_and_bumps(project: Path, clock: Clock) -> None:
    made = []
    for i, args in enumerate([(), ("--bump-minor",), ("v0.1.1-rc.1",), ("--bump-patch",),
                              ("--bump-major",), ("v2.0.0+build.7",)]):
        train(project, f"weights {i}".encode(), 0.9 + i / 100)
        clock.tick()
        assert mvm(project, "register", "-q", "classifier", *args) == 0, args
        made.append(git(project, "describe", "--tags", "--exact-match", "HEAD").strip())
    assert made == ["classifier@v0.0.1", "classifier@v0.1.0", "classifier@v0.1.1-rc.1",
                    "classifier@v0.1.1", "classifier@v1.0.0", "classifier@v2.0.0+build.7"]


def test_register_refusals(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    before_model = rev(project)
    first = train(project, b"weights v1", 0.91)
    assert mvm(project, "register", "-q", "classifier", "v1.2.0") == 0

    def refused(*args: str) -> str:
        res = run(capsys, project, "register", *args)
        assert res.rc == 1, res
        lines = error_lines(res.err)
        assert len(lines) == 1, res.err
        return lines[0]

    train(project, b"weights v2", 0.92)
    assert "classifier@v1.2.0 already exists (registered, on commit " in refused(
        "classifier", "v1.2.0")
    assert "v1.1.9 does not come after classifier's latest version v1.2.0" in refused(
        "classifier", "v1.1.9")
    assert "v1.2.0+b does not come after" in refused("classifier", "v1.2.0+b")
    assert "'my model' is not a valid model name" in refused("my model")
    assert "'x!' is not a valid model name" in refused("x!")
    assert "'v1.3' is not a semantic version" in refused("classifier", "v1.3")
    res = run(capsys, project, "register", "classifier", "v1.3.0", "--bump-minor")
    assert res.rc == 2 and "give a VERSION or --bump-minor, not both" in res.err

    # dirty: the work tree's bytes differ from the pointer
    write(project / MODEL, b"edited, not added")
    assert "models/classifier.pt is modified in the work tree" in refused("classifier")
    # the pointer changed (added, not committed)
    assert mvm(project, "add", "-q", MODEL) == 0
    assert "the pointer in the work tree differs from the one at the commit" in refused(
        "classifier")
    git(project, "checkout", "-q", "--", f"{MODEL}.mvm")
    assert mvm(project, "checkout", "-q", "--force", MODEL) == 0
    # the pointer is not in the commit named
    assert f"models/classifier.pt.mvm is not in commit {before_model[:12]}" in refused(
        "classifier", "--ref", before_model)
    # objects not in the cache
    obj = object_path(project, sha(b"weights v1"))
    obj.chmod(0o644)
    obj.unlink()
    res = run(capsys, project, "register", "classifier", "--ref", first, "v1.2.5")
    assert res.rc == 1
    assert error_lines(res.err) == [
        f"git mvm: error: {MODEL}: the objects of sha256:{sha(b'weights v1')} are not in the "
        "cache"]
    # the hint fetches that commit's bytes, not HEAD's
    assert f"hint: fetch them (`git mvm fetch {MODEL}` with commit {first[:12]} checked out)" \
        in res.err
    # an undeclared model needs --path
    assert "model other is not declared" in refused("other")
    assert git(project, "tag", "-l").split() == ["classifier@v1.2.0"]


def test_undeclared_artifact_registered_by_path(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    save(project, "extra/encoder.bin", b"encoder bytes", "encoder")
    assert mvm(project, "register", "-q", "encoder", "v0.1.0", "--path",
               "extra/encoder.bin") == 0
    _, snap = tag_message(project, "encoder@v0.1.0")
    assert (snap["path"], snap["kind"]) == ("extra/encoder.bin", "file")
    clock.tick()
    # the next version finds the path in the last registration
    save(project, "extra/encoder.bin", b"encoder bytes 2", "encoder 2")
    assert mvm(project, "register", "-q", "encoder") == 0
    out = tmp_path / "enc.bin"
    assert mvm(project, "get", "-q", "encoder@v0.1.0", "-o", str(out)) == 0
    assert out.read_bytes() == b"encoder bytes"


# --- promote, rollback, unassign, deprecate ----------------------------------------------------


def registered(project: Path, clock: Clock, accuracies: list[float]) -> list[str]:
    commits = []
    for i, acc in enumerate(accuracies):
        clock.tick()
        commits.append(train(project, f"weights {i}".encode(), acc))
        assert mvm(project, "register", "-q", "--no-env", "classifier", f"v1.{i}.0") == 0
    return commits


def test_promote_protected_stage_runs_the_check(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    registered(project, clock, [0.90, 0.95, 0.80])
    clock.tick()
    assert mvm(project, "promote", "-q", "classifier", "v1.0.0", "staging") == 0
    clock.tick()
    assert mvm(project, "promote", "-q", "classifier", "v1.1.0", "production") == 0
    assert stages(capsys, project) == {"production": "v1.1.0", "staging": "v1.0.0"}

    clock.tick()
    res = run(capsys, project, "promote", "classifier", "v1.2.0", "production")
    assert res.rc == 1
    assert error_lines(res.err) == [
        "git mvm: error: production is protected and classifier v1.2.0 fails the check "
        "against v1.1.0:"]
    assert "accuracy no-regression" in res.err and "--force -m" in res.err
    assert stages(capsys, project)["production"] == "v1.1.0"

    res = run(capsys, project, "promote", "classifier", "v1.2.0", "qa")
    assert res.rc == 1 and "unknown stage 'qa': the stages are dev, staging, production" \
        in res.err
    res = run(capsys, project, "promote", "classifier", "v9.0.0", "dev")
    assert res.rc == 1 and "classifier has no version v9.0.0" in res.err

    clock.tick()
    assert mvm(project, "promote", "-q", "classifier", "v1.2.0", "production", "--force",
               "-m", "hotfix for the outage") == 0
    subject, snap = tag_message(project, "classifier#production#3")
    forced = snap
    assert subject == "hotfix for the outage"
    assert snap["forced"] is True and snap["reason"] == "hotfix for the outage"
    assert snap["gates"] == "failed" and snap["checked_against"] == "v1.1.0"
    assert (snap["event"], snap["version"], snap["stage"]) == ("assign", "v1.2.0", "production")
    assert snap["oid"] == f"sha256:{sha(b'weights 2')}"
    # assigning the version already there is a no-op
    res = run(capsys, project, "promote", "classifier", "v1.2.0", "production", "--force")
    assert res.rc == 0 and "already in production; nothing to do" in res.err
    assert "classifier#production#4" not in git(project, "tag", "-l")

    # rollback: the version before, as a new event
    clock.tick()
    assert mvm(project, "rollback", "-q", "classifier", "production") == 0
    assert stages(capsys, project)["production"] == "v1.1.0"
    subject, snap = tag_message(project, "classifier#production#4")
    assert subject == "Roll back classifier in production from v1.2.0 to v1.1.0"
    assert snap["rollback_from"] == "v1.2.0"
    # a second rollback keeps going back past the version rolled away from
    clock.tick()
    res = run(capsys, project, "rollback", "classifier", "production")
    assert res.rc == 1 and "held no other version of classifier" in res.err
    clock.tick()
    assert mvm(project, "rollback", "-q", "classifier", "staging", "--to", "v1.1.0") == 0
    assert stages(capsys, project) == {"production": "v1.1.0", "staging": "v1.1.0"}

    hist = run_json(capsys, project, "history", "classifier")
    assert [(e["event"], e["tag"], e["version"], e["stage"]) for e in hist] == [
        ("register", "classifier@v1.0.0", "v1.0.0", None),
        ("register", "classifier@v1.1.0", "v1.1.0", None),
        ("register", "classifier@v1.2.0", "v1.2.0", None),
        ("assign", "classifier#staging#1", "v1.0.0", "staging"),
        ("assign", "classifier#production#2", "v1.1.0", "production"),
        ("assign", "classifier#production#3", "v1.2.0", "production"),
        ("assign", "classifier#production#4", "v1.1.0", "production"),
        # a rollback unassigns the version it rolls back from: nothing brings it back
        ("unassign", "classifier#production!#5", "v1.2.0", "production"),
        ("assign", "classifier#staging#6", "v1.1.0", "staging"),
        ("unassign", "classifier#staging!#7", "v1.0.0", "staging"),
    ]
    assert hist[5]["forced"] is True and hist[6]["rollback_from"] == "v1.2.0"
    # every event has every key (null or false where it does not apply): a stable schema
    assert {tuple(e) for e in hist} == {(
        "event", "tag", "version", "stage", "commit", "author", "date", "message",
        "rollback_from", "reason", "gates", "checked_against", "forced", "failed_gates")}
    assert (hist[5]["gates"], hist[5]["checked_against"], hist[5]["reason"]) == (
        "failed", "v1.1.0", "hotfix for the outage")
    assert hist[5]["failed_gates"] == forced["failed_gates"] and len(forced["failed_gates"]) == 1
    assert (hist[4]["forced"], hist[4]["gates"], hist[4]["failed_gates"]) == (False, "passed", None)
    assert (hist[0]["forced"], hist[0]["gates"], hist[0]["rollback_from"]) == (False, None, None)
    assert {e["author"] for e in hist} == {"Test <test@example.com>"}
    res = run(capsys, project, "history", "classifier")
    assert res.rc == 0
    assert "promoted v1.2.0 to production (forced past a failed check)" in res.out
    assert "rolled production back from v1.2.0 to v1.1.0" in res.out


def test_counter_skips_numbers_a_failed_promotion_did_not_take(
    project: Path, clock: Clock
) -> None:
    # the failed promotion above made no tag: counters are 1 + the highest that exists
    registered(project, clock, [0.9])
    clock.tick()
    assert mvm(project, "promote", "-q", "classifier", "v1.0.0", "dev") == 0
    clock.tick()
    assert mvm(project, "promote", "-q", "classifier", "v1.0.0", "staging") == 0
    assert sorted(git(project, "tag", "-l", "classifier#*").split()) == [
        "classifier#dev#1", "classifier#staging#2"]


def test_two_versions_on_one_commit(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    commit = train(project, b"weights", 0.9)
    clock.tick()
    assert mvm(project, "register", "-q", "--no-env", "classifier", "v1.0.0") == 0
    clock.tick()
    assert mvm(project, "register", "-q", "--no-env", "classifier", "v2.0.0") == 0
    clock.tick()
    assert mvm(project, "promote", "-q", "classifier", "v2.0.0", "staging") == 0
    clock.tick()
    assert mvm(project, "promote", "-q", "classifier", "v1.0.0", "dev") == 0
    assert stages(capsys, project) == {"dev": "v1.0.0", "staging": "v2.0.0"}
    model = show(capsys, project, "classifier")["classifier"]
    assert [(v["version"], v["commit"], v["stages"]) for v in model["versions"]] == [
        ("v2.0.0", commit, ["staging"]), ("v1.0.0", commit, ["dev"])]
    # promote to production against the version in it now (none: the check runs the
    # absolute rules only) and then the other version on the same commit
    clock.tick()
    assert mvm(project, "promote", "-q", "classifier", "v1.0.0", "production") == 0
    clock.tick()
    assert mvm(project, "promote", "-q", "classifier", "v2.0.0", "production") == 0
    assert stages(capsys, project)["production"] == "v2.0.0"
    clock.tick()
    assert mvm(project, "rollback", "-q", "classifier", "production") == 0
    assert stages(capsys, project)["production"] == "v1.0.0"
    assert git(project, "tag", "-l", "classifier#production*").split() == [
        "classifier#production!#6", "classifier#production#3", "classifier#production#4",
        "classifier#production#5"]


def test_deregistered_versions_leave_the_stages(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    registered(project, clock, [0.90, 0.95])
    for version in ("v1.0.0", "v1.1.0"):
        clock.tick()
        assert mvm(project, "promote", "-q", "classifier", version, "production") == 0
    clock.tick()
    res = run(capsys, project, "deprecate", "classifier", "v1.1.0", "-m", "leaks test data")
    assert res.rc == 0
    assert "v1.1.0 no longer counts in stage production" in res.err
    assert git(project, "cat-file", "-t", "classifier@v1.1.0!").strip() == "tag"
    model = show(capsys, project)["classifier"]
    assert model["latest"]["version"] == "v1.0.0"
    # GTO's rule: the earlier assignment of v1.0.0 was never undone, so it shows again
    assert model["stages"]["production"]["version"] == "v1.0.0"
    res = run(capsys, project, "get", "classifier@v1.1.0", "-o", "x")
    assert res.rc == 1 and "classifier@v1.1.0 was deregistered" in res.err
    res = run(capsys, project, "register", "classifier", "v1.1.0")
    assert res.rc == 1 and "registered and later deregistered" in res.err
    # the next version is bumped past the deregistered one; the counter keeps counting
    clock.tick()
    train(project, b"weights 3", 0.97)
    assert mvm(project, "register", "-q", "--no-env", "classifier") == 0
    assert "classifier@v1.1.1" in git(project, "tag", "-l").split()
    clock.tick()
    assert mvm(project, "promote", "-q", "classifier", "v1.1.1", "production") == 0
    assert "classifier#production#3" in git(project, "tag", "-l").split()
    hist = run_json(capsys, project, "history", "classifier")
    assert [e["event"] for e in hist] == ["register", "register", "assign", "assign",
                                          "deregister", "register", "assign"]
    assert hist[4]["message"] == "leaks test data"


def test_unassign(project: Path, clock: Clock, capsys: pytest.CaptureFixture[str]) -> None:
    registered(project, clock, [0.9, 0.95])
    for version in ("v1.0.0", "v1.1.0"):
        clock.tick()
        assert mvm(project, "promote", "-q", "classifier", version, "staging") == 0
    clock.tick()
    res = run(capsys, project, "unassign", "classifier", "staging")
    assert res.rc == 0 and "staging now shows v1.0.0" in res.err
    _, snap = tag_message(project, "classifier#staging!#3")
    assert (snap["event"], snap["version"]) == ("unassign", "v1.1.0")
    clock.tick()
    assert mvm(project, "unassign", "-q", "classifier", "staging") == 0
    assert stages(capsys, project) == {}
    res = run(capsys, project, "unassign", "classifier", "staging")
    assert res.rc == 1 and "no version of classifier is in staging" in res.err
    res = run(capsys, project, "get", "classifier#staging")
    assert res.rc == 1 and "no version of classifier is in stage 'staging'" in res.err


def test_deprecate_model(project: Path, clock: Clock, capsys: pytest.CaptureFixture[str]) -> None:
    registered(project, clock, [0.9])
    clock.tick()
    assert mvm(project, "deprecate", "-q", "classifier") == 0
    assert git(project, "cat-file", "-t", "classifier@deprecated").strip() == "tag"
    assert show(capsys, project)["classifier"]["deprecated"] is True
    assert "classifier (deprecated)" in run(capsys, project, "show").out
    res = run(capsys, project, "promote", "classifier", "v1.0.0", "dev")
    assert res.rc == 1 and "model classifier is deprecated" in res.err
    res = run(capsys, project, "deprecate", "classifier")
    assert res.rc == 1 and "already deprecated" in res.err
    # a new version revives it
    clock.tick()
    train(project, b"weights again", 0.93)
    assert mvm(project, "register", "-q", "--no-env", "classifier") == 0
    assert show(capsys, project)["classifier"]["deprecated"] is False
    clock.tick()
    assert mvm(project, "deprecate", "-q", "classifier") == 0
    assert "classifier@deprecated#1" in git(project, "tag", "-l").split()
    assert show(capsys, project)["classifier"]["deprecated"] is True


def test_show_reports_lightweight_tags(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    registered(project, clock, [0.9])
    git(project, "tag", "classifier@v5.0.0")
    git(project, "tag", "classifier#production#7")
    git(project, "tag", "release-1.0")  # not in registry form: ignored
    res = run(capsys, project, "show")
    assert res.rc == 0  # gto ignores them too (issue 14): a warning, not a failure
    assert res.err.splitlines() == [
        "git mvm: warning: tag classifier#production#7 is a lightweight tag, ignored: the "
        "registry reads annotated tags only (recreate it with `git tag -a -f "
        "classifier#production#7 classifier#production#7^{}`)",
        "git mvm: warning: tag classifier@v5.0.0 is a lightweight tag, ignored: the registry "
        "reads annotated tags only (recreate it with `git tag -a -f classifier@v5.0.0 "
        "classifier@v5.0.0^{}`)",
    ]
    assert "classifier  v1.0.0" in res.out
    res = run(capsys, project, "show", "--json")
    assert res.rc == 0 and len(json.loads(res.out)["warnings"]) == 2
    # the next counter counts the lightweight tag's 7 (as GTO does), so no tag collides with it
    clock.tick()
    assert mvm(project, "promote", "-q", "classifier", "v1.0.0", "dev") == 0
    assert "classifier#dev#8" in git(project, "tag", "-l").split()
    # also for a model that has nothing but lightweight tags
    git(project, "tag", "ghost#dev#1")
    save(project, "models/ghost.pt", b"ghost", "ghost")
    clock.tick()
    assert mvm(project, "register", "-q", "--no-env", "ghost", "v1.0.0", "--path",
               "models/ghost.pt") == 0
    clock.tick()
    assert mvm(project, "promote", "-q", "ghost", "v1.0.0", "dev") == 0
    assert "ghost#dev#2" in git(project, "tag", "-l").split()


def test_show_tables(project: Path, clock: Clock, capsys: pytest.CaptureFixture[str]) -> None:
    res = run(capsys, project, "show")
    assert res.rc == 0 and res.out.startswith("no models registered yet")
    commits = registered(project, clock, [0.9, 0.95])
    clock.tick()
    assert mvm(project, "promote", "-q", "classifier", "v1.0.0", "production") == 0
    res = run(capsys, project, "show")
    assert res.out.splitlines() == [
        "MODEL       LATEST  PRODUCTION  METRICS (LATEST)",
        "classifier  v1.1.0  v1.0.0      accuracy=0.95, loss=0.05",
    ]
    res = run(capsys, project, "show", "classifier")
    assert res.out.splitlines() == [
        "classifier: 2 versions, latest v1.1.0",
        "VERSION  STAGES      COMMIT        DATE                       METRICS",
        f"v1.1.0   -           {commits[1][:12]}  2027-01-15 08:00:02+00:00  "
        "accuracy=0.95, loss=0.05",
        f"v1.0.0   production  {commits[0][:12]}  2027-01-15 08:00:01+00:00  "
        "accuracy=0.9, loss=0.1",
    ]
    res = run(capsys, project, "show", "nothing")
    assert res.rc == 1 and "no model 'nothing' in the registry" in res.err


# --- remotes: push, concurrent clones, get ----------------------------------------------------


@pytest.fixture
def origin(project: Path, tmp_path: Path) -> Path:
    bare = init_bare(tmp_path / "origin.git")
    git(project, "remote", "add", "origin", str(bare))
    git_ok(project, "push", "-q", "origin", "main")
    return bare


def clone(url: Path, dest: Path) -> Path:
    git_ok(url.parent, "clone", "-q", str(url), str(dest))
    return dest


def test_concurrent_promotions_second_push_fails_cleanly(
    project: Path, origin: Path, clock: Clock, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    registered(project, clock, [0.9, 0.95])
    clock.tick()
    assert mvm(project, "promote", "-q", "classifier", "v1.0.0", "staging", "--push") == 0
    git_ok(project, "push", "-q", "origin", "main", "--tags")
    alice = clone(origin, tmp_path / "alice")
    bob = clone(origin, tmp_path / "bob")
    clock.tick()
    res = run(capsys, alice, "promote", "classifier", "v1.1.0", "dev", "--push")
    assert res.rc == 0
    # nobody pushed the objects: the tag goes anyway, with a warning
    assert "git mvm: warning: the version's objects could not be pushed (push: 1 object" \
        " failed" in res.err
    clock.tick()
    res = run(capsys, bob, "promote", "classifier", "v1.0.0", "dev", "--push")
    assert res.rc == 1
    assert error_lines(res.err) == [
        "git mvm: error: origin already has a tag classifier#dev#2: somebody else changed "
        "the registry at the same time, and their tag was pushed first (your tag "
        "classifier#dev#2 was deleted locally; nothing was changed on the remote)"]
    assert "hint: fetch their tags (`git fetch origin --tags`)" in res.err
    assert git(bob, "tag", "-l", "classifier#*").split() == ["classifier#staging#1"]
    # retry as told
    git_ok(bob, "fetch", "-q", "origin", "--tags")
    clock.tick()
    assert mvm(bob, "promote", "-q", "classifier", "v1.0.0", "dev", "--push") == 0
    git_ok(project, "fetch", "-q", "origin", "--tags")
    assert stages(capsys, project) == {"dev": "v1.0.0", "staging": "v1.0.0"}
    remote_tags = git(origin, "tag", "-l", "classifier#*").split()
    assert sorted(remote_tags) == ["classifier#dev#2", "classifier#dev#3",
                                   "classifier#staging#1"]
    hist = run_json(capsys, project, "history", "classifier")
    assert [(e["tag"], e["version"]) for e in hist if e["stage"] == "dev"] == [
        ("classifier#dev#2", "v1.1.0"), ("classifier#dev#3", "v1.0.0")]


def test_get_from_a_fresh_clone_fetches_and_verifies(
    project: Path, origin: Path, clock: Clock, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    commits = registered(project, clock, [0.9])
    git_ok(project, "push", "-q", "origin", "main")  # no hooks here: no objects go along
    clock.tick()
    # --push sends the version's objects and the tag
    train(project, b"weights 1", 0.95)
    git_ok(project, "push", "-q", "origin", "main")
    assert mvm(project, "register", "-q", "--no-env", "classifier", "v1.1.0", "--push") == 0
    assert git(origin, "tag", "-l").split() == ["classifier@v1.1.0"]
    assert sha(b"weights 1") in remote_oids(origin)
    git_ok(project, "push", "-q", "origin", "--tags")
    assert sha(b"weights 0") not in remote_oids(origin)
    clock.tick()
    # so does promote --push (a pushed tag alone brings no new commit for pre-push to see)
    assert mvm(project, "promote", "-q", "classifier", "v1.0.0", "production", "--push",
               "--force", "-m", "first deployment") == 0
    assert sha(b"weights 0") in remote_oids(origin)

    deploy = clone(origin, tmp_path / "deploy")
    assert cache_objects(deploy) == {}
    out = tmp_path / "serving" / "model.pt"
    info = run_json(capsys, deploy, "get", "classifier#production", "-o", str(out))
    assert out.read_bytes() == b"weights 0"
    assert info == {"model": "classifier", "version": "v1.0.0", "tag": "classifier@v1.0.0",
                    "commit": commits[0], "oid": f"sha256:{sha(b'weights 0')}",
                    "kind": "file", "size": 9, "path": str(out)}
    res = run(capsys, deploy, "get", "classifier@latest", "-o", str(out))
    assert res.rc == 1 and "already exists" in res.err
    assert mvm(deploy, "get", "-q", "classifier@latest", "-o", str(out), "--force") == 0
    assert out.read_bytes() == b"weights 1"
    # into a directory: the artifact's name inside it
    assert mvm(deploy, "get", "-q", "classifier@v1.0.0", "-o", str(tmp_path / "serving")) == 0
    assert (tmp_path / "serving" / "classifier.pt").read_bytes() == b"weights 0"
    # the work tree was never touched
    assert not (deploy / MODEL).exists()
    # a deregistration pushed upstream reaches the deployment with its next fetch
    clock.tick()
    assert mvm(project, "deprecate", "-q", "classifier", "v1.1.0", "--push") == 0
    assert "classifier@v1.1.0!" in git(origin, "tag", "-l").split()
    git_ok(deploy, "fetch", "-q", "--tags")
    info = run_json(capsys, deploy, "get", "classifier@latest", "-o", str(out), "--force")
    assert info["version"] == "v1.0.0" and out.read_bytes() == b"weights 0"


def test_get_refuses_corrupt_remote_bytes(
    project: Path, origin: Path, clock: Clock, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    registered(project, clock, [0.9])
    git_ok(project, "push", "-q", "origin", "main", "--tags")
    assert mvm(project, "push", "-q") == 0
    corrupt_remote_object(origin, sha(b"weights 0"), b"weights X")
    deploy = clone(origin, tmp_path / "deploy")
    out = tmp_path / "model.pt"
    res = run(capsys, deploy, "get", "classifier@v1.0.0", "-o", str(out))
    assert res.rc == 1 and "fetch: 1 object failed" in res.err
    assert not out.exists()
    assert sha(b"weights 0") not in cache_objects(deploy)


def test_get_directory_artifact(
    repo: Path, clock: Clock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {"vocab.txt": b"a b c", "layers/0.bin": b"\x00" * 100, "layers/1.bin": b"\x01"}
    want = save_dir(repo, "models/bert", files, "bert")
    assert mvm(repo, "register", "-q", "--no-env", "bert", "v1.0.0", "--path",
               "models/bert") == 0
    _, snap = tag_message(repo, "bert@v1.0.0")
    assert (snap["kind"], snap["files"], snap["size"]) == ("dir", 3, 106)
    out = tmp_path / "bert-out"
    info = run_json(capsys, repo, "get", "bert@latest", "-o", str(out))
    assert info["kind"] == "dir" and tree_digest(out) == want
    (out / "stale.txt").write_text("old")
    assert mvm(repo, "get", "-q", "bert@latest", "-o", str(out), "--force") == 0
    assert tree_digest(out) == want
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".mvm-tmp")] == []


def test_push_without_remote_keeps_the_tag(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    train(project, b"weights", 0.9)
    res = run(capsys, project, "register", "--no-env", "classifier", "v1.0.0", "--push")
    assert res.rc == 1 and "no git remote 'origin' to push tag classifier@v1.0.0 to" in res.err
    assert git_run(project, "rev-parse", "-q", "--verify", "classifier@v1.0.0").returncode == 0


def test_resolve_specs(project: Path, clock: Clock) -> None:
    from gitmv.errors import GitMvmError
    from gitmv.registry import read as registry
    from gitmv.repo import Repo

    commits = registered(project, clock, [0.9, 0.95])
    reg = registry.load(Repo.discover(str(project)))
    assert reg.resolve("classifier@latest").commit == commits[1]
    assert reg.resolve("classifier@v1.0.0").version == "v1.0.0"
    assert reg.resolve("classifier@v1.0.0").snapshot["metrics"] == {
        "metrics.toml": {"accuracy": 0.9, "loss": 0.1}}
    for spec, text in [("classifier", "names no version"),
                       ("classifier#production", "no version of classifier is in stage"),
                       ("nope@latest", "no model 'nope'"),
                       ("classifier@1.0", "is not a semantic version")]:
        with pytest.raises(GitMvmError, match=text):
            reg.resolve(spec)


def test_signed_tags(
    project: Path, clock: Clock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a stand-in for gpg: git only needs the status line and an armored block back
    fake = write(tmp_path / "fake-gpg", "#!/bin/sh\ncat >/dev/null\n"
                 "echo '[GNUPG:] SIG_CREATED D 1 8 00 1700000000 ABCDEF' >&2\n"
                 "printf -- '-----BEGIN PGP SIGNATURE-----\\n\\nZmFrZQ==\\n"
                 "-----END PGP SIGNATURE-----\\n'\n")
    fake.chmod(0o755)
    git(project, "config", "gpg.program", str(fake))
    git(project, "config", "user.signingkey", "ABCDEF")
    train(project, b"weights", 0.9)
    clock.tick()
    assert mvm(project, "register", "-q", "--no-env", "--sign", "classifier", "v1.0.0") == 0
    clock.tick()
    assert mvm(project, "promote", "-q", "--sign", "classifier", "v1.0.0", "dev") == 0
    for tag in ("classifier@v1.0.0", "classifier#dev#1"):
        assert "-----BEGIN PGP SIGNATURE-----" in git(project, "cat-file", "-p", tag)
    model = show(capsys, project)["classifier"]
    assert model["latest"]["metrics"] == {"accuracy": 0.9, "loss": 0.1}
    assert model["stages"]["dev"]["version"] == "v1.0.0"
    # without a working gpg the command fails cleanly and leaves no tag
    git(project, "config", "gpg.program", str(tmp_path / "no-such-gpg"))
    clock.tick()
    res = run(capsys, project, "promote", "--sign", "classifier", "v1.0.0", "staging")
    assert res.rc == 1 and "cannot create tag classifier#staging#2" in res.err
    assert "classifier#staging#2" not in git(project, "tag", "-l").split()


def test_gto_names_with_a_directory(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    save(project, "nlp/models/Tagger_2.bin", b"tagger", "tagger")
    clock.tick()
    assert mvm(project, "register", "-q", "--no-env", "nlp/models:Tagger_2", "v1.0.0",
               "--path", "nlp/models/Tagger_2.bin") == 0
    clock.tick()
    assert mvm(project, "promote", "-q", "nlp/models:Tagger_2", "v1.0.0", "dev") == 0
    assert git(project, "tag", "-l").split() == [
        "nlp/models=Tagger_2#dev#1", "nlp/models=Tagger_2@v1.0.0"]
    model = show(capsys, project)["nlp/models:Tagger_2"]
    assert model["stages"]["dev"]["version"] == "v1.0.0"
    out = tmp_path / "t.bin"
    assert mvm(project, "get", "-q", "nlp/models:Tagger_2#dev", "-o", str(out)) == 0
    assert out.read_bytes() == b"tagger"


# --- review fixes -------------------------------------------------------------------------------


def test_push_refused_by_a_remote_hook_keeps_the_tag(
    project: Path, origin: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    # a server-side hook saying no is not "somebody pushed that tag first": the tag stays
    hook = write(origin / "hooks" / "pre-receive", "#!/bin/sh\necho 'tags are frozen' >&2\n"
                 "exit 1\n")
    hook.chmod(0o755)
    train(project, b"weights", 0.9)
    res = run(capsys, project, "register", "--no-env", "classifier", "v1.0.0", "--push")
    assert res.rc == 1
    assert error_lines(res.err) == [
        "git mvm: error: pushing tag classifier@v1.0.0 to origin failed: ! [remote rejected] "
        "classifier@v1.0.0 -> classifier@v1.0.0 (pre-receive hook declined)"]
    assert "hint: the tag is kept locally; push it later with `git push origin " \
        "refs/tags/classifier@v1.0.0`" in res.err
    assert git(project, "tag", "-l").split() == ["classifier@v1.0.0"]
    assert git(origin, "tag", "-l").split() == []


def test_register_push_of_a_version_taken_upstream(
    project: Path, origin: Path, clock: Clock, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    train(project, b"weights", 0.9)
    git_ok(project, "push", "-q", "origin", "main")
    other = clone(origin, tmp_path / "other")
    assert mvm(project, "register", "-q", "--no-env", "classifier", "v1.0.0", "--push") == 0
    save(other, MODEL, b"their weights", "theirs")
    clock.tick()
    res = run(capsys, other, "register", "--no-env", "classifier", "v1.0.0", "--push")
    assert res.rc == 1
    assert "origin already has a tag classifier@v1.0.0" in res.err
    assert "registered classifier" not in res.err  # no success line before the failure
    # a version is not a counter: the retry is the next version, not the same command
    assert "hint: fetch their tags (`git fetch origin --tags`), check `git mvm show`, then " \
        "register yours as the next version (`git mvm register` without a VERSION picks " \
        "it)" in res.err
    assert git(other, "tag", "-l").split() == []
    git_ok(other, "fetch", "-q", "origin", "--tags")
    assert mvm(other, "register", "-q", "--no-env", "classifier", "--push") == 0
    assert sorted(git(origin, "tag", "-l").split()) == ["classifier@v1.0.0",
                                                         "classifier@v1.0.1"]


def test_register_push_failing_objects_keeps_the_tag_and_says_so(
    project: Path, origin: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    train(project, b"weights", 0.9)
    write(origin / "mvm", "a file where the store's directory goes: no object can land")
    res = run(capsys, project, "register", "--no-env", "classifier", "v1.0.0", "--push")
    assert res.rc == 1
    # (the store's packs are found by listing it, which fails first: one store-wide error)
    assert "git mvm: error: remote 'origin' (" in res.err and "Not a directory" in res.err, \
        res.err
    assert "hint: the tag classifier@v1.0.0 is kept locally and was not pushed; once " \
        "`git mvm push` sends the objects, push it later with `git push origin " \
        "refs/tags/classifier@v1.0.0`" in res.err
    assert git(project, "tag", "-l").split() == ["classifier@v1.0.0"]
    assert git(origin, "tag", "-l").split() == []


def test_rollback_to_a_version_that_never_held_a_protected_stage_is_refused(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    registered(project, clock, [0.90, 0.95, 0.80])
    for version in ("v1.0.0", "v1.1.0"):
        clock.tick()
        assert mvm(project, "promote", "-q", "classifier", version, "production") == 0
    # v1.2.0 regresses: promote refuses it, and rollback --to must not let it in unchecked
    clock.tick()
    res = run(capsys, project, "rollback", "classifier", "production", "--to", "v1.2.0")
    assert res.rc == 1
    assert error_lines(res.err) == [
        "git mvm: error: classifier v1.2.0 never held production, a protected stage: a "
        "rollback only puts back a version that held it, without the check"]
    assert "hint: promote it, so the check runs: `git mvm promote classifier v1.2.0 " \
        "production`" in res.err
    assert stages(capsys, project) == {"production": "v1.1.0"}
    # a version that held it before goes back without the check
    assert mvm(project, "rollback", "-q", "classifier", "production", "--to", "v1.0.0") == 0
    assert stages(capsys, project) == {"production": "v1.0.0"}
    # an unprotected stage takes any version
    clock.tick()
    assert mvm(project, "promote", "-q", "classifier", "v1.0.0", "staging") == 0
    clock.tick()
    assert mvm(project, "rollback", "-q", "classifier", "staging", "--to", "v1.2.0") == 0
    assert stages(capsys, project) == {"production": "v1.0.0", "staging": "v1.2.0"}


def test_protected_stage_without_gates_warns(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = project / ".mvm" / "config.toml"
    cfg.write_text(cfg.read_text().replace('[gates]\naccuracy = "no-regression"\n', ""))
    registered(project, clock, [0.9])
    clock.tick()
    res = run(capsys, project, "promote", "classifier", "v1.0.0", "production")
    assert res.rc == 0
    assert "git mvm: warning: production is protected but no gates are configured ([gates] " \
        "in .mvm/config.toml): nothing is checked" in res.err
    _, snap = tag_message(project, "classifier#production#1")
    assert snap["gates"] == "passed"


def test_deprecate_tags_the_last_event_commit_not_head(
    project: Path, origin: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    commits = registered(project, clock, [0.9, 0.95])
    clock.tick()
    assert mvm(project, "promote", "-q", "classifier", "v1.0.0", "dev") == 0
    git_ok(project, "push", "-q", "origin", "main")
    write(project / "notes.txt", "work in progress, not for the remote\n")
    git(project, "add", "notes.txt")
    git_ok(project, "commit", "-q", "-m", "wip")
    wip = rev(project)
    clock.tick()
    assert mvm(project, "deprecate", "-q", "classifier", "--push") == 0
    # GTO's choice (the commit of the last event): --push publishes no local commit
    assert rev(project, "classifier@deprecated^{commit}") == commits[0]
    _, snap = tag_message(project, "classifier@deprecated")
    assert snap["commit"] == commits[0]
    assert git_run(origin, "cat-file", "-e", wip).returncode != 0


def test_get_refuses_a_pointer_the_tag_does_not_record(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    commit = train(project, b"weights", 0.9)
    # a tag whose snapshot names other bytes than the pointer at its commit
    forged = f'Register classifier v1.0.0\n\n[gitmv]\nversion = "v1.0.0"\n' \
        f'path = "{MODEL}"\nkind = "file"\noid = "sha256:{sha(b"other")}"\n'
    assert git_run(project, "tag", "-a", "-F", "-", "--cleanup=verbatim", "classifier@v1.0.0",
                   commit, input=forged).returncode == 0
    out = tmp_path / "model.pt"
    res = run(capsys, project, "get", "classifier@v1.0.0", "-o", str(out))
    assert res.rc == 1
    assert error_lines(res.err) == [
        f"git mvm: error: cannot get classifier v1.0.0: tag classifier@v1.0.0 records "
        f"sha256:{sha(b'other')} but {MODEL}.mvm at {commit[:12]} says "
        f"sha256:{sha(b'weights')}"]
    assert not out.exists()


def test_get_replaces_a_symlink_in_the_way_never_writes_through_it(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    registered(project, clock, [0.9])
    victim = write(tmp_path / "victim.txt", "keep me")
    link = tmp_path / "serving.pt"
    link.symlink_to(victim)
    res = run(capsys, project, "get", "classifier@v1.0.0", "-o", str(link))
    assert res.rc == 1 and f"{link} already exists" in res.err
    assert mvm(project, "get", "-q", "classifier@v1.0.0", "-o", str(link), "--force") == 0
    assert not link.is_symlink() and link.read_bytes() == b"weights 0"
    assert victim.read_text() == "keep me"
    # a link to a directory (a volume mounted at /models) is that directory, as cp takes
    # it: the file lands inside, the link stays (test_get_repo.py has the --repo case)
    target_dir = tmp_path / "elsewhere"
    target_dir.mkdir()
    dir_link = tmp_path / "models-link"
    dir_link.symlink_to(target_dir)
    assert mvm(project, "get", "-q", "classifier@v1.0.0", "-o", str(dir_link), "--force") == 0
    assert dir_link.is_symlink() and (target_dir / "classifier.pt").read_bytes() == b"weights 0"


def test_push_sends_the_objects_to_the_lfs_push_endpoint(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.stores.lfs import fresh_repo, shared_server

    server = shared_server()
    fetch_side, push_side = fresh_repo(), fresh_repo()
    git(project, "remote", "add", "origin", f"{server.url}/{fetch_side[0]}/{fetch_side[1]}")
    git(project, "config", "lfs.pushurl", server.endpoint(*push_side))
    train(project, b"weights", 0.9)
    res = run(capsys, project, "register", "--no-env", "classifier", "v1.0.0", "--push")
    # giftless is no git server: the tag push fails after the objects went, to the push side
    assert res.rc == 1 and "pushing tag classifier@v1.0.0 to origin failed" in res.err
    assert server.object_path(*push_side, sha(b"weights")).read_bytes() == b"weights"
    assert not server.object_path(*fetch_side, sha(b"weights")).exists()


def test_malformed_registry_config_is_one_clear_line(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    registered(project, clock, [0.9])
    cfg = project / ".mvm" / "config.toml"
    good = cfg.read_text()
    cfg.write_text(good.replace('protected = ["production"]', "protected = true"))
    res = run(capsys, project, "promote", "classifier", "v1.0.0", "production")
    assert res.rc == 1
    assert error_lines(res.err) == [
        "git mvm: error: registry.protected in .mvm/config.toml is True, not a list of stages"]
    assert "Traceback" not in res.err
    cfg.write_text(good.replace('path = "models/classifier.pt"', "path = 3"))
    train(project, b"weights 2", 0.95)
    res = run(capsys, project, "register", "classifier")
    assert res.rc == 1
    assert error_lines(res.err) == [
        "git mvm: error: [models.classifier] path in .mvm/config.toml is 3, not a path"]


def test_get_with_a_stage_after_at_says_how_to_name_a_stage(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    registered(project, clock, [0.9])
    res = run(capsys, project, "get", "classifier@production")
    assert res.rc == 1
    assert error_lines(res.err) == ["git mvm: error: 'production' is not a semantic version"]
    assert "hint: write vMAJOR.MINOR.PATCH (e.g. v1.2.0) or latest (a stage is named with " \
        "'#': classifier#production)" in res.err
    for bad, line in [("classifier", "'classifier' names no version"),
                      ("classifier#no such", "'no such' is not a valid stage name"),
                      ("bad name@latest", "'bad name' is not a valid model name"),
                      ("classifier@v1.0", "'v1.0' is not a semantic version")]:
        res = run(capsys, project, "get", bad)
        assert res.rc == 1 and error_lines(res.err) == [f"git mvm: error: {line}"], bad
        assert "Traceback" not in res.err


def test_get_directory_never_replaces_the_repository_or_the_current_directory(
    repo: Path, clock: Clock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save_dir(repo, "models/bert", {"vocab.txt": b"a b c"}, "bert")
    assert mvm(repo, "register", "-q", "--no-env", "bert", "v1.0.0", "--path",
               "models/bert") == 0
    for cwd, target, what in ((repo, repo, "the repository"),
                              (repo, repo.parent, "the repository"),
                              (repo / "models", repo / "models", "the current directory")):
        res = run(capsys, cwd, "get", "bert@latest", "-o", str(target), "--force")
        assert res.rc == 1, target
        assert error_lines(res.err) == [
            f"git mvm: error: {target} holds {what}: the model directory would replace it, "
            "deleting it"]
    assert (repo / ".git").is_dir() and (repo / "models" / "bert.mvm").is_file()
    # a model's own directory is replaced as before
    out = tmp_path / "serving" / "bert"
    assert mvm(repo, "get", "-q", "bert@latest", "-o", str(out)) == 0
    assert mvm(repo, "get", "-q", "bert@latest", "-o", str(out), "--force") == 0
    assert (out / "vocab.txt").read_bytes() == b"a b c"


def test_an_emptied_protected_stage_checks_against_its_last_version(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    registered(project, clock, [0.95, 0.80])
    clock.tick()
    assert mvm(project, "promote", "-q", "classifier", "v1.0.0", "production") == 0
    clock.tick()
    assert mvm(project, "unassign", "-q", "classifier", "production") == 0
    assert stages(capsys, project) == {}
    # unassigning must not open the stage to a regression
    clock.tick()
    res = run(capsys, project, "promote", "classifier", "v1.1.0", "production")
    assert res.rc == 1
    assert error_lines(res.err) == [
        "git mvm: error: production is protected and classifier v1.1.0 fails the check "
        "against v1.0.0 (the last version in production):"]
    clock.tick()
    res = run(capsys, project, "promote", "classifier", "v1.1.0", "production", "--force",
              "-m", "accepted")
    assert res.rc == 0
    _, snap = tag_message(project, "classifier#production#3")
    assert (snap["checked_against"], snap["gates"], snap["forced"]) == ("v1.0.0", "failed", True)


def test_deregistering_a_version_of_a_deprecated_model_says_it_revives_it(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    registered(project, clock, [0.9, 0.95])
    clock.tick()
    assert mvm(project, "deprecate", "-q", "classifier") == 0
    clock.tick()
    res = run(capsys, project, "deprecate", "classifier", "v1.1.0")
    assert res.rc == 0
    assert "git mvm: warning: model classifier was deprecated: any later event revives it " \
        "(GTO's rule), so it is not any more; `git mvm deprecate classifier` deprecates it " \
        "again" in res.err
    assert show(capsys, project)["classifier"]["deprecated"] is False
    clock.tick()
    assert mvm(project, "deprecate", "-q", "classifier") == 0
    assert show(capsys, project)["classifier"]["deprecated"] is True
    assert "classifier@deprecated#1" in git(project, "tag", "-l").split()


def test_registry_semantics_found_wrong_in_the_gto_trial(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Issue 14's list, each as the user meets it."""
    registered(project, clock, [0.90])  # v1.0.0
    # --bump-patch skips a deregistered pre-release: v1.0.0 + withdrawn v2.0.0-rc.1 -> v1.0.1
    clock.tick()
    train(project, b"candidate", 0.91)
    assert mvm(project, "register", "-q", "--no-env", "classifier", "v2.0.0-rc.1") == 0
    clock.tick()
    assert mvm(project, "deprecate", "-q", "classifier", "v2.0.0-rc.1") == 0
    clock.tick()
    train(project, b"patched", 0.92)
    assert mvm(project, "register", "-q", "--no-env", "classifier", "--bump-patch") == 0
    assert "classifier@v1.0.1" in git(project, "tag", "-l").split()
    # show counts what it lists
    res = run(capsys, project, "show", "classifier")
    assert res.out.splitlines()[0] == \
        "classifier: 2 versions (and 1 deregistered), latest v1.0.1"
    assert len(res.out.splitlines()) == 2 + 3
    # promote --force needs a reason
    clock.tick()
    res = run(capsys, project, "promote", "classifier", "v1.0.1", "production", "--force")
    assert res.rc == 1 and "--force needs a reason" in res.err
    assert not git(project, "tag", "-l", "classifier#*").split()
    # get of a deprecated model warns; registering into it says it revives it
    clock.tick()
    assert mvm(project, "deprecate", "-q", "classifier", "-m", "replaced by ranker") == 0
    res = run(capsys, project, "get", "classifier@v1.0.1", "-o", str(tmp_path / "m.pt"))
    assert res.rc == 0 and "model classifier is deprecated" in res.err
    assert "replaced by ranker" in res.err
    clock.tick()
    train(project, b"revived", 0.93)
    res = run(capsys, project, "register", "--no-env", "classifier")
    assert res.rc == 0 and "this registration revives it" in res.err


def test_a_model_at_a_url_is_refused_with_the_reason(
    project: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    """`register --path s3://…` made the URL a path (`s3:/bucket/…`); GTO allows such
    artifacts, gitmv says why it does not register them and what to do instead."""
    train(project, b"weights", 0.9)
    res = run(capsys, project, "register", "--no-env", "remote-model", "v1.0.0", "--path",
              "s3://bucket/models/m.pt")
    assert res.rc == 1
    assert error_lines(res.err)[0] == (
        "git mvm: error: model remote-model: s3://bucket/models/m.pt is a URL; gitmv registers "
        "bytes it tracks in the repository, so a version always names the same bytes, and a "
        "URL's may change")
    assert "hint: download it into the repository, `git mvm add`" in res.err
    assert not git(project, "tag", "-l", "remote-model*").split()
