"""The tools the core workloads compare: gitmv, dvc, git-lfs, and the floor (one plain Python
pass over the same data).  Each knows how to make a repository and which commands add, show
status, check out and re-add; the workloads in core.py time those commands.

A tool takes the Session (harness.py) whose environment and untimed `run` it uses.
"""

from __future__ import annotations

import platform
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

from benchmarks.harness import Session, SetupError, count_files, remove_tree


class Tool:
    key = "tool"
    label = "tool"
    available = True
    version = ""
    reason = ""  # why it is unavailable

    def probe(self, ctx: Session) -> None:
        """Set .available / .version / .reason."""

    def env(self, ctx: Session, rep_dir: Path) -> dict[str, str]:
        return ctx.env

    def warm_cmds(self, ctx: Session) -> list[list[str]]:
        return []

    def noop_cmd(self) -> list[str] | None:
        """A command that only starts the tool (its start-up cost: code it loads and reads)."""
        return None

    def warm_dir(self, ctx: Session) -> Path:
        d = ctx.session / f"warm-{self.key}"
        d.mkdir(exist_ok=True)
        return d

    # repository life cycle (untimed unless a workload times them)
    def init_repo(self, ctx: Session, repo: Path) -> None:
        repo.mkdir(parents=True, exist_ok=True)
        ctx.run(["git", "init", "-q"], repo)

    def add_cmds(self, ctx: Session, repo: Path, paths: list[str]) -> list[list[str]]:
        raise NotImplementedError

    def status_cmds(self, ctx: Session, repo: Path) -> list[list[str]]:
        raise NotImplementedError

    def checkout_cmds(self, ctx: Session, repo: Path, paths: list[str]) -> list[list[str]]:
        raise NotImplementedError

    def readd_cmds(self, ctx: Session, repo: Path, paths: list[str]) -> list[list[str]]:
        return self.add_cmds(ctx, repo, paths)

    def track_and_commit(self, ctx: Session, repo: Path, paths: list[str]) -> None:
        for argv in self.add_cmds(ctx, repo, paths):
            ctx.run(argv, repo, self.env(ctx, repo.parent))
        ctx.run(["git", "add", "-A"], repo)
        ctx.run(["git", "commit", "-q", "-m", "bench setup"], repo)

    def check_added(self, ctx: Session, repo: Path, path: str, nfiles: int) -> str | None:
        """None when `path` is tracked as expected after the add step, else a message."""
        return None

    def _version_of(self, argv: list[str], ctx: Session) -> str:
        cp = subprocess.run(argv, env=ctx.env, capture_output=True, check=False)
        out = (cp.stdout or cp.stderr).decode("utf-8", "replace").strip().splitlines()
        if cp.returncode != 0 or not out:
            raise OSError(f"`{shlex.join(argv)}` failed (exit {cp.returncode})")
        return out[0]


