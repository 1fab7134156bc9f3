"""A minimal local mirror of a repository named by URL, for `get --repo` and the API's
`repo=URL`: no clone, no history, no work tree.

    ws = open_mirror("https://git.example.com/team/models.git")   # the registry's tags
    ws = open_mirror(url, rev="main")                              # one revision

The mirror is a bare repository under the user's cache directory
(`$GITMV_REPO_CACHE`, else `$XDG_CACHE_HOME/gitmv/repos`, else `~/.cache/gitmv/repos`), one per
URL (`<host-and-path>-<sha256(url)[:12]>`), created on first use and updated by each later call.
Each call asks the server for its refs once (`git ls-remote`) and fetches only what changed:
the registry's tags (names holding `@` or `#`, as `registry.read` reads them) and the
server's HEAD (whose `.mvm/config.toml` declares the models), or the one revision asked for;
shallow (`--depth 1`: the tagged commits, never their history) and blobless
(`--filter=blob:none`): a blob (a pointer, `.mvm/config.toml`) is fetched when it is first
read, by git itself (the mirror is a partial clone of `origin`). A server that does not allow
filters (`uploadpack.allowFilter`) answers with the blobs of those commits, and that is all.
A server that will not send a blob asked for by id (protocol v0: ssh to an sshd that does not
pass `GIT_PROTOCOL`, without `uploadpack.allowAnySHA1InWant`) is found by the first call's
read of one blob, and the mirror is made again with the tagged commits' blobs fetched with
them (shallow still). A local path or `file://` URL is served by a local `git upload-pack`
told to allow filters.

The mirror's `origin` is the URL, so the store a command resolves on it is the repository's
own: the gitmv remote its tracked `.mvm/config.toml` names (`config_at` reads it at the
commit concerned), else, for a path, that repository's `mvm/objects`, else the URL's Git LFS
endpoint; the mirror's cache (`<mirror>/mvm/objects`) keeps the bytes for the next call.

Concurrency and crashes: every call holds `<mirror>.lock` (flock) while it updates the
mirror, so two calls on one URL take turns (git locks its refs too). A mirror is published
whole (initialised aside, then renamed); a fetch killed midway leaves lock files that only a
dead process can have left (we hold the flock): they are removed before the next fetch, and a
mirror a fetch still cannot update is rebuilt once.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterable

from gitmv.config import Config
from gitmv.errors import GitFailed, GitMvmError, git_message, mask_url
from gitmv.fsutil import atomic_write, clean_stale_tmp, repo_lock, tmp_name
from gitmv.repo import Repo, run_git
from gitmv.worktree.workspace import Workspace

ENV_DIR = "GITMV_REPO_CACHE"
MARKER = "mvm-mirror"  # written last when a mirror is made: a directory without it is rebuilt
HEAD_REF = "refs/mirror/head"  # the server's HEAD, fetched (HEAD itself points at it, detached)
REV_REFS = "refs/mirror/revs/"  # commits asked for by id, kept reachable
# Settings every call on the mirror carries: no background maintenance or gc (a repack of a
# shallow partial clone is work nobody needs), wants by id (protocol v2), no prompts.
_FETCH_CONFIG = ("-c", "protocol.version=2", "-c", "fetch.fsckObjects=false",
                 "-c", "fetch.writeCommitGraph=false", "-c", "fetch.recurseSubmodules=false")
_LOCAL_UPLOAD_PACK = "git -c uploadpack.allowfilter=true upload-pack"
_FULL_OID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def mirrors_dir() -> str:
    """Where mirrors live: `$GITMV_REPO_CACHE`, else `$XDG_CACHE_HOME/gitmv/repos`, else
    `~/.cache/gitmv/repos`."""
    explicit = os.environ.get(ENV_DIR)
    if explicit:
        return os.path.abspath(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(os.path.abspath(base), "gitmv", "repos")


def normalize_url(url: str) -> str:
    """The URL as git is handed it: a local path made absolute (it must be a directory)."""
    if "\n" in url or "\0" in url:
        raise GitMvmError(f"{url!r} is not a URL (it holds a line break)", "check --repo")
    if "://" in url or re.match(r"^[^/]+@[^/]+:", url) or re.match(r"^[\w.-]+:[^/]", url):
        return url  # a URL, or scp-style user@host:path / host:path
    path = local_repository(url)
    if path is None:
        raise GitMvmError(f"cannot read the repository {url}: no such directory",
                          "--repo takes a git URL (https://, ssh://, git://, file://) or the "
                          "path of a repository")
    return path


def local_repository(where: str) -> str | None:
    """The directory a local path names, absolute, `~` expanded; `/srv/models` is
    `/srv/models.git` when only that exists, as git takes it (`git clone /srv/models`);
    None when there is neither."""
    path = os.path.abspath(os.path.expanduser(where))
    for candidate in (path, path + ".git"):
        if os.path.isdir(candidate):
            return candidate
    return None


def without_credentials(url: str) -> str:
    """`url` without the user and password (a deploy token) its authority may carry."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@", r"\1", url)


