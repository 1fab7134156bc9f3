"""Params and metrics in JSON and YAML files as well as TOML (by the file's suffix), at any
revision and in the work tree; YAML through PyYAML, the `yaml` extra."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import configure, error_lines, git, run, run_json, write


@pytest.fixture
def mixed(repo: Path) -> Path:
    """metrics.json + eval.yaml + params.yml, two commits (tag v1, HEAD v2)."""
    configure(repo, "metrics", 'files = ["metrics.json", "eval.yaml"]')
    configure(repo, "metrics", 'better = { acc = "higher", loss = "lower" }')
    configure(repo, "params", 'files = ["params.yml"]')
    write(repo / "metrics.json", json.dumps({"acc": 0.9, "loss": 0.3, "per_class": [0.5, 0.6]}))
    write(repo / "eval.yaml", "test:\n  f1: 0.8\n  n: 100\n")
    write(repo / "params.yml", "lr: 0.1\ntrain:\n  epochs: 3\n  optimizer: adam\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    git(repo, "tag", "v1")
    write(repo / "metrics.json", json.dumps({"acc": 0.93, "loss": 0.25, "per_class": [0.5, 0.7]}))
    write(repo / "eval.yaml", "test:\n  f1: 0.85\n  n: 100\n")
    write(repo / "params.yml", "lr: 0.05\ntrain:\n  epochs: 3\n  optimizer: sgd\n")
    git(repo, "commit", "-qam", "v2")
    return repo


def test_json_and_yaml_values_diff_between_revisions(
    mixed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = run_json(capsys, mixed, "metrics", "diff", "v1", "HEAD")["rows"]
    got = {(r["file"], r["key"]): (r["old"], r["new"]) for r in rows}
    assert got[("metrics.json", "acc")] == (0.9, 0.93)
    assert got[("metrics.json", "per_class[1]")] == (0.6, 0.7)
    assert got[("eval.yaml", "test.f1")] == (0.8, 0.85)
    params = run_json(capsys, mixed, "params", "diff", "v1", "HEAD")["rows"]
    assert {(r["key"], r["old"], r["new"]) for r in params} >= {
        ("lr", 0.1, 0.05), ("train.optimizer", "adam", "sgd")}
    res = run(capsys, mixed, "metrics", "show")
    assert res.rc == 0 and "0.93" in res.out and "test.f1" in res.out


def test_invalid_json_or_yaml_is_a_problem_not_a_traceback(
    mixed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(mixed / "metrics.json", "{not json")
    write(mixed / "eval.yaml", "- a list\n- not a table\n")
    res = run(capsys, mixed, "metrics", "show")
    assert "Traceback" not in res.err
    assert "metrics.json" in res.err and "invalid JSON" in res.err
    assert "eval.yaml" in res.err and "not a table of values at the top" in res.err
    write(mixed / "metrics.json", '{"acc": NaN, "loss": 0.2}')
    write(mixed / "eval.yaml", "test:\n  f1: .inf\n")
    res = run(capsys, mixed, "metrics", "show")
    assert "acc = nan: not a finite number" in res.err
    assert "test.f1 = inf: not a finite number" in res.err
    assert "0.2" in res.out


def test_yaml_without_pyyaml_is_one_clear_line(mixed: Path) -> None:
    code = ("import sys; sys.modules['yaml'] = None; from gitmv.cli import main; "
            "sys.exit(main(['params', 'show']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=mixed, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 1
    assert error_lines(proc.stderr) == [
        "git mvm: error: params.yml: reading YAML params and metrics needs PyYAML, which is "
        "not installed"]
    assert "hint: pip install 'gitmv[yaml]'" in proc.stderr
    assert "Traceback" not in proc.stderr
