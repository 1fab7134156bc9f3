"""Benchmarks of git integration and remote stores, beside dvc, in one run.

Rows: the cost of gitmv's hooks on a commit that changes no pointer (hooks vs no hooks, and
each hook called directly), and push / no-op push / pull of a 20,000-file directory plus a
1 GiB file to a local directory store and to an S3 API server (moto) on loopback, next to
`dvc push` / `dvc pull` and, for S3, the floor: the same objects moved with plain boto3 at
the same concurrency against the same server, with the requests each S3 command made (counted
from the server's log: benchmarks/s3.py). Writes its section into docs/benchmarks.md.
Run through `scripts/bench --remote` (which sets PATH so `git mvm` and `dvc` are found).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from benchmarks.harness import BenchError, Session, copy_in, log
from benchmarks.report import replace_section
from benchmarks.s3 import S3Server, describe

BEGIN = "<!-- bench_remote: begin -->"
END = "<!-- bench_remote: end -->"
JOBS = 16
PER_DIR = 200  # files per sub-directory of the generated directory


class Ctx(Session):
    """The Session of a remote run, with its options."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(Path(args.work), "remote-")
        self.args = args


Sample = tuple[float, float, Counter[str] | None]


def timed(ctx: Session, cmd: list[str], cwd: Path, s3: S3Server | None = None) -> Sample:
    """Run a command; (wall seconds, peak RSS MB of its process tree, the requests it made of
    `s3`); BenchError if it fails."""
    mark = s3.mark() if s3 else 0
    m = ctx.measure(cmd, cwd).checked()
    return m.seconds, m.maxrss_kib / 1024, (s3.requests(mark) if s3 else None)


class Inputs(NamedTuple):
    data: Path  # the generated directory
    big: Path  # the big file


def make_inputs(ctx: Session, files: int, big_mib: int) -> Inputs:
    """Generated once, kept in the work dir's inputs/ (shared with the core workloads)."""
    return Inputs(ctx.random_tree(files, PER_DIR, 4096), ctx.random_file(big_mib << 20))


def copy_inputs(inputs: Inputs, repo: Path) -> None:
    copy_in(inputs.data, repo / "data")
    copy_in(inputs.big, repo / "big.bin")
    subprocess.run(["sync"], check=False)


# --- hooks -----------------------------------------------------------------------------------
def bench_hooks(ctx: Ctx) -> list[tuple[str, str, float, str]]:
    rows = []
    times: dict[str, float] = {}
    for mode in ("hooks", "no hooks"):
        repo = ctx.session / f"hooks-{mode.replace(' ', '-')}"
        repo.mkdir()
        ctx.run(["git", "init", "-q"], repo)
        ctx.run(["git", "mvm", "init", "-q", *([] if mode == "hooks" else ["--no-hooks"])], repo)
        (repo / "model.bin").write_bytes(os.urandom(1 << 20))
        ctx.run(["git", "mvm", "add", "-q", "model.bin"], repo)
        ctx.run(["git", "commit", "-q", "-m", "model"], repo)
        samples = []
        for i in range(ctx.args.hook_reps):
            (repo / "README.md").write_text(f"change {i}\n")
            ctx.run(["git", "add", "README.md"], repo)
            samples.append(timed(ctx, ["git", "commit", "-q", "-m", f"c{i}"], repo)[0])
        times[mode] = statistics.median(samples)
    rows.append(("commit, no pointer change", "with gitmv hooks", times["hooks"], ""))
    rows.append(("commit, no pointer change", "without hooks", times["no hooks"], ""))
    rows.append(("commit, no pointer change", "hook overhead", times["hooks"] - times["no hooks"],
                 "target < 0.1 s"))
    repo = ctx.session / "hooks-hooks"
    for name, args in (("pre-commit (nothing staged)", ["pre-commit"]),
                       ("post-checkout (same commit)", ["post-checkout", "HEAD", "HEAD", "1"]),
                       ("post-merge (no pointer change)", ["post-merge", "0"])):
        samples = [timed(ctx, ["git", "mvm", "hook", *args], repo)[0]
                   for _ in range(ctx.args.hook_reps)]
        rows.append((f"hook called directly: {name}", "gitmv", statistics.median(samples),
                     "target < 0.1 s"))
    plain = ctx.session / "no-mvm"
    plain.mkdir()
    ctx.run(["git", "init", "-q"], plain)
    samples = [timed(ctx, ["git", "mvm", "hook", "pre-commit"], plain)[0]
               for _ in range(ctx.args.hook_reps)]
    rows.append(("hook in a repository without .mvm/", "gitmv", statistics.median(samples),
                 "target < 0.1 s"))
    return rows


