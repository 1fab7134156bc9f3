"""Storage benchmarks (issue 13): what a second push adds to a store, and the per-file cost
of add / status / push / pull from 10,000 to 1,000,000 files; gitmv beside dvc (and git-lfs
where it applies) in one run.  `scripts/bench --storage [--only dedup-local,dedup-s3,scale]`.

dedup   One repository per tool and store; a base version is added, committed and pushed
        (untimed), then each change below is added, committed and pushed (timed).  "Growth" is
        what the store grew by on that push: the bytes of the store directory's files (a
        directory store; git-lfs's objects under the bare origin's lfs/objects, pushed through
        git-lfs's own file transfer), or the sizes of the objects listed under the tool's
        prefix of the bucket (S3 on moto, where each push's requests are counted as well).
        The changes, in this order, to one file `model.bin`:
          checkpoint  128 tensors (blocks of random float32 bits) of which 13 are rewritten
          append      the base file with 1 MiB appended
          insert      the base file with 1 MiB inserted at its start
        and, in a second repository, one file of the 20,000 x 4 KiB dataset rewritten.
        "Changed" is the number of bytes that differ from what the store already holds.
scale   N files x 1 KiB (1,000 to a directory) for N = 10,000 and 100,000 (1,000,000 with
        --scale-1m; `--scale N,N,...` for other counts): `add`, `status` with nothing changed
        (after the commit), `push` to a directory store (layout 2, packs), `pull` into a fresh
        clone, `status` there (the first one after a pull), `checkout` of the deleted
        directory; seconds, µs per file and peak RSS.  Then one file of the N is rewritten,
        added, committed and pushed ("push 1 changed"): the bytes the store grew by, against
        the size of the directory's manifest (which names every file).

Each timed command runs through harness.measure_one (wall time, peak RSS of the tree).  The
page cache stays warm; setup commands are untimed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.harness import CHUNK, BenchError, Session, copy_in, human_size, log
from benchmarks.report import fmt_bytes, replace_section
from benchmarks.s3 import S3Server, describe

BEGIN = "<!-- bench_storage: begin -->"
END = "<!-- bench_storage: end -->"
JOBS = 16
BUCKET = "bench"
GROUPS = ("dedup-local", "dedup-s3", "scale")


@dataclass(frozen=True)
class Sizes:
    big: int  # the model file
    tensors: int  # the checkpoint's blocks
    changed_tensors: int
    edit: int  # bytes appended / inserted
    files: int  # the dataset's files (4 KiB)
    scale: tuple[int, ...]


FULL = Sizes(big=1 << 30, tensors=128, changed_tensors=13, edit=1 << 20, files=20_000,
             scale=(10_000, 100_000))
QUICK = Sizes(big=16 << 20, tensors=128, changed_tensors=13, edit=1 << 20, files=2_000,
              scale=(1_000, 3_000))


class Ctx(Session):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(Path(args.work), "storage-", keep=args.keep)
        self.args = args
        self.sizes = QUICK if args.quick else FULL
        self.failures: list[str] = []  # "what: why" of a tool whose rows could not be taken
        if args.scale_1m:
            self.sizes = Sizes(**{**self.sizes.__dict__,
                                  "scale": (*self.sizes.scale, 1_000_000)})
        if getattr(args, "scale", None):
            counts = tuple(int(x.replace("_", "")) for x in args.scale.split(",") if x.strip())
            self.sizes = Sizes(**{**self.sizes.__dict__, "scale": counts})


# --- the tools -------------------------------------------------------------------------------
@dataclass
class Repo:
    """A tool's repository and where it pushes."""

    tool: str
    path: Path
    store: Path | str  # a directory, or the bucket prefix
    origin: Path  # bare git repository (git-lfs pushes its objects there)


def _init(ctx: Ctx, tool: str, base: Path, s3: S3Server | None) -> Repo:
    repo, origin = base / "repo", base / "origin.git"
    repo.mkdir(parents=True)
    ctx.run(["git", "init", "-q", "--bare", str(origin)], base)
    ctx.run(["git", "init", "-q"], repo)
    ctx.run(["git", "remote", "add", "origin", str(origin)], repo)
    prefix = f"{base.name}/"
    store: Path | str = prefix if s3 else base / "store"
    url = f"s3://{BUCKET}/{base.name}" if s3 else str(base / "store")
    if tool == "gitmv":
        ctx.run(["git", "mvm", "init", "-q", "--no-hooks"], repo)
        extra = ["--endpoint-url", s3.endpoint] if s3 else []
        # store layout 2 (packs, content-defined chunks): what sends only what changed
        ctx.run(["git", "mvm", "remote", "add", "store", url, "--default", "--packs", *extra],
                repo)
    elif tool == "dvc":
        ctx.run(["dvc", "init", "-q"], repo)
        ctx.run(["dvc", "remote", "add", "-d", "store", url], repo)
        if s3:
            ctx.run(["dvc", "remote", "modify", "store", "endpointurl", s3.endpoint], repo)
    else:  # git-lfs: its objects go to the bare origin (git-lfs's standalone file transfer)
        ctx.run(["git", "lfs", "install", "--local"], repo)
        ctx.run(["git", "lfs", "track", "*.bin"], repo)
        store = origin / "lfs" / "objects"
    return Repo(tool, repo, store, origin)


