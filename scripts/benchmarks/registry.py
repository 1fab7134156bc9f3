"""Benchmark of the model registry: `git mvm show` / `history` beside `gto` on many tags.

The repository: MODELS models x VERSIONS versions (each version on its own commit, with a
pointer file per model), each version assigned to a stage right after it is registered
(dev, staging, production in turn), so MODELS x VERSIONS x 2 registry tags (2,000 by
default), plus UNRELATED other tags (5,000: half annotated, half lightweight). Every tag is
annotated the way `git mvm register` / `promote` write them (subject + `[gitmv]` TOML with
the environment snapshot) and written in one `git fast-import` run, then refs are packed as
a clone has them. Timed: the median of --reps runs of each command, page cache warm, after
an untimed warm-up run, each run after the machine is quiet (other processes under a
quarter core, waited for up to --quiet-wait s). gto (PyPI) runs from `.venv-gto/`, made by
tests/gto.py when missing. Writes its section into docs/benchmarks.md between markers.
The one module of the package that imports gitmv (gitmv.registry.envinfo, for the snapshot
the tags carry) and the tests (tests/gto.py), both from the repository's root.

    scripts/bench --registry [--reps N] [--no-gto] [--no-write] [--profile]
    python scripts/benchmarks --registry …   (the same; the harness puts ./.venv/bin first)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import NamedTuple

from benchmarks.harness import ROOT, BenchError, Session, log, wait_quiet
from benchmarks.report import replace_section

BEGIN = "<!-- bench_registry: begin -->"
END = "<!-- bench_registry: end -->"
STAGES = ("dev", "staging", "production")
TARGET = 0.5
T0 = 1_764_000_000  # 2025-11-24, the first event's time; one minute between events


def _root_importable() -> None:
    """gitmv (for its envinfo) and tests (for gto) are imported from the repository's root."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


# --- the repository --------------------------------------------------------------------------
def _data(text: str) -> str:
    raw = text.encode()
    return f"data {len(raw)}\n{text}\n"


def _toml_str(s: str) -> str:
    import json

    return json.dumps(s)


def _env_table() -> str:
    _root_importable()
    from gitmv.registry import envinfo

    env = envinfo.collect()
    lines = ["[gitmv.env]"]
    lines += [f"{k} = {_toml_str(v)}" for k, v in env.items() if k != "packages"]
    lines.append("[gitmv.env.packages]")
    lines += [f"{_toml_str(k)} = {_toml_str(v)}" for k, v in env["packages"].items()]
    return "\n".join(lines) + "\n"


def model_name(m: int) -> str:
    return f"model-{m:02d}"


def commits_stream(models: int, versions: int) -> str:
    """One commit per version: every model's pointer and metrics file change."""
    out: list[str] = []
    config = "".join(f'[models.{model_name(m)}]\npath = "models/{model_name(m)}.pt"\n'
                     f'metrics = ["metrics/{model_name(m)}.toml"]\n' for m in range(models))
    for v in range(versions):
        out.append(f"commit refs/heads/main\nmark :{v + 1}\n"
                   f"committer Bench <bench@example.com> {T0 + v} +0000\n" + _data(f"train {v}"))
        if v:
            out.append(f"from :{v}\n")
        else:
            out.append("M 100644 inline .mvm/config.toml\n" + _data(config))
        for m in range(models):
            oid = f"{(m * 1000 + v):064x}"
            pointer = f'mvm = 1\nkind = "file"\noid = "sha256:{oid}"\nsize = {1000 + v}\n'
            out.append(f"M 100644 inline models/{model_name(m)}.pt.mvm\n" + _data(pointer))
            out.append(f"M 100644 inline metrics/{model_name(m)}.toml\n"
                       + _data(f"accuracy = {0.5 + v / 100:.2f}\n"))
        out.append("\n")
    return "".join(out)


