"""docs/api.md's examples run as written, in order, in a repository made as the page says."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.api.conftest import Project

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def blocks() -> list[tuple[int, str]]:
    text = DOC.read_text()
    return [(text.count("\n", 0, m.start()) + 2, m.group(1))
            for m in re.finditer(r"```python\n(.*?)```", text, re.S)]


def test_the_page_has_examples() -> None:
    assert len(blocks()) >= 8


def test_every_example_runs(project: Project, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(project.root)
    namespace: dict[str, object] = {}
    for line, code in blocks():
        exec(compile("\n" * (line - 1) + code, str(DOC), "exec"), namespace)
    out = capsys.readouterr()
    assert out.err == ""
    # what the examples print: the first one's version, and the refusal with its hint
    assert "v1.0.0 " in out.out
    assert "models/missing.pt is not a tracked artifact" in out.out and " -- " in out.out
    assert os.getcwd() == str(project.root)