def _commit(ctx: Ctx, r: Repo, paths: list[str]) -> None:
    """Track `paths` and commit (untimed)."""
    if r.tool == "gitmv":
        ctx.run(["git", "mvm", "add", "-q", *paths], r.path)
    elif r.tool == "dvc":
        ctx.run(["dvc", "add", "-q", *paths], r.path)
    ctx.run(["git", "add", "-A"], r.path)
    ctx.run(["git", "commit", "-q", "-m", "version"], r.path)


def _push_cmd(tool: str) -> list[str]:
    return {"gitmv": ["git", "mvm", "push", "-q", "-j", str(JOBS)],
            "dvc": ["dvc", "push", "-q", "-j", str(JOBS)],
            "git-lfs": ["git", "push", "-q", "origin", "main"]}[tool]


def _pull_cmd(tool: str) -> list[str]:
    return {"gitmv": ["git", "mvm", "pull", "-q", "-j", str(JOBS)],
            "dvc": ["dvc", "pull", "-q", "-j", str(JOBS)]}[tool]


def _store_bytes(r: Repo, s3: S3Server | None) -> int:
    if isinstance(r.store, str):
        assert s3 is not None
        return s3.bytes_under(BUCKET, r.store)
    return sum(os.lstat(os.path.join(d, f)).st_size
               for d, _, fs in os.walk(r.store) for f in fs)


# --- dedup -----------------------------------------------------------------------------------
@dataclass
class Growth:
    workload: str
    store: str
    tool: str
    changed: int  # bytes that differ from what the store holds
    grown: int
    seconds: float
    requests: Counter[str] | None = field(default=None)


def _random_blocks(f: object, n: int) -> None:
    left = n
    while left:
        k = min(CHUNK, left)
        f.write(os.urandom(k))  # type: ignore[attr-defined]
        left -= k


def _variants(sz: Sizes) -> list[tuple[str, str, int, Callable[[Path, Path], None]]]:
    """(name, description, bytes changed, write(base, target)) of the model file's changes."""
    block = sz.big // sz.tensors
    step = sz.tensors // sz.changed_tensors

    def checkpoint(base: Path, out: Path) -> None:
        shutil.copyfile(base, out)
        with open(out, "r+b") as f:
            for i in range(sz.changed_tensors):
                f.seek(i * step * block)
                _random_blocks(f, block)

    def append(base: Path, out: Path) -> None:
        shutil.copyfile(base, out)
        with open(out, "ab") as f:
            _random_blocks(f, sz.edit)

    def insert(base: Path, out: Path) -> None:
        with open(out, "wb") as f, open(base, "rb") as src:
            _random_blocks(f, sz.edit)
            shutil.copyfileobj(src, f, CHUNK)

    big = human_size(sz.big)
    return [
        ("checkpoint", f"{big} checkpoint of {sz.tensors} tensors, {sz.changed_tensors} "
         "changed", sz.changed_tensors * block, checkpoint),
        ("append", f"{human_size(sz.edit)} appended to a {big} file", sz.edit, append),
        ("insert", f"{human_size(sz.edit)} inserted at the start of a {big} file", sz.edit,
         insert),
    ]


def _timed_push(ctx: Ctx, r: Repo, s3: S3Server | None) -> tuple[float, Counter[str] | None]:
    mark = s3.mark() if s3 else 0
    m = ctx.measure(_push_cmd(r.tool), r.path).checked()
    return m.seconds, (s3.requests(mark) if s3 else None)


def dedup(ctx: Ctx, store: str, tools: list[str]) -> list[Growth]:
    out: list[Growth] = []
    server = S3Server(ctx.env, ctx.session / "moto.log") if store == "s3" else None
    with server or nullcontext() as s3:
        if s3 is not None:
            s3.create_bucket(BUCKET)
        for tool in tools:
            log(f"storage: dedup on {store}, {tool} …")
            try:
                _dedup_tool(ctx, store, tool, s3, out)
            except BenchError as e:  # the other tools' rows still count
                log(f"storage: dedup on {store}, {tool} failed: {e}")
                ctx.failures.append(f"dedup on {store}, {tool}: {str(e).strip()[-300:]}")
    return out


