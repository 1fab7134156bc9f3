"""The git hooks: install/uninstall and chaining, pre-commit refusals, pre-push uploads,
post-checkout/post-merge/post-rewrite materializing bytes, and the pre-commit framework.

Everything runs through the real `git` binary: the hooks are the installed shims, run by git.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gitmv.hooks.install import shim
from tests.helpers import (
    HOOK_NAMES,
    ZERO_SHA,
    cache_objects,
    clone_hooked,
    configure,
    dataset_files,
    delete_remote_object,
    git,
    git_ok,
    git_run,
    init_bare,
    init_hooked,
    mvm,
    mvm_dir,
    mvm_hook,
    object_path,
    oid_hex,
    put_object,
    read_pointer,
    remote_oids,
    rev,
    save,
    save_dir,
    sha,
    tree_digest,
    write,
)

# A foreign hook that records its arguments and stdin, then exits with $FAIL (default 0).
RECORDER = """#!/bin/sh
log={log}
: > "$log.args"
for a in "$@"; do printf '%s\\n' "$a" >> "$log.args"; done
cat > "$log.stdin"
echo ran >> "$log.runs"
exit ${{FAIL:-0}}
"""


def recorder(hooks: Path, name: str, log: Path, fail: int | None = None) -> bytes:
    """Install a foreign hook `name` that logs to `log.*`; returns its bytes."""
    text = RECORDER.format(log=log)
    if fail is not None:
        text = text.replace("${FAIL:-0}", str(fail))
    hooks.mkdir(parents=True, exist_ok=True)
    path = hooks / name
    path.write_text(text)
    path.chmod(0o755)
    return path.read_bytes()


def hooks_snapshot(hooks: Path) -> dict[str, tuple[bytes, int, int, int]]:
    """{name: (bytes, mode, inode, mtime_ns)} of every file in a hooks directory."""
    out = {}
    for p in sorted(hooks.iterdir()):
        st = p.lstat()
        out[p.name] = (p.read_bytes(), st.st_mode, st.st_ino, st.st_mtime_ns)
    return out


def plain_repo(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q")
    write(root / "README", "hello\n")
    git(root, "add", "README")
    git(root, "commit", "-q", "-m", "init")
    return root


# --- install / uninstall -------------------------------------------------------------------


def test_init_installs_all_five_shims(tmp_path: Path) -> None:
    repo = init_hooked(tmp_path / "repo")
    hooks = repo / ".git" / "hooks"
    for name in HOOK_NAMES:
        path = hooks / name
        assert path.read_bytes() == shim(name)
        assert path.stat().st_mode & stat.S_IXUSR
        assert f"git mvm hook {name}" in path.read_text()


def test_installing_twice_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    repo = init_hooked(tmp_path / "repo")
    hooks = repo / ".git" / "hooks"
    before = hooks_snapshot(hooks)
    capsys.readouterr()
    assert mvm(repo, "install") == 0
    assert capsys.readouterr().err == ""  # nothing installed, nothing chained
    assert hooks_snapshot(hooks) == before
    assert not list(hooks.glob("*.mvm-chained"))


def test_install_uses_core_hooks_path(tmp_path: Path) -> None:
    repo = plain_repo(tmp_path / "repo")
    git(repo, "config", "core.hooksPath", "githooks")
    assert mvm(repo, "init", "-q") == 0
    for name in HOOK_NAMES:
        assert (repo / "githooks" / name).read_bytes() == shim(name)
        assert not (repo / ".git" / "hooks" / name).exists()
    # git really runs them from there: the pre-commit refuses a large plain file.
    configure(repo, "hooks", 'max_file_size = "100B"')
    write(repo / "big.bin", os.urandom(500))
    git(repo, "add", "big.bin")
    proc = git_run(repo, "commit", "-q", "-m", "big")
    assert proc.returncode != 0
    assert "big.bin" in proc.stderr


def test_install_uses_absolute_core_hooks_path(tmp_path: Path) -> None:
    repo = plain_repo(tmp_path / "repo")
    shared = tmp_path / "shared-hooks"
    git(repo, "config", "core.hooksPath", str(shared))
    assert mvm(repo, "install", "-q") == 0
    assert sorted(p.name for p in shared.iterdir()) == sorted(HOOK_NAMES)


def test_global_hooks_path_makes_git_clone_materialize(tmp_path: Path) -> None:
    bare = init_bare(tmp_path / "srv.git")
    alice = init_hooked(tmp_path / "alice", bare)
    data = os.urandom(2000)
    save(alice, "m.pt", data, "v1")
    git_ok(alice, "push", "-q", "origin", "main")
    hooks = tmp_path / "global-hooks"
    git(tmp_path, "config", "--global", "core.hooksPath", str(hooks))
    assert mvm(alice, "install", "-q") == 0
    assert sorted(p.name for p in hooks.iterdir()) == sorted(HOOK_NAMES)
    git_ok(tmp_path, "clone", "-q", str(bare), str(tmp_path / "bob"))  # post-checkout runs
    assert (tmp_path / "bob" / "m.pt").read_bytes() == data


def test_mvm_clone_does_not_write_into_a_global_hooks_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A `core.hooksPath` in ~/.gitconfig serves every repository of the user (a company's
    hooks live there): `git mvm clone` gets the bytes, leaves that directory as it is, and
    says how to install the hooks there if that is wanted."""
    bare = init_bare(tmp_path / "srv.git")
    alice = init_hooked(tmp_path / "alice", bare)
    data = os.urandom(2000)
    save(alice, "m.pt", data, "v1")
    git_ok(alice, "push", "-q", "origin", "main")
    hooks = tmp_path / "company-hooks"
    hooks.mkdir()
    (hooks / "pre-push").write_text("#!/bin/sh\nexit 0\n")
    git(tmp_path, "config", "--global", "core.hooksPath", str(hooks))
    assert mvm(tmp_path, "clone", str(bare), str(tmp_path / "bob")) == 0
    assert (tmp_path / "bob" / "m.pt").read_bytes() == data
    assert sorted(p.name for p in hooks.iterdir()) == ["pre-push"]
    assert (hooks / "pre-push").read_text() == "#!/bin/sh\nexit 0\n"
    err = capsys.readouterr().err
    assert "core.hooksPath" in err and "git mvm install" in err


def test_linked_worktree_uses_the_common_hooks_dir(tmp_path: Path) -> None:
    repo = plain_repo(tmp_path / "repo")
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"))
    wt = tmp_path / "wt"
    assert mvm(wt, "install", "-q") == 0
    for name in HOOK_NAMES:
        assert (repo / ".git" / "hooks" / name).read_bytes() == shim(name)
    assert not (repo / ".git" / "worktrees" / "wt" / "hooks").exists()


def test_worktree_add_and_checkout_in_a_worktree_materialize(tmp_path: Path) -> None:
    repo = init_hooked(tmp_path / "repo")
    v1 = os.urandom(3000)
    save(repo, "models/m.pt", v1, "v1")
    git_ok(repo, "checkout", "-q", "-b", "exp")
    v2 = os.urandom(3000)
    save(repo, "models/m.pt", v2, "v2")
    git_ok(repo, "checkout", "-q", "main")
    wt = tmp_path / "wt"
    git_ok(repo, "worktree", "add", "-q", str(wt), "exp")  # runs post-checkout in wt
    assert (wt / "models" / "m.pt").read_bytes() == v2
    git_ok(wt, "checkout", "-q", "--detach", "main")
    assert (wt / "models" / "m.pt").read_bytes() == v1
    assert (repo / "models" / "m.pt").read_bytes() == v1


