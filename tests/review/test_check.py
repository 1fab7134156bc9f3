"""`git mvm check`: `[gates]` rules against a baseline; exit 0 pass, 1 fail, 2 malformed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitmv.errors import GitMvmError
from gitmv.review.gates import run_gates
from gitmv.worktree.workspace import Workspace
from tests.helpers import configure, error_lines, git, init_bare, run, write


def commit_metrics(repo: Path, text: str, message: str) -> None:
    write(repo / "metrics.toml", text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def gate_repo(repo: Path, gates: str, better: str = 'accuracy = "higher", loss = "lower"'
              ) -> Path:
    configure(repo, "metrics", 'files = ["metrics.toml"]')
    configure(repo, "metrics", f"better = {{ {better} }}")
    cfg = repo / ".mvm" / "config.toml"
    cfg.write_text(cfg.read_text() + "\n[gates]\n" + gates + "\n")
    return repo


# --- every kind of rule, passing and failing -----------------------------------------------

CASES = [
    # rule, key, baseline, value, ok, reason
    (">= 0.90", "accuracy", 0.8, 0.9, True, "0.9 >= 0.9"),
    (">= 0.90", "accuracy", 0.95, 0.89, False, "not 0.89 >= 0.9"),
    ("> 0.9", "accuracy", 0.8, 0.91, True, "0.91 > 0.9"),
    ("> 0.9", "accuracy", 0.8, 0.9, False, "not 0.9 > 0.9"),
    ("<= 0.3", "loss", 0.5, 0.3, True, "0.3 <= 0.3"),
    ("<= 0.3", "loss", 0.1, 0.31, False, "not 0.31 <= 0.3"),
    ("< 0.3", "loss", 0.5, 0.29, True, "0.29 < 0.3"),
    ("< 0.3", "loss", 0.5, 0.3, False, "not 0.3 < 0.3"),
    ("== 3", "epochs_done", 1, 3, True, "3 == 3"),
    ("== 3", "epochs_done", 3, 2, False, "not 2 == 3"),
    ("no-regression 1%", "accuracy", 0.9, 0.891, True, "regressed by 0.009 (1.00%), within 1%"),
    ("no-regression 1%", "accuracy", 0.9, 0.89, False,
     "regressed by 0.01 (1.11%), more than the 1% allowed"),
    ("no-regression 1%", "accuracy", 0.9, 0.95, True, "improved by 0.05 (5.56%)"),
    ("no-regression 0.002", "loss", 0.3, 0.302, True,
     "regressed by 0.002 (0.67%), within 0.002"),
    ("no-regression 0.002", "loss", 0.3, 0.303, False,
     "regressed by 0.003 (1.00%), more than the 0.002 allowed"),
    ("no-regression 0.002", "loss", 0.3, 0.2, True, "improved by 0.1 (33.33%)"),
    ("no-regression 1%", "loss", 0.3, 0.30001, True, "regressed by 1e-05 (0.0033%), within 1%"),
    ("no-regression", "loss", 0.3, 0.3, True, "unchanged"),
    ("no-regression", "loss", 0.3, 0.31, False,
     "regressed by 0.01 (3.33%), more than the 0 allowed"),
    ("improves 0.5%", "accuracy", 0.8, 0.804, True, "improved by 0.004 (0.50%), at least 0.5%"),
    ("improves 0.5%", "accuracy", 0.8, 0.803, False,
     "improved by 0.003 (0.38%); it must improve by at least 0.5%"),
    ("improves 0.01", "loss", 0.3, 0.29, True, "improved by 0.01 (3.33%), at least 0.01"),
    ("improves 0.01", "loss", 0.3, 0.295, False,
     "improved by 0.005 (1.67%); it must improve by at least 0.01"),
    ("improves 1%", "loss", 0.3, 0.31, False,
     "regressed by 0.01 (3.33%); it must improve by at least 1%"),
    ("improves", "accuracy", 0.8, 0.81, True, "improved by 0.01 (1.25%)"),
    ("improves", "accuracy", 0.8, 0.8, False, "unchanged; it must improve"),
]


@pytest.mark.parametrize(("rule", "key", "base", "value", "ok", "reason"), CASES)
def test_each_rule_kind_passes_and_fails(
    repo: Path, capsys: pytest.CaptureFixture[str], rule: str, key: str, base: float,
    value: float, ok: bool, reason: str,
) -> None:
    gate_repo(repo, f'{key} = "{rule}"')
    commit_metrics(repo, f"{key} = {base}\n", "baseline")
    write(repo / "metrics.toml", f"{key} = {value}\n")
    res = run(capsys, repo, "check", "--baseline", "HEAD", "--json")
    assert res.rc == (0 if ok else 1), res.err
    data = json.loads(res.out)
    assert data["passed"] is ok
    assert data["results"] == [{"rule": f"{key} {rule}", "key": key, "file": "metrics.toml",
                                "baseline": base, "value": value, "ok": ok,
                                "reason": reason}]


# --- the whole report in text, Markdown and JSON -------------------------------------------

GATES = """\
accuracy = [">= 0.90", "no-regression 1%"]
loss = "no-regression 0.002"
f1 = "improves 0.5%"
"""


@pytest.fixture
def gated(repo: Path) -> Path:
    gate_repo(repo, GATES, 'accuracy = "higher", loss = "lower", "eval.test.f1" = "higher"')
    commit_metrics(repo, "accuracy = 0.9\nloss = 0.3\n[eval.test]\nf1 = 0.8\n", "baseline")
    git(repo, "tag", "base")
    commit_metrics(repo, "accuracy = 0.92\nloss = 0.31\n[eval.test]\nf1 = 0.81\n", "new")
    return repo


def test_check_text_output_and_exit_code(gated: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    base = git(gated, "rev-parse", "base").strip()
    res = run(capsys, gated, "check", "--baseline", "base")
    assert (res.rc, res.err) == (1, "")
    assert res.out == (
        f"baseline: base ({base[:12]}); checked: the work tree\n"
        "rule                       file          key           baseline  value  result  why\n"
        "accuracy >= 0.90           metrics.toml  accuracy      0.9       0.92   pass    "
        "0.92 >= 0.9\n"
        "accuracy no-regression 1%  metrics.toml  accuracy      0.9       0.92   pass    "
        "improved by 0.02 (2.22%)\n"
        "loss no-regression 0.002   metrics.toml  loss          0.3       0.31   FAIL    "
        "regressed by 0.01 (3.33%), more than the 0.002 allowed\n"
        "f1 improves 0.5%           metrics.toml  eval.test.f1  0.8       0.81   pass    "
        "improved by 0.01 (1.25%), at least 0.5%\n"
        "1 of 4 gates failed\n"
    )
    # Fix the loss: every gate passes, exit 0.
    write(gated / "metrics.toml", "accuracy = 0.92\nloss = 0.301\n[eval.test]\nf1 = 0.81\n")
    res = run(capsys, gated, "check", "--baseline", "base")
    assert res.rc == 0
    assert res.out.splitlines()[4].split() == [
        "loss", "no-regression", "0.002", "metrics.toml", "loss", "0.3", "0.301", "pass",
        "regressed", "by", "0.001", "(0.33%),", "within", "0.002"]
    assert res.out.splitlines()[-1] == "all 4 gates passed"


def test_check_markdown(gated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = git(gated, "rev-parse", "base").strip()
    res = run(capsys, gated, "check", "--baseline", "base", "--md")
    assert res.rc == 1
    assert res.out == (
        "### ❌ Gates: 1 of 4 gates failed\n\n"
        f"Baseline: base ({base[:12]}); checked: the work tree\n\n"
        "| rule | file | key | baseline | value | result | why |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n"
        "| accuracy >= 0.90 | metrics.toml | accuracy | 0.9 | 0.92 | ✅ pass | 0.92 >= 0.9 |\n"
        "| accuracy no-regression 1% | metrics.toml | accuracy | 0.9 | 0.92 | ✅ pass | "
        "improved by 0.02 (2.22%) |\n"
        "| loss no-regression 0.002 | metrics.toml | loss | 0.3 | 0.31 | ❌ fail | "
        "regressed by 0.01 (3.33%), more than the 0.002 allowed |\n"
        "| f1 improves 0.5% | metrics.toml | eval.test.f1 | 0.8 | 0.81 | ✅ pass | "
        "improved by 0.01 (1.25%), at least 0.5% |\n"
    )


def test_check_json_and_rev(gated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(gated / "metrics.toml", "accuracy = 0.1\n")  # the work tree is not what --rev checks
    res = run(capsys, gated, "check", "--baseline", "base", "--rev", "HEAD", "--json")
    assert res.rc == 1
    data = json.loads(res.out)
    assert data["baseline"] == "base"
    assert data["baseline_commit"] == git(gated, "rev-parse", "base").strip()
    assert (data["rev"], data["passed"], data["problems"]) == ("HEAD", False, [])
    assert [(r["rule"], r["key"], r["baseline"], r["value"], r["ok"]) for r in data["results"]
            ] == [
        ("accuracy >= 0.90", "accuracy", 0.9, 0.92, True),
        ("accuracy no-regression 1%", "accuracy", 0.9, 0.92, True),
        ("loss no-regression 0.002", "loss", 0.3, 0.31, False),
        ("f1 improves 0.5%", "eval.test.f1", 0.8, 0.81, True),
    ]


def test_run_gates_api(gated: Path) -> None:
    ws = Workspace.open(str(gated))
    report = run_gates(ws, "base", "HEAD")
    ws.state.close()
    assert report.passed is False
    assert [(r.rule, r.ok) for r in report.results] == [
        ("accuracy >= 0.90", True), ("accuracy no-regression 1%", True),
        ("loss no-regression 0.002", False), ("f1 improves 0.5%", True)]
    r = report.results[2]
    assert (r.key, r.file, r.baseline, r.value) == ("loss", "metrics.toml", 0.3, 0.31)


# --- malformed rules: exit 2, naming the rule ----------------------------------------------

MALFORMED = [
    ('accuracy = "~ 0.9"', "malformed gate rule gates.accuracy = '~ 0.9': not a rule gitmv "
     "knows"),
    ('accuracy = ">= high"', "malformed gate rule gates.accuracy = '>= high': not a rule gitmv "
     "knows"),
    ('accuracy = "no-regression -1%"', "malformed gate rule gates.accuracy = "
     "'no-regression -1%': not a rule gitmv knows"),
    ('accuracy = "improves 1%%"', "malformed gate rule gates.accuracy = 'improves 1%%': not a "
     "rule gitmv knows"),
    ("accuracy = 0.9", "malformed gate rule gates.accuracy = 0.9: not a string"),
    ("accuracy = []", "malformed gate rule gates.accuracy = []: an empty list of rules"),
    ('f1 = "no-regression 1%"', "malformed gate rule gates.f1 = 'no-regression 1%': f1 has no "
     "direction, so gitmv cannot tell better from worse"),
    ('eval.f1 = "improves"', "malformed gate rule gates.eval.f1 = 'improves': eval.f1 has no "
     "direction, so gitmv cannot tell better from worse"),
]


@pytest.mark.parametrize(("line", "message"), MALFORMED)
def test_malformed_rule_exits_2_naming_it(
    repo: Path, capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    gate_repo(repo, 'loss = "<= 1"\n' + line)
    commit_metrics(repo, "accuracy = 0.9\nloss = 0.3\nf1 = 0.5\n", "m")
    res = run(capsys, repo, "check", "--baseline", "HEAD")
    assert (res.rc, res.out) == (2, "")
    assert error_lines(res.err) == [f"git mvm: error: {message}"]
    assert "hint: " in res.err
    ws = Workspace.open(str(repo))
    with pytest.raises(GitMvmError) as info:
        run_gates(ws, "HEAD", None)
    ws.state.close()
    assert info.value.exit_code == 2
    assert info.value.message == message


def test_no_direction_hint_and_the_malformed_rule_wins_over_missing_values(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gate_repo(repo, 'recall = "no-regression"')
    # No metrics file at all: the rule is still reported as malformed, not as missing data.
    git(repo, "commit", "-qam", "config")
    res = run(capsys, repo, "check", "--baseline", "HEAD")
    assert res.rc == 2
    assert res.err.splitlines()[1] == (
        'hint: say which way is better in .mvm/config.toml: [metrics] better = { recall = '
        '"higher" }  (or "lower")')


def test_direction_from_a_full_key_serves_a_last_name_rule(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gate_repo(repo, 'f1 = "no-regression"',
              '"eval.test.f1" = "higher", "train.loss" = "lower", "val.loss" = "higher"')
    commit_metrics(repo, "[eval.test]\nf1 = 0.5\n", "m")
    write(repo / "metrics.toml", "[eval.test]\nf1 = 0.4\n")
    res = run(capsys, repo, "check", "--baseline", "HEAD")
    assert res.rc == 1
    assert res.out.splitlines()[2].endswith(
        "regressed by 0.1 (20.00%), more than the 0 allowed")
    cfg = repo / ".mvm" / "config.toml"
    cfg.write_text(cfg.read_text() + 'loss = "no-regression"\n')
    res = run(capsys, repo, "check", "--baseline", "HEAD")
    # `loss` is named by two full keys with different directions: ambiguous, so malformed.
    assert res.rc == 2
    assert "gates.loss = 'no-regression': loss has no direction" in res.err


# --- values that are missing or unreadable -------------------------------------------------


def test_missing_values_fail_but_no_baseline_value_is_no_regression(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gate_repo(repo, 'accuracy = ["no-regression", "improves"]\nloss = "<= 0.5"\n'
              'name = ">= 1"')
    commit_metrics(repo, "loss = 0.3\n", "baseline without accuracy")
    write(repo / "metrics.toml", 'accuracy = 0.9\nname = "resnet"\n')
    res = run(capsys, repo, "check", "--baseline", "HEAD", "--json")
    assert res.rc == 1
    results = json.loads(res.out)["results"]
    assert [(r["rule"], r["ok"], r["reason"]) for r in results] == [
        ("accuracy no-regression", True, "no baseline value: nothing to regress from"),
        ("accuracy improves", False, "no baseline value to improve on"),
        ("loss <= 0.5", False, "loss is missing from metrics.toml at the work tree"),
        ("name >= 1", False, "name = 'resnet' is not a number"),
    ]


def test_a_key_in_no_file_fails(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gate_repo(repo, 'recall = ">= 0.5"')
    commit_metrics(repo, "loss = 0.3\n", "baseline")
    res = run(capsys, repo, "check", "--baseline", "HEAD", "--json")
    assert res.rc == 1
    last = json.loads(res.out)["results"][-1]
    assert last == {"rule": "recall >= 0.5", "key": "recall", "file": None, "baseline": None,
                    "value": None, "ok": False,
                    "reason": "recall is in no metrics file at the work tree or "
                    f"{git(repo, 'rev-parse', '--short=12', 'HEAD').strip()}"}


def test_broken_metrics_file_fails_the_gate_and_says_why(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gate_repo(repo, 'accuracy = ">= 0.9"\nloss = "no-regression 5%"')
    commit_metrics(repo, "accuracy = 0.95\nloss = 0.3\n", "good")
    write(repo / "metrics.toml", "accuracy = nan\nloss = 0.3\n")
    res = run(capsys, repo, "check", "--baseline", "HEAD")
    assert res.rc == 1
    assert res.out.splitlines()[2].split() == [
        "accuracy", ">=", "0.9", "metrics.toml", "accuracy", "0.95", "-", "FAIL", "cannot",
        "read", "it:", "metrics.toml", "at", "the", "work", "tree:", "accuracy", "=", "nan:",
        "not", "a", "finite", "number;", "left", "out"]
    assert res.err == ("git mvm: warning: metrics.toml at the work tree: accuracy = nan: not "
                       "a finite number; left out\n")
    res = run(capsys, repo, "check", "--baseline", "HEAD", "--md")
    assert res.out.endswith(
        "\n> ⚠️ metrics.toml at the work tree: accuracy = nan: not a finite number; left out\n")


def test_a_file_that_cannot_be_read_fails_its_gates_and_says_so(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not "missing" (which would let no-regression pass on a broken baseline): unreadable."""
    gate_repo(repo, 'accuracy = ["no-regression", ">= 0.5"]\nloss = "<= 0.5"')
    write(repo / "metrics.toml", "accuracy = 0.9\nloss = 0.3\n[broken\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a broken baseline")
    short = git(repo, "rev-parse", "--short=12", "HEAD").strip()
    write(repo / "metrics.toml", "accuracy = 0.9\nloss = 0.3\n")
    res = run(capsys, repo, "check", "--baseline", "HEAD", "--json")
    assert res.rc == 1
    results = json.loads(res.out)["results"]
    assert [(r["rule"], r["ok"]) for r in results] == [
        ("accuracy no-regression", False), ("accuracy >= 0.5", True), ("loss <= 0.5", True)]
    assert results[0]["reason"].startswith(
        f"cannot read it: metrics.toml at {short}: invalid TOML: ")
    # broken on the checked side: every rule on the file fails, thresholds too
    git(repo, "commit", "-qam", "fixed")
    write(repo / "metrics.toml", "accuracy = 0.9\nloss = 0.3\n[broken\n")
    results = json.loads(run(capsys, repo, "check", "--baseline", "HEAD", "--json").out)[
        "results"]
    assert [(r["ok"], r["reason"].split(": ")[:2]) for r in results] == [
        (False, ["cannot read it", "metrics.toml at the work tree"])] * 3