# --- push / pull -----------------------------------------------------------------------------
Measure = dict[str, list[Sample]]


def gitmv_round(ctx: Ctx, inputs: Inputs, rep: int, remote: tuple[str, ...] | None,
                s3: S3Server | None = None) -> Measure:
    packs = "-loose" if remote and "--no-packs" in remote else ""
    base = ctx.session / f"gitmv-{remote[0] if remote else 'local'}{packs}-{rep}"
    bare = base / "origin.git"
    repo = base / "repo"
    repo.mkdir(parents=True)
    ctx.run(["git", "init", "-q", "--bare", str(bare)], base)
    ctx.run(["git", "init", "-q"], repo)
    ctx.run(["git", "mvm", "init", "-q", "--no-hooks"], repo)
    if remote:
        ctx.run(["git", "mvm", "remote", "add", *remote, "--default"], repo)
    ctx.run(["git", "remote", "add", "origin", str(bare)], repo)
    copy_inputs(inputs, repo)
    ctx.run(["git", "mvm", "add", "-q", "data", "big.bin"], repo)
    ctx.run(["git", "commit", "-q", "-m", "data"], repo)
    ctx.run(["git", "push", "-q", "origin", "main"], repo)
    out: Measure = {}
    out["push"] = [timed(ctx, ["git", "mvm", "push", "-q", "-j", str(JOBS)], repo, s3)]
    out["no-op push"] = [timed(ctx, ["git", "mvm", "push", "-q", "-j", str(JOBS)], repo, s3)]
    clone = base / "clone"
    ctx.run(["git", "clone", "-q", str(bare), str(clone)], base)
    out["pull"] = [timed(ctx, ["git", "mvm", "pull", "-q", "-j", str(JOBS)], clone, s3)]
    if not (clone / "big.bin").exists() or len(list((clone / "data").rglob("*.bin"))) != \
            ctx.args.files:
        raise BenchError("gitmv pull did not restore the data")
    shutil.rmtree(base)
    return out


def dvc_round(ctx: Ctx, inputs: Inputs, rep: int, remote: list[list[str]],
              s3: S3Server | None = None) -> Measure:
    kind = "s3" if remote and remote[0][-1].startswith("s3://") else "local"
    base = ctx.session / f"dvc-{kind}-{rep}"
    bare = base / "origin.git"
    repo = base / "repo"
    repo.mkdir(parents=True)
    ctx.run(["git", "init", "-q", "--bare", str(bare)], base)
    ctx.run(["git", "init", "-q"], repo)
    ctx.run(["dvc", "init", "-q"], repo)
    for cmd in remote:
        ctx.run(cmd, repo)
    ctx.run(["git", "remote", "add", "origin", str(bare)], repo)
    copy_inputs(inputs, repo)
    ctx.run(["dvc", "add", "-q", "data", "big.bin"], repo)
    ctx.run(["git", "add", "-A"], repo)
    ctx.run(["git", "commit", "-q", "-m", "data"], repo)
    ctx.run(["git", "push", "-q", "origin", "main"], repo)
    out: Measure = {}
    out["push"] = [timed(ctx, ["dvc", "push", "-q", "-j", str(JOBS)], repo, s3)]
    out["no-op push"] = [timed(ctx, ["dvc", "push", "-q", "-j", str(JOBS)], repo, s3)]
    clone = base / "clone"
    ctx.run(["git", "clone", "-q", str(bare), str(clone)], base)
    out["pull"] = [timed(ctx, ["dvc", "pull", "-q", "-j", str(JOBS)], clone, s3)]
    if not (clone / "big.bin").exists():
        raise BenchError("dvc pull did not restore the data")
    shutil.rmtree(base)
    return out