class GitMv(Tool):
    key = "gitmv"
    label = "gitmv"
    quiet: ClassVar[list[str]] = ["-q"]  # placed after the sub-command

    def probe(self, ctx: Session) -> None:
        exe = shutil.which("git-mvm", path=ctx.env["PATH"])
        if not exe:
            self.available, self.reason = False, "git-mvm not on PATH"
            return
        # the interpreter behind the entry point, for its Python and package versions
        py = ""
        try:
            first = Path(exe).read_bytes()[:300].split(b"\n", 1)[0]
            if first.startswith(b"#!"):
                py = first[2:].decode().strip().split()[0]
        except OSError:
            pass
        ver = ""
        for argv in (["git", "mvm", "--version"],):
            try:
                ver = self._version_of(argv, ctx)
            except OSError:
                pass
        if not ver and py:
            cp = subprocess.run(
                [py, "-c", "import importlib.metadata as m; print(m.version('gitmv'))"],
                capture_output=True,
                check=False,
            )
            ver = cp.stdout.decode().strip()
        self.python = py
        probe_dir = ctx.session / "probe-gitmv"
        try:
            self.init_repo(ctx, probe_dir)
            ctx.run(["git", "mvm", "status"], probe_dir)
        except SetupError as e:
            self.available, self.reason = False, f"gitmv does not work yet: {e}"
            return
        finally:
            remove_tree(probe_dir)
        m = re.search(r"\d+\.\d+\S*", ver)
        self.version = m.group(0) if m else (ver or "unknown")

    def warm_cmds(self, ctx: Session) -> list[list[str]]:
        d = self.warm_dir(ctx)
        if not (d / ".mvm").exists():
            try:
                self.init_repo(ctx, d)
            except SetupError:
                pass
        return [["git", "mvm", "status"]]

    def noop_cmd(self) -> list[str] | None:
        return ["git", "mvm", "--version"]

    def init_repo(self, ctx: Session, repo: Path) -> None:
        super().init_repo(ctx, repo)
        ctx.run(["git", "mvm", "init", *self.quiet], repo)

    def add_cmds(self, ctx: Session, repo: Path, paths: list[str]) -> list[list[str]]:
        return [["git", "mvm", "add", *self.quiet, *paths]]

    def status_cmds(self, ctx: Session, repo: Path) -> list[list[str]]:
        return [["git", "mvm", "status"]]

    def checkout_cmds(self, ctx: Session, repo: Path, paths: list[str]) -> list[list[str]]:
        return [["git", "mvm", "checkout", *self.quiet, *paths]]

    def readd_cmds(self, ctx: Session, repo: Path, paths: list[str]) -> list[list[str]]:
        # -v: gitmv says "PATH: hashing N file(s)", which the re-add workload reports
        return [["git", "mvm", "add", "-v", *paths]]

    @staticmethod
    def hashed_files(output: str) -> int | None:
        counts = [int(n) for n in re.findall(r"hashing (\d+) file", output)]
        return sum(counts) if counts else None

    def check_added(self, ctx: Session, repo: Path, path: str, nfiles: int) -> str | None:
        if not (repo / f"{path}.mvm").is_file():
            return f"no pointer {path}.mvm after add"
        staged = ctx.run(["git", "diff", "--cached", "--name-only"], repo).stdout.decode()
        if f"{path}.mvm" not in staged.split():
            return f"{path}.mvm not staged after add"
        return None


class Dvc(Tool):
    key = "dvc"
    label = "dvc"

    def probe(self, ctx: Session) -> None:
        if not shutil.which("dvc", path=ctx.env["PATH"]):
            self.available, self.reason = False, "dvc not on PATH"
            return
        try:
            self.version = self._version_of(["dvc", "--version"], ctx)
        except OSError as e:
            self.available, self.reason = False, str(e)

    def env(self, ctx: Session, rep_dir: Path) -> dict[str, str]:
        # dvc keeps its state/index database in a "site cache" keyed by repo path; keep it
        # inside the repetition's directory so no run sees another run's state.
        return {**ctx.env, "DVC_SITE_CACHE_DIR": str(rep_dir / "dvc-site-cache")}

    def warm_cmds(self, ctx: Session) -> list[list[str]]:
        d = self.warm_dir(ctx)
        if not (d / ".dvc").exists():
            try:
                self.init_repo(ctx, d)
            except SetupError:
                pass
        return [["dvc", "status"]]

    def noop_cmd(self) -> list[str] | None:
        return ["dvc", "--version"]

    def init_repo(self, ctx: Session, repo: Path) -> None:
        super().init_repo(ctx, repo)
        env = self.env(ctx, repo.parent)
        ctx.run(["dvc", "init", "-q"], repo, env)
        ctx.run(["dvc", "config", "core.analytics", "false"], repo, env)

    def add_cmds(self, ctx: Session, repo: Path, paths: list[str]) -> list[list[str]]:
        return [["dvc", "add", "-q", *paths]]

    def status_cmds(self, ctx: Session, repo: Path) -> list[list[str]]:
        return [["dvc", "status"]]

    def checkout_cmds(self, ctx: Session, repo: Path, paths: list[str]) -> list[list[str]]:
        return [["dvc", "checkout", "-q", *(f"{p}.dvc" for p in paths)]]

    def check_added(self, ctx: Session, repo: Path, path: str, nfiles: int) -> str | None:
        if not (repo / f"{path}.dvc").is_file():
            return f"no {path}.dvc after add"
        return None


