"""`git mvm report [A [B]]`: artifacts, params, metrics and gates in one document."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import configure, git, init_bare, make_dataset, mvm, run, run_json, write


@pytest.fixture
def review(repo: Path) -> Path:
    """main: v1 (model, dataset, params, metrics); HEAD = v2 changes all four."""
    configure(repo, "metrics", 'files = ["metrics.toml"]')
    configure(repo, "metrics", 'better = { accuracy = "higher", loss = "lower" }')
    configure(repo, "params", 'files = ["params.toml"]')
    cfg = repo / ".mvm" / "config.toml"
    cfg.write_text(cfg.read_text() + '\n[gates]\naccuracy = ">= 0.9"\n'
                   'loss = "no-regression 1%"\n')
    write(repo / "models" / "m.pt", b"v1" * 1000)
    make_dataset(repo / "data", n=9, size=100)
    write(repo / "params.toml", 'lr = 0.01\noptimizer = "adam"\n')
    write(repo / "metrics.toml", "accuracy = 0.88\nloss = 0.4\n")
    assert mvm(repo, "add", "-q", "models/m.pt", "data") == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    git(repo, "tag", "v1")
    write(repo / "models" / "m.pt", b"v2" * 1500)
    write(repo / "data" / "d0" / "f0.bin", b"x" * 250)  # modified: 100 -> 250 bytes
    (repo / "data" / "d1" / "f1.bin").unlink()  # removed: 100 bytes
    write(repo / "data" / "d2" / "extra.bin", b"y" * 40)  # added: 40 bytes
    write(repo / "tok.json", b"{}")
    write(repo / "params.toml", 'lr = 0.005\noptimizer = "adam"\n')
    write(repo / "metrics.toml", "accuracy = 0.91\nloss = 0.41\n")
    assert mvm(repo, "add", "-q", "models/m.pt", "data", "tok.json") == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v2")
    return repo


ARTIFACTS_MD = """\
| artifact | kind | change | old size | new size | size change | files |
| --- | --- | --- | --- | --- | --- | --- |
| data | dir | modified | 900 B | 990 B | +90 B | 1 added, 1 removed, 1 modified |
| models/m.pt | file | modified | 2.0 KB | 3.0 KB | +1.0 KB |   |
| tok.json | file | added | - | 2 B | +2 B |   |
"""


def expected_md(base: str, a: str = "v1", b: str = "HEAD") -> str:
    return f"""\
## gitmv report: {a} → {b}

### Artifacts

{ARTIFACTS_MD}
### Params

| file | key | old | new | change | change % | result |
| --- | --- | --- | --- | --- | --- | --- |
| params.toml | lr | 0.01 | 0.005 | -0.005 | -50.00% | changed |

### Metrics

| file | key | old | new | change | change % | result |
| --- | --- | --- | --- | --- | --- | --- |
| metrics.toml | accuracy | 0.88 | 0.91 | +0.03 | +3.41% | ✅ improved |
| metrics.toml | loss | 0.4 | 0.41 | +0.01 | +2.50% | ❌ regressed |

### ❌ Gates: 1 of 2 gates failed

Baseline: {a} ({base}); checked: {b}

