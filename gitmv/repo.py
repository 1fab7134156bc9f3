"""The user's git repository, reached through the git binary (the one module that runs git).

pygit2 was measured and not used: `import pygit2` alone costs ~0.09 s, about what a whole
`git rev-parse` + `git ls-files` round trip costs, and hooks must stay well under 0.1 s.
See docs/architecture.md.

Every call gets the same answers whatever the user's `~/.gitconfig`, the repository's config,
`git -c` and the environment say: `git_argv` forces the settings that change what the
commands gitmv reads print (`-c` given last wins over every other source), and `git_env`
drops the variables that change which paths a pathspec matches and reads git's messages in
the C locale (gitmv matches a few of them).

Every call also names its repository itself. The variables that tell git which repository,
work tree and index to use (`GIT_DIR`, `GIT_INDEX_FILE`, …) reach no call: git hands them to
its hooks (`GIT_INDEX_FILE` to pre- and post-commit, `GIT_DIR` in a linked worktree) and users
export them, and a call on another worktree or another clone would read this one's repository
or index in its place (gc then deleted another clone's model). `Repo.discover()` finds the
repository the process runs in as git does, honouring them; each `Repo` then passes its own
`GIT_DIR` / `GIT_WORK_TREE` (and `GIT_INDEX_FILE` only where git named one for this process:
the pre-commit of `git commit -a` reads the index being committed).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, NamedTuple

from gitmv.errors import GitFailed, NotARepository
from gitmv.objects.pointer import SUFFIX, is_pointer_file

# Settings that change what the commands gitmv parses print, or which commits and paths they
# name: `log.showRoot=false` hides a root commit's files from `git log --raw`, `color.ui=always`
# puts escape codes in output, `log.showSignature` adds gpg lines, `diff.relative` makes
# paths relative, `i18n.logOutputEncoding` re-encodes messages, and so on.
FORCED_CONFIG = (
    "log.showRoot=true",
    "log.showSignature=false",
    "log.decorate=false",
    "log.abbrevCommit=false",
    "log.follow=false",
    "log.mailmap=false",
    "core.quotePath=false",
    "core.abbrev=auto",
    "color.ui=false",
    "diff.noprefix=false",
    "diff.mnemonicPrefix=false",
    "diff.relative=false",
    "diff.renames=false",
    "diff.ignoreSubmodules=none",
    "status.showUntrackedFiles=normal",
    "status.relativePaths=false",
    "i18n.logOutputEncoding=UTF-8",
)
# Environment variables that change which paths a pathspec matches (`*.mvm` under
# GIT_GLOB_PATHSPECS misses every pointer in a subdirectory; under GIT_LITERAL_PATHSPECS it
# matches nothing), or run another program in place of git's own diff.
UNSET_ENV = frozenset((
    "GIT_LITERAL_PATHSPECS", "GIT_GLOB_PATHSPECS", "GIT_NOGLOB_PATHSPECS", "GIT_ICASE_PATHSPECS",
    "GIT_EXTERNAL_DIFF", "GIT_DIFF_OPTS", "GIT_DIFF_PATH_COUNTER", "GIT_DIFF_PATH_TOTAL",
    "LANGUAGE",
))
# The variables that locate the repository, work tree, index and objects (`git rev-parse
# --local-env-vars`, less `GIT_CONFIG_PARAMETERS` / `GIT_CONFIG_COUNT`: the user's `-c`
# settings, which `git_argv` overrides where it matters), and `GIT_NAMESPACE`, which hides
# refs. No call inherits them; a `Repo` passes its own.
LOCATING_ENV = frozenset((
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_SHALLOW_FILE", "GIT_GRAFT_FILE",
    "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_PREFIX", "GIT_IMPLICIT_WORK_TREE",
    "GIT_INTERNAL_SUPER_PREFIX", "GIT_CONFIG",
))
# What `Repo.discover()` honours to find the repository the process runs in.
_DISCOVERY_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR")


def git_argv(args: Iterable[str]) -> list[str]:
    """`git`, the forced settings, then `args`."""
    argv = ["git"]
    for setting in FORCED_CONFIG:
        argv += ["-c", setting]
    argv.extend(args)
    return argv


def git_env(messages_in_c: bool = True, locate: Mapping[str, str] | None = None
            ) -> dict[str, str]:
    """This process's environment without the variables that change git's answers or locate a
    repository, plus `locate` (the repository a call is on); git's messages in the C locale
    unless they are for a person (`clone`)."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET_ENV and k not in LOCATING_ENV}
    if locate:
        env.update(locate)
    if messages_in_c:
        env["LC_ALL"] = "C"
    return env