def test_zero_baseline_with_a_relative_tolerance(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A percentage of zero is zero: staying at zero or improving passes, regressing fails."""
    gate_repo(repo, 'errors = ["no-regression 5%", "improves 1%"]', 'errors = "lower"')
    commit_metrics(repo, "errors = 0\n", "baseline")
    for value, expected in [
        ("0", [(True, "unchanged"), (False, "unchanged; it must improve by at least 1%")]),
        ("-1", [(True, "improved by 1"), (True, "improved by 1, at least 1%")]),
        ("2", [(False, "regressed by 2; a relative tolerance needs a non-zero baseline"),
               (False, "regressed by 2; it must improve by at least 1%")]),
    ]:
        write(repo / "metrics.toml", f"errors = {value}\n")
        res = run(capsys, repo, "check", "--baseline", "HEAD", "--json")
        got = [(r["ok"], r["reason"]) for r in json.loads(res.out)["results"]]
        assert got == expected, value
        assert res.rc == (0 if all(ok for ok, _ in expected) else 1)


def test_zero_or_text_baseline(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gate_repo(repo, 'loss = ["no-regression 5%", "no-regression 0.1", "no-regression 0%"]\n'
              'accuracy = "no-regression"')
    commit_metrics(repo, 'loss = 0\naccuracy = "n/a"\n', "baseline")
    write(repo / "metrics.toml", "loss = 0.05\naccuracy = 0.9\n")
    res = run(capsys, repo, "check", "--baseline", "HEAD", "--json")
    assert res.rc == 1
    assert [(r["rule"], r["ok"], r["reason"]) for r in json.loads(res.out)["results"]] == [
        ("loss no-regression 5%", False,
         "regressed by 0.05; a relative tolerance needs a non-zero baseline"),
        ("loss no-regression 0.1", True, "regressed by 0.05, within 0.1"),
        ("loss no-regression 0%", False, "regressed by 0.05, more than the 0% allowed"),
        ("accuracy no-regression", False, "baseline accuracy = 'n/a' is not a number"),
    ]


def test_gates_must_be_a_table(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = repo / ".mvm" / "config.toml"
    cfg.write_text('gates = ">= 1"\n' + cfg.read_text())
    res = run(capsys, repo, "check")
    assert res.rc == 2
    assert error_lines(res.err) == [
        "git mvm: error: .mvm/config.toml: gates must be a table, not '>= 1'"]


def test_a_malformed_direction_is_a_malformed_gates_config(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 (CI says "a gate rule is malformed"), not 1 ("a metrics gate failed")."""
    gate_repo(repo, 'accuracy = "no-regression"', 'accuracy = "up"')
    commit_metrics(repo, "accuracy = 0.8\n", "m1")
    res = run(capsys, repo, "check", "--baseline", "HEAD")
    assert (res.rc, res.out) == (2, "")
    assert error_lines(res.err) == [
        "git mvm: error: .mvm/config.toml: metrics.better.accuracy = 'up': not a direction"]


def test_no_gates_configured_passes(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = run(capsys, repo, "check")
    assert (res.rc, res.out) == (0, "")
    assert res.err == "no gates configured: add rules under [gates] in .mvm/config.toml\n"


# --- the default baseline ------------------------------------------------------------------


def test_default_baseline_is_the_merge_base_with_origin_main(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gate_repo(repo, 'accuracy = "no-regression"')
    commit_metrics(repo, "accuracy = 0.8\n", "m1")
    fork = git(repo, "rev-parse", "HEAD").strip()
    origin = init_bare(tmp_path / "origin.git")
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "origin", "main")
    git(repo, "switch", "-q", "-c", "feature")
    commit_metrics(repo, "accuracy = 0.85\n", "feature work")
    # main moves on after the fork: its newer, better value must not be the baseline
    git(repo, "switch", "-q", "main")
    commit_metrics(repo, "accuracy = 0.99\n", "m2 on main")
    git(repo, "push", "-q", "origin", "main")
    git(repo, "switch", "-q", "feature")
    git(repo, "branch", "-q", "-D", "main")  # only origin/main is left
    res = run(capsys, repo, "check", "--json")
    data = json.loads(res.out)
    assert res.rc == 0
    assert (data["baseline"], data["baseline_commit"]) == (
        "merge base of HEAD and origin/main", fork)
    assert [(r["baseline"], r["value"]) for r in data["results"]] == [(0.8, 0.85)]
    # origin/HEAD, when set, names the default branch
    git(repo, "push", "-q", "origin", "feature:trunk")
    git(repo, "remote", "set-head", "origin", "trunk")
    data = json.loads(run(capsys, repo, "check", "--json").out)
    assert data["baseline"] == "merge base of HEAD and origin/HEAD"
    assert data["baseline_commit"] == git(repo, "rev-parse", "HEAD").strip()


def test_default_baseline_follows_the_checked_rev(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check --rev feature` from main: the merge base of feature, not of HEAD (main's tip)."""
    gate_repo(repo, 'accuracy = "no-regression"')
    commit_metrics(repo, "accuracy = 0.8\n", "m1")
    fork = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "switch", "-q", "-c", "feature")
    commit_metrics(repo, "accuracy = 0.85\n", "feature work")
    git(repo, "switch", "-q", "main")
    commit_metrics(repo, "accuracy = 0.99\n", "m2 on main")
    res = run(capsys, repo, "check", "--rev", "feature", "--json")
    data = json.loads(res.out)
    assert (res.rc, data["baseline"], data["baseline_commit"]) == (
        0, "merge base of feature and main", fork)
    assert [(r["baseline"], r["value"]) for r in data["results"]] == [(0.8, 0.85)]


def test_default_baseline_local_main_then_none(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gate_repo(repo, 'accuracy = "no-regression"')
    commit_metrics(repo, "accuracy = 0.8\n", "m1")
    res = run(capsys, repo, "check", "--json")
    assert res.rc == 0
    assert json.loads(res.out)["baseline"] == "merge base of HEAD and main"
    git(repo, "branch", "-q", "-m", "trunk")
    res = run(capsys, repo, "check")
    assert res.rc == 1
    assert error_lines(res.err) == [
        "git mvm: error: no default baseline: none of origin/HEAD, origin/main, "
        "origin/master, main or master exists"]
    assert "hint: name the baseline: `git mvm check --baseline REV`" in res.err
    res = run(capsys, repo, "check", "--baseline", "trunk~0")
    assert res.rc == 0


def test_unknown_baseline(gated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = run(capsys, gated, "check", "--baseline", "nosuch")
    assert res.rc == 1
    assert error_lines(res.err) == ["git mvm: error: unknown revision 'nosuch'"]


def test_registry_spec_as_baseline(gated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git(gated, "tag", "-a", "classifier@v1.0.0", "-m", "register", "base")
    git(gated, "tag", "-a", "classifier#production#1", "-m", "assign", "base")
    base = git(gated, "rev-parse", "base").strip()
    for spec in ("classifier@production", "classifier#production", "classifier@v1.0.0",
                 "classifier@latest"):
        res = run(capsys, gated, "check", "--baseline", spec, "--json")
        data = json.loads(res.out)
        assert data["baseline_commit"] == base, spec
        assert [r["baseline"] for r in data["results"]] == [0.9, 0.9, 0.3, 0.8]
    assert data["baseline"] == "classifier@latest (classifier@v1.0.0)"
    res = run(capsys, gated, "check", "--baseline", "classifier@staging")
    assert res.rc == 1
    assert error_lines(res.err) == [
        "git mvm: error: no version of classifier is in stage 'staging'"]
    # GTO names: mixed case, '_', one character; MODEL@STAGE still means the stage
    for model in ("Img_Cls", "m"):
        git(gated, "tag", "-a", f"{model}@v2.0.0", "-m", "register", "base")
        git(gated, "tag", "-a", f"{model}#prod#1", "-m", "assign", "base")
        res = run(capsys, gated, "check", "--baseline", f"{model}@prod", "--json")
        data = json.loads(res.out)
        assert (data["baseline"], data["baseline_commit"]) == (
            f"{model}@prod ({model}@v2.0.0)", base), res.err