def test_foreign_hooks_are_chained_with_same_args_and_stdin(tmp_path: Path) -> None:
    bare = init_bare(tmp_path / "srv.git")
    repo = plain_repo(tmp_path / "repo")
    git(repo, "remote", "add", "origin", str(bare))
    hooks = repo / ".git" / "hooks"
    logs = tmp_path / "logs"
    logs.mkdir()
    originals = {name: recorder(hooks, name, logs / name) for name in HOOK_NAMES}
    assert mvm(repo, "init", "-q") == 0
    for name in HOOK_NAMES:
        assert (hooks / f"{name}.mvm-chained").read_bytes() == originals[name]
        assert (hooks / name).read_bytes() == shim(name)

    v1 = os.urandom(2000)
    save(repo, "m.pt", v1, "v1")
    assert (logs / "pre-commit.runs").exists()
    assert (logs / "pre-commit.args").read_text() == ""

    git_ok(repo, "push", "-q", "origin", "main")
    head = rev(repo)
    assert (logs / "pre-push.args").read_text() == f"origin\n{bare}\n"
    assert (logs / "pre-push.stdin").read_text() == (
        f"refs/heads/main {head} refs/heads/main {ZERO_SHA}\n"
    )
    assert sha(v1) in remote_oids(bare)  # and gitmv's part ran too

    git_ok(repo, "checkout", "-q", "-b", "exp")
    assert (logs / "post-checkout.args").read_text() == f"{head}\n{head}\n1\n"

    git_ok(repo, "checkout", "-q", "main")
    git_ok(repo, "checkout", "-q", "exp")
    v2 = os.urandom(2000)
    save(repo, "m.pt", v2, "v2")
    git_ok(repo, "checkout", "-q", "main")
    git_ok(repo, "merge", "-q", "--ff-only", "exp")
    assert (logs / "post-merge.args").read_text() == "0\n"
    assert (repo / "m.pt").read_bytes() == v2

    old = rev(repo)
    git_ok(repo, "commit", "-q", "--amend", "-m", "v2 amended")
    assert (logs / "post-rewrite.args").read_text() == "amend\n"
    assert (logs / "post-rewrite.stdin").read_text() == f"{old} {rev(repo)}\n"
    assert (logs / "post-commit.runs").exists()
    write(repo / "README", "changed\n")
    git(repo, "add", "README")  # an index write alone: the shim runs the chained hook only
    assert (logs / "post-index-change.args").read_text() == "0\n0\n"


def test_foreign_pre_commit_failure_refuses_the_commit(tmp_path: Path) -> None:
    repo = plain_repo(tmp_path / "repo")
    hooks = repo / ".git" / "hooks"
    recorder(hooks, "pre-commit", tmp_path / "pc", fail=1)
    assert mvm(repo, "init", "-q") == 0
    head = rev(repo)
    write(repo / "m.pt", os.urandom(100))
    assert mvm(repo, "add", "-q", "m.pt") == 0
    proc = git_run(repo, "commit", "-q", "-m", "refused")
    assert proc.returncode != 0
    assert rev(repo) == head
    assert (tmp_path / "pc.runs").exists()
    assert git_run(repo, "commit", "-q", "--no-verify", "-m", "skip").returncode == 0


def test_foreign_pre_push_failure_refuses_the_push(tmp_path: Path) -> None:
    bare = init_bare(tmp_path / "srv.git")
    repo = plain_repo(tmp_path / "repo")
    git(repo, "remote", "add", "origin", str(bare))
    recorder(repo / ".git" / "hooks", "pre-push", tmp_path / "pp", fail=3)
    assert mvm(repo, "init", "-q") == 0
    v1 = os.urandom(1000)
    save(repo, "m.pt", v1, "v1")
    proc = git_run(repo, "push", "origin", "main")
    assert proc.returncode != 0
    assert git(bare, "for-each-ref") == ""
    assert remote_oids(bare) == set()  # the foreign hook ran first and refused: nothing sent
    assert (tmp_path / "pp.stdin").read_text().startswith("refs/heads/main ")


def test_uninstall_restores_foreign_hooks(tmp_path: Path) -> None:
    repo = plain_repo(tmp_path / "repo")
    hooks = repo / ".git" / "hooks"
    original = recorder(hooks, "pre-push", tmp_path / "pp")
    assert mvm(repo, "install", "-q") == 0
    assert mvm(repo, "uninstall", "-q") == 0
    assert (hooks / "pre-push").read_bytes() == original
    assert not (hooks / "pre-push.mvm-chained").exists()
    for name in HOOK_NAMES:
        if name != "pre-push":
            assert not (hooks / name).exists()
    # and nothing of ours runs any more
    write(repo / "x", "x")
    git(repo, "add", "x")
    git_ok(repo, "commit", "-q", "-m", "x")


def test_uninstall_leaves_foreign_hooks_alone(tmp_path: Path) -> None:
    repo = plain_repo(tmp_path / "repo")
    hooks = repo / ".git" / "hooks"
    original = recorder(hooks, "post-merge", tmp_path / "pm")
    assert mvm(repo, "uninstall", "-q") == 0
    assert (hooks / "post-merge").read_bytes() == original


def test_install_refuses_to_drop_a_second_foreign_hook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plain_repo(tmp_path / "repo")
    hooks = repo / ".git" / "hooks"
    first = recorder(hooks, "pre-commit", tmp_path / "first")
    assert mvm(repo, "install", "-q") == 0
    second = recorder(hooks, "pre-commit", tmp_path / "second")  # another tool replaced ours
    capsys.readouterr()
    assert mvm(repo, "install") == 1
    err = capsys.readouterr().err
    assert "--force" in err
    assert (hooks / "pre-commit").read_bytes() == second
    assert (hooks / "pre-commit.mvm-chained").read_bytes() == first
    assert mvm(repo, "install", "-q", "--force") == 0
    assert (hooks / "pre-commit").read_bytes() == shim("pre-commit")
    assert (hooks / "pre-commit.mvm-chained").read_bytes() == second


# --- `git mvm add` in a clone without the hooks --------------------------------------------


