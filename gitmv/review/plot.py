"""`git mvm metrics plot`: metric values across the commits of a range, drawn by matplotlib.

matplotlib is the optional extra `gitmv[plots]`, imported only here and only when drawing.
Commits are the first-parent history of the range (the mainline of a branch), oldest first;
a commit without the key leaves a gap in its line.
"""

from __future__ import annotations

import errno
import html
import io
import os
import re
from typing import TYPE_CHECKING, Any, NamedTuple

from gitmv.errors import GitMvmError, UsageError
from gitmv.fsutil import atomic_write
from gitmv.review.gates import match_keys
from gitmv.review.metrics import Problem, is_number, values_at

if TYPE_CHECKING:
    from gitmv.worktree.workspace import Workspace

FORMATS = (".svg", ".png", ".html")
INSTALL_HINT = "install the plotting extra: pip install 'gitmv[plots]'"


class Commit(NamedTuple):
    sha: str
    short: str
    date: str  # committer date, YYYY-MM-DD

    @property
    def label(self) -> str:
        return f"{self.short}\n{self.date}"


def commits_in(ws: Workspace, revs: str, max_count: int) -> list[Commit]:
    """The newest `max_count` first-parent commits of `revs` (`A..B` or a rev), oldest first."""
    if revs.startswith("-"):
        raise UsageError(f"--revs {revs!r}: not a revision range", "give e.g. main~10..HEAD")
    out = ws.repo.git("log", "--first-parent", "--reverse", f"--max-count={max_count}",
                      "--format=%H %h %cs", revs, "--", check=False)
    commits = [Commit(*line.split(" ", 2)) for line in out.decode().splitlines() if line]
    if not commits:
        for end in re.split(r"\.\.\.?", revs):  # a name git does not know, said as such
            if end:
                ws.repo.resolve(end)
        raise GitMvmError(f"no commits in {revs!r}",
                          "give a revision or range with commits, like HEAD~20..HEAD")
    return commits


def series(ws: Workspace, keys: list[str], revs: str, max_count: int
           ) -> tuple[list[Commit], dict[str, list[float | None]], list[Problem]]:
    """(commits, {line label: value per commit}, problems) for the metric `keys`."""
    commits = commits_in(ws, revs, max_count)
    sides = [values_at(ws, c.short, "metrics") for c in commits]  # problems name the short sha
    problems = [p for s in sides for p in s.problems]
    flats = [s.flat() for s in sides]
    seen = list(dict.fromkeys(fk for fl in flats for fk in fl))
    lines: dict[str, list[float | None]] = {}
    for key in keys:
        matched = match_keys(key, seen)
        if not matched:
            raise GitMvmError(f"{key} is in no metrics file in {revs}",
                              "`git mvm metrics show REV` lists the keys")
        files = {f for f, _ in matched}
        drawn: dict[str, list[float | None]] = {}
        for file, k in matched:
            label = k if len(files) == 1 else f"{file}:{k}"
            values = [fl.get((file, k)) for fl in flats]
            drawn[label] = [float(v) if is_number(v) else None  # type: ignore[arg-type]
                            for v in values]
        if all(v is None for ys in drawn.values() for v in ys):
            raise GitMvmError(f"{key} is never a number in {revs}: nothing to plot",
                              "`git mvm metrics show REV` shows its values")
        lines.update(drawn)
    return commits, lines, problems


def _figure(commits: list[Commit], lines: dict[str, list[float | None]], title: str) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise GitMvmError("plotting needs matplotlib, which is not installed",
                          INSTALL_HINT) from None
    fig = Figure(figsize=(max(6.0, 0.6 * len(commits) + 2), 4.5), layout="constrained")
    ax = fig.add_subplot()
    x = list(range(len(commits)))
    for label, values in lines.items():
        ys = [float("nan") if v is None else v for v in values]
        ax.plot(x, ys, marker="o", label=label)
    ax.set_xticks(x, [c.label for c in commits], rotation=0 if len(commits) <= 8 else 60,
                  fontsize=8)
    ax.set_xlabel("commit")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def render(path: str, commits: list[Commit], lines: dict[str, list[float | None]],
           title: str) -> None:
    """Draw and write `path` (checked by `check_output` first), by its extension."""
    ext = os.path.splitext(path)[1].lower()
    fig = _figure(commits, lines, title)
    buf = io.BytesIO()
    if ext == ".png":
        fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
        data = buf.getvalue()
    else:
        fig.savefig(buf, format="svg", metadata={"Date": None})
        data = buf.getvalue()
        if ext == ".html":
            svg = data.decode()
            svg = svg[svg.index("<svg"):]
            data = (
                "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                f"<title>{html.escape(title)}</title>\n</head>\n<body>\n"
                f"<h1>{html.escape(title)}</h1>\n{svg}</body>\n</html>\n"
            ).encode()
    try:
        atomic_write(os.path.abspath(path), data)
    except OSError as exc:
        raise _unwritable(path, exc.strerror or str(exc)) from None


def _unwritable(path: str, why: str) -> GitMvmError:
    return GitMvmError(f"-o {path}: cannot write it: {why}",
                       "name a file in a directory you can write to")


def check_output(path: str) -> None:
    """Refuse an -o that cannot be written before any revision is read."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise UsageError(f"-o {path}: unknown format {ext or '(none)'}",
                         "name a file ending in .svg, .png or .html")
    if os.path.isdir(path):
        raise _unwritable(path, os.strerror(errno.EISDIR))
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):  # atomic_write creates missing directories
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise _unwritable(path, f"{parent} is not a directory")
    if not os.access(parent, os.W_OK):
        raise _unwritable(path, f"{os.strerror(errno.EACCES)} ({parent})")


def plot(ws: Workspace, keys: list[str], revs: str, output: str, max_count: int
         ) -> dict[str, Any]:
    """Draw `keys` over the commits of `revs` into `output`; what was drawn, for --json."""
    check_output(output)  # before reading any revision
    commits, lines, problems = series(ws, keys, revs, max_count)
    render(output, commits, lines, f"{', '.join(keys)} over {revs}")
    return {
        "output": output,
        "commits": [{"sha": c.sha, "short": c.short, "date": c.date} for c in commits],
        "series": lines,
        "problems": problems,
    }
