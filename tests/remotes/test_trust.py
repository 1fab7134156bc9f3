"""Nothing tracked can make gitmv send a secret: a password never lands in the committed
config, printed URLs are masked, and settings that send credentials (`token_env`) or decide
who may receive them (`ssl_verify`) count only from the user's own, never-committed config.

Each of these was possible before: `remote add https://user:secret@…` wrote the password into
the tracked file and staged it, and any contributor could commit `token_env =
"AWS_SECRET_ACCESS_KEY"` with a URL of theirs, for CI to send the secret on its next pull.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitmv.remotes.urls import mask_url, secret_in_url
from tests.faultserver import FaultServer
from tests.helpers import (
    configure,
    configure_local,
    error_lines,
    git,
    git_ok,
    git_run,
    init_bare,
    init_hooked,
    save,
)


def test_a_password_in_a_url_is_refused_for_the_shared_config(tmp_path: Path) -> None:
    repo = init_hooked(tmp_path / "repo")
    res = git_run(repo, "mvm", "remote", "add", "web", "https://ana:s3cret@example.com/mvm",
                  "--default")
    assert res.returncode == 1
    errors = error_lines(res.stderr)
    assert len(errors) == 1 and "password" in errors[0], res.stderr
    assert "--local" in res.stderr and "git credential" in res.stderr
    assert "s3cret" not in res.stderr
    assert "s3cret" not in (repo / ".mvm" / "config.toml").read_text()
    assert "s3cret" not in git(repo, "diff", "--cached")


def test_with_local_it_is_kept_to_the_user_and_listed_masked(tmp_path: Path) -> None:
    repo = init_hooked(tmp_path / "repo")
    git_ok(repo, "mvm", "remote", "add", "--local", "web", "https://ana:s3cret@example.com/mvm")
    assert "s3cret" in (repo / ".git" / "mvm" / "config.toml").read_text()
    assert "s3cret" not in (repo / ".mvm" / "config.toml").read_text()
    listed = git_ok(repo, "mvm", "remote", "list").stdout
    assert "https://ana:***@example.com/mvm" in listed and "s3cret" not in listed
    as_json = json.loads(git_ok(repo, "mvm", "remote", "list", "--json").stdout)
    assert as_json == [{"name": "web", "url": "https://ana:***@example.com/mvm",
                        "default": False}]


@pytest.mark.parametrize(("url", "masked"), [
    ("https://ana:s3cret@example.com/x", "https://ana:***@example.com/x"),
    ("https://:tok@example.com:8443/x", "https://:***@example.com:8443/x"),
    ("http://ana:p%40ss@[::1]:9000/x?y=1", "http://ana:***@[::1]:9000/x?y=1"),
    ("https://ana@example.com/x", "https://ana@example.com/x"),
    ("/srv/store", "/srv/store"),
    ("s3://bucket/prefix", "s3://bucket/prefix"),
    ("https://ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com/o/r",
     "https://***@github.com/o/r"),
    ("https://files.example.com/mvm?token=abc&x=1", "https://files.example.com/mvm?token=***&x=1"),
    ("https://b.s3.amazonaws.com/k?X-Amz-Signature=f00&X-Amz-Credential=AKIA",
     "https://b.s3.amazonaws.com/k?X-Amz-Signature=***&X-Amz-Credential=***"),
])
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert "s3cret" not in masked and "ghp_" not in masked and "f00" not in masked
    assert (secret_in_url(url) is None) == (url == masked)


@pytest.mark.parametrize("args", [
    ["web", "https://ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com/o/r"],
    ["web", "https://files.example.com/mvm?token=s3cret"],
    ["s3", "s3://bucket/models", "--endpoint-url", "http://minio:s3cret@127.0.0.1:9000"],
])
def test_a_token_anywhere_in_a_url_is_refused_for_the_shared_config(
    tmp_path: Path, args: list[str]
) -> None:
    repo = init_hooked(tmp_path / "repo")
    res = git_run(repo, "mvm", "remote", "add", *args)
    assert res.returncode == 1, res.stderr
    assert "--local" in res.stderr and "s3cret" not in res.stderr and "ghp_" not in res.stderr
    assert "s3cret" not in (repo / ".mvm" / "config.toml").read_text()
    assert "ghp_" not in (repo / ".mvm" / "config.toml").read_text()


def test_a_committed_password_url_is_refused_before_any_request(
    tmp_path: Path, server: FaultServer
) -> None:
    bare = init_bare(tmp_path / "srv.git")
    repo = init_hooked(tmp_path / "repo", bare)
    url = server.url.replace("http://", "http://ana:s3cret@") + "/store"
    configure(repo, "remote.web", f'url = "{url}"')  # as a teammate committed it by hand
    configure(repo, "core", 'remote = "web"')
    save(repo, "m.pt", b"weights" * 100)
    res = git_run(repo, "mvm", "push")
    assert res.returncode == 1
    assert "holds a password" in res.stderr and "change it" in res.stderr
    assert "s3cret" not in res.stderr
    assert not server.records


@pytest.mark.parametrize(("setting", "value"), [
    ("token_env", '"MVM_TEST_SECRET"'),
    ("ssl_verify", "false"),
    ("ssl_verify", '"/tmp/attacker-ca.pem"'),
])
def test_settings_that_send_secrets_count_only_from_the_local_config(
    tmp_path: Path, server: FaultServer, monkeypatch: pytest.MonkeyPatch, setting: str,
    value: str
) -> None:
    monkeypatch.setenv("MVM_TEST_SECRET", "the-secret")
    bare = init_bare(tmp_path / "srv.git")
    repo = init_hooked(tmp_path / "repo", bare)
    git_ok(repo, "mvm", "remote", "add", "web", f"{server.url}/store", "--default")
    configure(repo, "remote.web", f"{setting} = {value}")  # committed by anyone
    save(repo, "m.pt", b"weights" * 100, "model")
    for args in (["mvm", "push"], ["mvm", "pull"], ["push", "-q", "origin", "main"]):
        res = git_run(repo, *args)
        assert res.returncode != 0, args
        assert f"`{setting}` is set in the committed .mvm/config.toml" in res.stderr
        assert ".git/mvm/config.toml" in res.stderr
    assert not server.records  # nothing, let alone the secret, was sent anywhere


def test_the_same_setting_in_the_local_config_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MVM_TEST_SECRET", "tok-123")
    with FaultServer(tmp_path / "http-root", token="tok-123") as server:
        bare = init_bare(tmp_path / "srv.git")
        repo = init_hooked(tmp_path / "repo", bare)
        git_ok(repo, "mvm", "remote", "add", "web", f"{server.url}/store", "--default")
        configure(repo, "remote.web", 'token_env = "MVM_TEST_SECRET"')
        configure_local(repo, "remote.web",  # the user's own, for a URL of theirs
                        f'token_env = "MVM_TEST_SECRET"\nurl = "{server.url}/store"')
        save(repo, "m.pt", b"weights" * 100, "model")
        res = git_run(repo, "mvm", "push")
        assert res.returncode == 0, res.stderr
        assert server.requests("PUT")


def test_a_local_token_goes_only_to_a_url_of_the_local_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's own `token_env`, under a remote whose `url` the committed config names: a
    commit that changes that URL would send the token wherever it says. gitmv refuses before
    any request, and sends it once the user sets the URL in the local config as well."""
    monkeypatch.setenv("MY_TOKEN", "s3cret")
    with FaultServer(tmp_path / "http-root", token="s3cret") as server:
        bare = init_bare(tmp_path / "srv.git")
        repo = init_hooked(tmp_path / "repo", bare)
        configure(repo, "remote.web", f'url = "{server.url}/mvm"')  # tracked
        configure_local(repo, "core", 'remote = "web"')
        configure_local(repo, "remote.web", 'token_env = "MY_TOKEN"')
        save(repo, "m.pt", b"weights" * 100, "model")
        for args in (["mvm", "push"], ["mvm", "pull"], ["push", "-q", "origin", "main"]):
            res = git_run(repo, *args)
            assert res.returncode != 0, args
            errors = error_lines(res.stderr)
            assert len(errors) == 1 and "token_env" in errors[0], res.stderr
            assert ".git/mvm/config.toml" in res.stderr and "url" in res.stderr
            assert "s3cret" not in res.stderr
        assert not server.records
        cfg = repo / ".git" / "mvm" / "config.toml"
        cfg.write_text(cfg.read_text().replace(
            'token_env = "MY_TOKEN"', f'token_env = "MY_TOKEN"\nurl = "{server.url}/mvm"'))
        res = git_run(repo, "mvm", "push")
        assert res.returncode == 0, res.stderr
        assert server.requests("PUT")
