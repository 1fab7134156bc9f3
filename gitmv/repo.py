"""The user's git repository, reached through the git binary (the one module that runs git).

pygit2 was measured and not used: `import pygit2` alone costs ~0.09 s, about what a whole
`git rev-parse` + `git ls-files` round trip costs, and hooks must stay well under 0.1 s.
See docs/architecture.md.

Every call gets the same answers whatever the user's `~/.gitconfig`, the repository's config,
`git -c` and the environment say: `git_argv` forces the settings that change what the
commands gitmv reads print (`-c` given last wins over every other source), and `git_env`
drops the variables that change which paths a pathspec matches and reads git's messages in
the C locale (gitmv matches a few of them).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from gitmv.errors import GitFailed, NotARepository
from gitmv.objects.pointer import SUFFIX

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


def git_argv(args: Iterable[str]) -> list[str]:
    """`git`, the forced settings, then `args`."""
    argv = ["git"]
    for setting in FORCED_CONFIG:
        argv += ["-c", setting]
    argv.extend(args)
    return argv


def git_env(messages_in_c: bool = True) -> dict[str, str]:
    """This process's environment without the variables that change git's answers; git's
    messages in the C locale unless they are for a person (`clone`)."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET_ENV}
    if messages_in_c:
        env["LC_ALL"] = "C"
    return env


def run_git(
    args: Sequence[str],
    cwd: str | None = None,
    input: bytes | None = None,
    check: bool = True,
) -> bytes:
    """Run git with an argument list (never a shell) in the controlled environment; stdout as
    bytes."""
    proc = subprocess.run(
        git_argv(args),
        cwd=cwd,
        input=input,
        capture_output=True,
        env=git_env(),
        check=False,
    )
    if check and proc.returncode != 0:
        raise GitFailed(list(args), proc.returncode, proc.stderr.decode(errors="replace"))
    return proc.stdout


def clone(url: str, directory: str) -> None:
    """`git clone URL DIRECTORY` with git talking to the terminal (progress, credential
    prompts), unlike `run_git`, which captures what git prints."""
    proc = subprocess.run(git_argv(["clone", "--", url, directory]), env=git_env(False),
                          check=False)
    if proc.returncode != 0:
        from gitmv.errors import GitMvmError

        raise GitMvmError(f"`git clone {url}` failed", "see git's message above")


def _split_z(out: bytes) -> list[str]:
    return [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]


class Repo(NamedTuple):
    root: str  # work tree top level, absolute
    git_dir: str  # this worktree's git dir
    common_dir: str  # shared git dir (objects, refs, our cache and state)

    @classmethod
    def discover(cls, cwd: str | None = None) -> Repo:
        proc = subprocess.run(
            git_argv(["rev-parse", "--show-toplevel", "--absolute-git-dir", "--git-common-dir"]),
            cwd=cwd,
            capture_output=True,
            env=git_env(),
            check=False,
        )
        lines = proc.stdout.decode("utf-8", "surrogateescape").splitlines()
        if proc.returncode != 0 or len(lines) != 3 or not lines[0]:
            raise NotARepository(
                "not inside a git work tree",
                "run git mvm inside a git repository (`git init` makes one)",
            )
        root, git_dir, common = lines
        if not os.path.isabs(common):
            common = os.path.normpath(os.path.join(cwd or os.getcwd(), common))
        return cls(root=root, git_dir=git_dir, common_dir=common)

    @property
    def mvm_dir(self) -> str:
        return os.path.join(self.common_dir, "mvm")

    def git(self, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
        return run_git(args, cwd=self.root, input=input, check=check)

    # --- paths ---------------------------------------------------------------------------
    def rel(self, abspath: str) -> str:
        return os.path.relpath(abspath, self.root).replace(os.sep, "/")

    def abs(self, relpath: str) -> str:
        return os.path.join(self.root, relpath)

    # --- index and working tree ----------------------------------------------------------
    def workspace_pointers(self) -> list[str]:
        """Pointer files in the index or untracked-but-not-ignored in the work tree."""
        out = self.git(
            "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", f"*{SUFFIX}"
        )
        return sorted(set(_split_z(out)))

    def tracked_under(self, relpaths: Iterable[str]) -> list[str]:
        """Files tracked by git at or under the given paths."""
        paths = list(relpaths)
        if not paths:
            return []
        out = self.git("ls-files", "-z", "--cached", "--", *(f":(literal){p}" for p in paths))
        return _split_z(out)

    def stage(self, relpaths: Iterable[str]) -> None:
        paths = sorted(set(relpaths))
        if paths:
            self.git("add", "--", *(f":(literal){p}" for p in paths))

    def unstage_remove(self, relpaths: Iterable[str]) -> None:
        paths = sorted(set(relpaths))
        if paths:
            self.git(
                "rm", "--cached", "-q", "--ignore-unmatch", "--",
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

    def read_blobs(self, blob_ids: Sequence[str]) -> list[bytes]:
        """Contents of many blobs, each of which must exist (GitFailed names one that does not)."""
        blobs = self.read_objects(blob_ids)
        for name, data in zip(blob_ids, blobs, strict=True):
            if data is None:
                raise GitFailed(["cat-file", "--batch"], 1, f"missing object {name!r}")
        return [b for b in blobs if b is not None]
