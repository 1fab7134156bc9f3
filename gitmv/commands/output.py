"""What the commands share for output: `--json`, aligned tables, per-artifact failures."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from gitmv.errors import GitMvmError


def print_json(value: Any) -> None:
    import json

    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def report_failures(failures: Sequence[tuple[str, GitMvmError]]) -> int:
    """Print every per-artifact failure (collected, not aborted on); exit code for them."""
    for _path, exc in failures:
        sys.stderr.write(f"git mvm: error: {exc.message}\n")
        if exc.hint:
            sys.stderr.write(f"hint: {exc.hint}\n")
    return 1 if failures else 0


def table(rows: Sequence[Sequence[str]], colour_col: int | None = None,
          colours: Mapping[str, str] | None = None) -> str:
    """Aligned columns. With `colours` (text -> ANSI code), the cell in `colour_col` of each
    row after the header is coloured by its text."""
    if not rows:
        return ""
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
    if not colours:  # one format per row (10,000 rows: `show MODEL` of a long-lived model)
        line = "  ".join(f"{{:<{w}}}" for w in widths)
        return "".join(line.format(*r).rstrip() + "\n" for r in rows)
    lines = []
    for n, r in enumerate(rows):
        cells = [c.ljust(w) for c, w in zip(r, widths, strict=True)]
        if colours and colour_col is not None and n > 0 and r[colour_col] in colours:
            text = r[colour_col]
            pad = cells[colour_col][len(text) :]
            cells[colour_col] = f"\033[{colours[text]}m{text}\033[0m{pad}"
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"
