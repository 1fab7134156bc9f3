"""The one place gitmv's services report progress and warnings to a person (stderr), and
how sizes are written for one.

The CLI sets the verbosity; services call `warn`/`info`/`debug` and never print directly.
"""

from __future__ import annotations

import sys

QUIET = -1
NORMAL = 0
VERBOSE = 1

level = NORMAL


def warn(message: str) -> None:
    """A warning is shown unless -q was given."""
    if level >= NORMAL:
        sys.stderr.write(f"git mvm: warning: {message}\n")


def info(message: str) -> None:
    if level >= NORMAL:
        sys.stderr.write(f"{message}\n")


def debug(message: str) -> None:
    if level >= VERBOSE:
        sys.stderr.write(f"git mvm: {message}\n")


def progress_enabled() -> bool:
    return level >= NORMAL and sys.stderr.isatty()


def human_size(n: int) -> str:
    value = float(abs(n))
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            text = f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
            return ("-" if n < 0 else "") + text
        value /= 1000
    raise AssertionError("unreachable")


def signed_size(n: int) -> str:
    return ("+" if n >= 0 else "") + human_size(n)


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """`1 file`, `0 files`, `2 files` (`nouns` for an irregular plural)."""
    return f"{n} {noun if n == 1 else nouns or noun + 's'}"