@pytest.fixture
def teammate(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(bare repository, alice's hooked clone, bob's): bob ran `git clone`, not
    `git mvm clone`, and git copies no hooks."""
    bare = init_bare(tmp_path / "srv.git")
    alice = init_hooked(tmp_path / "alice", bare)
    git_ok(alice, "push", "-q", "origin", "main")
    git(tmp_path, "clone", "-q", str(bare), str(tmp_path / "bob"))
    return bare, alice, tmp_path / "bob"


def test_add_in_a_clone_without_hooks_installs_them_so_push_uploads(
    teammate: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bare, alice, bob = teammate
    assert not (bob / ".git" / "hooks" / "pre-push").exists()
    data = os.urandom(3000)
    write(bob / "m.pt", data)
    capsys.readouterr()
    assert mvm(bob, "add", "m.pt") == 0
    err = capsys.readouterr().err
    assert "installed gitmv's git hooks in .git/hooks" in err
    for name in HOOK_NAMES:
        assert (bob / ".git" / "hooks" / name).read_bytes() == shim(name)
    # a clone starts with nothing else to commit (the diff driver's line is this clone's)
    assert set(git(bob, "status", "--porcelain").splitlines()) == {"A  m.pt.mvm", "A  .gitignore"}
    git_ok(bob, "commit", "-q", "-m", "bob's model")
    git_ok(bob, "push", "-q", "origin", "main")
    assert sha(data) in remote_oids(bare)  # the push uploaded the bytes
    git_ok(alice, "pull", "-q", "origin", "main")  # alice's post-merge hook fetches them
    assert (alice / "m.pt").read_bytes() == data
    capsys.readouterr()
    write(bob / "m2.pt", b"second")
    assert mvm(bob, "add", "m2.pt") == 0
    assert "installed" not in capsys.readouterr().err  # once


def test_add_refuses_beside_another_tools_hook_and_install_chains_it(
    tmp_path: Path, teammate: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bob = teammate[2]
    hooks = bob / ".git" / "hooks"
    theirs = recorder(hooks, "pre-commit", tmp_path / "theirs")
    write(bob / "m.pt", b"weights")
    capsys.readouterr()
    assert mvm(bob, "add", "m.pt") == 1
    err = capsys.readouterr().err
    assert "another tool's pre-commit hook" in err
    assert "git mvm install" in err and "hooks.install = false" in err
    assert not (bob / "m.pt.mvm").exists()
    assert (hooks / "pre-commit").read_bytes() == theirs  # not touched
    assert not (hooks / "pre-push").exists()
    assert mvm(bob, "install", "-q") == 0
    assert mvm(bob, "add", "-q", "m.pt") == 0
    git_ok(bob, "commit", "-q", "-m", "m")
    assert (tmp_path / "theirs.runs").exists()  # theirs still runs, first


def test_add_refuses_a_hooks_path_it_was_not_asked_to_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """core.hooksPath may be the team's tracked directory or one shared by every repository
    of the user: `add` does not write there by itself."""
    repo = plain_repo(tmp_path / "repo")
    assert mvm(repo, "init", "-q", "--no-hooks") == 0
    assert "install = false" in (mvm_dir(repo) / "config.toml").read_text()
    assert mvm(repo, "init", "-q") == 0  # init with the hooks forgets the choice
    assert "install" not in (mvm_dir(repo) / "config.toml").read_text()
    shared = tmp_path / "shared-hooks"
    git(repo, "config", "core.hooksPath", str(shared))
    write(repo / "m.pt", b"weights")
    capsys.readouterr()
    assert mvm(repo, "add", "m.pt") == 1
    err = capsys.readouterr().err
    assert f"not installed in {shared} (core.hooksPath)" in err
    assert not shared.exists()
    assert mvm(repo, "install", "-q") == 0
    assert mvm(repo, "add", "-q", "m.pt") == 0


def test_hooks_run_by_the_pre_commit_framework_count_as_installed(tmp_path: Path) -> None:
    repo = init_hooked(tmp_path / "repo")
    hooks = repo / ".git" / "hooks"
    for name in HOOK_NAMES:  # what `pre-commit install --hook-type NAME` writes, roughly
        (hooks / name).write_text(
            "#!/usr/bin/env bash\n# File generated by pre-commit: https://pre-commit.com\n"
            f"ARGS=(hook-impl --config=.pre-commit-config.yaml --hook-type={name})\n"
            'exec pre-commit "${ARGS[@]}"\n')
    write(repo / ".pre-commit-config.yaml",
          "repos:\n  - repo: local\n    hooks:\n"
          + "".join(f"      - id: gitmv-{n}\n" for n in HOOK_NAMES))
    before = hooks_snapshot(hooks)
    write(repo / "m.pt", b"weights")
    assert mvm(repo, "add", "-q", "m.pt") == 0
    assert hooks_snapshot(hooks) == before  # neither chained nor doubled


def test_add_without_hooks_when_the_clone_says_so(teammate: tuple[Path, Path, Path]) -> None:
    bob = teammate[2]
    write(mvm_dir(bob) / "config.toml", "[hooks]\ninstall = false\n")
    write(bob / "m.pt", b"weights")
    assert mvm(bob, "add", "-q", "m.pt") == 0
    assert not (bob / ".git" / "hooks" / "pre-push").exists()


def test_a_committed_hooks_install_false_does_not_turn_the_hooks_off_for_everyone(
    teammate: tuple[Path, Path, Path]
) -> None:
    """Only this clone's own config may skip the hooks: a `hooks.install = false` someone
    committed left every teammate's clone without them, and `git push` then sent the pointers
    without their bytes and exited 0."""
    bare, alice, bob = teammate
    configure(alice, "hooks", "install = false")
    git_ok(alice, "commit", "-q", "-am", "no hooks, please")
    git_ok(alice, "push", "-q", "origin", "main")
    git_ok(bob, "pull", "-q", "origin", "main")
    data = os.urandom(3000)
    write(bob / "m.pt", data)
    assert mvm(bob, "add", "-q", "m.pt") == 0
    assert (bob / ".git" / "hooks" / "pre-push").read_bytes() == shim("pre-push")
    git_ok(bob, "commit", "-q", "-m", "bob's model")
    git_ok(bob, "push", "-q", "origin", "main")
    assert sha(data) in remote_oids(bare)


# --- no .mvm/: silent no-ops ---------------------------------------------------------------


def test_every_hook_is_silent_without_mvm(tmp_path: Path) -> None:
    repo = plain_repo(tmp_path / "repo")
    assert mvm(repo, "install", "-q") == 0
    head = rev(repo)
    calls = {
        "pre-commit": ([], ""),
        "pre-push": (["origin", "/nowhere"],
                     f"refs/heads/main {head} refs/heads/main {ZERO_SHA}\n"),
        "post-checkout": ([ZERO_SHA, head, "1"], ""),
        "post-merge": (["0"], ""),
        "post-rewrite": (["rebase"], f"{head} {head}\n"),
        "post-commit": ([], ""),
        "post-index-change": (["1", "0"], ""),
    }
    for name, (args, stdin) in calls.items():
        proc = mvm_hook(repo, name, *args, input=stdin)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", ""), name


def test_git_commands_say_nothing_from_gitmv_without_mvm(tmp_path: Path) -> None:
    bare = init_bare(tmp_path / "srv.git")
    repo = plain_repo(tmp_path / "repo")
    git(repo, "remote", "add", "origin", str(bare))
    assert mvm(repo, "install", "-q") == 0
    steps = [
        ("checkout", "-q", "-b", "exp"),
        ("commit", "-q", "--allow-empty", "-m", "e1"),
        ("checkout", "-q", "main"),
        ("commit", "-q", "--allow-empty", "-m", "m1"),
        ("merge", "-q", "--no-edit", "exp"),
        ("checkout", "-q", "exp"),
        ("rebase", "-q", "main"),
        ("commit", "-q", "--amend", "-m", "amended"),
        ("push", "-q", "origin", "main", "exp"),
        ("push", "-q", "origin", ":exp"),
    ]
    for args in steps:
        proc = git_ok(repo, *args)
        assert "mvm" not in proc.stderr, (args, proc.stderr)


HEAVY = ("boto3", "requests", "tqdm", "tomlkit")


def imported_by(repo: Path, *args: str) -> set[str]:
    """Modules a `python -X importtime -m gitmv ARGS` run imported (and nothing else said)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "gitmv", *args], cwd=repo,
                          capture_output=True, text=True, check=False, input="")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    mods = set()
    for line in proc.stderr.splitlines():
        assert line.startswith("import time:"), line  # no other output
        name = line.rsplit("|", 1)[-1].strip()
        mods.add(name.split(".")[0])
    return mods


def test_noop_hooks_import_nothing_heavy(tmp_path: Path) -> None:
    plain = plain_repo(tmp_path / "plain")
    gitmv_repo = init_hooked(tmp_path / "gitmv")
    save(gitmv_repo, "m.pt", os.urandom(100), "m")
    head = rev(gitmv_repo)
    for repo in (plain, gitmv_repo):
        runs = [
            ("hook", "pre-commit"),
            ("hook", "post-checkout", head if repo is gitmv_repo else rev(plain),
             head if repo is gitmv_repo else rev(plain), "1"),
            ("hook", "post-merge", "0"),
            ("hook", "post-commit"),
            ("hook", "post-index-change", "1", "0"),
        ]
        for args in runs:
            mods = imported_by(repo, *args)
            assert "gitmv" in mods
            assert not mods & set(HEAVY), (args, mods & set(HEAVY))


# --- pre-commit ----------------------------------------------------------------------------


@pytest.fixture
def hooked(tmp_path: Path) -> Path:
    return init_hooked(tmp_path / "repo")


def refused(repo: Path, *args: str) -> str:
    """Commit and require a refusal that leaves HEAD alone; returns stderr."""
    head = rev(repo)
    proc = git_run(repo, "commit", "-q", *args)
    assert proc.returncode != 0, proc.stderr
    assert rev(repo) == head
    assert "--no-verify" in proc.stderr
    return proc.stderr


def test_pre_commit_refuses_a_large_untracked_file(hooked: Path) -> None:
    configure(hooked, "hooks", 'max_file_size = "1KB"')
    write(hooked / "data" / "big.bin", os.urandom(5000))
    write(hooked / "small.txt", "x" * 900)
    git(hooked, "add", "data/big.bin", "small.txt")
    err = refused(hooked, "-m", "big")
    assert "data/big.bin" in err
    assert "git mvm add data/big.bin" in err
    assert "hooks.max_file_size" in err
    assert "small.txt" not in err
    # the fix it names works
    git(hooked, "rm", "-q", "--cached", "--", "data/big.bin")
    assert mvm(hooked, "add", "-q", "data/big.bin") == 0
    git_ok(hooked, "commit", "-q", "-m", "tracked by gitmv")
    assert "data/big.bin.mvm" in git(hooked, "ls-files")


def test_pre_commit_default_limit_is_5mb(hooked: Path) -> None:
    write(hooked / "ok.bin", os.urandom(4_000_000))
    git(hooked, "add", "ok.bin")
    git_ok(hooked, "commit", "-q", "-m", "4 MB is fine")
    write(hooked / "big.bin", os.urandom(6_000_000))
    git(hooked, "add", "big.bin")
    assert "big.bin" in refused(hooked, "-m", "6 MB is not")


