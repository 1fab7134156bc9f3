"""The plain HTTP(S) store end to end: real git, `git mvm` as a user runs it, and a loopback
object server (tests/faultserver.py) with Basic auth through a git credential helper written
by the test, or a bearer token from an environment variable."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from gitmv.remotes.base import open_store
from tests import nginx
from tests.faultserver import Faults, FaultServer, stored_objects
from tests.helpers import (
    assert_cache_sound,
    cache_objects,
    configure,
    configure_local,
    dataset_files,
    error_lines,
    git,
    git_ok,
    git_run,
    init_bare,
    init_hooked,
    save,
    save_dir,
    sha,
    tree_digest,
)
from tests.storefiles import DirFiles, object_ids, read_object


def published(
    tmp_path: Path, url: str, name: str = "alice"
) -> tuple[Path, Path, bytes, dict[str, str]]:
    """A bare git remote, and a repository whose `web` remote (the default) is `url`, with a
    committed file artifact and directory artifact (not pushed yet)."""
    bare = init_bare(tmp_path / "srv.git")
    repo = init_hooked(tmp_path / name, bare)
    git_ok(repo, "mvm", "remote", "add", "web", url, "--default")
    model = os.urandom(300_000)
    save(repo, "models/m.pt", model)
    digest = save_dir(repo, "data/train", dataset_files(n=6, size=5000), "models")
    return bare, repo, model, digest


def assert_store_holds(root: Path, repo: Path) -> None:
    """Every cache object of `repo` is on the store under its name (loose under its fan-out
    directories, or in a pack its index names: tests/storefiles.py), with the right bytes."""
    files = DirFiles(root)
    stored = object_ids(files)
    for oid in cache_objects(repo):
        assert oid in stored, f"sha256:{oid} is not on the store"
        assert sha(read_object(files, oid) or b"") == oid


def clone_and_pull(bare: Path, dest: Path) -> subprocess.CompletedProcess[str]:
    git(bare.parent, "clone", "-q", str(bare), str(dest))
    return git_run(dest, "mvm", "pull")


def test_push_and_pull_file_and_directory_artifacts(
    server: FaultServer, tmp_path: Path
) -> None:
    bare, alice, model, digest = published(tmp_path, f"{server.url}/store")
    git_ok(alice, "push", "-q", "-u", "origin", "main")  # the pre-push hook sends the objects
    assert_store_holds(tmp_path / "http-root" / "store", alice)
    puts = server.requests("PUT")
    assert len(puts) == len(cache_objects(alice))

    bob = tmp_path / "bob"
    res = clone_and_pull(bare, bob)
    assert res.returncode == 0, res.stderr
    assert (bob / "models" / "m.pt").read_bytes() == model
    assert tree_digest(bob / "data" / "train") == digest
    assert_cache_sound(bob)

    # nothing new: a second push sends nothing (HEADs only)
    before = len(server.requests("PUT"))
    res = git_run(alice, "mvm", "push")
    assert res.returncode == 0, res.stderr
    assert len(server.requests("PUT")) == before


@pytest.mark.parametrize("packs", [True, False])
def test_webdav_server_without_parent_directories_and_listing(tmp_path: Path,
                                                              packs: bool) -> None:
    """nginx without `create_full_put_path` answers 409: the store makes the collections
    (`packs/`, `index/` in layout 2, the default; the fan-out ones in layout 1), and lists
    what it holds."""
    with FaultServer(tmp_path / "http-root", create_parents=False) as server:
        _, alice, _, _ = published(tmp_path, f"{server.url}/store")
        configure(alice, "remote.web", "webdav = true")
        if not packs:
            configure(alice, "remote.web", "packs = false")
        res = git_run(alice, "mvm", "push")
        assert res.returncode == 0, res.stderr
        root = tmp_path / "http-root" / "store"
        assert_store_holds(root, alice)
        assert server.requests("MKCOL")
        store = open_store("web", f"{server.url}/store", {"webdav": True})
        try:
            listed = {oid: size for oid, size, _ in store.list_objects()}  # type: ignore[attr-defined]
            named = {n: size for d in ("packs/", "index/")
                     for n, size, _ in store.list_named(d)}  # type: ignore[attr-defined]
        finally:
            store.close()  # type: ignore[attr-defined]
        if packs:
            assert listed == {}
            assert named == {n: size for n, size in DirFiles(root).names().items()
                             if n != "mvm-layout"} and named
        else:
            assert listed == {oid: p.stat().st_size for oid, p in cache_objects(alice).items()}
            assert named == {}


# --- authentication --------------------------------------------------------------------------


def credential_helper(tmp_path: Path, user: str, password: str) -> Path:
    """A git credential helper that answers `get` with fixed credentials and logs every call
    (action and the fields git sent) to helper.log."""
    log = tmp_path / "helper.log"
    script = tmp_path / "helper.sh"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "== $1" >> "{log}"\n'
        f'cat >> "{log}"\n'
        'if [ "$1" = get ]; then\n'
        f"  echo username={user}\n  echo password={password}\n"
        "fi\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    git(tmp_path, "config", "--global", "credential.helper", str(script))
    return log


def actions(log: Path) -> list[str]:
    if not log.exists():
        return []
    return [ln[3:] for ln in log.read_text().splitlines() if ln.startswith("== ")]


def test_basic_auth_through_git_credential(tmp_path: Path) -> None:
    log = credential_helper(tmp_path, "alice", "s3cret")
    with FaultServer(tmp_path / "http-root", auth=("alice", "s3cret")) as server:
        bare, alice, model, _ = published(tmp_path, f"{server.url}/store")
        res = git_run(alice, "mvm", "push")
        assert res.returncode == 0, res.stderr
        assert_store_holds(tmp_path / "http-root" / "store", alice)
        statuses = [r.status for r in server.records]
        assert statuses[0] == 401 and statuses.count(401) == 1  # one probe, then credentials
        assert actions(log) == ["get", "store"]
        assert f"host=127.0.0.1:{server.port}" in log.read_text()

        git_ok(alice, "push", "-q", "-u", "origin", "main")
        bob = tmp_path / "bob"
        res = clone_and_pull(bare, bob)
        assert res.returncode == 0, res.stderr
        assert (bob / "models" / "m.pt").read_bytes() == model


def test_wrong_password_is_one_error_and_the_helper_is_told(tmp_path: Path) -> None:
    log = credential_helper(tmp_path, "alice", "wrong")
    with FaultServer(tmp_path / "http-root", auth=("alice", "s3cret")) as server:
        _, alice, _, _ = published(tmp_path, f"{server.url}/store")
        res = git_run(alice, "mvm", "push")
    assert res.returncode == 1
    errors = error_lines(res.stderr)
    assert len(errors) == 1, res.stderr
    assert "remote 'web'" in errors[0] and "authentication failed" in errors[0]
    assert "Traceback" not in res.stderr
    assert actions(log) == ["get", "erase"]
    assert not stored_objects(tmp_path / "http-root")


def test_no_credentials_at_all_says_how_to_give_them(tmp_path: Path) -> None:
    with FaultServer(tmp_path / "http-root", auth=("alice", "s3cret")) as server:
        _, alice, _, _ = published(tmp_path, f"{server.url}/store")
        res = git_run(alice, "mvm", "push")
    assert res.returncode == 1
    errors = error_lines(res.stderr)
    assert len(errors) == 1, res.stderr
    assert "remote 'web'" in errors[0] and "credentials" in errors[0]
    assert "credential.helper" in res.stderr and "token_env" in res.stderr


def test_bearer_token_from_an_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FaultServer(tmp_path / "http-root", token="tok-123") as server:
        _, alice, _, _ = published(tmp_path, f"{server.url}/store")
        configure_local(alice, "remote.web",
                        f'token_env = "MVM_TEST_TOKEN"\nurl = "{server.url}/store"')

        res = git_run(alice, "mvm", "push")  # not set
        assert res.returncode == 1
        assert "MVM_TEST_TOKEN" in res.stderr and "not set" in res.stderr
        assert not server.records

        monkeypatch.setenv("MVM_TEST_TOKEN", "nope")
        res = git_run(alice, "mvm", "push")
        assert res.returncode == 1
        assert len(error_lines(res.stderr)) == 1
        assert "$MVM_TEST_TOKEN was refused" in res.stderr

        monkeypatch.setenv("MVM_TEST_TOKEN", "tok-123")
        res = git_run(alice, "mvm", "push")
        assert res.returncode == 0, res.stderr
        assert_store_holds(tmp_path / "http-root" / "store", alice)


def test_permission_denied_is_one_line_naming_the_remote(tmp_path: Path) -> None:
    with FaultServer(tmp_path / "http-root", faults=Faults(fail_first=10**6,
                                                           fail_status=403)) as server:
        _, alice, _, _ = published(tmp_path, f"{server.url}/store")
        res = git_run(alice, "mvm", "push")
    assert res.returncode == 1
    errors = error_lines(res.stderr)
    assert len(errors) == 1, res.stderr
    assert "remote 'web'" in errors[0] and "permission denied" in errors[0]


def test_unreachable_endpoint_is_one_line_naming_the_remote(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _, alice, _, _ = published(tmp_path, f"http://127.0.0.1:{port}/store")
    res = git_run(alice, "mvm", "push")
    assert res.returncode == 1
    errors = error_lines(res.stderr)
    assert len(errors) == 1, res.stderr
    assert "cannot reach remote 'web'" in errors[0]
    assert "gave up after" in errors[0]


def test_bad_settings_are_refused_clearly(tmp_path: Path, server: FaultServer) -> None:
    _, alice, _, _ = published(tmp_path, f"{server.url}/store")
    configure(alice, "remote.web", "timeout = -3")
    res = git_run(alice, "mvm", "push")
    assert res.returncode == 1
    assert "remote 'web'" in res.stderr and "timeout" in res.stderr
    assert "Traceback" not in res.stderr


def test_redirects_are_followed_with_the_body_sent_again(tmp_path: Path) -> None:
    """A front server that answers 307 (as load balancers and some stores do): the upload
    body is rewound and sent to the new location, downloads follow too."""
    import hashlib
    import io
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    with FaultServer(tmp_path / "http-root") as backend:

        class Redirect(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _go(self) -> None:
                left = int(self.headers.get("Content-Length") or 0)
                while left > 0:  # drain, so the connection stays usable
                    left -= len(self.rfile.read(min(left, 65536)) or b"x" * left)
                self.send_response(307)
                self.send_header("Location", backend.url + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_HEAD = do_PUT = _go

        front = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
        front.daemon_threads = True
        thread = threading.Thread(target=front.serve_forever, daemon=True)
        thread.start()
        try:
            store = open_store("web", f"http://127.0.0.1:{front.server_address[1]}/store", {})
            data = os.urandom(200_000)
            oid = hashlib.sha256(data).hexdigest()
            try:
                store.upload(oid, len(data), io.BytesIO(data))
                assert store.exists_many([oid]) == {oid}
                src, start = store.open_download(oid, 1000)
                with src:
                    assert src.read() == data[start:]
            finally:
                store.close()  # type: ignore[attr-defined]
        finally:
            front.shutdown()
            front.server_close()
            thread.join(timeout=10)
    assert [r.status for r in backend.requests("PUT")] == [201]
    assert sha(stored_objects(tmp_path / "http-root")[oid].read_bytes()) == oid


# --- the real thing: nginx with WebDAV ---------------------------------------------------------

needs_nginx = pytest.mark.skipif(
    not nginx.available(),
    reason="nginx with the WebDAV ext module is not installed (scripts/test installs it)",
)


@needs_nginx
def test_store_operations_against_nginx_webdav(tmp_path: Path) -> None:
    import hashlib
    import io

    credential_helper(tmp_path, "ana", "pw")
    with nginx.nginx_store(tmp_path / "nginx", "ana", "pw") as (url, root):
        store = open_store("web", url, {"webdav": True})
        try:
            objs = {hashlib.sha256(d).hexdigest(): d
                    for d in (b"", os.urandom(10), os.urandom(3 << 20))}
            assert store.exists_many(list(objs)) == set()
            for oid, data in objs.items():
                store.upload(oid, len(data), io.BytesIO(data))
            assert store.exists_many(list(objs)) == set(objs)
            big = max(objs, key=lambda o: len(objs[o]))
            src, start = store.open_download(big, 1 << 20)
            with src:
                assert start == 1 << 20 and src.read() == objs[big][start:]
            listed = {oid: size for oid, size, _ in store.list_objects()}  # type: ignore[attr-defined]
            assert listed == {oid: len(d) for oid, d in objs.items()}
            store.delete(big)
            assert store.exists_many(list(objs)) == set(objs) - {big}
        finally:
            store.close()  # type: ignore[attr-defined]
        for oid, data in objs.items():
            if oid != big:
                assert (root / oid[:2] / oid[2:4] / oid).read_bytes() == data


@needs_nginx
def test_push_and_pull_through_nginx_with_basic_auth(tmp_path: Path) -> None:
    log = credential_helper(tmp_path, "ana", "pw")
    with nginx.nginx_store(tmp_path / "nginx", "ana", "pw") as (url, root):
        bare, alice, model, digest = published(tmp_path, url)
        git_ok(alice, "push", "-q", "-u", "origin", "main")
        assert_store_holds(root, alice)
        bob = tmp_path / "bob"
        res = clone_and_pull(bare, bob)
        assert res.returncode == 0, res.stderr
    assert (bob / "models" / "m.pt").read_bytes() == model
    assert tree_digest(bob / "data" / "train") == digest
    assert actions(log)[:2] == ["get", "store"]


def test_gc_remote_on_a_webdav_store_deletes_only_old_unneeded_objects(tmp_path: Path) -> None:
    import time

    root = tmp_path / "http-root"
    with FaultServer(root) as server:
        _, alice, _, _ = published(tmp_path, f"{server.url}/store")
        configure(alice, "remote.web", "webdav = true")
        git_ok(alice, "commit", "-q", "-am", "webdav")
        git_ok(alice, "push", "-q", "-u", "origin", "main")
        needed = set(cache_objects(alice))
        junk = {}
        for age in (0, 3 * 3600):  # a fresh unneeded object (a push in flight) and an old one
            data = os.urandom(1000)
            oid = sha(data)
            path = root / "store" / oid[:2] / oid[2:4] / oid
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            when = time.time() - age
            os.utime(path, (when, when))
            junk[age] = oid
        for path in stored_objects(root).values():  # (loose objects, or packs and indexes)
            if path.name != junk[0]:  # needed objects are kept however old they are
                os.utime(path, (time.time() - 3 * 3600,) * 2)

        # a WebDAV store cannot refresh what a push relies on: gc --remote only with --force
        res = git_run(alice, "mvm", "gc", "--remote", "--dry-run")
        assert res.returncode == 1 and "cannot refresh" in res.stderr, res.stderr
        res = git_run(alice, "mvm", "gc", "--remote", "--dry-run", "--force")
        assert res.returncode == 0, res.stderr
        assert object_ids(DirFiles(root / "store")) == needed | set(junk.values())
        res = git_run(alice, "mvm", "gc", "--remote", "--force")
        assert res.returncode == 0, res.stderr
    assert object_ids(DirFiles(root / "store")) == needed | {junk[0]}
    assert [r.path for r in server.requests("DELETE")] == [
        f"/store/{junk[3 * 3600][:2]}/{junk[3 * 3600][2:4]}/{junk[3 * 3600]}"
    ]
