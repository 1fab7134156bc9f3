"""The user's git repository, reached through the git binary (the one module that runs git).

pygit2 was measured and not used: `import pygit2` alone costs ~0.09 s, about what a whole
`git rev-parse` + `git ls-files` round trip costs, and hooks must stay well under 0.1 s.
See docs/architecture.md.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from gitmv.errors import GitFailed, NotARepository
from gitmv.pointer import SUFFIX


def run_git(
    args: Sequence[str],
    cwd: str | None = None,
    input: bytes | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> bytes:
    """Run git with an argument list (never a shell); stdout as bytes."""
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        env=env,
        check=False,
    )
    if check and proc.returncode != 0:
        raise GitFailed(list(args), proc.returncode, proc.stderr.decode(errors="replace"))
    return proc.stdout


def _split_z(out: bytes) -> list[str]:
    return [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]


class Repo(NamedTuple):
    root: str  # work tree top level, absolute
    git_dir: str  # this worktree's git dir
    common_dir: str  # shared git dir (objects, refs, our cache and state)

    @classmethod
    def discover(cls, cwd: str | None = None) -> Repo:
        proc = subprocess.run(
            ["git", "rev-parse", "--show-toplevel", "--absolute-git-dir", "--git-common-dir"],
            cwd=cwd,
            capture_output=True,
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
    def resolve(self, rev: str) -> str:
        out = self.git("rev-parse", "--verify", "-q", f"{rev}^{{commit}}", check=False)
        if not out.strip():
            from gitmv.errors import GitMvmError

            raise GitMvmError(
                f"unknown revision {rev!r}", "name a commit, branch or tag (`git log` lists them)"
            )
        return out.decode().strip()

    def pointers_at(self, rev: str) -> dict[str, str]:
        """{pointer path: blob id} for every pointer file in the tree of `rev`."""
        commit = self.resolve(rev)
        out = self.git("ls-tree", "-r", "-z", "--full-tree", commit)
        result: dict[str, str] = {}
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, path = record.partition(b"\t")
            parts = meta.split()
            if len(parts) == 3 and parts[1] == b"blob" and path.endswith(SUFFIX.encode()):
                result[path.decode("utf-8", "surrogateescape")] = parts[2].decode()
        return result

    def read_blobs(self, blob_ids: Sequence[str]) -> list[bytes]:
        """Contents of many blobs through one `git cat-file --batch`."""
        if not blob_ids:
            return []
        out = self.git("cat-file", "--batch", input="".join(f"{b}\n" for b in blob_ids).encode())
        blobs: list[bytes] = []
        pos = 0
        for _ in blob_ids:
            eol = out.index(b"\n", pos)
            header = out[pos:eol].split()
            if len(header) < 3 or header[1] == b"missing":
                raise GitFailed(["cat-file", "--batch"], 1, f"missing object {header[0]!r}")
            size = int(header[2])
            blobs.append(out[eol + 1 : eol + 1 + size])
            pos = eol + 1 + size + 1
        return blobs
