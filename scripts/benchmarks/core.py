"""The core workloads: gitmv next to dvc, git-lfs and the floor on one machine: add one big
file, add a directory of many small ones, status with nothing changed, checkout of a deleted
directory, re-add after changing one file.  They make the core report (docs/benchmarks.md
above the KEEP line).

Each repetition of each tool gets a fresh directory: the untimed setup copies the inputs in,
creates the repository and does whatever the workload needs beforehand (add, commit, delete,
edit); then the timed step runs.  Before each timed step: sync; if /proc/sys/vm/drop_caches is
writable the page cache is dropped ("cold" data) and the tool's own code is warmed again by an
untimed no-op command of that tool, so that the timing is about data, not about loading Python
modules from disk.  Otherwise every run is a warm-cache run.  All tools get the same treatment.

A workload is a function that returns a Section (tables of rows + targets); the list
WORKLOADS at the bottom is what --only chooses from.  Tools grow new methods on the Tool
classes (tools.py).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import (
    ROOT,
    Measurement,
    Session,
    SetupError,
    copy_in,
    count_files,
    human_size,
    log,
    remove_tree,
    wait_quiet,
)
from benchmarks.report import (
    Section,
    Target,
    fmt_bytes,
    kept_tail,
    machine_info,
    ratio_target,
    render_report,
    render_stdout,
    rss_target,
    step_table,
    versions,
)
from benchmarks.tools import Dvc, Floor, GitLfs, GitMv, Tool

MB = 1_000_000


# --------------------------------------------------------------------------------------------
# sizes


@dataclass(frozen=True)
class Sizes:
    big_bytes: int
    n_dirs: int
    files_per_dir: int
    file_bytes: int

    @property
    def n_files(self) -> int:
        return self.n_dirs * self.files_per_dir

    @property
    def dir_bytes(self) -> int:
        return self.n_files * self.file_bytes

    def big_label(self) -> str:
        return human_size(self.big_bytes)

    def dir_label(self) -> str:
        return (
            f"{self.n_files:,} files × {human_size(self.file_bytes)} "
            f"({self.n_dirs} dirs × {self.files_per_dir})"
        )


FULL = Sizes(big_bytes=2 << 30, n_dirs=100, files_per_dir=200, file_bytes=4096)
QUICK = Sizes(big_bytes=64 << 20, n_dirs=20, files_per_dir=100, file_bytes=4096)


def sizes_of(args: argparse.Namespace) -> Sizes:
    base = QUICK if args.quick else FULL
    return Sizes(
        big_bytes=(args.file_mib << 20) if args.file_mib else base.big_bytes,
        n_dirs=args.dirs or base.n_dirs,
        files_per_dir=args.files_per_dir or base.files_per_dir,
        file_bytes=base.file_bytes,
    )


# --------------------------------------------------------------------------------------------
# the run context


class Context(Session):
    """The Session of a core run, with its sizes, cache mode and the tally for the report."""

    def __init__(self, args: argparse.Namespace, sizes: Sizes) -> None:
        super().__init__(Path(args.work), "run-", keep=args.keep, timeout=args.timeout)
        self.args = args
        self.sizes = sizes
        self.reps: int = args.reps
        self.runs = self.session / "runs"
        self.runs.mkdir(parents=True)
        self.cold = self._can_drop_caches() if args.cache == "cold" else False
        self.errors: list[str] = []  # "workload rep N tool: message", for the report
        self.retried = 0  # runs repeated because other processes were busy
        self.contended = 0  # kept runs during which other processes were still busy
        self.busy_spell = False  # the last wait for quiet ran out
        self.started_quiet = True  # the machine was quiet when the last timed step began

    def _can_drop_caches(self) -> bool:
        try:
            os.sync()
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")
            return True
        except OSError:
            return False

    def settle(self, tool: Tool, rep_dir: Path) -> None:
        """Before a timed step: flush dirty pages; drop caches and re-warm the tool's code;
        then wait (bounded) until other processes leave the machine alone."""
        os.sync()
        if self.cold:
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")
            self._warm(tool)
        self.wait_quiet()

    def wait_quiet(self) -> None:
        """Wait until other processes leave the CPU alone: up to --quiet-wait seconds, or only
        a few seconds while the machine has stayed busy since the last wait ran out."""
        limit = 5.0 if self.busy_spell else self.args.quiet_wait
        quiet = wait_quiet(limit, announce=self.busy_spell)
        self.started_quiet = quiet
        self.busy_spell = not quiet

    def _warm(self, tool: Tool) -> None:
        for argv in tool.warm_cmds(self):
            subprocess.run(
                argv,
                cwd=tool.warm_dir(self),
                env=tool.env(self, self.session),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )

    def measure_tool(
        self, tool: Tool, cmds: Sequence[Sequence[str]], cwd: Path, rep_dir: Path, tag: str
    ) -> Measurement:
        """The commands of one timed step, in the tool's environment, summed."""
        total = Measurement()
        env = tool.env(self, rep_dir)
        for i, argv in enumerate(cmds):
            m = self.measure(argv, cwd, env, log=rep_dir / f"{tag}-{i}.log")
            total.absorb(m)
            if not m.ok:
                total.error = f"{m.error}\n{m.output.strip()[-600:]}"
                break
        return total

    def fresh_dir(self, workload: str, tool: Tool, rep: int) -> Path:
        d = self.runs / f"{workload}-{tool.key}-{rep}"
        remove_tree(d)
        d.mkdir(parents=True)
        return d

    # inputs (generated once, kept) --------------------------------------------------------
    def big_input(self) -> Path:
        return self.random_file(self.sizes.big_bytes)

    def dir_input(self) -> Path:
        s = self.sizes
        return self.random_tree(s.n_files, s.files_per_dir, s.file_bytes)

    def put_big(self, repo: Path, name: str = "big.bin") -> Path:
        return copy_in(self.big_input(), repo / name)

    def put_dir(self, repo: Path, name: str = "data") -> Path:
        return copy_in(self.dir_input(), repo / name)

    def sample_file(self) -> str:
        """Relative path (inside data/) of the file the re-add workload changes."""
        s = self.sizes
        return f"d{s.n_dirs // 2:03d}/f{s.files_per_dir // 2:04d}.bin"


