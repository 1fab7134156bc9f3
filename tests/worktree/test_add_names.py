"""What `git mvm add` must not do to a person's files, and names it cannot hold.

A file named like a pointer (`X.mvm`) that is not one is somebody's data: `add X` refuses to
overwrite it. A name with a control character (a newline splits the .gitignore line that
keeps the artifact's bytes out of git) or bytes that are not UTF-8 is refused at `add` with one
line, and such a file in the tree, inside a directory artifact or under a committed pointer
makes no command fail with a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitmv.objects.pointer import Pointer
from tests.helpers import error_lines, git, git_ok, mvm_proc, sha, staged, write


def add(repo: Path, *paths: str | bytes) -> tuple[int, str]:
    proc = mvm_proc(repo, "add", *(os.fsdecode(p) for p in paths))
    return proc.returncode, proc.stderr


NOT_POINTERS = {
    "binary data": os.urandom(500),
    "text": b"my notes about the model\n",
    "toml of another tool": b'name = "mvm"\nversion = 3\n',
    "empty": b"",
    "too large": b"# x\n" * 20_000,
}


@pytest.mark.parametrize("what", [*NOT_POINTERS, "a directory", "a symlink"])
def test_add_never_overwrites_a_file_named_like_its_pointer_that_is_not_one(
    repo: Path, what: str
) -> None:
    write(repo / "model.pt", os.urandom(2000))
    there = repo / "model.pt.mvm"
    if what == "a directory":
        write(there / "keep.txt", b"mine")
    elif what == "a symlink":
        write(repo / "target.txt", b"mine")
        there.symlink_to("target.txt")
    else:
        write(there, NOT_POINTERS[what])
    before = _snapshot(there)
    rc, err = add(repo, "model.pt")
    assert rc == 1, err
    lines = error_lines(err)
    assert len(lines) == 1 and "model.pt.mvm" in lines[0] and "not a gitmv pointer" in lines[0], err
    assert "hint: move model.pt.mvm aside" in err
    assert _snapshot(there) == before
    assert "model.pt.mvm" not in staged(repo)
    assert not (repo / ".gitignore").exists() or "model.pt" not in (repo / ".gitignore").read_text()


def _snapshot(path: Path) -> object:
    if path.is_symlink():
        return ("link", os.readlink(path), (path.parent / os.readlink(path)).read_bytes())
    if path.is_dir():
        return sorted((p.name, p.read_bytes()) for p in path.iterdir())
    return path.read_bytes()


def test_add_replaces_a_pointer_untracked_or_tracked_whatever_it_holds(repo: Path) -> None:
    """A file that parses as a pointer (an untracked one: `git rm --cached` of a previous
    add) is gitmv's to replace; so is whatever git tracks as one (a merge conflict in it)."""
    write(repo / "a.pt", os.urandom(2000))
    write(repo / "a.pt.mvm", Pointer("file", sha(b"old"), 3).dump())
    data = os.urandom(2000)
    write(repo / "b.pt", data)
    assert add(repo, "b.pt")[0] == 0
    git_ok(repo, "commit", "-q", "-m", "b")
    write(repo / "b.pt.mvm", b"<<<<<<< HEAD\nmvm = 1\n=======\n>>>>>>> theirs\n")
    rc, err = add(repo, "a.pt", "b.pt")
    assert rc == 0, err
    assert Pointer.parse((repo / "a.pt.mvm").read_bytes(), "a").size == 2000
    assert Pointer.parse((repo / "b.pt.mvm").read_bytes(), "b").oid == sha(data)


BAD_NAMES = [b"line\nbreak.pt", b"carriage\rreturn.pt", b"tab\there.pt", b"esc\x1b.pt",
             b"latin1-\xff.pt", b"trailing-newline.pt\n"]


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_add_refuses_a_name_no_pointer_or_gitignore_line_can_hold(
    repo: Path, name: bytes
) -> None:
    path = os.path.join(os.fsencode(repo), name)
    with open(path, "wb") as f:
        f.write(os.urandom(1000))
    gitignore_before = (repo / ".gitignore").read_bytes() if (repo / ".gitignore").exists() \
        else None
    rc, err = add(repo, name)
    assert rc == 1, err
    lines = [line for line in err.splitlines() if line]
    assert len(lines) == 2 and lines[0].startswith("git mvm: error: ") \
        and lines[1].startswith("hint: rename"), err
    assert "UTF-8" in lines[0] or "control character" in lines[0], err
    assert "unexpected" not in err
    assert os.listdir(repo).count(os.fsdecode(name) + ".mvm") == 0
    gitignore_now = (repo / ".gitignore").read_bytes() if (repo / ".gitignore").exists() \
        else None
    assert gitignore_now == gitignore_before


def test_unholdable_names_in_the_tree_break_no_command(repo: Path) -> None:
    """Such files untracked in the tree, inside a directory artifact (after its add), and as
    a committed pointer's name: status, ls, fsck, gc, checkout, diff answer with lines, not a
    traceback; the good artifact is still reported."""
    root = os.fsencode(repo)
    write(repo / "good.pt", os.urandom(1000))
    write(repo / "data" / "ok.bin", os.urandom(1000))
    assert add(repo, "good.pt", "data")[0] == 0
    git_ok(repo, "commit", "-q", "-m", "artifacts")
    for name in BAD_NAMES:
        with open(os.path.join(root, name), "wb") as f:
            f.write(b"loose")
        with open(os.path.join(root, b"data", name), "wb") as f:
            f.write(b"inside")
    # a pointer committed under such a name (by git, or an older gitmv)
    data = os.urandom(1000)
    write(repo / "w.pt", data)
    assert add(repo, "w.pt")[0] == 0
    os.rename(os.path.join(root, b"w.pt.mvm"), os.path.join(root, b"w\xff.pt.mvm"))
    os.rename(os.path.join(root, b"w.pt"), os.path.join(root, b"w\xff.pt"))
    git(repo, "add", "-A", "--", "w.pt.mvm", os.fsdecode(b"w\xff.pt.mvm"))
    git_ok(repo, "commit", "-q", "-n", "-m", "an odd name")
    for args in (["status"], ["status", "--json"], ["ls"], ["ls", "--json"], ["fsck"],
                 ["gc", "--dry-run"], ["gc"], ["checkout"], ["diff", "HEAD~1"]):
        proc = mvm_proc(repo, *args, errors="surrogateescape")
        assert "Traceback" not in proc.stderr and "unexpected" not in proc.stderr, \
            (args, proc.stderr)
        assert proc.returncode in (0, 1), (args, proc.stderr)
        if args[0] in ("status", "ls"):
            assert "good.pt" in proc.stdout, (args, proc.stdout)
        if args == ["status"]:
            assert "data" in proc.stdout and "\\xff" in proc.stdout + proc.stderr


def test_add_repairs_a_damaged_pointer_that_says_it_is_one(repo: Path) -> None:
    """Broken TOML, or a newer gitmv's format, with gitmv's `mvm = N` line: a pointer, so
    `add` replaces it (the way to repair one)."""
    for name, text in (("a", b'mvm = 1\nkind = "file\n'), ("b", b"mvm = 7\nwhatever = [\n")):
        write(repo / f"{name}.pt", os.urandom(100))
        write(repo / f"{name}.pt.mvm", text)
    rc, err = add(repo, "a.pt", "b.pt")
    assert rc == 0, err
