"""The command line: help, the man page, errors as one line and a hint, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitmv.cli import COMMANDS, main
from tests.helpers import error_lines, git, mvm, mvm_proc, run, write

ROOT = Path(__file__).resolve().parent.parent
BIN = os.path.dirname(sys.executable)


def through_git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `git mvm ARGS` the way a user does: git finds `git-mvm` on PATH."""
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ["PATH"])
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env=env,
                          check=False)


# --- help ----------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_top_level_help_lists_every_command(
    flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([flag])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: git mvm")
    for name in COMMANDS:
        assert f"    {name} " in out or f"    {name}\n" in out, name


def test_help_without_topic_is_the_top_level_help(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = run(capsys, tmp_path, "help")
    assert res.rc == 0
    assert res.out.startswith("usage: git mvm")


@pytest.mark.parametrize("name", sorted(set(COMMANDS) - {"help"}))
def test_help_command_and_dash_h_agree(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = run(capsys, tmp_path, "help", name)
    assert res.rc == 0
    assert res.out.startswith(f"usage: git mvm {name}")
    with pytest.raises(SystemExit) as info:
        main([name, "-h"])
    assert info.value.code == 0
    assert capsys.readouterr().out == res.out


def test_help_names_the_options_of_add(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, tmp_path, "help", "add").out
    assert "--meta KEY=VALUE" in out
    assert "PATH" in out


def test_help_for_unknown_command_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = run(capsys, tmp_path, "help", "frobnicate")
    assert res.rc == 1
    assert error_lines(res.err) == ["git mvm: error: no such command 'frobnicate'"]
    assert "hint: `git mvm help` lists the commands" in res.err


def test_a_commands_parser_alone_is_the_one_in_the_whole_parser() -> None:
    """`main` builds only the parser of the command it runs (make_parser(only=…)): for every
    command, that parser's help, usage and options are the whole parser's."""
    import argparse

    from gitmv.cli import make_parser

    def sub(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
        for action in parser._subparsers._group_actions if parser._subparsers else []:
            if isinstance(action, argparse._SubParsersAction):
                return action.choices[name]
        raise AssertionError(name)

    whole = make_parser()
    for name in COMMANDS:
        alone = make_parser(name)
        assert sub(alone, name).format_help() == sub(whole, name).format_help(), name
        assert [a.dest for a in sub(alone, name)._actions] == \
            [a.dest for a in sub(whole, name)._actions], name
        assert alone.format_usage() == whole.format_usage()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("gitmv ")


def test_git_runs_both_command_names(repo: Path) -> None:
    for name in ("mvm", "mv-model"):
        proc = through_git(repo, name, "help", "status")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("usage: git mvm status")
    proc = through_git(repo, "mvm", "status")
    assert proc.returncode == 0, proc.stderr


def test_python_dash_m_gitmv(tmp_path: Path) -> None:
    proc = mvm_proc(tmp_path, "-h")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: git mvm")


# --- the man page --------------------------------------------------------------------------


def test_man_pages_are_shipped() -> None:
    page = (ROOT / "man" / "git-mvm.1").read_text()
    assert page.startswith(".TH GIT-MVM 1")
    for name in COMMANDS:
        assert f"\n.SS {name}\n" in page, name
    assert (ROOT / "man" / "git-mv-model.1").read_text() == ".so man1/git-mvm.1\n"
    assert "man/git-mvm.1" in (ROOT / "pyproject.toml").read_text()


def test_man_page_is_regenerated_identically(tmp_path: Path) -> None:
    env = dict(os.environ, COLUMNS="200")  # the page must not depend on the terminal
    proc = subprocess.run(
        [sys.executable, "-m", "gitmv.manpage", str(tmp_path / "out")], cwd=tmp_path,
        capture_output=True, text=True, env=env, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("git-mvm.1", "git-mv-model.1"):
        assert (tmp_path / "out" / name).read_bytes() == (ROOT / "man" / name).read_bytes(), (
            f"man/{name} is stale: run `python -m gitmv.manpage man`"
        )


def test_man_page_renders_without_warnings(tmp_path: Path) -> None:
    if subprocess.run(["sh", "-c", "command -v groff"], capture_output=True).returncode:
        pytest.skip("groff is not installed")
    proc = subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww", str(ROOT / "man" / "git-mvm.1")],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0
    assert proc.stderr == ""
    assert "checkout" in proc.stdout


# --- errors and exit codes -----------------------------------------------------------------


def assert_one_error_and_hint(stderr: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 2, stderr
    assert lines[0].startswith("git mvm: error: ")
    assert lines[1].startswith("hint: ")
    assert "Traceback" not in stderr


def test_outside_a_repository_is_one_line_and_a_hint(tmp_path: Path) -> None:
    proc = mvm_proc(tmp_path, "status")
    assert proc.returncode == 1
    assert_one_error_and_hint(proc.stderr)
    assert "not inside a git work tree" in proc.stderr
    assert proc.stdout == ""


def test_verbose_shows_the_traceback(tmp_path: Path) -> None:
    proc = mvm_proc(tmp_path, "-v", "status")
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr
    assert "git mvm: error: not inside a git work tree" in proc.stderr
    assert mvm_proc(tmp_path, "status", "-v").stderr == proc.stderr


def test_bad_pointer_error_is_one_line_and_a_hint(repo: Path) -> None:
    write(repo / "m.pt.mvm", "mvm = 1\nkind = [\n")
    proc = mvm_proc(repo, "checkout", "m.pt")
    assert proc.returncode == 1
    assert_one_error_and_hint(proc.stderr)
    assert proc.stderr.startswith("git mvm: error: m.pt.mvm: ")


def test_refusal_is_one_line_and_a_hint(repo: Path) -> None:
    write(repo / "m.pt", "x")
    git(repo, "add", "m.pt")
    proc = mvm_proc(repo, "add", "m.pt")
    assert proc.returncode == 1
    assert_one_error_and_hint(proc.stderr)


@pytest.mark.parametrize(
    "args",
    [
        ["frobnicate"],
        ["add"],
        ["untrack"],
        ["add", "--bogus", "x"],
        ["status", "-j", "many"],
        ["diff", "a", "b", "c"],
    ],
)
def test_usage_errors_exit_2(args: list[str], repo: Path) -> None:
    proc = mvm_proc(repo, *args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("usage: git mvm")
    assert "git mvm: error: " in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_meta_is_a_usage_error_with_a_hint(repo: Path) -> None:
    write(repo / "m.pt", "x")
    proc = mvm_proc(repo, "add", "m.pt", "--meta", "=v")
    assert proc.returncode == 2
    assert_one_error_and_hint(proc.stderr)


def test_bad_config_is_one_line_naming_the_file(repo: Path) -> None:
    write(repo / ".mvm" / "config.toml", "[cache\n")
    proc = mvm_proc(repo, "status")
    assert proc.returncode == 1
    assert_one_error_and_hint(proc.stderr)
    assert "config.toml" in proc.stderr.splitlines()[0]


def test_unknown_link_mode_is_one_line(repo: Path) -> None:
    write(repo / ".mvm" / "config.toml", '[cache]\nlink = ["teleport"]\n')
    write(repo / "m.pt", "x")
    assert mvm_proc(repo, "add", "m.pt").returncode == 0
    (repo / "m.pt").unlink()
    proc = mvm_proc(repo, "checkout")
    assert proc.returncode == 1
    assert_one_error_and_hint(proc.stderr)
    assert "teleport" in proc.stderr


def test_unexpected_exception_says_it_is_a_bug_without_traceback(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import gitmv.commands.status

    def boom(**_: object) -> int:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(gitmv.commands.status, "run", boom)
    res = run(capsys, repo, "status")
    assert res.rc == 1
    assert_one_error_and_hint(res.err)
    assert "unexpected RuntimeError: kaboom" in res.err
    assert "bug" in res.err
    res = run(capsys, repo, "-v", "status")
    assert "Traceback" in res.err


def test_os_error_is_one_line_naming_the_file(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import errno

    import gitmv.commands.status

    def full(**_: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", "/some/where")

    monkeypatch.setattr(gitmv.commands.status, "run", full)
    res = run(capsys, repo, "status")
    assert res.rc == 1
    assert_one_error_and_hint(res.err)
    assert "No space left on device: /some/where" in res.err
    assert "free some space" in res.err


def test_quiet_silences_progress_but_not_errors(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / "m.pt", "x")
    res = run(capsys, repo, "add", "-q", "m.pt")
    assert (res.rc, res.out, res.err) == (0, "", "")
    res = run(capsys, repo, "add", "-q", "missing.pt")
    assert res.rc == 1
    assert error_lines(res.err)


def test_pipe_closed_early_is_not_a_traceback(repo: Path) -> None:
    for i in range(40):
        write(repo / f"m{i}.pt", str(i))
    assert mvm_proc(repo, "add", "-q", *(f"m{i}.pt" for i in range(40))).returncode == 0
    proc = subprocess.run(
        f"{sys.executable} -m gitmv ls --json | head -c 10", shell=True, cwd=repo,
        capture_output=True, text=True, check=False,
    )
    assert "Traceback" not in proc.stderr
    assert "Exception ignored" not in proc.stderr


def test_optional_positionals_may_follow_options(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Any command's optional positionals may come after an option, not only remote's."""
    assert mvm(repo, "ls", "--json", "HEAD", capsys=capsys) == 0
    assert capsys.readouterr().out.strip() == "[]"
    assert mvm(repo, "diff", "--json", "HEAD", "HEAD", capsys=capsys) == 0
    with pytest.raises(SystemExit) as exc:
        mvm(repo, "ls", "--json", "HEAD", "extra")
    assert exc.value.code == 2
    assert "unrecognized arguments: extra" in capsys.readouterr().err
