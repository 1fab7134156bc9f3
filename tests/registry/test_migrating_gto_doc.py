"""docs/migrating-gto.md's walk-through stays true: scripts/gto-walkthrough.sh run again
(gitmv and the real gto) prints what the doc shows, dates aside (gto dates its tags by the
clock)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gto import gto_executable

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "migrating-gto.md"
BEGIN, END = "<!-- gto-walkthrough: begin -->\n", "<!-- gto-walkthrough: end -->"
DATE = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?")


def normalized(text: str) -> str:
    return DATE.sub("DATE", text)


def test_the_gto_walkthrough_is_what_the_doc_shows() -> None:
    env = {**os.environ, "GTO": str(gto_executable()), "PYTHONPATH": str(ROOT),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([str(ROOT / "scripts" / "gto-walkthrough.sh")], env=env,
                          capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr
    shown = DOC.read_text().partition(BEGIN)[2].partition(END)[0]
    assert shown, "docs/migrating-gto.md has no walk-through between its markers"
    assert normalized(proc.stdout) == normalized(shown), (
        "docs/migrating-gto.md is out of date: run scripts/gto-walkthrough.sh --write")
    assert "(exit " not in shown  # every step of the walk-through succeeds
