"""gitmv.api on real repositories made with `git mvm`: reading artifacts at revisions, inside
directory artifacts, verified; `get`; the registry; params and metrics; the exception family
and silence."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import gitmv.api as mvm
from gitmv import ui
from tests.api.conftest import Project
from tests.helpers import (
    cache_objects,
    corrupt_object,
    git,
    git_ok,
    init_bare,
    object_path,
    save,
    sha,
)

MODEL = "models/classifier.pt"


def test_public_names_are_stable_and_documented() -> None:
    assert mvm.__all__ == sorted(mvm.__all__, key=lambda n: (n[0].islower(), n))
    for name in mvm.__all__:
        assert getattr(mvm, name) is not None, name
    doc = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    missing = [n for n in mvm.__all__ if f"`{n}" not in doc]
    assert not missing, f"not in docs/api.md: {missing}"
    # the CLI's exception family, importable from the API
    from gitmv import errors
    assert mvm.GitMvmError is errors.GitMvmError
    assert issubclass(mvm.ObjectCorrupt, mvm.GitMvmError)


def test_import_costs_no_heavy_library() -> None:
    code = ("import sys, gitmv.api; "
            "print(sorted(m for m in ('boto3', 'botocore', 'requests', 'tqdm', 'tomlkit', "
            "'yaml', 'gitmv.worktree.workspace', 'gitmv.transfer.sync') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_open_reads_artifacts_at_revisions(project: Project) -> None:
    r = project.root
    # default: the work tree's pointer
    with mvm.open(MODEL, repo=r) as f:
        assert f.read() == b"weights 1"
        assert not f.writable()
        f.seek(3)
        assert f.tell() == 3 and f.read(4) == b"ghts"
        buf = bytearray(5)
        f.seek(0)
        assert f.readinto(buf) == 5 and bytes(buf) == b"weigh"
    assert mvm.read_bytes(MODEL, repo=r, rev=project.v1) == b"weights 0"
    assert mvm.read_bytes(MODEL, repo=r, rev="classifier@v1.0.0") == b"weights 0"
    assert mvm.read_bytes(MODEL, repo=r, rev="HEAD") == b"weights 1"
    assert mvm.read_text(MODEL, repo=r, rev="before-data") == "weights 0"
    with mvm.open(MODEL, repo=r, mode="r") as t:
        assert t.read() == "weights 1"
    # the pointer in the work tree, added and not committed, is what rev=None reads
    save(r, MODEL, b"weights 2")
    assert mvm.read_bytes(MODEL, repo=r) == b"weights 2"
    assert mvm.read_bytes(MODEL, repo=r, rev="HEAD") == b"weights 1"
    # ... never the work-tree file, which may hold unsaved edits
    (r / MODEL).write_bytes(b"edited, not added")
    assert mvm.read_bytes(MODEL, repo=r) == b"weights 2"
    # repo=None: the current directory's repository, from a directory inside it
    os.chdir(r / "models")
    assert mvm.read_bytes(MODEL) == b"weights 2"


def test_a_file_inside_a_directory_artifact(project: Project) -> None:
    r = project.root
    assert mvm.read_bytes("data/train/sub/c.csv", repo=r) == b"5\n"
    assert mvm.read_bytes("data/train/a.csv", repo=r, rev=project.v1) == b"1,2\n"
    with pytest.raises(mvm.GitMvmError) as exc:
        mvm.read_bytes("data/train/sub/c.csv", repo=r, rev=project.v1)
    assert "no file 'sub/c.csv' in directory artifact data/train" in str(exc.value)
    assert exc.value.hint
    with pytest.raises(mvm.GitMvmError, match="is a directory inside data/train"):
        mvm.open("data/train/sub", repo=r)
    with pytest.raises(mvm.GitMvmError, match="data/train is a directory artifact"):
        mvm.open("data/train", repo=r)
    with pytest.raises(mvm.GitMvmError, match=r"models/classifier\.pt is a file artifact"):
        mvm.open(f"{MODEL}/x", repo=r)


def test_missing_paths_and_bad_arguments_are_one_clear_error(
    project: Project, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    r = project.root
    cases = [
        (lambda: mvm.open("models/nope.pt", repo=r), mvm.GitMvmError,
         "models/nope.pt is not a tracked artifact at HEAD"),
        (lambda: mvm.open("metrics.toml", repo=r), mvm.GitMvmError,
         "metrics.toml is not a tracked artifact"),
        (lambda: mvm.open(MODEL, repo=r, rev="no-such-rev"), mvm.GitMvmError,
         "unknown revision 'no-such-rev'"),
        (lambda: mvm.open("../x", repo=r), mvm.PathRefused, "not a path inside"),
        (lambda: mvm.open(MODEL, repo=r, mode="wb"), mvm.UsageError, "read-only"),  # type: ignore[call-overload]
        (lambda: mvm.open(MODEL, repo=tmp_path / "none"), mvm.NotARepository,
         "no such directory"),
        (lambda: mvm.open(MODEL, repo=tmp_path), mvm.NotARepository,
         f"repo={str(tmp_path)!r} is not inside a git repository"),
        (lambda: mvm.resolve("classifier#nowhere", repo=r), mvm.GitMvmError,
         "no version of classifier is in stage 'nowhere'"),
        (lambda: mvm.resolve("nomodel@v1.0.0", repo=r), mvm.GitMvmError, "no model"),
        (lambda: mvm.versions("nomodel", repo=r), mvm.GitMvmError, "no model 'nomodel'"),
        (lambda: mvm.get("models/nope.pt", tmp_path / "o", repo=r), mvm.GitMvmError,
         "not a tracked artifact"),
    ]
    for call, kind, text in cases:
        with pytest.raises(kind) as exc:
            call()
        assert text in str(exc.value), (text, str(exc.value))
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_a_git_url_it_cannot_reach_is_one_error_without_the_password(tmp_path: Path) -> None:
    """repo= may be a git URL (tests/test_get_repo.py reads through each transport); one
    that cannot be reached is the family's one error, its password never shown."""
    with pytest.raises(mvm.GitMvmError) as exc:
        mvm.open(MODEL, repo="http://user:s3cret@127.0.0.1:9/r.git")
    assert "s3cret" not in str(exc.value) and "s3cret" not in (exc.value.hint or "")