def boto3_floor(ctx: Ctx, inputs: Inputs, s3: S3Server, bucket: str) -> Measure:
    """The same objects moved with plain boto3, JOBS threads, same server: the floor."""
    code = f"""
import os, sys, time, boto3, hashlib
from concurrent.futures import ThreadPoolExecutor
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url={s3.endpoint!r}, config=Config(max_pool_connections={JOBS}))
files = [os.path.join(d, f) for d, _, fs in os.walk({str(inputs.data)!r}) for f in fs]
files.append({str(inputs.big)!r})
mode = sys.argv[1]
def key(i): return "floor/%06d" % i
def put(a):
    i, p = a
    if os.path.getsize(p) > 64 << 20:
        s3.upload_file(p, {bucket!r}, key(i))
    else:
        with open(p, "rb") as f: s3.put_object(Bucket={bucket!r}, Key=key(i), Body=f.read())
def get(a):
    i, p = a
    out = sys.argv[2] + "/%06d" % i
    s3.download_file({bucket!r}, key(i), out)
with ThreadPoolExecutor({JOBS}) as pool:
    list(pool.map(put if mode == "put" else get, enumerate(files)))
"""
    script = ctx.session / "floor.py"
    script.write_text(code)
    target = ctx.session / "floor-get"
    target.mkdir(exist_ok=True)
    out: Measure = {}
    out["push"] = [timed(ctx, [sys.executable, str(script), "put"], ctx.session, s3)]
    out["pull"] = [timed(ctx, [sys.executable, str(script), "get", str(target)], ctx.session,
                         s3)]
    shutil.rmtree(target)
    return out


def merge(into: dict[str, Measure], tool: str, m: Measure) -> None:
    for k, v in m.items():
        into.setdefault(tool, {}).setdefault(k, []).extend(v)


def bench_transfers(ctx: Ctx, inputs: Inputs, store: str) -> list[tuple[str, str, float, str]]:
    results: dict[str, Measure] = {}
    s3 = S3Server(ctx.env, ctx.session / "moto.log") if store == "s3" else None
    try:
        if s3 is not None:
            s3.__enter__()
            s3.create_bucket("bench")
            endpoint = s3.endpoint
        for rep in range(ctx.args.reps if store == "local" else ctx.args.s3_reps):
            if store == "local":
                gremote = None
                store_dir = str(ctx.session / f"dvcstore{rep}")
                dremote = [["dvc", "remote", "add", "-d", "store", store_dir]]
            else:
                gremote = ("s3", f"s3://bench/gitmv{rep}", "--endpoint-url", endpoint)
                dremote = [["dvc", "remote", "add", "-d", "s3", f"s3://bench/dvc{rep}"],
                           ["dvc", "remote", "modify", "s3", "endpointurl", endpoint]]
            # the default: store layout 2, packs for small objects, chunks for large ones
            merge(results, "gitmv", gitmv_round(ctx, inputs, rep, gremote, s3))
            if ctx.args.loose:  # layout 1 (`remote add --no-packs`): one file per object
                if store == "local":
                    loose_dir = ctx.session / f"gitmvloose{rep}"
                    loose_dir.mkdir(parents=True, exist_ok=True)
                    lremote = ("loose", str(loose_dir), "--no-packs")
                else:
                    lremote = ("s3", f"s3://bench/gitmvloose{rep}", "--endpoint-url",
                               endpoint, "--no-packs")
                merge(results, "gitmv --no-packs", gitmv_round(ctx, inputs, rep, lremote, s3))
            merge(results, "dvc", dvc_round(ctx, inputs, rep, dremote, s3))
            if s3 is not None:
                merge(results, "floor (boto3)", boto3_floor(ctx, inputs, s3, "bench"))
            shutil.rmtree(ctx.session / f"dvcstore{rep}", ignore_errors=True)
    finally:
        if s3 is not None:
            s3.__exit__()
    rows = []
    for op in ("push", "no-op push", "pull"):
        for tool in ("gitmv", "gitmv --no-packs", "dvc", "floor (boto3)"):
            samples = results.get(tool, {}).get(op)
            if not samples:
                continue
            t = statistics.median(s[0] for s in samples)
            rss = max(s[1] for s in samples)
            note = f"peak RSS {rss:.0f} MB"
            requests = samples[-1][2]
            if requests is not None:
                note += f"; {describe(requests)}"
            if tool.startswith("gitmv"):
                ratio = []
                for other in ("dvc", "floor (boto3)"):
                    o = results.get(other, {}).get(op)
                    if o:
                        ratio.append(f"{t / statistics.median(s[0] for s in o):.2f}× {other}")
                note += "; " + ", ".join(ratio)
            rows.append((f"{store}: {op}", tool, t, note))
    return rows


