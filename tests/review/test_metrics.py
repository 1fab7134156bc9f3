"""`git mvm metrics show|diff` and `git mvm params show|diff`: values from TOML files at any
revision (from git objects, no checkout) or the work tree, and the tables built from them."""

from __future__ import annotations

import datetime
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from gitmv.review.metrics import diff_values, flatten, glob_to_regex, values_at
from gitmv.worktree.workspace import Workspace
from tests.helpers import configure, error_lines, git, run, run_json, write

METRICS_1 = """\
accuracy = 0.9
loss = 0.3
[eval.test]
f1 = 0.8
curve = [0.1, 0.2]
"""
METRICS_2 = """\
accuracy = 0.92
loss = 0.31
[eval.test]
f1 = 0.81
curve = [0.1, 0.25, 0.3]
"""
PARAMS_1 = 'lr = 0.001\noptimizer = "adam"\n[train]\nepochs = 10\naugment = true\n'
PARAMS_2 = 'lr = 0.001\noptimizer = "sgd"\n[train]\nepochs = 12\naugment = false\n'


def setup_config(repo: Path) -> None:
    configure(repo, "metrics", 'files = ["metrics.toml", "eval/*.toml"]')
    configure(repo, "metrics",
              'better = { accuracy = "higher", loss = "lower", "eval.test.f1" = "higher" }')
    configure(repo, "params", 'files = ["params.toml"]')


@pytest.fixture
def history(repo: Path) -> Path:
    """v1 and v2 commits of metrics.toml, eval/val.toml and params.toml (HEAD = v2)."""
    setup_config(repo)
    write(repo / "metrics.toml", METRICS_1)
    write(repo / "eval" / "val.toml", "f1 = 0.7\nsamples = 500\n")
    write(repo / "params.toml", PARAMS_1)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    git(repo, "tag", "v1")
    write(repo / "metrics.toml", METRICS_2)
    write(repo / "eval" / "val.toml", "f1 = 0.7\nsamples = 400\n")
    write(repo / "params.toml", PARAMS_2)
    git(repo, "commit", "-qam", "v2")
    return repo


# --- reading values ------------------------------------------------------------------------


def test_flatten_tables_arrays_and_odd_keys() -> None:
    doc = {
        "a": 1,
        "eval": {"test": {"f1": 0.5}, "f1.macro": 0.25},
        "curve": [1, 2],
        "runs": [{"f1": 0.1}, {"f1": 0.2, "tags": ["x"]}],
        "grid": [[1, 2], [3]],
    }
    assert flatten(doc) == {
        "a": 1, "eval.test.f1": 0.5, 'eval."f1.macro"': 0.25, "curve[0]": 1, "curve[1]": 2,
        "runs[0].f1": 0.1, "runs[1].f1": 0.2, "runs[1].tags[0]": "x",
        "grid[0][0]": 1, "grid[0][1]": 2, "grid[1][0]": 3,
    }
    assert flatten({"eval": {"f1.macro": 1}}, quote=False) == {"eval.f1.macro": 1}


def test_glob_rules_follow_git_glob_pathspecs() -> None:
    one = glob_to_regex("eval/*.toml")
    assert one.fullmatch("eval/val.toml")
    assert not one.fullmatch("eval/deep/val.toml")
    assert not one.fullmatch("eval/val.json")
    deep = glob_to_regex("**/metrics.toml")
    assert deep.fullmatch("metrics.toml")
    assert deep.fullmatch("a/b/metrics.toml")
    assert not deep.fullmatch("a/b/xmetrics.toml")
    assert glob_to_regex("m?.toml").fullmatch("m1.toml")
    assert glob_to_regex("m[0-9].toml").fullmatch("m7.toml")
    assert not glob_to_regex("m[!0-9].toml").fullmatch("m7.toml")
    assert glob_to_regex("runs/**").fullmatch("runs/a/b.toml")


