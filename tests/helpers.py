"""Shared test helpers: hermetic real git, running gitmv in-process or as a subprocess."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import pkgutil
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, NamedTuple

import pytest

from gitmv import ui
from gitmv.cli import main
from tests.storefiles import DirFiles, delete_object, object_ids, read_object, write_object


def hermetic_env(home: Path) -> dict[str, str]:
    """An environment with no inherited GIT_* variables, a temp HOME and a fixed identity."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="Test",
        GIT_COMMITTER_EMAIL="test@example.com",
        GIT_TERMINAL_PROMPT="0",
        LC_ALL="C.UTF-8",
    )
    # `git mvm` (and the hooks it installs) must find this interpreter's git-mvm script.
    bindir = os.path.dirname(sys.executable)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


# scripts/test runs the core, hooks, transfer and gc tests a second time as a user whose git
# is set up to print and match differently (tests/conftest.py applies it to every test).
HOSTILE = os.environ.get("GITMV_TEST_HOSTILE") == "1"


def hostile_config() -> str:
    """A ~/.gitconfig that changes what the git commands gitmv reads print or match."""
    return (
        "[log]\n\tshowRoot = false\n\tdecorate = full\n\tabbrevCommit = true\n"
        "\tshowSignature = true\n\tmailmap = true\n\tdate = relative\n"
        "[core]\n\tquotePath = true\n\tabbrev = 7\n"
        "[color]\n\tui = always\n"
        "[diff]\n\tnoprefix = true\n\tmnemonicPrefix = true\n\trelative = true\n"
        "\trenames = copies\n"
        "[status]\n\tshowUntrackedFiles = no\n\trelativePaths = true\n\tshort = true\n"
        "[format]\n\tpretty = oneline\n"
        "[i18n]\n\tlogOutputEncoding = ISO-8859-1\n"
        "[tag]\n\tsort = -version:refname\n"
        "[advice]\n\tdetachedHead = true\n"
    )


def hostile_env(test_id: str) -> dict[str, str | None]:
    """Pathspec magic and a translated git for one test. GIT_GLOB_PATHSPECS and
    GIT_LITERAL_PATHSPECS cannot be set together (nor LITERAL and ICASE), so each test gets
    one set (chosen from its id, so a failure reproduces)."""
    if hashlib.sha256(test_id.encode()).digest()[0] % 2 == 0:
        magic = {"GIT_GLOB_PATHSPECS": "1", "GIT_ICASE_PATHSPECS": "1"}
    else:
        magic = {"GIT_LITERAL_PATHSPECS": "1"}  # git allows no other magic beside it
    return {
        **magic,
        "LC_ALL": None,
        "LANG": "C.UTF-8",
        "LANGUAGE": "de",  # git speaks German (its de catalog is installed with git)
    }


# git commands that run gitmv (its hooks, or `git mvm` itself): under HOSTILE they keep the
# hostile config and environment (gitmv must cope); the others are the test reading git, which
# reads it plain.
HOOK_COMMANDS = frozenset(("commit", "checkout", "switch", "merge", "pull", "push", "rebase",
                           "cherry-pick", "revert", "reset", "stash", "clone", "am", "worktree",
                           "mvm", "mv-model"))


def plain_git_env(args: tuple[str, ...] | list[str]) -> dict[str, str] | None:
    """The environment for a test's own git call: None (inherit) unless HOSTILE and the
    command runs no hook, then the hostile settings are taken away again."""
    if not HOSTILE or (args and args[0] in HOOK_COMMANDS) or "--global" in args:
        return None  # (the global config a test writes is the hostile one)
    env = {k: v for k, v in os.environ.items()
           if k not in ("GIT_GLOB_PATHSPECS", "GIT_LITERAL_PATHSPECS", "GIT_ICASE_PATHSPECS",
                        "LANGUAGE")}
    env["GIT_CONFIG_GLOBAL"] = os.path.join(env["HOME"], ".gitconfig-plain")
    env["LC_ALL"] = "C.UTF-8"
    return env


