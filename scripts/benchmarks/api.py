"""The Python API's reads: time to the first byte and peak memory of `gitmv.api.open` on a
1 GiB artifact, from the cache and from a directory store (docs/benchmarks.md, "Python API").

Each read runs in a fresh process (api_read.py) that imports what a call needs first and
reports its peak resident set before and after reading the artifact in 1 MiB `readinto`s;
page cache warm (the cache's file was just written or read).

    python scripts/benchmarks --api [--reps N] [--mib N] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.harness import ROOT, hermetic_env, log, remove_tree, wait_quiet
from benchmarks.report import replace_section

BEGIN = "<!-- bench_api: begin -->"
END = "<!-- bench_api: end -->"
READER = Path(__file__).resolve().parent / "api_read.py"


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/bench --api", description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3, help="reads per row (median; default 3)")
    p.add_argument("--mib", type=int, default=1024, help="artifact size in MiB (1024)")
    p.add_argument("--no-write", action="store_true", help="print, do not write the report")
    p.add_argument("--work", default=str(ROOT / "bench-work" / "api"))
    return p.parse_args(argv)


def _run(env: dict[str, str], cwd: Path, *args: str) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def _read(env: dict[str, str], repo: Path) -> dict[str, float]:
    wait_quiet(60)
    out = _run(env, repo, sys.executable, str(READER), str(repo), "model.bin", str(1 << 20))
    result: dict[str, float] = json.loads(out)
    return result


def run(args: argparse.Namespace) -> int:
    work = Path(args.work)
    remove_tree(work)
    repo = work / "repo"
    repo.mkdir(parents=True)
    env = hermetic_env(work / "home")
    env["PYTHONPATH"] = str(ROOT)
    mvm = [sys.executable, "-m", "gitmv"]
    try:
        _run(env, repo, "git", "init", "-q")
        _run(env, repo, *mvm, "init", "-q", "--no-hooks")
        log(f"api: writing a {args.mib} MiB artifact")
        block = os.urandom(1 << 20)
        with open(repo / "model.bin", "wb") as f:
            for i in range(args.mib):
                f.write(i.to_bytes(8, "little") + block[8:])
        _run(env, repo, *mvm, "add", "-q", "model.bin")
        _run(env, repo, "git", "add", "-A")
        _run(env, repo, "git", "commit", "-q", "-m", "model")
        os.unlink(repo / "model.bin")
        _run(env, repo, *mvm, "remote", "add", "-q", "-d", "store", str(work / "store"))
        _run(env, repo, *mvm, "push", "-q")
        oid = _run(env, repo, "git", "show", "HEAD:model.bin.mvm").split('oid = "sha256:')[1][:64]
        obj = repo / ".git" / "mvm" / "objects" / oid[:2] / oid[2:4] / oid
        first: list[dict[str, float]] = []
        vouched: list[dict[str, float]] = []
        store: list[dict[str, float]] = []
        for _ in range(args.reps):
            os.chmod(obj.parent, 0o755)
            obj.unlink()  # from the store: fetched, verified, then read from the cache
            store.append(_read(env, repo))
            # the stat cache's row forgotten: the first read hashes the object whole
            _forget(repo, obj)
            first.append(_read(env, repo))
            vouched.append(_read(env, repo))
        rows = [("cache, first read (hashed whole before the first byte)", first),
                ("cache, later reads (vouched for by the stat cache)", vouched),
                ("directory store (fetched and verified into the cache first)", store)]
        for r in first + vouched + store:
            if r["bytes"] != args.mib << 20 or r["sha256"] != oid:
                raise SystemExit(f"api: read the wrong bytes: {r}")
    finally:
        remove_tree(work)
    lines = _section(rows, args)
    print("\n".join(lines))
    if not args.no_write:
        replace_section(ROOT / "docs" / "benchmarks.md", BEGIN, END, lines)
    return 0


def _forget(repo: Path, obj: Path) -> None:
    """Drop the stat cache's row for the object, so the next read hashes it (as the first
    read after `git mvm add` or a fetch by an older gitmv would)."""
    import sqlite3

    with sqlite3.connect(repo / ".git" / "mvm" / "state.sqlite") as db:
        db.execute("DELETE FROM files WHERE path = ?", (str(obj),))
    db.close()


def _section(rows: list[tuple[str, list[dict[str, float]]]], args: argparse.Namespace
             ) -> list[str]:
    mib = 1 << 20
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    out = [BEGIN, "## Python API (`scripts/benchmarks/api.py`)", "",
           f"`gitmv.api.open` on a {args.mib} MiB artifact, read to the end in 1 MiB "
           "`readinto`s, each read in a fresh process that imported what a call needs "
           f"first; median of {args.reps}, page cache warm. Run {when}.", "",
           "| source | first byte s | read all s | MiB/s | peak RSS | RSS growth |",
           "|---|---:|---:|---:|---:|---:|"]
    for name, runs in rows:
        fb = statistics.median(r["first_byte_s"] for r in runs)
        total = statistics.median(r["total_s"] for r in runs)
        peak = statistics.median(r["rss_peak"] for r in runs)
        growth = statistics.median(r["rss_peak"] - r["rss_before"] for r in runs)
        out.append(f"| {name} | {fb:.3f} | {total:.2f} | {args.mib / total:.0f} | "
                   f"{peak / mib:.1f} MiB | {growth / mib:.1f} MiB |")
    out += ["", "The first byte waits for the whole object to be verified (nothing unverified "
            "reaches the caller): from the store, for the download and its hash; from the "
            "cache, for one sha256 pass unless the stat cache vouches for the object unchanged "
            "since it was hashed (downloads and `add` record that row). \"read all\" includes the "
            "reader's own sha256 of every byte (it checks what it read), so it is bound by "
            "that hash, not by gitmv. `tests/api/test_api_big.py` holds the memory growth "
            "under 64 MiB.", "",
            "Command: `scripts/bench --api`.", END]
    return out


if __name__ == "__main__":
    raise SystemExit(run(parse(sys.argv[1:])))
