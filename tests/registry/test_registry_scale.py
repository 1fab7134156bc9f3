"""The registry as it grows (issue 14): at 100 and at 1,000 tags of one model, no command
parses the environment a registration records, and once the tag cache has read the tags
(the first command after they arrive), every command makes the same git calls and parses
the same TOML whatever the number of versions, `show MODEL` (which lists them all) included.
Counted, not timed (scripts/registry_scale.py times them at 10,000 tags)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

import gitmv.repo
from gitmv.registry import read
from tests.helpers import mvm, save
from tests.registry.manytags import fake_env, make_tags, version_name

pytestmark = pytest.mark.slow


class Counter:
    def __init__(self) -> None:
        self.git: list[tuple[str, ...]] = []
        self.parsed: list[str] = []  # every text handed to tomllib by the registry

    def reset(self) -> None:
        self.git.clear()
        self.parsed.clear()


@pytest.fixture
def counter(monkeypatch: pytest.MonkeyPatch) -> Counter:
    c = Counter()
    real_git = gitmv.repo.run_git
    real_loads = tomllib.loads

    def run_git(args: Any, *a: Any, **kw: Any) -> Any:
        c.git.append(tuple(args))
        return real_git(args, *a, **kw)

    def loads(text: str, **kw: Any) -> dict[str, Any]:
        c.parsed.append(text)
        return real_loads(text, **kw)

    class Toml:
        TOMLDecodeError = tomllib.TOMLDecodeError

    Toml.loads = staticmethod(loads)  # type: ignore[attr-defined]
    monkeypatch.setattr(gitmv.repo, "run_git", run_git)
    monkeypatch.setattr(read, "tomllib", Toml)
    return c


COMMANDS = {
    "show": ["show"],
    "history": ["history", "m"],
    "show stage": ["show", "m#production", "--version"],
    "promote": ["promote", "-q", "m", "{latest}", "dev"],
    "register": ["register", "-q", "--no-env", "m"],
    "show model": ["show", "m"],
}


def measure(repo: Path, tmp: Path, n_tags: int, counter: Counter
            ) -> dict[str, tuple[int, int, list[str]]]:
    made = make_tags(repo, n_tags, env=fake_env())
    latest = version_name(made["versions"] - 1)
    save(repo, "models/m.pt", b"the newest weights", "new weights")
    out: dict[str, tuple[int, int, list[str]]] = {}
    counter.reset()
    assert mvm(repo, "show") == 0  # the first read after new tags reads them (once)
    out["first read"] = (len(counter.git), len(counter.parsed), list(counter.parsed))
    for name, argv in COMMANDS.items():
        args = [a.format(latest=latest, tmp=tmp) for a in argv]
        counter.reset()
        assert mvm(repo, *args) == 0, (name, args)
        out[name] = (len(counter.git), len(counter.parsed), list(counter.parsed))
    out["versions"] = (made["versions"], 0, [])
    return out


def test_commands_do_not_grow_with_the_versions(
    tmp_path: Path, counter: Counter, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import git

    runs = {}
    for n in (100, 1000):
        root = tmp_path / f"r{n}"
        root.mkdir()
        git(root, "init", "-q")
        assert mvm(root, "init", "-q", "--no-hooks") == 0
        git(root, "commit", "-q", "-m", "init")
        runs[n] = measure(root, tmp_path, n, counter)
    capsys.readouterr()
    small, big = runs[100], runs[1000]
    # the first read after tags arrive reads each new tag once (the tag cache keeps what
    # the commands need), never the environment
    assert big["first read"][1] <= big["versions"][0] + 200
    assert not any("[gitmv.env" in text for text in big["first read"][2])
    for name in COMMANDS:
        if name not in big:
            continue
        for text in big[name][2]:
            assert "[gitmv.env" not in text, f"{name} parsed a registration's environment"
        if name == "show model":  # after `register`: the new version's tag is read
            assert big[name][1] <= 2, name
        assert big[name][0] == small[name][0], (name, "git calls", small[name][0],
                                                big[name][0])
        assert big[name][1] == small[name][1], (name, "TOML parses", small[name][1],
                                                big[name][1])