def git(repo: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False,
                          env=plain_git_env(args))
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def mvm(repo: Path, *args: str, capsys: pytest.CaptureFixture[str] | None = None) -> int:
    """Run `git mvm ARGS` in-process with cwd = repo; returns the exit code."""
    old = os.getcwd()
    os.chdir(repo)
    try:
        return main(list(args))
    finally:
        ui.level = ui.NORMAL
        os.chdir(old)


def mvm_proc(repo: Path, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    """Run `git mvm ARGS` as a real subprocess (through git, as a user would)."""
    return subprocess.run(
        [sys.executable, "-m", "gitmv", *args], cwd=repo, capture_output=True, text=True,
        check=False, **kw,  # type: ignore[call-overload]
    )


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree_digest(root: Path) -> dict[str, str]:
    """{relative path: sha256 or 'link:<target>'} of everything under root."""
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_file():
            out[rel] = sha(p.read_bytes())
    return out


def make_dataset(root: Path, n: int = 20, size: int = 100) -> dict[str, str]:
    for i in range(n):
        write(root / f"d{i % 3}" / f"f{i}.bin", os.urandom(size))
    return tree_digest(root)


# --- running gitmv and reading its output --------------------------------------------------


class Result(NamedTuple):
    rc: int
    out: str
    err: str


def run(capsys: pytest.CaptureFixture[str], repo: Path, *args: str) -> Result:
    """Run `git mvm ARGS` in-process; returns exit code, stdout and stderr of that run only."""
    capsys.readouterr()
    rc = mvm(repo, *args)
    captured = capsys.readouterr()
    return Result(rc, captured.out, captured.err)


def run_json(capsys: pytest.CaptureFixture[str], repo: Path, *args: str) -> Any:
    res = run(capsys, repo, *args, "--json")
    assert res.rc == 0, res.err
    return json.loads(res.out)


def error_lines(err: str) -> list[str]:
    """The `git mvm: error: …` lines of a stderr."""
    return [ln for ln in err.splitlines() if ln.startswith("git mvm: error:")]


def staged(repo: Path) -> set[str]:
    return set(git(repo, "diff", "--cached", "--name-only", "-z").split("\0")) - {""}


def tracked(repo: Path) -> set[str]:
    return set(git(repo, "ls-files", "-z").split("\0")) - {""}


def configure(repo: Path, section: str, line: str) -> None:
    """Add `line` to `[section]` of the shared .mvm/config.toml (the section must exist)."""
    cfg = repo / ".mvm" / "config.toml"
    text = cfg.read_text()
    header = f"[{section}]\n"
    if header in text:
        text = text.replace(header, header + line + "\n", 1)
    else:
        text += f"\n{header}{line}\n"
    cfg.write_text(text)


def configure_local(repo: Path, section: str, line: str) -> None:
    """Add `line` to `[section]` of the never-committed local config (.git/mvm/config.toml)."""
    cfg = repo / ".git" / "mvm" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    text = cfg.read_text() if cfg.exists() else ""
    cfg.write_text(text + f"\n[{section}]\n{line}\n")


def read_pointer(repo: Path, rel: str) -> dict[str, Any]:
    return tomllib.loads((repo / f"{rel}.mvm").read_text())


# --- the object cache ----------------------------------------------------------------------


def mvm_dir(repo: Path) -> Path:
    return repo / ".git" / "mvm"


def cache_dir(repo: Path) -> Path:
    return mvm_dir(repo) / "objects"


def object_path(repo: Path, hexoid: str, root: Path | None = None) -> Path:
    root = root or cache_dir(repo)
    return root / hexoid[:2] / hexoid[2:4] / hexoid


def oid_hex(value: str) -> str:
    assert value.startswith("sha256:"), value
    return value[len("sha256:"):]


def cache_objects(repo: Path, root: Path | None = None) -> dict[str, Path]:
    """{hex oid: path} of every object in the cache: its loose file, or the pack holding it."""
    from gitmv.objects.pack import PackIndex

    root = root or cache_dir(repo)
    out: dict[str, Path] = {}
    for idx in sorted((root / "packs").glob("pack-*.idx")):
        for e in PackIndex.read(str(idx)):
            out[e.id] = idx.with_suffix(".pack")
    for p in root.glob("??/??/*"):
        if p.is_file() and len(p.name) == 64:
            out[p.name] = p
    return out


def packed_objects(repo: Path, root: Path | None = None) -> set[str]:
    return {o for o, p in cache_objects(repo, root).items() if p.suffix == ".pack"}


def assert_cache_sound(repo: Path, root: Path | None = None) -> dict[str, Path]:
    """Every object's bytes hash to its name (a pack's too, and its index is the one its
    pack makes), and nothing else lies in the object tree (but `tmp/`, the registry of
    clones sharing the cache, `clones/`, and the lock of the packs' merges)."""
    from gitmv.objects.packed import check_pack, index_problem

    root = root or cache_dir(repo)
    objects = cache_objects(repo, root)
    packs = set(objects.values()) - {p for o, p in objects.items() if p.name == o}
    for path in packs:
        check = check_pack(str(path), path.stem[5:])
        assert not check.problem, f"pack {path}: {check.problem}"
        assert not index_problem(str(path.with_suffix(".idx")), check), path
    for hexoid, path in objects.items():
        if path in packs:
            continue
        assert sha(path.read_bytes()) == hexoid, f"cache object {path} does not match its name"
        assert path.parent == root / hexoid[:2] / hexoid[2:4], path
    in_packs = packs | {p.with_suffix(".idx") for p in packs}
    for p in root.rglob("*"):
        if p.is_file() and p.name not in objects and p not in in_packs and \
                p.parent.name not in ("tmp", "clones") and p != root / "packs" / "merge.lock":
            raise AssertionError(f"stray file in the cache: {p}")
    return objects


def put_object(repo: Path, data: bytes) -> str:
    """Place raw bytes in the cache under their correct sha256 (a crafted manifest, say)."""
    hexoid = sha(data)
    path = object_path(repo, hexoid)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o444)
    return hexoid


