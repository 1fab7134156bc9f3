"""gitmv.repo: git gives gitmv the same answers whatever the user's config and environment say.

Each case here lost a model before git's command line and environment were built in one place:
a push that uploaded nothing (exit 0), a gc that deleted a committed model. The whole core is
also run under a hostile config and environment by scripts/test (tests/helpers.py: HOSTILE).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitmv.errors import GitFailed
from gitmv.repo import Repo, run_git
from tests.helpers import (
    cache_objects,
    git,
    git_ok,
    init_bare,
    make_old,
    mvm,
    remote_oids,
    sha,
    write,
)


def root_commit_with_a_model(root: Path, origin: Path) -> bytes:
    """A repository whose first commit brings the model (pre-push hook installed)."""
    root.mkdir(parents=True)
    git(root, "init", "-q")
    assert mvm(root, "init", "-q") == 0
    model = os.urandom(3000)
    write(root / "models" / "m.pt", model)
    assert mvm(root, "add", "-q", "models/m.pt") == 0
    git_ok(root, "commit", "-q", "-m", "the model, in the root commit")
    git(root, "remote", "add", "origin", str(origin))
    return model


@pytest.mark.parametrize("how", ["global config", "git -c"])
def test_a_model_in_the_root_commit_is_pushed_and_kept_when_log_hides_the_root(
    tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if how == "global config":
        git(tmp_path, "config", "--global", "log.showRoot", "false")
    else:  # what `git -c log.showRoot=false push` hands down to the hooks
        monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'log.showroot'='false'")
    bare = init_bare(tmp_path / "srv.git")
    alice = tmp_path / "alice"
    model = root_commit_with_a_model(alice, bare)
    git_ok(alice, "push", "-q", "origin", "main")
    assert sha(model) in remote_oids(bare)
    make_old(list(cache_objects(alice).values()))
    assert mvm(alice, "gc", "-q") == 0
    assert sha(model) in cache_objects(alice)


@pytest.mark.parametrize("variables", [
    {"GIT_LITERAL_PATHSPECS": "1"},
    {"GIT_GLOB_PATHSPECS": "1"},
    {"GIT_GLOB_PATHSPECS": "1", "GIT_ICASE_PATHSPECS": "1"},
    {"GIT_NOGLOB_PATHSPECS": "1"},
])
def test_pathspec_magic_in_the_environment_changes_nothing(
    tmp_path: Path, variables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`*.mvm` must match every pointer, in subdirectories too, however git is told to read
    pathspecs: gc keeps a committed, checked-out model and a push uploads it."""
    bare = init_bare(tmp_path / "srv.git")
    alice = tmp_path / "alice"
    model = root_commit_with_a_model(alice, bare)
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    assert mvm(alice, "push", "-q") == 0
    assert sha(model) in remote_oids(bare)
    make_old(list(cache_objects(alice).values()))
    assert mvm(alice, "gc", "-q") == 0
    assert sha(model) in cache_objects(alice)
    assert mvm(alice, "status", "-q") == 0


def test_git_speaks_english_to_gitmv_in_any_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gitmv matches a few of git's messages (a tag someone else pushed first): a German git
    must not hide them."""
    git(tmp_path, "init", "-q")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("LANGUAGE", "de")
    with pytest.raises(GitFailed) as failed:
        run_git(["checkout", "no-such-branch"], cwd=str(tmp_path))
    assert "did not match any file(s) known to git" in failed.value.stderr


def test_repo_discovery_ignores_pathspec_and_color_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "--global", "color.ui", "always")
    monkeypatch.setenv("GIT_LITERAL_PATHSPECS", "1")
    repo = Repo.discover(str(tmp_path))
    assert repo.root == str(tmp_path)
    write(tmp_path / "sub" / "a.pt.mvm", "mvm = 1\n")
    assert repo.workspace_pointers() == ["sub/a.pt.mvm"]


def test_no_call_inherits_a_variable_that_locates_a_repository() -> None:
    """Every variable git itself drops when it moves to another repository (`git rev-parse
    --local-env-vars`), but the user's `-c` settings, is dropped from every call."""
    from gitmv.repo import LOCATING_ENV

    local = set(git(Path.cwd(), "rev-parse", "--local-env-vars").split())
    assert local - {"GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT"} <= LOCATING_ENV


