#!/usr/bin/env python3
"""Benchmark harness: gitmv next to dvc and git-lfs on the same generated workloads.

Run it through ``scripts/bench`` (which prepares the virtualenvs and git-lfs); this file only
uses the standard library and finds the tools on PATH: ``git-mvm`` (gitmv), ``dvc`` and
``git-lfs``.

How it measures
  * Inputs are generated once under the work dir (random bytes from os.urandom, written in
    chunks) and kept across repetitions and runs.  Each repetition of each tool gets a fresh
    directory: the untimed setup copies the inputs in, creates the repository and does whatever
    the workload needs beforehand (add, commit, delete, edit); then the timed step runs.
  * Every child runs in a hermetic environment: a temporary HOME with its own .gitconfig,
    GIT_CONFIG_NOSYSTEM=1, no inherited GIT_* / DVC_* variables, dvc analytics and update
    checks off, dvc's site cache inside the repetition's directory.
  * Before each timed step: sync; if /proc/sys/vm/drop_caches is writable the page cache is
    dropped ("cold" data) and the tool's own code is warmed again by an untimed no-op command
    of that tool, so that the timing is about data, not about loading Python modules from
    disk.  Otherwise every run is a warm-cache run.  All tools get the same treatment.
  * Wall time is measured around fork..wait4 of the child.  Peak RSS is wait4's ru_maxrss
    (the largest single process of the child's tree).  "Read" is the growth of this process's
    /proc/self/io rchar across the child's lifetime: Linux folds the I/O counters of every
    reaped descendant into its parent, so it is the bytes read by the whole child tree,
    page-cache hits included.
  * A workload is a function that returns a Section (tables of rows + targets); the list
    WORKLOADS at the bottom is what --only chooses from.  New rows (hooks, push/pull, registry)
    are new functions appended there; tools grow new methods on the Tool classes.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 8 << 20  # generation / floor buffer size
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


def human_size(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} B"


# --------------------------------------------------------------------------------------------
# measuring one child


class SetupError(Exception):
    """An untimed preparation step failed."""


@dataclass
class Measurement:
    seconds: float = 0.0
    maxrss_kib: int = 0
    rchar: int | None = 0
    error: str | None = None
    output: str = ""  # tail of stdout+stderr of the last command
    foreign_cpu: float = 0.0  # CPU seconds used by other user-space processes meanwhile
    started_quiet: bool = True  # other processes were idle when it started

    @property
    def contended(self) -> bool:
        """Other processes took a noticeable share of the machine during this run."""
        return self.foreign_cpu > max(0.05, CONTENDED_CORES * self.seconds)

    @property
    def ok(self) -> bool:
        return self.error is None

    def absorb(self, other: Measurement) -> None:
        self.seconds += other.seconds
        self.maxrss_kib = max(self.maxrss_kib, other.maxrss_kib)
        if self.rchar is None or other.rchar is None:
            self.rchar = None
        else:
            self.rchar += other.rchar
        self.error = self.error or other.error
        self.output = other.output
        self.foreign_cpu += other.foreign_cpu


# A timed run counts as contended when other processes used more than this many cores on
# average while it ran; such a repetition is retried (--retries).  "Other processes": the
# machine's user+system CPU time, less kernel threads' (the page-cache writeback that a tool's
# own writes cause runs there), less this harness and the measured command's tree.
CONTENDED_CORES = 0.25
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PF_KTHREAD = 0x00200000


CpuSnapshot = tuple[int, dict[tuple[int, int], int]]


def cpu_snapshot() -> CpuSnapshot:
    """The machine's user+system ticks, and the ticks of each kernel thread and of this
    process, keyed by (pid, start time)."""
    try:
        with open("/proc/stat", "rb") as f:
            busy = sum(int(x) for x in f.readline().split()[1:4])  # user nice system
        names = os.listdir("/proc")
    except (OSError, ValueError):
        return 0, {}
    excluded: dict[tuple[int, int], int] = {}
    me = str(os.getpid())
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                raw = f.read()
            fields = raw[raw.rfind(b")") + 2 :].split()
            if name == me or int(fields[6]) & _PF_KTHREAD:
                excluded[(int(name), int(fields[19]))] = int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return busy, excluded


def others_cpu_seconds(before: CpuSnapshot, after: CpuSnapshot) -> float:
    """CPU seconds used between two snapshots by all but kernel threads and this process
    (kernel threads that ended in between are not subtracted: a small over-count)."""
    ticks = after[0] - before[0]
    for key, t in after[1].items():
        ticks -= t - before[1].get(key, 0)
    return max(0, ticks) / _CLK_TCK


def _self_rchar() -> int | None:
    try:
        with open("/proc/self/io", "rb") as f:
            for line in f:
                if line.startswith(b"rchar:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def _tail(path: Path, limit: int = 1500) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


# The child is started through a small wrapper, because ru_maxrss of a process also counts
# the address space it was forked from (exec records the old mm's high-water mark): measured
# straight from this harness, every tool would show at least the harness's own RSS.  GNU time
# (`/usr/bin/time -f %M`) is tiny and reports its child's ru_maxrss; without it a Python wrapper
# does the same (then the smallest RSS that can be shown is that wrapper's, ~10 MB).
GNU_TIME = "/usr/bin/time"

PY_WRAPPER = r"""
import os, subprocess, sys, time
def rchar():
    try:
        with open("/proc/self/io", "rb") as f:
            for line in f:
                if line.startswith(b"rchar:"):
                    return int(line.split()[1])
    except OSError:
        return -1
    return -1