| rule | file | key | baseline | value | result | why |
| --- | --- | --- | --- | --- | --- | --- |
| accuracy >= 0.9 | metrics.toml | accuracy | 0.88 | 0.91 | ✅ pass | 0.91 >= 0.9 |
| loss no-regression 1% | metrics.toml | loss | 0.4 | 0.41 | ❌ fail | regressed by 0.01 \
(2.50%), more than the 1% allowed |
"""


def test_report_markdown_whole_document(review: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    base = git(review, "rev-parse", "v1").strip()[:12]
    res = run(capsys, review, "report", "v1", "HEAD", "--md")
    assert (res.rc, res.err) == (0, "")  # the gate failure is reported, not an exit status
    assert res.out == expected_md(base)


def test_report_as_ci_runs_it_against_origin_main(
    review: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    origin = init_bare(tmp_path / "origin.git")
    git(review, "remote", "add", "origin", str(origin))
    git(review, "push", "-q", "origin", "v1:refs/heads/main")
    git(review, "fetch", "-q", "origin")
    base = git(review, "rev-parse", "v1").strip()[:12]
    res = run(capsys, review, "report", "origin/main", "HEAD", "--md")
    assert res.rc == 0
    assert res.out == expected_md(base, a="origin/main")
    assert run(capsys, review, "check").rc == 1  # the failing status comes from check


def test_report_without_manifests_in_the_cache_counts_files_from_pointers(
    review: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(review / ".git" / "mvm" / "objects")  # a CI checkout that pulled nothing
    res = run(capsys, review, "report", "v1", "HEAD", "--md")
    assert res.rc == 0
    assert ("| data | dir | modified | 900 B | 990 B | +90 B | 9 → 9 files (file list not in "
            "the cache) |") in res.out.splitlines()


def test_report_text_and_json(review: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = run(capsys, review, "report", "v1", "HEAD")
    assert res.rc == 0
    lines = res.out.splitlines()
    assert lines[:7] == [
        "gitmv report: v1 -> HEAD",
        "",
        "Artifacts",
        "artifact     kind  change    old size  new size  size change  files",
        "data         dir   modified  900 B     990 B     +90 B        1 added, 1 removed, "
        "1 modified",
        "models/m.pt  file  modified  2.0 KB    3.0 KB    +1.0 KB",
        "tok.json     file  added     -         2 B       +2 B",
    ]
    assert "params.toml  lr   0.01  0.005  -0.005  -50.00%   changed" in lines
    assert lines[-1] == "1 of 2 gates failed"
    data = json.loads(run(capsys, review, "report", "v1", "HEAD", "--json").out)
    assert (data["a"], data["b"]) == ("v1", "HEAD")
    data_dir = data["artifacts"]["modified"][0]
    assert (data_dir["path"], data_dir["old_size"], data_dir["new_size"],
            data_dir["size_delta"]) == ("data", 900, 990, 90)
    assert {k: [f["path"] for f in v] for k, v in data_dir["files"].items()} == {
        "added": ["d2/extra.bin"], "removed": ["d1/f1.bin"], "modified": ["d0/f0.bin"]}
    assert [a["path"] for a in data["artifacts"]["added"]] == ["tok.json"]
    assert data["params"]["rows"] == [
        {"file": "params.toml", "key": "lr", "old": 0.01, "new": 0.005, "change": -0.005,
         "rel_change": -50.0, "direction": None, "status": "changed"}]
    assert [r["key"] for r in data["metrics"]["rows"]] == ["accuracy", "loss"]
    assert data["gates"]["passed"] is False
    assert [r["ok"] for r in data["gates"]["results"]] == [True, False]


def test_report_precision(review: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = run(capsys, review, "report", "v1", "HEAD", "--precision", "1")
    assert res.rc == 0
    assert "params.toml  lr   0.01  0.005  -0.005  -50.00%   changed" in res.out.splitlines()
    assert ["metrics.toml", "accuracy", "0.9", "0.9", "+0.03", "+3.41%", "improved"] in [
        line.split() for line in res.out.splitlines()]
    res = run(capsys, review, "report", "--precision", "18")
    assert res.rc == 2
    assert "git mvm: error: --precision 18: not between 1 and 17\n" in res.err


def test_report_defaults_to_head_against_the_work_tree(
    review: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(review / "metrics.toml", "accuracy = 0.95\nloss = 0.3\n")
    res = run(capsys, review, "report", "--md")
    assert res.rc == 0
    assert res.out.startswith("## gitmv report: HEAD → the work tree\n\n### Artifacts\n\n"
                              "No artifacts changed.\n\n### Params\n\nNo params changed.\n")
    assert "### ✅ Gates: all 2 gates passed\n" in res.out


def test_a_problem_shows_once_in_the_report(
    review: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The gates read the same revisions as the metrics diff: their problems are not
    repeated under the gates (with the baseline named by its sha instead)."""
    write(review / "metrics.toml", "accuracy = 0.95\nloss = [\n")
    res = run(capsys, review, "report", "--md")
    assert res.rc == 0
    warnings = [ln for ln in res.out.splitlines() if ln.startswith("> ⚠️")]
    assert len(warnings) == 1
    assert warnings[0].startswith("> ⚠️ metrics.toml at the work tree: invalid TOML: ")
    assert res.out.index(warnings[0]) < res.out.index("Gates")
    # check --md alone still lists them
    res = run(capsys, review, "check", "--baseline", "HEAD", "--md")
    assert [ln for ln in res.out.splitlines() if ln.startswith("> ⚠️")] == warnings


