"""`git mvm get --repo URL SPEC` without a clone: a shallow, blobless mirror
(gitmv/worktree/mirror.py) over a plain path, file://, git:// (git daemon) and http://
(git http-backend), on a 1,000-commit history; bytes from a directory store, S3 (moto) and
Git LFS (giftless)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.gitserver import GitDaemon, GitHttp
from tests.helpers import (
    error_lines,
    git,
    git_ok,
    init_bare,
    init_hooked,
    mvm,
    run,
    save,
    save_dir,
    tree_digest,
    wait_for,
)
from tests.users import User, alice, bob, needs_root, team_base, users_python  # noqa: F401 - fixtures

HISTORY = 1000


class Upstream(NamedTuple):
    project: Path  # the team's clone
    bare: Path  # the server's repository (under `srv`)
    srv: Path
    store: Path  # the directory store its tracked config names
    enc: dict[str, str]  # the directory artifact's tree digest


def _history(repo: Path, n: int) -> None:
    """`n` commits, each changing notes.txt (a blob of its own): the history a mirror skips."""
    base = git(repo, "rev-parse", "HEAD").strip()
    stream = []
    for i in range(n):
        text = f"note {i}\n"
        msg = f"work {i}"
        stream.append(f"commit refs/heads/main\nmark :{i + 1}\ncommitter T <t@example.com> "
                      f"{1_700_000_000 + i} +0000\ndata {len(msg)}\n{msg}\n"
                      + (f"from :{i}\n" if i else f"from {base}\n")
                      + f"M 100644 inline notes.txt\ndata {len(text)}\n{text}\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, check=True,
                   input="".join(stream).encode(), capture_output=True)
    git(repo, "reset", "-q", "--hard", "main")


def _release(up: Upstream, data: bytes, version: str, *remote: str) -> None:
    """`data` committed as models/clf.pt, registered as clf@VERSION, its bytes pushed (to
    `remote`), all of it published on the server."""
    save(up.project, "models/clf.pt", data, f"clf {version}")
    assert mvm(up.project, "register", "-q", "--no-env", "clf", version) == 0
    assert mvm(up.project, "push", "-q", *remote) == 0
    _publish(up)


def _get_over_http(up: Upstream, cwd: Path, spec: str) -> bytes:
    """The bytes `get --repo http://… SPEC` writes."""
    with GitHttp(up.srv) as server:
        out = cwd / "m.pt"
        assert mvm(cwd, "get", "-q", "-f", "--repo", server.url("origin.git"), spec, "-o",
                   str(out)) == 0
    return out.read_bytes()


def _forget_the_store(project: Path) -> None:
    """The tracked config names no gitmv store any more (committed by the caller)."""
    cfg = project / ".mvm" / "config.toml"
    cfg.write_text(cfg.read_text().replace('remote = "store"', "").replace(
        "[remote.store]", "[old-remote]"))


def _publish(up: Upstream) -> None:
    git_ok(up.project, "push", "-q", "origin", "main", "--tags")


@pytest.fixture
def upstream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Upstream:
    monkeypatch.setenv("GITMV_REPO_CACHE", str(tmp_path / "mirrors"))
    srv = tmp_path / "srv"
    bare = init_bare(srv / "origin.git")
    git(bare, "config", "uploadpack.allowFilter", "true")
    project = init_hooked(tmp_path / "project", bare)
    _history(project, HISTORY)
    store = tmp_path / "store"
    store.mkdir()
    assert mvm(project, "remote", "add", "-q", "-d", "store", str(store)) == 0
    save(project, "models/clf.pt", b"weights 0", "clf 0")
    enc = save_dir(project, "models/enc", {"vocab.txt": b"a b c", "layers/0.bin": b"\0" * 99})
    save(project, "models/other.pt", b"never asked for")
    git(project, "add", "-A")
    git_ok(project, "commit", "-q", "-m", "enc, other")
    assert mvm(project, "register", "-q", "--no-env", "clf", "v1.0.0", "--path",
               "models/clf.pt") == 0
    assert mvm(project, "register", "-q", "--no-env", "enc", "v1.0.0", "--path",
               "models/enc") == 0
    assert mvm(project, "promote", "-q", "clf", "v1.0.0", "production") == 0
    assert mvm(project, "push", "-q") == 0
    up = Upstream(project, bare, srv, store, enc)
    _publish(up)
    return up


def fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variant: str) -> None:
    """`ssh [OPTIONS] HOST COMMAND` run here, without sshd: git's ssh transport talking to a
    local upload-pack. Variant "ssh": git passes GIT_PROTOCOL (`-o SendEnv`), as to an sshd
    that accepts it (GitHub, GitLab): protocol v2. Variant "simple": it cannot, as with a
    default sshd: protocol v0, where a server sends no blob asked for by id."""
    script = tmp_path / "fake-ssh"
    script.write_text('#!/bin/sh\nwhile [ $# -gt 2 ]; do shift; done\nshift\n'
                      'exec sh -c "$1"\n')
    script.chmod(0o755)
    monkeypatch.setenv("GIT_SSH_COMMAND", str(script))
    monkeypatch.setenv("GIT_SSH_VARIANT", variant)


@pytest.fixture(params=["path", "file", "git", "http", "ssh", "ssh-v0"])
def url(request: pytest.FixtureRequest, upstream: Upstream, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    kind = request.param
    if kind == "path":
        yield str(upstream.bare)
    elif kind == "file":
        yield upstream.bare.as_uri()
    elif kind.startswith("ssh"):
        fake_ssh(tmp_path, monkeypatch, "simple" if kind == "ssh-v0" else "ssh")
        yield f"ssh://git@models.example.com{upstream.bare}"
    else:
        with (GitDaemon if kind == "git" else GitHttp)(upstream.srv) as server:
            yield server.url("origin.git")


def mirror_of(tmp_path: Path) -> Path:
    (found,) = [p for p in (tmp_path / "mirrors").iterdir() if p.is_dir()]
    return found


def _blobs(mirror: Path) -> set[str]:
    out = git(mirror, "cat-file", "--batch-all-objects", "--batch-check")
    return {line.split()[0] for line in out.splitlines() if line.split()[1] == "blob"}


def _commits(mirror: Path) -> int:
    out = git(mirror, "cat-file", "--batch-all-objects", "--batch-check")
    return sum(1 for line in out.splitlines() if line.split()[1] == "commit")


def test_get_from_each_transport_fetches_neither_history_nor_other_blobs(
    upstream: Upstream, url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    work = tmp_path / "deploy"
    work.mkdir()
    out = work / "model.pt"
    assert mvm(work, "get", "-q", "--repo", url, "clf#production", "-o", str(out)) == 0
    assert out.read_bytes() == b"weights 0"
    assert mvm(work, "get", "-q", "--repo", url, "enc@v1.0.0", "-o", str(work / "enc")) == 0
    assert tree_digest(work / "enc") == upstream.enc
    mirror = mirror_of(tmp_path)
    # the tagged commits and HEAD (here one commit): not the 1,000 before them
    assert _commits(mirror) <= 2, _commits(mirror)
    assert int(git(upstream.bare, "rev-list", "--count", "main")) > HISTORY
    # blobs: the two pointers asked for and .mvm/config.toml, nothing else of the tree
    wanted = {git(upstream.bare, "rev-parse", f"main:{p}").strip()
              for p in ("models/clf.pt.mvm", "models/enc.mvm", ".mvm/config.toml")}
    if not url.startswith("ssh://") or os.environ["GIT_SSH_VARIANT"] != "simple":
        assert _blobs(mirror) <= wanted, _blobs(mirror) - wanted
        assert git(upstream.bare, "rev-parse", "main:models/other.pt.mvm").strip() not in \
            _blobs(mirror)
    # (protocol v0 sends no blob asked for by id: the mirror takes the tagged commits' blobs
    # with them, still without their history)
    # the path of an artifact at a revision
    assert mvm(work, "get", "-q", "--repo", url, "--rev", "main", "models/clf.pt.mvm",
               "-o", str(work / "by-path.pt")) == 0
    assert (work / "by-path.pt").read_bytes() == b"weights 0"


def test_a_later_call_sees_a_new_version_and_reuses_the_mirror(
    upstream: Upstream, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    with GitHttp(upstream.srv) as server:
        url = server.url("origin.git")
        out = tmp_path / "model.pt"
        assert mvm(tmp_path, "get", "-q", "--repo", url, "clf@latest", "-o", str(out)) == 0
        assert out.read_bytes() == b"weights 0"
        mirror = mirror_of(tmp_path)
        save(upstream.project, "models/clf.pt", b"weights 1", "clf 1")
        assert mvm(upstream.project, "register", "-q", "--no-env", "clf", "v1.1.0") == 0
        assert mvm(upstream.project, "push", "-q") == 0
        _publish(upstream)
        assert mvm(tmp_path, "get", "-q", "-f", "--repo", url, "clf@latest", "-o",
                   str(out)) == 0
        assert out.read_bytes() == b"weights 1"
        assert mirror_of(tmp_path) == mirror
        # the earlier version still comes from the mirror's cache
        assert mvm(tmp_path, "get", "-q", "-f", "--repo", url, "clf@v1.0.0", "-o",
                   str(out)) == 0
        assert out.read_bytes() == b"weights 0"


def test_the_default_mirror_dir_is_the_user_cache(
    upstream: Upstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GITMV_REPO_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    out = tmp_path / "m.pt"
    assert mvm(tmp_path, "get", "-q", "--repo", upstream.bare.as_uri(), "clf@v1.0.0",
               "-o", str(out)) == 0
    assert out.read_bytes() == b"weights 0"
    (mirror,) = [p for p in (tmp_path / "xdg" / "gitmv" / "repos").iterdir() if p.is_dir()]
    assert (mirror / "mvm-mirror").is_file()


def test_s3_store(upstream: Upstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.stores import s3

    s3.set_aws_env(monkeypatch)
    moto = s3.server()
    bucket = moto.new_bucket()
    p = upstream.project
    assert mvm(p, "remote", "add", "-q", "-d", "s3", f"s3://{bucket}/models",
               "--endpoint-url", moto.endpoint, "--region", s3.REGION) == 0
    git(p, "add", "-A")
    git_ok(p, "commit", "-q", "-m", "store on s3")
    _release(upstream, b"weights on s3", "v2.0.0")
    assert _get_over_http(upstream, tmp_path, "clf@v2.0.0") == b"weights on s3"


def test_lfs_endpoint(upstream: Upstream, tmp_path: Path) -> None:
    """No gitmv store in the tracked config: the repository's Git LFS endpoint
    (its committed .lfsconfig), as git lfs would find it for this URL."""
    from tests.stores.lfs import fresh_repo, shared_server

    endpoint = shared_server().endpoint(*fresh_repo())
    p = upstream.project
    _forget_the_store(p)
    (p / ".lfsconfig").write_text(f"[lfs]\n\turl = {endpoint}\n")
    git(p, "add", "-A")
    git_ok(p, "commit", "-q", "-m", "bytes on the LFS server")
    assert mvm(p, "remote", "add", "-q", "--local", "lfs", "lfs+" + endpoint) == 0
    _release(upstream, b"weights on lfs", "v3.0.0", "lfs")
    assert _get_over_http(upstream, tmp_path, "clf@v3.0.0") == b"weights on lfs"


def test_errors_are_one_line_with_a_hint(
    upstream: Upstream, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    with GitHttp(upstream.srv) as server, GitHttp(upstream.srv, auth="u:secret") as locked:
        url = server.url("origin.git")
        cases = {
            "not a git repository": (server.url("nothing.git"), "clf@v1.0.0"),
            "authentication failed": (locked.url("origin.git"), "clf@v1.0.0"),
            "no version v9.9.9": (url, "clf@v9.9.9"),
            "no such directory": (str(tmp_path / "nowhere"), "clf@v1.0.0"),
            "has no branch or tag": (url, "--rev=nope"),
        }
        for said, (where, spec) in cases.items():
            args = ["get", "--repo", where, *(["--rev", "nope", "models/clf.pt"]
                                             if spec.startswith("--rev") else [spec])]
            res = run(capsys, tmp_path, *args)
            lines = res.err.splitlines()
            assert res.rc == 1 and len(lines) == 2 and lines[1].startswith("hint: "), res.err
            assert said in error_lines(res.err)[0], (said, res.err)
    port = server.port  # the server is gone: nothing listens there now
    res = run(capsys, tmp_path, "get", "--repo", f"http://127.0.0.1:{port}/origin.git",
              "clf@v1.0.0")
    assert res.rc == 1 and "cannot reach" in res.err and "hint: " in res.err, res.err
    # a URL that names no repository leaves no mirror of it behind (a typo a day would fill
    # ~/.cache); the mirror of the one that works is kept
    left = [p.name for p in (tmp_path / "mirrors").iterdir() if p.is_dir()]
    assert len(left) == 1 and str(server.port) in left[0], left


def test_no_store_and_no_lfs_endpoint(
    upstream: Upstream, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    p = upstream.project
    _forget_the_store(p)
    git(p, "add", "-A")
    git_ok(p, "commit", "-q", "-m", "no store")
    save(p, "models/clf.pt", b"weights nowhere", "clf nowhere")
    assert mvm(p, "register", "-q", "--no-env", "clf", "v4.0.0") == 0
    _publish(upstream)
    with GitHttp(upstream.srv) as server:
        res = run(capsys, tmp_path, "get", "--repo", server.url("origin.git"), "clf@v4.0.0")
    assert res.rc == 1 and len(res.err.splitlines()) == 2, res.err
    assert "no gitmv store" in error_lines(res.err)[0], res.err
    assert res.err.splitlines()[1].startswith("hint: "), res.err
    assert not (tmp_path / "clf.pt").exists()


def _get_proc(cwd: Path, url: str, out: Path, env: dict[str, str] | None = None
              ) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gitmv", "get", "-q", "-f", "--repo", url, "clf#production",
         "-o", str(out)], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, env=env)


def test_two_calls_at_once_share_the_mirror(upstream: Upstream, tmp_path: Path) -> None:
    with GitHttp(upstream.srv) as server:
        url = server.url("origin.git")
        procs = [_get_proc(tmp_path, url, tmp_path / f"m{i}.pt") for i in range(3)]
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
    for i in range(3):
        assert (tmp_path / f"m{i}.pt").read_bytes() == b"weights 0"


def test_a_fetch_killed_midway_leaves_a_mirror_the_next_call_repairs(
    upstream: Upstream, tmp_path: Path,
) -> None:
    stall = tmp_path / "stall"
    stall.mkdir()
    (stall / "hold").touch()
    with GitHttp(upstream.srv, stall=stall) as server:
        url = server.url("origin.git")
        proc = _get_proc(tmp_path, url, tmp_path / "m.pt")
        # the server has sent part of the pack and holds the rest: git is mid-fetch
        wait_for(lambda: (stall / "stalled").exists(), proc)
        mirror = mirror_of(tmp_path)
        # git has taken its lock on the shallow file and is reading the pack: kill it all
        wait_for(lambda: (mirror / "shallow.lock").exists(), proc)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        assert (mirror / "shallow.lock").exists()  # what a killed fetch leaves
        (stall / "hold").unlink()
        proc = _get_proc(tmp_path, url, tmp_path / "m.pt")
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert (tmp_path / "m.pt").read_bytes() == b"weights 0"
    assert not (mirror / "shallow.lock").exists()


def test_an_unfinished_mirror_is_rebuilt(upstream: Upstream, tmp_path: Path) -> None:
    url = upstream.bare.as_uri()
    out = tmp_path / "m.pt"
    assert mvm(tmp_path, "get", "-q", "--repo", url, "clf@v1.0.0", "-o", str(out)) == 0
    mirror = mirror_of(tmp_path)
    (mirror / "mvm-mirror").unlink()  # as if killed before it was finished
    (mirror / "HEAD").write_text("garbage")
    assert mvm(tmp_path, "get", "-q", "-f", "--repo", url, "clf@v1.0.0", "-o", str(out)) == 0
    assert out.read_bytes() == b"weights 0"


def test_a_server_that_refuses_filters_still_serves_the_version_quietly(
    upstream: Upstream, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """Without `uploadpack.allowFilter` the server sends the tagged commits' blobs: still
    no history, and nothing scary printed."""
    git(upstream.bare, "config", "uploadpack.allowFilter", "false")
    with GitDaemon(upstream.srv) as server:
        res = run(capsys, tmp_path, "get", "--repo", server.url("origin.git"), "clf@v1.0.0",
                  "-o", str(tmp_path / "m.pt"))
    assert res.rc == 0, res.err
    assert (tmp_path / "m.pt").read_bytes() == b"weights 0"
    assert "warning" not in res.err.lower() and "filter" not in res.err, res.err
    assert _commits(mirror_of(tmp_path)) <= 2


def test_rev_and_path_in_a_clone_and_by_commit_id(
    upstream: Upstream, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """`--rev` works in a clone too, and over a URL by a full commit id (fetched by id)."""
    p = upstream.project
    first = git(p, "rev-parse", "HEAD").strip()
    save(p, "models/clf.pt", b"weights 1", "clf 1")
    assert mvm(p, "push", "-q") == 0
    _publish(upstream)
    assert mvm(p, "get", "-q", "--rev", first, "models/clf.pt", "-o", str(tmp_path / "a")) == 0
    assert (tmp_path / "a").read_bytes() == b"weights 0"
    with GitDaemon(upstream.srv) as server:
        url = server.url("origin.git")
        assert mvm(tmp_path, "get", "-q", "--repo", url, "--rev", first, "models/clf.pt",
                   "-o", str(tmp_path / "b")) == 0
        assert mvm(tmp_path, "get", "-q", "--repo", url, "--rev", "main", "models/enc",
                   "-o", str(tmp_path / "enc")) == 0
        assert mvm(tmp_path, "get", "-q", "--repo", url, "--rev", "HEAD", "models/clf.pt",
                   "-o", str(tmp_path / "c")) == 0
        assert mvm(tmp_path, "get", "-q", "--repo", url, "--rev", "clf@v1.0.0",
                   "models/clf.pt", "-o", str(tmp_path / "d")) == 0
        res = run(capsys, tmp_path, "get", "--repo", url, "--rev", "main", "models/nope.pt")
    assert (tmp_path / "b").read_bytes() == b"weights 0"
    assert (tmp_path / "c").read_bytes() == b"weights 1"
    assert (tmp_path / "d").read_bytes() == b"weights 0"
    assert tree_digest(tmp_path / "enc") == upstream.enc
    assert res.rc == 1 and "no artifact models/nope.pt" in res.err and "hint:" in res.err



def test_the_python_api_reads_a_repository_by_url(
    upstream: Upstream, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gitmv.api with repo=URL: the registry, a version's bytes, a file inside a directory
    artifact at a revision, and a rollback drill, through the same minimal mirror as
    `get --repo` (neither the history nor other blobs fetched)."""
    import gitmv.api as api

    monkeypatch.chdir(tmp_path)
    v = api.resolve("clf#production", repo=url)
    assert (v.version, v.path, v.stages) == ("v1.0.0", "models/clf.pt", ("production",))
    assert api.stages("clf", repo=url) == {"production": "v1.0.0"}
    out = api.get("enc@v1.0.0", tmp_path / "enc", repo=url)
    assert tree_digest(Path(out)) == upstream.enc
    assert api.read_bytes("models/clf.pt", repo=url, rev="clf@v1.0.0") == b"weights 0"
    with api.open("models/enc/vocab.txt", repo=url, rev="main") as f:
        assert f.read() == b"a b c"
    with pytest.raises(api.GitMvmError, match="no other version of clf to roll back to"):
        api.rollback_drill("clf", "production", repo=url)
    if url != str(upstream.bare):  # a plain path is the repository itself, no mirror
        assert _commits(mirror_of(tmp_path)) <= 2
        if os.environ.get("GIT_SSH_VARIANT") != "simple":  # the pointers asked for, no other
            other = git(upstream.bare, "rev-parse", "main:models/other.pt.mvm").strip()
            assert other not in _blobs(mirror_of(tmp_path))
    _release(upstream, b"weights 1", "v1.1.0")
    assert mvm(upstream.project, "promote", "-q", "clf", "v1.1.0", "production") == 0
    _publish(upstream)
    drill = api.rollback_drill("clf", "production", repo=url)
    assert (drill.ok, drill.current, drill.target, drill.problems) == (
        True, "v1.1.0", "v1.0.0", ())
    assert api.resolve("clf#production", repo=url).version == "v1.1.0"


