"""What a new user's repositories hold that the first importer tests did not: names gitmv
refuses, DVC projects in a subdirectory (`dvc init --subdir`), `foreach` pipelines, files
`.dvcignore` keeps out of a directory output, and an import killed (SIGKILL) at any step.
Every repository here is made by the real git-lfs or dvc."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dvc import dvc
from tests.helpers import (
    error_lines,
    git,
    git_ok,
    read_pointer,
    run,
    staged,
    tracked,
    write,
)

LFS_LINE = "filter=lfs diff=lfs merge=lfs -text"


def lfs_repo(root: Path, files: dict[str, bytes], attributes: str) -> Path:
    """A git repository whose `files` git-lfs cleaned into pointers (no LFS server: the
    objects are in .git/lfs/objects), committed."""
    if shutil.which("git-lfs") is None:
        pytest.fail("git-lfs is not installed (scripts/test installs Debian's git-lfs)")
    root.mkdir()
    git(root, "init", "-q")
    git(root, "lfs", "install", "--local")
    write(root / ".gitattributes", attributes)
    for rel, data in files.items():
        write(root / rel, data)
    git(root, "add", "-A")
    git_ok(root, "commit", "-q", "-m", "lfs files")
    return root


def index_of(repo: Path) -> str:
    return git(repo, "ls-files", "-s")


def _git_dvc(root: Path) -> Path:
    """A new git repository at `root` with DVC initialised at its top."""
    root.mkdir()
    git(root, "init", "-q")
    dvc(root, "init", "-q")
    return root


# --- names gitmv cannot keep --------------------------------------------------------------


def test_an_lfs_file_whose_name_gitmv_refuses_is_refused_before_anything_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tab in a name is fine for git and git-lfs; gitmv refuses it (`add` does, `status`
    calls such a pointer invalid): the import used to convert it into a pointer every later
    command refuses. Now it says which file and how to go on, and changes nothing."""
    repo = lfs_repo(tmp_path / "r", {"ok.bin": os.urandom(2000), "tab\tx.bin": b"tab" * 700},
                    f"*.bin {LFS_LINE}\n")
    before = index_of(repo)
    res = run(capsys, repo, "import", "lfs")
    assert res.rc == 1
    [line] = error_lines(res.err)
    assert "tab\\tx.bin" in line and "control character" in line
    assert "hint:" in res.err and "Traceback" not in res.err
    assert index_of(repo) == before
    assert not list(repo.glob("*.mvm")) and not (repo / ".mvm").exists()
    # the others import alone when named
    res = run(capsys, repo, "import", "lfs", "ok.bin")
    assert res.rc == 0, res.err
    assert run(capsys, repo, "status").rc == 0


# --- DVC in a subdirectory, foreach pipelines, .dvcignore ---------------------------------