def tags_stream(models: int, unrelated: int, commits: list[str]) -> str:
    """Registry tags as register / promote write them, then the unrelated tags."""
    env_table = _env_table()
    out: list[str] = []
    when = T0 + len(commits)
    for m in range(models):
        name = model_name(m)
        for v, commit in enumerate(commits):
            version = f"v1.{v}.0"
            oid = f"{(m * 1000 + v):064x}"
            date = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(when))
            snap = (f'[gitmv]\nformat = 1\nevent = "register"\nmodel = "{name}"\n'
                    f'version = "{version}"\npath = "models/{name}.pt"\nkind = "file"\n'
                    f'oid = "sha256:{oid}"\nsize = {1000 + v}\ncommit = "{commit}"\n'
                    f'author = "Bench <bench@example.com>"\ndate = "{date}"\n'
                    f'[gitmv.metrics."metrics/{name}.toml"]\naccuracy = {0.5 + v / 100:.2f}\n'
                    + env_table)
            out.append(_tag(f"{name}@{version}", commit, when,
                            f"Register {name} {version}\n\n{snap}"))
            when += 60
            stage = STAGES[v % len(STAGES)]
            date = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(when))
            body = (f'[gitmv]\nformat = 1\nevent = "assign"\nmodel = "{name}"\n'
                    f'version = "{version}"\nstage = "{stage}"\npath = "models/{name}.pt"\n'
                    f'kind = "file"\noid = "sha256:{oid}"\nsize = {1000 + v}\n'
                    f'commit = "{commit}"\nauthor = "Bench <bench@example.com>"\n'
                    f'date = "{date}"\n')
            out.append(_tag(f"{name}#{stage}#{v + 1}", commit, when,
                            f"Assign {name} {version} to {stage}\n\n{body}"))
            when += 60
    for i in range(unrelated):
        commit = commits[i % len(commits)]
        if i % 2:
            out.append(f"reset refs/tags/build-{i:05d}\nfrom {commit}\n\n")
        else:
            out.append(_tag(f"release-{i:05d}", commit, when, f"Release {i}\n"))
            when += 1
    return "".join(out)


def _tag(name: str, commit: str, when: int, message: str) -> str:
    return (f"tag {name}\nfrom {commit}\ntagger Bench <bench@example.com> {when} +0000\n"
            + _data(message))


def make_repo(ctx: Session, args: argparse.Namespace) -> Path:
    repo = ctx.session / "registry"
    repo.mkdir()
    ctx.run(["git", "init", "-q"], repo)
    marks = (ctx.session / "marks").resolve()
    ctx.run(["git", "fast-import", "--quiet", f"--export-marks={marks}"], repo,
            stdin=commits_stream(args.models, args.versions).encode())
    by_mark = dict(line.split() for line in marks.read_text().splitlines())
    commits = [by_mark[f":{v + 1}"] for v in range(args.versions)]
    ctx.run(["git", "fast-import", "--quiet"], repo,
            stdin=tags_stream(args.models, args.unrelated, commits).encode())
    ctx.run(["git", "pack-refs", "--all"], repo)
    ctx.run(["git", "checkout", "-q", "main"], repo)
    return repo


# --- timing ----------------------------------------------------------------------------------
class Timing(NamedTuple):
    wall: list[float]  # seconds, spawn to reap
    cpu: list[float]  # user + system seconds of the process tree (steady on a busy machine)
    busy: int  # runs during which other processes used the machine


def time_command(ctx: Session, cmd: list[str], repo: Path, reps: int,
                 quiet_wait: float) -> tuple[Timing, str]:
    """Time `reps` runs after one untimed warm-up run; also returns the last output."""
    out = ctx.run(cmd, repo).stdout.decode("utf-8", "replace")
    samples: list[float] = []
    cpu: list[float] = []
    busy = 0
    for _ in range(reps):
        busy += not wait_quiet(quiet_wait)
        m = ctx.measure(cmd, repo, tail=None).checked()
        samples.append(m.seconds)
        cpu.append(m.cpu_seconds)
        out = m.output
    return Timing(samples, cpu, busy), out


def profile(ctx: Session, repo: Path, argv: list[str]) -> str:
    """The functions where `git mvm ARGV` spends its time (cProfile, cumulative, top 25)."""
    code = ("import cProfile, pstats, io, sys; from gitmv.cli import main; "
            "pr = cProfile.Profile(); pr.enable(); main(sys.argv[1:]); pr.disable(); "
            "s = io.StringIO(); pstats.Stats(pr, stream=s).sort_stats('cumulative')"
            ".print_stats(25); sys.stderr.write(s.getvalue())")
    proc = ctx.run([str(ROOT / ".venv" / "bin" / "python"), "-c", code, *argv], repo,
                   check=False)
    return proc.stderr.decode("utf-8", "replace")


def gto_path() -> str | None:
    _root_importable()
    try:
        from tests.gto import gto_executable
    except ImportError:
        return shutil.which("gto")
    try:
        return str(gto_executable())
    except (RuntimeError, OSError) as exc:
        log(f"no gto: {exc}")
        return None


Row = tuple[str, str, Timing, str]  # workload, tool, timing, command


