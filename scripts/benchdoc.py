"""docs/benchmarks.md is written by three scripts: scripts/bench.py writes the core report,
scripts/bench_remote.py and scripts/bench_registry.py each own a section between markers.
What stands below KEEP (notes, the marked sections) survives a rewrite of the core report."""

from __future__ import annotations

from pathlib import Path

KEEP = "<!-- scripts/bench.py keeps everything below this line when it rewrites the report -->"


def kept_tail(out: Path) -> str:
    """The part of the existing report that a rewrite of the core report keeps."""
    text = out.read_text() if out.exists() else ""
    return text[text.index(KEEP) :] if KEEP in text else KEEP + "\n"


def replace_section(out: Path, begin: str, end: str, lines: list[str]) -> None:
    """Put `lines` (which start with `begin` and end with `end`) in place of the section
    between those markers, or at the end of the report when there is none yet."""
    text = out.read_text() if out.exists() else "# Benchmarks\n"
    if begin in text:
        text = text[: text.index(begin)] + text[text.index(end) + len(end) :].lstrip("\n")
    out.write_text(text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n")
