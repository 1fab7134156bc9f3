"""Benchmarks of git integration and remote stores, beside dvc, in one run.

Rows: the cost of gitmv's hooks on a commit that changes no pointer (hooks vs no hooks, and
each hook called directly), and push / no-op push / pull of a 20,000-file directory plus a
1 GiB file to a local directory store and to an S3 API server (moto) on loopback, next to
`dvc push` / `dvc pull` and, for S3, the floor: the same objects moved with plain boto3 at
the same concurrency against the same server. Writes its section into docs/benchmarks.md.
Run through `scripts/bench` (which sets PATH so `git mvm` and `dvc` are found).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchdoc import replace_section

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- bench_remote: begin -->"
END = "<!-- bench_remote: end -->"
JOBS = 16


class Ctx:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        home = work / "home"
        home.mkdir(parents=True, exist_ok=True)
        (home / ".gitconfig").write_text(
            "[user]\n\tname = Bench\n\temail = bench@example.com\n"
            "[init]\n\tdefaultBranch = main\n[gc]\n\tauto = 0\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "DVC_"))}
        env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", DVC_NO_ANALYTICS="1",
                   DVC_SITE_CACHE_DIR=str(work / "dvc-site"),
                   AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                   AWS_DEFAULT_REGION="us-east-1")
        self.env = env

    def run(self, cmd: list[str], cwd: Path, check: bool = True) -> tuple[float, float]:
        """Run a command; (wall seconds, peak RSS MB of its process tree via GNU time)."""
        t = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], cwd=cwd, env=self.env,
                              capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - t
        if check and proc.returncode != 0:
            raise SystemExit(f"bench: `{' '.join(cmd)}` failed in {cwd}:\n{proc.stderr[-3000:]}")
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "0"
        rss = float(last) / 1024 if last.isdigit() else 0.0
        return elapsed, rss

    def sh(self, cmd: list[str], cwd: Path) -> None:
        self.run(cmd, cwd)


def make_inputs(work: Path, files: int, big_mib: int) -> Path:
    inputs = work.parent / "remote-inputs" / f"{files}x4k-{big_mib}m"
    stamp = inputs / ".complete"
    if stamp.exists():
        return inputs
    shutil.rmtree(inputs, ignore_errors=True)
    (inputs / "data").mkdir(parents=True)
    per_dir = 200
    for i in range(files):
        d = inputs / "data" / f"d{i // per_dir:03}"
        d.mkdir(exist_ok=True)
        (d / f"f{i:05}.bin").write_bytes(os.urandom(4096))
    with open(inputs / "big.bin", "wb") as f:
        for _ in range(big_mib // 8):
            f.write(os.urandom(8 << 20))
    stamp.touch()
    return inputs


def copy_inputs(inputs: Path, repo: Path) -> None:
    shutil.copytree(inputs / "data", repo / "data")
    shutil.copyfile(inputs / "big.bin", repo / "big.bin")
    subprocess.run(["sync"], check=False)


# --- hooks -----------------------------------------------------------------------------------
def bench_hooks(ctx: Ctx) -> list[tuple[str, str, float, str]]:
    rows = []
    times: dict[str, float] = {}
    for mode in ("hooks", "no hooks"):
        repo = ctx.work / f"hooks-{mode.replace(' ', '-')}"
        repo.mkdir()
        ctx.sh(["git", "init", "-q"], repo)
        ctx.sh(["git", "mvm", "init", "-q", *([] if mode == "hooks" else ["--no-hooks"])], repo)
        (repo / "model.bin").write_bytes(os.urandom(1 << 20))
        ctx.sh(["git", "mvm", "add", "-q", "model.bin"], repo)
        ctx.sh(["git", "commit", "-q", "-m", "model"], repo)
        samples = []
        for i in range(ctx.args.hook_reps):
            (repo / "README.md").write_text(f"change {i}\n")
            ctx.sh(["git", "add", "README.md"], repo)
            samples.append(ctx.run(["git", "commit", "-q", "-m", f"c{i}"], repo)[0])
        times[mode] = statistics.median(samples)
    rows.append(("commit, no pointer change", "with gitmv hooks", times["hooks"], ""))
    rows.append(("commit, no pointer change", "without hooks", times["no hooks"], ""))
    rows.append(("commit, no pointer change", "hook overhead", times["hooks"] - times["no hooks"],
                 "target < 0.1 s"))
    repo = ctx.work / "hooks-hooks"
    for name, args in (("pre-commit (nothing staged)", ["pre-commit"]),
                       ("post-checkout (same commit)", ["post-checkout", "HEAD", "HEAD", "1"]),
                       ("post-merge (no pointer change)", ["post-merge", "0"])):
        samples = [ctx.run(["git", "mvm", "hook", *args], repo)[0]
                   for _ in range(ctx.args.hook_reps)]
        rows.append((f"hook called directly: {name}", "gitmv", statistics.median(samples),
                     "target < 0.1 s"))
    plain = ctx.work / "no-mvm"
    plain.mkdir()
    ctx.sh(["git", "init", "-q"], plain)
    samples = [ctx.run(["git", "mvm", "hook", "pre-commit"], plain)[0]
               for _ in range(ctx.args.hook_reps)]
    rows.append(("hook in a repository without .mvm/", "gitmv", statistics.median(samples),
                 "target < 0.1 s"))
    return rows


# --- push / pull -----------------------------------------------------------------------------
Measure = dict[str, list[tuple[float, float]]]


def gitmv_round(ctx: Ctx, inputs: Path, rep: int, remote: tuple[str, ...] | None) -> Measure:
    base = ctx.work / f"gitmv-{remote[0] if remote else 'local'}-{rep}"
    bare = base / "origin.git"
    repo = base / "repo"
    repo.mkdir(parents=True)
    ctx.sh(["git", "init", "-q", "--bare", str(bare)], base)
    ctx.sh(["git", "init", "-q"], repo)
    ctx.sh(["git", "mvm", "init", "-q", "--no-hooks"], repo)
    if remote:
        ctx.sh(["git", "mvm", "remote", "add", *remote, "--default"], repo)
    ctx.sh(["git", "remote", "add", "origin", str(bare)], repo)
    copy_inputs(inputs, repo)
    ctx.sh(["git", "mvm", "add", "-q", "data", "big.bin"], repo)
    ctx.sh(["git", "commit", "-q", "-m", "data"], repo)
    ctx.sh(["git", "push", "-q", "origin", "main"], repo)
    out: Measure = {}
    out["push"] = [ctx.run(["git", "mvm", "push", "-q", "-j", str(JOBS)], repo)]
    out["no-op push"] = [ctx.run(["git", "mvm", "push", "-q", "-j", str(JOBS)], repo)]
    clone = base / "clone"
    ctx.sh(["git", "clone", "-q", str(bare), str(clone)], base)
    out["pull"] = [ctx.run(["git", "mvm", "pull", "-q", "-j", str(JOBS)], clone)]
    if not (clone / "big.bin").exists() or len(list((clone / "data").rglob("*.bin"))) != \
            ctx.args.files:
        raise SystemExit("bench: gitmv pull did not restore the data")
    shutil.rmtree(base)
    return out


def dvc_round(ctx: Ctx, inputs: Path, rep: int, remote: list[list[str]]) -> Measure:
    kind = "s3" if remote and remote[0][-1].startswith("s3://") else "local"
    base = ctx.work / f"dvc-{kind}-{rep}"
    bare = base / "origin.git"
    repo = base / "repo"
    repo.mkdir(parents=True)
    ctx.sh(["git", "init", "-q", "--bare", str(bare)], base)
    ctx.sh(["git", "init", "-q"], repo)
    ctx.sh(["dvc", "init", "-q"], repo)
    for cmd in remote:
        ctx.sh(cmd, repo)
    ctx.sh(["git", "remote", "add", "origin", str(bare)], repo)
    copy_inputs(inputs, repo)
    ctx.sh(["dvc", "add", "-q", "data", "big.bin"], repo)
    ctx.sh(["git", "add", "-A"], repo)
    ctx.sh(["git", "commit", "-q", "-m", "data"], repo)
    ctx.sh(["git", "push", "-q", "origin", "main"], repo)
    out: Measure = {}
    out["push"] = [ctx.run(["dvc", "push", "-q", "-j", str(JOBS)], repo)]
    out["no-op push"] = [ctx.run(["dvc", "push", "-q", "-j", str(JOBS)], repo)]
    clone = base / "clone"
    ctx.sh(["git", "clone", "-q", str(bare), str(clone)], base)
    out["pull"] = [ctx.run(["dvc", "pull", "-q", "-j", str(JOBS)], clone)]
    if not (clone / "big.bin").exists():
        raise SystemExit("bench: dvc pull did not restore the data")
    shutil.rmtree(base)
    return out


def boto3_floor(ctx: Ctx, inputs: Path, endpoint: str, bucket: str) -> Measure:
    """The same objects moved with plain boto3, JOBS threads, same server: the floor."""
    code = f"""