def test_values_at_revision_read_from_git_objects_without_checkout(history: Path) -> None:
    write(history / "metrics.toml", "accuracy = 0.5\n")  # an unsaved edit in the work tree
    before = (git(history, "status", "--porcelain"), git(history, "rev-parse", "HEAD"),
              (history / ".git" / "index").read_bytes())
    ws = Workspace.open(str(history))
    old = values_at(ws, "v1", "metrics")
    assert old.rev == "v1"
    assert old.problems == []
    assert old.files == {
        "metrics.toml": {"accuracy": 0.9, "loss": 0.3, "eval.test.f1": 0.8,
                         "eval.test.curve[0]": 0.1, "eval.test.curve[1]": 0.2},
        "eval/val.toml": {"f1": 0.7, "samples": 500},
    }
    assert values_at(ws, None, "metrics").files["metrics.toml"] == {"accuracy": 0.5}
    assert values_at(ws, "HEAD", "params").files == {
        "params.toml": {"lr": 0.001, "optimizer": "sgd", "train.epochs": 12,
                        "train.augment": False}}
    ws.state.close()
    # Nothing was checked out: work tree, HEAD and index are as they were.
    assert (history / "metrics.toml").read_text() == "accuracy = 0.5\n"
    after = (git(history, "status", "--porcelain"), git(history, "rev-parse", "HEAD"),
             (history / ".git" / "index").read_bytes())
    assert after == before


def test_values_at_with_patterns_of_its_own(history: Path) -> None:
    """A model's own file list (the registry passes one) replaces the configured one."""
    ws = Workspace.open(str(history))
    vals = values_at(ws, "v1", "metrics", ["./eval/*.toml", "nosuch.toml"])
    ws.state.close()
    assert vals.files == {"eval/val.toml": {"f1": 0.7, "samples": 500}}
    assert [str(p) for p in vals.problems] == ["nosuch.toml at v1: missing"]


