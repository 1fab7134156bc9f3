"""`git mvm report [A [B]]`: the whole review of a change in one document (Markdown with --md).

Artifacts that changed (size deltas; for directories, files added/removed/modified), the params
diff, the metrics diff and the gate results, each section collapsed in <details> when long.
Exit 0 whatever the gates say (`git mvm check` is the failing status); a malformed gate rule
shows in the gates section.
"""

from __future__ import annotations

import sys
from typing import Any

from gitmv import ui
from gitmv.commands.check import gates_md, gates_text
from gitmv.commands.metrics import (
    MD_ROWS_MAX,
    checked_precision,
    md_cell,
    md_table,
    more_rows,
    problems_json,
    problems_md,
    rows_md,
    rows_text,
    text_table,
    work_tree_rev,
)
from gitmv.commands.output import print_json
from gitmv.errors import UsageError
from gitmv.review.gates import GateReport, run_gates
from gitmv.review.metrics import (
    WORK_TREE,
    Problem,
    Row,
    configured_files,
    diff_at,
    rev_label,
)
from gitmv.ui import human_size, signed_size
from gitmv.worktree.diffing import diff_states, states_at, states_in_workspace
from gitmv.worktree.workspace import Workspace

COLLAPSE_OVER = 10  # rows: longer sections are folded in <details>
ART_HEADER = ("artifact", "kind", "change", "old size", "new size", "size change", "files")


def _files_cell(item: dict[str, Any], old_files: int | None, new_files: int | None) -> str:
    if item.get("kind") != "dir":
        return ""
    files = item.get("files")
    if isinstance(files, dict):
        return (f"{len(files['added'])} added, {len(files['removed'])} removed, "
                f"{len(files['modified'])} modified")
    if old_files is not None and new_files is not None:
        return f"{old_files} → {new_files} files (file list not in the cache)"
    return ui.plural(old_files if old_files is not None else int(new_files or 0), "file")


def artifact_rows(diff: dict[str, list[dict[str, Any]]]) -> list[list[str]]:
    rows = []
    for it in diff["added"]:
        rows.append([it["path"], it["kind"], "added", "-", human_size(it["size"]),
                     signed_size(it["size"]), _files_cell(it, None, it.get("files"))])
    for it in diff["removed"]:
        rows.append([it["path"], it["kind"], "removed", human_size(it["size"]), "-",
                     signed_size(-it["size"]), _files_cell(it, it.get("files"), None)])
    for it in diff["modified"]:
        rows.append([it["path"], it["kind"], "modified", human_size(it["old_size"]),
                     human_size(it["new_size"]), signed_size(it["size_delta"]),
                     _files_cell(it, it.get("old_files"), it.get("new_files"))])
    rows.sort(key=lambda r: r[0])
    return rows


def _details(summary: str, body: str, rows: int) -> str:
    if rows <= COLLAPSE_OVER:
        return body
    return f"<details><summary>{summary}</summary>\n\n{body}\n</details>\n"


def _section_md(title: str, rows: list[Row], problems: list[Problem], configured: bool,
                precision: int, command: str) -> str:
    out = f"### {title}\n\n"
    if not configured:
        return out + f"No {title.lower()} files configured.\n"
    if rows:
        # Over the limit, improved and regressed rows first: they are what a review is for.
        shown = (rows if len(rows) <= MD_ROWS_MAX else sorted(
            rows, key=lambda r: r.status not in ("improved", "regressed"))[:MD_ROWS_MAX])
        body = rows_md(shown, precision) + more_rows(len(shown), len(rows), command)
        out += _details(f"{len(rows)} {title.lower()} changed", body, len(rows))
    else:
        out += f"No {title.lower()} changed.\n"
    if problems:
        out += "\n" + problems_md(problems)
    return out


