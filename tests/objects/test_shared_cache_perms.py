"""A cache shared by several Unix users in one group (`cache.dir`), and a bare repository
shared the git way (`core.sharedRepository`) used as the store: what gitmv creates there
follows the group's permissions, a clone that cannot register in a shared cache adds
nothing to it, and gc that cannot know every clone of the cache deletes nothing.

As root the users are alice and bob (numbers, through setpriv, in one group); as another user
the tests that need only one user run as that user, and the two-user ones are skipped.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.helpers import cache_objects, error_lines, make_old, remote_oids, sha
from tests.users import IS_ROOT, TEAM, User, needs_root

SMALL_MODEL = "models/small.pt"
BIG = (1 << 20) + 4096  # past the cache's in-memory limit: streamed through tmp/


def team_gid() -> int:
    return TEAM if IS_ROOT else os.getgid()


def shared_dir(path: Path, mode: int = 0o2775) -> Path:
    """A directory the way an admin sets one up for a group: `mkdir; chgrp; chmod g+ws`."""
    path.mkdir()
    os.chown(path, -1, team_gid())
    path.chmod(mode)
    return path


def start_clone(user: User, path: Path, cache: Path | None, umask: int = 0o022) -> Path:
    """`git init` and `git mvm init` as `user`, the clone's own config pointing at `cache`."""
    path.mkdir()
    user.own(path)
    user.git(path, "init", "-q", umask=umask)
    res = user.mvm(path, "init", "-q", umask=umask)
    assert res.returncode == 0, res.stderr
    if cache is not None:
        use_cache(user, path, cache)
    user.git(path, "commit", "-q", "--allow-empty", "-m", "init", umask=umask)
    return path


def use_cache(user: User, repo: Path, cache: Path) -> None:
    cfg = repo / ".git" / "mvm" / "config.toml"
    cfg.parent.mkdir(exist_ok=True)
    cfg.write_text(f'[cache]\ndir = "{cache}"\n')
    user.own(repo / ".git" / "mvm")


def add(user: User, repo: Path, rel: str, data: bytes, umask: int = 0o022,
        commit: bool = True) -> str:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    user.own(repo)
    res = user.mvm(repo, "add", "-q", rel, umask=umask)
    assert res.returncode == 0, res.stderr
    if commit:
        user.git(repo, "commit", "-q", "-m", f"add {rel}", umask=umask)
    return sha(data)


