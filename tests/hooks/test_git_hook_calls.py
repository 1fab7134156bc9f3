"""Which hooks git itself runs for each command (docs/hooks.md's table), measured on the
git in use: a repository whose every hook records its name and arguments. gitmv's hooks rely
on these calls; a git that changes them fails here first."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import git, git_ok, write

RECORDED = ("pre-commit", "prepare-commit-msg", "commit-msg", "post-commit", "post-checkout",
            "post-merge", "post-rewrite", "post-index-change")


def recording_repo(root: Path, log: Path) -> Path:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    for name in RECORDED:
        hook = root / ".git" / "hooks" / name
        hook.write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\n')
        hook.chmod(0o755)
    return root


def calls(repo: Path, log: Path, *args: str) -> list[str]:
    """The distinct hook calls (name and arguments, commit ids as REV) one git command made,
    in the order of their first call."""
    log.write_text("")
    git_ok(repo, *args)
    out: list[str] = []
    for line in log.read_text().splitlines():
        words = ["REV" if len(w) == 40 and w.strip("0") else w for w in line.split()]
        entry = " ".join(words)
        if entry not in out:
            out.append(entry)
    return out


def test_the_hooks_git_runs_for_each_command(tmp_path: Path) -> None:
    log = tmp_path / "log"
    repo = recording_repo(tmp_path / "repo", log)
    write(repo / "m.pt.mvm", "v1")
    write(repo / "other", "x")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "v1")
    write(repo / "m.pt.mvm", "v2")
    git(repo, "commit", "-q", "-am", "v2")
    git(repo, "branch", "exp")
    changed = ["post-index-change 1 0"]  # the work tree was updated
    expected: list[tuple[tuple[str, ...], list[str]]] = [
        (("revert", "--no-edit", "HEAD"),
         [*changed, "prepare-commit-msg .git/COMMIT_EDITMSG message", "post-commit"]),
        (("cherry-pick", "exp"),
         [*changed, "prepare-commit-msg .git/COMMIT_EDITMSG message", "post-commit"]),
        (("reset", "-q", "--hard", "HEAD~1"), changed),
        (("reset", "-q", "HEAD~1"), ["post-index-change 0 1"]),  # only the index
        (("reset", "-q", "--soft", "exp"), []),
        (("reset", "-q", "--hard", "exp"), changed),
        (("checkout", "-q", "HEAD~1", "--", "m.pt.mvm"),
         ["post-index-change 0 0", "post-checkout REV REV 0"]),
        (("restore", "--source", "HEAD~1", "m.pt.mvm"), ["post-checkout REV REV 0"]),
        (("stash", "-q"), ["post-index-change 0 0", *changed, "post-index-change 0 1"]),
        (("stash", "pop", "-q"), ["post-index-change 0 0", *changed]),
        (("checkout", "-q", "--", "m.pt.mvm"),
         ["post-index-change 0 0", "post-checkout REV REV 0"]),
        (("switch", "-q", "-c", "b2", "HEAD~1"), [*changed, "post-checkout REV REV 1"]),
        (("commit", "-q", "--amend", "-m", "amended"),
         ["pre-commit", "prepare-commit-msg .git/COMMIT_EDITMSG message",
          "commit-msg .git/COMMIT_EDITMSG", "post-commit", "post-rewrite amend"]),
        (("mv", "m.pt.mvm", "n.pt.mvm"), ["post-index-change 0 0"]),
        (("reset", "-q", "--hard"), changed),
        (("worktree", "add", "-q", str(tmp_path / "wt"), "exp"),
         [*changed, "post-checkout 0000000000000000000000000000000000000000 REV 1"]),
    ]
    for args, want in expected:
        if args == ("stash", "-q"):
            write(repo / "m.pt.mvm", "stashed")
        got = calls(repo, log, *args)
        assert got == want, args