class GitLfs(Tool):
    key = "git-lfs"
    label = "git-lfs"
    pattern = "*.bin"

    def probe(self, ctx: Session) -> None:
        if not shutil.which("git-lfs", path=ctx.env["PATH"]):
            self.available, self.reason = False, "git-lfs not on PATH"
            return
        try:
            v = self._version_of(["git", "lfs", "version"], ctx)
            m = re.search(r"git-lfs/(\S+)", v)
            self.version = m.group(1) if m else v
        except OSError as e:
            self.available, self.reason = False, str(e)

    def warm_cmds(self, ctx: Session) -> list[list[str]]:
        d = self.warm_dir(ctx)
        if not (d / ".git").exists():
            try:
                self.init_repo(ctx, d)
            except SetupError:
                pass
        return [["git", "status"], ["git", "lfs", "version"]]

    def noop_cmd(self) -> list[str] | None:
        return ["git", "lfs", "version"]

    def init_repo(self, ctx: Session, repo: Path) -> None:
        super().init_repo(ctx, repo)
        ctx.run(["git", "lfs", "install", "--local"], repo)

    def add_cmds(self, ctx: Session, repo: Path, paths: list[str]) -> list[list[str]]:
        return [["git", "lfs", "track", self.pattern], ["git", "add", *paths]]

    def readd_cmds(self, ctx: Session, repo: Path, paths: list[str]) -> list[list[str]]:
        return [["git", "add", *paths]]

    def status_cmds(self, ctx: Session, repo: Path) -> list[list[str]]:
        return [["git", "status"]]

    def checkout_cmds(self, ctx: Session, repo: Path, paths: list[str]) -> list[list[str]]:
        return [["git", "checkout", "--", *paths]]

    def check_added(self, ctx: Session, repo: Path, path: str, nfiles: int) -> str | None:
        listed = ctx.run(["git", "ls-files", "--", path], repo).stdout.decode().split("\n")
        n = len([x for x in listed if x])
        if n != nfiles:
            return f"{n} files staged under {path}, expected {nfiles}"
        first = next(x for x in listed if x)
        blob = ctx.run(["git", "cat-file", "-p", f":{first}"], repo).stdout
        if not blob.startswith(b"version https://git-lfs"):
            return f"{first} was staged as a plain blob, not an LFS pointer"
        return None


FLOOR_CODE = r"""
import hashlib, os, sys
src, dst = sys.argv[1], sys.argv[2]
buf = bytearray(8 << 20)
view = memoryview(buf)
def one(s, d):
    h = hashlib.sha256()
    with open(s, "rb", buffering=0) as fi, open(d, "wb", buffering=0) as fo:
        while True:
            n = fi.readinto(buf)
            if not n:
                break
            h.update(view[:n])
            fo.write(view[:n])
    return h.hexdigest()
if os.path.isdir(src):
    for top, dirs, files in os.walk(src):
        dirs.sort()
        out = os.path.join(dst, os.path.relpath(top, src))
        os.makedirs(out, exist_ok=True)
        for name in sorted(files):
            one(os.path.join(top, name), os.path.join(out, name))
else:
    one(src, dst)
"""


class Floor(Tool):
    """One plain Python pass: read in 8 MiB buffers, sha256, write a copy (same filesystem)."""

    key = "floor"
    label = "floor (py read+sha256+copy)"

    def probe(self, ctx: Session) -> None:
        self.version = platform.python_version()

    def warm_cmds(self, ctx: Session) -> list[list[str]]:
        return [[sys.executable, "-c", "import hashlib"]]

    def init_repo(self, ctx: Session, repo: Path) -> None:
        repo.mkdir(parents=True, exist_ok=True)

    def add_cmds(self, ctx: Session, repo: Path, paths: list[str]) -> list[list[str]]:
        out = repo.parent / "floor-out"
        out.mkdir(exist_ok=True)
        return [[sys.executable, "-c", FLOOR_CODE, str(repo / p), str(out / p)] for p in paths]

    def check_added(self, ctx: Session, repo: Path, path: str, nfiles: int) -> str | None:
        out = repo.parent / "floor-out" / path
        n = count_files(out) if out.is_dir() else int(out.is_file())
        return None if n == nfiles else f"floor wrote {n} files, expected {nfiles}"

