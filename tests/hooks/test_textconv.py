"""The `mvm` diff driver: `git diff` and `git log -p` show pointers as people read them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gitmv.hooks.install import TEXTCONV
from gitmv.hooks.textconv import render
from gitmv.objects.pointer import Pointer
from tests.helpers import (
    corrupt_object,
    git,
    git_ok,
    git_run,
    mvm,
    object_path,
    save,
    save_dir,
    sha,
    staged,
    write,
)


def init_repo(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q")
    assert mvm(root, "init", "-q") == 0
    git_ok(root, "commit", "-q", "-m", "init")
    return root


def hunks(diff: str) -> list[str]:
    """The lines of a diff's hunks (after each `@@` line), without the headers."""
    out: list[str] = []
    inside = False
    for line in diff.splitlines():
        if line.startswith("diff --git"):
            inside = False
        elif line.startswith("@@"):
            inside = True
        elif inside:
            out.append(line)
    return out


def config_value(repo: Path) -> str:
    return git(repo, "config", "--local", "--get-all", "diff.mvm.textconv", check=False)


def data_of(n: int, seed: int) -> bytes:
    return bytes((seed + i) % 251 for i in range(n))


# --- install / uninstall -------------------------------------------------------------------


def test_init_registers_the_driver_and_commits_the_attribute(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    assert config_value(repo) == TEXTCONV + "\n"
    assert (repo / ".gitattributes").read_text() == "*.mvm diff=mvm\n"
    # staged by init, so the "init" commit carries it to the team
    assert git(repo, "show", "HEAD:.gitattributes") == "*.mvm diff=mvm\n"
    assert git(repo, "check-attr", "diff", "--", "x/m.pt.mvm") == "x/m.pt.mvm: diff: mvm\n"


def test_install_keeps_other_lines_and_never_duplicates(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    write(repo / ".gitattributes", "*.bin -text\n# comment\n*.csv diff=csv")  # no final newline
    git(repo, "add", ".gitattributes")
    git_ok(repo, "commit", "-q", "-m", "attrs")
    assert mvm(repo, "init", "-q") == 0
    expected = "*.bin -text\n# comment\n*.csv diff=csv\n*.mvm diff=mvm\n"
    assert (repo / ".gitattributes").read_text() == expected
    assert ".gitattributes" in staged(repo)  # the file was clean: only our line is staged
    git_ok(repo, "commit", "-q", "-m", "gitmv")
    capsys.readouterr()
    for _ in range(2):
        assert mvm(repo, "install") == 0
    assert capsys.readouterr().err == ""  # nothing to say: nothing changed
    assert (repo / ".gitattributes").read_text() == expected
    assert config_value(repo) == TEXTCONV + "\n"
    assert git(repo, "status", "--porcelain") == ""


def test_install_updates_another_textconv_value(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    repo = init_repo(tmp_path / "repo")
    git(repo, "config", "diff.mvm.textconv", "cat")
    capsys.readouterr()
    assert mvm(repo, "install") == 0
    assert "updated: diff driver (diff.mvm.textconv = git mvm hook textconv)" in (
        capsys.readouterr().err)
    assert config_value(repo) == TEXTCONV + "\n"


def test_install_keeps_windows_line_endings(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    write(repo / ".gitattributes", b"*.bin -text\r\n*.sh text eol=lf")
    assert mvm(repo, "init", "-q") == 0
    assert (repo / ".gitattributes").read_bytes() == (
        b"*.bin -text\r\n*.sh text eol=lf\r\n*.mvm diff=mvm\r\n")
    assert git(repo, "check-attr", "diff", "--", "m.mvm") == "m.mvm: diff: mvm\n"


def test_install_respects_a_diff_attribute_the_team_chose(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    write(repo / ".gitattributes", "*.mvm -diff\n")
    capsys.readouterr()
    assert mvm(repo, "init") == 0
    assert (repo / ".gitattributes").read_text() == "*.mvm -diff\n"
    assert mvm(repo, "install") == 0
    assert ("kept: .gitattributes (its `*.mvm -diff` line; `*.mvm diff=mvm` not added)"
            in capsys.readouterr().err)


def test_install_does_not_stage_someone_elses_unstaged_changes(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    write(repo / ".gitattributes", "*.png binary\n")  # a user's edit, not staged
    assert mvm(repo, "install", "-q") == 0
    assert (repo / ".gitattributes").read_text() == "*.png binary\n*.mvm diff=mvm\n"
    assert ".gitattributes" not in staged(repo)


def test_install_outside_a_gitmv_repository_leaves_gitattributes_alone(tmp_path: Path) -> None:
    repo = tmp_path / "plain"
    repo.mkdir()
    git(repo, "init", "-q")
    assert mvm(repo, "install", "-q") == 0
    assert config_value(repo) == TEXTCONV + "\n"
    assert not (repo / ".gitattributes").exists()


def test_uninstall_removes_the_config_and_keeps_gitattributes(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]
                                                              ) -> None:
    repo = init_repo(tmp_path / "repo")
    save(repo, "m.pt", data_of(3000, 1), "v1")
    save(repo, "m.pt", data_of(5000, 2), "v2")
    capsys.readouterr()
    assert mvm(repo, "uninstall") == 0
    assert "removed: diff driver (diff.mvm.textconv)" in capsys.readouterr().err
    assert config_value(repo) == ""
    assert '[diff "mvm"]' not in (repo / ".git" / "config").read_text()
    assert (repo / ".gitattributes").read_text() == "*.mvm diff=mvm\n"
    # without the driver git shows the raw TOML again
    body = hunks(git(repo, "diff", "HEAD~1", "HEAD"))
    assert f'-oid = "sha256:{sha(data_of(3000, 1))}"' in body
    assert "+size = 5000" in body
    assert mvm(repo, "uninstall", "-q") == 0  # twice: nothing left to do
    # a textconv set by someone else is not ours to remove
    git(repo, "config", "diff.mvm.textconv", "cat")
    assert mvm(repo, "uninstall", "-q") == 0
    assert config_value(repo) == "cat\n"


# --- what git shows ----------------------------------------------------------------------


def test_git_diff_and_log_show_kind_size_files_oid_meta(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    v1, v2 = data_of(3000, 1), data_of(1_234_567, 2)
    write(repo / "models" / "m.pt", v1)
    assert mvm(repo, "add", "-q", "models/m.pt", "--meta", "framework=torch") == 0
    files1 = {"a/x.bin": data_of(500, 3), "a/y.bin": data_of(700, 4), "top.txt": b"hi\n"}
    save_dir(repo, "data", files1)
    git_ok(repo, "commit", "-q", "-m", "v1")
    write(repo / "models" / "m.pt", v2)
    assert mvm(repo, "add", "-q", "models/m.pt") == 0
    files2 = {"a/y.bin": data_of(700, 4), "a/z.bin": data_of(1500, 5), "top.txt": b"hi!\n"}
    save_dir(repo, "data", files2, "v2")
    dir1 = Pointer.parse(git(repo, "show", "HEAD~1:data.mvm").encode(), "v1")
    dir2 = Pointer.parse((repo / "data.mvm").read_bytes(), "v2")

    diff = git(repo, "diff", "HEAD~1", "HEAD")
    assert hunks(diff) == [
        " kind: dir",
        "-size: 1.2 KB (1,203 bytes)",
        "+size: 2.2 KB (2,204 bytes)",
        " files: 3",
        f"-oid: sha256:{dir1.oid}",
        f"+oid: sha256:{dir2.oid}",
        " contents:",
        f"-  a/x.bin  500 B  sha256:{sha(files1['a/x.bin'])[:12]}",
        f"   a/y.bin  700 B  sha256:{sha(files1['a/y.bin'])[:12]}",
        f"-  top.txt  3 B  sha256:{sha(b'hi' + bytes([10]))[:12]}",
        f"+  a/z.bin  1.5 KB  sha256:{sha(files2['a/z.bin'])[:12]}",
        f"+  top.txt  4 B  sha256:{sha(files2['top.txt'])[:12]}",
        " kind: file",
        "-size: 3.0 KB (3,000 bytes)",
        f"-oid: sha256:{sha(v1)}",
        "+size: 1.2 MB (1,234,567 bytes)",
        f"+oid: sha256:{sha(v2)}",
        " meta.framework: torch",
    ]
    assert "diff --git a/models/m.pt.mvm b/models/m.pt.mvm" in diff
    # git log -p runs the same driver, for every commit
    log = git(repo, "log", "-p", "--format=commit %s", "--", "models/m.pt.mvm")
    assert "+size: 1.2 MB (1,234,567 bytes)" in log
    assert "+size: 3.0 KB (3,000 bytes)" in log  # v1's own patch: the pointer added
    assert 'oid = "' not in log
    # the work tree against HEAD too (git passes the work-tree file itself)
    write(repo / "models" / "m.pt", v1)
    assert mvm(repo, "add", "-q", "models/m.pt") == 0
    assert hunks(git(repo, "diff", "--cached", "--", "models/m.pt.mvm"))[:3] == [
        " kind: file",
        "-size: 1.2 MB (1,234,567 bytes)",
        f"-oid: sha256:{sha(v2)}",
    ]


def test_no_textconv_still_shows_the_raw_pointer(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    save(repo, "m.pt", data_of(3000, 1), "v1")
    save(repo, "m.pt", data_of(5000, 2), "v2")
    assert hunks(git(repo, "diff", "--no-textconv", "HEAD~1", "HEAD")) == [
        " # managed by git-mvm: the artifact's bytes live in the mvm cache",
        " mvm = 1",
        ' kind = "file"',
        f'-oid = "sha256:{sha(data_of(3000, 1))}"',
        "-size = 3000",
        f'+oid = "sha256:{sha(data_of(5000, 2))}"',
        "+size = 5000",
    ]
    # plumbing never converts: what gitmv itself reads stays the pointer
    assert git(repo, "cat-file", "-p", "HEAD:m.pt.mvm").startswith("# managed by git-mvm")


def test_without_gitmv_on_the_path_the_diff_shows_the_raw_pointer(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    save(repo, "m.pt", data_of(3000, 1), "v1")
    save(repo, "m.pt", data_of(5000, 2), "v2")
    git_dir = os.path.dirname(shutil.which("git") or "/usr/bin/git")
    proc = git_run(repo, "diff", "HEAD~1", "HEAD", env={"PATH": git_dir})  # a venv not active
    assert proc.returncode == 0
    assert proc.stderr == ""
    assert "+size = 5000" in hunks(proc.stdout)
    assert "-size = 3000" in hunks(proc.stdout)


def test_a_bad_pointer_shows_its_raw_text_and_a_note(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    save(repo, "m.pt", data_of(3000, 1), "v1")
    write(repo / "m.pt.mvm", 'mvm = 1\nkind = "blob"\n')
    git(repo, "add", "m.pt.mvm")
    git_ok(repo, "commit", "-q", "--no-verify", "-m", "broken")
    committed = hunks(git(repo, "diff", "HEAD~1", "HEAD"))
    assert committed == [
        "-kind: file",
        "-size: 3.0 KB (3,000 bytes)",
        f"-oid: sha256:{sha(data_of(3000, 1))}",
        "+(gitmv: not a valid pointer: kind must be \"file\" or \"dir\", got 'blob'; its raw "
        "text follows)",
        "+mvm = 1",
        '+kind = "blob"',
    ]
    # not TOML at all, in the work tree: the diff still works and shows both raw texts
    write(repo / "m.pt.mvm", "not toml = = =\n")
    proc = git_run(repo, "diff")
    assert proc.returncode == 0, proc.stderr
    lines = hunks(proc.stdout)
    assert "+not toml = = =" in lines
    assert '-kind = "blob"' in lines
    notes = [ln for ln in lines if "(gitmv: not a valid pointer: " in ln]
    assert [ln[:1] for ln in notes] == ["-", "+"]
    assert notes[1].startswith("+(gitmv: not a valid pointer: Expected '=' after a key")


def test_a_large_directory_is_summarized_by_top_level_entry(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    files = {f"train/f{i:03}.bin": bytes([i % 256]) * 10 for i in range(90)}
    files.update({f"test/g{i:02}.bin": bytes([i]) * 20 for i in range(15)})
    files["README"] = b"x" * 1500
    save_dir(repo, "data", files, "v1")
    text = git(repo, "show", "--format=", "HEAD", "--", "data.mvm")
    assert hunks(text)[-4:] == [
        "+contents by top-level entry:",
        "+  README  file  1.5 KB",
        "+  test/  15 files  300 B",
        "+  train/  90 files  900 B",
    ]


def test_a_manifest_missing_from_the_cache_is_said_not_guessed(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    save_dir(repo, "data", {"a.bin": b"a" * 10}, "v1")
    oid = Pointer.parse((repo / "data.mvm").read_bytes(), "data.mvm").oid
    corrupt_object(object_path(repo, oid), b"mvm-manifest 1\n644 abc 12\tevil\n")
    text = git(repo, "show", "--format=", "HEAD", "--", "data.mvm")
    assert hunks(text)[-1] == ("+contents: not listed (the manifest in the cache is corrupt; "
                               "run `git mvm fsck`)")
    object_path(repo, oid).unlink()
    text = git(repo, "show", "--format=", "HEAD", "--", "data.mvm")
    assert hunks(text)[-1] == ("+contents: not listed (manifest not in the cache; "
                               "`git mvm pull` brings it)")


def test_render_of_bytes_that_are_no_pointer_at_all() -> None:
    big = b"\x00\xffbinary" * 20_000  # someone committed a model as a .mvm file
    out = render(big[:65_537], rest=len(big) - 65_537)
    lines = out.split(b"\n")
    assert lines[0] == (b"(gitmv: not a valid pointer: 160,000 bytes is too large for a "
                        b"pointer; its raw text follows)")
    assert out.startswith(lines[0] + b"\n" + big[:65_536])
    assert out.endswith(f"\n(gitmv: {len(big) - 65_536:,} more bytes not shown)\n".encode())
    assert render(b"x" * 70_000).startswith(
        b"(gitmv: not a valid pointer: 70000 bytes is too large; its raw text follows)\n")
    assert render(b"") == (b"(gitmv: not a valid pointer: the "
                           b"`mvm = <version>` key is missing; its raw text follows)\n")


def test_textconv_imports_nothing_heavy(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    save_dir(repo, "data", {"a.bin": b"a" * 10}, "v1")
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gitmv", "hook", "textconv", "data.mvm"],
        cwd=repo, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("kind: dir\nsize: 10 bytes\nfiles: 1\n")
    mods = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines()}
    assert not mods & {"boto3", "requests", "tqdm", "tomlkit", "dataclasses", "argparse"}


def test_executables_and_symlinks_are_marked(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    write(repo / "tools" / "run.sh", "#!/bin/sh\n")
    (repo / "tools" / "run.sh").chmod(0o755)
    (repo / "tools" / "latest").symlink_to("run.sh")
    assert mvm(repo, "add", "-q", "tools") == 0
    git_ok(repo, "commit", "-q", "-m", "tools")
    out = git(repo, "show", "--format=", "HEAD", "--", "tools.mvm")
    assert hunks(out)[-3:] == [
        "+contents:",
        f"+  latest  6 B  sha256:{sha(b'run.sh')[:12]}  symlink",
        f"+  run.sh  10 B  sha256:{sha(b'#!/bin/sh' + bytes([10]))[:12]}  executable",
    ]


def test_linked_worktrees_and_subdirectories_use_the_driver_and_the_shared_cache(
        tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    save_dir(repo, "data", {"a.bin": b"a" * 10}, "v1")
    save_dir(repo, "data", {"a.bin": b"a" * 10, "b.bin": b"b" * 20}, "v2")
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), "HEAD")
    (tmp_path / "wt" / "deep" / "er").mkdir(parents=True)
    expected_tail = [" contents:", f"   a.bin  10 B  sha256:{sha(b'a' * 10)[:12]}",
                     f"+  b.bin  20 B  sha256:{sha(b'b' * 20)[:12]}"]
    for where in (tmp_path / "wt", tmp_path / "wt" / "deep" / "er", repo / ".mvm"):
        assert hunks(git(where, "diff", "HEAD~1", "HEAD"))[-3:] == expected_tail, where
