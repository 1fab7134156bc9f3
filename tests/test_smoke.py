from __future__ import annotations

import shutil
from pathlib import Path

from tests.helpers import git, make_dataset, mvm, tree_digest, write


def test_add_commit_delete_checkout_roundtrip(repo: Path) -> None:
    model = write(repo / "models" / "m.pt", b"weights" * 1000)
    digest = make_dataset(repo / "data")
    assert mvm(repo, "add", "models/m.pt", "data") == 0
    git(repo, "commit", "-q", "-m", "add")
    model.unlink()
    shutil.rmtree(repo / "data")
    assert mvm(repo, "checkout") == 0
    assert model.read_bytes() == b"weights" * 1000
    assert tree_digest(repo / "data") == digest
