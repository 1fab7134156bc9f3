#!/usr/bin/env python3
"""Chaos run: three clones of one bare origin share one store; seeded random operations, some
killed with SIGKILL in the middle; after every step, the invariant.

The invariant (what gitmv promises):
  1. every pointer in every commit reachable from any ref of origin names bytes that the store
     returns with the right sha256 (a directory: its manifest and every file it lists);
  2. every pointer committed in a clone (reachable from its refs or HEAD) names bytes that are
     in that clone's cache with the right sha256, or on the store;
  3. no gitmv command dies with a traceback ("unexpected … this is a bug in gitmv").
Operations: add / modify a model or a dataset, commit, branch, checkout, merge, rebase,
cherry-pick, push, pull, fetch, `git mvm push / pull / gc / gc --remote`, a fresh clone (now
and then a shallow one), time passing (objects in the caches and a directory store aged past
gc's grace period), a push racing a `gc --remote`, and kill -9 during push / pull / add / gc.
Failing git operations (a rejected push, a merge conflict) are part of the game: they are
aborted and the run goes on; only the invariant decides.

On a violation it prints the seed and the step list, then replays shorter lists in fresh
worlds (delta debugging, time-boxed) and prints the shortest one that still fails.

    scripts/chaos [--seed N] [--seeds K] [--steps K] [--store dir|s3] [--time-limit S] [--loose]

The store keeps packs and chunks (store layout 2, the default); `--loose` runs it on loose
objects (layout 1, `remote add --no-packs`).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLONES = ("a", "b", "c")
BRANCHES = ("main", "exp", "fix")
MODELS = ("models/m0.pt", "models/m1.pt", "models/m2.pt")
DATASETS = ("data/d0", "data/d1")
ZERO = "0" * 40
OPS: dict[str, int] = {  # operation: weight
    "add-model": 6, "add-dataset": 3, "commit": 8, "branch": 2, "checkout": 3, "merge": 2,
    "rebase": 1, "cherry-pick": 1, "push": 6, "pull": 4, "fetch": 1, "mvm-push": 2,
    "mvm-pull": 2, "gc": 3, "gc-remote": 4, "reclone": 2, "age": 4, "race": 3,
    "kill-push": 2, "kill-pull": 1, "kill-add": 1, "kill-gc": 1, "kill-gc-remote": 1,
}
BUG_MARKERS = ("this is a bug in gitmv", "Traceback (most recent call last)")


@dataclass(frozen=True)
class Step:
    """One operation, concrete enough to replay: `pick` chooses among what exists then."""

    op: str
    clone: str
    pick: float
    seed: int
    kill_after: float = 0.0

    def __str__(self) -> str:
        kill = f" (kill -9 after {self.kill_after:.2f} s)" if self.kill_after else ""
        return f"{self.op} in {self.clone} [pick {self.pick:.3f}, seed {self.seed}]{kill}"


def make_steps(seed: int, count: int) -> list[Step]:
    rng = random.Random(seed)
    names, weights = zip(*OPS.items(), strict=True)
    steps = []
    for _ in range(count):
        op = rng.choices(names, weights)[0]
        kill = round(rng.uniform(0.05, 1.2), 2) if op.startswith("kill-") else 0.0
        steps.append(Step(op, rng.choice(CLONES), rng.random(), rng.randrange(1 << 30), kill))
    return steps


class Result:
    def __init__(self, cmd: Sequence[str], rc: int, out: str) -> None:
        self.cmd, self.rc, self.out = list(cmd), rc, out


@dataclass
class World:
    """The temp directory: origin.git, the store, clones a/b/c, a HOME; and how to run in it."""

    base: Path
    store_kind: str
    store_url: str
    env: dict[str, str]
    log: list[str] = field(default_factory=list)
    bugs: list[str] = field(default_factory=list)
    verified: set[str] = field(default_factory=set)

    @property
    def origin(self) -> Path:
        return self.base / "origin.git"

    def clone_dir(self, name: str) -> Path:
        return self.base / name

    # --- running commands -------------------------------------------------------------------
    def run(self, cmd: Sequence[str], cwd: Path, kill_after: float = 0.0,
            timeout: float = 120.0) -> Result:
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=kill_after or timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL if kill_after else signal.SIGTERM)
            out, _ = proc.communicate()
            if not kill_after:
                self.bugs.append(f"`{' '.join(cmd)}` hung for {timeout:.0f} s in {cwd.name}")
            text = out.decode(errors="replace")
            return Result(cmd, -9, text)
        text = out.decode(errors="replace")
        if any(marker in text for marker in BUG_MARKERS):
            self.bugs.append(f"`{' '.join(cmd)}` in {cwd.name} crashed:\n{text[-3000:]}")
        return Result(cmd, proc.returncode, text)

    def git(self, clone: str, *args: str, kill_after: float = 0.0) -> Result:
        return self.run(["git", *args], self.clone_dir(clone), kill_after)

    def mvm(self, clone: str, *args: str, kill_after: float = 0.0) -> Result:
        return self.run(["git", "mvm", *args], self.clone_dir(clone), kill_after)

    def lines(self, clone: str, *args: str) -> list[str]:
        return [ln for ln in self.git(clone, *args).out.splitlines() if ln.strip()]

    # --- the store, read the way a fresh clone would ----------------------------------------
    def open_store(self):  # type: ignore[no-untyped-def]
        """The store, opened in this process with the clones' credentials."""
        from gitmv.remotes.base import open_store

        settings: dict[str, object] = {}
        if self.store_kind == "s3":
            settings["endpoint_url"] = self.env["CHAOS_S3_ENDPOINT"]
            for key, value in self.env.items():
                if key.startswith("AWS_"):
                    os.environ[key] = value
        from gitmv.objects.cache import Cache
        from gitmv.transfer.packed import PackedStore

        # read through its indexes (layout 2), or its loose objects (layout 1, --loose)
        store = open_store("chaos", self.store_url, settings)
        scratch = tempfile.mkdtemp(prefix="chaos-view-", dir=self.base)
        return PackedStore(store, scratch, Cache(scratch, scratch), None, None)