def run_git(
    args: Sequence[str],
    cwd: str | None = None,
    input: bytes | None = None,
    check: bool = True,
    locate: Mapping[str, str] | None = None,
) -> bytes:
    """Run git with an argument list (never a shell) in the controlled environment, on the
    repository `locate` names (`GIT_DIR`, …), else the one git finds from `cwd`; stdout as
    bytes."""
    proc = subprocess.run(
        git_argv(args),
        cwd=cwd,
        input=input,
        capture_output=True,
        env=git_env(locate=locate),
        check=False,
    )
    if check and proc.returncode != 0:
        raise GitFailed(list(args), proc.returncode, proc.stderr.decode(errors="replace"))
    return proc.stdout


def merge_file(current: str, base: str, other: str) -> int:
    """git's own three-way text merge (`git merge-file`) of three files, into `current`;
    the number of conflicts left in it as markers (0: merged cleanly; git refuses binary
    files, which count as a conflict and leave `current` as it was)."""
    proc = subprocess.run(
        git_argv(["merge-file", "-L", "ours", "-L", "base", "-L", "theirs", current, base,
                  other]),
        capture_output=True, env=git_env(), check=False)
    return proc.returncode


def clone(url: str, directory: str, options: Sequence[str] = ()) -> None:
    """`git clone [OPTIONS] URL DIRECTORY` with git talking to the terminal (progress,
    credential prompts), unlike `run_git`, which captures what git prints. What git prints
    goes through `mask_urls` first: git hides a URL's password, not a `?token=` in it.
    `options` are git clone's, as the user gave them (`-b NAME`, `--depth=1`, `-q`, ...)."""
    import sys

    from gitmv.errors import GitMvmError, git_message, mask_url

    quiet = "-q" in options or "--quiet" in options
    # git's stderr is a pipe now: ask for progress where a person sees it
    progress = ["--progress"] if sys.stderr.isatty() and not quiet else []
    with subprocess.Popen(git_argv(["clone", *progress, *options, "--", url, directory]),
                          env=git_env(False), stderr=subprocess.PIPE) as proc:
        assert proc.stderr is not None
        said = _relay_masked(proc.stderr, sys.stderr)
    if proc.returncode != 0:
        raise GitMvmError(f"`git clone {mask_url(url)}` failed: "
                          f"{git_message(said) or f'exit {proc.returncode}'}",
                          "check the URL, and that you can reach it and read it")


def _relay_masked(src: IO[bytes], dst: IO[str]) -> str:
    """Copy what git prints to `dst` as it comes (progress lines end in CR), URLs masked;
    returns it all."""
    from gitmv.errors import mask_urls

    seen: list[str] = []
    pending = b""
    while True:
        chunk = src.read1(65536) if hasattr(src, "read1") else src.read(65536)
        pending += chunk
        cut = max(pending.rfind(b"\n"), pending.rfind(b"\r")) + 1 if chunk else len(pending)
        if cut:
            text = pending[:cut].decode("utf-8", "replace")
            pending = pending[cut:]
            seen.append(text)
            dst.write(mask_urls(text))
            dst.flush()
        if not chunk:
            return "".join(seen)


class Worktree(NamedTuple):
    repo: Repo  # reads this work tree's index (and its files, unless missing)
    path: str  # its directory, as git records it
    missing: bool  # that directory is not there


def _split_z(out: bytes) -> list[str]:
    return [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]