def test_a_corrupt_cache_object_is_never_returned(project: Project) -> None:
    r = project.root
    oid = sha(b"weights 1")
    assert mvm.read_bytes(MODEL, repo=r) == b"weights 1"  # vouched for from now on
    corrupt_object(object_path(r, oid), b"weights X")  # same size, other bytes
    for read in (lambda: mvm.read_bytes(MODEL, repo=r), lambda: mvm.open(MODEL, repo=r),
                 lambda: mvm.get(MODEL, r.parent / "out.pt", repo=r)):
        with pytest.raises(mvm.ObjectCorrupt) as exc:
            read()
        assert exc.value.oid == f"sha256:{oid}" and exc.value.hint
    assert not (r.parent / "out.pt").exists()
    # a corrupt file inside a directory artifact, too
    inner = sha(b"5\n")
    corrupt_object(object_path(r, inner), b"6\n")
    with pytest.raises(mvm.ObjectCorrupt):
        mvm.read_bytes("data/train/sub/c.csv", repo=r)


def test_nothing_prints_and_the_verbosity_is_restored(
    project: Project, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    r = project.root
    ui.level = ui.NORMAL
    # a pointer that does not parse makes pointers_at warn (through ui) on the CLI's path
    (r / "broken.pt.mvm").write_text("mvm = 1\nkind = 'file'\n")
    git(r, "add", "broken.pt.mvm")
    git_ok(r, "commit", "-q", "-m", "broken pointer")
    assert mvm.read_bytes(MODEL, repo=r, rev="HEAD") == b"weights 1"
    mvm.get("classifier#production", tmp_path / "prod.pt", repo=r)
    mvm.resolve("classifier@latest", repo=r)
    mvm.params(repo=r)
    with pytest.raises(mvm.GitMvmError):
        mvm.open("nothing", repo=r)
    assert ui.level == ui.NORMAL
    assert capfd.readouterr() == ("", "")


def test_get_versions_and_paths(project: Project, tmp_path: Path) -> None:
    r = project.root
    out = tmp_path / "serving" / "model.pt"
    assert mvm.get("classifier#production", out, repo=r) == str(out)
    assert out.read_bytes() == b"weights 0"
    with pytest.raises(mvm.WouldOverwrite, match="already exists"):
        mvm.get("classifier@latest", out, repo=r)
    assert out.read_bytes() == b"weights 0"
    mvm.get("classifier@latest", out, repo=r, force=True)
    assert out.read_bytes() == b"weights 1"
    mvm.get("classifier@v1.0.0", tmp_path / "serving", repo=r)  # into a directory
    assert (tmp_path / "serving" / "classifier.pt").read_bytes() == b"weights 0"
    # an artifact path at a revision; a directory artifact; a file inside one
    mvm.get(MODEL, tmp_path / "old.pt", repo=r, rev=project.v1)
    assert (tmp_path / "old.pt").read_bytes() == b"weights 0"
    mvm.get("data/train", tmp_path / "train", repo=r)
    assert sorted(str(p.relative_to(tmp_path / "train")) for p in
                  (tmp_path / "train").rglob("*") if p.is_file()) == [
        "a.csv", "b.csv", "sub/c.csv"]
    mvm.get("data/train", tmp_path / "train", repo=r, rev=project.v1, force=True)
    assert sorted(p.name for p in (tmp_path / "train").rglob("*")) == ["a.csv", "b.csv"]
    mvm.get("data/train/sub/c.csv", tmp_path, repo=r)
    assert (tmp_path / "c.csv").read_bytes() == b"5\n"
    with pytest.raises(mvm.WouldOverwrite, match="holds the repository"):
        mvm.get("data/train", r, repo=r, force=True)
    with pytest.raises(mvm.GitMvmError, match="output path is empty"):  # not the cwd
        mvm.get("classifier#production", "", repo=r)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temp files left"


def test_resolve_versions_stages_models(project: Project) -> None:
    r = project.root
    prod = mvm.resolve("classifier#production", repo=r)
    assert prod == mvm.resolve("classifier@v1.0.0", repo=r)
    assert (prod.model, prod.version, prod.tag, prod.commit) == (
        "classifier", "v1.0.0", "classifier@v1.0.0", project.v1)
    assert (prod.oid, prod.size, prod.kind, prod.path) == (
        f"sha256:{sha(b'weights 0')}", 9, "file", MODEL)
    assert prod.params == {"params.toml": {"train.lr": 0.1}}
    assert prod.metrics == {"metrics.toml": {"accuracy": 0.9, "loss": 0.1}}
    assert prod.lineage["data/train"]["kind"] == "dir"
    assert prod.lineage["data/train"]["files"] == 2
    assert prod.stages == ("production",) and prod.active and prod.spec == "classifier@v1.0.0"
    assert prod.description == "sorts things"
    with pytest.raises(AttributeError):
        prod.version = "v9.9.9"  # type: ignore[misc]
    with pytest.raises(TypeError):
        prod.params["x"] = {}  # type: ignore[index]
    latest = mvm.resolve("classifier@latest", repo=r)
    assert latest.version == "v1.1.0" and latest.stages == ("staging",)
    assert [v.version for v in mvm.versions("classifier", repo=r)] == ["v1.1.0", "v1.0.0"]
    assert mvm.stages("classifier", repo=r) == {"production": "v1.0.0", "staging": "v1.1.0"}
    assert mvm.models(repo=r) == ["classifier"]
    # the bytes a resolved version names are the ones `get` and `open` give
    assert mvm.read_bytes(prod.path or "", repo=r, rev=prod.commit) == b"weights 0"


def test_params_and_metrics(project: Project) -> None:
    r = project.root
    assert mvm.params(repo=r) == {"params.toml": {"train.lr": 0.05}}
    assert mvm.metrics(project.v1, repo=r) == {"metrics.toml": {"accuracy": 0.9, "loss": 0.1}}
    (r / "metrics.toml").write_text("accuracy = 0.99\nloss = nan\n")
    assert mvm.metrics(repo=r, strict=False) == {"metrics.toml": {"accuracy": 0.99}}
    with pytest.raises(mvm.GitMvmError, match="loss"):
        mvm.metrics(repo=r)
    assert mvm.metrics("HEAD", repo=r) == {"metrics.toml": {"accuracy": 0.95, "loss": 0.05}}
    (r / "metrics.toml").unlink()
    with pytest.raises(mvm.GitMvmError, match=r"metrics\.toml"):
        mvm.metrics(repo=r)
    with pytest.raises(mvm.GitMvmError, match="unknown revision"):
        mvm.params("nope", repo=r)


def test_a_bare_repository_reads_head_and_the_registry(project: Project, tmp_path: Path) -> None:
    origin = init_bare(tmp_path / "origin.git")
    git(project.root, "remote", "add", "origin", str(origin))
    git_ok(project.root, "push", "-q", "origin", "main", "--tags")
    # the zero-config store of a bare remote is its mvm/objects: push the bytes there
    from tests.helpers import mvm as run_mvm
    assert run_mvm(project.root, "push", "-q", "--all") == 0
    assert mvm.stages("classifier", repo=origin) == {"production": "v1.0.0",
                                                     "staging": "v1.1.0"}
    assert mvm.read_bytes(MODEL, repo=origin) == b"weights 1"
    assert mvm.read_bytes(MODEL, repo=origin, rev="classifier@v1.0.0") == b"weights 0"
    assert mvm.metrics(repo=origin) == {"metrics.toml": {"accuracy": 0.95, "loss": 0.05}}
    assert cache_objects(project.root)  # (the project's own cache untouched)


def test_calls_in_threads_stay_quiet_and_restore_the_level(
    project: Project, capfd: pytest.CaptureFixture[str]
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    r = project.root
    ui.level = ui.VERBOSE
    with ThreadPoolExecutor(4) as pool:
        revs = [project.v1, "HEAD"] * 8
        got = list(pool.map(lambda rev: mvm.read_bytes(MODEL, repo=r, rev=rev), revs))
    assert got == [b"weights 0", b"weights 1"] * 8
    assert ui.level == ui.VERBOSE
    assert capfd.readouterr() == ("", "")
    ui.level = ui.NORMAL


def test_a_version_gto_registered_for_a_file_in_git(project: Project, tmp_path: Path) -> None:
    """A model gitmv does not track (GTO registered a file committed to git): `get` writes
    the file from git, `resolve` has no artifact oid to give."""
    r = project.root
    (r / "notes.txt").write_text("plain notes\n")
    cfg = r / ".mvm" / "config.toml"
    cfg.write_text(cfg.read_text() + '\n[models.notes]\npath = "notes.txt"\n')
    git(r, "add", "notes.txt", ".mvm/config.toml")
    git_ok(r, "commit", "-q", "-m", "notes")
    git_ok(r, "tag", "-a", "notes@v0.1.0", "-m", "Registering artifact notes version v0.1.0")
    v = mvm.resolve("notes@v0.1.0", repo=r)
    assert (v.model, v.version, v.oid, v.kind) == ("notes", "v0.1.0", None, None)
    out = mvm.get("notes@latest", tmp_path, repo=r)
    assert out == str(tmp_path / "notes.txt")
    assert (tmp_path / "notes.txt").read_text() == "plain notes\n"
    with pytest.raises(mvm.WouldOverwrite):
        mvm.get("notes@v0.1.0", tmp_path, repo=r)


def test_where_the_repository_is_named_as_git_and_a_shell_would_take_it(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """repo= takes `~` as the CLI's --repo does, and a bare repository's path without its
    `.git` as git does (`git clone /srv/models` clones /srv/models.git); a script run outside
    any repository is told to pass repo=, not to run git mvm somewhere."""
    bare = init_bare(tmp_path / "srv" / "models.git")
    git_ok(project.root, "push", "-q", str(bare), "HEAD:refs/heads/main", "--tags")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert mvm.models(repo="~/srv/models.git") == ["classifier"]
    assert mvm.models(repo=tmp_path / "srv" / "models") == ["classifier"]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(mvm.NotARepository) as exc:
        mvm.models()
    assert "repo=" in (exc.value.hint or ""), exc.value.hint


def test_a_stage_given_as_rev_is_told_how_to_read_it(project: Project) -> None:
    """rev= is a git revision; `classifier#production` is a registry spec, not one: the hint
    says how to read what the stage holds."""
    with pytest.raises(mvm.GitMvmError) as exc:
        mvm.read_bytes(MODEL, repo=project.root, rev="classifier#production")
    assert "resolve('classifier#production').commit" in (exc.value.hint or ""), exc.value.hint
    assert mvm.read_bytes(MODEL, repo=project.root,
                          rev=mvm.resolve("classifier#production", repo=project.root).commit
                          ) == b"weights 0"
