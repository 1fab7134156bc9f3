"""`git mvm import dvc` against repositories the real `dvc` (PyPI, `.venv-dvc/`) makes in the
test: a file and a dataset directory from `dvc add`, a pipeline output in `dvc.lock`, a local
and an S3 (moto) DVC remote, DVC 2's cache layout, a dirty or incomplete work tree."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.dvc import dvc
from tests.helpers import (
    cache_objects,
    error_lines,
    git,
    git_ok,
    read_pointer,
    run,
    run_json,
    sha,
    staged,
    tracked,
    tree_digest,
    write,
)

DVC_YAML = """\
stages:
  train:
    cmd: >-
      cat data.csv data.csv > model.bin &&
      printf '{"acc": 0.91, "loss": 0.2}' > metrics.json
    deps:
    - data.csv
    params:
    - lr
    outs:
    - model.bin
    metrics:
    - metrics.json:
        cache: false
"""


class DvcProject:
    """A git + DVC repository: data.csv and dataset/ from `dvc add`, model.bin from a
    pipeline (`dvc repro`), a local DVC remote pushed to, all committed to a bare origin."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.origin = tmp_path / "origin.git"
        git(tmp_path, "init", "-q", "--bare", str(self.origin))
        self.root = root = tmp_path / "work"
        root.mkdir()
        git(root, "init", "-q")
        dvc(root, "init", "-q")
        write(root / "data.csv", b"id,value\n" + os.urandom(300_000).hex().encode())
        for i in range(12):
            write(root / "dataset" / f"part{i % 3}" / f"f {i}.bin", os.urandom(100 + 5000 * i))
        write(root / "dataset" / "README ü.txt", "the dataset\n")
        dvc(root, "add", "-q", "data.csv", "dataset")
        write(root / "dvc.yaml", DVC_YAML)
        write(root / "params.yaml", "lr: 0.1\nepochs: 3\n")
        dvc(root, "repro", "-q")
        dvc(root, "remote", "add", "-d", "storage", "../dvcstore")
        dvc(root, "push", "-q")
        git(root, "add", ".")
        git_ok(root, "commit", "-q", "-m", "dvc project")
        git(root, "remote", "add", "origin", str(self.origin))
        self.digest = tree_digest(root)

    def data(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes()


@pytest.fixture
def project(tmp_path: Path) -> DvcProject:
    return DvcProject(tmp_path)


def dataset_files(root: Path) -> dict[str, str]:
    return {k: v for k, v in tree_digest(root).items() if k.startswith("dataset/")}


def test_import_dvc_converts_files_directories_and_pipeline_outputs(
    project: DvcProject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = project.root
    res = run(capsys, repo, "import", "dvc")
    assert res.rc == 0, res.err
    # each output a pointer of its bytes' sha256; every byte in gitmv's cache
    for rel in ("data.csv", "model.bin"):
        ptr = read_pointer(repo, rel)
        assert (ptr["kind"], ptr["oid"], ptr["size"]) == (
            "file", f"sha256:{sha(project.data(rel))}", len(project.data(rel)))
    ptr = read_pointer(repo, "dataset")
    want = dataset_files(repo)
    assert ptr["kind"] == "dir" and ptr["files"] == len(want) == 13
    objects = cache_objects(repo)
    assert {sha(project.data(r)) for r in ("data.csv", "model.bin")} <= set(objects)
    # the work tree is untouched; the .dvc files are gone; dvc.yaml, dvc.lock and git's
    # metrics stay
    assert {k: v for k, v in tree_digest(repo).items() if not k.startswith(".")
            and not k.endswith(".mvm") and not k.endswith(".dvc")} == {
        k: v for k, v in project.digest.items() if not k.startswith(".") and
        not k.endswith(".dvc")}
    assert not (repo / "data.csv.dvc").exists() and not (repo / "dataset.dvc").exists()
    assert {"data.csv.mvm", "dataset.mvm", "model.bin.mvm", "dvc.yaml", "dvc.lock",
            "metrics.json", "params.yaml"} <= tracked(repo)
    assert not {"data.csv.dvc", "dataset.dvc", "data.csv", "model.bin"} & tracked(repo)
    assert {"data.csv.dvc", "dataset.dvc", "data.csv.mvm", "dataset.mvm", "model.bin.mvm",
            ".mvm/config.toml"} <= staged(repo)
    ignored = (repo / ".gitignore").read_text().splitlines()
    assert {"/data.csv", "/dataset", "/model.bin"} <= set(ignored)
    # gitmv sees everything as it should be, without hashing anything again
    res = run(capsys, repo, "status")
    assert res.rc == 0 and "modified" not in res.out, res.out
    # DVC's remote is now gitmv's: `--push`-less import configured it, push fills it
    config = (repo / ".mvm" / "config.toml").read_text()
    assert re.search(r'url = "\.\./dvcstore/gitmv"', config), config
    git_ok(repo, "commit", "-q", "-m", "to gitmv")
    assert run(capsys, repo, "push").rc == 0
    git_ok(repo, "push", "-q", "origin", "main")
    assert (tmp_path / "dvcstore" / "files" / "md5").is_dir()  # DVC's files are left alone
    res = run(capsys, tmp_path, "clone", str(project.origin), "bob")
    assert res.rc == 0, res.err
    bob = tmp_path / "bob"
    for rel in ("data.csv", "model.bin"):
        assert (bob / rel).read_bytes() == project.data(rel)
    assert dataset_files(bob) == want


def test_the_pipelines_params_and_metrics_work_after_the_import(
    project: DvcProject, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = project.root
    assert run(capsys, repo, "import", "dvc").rc == 0
    git_ok(repo, "commit", "-q", "-m", "to gitmv")
    config = (repo / ".mvm" / "config.toml").read_text()
    assert 'files = ["metrics.json"]' in config and 'files = ["params.yaml"]' in config
    write(repo / "params.yaml", "lr: 0.2\nepochs: 3\n")
    write(repo / "metrics.json", '{"acc": 0.95, "loss": 0.1}')
    rows = run_json(capsys, repo, "metrics", "diff")["rows"]
    assert {(r["file"], r["key"], r["old"], r["new"]) for r in rows} >= {
        ("metrics.json", "acc", 0.91, 0.95), ("metrics.json", "loss", 0.2, 0.1)}
    rows = run_json(capsys, repo, "params", "diff")["rows"]
    assert [(r["file"], r["key"], r["old"], r["new"]) for r in rows if r["old"] != r["new"]] \
        == [("params.yaml", "lr", 0.1, 0.2)]


def test_push_uploads_to_the_dvc_remote_and_a_clone_gets_the_bytes(
    project: DvcProject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = run(capsys, project.root, "import", "dvc", "--push")
    assert res.rc == 0, res.err
    store = tmp_path / "dvcstore" / "gitmv"
    assert store.is_dir() and any(p.is_file() for p in store.rglob("*"))


def test_dvc2_layout_symlinked_outputs_and_crlf_text(
    project: DvcProject, capsys: pytest.CaptureFixture[str]
) -> None:
    """DVC 2 kept objects at `.dvc/cache/ab/cdef…` and hashed text with CRLF as LF (`outs`
    without `hash: md5`); a work tree checked out as symlinks into the cache."""
    repo = project.root
    crlf = b"a,b\r\nc,d\r\n"
    write(repo / "text.csv", crlf)
    dvc(repo, "add", "-q", "text.csv")
    cache = repo / ".dvc" / "cache"
    for p in sorted((cache / "files" / "md5").rglob("*")):
        if p.is_file():
            dest = cache / p.parent.name / p.name
            dest.parent.mkdir(exist_ok=True)
            shutil.move(str(p), dest)
    shutil.rmtree(cache / "files")
    for name in ("data.csv.dvc", "dataset.dvc", "text.csv.dvc"):
        text = (repo / name).read_text().replace("  hash: md5\n", "")
        if name == "text.csv.dvc":
            legacy = hashlib.md5(crlf.replace(b"\r\n", b"\n")).hexdigest()
            text = re.sub(r"md5: [0-9a-f]{32}", f"md5: {legacy}", text)
        (repo / name).write_text(text)
    # data.csv as a symlink into DVC 2's cache, and one dataset file missing here
    md5 = hashlib.md5(project.data("data.csv")).hexdigest()
    (repo / "data.csv").unlink()
    (repo / "data.csv").symlink_to(cache / md5[:2] / md5[2:])
    gone = repo / "dataset" / "part1" / "f 4.bin"
    want = gone.read_bytes()
    gone.unlink()
    res = run(capsys, repo, "import", "dvc", "data.csv.dvc", "dataset", "text.csv")
    assert res.rc == 0, res.err
    assert not (repo / "data.csv").is_symlink()
    assert (repo / "data.csv").read_bytes() == project.data("data.csv")
    assert gone.read_bytes() == want
    assert (repo / "text.csv").read_bytes() == crlf
    assert read_pointer(repo, "text.csv")["oid"] == f"sha256:{sha(crlf)}"
    assert not (repo / "model.bin.mvm").exists()  # not a target: still DVC's
    assert run(capsys, repo, "status").rc == 0


def test_uncommitted_dvc_changes_refuse_the_import(
    project: DvcProject, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = project.root
    write(repo / "dataset" / "part0" / "f 0.bin", b"changed")
    write(repo / "dataset" / "new.bin", b"new")
    index_before = git(repo, "ls-files", "-s")
    res = run(capsys, repo, "import", "dvc")
    assert res.rc == 1
    [line] = error_lines(res.err)
    assert "dataset/part0/f 0.bin: changed since DVC recorded it" in line
    assert "dataset/new.bin: not in the directory DVC recorded" in line
    assert "hint: `dvc commit`" in res.err
    assert git(repo, "ls-files", "-s") == index_before
    assert (repo / "dataset.dvc").exists() and not list(repo.glob("*.mvm"))


def test_bytes_nowhere_to_be_found_refuse_the_import(
    project: DvcProject, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = project.root
    (repo / "data.csv").unlink()
    shutil.rmtree(repo / ".dvc" / "cache")
    res = run(capsys, repo, "import", "dvc", "data.csv")
    assert res.rc == 1
    assert "data.csv: neither in the work tree nor in DVC's cache" in res.err
    assert "`dvc pull`" in res.err


def test_a_repository_without_dvc_is_told_so(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = run(capsys, repo, "import", "dvc")
    assert res.rc == 1
    assert error_lines(res.err) == ["git mvm: error: nothing to import: no DVC-tracked output"]


def test_an_s3_dvc_remote_with_its_endpoint_becomes_the_gitmv_remote(
    project: DvcProject, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.stores.s3 import server, set_aws_env

    set_aws_env(monkeypatch)
    moto = server()
    bucket = moto.new_bucket()
    repo = project.root
    dvc(repo, "remote", "add", "-d", "-f", "s3store", f"s3://{bucket}/dvc")
    dvc(repo, "remote", "modify", "s3store", "endpointurl", moto.endpoint)
    dvc(repo, "push", "-q")
    res = run(capsys, repo, "import", "dvc", "--push")
    assert res.rc == 0, res.err
    config = (repo / ".mvm" / "config.toml").read_text()
    assert f's3://{bucket}/dvc/gitmv"' in config and moto.endpoint in config
    keys = [o["Key"] for o in moto.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(k.startswith("dvc/gitmv/") for k in keys)
    assert any(k.startswith("dvc/files/md5/") for k in keys)  # DVC's own, left alone


def test_get_of_versions_gto_registered_for_dvc_outputs(
    project: DvcProject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A repository versioned with real `dvc` and `gto` (no gitmv import): `git mvm get` of a
    version GTO registered for a `dvc add`ed file, a `dvc add`ed directory and a pipeline
    output (`dvc.lock`) writes their bytes from DVC's cache, md5 checked; a clone without
    DVC's cache is told to `dvc fetch`, and after it gets them."""
    from tests.gto import gto

    repo = project.root
    write(repo / "artifacts.yaml", "data:\n  path: data.csv\nds:\n  path: dataset\n"
          "model:\n  path: model.bin\n")
    git(repo, "add", "artifacts.yaml")
    git_ok(repo, "commit", "-q", "-m", "declare the artifacts")
    for name in ("data", "ds", "model"):
        gto(repo, "register", name, "--version", "v1.0.0")
    for name, rel in (("data", "data.csv"), ("model", "model.bin"), ("ds", "dataset")):
        out = tmp_path / "got" / name
        res = run(capsys, repo, "get", f"{name}@v1.0.0", "-o", str(out))
        assert res.rc == 0, res.err
        assert "from DVC's cache" in res.err
        if name == "ds":
            assert tree_digest(out) == {k.removeprefix("dataset/"): v
                                        for k, v in dataset_files(repo).items()}
        else:
            assert out.read_bytes() == project.data(rel)
    # a later version: the output changed; the old version still gets the old bytes
    old = project.data("model.bin")
    write(repo / "data.csv", b"id,value\n1,2\n")
    dvc(repo, "repro", "-q")
    git(repo, "add", ".")
    git_ok(repo, "commit", "-q", "-m", "retrain")
    gto(repo, "register", "model", "--version", "v1.1.0")
    for version, want in (("v1.0.0", old), ("v1.1.0", project.data("model.bin"))):
        res = run(capsys, repo, "get", f"model@{version}", "-o", str(tmp_path / version),
                  "--force")
        assert res.rc == 0, res.err
        assert (tmp_path / version).read_bytes() == want
    # a clone has no DVC cache: told how to get the bytes, nothing written
    git(repo, "push", "-q", "origin", "HEAD:main", "--tags")
    bob = tmp_path / "bob"
    git(tmp_path, "clone", "-q", str(project.origin), str(bob))
    res = run(capsys, bob, "get", "ds@v1.0.0", "-o", str(tmp_path / "bob-ds"))
    assert res.rc == 1 and "not in DVC's local cache" in res.err and "dvc fetch" in res.err
    assert not (tmp_path / "bob-ds").exists()
    assert len(error_lines(res.err)) == 1, res.err
    dvc(bob, "fetch", "-q")
    res = run(capsys, bob, "get", "ds@v1.0.0", "-o", str(tmp_path / "bob-ds"))
    assert res.rc == 0, res.err
    assert tree_digest(tmp_path / "bob-ds") == tree_digest(tmp_path / "got" / "ds")
    # a damaged file in DVC's cache is refused, nothing left behind
    md5 = hashlib.md5(project.data("dataset/part1/f 4.bin")).hexdigest()
    cached = bob / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    cached.chmod(0o644)
    cached.write_bytes(b"rotted")
    res = run(capsys, bob, "get", "ds@v1.0.0", "-o", str(tmp_path / "bob-ds2"))
    assert res.rc == 1 and "does not hash to" in res.err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("bob-")) == [
        "bob-ds"]
    res = run(capsys, bob, "get", "ds@v1.0.0", "-o", str(tmp_path / "bob-ds"), "--force")
    assert res.rc == 1  # the directory there stays whole
    assert tree_digest(tmp_path / "bob-ds") == tree_digest(tmp_path / "got" / "ds")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mvm-tmp")]