def test_long_sections_are_collapsed(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure(repo, "params", 'files = ["params.toml"]')
    write(repo / "params.toml", "".join(f"p{i} = {i}\n" for i in range(12)))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "p")
    write(repo / "params.toml", "".join(f"p{i} = {i + 1}\n" for i in range(12)))
    res = run(capsys, repo, "report", "--md")
    assert res.rc == 0
    assert "### Params\n\n<details><summary>12 params changed</summary>\n\n| file |" in res.out
    assert "| params.toml | p11 | 11 | 12 | +1 | +9.09% | changed |\n\n</details>\n" in res.out
    assert "### Metrics\n\nNo metrics files configured.\n" in res.out
    assert "### Gates\n\nNo gates configured (`[gates]` in `.mvm/config.toml`).\n" in res.out
    # ten rows or fewer stay open
    write(repo / "params.toml", "".join(f"p{i} = {i + (i < 10)}\n" for i in range(12)))
    assert "<details>" not in run(capsys, repo, "report", "--md").out


def test_a_huge_section_is_cut_to_fit_a_comment_keeping_what_moved(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Thousands of per-class metrics would pass GitHub's 65,536-character comment limit and
    cut the gates off the end: each section shows 100 rows, improved/regressed ones first."""
    configure(repo, "metrics", 'files = ["metrics.toml"]')
    configure(repo, "metrics", 'better = { loss = "lower" }')
    cfg = repo / ".mvm" / "config.toml"
    cfg.write_text(cfg.read_text() + '\n[gates]\nrecall = ">= 0.55"\nloss = "no-regression"\n')
    write(repo / "metrics.toml", f"recall = {[0.5] * 3000}\nloss = 0.3\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "m")
    write(repo / "metrics.toml", f"recall = {[0.6] * 3000}\nloss = 0.4\n")
    res = run(capsys, repo, "report", "--md")
    assert res.rc == 0
    assert len(res.out) < 20_000
    rows = [ln for ln in res.out.splitlines() if ln.startswith("| metrics.toml |")]
    assert len(rows) == 100
    assert rows[0] == "| metrics.toml | loss | 0.3 | 0.4 | +0.1 | +33.33% | ❌ regressed |"
    assert rows[1].startswith("| metrics.toml | recall[0] | 0.5 | 0.6 |")
    assert ("\n… and 2901 more (`git mvm metrics diff HEAD` lists them all).\n\n</details>\n"
            in res.out)
    assert "<summary>3001 metrics changed</summary>" in res.out
    # one rule on an array is a result per index: the failed one first, then 99 of 3000
    gates = [ln for ln in res.out.splitlines()
             if ln.startswith(("| recall >= 0.55 |", "| loss no-regression |"))]
    assert len(gates) == 100
    assert gates[0].startswith("| loss no-regression | metrics.toml | loss | 0.3 | 0.4 | ❌ fail")
    assert res.out.endswith("\n… and 2901 more (`git mvm check --baseline HEAD` lists them "
                            "all).\n")
    assert "### ❌ Gates: 1 of 3001 gates failed\n" in res.out
    assert run_json(capsys, repo, "report")["metrics"]["rows"][-1]["key"] == "loss"


def test_malformed_gate_shows_in_the_report(repo: Path, capsys: pytest.CaptureFixture[str]
                                            ) -> None:
    configure(repo, "metrics", 'files = ["metrics.toml"]')
    cfg = repo / ".mvm" / "config.toml"
    cfg.write_text(cfg.read_text() + '\n[gates]\nloss = "at most 3"\n')
    write(repo / "metrics.toml", "loss = 0.3\n")
    res = run(capsys, repo, "report", "--md")
    assert res.rc == 0
    assert ("### ❌ Gates\n\nmalformed gate rule gates.loss = 'at most 3': not a rule gitmv "
            "knows\n") in res.out
    assert run(capsys, repo, "check").rc == 2
    # the rule's text is not read as HTML (an open tag would swallow the rest of the comment)
    cfg.write_text(cfg.read_text().replace('"at most 3"', '"<details> 3"'))
    res = run(capsys, repo, "report", "--md")
    assert ("### ❌ Gates\n\nmalformed gate rule gates.loss = '&lt;details> 3': not a rule "
            "gitmv knows\n") in res.out
    assert "<details>" not in res.out