def test_a_dvc_project_in_a_subdirectory_imports_from_its_own_cache_and_remote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`dvc init --subdir` keeps `.dvc/` (cache, config, remote) in the subdirectory, not at
    the top of the git repository: the import looked for DVC's cache and remote at the top,
    so a directory output (whose listing only DVC's cache holds) was refused as "not in its
    cache" and the remote was not converted."""
    root = tmp_path / "mono"
    root.mkdir()
    git(root, "init", "-q")
    write(root / "README", "a monorepo\n")
    ml = root / "ml"
    ml.mkdir()
    dvc(ml, "init", "-q", "--subdir")
    data = {f"ds/part {i}.bin": os.urandom(1000 + i) for i in range(3)}
    for rel, blob in data.items():
        write(ml / rel, blob)
    write(ml / "model.bin", os.urandom(3000))
    dvc(ml, "add", "-q", "ds", "model.bin")
    dvc(ml, "remote", "add", "-d", "store", "../../dvcstore")
    dvc(ml, "push", "-q")
    git(root, "add", "-A")
    git_ok(root, "commit", "-q", "-m", "dvc in ml/")
    model = (ml / "model.bin").read_bytes()
    (ml / "model.bin").unlink()  # its bytes only in DVC's cache (ml/.dvc/cache)
    res = run(capsys, root, "import", "dvc")
    assert res.rc == 0, res.err
    assert read_pointer(root, "ml/ds")["files"] == 3
    assert (ml / "model.bin").read_bytes() == model
    for rel, blob in data.items():
        assert (ml / rel).read_bytes() == blob
    assert {"ml/ds.mvm", "ml/model.bin.mvm"} <= staged(root)
    assert not {"ml/ds.dvc", "ml/model.bin.dvc"} & tracked(root)
    config = (root / ".mvm" / "config.toml").read_text()
    assert 'url = "../dvcstore/gitmv"' in config, config
    assert run(capsys, root, "status").rc == 0


def test_params_of_a_foreach_stage_are_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A `foreach` (or `matrix`) stage keeps `params:` and `metrics:` under `do:`: the
    import did not see them, so `git mvm params diff` did not read the params file."""
    root = _git_dvc(tmp_path / "p")
    write(root / "params.yaml", "models:\n  a: {lr: 1}\n  b: {lr: 2}\n")
    write(root / "dvc.yaml", """\
stages:
  train:
    foreach: ${models}
    do:
      cmd: >-
        mkdir -p out && echo ${item.lr} > out/${key}.txt &&
        echo '{"acc": ${item.lr}}' > score_${key}.json
      params: [models]
      outs:
      - out/${key}.txt
      metrics:
      - score_${key}.json:
          cache: false
""")
    dvc(root, "repro", "-q")
    git(root, "add", "-A")
    git_ok(root, "commit", "-q", "-m", "foreach")
    res = run(capsys, root, "import", "dvc")
    assert res.rc == 0, res.err
    assert {"out/a.txt.mvm", "out/b.txt.mvm"} <= staged(root)
    import tomllib

    config = tomllib.loads((root / ".mvm" / "config.toml").read_text())
    assert config["params"]["files"] == ["params.yaml"]
    assert sorted(config["metrics"]["files"]) == ["score_a.json", "score_b.json"]


def test_files_dvcignore_keeps_out_of_a_directory_are_named_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file `.dvcignore` keeps out of a `dvc add`ed directory is not in DVC's listing; a
    gitmv directory holds every file in it. The refusal said "not in the directory DVC
    recorded" and told the user to `dvc commit`, which changes nothing (DVC says up to
    date): now it names .dvcignore and the way on."""
    root = _git_dvc(tmp_path / "i")
    write(root / ".dvcignore", "*.tmp\n")
    write(root / "data" / "a.csv", "1,2\n")
    write(root / "data" / "scratch.tmp", "scratch\n")
    dvc(root, "add", "-q", "data")
    git(root, "add", "-A")
    git_ok(root, "commit", "-q", "-m", "data")
    assert "up to date" in dvc(root, "status").stdout
    before = index_of(root)
    res = run(capsys, root, "import", "dvc")
    assert res.rc == 1
    [line] = error_lines(res.err)
    assert "data/scratch.tmp" in line and ".dvcignore" in line
    assert "dvc commit" not in res.err and "Traceback" not in res.err
    assert "hint:" in res.err
    assert index_of(root) == before and (root / "data" / "scratch.tmp").exists()
    (root / "data" / "scratch.tmp").unlink()
    res = run(capsys, root, "import", "dvc")
    assert res.rc == 0, res.err


# --- killed in the middle -----------------------------------------------------------------

# `git mvm ARGS`, killed (SIGKILL) just before its K-th step that changes something: a git
# command, a rename into place, an unlink. Prints how many steps a whole run took.
KILLED_AT = r"""
import os, signal, subprocess, sys
k = int(sys.argv[1])
count = 0
def wrap(mod, name):
    real = getattr(mod, name)
    def call(*a, **kw):
        global count
        count += 1
        if count == k:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*a, **kw)
    setattr(mod, name, call)
for mod, name in ((os, "replace"), (os, "rename"), (os, "unlink"), (subprocess, "run")):
    wrap(mod, name)
from gitmv.cli import main
rc = main(sys.argv[2:])
print(f"steps {count}", file=sys.stderr)
sys.exit(rc)
"""


def killed_at(repo: Path, k: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", KILLED_AT, str(k), *args], cwd=repo,
                          capture_output=True, text=True, check=False)


def contents(path: Path) -> object:
    """A file's bytes; a directory's files and their bytes."""
    if path.is_dir():
        return sorted((str(p.relative_to(path)), p.read_bytes()) for p in path.rglob("*")
                      if p.is_file())
    return path.read_bytes()


def outcome(repo: Path) -> tuple[str, str, dict[str, object]]:
    """What an import leaves that matters: the index, the work tree's .gitattributes, and
    every artifact's bytes as gitmv checks them out."""
    files = {p: contents(repo / p[:-4]) for p in tracked(repo) if p.endswith(".mvm")
             and p != ".mvm/config.toml"}
    return index_of(repo), (repo / ".gitattributes").read_text(), files


def killed_anywhere_then_rerun(made: Path, tmp_path: Path, *args: str
                               ) -> tuple[str, str, dict[str, object]]:
    """Run `git mvm ARGS` on copies of `made`, killed before each of its steps in turn,
    then again to its end: each rerun succeeds and leaves what one uninterrupted run
    leaves (returned). Failures are collected and shown together."""
    def fresh(name: str) -> Path:
        dest = tmp_path / name
        shutil.copytree(made, dest, symlinks=True)
        return dest

    whole = fresh("whole")
    done = killed_at(whole, 0, *args)
    assert done.returncode == 0, done.stderr
    steps = int(done.stderr.rsplit("steps ", 1)[1])
    want = outcome(whole)
    failed = []
    for k in range(1, steps + 1):
        repo = fresh(f"k{k}")
        killed = killed_at(repo, k, *args)
        assert killed.returncode == -9, (k, killed.stderr)
        again = killed_at(repo, 0, *args)
        if again.returncode != 0 or outcome(repo) != want:
            failed.append((k, again.returncode, error_lines(again.stderr)))
        shutil.rmtree(repo)
    assert not failed, failed
    return want


@pytest.mark.slow
def test_an_lfs_import_killed_at_any_step_loses_nothing_and_a_rerun_finishes_it(
    tmp_path: Path,
) -> None:
    """SIGKILL before each step of `git mvm import lfs '*.bin'` in turn (a file smudged,
    one only in .git/lfs/objects, patterns that stay for files not imported, one of which
    still matches an imported file's pointer). After each, a rerun of the same import
    succeeds and leaves exactly what an uninterrupted import leaves. It used to refuse:
    `.gitattributes` edited but not staged ("changes not staged"), the LFS files gone from
    the index before the pointers were in it ("nothing to import"), the hooks of git-lfs
    half chained ("another tool's hook")."""
    files = {"a.bin": os.urandom(3000), "w/b c.bin": os.urandom(2000),
             "keep/y.bin": os.urandom(1500), "keep/x.pt": os.urandom(1000)}
    made = lfs_repo(tmp_path / "made", files,
                    f"*.bin {LFS_LINE}\n*.pt {LFS_LINE}\nkeep/** {LFS_LINE}\n")
    # a.bin as a clone with GIT_LFS_SKIP_SMUDGE=1 has it: the pointer text
    write(made / "a.bin", git(made, "cat-file", "blob", "HEAD:a.bin"))
    index, attributes, artifacts = killed_anywhere_then_rerun(made, tmp_path, "import", "lfs",
                                                              "*.bin")
    assert artifacts == {f"{rel}.mvm": files[rel] for rel in ("a.bin", "w/b c.bin",
                                                               "keep/y.bin")}
    assert "keep/x.pt" in index and "/keep/y.bin.mvm !filter" in attributes


@pytest.mark.slow
def test_a_dvc_import_killed_at_any_step_loses_nothing_and_a_rerun_finishes_it(
    tmp_path: Path,
) -> None:
    """The same for `git mvm import dvc` (a file only in DVC's cache, a directory, a
    pipeline output, a DVC remote): the .dvc files leave the index and the work tree last,
    after the pointers and the set-up, so a rerun finds them. A .dvc file deleted before
    its pointer was written was lost to the rerun."""
    made = _git_dvc(tmp_path / "made")
    data = {"a.csv": os.urandom(3000), "ds/s/b c.csv": os.urandom(100), "ds/d.csv": b"d\n"}
    for rel, blob in data.items():
        write(made / rel, blob)
    dvc(made, "add", "-q", "a.csv", "ds")
    write(made / "dvc.yaml", "stages:\n  t:\n    cmd: cat a.csv > m.bin\n    deps: [a.csv]\n"
          "    outs: [m.bin]\n")
    dvc(made, "repro", "-q")
    dvc(made, "remote", "add", "-d", "store", "../store")
    git(made, "add", "-A")
    git_ok(made, "commit", "-q", "-m", "dvc")
    (made / "a.csv").unlink()  # only in DVC's cache
    index, _, artifacts = killed_anywhere_then_rerun(made, tmp_path, "import", "dvc")
    assert artifacts["a.csv.mvm"] == artifacts["m.bin.mvm"] == data["a.csv"]
    assert not [ln for ln in index.splitlines() if ln.endswith(".dvc")]
    assert not [p for p in tmp_path.glob("whole/*.dvc") if p.is_file()]
    assert artifacts["ds.mvm"] == [("d.csv", b"d\n"), ("s/b c.csv", data["ds/s/b c.csv"])]


def test_a_dvc_file_deleted_but_still_in_the_index_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rm x.dvc` (or `dvc remove` before a commit) leaves it in git's index: the import
    said "cannot continue: No such file or directory" and "run again with -v"."""
    root = _git_dvc(tmp_path / "d")
    write(root / "a.csv", "1\n")
    write(root / "b.csv", "2\n")
    dvc(root, "add", "-q", "a.csv", "b.csv")
    git(root, "add", "-A")
    git_ok(root, "commit", "-q", "-m", "dvc")
    dvc(root, "remove", "a.csv.dvc")
    before = index_of(root)
    res = run(capsys, root, "import", "dvc")
    assert res.rc == 1
    assert error_lines(res.err) == ["git mvm: error: a.csv.dvc: deleted from the work tree, "
                                    "still in git's index"]
    assert "git rm --cached a.csv.dvc" in res.err and "-v" not in res.err
    assert index_of(root) == before and not list(root.glob("*.mvm"))
    git(root, "rm", "-q", "--cached", "a.csv.dvc")
    res = run(capsys, root, "import", "dvc")
    assert res.rc == 0, res.err
    assert read_pointer(root, "b.csv")["size"] == 2 and not (root / "a.csv.mvm").exists()


def test_cache_false_outputs_not_yet_in_git_stay_git_s(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """dvc.lock records an md5 for `cache: false` outputs too (only dvc.yaml says they are
    not cached). Before they were committed to git, the import took a metrics file for an
    artifact and refused a `cache: false` plots directory ("not in its cache", `dvc commit`
    would not help). They are git's: left alone, a `foreach` stage's templated ones too."""
    root = _git_dvc(tmp_path / "c")
    write(root / "params.yaml", "runs:\n  a: 1\n  b: 2\n")
    write(root / "dvc.yaml", """\
stages:
  t:
    cmd: >-
      echo 1 > m.bin && echo 7 > met.json && mkdir -p plots && echo 1 > plots/p.csv
    outs:
    - m.bin
    - plots:
        cache: false
    metrics:
    - met.json:
        cache: false
  each:
    foreach: ${runs}
    do:
      cmd: echo ${item} > run_${key}.json && echo ${item} > run_${key}.bin
      outs:
      - run_${key}.bin
      - run_${key}.json:
          cache: false
""")
    dvc(root, "repro", "-q")
    git(root, "add", "dvc.yaml", "dvc.lock", "params.yaml", ".gitignore", ".dvc")
    git_ok(root, "commit", "-q", "-m", "pipeline; its outputs not committed yet")
    res = run(capsys, root, "import", "dvc")
    assert res.rc == 0, res.err
    mvm_files = {p for p in staged(root) if p.endswith(".mvm") and not p.startswith(".mvm/")}
    assert mvm_files == {"m.bin.mvm", "run_a.bin.mvm", "run_b.bin.mvm"}
    for rel in ("met.json", "plots/p.csv", "run_a.json"):
        assert (root / rel).is_file() and rel not in git(root, "check-ignore", "-v", rel,
                                                          check=False)


def test_get_of_a_gto_version_of_an_output_of_a_dvc_project_in_a_subdirectory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`get` of a version GTO registered for a DVC output reads DVC's cache of the project
    the output belongs to (`ml/.dvc/cache` for `dvc init --subdir`), not the top's."""
    from tests.gto import gto

    root = tmp_path / "mono"
    root.mkdir()
    git(root, "init", "-q")
    ml = root / "ml"
    ml.mkdir()
    dvc(ml, "init", "-q", "--subdir")
    weights = os.urandom(5000)
    write(ml / "model.bin", weights)
    dvc(ml, "add", "-q", "model.bin")
    write(root / "artifacts.yaml", "net:\n  type: model\n  path: ml/model.bin\n")
    git(root, "add", "-A")
    git_ok(root, "commit", "-q", "-m", "a model in ml/")
    gto(root, "register", "net", "--version", "v1.0.0")
    (ml / "model.bin").unlink()
    res = run(capsys, root, "get", "net@v1.0.0", "-o", str(tmp_path / "out.bin"))
    assert res.rc == 0, res.err
    assert (tmp_path / "out.bin").read_bytes() == weights


def test_pointers_a_remaining_lfs_line_matches_are_committed_as_gitmv_pointers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Some files imported, others left with Git LFS under the same line: the pointers and
    .gitignore files it matches must not go through the LFS filter. The line that unset it
    went to the top .gitattributes, which a nested one (`sub/.gitattributes` with `*`)
    overrides, and wrote a space as `\\ `, which ends a .gitattributes pattern: the pointer
    was committed as a Git LFS object."""
    files = {"sub/d e/a b[1].bin": os.urandom(2000), "sub/b.bin": os.urandom(2000),
             "data/x y.bin": os.urandom(1000), "data/z.bin": os.urandom(1000)}
    repo = lfs_repo(tmp_path / "r", files, f"data/** {LFS_LINE}\n")
    write(repo / "sub" / ".gitattributes", f"* {LFS_LINE}\n.gitattributes !filter !diff\n")
    git(repo, "add", "-A")
    git(repo, "rm", "-q", "--cached", "-r", "sub")  # clean them again through sub's line
    git(repo, "add", "-A")
    git_ok(repo, "commit", "-q", "-m", "sub through its own .gitattributes")
    assert len(git(repo, "lfs", "ls-files", "-n").splitlines()) == 4
    res = run(capsys, repo, "import", "lfs", "sub/d e", "data/x y.bin")
    assert res.rc == 0, res.err
    written = ["sub/d e/a b[1].bin.mvm", "sub/d e/.gitignore", "data/x y.bin.mvm",
               "data/.gitignore"]
    out = git(repo, "check-attr", "-z", "filter", "--", *written).split("\0")
    assert [out[i + 2] for i in range(0, len(out) - 2, 3)] == ["unspecified"] * 4, out
    for rel in written:
        blob = git(repo, "cat-file", "blob", f":{rel}")
        assert not blob.startswith("version https://git-lfs"), (rel, blob)
    assert read_pointer(repo, "sub/d e/a b[1].bin")["size"] == 2000
    for rel in ("data/z.bin", "sub/b.bin"):  # still Git LFS's
        assert git(repo, "cat-file", "blob", f":{rel}").startswith("version https://git-lfs")
    assert "is not a valid attribute name" not in git(repo, "check-attr", "-a", "--",
                                                      "data/z.bin")


def test_an_lfs_repository_without_a_commit_yet_imports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`git lfs track`, `git add`, no commit yet: the import failed at its end (`git rm
    --cached`: "staged content different from both the file and the HEAD"), leaving the
    LFS file staged beside its pointer, which the pre-commit hook then refused."""
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "lfs", "install", "--local")
    write(repo / ".gitattributes", f"*.bin {LFS_LINE}\n")
    data = os.urandom(3000)
    write(repo / "a.bin", data)
    git(repo, "add", "-A")
    res = run(capsys, repo, "import", "lfs")
    assert res.rc == 0, res.err
    assert "a.bin" not in tracked(repo) and "a.bin.mvm" in tracked(repo)
    git_ok(repo, "commit", "-q", "-m", "first")
    assert (repo / "a.bin").read_bytes() == data
    res = run(capsys, repo, "status")
    assert res.rc == 0 and "up to date" in res.out


@pytest.mark.parametrize("relpath", ["../outside.txt", "/etc/hostname", None])
def test_a_directory_listing_naming_files_outside_it_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], relpath: str | None
) -> None:
    """A `.dir` listing is only checked against the md5 the .dvc file records, and both
    come with the repository: one naming `../outside.txt` had the import read a file
    outside the directory into gitmv's cache and manifest (a later push uploads it); one
    that is not a list of files stopped with "cannot continue". Now each is one line."""
    import hashlib
    import json

    root = _git_dvc(tmp_path / "h")
    outside = b"not the dataset's\n"
    write(root / "outside.txt", outside)
    md5 = hashlib.md5(outside).hexdigest()
    (root / "ds").mkdir()  # the output's directory, empty here
    listing = (json.dumps([{"md5": md5, "relpath": relpath}]) if relpath
               else '"not a list"').encode()
    dir_md5 = hashlib.md5(listing).hexdigest()
    write(root / ".dvc" / "cache" / "files" / "md5" / dir_md5[:2] / f"{dir_md5[2:]}.dir",
          listing)
    write(root / "ds.dvc", f"outs:\n- md5: {dir_md5}.dir\n  hash: md5\n  path: ds\n")
    git(root, "add", "-A")
    git_ok(root, "commit", "-q", "-m", "a listing not made by dvc")
    before = index_of(root)
    res = run(capsys, root, "import", "dvc")
    assert res.rc == 1
    [line] = error_lines(res.err)
    assert ("outside the directory" if relpath else "not a list of files") in line, line
    assert "Traceback" not in res.err and "-v" not in res.err
    assert index_of(root) == before and not (root / "ds.mvm").exists()


@pytest.mark.parametrize("path", ["../outside.txt", "sub/../../outside.txt",
                                  "link/outside.txt"])
def test_an_output_outside_the_repository_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    """A .dvc file whose output is outside the repository: the import read it, wrote
    `../outside.txt.mvm` and `../.gitignore` outside the repository, then failed on `git
    add` ("is outside repository"). Now it is refused before anything is written."""
    import hashlib

    outside = b"somebody's file\n"
    write(tmp_path / "outside.txt", outside)
    root = _git_dvc(tmp_path / "r")
    write(root / "sub" / "x.dvc" if path.startswith("sub/") else root / "x.dvc",
          f"outs:\n- md5: {hashlib.md5(outside).hexdigest()}\n  hash: md5\n"
          f"  path: {path.removeprefix('sub/')}\n")
    (root / "link").symlink_to(tmp_path)  # a directory elsewhere, through a link
    write(root / "y.csv", "1\n")
    dvc(root, "add", "-q", "y.csv")
    git(root, "add", "-A")
    git_ok(root, "commit", "-q", "-m", "an output outside")
    before = sorted(p.name for p in tmp_path.iterdir())
    res = run(capsys, root, "import", "dvc")
    assert res.rc == 1
    [line] = error_lines(res.err)
    assert "outside the git repository" in line and path.split("/")[-2] in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not (tmp_path / ".gitignore").exists() and not (root / ".mvm").exists()
    res = run(capsys, root, "import", "dvc", "y.csv")
    assert res.rc == 0, res.err