import os, sys, time, boto3, hashlib
from concurrent.futures import ThreadPoolExecutor
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url={endpoint!r}, config=Config(max_pool_connections={JOBS}))
files = [os.path.join(d, f) for d, _, fs in os.walk({str(inputs / 'data')!r}) for f in fs]
files.append({str(inputs / 'big.bin')!r})
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
    script = ctx.work / "floor.py"
    script.write_text(code)
    target = ctx.work / "floor-get"
    target.mkdir(exist_ok=True)
    out: Measure = {}
    out["push"] = [ctx.run([sys.executable, str(script), "put"], ctx.work)]
    out["pull"] = [ctx.run([sys.executable, str(script), "get", str(target)], ctx.work)]
    shutil.rmtree(target)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto(ctx: Ctx) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    exe = shutil.which("moto_server") or str(ROOT / ".venv" / "bin" / "moto_server")
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], env=ctx.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}"


def merge(into: dict[str, Measure], tool: str, m: Measure) -> None:
    for k, v in m.items():
        into.setdefault(tool, {}).setdefault(k, []).extend(v)


def bench_transfers(ctx: Ctx, inputs: Path, store: str) -> list[tuple[str, str, float, str]]:
    results: dict[str, Measure] = {}
    moto = None
    try:
        if store == "s3":
            moto, endpoint = start_moto(ctx)
            import boto3

            boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                         aws_access_key_id="bench", aws_secret_access_key="bench"
                         ).create_bucket(Bucket="bench")
        for rep in range(ctx.args.reps if store == "local" else ctx.args.s3_reps):
            if store == "local":
                gremote = None
                store_dir = str(ctx.work / f"dvcstore{rep}")
                dremote = [["dvc", "remote", "add", "-d", "store", store_dir]]
            else:
                gremote = ("s3", f"s3://bench/gitmv{rep}", "--endpoint-url", endpoint)
                dremote = [["dvc", "remote", "add", "-d", "s3", f"s3://bench/dvc{rep}"],
                           ["dvc", "remote", "modify", "s3", "endpointurl", endpoint]]
            merge(results, "gitmv", gitmv_round(ctx, inputs, rep, gremote))
            merge(results, "dvc", dvc_round(ctx, inputs, rep, dremote))
            if store == "s3":
                merge(results, "floor (boto3)", boto3_floor(ctx, inputs, endpoint, "bench"))
            shutil.rmtree(ctx.work / f"dvcstore{rep}", ignore_errors=True)
    finally:
        if moto is not None:
            moto.terminate()
            moto.wait()
    rows = []
    for op in ("push", "no-op push", "pull"):
        for tool in ("gitmv", "dvc", "floor (boto3)"):
            samples = results.get(tool, {}).get(op)
            if not samples:
                continue
            t = statistics.median(s[0] for s in samples)
            rss = max(s[1] for s in samples)
            note = f"peak RSS {rss:.0f} MB"
            if tool == "gitmv":
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
        "## Git integration and remote stores (`scripts/bench_remote.py`)",
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
    lines += ["", "Command: `scripts/bench --remote` (or `python scripts/bench_remote.py`).", END]
    replace_section(out, BEGIN, END, lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=20_000)
    p.add_argument("--big-mib", type=int, default=1024)
    p.add_argument("--reps", type=int, default=3, help="repetitions on the local store")
    p.add_argument("--s3-reps", type=int, default=1, help="repetitions on S3 (slow: moto)")
    p.add_argument("--hook-reps", type=int, default=15)
    p.add_argument("--only", default="hooks,local,s3")
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    start = time.perf_counter()
    (ROOT / "bench-work").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="remote-", dir=ROOT / "bench-work"))
    ctx = Ctx(args, work)
    rows: list[tuple[str, str, float, str]] = []
    try:
        only = set(args.only.split(","))
        steps: list[tuple[str, Callable[[], list[tuple[str, str, float, str]]]]] = []
        if "hooks" in only:
            steps.append(("hooks", lambda: bench_hooks(ctx)))
        if only & {"local", "s3"}:
            inputs = make_inputs(work, args.files, args.big_mib)
            for store in ("local", "s3"):
                if store in only:
                    steps.append((store, lambda s=store: bench_transfers(ctx, inputs, s)))
        for name, step in steps:
            print(f"bench_remote: {name} …", file=sys.stderr, flush=True)
            new = step()
            for w, t, s, n in new:
                print(f"{w:45} {t:15} {s:8.3f}  {n}")
            rows += new
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not args.no_write:
        write(rows, args, Path(args.out), time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
