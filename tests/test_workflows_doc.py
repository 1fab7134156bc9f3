"""docs/workflows.md, run: every ```sh block of it, in a fresh example repository.

The blocks are read from the file, so a doc edit that breaks a command fails here. Each runs
under `bash -euo pipefail` (any failing command fails the test); afterwards every gitmv work
tree the block leaves (the example repository, and any worktree or submodule it made) must
have every artifact `up to date`, its pointers committed, and its bytes the ones the
committed pointer names (checked here, by hashing, not by asking gitmv).
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.helpers import DocBlock, doc_blocks, git, git_ok, mvm, sha, write

DOC = Path(__file__).resolve().parent.parent / "docs" / "workflows.md"


BLOCKS = doc_blocks(DOC.read_text())
# The sections the doc promises one runnable block each.
SECTIONS = ("When they conflict", "Rebase", "Cherry-pick and revert", "Reset", "Stash",
            "Rename", "Bisect", "Worktree", "Submodule")


def test_every_section_has_one_runnable_block() -> None:
    assert sorted(b.section for b in BLOCKS) == sorted(SECTIONS)
    for block in BLOCKS:  # commands only: no prompts, no outputs pasted in
        assert not re.search(r"^\s*\$ ", block.script, re.M), block.section


def example_repository(root: Path) -> Path:
    """The repository the top of docs/workflows.md describes."""
    repo = root / "repo"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    assert mvm(repo, "init", "-q") == 0
    assert mvm(repo, "remote", "add", "-q", "store", str(root / "store"), "-d") == 0
    write(repo / "data" / "part0" / "a.bin", "a\n")
    write(repo / "data" / "part1" / "b.bin", "b\n")
    write(repo / "model.bin", "m1\n")
    assert mvm(repo, "add", "-q", "data", "model.bin") == 0
    git(repo, "add", "-A")
    git_ok(repo, "commit", "-q", "-m", "data and model")
    assert mvm(repo, "push", "-q") == 0
    return repo


def gitmv_work_trees(root: Path) -> list[Path]:
    """Every git work tree under root with gitmv set up (`.mvm/config.toml` committed)."""
    return sorted(p.parent.parent for p in root.rglob(".mvm/config.toml")
                  if (p.parent.parent / ".git").exists())


def files_under(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha(p.read_bytes())
            for p in root.rglob("*") if p.is_file()}


def assert_bytes_follow_committed_pointers(tree: Path) -> None:
    # every artifact up to date, as gitmv sees it
    proc = subprocess.run(["git", "mvm", "status", "--json"], cwd=tree, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    states = {a["path"]: a["state"] for a in json.loads(proc.stdout)}
    assert states and set(states.values()) == {"up to date"}, (tree, states)
    # the work tree's pointers are the committed ones (nothing staged, modified or unmerged)
    head = {p for p in git(tree, "ls-tree", "-r", "--name-only", "-z", "HEAD").split("\0")
            if p.endswith(".mvm")}
    assert {f"{a}.mvm" for a in states} == head, tree
    assert git(tree, "status", "--porcelain", "--", *sorted(head)) == "", tree
    # ... and the bytes are what those committed pointers name, hashed here
    objects = Path(git(tree, "rev-parse", "--path-format=absolute", "--git-common-dir")
                   .strip()) / "mvm" / "objects"
    for rel in sorted(head):
        pointer = tomllib.loads(git(tree, "show", f"HEAD:{rel}"))
        oid = pointer["oid"].removeprefix("sha256:")
        artifact = tree / rel.removesuffix(".mvm")
        if pointer["kind"] == "file":
            assert sha(artifact.read_bytes()) == oid, artifact
            continue
        manifest = (objects / oid[:2] / oid[2:4] / oid).read_bytes()
        assert sha(manifest) == oid
        want = {}
        for line in manifest.decode().splitlines()[1:]:
            meta, path = line.split("\t", 1)
            want[path] = meta.split(" ")[1]
        assert files_under(artifact) == want, artifact


@pytest.mark.parametrize("block", BLOCKS, ids=[b.section for b in BLOCKS])
def test_workflow_block_runs_and_bytes_follow(tmp_path: Path, block: DocBlock) -> None:
    repo = example_repository(tmp_path)
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block.script], cwd=repo,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{block.section}:\n{proc.stdout}\n{proc.stderr}"
    trees = gitmv_work_trees(tmp_path)
    assert repo in trees
    for tree in trees:
        assert_bytes_follow_committed_pointers(tree)


def test_a_failing_command_fails_its_block(tmp_path: Path) -> None:
    """The harness itself: a command that fails mid-block is not masked by later ones."""
    repo = example_repository(tmp_path)
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", "git mvm checkout nope\ntrue\n"],
                          cwd=repo, capture_output=True, text=True, check=False)
    assert proc.returncode != 0