def corrupt_object(path: Path, data: bytes = b"rotten bytes") -> None:
    path.chmod(path.stat().st_mode | stat.S_IWUSR)
    path.write_bytes(data)


# --- proving what gitmv read ---------------------------------------------------------------


class HashSpy:
    """Records which files gitmv reads to hash them (in-process).

    Wraps the streaming hash functions of gitmv.objects.hashing and `Cache.put_file` wherever gitmv
    imported them, and records the real path behind each file descriptor.
    """

    FD_FUNCTIONS = ("hash_fd", "copy_and_hash")
    PATH_FUNCTIONS = ("hash_file",)

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import gitmv.objects.hashing

        for name in ("objects.cache", "worktree.checkout", "worktree.diffing", "worktree.workspace",
                     "objects.state"):
            importlib.import_module(f"gitmv.{name}")
        for info in pkgutil.iter_modules(importlib.import_module("gitmv.commands").__path__):
            importlib.import_module(f"gitmv.commands.{info.name}")
        self.paths: list[str] = []
        wrapped = 0
        modules = [m for n, m in sys.modules.items() if n == "gitmv" or n.startswith("gitmv.")]
        for name in self.FD_FUNCTIONS + self.PATH_FUNCTIONS:
            real = getattr(gitmv.objects.hashing, name, None)
            if real is None:
                continue
            wrapper = self._wrap(real, by_fd=name in self.FD_FUNCTIONS)
            for mod in modules:
                if getattr(mod, name, None) is real:
                    monkeypatch.setattr(mod, name, wrapper)
                    wrapped += 1
        from gitmv.objects.cache import Cache

        real_put = Cache.put_file

        def put_file(cache: Cache, path: str, *a: Any, **kw: Any) -> Any:
            self.paths.append(os.path.realpath(path))
            return real_put(cache, path, *a, **kw)

        monkeypatch.setattr(Cache, "put_file", put_file)
        assert wrapped, "HashSpy found no hashing function to wrap: update tests/helpers.py"

    def _wrap(self, real: Callable[..., Any], by_fd: bool) -> Callable[..., Any]:
        def wrapper(first: Any, *a: Any, **kw: Any) -> Any:
            path = os.readlink(f"/proc/self/fd/{first}") if by_fd else os.path.realpath(first)
            self.paths.append(path)
            return real(first, *a, **kw)

        return wrapper

    def files_read(self, under: Path) -> set[str]:
        """Files under `under` that were hashed, relative to it."""
        root = os.path.realpath(under)
        return {
            os.path.relpath(p, root) for p in self.paths if p.startswith(root + os.sep)
        }

    def reset(self) -> None:
        self.paths.clear()


