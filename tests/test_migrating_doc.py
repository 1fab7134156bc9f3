"""docs/migrating.md is real output: scripts/migrating_doc.py runs its `sh` blocks (the real
dvc, git-lfs, a giftless server) and must print what the page shows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "migrating.md"


def test_the_page_has_its_sections() -> None:
    text = DOC.read_text()
    for heading in ("## From DVC", "## From Git LFS", "## Commits from before the import",
                    "## From GTO"):
        assert heading in text
    gto = text[text.index("## From GTO"):]
    assert "(migrating-gto.md)" in gto and (DOC.parent / "migrating-gto.md").exists()


@pytest.mark.slow
def test_the_outputs_are_what_the_commands_print_today() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "migrating_doc.py"),
                           "--check"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