class Repo(NamedTuple):
    """A repository and one of its work trees, as every git call on it names them."""

    root: str  # work tree top level, absolute (the git dir when `bare`)
    git_dir: str  # this worktree's git dir
    common_dir: str  # shared git dir (objects, refs, our cache and state)
    # The index git named for this process (a hook's `GIT_INDEX_FILE`: the pre-commit of
    # `git commit -a` sees the index being committed); None: the git dir's own.
    index_file: str | None = None
    # Addressed without a work tree: another clone's repository, or a worktree whose
    # directory is missing (its index can still be read).
    bare: bool = False

    @classmethod
    def discover(cls, cwd: str | None = None, bare_ok: bool = False) -> Repo:
        """The repository whose work tree holds `cwd`; without `cwd`, the one this process runs
        in, found as git finds it (the user's or a hook's `GIT_DIR` / `GIT_WORK_TREE`
        honoured, `GIT_INDEX_FILE` kept for its calls). A bare repository is refused with one
        line saying so, unless `bare_ok` (the read-only commands): then it is addressed
        without a work tree (`bare`, `root` its git dir)."""
        inherited = {} if cwd is not None else {
            k: os.environ[k] for k in _DISCOVERY_ENV if os.environ.get(k)}

        def rev_parse(*args: str) -> tuple[int, list[str]]:
            proc = subprocess.run(git_argv(["rev-parse", *args]), cwd=cwd, capture_output=True,
                                  env=git_env(locate=inherited), check=False)
            return proc.returncode, proc.stdout.decode("utf-8", "surrogateescape").splitlines()

        rc, lines = rev_parse("--show-toplevel", "--absolute-git-dir", "--git-common-dir")
        if rc != 0 or len(lines) != 3 or not lines[0]:
            # no work tree: a bare repository? (asked only now: a work tree costs one call)
            rc, lines = rev_parse("--is-bare-repository", "--absolute-git-dir",
                                  "--git-common-dir")
            if rc == 0 and len(lines) == 3 and lines[0] == "true":
                if not bare_ok:
                    raise NotARepository(
                        f"{lines[1]} is a bare repository (no work tree): this command needs "
                        "a clone with one",
                        "run it in a clone (`git mvm clone URL`); in a bare repository `show`, "
                        "`history`, `get`, `metrics`, `check` and `report` work")
                common = lines[2] if os.path.isabs(lines[2]) else os.path.normpath(
                    os.path.join(cwd or os.getcwd(), lines[2]))
                return cls(root=lines[1], git_dir=lines[1], common_dir=common, bare=True)
            raise NotARepository(
                "not inside a git work tree",
                "run git mvm inside a git repository (`git init` makes one)",
            )
        root, git_dir, common = lines
        if not os.path.isabs(common):
            common = os.path.normpath(os.path.join(cwd or os.getcwd(), common))
        index = os.environ.get("GIT_INDEX_FILE") if cwd is None else None
        if index:  # relative to where git started this process, as git reads it
            index = os.path.abspath(index)
        return cls(root=root, git_dir=git_dir, common_dir=common, index_file=index or None)

    @classmethod
    def at_git_dir(cls, git_dir: str) -> Repo:
        """Another clone's repository, by its git (common) dir, without a work tree."""
        git_dir = os.path.abspath(git_dir)
        return cls(root=git_dir, git_dir=git_dir, common_dir=git_dir, bare=True)

    @property
    def mvm_dir(self) -> str:
        return os.path.join(self.common_dir, "mvm")

    @property
    def locate(self) -> dict[str, str]:
        """The variables that name this repository, work tree and index to git."""
        env = {"GIT_DIR": self.git_dir}
        if os.path.normpath(self.common_dir) != os.path.normpath(self.git_dir):
            env["GIT_COMMON_DIR"] = self.common_dir
        if not self.bare:
            env["GIT_WORK_TREE"] = self.root
        if self.index_file:
            env["GIT_INDEX_FILE"] = self.index_file
        return env

    def git(self, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
        return run_git(args, cwd=self.root, input=input, check=check, locate=self.locate)

    def worktrees(self) -> list[Worktree]:
        """Every work tree of this repository, each with a `Repo` that reads it: this one
        first (as it is addressed, its index included), then the main one and the linked ones
        (`<common dir>/worktrees/<id>`). One whose directory is missing (a disk not mounted, a
        directory deleted but not pruned) is `missing`, addressed without a work tree: its
        index can still be read, the files in it cannot."""
        out: list[Worktree] = []
        if not self.bare:
            out.append(Worktree(self, self.root, missing=False))
        seen = {os.path.realpath(self.git_dir)} if not self.bare else set()
        if os.path.realpath(self.common_dir) not in seen:
            main = self._main_root()
            if main is not None:
                out.append(self._worktree(main, self.common_dir))
        admin = os.path.join(self.common_dir, "worktrees")
        try:
            ids = sorted(os.listdir(admin))
        except (FileNotFoundError, NotADirectoryError):
            ids = []
        for wid in ids:
            git_dir = os.path.join(admin, wid)
            if os.path.realpath(git_dir) in seen:
                continue
            try:
                with open(os.path.join(git_dir, "gitdir"), "rb") as f:
                    dotgit = os.fsdecode(f.read().strip())
            except (FileNotFoundError, NotADirectoryError):
                continue  # not a worktree (git skips it too)
            root = os.path.dirname(os.path.join(git_dir, dotgit))
            out.append(self._worktree(root, git_dir))
        return out

    def _main_root(self) -> str | None:
        """The main work tree's directory as git names it; None for a bare repository."""
        out = self.git("worktree", "list", "--porcelain", "-z")
        fields = out.decode("utf-8", "surrogateescape").split("\0\0")[0].split("\0")
        if not fields[0].startswith("worktree ") or "bare" in fields:
            return None
        return fields[0][len("worktree "):]

    def _worktree(self, root: str, git_dir: str) -> Worktree:
        present = os.path.exists(os.path.join(root, ".git"))
        return Worktree(Repo(root=root if present else git_dir, git_dir=git_dir,
                             common_dir=self.common_dir, bare=not present),
                        root, missing=not present)

    # --- paths ---------------------------------------------------------------------------
    def rel(self, abspath: str) -> str:
        return os.path.relpath(abspath, self.root).replace(os.sep, "/")

    def abs(self, relpath: str) -> str:
        return os.path.join(self.root, relpath)

    # --- index and working tree ----------------------------------------------------------
    def workspace_pointers(self) -> list[str]:
        """Pointer files in the index or untracked-but-not-ignored in the work tree: files
        named `*.mvm` that read as pointers (`is_pointer_file`; any other is data), and those
        in the index but gone from the work tree."""
        out = self.git(
            "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", f"*{SUFFIX}"
        )
        return [p for p in sorted(set(_split_z(out)))
                if is_pointer_file(self.abs(p)) or not os.path.lexists(self.abs(p))]

    def untracked_top(self) -> list[str]:
        """The untracked, not ignored files and directories at the top of the work tree (a
        directory holding only such files is named, not its files)."""
        out = self.git("ls-files", "-z", "--others", "--exclude-standard", "--directory",
                       "--no-empty-directory", "--", ".")
        return sorted({p.rstrip("/").split("/")[0] for p in _split_z(out)})

    def tracked_under(self, relpaths: Iterable[str]) -> list[str]:
        """Files tracked by git at or under the given paths."""
        paths = list(relpaths)
        if not paths:
            return []
        out = self.git("ls-files", "-z", "--cached", "--", *(f":(literal){p}" for p in paths))
        return _split_z(out)

    def unmerged_pointers(self) -> dict[str, dict[int, str]]:
        """Pointers in conflict in the index: {pointer path: {stage: blob id}} (1 the merge
        base, 2 ours, 3 theirs; a stage is absent where that side has no such file)."""
        out: dict[str, dict[int, str]] = {}
        for record in self.git("ls-files", "-u", "-z", "--", f"*{SUFFIX}").split(b"\0"):
            meta, _, path = record.partition(b"\t")
            parts = meta.split()
            if len(parts) == 3:
                out.setdefault(path.decode("utf-8", "surrogateescape"), {})[
                    int(parts[2])] = parts[1].decode()
        return out

    def stage(self, relpaths: Iterable[str]) -> None:
        paths = sorted(set(relpaths))
        if paths:
            self.git("add", "--", *(f":(literal){p}" for p in paths))

    def unstage_remove(self, relpaths: Iterable[str], force: bool = False) -> None:
        """Drop these paths from the index (the files stay); `force`: also what is staged
        different from both the file and HEAD."""
        paths = sorted(set(relpaths))
        if paths:
            self.git(
                "rm", "--cached", "-q", "--ignore-unmatch", *(["-f"] if force else []), "--",
                *(f":(literal){p}" for p in paths),
            )

    # --- revisions -----------------------------------------------------------------------
    def has_commit(self, rev: str) -> bool:
        """Whether `rev` names a commit this repository has (a pushed-over sha may not be)."""
        return bool(self.git("rev-parse", "--verify", "-q", f"{rev}^{{commit}}",
                             check=False).strip())

    def resolve(self, rev: str) -> str:
        out = self.git("rev-parse", "--verify", "-q", f"{rev}^{{commit}}", check=False)
        if not out.strip():
            from gitmv.errors import GitMvmError

            raise GitMvmError(
                f"unknown revision {rev!r}", "name a commit, branch or tag (`git log` lists them)"
            )
        return out.decode().strip()

    def tree_blobs(self, rev: str, paths: Sequence[str] = ()) -> dict[str, str]:
        """{path: blob id} for every file in the tree of `rev` (under `paths` when given)."""
        commit = self.resolve(rev)
        args = ["ls-tree", "-r", "-z", "--full-tree", commit]
        if paths:
            args += ["--", *paths]
        result: dict[str, str] = {}
        for record in self.git(*args).split(b"\0"):
            meta, _, path = record.partition(b"\t")
            parts = meta.split()
            if len(parts) == 3 and parts[1] == b"blob":
                result[path.decode("utf-8", "surrogateescape")] = parts[2].decode()
        return result

    def pointers_at(self, rev: str) -> dict[str, str]:
        """{pointer path: blob id} for every pointer file in the tree of `rev`."""
        return {p: b for p, b in self.tree_blobs(rev).items() if p.endswith(SUFFIX)}

    def read_objects(self, names: Sequence[str]) -> list[bytes | None]:
        """Contents of many blobs (ids or `rev:path`) through one `git cat-file --batch`;
        None where a name is missing or not a blob."""
        if not names:
            return []
        out = self.git("cat-file", "--batch", input="".join(f"{n}\n" for n in names).encode())
        blobs: list[bytes | None] = []
        pos = 0
        for _ in names:
            eol = out.index(b"\n", pos)
            header = out[pos:eol].split()
            pos = eol + 1
            if len(header) != 3 or not header[2].isdigit():  # "<name> missing" / "ambiguous"
                blobs.append(None)
                continue
            size = int(header[2])
            blobs.append(out[pos : pos + size] if header[1] == b"blob" else None)
            pos += size + 1
        return blobs

    def tracked_config(self) -> bytes | None:
        """A bare repository's tracked `.mvm/config.toml`, read from HEAD (None: there is
        none, or this is not bare: the work tree's file is read)."""
        if not self.bare or not self.has_commit("HEAD"):
            return None
        return self.read_objects(["HEAD:.mvm/config.toml"])[0] or b""

    def read_blobs(self, blob_ids: Sequence[str]) -> list[bytes]:
        """Contents of many blobs, each of which must exist (GitFailed names one that does not)."""
        blobs = self.read_objects(blob_ids)
        for name, data in zip(blob_ids, blobs, strict=True):
            if data is None:
                raise GitFailed(["cat-file", "--batch"], 1, f"missing object {name!r}")
        return [b for b in blobs if b is not None]