def hermetic_env(base: Path) -> dict[str, str]:
    home = base / "home"
    home.mkdir(parents=True)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Chaos\n\temail = chaos@example.com\n"
        "[init]\n\tdefaultBranch = main\n[gc]\n\tauto = 0\n[advice]\n\tdetachedHead = false\n"
        "[merge]\n\tconflictStyle = merge\n[pull]\n\trebase = false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "AWS_"))}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0",
               LC_ALL="C.UTF-8", GIT_EDITOR="true", AWS_ACCESS_KEY_ID="chaos",
               AWS_SECRET_ACCESS_KEY="chaos", AWS_DEFAULT_REGION="us-east-1",
               AWS_EC2_METADATA_DISABLED="true")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def start_moto(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = shutil.which("moto_server", path=env["PATH"]) or "moto_server"
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("chaos: moto_server did not start")


def make_world(base: Path, store_kind: str, moto_endpoint: str | None) -> World:
    env = hermetic_env(base)
    if store_kind == "s3":
        assert moto_endpoint
        env["CHAOS_S3_ENDPOINT"] = moto_endpoint
        bucket = f"chaos-{os.getpid()}-{int(time.time() * 1000) % 10**9}"
        import boto3

        boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1",
                     aws_access_key_id="chaos", aws_secret_access_key="chaos"
                     ).create_bucket(Bucket=bucket)
        url = f"s3://{bucket}/objects"
    else:
        url = str(base / "store")
    world = World(base, store_kind, url, env)
    world.run(["git", "init", "-q", "--bare", str(world.origin)], base)
    a = world.clone_dir("a")
    a.mkdir()
    world.git("a", "init", "-q")
    world.mvm("a", "init", "-q")
    remote = ["remote", "add", "store", url, "--default"]
    if os.environ.get("CHAOS_LOOSE"):  # (the default: packs, store layout 2)
        remote.append("--no-packs")
    if store_kind == "s3":
        remote += ["--endpoint-url", moto_endpoint or ""]
    must(world.mvm("a", *remote))
    world.git("a", "add", "-A")
    must(world.git("a", "commit", "-q", "-m", "gitmv set up"))
    world.git("a", "remote", "add", "origin", str(world.origin))
    must(world.git("a", "push", "-q", "-u", "origin", "main"))
    for name in CLONES[1:]:
        must(world.run(["git", "mvm", "clone", "-q", str(world.origin), name], base))
    return world


