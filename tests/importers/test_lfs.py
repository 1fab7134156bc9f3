"""`git mvm import lfs` against the real git-lfs client and a giftless server on loopback:
the converted pointers name the same objects, the server receives no upload, and a fresh
`git mvm clone` gets every byte from it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import (
    cache_objects,
    error_lines,
    git,
    git_ok,
    mvm,
    read_pointer,
    run,
    sha,
    staged,
    tracked,
    write,
)
from tests.stores.lfs import Giftless, fresh_repo, shared_server

ATTRS = ("*.bin filter=lfs diff=lfs merge=lfs -text\n"
         "*.pt filter=lfs diff=lfs merge=lfs -text\n"
         "weights/** filter=lfs diff=lfs merge=lfs -text\n"
         "*.txt text\n")
FILES = {
    "model.bin": 300_000,
    "my model ü.pt": 5_000,  # a space and a non-ASCII letter
    "weights/a.h5": 70_000,
    "weights/b c.h5": 10,
    "data/x.bin": 1_000,
}


def _lfs_git(repo: Path, *args: str) -> str:
    return git(repo, *args)


class LfsProject:
    """A git-lfs repository pushed to a bare origin and to a giftless endpoint."""

    def __init__(self, tmp_path: Path, server: Giftless) -> None:
        if shutil.which("git-lfs") is None:
            pytest.fail("git-lfs is not installed (scripts/test installs Debian's git-lfs)")
        self.server = server
        self.org, self.name = fresh_repo()
        self.endpoint = server.endpoint(self.org, self.name)
        self.origin = tmp_path / "origin.git"
        git(tmp_path, "init", "-q", "--bare", str(self.origin))
        self.root = tmp_path / "work"
        self.root.mkdir()
        git(self.root, "init", "-q")
        self.configure(self.root)
        write(self.root / ".gitattributes", ATTRS)
        write(self.root / "README.txt", "hello\n")
        self.data = {rel: os.urandom(n) for rel, n in FILES.items()}
        for rel, data in self.data.items():
            write(self.root / rel, data)
        git(self.root, "add", ".")
        git_ok(self.root, "commit", "-q", "-m", "lfs files")
        git(self.root, "remote", "add", "origin", str(self.origin))
        git_ok(self.root, "push", "-q", "origin", "main")  # git-lfs's pre-push uploads
        assert self.server_files()

    def configure(self, repo: Path) -> None:
        git(repo, "lfs", "install", "--local")
        git(repo, "config", "lfs.url", self.endpoint)
        git(repo, "config", "lfs.locksverify", "false")

    def server_files(self) -> dict[str, tuple[int, int]]:
        """Each object the server stores: (size, mtime_ns); what an upload would change."""
        root = self.server.storage / self.org / self.name
        return {p.name: (p.stat().st_size, p.stat().st_mtime_ns)
                for p in root.rglob("*") if p.is_file()} if root.exists() else {}

    def uploads(self) -> int:
        """PUT and verify requests for this repository in the server's log."""
        log = self.server.log.read_text(errors="replace")
        return sum(1 for line in log.splitlines()
                   if f"/{self.org}/" in line and ('"PUT ' in line or "/verify" in line))


@pytest.fixture
def project(tmp_path: Path) -> LfsProject:
    return LfsProject(tmp_path, shared_server())


def lfs_files_of_index(repo: Path) -> set[str]:
    """Files whose staged blob is a Git LFS pointer."""
    return {rel for rel in tracked(repo)
            if git(repo, "cat-file", "blob", f":{rel}").startswith("version https://git-lfs")}


