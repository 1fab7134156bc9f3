from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import HOSTILE, git, hermetic_env, hostile_config, hostile_env


@pytest.fixture(autouse=True)
def _hermetic(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
              request: pytest.FixtureRequest) -> None:
    """Every test gets a fresh HOME and no inherited GIT_* variables. Under
    GITMV_TEST_HOSTILE=1 (scripts/test's second pass) the HOME's .gitconfig and the
    environment are a user's who set everything that changes what git prints or matches."""
    home = tmp_path_factory.mktemp("home")
    for key in list(os.environ):
        if key.startswith("GIT_"):
            monkeypatch.delenv(key)
    for key, value in hermetic_env(home).items():
        monkeypatch.setenv(key, value)
    config = (
        "[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n"
        "[protocol \"file\"]\n\tallow = always\n"
    )
    if HOSTILE:
        (home / ".gitconfig-plain").write_text(config)
        config += hostile_config()
        for key, value in hostile_env(request.node.nodeid).items():
            if value is None:
                monkeypatch.delenv(key, raising=False)
            else:
                monkeypatch.setenv(key, value)
    (home / ".gitconfig").write_text(config)


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    """A fresh git repository with `git mvm init` done and one empty commit."""
    from tests.helpers import mvm

    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    assert mvm(root, "init", "-q", "--no-hooks") == 0
    git(root, "commit", "-q", "-m", "init")
    yield root