def test_no_verify_bypasses_pre_commit(hooked: Path) -> None:
    configure(hooked, "hooks", 'max_file_size = "1KB"')
    write(hooked / "big.bin", os.urandom(5000))
    git(hooked, "add", "big.bin")
    refused(hooked, "-m", "big")
    git_ok(hooked, "commit", "-q", "--no-verify", "-m", "big anyway")
    assert "big.bin" in git(hooked, "ls-files")


def test_pre_commit_refuses_a_pointer_whose_object_is_not_in_the_cache(hooked: Path) -> None:
    write(hooked / "m.pt", os.urandom(2000))
    assert mvm(hooked, "add", "-q", "m.pt") == 0
    oid = read_pointer(hooked, "m.pt")["oid"]
    object_path(hooked, oid_hex(oid)).unlink()
    err = refused(hooked, "-m", "lost")
    assert "m.pt.mvm" in err
    assert oid in err
    assert "git mvm add m.pt" in err


def test_pre_commit_refuses_a_stale_pointer(hooked: Path) -> None:
    write(hooked / "m.pt", os.urandom(2000))
    assert mvm(hooked, "add", "-q", "m.pt") == 0
    newer = os.urandom(2000)
    write(hooked / "m.pt", newer)  # trained again, forgot to add
    err = refused(hooked, "-m", "stale")
    assert "m.pt" in err
    assert "git mvm add m.pt" in err
    assert "hooks.check_stale" in err
    assert mvm(hooked, "add", "-q", "m.pt") == 0
    git_ok(hooked, "commit", "-q", "-m", "fresh")
    assert read_pointer(hooked, "m.pt")["oid"] == f"sha256:{sha(newer)}"


def test_pre_commit_stale_check_can_be_turned_off(hooked: Path) -> None:
    configure(hooked, "hooks", "check_stale = false")
    write(hooked / "m.pt", os.urandom(2000))
    assert mvm(hooked, "add", "-q", "m.pt") == 0
    write(hooked / "m.pt", os.urandom(2000))
    git_ok(hooked, "commit", "-q", "-m", "stale but allowed")


def test_pre_commit_accepts_a_pointer_whose_artifact_is_absent(hooked: Path) -> None:
    write(hooked / "m.pt", os.urandom(2000))
    assert mvm(hooked, "add", "-q", "m.pt") == 0
    (hooked / "m.pt").unlink()
    git_ok(hooked, "commit", "-q", "-m", "absent is not stale")


def test_pre_commit_checks_directory_artifacts(hooked: Path) -> None:
    save_dir(hooked, "data/train", dataset_files())
    write(hooked / "data" / "train" / "part0" / "f0.bin", b"changed after add")
    err = refused(hooked, "-m", "stale dir")
    assert "git mvm add data/train" in err


def test_pre_commit_refuses_an_invalid_pointer(hooked: Path) -> None:
    # says it is a pointer (`mvm = N`) but is damaged; a file that does not is data
    write(hooked / "m.pt.mvm", "mvm = 1\nthis is not a pointer\n")
    git(hooked, "add", "m.pt.mvm")
    err = refused(hooked, "-m", "garbage")
    assert "m.pt.mvm" in err


def test_pre_commit_refuses_invalid_metrics_and_params(hooked: Path) -> None:
    configure(hooked, "metrics", 'files = ["metrics.toml"]')
    configure(hooked, "params", 'files = ["params.toml"]')
    write(hooked / "metrics.toml", "accuracy = 0.9\nloss = \n")
    write(hooked / "params.toml", "lr = [0.1\n")
    write(hooked / "other.toml", "not toml at all = = =\n")  # not named in config: not checked
    git(hooked, "add", "metrics.toml", "params.toml", "other.toml")
    err = refused(hooked, "-m", "bad toml")
    assert "metrics.toml" in err
    assert "params.toml" in err
    assert "metrics.files" in err
    assert "other.toml" not in err
    write(hooked / "metrics.toml", "accuracy = 0.9\nloss = 0.1\n")
    write(hooked / "params.toml", "lr = [0.1]\n")
    git(hooked, "add", "metrics.toml", "params.toml")
    git_ok(hooked, "commit", "-q", "-m", "good toml")


def test_pre_commit_reports_every_problem_at_once(hooked: Path) -> None:
    configure(hooked, "hooks", 'max_file_size = "1KB"')
    write(hooked / "big.bin", os.urandom(5000))
    write(hooked / "bad.pt.mvm", "mvm = 1\ngarbage\n")
    git(hooked, "add", "big.bin", "bad.pt.mvm")
    write(hooked / "m.pt", os.urandom(100))
    assert mvm(hooked, "add", "-q", "m.pt") == 0
    write(hooked / "m.pt", os.urandom(100))
    err = refused(hooked, "-m", "three problems")
    assert "big.bin" in err
    assert "bad.pt.mvm" in err
    assert "git mvm add m.pt" in err


def test_pre_commit_refuses_a_staged_artifact_whatever_its_size(hooked: Path) -> None:
    """The bytes of a tracked artifact never go into git, small or large (`git add -f`)."""
    save(hooked, "m.pt", b"small model", "m")
    save_dir(hooked, "data", dataset_files(n=4, size=50), "data")
    git(hooked, "add", "-f", "m.pt", "data/part0/f0.bin")
    err = refused(hooked, "-m", "bytes")
    assert "m.pt: its bytes are staged in git, but m.pt.mvm tracks it" in err
    assert "data: 1 file(s) of this directory artifact are staged in git" in err
    assert "git rm -r -q --cached -- m.pt" in err
    git(hooked, "rm", "-r", "-q", "--cached", "--", "m.pt", "data")  # the fixes it names
    git_ok(hooked, "commit", "-q", "-m", "nothing left to commit", "--allow-empty")
    assert {"m.pt", "data/part0/f0.bin"}.isdisjoint(git(hooked, "ls-files").split())


def test_pre_commit_refuses_a_pointer_whose_size_contradicts_its_object(hooked: Path) -> None:
    save(hooked, "m.pt", os.urandom(1000), "m")
    pointer = hooked / "m.pt.mvm"
    pointer.write_text(pointer.read_text().replace("size = 1000", "size = 10"))
    git(hooked, "add", "m.pt.mvm")
    err = refused(hooked, "-m", "hand edited")
    assert "m.pt.mvm: size = 10 in the pointer, but its object" in err
    assert "holds 1000 bytes" in err


@pytest.mark.parametrize("how", ["mv", "mvm checkout"])
def test_a_renamed_pointer_keeps_its_artifact_out_of_git(hooked: Path, how: str) -> None:
    """`git mv a.pt.mvm b.pt.mvm` (the documented rename), the bytes moved by hand or checked
    out by gitmv, then `git add -A` and a commit: the model's bytes never enter git."""
    data = os.urandom(3000)
    save(hooked, "models/a.pt", data, "a")
    git(hooked, "mv", "models/a.pt.mvm", "models/b.pt.mvm")
    if how == "mv":
        os.rename(hooked / "models" / "a.pt", hooked / "models" / "b.pt")
    else:
        assert mvm(hooked, "checkout", "-q", "models/b.pt") == 0
    git(hooked, "add", "-A")
    if how == "mv":  # nothing of gitmv's ran between the mv and `git add -A`
        err = refused(hooked, "-m", "rename")
        assert "models/b.pt: its bytes are staged in git" in err
        assert "/b.pt" in (hooked / "models" / ".gitignore").read_text().splitlines()
        git(hooked, "rm", "-r", "-q", "--cached", "--", "models/b.pt")
        git(hooked, "add", "-A")  # now ignored: not staged again
    git_ok(hooked, "commit", "-q", "-m", "rename")
    assert "models/b.pt" not in git(hooked, "ls-tree", "-r", "--name-only", "HEAD").split()
    assert "/b.pt" in git(hooked, "show", "HEAD:models/.gitignore").splitlines()
    assert git(hooked, "status", "--porcelain", "--untracked-files=all") == ""
    assert (hooked / "models" / "b.pt").read_bytes() == data


