"""The report: targets and sections, number formats, tables, the core report
(docs/benchmarks.md above the KEEP line) with the machine and the versions it ran on, and the
section writer with which remote.py and registry.py each own a marked part below KEEP.

docs/benchmarks.md is written in three parts: core.py writes the core report; remote.py and
registry.py each own a section between markers.  What stands below KEEP (notes, the marked
sections) survives a rewrite of the core report.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shutil
import statistics
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.harness import CONTENDED_CORES, ROOT, Measurement, Session, rss_method

if TYPE_CHECKING:
    from benchmarks.core import Context
    from benchmarks.tools import Tool

# The marker stays byte for byte what scripts/bench.py wrote: reports written before still work.
KEEP = "<!-- scripts/bench.py keeps everything below this line when it rewrites the report -->"


def kept_tail(out: Path) -> str:
    """The part of the existing report that a rewrite of the core report keeps."""
    text = out.read_text() if out.exists() else ""
    return text[text.index(KEEP) :] if KEEP in text else KEEP + "\n"


def replace_section(out: Path, begin: str, end: str, lines: list[str]) -> None:
    """Put `lines` (which start with `begin` and end with `end`) in place of the section
    between those markers, or at the end of the report when there is none yet."""
    text = out.read_text() if out.exists() else "# Benchmarks\n"
    if begin in text:
        text = text[: text.index(begin)] + text[text.index(end) + len(end) :].lstrip("\n")
    out.write_text(text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n")



@dataclass
class Target:
    what: str
    measured: str
    passed: bool | None  # None: could not be evaluated, or informational
    info: bool = False  # no target: shown for information

    @property
    def verdict(self) -> str:
        if self.info:
            return "info"
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]


@dataclass
class Section:
    key: str
    title: str
    tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def median_ok(runs: list[Measurement]) -> float | None:
    ok = [m.seconds for m in runs if m.ok]
    if not ok or len(ok) < len(runs):
        return None
    return statistics.median(ok)


def fmt_s(x: float | None) -> str:
    if x is None:
        return "—"
    if x < 10:
        return f"{x:.3f}"
    if x < 100:
        return f"{x:.2f}"
    return f"{x:.1f}"


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "—"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            v = n / size
            return f"{v:.3g} {unit}" if v < 100 else f"{v:.0f} {unit}"
    return f"{n:.0f} B"


def fmt_ratio(r: float | None) -> str:
    return "—" if r is None else f"{r:.2f}×"


def step_table(
    res_step: dict[str, list[Measurement]], tools: Sequence[Tool], ref: str = "gitmv"
) -> tuple[list[str], list[list[str]]]:
    headers = ["tool", "median s", "runs (s)", "peak RSS", "read", f"{ref} ÷ tool"]
    ref_med = median_ok(res_step.get(ref, []))
    rows = []
    for t in tools:
        runs = res_step.get(t.key, [])
        if not t.available:
            rows.append([t.label, "n/a", t.reason[:60], "", "", ""])
            continue
        med = median_ok(runs)
        errs = [m.error for m in runs if m.error]
        if errs:
            first = errs[0].splitlines()[0]
            rows.append([t.label, "ERROR", first[:70], "", "", ""])
            continue
        rss = max((m.maxrss_kib for m in runs), default=0) * 1024
        reads = [m.rchar for m in runs if m.rchar is not None]
        read = statistics.median(reads) if reads else None
        ratio = (ref_med / med) if (ref_med is not None and med) else None
        rows.append(
            [
                t.label,
                fmt_s(med),
                " ".join(fmt_s(m.seconds) + ("*" if m.contended else "") for m in runs),
                fmt_bytes(rss),
                fmt_bytes(read),
                fmt_ratio(ratio),
            ]
        )
    return headers, rows


def ratio_target(
    res_step: dict[str, list[Measurement]], peer: str, limit: float, what: str, info: bool = False
) -> Target:
    a, b = median_ok(res_step.get("gitmv", [])), median_ok(res_step.get(peer, []))
    if a is None or not b:
        return Target(what, "—", None, info)
    r = a / b
    return Target(what, f"{r:.2f}× ({fmt_s(a)} s vs {fmt_s(b)} s)", r <= limit, info)


def rss_target(runs: list[Measurement], limit_bytes: float, what: str) -> Target:
    if not runs or not all(m.ok for m in runs):
        return Target(what, "—", None)
    peak = max(m.maxrss_kib for m in runs) * 1024
    return Target(what, fmt_bytes(peak), peak < limit_bytes)





def machine_info(work: Path) -> list[tuple[str, str]]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / (1 << 20):.1f} GiB"
    except OSError:
        pass
    fs = "unknown"
    cp = (
        subprocess.run(
            ["findmnt", "-n", "-o", "FSTYPE,SOURCE", "--target", str(work)],
            capture_output=True,
            check=False,
        )
        if shutil.which("findmnt")
        else None
    )
    if cp and cp.returncode == 0 and cp.stdout.strip():
        fs = " on ".join(cp.stdout.decode().split()[:2])
    else:
        best = ""
        try:
            for line in Path("/proc/self/mounts").read_text().splitlines():
                dev, mnt, typ = line.split()[:3]
                if str(work).startswith(mnt) and len(mnt) >= len(best):
                    best, fs = mnt, f"{typ} on {dev}"
        except OSError:
            pass
    osname = platform.system()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                osname = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    cores = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = cores
    return [
        ("CPU", cpu),
        ("cores", f"{cores}" + (f" ({usable} usable)" if usable != cores else "")),
        ("RAM", mem),
        ("filesystem (work dir)", fs),
        ("OS / kernel", f"{osname} / Linux {platform.release()}"),
    ]


def versions(ctx: Session, tools: dict[str, Tool]) -> list[tuple[str, str]]:
    def out(argv: list[str]) -> str:
        cp = subprocess.run(argv, env=ctx.env, capture_output=True, check=False)
        return cp.stdout.decode("utf-8", "replace").strip().splitlines()[0] if cp.stdout else "?"

    gm = tools["gitmv"]
    py = getattr(gm, "python", "")
    pyver = out([py, "--version"]) if py else f"Python {platform.python_version()}"
    rev = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        check=False,
        env=ctx.env,
    )
    commit = rev.stdout.decode().strip() if rev.returncode == 0 else "no commit yet"
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "gitmv"],
        capture_output=True,
        check=False,
        env=ctx.env,
    ).stdout.strip()
    gitmv_v = gm.version if gm.available else f"unavailable ({gm.reason[:80]})"
    return [
        (
            "python",
            f"{pyver.replace('Python ', '')} (gitmv venv); harness {platform.python_version()}",
        ),
        ("git", out(["git", "--version"]).replace("git version ", "")),
        ("gitmv", f"{gitmv_v} (repo {commit}{', uncommitted changes' if dirty else ''})"),
        ("dvc", tools["dvc"].version if tools["dvc"].available else "unavailable"),
        ("git-lfs", tools["git-lfs"].version if tools["git-lfs"].available else "unavailable"),
    ]


def render_table(headers: list[str], rows: list[list[str]], right: Iterable[int] = ()) -> str:
    """A padded markdown pipe table (readable as plain text too); `right`: right-aligned cols."""
    right = set(right)
    rows = [[c.replace("|", "\\|").replace("\n", " ") for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))

    def line(cells: list[str]) -> str:
        return (
            "| "
            + " | ".join(
                c.rjust(w) if i in right else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            + " |"
        )

    sep = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(widths)
        )
        + "|"
    )
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


STEP_RIGHT = (1, 3, 4, 5)


def render_report(
    ctx: Context,
    sections: list[Section],
    machine: list[tuple[str, str]],
    vers: list[tuple[str, str]],
    command: str,
    elapsed: float,
) -> str:
    s = ctx.sizes
    cache = (
        "cold: page cache dropped before every timed step (each tool's code re-warmed by an "
        "untimed no-op run)"
        if ctx.cold
        else "warm: dropping the page cache was not possible or not asked for"
    )
    parts = [
        "# Benchmarks",
        "",
        "<!-- Generated by scripts/bench; re-run it rather than editing by hand. -->",
        "",
        f"gitmv next to dvc and git-lfs on the same generated workloads.  Each number is the "
        f"median of {ctx.reps} repetition(s); every repetition of every tool starts from a fresh "
        "repository whose setup is not timed, and the tools take turns within a repetition.  "
        "“peak RSS” is the largest resident set of any process in the tool's process tree; "
        "“read” is the bytes read by the whole tree (rchar, page-cache hits included).  "
        "“gitmv ÷ tool” below 1 means gitmv is faster.",
        "",
        f"Other processes on the machine: before each timed step the harness waits (up to "
        f"{ctx.args.quiet_wait:.0f} s) until they use less than {CONTENDED_CORES} cores, and "
        f"repeats a repetition (up to {ctx.args.retries} times) when they used more than that "
        f"while it ran.  This run repeated {ctx.retried} repetition(s); {ctx.contended} kept "
        "run(s) were still contended and carry a * in the tables.",
        "",
        f"Run: {_dt.datetime.now(_dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}, "
        f"{elapsed / 60:.1f} min in all.  Cache: {cache}.  Sizes: "
        f"{'quick (smoke test)' if ctx.args.quick else 'full'}: one {s.big_label()} file; "
        f"{s.dir_label()}.",
        "",
        "## Machine",
        "",
        render_table(["", "machine"], [list(x) for x in machine]),
        "",
        "## Versions",
        "",
        render_table(["", "version"], [list(x) for x in vers]),
        "",
        "## Targets",
        "",
    ]
    trows = [
        [f"{i}. {sec.key}", t.what, t.measured, t.verdict]
        for i, sec in enumerate(sections, 1)
        for t in sec.targets
    ]
    parts += [render_table(["workload", "target", "measured", "result"], trows), ""]
    parts += ["## Results", ""]
    for i, sec in enumerate(sections, 1):
        parts += [f"### {i}. {sec.title}", ""]
        for caption, headers, rows in sec.tables:
            if caption:
                parts += [f"*{caption}*", ""]
            parts += [render_table(headers, rows, STEP_RIGHT), ""]
        for note in sec.notes:
            parts += [note, ""]
    if ctx.errors:
        parts += ["## Errors", ""]
        for e in ctx.errors:
            parts += ["```", e.strip()[:1500], "```", ""]
    parts += [
        "## Method notes",
        "",
        "- Hermetic environment for every command: temporary HOME with its own .gitconfig "
        "(user, `gc.auto=0`), `GIT_CONFIG_NOSYSTEM=1`, no inherited `GIT_*`/`DVC_*` "
        "variables; dvc with analytics and update checks off and its site cache (state "
        "database) inside the repetition's directory.",
        "- dvc runs in a git repository like a normal user's (`dvc init`, defaults otherwise: "
        "it does not stage its `.dvc` files, `core.autostage` is off); gitmv stages its "
        "pointers; git-lfs stages through `git add`.  All three copy data (no reflink on ext4).",
        "- Inputs are random bytes generated once (`os.urandom`, 8 MiB chunks) and copied into "
        "each fresh repository; the copy is part of the untimed setup.",
        "- Time is wall-clock from spawn to reap of the command (several commands are summed); "
        f"peak RSS is the child's `ru_maxrss` as reported by {rss_method()}; bytes read is "
        "the harness's own `/proc/self/io` "
        "`rchar` growth across the child's lifetime, into which Linux folds every reaped "
        "descendant's counters.",
        "",
        "## Command",
        "",
        "```",
        command,
        "```",
        "",
    ]
    return "\n".join(parts)


def render_stdout(sections: list[Section]) -> str:
    parts = []
    for i, sec in enumerate(sections, 1):
        parts += [f"== {i}. {sec.title}", ""]
        for caption, headers, rows in sec.tables:
            if caption:
                parts.append(f"-- {caption}")
            parts += [render_table(headers, rows, STEP_RIGHT), ""]
        for t in sec.targets:
            parts.append(f"   [{t.verdict:4}] {t.what}: {t.measured}")
        parts.append("")
    return "\n".join(parts)