def collect(ws: Workspace, a: str, b: str | None) -> dict[str, Any]:
    """Everything the report shows, computed once for every output format."""
    old = states_at(ws, a)
    new = states_at(ws, b) if b else states_in_workspace(ws)
    arts = diff_states(old, new)
    for it in arts["modified"]:  # pointer file counts, for when manifests are not cached
        it["old_files"] = old[it["path"]].pointer.files
        it["new_files"] = new[it["path"]].pointer.files
    out: dict[str, Any] = {"a": rev_label(a), "b": rev_label(b), "artifacts": arts}
    for kind in ("params", "metrics"):
        if configured_files(ws, kind):
            rows, problems = diff_at(ws, kind, a, b)
            out[kind] = (rows, problems)
        else:
            out[kind] = None
    try:
        out["gates"] = run_gates(ws, a, b)
    except UsageError as exc:  # a malformed rule: shown in the report, `check` fails on it
        out["gates"] = exc
    return out


def render_md(data: dict[str, Any], precision: int) -> str:
    parts = [f"## gitmv report: {data['a']} → {data['b']}\n"]
    revs = data["a"] if data["b"] == WORK_TREE else f"{data['a']} {data['b']}"
    rows = artifact_rows(data["artifacts"])
    body = (md_table([ART_HEADER, *rows[:MD_ROWS_MAX]])
            + more_rows(len(rows[:MD_ROWS_MAX]), len(rows), f"git mvm diff {revs}")
            if rows else "No artifacts changed.\n")
    parts.append("### Artifacts\n\n" + _details(f"{len(rows)} artifacts changed", body,
                                                 len(rows)))
    for kind in ("params", "metrics"):
        got = data[kind]
        rows_, problems = got if got is not None else ([], [])
        parts.append(_section_md(kind.capitalize(), rows_, problems, got is not None,
                                 precision, f"git mvm {kind} diff {revs}"))
    gates = data["gates"]
    if isinstance(gates, GateReport):  # its problems are the metrics section's, at A and B
        check = f"git mvm check --baseline {data['a']}" + (
            "" if data["b"] == WORK_TREE else f" --rev {data['b']}")
        parts.append(gates_md(gates, precision, problems=False, limit=MD_ROWS_MAX,
                              command=check))
    else:
        parts.append(f"### ❌ Gates\n\n{md_cell(gates.message)}\n\n{md_cell(gates.hint or '')}\n")
    return "\n".join(parts)


def render_text(data: dict[str, Any], precision: int) -> str:
    parts = [f"gitmv report: {data['a']} -> {data['b']}\n"]
    rows = artifact_rows(data["artifacts"])
    parts.append("Artifacts\n" + (text_table([ART_HEADER, *rows]) if rows
                                  else "no artifacts changed\n"))
    for kind in ("params", "metrics"):
        got = data[kind]
        title = kind.capitalize() + "\n"
        if got is None:
            parts.append(title + f"no {kind} files configured\n")
            continue
        rows_, problems = got
        text = rows_text(rows_, precision) or f"no {kind} changed\n"
        parts.append(title + text + "".join(f"warning: {p}\n" for p in problems))
    gates = data["gates"]
    if isinstance(gates, GateReport):
        parts.append("Gates\n" + gates_text(gates, precision))
    else:
        parts.append(f"Gates\nerror: {gates.message}\n")
    return "\n".join(parts)


def as_json(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"a": data["a"], "b": data["b"], "artifacts": data["artifacts"]}
    for kind in ("params", "metrics"):
        got = data[kind]
        out[kind] = None if got is None else {
            "rows": [r.as_json() for r in got[0]], "problems": problems_json(got[1])}
    gates = data["gates"]
    out["gates"] = (gates.as_json() if isinstance(gates, GateReport)
                    else {"error": gates.message})
    return out


def run(a: str | None = None, b: str | None = None, md: bool = False, json: bool = False,
        precision: int | None = None) -> int:
    p = checked_precision(precision)
    ws = Workspace.open(bare_ok=True)
    try:
        data = collect(ws, a or "HEAD", b or work_tree_rev(ws))
    finally:
        ws.state.close()
    if json:
        print_json(as_json(data))
    else:
        sys.stdout.write(render_md(data, p) if md else render_text(data, p))
    return 0