def _dedup_tool(ctx: Ctx, store: str, tool: str, s3: S3Server | None, out: list[Growth]
                ) -> None:
    """One tool's rows of `dedup`, each printed as soon as it is measured."""
    sz = ctx.sizes
    base_file = ctx.random_file(sz.big)
    data = ctx.random_tree(sz.files, 200, 4096)
    r = _init(ctx, tool, ctx.session / f"{store}-{tool}-model", s3)
    copy_in(base_file, r.path / "model.bin")
    _commit(ctx, r, ["model.bin"])
    ctx.run(_push_cmd(tool), r.path)
    for name, _what, changed, write in _variants(sz):
        before = _store_bytes(r, s3)
        (r.path / "model.bin").unlink()
        write(base_file, r.path / "model.bin")
        _commit(ctx, r, ["model.bin"])
        seconds, requests = _timed_push(ctx, r, s3)
        _add(ctx, out, Growth(name, store, tool, changed, _store_bytes(r, s3) - before,
                         seconds, requests))
    ctx.cleanup(r.path.parent)
    r = _init(ctx, tool, ctx.session / f"{store}-{tool}-data", s3)
    copy_in(data, r.path / "data")
    _commit(ctx, r, ["data"])
    ctx.run(_push_cmd(tool), r.path)
    before = _store_bytes(r, s3)
    one = r.path / "data" / "d000" / "f0000.bin"
    one.unlink()
    one.write_bytes(os.urandom(4096))
    _commit(ctx, r, ["data"])
    seconds, requests = _timed_push(ctx, r, s3)
    _add(ctx, out, Growth("dataset", store, tool, 4096, _store_bytes(r, s3) - before,
                     seconds, requests))
    ctx.cleanup(r.path.parent)


def _add(ctx: Ctx, out: list[Growth], g: Growth) -> None:
    out.append(g)
    print(dedup_lines([g], ctx.sizes)[-1], flush=True)


# --- scale -----------------------------------------------------------------------------------
@dataclass
class Step:
    files: int
    tool: str
    step: str
    seconds: float
    rss_mb: float
    cpu: float = 0.0  # user + system seconds of the command's process tree
    grown: int | None = None  # bytes the store grew by (the one-file push)
    manifest: int | None = None  # bytes of the directory's manifest


def scale(ctx: Ctx, tools: list[str]) -> list[Step]:
    out: list[Step] = []
    for n in ctx.sizes.scale:
        data = ctx.random_tree(n, 1000, 1024)
        for tool in tools:
            if tool == "dvc" and n > 100_000:
                continue  # hours at a million files
            log(f"storage: scale {n:,} files, {tool} …")
            try:
                _scale_tool(ctx, n, tool, data, out)
            except BenchError as e:  # the other rows still count
                log(f"storage: scale {n:,} files, {tool} failed: {e}")
                ctx.failures.append(f"scale {n:,} files, {tool}: {str(e).strip()[-300:]}")
    return out


def _scale_tool(ctx: Ctx, n: int, tool: str, data: Path, out: list[Step]) -> None:
    """One tool's rows of `scale` at `n` files, each printed as soon as it is measured."""
    base = ctx.session / f"scale-{tool}-{n}"
    r = _init(ctx, tool, base, None)
    copy_in(data, r.path / "data")
    os.sync()

    def step(name: str, argv: list[str], cwd: Path) -> None:
        m = ctx.measure(argv, cwd).checked()
        out.append(Step(n, tool, name, m.seconds, m.maxrss_kib / 1024, m.cpu_seconds))
        print(scale_lines(out[-1:])[-1], flush=True)

    step("add", ["git", "mvm", "add", "-q", "data"] if tool == "gitmv" else
         ["dvc", "add", "-q", "data"], r.path)
    ctx.run(["git", "add", "-A"], r.path)
    ctx.run(["git", "commit", "-q", "-m", "data"], r.path)
    ctx.run(["git", "push", "-q", "origin", "main"], r.path)
    step("status", ["git", "mvm", "status"] if tool == "gitmv" else ["dvc", "status"], r.path)
    step("push", _push_cmd(tool), r.path)
    clone = base / "clone"
    ctx.run(["git", "clone", "-q", str(r.origin), str(clone)], base)
    step("pull", _pull_cmd(tool), clone)
    got = sum(len(fs) for _, _, fs in os.walk(clone / "data"))
    if got != n:
        raise BenchError(f"{tool} pull restored {got} of {n} files")
    step("status after pull", ["git", "mvm", "status"] if tool == "gitmv" else
         ["dvc", "status"], clone)
    shutil.rmtree(clone / "data")
    step("checkout", ["git", "mvm", "checkout", "-q"] if tool == "gitmv" else
         ["dvc", "checkout", "-q"], clone)
    got = sum(len(fs) for _, _, fs in os.walk(clone / "data"))
    if got != n:
        raise BenchError(f"{tool} checkout restored {got} of {n} files")
    ctx.cleanup(clone)
    # one file of the n rewritten: what the push of the new version adds to the store
    before = _store_bytes(r, None)
    one = r.path / "data" / "d000" / "f0000.bin"
    one.unlink()
    one.write_bytes(os.urandom(1024))
    _commit(ctx, r, ["data"])
    m = ctx.measure(_push_cmd(tool), r.path).checked()
    size = None
    if tool == "gitmv":
        ptr = (r.path / "data.mvm").read_text()
        size = next((int(line.split("=")[1]) for line in ptr.splitlines()
                     if line.startswith("manifest_size")), None)
    out.append(Step(n, tool, "push 1 changed", m.seconds, m.maxrss_kib / 1024, m.cpu_seconds,
                    _store_bytes(r, None) - before, size))
    print(scale_lines(out[-1:])[-1], flush=True)
    ctx.cleanup(base)


