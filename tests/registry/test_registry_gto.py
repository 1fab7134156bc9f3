"""Interop with iterative/gto (PyPI, in its own venv: tests/gto.py): GTO reads the registry
gitmv writes, and gitmv reads the tags GTO writes, with the same versions and stages."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.gto import gto, gto_json
from tests.helpers import git, mvm, run, run_json, save
from tests.registry.test_registry import Clock, registered, setup_project

pytestmark = pytest.mark.slow

EVENTS = {"registration": "register", "deregistration": "deregister",
          "assignment": "assign", "unassignment": "unassign", "deprecation": "deprecate"}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


def gitmv_view(capsys: pytest.CaptureFixture[str], repo: Path) -> dict[str, Any]:
    out = run_json(capsys, repo, "show")
    return {m["model"]: {"version": m["latest"]["version"] if m["latest"] else None,
                         "stage": {s: v["version"] for s, v in m["stages"].items()}}
            for m in out["models"] if not m["deprecated"]}


def gto_view(repo: Path) -> dict[str, Any]:
    return {name: {"version": m["version"], "stage": m["stage"]}
            for name, m in gto_json(repo, "show").items()}


def gitmv_history(capsys: pytest.CaptureFixture[str], repo: Path, model: str
                  ) -> list[tuple[str, str, str | None, str | None]]:
    return sorted((e["tag"], e["event"], e["version"], e["stage"])
                  for e in run_json(capsys, repo, "history", model))


def gto_history(repo: Path, model: str) -> list[tuple[str, str, str | None, str | None]]:
    return sorted((e["ref"], EVENTS[e["event"]], e["version"], e["stage"])
                  for e in gto_json(repo, "history", model) if e["event"] in EVENTS)


def test_gto_reads_what_gitmv_writes(
    repo: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_project(repo)
    registered(repo, clock, [0.90, 0.95, 0.80, 0.96])
    steps = [
        ("promote", "classifier", "v1.0.0", "staging"),
        ("promote", "classifier", "v1.1.0", "production"),
        ("promote", "classifier", "v1.2.0", "production", "--force", "-m", "hotfix"),
        ("rollback", "classifier", "production"),
        ("promote", "classifier", "v1.3.0", "dev"),
        ("promote", "classifier", "v1.1.0", "staging"),
        ("unassign", "classifier", "staging"),
        ("deprecate", "classifier", "v1.2.0"),
    ]
    for step in steps:
        clock.tick()
        assert mvm(repo, "-q", *step) == 0, step
    ours = gitmv_view(capsys, repo)
    assert ours == {"classifier": {"version": "v1.3.0", "stage": {
        "dev": "v1.3.0", "production": "v1.1.0", "staging": "v1.0.0"}}}
    assert gto_view(repo) == ours
    versions = {v["version"] for v in gto_json(repo, "show", "classifier")}
    assert versions == {"v1.0.0", "v1.1.0", "v1.3.0"}
    assert gto(repo, "show", "classifier#production", "--ref").stdout.strip() == \
        "classifier@v1.1.0"
    theirs = gto_history(repo, "classifier")
    assert theirs == gitmv_history(capsys, repo, "classifier")
    assert len(theirs) == 4 + len(steps) + 1  # the rollback unassigned v1.2.0 too


def test_gitmv_reads_what_gto_writes(
    repo: Path, clock: Clock, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    setup_project(repo)
    commits = []
    for i in range(3):
        save(repo, "models/classifier.pt", f"gto weights {i}".encode(), f"train {i}")
        commits.append(git(repo, "rev-parse", "HEAD").strip())
        clock.tick()
        if i == 0:
            gto(repo, "register", "classifier", "--version", "v1.0.0", "-m", "first")
        else:
            gto(repo, "register", "classifier", "--bump-minor")
    for args in [("assign", "classifier", "--version", "v1.0.0", "--stage", "production"),
                 ("assign", "classifier", "--version", "v1.1.0", "--stage", "staging"),
                 ("assign", "classifier", "--version", "v1.2.0", "--stage", "production"),
                 ("deprecate", "classifier", "v1.2.0", "production"),
                 ("assign", "classifier", "--version", "v1.2.0", "--stage", "dev"),
                 ("deprecate", "classifier", "v1.1.0")]:
        clock.tick()
        gto(repo, *args)
    tags = git(repo, "tag", "-l").split()
    assert "classifier#production!#4" in tags and "classifier@v1.1.0!" in tags
    ours = gitmv_view(capsys, repo)
    assert ours == {"classifier": {"version": "v1.2.0", "stage": {
        "dev": "v1.2.0", "production": "v1.0.0"}}}
    assert gto_view(repo) == ours
    assert gitmv_history(capsys, repo, "classifier") == gto_history(repo, "classifier")
    # a deployment reads GTO's registry too: the model's path comes from the config
    out = tmp_path / "model.pt"
    info = run_json(capsys, repo, "get", "classifier#production", "-o", str(out))
    assert out.read_bytes() == b"gto weights 0"
    assert (info["version"], info["commit"]) == ("v1.0.0", commits[0])
    # and gitmv's next assignment continues GTO's counter
    clock.tick()
    assert mvm(repo, "-q", "promote", "classifier", "v1.2.0", "staging") == 0
    assert "classifier#staging#6" in git(repo, "tag", "-l").split()
    assert gto_view(repo)["classifier"]["stage"]["staging"] == "v1.2.0"


def test_two_versions_on_one_commit_gto_refuses_gitmv_reads(
    repo: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    save(repo, "models/m.pt", b"weights", "model")
    clock.tick()
    assert mvm(repo, "-q", "register", "--no-env", "nn", "v1.0.0", "--path", "models/m.pt") == 0
    clock.tick()
    res = run(capsys, repo, "register", "--no-env", "nn", "v2.0.0")
    assert res.rc == 0 and "GTO reads them until a stage is assigned" in res.err
    assert gto(repo, "show").returncode == 0  # true: gto reads it so far
    for version, stage in (("v1.0.0", "dev"), ("v2.0.0", "staging")):
        clock.tick()
        res = run(capsys, repo, "promote", "nn", version, stage)
        # the warning comes with the step that breaks gto
        assert res.rc == 0 and "`gto show` refuses the registry" in res.err
    assert gitmv_view(capsys, repo) == {"nn": {"version": "v2.0.0", "stage": {
        "dev": "v1.0.0", "staging": "v2.0.0"}}}
    proc = gto(repo, "show", check=False)
    assert proc.returncode != 0
    assert "Multiple versions are not allowed on the same Git commit" in proc.stdout + proc.stderr


def test_counters_count_lightweight_tags_as_gto_does(
    repo: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_project(repo)
    registered(repo, clock, [0.9])
    git(repo, "tag", "classifier#staging#7")  # lightweight: no event, but its number is taken
    clock.tick()
    gto(repo, "assign", "classifier", "--version", "v1.0.0", "--stage", "dev")
    clock.tick()
    assert mvm(repo, "-q", "promote", "classifier", "v1.0.0", "staging") == 0
    assert sorted(git(repo, "tag", "-l", "classifier#*").split()) == [
        "classifier#dev#8", "classifier#staging#7", "classifier#staging#9"]
    assert gto_view(repo)["classifier"]["stage"] == {"dev": "v1.0.0", "staging": "v1.0.0"}
    # gto shows the registry with the lightweight tag in it; so does gitmv, with a warning
    res = run(capsys, repo, "show")
    assert gto(repo, "show").returncode == 0
    assert res.rc == 0 and "classifier#staging#7 is a lightweight tag, ignored" in res.err


def test_events_in_one_second_read_the_same_in_gto(
    repo: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every event of a model written in the same second (a script, a fast loop): gitmv
    dates each tag after the model's previous event, so gto (which orders by the tagger's
    seconds alone) sees the same order, stages and history as gitmv."""
    setup_project(repo)
    registered(repo, clock, [0.90, 0.91, 0.92])
    clock.tick()  # from here on, the clock stands still
    for step in [("promote", "classifier", "v1.0.0", "production"),
                 ("promote", "classifier", "v1.1.0", "production"),
                 ("promote", "classifier", "v1.2.0", "production", "--force", "-m", "go"),
                 ("promote", "classifier", "v1.0.0", "staging"),
                 ("promote", "classifier", "v1.2.0", "staging"),
                 ("rollback", "classifier", "production"),
                 ("promote", "classifier", "v1.1.0", "dev"),
                 ("unassign", "classifier", "staging"),
                 ("promote", "classifier", "v1.2.0", "dev")]:
        assert mvm(repo, "-q", *step) == 0, step
    dates = git(repo, "for-each-ref", "--sort=taggerdate",
                "--format=%(taggerdate:unix)", "refs/tags/classifier*").split()
    assert len(set(dates)) == len(dates), "two events of the model share a second"
    ours = gitmv_view(capsys, repo)
    assert ours == {"classifier": {"version": "v1.2.0", "stage": {
        "dev": "v1.2.0", "production": "v1.1.0", "staging": "v1.0.0"}}}
    assert gto_view(repo) == ours
    assert gto_history(repo, "classifier") == gitmv_history(capsys, repo, "classifier")