def _group(workload: str) -> str:
    return workload.split(":", 1)[0] if workload.startswith(("local:", "s3:")) else "hooks"


def _kept_rows(text: str, only: set[str]) -> list[tuple[str, str, float, str]]:
    """Rows of the section already written whose group (hooks, local, s3) this run skipped:
    `--only local` refreshes the local rows and keeps the others."""
    if BEGIN not in text:
        return []
    kept = []
    for line in text[text.index(BEGIN) : text.index(END)].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("workload", "---") or cells[0].startswith("-"):
            continue
        try:
            seconds = float(cells[2])
        except ValueError:
            continue
        if _group(cells[0]) not in only:
            kept.append((cells[0], cells[1], seconds, cells[3]))
    return kept


def write(rows: list[tuple[str, str, float, str]], args: argparse.Namespace, out: Path,
          seconds: float) -> None:
    text = out.read_text() if out.exists() else "# Benchmarks\n"
    only = set(args.only.split(","))
    order = {"hooks": 0, "local": 1, "s3": 2}
    rows = sorted(_kept_rows(text, only) + rows, key=lambda r: order[_group(r[0])])
    partial = "" if only >= {"hooks", "local", "s3"} else (
        f" This run refreshed only: {', '.join(sorted(only))} (`--only`); the other rows are "
        "from the run before.")
    lines = [
        BEGIN,
        "## Git integration and remote stores (`scripts/benchmarks/remote.py`)",
        "",
        f"Workload: {args.files:,} files × 4 KiB plus one {args.big_mib} MiB file; "
        f"{args.reps} repetition(s) on the local store, {args.s3_reps} on S3 (medians); "
        f"{JOBS} parallel jobs for every tool; page cache warm; hooks timed over "
        f"{args.hook_reps} commits. {seconds / 60:.1f} min in all.{partial}",
        "",
        "| workload | tool | median s | notes |",
        "|---|---|---:|---|",
    ]
    lines += [f"| {w} | {t} | {s:.3f} | {n} |" for w, t, s, n in rows]
    lines += ["", "Command: `scripts/bench --remote` (or `python scripts/benchmarks --remote`).",
              END]
    replace_section(out, BEGIN, END, lines)


def run(args: argparse.Namespace) -> int:
    """The groups chosen by --only, printed; the section written unless --no-write."""
    start = time.perf_counter()
    ctx = Ctx(args)
    rows: list[tuple[str, str, float, str]] = []
    try:
        only = set(args.only.split(","))
        steps: list[tuple[str, Callable[[], list[tuple[str, str, float, str]]]]] = []
        if "hooks" in only:
            steps.append(("hooks", lambda: bench_hooks(ctx)))
        if only & {"local", "s3"}:
            inputs = make_inputs(ctx, args.files, args.big_mib)
            for store in ("local", "s3"):
                if store in only:
                    steps.append((store, lambda s=store: bench_transfers(ctx, inputs, s)))
        for name, step in steps:
            log(f"remote: {name} …")
            new = step()
            for w, t, s, n in new:
                print(f"{w:45} {t:15} {s:8.3f}  {n}", flush=True)
            rows += new
    finally:
        ctx.close()
    if not args.no_write:
        write(rows, args, Path(args.out), time.perf_counter() - start)
    return 0