out, argv = sys.argv[1], sys.argv[2:]
r0 = rchar(); t0 = time.perf_counter()
try:
    p = subprocess.Popen(argv)
except OSError as e:
    print(e, file=sys.stderr); sys.exit(127)
_, st, ru = os.wait4(p.pid, 0)
t1 = time.perf_counter(); r1 = rchar()
with open(out, "w") as f:
    f.write(f"{ru.ru_maxrss} {t1 - t0!r} {r1 - r0 if r0 >= 0 and r1 >= 0 else -1}\n")
code = os.waitstatus_to_exitcode(st)
sys.exit(code if code >= 0 else 128 - code)
"""


def rss_method() -> str:
    if os.access(GNU_TIME, os.X_OK):
        return "GNU time (`/usr/bin/time -f %M`)"
    return "a Python wrapper's wait4 (smallest value it can show: ~10 MB)"


def measure_one(
    argv: Sequence[str], cwd: Path, env: dict[str, str], log: Path, timeout: float
) -> Measurement:
    """Run argv once; wall time from spawn to reap, peak RSS and bytes read of its tree."""
    out_path = log.with_suffix(".out")
    stat_path = log.with_suffix(".rss")
    use_time = os.access(GNU_TIME, os.X_OK)
    stat_path.unlink(missing_ok=True)
    if use_time:
        wrapped = [GNU_TIME, "-o", str(stat_path), "-f", "%M", *argv]
    else:
        wrapped = [sys.executable, "-c", PY_WRAPPER, str(stat_path), *argv]
    with open(out_path, "wb") as out:
        cpu0 = cpu_snapshot()
        r0 = _self_rchar()
        t0 = time.perf_counter()
        try:
            proc = subprocess.Popen(
                wrapped,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as e:
            return Measurement(error=f"cannot run {wrapped[0]}: {e}")
        timer = threading.Timer(timeout, _kill_group, (proc.pid,))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            _kill_group(proc.pid)
            raise
        finally:
            timer.cancel()
        t1 = time.perf_counter()
        r1 = _self_rchar()
        cpu1 = cpu_snapshot()
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = t1 - t0
    rchar = (r1 - r0) if (r0 is not None and r1 is not None) else None
    maxrss = 0
    try:
        fields = stat_path.read_text().strip().splitlines()[-1].split()
        maxrss = int(fields[0])
        if not use_time:  # the wrapper's own start-up is not the tool's
            seconds = float(fields[1])
            rchar = int(fields[2]) if int(fields[2]) >= 0 else None
    except (OSError, IndexError, ValueError):
        pass
    m = Measurement(
        seconds=seconds,
        maxrss_kib=maxrss,
        rchar=rchar,
        output=_tail(out_path),
        # the wrapper's rusage includes every process of the tree it reaped
        foreign_cpu=max(0.0, others_cpu_seconds(cpu0, cpu1) - usage.ru_utime - usage.ru_stime),
    )
    if proc.returncode != 0:
        code = proc.returncode
        what = f"killed by signal {-code}" if code < 0 else f"exit {code}"
        if t1 - t0 >= timeout:
            what = f"timed out after {timeout:.0f} s"
        m.error = f"`{shlex.join(argv)}`: {what}"
    return m


# --------------------------------------------------------------------------------------------
# the hermetic environment and the run context


class Context:
    def __init__(self, args: argparse.Namespace, sizes: Sizes) -> None:
        self.args = args
        self.sizes = sizes
        self.reps: int = args.reps
        self.work = Path(args.work).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.inputs = self.work / "inputs"
        self.inputs.mkdir(exist_ok=True)
        self.session = Path(tempfile.mkdtemp(prefix="run-", dir=self.work))
        self.home = self.session / "home"
        self.runs = self.session / "runs"
        self.runs.mkdir(parents=True)
        self.env = self._hermetic_env()
        self.cold = self._can_drop_caches() if args.cache == "cold" else False
        self.timeout: float = args.timeout
        self.errors: list[str] = []  # "workload rep N tool: message", for the report
        self.retried = 0  # runs repeated because other processes were busy
        self.contended = 0  # kept runs during which other processes were still busy
        self.busy_spell = False  # the last wait for quiet ran out
        self.started_quiet = True  # the machine was quiet when the last timed step began

    # environment ------------------------------------------------------------------------
    def _hermetic_env(self) -> dict[str, str]:
        home = self.home
        for sub in ("config", "cache", "data", "dvc-global", "dvc-system", "tmp"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        (home / ".gitconfig").write_text(
            "[user]\n\tname = gitmv bench\n\temail = bench@example.invalid\n"
            "[init]\n\tdefaultBranch = main\n"
            "[gc]\n\tauto = 0\n"
            "[advice]\n\tdetachedHead = false\n\taddIgnoredFile = false\n"
            "[safe]\n\tdirectory = *\n"
        )
        (home / "dvc-global" / "config").write_text(
            "[core]\n    analytics = false\n    check_update = false\n"
        )
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GIT_", "DVC_", "PYTHON", "VIRTUAL_ENV", "XDG_"))
        }
        env.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / "config"),
            XDG_CACHE_HOME=str(home / "cache"),
            XDG_DATA_HOME=str(home / "data"),
            TMPDIR=str(home / "tmp"),
            LC_ALL="C.UTF-8",
            GIT_CONFIG_NOSYSTEM="1",
            GIT_TERMINAL_PROMPT="0",
            DVC_NO_ANALYTICS="1",
            DVC_STUDIO_OFFLINE="1",
            DVC_GLOBAL_CONFIG_DIR=str(home / "dvc-global"),
            DVC_SYSTEM_CONFIG_DIR=str(home / "dvc-system"),
        )
        env.setdefault("PATH", os.defpath)
        return env

    def _can_drop_caches(self) -> bool:
        try:
            os.sync()
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")
            return True
        except OSError:
            return False

    # untimed helpers --------------------------------------------------------------------
    def run(
        self, argv: Sequence[str], cwd: Path, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        """Untimed setup command; raises SetupError on failure."""
        try:
            cp = subprocess.run(
                list(argv),
                cwd=cwd,
                env=env or self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.timeout,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise SetupError(f"`{shlex.join(argv)}`: {e}") from e
        if cp.returncode != 0:
            tail = (cp.stdout + cp.stderr).decode("utf-8", "replace").strip()[-800:]
            raise SetupError(f"`{shlex.join(argv)}` exit {cp.returncode}: {tail}")
        return cp

    def settle(self, tool: Tool, rep_dir: Path) -> None:
        """Before a timed step: flush dirty pages; drop caches and re-warm the tool's code;
        then wait (bounded) until other processes leave the machine alone."""
        os.sync()
        if self.cold:
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")
            self._warm(tool)
        self.wait_quiet()

    def wait_quiet(self, sample: float = 0.5) -> None:
        """Wait until other processes leave the CPU alone: up to --quiet-wait seconds, or only
        a few seconds while the machine has stayed busy since the last wait ran out."""
        limit = 5.0 if self.busy_spell else self.args.quiet_wait
        deadline = time.monotonic() + limit
        waited = False
        while True:
            c0 = cpu_snapshot()
            time.sleep(sample)
            busy = others_cpu_seconds(c0, cpu_snapshot()) / sample
            if busy < CONTENDED_CORES:
                if waited or self.busy_spell:
                    log("  machine quiet again")
                self.busy_spell = False
                self.started_quiet = True
                return
            if time.monotonic() >= deadline:
                log(f"  other processes still use {busy:.1f} cores; measuring anyway")
                self.busy_spell = True
                self.started_quiet = False
                return
            if not waited:
                log(f"  other processes use {busy:.1f} cores; waiting for quiet …")
                waited = True
            time.sleep(2)

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

    def measure(
        self, tool: Tool, cmds: Sequence[Sequence[str]], cwd: Path, rep_dir: Path, tag: str
    ) -> Measurement:
        total = Measurement()
        env = tool.env(self, rep_dir)
        for i, argv in enumerate(cmds):
            m = measure_one(argv, cwd, env, rep_dir / f"{tag}-{i}.log", self.timeout)
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

    def cleanup(self, path: Path) -> None:
        if not self.args.keep:
            remove_tree(path)

    def close(self) -> None:
        if not self.args.keep:
            remove_tree(self.session)

    # inputs (generated once, kept) --------------------------------------------------------
    def big_input(self) -> Path:
        path = self.inputs / f"file-{self.sizes.big_bytes}.bin"
        if not path.exists():
            log(f"generating {path.name} ({self.sizes.big_label()}) …")
            tmp = path.with_suffix(".part")
            with open(tmp, "wb") as f:
                left = self.sizes.big_bytes
                while left:
                    n = min(CHUNK, left)
                    f.write(os.urandom(n))
                    left -= n
            tmp.rename(path)
        return path

    def dir_input(self) -> Path:
        s = self.sizes
        path = self.inputs / f"dir-{s.n_dirs}x{s.files_per_dir}x{s.file_bytes}"
        if not path.exists():
            log(f"generating {path.name} ({s.dir_label()}) …")
            tmp = path.with_name(path.name + ".part")
            remove_tree(tmp)
            for d in range(s.n_dirs):
                sub = tmp / "data" / f"d{d:03d}"
                sub.mkdir(parents=True)
                for i in range(s.files_per_dir):
                    (sub / f"f{i:04d}.bin").write_bytes(os.urandom(s.file_bytes))
            tmp.rename(path)
        return path / "data"

    def put_big(self, repo: Path, name: str = "big.bin") -> Path:
        dst = repo / name
        shutil.copyfile(self.big_input(), dst)
        return dst

    def put_dir(self, repo: Path, name: str = "data") -> Path:
        dst = repo / name
        shutil.copytree(self.dir_input(), dst, copy_function=shutil.copyfile)
        return dst

    def sample_file(self) -> str:
        """Relative path (inside data/) of the file the re-add workload changes."""
        s = self.sizes
        return f"d{s.n_dirs // 2:03d}/f{s.files_per_dir // 2:04d}.bin"


def remove_tree(path: Path) -> None:
    if not path.exists() and not path.is_symlink():
        return

    def fix(func: Callable[..., object], p: str, _exc: object) -> None:
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
        except OSError:
            pass
        func(p)

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, onerror=fix)
    else:
        path.unlink()


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def count_files(path: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(path))


# --------------------------------------------------------------------------------------------
# tools


class Tool:
    key = "tool"
    label = "tool"
    available = True
    version = ""
    reason = ""  # why it is unavailable

    def probe(self, ctx: Context) -> None:
        """Set .available / .version / .reason."""

    def env(self, ctx: Context, rep_dir: Path) -> dict[str, str]:
        return ctx.env

    def warm_cmds(self, ctx: Context) -> list[list[str]]:
        return []

    def noop_cmd(self) -> list[str] | None:
        """A command that only starts the tool (its start-up cost: code it loads and reads)."""
        return None

    def warm_dir(self, ctx: Context) -> Path:
        d = ctx.session / f"warm-{self.key}"
        d.mkdir(exist_ok=True)
        return d

    # repository life cycle (untimed unless a workload times them)
    def init_repo(self, ctx: Context, repo: Path) -> None:
        repo.mkdir(parents=True, exist_ok=True)
        ctx.run(["git", "init", "-q"], repo)

    def add_cmds(self, ctx: Context, repo: Path, paths: list[str]) -> list[list[str]]:
        raise NotImplementedError

    def status_cmds(self, ctx: Context, repo: Path) -> list[list[str]]:
        raise NotImplementedError

    def checkout_cmds(self, ctx: Context, repo: Path, paths: list[str]) -> list[list[str]]:
        raise NotImplementedError

    def readd_cmds(self, ctx: Context, repo: Path, paths: list[str]) -> list[list[str]]:
        return self.add_cmds(ctx, repo, paths)

    def track_and_commit(self, ctx: Context, repo: Path, paths: list[str]) -> None:
        for argv in self.add_cmds(ctx, repo, paths):
            ctx.run(argv, repo, self.env(ctx, repo.parent))
        ctx.run(["git", "add", "-A"], repo)
        ctx.run(["git", "commit", "-q", "-m", "bench setup"], repo)

    def check_added(self, ctx: Context, repo: Path, path: str, nfiles: int) -> str | None:
        """None when `path` is tracked as expected after the add step, else a message."""
        return None

    def _version_of(self, argv: list[str], ctx: Context) -> str:
        cp = subprocess.run(argv, env=ctx.env, capture_output=True, check=False)
        out = (cp.stdout or cp.stderr).decode("utf-8", "replace").strip().splitlines()
        if cp.returncode != 0 or not out:
            raise OSError(f"`{shlex.join(argv)}` failed (exit {cp.returncode})")
        return out[0]


class GitMv(Tool):
    key = "gitmv"
    label = "gitmv"
    quiet: ClassVar[list[str]] = ["-q"]  # placed after the sub-command

    def probe(self, ctx: Context) -> None:
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

    def warm_cmds(self, ctx: Context) -> list[list[str]]:
        d = self.warm_dir(ctx)
        if not (d / ".mvm").exists():
            try:
                self.init_repo(ctx, d)
            except SetupError:
                pass
        return [["git", "mvm", "status"]]

    def noop_cmd(self) -> list[str] | None:
        return ["git", "mvm", "--version"]

    def init_repo(self, ctx: Context, repo: Path) -> None:
        super().init_repo(ctx, repo)
        ctx.run(["git", "mvm", "init", *self.quiet], repo)

    def add_cmds(self, ctx: Context, repo: Path, paths: list[str]) -> list[list[str]]:
        return [["git", "mvm", "add", *self.quiet, *paths]]

    def status_cmds(self, ctx: Context, repo: Path) -> list[list[str]]:
        return [["git", "mvm", "status"]]

    def checkout_cmds(self, ctx: Context, repo: Path, paths: list[str]) -> list[list[str]]:
        return [["git", "mvm", "checkout", *self.quiet, *paths]]

    def readd_cmds(self, ctx: Context, repo: Path, paths: list[str]) -> list[list[str]]:
        # -v: gitmv says "PATH: hashing N file(s)", which the re-add workload reports
        return [["git", "mvm", "add", "-v", *paths]]

    @staticmethod
    def hashed_files(output: str) -> int | None:
        counts = [int(n) for n in re.findall(r"hashing (\d+) file", output)]
        return sum(counts) if counts else None

    def check_added(self, ctx: Context, repo: Path, path: str, nfiles: int) -> str | None:
        if not (repo / f"{path}.mvm").is_file():
            return f"no pointer {path}.mvm after add"
        staged = ctx.run(["git", "diff", "--cached", "--name-only"], repo).stdout.decode()
        if f"{path}.mvm" not in staged.split():
            return f"{path}.mvm not staged after add"
        return None


class Dvc(Tool):
    key = "dvc"
    label = "dvc"

    def probe(self, ctx: Context) -> None:
        if not shutil.which("dvc", path=ctx.env["PATH"]):
            self.available, self.reason = False, "dvc not on PATH"
            return
        try:
            self.version = self._version_of(["dvc", "--version"], ctx)
        except OSError as e:
            self.available, self.reason = False, str(e)

    def env(self, ctx: Context, rep_dir: Path) -> dict[str, str]:
        # dvc keeps its state/index database in a "site cache" keyed by repo path; keep it
        # inside the repetition's directory so no run sees another run's state.
        return {**ctx.env, "DVC_SITE_CACHE_DIR": str(rep_dir / "dvc-site-cache")}

    def warm_cmds(self, ctx: Context) -> list[list[str]]:
        d = self.warm_dir(ctx)
        if not (d / ".dvc").exists():
            try:
                self.init_repo(ctx, d)
            except SetupError:
                pass
        return [["dvc", "status"]]

    def noop_cmd(self) -> list[str] | None:
        return ["dvc", "--version"]

    def init_repo(self, ctx: Context, repo: Path) -> None:
        super().init_repo(ctx, repo)
        env = self.env(ctx, repo.parent)
        ctx.run(["dvc", "init", "-q"], repo, env)
        ctx.run(["dvc", "config", "core.analytics", "false"], repo, env)

    def add_cmds(self, ctx: Context, repo: Path, paths: list[str]) -> list[list[str]]:
        return [["dvc", "add", "-q", *paths]]

    def status_cmds(self, ctx: Context, repo: Path) -> list[list[str]]:
        return [["dvc", "status"]]

    def checkout_cmds(self, ctx: Context, repo: Path, paths: list[str]) -> list[list[str]]:
        return [["dvc", "checkout", "-q", *(f"{p}.dvc" for p in paths)]]

    def check_added(self, ctx: Context, repo: Path, path: str, nfiles: int) -> str | None:
        if not (repo / f"{path}.dvc").is_file():
            return f"no {path}.dvc after add"
        return None


class GitLfs(Tool):
    key = "git-lfs"
    label = "git-lfs"
    pattern = "*.bin"

    def probe(self, ctx: Context) -> None:
        if not shutil.which("git-lfs", path=ctx.env["PATH"]):
            self.available, self.reason = False, "git-lfs not on PATH"
            return
        try:
            v = self._version_of(["git", "lfs", "version"], ctx)
            m = re.search(r"git-lfs/(\S+)", v)
            self.version = m.group(1) if m else v
        except OSError as e:
            self.available, self.reason = False, str(e)

    def warm_cmds(self, ctx: Context) -> list[list[str]]:
        d = self.warm_dir(ctx)
        if not (d / ".git").exists():
            try:
                self.init_repo(ctx, d)
            except SetupError:
                pass
        return [["git", "status"], ["git", "lfs", "version"]]

    def noop_cmd(self) -> list[str] | None:
        return ["git", "lfs", "version"]

    def init_repo(self, ctx: Context, repo: Path) -> None:
        super().init_repo(ctx, repo)
        ctx.run(["git", "lfs", "install", "--local"], repo)

    def add_cmds(self, ctx: Context, repo: Path, paths: list[str]) -> list[list[str]]:
        return [["git", "lfs", "track", self.pattern], ["git", "add", *paths]]

    def readd_cmds(self, ctx: Context, repo: Path, paths: list[str]) -> list[list[str]]:
        return [["git", "add", *paths]]

    def status_cmds(self, ctx: Context, repo: Path) -> list[list[str]]:
        return [["git", "status"]]

    def checkout_cmds(self, ctx: Context, repo: Path, paths: list[str]) -> list[list[str]]:
        return [["git", "checkout", "--", *paths]]

    def check_added(self, ctx: Context, repo: Path, path: str, nfiles: int) -> str | None:
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

    def probe(self, ctx: Context) -> None:
        self.version = platform.python_version()

    def warm_cmds(self, ctx: Context) -> list[list[str]]:
        return [[sys.executable, "-c", "import hashlib"]]

    def init_repo(self, ctx: Context, repo: Path) -> None:
        repo.mkdir(parents=True, exist_ok=True)

    def add_cmds(self, ctx: Context, repo: Path, paths: list[str]) -> list[list[str]]:
        out = repo.parent / "floor-out"
        out.mkdir(exist_ok=True)
        return [[sys.executable, "-c", FLOOR_CODE, str(repo / p), str(out / p)] for p in paths]

    def check_added(self, ctx: Context, repo: Path, path: str, nfiles: int) -> str | None:
        out = repo.parent / "floor-out" / path
        n = count_files(out) if out.is_dir() else int(out.is_file())
        return None if n == nfiles else f"floor wrote {n} files, expected {nfiles}"


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
            m = ctx.measure(tool, step.cmds(tool, repo), repo, rep_dir, f"step{i}")
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
# report model


@dataclass
class Target:
    what: str
    measured: str
    passed: bool | None  # None: could not be evaluated, or informational
    info: bool = False  # no target: shown for information

    @property
    def verdict(self) -> str:
        if self.info:
            return "info"
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]


@dataclass
class Section:
    key: str
    title: str
    tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def median_ok(runs: list[Measurement]) -> float | None:
    ok = [m.seconds for m in runs if m.ok]
    if not ok or len(ok) < len(runs):
        return None
    return statistics.median(ok)


def fmt_s(x: float | None) -> str:
    if x is None:
        return "—"
    if x < 10:
        return f"{x:.3f}"
    if x < 100:
        return f"{x:.2f}"
    return f"{x:.1f}"


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "—"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            v = n / size
            return f"{v:.3g} {unit}" if v < 100 else f"{v:.0f} {unit}"
    return f"{n:.0f} B"


def fmt_ratio(r: float | None) -> str:
    return "—" if r is None else f"{r:.2f}×"


def step_table(
    res_step: dict[str, list[Measurement]], tools: Sequence[Tool], ref: str = "gitmv"
) -> tuple[list[str], list[list[str]]]:
    headers = ["tool", "median s", "runs (s)", "peak RSS", "read", f"{ref} ÷ tool"]
    ref_med = median_ok(res_step.get(ref, []))
    rows = []
    for t in tools:
        runs = res_step.get(t.key, [])
        if not t.available:
            rows.append([t.label, "n/a", t.reason[:60], "", "", ""])
            continue
        med = median_ok(runs)
        errs = [m.error for m in runs if m.error]
        if errs:
            first = errs[0].splitlines()[0]
            rows.append([t.label, "ERROR", first[:70], "", "", ""])
            continue
        rss = max((m.maxrss_kib for m in runs), default=0) * 1024
        reads = [m.rchar for m in runs if m.rchar is not None]
        read = statistics.median(reads) if reads else None
        ratio = (ref_med / med) if (ref_med is not None and med) else None
        rows.append(
            [
                t.label,
                fmt_s(med),
                " ".join(fmt_s(m.seconds) + ("*" if m.contended else "") for m in runs),
                fmt_bytes(rss),
                fmt_bytes(read),
                fmt_ratio(ratio),
            ]
        )
    return headers, rows


def ratio_target(
    res_step: dict[str, list[Measurement]], peer: str, limit: float, what: str, info: bool = False
) -> Target:
    a, b = median_ok(res_step.get("gitmv", [])), median_ok(res_step.get(peer, []))
    if a is None or not b:
        return Target(what, "—", None, info)
    r = a / b
    return Target(what, f"{r:.2f}× ({fmt_s(a)} s vs {fmt_s(b)} s)", r <= limit, info)


def rss_target(runs: list[Measurement], limit_bytes: float, what: str) -> Target:
    if not runs or not all(m.ok for m in runs):
        return Target(what, "—", None)
    peak = max(m.maxrss_kib for m in runs) * 1024
    return Target(what, fmt_bytes(peak), peak < limit_bytes)


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
            m = ctx.measure(t, [argv], rep_dir, rep_dir, "noop")
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


# --------------------------------------------------------------------------------------------
# machine / versions / rendering


def machine_info(work: Path) -> list[tuple[str, str]]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / (1 << 20):.1f} GiB"
    except OSError:
        pass
    fs = "unknown"
    cp = (
        subprocess.run(
            ["findmnt", "-n", "-o", "FSTYPE,SOURCE", "--target", str(work)],
            capture_output=True,
            check=False,
        )
        if shutil.which("findmnt")
        else None
    )
    if cp and cp.returncode == 0 and cp.stdout.strip():
        fs = " on ".join(cp.stdout.decode().split()[:2])
    else:
        best = ""
        try:
            for line in Path("/proc/self/mounts").read_text().splitlines():
                dev, mnt, typ = line.split()[:3]
                if str(work).startswith(mnt) and len(mnt) >= len(best):
                    best, fs = mnt, f"{typ} on {dev}"
        except OSError:
            pass
    osname = platform.system()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                osname = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    cores = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = cores
    return [
        ("CPU", cpu),
        ("cores", f"{cores}" + (f" ({usable} usable)" if usable != cores else "")),
        ("RAM", mem),
        ("filesystem (work dir)", fs),
        ("OS / kernel", f"{osname} / Linux {platform.release()}"),
    ]


def versions(ctx: Context, tools: dict[str, Tool]) -> list[tuple[str, str]]:
    def out(argv: list[str]) -> str:
        cp = subprocess.run(argv, env=ctx.env, capture_output=True, check=False)
        return cp.stdout.decode("utf-8", "replace").strip().splitlines()[0] if cp.stdout else "?"

    gm = tools["gitmv"]
    py = getattr(gm, "python", "")
    pyver = out([py, "--version"]) if py else f"Python {platform.python_version()}"
    rev = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        check=False,
        env=ctx.env,
    )
    commit = rev.stdout.decode().strip() if rev.returncode == 0 else "no commit yet"
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "gitmv"],
        capture_output=True,
        check=False,
        env=ctx.env,
    ).stdout.strip()
    gitmv_v = gm.version if gm.available else f"unavailable ({gm.reason[:80]})"
    return [
        (
            "python",
            f"{pyver.replace('Python ', '')} (gitmv venv); harness {platform.python_version()}",
        ),
        ("git", out(["git", "--version"]).replace("git version ", "")),
        ("gitmv", f"{gitmv_v} (repo {commit}{', uncommitted changes' if dirty else ''})"),
        ("dvc", tools["dvc"].version if tools["dvc"].available else "unavailable"),
        ("git-lfs", tools["git-lfs"].version if tools["git-lfs"].available else "unavailable"),
    ]


def render_table(headers: list[str], rows: list[list[str]], right: Iterable[int] = ()) -> str:
    """A padded markdown pipe table (readable as plain text too); `right`: right-aligned cols."""
    right = set(right)
    rows = [[c.replace("|", "\\|").replace("\n", " ") for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))

    def line(cells: list[str]) -> str:
        return (
            "| "
            + " | ".join(
                c.rjust(w) if i in right else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            + " |"
        )

    sep = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(widths)
        )
        + "|"
    )
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


STEP_RIGHT = (1, 3, 4, 5)


def render_report(
    ctx: Context,
    sections: list[Section],
    machine: list[tuple[str, str]],
    vers: list[tuple[str, str]],
    command: str,
    elapsed: float,
) -> str:
    s = ctx.sizes
    cache = (
        "cold: page cache dropped before every timed step (each tool's code re-warmed by an "
        "untimed no-op run)"
        if ctx.cold
        else "warm: dropping the page cache was not possible or not asked for"
    )
    parts = [
        "# Benchmarks",
        "",
        "<!-- Generated by scripts/bench; re-run it rather than editing by hand. -->",
        "",
        f"gitmv next to dvc and git-lfs on the same generated workloads.  Each number is the "
        f"median of {ctx.reps} repetition(s); every repetition of every tool starts from a fresh "
        "repository whose setup is not timed, and the tools take turns within a repetition.  "
        "“peak RSS” is the largest resident set of any process in the tool's process tree; "
        "“read” is the bytes read by the whole tree (rchar, page-cache hits included).  "
        "“gitmv ÷ tool” below 1 means gitmv is faster.",
        "",
        f"Other processes on the machine: before each timed step the harness waits (up to "
        f"{ctx.args.quiet_wait:.0f} s) until they use less than {CONTENDED_CORES} cores, and "
        f"repeats a repetition (up to {ctx.args.retries} times) when they used more than that "
        f"while it ran.  This run repeated {ctx.retried} repetition(s); {ctx.contended} kept "
        "run(s) were still contended and carry a * in the tables.",
        "",
        f"Run: {_dt.datetime.now(_dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}, "
        f"{elapsed / 60:.1f} min in all.  Cache: {cache}.  Sizes: "
        f"{'quick (smoke test)' if ctx.args.quick else 'full'}: one {s.big_label()} file; "
        f"{s.dir_label()}.",
        "",
        "## Machine",
        "",
        render_table(["", "machine"], [list(x) for x in machine]),
        "",
        "## Versions",
        "",
        render_table(["", "version"], [list(x) for x in vers]),
        "",
        "## Targets",
        "",
    ]
    trows = [
        [f"{i}. {sec.key}", t.what, t.measured, t.verdict]
        for i, sec in enumerate(sections, 1)
        for t in sec.targets
    ]
    parts += [render_table(["workload", "target", "measured", "result"], trows), ""]
    parts += ["## Results", ""]
    for i, sec in enumerate(sections, 1):
        parts += [f"### {i}. {sec.title}", ""]
        for caption, headers, rows in sec.tables:
            if caption:
                parts += [f"*{caption}*", ""]
            parts += [render_table(headers, rows, STEP_RIGHT), ""]
        for note in sec.notes:
            parts += [note, ""]
    if ctx.errors:
        parts += ["## Errors", ""]
        for e in ctx.errors:
            parts += ["```", e.strip()[:1500], "```", ""]
    parts += [
        "## Method notes",
        "",
        "- Hermetic environment for every command: temporary HOME with its own .gitconfig "
        "(user, `gc.auto=0`), `GIT_CONFIG_NOSYSTEM=1`, no inherited `GIT_*`/`DVC_*` "
        "variables; dvc with analytics and update checks off and its site cache (state "
        "database) inside the repetition's directory.",
        "- dvc runs in a git repository like a normal user's (`dvc init`, defaults otherwise: "
        "it does not stage its `.dvc` files, `core.autostage` is off); gitmv stages its "
        "pointers; git-lfs stages through `git add`.  All three copy data (no reflink on ext4).",
        "- Inputs are random bytes generated once (`os.urandom`, 8 MiB chunks) and copied into "
        "each fresh repository; the copy is part of the untimed setup.",
        "- Time is wall-clock from spawn to reap of the command (several commands are summed); "
        f"peak RSS is the child's `ru_maxrss` as reported by {rss_method()}; bytes read is "
        "the harness's own `/proc/self/io` "
        "`rchar` growth across the child's lifetime, into which Linux folds every reaped "
        "descendant's counters.",
        "",
        "## Command",
        "",
        "```",
        command,
        "```",
        "",
    ]
    return "\n".join(parts)


def render_stdout(sections: list[Section]) -> str:
    parts = []
    for i, sec in enumerate(sections, 1):
        parts += [f"== {i}. {sec.title}", ""]
        for caption, headers, rows in sec.tables:
            if caption:
                parts.append(f"-- {caption}")
            parts += [render_table(headers, rows, STEP_RIGHT), ""]
        for t in sec.targets:
            parts.append(f"   [{t.verdict:4}] {t.what}: {t.measured}")
        parts.append("")
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# main


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    names = ", ".join(w.name for w in WORKLOADS)
    p = argparse.ArgumentParser(
        prog="scripts/bench",
        description="Benchmark gitmv against dvc and git-lfs; writes docs/benchmarks.md.",
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
    p.add_argument(
        "--work", default=str(ROOT / "bench-work"), help="work dir (default ./bench-work)"
    )
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
    known = {w.name for w in WORKLOADS}
    args.only_set = {x.strip() for x in args.only.split(",") if x.strip()} or known
    if bad := args.only_set - known:
        p.error(f"unknown workload(s) {', '.join(sorted(bad))}; known: {names}")
    all_tools = {"gitmv", "dvc", "git-lfs", "floor"}
    args.tool_set = {x.strip() for x in args.tools.split(",") if x.strip()} or all_tools
    if bad := args.tool_set - all_tools:
        p.error(f"unknown tool(s) {', '.join(sorted(bad))}")
    return args


def _terminate(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _terminate)  # clean up the work dir and the running child
    args = parse_args(argv)
    if args.list:
        for w in WORKLOADS:
            print(f"{w.name:10} {w.help}")
        return 0
    base = QUICK if args.quick else FULL
    sizes = Sizes(
        big_bytes=(args.file_mib << 20) if args.file_mib else base.big_bytes,
        n_dirs=args.dirs or base.n_dirs,
        files_per_dir=args.files_per_dir or base.files_per_dir,
        file_bytes=base.file_bytes,
    )
    entry = os.environ.get("BENCH_ENTRY", "python scripts/bench.py")
    command = " ".join([entry, *map(shlex.quote, argv)])
    started = time.perf_counter()
    ctx = Context(args, sizes)
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
            from benchdoc import kept_tail  # scripts/, where this script runs from

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


if __name__ == "__main__":
    sys.exit(main())
