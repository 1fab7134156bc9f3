"""The registry at scale: every registry command on N tags of ONE model (default 10,000).

The repository: one model `m` declared in .mvm/config.toml, N-N/10 versions registered
(each on its own commit, with gitmv's snapshot and Python environment in the message, as
`git mvm register` writes them) and every 10th version assigned to a stage (N/10 tags), all
written in one `git fast-import`, refs packed; then a real new model version committed at
HEAD (its bytes cached) so `register` has something to register. Each command runs
--reps times as a subprocess (`python -m gitmv`), after one untimed warm-up; printed: the
median wall time, beside `git for-each-ref` over the same tags (the floor). Writes are
undone between runs (the new tag deleted) so every run sees the same N tags.

    python scripts/registry_scale.py [--tags 10000] [--reps 5] [--keep DIR]
    GITMV_SOURCE=/path/to/other/checkout python scripts/registry_scale.py …   (before/after)
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from benchmarks.registry import _env_table  # noqa: E402

from tests.registry.manytags import make_tags, version_name  # noqa: E402


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True,
                          check=True).stdout.decode()


PYCACHE = tempfile.mkdtemp(prefix="registry-scale-pyc-")


def mvm(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    # GITMV_SOURCE: another checkout's gitmv to time (e.g. main's, for a before/after).
    # Bytecode is written (in a directory of this run's) and reused, as an installed gitmv's
    # is: with PYTHONDONTWRITEBYTECODE (this machine sets it) every call would compile the
    # modules a checkout has no __pycache__ for, 50-100 ms that no user pays.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=os.environ.get("GITMV_SOURCE", str(ROOT)), PYTHONPYCACHEPREFIX=PYCACHE)
    return subprocess.run([sys.executable, "-m", "gitmv", *args], cwd=repo, env=env,
                          capture_output=True, check=False)


def make_repo(repo: Path, n_tags: int) -> None:
    git(repo, "init", "-q", "-b", "main")
    for k, v in (("user.name", "Bench"), ("user.email", "bench@example.com")):
        git(repo, "config", k, v)
    assert mvm(repo, "init", "-q", "--no-hooks").returncode == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "init")
    make_tags(repo, n_tags, env=_env_table())
    (repo / "models" / "m.pt").write_bytes(b"the newest weights")
    assert mvm(repo, "add", "-q", "models/m.pt").returncode == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "new weights")


def timed(repo: Path, argv: list[str], reps: int, undo: list[str] | None
          ) -> tuple[list[float], list[float]]:
    """(wall seconds, CPU seconds of the process tree) of `reps` runs after a warm-up."""
    walls: list[float] = []
    cpus: list[float] = []
    for i in range(reps + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        proc = mvm(repo, *argv) if argv[0] != "git" else subprocess.run(
            argv, cwd=repo, capture_output=True, check=False)
        elapsed = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stderr.decode()}")
        if undo:
            git(repo, *undo)
        if i:
            walls.append(elapsed)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return walls, cpus


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tags", type=int, default=10_000)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--keep", help="build (or reuse) the repository in this directory")
    args = p.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="registry-scale-"))
    repo = work / "repo"
    try:
        if not (repo / ".git").exists():
            repo.mkdir(parents=True)
            t = time.perf_counter()
            make_repo(repo, args.tags)
            print(f"made {args.tags:,} tags of one model in {time.perf_counter() - t:.1f} s",
                  flush=True)
        n = len(git(repo, "tag").split())
        latest = version_name(len(git(repo, "tag", "-l", "m@*").split()) - 1)
        stage = "production"
        counter = 1 + max(int(t.rpartition("#")[2])
                          for t in git(repo, "tag", "-l", "m#*").split())
        cmds: list[tuple[list[str], list[str] | None]] = [
            (["git", "for-each-ref", "--format=%(refname)%00%(contents)", "refs/tags"], None),
            (["show"], None),
            (["show", "m"], None),
            (["history", "m"], None),
            (["show", f"m#{stage}", "--version"], None),
            (["register", "--no-env", "m"], ["tag", "-d", "m@v9.0.0"]),
            (["promote", "m", latest, "dev"], ["tag", "-d", f"m#dev#{counter}"]),
            (["deprecate", "m"], ["tag", "-d", "m@deprecated"]),
        ]
        print(f"{n:,} tags; median of {args.reps} runs: wall s, CPU s (user + system of "
              "the process tree); load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        for argv, undo in cmds:
            if argv[0] == "register":
                argv = [*argv, "v9.0.0"]
            try:
                walls, cpus = timed(repo, argv, args.reps, undo)
            except SystemExit as exc:
                print(f"{' '.join(argv):40} error: {str(exc).splitlines()[-1]}")
                continue
            shown = " ".join(argv) if argv[0] == "git" else "git mvm " + " ".join(argv)
            print(f"{shown[:48]:48} {statistics.median(walls):7.3f} "
                  f"{statistics.median(cpus):7.3f}   runs {' '.join(f'{r:.3f}' for r in walls)}",
                  flush=True)
    finally:
        shutil.rmtree(PYCACHE, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