# --------------------------------------------------------------------------------------------
# running a workload across tools and repetitions


@dataclass
class Step:
    """One timed action within a repetition: untimed prepare, timed cmds, untimed check."""

    label: str
    cmds: Callable[[Tool, Path], list[list[str]]]
    prepare: Callable[[Tool, Path], None] | None = None
    check: Callable[[Tool, Path], str | None] | None = None


Results = dict[str, dict[str, list[Measurement]]]  # step label -> tool key -> runs


def run_matrix(
    ctx: Context,
    name: str,
    tools: Sequence[Tool],
    setup: Callable[[Tool, Path], None],
    steps: Sequence[Step],
) -> Results:
    res: Results = {s.label: {t.key: [] for t in tools} for s in steps}
    for rep in range(ctx.reps):
        for tool in tools:  # interleaved, so drift hits every tool alike
            if not tool.available:
                continue
            for attempt in range(ctx.args.retries + 1):
                got = run_once(ctx, name, tool, rep, setup, steps)
                busy = [m for m in got if m.contended and m.ok]
                # a run that began on a busy machine (the wait ran out) is kept: repeating it
                # would most likely meet the same load
                if (
                    not busy
                    or attempt == ctx.args.retries
                    or not all(m.started_quiet for m in busy)
                ):
                    break
                ctx.retried += 1
                cores = max(m.foreign_cpu / max(m.seconds, 1e-9) for m in busy)
                log(f"  other processes used {cores:.1f} cores meanwhile: repeating this run")
            for step, m in zip(steps, got, strict=True):
                res[step.label][tool.key].append(m)
                ctx.contended += m.ok and m.contended
                if m.error and m.error != "not run":
                    ctx.errors.append(f"{name} rep {rep + 1} {tool.key} {step.label}: {m.error}")
    return res


