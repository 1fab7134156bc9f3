"""Generate the `git-mvm.1` man page from the argument parser (`python -m gitmv.manpage DIR`).

Git turns `git mvm --help` into `man git-mvm`, so the page is built from the same parser that
`git mvm -h` prints, and a test keeps the committed copy in step with it.
"""

from __future__ import annotations

import argparse
import os
import sys

from gitmv import __version__
from gitmv.cli import COMMANDS, make_parser


def _esc(text: str) -> str:
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + ln) if ln.startswith((".", "'")) else ln for ln in text.split("\n"))


def _options(parser: argparse.ArgumentParser) -> list[str]:
    out: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            names = ", ".join(f"\\fB{_esc(o)}\\fR" for o in action.option_strings)
            if action.nargs != 0 and action.metavar is not None:
                names += f" \\fI{_esc(str(action.metavar))}\\fR"
            elif action.nargs != 0 and action.dest:
                names += f" \\fI{_esc(action.dest.upper())}\\fR"
        else:
            names = f"\\fI{_esc(str(action.metavar or action.dest))}\\fR"
        out += [".TP", names, _esc(str(action.help or ""))]
    return out


def render() -> str:
    os.environ["COLUMNS"] = "80"  # argparse wraps usage to the terminal: make it repeatable
    parser = make_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    lines = [
        f'.TH GIT-MVM 1 "" "gitmv {__version__}" "Git Manual"',
        ".SH NAME",
        "git-mvm, git-mv-model \\- " + _esc("version machine-learning models and datasets in git"),
        ".SH SYNOPSIS",
        ".B git mvm",
        "[\\fB\\-q\\fR|\\fB\\-v\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR]",
        ".SH DESCRIPTION",
        _esc(parser.description or ""),
        ".SH COMMANDS",
    ]
    for name in COMMANDS:
        p = sub.choices[name]
        usage = p.format_usage().replace("usage: ", "").strip()
        # a command name stays literal in its heading (`check-ref`: a hyphen, not a minus)
        lines += [".SS " + name, ".nf", _esc(usage), ".fi", _esc(p.description or "")]
        lines += _options(p)
    lines += [".SH OPTIONS", *_options(parser)]
    lines += [
        ".SH FILES",
        ".TP", "\\fI.mvm/config.toml\\fR", "shared configuration (tracked)",
        ".TP", "\\fI$GIT_DIR/mvm/config.toml\\fR", "local configuration (never committed)",
        ".TP", "\\fI$GIT_DIR/mvm/objects\\fR", "the object cache",
        ".SH SEE ALSO",
        "\\fBgit\\fR(1); docs/ in the gitmv source tree",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    outdir = argv[0] if argv else "man"
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "git-mvm.1"), "w", encoding="utf-8") as f:
        f.write(render())
    with open(os.path.join(outdir, "git-mv-model.1"), "w", encoding="utf-8") as f:
        f.write(".so man1/git-mvm.1\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
