"""`git mvm metrics show|diff|plot` (and, through `run_kind`, `git mvm params show|diff`)."""

from __future__ import annotations

import json as jsonlib
import os
import sys
from collections.abc import Sequence

from gitmv import ui
from gitmv.commands.output import print_json, table
from gitmv.errors import GitMvmError, UsageError
from gitmv.review.metrics import (
    Problem,
    Row,
    Scalar,
    configured_files,
    diff_at,
    fmt_number,
    fmt_percent,
    keys_by_file,
    rev_label,
    values_at,
)
from gitmv.worktree.workspace import Workspace

DEFAULT_PRECISION = 6
MD_ROWS_MAX = 100  # rows a report section shows: a pull-request comment holds 65,536 chars
HEADER = ("file", "key", "old", "new", "change", "change %", "result")
MARKS = {"improved": "✅ improved", "regressed": "❌ regressed"}
COLOURS = {"improved": "32", "regressed": "31", "added": "33", "removed": "33"}


# --- formatting shared by metrics, params, check and report --------------------------------


def fmt_value(v: Scalar | None, precision: int) -> str:
    if isinstance(v, str):
        return jsonlib.dumps(v, ensure_ascii=False)
    return fmt_number(v, precision)


def fmt_change(x: float | int | None, precision: int) -> str:
    if x is None:
        return ""
    if x == 0:
        return "0"
    text = fmt_number(x, precision)
    return text if text.startswith("-") else "+" + text


def fmt_pct(x: float | None) -> str:
    return "" if x is None else fmt_percent(x, sign=True)


def row_cells(row: Row, precision: int) -> list[str]:
    return [row.file, row.key, fmt_value(row.old, precision), fmt_value(row.new, precision),
            fmt_change(row.change, precision), fmt_pct(row.rel_change), row.status]


def use_colour() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get(
        "TERM") != "dumb"


def text_table(rows: Sequence[Sequence[str]], colour_col: int | None = None,
               colours: dict[str, str] | None = None) -> str:
    """Aligned columns; the cell in `colour_col` is coloured by its text, on a tty only."""
    return table(rows, colour_col, colours if use_colour() else None)