def run_once(
    ctx: Context,
    name: str,
    tool: Tool,
    rep: int,
    setup: Callable[[Tool, Path], None],
    steps: Sequence[Step],
) -> list[Measurement]:
    """One repetition of one tool in a fresh directory: untimed setup, then the timed steps."""
    got: list[Measurement] = []
    rep_dir = ctx.fresh_dir(name, tool, rep)
    repo = rep_dir / "repo"
    try:
        t0 = time.perf_counter()
        tool.init_repo(ctx, repo)
        setup(tool, repo)
        setup_s = time.perf_counter() - t0
        for i, step in enumerate(steps):
            if step.prepare:
                step.prepare(tool, repo)
            ctx.settle(tool, rep_dir)
            m = ctx.measure_tool(tool, step.cmds(tool, repo), repo, rep_dir, f"step{i}")
            m.started_quiet = ctx.started_quiet
            if m.ok and step.check:
                problem = step.check(tool, repo)
                if problem:
                    m.error = f"wrong result: {problem}"
            got.append(m)
            shown = "ERROR" if not m.ok else f"{m.seconds:.3f} s"
            if m.contended:
                shown += f" (others used {m.foreign_cpu:.2f} CPU-s meanwhile)"
            log(
                f"{name} rep {rep + 1}/{ctx.reps} {tool.key:8} {step.label}: {shown}"
                f"  (setup {setup_s:.1f} s)"
            )
            if not m.ok:
                log(f"  {m.error}")
                break
    except SetupError as e:
        log(f"{name} rep {rep + 1} {tool.key}: setup failed: {e}")
        got.append(Measurement(error=f"setup: {e}"))
    finally:
        ctx.cleanup(rep_dir)
    got += [Measurement(error="not run") for _ in steps[len(got) :]]
    return got


# --------------------------------------------------------------------------------------------
# workloads


def wl_add_file(ctx: Context, tools: dict[str, Tool]) -> Section:
    s = ctx.sizes
    order = [tools[k] for k in ("gitmv", "dvc", "git-lfs", "floor")]
    ctx.big_input()

    def setup(tool: Tool, repo: Path) -> None:
        ctx.put_big(repo)

    step = Step(
        "add",
        cmds=lambda t, repo: t.add_cmds(ctx, repo, ["big.bin"]),
        check=lambda t, repo: t.check_added(ctx, repo, "big.bin", 1),
    )
    res = run_matrix(ctx, "add-file", order, setup, [step])["add"]
    sec = Section("add-file", f"add one {s.big_label()} file")
    sec.tables.append(("", *step_table(res, order)))
    sec.targets += [
        ratio_target(res, "dvc", 0.25, "gitmv ≤ 0.25× dvc"),
        ratio_target(res, "floor", 1.3, "gitmv ≤ 1.3× floor"),
        rss_target(res["gitmv"], 100 * MB, "gitmv peak RSS < 100 MB"),
    ]
    sec.notes.append(
        "gitmv: `git mvm add -q big.bin`; dvc: `dvc add -q big.bin`; git-lfs: "
        "`git lfs track '*.bin'` + `git add big.bin`; floor: one Python pass over the same "
        "file (8 MiB reads, sha256, write a copy on the same filesystem)."
    )
    return sec


def wl_add_dir(ctx: Context, tools: dict[str, Tool]) -> Section:
    s = ctx.sizes
    order = [tools[k] for k in ("gitmv", "dvc", "git-lfs", "floor")]
    ctx.dir_input()

    def setup(tool: Tool, repo: Path) -> None:
        ctx.put_dir(repo)

    step = Step(
        "add",
        cmds=lambda t, repo: t.add_cmds(ctx, repo, ["data"]),
        check=lambda t, repo: t.check_added(ctx, repo, "data", s.n_files),
    )
    res = run_matrix(ctx, "add-dir", order, setup, [step])["add"]
    sec = Section("add-dir", f"add a directory of {s.dir_label()}")
    sec.tables.append(("", *step_table(res, order)))
    sec.targets += [
        ratio_target(res, "dvc", 0.25, "gitmv ≤ 0.25× dvc"),
        ratio_target(res, "git-lfs", float("inf"), "gitmv ÷ git-lfs", info=True),
    ]
    sec.notes.append(
        "gitmv: `git mvm add -q data`; dvc: `dvc add -q data`; git-lfs: "
        "`git lfs track '*.bin'` + `git add data`; floor: the same Python pass per file."
    )
    return sec