def test_a_bare_repository_with_a_separate_work_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`GIT_DIR=~/.dotfiles GIT_WORK_TREE=~`: gitmv works on that repository and that work
    tree, and gc keeps the model staged there (it read neither, and deleted it)."""
    bare = init_bare(tmp_path / "dot.git")
    home = tmp_path / "home"
    (home / "sub").mkdir(parents=True)
    monkeypatch.setenv("GIT_DIR", str(bare))
    monkeypatch.setenv("GIT_WORK_TREE", str(home))
    assert mvm(home, "init", "-q", "--no-hooks") == 0
    git_ok(home, "commit", "-q", "-m", "init")
    model = os.urandom(3000)
    write(home / "sub" / "m.pt", model)
    assert mvm(home / "sub", "add", "-q", "m.pt") == 0
    assert "sub/m.pt.mvm" in git(home, "diff", "--cached", "--name-only")
    objects = cache_objects(home, bare / "mvm" / "objects")
    assert sha(model) in objects
    make_old(list(objects.values()))
    assert mvm(home / "sub", "gc", "-q") == 0
    assert sha(model) in cache_objects(home, bare / "mvm" / "objects")
    (home / "sub" / "m.pt").unlink()
    assert mvm(home, "checkout", "-q") == 0
    assert (home / "sub" / "m.pt").read_bytes() == model


def test_a_repository_named_by_its_directory_ignores_the_inherited_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Repo.discover(path)` (`git mvm clone` opening what it cloned) finds the repository at
    `path`, not the one `GIT_DIR` names."""
    for name in ("a", "b"):
        git(tmp_path, "init", "-q", name)
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "a" / ".git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp_path / "a" / ".git" / "index"))
    repo = Repo.discover(str(tmp_path / "b"))
    assert (repo.root, repo.git_dir, repo.index_file) == (
        str(tmp_path / "b"), str(tmp_path / "b" / ".git"), None)


# --- what a failed git call says ------------------------------------------------------------


def test_a_failed_git_call_shows_gits_first_fatal_line(tmp_path: Path) -> None:
    """git follows its `fatal:` line with advice ("Please make sure you have the correct
    access rights / and the repository exists."); the message is the `fatal:` line."""
    with pytest.raises(GitFailed) as caught:
        run_git(["ls-remote", str(tmp_path / "nowhere")], cwd=str(tmp_path))
    assert "does not appear to be a git repository" in caught.value.detail
    assert caught.value.detail.startswith("fatal: ")
    assert "\n" not in caught.value.message
    assert "repository exists" not in caught.value.message
    with pytest.raises(GitFailed) as caught:  # `error:` counts too; the first one
        run_git(["rev-parse", "--verify", "--end-of-options", "no-such-rev"], cwd=str(tmp_path))
    assert caught.value.detail.startswith("fatal: ")


def test_git_messages_and_clone_never_show_credentials(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A URL with a password or a token, in the command gitmv ran or in what git printed,
    is masked in the message (port 9 on loopback: nothing listens, git fails at once)."""
    secret_urls = ["http://ana:s3cret@127.0.0.1:9/team/repo.git",
                   "http://127.0.0.1:9/team/repo.git?token=s3cret"]
    for url in secret_urls:
        with pytest.raises(GitFailed) as caught:
            run_git(["ls-remote", url], cwd=str(tmp_path))
        assert "s3cret" not in str(caught.value) and "***" in str(caught.value), caught.value
    for url in secret_urls:
        rc = mvm(tmp_path, "clone", url, str(tmp_path / "c"))
        err = capfd.readouterr().err
        assert rc == 1, err
        assert "s3cret" not in err, err
        assert "git mvm: error: `git clone http://" in err and "***" in err, err
    rc = mvm(tmp_path, "clone", secret_urls[1])  # the directory is named for the path alone
    assert rc == 1
    assert not any("s3cret" in p.name for p in tmp_path.iterdir())