def test_a_rename_committed_by_path_lists_the_artifact_and_leaves_the_index_sound(
    hooked: Path,
) -> None:
    """`git commit PATHS` commits a temporary index: the hook writes the .gitignore line
    and says to commit it, rather than stage it where the real index would undo it. The
    bytes follow the renamed pointer."""
    data = os.urandom(100)
    save(hooked, "a.pt", data, "a")
    git(hooked, "mv", "a.pt.mvm", "b.pt.mvm")
    proc = git_ok(hooked, "commit", "-q", "-m", "rename", "--", "a.pt.mvm", "b.pt.mvm")
    assert "commit it too (`git add .gitignore`)" in proc.stderr
    assert git(hooked, "status", "--porcelain") == " M .gitignore\n"
    assert "/b.pt" in (hooked / ".gitignore").read_text().splitlines()
    assert (hooked / "b.pt").read_bytes() == data and not (hooked / "a.pt").exists()
    git(hooked, "add", "-A")
    git_ok(hooked, "commit", "-q", "-m", "ignore b.pt")
    assert "b.pt" not in git(hooked, "ls-files").split()


def test_a_renamed_directory_pointer_keeps_its_files_out_of_git(hooked: Path) -> None:
    save_dir(hooked, "data", dataset_files(n=6), "data")
    git(hooked, "mv", "data.mvm", "data2.mvm")
    os.rename(hooked / "data", hooked / "data2")
    git(hooked, "add", "-A")
    err = refused(hooked, "-m", "rename")
    assert "data2: 6 file(s) of this directory artifact are staged in git" in err
    git(hooked, "rm", "-r", "-q", "--cached", "--", "data2")
    git(hooked, "add", "-A")
    git_ok(hooked, "commit", "-q", "-m", "rename")
    assert not [p for p in git(hooked, "ls-files").split() if p.startswith("data2/")]


# --- pre-push ------------------------------------------------------------------------------


@pytest.fixture
def team(tmp_path: Path) -> tuple[Path, Path]:
    """(bare repository, a hooked clone-to-be-pushed with origin = the bare repository)."""
    bare = init_bare(tmp_path / "srv.git")
    return bare, init_hooked(tmp_path / "alice", bare)


def test_pre_push_uploads_every_version_not_only_the_tip(
    team: tuple[Path, Path], tmp_path: Path
) -> None:
    bare, alice = team
    versions = []
    for i in range(3):
        data = os.urandom(3000 + i)
        save(alice, "models/m.pt", data, f"v{i}")
        versions.append((rev(alice), data))
    assert remote_oids(bare) == set()
    git_ok(alice, "push", "-q", "origin", "main")
    assert {sha(d) for _, d in versions} <= remote_oids(bare)

    bob = clone_hooked(bare, tmp_path / "bob")
    for commit, data in versions:
        git_ok(bob, "checkout", "-q", commit)
        assert (bob / "models" / "m.pt").read_bytes() == data
    git_ok(bob, "checkout", "-q", versions[0][0])
    assert (bob / "models" / "m.pt").read_bytes() == versions[0][1]


def test_pre_push_uploads_every_file_of_every_directory_version(
    team: tuple[Path, Path], tmp_path: Path
) -> None:
    bare, alice = team
    files1 = dataset_files(tag=b"v1")
    digest1 = save_dir(alice, "data/train", files1, "data v1")
    c1 = rev(alice)
    manifest1 = oid_hex(read_pointer(alice, "data/train")["oid"])
    files2 = dict(files1)
    files2["part0/f0.bin"] = b"changed"
    files2["part1/new.bin"] = b"added"
    del files2["part1/f1.bin"]
    digest2 = save_dir(alice, "data/train", files2, "data v2")
    c2 = rev(alice)
    manifest2 = oid_hex(read_pointer(alice, "data/train")["oid"])
    git_ok(alice, "push", "-q", "origin", "main")
    on_remote = remote_oids(bare)
    want = {sha(d) for d in files1.values()} | {sha(d) for d in files2.values()}
    assert want | {manifest1, manifest2} <= on_remote

    bob = clone_hooked(bare, tmp_path / "bob")
    git_ok(bob, "checkout", "-q", c1)
    assert tree_digest(bob / "data" / "train") == digest1
    git_ok(bob, "checkout", "-q", c2)
    assert tree_digest(bob / "data" / "train") == digest2


def test_pre_push_fails_when_an_object_cannot_be_uploaded(team: tuple[Path, Path]) -> None:
    bare, alice = team
    save(alice, "m.pt", os.urandom(1000), "v1")
    git_ok(alice, "push", "-q", "origin", "main")
    pushed = rev(alice)
    v2_data = os.urandom(1000)
    v2 = save(alice, "m.pt", v2_data, "v2")
    save(alice, "m.pt", os.urandom(1000), "v3")
    object_path(alice, v2).unlink()  # lost before it was pushed: on no remote either
    proc = git_run(alice, "push", "origin", "main")
    assert proc.returncode != 0
    assert f"sha256:{v2}" in proc.stderr
    assert rev(bare, "refs/heads/main") == pushed  # the shared repository never names it
    assert v2 not in remote_oids(bare)
    # once the bytes are back, the push goes through
    put_object(alice, v2_data)
    git_ok(alice, "push", "-q", "origin", "main")
    assert rev(bare, "refs/heads/main") == rev(alice)
    assert v2 in remote_oids(bare)


def test_pre_push_fails_when_the_remote_store_cannot_be_written(
    team: tuple[Path, Path]
) -> None:
    bare, alice = team
    oid = save(alice, "m.pt", os.urandom(1000), "v1")
    write(bare / "mvm" / "objects", b"a file where the objects directory should be")
    proc = git_run(alice, "push", "origin", "main")
    assert proc.returncode != 0
    # (the store's packs are found by listing it, which fails first: one error naming the
    # store and why, before any object is tried)
    assert "remote 'origin'" in proc.stderr and "Not a directory" in proc.stderr, proc.stderr
    assert oid not in remote_oids(bare)
    assert "Traceback" not in proc.stderr
    assert git(bare, "for-each-ref") == ""


def test_pre_push_failure_leaves_a_new_branch_unpushed(team: tuple[Path, Path]) -> None:
    bare, alice = team
    data = os.urandom(1000)
    oid = save(alice, "m.pt", data, "v1")
    object_path(alice, oid).unlink()
    proc = git_run(alice, "push", "origin", "main")
    assert proc.returncode != 0
    assert f"sha256:{oid}" in proc.stderr
    assert "git mvm" in proc.stderr
    assert git(bare, "for-each-ref") == ""
    # restore the bytes (the file is still in the work tree) and push again
    assert mvm(alice, "add", "-q", "m.pt") == 0
    assert oid in cache_objects(alice)
    git_ok(alice, "push", "-q", "origin", "main")
    assert rev(bare, "refs/heads/main") == rev(alice)
    assert oid in remote_oids(bare)


def test_pre_push_only_looks_at_commits_the_remote_lacks(team: tuple[Path, Path]) -> None:
    bare, alice = team
    v1 = save(alice, "m.pt", os.urandom(1000), "v1")
    git_ok(alice, "push", "-q", "origin", "main")
    # v1 vanishes from both sides: a push of new commits does not go looking for it
    object_path(alice, v1).unlink()
    delete_remote_object(bare, v1)
    v2 = save(alice, "m.pt", os.urandom(1000), "v2")
    git_ok(alice, "push", "-q", "origin", "main")
    assert remote_oids(bare) == {v2}


def _stale_tracking_ref(team: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path, str]:
    """alice pushed branch `old` with a model; bob deleted the branch on the server and the
    model's object left the store (as gc --remote may then do); alice's origin/old is stale."""
    bare, alice = team
    git_ok(alice, "push", "-q", "origin", "main")
    git_ok(alice, "checkout", "-q", "-b", "old")
    oid = save(alice, "m.pt", os.urandom(1000), "old model")
    git_ok(alice, "push", "-q", "origin", "old")
    bob = clone_hooked(bare, tmp_path / "bob")
    git_ok(bob, "push", "-q", "origin", ":old")
    delete_remote_object(bare, oid)
    assert rev(alice, "refs/remotes/origin/old")  # stale: alice never fetched
    return bare, alice, oid


def test_a_stale_tracking_ref_does_not_hide_a_revived_commit(
    team: tuple[Path, Path], tmp_path: Path
) -> None:
    """alice pushed `old`; bob deleted it on the server and a `gc --remote` then freed its
    model from the store; alice's `origin/old` is stale (no `fetch --prune`). Pushing a branch
    that revives those commits must upload the model again: only what the remote's refs name
    now is on the store, not what a tracking ref remembers."""
    bare, alice, oid = _stale_tracking_ref(team, tmp_path)
    git_ok(alice, "checkout", "-q", "-b", "revived")
    git_ok(alice, "push", "-q", "origin", "revived")
    assert oid in remote_oids(bare)