def test_a_token_in_the_url_is_never_in_the_mirrors_name_nor_in_a_message(
    upstream: Upstream, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A deploy token in the URL (deploy.md) reaches git, never a path or a message: the
    mirror's directory is named without it (a listing of ~/.cache, a message naming the
    mirror would show it)."""
    secret = "s3cr3t-t0ken"
    with GitHttp(upstream.srv, auth=f"deploy:{secret}") as server:
        url = server.url("origin.git").replace("://", f"://deploy:{secret}@", 1)
        res = run(capsys, tmp_path, "get", "--repo", url, "clf#production", "-o",
                  str(tmp_path / "m.pt"))
        assert res.rc == 0, res.err
        mirror = mirror_of(tmp_path)
        res2 = run(capsys, tmp_path, "get", "-f", "--repo", url, "clf#production", "-o",
                   str(tmp_path / "m.pt"))
        assert res2.rc == 0, res2.err
        # the same repository without the token (or another one): the same mirror, asked
        # with what was given this time
        res3 = run(capsys, tmp_path, "get", "-f", "--repo", server.url("origin.git"),
                   "clf#production", "-o", str(tmp_path / "m.pt"))
        assert res3.rc == 1 and "authentication failed" in res3.err, res3.err
        assert mirror_of(tmp_path) == mirror
        res4 = run(capsys, tmp_path, "get", "-f", "--repo", url, "clf#production", "-o",
                   str(tmp_path / "m.pt"))
        assert res4.rc == 0, res4.err
    assert (tmp_path / "m.pt").read_bytes() == b"weights 0"
    names = [p.name for p in (tmp_path / "mirrors").iterdir()]
    assert not [n for n in names if secret in n or "deploy" in n], names
    assert secret not in "".join(r.out + r.err for r in (res, res2, res3, res4))


@pytest.mark.parametrize("damage", ["objects", "refs", "HEAD", "config", "packed-refs",
                                    "shallow", "packs", "pack-files", "marker"])
def test_a_damaged_mirror_is_made_again(upstream: Upstream, tmp_path: Path, damage: str) -> None:
    """Whatever is deleted or cut short in a mirror (a cleaner, a full disk), the next call
    gets the right bytes: the mirror is repaired or made again, never an error."""
    url = upstream.bare.as_uri()
    out = tmp_path / "m.pt"
    assert mvm(tmp_path, "get", "-q", "--repo", url, "clf@v1.0.0", "-o", str(out)) == 0
    mirror = mirror_of(tmp_path)
    git(mirror, "pack-refs", "--all")
    target = {"marker": "mvm-mirror"}.get(damage, damage)
    if damage == "packed-refs":
        data = (mirror / target).read_bytes()
        (mirror / target).write_bytes(data[: len(data) // 2])
    elif damage == "packs":
        for pack in (mirror / "objects" / "pack").glob("*.pack"):
            pack.write_bytes(pack.read_bytes()[:40])
    elif damage == "pack-files":
        for pack in (mirror / "objects" / "pack").glob("*.pack"):
            pack.unlink()
    elif (mirror / target).is_dir():
        shutil.rmtree(mirror / target)
    else:
        (mirror / target).unlink()
    assert mvm(tmp_path, "get", "-q", "-f", "--repo", url, "clf#production", "-o",
               str(out)) == 0
    assert out.read_bytes() == b"weights 0"


def test_output_paths_are_checked_before_anything_is_fetched(
    upstream: Upstream, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """`-o DIR/` is a directory (made if missing), as `cp` takes it; an -o that cannot be
    written (under a file) is one line naming why, before a byte is fetched; temp files a
    killed `get` left beside its destination are gone after the next one there."""
    from gitmv.fsutil import TMP_PREFIX

    url = upstream.bare.as_uri()
    work = tmp_path / "deploy"
    work.mkdir()
    (work / "afile").write_text("x")
    res = run(capsys, work, "get", "--repo", url, "clf#production", "-o", "afile/model.pt")
    assert res.rc == 1 and len(res.err.splitlines()) == 2, res.err
    assert "afile is not a directory" in error_lines(res.err)[0], res.err
    assert res.err.splitlines()[1].startswith("hint: ") and "fetched" not in res.err
    assert (work / "afile").read_text() == "x"
    res = run(capsys, work, "get", "--repo", url, "clf#production", "-o", "")  # ("$OUT" unset)
    assert res.rc != 0 and "output path is empty" in res.err and "Traceback" not in res.err, res.err
    assert sorted(os.listdir(work)) == ["afile"]  # not written under its own name
    assert not list((mirror_of(tmp_path) / "mvm").rglob("objects/*/*/*"))  # nothing fetched
    # what a get killed by kill -9 while copying leaves: a temp file of a process now gone
    stale = work / "models" / f"{TMP_PREFIX}999999999.{_host()}.0123456789ab"
    stale.parent.mkdir()
    stale.write_bytes(b"half a model")
    assert mvm(work, "get", "-q", "--repo", url, "clf#production", "-o", "models/") == 0
    assert (work / "models" / "clf.pt").read_bytes() == b"weights 0"
    assert sorted(os.listdir(work / "models")) == ["clf.pt"]
    assert mvm(work, "get", "-q", "--repo", url, "enc@v1.0.0", "-o", "encoders/") == 0
    assert tree_digest(work / "encoders") == upstream.enc


def _host() -> str:
    from gitmv.fsutil import host_tag

    return host_tag()


def test_a_mirror_cache_that_cannot_be_used_is_one_line_naming_it(
    upstream: Upstream, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "not-a-dir").write_text("x")
    monkeypatch.setenv("GITMV_REPO_CACHE", str(tmp_path / "not-a-dir"))
    res = run(capsys, tmp_path, "get", "--repo", upstream.bare.as_uri(), "clf#production")
    assert res.rc == 1 and len(res.err.splitlines()) == 2, res.err
    assert "not-a-dir" in error_lines(res.err)[0] and "GITMV_REPO_CACHE" in res.err, res.err


@needs_root
def test_a_mirror_another_user_made_is_refused_with_the_way_on(
    upstream: Upstream, team_base: Path, alice: User, bob: User,  # noqa: F811
) -> None:
    """Two users, one GITMV_REPO_CACHE (a CI machine's): bob may not update alice's mirror,
    and is told so in one line with what to do; and an -o this user may not write is
    refused before anything is fetched."""
    p = upstream.project
    store = team_base / "store"
    assert mvm(p, "remote", "add", "-q", "-d", "team", str(store)) == 0
    git(p, "add", "-A")
    git_ok(p, "commit", "-q", "-m", "the team's store")
    _release(upstream, b"weights 2", "v2.0.0")
    srv = team_base / "srv"
    shutil.copytree(upstream.bare, srv / "origin.git")
    subprocess.run(["chmod", "-R", "a+rX", str(srv), str(store)], check=True)
    cache = team_base / "cache"
    cache.mkdir()
    cache.chmod(0o1777)
    url = (srv / "origin.git").as_uri()
    for user in (alice, bob):
        user.env["GITMV_REPO_CACHE"] = str(cache)
        (team_base / user.name).mkdir()
        user.own(team_base / user.name)
    res = alice.mvm(team_base / "alice", "get", "--repo", url, "clf@v2.0.0", "-o", "m.pt")
    assert res.returncode == 0, res.stderr
    assert (team_base / "alice" / "m.pt").read_bytes() == b"weights 2"
    res = bob.mvm(team_base / "bob", "get", "--repo", url, "clf@v2.0.0", "-o", "m.pt")
    lines = res.stderr.splitlines()
    assert res.returncode == 1 and len(lines) == 2, res.stderr
    assert "another user" in lines[0] and "GITMV_REPO_CACHE" in lines[1], res.stderr
    (team_base / "locked").mkdir(mode=0o755)  # root's
    res = alice.mvm(team_base / "alice", "get", "--repo", url, "clf@v2.0.0", "-o",
                    str(team_base / "locked" / "m.pt"))
    lines = res.stderr.splitlines()
    assert res.returncode == 1 and len(lines) == 2, res.stderr
    assert "no permission to write in" in lines[0] and lines[1].startswith("hint: ")


def test_a_typo_in_the_spec_gets_a_hint_that_works_without_a_clone(
    upstream: Upstream, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """With --repo there is no clone to run `git mvm show` or `git fetch --tags` in: the
    hint lists what the repository has instead; `git mvm get` outside a clone points at
    --repo. A bare repository's path without `.git` is taken as git takes it."""
    url = upstream.bare.as_uri()
    for spec, said in (("cfl#production", "no model 'cfl'"), ("clf@v9.9.9", "no version v9.9.9"),
                       ("clf#prod", "stage 'prod'")):
        res = run(capsys, tmp_path, "get", "--repo", url, spec)
        lines = res.err.splitlines()
        assert res.rc == 1 and len(lines) == 2 and said in lines[0], res.err
        assert "git mvm show" not in lines[1] and "git ls-remote" in lines[1], res.err
    res = run(capsys, tmp_path, "get", "clf#production")
    assert res.rc == 1 and "--repo" in res.err.splitlines()[1], res.err
    without = str(upstream.bare)[: -len(".git")]
    assert mvm(tmp_path, "get", "-q", "--repo", without, "clf#production", "-o",
               str(tmp_path / "m.pt")) == 0
    assert (tmp_path / "m.pt").read_bytes() == b"weights 0"


def test_a_user_config_for_protocol_v0_keeps_the_mirror_blobless(
    upstream: Upstream, tmp_path: Path,
) -> None:
    """`protocol.version=0` in ~/.gitconfig (set for an old server) reached the blob git
    fetches when it is read, the server sent no blob asked for by id, and the mirror was
    made again with every blob of the tagged commits; `remote.origin.prune`/`pruneTags`
    there would fetch every tag of the server."""
    with open(os.path.join(os.environ["HOME"], ".gitconfig"), "a") as f:
        f.write("[protocol]\n\tversion = 0\n[remote \"origin\"]\n\tprune = true\n"
                "\tpruneTags = true\n\ttagOpt = --tags\n")
    git_ok(upstream.project, "tag", "-a", "-m", "not the registry's", "release-notes", "HEAD~5")
    _publish(upstream)
    with GitDaemon(upstream.srv) as server:
        out = tmp_path / "m.pt"
        assert mvm(tmp_path, "get", "-q", "--repo", server.url("origin.git"), "clf#production",
                   "-o", str(out)) == 0
    assert out.read_bytes() == b"weights 0"
    other = git(upstream.bare, "rev-parse", "main:models/other.pt.mvm").strip()
    assert other not in _blobs(mirror_of(tmp_path))
    assert "release-notes" not in git(mirror_of(tmp_path), "tag")
    assert _commits(mirror_of(tmp_path)) <= 2


def test_get_rev_writes_a_file_inside_a_directory_artifact(
    upstream: Upstream, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """`git mvm get --rev REV DIR/FILE` as gitmv.api.get takes it (api.md: "the same
    code"): one file of a directory artifact, in a clone and over a URL."""
    url = upstream.bare.as_uri()
    assert mvm(tmp_path, "get", "-q", "--repo", url, "--rev", "main", "models/enc/layers/0.bin",
               "-o", str(tmp_path / "a.bin")) == 0
    assert (tmp_path / "a.bin").read_bytes() == b"\0" * 99
    assert mvm(upstream.project, "get", "-q", "--rev", "HEAD", "models/enc/vocab.txt", "-o",
               str(tmp_path / "v.txt")) == 0
    assert (tmp_path / "v.txt").read_bytes() == b"a b c"
    res = run(capsys, tmp_path, "get", "--repo", url, "--rev", "main", "models/enc/nope.txt")
    assert res.rc == 1 and "no file 'nope.txt' in directory artifact models/enc" in res.err, \
        res.err
    res = run(capsys, tmp_path, "get", "--repo", url, "--rev", "main", "models/clf.pt/x")
    assert res.rc == 1 and "is a file artifact" in res.err, res.err


def test_output_to_a_symlink_to_a_directory_lands_inside_it(
    upstream: Upstream, tmp_path: Path,
) -> None:
    """`-o /models` where /models is a symbolic link to a directory (a volume in an image)
    puts the file in that directory, as cp does; it did not, and with --force replaced the
    link by the file."""
    (tmp_path / "volume").mkdir()
    (tmp_path / "models").symlink_to(tmp_path / "volume")
    url = upstream.bare.as_uri()
    for force in ([], ["-f"]):
        assert mvm(tmp_path, "get", "-q", *force, "--repo", url, "clf@v1.0.0", "-o",
                   str(tmp_path / "models")) == 0
    assert (tmp_path / "models").is_symlink()
    assert (tmp_path / "volume" / "clf.pt").read_bytes() == b"weights 0"


def test_a_mirror_killed_while_it_was_made_leaves_nothing_behind(
    upstream: Upstream, tmp_path: Path,
) -> None:
    """A mirror is made aside (a temp directory beside the others) and renamed in: one a
    process killed before the rename left is removed by the next call that makes one."""
    from gitmv.fsutil import TMP_PREFIX

    mirrors = tmp_path / "mirrors"
    stale = mirrors / f"{TMP_PREFIX}999999999.{_host()}.0123456789ab"
    (stale / "objects").mkdir(parents=True)
    (stale / "HEAD").write_text("ref: refs/heads/main\n")
    assert mvm(tmp_path, "get", "-q", "--repo", upstream.bare.as_uri(), "clf#production",
               "-o", str(tmp_path / "m.pt")) == 0
    assert not stale.exists()
    assert [p.name for p in mirrors.iterdir() if p.is_dir()] == [mirror_of(tmp_path).name]