def with_prefix(prefix: str, size: int = 200) -> bytes:
    """Bytes whose sha256 starts with `prefix` (so their object shares a fan-out directory)."""
    n = 0
    while True:
        data = n.to_bytes(8, "little") * (size // 8)
        if sha(data).startswith(prefix):
            return data
        n += 1


def modes_wrong(root: Path, gid: int, root_too: bool = True) -> list[str]:
    """What under `root` does not give the group what git's core.sharedRepository=group
    gives it: directories g+rwx and setgid, files g+r, all in the group."""
    wrong = []
    for p in [root, *root.rglob("*")] if root_too else root.rglob("*"):
        st = p.lstat()
        want = 0o2070 if stat.S_ISDIR(st.st_mode) else 0o040
        if st.st_mode & want != want or st.st_gid != gid:
            wrong.append(f"{p.relative_to(root.parent)} {stat.filemode(st.st_mode)} "
                         f"gid {st.st_gid}")
    return wrong


# --- 1. a clone that cannot register adds nothing; gc that cannot know every clone stops ---


def test_add_refuses_when_the_clone_cannot_register_in_the_shared_cache(
    team_base: Path, alice: User
) -> None:
    """The cache is writable, its registry of clones is not: another clone's gc would not
    know this one, and would delete its committed model. add refuses, naming the fix."""
    cache = shared_dir(team_base / "cache", 0o2777)
    clones = cache / "clones"
    clones.mkdir()
    clones.chmod(0o555)  # root's (or, as a user, one that is not writable)
    repo = start_clone(alice, team_base / "alice", cache)
    (repo / "m.pt").write_bytes(os.urandom(3000))
    alice.own(repo)
    res = alice.mvm(repo, "add", "m.pt")
    assert res.returncode == 1, res.stderr
    lines = error_lines(res.stderr)
    assert len(lines) == 1 and str(clones) in lines[0] and "register" in lines[0], res.stderr
    assert "chmod g+ws" in res.stderr and "Traceback" not in res.stderr
    assert not cache_objects(cache, cache), "add wrote objects it cannot protect"
    assert not (repo / "m.pt.mvm").exists()
    # reading commands still work (with a warning)
    assert alice.mvm(repo, "status").returncode == 0


@pytest.mark.parametrize("unreadable", ["the registry", "a registration"])
def test_gc_deletes_nothing_when_it_cannot_read_every_registration(
    team_base: Path, alice: User, unreadable: str
) -> None:
    cache = shared_dir(team_base / "cache", 0o2777)
    repo = start_clone(alice, team_base / "alice", cache)
    add(alice, repo, "junk.pt", os.urandom(3000), commit=False)
    alice.git(repo, "rm", "-q", "--cached", "junk.pt.mvm")
    (repo / "junk.pt.mvm").unlink()
    make_old(list(cache_objects(cache, cache).values()))
    before = set(cache_objects(cache, cache))
    clones = cache / "clones"
    other = clones / "0123456789abcdef01234567"  # another user's clone, private to them
    other.write_text(f"{team_base / 'carol' / '.git'}\n")
    other.chmod(0o000)
    if unreadable == "the registry":
        clones.chmod(0o333)
    res = alice.mvm(repo, "gc")
    clones.chmod(0o2775)
    assert res.returncode == 1, res.stderr + res.stdout
    lines = error_lines(res.stderr)
    assert len(lines) == 1 and "nothing was deleted" in lines[0], res.stderr
    assert str(clones) in res.stderr and "--force" in res.stderr, res.stderr
    assert set(cache_objects(cache, cache)) == before


def test_gc_deletes_nothing_when_this_clone_cannot_register(
    team_base: Path, alice: User
) -> None:
    """carol's clone uses the cache but is in no registration (her gitmv could not write
    one either): alice's gc, which cannot register itself, cannot know her. It must keep
    carol's committed model: it stops."""
    cache = shared_dir(team_base / "cache", 0o2777)
    carol = start_clone(alice, team_base / "carol", cache)
    model = add(alice, carol, "m.pt", os.urandom(3000))
    for reg in (cache / "clones").iterdir():
        reg.unlink()  # as if it never registered
    (cache / "clones").chmod(0o555)
    repo = start_clone(alice, team_base / "alice", cache)
    make_old(list(cache_objects(cache, cache).values()))
    res = alice.mvm(repo, "gc")
    (cache / "clones").chmod(0o2775)
    assert res.returncode == 1, res.stderr + res.stdout
    assert "nothing was deleted" in res.stderr and "register" in res.stderr, res.stderr
    assert model in cache_objects(cache, cache)


# --- 2. what gitmv creates in a group's cache is the group's -------------------------------


@pytest.mark.parametrize("cache_mode", [0o2775, 0o775])
def test_what_gitmv_creates_in_a_group_shared_cache_gives_the_group_access(
    team_base: Path, alice: User, cache_mode: int
) -> None:
    """alice's umask is 077, the cache is the group's (g+ws, or g+w alone): objects, their
    fan-out directories, tmp/, downloads and clones/ come out as git's
    core.sharedRepository=group makes its own: directories g+rwx and setgid, files g+r, in
    the cache's group (not alice's own, without setgid)."""
    cache = shared_dir(team_base / "cache", cache_mode)
    store = shared_dir(team_base / "store", cache_mode)
    repo = start_clone(alice, team_base / "alice", cache, umask=0o077)
    res = alice.mvm(repo, "remote", "add", "-q", "-d", "store", str(store), umask=0o077)
    assert res.returncode == 0, res.stderr
    add(alice, repo, SMALL_MODEL, os.urandom(3000), umask=0o077)
    big = add(alice, repo, "big.bin", os.urandom(BIG), umask=0o077)
    data = repo / "data"
    for i in range(3):
        (data / f"d{i}").mkdir(parents=True)
        (data / f"d{i}" / "f.bin").write_bytes(os.urandom(500 + i))
    alice.own(repo)
    res = alice.mvm(repo, "add", "-q", "data", umask=0o077)
    assert res.returncode == 0, res.stderr
    res = alice.mvm(repo, "push", "-q", umask=0o077)
    assert res.returncode == 0, res.stderr
    cache_objects(cache, cache)[big].unlink()  # downloaded again: through tmp/partial-*
    (repo / "big.bin").unlink()
    res = alice.mvm(repo, "pull", "-q", umask=0o077)
    assert res.returncode == 0, res.stderr
    assert big in cache_objects(cache, cache)
    assert (cache / "tmp").is_dir() and (cache / "clones").is_dir()
    assert modes_wrong(cache, team_gid(), root_too=False) == []
    # the directory store is the group's too
    assert modes_wrong(store, team_gid(), root_too=False) == []


def test_a_cache_that_is_not_the_groups_keeps_the_umask(team_base: Path, alice: User) -> None:
    cache = team_base / "cache"
    cache.mkdir(mode=0o755)
    alice.own(cache)
    repo = start_clone(alice, team_base / "alice", cache, umask=0o027)
    add(alice, repo, SMALL_MODEL, os.urandom(3000), umask=0o027)
    for p in cache.rglob("*"):
        mode = stat.S_IMODE(p.lstat().st_mode)
        assert mode & 0o2022 == 0, f"{p}: {oct(mode)}"  # nothing for the group to write


@needs_root
def test_two_users_share_one_cache(team_base: Path, alice: User, bob: User) -> None:
    """alice and bob, default umask (022), one cache set up for their group. bob registers,
    adds objects into the fan-out directories and tmp/ alice made, reads her objects, and
    his gc reads her clone (her registration, her lock) and keeps her committed model."""
    cache = shared_dir(team_base / "cache")
    a = start_clone(alice, team_base / "alice", cache)
    model = add(alice, a, SMALL_MODEL, os.urandom(3000))
    add(alice, a, "big.bin", os.urandom(BIG))
    b = start_clone(bob, team_base / "bob", cache)
    near = add(bob, b, "near.pt", with_prefix(model[:4]))  # in alice's fan-out directory
    add(bob, b, "big2.bin", os.urandom(BIG))  # through tmp/, which alice made
    junk = add(bob, b, "junk.pt", os.urandom(3000), commit=False)
    bob.git(b, "rm", "-q", "--cached", "junk.pt.mvm")
    (b / "junk.pt.mvm").unlink()
    assert len(list((cache / "clones").iterdir())) == 2
    obj = cache_objects(cache, cache)
    assert bob.run(b, "test", "-r", str(obj[model])).returncode == 0  # bob reads alice's object
    make_old(list(obj.values()))
    res = bob.mvm(b, "gc", "--dry-run")
    assert res.returncode == 0, res.stderr
    assert junk[:12] in res.stdout + res.stderr
    assert model[:12] not in res.stdout and near[:12] not in res.stdout
    assert modes_wrong(cache, TEAM) == []


# --- 3. a bare repository shared the git way, used as the store ------------------------------


def modes_under(root: Path) -> tuple[set[str], set[str]]:
    """The modes of the directories and of the files under `root`, with their group."""
    dirs, files = set(), set()
    for p in root.rglob("*"):
        st = p.lstat()
        (dirs if stat.S_ISDIR(st.st_mode) else files).add(f"{stat.filemode(st.st_mode)} "
                                                          f"{st.st_gid}")
    return dirs, files


def shared_origin(user: User, path: Path, shared: str) -> Path:
    """`git init --bare --shared=SHARED`, by `user`, in the team's group."""
    path.mkdir()
    user.own(path)
    os.chown(path, -1, team_gid())
    user.git(path, "init", "-q", "--bare", f"--shared={shared}", umask=0o077)
    return path


@pytest.mark.parametrize("shared", ["group", "0640", "all"])
def test_a_shared_bare_repository_holds_gitmvs_objects_as_git_holds_its_own(
    team_base: Path, alice: User, shared: str
) -> None:
    """alice pushes with umask 077 to a bare repository made with `git init --shared`: the
    objects gitmv keeps in its mvm/objects get the modes git gives its own loose objects
    (and their directories) there: loose objects, or packs, indexes and the layout file."""
    origin = shared_origin(alice, team_base / "srv.git", shared)
    repo = start_clone(alice, team_base / "alice", None, umask=0o077)
    alice.git(repo, "remote", "add", "origin", str(origin), umask=0o077)
    add(alice, repo, SMALL_MODEL, os.urandom(3000), umask=0o077)
    add(alice, repo, "big.bin", os.urandom(BIG), umask=0o077)
    alice.git(repo, "push", "-q", "origin", "main", umask=0o077)
    gits_dirs, gits_files = modes_under(origin / "objects")
    assert gits_files, "git kept no loose objects to compare with"
    mvm_dirs, mvm_files = modes_under(origin / "mvm")
    assert len(remote_oids(origin)) == 2  # (in packs by default: the layout file, packs and
    # indexes get git's modes too)
    assert mvm_dirs and mvm_dirs <= gits_dirs
    assert mvm_files == gits_files


@needs_root
def test_two_users_push_and_pull_through_a_group_repository(
    team_base: Path, alice: User, bob: User
) -> None:
    """alice and bob, both with umask 077, push to one `git init --bare --shared=group`
    repository: bob's objects go into the directories alice's push made, and each pulls the
    other's model."""
    origin = shared_origin(alice, team_base / "srv.git", "group")
    a = start_clone(alice, team_base / "alice", None, umask=0o077)
    alice.git(a, "remote", "add", "origin", str(origin), umask=0o077)
    model = os.urandom(3000)
    add(alice, a, SMALL_MODEL, model, umask=0o077)
    alice.git(a, "push", "-q", "origin", "main", umask=0o077)
    b = team_base / "bob"
    b.mkdir()
    bob.own(b)
    bob.git(b, "clone", "-q", str(origin), ".", umask=0o077)
    res = bob.mvm(b, "install", "-q", umask=0o077)
    assert res.returncode == 0, res.stderr
    res = bob.mvm(b, "pull", "-q", umask=0o077)
    assert res.returncode == 0, res.stderr
    assert (b / SMALL_MODEL).read_bytes() == model
    near = with_prefix(sha(model)[:4])  # into the directory alice's push made
    add(bob, b, "near.pt", near, umask=0o077)
    bob.git(b, "push", "-q", "origin", "main", umask=0o077)
    alice.git(a, "pull", "-q", "origin", "main", umask=0o077)
    res = alice.mvm(a, "pull", "-q", umask=0o077)
    assert res.returncode == 0, res.stderr
    assert (a / "near.pt").read_bytes() == near


# --- 4. link modes that share the object's inode, as root ----------------------------------


@pytest.mark.parametrize("mode", ["hardlink", "symlink"])
def test_a_write_in_place_to_a_checked_out_file_never_changes_the_cache_object(
    repo: Path, mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whoever runs gitmv, a tool that rewrites the checked-out model in place (`open(p,
    "r+b")`, a checkpoint saved over it) must not reach the cache object: a read-only object
    stops a user, not root. So as root the modes that share the object's inode give way to a
    copy; as a user they stay (the write is refused)."""
    from tests.helpers import configure, configure_local, object_path, run

    configure_local(repo, "cache", f'link = ["{mode}"]')
    configure(repo, "cache", "link_as_root = true")  # committed: counts for nothing
    data = os.urandom(5000)
    path = repo / "m.pt"
    path.write_bytes(data)
    assert run(capsys, repo, "add", "-q", "m.pt").rc == 0
    path.unlink()
    res = run(capsys, repo, "checkout")
    assert res.rc == 0, res.err
    obj = object_path(repo, sha(data))
    if IS_ROOT:
        assert not path.is_symlink() and path.stat().st_ino != obj.stat().st_ino
        assert mode in res.err and "copy" in res.err  # said once, why
        before = path.stat().st_ino
        assert run(capsys, repo, "checkout", "-q").rc == 0
        assert path.stat().st_ino == before  # the copy is as it should be: left alone
    try:
        with open(path, "r+b") as f:
            f.write(b"overwritten in place")
    except PermissionError:
        assert not IS_ROOT
    assert sha(obj.read_bytes()) == sha(data), "the cache object was changed through the link"
