"""Only files that read as gitmv pointers are pointers: any other `*.mvm` file is data.

An untracked binary `weights.mvm` (another tool's format) leaves `status`, `ls`, `checkout`,
`push`, `gc` and the pre-commit hook alone; a dataset directory holding `sample.mvm` is added
whole (the file is data inside the manifest) and comes back byte for byte. A committed pointer
that is damaged but says it is one stays an unreadable pointer (tests/transfer/
test_unreadable_pointers.py).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from gitmv.objects.pointer import HEADER, is_pointer_data
from tests.helpers import git, git_ok, init_hooked, mvm_proc, sha, tree_digest, write

NOT_POINTERS = {
    "binary": os.urandom(3000),
    "toml of another tool": b'name = "weights"\nversion = 3\n',
    "empty": b"",
    "large text": b"mvm = 1\n" + b"# x\n" * 20_000,
}


def test_the_predicate() -> None:
    for data in NOT_POINTERS.values():
        assert not is_pointer_data(data)
    assert is_pointer_data(HEADER.encode() + b"garbage")
    assert is_pointer_data(b"# a comment\nmvm = 2\nkind = 'file'\n")


def test_untracked_data_named_mvm_breaks_nothing(tmp_path: Path) -> None:
    repo = init_hooked(tmp_path / "repo", origin=None)
    write(repo / "model.pt", os.urandom(1000))
    assert mvm_proc(repo, "add", "-q", "model.pt").returncode == 0
    git_ok(repo, "commit", "-q", "-m", "model")
    for name, data in NOT_POINTERS.items():
        write(repo / f"{name.replace(' ', '_')}.mvm", data)
    write(repo / "sub" / "weights.mvm", os.urandom(2000))
    before = {p: sha(p.read_bytes()) for p in repo.rglob("*.mvm")
              if ".git" not in p.parts and p.is_file()}
    for args in (["status"], ["ls"], ["checkout"], ["status", "--json"], ["gc", "--dry-run"]):
        proc = mvm_proc(repo, *args)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "weights" not in proc.stdout + proc.stderr, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
    # committed as plain files, they pass the pre-commit hook and stay data
    git(repo, "add", "sub/weights.mvm", "binary.mvm")
    git_ok(repo, "commit", "-q", "-m", "data files named .mvm")
    proc = mvm_proc(repo, "ls")
    assert proc.returncode == 0 and "weights" not in proc.stdout, proc.stderr
    assert {p: sha(p.read_bytes()) for p in before} == before


def test_a_dataset_holding_an_mvm_file_is_added_whole(tmp_path: Path) -> None:
    repo = init_hooked(tmp_path / "repo")
    write(repo / "data" / "a.bin", os.urandom(500))
    write(repo / "data" / "sample.mvm", os.urandom(700))
    write(repo / "data" / "sub" / "b.mvm", b'name = "x"\n')
    digest = tree_digest(repo / "data")
    proc = mvm_proc(repo, "add", "data")
    assert proc.returncode == 0, proc.stderr
    git_ok(repo, "commit", "-q", "-m", "data")
    assert "data.mvm" in git(repo, "ls-files")
    assert "sample.mvm" not in git(repo, "ls-files")
    shutil.rmtree(repo / "data")
    proc = mvm_proc(repo, "checkout")
    assert proc.returncode == 0, proc.stderr
    assert tree_digest(repo / "data") == digest
    proc = mvm_proc(repo, "status")
    assert proc.returncode == 0 and "sample" not in proc.stdout + proc.stderr, proc.stdout