# --- processes -----------------------------------------------------------------------------


def mvm_popen(repo: Path, *args: str, stderr: IO[str] | None = None) -> subprocess.Popen[str]:
    """Start `git mvm ARGS` as a subprocess (stdout piped; stderr piped or to a file).

    Reap it with `communicate()` (which closes the pipes), also after killing it.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "gitmv", *args], cwd=repo, stdout=subprocess.PIPE,
        stderr=stderr if stderr is not None else subprocess.PIPE, text=True,
    )


def wait_for(predicate: Callable[[], bool], proc: subprocess.Popen[str] | None = None,
             timeout: float = 120.0) -> bool:
    """Poll until predicate() holds; False if `proc` ended (or the timeout passed) first.

    The timeout only keeps a broken run from hanging CI; no assertion depends on timing.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return predicate()
        time.sleep(0.0005)
    return False


def big_file(path: Path, mib: int) -> str:
    """A file of `mib` MiB of pseudo-random bytes (cheap to make); returns its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(mib):
            chunk = i.to_bytes(8, "little") + block[8:]
            h.update(chunk)
            f.write(chunk)
    return h.hexdigest()


# --- git integration: hooks, bare remotes, clones ------------------------------------------

ZERO_SHA = "0" * 40
HOOK_NAMES = ("pre-commit", "pre-push", "post-checkout", "post-merge", "post-rewrite",
              "post-commit", "post-index-change")


def git_run(
    repo: Path, *args: str, input: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run git (its hooks and all) without checking the exit code."""
    base = plain_git_env(args)
    full = None if env is None and base is None else {**(base or os.environ), **(env or {})}
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          input=input, env=full, check=False)