def bench(ctx: Session, args: argparse.Namespace) -> tuple[list[Row], dict[str, str]]:
    t = time.perf_counter()
    repo = make_repo(ctx, args)
    n_tags = len(ctx.run(["git", "tag"], repo).stdout.split())
    log(f"repository with {n_tags:,} tags made in {time.perf_counter() - t:.1f} s")
    one = model_name(args.models // 2)
    cmds: list[tuple[str, str, list[str], int]] = [
        ("show (all models)", "gitmv", ["git", "mvm", "show"], args.reps),
        (f"show {one}", "gitmv", ["git", "mvm", "show", one], args.reps),
        (f"history {one}", "gitmv", ["git", "mvm", "history", one], args.reps),
        ("show (all models)", "floor: git for-each-ref, tag messages",
         ["git", "for-each-ref", "--format=%(refname)%00%(contents)", "refs/tags"], args.reps),
    ]
    gto = None if args.no_gto else gto_path()
    if gto:
        cmds += [
            ("show (all models)", "gto", [gto, "show"], args.gto_reps),
            (f"show {one}", "gto", [gto, "show", one], args.gto_reps),
            (f"history {one}", "gto", [gto, "history", one], args.gto_reps),
        ]
    rows: list[Row] = []
    outputs: dict[str, str] = {}
    for workload, tool, cmd, reps in cmds:
        log(f"{tool}: {' '.join(cmd[1:] if tool == 'gto' else cmd)} ×{reps} …")
        timing, out = time_command(ctx, cmd, repo, reps, args.quiet_wait)
        rows.append((workload, tool, timing, " ".join(
            ["gto", *cmd[1:]] if tool == "gto" else cmd)))
        outputs[f"{tool}: {workload}"] = out
        print(f"{workload:24} {tool:40} {statistics.median(timing.wall):8.3f} s "
              f"(cpu {statistics.median(timing.cpu):.3f} s)  "
              f"runs {' '.join(f'{s:.3f}' for s in timing.wall)}", flush=True)
    for name in (f"gitmv: show {one}", "gto: show (all models)"):
        if name in outputs and one not in outputs[name]:
            raise BenchError(f"{name} does not mention {one}:\n{outputs[name]}")
    if args.profile:
        for argv in (["show"], ["history", one]):
            sys.stderr.write(f"--- profile: git mvm {' '.join(argv)}\n")
            sys.stderr.write(profile(ctx, repo, argv))
    return rows, {"tags": f"{n_tags:,}", "model": one}


def write(rows: list[Row], info: dict[str, str], args: argparse.Namespace, out: Path,
          seconds: float) -> None:
    gitmv_median = {w: statistics.median(t.wall) for w, tool, t, _ in rows if tool == "gitmv"}
    gto_note = f"gto {gto_version()}" if any(r[1] == "gto" for r in rows) else "gto not run"
    lines = [
        BEGIN,
        "## Model registry (`scripts/benchmarks/registry.py`)",
        "",
        f"Repository: {args.models} models × {args.versions} versions, each version registered "
        f"and then assigned to a stage ({args.models * args.versions * 2:,} registry tags, "
        f"annotated, with gitmv's snapshot and environment in each message) plus "
        f"{args.unrelated:,} unrelated tags (half annotated, half lightweight): "
        f"{info['tags']} tags, refs packed. Median of {args.reps} runs for gitmv and the floor, "
        f"{args.gto_reps} for gto, page cache warm, after an untimed warm-up run. "
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{seconds / 60:.1f} min in all; {gto_note}.",
        "",
        "| command | tool | median s | CPU s | runs (s) | notes |",
        "|---|---|---:|---:|---|---|",
    ]
    for workload, tool, timing, cmd in rows:
        med = statistics.median(timing.wall)
        notes = [f"`{cmd}`"]
        if tool == "gitmv":
            notes.append(f"target < {TARGET} s: {'PASS' if med < TARGET else 'FAIL'}")
        elif tool == "gto" and workload in gitmv_median:
            notes.append(f"gitmv is {med / gitmv_median[workload]:.0f}× faster")
        if timing.busy:
            notes.append(f"{timing.busy} of {len(timing.wall)} run(s) on a busy machine")
        lines.append(f"| {workload} | {tool} | {med:.3f} | {statistics.median(timing.cpu):.3f} "
                     f"| {' '.join(f'{s:.3f}' for s in timing.wall)} | {'; '.join(notes)} |")
    lines += ["", "The floor is git alone printing every tag with its message, the least any "
              "reader of these tags pays. CPU s is user + system time of the command's process "
              "tree (steadier than wall time when other processes share the machine).", "",
              "Command: `scripts/bench --registry` (or `python scripts/benchmarks --registry`; "
              "`--profile` adds where `git mvm show` and `history` spend their time).", END]
    replace_section(out, BEGIN, END, lines)


def gto_version() -> str:
    try:
        out = (ROOT / ".venv-gto" / ".gitmv-requirements").read_text().split()
        return out[0].split("==")[-1] if out else "?"
    except OSError:
        return "?"


def run(args: argparse.Namespace) -> int:
    """The registry rows, printed; the section written unless --no-write."""
    start = time.perf_counter()
    ctx = Session(Path(args.work), "registry-", keep=args.keep)
    try:
        rows, info = bench(ctx, args)
    finally:
        ctx.close()
    if not args.no_write:
        write(rows, info, args, Path(args.out), time.perf_counter() - start)
    return 0