def push_traced(repo: Path, trace: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """`git push ARGS` with GIT_TRACE, which the hook and the git it runs inherit: what ran."""
    trace.unlink(missing_ok=True)
    proc = git_run(repo, "push", *args, env={"GIT_TRACE": str(trace), **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return trace.read_text()


def test_a_push_of_commits_that_name_no_pointer_opens_no_second_connection(
    team: tuple[Path, Path], tmp_path: Path
) -> None:
    """Over SSH or HTTPS a second connection (`git ls-remote`) is a second handshake and maybe
    a second password prompt: a push whose new commits change no pointer makes none."""
    _, alice = team
    save(alice, "m.pt", os.urandom(1000), "v1")
    git_ok(alice, "push", "-q", "origin", "main")
    write(alice / "code.py", "print(1)\n")
    git(alice, "add", "code.py")
    git_ok(alice, "commit", "-q", "-m", "code")
    ran = push_traced(alice, tmp_path / "trace", "origin", "main")
    assert "hooks/pre-push" in ran  # the hook ran under the trace
    assert "ls-remote" not in ran and "upload-pack" not in ran


def test_a_new_branch_is_narrowed_by_what_the_remote_names_now(
    team: tuple[Path, Path], tmp_path: Path
) -> None:
    """A new branch has no old value on the remote, so its whole history names pointers: the
    remote's refs (`git ls-remote`) say which the store holds already. v1 is gone from this
    clone's cache and the store, yet the branch built on main pushes (main names v1: not this
    push's to check)."""
    bare, alice = team
    v1 = save(alice, "m.pt", os.urandom(1000), "v1")
    git_ok(alice, "push", "-q", "origin", "main")
    object_path(alice, v1).unlink()
    delete_remote_object(bare, v1)
    git_ok(alice, "checkout", "-q", "-b", "feature")
    write(alice / "code.py", "print(1)\n")
    git(alice, "add", "code.py")
    git_ok(alice, "commit", "-q", "-m", "code")
    ran = push_traced(alice, tmp_path / "trace", "origin", "feature")
    assert "ls-remote" in ran
    assert rev(bare, "refs/heads/feature") == rev(alice)


def test_a_remote_that_cannot_be_listed_gets_everything_checked_and_no_prompt(
    team: tuple[Path, Path], tmp_path: Path
) -> None:
    """When `git ls-remote` fails (here: its URL is rewritten to a command that fails), the
    push checks every pushed commit, never trusting a stale remote-tracking ref instead, and
    git ran it with prompts off."""
    bare, alice, oid = _stale_tracking_ref(team, tmp_path)
    log = tmp_path / "listed"
    where = f"{bare.parent}/"
    # fetch-side URLs of the server run a command that notes git's prompt setting and fails;
    # pushes still go to the server itself
    git(alice, "config", "protocol.ext.allow", "always")
    git(alice, "config", f"url.ext::sh -c echo% prompt=$GIT_TERMINAL_PROMPT>>{log};exit% 1 "
        ".insteadOf", where)
    git(alice, "config", f"url.{where}.pushInsteadOf", where)
    git_ok(alice, "checkout", "-q", "-b", "revived")
    push_traced(alice, tmp_path / "trace", "origin", "revived",
                env={"GIT_TERMINAL_PROMPT": "1"})
    assert log.read_text() == "prompt=0\n"  # ls-remote was tried, and could ask nobody
    assert oid in remote_oids(bare)


def test_deleting_a_branch_pushes_nothing(team: tuple[Path, Path]) -> None:
    bare, alice = team
    git_ok(alice, "checkout", "-q", "-b", "feature")
    oid = save(alice, "m.pt", os.urandom(1000), "feature model")
    git_ok(alice, "push", "-q", "origin", "main", "feature")
    assert oid in remote_oids(bare)
    git_ok(alice, "checkout", "-q", "main")
    for path in cache_objects(alice).values():
        path.unlink()  # nothing left to upload, and nothing needs to be
    before = remote_oids(bare)
    proc = git_ok(alice, "push", "origin", ":feature")
    assert "error" not in proc.stderr
    assert "refs/heads/feature" not in git(bare, "for-each-ref")
    assert remote_oids(bare) == before


def test_pushing_a_tag_uploads_what_its_commits_need(
    team: tuple[Path, Path], tmp_path: Path
) -> None:
    bare, alice = team
    git_ok(alice, "checkout", "-q", "-b", "release")
    data = os.urandom(1000)
    oid = save(alice, "m.pt", data, "release model")
    git_ok(alice, "tag", "-a", "-m", "release 1", "v1")
    git_ok(alice, "checkout", "-q", "main")
    git_ok(alice, "branch", "-q", "-D", "release")
    git_ok(alice, "push", "-q", "origin", "main", "v1")
    assert oid in remote_oids(bare)
    bob = clone_hooked(bare, tmp_path / "bob")
    git_ok(bob, "checkout", "-q", "v1")
    assert (bob / "m.pt").read_bytes() == data


def test_paths_with_spaces_and_unicode(team: tuple[Path, Path], tmp_path: Path) -> None:
    bare, alice = team
    rel = "mödels/my model ü.pt"
    v1 = os.urandom(1000)
    save(alice, rel, v1, "v1")
    git_ok(alice, "checkout", "-q", "-b", "exp")
    v2 = os.urandom(1000)
    save(alice, rel, v2, "v2")
    git_ok(alice, "push", "-q", "origin", "main", "exp")
    assert {sha(v1), sha(v2)} <= remote_oids(bare)
    git_ok(alice, "checkout", "-q", "main")
    assert (alice / rel).read_bytes() == v1
    bob = clone_hooked(bare, tmp_path / "bob")
    git_ok(bob, "checkout", "-q", "exp")
    assert (bob / rel).read_bytes() == v2


def test_push_no_verify_then_mvm_push_repairs(
    team: tuple[Path, Path], tmp_path: Path
) -> None:
    bare, alice = team
    data = os.urandom(1000)
    oid = save(alice, "m.pt", data, "v1")
    git_ok(alice, "push", "-q", "--no-verify", "origin", "main")  # commits without bytes
    assert remote_oids(bare) == set()
    bob = clone_hooked(bare, tmp_path / "bob")
    git_ok(bob, "checkout", "-q", "HEAD~1")  # the commit before the model
    proc = git_ok(bob, "checkout", "main")  # the object is nowhere bob can reach: warn
    assert "git mvm pull" in proc.stderr
    assert not (bob / "m.pt").exists()
    assert mvm(alice, "push", "-q") == 0
    assert oid in remote_oids(bare)
    assert mvm(bob, "pull", "-q") == 0
    assert (bob / "m.pt").read_bytes() == data


def test_push_to_a_path_rather_than_a_named_remote(tmp_path: Path) -> None:
    bare = init_bare(tmp_path / "srv.git")
    alice = init_hooked(tmp_path / "alice")  # no git remote at all
    oid = save(alice, "m.pt", os.urandom(1000), "v1")
    git_ok(alice, "push", "-q", str(bare), "main")
    assert oid in remote_oids(bare)
    git_ok(alice, "push", "-q", f"file://{bare}", "main")  # up to date: still fine


def test_push_of_a_branch_that_adds_no_pointers(team: tuple[Path, Path]) -> None:
    _, alice = team
    save(alice, "m.pt", os.urandom(1000), "v1")
    git_ok(alice, "push", "-q", "origin", "main")
    write(alice / "code.py", "print(1)\n")
    git(alice, "add", "code.py")
    git_ok(alice, "commit", "-q", "-m", "code")
    proc = git_ok(alice, "push", "origin", "main")
    assert "uploaded" not in proc.stderr


# --- post-checkout / post-merge / post-rewrite --------------------------------------------


@pytest.fixture
def branches(hooked: Path) -> dict[str, tuple[bytes, dict[str, str]]]:
    """main and exp with different versions of models/m.pt and data/train."""
    out = {}
    m1 = os.urandom(4000)
    save(hooked, "models/m.pt", m1)
    d1 = save_dir(hooked, "data/train", dataset_files(tag=b"main"), "main models")
    out["main"] = (m1, d1)
    git_ok(hooked, "checkout", "-q", "-b", "exp")
    m2 = os.urandom(5000)
    save(hooked, "models/m.pt", m2)
    files = dataset_files(n=9, tag=b"exp")
    d2 = save_dir(hooked, "data/train", files, "exp models")
    out["exp"] = (m2, d2)
    git_ok(hooked, "checkout", "-q", "main")
    return out


def assert_state(repo: Path, state: tuple[bytes, dict[str, str]]) -> None:
    model, data = state
    assert (repo / "models" / "m.pt").read_bytes() == model
    assert tree_digest(repo / "data" / "train") == data


def test_switching_branches_materializes_the_right_bytes(
    hooked: Path, branches: dict[str, tuple[bytes, dict[str, str]]]
) -> None:
    assert_state(hooked, branches["main"])
    git_ok(hooked, "checkout", "-q", "exp")
    assert_state(hooked, branches["exp"])
    git_ok(hooked, "switch", "-q", "main")
    assert_state(hooked, branches["main"])
    git_ok(hooked, "checkout", "-q", "--detach", "exp")
    assert_state(hooked, branches["exp"])
    git_ok(hooked, "checkout", "-q", "-")
    assert_state(hooked, branches["main"])


def test_checkout_restores_deleted_artifacts_when_pointers_change(
    hooked: Path, branches: dict[str, tuple[bytes, dict[str, str]]]
) -> None:
    import shutil

    (hooked / "models" / "m.pt").unlink()
    shutil.rmtree(hooked / "data" / "train")
    git_ok(hooked, "checkout", "-q", "exp")
    assert_state(hooked, branches["exp"])


def test_file_checkout_materializes_the_pointers_it_wrote(
    hooked: Path, branches: dict[str, tuple[bytes, dict[str, str]]]
) -> None:
    git_ok(hooked, "checkout", "-q", "exp", "--", "models/m.pt.mvm")  # checkout type 0
    assert (hooked / "models" / "m.pt").read_bytes() == branches["exp"][0]
    assert tree_digest(hooked / "data" / "train") == branches["main"][1]  # not named: kept


def test_unsaved_changes_are_never_overwritten(
    hooked: Path, branches: dict[str, tuple[bytes, dict[str, str]]]
) -> None:
    unsaved = os.urandom(4000)
    write(hooked / "models" / "m.pt", unsaved)
    write(hooked / "data" / "train" / "part0" / "f0.bin", b"edited by hand")
    proc = git_ok(hooked, "checkout", "exp")
    assert "warning" in proc.stderr
    assert "models/m.pt" in proc.stderr
    assert (hooked / "models" / "m.pt").read_bytes() == unsaved
    assert (hooked / "data" / "train" / "part0" / "f0.bin").read_bytes() == b"edited by hand"
    assert rev(hooked) == rev(hooked, "exp")  # git's checkout itself went through


def test_checkout_with_an_object_missing_everywhere_warns(
    hooked: Path, branches: dict[str, tuple[bytes, dict[str, str]]]
) -> None:
    exp_model = branches["exp"][0]
    object_path(hooked, sha(exp_model)).unlink()  # and there is no remote at all
    proc = git_ok(hooked, "checkout", "exp")
    assert "git mvm pull" in proc.stderr
    assert "models/m.pt" in proc.stderr
    assert rev(hooked) == rev(hooked, "exp")
    assert tree_digest(hooked / "data" / "train") == branches["exp"][1]  # the rest arrived


def test_merge_brings_the_new_versions(
    hooked: Path, branches: dict[str, tuple[bytes, dict[str, str]]]
) -> None:
    git_ok(hooked, "merge", "-q", "--ff-only", "exp")
    assert_state(hooked, branches["exp"])


def test_non_fast_forward_merge_brings_the_new_versions(
    hooked: Path, branches: dict[str, tuple[bytes, dict[str, str]]]
) -> None:
    write(hooked / "code.py", "print('main')\n")
    git(hooked, "add", "code.py")
    git_ok(hooked, "commit", "-q", "-m", "code on main")
    git_ok(hooked, "merge", "-q", "--no-edit", "exp")
    assert_state(hooked, branches["exp"])
    assert (hooked / "code.py").exists()


def test_squash_merge_brings_the_new_versions(
    hooked: Path, branches: dict[str, tuple[bytes, dict[str, str]]]
) -> None:
    git_ok(hooked, "merge", "-q", "--squash", "exp")  # HEAD stays; the index has exp's pointers
    assert_state(hooked, branches["exp"])
    git_ok(hooked, "commit", "-q", "-m", "squashed")
    assert_state(hooked, branches["exp"])


def test_rebase_onto_a_branch_with_another_model_version(hooked: Path) -> None:
    m1 = os.urandom(3000)
    save(hooked, "models/m.pt", m1, "m v1")
    git_ok(hooked, "checkout", "-q", "-b", "feature")
    d_feature = save_dir(hooked, "data/train", dataset_files(tag=b"feature"), "feature data")
    git_ok(hooked, "checkout", "-q", "main")
    assert (hooked / "models" / "m.pt").read_bytes() == m1
    m2 = os.urandom(3000)
    save(hooked, "models/m.pt", m2, "m v2")
    git_ok(hooked, "checkout", "-q", "feature")
    assert (hooked / "models" / "m.pt").read_bytes() == m1
    git_ok(hooked, "rebase", "-q", "main")
    assert (hooked / "models" / "m.pt").read_bytes() == m2
    assert tree_digest(hooked / "data" / "train") == d_feature
    assert rev(hooked, "HEAD~1") == rev(hooked, "main")


def test_rebase_that_rewrites_the_model_itself(hooked: Path) -> None:
    save(hooked, "models/m.pt", os.urandom(3000), "m v1")
    git_ok(hooked, "checkout", "-q", "-b", "feature")
    mf = os.urandom(3000)
    save(hooked, "models/m.pt", mf, "feature model")
    git_ok(hooked, "checkout", "-q", "main")
    write(hooked / "code.py", "x = 1\n")
    git(hooked, "add", "code.py")
    git_ok(hooked, "commit", "-q", "-m", "code")
    git_ok(hooked, "checkout", "-q", "feature")
    git_ok(hooked, "rebase", "-q", "main")
    assert (hooked / "models" / "m.pt").read_bytes() == mf
    assert (hooked / "code.py").exists()


def test_checkout_with_an_unreachable_remote_warns(tmp_path: Path) -> None:
    bare = init_bare(tmp_path / "srv.git")
    alice = init_hooked(tmp_path / "alice", bare)
    save(alice, "m.pt", os.urandom(2000), "v1")
    git_ok(alice, "checkout", "-q", "-b", "exp")
    save(alice, "m.pt", os.urandom(2000), "v2")
    git_ok(alice, "push", "-q", "origin", "main", "exp")
    bob = clone_hooked(bare, tmp_path / "bob")
    bare.rename(tmp_path / "moved.git")
    proc = git_ok(bob, "checkout", "exp")
    assert "git mvm pull" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert rev(bob) == rev(bob, "exp")


def test_auto_pull_off_leaves_missing_artifacts_absent(tmp_path: Path) -> None:
    bare = init_bare(tmp_path / "srv.git")
    alice = init_hooked(tmp_path / "alice", bare)
    m1 = os.urandom(2000)
    save(alice, "models/m.pt", m1, "v1")
    git_ok(alice, "checkout", "-q", "-b", "exp")
    m2 = os.urandom(2000)
    save(alice, "models/m.pt", m2, "v2")
    git_ok(alice, "push", "-q", "origin", "main", "exp")

    bob = clone_hooked(bare, tmp_path / "bob")
    local = mvm_dir(bob) / "config.toml"
    write(local, "[hooks]\nauto_pull = false\n")
    proc = git_ok(bob, "checkout", "exp")
    assert not (bob / "models" / "m.pt").exists()
    assert "git mvm pull" in proc.stderr
    assert cache_objects(bob) == {}
    local.unlink()
    git_ok(bob, "checkout", "-q", "main")
    assert (bob / "models" / "m.pt").read_bytes() == m1


# --- the pre-commit framework: arguments arrive in PRE_COMMIT_* variables ------------------


def test_framework_post_checkout_reads_env(
    repo: Path,
) -> None:
    m1 = os.urandom(2000)
    save(repo, "m.pt", m1, "v1")
    main = rev(repo)
    git_ok(repo, "checkout", "-q", "-b", "exp")
    m2 = os.urandom(2000)
    save(repo, "m.pt", m2, "v2")
    exp = rev(repo)
    git_ok(repo, "checkout", "-q", "main")  # no hooks installed in `repo`: m.pt stays v2
    assert (repo / "m.pt").read_bytes() == m2
    env = {"PRE_COMMIT": "1", "PRE_COMMIT_FROM_REF": exp, "PRE_COMMIT_TO_REF": main,
           "PRE_COMMIT_CHECKOUT_TYPE": "0"}
    proc = mvm_hook(repo, "post-checkout", env=env)
    assert proc.returncode == 0, proc.stderr
    assert (repo / "m.pt").read_bytes() == m1  # a file checkout: the pointers git wrote
    env["PRE_COMMIT_CHECKOUT_TYPE"] = "1"
    proc = mvm_hook(repo, "post-checkout", env=env)
    assert proc.returncode == 0, proc.stderr
    assert (repo / "m.pt").read_bytes() == m1


def test_framework_post_merge_reads_env(repo: Path) -> None:
    m1 = os.urandom(2000)
    save(repo, "m.pt", m1, "v1")
    git_ok(repo, "checkout", "-q", "-b", "exp")
    m2 = os.urandom(2000)
    save(repo, "m.pt", m2, "v2")
    git_ok(repo, "checkout", "-q", "main")
    write(repo / "m.pt", m1)
    git_ok(repo, "merge", "-q", "--ff-only", "exp")
    assert (repo / "m.pt").read_bytes() == m1
    proc = mvm_hook(repo, "post-merge", env={"PRE_COMMIT": "1",
                                              "PRE_COMMIT_IS_SQUASH_MERGE": "0"})
    assert proc.returncode == 0, proc.stderr
    assert (repo / "m.pt").read_bytes() == m2


def framework_push_env(bare: Path, **refs: str) -> dict[str, str]:
    env = {"PRE_COMMIT": "1", "PRE_COMMIT_REMOTE_NAME": "origin",
           "PRE_COMMIT_REMOTE_URL": str(bare), "PRE_COMMIT_LOCAL_BRANCH": "refs/heads/main",
           "PRE_COMMIT_REMOTE_BRANCH": "refs/heads/main"}
    env.update(refs)
    return env


def test_framework_pre_push_uploads_the_range_it_is_given(repo: Path, tmp_path: Path) -> None:
    bare = init_bare(tmp_path / "srv.git")
    git(repo, "remote", "add", "origin", str(bare))
    v1 = save(repo, "m.pt", os.urandom(2000), "v1")
    base = rev(repo)
    v2 = save(repo, "m.pt", os.urandom(2000), "v2")
    v3 = save(repo, "m.pt", os.urandom(2000), "v3")
    env = framework_push_env(bare, PRE_COMMIT_FROM_REF=base, PRE_COMMIT_TO_REF=rev(repo))
    proc = mvm_hook(repo, "pre-push", env=env)  # no arguments, empty stdin
    assert proc.returncode == 0, proc.stderr
    assert remote_oids(bare) == {v2, v3}
    assert v1 not in remote_oids(bare)


def test_framework_pre_push_of_a_whole_history(repo: Path, tmp_path: Path) -> None:
    # pre-commit passes no FROM/TO refs when the push includes the root commit
    bare = init_bare(tmp_path / "srv.git")
    git(repo, "remote", "add", "origin", str(bare))
    data = [os.urandom(2000) for _ in range(2)]
    oids = {save(repo, "m.pt", d, f"v{i}") for i, d in enumerate(data)}
    proc = mvm_hook(repo, "pre-push", env=framework_push_env(bare))
    assert proc.returncode == 0, proc.stderr
    assert remote_oids(bare) == oids
    git_ok(repo, "push", "-q", "--no-verify", "origin", "main")
    bob = clone_hooked(bare, tmp_path / "bob")
    assert mvm(bob, "pull", "-q") == 0
    assert (bob / "m.pt").read_bytes() == data[-1]


def test_framework_pre_push_failure_fails_the_hook(repo: Path, tmp_path: Path) -> None:
    bare = init_bare(tmp_path / "srv.git")
    git(repo, "remote", "add", "origin", str(bare))
    oid = save(repo, "m.pt", os.urandom(2000), "v1")
    object_path(repo, oid).unlink()
    proc = mvm_hook(repo, "pre-push", env=framework_push_env(bare))
    assert proc.returncode != 0
    assert f"sha256:{oid}" in proc.stderr


def test_framework_pre_push_run_by_hand_does_nothing(repo: Path) -> None:
    save(repo, "m.pt", os.urandom(2000), "v1")
    proc = mvm_hook(repo, "pre-push", env={"PRE_COMMIT": "1"})
    assert (proc.returncode, proc.stderr) == (0, "")


def test_pre_commit_hooks_yaml_names_our_hooks() -> None:
    text = (Path(__file__).resolve().parents[2] / ".pre-commit-hooks.yaml").read_text()
    blocks = {}
    for block in text.split("- id: ")[1:]:
        ident = block.split("\n", 1)[0].strip()
        blocks[ident] = block
    for ident, stage in (("gitmv-pre-commit", "pre-commit"), ("gitmv-pre-push", "pre-push"),
                         ("gitmv-post-checkout", "post-checkout")):
        block = blocks[ident]
        assert f"entry: git-mvm hook {stage}" in block
        assert "language: python" in block
        assert "pass_filenames: false" in block
        assert "always_run: true" in block
        assert f"stages: [{stage}]" in block


def test_switching_to_a_branch_without_the_artifact_removes_it_when_safe(tmp_path: Path) -> None:
    repo = init_hooked(tmp_path / "repo")
    git_ok(repo, "checkout", "-q", "-b", "exp")
    save(repo, "model.bin", b"v1")
    save_dir(repo, "data", {"a.txt": b"a", "b/c.txt": b"c"}, "artifacts on exp")
    git_ok(repo, "checkout", "-q", "main")
    assert not (repo / "model.bin").exists()
    assert not (repo / "data").exists()
    git_ok(repo, "checkout", "-q", "exp")
    assert (repo / "model.bin").read_bytes() == b"v1"
    assert (repo / "data" / "b" / "c.txt").read_bytes() == b"c"
    # unsaved work is never removed: the file stays and git mvm says why
    (repo / "model.bin").write_bytes(b"unsaved edit")
    proc = git_run(repo, "checkout", "-q", "main")
    assert proc.returncode == 0
    assert (repo / "model.bin").read_bytes() == b"unsaved edit"
    assert "not in the cache" in proc.stderr
    assert not (repo / "data").exists()


def test_post_commit_starts_gitmv_only_for_a_commit_that_changes_a_pointer(
    tmp_path: Path
) -> None:
    """git runs post-commit after every commit: one that changes no pointer costs the shim
    one git call and no Python; one that does (here a pointer written by hand, as a
    cherry-pick writes it) runs gitmv, which brings the bytes."""
    import shutil

    repo = init_hooked(tmp_path / "repo")
    v1, v2 = os.urandom(3000), os.urandom(3001)
    save(repo, "m.pt", v1, "v1")
    save(repo, "m.pt", v2, "v2")
    v2_pointer = (repo / "m.pt.mvm").read_bytes()
    git_ok(repo, "checkout", "-q", "HEAD~1", "--", "m.pt.mvm")  # bytes follow: v1
    git_ok(repo, "commit", "-q", "-m", "back to v1")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    real = shutil.which("git-mvm")
    assert real
    write(bin_dir / "git-mvm", f'#!/bin/sh\necho "$*" >> {calls}\nexec {real} "$@"\n')
    (bin_dir / "git-mvm").chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}

    write(repo / "README", "code only\n")
    git_ok(repo, "add", "README")
    assert git_run(repo, "commit", "-q", "-m", "code", env=env).returncode == 0
    assert "hook post-commit" not in calls.read_text()  # pre-commit ran: the file exists

    (repo / "m.pt.mvm").write_bytes(v2_pointer)  # the pointer moves, the bytes do not
    git_ok(repo, "add", "m.pt.mvm")
    res = git_run(repo, "commit", "-q", "-m", "v2 again", "--no-verify", env=env)
    assert res.returncode == 0, res.stderr
    assert "hook post-commit" in calls.read_text()
    assert (repo / "m.pt").read_bytes() == v2