def wl_status(ctx: Context, tools: dict[str, Tool]) -> Section:
    s = ctx.sizes
    order = [tools[k] for k in ("gitmv", "dvc", "git-lfs")]
    ctx.big_input()
    ctx.dir_input()

    def setup(tool: Tool, repo: Path) -> None:
        ctx.put_dir(repo)
        ctx.put_big(repo)
        tool.track_and_commit(ctx, repo, ["data", "big.bin"])

    steps = [
        Step("first status after commit", cmds=lambda t, repo: t.status_cmds(ctx, repo)),
        Step("repeated status", cmds=lambda t, repo: t.status_cmds(ctx, repo)),
    ]
    res = run_matrix(ctx, "status", order, setup, steps)
    sec = Section(
        "status",
        f"status, nothing changed (repo tracks {s.dir_label()} and one {s.big_label()} file,"
        " committed)",
    )
    labels = {"git-lfs": "git-lfs (`git status`)"}
    for st in steps:
        headers, rows = step_table(res[st.label], order)
        for r in rows:
            r[0] = labels.get(r[0], r[0])
        sec.tables.append((st.label, headers, rows))
        what = f"{st.label}: gitmv ≤ 0.15× dvc"
        sec.targets.append(ratio_target(res[st.label], "dvc", 0.15, what))
    sec.notes.append(
        "gitmv: `git mvm status`; dvc: `dvc status`; git-lfs repo: `git status`.  Each "
        "repetition times the first status right after the setup commit, then a second one."
    )
    return sec


def wl_checkout(ctx: Context, tools: dict[str, Tool]) -> Section:
    s = ctx.sizes
    order = [tools[k] for k in ("gitmv", "dvc", "git-lfs")]
    src = ctx.dir_input()
    sample = ctx.sample_file()
    expected = (src / sample).read_bytes()

    def setup(tool: Tool, repo: Path) -> None:
        ctx.put_dir(repo)
        tool.track_and_commit(ctx, repo, ["data"])

    def prepare(tool: Tool, repo: Path) -> None:
        remove_tree(repo / "data")

    def check(tool: Tool, repo: Path) -> str | None:
        n = count_files(repo / "data")
        if n != s.n_files:
            return f"{n} files restored, expected {s.n_files}"
        if (repo / "data" / sample).read_bytes() != expected:
            return f"data/{sample} restored with wrong content"
        return None

    step = Step(
        "checkout",
        cmds=lambda t, repo: t.checkout_cmds(ctx, repo, ["data"]),
        prepare=prepare,
        check=check,
    )
    res = run_matrix(ctx, "checkout", order, setup, [step])["checkout"]
    sec = Section("checkout", f"checkout of the deleted directory ({s.dir_label()})")
    sec.tables.append(("", *step_table(res, order)))
    sec.targets.append(ratio_target(res, "dvc", 0.25, "gitmv ≤ 0.25× dvc"))
    sec.notes.append(
        "After `rm -rf data` (untimed): gitmv: `git mvm checkout -q data`; dvc: "
        "`dvc checkout -q data.dvc`; git-lfs: `git checkout -- data` (smudge filter).  The "
        "restored file count and one file's content are checked."
    )
    return sec


