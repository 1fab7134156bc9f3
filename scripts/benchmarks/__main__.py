"""The command line of the benchmark (what `scripts/bench` runs).

    python scripts/benchmarks [OPTIONS]             the core workloads (core.py); a full run,
                                                    without --quick/--only/--no-write/--list,
                                                    then also runs --remote, --registry and
                                                    --storage
    python scripts/benchmarks --remote [OPTIONS]    hooks and push/pull rows (remote.py)
    python scripts/benchmarks --registry [OPTIONS]  model registry rows (registry.py)
    python scripts/benchmarks --api [OPTIONS]       the Python API's reads (api.py)
    python scripts/benchmarks --storage [OPTIONS]   store growth on a second push, request
                                                    counts, scale to 1M files (storage.py)

`python -m benchmarks` with scripts/ on sys.path is the same.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

if not __package__:  # `python scripts/benchmarks`: import the package from scripts/
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks import core, registry, remote, storage
from benchmarks.harness import ROOT, BenchError

WORK = str(ROOT / "bench-work")
OUT = str(ROOT / "docs" / "benchmarks.md")


def parse_core(argv: Sequence[str]) -> argparse.Namespace:
    names = ", ".join(w.name for w in core.WORKLOADS)
    p = argparse.ArgumentParser(
        prog="scripts/bench",
        description="Benchmark gitmv against dvc and git-lfs; writes docs/benchmarks.md.  "
        "`scripts/bench --remote [OPTIONS]`: only the hooks and push/pull rows; "
        "`scripts/bench --registry [OPTIONS]`: only the model registry rows; "
        "`scripts/bench --storage [OPTIONS]`: store growth, request counts, scale (each has "
        "--help).",
        epilog=f"workloads: {names}",
    )
    p.add_argument("--reps", type=int, default=3, help="repetitions per tool (median; default 3)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="small sizes for a smoke test: 64 MiB file, 2,000 files "
        "(writes bench-work/benchmarks-quick.md unless --out is given)",
    )
    p.add_argument("--only", default="", help="comma-separated workload names to run")
    p.add_argument("--tools", default="", help="comma-separated subset: gitmv,dvc,git-lfs,floor")
    p.add_argument("--no-write", action="store_true", help="do not write the markdown report")
    p.add_argument("--out", help="markdown report path (default docs/benchmarks.md)")
    p.add_argument("--work", default=WORK, help="work dir (default ./bench-work)")
    p.add_argument(
        "--cache",
        choices=("cold", "warm"),
        default="cold",
        help="cold (default): drop the page cache before each timed step when possible",
    )
    p.add_argument("--file-mib", type=int, help="override the big file's size in MiB")
    p.add_argument("--dirs", type=int, help="override the number of sub-directories")
    p.add_argument("--files-per-dir", type=int, help="override files per sub-directory")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per command (1800)")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=120,
        help="before each timed step, wait up to this many seconds for other processes to "
        "stop using the CPU (default 120; after a wait ran out, 5 s until the machine was "
        "seen quiet again)",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=2,
        help="repeat a repetition up to N times when other processes were busy during it "
        "(default 2); runs still contended are marked with * in the tables",
    )
    p.add_argument("--keep", action="store_true", help="keep repositories (debugging)")
    p.add_argument("--strict", action="store_true", help="exit 3 when a target fails")
    p.add_argument("--list", action="store_true", help="list workloads and exit")
    args = p.parse_args(argv)
    if args.reps < 1:
        p.error("--reps must be at least 1")
    if args.retries < 0:
        p.error("--retries must be at least 0")
    known = {w.name for w in core.WORKLOADS}
    args.only_set = {x.strip() for x in args.only.split(",") if x.strip()} or known
    if bad := args.only_set - known:
        p.error(f"unknown workload(s) {', '.join(sorted(bad))}; known: {names}")
    all_tools = {"gitmv", "dvc", "git-lfs", "floor"}
    args.tool_set = {x.strip() for x in args.tools.split(",") if x.strip()} or all_tools
    if bad := args.tool_set - all_tools:
        p.error(f"unknown tool(s) {', '.join(sorted(bad))}")
    return args


def parse_remote(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="scripts/bench --remote", description=(remote.__doc__ or "").splitlines()[0]
    )
    p.add_argument("--files", type=int, default=20_000)
    p.add_argument("--big-mib", type=int, default=1024)
    p.add_argument("--reps", type=int, default=3, help="repetitions on the local store")
    p.add_argument("--s3-reps", type=int, default=1, help="repetitions on S3 (slow: moto)")
    p.add_argument("--loose", action="store_true",
                   help="also gitmv on a store of layout 1 (`remote add --no-packs`: a file "
                        "or an S3 object per object, as before packs)")
    p.add_argument("--hook-reps", type=int, default=15)
    p.add_argument("--only", default="hooks,local,s3")
    p.add_argument("--out", default=OUT)
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--work", default=WORK, help="work dir (default ./bench-work)")
    return p.parse_args(argv)


def parse_registry(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="scripts/bench --registry", description=(registry.__doc__ or "").splitlines()[0]
    )
    p.add_argument("--models", type=int, default=50)
    p.add_argument("--versions", type=int, default=20)
    p.add_argument("--unrelated", type=int, default=5000)
    p.add_argument("--reps", type=int, default=7, help="timed runs of each gitmv command")
    p.add_argument("--gto-reps", type=int, default=3, help="timed runs of each gto command")
    p.add_argument("--quiet-wait", type=float, default=20.0,
                   help="seconds to wait for a quiet machine before each run")
    p.add_argument("--no-gto", action="store_true", help="time gitmv only")
    p.add_argument("--profile", action="store_true",
                   help="also print where `git mvm show` / `history` spend their time")
    p.add_argument("--keep", action="store_true", help="keep the generated repository")
    p.add_argument("--out", default=OUT)
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--work", default=WORK, help="work dir (default ./bench-work)")
    return p.parse_args(argv)


def parse_storage(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="scripts/bench --storage", description=(storage.__doc__ or "").splitlines()[0]
    )
    p.add_argument("--only", default=",".join(storage.GROUPS),
                   help=f"comma-separated groups (default all: {', '.join(storage.GROUPS)})")
    p.add_argument("--tools", default="gitmv,dvc,git-lfs",
                   help="comma-separated subset of gitmv,dvc,git-lfs (git-lfs: dedup-local)")
    p.add_argument("--quick", action="store_true",
                   help="small sizes for a smoke test: 16 MiB file, 2,000 files, scale 1,000 "
                   "and 3,000 (writes nothing unless --out is given)")
    p.add_argument("--scale-1m", action="store_true", help="scale: also 1,000,000 files")
    p.add_argument("--scale", default=None, metavar="N,N,...",
                   help="scale: exactly these file counts (e.g. 10000,100000,1000000)")
    p.add_argument("--keep", action="store_true", help="keep repositories (debugging)")
    p.add_argument("--out", default=OUT)
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--work", default=WORK, help="work dir (default ./bench-work)")
    args = p.parse_args(argv)
    if args.quick and "--out" not in argv:
        args.no_write = True
    return args


def _terminate(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def dispatch(argv: list[str]) -> int:
    if argv[:1] == ["--remote"]:
        return remote.run(parse_remote(argv[1:]))
    if argv[:1] == ["--api"]:
        from benchmarks import api

        return api.run(api.parse(list(argv[1:])))
    if argv[:1] == ["--registry"]:
        return registry.run(parse_registry(argv[1:]))
    if argv[:1] == ["--storage"]:
        return storage.run(parse_storage(argv[1:]))
    args = parse_core(argv)
    if args.list:
        for w in core.WORKLOADS:
            print(f"{w.name:10} {w.help}")
        return 0
    entry = os.environ.get("BENCH_ENTRY", "python scripts/benchmarks")
    code = core.run(args, " ".join([entry, *map(shlex.quote, argv)]))
    if code or args.quick or args.only or args.no_write:  # a partial run: leave the rest be
        return code
    return (remote.run(parse_remote([])) or registry.run(parse_registry([]))
            or storage.run(parse_storage([])))


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)  # clean up the work dir and the running child
    try:
        return dispatch(list(sys.argv[1:] if argv is None else argv))
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
