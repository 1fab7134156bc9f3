"""`git mvm check`: the CI gate. Exit 0 when every `[gates]` rule passes, 1 when one fails,
2 when a rule is malformed."""

from __future__ import annotations

import sys

from gitmv import ui
from gitmv.commands.metrics import (
    DEFAULT_PRECISION,
    fmt_value,
    md_table,
    more_rows,
    problems_md,
    text_table,
    warn_problems,
    work_tree_rev,
)
from gitmv.commands.output import print_json
from gitmv.review.gates import GateReport, GateResult, run_gates
from gitmv.worktree.workspace import Workspace

HEADER = ("rule", "file", "key", "baseline", "value", "result", "why")
NO_GATES = "no gates configured: add rules under [gates] in .mvm/config.toml"


def _cells(results: list[GateResult], precision: int, marks: bool) -> list[list[str]]:
    rows = []
    for r in results:
        verdict = ("✅ pass" if r.ok else "❌ fail") if marks else ("pass" if r.ok else "FAIL")
        rows.append([r.rule, r.file or "-", r.key, fmt_value(r.baseline, precision),
                     fmt_value(r.value, precision), verdict, r.reason])
    return rows


def summary(report: GateReport) -> str:
    failed = sum(not r.ok for r in report.results)
    total = len(report.results)
    if failed:
        return f"{failed} of {ui.plural(total, 'gate')} failed"
    return f"all {ui.plural(total, 'gate')} passed"


def baseline_line(report: GateReport) -> str:
    short = f" ({report.baseline_commit[:12]})" if report.baseline_commit else ""
    return f"baseline: {report.baseline}{short}; checked: {report.rev}"


def gates_text(report: GateReport, precision: int) -> str:
    if not report.results:
        return NO_GATES + "\n"
    table = text_table([HEADER, *_cells(report.results, precision, False)], 5,
                       {"pass": "32", "FAIL": "31"})
    return f"{baseline_line(report)}\n{table}{summary(report)}\n"


def gates_md(report: GateReport, precision: int, problems: bool = True,
             limit: int | None = None, command: str = "git mvm check") -> str:
    """The gates section; `problems=False` where the document lists them already; over
    `limit` results, the failed ones first, then a line naming `command` for the rest."""
    if not report.results:
        return "### Gates\n\nNo gates configured (`[gates]` in `.mvm/config.toml`).\n"
    mark = "✅" if report.passed else "❌"
    shown = report.results
    if limit is not None and len(shown) > limit:
        shown = sorted(shown, key=lambda r: r.ok)[:limit]
    out = (f"### {mark} Gates: {summary(report)}\n\n"
           f"{baseline_line(report).replace('baseline:', 'Baseline:', 1)}\n\n"
           + md_table([HEADER, *_cells(shown, precision, True)])
           + more_rows(len(shown), len(report.results), command))
    if problems and report.problems:
        out += "\n" + problems_md(report.problems)
    return out


def run(baseline: str | None = None, rev: str | None = None, md: bool = False,
        json: bool = False) -> int:
    ws = Workspace.open(bare_ok=True)
    try:
        report = run_gates(ws, baseline, rev or work_tree_rev(ws))
    finally:
        ws.state.close()
    if json:
        print_json(report.as_json())
    elif md:
        sys.stdout.write(gates_md(report, DEFAULT_PRECISION))
    else:
        if report.results:
            sys.stdout.write(gates_text(report, DEFAULT_PRECISION))
        else:
            ui.info(NO_GATES)
        warn_problems(report.problems)
    return 0 if report.passed else 1