def test_a_stage_on_a_commit_without_a_version_reads_as_gto_reads_it(
    repo: Path, clock: Clock, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`gto assign … --sr` puts a stage on a commit where no version is registered: gto shows
    the commit as what the stage holds; so does gitmv, and `get MODEL#STAGE` gets the
    model's bytes at that commit (not the version the stage held before)."""
    setup_project(repo)
    save(repo, "models/classifier.pt", b"registered weights", "train 0")
    clock.tick()
    gto(repo, "register", "classifier", "--version", "v1.0.0")
    clock.tick()
    gto(repo, "assign", "classifier", "--version", "v1.0.0", "--stage", "production")
    save(repo, "models/classifier.pt", b"hotfix weights", "hotfix")
    hotfix = git(repo, "rev-parse", "HEAD").strip()
    clock.tick()
    time.sleep(1.1)  # gto dates its tags by the real clock, in whole seconds: one tie of two
    gto(repo, "assign", "classifier", "--stage", "production", "--sr")  # events of gto's
    ours = gitmv_view(capsys, repo)  # own the two tools break differently (see the note)
    assert ours == {"classifier": {"version": "v1.0.0", "stage": {"production": hotfix}}}
    assert gto_view(repo) == ours
    assert gitmv_history(capsys, repo, "classifier") == gto_history(repo, "classifier")
    out = tmp_path / "deployed.pt"
    info = run_json(capsys, repo, "get", "classifier#production", "-o", str(out))
    assert out.read_bytes() == b"hotfix weights"
    assert (info["version"], info["commit"]) == (hotfix, hotfix)
    res = run(capsys, repo, "show")
    assert res.rc == 0 and hotfix[:12] in res.out


def test_deregistering_the_version_in_a_stage_never_brings_back_one_rolled_back_from(
    repo: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    """v1, v2, v3 promoted to production in turn; v3 is bad: rollback (to v2). Later v2 is
    deregistered: production must go back to v1, not to v3, which the rollback rejected;
    gto reads the same (the rollback unassigned v3)."""
    setup_project(repo)
    registered(repo, clock, [0.90, 0.91, 0.92])
    for version in ("v1.0.0", "v1.1.0", "v1.2.0"):
        clock.tick()
        assert mvm(repo, "-q", "promote", "classifier", version, "production", "--force",
                   "-m", "trial") == 0
    clock.tick()
    assert mvm(repo, "-q", "rollback", "classifier", "production") == 0
    clock.tick()
    assert mvm(repo, "-q", "deprecate", "classifier", "v1.1.0") == 0
    ours = gitmv_view(capsys, repo)
    assert ours["classifier"]["stage"] == {"production": "v1.0.0"}
    assert gto_view(repo) == ours


def test_gto_declarations_are_read(
    repo: Path, clock: Clock, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A GTO repository: stages in `.gto` (here `prod`, not one of gitmv's defaults), a
    model's path and description in `artifacts.yaml` (GTO's index before 1.0), another
    model in `dvc.yaml`'s `artifacts:` (where DVC keeps them now). gitmv registers,
    promotes, rolls back and gets without any [models] or registry.stages of its own."""
    (repo / ".gto").write_text("stages: [dev, prod]\n")
    save(repo, "models/clf.pt", b"weights 0", "train 0")
    (repo / "artifacts.yaml").write_text(  # GTO's index, as `gto annotate` wrote it (gto < 1)
        "clf:\n  type: model\n  path: models/clf.pt\n  description: sorts things\n")
    (repo / "dvc.yaml").write_text(
        "artifacts:\n  enc:\n    path: models/enc.bin\n    type: model\n    desc: encodes\n")
    save(repo, "models/enc.bin", b"encoder", None)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "declarations")
    clock.tick()
    assert mvm(repo, "-q", "register", "--no-env", "clf", "v1.0.0") == 0
    clock.tick()
    assert mvm(repo, "-q", "register", "--no-env", "enc") == 0
    clock.tick()
    assert mvm(repo, "-q", "promote", "clf", "v1.0.0", "prod") == 0
    save(repo, "models/clf.pt", b"weights 1", "train 1")
    clock.tick()
    assert mvm(repo, "-q", "register", "--no-env", "clf") == 0
    clock.tick()
    assert mvm(repo, "-q", "promote", "clf", "v1.0.1", "prod") == 0
    clock.tick()
    assert mvm(repo, "-q", "rollback", "clf", "prod") == 0
    ours = gitmv_view(capsys, repo)
    assert ours == {"clf": {"version": "v1.0.1", "stage": {"prod": "v1.0.0"}},
                    "enc": {"version": "v0.0.1", "stage": {}}}
    theirs = gto_view(repo)
    assert {k: {"version": v["version"], "stage": {s: x for s, x in v["stage"].items() if x}}
            for k, v in theirs.items()} == ours
    res = run(capsys, repo, "show")
    assert res.out.splitlines()[0].split()[:3] == ["MODEL", "LATEST", "PROD"]
    snap = tomllib.loads(git(repo, "tag", "-l", "--format=%(contents:body)", "enc@v0.0.1"))
    assert snap["gitmv"]["description"] == "encodes"
    out = tmp_path / "clf.pt"
    assert mvm(repo, "-q", "get", "clf#prod", "-o", str(out)) == 0
    assert out.read_bytes() == b"weights 0"
    # a stage the config does not list is refused for a new assignment, with how to add it
    clock.tick()
    res = run(capsys, repo, "promote", "clf", "v1.0.1", "qa")
    assert res.rc == 1 and "stages are dev, staging, production, prod" in res.err


def test_get_of_a_version_gto_registered_for_a_file_gitmv_does_not_track(
    repo: Path, clock: Clock, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """GTO registers any file: one committed to git itself, or a DVC output. `get` writes
    its bytes (from git; from DVC's cache, checked against the md5 the .dvc file records)."""
    import hashlib

    (repo / "artifacts.yaml").write_text("plain:\n  path: plain.bin\n"
                                         "dvcout:\n  path: out.bin\n")
    (repo / "plain.bin").write_bytes(b"committed to git")
    weights = b"a DVC output"
    md5 = hashlib.md5(weights).hexdigest()
    cached = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    cached.parent.mkdir(parents=True)
    cached.write_bytes(weights)
    (repo / "out.bin.dvc").write_text(f"outs:\n- md5: {md5}\n  size: {len(weights)}\n"
                                      "  hash: md5\n  path: out.bin\n")
    git(repo, "add", "artifacts.yaml", "plain.bin", "out.bin.dvc")
    git(repo, "commit", "-q", "-m", "plain and dvc")
    clock.tick()
    gto(repo, "register", "plain", "--version", "v1.0.0")
    gto(repo, "register", "dvcout", "--version", "v1.0.0")
    res = run(capsys, repo, "get", "plain@v1.0.0", "-o", str(tmp_path / "p"))
    assert res.rc == 0, res.err
    assert (tmp_path / "p").read_bytes() == b"committed to git"
    res = run(capsys, repo, "get", "dvcout@v1.0.0", "-o", str(tmp_path / "d"))
    assert res.rc == 0, res.err
    assert (tmp_path / "d").read_bytes() == weights
    cached.chmod(0o644)
    cached.write_bytes(b"rotted")
    res = run(capsys, repo, "get", "dvcout@v1.0.0", "-o", str(tmp_path / "d2"))
    assert res.rc == 1 and "does not hash to" in res.err
    assert not (tmp_path / "d2").exists()


def test_gto_equivalents_print_what_gto_prints(
    repo: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    """`show MODEL#STAGE --version/--ref`, `history` of every model, `check-ref`, and the
    JSON in gto's shape (`--gto-json`, `check-ref --json`): the same as gto's own."""
    setup_project(repo)
    registered(repo, clock, [0.90, 0.91])
    save(repo, "models/other.pt", b"other", "other")
    clock.tick()
    gto(repo, "register", "other", "--version", "v0.1.0")
    for args in (("promote", "classifier", "v1.0.0", "production"),
                 ("promote", "classifier", "v1.1.0", "staging"),
                 ("promote", "other", "v0.1.0", "dev")):
        clock.tick()
        assert mvm(repo, "-q", *args) == 0
    clock.tick()
    gto(repo, "assign", "classifier", "--version", "v1.1.0", "--stage", "dev")
    for spec in ("classifier#production", "classifier#dev", "other#dev"):
        for field in ("--version", "--ref"):
            ours = run(capsys, repo, "show", spec, field)
            assert ours.rc == 0 and ours.out == gto(repo, "show", spec, field).stdout, (spec,
                                                                                      field)
    assert run_json(capsys, repo, "show", "--gto-json") == gto_json(repo, "show")
    keys = ("timestamp", "artifact", "event", "priority", "version", "stage", "commit",
            "author", "author_email", "ref")
    ours_h = [tuple(e[k] for k in keys) for e in run_json(capsys, repo, "history",
                                                          "--gto-json")]
    theirs_h = [tuple(e[k] for k in keys) for e in gto_json(repo, "history")]
    assert ours_h == theirs_h
    for tag in ("classifier@v1.0.0", "classifier#production#1", "classifier#dev#3"):
        ours_c = run_json(capsys, repo, "check-ref", tag, "--json")
        theirs_c = gto_json(repo, "check-ref", tag)
        ours_c.pop("message"), theirs_c.pop("message")  # gto's drops the TOML of gitmv's
        assert ours_c == theirs_c, tag
    res = run(capsys, repo, "history")  # every model, times with their offsets
    assert res.rc == 0 and "MODEL" in res.out.splitlines()[0] and "+00:00" in res.out
