"""`git mvm get --repo URL` against `git clone URL` + `git mvm get`: time to the first byte,
total time and peak RSS, over http (git http-backend on loopback, tests/gitserver.py).

The repository: a 1,000-commit history (each commit changes a small file), then one model of
--mib MiB (default 1024) added, committed, registered (`clf@v1.0.0`) and pushed to a
directory store its tracked `.mvm/config.toml` names; served over http from a bare copy that
allows filters (`uploadpack.allowFilter`). Each timed run starts cold: a fresh mirror
directory (GITMV_REPO_CACHE) or a fresh clone; the page cache is not dropped (needs root),
dirty pages are written out (`sync`) before each run, and the two ways take turns going first.
"Again" is a second `get --repo` with the mirror and its cache in place.

First byte: the moment the first byte of the model is on local disk (a file under the
mirror's or clone's `mvm/tmp` or `mvm/objects` that is not the registry's or the stat
cache's), polled every millisecond. Peak RSS: the largest resident set of any process of
the tree (GNU time's %M of each command; the clone case, the larger of its two).

    python scripts/get_repo_bench.py [--mib 1024] [--reps 3] [--note-kib 0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.gitserver import GitHttp  # noqa: E402

IGNORED = ("state.sqlite", "registry-tags", "lock", "config.toml")


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0",
               GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="b@example.com",
               GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="b@example.com",
               PYTHONPATH=str(ROOT))
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def sh(cwd: Path, env: dict[str, str], *args: str, stdin: bytes | None = None) -> str:
    proc = subprocess.run(list(args), cwd=cwd, env=env, input=stdin, capture_output=True,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr.decode()}")
    return proc.stdout.decode()


def mvm(cwd: Path, env: dict[str, str], *args: str) -> str:
    return sh(cwd, env, sys.executable, "-m", "gitmv", *args)


def build(work: Path, env: dict[str, str], mib: int, note_kib: int) -> Path:
    """The served bare repository (under work/srv)."""
    project = work / "project"
    project.mkdir()
    sh(project, env, "git", "init", "-q", "-b", "main")
    mvm(project, env, "init", "-q")
    sh(project, env, "git", "commit", "-q", "-m", "init")
    # written to a file as it is made, never held: a child's peak RSS (`wait4`) starts at
    # the RSS of the process that forked it, so this one stays small
    base = sh(project, env, "git", "rev-parse", "HEAD").strip()
    stream = work / "history.fi"
    with open(stream, "w") as f:
        for i in range(1000):
            text = f"note {i}\n" + (os.urandom(note_kib * 512).hex() if note_kib else "")
            f.write(f"commit refs/heads/main\nmark :{i + 1}\ncommitter B <b@example.com> "
                    f"{1_700_000_000 + i} +0000\ndata 6\nwork {i % 10}\n"
                    + (f"from :{i}\n" if i else f"from {base}\n")
                    + f"M 100644 inline notes.txt\ndata {len(text)}\n{text}\n")
    with open(stream, "rb") as f:
        subprocess.run(["git", "fast-import", "--quiet"], cwd=project, env=env, stdin=f,
                       check=True)
    stream.unlink()
    sh(project, env, "git", "reset", "-q", "--hard", "main")
    store = work / "store"
    store.mkdir()
    mvm(project, env, "remote", "add", "-q", "-d", "store", str(store))
    model = project / "models" / "clf.pt"
    model.parent.mkdir()
    block = os.urandom(1 << 20)
    with open(model, "wb") as f:
        for i in range(mib):
            f.write(i.to_bytes(8, "little") + block[8:])
    mvm(project, env, "add", "-q", "models/clf.pt")
    sh(project, env, "git", "add", "-A")
    sh(project, env, "git", "commit", "-q", "-m", "clf")
    mvm(project, env, "register", "-q", "--no-env", "clf", "v1.0.0", "--path", "models/clf.pt")
    mvm(project, env, "push", "-q")
    bare = work / "srv" / "origin.git"
    sh(work, env, "git", "clone", "-q", "--bare", str(project), str(bare))
    sh(bare, env, "git", "config", "uploadpack.allowFilter", "true")
    return bare


class Run:
    def __init__(self, total: float, first: float | None, rss_kib: int) -> None:
        self.total, self.first, self.rss_kib = total, first, rss_kib


def first_byte_watch(root: Path, start: float, stop: threading.Event) -> list[float]:
    seen: list[float] = []
    before = {os.path.join(d, n) for sub in ("tmp", "objects")
              for d, _dirs, files in os.walk(root / sub) for n in files}

    def poll() -> None:
        while not stop.is_set() and not seen:
            for sub in ("tmp", "objects"):
                top = root / sub
                if not top.is_dir():
                    continue
                for dirpath, _dirs, files in os.walk(top):
                    for name in files:
                        if name.startswith(IGNORED) or "index" in dirpath \
                                or os.path.join(dirpath, name) in before:
                            continue
                        try:
                            if os.path.getsize(os.path.join(dirpath, name)) > 0:
                                seen.append(time.monotonic() - start)
                                return
                        except OSError:
                            pass
            time.sleep(0.001)

    threading.Thread(target=poll, daemon=True).start()
    return seen


def timed(cwd: Path, env: dict[str, str], argv: list[str]) -> tuple[float, int]:
    """(seconds, peak RSS KiB of the largest process of its tree). Started through GNU time
    where there is one: a process's ru_maxrss counts the address space it was forked from,
    so measured from here every row would show at least this harness's RSS (as in
    scripts/benchmarks/harness.py)."""
    stat = Path(tempfile.mkstemp(prefix="rss-")[1])
    wrapped = ["/usr/bin/time", "-o", str(stat), "-f", "%M", *argv] \
        if os.access("/usr/bin/time", os.X_OK) else argv
    t0 = time.monotonic()
    proc = subprocess.run(wrapped, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False)
    elapsed = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.decode()}")
    text = stat.read_text().split()
    stat.unlink()
    return elapsed, int(text[-1]) if text else 0


def get_repo(work: Path, env: dict[str, str], url: str, fresh: bool) -> Run:
    mirrors = work / "mirrors"
    if fresh:
        shutil.rmtree(mirrors, ignore_errors=True)
    out = work / "out.pt"
    out.unlink(missing_ok=True)
    env = {**env, "GITMV_REPO_CACHE": str(mirrors)}
    start = time.monotonic()
    stop = threading.Event()
    seen: list[float] = []
    watcher = threading.Thread(target=lambda: seen.extend(_wait_mirror(mirrors, start, stop)),
                               daemon=True)
    watcher.start()
    total, rss = timed(work, env, [sys.executable, "-m", "gitmv", "get", "-q", "--repo", url,
                                   "clf@v1.0.0", "-o", str(out)])
    stop.set()
    watcher.join()
    return Run(total, seen[0] if seen else None, rss)


def _wait_mirror(mirrors: Path, start: float, stop: threading.Event) -> list[float]:
    while not stop.is_set():
        found = [p for p in mirrors.glob("*") if p.is_dir() and not p.name.startswith(".")] \
            if mirrors.is_dir() else []
        if found:
            seen = first_byte_watch(found[0] / "mvm", start, stop)
            while not stop.is_set() and not seen:
                time.sleep(0.001)
            return seen
        time.sleep(0.001)
    return []


def clone_get(work: Path, env: dict[str, str], url: str) -> Run:
    clone = work / "clone"
    shutil.rmtree(clone, ignore_errors=True)
    out = work / "out.pt"
    out.unlink(missing_ok=True)
    start = time.monotonic()
    t_clone, rss_clone = timed(work, env, ["git", "clone", "-q", url, str(clone)])
    stop = threading.Event()
    seen = first_byte_watch(clone / ".git" / "mvm", start, stop)
    t_get, rss_get = timed(clone, env, [sys.executable, "-m", "gitmv", "get", "-q",
                                        "clf@v1.0.0", "-o", str(out)])
    stop.set()
    return Run(t_clone + t_get, seen[0] if seen else None, max(rss_clone, rss_get))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--note-kib", type=int, default=0,
                    help="each history commit also writes this many KiB of new random text "
                    "(default 0: a one-line change): a history with weight")
    ap.add_argument("--keep", type=Path, help="build and keep the work files here")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="get-repo-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    home = work / "home"
    home.mkdir(exist_ok=True)
    env = env_for(home)
    t0 = time.monotonic()
    bare = build(work, env, args.mib, args.note_kib)
    history = sh(bare, env, "git", "count-objects", "-vH").split("size-pack: ")[1].split()
    print(f"built in {time.monotonic() - t0:.1f} s: 1,000-commit history ({' '.join(history[:2])} "
          f"packed), a {args.mib} MiB model on a directory store, served over http",
          file=sys.stderr)
    try:
        with GitHttp(bare.parent) as server:
            url = server.url("origin.git")
            rows: dict[str, list[Run]] = {"get --repo (cold)": [], "get --repo (again)": [],
                                          "git clone + git mvm get": []}
            for rep in range(args.reps):
                # the two ways take turns going first; dirty pages of the last run written
                # out before each timed one (its writeback is not the next run's cost)
                for case in (("cold", "clone") if rep % 2 == 0 else ("clone", "cold")):
                    os.sync()
                    if case == "clone":
                        rows["git clone + git mvm get"].append(clone_get(work, env, url))
                        continue
                    rows["get --repo (cold)"].append(get_repo(work, env, url, fresh=True))
                    os.sync()
                    rows["get --repo (again)"].append(get_repo(work, env, url, fresh=False))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"| {args.mib} MiB model, 1,000 commits, http | first byte s | total s | "
          "peak RSS |")
    print("| --- | ---: | ---: | ---: |")
    for name, runs in rows.items():
        firsts = [r.first for r in runs if r.first is not None]
        first = f"{statistics.median(firsts):.2f}" if firsts else "–"
        print(f"| {name} | {first} | {statistics.median(r.total for r in runs):.2f} | "
              f"{max(r.rss_kib for r in runs) / 1024:.0f} MiB |")


if __name__ == "__main__":
    main()