def git_ok(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run git and require success; the result keeps stderr (what the hooks said)."""
    proc = git_run(repo, *args)
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def rev(repo: Path, name: str = "HEAD") -> str:
    return git(repo, "rev-parse", "--verify", "-q", name).strip()


def init_bare(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    return path


def remote_objects_dir(bare: Path) -> Path:
    """Where the zero-config remote keeps objects: `<bare repository>/mvm/objects`."""
    return bare / "mvm" / "objects"


def remote_store(bare: Path) -> DirFiles:
    """The zero-config store's files, on either store layout (tests/storefiles.py)."""
    return DirFiles(remote_objects_dir(bare))


def remote_oids(bare: Path) -> set[str]:
    """The objects the zero-config store holds: loose or in its packs."""
    return object_ids(remote_store(bare))


def assert_store_sound(files: DirFiles) -> set[str]:
    """Every object a directory store holds reads back as bytes that hash to its name (packs
    whole: each hashes to its name); nothing else lies there but the layout file, indexes and
    temp files. Returns the objects."""
    from gitmv.objects.pack import pack_id_of

    oids = object_ids(files)
    for oid in oids:
        data = read_object(files, oid)
        assert data is not None and sha(data) == oid, f"store object {oid} does not verify"
    for name in files.names():
        if name.startswith("packs/"):
            assert sha(files.get(name) or b"") == pack_id_of(name[6:]), f"pack {name} is corrupt"
        else:
            assert name == "mvm-layout" or name.startswith("index/") or \
                name.rsplit("/", 1)[-1] in oids or "tmp" in name, f"stray file in the store: {name}"
    return oids


def corrupt_remote_object(bare: Path, oid: str, data: bytes = b"rotten bytes") -> None:
    """The zero-config store holds `data` under `oid` (either layout)."""
    write_object(remote_store(bare), oid, data)


def delete_remote_object(bare: Path, oid: str) -> None:
    delete_object(remote_store(bare), oid)


def init_hooked(root: Path, origin: Path | None = None) -> Path:
    """`git init`, `git mvm init` (hooks installed), one commit; `origin` set if given."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q")
    assert mvm(root, "init", "-q") == 0
    git(root, "commit", "-q", "-m", "init")
    if origin is not None:
        git(root, "remote", "add", "origin", str(origin))
    return root


def clone_hooked(url: Path | str, dest: Path) -> Path:
    """A teammate's start by hand: `git clone`, then `git mvm install` (git copies no hooks)."""
    proc = subprocess.run(["git", "clone", "-q", str(url), str(dest)], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert mvm(dest, "install", "-q") == 0
    return dest


def save(repo: Path, rel: str, data: bytes, message: str | None = None) -> str:
    """Write an artifact, `git mvm add` it, and commit (hooks run) unless message is None.

    Returns the sha256 hex of the data.
    """
    write(repo / rel, data)
    assert mvm(repo, "add", "-q", rel) == 0
    if message is not None:
        git_ok(repo, "commit", "-q", "-m", message)
    return sha(data)


def save_dir(repo: Path, rel: str, files: dict[str, bytes], message: str | None = None
             ) -> dict[str, str]:
    """Replace directory artifact `rel` by `files`, add it, commit; returns its tree digest."""
    import shutil

    root = repo / rel
    if root.exists():
        shutil.rmtree(root)
    for name, data in files.items():
        write(root / name, data)
    assert mvm(repo, "add", "-q", rel) == 0
    if message is not None:
        git_ok(repo, "commit", "-q", "-m", message)
    return tree_digest(root)


def dataset_files(n: int = 6, size: int = 200, tag: bytes = b"") -> dict[str, bytes]:
    return {f"part{i % 2}/f{i}.bin": tag + os.urandom(size) for i in range(n)}


def file_hash(path: Path) -> str | None:
    """sha256 of a work-tree file, None when absent."""
    return sha(path.read_bytes()) if path.is_file() else None


def make_old(paths: list[Path], seconds: int = 2 * 3600) -> None:
    """Move files' mtimes into the past (so gc may consider them)."""
    when = time.time() - seconds
    for p in paths:
        os.utime(p, (when, when))


def mvm_hook(repo: Path, name: str, *args: str, input: str = "",
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `git mvm hook NAME ARGS` as a subprocess, as an installed shim would."""
    full = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "gitmv", "hook", name, *args], cwd=repo,
                          input=input, capture_output=True, text=True, env=full, check=False)


def gitmv_temp_files(root: Path) -> list[str]:
    """Temp files gitmv left in a work tree or under `.git/mvm` (not git's own files)."""
    out = []
    for p in root.rglob("*"):
        rel = p.relative_to(root).as_posix()
        if rel.startswith(".git/") and not rel.startswith(".git/mvm/"):
            continue
        if p.is_file() and (p.name.startswith(".mvm-tmp") or "/tmp/" in f"/{rel}"):
            out.append(rel)
    return sorted(out)


class DocBlock(NamedTuple):
    section: str  # the heading the block stands under
    lang: str  # "sh", "python", ...
    script: str


def doc_blocks(text: str, langs: tuple[str, ...] = ("sh",)) -> list[DocBlock]:
    """The fenced code blocks of a Markdown text in `langs`, in order, each with the heading
    it stands under (the docs whose commands a test runs as written)."""
    blocks: list[DocBlock] = []
    heading = ""
    lines = iter(text.splitlines())
    for line in lines:
        fence = line.strip()
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif fence.startswith("```") and fence[3:] in langs:
            body = []
            for inner in lines:
                if inner.strip() == "```":
                    break
                body.append(inner)
            blocks.append(DocBlock(heading, fence[3:], "\n".join(body) + "\n"))
    return blocks