def must(res: Result) -> None:
    if res.rc != 0:
        raise SystemExit(f"chaos: set-up step `{' '.join(res.cmd)}` failed:\n{res.out}")


# --- the operations ------------------------------------------------------------------------
def payload(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def current_branch(world: World, clone: str) -> str:
    out = world.git(clone, "symbolic-ref", "-q", "--short", "HEAD").out.strip()
    return out or "HEAD"


def other_refs(world: World, clone: str) -> list[str]:
    return sorted(set(world.lines(clone, "for-each-ref", "--format=%(refname:short)",
                                  "refs/heads", "refs/remotes/origin"))
                  - {current_branch(world, clone), "origin/HEAD", "origin"})


def choose(items: Sequence[str], pick: float) -> str | None:
    return items[int(pick * len(items)) % len(items)] if items else None


def settle(world: World, clone: str) -> None:
    """Leave no operation half done: abort a conflicted merge, rebase or cherry-pick."""
    for args in (("merge", "--abort"), ("rebase", "--abort"), ("cherry-pick", "--abort")):
        world.git(clone, *args)
    world.git(clone, "reset", "-q", "--merge")


def do_step(world: World, step: Step) -> None:
    c, rng = step.clone, random.Random(step.seed)
    if not world.clone_dir(c).exists():
        reclone(world, c, shallow=False)
    op = step.op
    if op == "add-model":
        path = choose(MODELS, step.pick) or MODELS[0]
        dest = world.clone_dir(c) / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(payload(step.seed, rng.randrange(1, 48 << 10)))
        if world.mvm(c, "add", "-q", path).rc == 0 and rng.random() < 0.6:
            world.git(c, "commit", "-q", "-m", f"chaos {step.seed}")
    elif op == "add-dataset":
        path = choose(DATASETS, step.pick) or DATASETS[0]
        root = world.clone_dir(c) / path
        root.mkdir(parents=True, exist_ok=True)
        for i in range(rng.randrange(1, 4)):
            (root / f"f{rng.randrange(6)}.bin").write_bytes(payload(step.seed + i, 2000))
        if world.mvm(c, "add", "-q", path).rc == 0 and rng.random() < 0.6:
            world.git(c, "commit", "-q", "-m", f"chaos {step.seed}")
    elif op == "commit":
        world.git(c, "commit", "-q", "-m", f"chaos {step.seed}")
    elif op == "branch":
        name = choose(BRANCHES, step.pick) or "exp"
        if world.git(c, "checkout", "-q", "-b", name).rc != 0:
            world.git(c, "checkout", "-q", name)
    elif op == "checkout":
        target = choose(other_refs(world, c), step.pick)
        if target:
            local = target.removeprefix("origin/")
            if world.git(c, "checkout", "-q", local).rc != 0:
                world.git(c, "checkout", "-q", target)
    elif op in ("merge", "rebase", "cherry-pick"):
        target = choose(other_refs(world, c), step.pick)
        if target:
            if op == "cherry-pick":
                commits = world.lines(c, "rev-list", "--no-merges", "-n", "8", target)
                target = choose(commits, rng.random())
            if target and world.git(c, op, *(["--no-edit"] if op == "merge" else []),
                                    target).rc != 0:
                settle(world, c)
    elif op == "push":
        world.git(c, "push", "-q", "origin", current_branch(world, c))
    elif op == "pull":
        branch = current_branch(world, c)
        if branch != "HEAD" and world.git(c, "pull", "-q", "--no-edit", "origin",
                                          branch).rc != 0:
            settle(world, c)
    elif op == "fetch":
        world.git(c, "fetch", "-q", "origin")
    elif op == "mvm-push":
        world.mvm(c, "push", "-q")
    elif op == "mvm-pull":
        world.mvm(c, "pull", "-q")
    elif op == "gc":
        world.mvm(c, "gc", "-q")
    elif op == "gc-remote":
        world.mvm(c, "gc", "--remote", "-q")
    elif op == "reclone":
        reclone(world, c, shallow=step.pick < 0.5)
    elif op == "age":
        age(world)
    elif op == "race":
        race(world, c, step)
    elif op.startswith("kill-"):
        victim = {"kill-push": ["git", "push", "-q", "origin", current_branch(world, c)],
                  "kill-pull": ["git", "mvm", "pull", "-q"],
                  "kill-add": ["git", "mvm", "add", "-q", choose(MODELS, step.pick) or ""],
                  "kill-gc": ["git", "mvm", "gc", "-q"],
                  "kill-gc-remote": ["git", "mvm", "gc", "--remote", "-q"]}[op]
        if op == "kill-add":
            dest = world.clone_dir(c) / victim[-1]
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(payload(step.seed, 4 << 20))  # big enough to be caught mid-way
        world.run(victim, world.clone_dir(c), kill_after=step.kill_after)
    else:
        raise AssertionError(op)


def reclone(world: World, clone: str, shallow: bool) -> None:
    """A teammate starts over: a fresh `git mvm clone` (sometimes a shallow CI-style clone)."""
    dest = world.clone_dir(clone)
    shutil.rmtree(dest, ignore_errors=True)
    if shallow:
        world.run(["git", "clone", "-q", "--depth", "1", f"file://{world.origin}", clone],
                  world.base)
        if dest.exists():
            world.mvm(clone, "install", "-q")
            world.mvm(clone, "pull", "-q")
    else:
        world.run(["git", "mvm", "clone", "-q", str(world.origin), clone], world.base)


def age(world: World) -> None:
    """Two hours pass for every object in the caches (and a directory store): gc may now
    consider them."""
    then = time.time() - 2 * 3600
    roots = [world.clone_dir(c) / ".git" / "mvm" / "objects" for c in CLONES]
    if world.store_kind == "dir":
        roots.append(Path(world.store_url))
    for root in roots:
        for dirpath, _, files in os.walk(root):
            for name in files:
                try:
                    os.utime(os.path.join(dirpath, name), (then, then))
                except OSError:
                    pass


def race(world: World, clone: str, step: Step) -> None:
    """Another clone pushes while this one runs `gc --remote`, both at once."""
    other = CLONES[(CLONES.index(clone) + 1) % len(CLONES)]
    if not world.clone_dir(other).exists():
        return
    env = world.env
    gc = subprocess.Popen(["git", "mvm", "gc", "--remote", "-q"], cwd=world.clone_dir(clone),
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          start_new_session=True)
    time.sleep(step.pick * 0.5)
    push = world.git(other, "push", "-q", "origin", current_branch(world, other))
    out, _ = gc.communicate(timeout=120)
    text = out.decode(errors="replace")
    if any(marker in text for marker in BUG_MARKERS):
        world.bugs.append(f"`git mvm gc --remote` racing a push crashed:\n{text[-3000:]}")
    del push


# --- the invariant -------------------------------------------------------------------------
def pointers_in(git_args: list[str], cwd: Path, env: dict[str, str], revs: list[str]
                ) -> Iterator[tuple[str, object]]:
    """(blob id, Pointer) for every pointer version the commits `revs` hold."""
    from gitmv.objects.pointer import SUFFIX, Pointer

    log = subprocess.run([*git_args, "-c", "log.showRoot=true", "log", "--format=", "--raw",
                          "-z", "-m", "--no-renames", "--no-abbrev", "--diff-filter=d", *revs,
                          "--", f"*{SUFFIX}"], cwd=cwd, env=env, capture_output=True,
                         check=False).stdout
    fields = log.split(b"\0")
    blobs = {f.split()[3].decode() for f in fields if f.startswith(b":") and len(f.split()) >= 5}
    blobs.discard(ZERO)
    for blob in sorted(blobs):
        data = subprocess.run([*git_args, "cat-file", "blob", blob], cwd=cwd, env=env,
                              capture_output=True, check=False).stdout
        yield blob, Pointer.parse(data, f"pointer blob {blob}")


def objects_of(ptr: object, read: Callable[[str], bytes | None]) -> tuple[set[str], list[str]]:
    """(every object the pointer needs, problems): a directory's manifest and its files."""
    from gitmv.objects import manifest

    oid: str = ptr.oid  # type: ignore[attr-defined]
    if ptr.kind == "file":  # type: ignore[attr-defined]
        return {oid}, []
    data = read(oid)
    if data is None:
        return {oid}, [f"manifest sha256:{oid} is nowhere"]
    return {oid} | {e.oid for e in manifest.parse(data, oid)}, []


def check(world: World, full: bool) -> list[str]:
    """The invariant's violations (empty: all is well)."""
    problems = list(world.bugs)
    world.bugs.clear()
    store = world.open_store()

    def store_bytes(oid: str) -> bytes | None:
        try:
            src, _ = store.open_download(oid, 0)
        except Exception:
            return None
        with src:
            data = src.read()
        return data if hashlib.sha256(data).hexdigest() == oid else None

    def on_store(oids: set[str]) -> set[str]:
        """The oids the store holds with the right bytes (re-read unless known good)."""
        known = oids & world.verified if not full else set()
        present = store.exists_many(sorted(known)) if known else set()
        good = set(present)
        for oid in sorted(oids - good):
            if store_bytes(oid) is not None:
                good.add(oid)
        world.verified |= good
        world.verified -= (known - present)
        return good

    # 1. origin's history is on the store
    needed: dict[str, str] = {}
    for blob, ptr in pointers_in(["git"], world.origin, world.env, ["--all"]):
        oids, bad = objects_of(ptr, store_bytes)
        problems += [f"origin {blob}: {p}" for p in bad]
        for oid in oids:
            needed.setdefault(oid, f"origin's pointer blob {blob}")
    missing = set(needed) - on_store(set(needed))
    problems += [f"sha256:{oid} ({needed[oid]}) is not on the store with its bytes"
                 for oid in sorted(missing)]

    # 2. each clone's committed pointers are in its cache or on the store
    for clone in CLONES:
        root = world.clone_dir(clone)
        if not (root / ".git").exists():
            continue
        cache = root / ".git" / "mvm" / "objects"

        def cached(oid: str, cache: Path = cache) -> bytes | None:
            path = cache / oid[:2] / oid[2:4] / oid
            try:
                data = path.read_bytes()
            except OSError:
                return None
            return data if hashlib.sha256(data).hexdigest() == oid else None

        def anywhere(oid: str, cached: Callable[[str], bytes | None] = cached) -> bytes | None:
            return cached(oid) or store_bytes(oid)

        wanted: dict[str, str] = {}
        for blob, ptr in pointers_in(["git"], root, world.env, ["--all", "HEAD"]):
            oids, bad = objects_of(ptr, anywhere)
            problems += [f"clone {clone} {blob}: {p}" for p in bad]
            for oid in oids:
                wanted.setdefault(oid, f"clone {clone}'s pointer blob {blob}")
        not_cached = {oid for oid in wanted if cached(oid) is None}
        for oid in sorted(not_cached - on_store(not_cached)):
            problems.append(f"sha256:{oid} ({wanted[oid]}) is neither in the cache nor on "
                            "the store")
    return problems


# --- runs, replays, shrinking --------------------------------------------------------------
@dataclass
class Outcome:
    steps_done: int
    violations: list[str]
    failing_step: int | None


def play(steps: Sequence[Step], store_kind: str, moto: str | None, keep: bool,
         full_every: int = 10, verbose: bool = False) -> Outcome:
    base = Path(tempfile.mkdtemp(prefix="gitmv-chaos-"))
    try:
        world = make_world(base, store_kind, moto)
        for i, step in enumerate(steps):
            do_step(world, step)
            violations = check(world, full=(i + 1) % full_every == 0 or i == len(steps) - 1)
            if verbose:
                print(f"  {i + 1:4}. {step}" + (f"  VIOLATION: {violations[0]}"
                                                 if violations else ""), flush=True)
            if violations:
                return Outcome(i + 1, violations, i)
        return Outcome(len(steps), [], None)
    finally:
        if keep:
            print(f"chaos: kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)


def shrink(steps: list[Step], store_kind: str, moto: str | None, budget: float) -> list[Step]:
    """Delta debugging: drop chunks of steps while some violation remains, until the time is
    up or no single step can go. Kill timings make a replay only roughly the same run."""
    deadline = time.monotonic() + budget
    chunk = max(1, len(steps) // 2)
    while chunk >= 1 and time.monotonic() < deadline:
        i, removed = 0, False
        while i < len(steps) and time.monotonic() < deadline:
            trial = steps[:i] + steps[i + chunk:]
            if trial and play(trial, store_kind, moto, keep=False).violations:
                steps, removed = trial, True
            else:
                i += chunk
        if not removed:
            chunk //= 2
    return steps


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--seed", type=int, default=None, help="first seed (default: random)")
    p.add_argument("--seeds", type=int, default=1, help="how many seeds, one after the other")
    p.add_argument("--steps", type=int, default=60, help="operations per seed")
    p.add_argument("--store", choices=("dir", "s3"), default="dir")
    p.add_argument("--time-limit", type=float, default=0,
                   help="stop starting new seeds after this many seconds (0: no limit)")
    p.add_argument("--shrink-time", type=float, default=300,
                   help="seconds to spend shortening a failing step list")
    p.add_argument("--keep", action="store_true", help="keep the temp directories")
    p.add_argument("--loose", action="store_true",
                   help="the store keeps loose objects (store layout 1, remote add --no-packs); "
                   "by default it keeps packs and chunks (layout 2)")
    p.add_argument("-v", "--verbose", action="store_true", help="print every step")
    args = p.parse_args(argv)
    if args.loose:
        os.environ["CHAOS_LOOSE"] = "1"
    first = args.seed if args.seed is not None else random.randrange(1 << 20)
    moto_proc, moto = (None, None)
    if args.store == "s3":
        moto_proc, moto = start_moto(hermetic_env(Path(tempfile.mkdtemp(prefix="chaos-moto-"))))
    start = time.monotonic()
    total_steps = 0
    try:
        for seed in range(first, first + args.seeds):
            if args.time_limit and time.monotonic() - start > args.time_limit:
                break
            steps = make_steps(seed, args.steps)
            t0 = time.monotonic()
            outcome = play(steps, args.store, moto, args.keep, verbose=args.verbose)
            total_steps += outcome.steps_done
            if not outcome.violations:
                print(f"chaos: seed {seed}: {outcome.steps_done} steps, no violation "
                      f"({time.monotonic() - t0:.0f} s)", flush=True)
                continue
            assert outcome.failing_step is not None
            print(f"chaos: seed {seed}: VIOLATION after step {outcome.steps_done}:")
            for v in outcome.violations[:20]:
                print(f"  {v}")
            print("steps:")
            for i, s in enumerate(steps[: outcome.failing_step + 1], 1):
                print(f"  {i:4}. {s}")
            if args.shrink_time > 0:
                short = shrink(list(steps[: outcome.failing_step + 1]), args.store, moto,
                               args.shrink_time)
                print(f"shortest failing list found ({len(short)} steps; replay with "
                      f"--seed {seed} and these steps):")
                for i, s in enumerate(short, 1):
                    print(f"  {i:4}. {s}")
            print(f"chaos: FAILED: seed {seed} (--store {args.store} --steps {args.steps})")
            return 1
    finally:
        if moto_proc is not None:
            moto_proc.terminate()
            moto_proc.wait()
    print(f"chaos: {total_steps} steps, seeds {first}..{seed}, --store {args.store}"
          f"{' --loose' if args.loose else ''}, "
          f"{time.monotonic() - start:.0f} s, violations: 0")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