def mirror_path(url: str) -> str:
    """The mirror of `url` (a stable, readable name: host and path, then a digest). Named
    without the URL's credentials: a token is in no path (a listing of the cache or a message
    naming the mirror would show it), and a new token (a CI job's) reuses the mirror."""
    bare = without_credentials(url)
    readable = re.sub(r"^[a-z+]+://", "", bare)
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", readable).strip("._-")[-60:] or "repo"
    digest = hashlib.sha256(bare.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return os.path.join(mirrors_dir(), f"{readable}-{digest}")


def _is_local(url: str) -> bool:
    return url.startswith("file://") or os.path.isabs(url)


def open_mirror(url: str, *, rev: str | None = None, jobs: int | None = None) -> Workspace:
    """A Workspace over the mirror of the repository at `url` (any git URL, `file://` or a
    local path), brought up to date first.

    Without `rev`: the registry's tags and the server's HEAD are fetched (shallow, blobless),
    and the Workspace's config is the tracked `.mvm/config.toml` at that HEAD, so
    `registry.load(ws)` and `ws.repo` answer as in a clone; read a version's bytes with the
    config of its commit (`config_at`). With `rev` (a branch, tag or full commit id): that one
    commit is fetched, the config is the one at it, and `ws.repo.resolve(rev)` names it.
    Blobs are fetched as they are read. Raises GitMvmError (one line and a hint) when the
    repository cannot be reached, read, or does not have `rev`."""
    url = normalize_url(url)
    path = mirror_path(url)
    _check_usable(path, url)
    with repo_lock(path + ".lock"):
        made = not os.path.isfile(os.path.join(path, MARKER))  # made by this call
        try:
            repo = _ready(path, url)
            commit = _update(repo, url, rev)
            _check_whole(repo)
        except (_Broken, GitFailed):  # damaged (a file deleted or cut short): git cannot use it
            shutil.rmtree(path, ignore_errors=True)  # rebuilt once, from nothing
            repo = _ready(path, url)
            commit = _update(repo, url, rev)
            made = True
        except GitMvmError:
            if made:  # the server refused (no such repository, no access, no such rev): a
                shutil.rmtree(path, ignore_errors=True)  # mirror of nothing is not kept
            raise
        # what the server does with a blob asked for by id does not change: asked once, by
        # the call that makes the mirror
        if made and not _lazy_blobs_work(repo, commit or "HEAD"):
            # the server will not send a blob asked for by id (protocol v0, as over ssh to
            # an sshd that does not pass GIT_PROTOCOL, without uploadpack.allowAnySHA1InWant):
            # the mirror is made again, fetching the tagged commits' blobs with them
            shutil.rmtree(path, ignore_errors=True)
            repo = _ready(path, url, lazy=False)
            commit = _update(repo, url, rev)
    return Workspace(repo, config_at(repo, commit) if commit else None, jobs=jobs)


def _check_usable(path: str, url: str) -> None:
    """The mirrors' directory can be made and written, and the mirror (if there is one) is
    this user's to update: one line naming it, not git's error from the middle of a fetch."""
    where = os.path.dirname(path)
    how = (f"set {ENV_DIR} to a directory of your own (without it: "
           "$XDG_CACHE_HOME/gitmv/repos or ~/.cache/gitmv/repos)")
    try:
        os.makedirs(where, exist_ok=True)
    except OSError as exc:
        raise GitMvmError(f"cannot use the mirror cache {where}: {exc.strerror or exc}"
                          f"{f' ({exc.filename})' if exc.filename else ''}", how) from None
    if not os.access(where, os.W_OK | os.X_OK):
        raise GitMvmError(f"cannot use the mirror cache {where}: this user may not write in it",
                          how)
    if os.path.isdir(path) and any(os.path.isdir(d) and not os.access(d, os.W_OK) for d in (
            path, os.path.join(path, "refs"), os.path.join(path, "objects"))):
        try:
            import pwd

            owner = pwd.getpwuid(os.stat(path).st_uid).pw_name
        except (KeyError, OSError):
            owner = f"uid {os.stat(path).st_uid}"
        raise GitMvmError(f"the mirror {path} of {mask_url(url)} belongs to another user "
                          f"({owner}): this user may not update it", how)


_NO_LAZY_FETCH = ("unadvertised object", "not our ref", "allowanysha1inwant",
                  "allowreachablesha1inwant", "allowtipsha1inwant")


def _lazy_blobs_work(repo: Repo, target: str) -> bool:
    """Whether a blob this mirror lacks can be fetched from the server when it is read: the
    blob every call reads anyway is read now (`target`'s `.mvm/config.toml`, else one of its
    top tree: one request, the first call only; then it is here)."""
    if not _is_lazy(repo):
        return True
    out = repo.git("ls-tree", "-z", target, "--", ".mvm/config.toml", check=False) \
        or repo.git("ls-tree", "-z", target, check=False)
    blobs = [meta.split()[2] for meta, _, name in
             (entry.partition(b"\t") for entry in out.split(b"\0"))
             if len(meta.split()) == 3 and meta.split()[1] == b"blob"]
    if not blobs:
        return True
    try:
        repo.read_objects([blobs[0].decode()])
    except GitFailed as exc:
        if any(s in exc.stderr.lower() for s in _NO_LAZY_FETCH):
            return False
        raise
    return True


def _is_lazy(repo: Repo) -> bool:
    """A mirror made blobless (a partial clone), not one made with its commits' blobs."""
    try:
        with open(os.path.join(repo.git_dir, "config"), encoding="utf-8",
                  errors="surrogateescape") as f:
            return "partialclonefilter" in f.read()
    except FileNotFoundError:
        return True


def config_at(repo: Repo, commit: str) -> Config:
    """The config of the mirror at `commit`: its tracked `.mvm/config.toml` there (fetched
    if it is not yet), over the mirror's own (none, unless someone wrote one)."""
    shared = repo.read_objects([f"{commit}:.mvm/config.toml"])[0] or b""
    return Config.load(repo.root, repo.mvm_dir, shared)


class _Broken(GitMvmError):
    """A mirror git could not update for a reason other than the server's answer (rebuilt
    once; a second time it is reported)."""


def _ready(path: str, url: str, lazy: bool = True) -> Repo:
    """The mirror at `path`, made (aside, then renamed in) when it is missing or was never
    finished; stale git lock files of a killed fetch removed. `lazy`: a partial clone whose
    blobs git fetches as they are read; else the fetched commits come with their blobs."""
    if not _is_whole(path):
        shutil.rmtree(path, ignore_errors=True)
        clean_stale_tmp(os.path.dirname(path))  # mirrors a killed call was making
        tmp = tmp_name(os.path.dirname(path))
        try:
            run_git(["init", "-q", "--bare", tmp])
            # appended to what `git init` wrote (git takes a key's last value): one write, not
            # a `git config` per key
            origin = {"url": url, "promisor": "true", "partialclonefilter": "blob:none"} \
                if lazy else {"url": url}
            if _is_local(url):  # a local upload-pack reads the server's config: allow filters
                origin["uploadpack"] = _LOCAL_UPLOAD_PACK
            text = ("[core]\n\trepositoryformatversion = 1\n\tlogAllRefUpdates = false\n"
                    + ("[extensions]\n\tpartialclone = origin\n" if lazy else "")
                    + "[gc]\n\tauto = 0\n"
                    "[maintenance]\n\tauto = false\n[fetch]\n\tprune = false\n"
                    # the fetch git makes when it reads a blob the mirror lacks speaks v2
                    # (wants by id) whatever ~/.gitconfig says, as the mirror's own fetches do
                    "[protocol]\n\tversion = 2\n"
                    "[remote \"origin\"]\n" + "".join(
                        f"\t{k} = {_quoted(v)}\n" for k, v in origin.items()))
            with open(os.path.join(tmp, "config"), "a", encoding="utf-8",
                      errors="surrogateescape") as f:
                f.write(text)
            atomic_write(os.path.join(tmp, MARKER), url.encode("utf-8", "surrogateescape")
                         + b"\n")
            os.rename(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    else:
        _remove_stale_locks(path)
        _set_url(path, url)
    return Repo.at_git_dir(path)


def _is_whole(path: str) -> bool:
    """The mirror was finished (its marker is written last) and has what git needs to call it
    a repository, and each pack ends with the checksum its index records (a pack cut short
    by a full disk or a killed copy is found here, not by a read that fails later)."""
    if not all(os.path.exists(os.path.join(path, name))
               for name in (MARKER, "HEAD", "config", "objects", "refs")):
        return False
    packs = os.path.join(path, "objects", "pack")
    try:
        names = os.listdir(packs)
    except FileNotFoundError:
        return True
    for name in names:
        if not name.endswith(".idx"):
            continue
        try:
            with open(os.path.join(packs, name), "rb") as idx, \
                    open(os.path.join(packs, name[:-4] + ".pack"), "rb") as pack:
                idx.seek(-40, os.SEEK_END)
                pack.seek(-20, os.SEEK_END)
                if idx.read(20) != pack.read(20):
                    return False
        except FileNotFoundError:
            continue  # git ignores an index without its pack (a lost object is found later)
        except OSError:
            return False  # shorter than a checksum
    return True


def _set_url(path: str, url: str) -> None:
    """The mirror fetches from `url` as given this time: the same repository with other
    credentials (a new token) is the same mirror."""
    marker = os.path.join(path, MARKER)
    said = url.encode("utf-8", "surrogateescape") + b"\n"
    with open(marker, "rb") as f:
        if f.read() == said:
            return
    Repo.at_git_dir(path).git("config", "remote.origin.url", url)
    atomic_write(marker, said)


def _quoted(value: str) -> str:
    """A git config value, double-quoted."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _remove_stale_locks(path: str) -> None:
    """git's `*.lock` files left by a fetch that was killed: we hold the mirror's lock, so no
    live gitmv call is writing them."""
    for name in ("shallow.lock", "packed-refs.lock", "HEAD.lock", "config.lock", "index.lock",
                 "FETCH_HEAD.lock"):
        try:
            os.unlink(os.path.join(path, name))
        except FileNotFoundError:
            pass
    for top, _dirs, files in os.walk(os.path.join(path, "refs")):
        for name in files:
            if name.endswith(".lock"):
                os.unlink(os.path.join(top, name))


def _update(repo: Repo, url: str, rev: str | None) -> str | None:
    """Fetch what changed upstream; the commit `rev` names (None without `rev`)."""
    if rev is not None and _FULL_OID.fullmatch(rev):  # by id: no need to list refs
        if not repo.has_commit(rev):
            _fetch(repo, url, [f"{rev}:{REV_REFS}{rev}"], rev=rev)
        return _commit_of(repo, url, rev, rev)
    refs = _ls_remote(repo, url, rev)
    have = _local_refs(repo)
    wants: list[str] = []
    if rev is None:
        upstream = {name: oid for name, oid in refs.items()
                    if name.startswith("refs/tags/") and ("@" in name or "#" in name)
                    and not name.endswith("^{}")}
        wants = [f"+{name}:{name}" for name, oid in sorted(upstream.items())
                 if have.get(name) != oid]
        head = refs.get("HEAD")
        if head is not None and have.get(HEAD_REF) != head:
            wants.append(f"+HEAD:{HEAD_REF}")
        gone = [name for name in have if name.startswith("refs/tags/")
                and ("@" in name or "#" in name) and name not in upstream]
        _fetch(repo, url, wants)
        if gone:  # a tag deleted upstream (a mistaken assignment removed) goes here too
            repo.git("update-ref", "--stdin",
                     input="".join(f"delete {n}\n" for n in gone).encode())
        if head is not None:
            repo.git("update-ref", "--no-deref", "HEAD", head)
        return None
    name = _remote_name(refs, rev)
    if name is None:
        raise GitMvmError(f"{mask_url(url)} has no branch or tag {rev!r}",
                          "name a branch, a tag or a full commit id (`git ls-remote URL` "
                          "lists what the server has)")
    local = HEAD_REF if name == "HEAD" else name  # the server's HEAD: ours points at it
    if have.get(local) != refs[name]:
        _fetch(repo, url, [f"+{name}:{local}"])
    if name == "HEAD":
        repo.git("update-ref", "--no-deref", "HEAD", refs[name])
    return _commit_of(repo, url, rev, local)


def _check_whole(repo: Repo) -> None:
    """Every object the mirror's refs name is there (one `cat-file --batch-check`): a pack
    deleted or cut short is found now, while the mirror can be made again."""
    refs = _local_refs(repo)
    if not refs:
        return
    out = repo.git("cat-file", "--batch-check",
                   input="".join(f"{oid}^{{}}\n" for oid in refs.values()).encode())
    if any(line.endswith(b" missing") for line in out.splitlines()):
        raise _Broken(f"the mirror {repo.git_dir} lacks objects its refs name",
                      f"remove {repo.git_dir} (the next call makes it again)")


def _commit_of(repo: Repo, url: str, rev: str, target: str) -> str:
    out = repo.git("rev-parse", "--verify", "-q", f"{target}^{{commit}}", check=False)
    if not out.strip():
        raise GitMvmError(f"{rev!r} in {mask_url(url)} is not a commit",
                          "name a branch, a tag or a full commit id")
    return out.decode().strip()


def _remote_name(refs: dict[str, str], rev: str) -> str | None:
    """The server's ref `rev` names, as git would take it (`rev-parse`'s order)."""
    for candidate in (rev, f"refs/{rev}", f"refs/tags/{rev}", f"refs/heads/{rev}"):
        if candidate in refs and not candidate.endswith("^{}"):
            return candidate
    return None


def _local_refs(repo: Repo) -> dict[str, str]:
    out = repo.git("for-each-ref", "--format=%(objectname) %(refname)")
    refs = {}
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        oid, _, name = line.partition(" ")
        refs[name] = oid
    return refs


def _ls_remote(repo: Repo, url: str, rev: str | None) -> dict[str, str]:
    """{ref: oid} of the server (HEAD and tags; a branch or tag `rev` may name)."""
    patterns = ["HEAD", "refs/tags/*"] if rev is None else [rev]  # matched from the end
    try:
        out = repo.git(*_FETCH_CONFIG, "ls-remote", "origin", *patterns)
    except GitFailed as exc:
        raise _unreachable(url, exc) from None
    refs = {}
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        oid, _, name = line.partition("\t")
        if name:
            refs[name] = oid
    return refs


def _fetch(repo: Repo, url: str, refspecs: Iterable[str], rev: str | None = None) -> None:
    specs = list(refspecs)
    if not specs:
        return
    args = [*_FETCH_CONFIG, "fetch", "-q", "--no-tags", "--no-write-fetch-head",
            "--no-auto-maintenance", "--depth", "1",
            *(["--filter=blob:none"] if _is_lazy(repo) else []), "--stdin", "origin"]
    try:
        repo.git(*args, input="".join(f"{s}\n" for s in specs).encode())
    except GitFailed as exc:
        said = exc.stderr.lower()
        if rev is not None and ("not our ref" in said or "no such remote ref" in said
                                or "couldn't find remote ref" in said):
            raise GitMvmError(f"{mask_url(url)} has no commit {rev}",
                              "name a branch, a tag or a full commit id the server has") from None
        if _said_by_server(said):
            raise _unreachable(url, exc) from None
        raise _Broken(f"cannot update the mirror {repo.git_dir} of {mask_url(url)}: "
                      f"{exc.detail}", f"remove {repo.git_dir} (the next call makes it again); "
                      "`git ls-remote URL` must list the repository's refs") from None


def _said_by_server(said: str) -> bool:
    return any(s in said for s in (
        "could not read from remote", "unable to access", "could not resolve", "connection",
        "authentication", "permission denied", "not found", "does not appear to be a git",
        "unable to connect", "http", "timed out", "early eof", "remote end hung up"))


def _unreachable(url: str, exc: GitFailed) -> GitMvmError:
    """The server's refusal as one line and what to do about it."""
    said = exc.stderr.lower()
    shown = mask_url(url)
    detail = git_message(exc.stderr) or exc.detail
    if any(s in said for s in ("authentication failed", "could not read username",
                               "permission denied", "403", "401", "terminal prompts disabled")):
        return GitMvmError(f"{shown}: authentication failed ({detail})",
                           "check your credentials for it (a git credential helper, a token, "
                           "your ssh key): `git ls-remote URL` must work")
    if any(s in said for s in ("does not appear to be a git repository", "not found",
                               "no such file", "repository not exported", "404")):
        return GitMvmError(f"{shown} is not a git repository the server has ({detail})",
                           "check the URL: `git ls-remote URL` must list its refs")
    return GitMvmError(f"cannot reach {shown} ({detail})",
                       "check the URL and the network: `git ls-remote URL` must list its refs")
