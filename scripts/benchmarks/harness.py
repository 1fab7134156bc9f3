"""What every workload group stands on: the hermetic environment, running and measuring a
command, waiting for a quiet machine, logging, and the generated inputs.

How it measures
  * Every child runs in one hermetic environment (`hermetic_env`): a temporary HOME with its
    own .gitconfig, GIT_CONFIG_NOSYSTEM=1, no inherited GIT_* / DVC_* / PYTHON* / XDG_*
    variables, dvc analytics and update checks off, dvc's site cache inside the session, fake
    AWS credentials for the S3 server on loopback, gto without emojis or colour.
  * `measure_one` times one child: wall time around fork..wait4 of the child, peak RSS as
    wait4's ru_maxrss (the largest single process of the child's tree), CPU time of the tree,
    and "read": the growth of this process's /proc/self/io rchar across the child's lifetime
    (Linux folds the I/O counters of every reaped descendant into its parent, so it is the bytes
    read by the whole child tree, page-cache hits included).  It also notes how much CPU other
    processes used meanwhile, so that a contended run can be told apart and repeated.
  * `Session.run` is the untimed counterpart: setup commands, which raise SetupError.
  * Inputs are random bytes (os.urandom, written in chunks) generated once under the work dir
    and kept across repetitions, runs and workload groups.

Standard library only, like the whole package (see __init__.py): the tools are found on PATH.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHUNK = 8 << 20  # generation buffer size


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def human_size(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} B"


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


def count_files(path: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(path))


# --------------------------------------------------------------------------------------------
# measuring one child


class BenchError(Exception):
    """A command the benchmark needs failed; the run cannot go on."""


class SetupError(BenchError):
    """An untimed preparation step failed."""


@dataclass
class Measurement:
    seconds: float = 0.0
    maxrss_kib: int = 0
    rchar: int | None = 0
    cpu_seconds: float = 0.0  # user + system time of the child's process tree
    error: str | None = None
    output: str = ""  # (tail of) stdout+stderr of the last command
    foreign_cpu: float = 0.0  # CPU seconds used by other user-space processes meanwhile
    started_quiet: bool = True  # other processes were idle when it started

    @property
    def contended(self) -> bool:
        """Other processes took a noticeable share of the machine during this run."""
        return self.foreign_cpu > max(0.05, CONTENDED_CORES * self.seconds)

    @property
    def ok(self) -> bool:
        return self.error is None

    def checked(self) -> Measurement:
        """This measurement; BenchError when the command failed."""
        if self.error is not None:
            raise BenchError(f"{self.error}\n{self.output.strip()[-3000:]}")
        return self

    def absorb(self, other: Measurement) -> None:
        self.seconds += other.seconds
        self.maxrss_kib = max(self.maxrss_kib, other.maxrss_kib)
        if self.rchar is None or other.rchar is None:
            self.rchar = None
        else:
            self.rchar += other.rchar
        self.cpu_seconds += other.cpu_seconds
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


def wait_quiet(limit: float, *, announce: bool = False, sample: float = 0.5) -> bool:
    """Wait up to `limit` seconds until other processes use less than CONTENDED_CORES; True
    when they did.  `announce`: say so even when the first look found the machine quiet."""
    deadline = time.monotonic() + limit
    waited = False
    while True:
        c0 = cpu_snapshot()
        time.sleep(sample)
        busy = others_cpu_seconds(c0, cpu_snapshot()) / sample
        if busy < CONTENDED_CORES:
            if waited or announce:
                log("  machine quiet again")
            return True
        if time.monotonic() >= deadline:
            log(f"  other processes still use {busy:.1f} cores; measuring anyway")
            return False
        if not waited:
            log(f"  other processes use {busy:.1f} cores; waiting for quiet …")
            waited = True
        time.sleep(2)


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


def _tail(path: Path, limit: int | None) -> str:
    try:
        with open(path, "rb") as f:
            if limit is not None:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - limit))
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
    f.write(f"{ru.ru_maxrss} {t1 - t0!r} {r1 - r0 if r0 >= 0 and r1 >= 0 else -1} "
            f"{ru.ru_utime + ru.ru_stime!r}\n")
code = os.waitstatus_to_exitcode(st)
sys.exit(code if code >= 0 else 128 - code)
"""


def rss_method() -> str:
    if os.access(GNU_TIME, os.X_OK):
        return "GNU time (`/usr/bin/time -f %M`)"
    return "a Python wrapper's wait4 (smallest value it can show: ~10 MB)"


def measure_one(
    argv: Sequence[str],
    cwd: Path,
    env: dict[str, str],
    log: Path,
    timeout: float,
    tail: int | None = 1500,
) -> Measurement:
    """Run argv once; wall time from spawn to reap, peak RSS, CPU time and bytes read of its
    tree.  Its output goes to `log` (.out); `tail`: how much of it to keep (None: all)."""
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
    # the wrapper's rusage includes every process of the tree it reaped
    cpu = usage.ru_utime + usage.ru_stime
    maxrss = 0
    try:
        fields = stat_path.read_text().strip().splitlines()[-1].split()
        maxrss = int(fields[0])
        if not use_time:  # the wrapper's own start-up is not the tool's
            seconds = float(fields[1])
            rchar = int(fields[2]) if int(fields[2]) >= 0 else None
            cpu = float(fields[3])
    except (OSError, IndexError, ValueError):
        pass
    m = Measurement(
        seconds=seconds,
        maxrss_kib=maxrss,
        rchar=rchar,
        cpu_seconds=cpu,
        output=_tail(out_path, tail),
        foreign_cpu=max(
            0.0, others_cpu_seconds(cpu0, cpu1) - usage.ru_utime - usage.ru_stime
        ),
    )
    if proc.returncode != 0:
        code = proc.returncode
        what = f"killed by signal {-code}" if code < 0 else f"exit {code}"
        if t1 - t0 >= timeout:
            what = f"timed out after {timeout:.0f} s"
        m.error = f"`{shlex.join(argv)}`: {what}"
    return m