def test_import_lfs_converts_every_file_and_uploads_nothing(
    project: LfsProject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = project.root
    before_server, before_uploads = project.server_files(), project.uploads()
    assert before_uploads >= len(FILES)  # git-lfs's own push is counted
    model_before = (repo / "model.bin").stat()
    res = run(capsys, repo, "import", "lfs")
    assert res.rc == 0, res.err
    # a large smudged file is only read: the cache links git-lfs's copy of it, the work-tree
    # file stays the same file, nothing copied
    big = sha(project.data["model.bin"])
    lfs_copy = repo / ".git" / "lfs" / "objects" / big[:2] / big[2:4] / big
    assert cache_objects(repo)[big].stat().st_ino == lfs_copy.stat().st_ino
    model_after = (repo / "model.bin").stat()
    assert (model_after.st_ino, model_after.st_mtime_ns) == (model_before.st_ino,
                                                             model_before.st_mtime_ns)
    # every LFS file is a gitmv pointer of the same oid and size; its bytes are cached
    objects = cache_objects(repo)
    for rel, data in project.data.items():
        ptr = read_pointer(repo, rel)
        assert (ptr["oid"], ptr["size"]) == (f"sha256:{sha(data)}", len(data)), rel
        assert sha(data) in objects
        assert (repo / rel).read_bytes() == data
    # one commit's worth staged: pointers in, LFS files out, filters gone, artifacts ignored
    assert lfs_files_of_index(repo) == set()
    assert {f"{rel}.mvm" for rel in FILES} <= tracked(repo)
    assert not set(FILES) & tracked(repo)
    assert {".gitattributes", ".mvm/config.toml", ".gitignore", "weights/.gitignore",
            "data/.gitignore"} <= staged(repo)
    assert "filter=lfs" not in (repo / ".gitattributes").read_text()
    assert "*.txt text" in (repo / ".gitattributes").read_text()
    unstaged = [line for line in git(repo, "status", "--porcelain", "--untracked-files=all")
                .splitlines() if line[1] != " "]
    assert unstaged == []  # nothing left unstaged, nothing untracked
    assert "lfs+" + project.endpoint in (repo / ".mvm" / "config.toml").read_text()
    git_ok(repo, "commit", "-q", "-m", "move to gitmv")
    git_ok(repo, "push", "-q", "origin", "main")  # gitmv's pre-push: nothing to send
    assert run(capsys, repo, "push").rc == 0
    # the LFS server received no upload: its objects are as they were
    assert project.server_files() == before_server
    assert project.uploads() == before_uploads
    # a fresh clone, with no git-lfs set up, gets every byte from the same server
    res = run(capsys, tmp_path, "clone", str(project.origin), "bob")
    assert res.rc == 0, res.err
    for rel, data in project.data.items():
        assert (tmp_path / "bob" / rel).read_bytes() == data, rel
    assert (tmp_path / "bob" / "README.txt").read_text() == "hello\n"


def test_a_pathspec_imports_some_and_the_other_patterns_stay(
    project: LfsProject, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = project.root
    res = run(capsys, repo, "import", "lfs", "*.pt", "weights/a.h5")
    assert res.rc == 0, res.err
    attrs = (repo / ".gitattributes").read_text()
    assert "*.pt filter=lfs" not in attrs  # every file it matched was imported
    assert "*.bin filter=lfs" in attrs and "weights/** filter=lfs" in attrs  # still needed
    assert lfs_files_of_index(repo) == {"model.bin", "data/x.bin", "weights/b c.h5"}
    a_h5 = project.data["weights/a.h5"]
    assert read_pointer(repo, "weights/a.h5")["oid"] == f"sha256:{sha(a_h5)}"
    # a pointer that a remaining pattern matches is not sent through the LFS filter
    out = git(repo, "check-attr", "filter", "--", "weights/a.h5.mvm", "weights/b c.h5")
    assert out.splitlines() == ["weights/a.h5.mvm: filter: unspecified",
                                "weights/b c.h5: filter: lfs"]
    git_ok(repo, "commit", "-q", "-m", "some to gitmv")
    assert git(repo, "cat-file", "blob", "HEAD:weights/a.h5.mvm").startswith("# managed by git-mvm")
    # the rest later, in a second import
    res = run(capsys, repo, "import", "lfs")
    assert res.rc == 0, res.err
    assert "filter=lfs" not in (repo / ".gitattributes").read_text()
    assert lfs_files_of_index(repo) == set()


def test_objects_this_clone_lacks_convert_and_come_later_from_the_server(
    project: LfsProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GIT_LFS_SKIP_SMUDGE", "1")
    carol = tmp_path / "carol"
    git_ok(tmp_path, "clone", "-q", str(project.origin), str(carol))
    project.configure(carol)
    monkeypatch.delenv("GIT_LFS_SKIP_SMUDGE")
    assert (carol / "model.bin").read_bytes().startswith(b"version https://git-lfs")
    assert not (carol / ".git" / "lfs" / "objects").exists() or not any(
        (carol / ".git" / "lfs" / "objects").rglob("*"))
    res = run(capsys, carol, "import", "lfs")
    assert res.rc == 0, res.err
    assert "without bytes here" in res.err and "git mvm pull" in res.err
    for rel, data in project.data.items():
        assert read_pointer(carol, rel)["oid"] == f"sha256:{sha(data)}"
        assert not (carol / rel).exists()  # the LFS pointer text is not left as "data"
    res = run(capsys, carol, "pull")
    assert res.rc == 0, res.err
    for rel, data in project.data.items():
        assert (carol / rel).read_bytes() == data


def test_objects_in_git_lfs_storage_are_taken_from_there(
    project: LfsProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    """Fetched by git-lfs but not smudged (`git lfs fetch`): copied from .git/lfs/objects,
    verified, and checked out."""
    monkeypatch.setenv("GIT_LFS_SKIP_SMUDGE", "1")
    dave = tmp_path / "dave"
    git_ok(tmp_path, "clone", "-q", str(project.origin), str(dave))
    project.configure(dave)
    git(dave, "lfs", "fetch")
    monkeypatch.delenv("GIT_LFS_SKIP_SMUDGE")
    # one object in git-lfs's storage is damaged: it converts without bytes, with a warning
    oid = sha(project.data["data/x.bin"])
    bad = dave / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
    bad.chmod(0o644)
    bad.write_bytes(b"rotten")
    res = run(capsys, dave, "import", "lfs")
    assert res.rc == 0, res.err
    assert "corrupt" in res.err and "data/x.bin" in res.err
    for rel, data in project.data.items():
        if rel == "data/x.bin":
            assert not (dave / rel).exists()
            continue
        assert (dave / rel).read_bytes() == data, rel
    assert oid not in cache_objects(dave)
    # a large object is hard-linked into the cache, not copied (hashed through the link)
    big = sha(project.data["model.bin"])
    lfs_copy = dave / ".git" / "lfs" / "objects" / big[:2] / big[2:4] / big
    assert cache_objects(dave)[big].stat().st_ino == lfs_copy.stat().st_ino
    assert run(capsys, dave, "pull").rc == 0
    assert (dave / "data/x.bin").read_bytes() == project.data["data/x.bin"]


def test_files_deleted_from_the_work_tree_still_convert(
    project: LfsProject, capsys: pytest.CaptureFixture[str]
) -> None:
    """A deleted file (its directory too) is not a change to the bytes: it converts from
    .git/lfs/objects and is checked out again; 40 of them take the batched write."""
    repo = project.root
    for i in range(40):
        write(repo / "many" / f"m{i}.bin", f"small {i}\n")
    git(repo, "add", "many")
    git_ok(repo, "commit", "-q", "-m", "many")
    shutil.rmtree(repo / "many")
    shutil.rmtree(repo / "weights")
    res = run(capsys, repo, "import", "lfs")
    assert res.rc == 0, res.err
    assert (repo / "many" / "m7.bin").read_text() == "small 7\n"
    assert (repo / "weights" / "b c.h5").read_bytes() == project.data["weights/b c.h5"]
    assert read_pointer(repo, "many/m39.bin")["size"] == len("small 39\n")


def test_uncommitted_changes_to_an_lfs_file_refuse_the_import(
    project: LfsProject, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = project.root
    write(repo / "model.bin", os.urandom(300_000))
    index_before = git(repo, "ls-files", "-s")
    attrs_before = (repo / ".gitattributes").read_text()
    res = run(capsys, repo, "import", "lfs")
    assert res.rc == 1
    assert error_lines(res.err) == ["git mvm: error: model.bin: changed since the last commit "
                                    "(not the committed Git LFS object)"]
    assert "hint:" in res.err and "Traceback" not in res.err
    assert git(repo, "ls-files", "-s") == index_before
    assert (repo / ".gitattributes").read_text() == attrs_before
    assert not list(repo.rglob("*.mvm"))


def test_unstaged_changes_to_gitattributes_refuse_the_import(
    project: LfsProject, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = project.root
    with open(repo / ".gitattributes", "a") as f:
        f.write("*.csv text\n")
    res = run(capsys, repo, "import", "lfs")
    assert res.rc == 1
    assert error_lines(res.err) == ["git mvm: error: .gitattributes: changes not staged; the "
                                    "import edits and stages it"]
    assert not list(repo.rglob("*.mvm"))
    git(repo, "add", ".gitattributes")
    assert run(capsys, repo, "import", "lfs").rc == 0
    assert "*.csv text" in (repo / ".gitattributes").read_text()


def test_a_repository_without_lfs_is_told_so(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / "a.txt", "plain\n")
    git(repo, "add", "a.txt")
    res = run(capsys, repo, "import", "lfs")
    assert res.rc == 1
    assert error_lines(res.err) == ["git mvm: error: nothing to import: the index holds no "
                                    "Git LFS pointers"]
    assert "hint:" in res.err


def test_pointers_with_extensions_are_refused(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    oid = "a" * 64
    write(repo / "x.bin", "version https://git-lfs.github.com/spec/v1\n"
          f"ext-0-foo sha256:{'b' * 64}\noid sha256:{oid}\nsize 12\n")
    git(repo, "add", "x.bin")
    res = run(capsys, repo, "import", "lfs")
    assert res.rc == 1
    assert "x.bin (ext-0-foo)" in res.err and "hint:" in res.err
    assert not (repo / "x.bin.mvm").exists()


def test_push_is_for_dvc(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = run(capsys, repo, "import", "lfs", "--push")
    assert res.rc == 2 and "--push is for `import dvc`" in res.err
    assert mvm(repo, "import", "lfs", "no-such-thing") == 1


def test_a_damaged_git_lfs_copy_of_a_smudged_file_is_not_taken(
    project: LfsProject, capsys: pytest.CaptureFixture[str]
) -> None:
    """The large file's copy in .git/lfs/objects is damaged, its work-tree file is whole:
    the cache gets the work tree's bytes (verified), not git-lfs's."""
    repo = project.root
    big = sha(project.data["model.bin"])
    lfs_copy = repo / ".git" / "lfs" / "objects" / big[:2] / big[2:4] / big
    lfs_copy.chmod(0o644)
    lfs_copy.write_bytes(b"x" * len(project.data["model.bin"]))
    res = run(capsys, repo, "import", "lfs")
    assert res.rc == 0, res.err
    assert cache_objects(repo)[big].read_bytes() == project.data["model.bin"]
    assert mvm(repo, "fsck") == 0