def md_cell(text: str) -> str:
    """Text for one GitHub table cell: a pipe or line break would end the cell or the row,
    and `<`/`&` would be read as HTML (`</details>` in a value would end a folded section)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return " ".join(text.splitlines()) or " "


def md_table(rows: Sequence[Sequence[str]]) -> str:
    if not rows:
        return ""
    head, *body = rows
    out = ["| " + " | ".join(md_cell(c) for c in head) + " |",
           "|" + "|".join(" --- " for _ in head) + "|"]
    out += ["| " + " | ".join(md_cell(c) for c in r) + " |" for r in body]
    return "\n".join(out) + "\n"


def more_rows(shown: int, total: int, command: str) -> str:
    """The line under a table cut to `shown` of `total` rows (nothing when it was not)."""
    if shown == total:
        return ""
    return f"\n… and {total - shown} more (`{command}` lists them all).\n"


def rows_text(rows: list[Row], precision: int) -> str:
    if not rows:
        return ""
    return text_table([HEADER, *(row_cells(r, precision) for r in rows)], 6, COLOURS)


def rows_md(rows: list[Row], precision: int) -> str:
    cells = []
    for r in rows:
        c = row_cells(r, precision)
        c[6] = MARKS.get(r.status, r.status)
        cells.append(c)
    return md_table([HEADER, *cells]) if cells else ""


def problems_md(problems: Sequence[Problem]) -> str:
    return "".join(f"> ⚠️ {md_cell(str(p))}\n" for p in problems)


def problems_json(problems: Sequence[Problem]) -> list[dict[str, str]]:
    return [{**p._asdict(), "text": str(p)} for p in problems]


def warn_problems(problems: Sequence[Problem]) -> None:
    for p in problems:
        ui.warn(str(p))


# --- commands ------------------------------------------------------------------------------


def work_tree_rev(ws: Workspace) -> str | None:
    """What stands for the work tree: None (read the files), or in a bare repository, which
    has none, HEAD."""
    return "HEAD" if ws.repo.bare else None


def _require_files(ws: Workspace, kind: str) -> None:
    if not configured_files(ws, kind):
        raise GitMvmError(
            f"no {kind} files configured",
            f'name them in .mvm/config.toml: [{kind}] files = ["{kind}.toml"] (globs allowed)',
        )


def show(ws: Workspace, kind: str, revs: list[str], md: bool, json: bool,
         precision: int) -> int:
    _require_files(ws, kind)
    wanted: list[str | None] = [*revs] if revs else [work_tree_rev(ws)]
    sides = [values_at(ws, r, kind) for r in wanted]
    problems = [p for s in sides for p in s.problems]
    if json:
        print_json({"revs": [s.rev for s in sides],
                    "values": {s.rev: s.files for s in sides},
                    "problems": problems_json(problems)})
        return 0
    flats = [s.flat() for s in sides]
    keys = keys_by_file(flats)
    head = ["file", "key"] + (["value"] if len(sides) == 1 else [s.rev for s in sides])
    rows = [[f, k, *(fmt_value(fl.get((f, k)), precision) for fl in flats)] for f, k in keys]
    if md:
        sys.stdout.write(md_table([head, *rows]) if rows else f"No {kind} found.\n")
        sys.stdout.write(("\n" if rows and problems else "") + problems_md(problems))
    else:
        sys.stdout.write(text_table([head, *rows]) if rows else "")
        warn_problems(problems)
    return 0


def diff(ws: Workspace, kind: str, revs: list[str], all: bool, md: bool, json: bool,
         precision: int) -> int:
    _require_files(ws, kind)
    if len(revs) > 2:
        raise UsageError(f"{kind} diff takes at most two revisions, got {len(revs)}",
                         f"git mvm {kind} diff [A [B]]  (default: HEAD against the work tree)")
    a = revs[0] if revs else "HEAD"
    b = revs[1] if len(revs) == 2 else work_tree_rev(ws)
    rows, problems = diff_at(ws, kind, a, b, include_unchanged=all)
    if json:
        print_json({"a": rev_label(a), "b": rev_label(b), "rows": [r.as_json() for r in rows],
                    "problems": problems_json(problems)})
    elif md:
        text = rows_md(rows, precision) or f"No {kind} changed.\n"
        sys.stdout.write(text + ("\n" if problems else "") + problems_md(problems))
    else:
        if rows:
            sys.stdout.write(rows_text(rows, precision))
        else:
            ui.info(f"no {kind} changed between {rev_label(a)} and {rev_label(b)}")
        warn_problems(problems)
    return 0


def checked_precision(precision: int | None) -> int:
    """--precision as given (1 to 17 significant digits), or the default."""
    if precision is None:
        return DEFAULT_PRECISION
    if not 1 <= precision <= 17:
        raise UsageError(f"--precision {precision}: not between 1 and 17",
                         "give the number of significant digits, like --precision 4")
    return precision


def run_kind(kind: str, action: str, args: list[str], all: bool = False, md: bool = False,
             json: bool = False, precision: int | None = None) -> int:
    p = checked_precision(precision)
    ws = Workspace.open(bare_ok=True)
    try:
        if action == "show":
            return show(ws, kind, args, md, json, p)
        return diff(ws, kind, args, all, md, json, p)
    finally:
        ws.state.close()


def run(action: str, args: list[str], all: bool = False, md: bool = False, json: bool = False,
        precision: int | None = None, revs: str | None = None, output: str | None = None,
        max_count: int = 50) -> int:
    if action != "plot":
        for name, value in (("--revs", revs), ("-o", output)):
            if value is not None:
                raise UsageError(f"{name} is for `git mvm metrics plot`",
                                 "use it as `git mvm metrics plot KEY… --revs RANGE -o FILE`")
        return run_kind("metrics", action, args, all, md, json, precision)
    from gitmv.review.plot import plot

    if not args:
        raise UsageError("metrics plot needs at least one KEY",
                         "git mvm metrics plot accuracy loss -o metrics.svg")
    if not output:
        raise UsageError("metrics plot needs -o FILE (.svg, .png or .html)",
                         "git mvm metrics plot accuracy -o metrics.svg")
    if max_count < 1:
        raise UsageError(f"--max-count {max_count}: must be at least 1")
    ws = Workspace.open(bare_ok=True)
    try:
        result = plot(ws, args, revs or "HEAD", output, max_count)
    finally:
        ws.state.close()
    if json:
        print_json({**result, "problems": problems_json(result["problems"])})
    else:
        warn_problems(result["problems"])
        n = len(result["commits"])
        ui.info(f"wrote {output}: {', '.join(result['series'])} over "
                f"{ui.plural(n, 'commit')}")
    return 0