# --- report ----------------------------------------------------------------------------------
def dedup_lines(rows: list[Growth], sz: Sizes) -> list[str]:
    what = {name: desc for name, desc, _, _ in _variants(sz)}
    what["dataset"] = f"1 file of {sz.files:,} × 4 KiB rewritten"
    lines = ["| change | store | tool | changed | store grew by | ÷ changed | push s | requests |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    for g in rows:
        req = describe(g.requests) if g.requests is not None else ""
        lines.append(f"| {what[g.workload]} | {g.store} | {g.tool} | {fmt_bytes(g.changed)} "
                     f"| {fmt_bytes(g.grown)} | {g.grown / g.changed:,.1f}× | {g.seconds:.2f} "
                     f"| {req} |")
    return lines


def scale_lines(rows: list[Step]) -> list[str]:
    lines = ["| files | tool | step | s | µs per file | CPU µs per file | peak RSS "
             "| store grew by |", "|---:|---|---|---:|---:|---:|---:|---|"]
    for s in rows:
        grown = ""
        if s.grown is not None:
            grown = fmt_bytes(s.grown)
            if s.manifest:
                grown += f" (manifest {fmt_bytes(s.manifest)})"
        per_file = cpu = ""
        if s.grown is None:
            per_file = f"{s.seconds / s.files * 1e6:,.0f}"
            cpu = f"{s.cpu / s.files * 1e6:,.0f}"
        lines.append(f"| {s.files:,} | {s.tool} | {s.step} | {s.seconds:.2f} | "
                     f"{per_file} | {cpu} | {s.rss_mb:,.0f} MB | {grown} |")
    return lines


def write(out: Path, args: argparse.Namespace, sz: Sizes, growth: list[Growth],
          steps: list[Step], failures: list[str], minutes: float) -> None:
    lines = [BEGIN, "## Storage: what a push adds, and scale (`scripts/benchmarks/storage.py`)",
             "", f"{minutes:.1f} min in all; groups run: {args.only}; page cache warm; "
             f"{JOBS} parallel jobs.  Method: the module's docstring.", ""]
    if growth:
        lines += ["### Second push after a small change", "", *dedup_lines(growth, sz), ""]
    if steps:
        lines += ["### Per-file cost at scale (files of 1 KiB)", "", *scale_lines(steps), ""]
    lines += [f"Failed: {f}" for f in failures] + ([""] if failures else [])
    lines += ["Command: `scripts/bench --storage` (`--scale-1m` adds 1,000,000 files; "
              "`--scale 10000,100000,1000000` sets the counts).", END]
    replace_section(out, BEGIN, END, lines)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    ctx = Ctx(args)
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    if bad := only - set(GROUPS):
        raise BenchError(f"unknown group(s) {', '.join(sorted(bad))}; known: {', '.join(GROUPS)}")
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    growth: list[Growth] = []
    steps: list[Step] = []
    try:
        for store in ("local", "s3"):
            if f"dedup-{store}" in only:
                growth += dedup(ctx, store,
                                [t for t in tools if store == "local" or t != "git-lfs"])
        if "scale" in only:
            steps = scale(ctx, [t for t in tools if t != "git-lfs"])
    finally:
        ctx.close()
    if not args.no_write:
        write(Path(args.out), args, ctx.sizes, growth, steps, ctx.failures,
              (time.perf_counter() - start) / 60)
    for f in ctx.failures:
        log(f"storage: failed: {f}")
    return 1 if ctx.failures else 0
