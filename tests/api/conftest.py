"""A registry project for the API tests: two versions of a model, a dataset directory, params
and metrics, made with `git mvm` commands on a real repository."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

from tests.helpers import git_ok, mvm, rev, save_dir
from tests.registry.test_registry import Clock, setup_project, train


class Project(NamedTuple):
    root: Path
    v1: str  # commit of classifier@v1.0.0 (in production)
    v2: str  # commit of classifier@v1.1.0 (in staging)


def make_project(root: Path, clock: Clock) -> Project:
    setup_project(root)  # data/train = {a.csv, b.csv} committed
    v1 = train(root, b"weights 0", 0.9, lr=0.1)
    clock.tick()
    assert mvm(root, "register", "-q", "--no-env", "classifier", "v1.0.0") == 0
    clock.tick()
    assert mvm(root, "promote", "-q", "classifier", "v1.0.0", "production", "--force",
               "-m", "first deployment") == 0
    clock.tick()
    save_dir(root, "data/train", {"a.csv": b"1,2\n", "b.csv": b"3,4\n", "sub/c.csv": b"5\n"})
    v2 = train(root, b"weights 1", 0.95, lr=0.05)  # commits the new data too
    clock.tick()
    assert mvm(root, "register", "-q", "--no-env", "classifier", "v1.1.0") == 0
    clock.tick()
    assert mvm(root, "promote", "-q", "classifier", "v1.1.0", "staging") == 0
    assert rev(root) == v2
    git_ok(root, "tag", "before-data", f"{v1}")
    return Project(root, v1, v2)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


@pytest.fixture
def project(repo: Path, clock: Clock) -> Project:
    return make_project(repo, clock)