def test_a_glob_match_deleted_from_the_work_tree_is_removed_not_unreadable(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (history / "eval" / "val.toml").unlink()  # still in the index: ls-files lists it
    res = run(capsys, history, "metrics", "diff")
    assert (res.rc, res.err) == (0, "")
    assert res.out == (
        "file           key      old  new  change  change %  result\n"
        "eval/val.toml  f1       0.7  -                      removed\n"
        "eval/val.toml  samples  400  -                      removed\n"
    )


def test_dates_and_times_compare_as_text(repo: Path) -> None:
    configure(repo, "params", 'files = ["params.toml"]')
    write(repo / "params.toml", "when = 2024-05-01T10:00:00Z\nday = 2024-05-01\n")
    ws = Workspace.open(str(repo))
    vals = values_at(ws, None, "params")
    ws.state.close()
    when = datetime.datetime(2024, 5, 1, 10, tzinfo=datetime.UTC).isoformat()
    assert vals.files == {"params.toml": {"when": when, "day": "2024-05-01"}}


# --- diff tables ---------------------------------------------------------------------------

DIFF_TEXT = """\
file           key                 old  new   change  change %  result
metrics.toml   accuracy            0.9  0.92  +0.02   +2.22%    improved
metrics.toml   loss                0.3  0.31  +0.01   +3.33%    regressed
metrics.toml   eval.test.f1        0.8  0.81  +0.01   +1.25%    improved
metrics.toml   eval.test.curve[1]  0.2  0.25  +0.05   +25.00%   changed
metrics.toml   eval.test.curve[2]  -    0.3                     added
eval/val.toml  samples             500  400   -100    -20.00%   changed
"""


def test_metrics_diff_text_table(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = run(capsys, history, "metrics", "diff", "v1", "HEAD")
    assert (res.rc, res.err) == (0, "")
    assert res.out == DIFF_TEXT


def test_metrics_diff_markdown(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = run(capsys, history, "metrics", "diff", "v1", "HEAD", "--md")
    assert res.rc == 0
    assert res.out == """\
| file | key | old | new | change | change % | result |
| --- | --- | --- | --- | --- | --- | --- |
| metrics.toml | accuracy | 0.9 | 0.92 | +0.02 | +2.22% | ✅ improved |
| metrics.toml | loss | 0.3 | 0.31 | +0.01 | +3.33% | ❌ regressed |
| metrics.toml | eval.test.f1 | 0.8 | 0.81 | +0.01 | +1.25% | ✅ improved |
| metrics.toml | eval.test.curve[1] | 0.2 | 0.25 | +0.05 | +25.00% | changed |
| metrics.toml | eval.test.curve[2] | - | 0.3 |   |   | added |
| eval/val.toml | samples | 500 | 400 | -100 | -20.00% | changed |
"""


def test_metrics_diff_json(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, history, "metrics", "diff", "v1", "HEAD")
    assert (data["a"], data["b"], data["problems"]) == ("v1", "HEAD", [])
    assert data["rows"] == [
        {"file": "metrics.toml", "key": "accuracy", "old": 0.9, "new": 0.92, "change": 0.02,
         "rel_change": 2.22222222222, "direction": "higher", "status": "improved"},
        {"file": "metrics.toml", "key": "loss", "old": 0.3, "new": 0.31, "change": 0.01,
         "rel_change": 3.33333333333, "direction": "lower", "status": "regressed"},
        {"file": "metrics.toml", "key": "eval.test.f1", "old": 0.8, "new": 0.81,
         "change": 0.01, "rel_change": 1.25, "direction": "higher", "status": "improved"},
        {"file": "metrics.toml", "key": "eval.test.curve[1]", "old": 0.2, "new": 0.25,
         "change": 0.05, "rel_change": 25.0, "direction": None, "status": "changed"},
        {"file": "metrics.toml", "key": "eval.test.curve[2]", "old": None, "new": 0.3,
         "change": None, "rel_change": None, "direction": None, "status": "added"},
        {"file": "eval/val.toml", "key": "samples", "old": 500, "new": 400, "change": -100,
         "rel_change": -20.0, "direction": None, "status": "changed"},
    ]


def test_diff_defaults_to_head_against_work_tree_and_all_shows_every_key(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, history, "metrics", "diff").out == ""  # nothing changed since HEAD
    write(history / "metrics.toml", METRICS_2.replace("loss = 0.31", "loss = 0.29"))
    res = run(capsys, history, "metrics", "diff")
    assert res.out == (
        "file          key   old   new   change  change %  result\n"
        "metrics.toml  loss  0.31  0.29  -0.02   -6.45%    improved\n"
    )
    res = run(capsys, history, "metrics", "diff", "--all")
    assert res.out.splitlines() == [
        "file           key                 old   new   change  change %  result",
        "metrics.toml   accuracy            0.92  0.92  0       0.00%     unchanged",
        "metrics.toml   loss                0.31  0.29  -0.02   -6.45%    improved",
        "metrics.toml   eval.test.f1        0.81  0.81  0       0.00%     unchanged",
        "metrics.toml   eval.test.curve[0]  0.1   0.1   0       0.00%     unchanged",
        "metrics.toml   eval.test.curve[1]  0.25  0.25  0       0.00%     unchanged",
        "metrics.toml   eval.test.curve[2]  0.3   0.3   0       0.00%     unchanged",
        "eval/val.toml  f1                  0.7   0.7   0       0.00%     unchanged",
        "eval/val.toml  samples             400   400   0       0.00%     unchanged",
    ]
    # One revision: that revision against the work tree.
    res = run(capsys, history, "metrics", "diff", "v1", "--json")
    loss = [r for r in json.loads(res.out)["rows"] if r["key"] == "loss"]
    assert loss == [{"file": "metrics.toml", "key": "loss", "old": 0.3, "new": 0.29,
                     "change": -0.01, "rel_change": -3.33333333333, "direction": "lower",
                     "status": "improved"}]


def test_params_diff_strings_and_booleans_change_or_not(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = run(capsys, history, "params", "diff", "v1", "HEAD", "--all")
    assert res.out == (
        "file         key            old     new    change  change %  result\n"
        "params.toml  lr             0.001   0.001  0       0.00%     unchanged\n"
        'params.toml  optimizer      "adam"  "sgd"                    changed\n'
        "params.toml  train.epochs   10      12     +2      +20.00%   changed\n"
        "params.toml  train.augment  true    false                    changed\n"
    )
    rows = run_json(capsys, history, "params", "diff", "v1", "HEAD")["rows"]
    assert [(r["key"], r["old"], r["new"], r["change"], r["status"]) for r in rows] == [
        ("optimizer", "adam", "sgd", None, "changed"),
        ("train.epochs", 10, 12, 2, "changed"),
        ("train.augment", True, False, None, "changed"),
    ]


def test_precision_rounds_values_and_changes(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(history / "metrics.toml", "accuracy = 0.912345678\nloss = 0.31\n")
    res = run(capsys, history, "metrics", "diff", "--precision", "3", "--md")
    assert res.out.splitlines()[2] == (
        "| metrics.toml | accuracy | 0.92 | 0.912 | -0.00765 | -0.83% | ❌ regressed |")
    res = run(capsys, history, "metrics", "diff")
    assert res.out.splitlines()[1].split() == [
        "metrics.toml", "accuracy", "0.92", "0.912346", "-0.00765432", "-0.83%", "regressed"]
    res = run(capsys, history, "metrics", "diff", "--precision", "0")
    assert res.rc == 2
    assert error_lines(res.err) == ["git mvm: error: --precision 0: not between 1 and 17"]


def test_direction_rules_full_key_wins_over_last_name(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(repo, "metrics", 'files = ["m.toml"]')
    configure(repo, "metrics", 'better = { f1 = "lower", eval.test.f1 = "higher", curve = '
              '"lower" }')
    write(repo / "m.toml", "[eval.test]\nf1 = 0.5\n[eval.val]\nf1 = 0.5\n[x]\ncurve = [1, 2]\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "m")
    write(repo / "m.toml", "[eval.test]\nf1 = 0.6\n[eval.val]\nf1 = 0.6\n[x]\ncurve = [1, 3]\n")
    rows = run_json(capsys, repo, "metrics", "diff")["rows"]
    assert [(r["key"], r["direction"], r["status"]) for r in rows] == [
        ("eval.test.f1", "higher", "improved"),  # the full dotted key
        ("eval.val.f1", "lower", "regressed"),  # the last name
        ("x.curve[1]", "lower", "regressed"),  # the last name without its index
    ]


def test_diff_values_orders_files_then_keys() -> None:
    from gitmv.review.metrics import Values

    old = Values({"a.toml": {"x": 1, "y": 2}, "b.toml": {"z": 1}}, [], "A")
    new = Values({"b.toml": {"z": 2}, "a.toml": {"y": 3, "w": 0}}, [], "B")
    rows = diff_values(old, new)
    assert [(r.file, r.key, r.status) for r in rows] == [
        ("a.toml", "x", "removed"), ("a.toml", "y", "changed"), ("a.toml", "w", "added"),
        ("b.toml", "z", "changed"),
    ]


# --- show ----------------------------------------------------------------------------------


def test_show_one_and_several_revisions(history: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    res = run(capsys, history, "params", "show")
    assert res.out == (
        "file         key            value\n"
        "params.toml  lr             0.001\n"
        'params.toml  optimizer      "sgd"\n'
        "params.toml  train.epochs   12\n"
        "params.toml  train.augment  false\n"
    )
    res = run(capsys, history, "metrics", "show", "v1", "HEAD")
    assert res.out == (
        "file           key                 v1   HEAD\n"
        "metrics.toml   accuracy            0.9  0.92\n"
        "metrics.toml   loss                0.3  0.31\n"
        "metrics.toml   eval.test.f1        0.8  0.81\n"
        "metrics.toml   eval.test.curve[0]  0.1  0.1\n"
        "metrics.toml   eval.test.curve[1]  0.2  0.25\n"
        "metrics.toml   eval.test.curve[2]  -    0.3\n"
        "eval/val.toml  f1                  0.7  0.7\n"
        "eval/val.toml  samples             500  400\n"
    )  # a key only the later revision has stays with its file
    res = run(capsys, history, "params", "show", "v1", "--md")
    assert res.out == (
        "| file | key | value |\n| --- | --- | --- |\n"
        "| params.toml | lr | 0.001 |\n"
        '| params.toml | optimizer | "adam" |\n'
        "| params.toml | train.epochs | 10 |\n"
        "| params.toml | train.augment | true |\n"
    )
    data = run_json(capsys, history, "metrics", "show", "v1")
    assert data == {
        "revs": ["v1"],
        "values": {"v1": {
            "metrics.toml": {"accuracy": 0.9, "loss": 0.3, "eval.test.f1": 0.8,
                             "eval.test.curve[0]": 0.1, "eval.test.curve[1]": 0.2},
            "eval/val.toml": {"f1": 0.7, "samples": 500}}},
        "problems": [],
    }


def test_unknown_revision_and_unconfigured_files(
    history: Path, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = run(capsys, history, "metrics", "show", "nosuch")
    assert res.rc == 1
    assert error_lines(res.err) == ["git mvm: error: unknown revision 'nosuch'"]
    res = run(capsys, history, "metrics", "diff", "a", "b", "c")
    assert res.rc == 2
    assert "at most two revisions" in res.err
    configure(repo, "params", "")
    cfg = repo / ".mvm" / "config.toml"
    cfg.write_text(cfg.read_text().replace('files = ["params.toml"]', ""))
    res = run(capsys, repo, "params", "show")
    assert res.rc == 1
    assert error_lines(res.err) == ["git mvm: error: no params files configured"]
    assert 'hint: name them in .mvm/config.toml: [params] files = ["params.toml"]' in res.err


# --- problems: missing, unparseable, non-finite --------------------------------------------


@pytest.fixture
def troubled(repo: Path) -> Path:
    """c1: metrics.toml only; c2: + extra.toml; c3: extra.toml broken, metrics.toml has nan."""
    configure(repo, "metrics", 'files = ["metrics.toml", "extra.toml"]')
    configure(repo, "metrics", 'better = { accuracy = "higher" }')
    write(repo / "metrics.toml", "accuracy = 0.8\nloss = 0.5\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "c1")
    git(repo, "tag", "c1")
    write(repo / "extra.toml", "recall = 0.6\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "c2")
    git(repo, "tag", "c2")
    write(repo / "extra.toml", "recall = = 0.7\n")
    write(repo / "metrics.toml", "accuracy = 0.85\nloss = nan\nspeed = -inf\n")
    git(repo, "commit", "-qam", "c3")
    git(repo, "tag", "c3")
    return repo


def test_missing_file_at_one_revision_names_file_and_revision(
    troubled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = run(capsys, troubled, "metrics", "diff", "c1", "c2")
    assert res.rc == 0
    assert res.out == (
        "file        key     old  new  change  change %  result\n"
        "extra.toml  recall  -    0.6                    added\n"
    )
    assert res.err == "git mvm: warning: extra.toml at c1: missing\n"
    res = run(capsys, troubled, "metrics", "diff", "c1", "c2", "--md")
    assert res.out.endswith("| extra.toml | recall | - | 0.6 |   |   | added |\n\n"
                            "> ⚠️ extra.toml at c1: missing\n")


def test_broken_and_non_finite_values_leave_the_rest_of_the_table(
    troubled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = run(capsys, troubled, "metrics", "diff", "c2", "c3")
    assert res.rc == 0
    assert res.out == (
        "file          key       old  new   change  change %  result\n"
        "metrics.toml  accuracy  0.8  0.85  +0.05   +6.25%    improved\n"
    )  # loss (nan) and recall (a broken file) were not removed: they could not be read
    err = res.err.splitlines()
    assert err[:2] == [
        "git mvm: warning: metrics.toml at c3: loss = nan: not a finite number; left out",
        "git mvm: warning: metrics.toml at c3: speed = -inf: not a finite number; left out",
    ]
    # tomllib words the reason differently across Python versions; the place is stable.
    assert err[2].startswith("git mvm: warning: extra.toml at c3: invalid TOML: ")
    assert err[2].endswith(" (at line 1, column 10)")
    assert len(err) == 3
    data = run_json(capsys, troubled, "metrics", "show", "c3")
    assert data["values"] == {"c3": {"metrics.toml": {"accuracy": 0.85}}}
    assert [p["text"] for p in data["problems"]] == [
        "metrics.toml at c3: loss = nan: not a finite number; left out",
        "metrics.toml at c3: speed = -inf: not a finite number; left out",
        err[2].removeprefix("git mvm: warning: "),
    ]
    assert data["problems"][2]["file"] == "extra.toml"
    assert data["problems"][2]["rev"] == "c3"
    # The work tree is named as such.
    res = run(capsys, troubled, "metrics", "show")
    assert "git mvm: warning: extra.toml at the work tree: invalid TOML" in res.err
    # -q silences the warnings, not the table.
    res = run(capsys, troubled, "metrics", "show", "-q")
    assert (res.err, res.out) == ("", "file          key       value\n"
                                      "metrics.toml  accuracy  0.85\n")


def test_numbers_at_the_float_limits_stay_valid_json(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A change or ratio that overflows to inf is left empty (JSON has no inf); an integer
    beyond TOML's 64-bit range is a problem, like nan."""
    configure(repo, "metrics", 'files = ["metrics.toml"]')
    configure(repo, "metrics", 'better = { big = "higher" }')
    write(repo / "metrics.toml", "big = 1e308\ntiny = 5e-324\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "limits")
    write(repo / "metrics.toml", f"big = -1e308\ntiny = 1.0\nhuge = {2**63}\nok = {2**63 - 1}\n")
    res = run(capsys, repo, "metrics", "diff", "--json")
    assert res.rc == 0

    def no_constants(name: str) -> None:
        raise AssertionError(f"{name} is not JSON")

    data = json.loads(res.out, parse_constant=no_constants)
    assert [(r["key"], r["change"], r["rel_change"], r["status"]) for r in data["rows"]] == [
        ("big", None, None, "regressed"), ("tiny", 1.0, None, "changed"),
        ("ok", None, None, "added")]
    assert [p["text"] for p in data["problems"]] == [
        "metrics.toml at the work tree: huge: an integer beyond TOML's 64-bit range; left out"]
    assert run(capsys, repo, "metrics", "diff").out.splitlines()[1].split() == [
        "metrics.toml", "big", "1e+308", "-1e+308", "regressed"]


def test_a_tiny_relative_change_is_not_shown_as_zero(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(repo, "metrics", 'files = ["metrics.toml"]')
    configure(repo, "metrics", 'better = { loss = "lower" }')
    write(repo / "metrics.toml", "loss = 0.3\nsteps = 1000000\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "m")
    write(repo / "metrics.toml", "loss = 0.30001\nsteps = 1000001\n")
    assert run(capsys, repo, "metrics", "diff").out == (
        "file          key    old      new      change  change %  result\n"
        "metrics.toml  loss   0.3      0.30001  +1e-05  +0.0033%  regressed\n"
        "metrics.toml  steps  1000000  1000001  +1      +0.0001%  changed\n"
    )


def test_markdown_cells_escape_pipes_line_breaks_and_html(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(repo, "params", 'files = ["params.toml"]')
    write(repo / "params.toml", 'note = "a"\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "p")
    write(repo / "params.toml",
          'note = "x | y\\n</details> & <b>"\n"a|b\\nc" = 1\n')
    res = run(capsys, repo, "params", "diff", "--md")
    assert res.out.splitlines()[2:] == [
        '| params.toml | note | "a" | "x \\| y\\\\n&lt;/details> &amp; &lt;b>" |   |   | changed |',
        '| params.toml | "a\\|b\\\\nc" | - | 1 |   |   | added |',
    ]
    # a key with a line break stays on one line of the text table too
    res = run(capsys, repo, "params", "show")
    assert res.out.splitlines()[2] == 'params.toml  "a|b\\nc"  1'


def test_binary_garbage_is_a_problem_not_a_crash(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(repo, "metrics", 'files = ["metrics.toml"]')
    write(repo / "metrics.toml", b"\xff\xfe\x00acc = 1\n")
    res = run(capsys, repo, "metrics", "show")
    assert (res.rc, res.out) == (0, "")
    assert res.err == ("git mvm: warning: metrics.toml at the work tree: not UTF-8 text: "
                       "cannot read it as TOML\n")


# --- colour only on a terminal -------------------------------------------------------------


def _run_on_pty(repo: Path, *args: str) -> str:
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "gitmv", *args], cwd=repo, stdout=slave,
                            stderr=subprocess.DEVNULL, env={**os.environ, "TERM": "xterm"})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait()
    os.close(master)
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_only(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run_on_pty(history, "metrics", "diff", "v1", "HEAD")
    assert "\x1b[32mimproved\x1b[0m" in out
    assert "\x1b[31mregressed\x1b[0m" in out
    assert "\x1b[" not in run(capsys, history, "metrics", "diff", "v1", "HEAD").out
    piped = subprocess.run([sys.executable, "-m", "gitmv", "metrics", "diff", "v1", "HEAD"],
                           cwd=history, capture_output=True, text=True, check=True)
    assert piped.stdout == DIFF_TEXT


def test_root_glob_at_a_revision_and_unclosed_bracket(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(repo, "metrics", 'files = ["*.toml", "odd[.toml"]')
    write(repo / "a.toml", "x = 1\n")
    write(repo / "sub" / "b.toml", "x = 2\n")  # `*` stays in the top directory
    write(repo / "odd[.toml", "y = 3\n")  # `[` without `]` is a plain character
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "m")
    data = run_json(capsys, repo, "metrics", "show", "HEAD")
    assert data["values"]["HEAD"] == {"a.toml": {"x": 1}, "odd[.toml": {"y": 3}}
    assert data["problems"] == []


@pytest.mark.parametrize(("line", "message"), [
    ("files = 3", ".mvm/config.toml: metrics.files must be a list of paths or globs, not 3"),
    ('files = ["m.toml"]\nbetter = "higher"',
     ".mvm/config.toml: metrics.better must be a table, not 'higher'"),
    ('files = ["m.toml"]\nbetter = { acc = "up" }',
     ".mvm/config.toml: metrics.better.acc = 'up': not a direction"),
])
def test_bad_metrics_config_is_one_clear_line(
    repo: Path, capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    configure(repo, "metrics", line)
    write(repo / "m.toml", "acc = 1\n")
    res = run(capsys, repo, "metrics", "diff")
    assert (res.rc, res.out) == (1, "")
    assert error_lines(res.err) == [f"git mvm: error: {message}"]
    assert "hint: " in res.err
