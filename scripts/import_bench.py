"""Measure `git mvm import dvc` and `git mvm import lfs` on a dataset of N small files plus one
large model, next to `dvc checkout` and `git lfs pull` of the same data, and count what the
Git LFS server receives after the import (it must be nothing).

    python scripts/import_bench.py [--files 20000] [--file-kib 4] [--model-mib 1024]
                                   [--only dvc|lfs] [--keep DIR]

Wall and CPU seconds per step (this is a shared machine: read the ratios). Uses .venv-dvc/
(tests/dvc.py), Debian's git-lfs and a giftless server on loopback (tests/stores/lfs.py).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def env_for(home: Path) -> dict[str, str]:
    from tests.dvc import dvc_executable

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "DVC_"))}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", LC_ALL="C.UTF-8",
               GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.com",
               DVC_NO_ANALYTICS="1", DVC_NO_UPDATER="1", PYTHONPATH=str(ROOT),
               PATH=os.pathsep.join([str(dvc_executable().parent),
                                     os.path.dirname(sys.executable), env.get("PATH", "")]))
    # no auto gc: a detached `git gc --auto` after committing 20,000 objects races the push
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[gc]\n\tauto = 0\n")
    return env


class Runner:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.rows: list[tuple[str, float, float]] = []

    def sh(self, cwd: Path, *cmd: str, label: str | None = None,
           extra: dict[str, str] | None = None) -> str:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        proc = subprocess.run(cmd, cwd=cwd, env={**self.env, **(extra or {})},
                              capture_output=True, text=True, check=False)
        wall = time.monotonic() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n"
                             f"{proc.stderr}")
        if label:
            self.rows.append((label, wall, cpu))
            print(f"{label:<52} {wall:8.1f} s wall {cpu:8.1f} s CPU", flush=True)
        return proc.stdout + proc.stderr


def make_data(root: Path, files: int, kib: int, model_mib: int) -> None:
    for i in range(files):
        d = root / "dataset" / f"part{i % 100:03d}"
        if i < 100:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:06d}.bin").write_bytes(os.urandom(kib * 1024))
    with open(root / "model.bin", "wb") as f:
        for _ in range(model_mib):
            f.write(os.urandom(1 << 20))


def bench_dvc(r: Runner, base: Path, args: argparse.Namespace) -> None:
    repo = base / "dvc-project"
    repo.mkdir()
    r.sh(repo, "git", "init", "-q")
    r.sh(repo, "dvc", "init", "-q")
    r.sh(repo, "dvc", "config", "cache.type", "copy")
    make_data(repo, args.files, args.file_kib, args.model_mib)
    r.sh(repo, "dvc", "add", "-q", "dataset", "model.bin", label="dvc add (setup)")
    r.sh(repo, "git", "add", "-A")
    r.sh(repo, "git", "commit", "-q", "-m", "dvc")
    shutil.rmtree(repo / "dataset")
    (repo / "model.bin").unlink()
    r.sh(repo, "dvc", "checkout", "-q", label="dvc checkout (copy from DVC's cache)")
    r.sh(repo, "git", "mvm", "import", "dvc", label="git mvm import dvc")
    r.sh(repo, "git", "mvm", "status", label="git mvm status after it")
    shutil.rmtree(repo / "dataset")
    (repo / "model.bin").unlink()
    r.sh(repo, "git", "mvm", "checkout", label="git mvm checkout (copy from gitmv's cache)")


def bench_lfs(r: Runner, base: Path, args: argparse.Namespace) -> None:
    from tests.stores.lfs import Giftless

    server = Giftless(base / "giftless")
    try:
        endpoint = server.endpoint("bench", "project")
        origin = base / "origin.git"
        r.sh(base, "git", "init", "-q", "--bare", str(origin))
        repo = base / "lfs-project"
        repo.mkdir()
        r.sh(repo, "git", "init", "-q")
        r.sh(repo, "git", "lfs", "install", "--local")
        r.sh(repo, "git", "config", "lfs.url", endpoint)
        (repo / ".gitattributes").write_text("*.bin filter=lfs diff=lfs merge=lfs -text\n")
        make_data(repo, args.files, args.file_kib, args.model_mib)
        r.sh(repo, "git", "add", "-A", label="git add through git-lfs (setup)")
        r.sh(repo, "git", "commit", "-q", "-m", "lfs")
        r.sh(repo, "git", "remote", "add", "origin", str(origin))
        r.sh(repo, "git", "push", "-q", "origin", "main", label="git push + LFS upload (setup)")
        clone = base / "lfs-clone"
        r.sh(base, "git", "clone", "-q", str(origin), str(clone),
             extra={"GIT_LFS_SKIP_SMUDGE": "1"})
        r.sh(clone, "git", "lfs", "install", "--local")
        r.sh(clone, "git", "config", "lfs.url", endpoint)
        r.sh(clone, "git", "lfs", "pull", label="git lfs pull (fresh clone, from the server)")
        model = (clone / "model.bin").read_bytes()[:100]
        assert not model.startswith(b"version https://git-lfs"), "git lfs pull checked out nothing"
        shutil.rmtree(clone / "dataset")
        (clone / "model.bin").unlink()
        r.sh(clone, "git", "lfs", "checkout", label="git lfs checkout (from .git/lfs/objects)")
        assert (clone / "model.bin").stat().st_size == args.model_mib << 20
        shutil.rmtree(clone / "dataset")
        (clone / "model.bin").unlink()
        r.sh(clone, "git", "mvm", "import", "lfs",
             label="git mvm import lfs (clone, from .git/lfs/objects)")
        storage = server.storage / "bench" / "project"

        def state() -> dict[str, tuple[int, int]]:
            return {p.name: (p.stat().st_size, p.stat().st_mtime_ns)
                    for p in storage.rglob("*") if p.is_file()}

        def puts() -> int:
            return sum('"PUT ' in line for line in
                       server.log.read_text(errors="replace").splitlines())

        before, before_puts = state(), puts()
        r.sh(repo, "git", "mvm", "import", "lfs", label="git mvm import lfs")
        r.sh(repo, "git", "mvm", "status", label="git mvm status after it")
        r.sh(repo, "git", "commit", "-q", "-m", "to gitmv")
        r.sh(repo, "git", "push", "-q", "origin", "main", label="git push after the import")
        r.sh(repo, "git", "mvm", "push", label="git mvm push after the import")
        after, after_puts = state(), puts()
        changed = sum(1 for k, v in after.items() if before.get(k) != v)
        print(f"LFS server: {len(before)} objects before, {len(after)} after, {changed} new "
              f"or rewritten; PUT requests during and after the import: "
              f"{after_puts - before_puts}", flush=True)
    finally:
        server.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=20000)
    p.add_argument("--file-kib", type=int, default=4)
    p.add_argument("--model-mib", type=int, default=1024)
    p.add_argument("--only", choices=("dvc", "lfs"))
    p.add_argument("--keep", metavar="DIR", help="work in DIR and leave it")
    args = p.parse_args()
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gitmv-import-"))
    base.mkdir(parents=True, exist_ok=True)
    home = base / "home"
    home.mkdir(exist_ok=True)
    r = Runner(env_for(home))
    print(f"{args.files} x {args.file_kib} KiB + a {args.model_mib} MiB model; load "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    try:
        if args.only != "lfs":
            bench_dvc(r, base, args)
        if args.only != "dvc":
            bench_lfs(r, base, args)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