def wl_readd(ctx: Context, tools: dict[str, Tool]) -> Section:
    s = ctx.sizes
    order = [tools[k] for k in ("gitmv", "dvc", "git-lfs")]
    ctx.dir_input()
    sample = ctx.sample_file()

    def setup(tool: Tool, repo: Path) -> None:
        ctx.put_dir(repo)
        tool.track_and_commit(ctx, repo, ["data"])

    def prepare(tool: Tool, repo: Path) -> None:
        p = repo / "data" / sample
        p.unlink()  # a new file, as an editor or a training run would write it
        p.write_bytes(os.urandom(s.file_bytes))

    def check(tool: Tool, repo: Path) -> str | None:
        out = ctx.run(["git", "status", "--porcelain", "--untracked-files=no"], repo).stdout
        return None if out.strip() else "nothing changed in git after the re-add"

    step = Step(
        "re-add",
        cmds=lambda t, repo: t.readd_cmds(ctx, repo, ["data"]),
        prepare=prepare,
        check=check,
    )
    res = run_matrix(ctx, "readd", order, setup, [step])["re-add"]
    sec = Section("readd", f"re-add after changing 1 of {s.n_files:,} files")
    sec.tables.append(("", *step_table(res, order)))
    reads = [m.rchar for m in res["gitmv"] if m.ok and m.rchar is not None]
    limit = 0.1 * s.dir_bytes
    what = (
        f"gitmv bytes read < 10% of the directory ({fmt_bytes(limit)} of {fmt_bytes(s.dir_bytes)})"
    )
    if reads and len(reads) == len(res["gitmv"]):
        med = statistics.median(reads)
        # at smoke-test sizes the interpreter's own start-up outweighs the directory
        quick = s.dir_bytes < FULL.dir_bytes
        sec.targets.append(Target(what, fmt_bytes(med), med < limit, info=quick))
    else:
        sec.targets.append(Target(what, "—", None))
    startup = []
    for t in order:
        argv = t.noop_cmd()
        if t.available and argv:
            rep_dir = ctx.fresh_dir("startup", t, 0)
            m = ctx.measure_tool(t, [argv], rep_dir, rep_dir, "noop")
            ctx.cleanup(rep_dir)
            if m.ok and m.rchar is not None:
                startup.append(f"{t.label} {fmt_bytes(m.rchar)} (`{shlex.join(argv)}`)")
    if startup:
        sec.notes.append(
            "For scale, bytes read by just starting each tool: " + "; ".join(startup) + "."
        )
    hashed = [GitMv.hashed_files(m.output) for m in res["gitmv"] if m.ok]
    if hashed and all(h is not None for h in hashed):
        shown = ", ".join(str(h) for h in hashed) + " (per repetition; from `-v` output)"
    else:
        shown = "not reported"
    sec.targets.append(Target("gitmv files hashed on re-add", shown, None, info=True))
    sec.targets.append(ratio_target(res, "dvc", float("inf"), "gitmv ÷ dvc time", info=True))
    sec.notes.append(
        "One file is replaced by new random bytes of the same size (untimed), then gitmv: "
        "`git mvm add -v data`; dvc: `dvc add -q data`; git-lfs: `git add data`.  “read” is "
        "every byte the tool's process tree read (rchar: files, pipes, its own code and "
        "libraries) — a tool that re-hashes everything reads at least the whole directory."
    )
    return sec


@dataclass
class Workload:
    name: str
    run: Callable[[Context, dict[str, Tool]], Section]
    help: str


WORKLOADS = [
    Workload("add-file", wl_add_file, "add one big file (2 GiB), with the Python floor"),
    Workload("add-dir", wl_add_dir, "add a directory of 20,000 × 4 KiB files"),
    Workload("status", wl_status, "status with nothing changed"),
    Workload("checkout", wl_checkout, "checkout of the deleted 20,000-file directory"),
    Workload("readd", wl_readd, "re-add after changing one file of 20,000"),
]




def run(args: argparse.Namespace, command: str) -> int:
    """The core workloads chosen by --only, printed; the core report written unless
    --no-write.  0, or 1 when a command failed, or 3 when a target failed under --strict."""
    started = time.perf_counter()
    ctx = Context(args, sizes_of(args))
    try:
        tools: dict[str, Tool] = {t.key: t for t in (GitMv(), Dvc(), GitLfs(), Floor())}
        for t in tools.values():
            if t.key not in args.tool_set:
                t.available, t.reason = False, "not selected (--tools)"
                continue
            t.probe(ctx)
            state = t.version if t.available else f"UNAVAILABLE: {t.reason}"
            log(f"{t.key}: {state}")
        log(
            f"cache: {'cold (drop_caches before each timed step)' if ctx.cold else 'warm'}; "
            f"reps: {ctx.reps}; work: {ctx.session}"
        )
        sections = []
        for w in WORKLOADS:
            if w.name in args.only_set:
                log(f"== {w.name}")
                sections.append(w.run(ctx, tools))
        elapsed = time.perf_counter() - started
        print(render_stdout(sections))
        if not args.no_write:
            out = (
                Path(args.out)
                if args.out
                else (
                    ctx.work / "benchmarks-quick.md"
                    if args.quick
                    else ROOT / "docs" / "benchmarks.md"
                )
            )
            report = render_report(
                ctx, sections, machine_info(ctx.work), versions(ctx, tools), command, elapsed
            )
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(report.rstrip("\n") + "\n\n" + kept_tail(out))
            log(f"wrote {out}")
        log(
            f"done in {elapsed / 60:.1f} min; {len(ctx.errors)} error(s); "
            f"{ctx.retried} repetition(s) repeated and {ctx.contended} run(s) still contended "
            "by other processes"
        )
        failed = any(t.passed is False for sec in sections for t in sec.targets)
        if ctx.errors:
            return 1
        return 3 if (failed and args.strict) else 0
    finally:
        ctx.close()