# --------------------------------------------------------------------------------------------
# the hermetic environment

GITCONFIG = (
    "[user]\n\tname = gitmv bench\n\temail = bench@example.invalid\n"
    "[init]\n\tdefaultBranch = main\n"
    "[gc]\n\tauto = 0\n"
    "[advice]\n\tdetachedHead = false\n\taddIgnoredFile = false\n"
    "[safe]\n\tdirectory = *\n"
)


def hermetic_env(home: Path) -> dict[str, str]:
    """The environment of every command the benchmark runs, with `home` made for it."""
    for sub in ("config", "cache", "data", "dvc-global", "dvc-system", "tmp"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text(GITCONFIG)
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
        # dvc keeps its state database in a "site cache" keyed by repo path; tools.Dvc puts it
        # in each repetition's directory instead
        DVC_SITE_CACHE_DIR=str(home / "dvc-site"),
        # the S3 rows talk to moto on loopback
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        GTO_EMOJIS="false",
        NO_COLOR="1",
        COLUMNS="200",
    )
    # gitmv's own venv first, as scripts/bench sets it, also when run without scripts/bench
    path = env.get("PATH", os.defpath)
    venv_bin = str(ROOT / ".venv" / "bin")
    if os.path.isdir(venv_bin) and path.split(os.pathsep)[0] != venv_bin:
        path = os.pathsep.join([venv_bin, path])
    env["PATH"] = path
    return env


class Session:
    """One run of a workload group: a fresh directory under the work dir, the hermetic HOME in
    it, the commands run there, and the inputs kept beside it in `work/inputs`."""

    def __init__(
        self, work: Path, prefix: str, *, keep: bool = False, timeout: float = 1800
    ) -> None:
        self.work = work.resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.inputs = self.work / "inputs"
        self.keep = keep
        self.timeout = timeout
        self.session = Path(tempfile.mkdtemp(prefix=prefix, dir=self.work))
        self.home = self.session / "home"
        self.env = hermetic_env(self.home)

    def run(
        self,
        argv: Sequence[str],
        cwd: Path,
        env: dict[str, str] | None = None,
        *,
        stdin: bytes | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[bytes]:
        """Untimed command; with `check`, raises SetupError when it fails."""
        try:
            cp = subprocess.run(
                list(argv),
                cwd=cwd,
                env=env or self.env,
                input=stdin,
                stdin=None if stdin is not None else subprocess.DEVNULL,
                capture_output=True,
                timeout=self.timeout,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise SetupError(f"`{shlex.join(argv)}`: {e}") from e
        if check and cp.returncode != 0:
            tail = (cp.stdout + cp.stderr).decode("utf-8", "replace").strip()[-800:]
            raise SetupError(f"`{shlex.join(argv)}` exit {cp.returncode}: {tail}")
        return cp

    def measure(
        self,
        argv: Sequence[str],
        cwd: Path,
        env: dict[str, str] | None = None,
        *,
        log: Path | None = None,
        tail: int | None = 1500,
    ) -> Measurement:
        """One timed command (measure_one) in this session's environment."""
        log = log or self.session / "measure.log"
        return measure_one(argv, cwd, env or self.env, log, self.timeout, tail)

    def cleanup(self, path: Path) -> None:
        if not self.keep:
            remove_tree(path)

    def close(self) -> None:
        if self.keep:
            log(f"kept {self.session}")
        else:
            remove_tree(self.session)

    # inputs (generated once, kept) --------------------------------------------------------
    def random_file(self, size: int) -> Path:
        """A file of `size` random bytes."""
        path = self.inputs / f"file-{size}.bin"
        if not path.exists():
            log(f"generating {path.name} ({human_size(size)}) …")
            self.inputs.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part")
            with open(tmp, "wb") as f:
                left = size
                while left:
                    n = min(CHUNK, left)
                    f.write(os.urandom(n))
                    left -= n
            tmp.rename(path)
        return path

    def random_tree(self, n_files: int, per_dir: int, file_bytes: int) -> Path:
        """A directory of `n_files` random files of `file_bytes` each, `per_dir` to a
        sub-directory: data/d000/f0000.bin, …"""
        n_dirs = -(-n_files // per_dir)
        name = f"dir-{n_dirs}x{per_dir}x{file_bytes}"
        if n_files != n_dirs * per_dir:
            name += f"-{n_files}"
        path = self.inputs / name
        if not path.exists():
            log(f"generating {name} ({n_files:,} files × {human_size(file_bytes)}) …")
            tmp = path.with_name(name + ".part")
            remove_tree(tmp)
            for i in range(n_files):
                sub = tmp / "data" / f"d{i // per_dir:03d}"
                sub.mkdir(parents=True, exist_ok=True)
                (sub / f"f{i % per_dir:04d}.bin").write_bytes(os.urandom(file_bytes))
            tmp.rename(path)
        return path / "data"


def copy_in(src: Path, dst: Path) -> Path:
    """Copy an input (a file or a tree) to `dst`, data only."""
    if src.is_dir():
        shutil.copytree(src, dst, copy_function=shutil.copyfile)
    else:
        shutil.copyfile(src, dst)
    return dst
