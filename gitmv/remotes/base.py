"""Remote object stores behind one small interface, and how a remote is chosen.

A store holds objects under their hex id. Every store kind implements `Store`; the transfer
engine (gitmv.transfer.engine) does batching, parallelism, verification and progress on top.

Which remote: `--remote NAME`, else `core.remote`, else the git remote in use (the one being
pushed to, or the current branch's upstream, else `origin`). A git remote that is a local path
or file:// URL keeps objects in `<that repository's git dir>/mvm/objects`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import BinaryIO, Protocol
from urllib.parse import unquote, urlparse

from gitmv.config import Config
from gitmv.remotes.retry import RemoteError, TransientError
from gitmv.remotes.stored import ANOTHER_SIZE, Stored, holds
from gitmv.remotes.urls import mask_url, secret_in_url
from gitmv.repo import Repo

__all__ = ["ANOTHER_SIZE", "RemoteError", "Store", "Stored", "TransientError", "holds",
           "open_store", "resolve"]

# A remote's settings that send a secret or decide whether a server is trusted with one
# (`token_env`: whose value goes out as a bearer token; `ssl_verify`: off, or a CA bundle that
# vouches for any server). A tracked .mvm/config.toml is written by anyone who can commit, so
# these are taken only from the local config, as git-lfs takes from .lfsconfig only keys that
# carry no secret. The URL may be shared: git credential answers for its host alone; but a
# token (`token_env`) goes wherever the URL says, so it goes only to a URL set locally too.
LOCAL_ONLY_SETTINGS = ("token_env", "ssl_verify")


class Store(Protocol):
    """What every store kind implements. Methods raise `TransientError` for faults worth a
    retry (the transfer engine retries with backoff) and `RemoteError` for the rest; messages
    name the remote and say what to do."""

    name: str
    url: str
    can_list: bool  # list_objects/delete work (needed by `gc --remote`)

    def exists_many(self, oids: Sequence[str]) -> set[str]:
        """The subset of `oids` the store holds (one batch: the engine splits large sets)."""

    def stat_many(self, oids: Sequence[str], checksums: bool = False) -> dict[str, Stored]:
        """The objects of `oids` the store holds, with their sizes (one batch, as
        `exists_many` costs); with `checksums`, also the store's own sha256 where it keeps
        one (S3's ChecksumSHA256), at whatever that costs (a HEAD each)."""

    def upload(self, oid: str, size: int, src: BinaryIO) -> None:
        """Store `size` bytes read from `src` as object `oid`; never visible under its final
        name before it is complete, and never when they are not object `oid` (ObjectCorrupt:
        every kind hashes what it sends). Replaces what the store held under that name. May
        be called again after a failure (src rewound). The engine confirms it afterwards
        (`stat_many`): a store's "stored" is not taken at its word."""

    def open_download(self, oid: str, offset: int = 0) -> tuple[BinaryIO, int]:
        """A stream of the object's bytes from `offset` and the offset it really starts at
        (0 when the store cannot resume). The caller hashes, verifies and bounds it (size,
        deadline); a network stream has `read1`, which returns what has arrived."""

    def list_objects(self) -> Iterator[tuple[str, int, float]]:
        """(oid, size, modification time) of every object; only when `can_list`."""

    def delete(self, oid: str) -> None: ...


def git_remote_url(repo: Repo, name: str) -> str | None:
    out = repo.git("config", "--get", f"remote.{name}.url", check=False).decode().strip()
    return out or None


def default_git_remote(repo: Repo) -> str:
    """The current branch's upstream remote, else `origin`."""
    branch = repo.git("symbolic-ref", "-q", "--short", "HEAD", check=False).decode().strip()
    if branch:
        remote = repo.git("config", "--get", f"branch.{branch}.remote", check=False).decode()
        if remote.strip() and remote.strip() != ".":
            return remote.strip()
    return "origin"


def path_of_git_url(url: str, base: str) -> str | None:
    """The filesystem path of a local git remote URL (path or file://), else None."""
    if url.startswith("file://"):
        return unquote(urlparse(url).path)
    if "://" in url:
        return None
    if ":" in url.split("/")[0] and not os.path.exists(url):
        return None  # scp-style host:path
    return os.path.normpath(os.path.join(base, os.path.expanduser(url)))


def relative_to(url: str, root: str) -> str:
    """A store URL that is a relative path (`../store`) made absolute against the
    repository's root, as every clone, from any directory, reads it; other URLs as they are."""
    if "://" in url or os.path.isabs(url) or url.startswith("~"):
        return url
    return os.path.normpath(os.path.join(root, url))


def objects_dir_of_repo(path: str) -> str:
    """Where objects live for a git repository at `path` (bare or not)."""
    dotgit = os.path.join(path, ".git")
    if os.path.isdir(dotgit):
        return os.path.join(dotgit, "mvm", "objects")
    if os.path.isfile(dotgit):  # a worktree or submodule: follow the gitdir link
        with open(dotgit) as f:
            line = f.read().strip()
        if line.startswith("gitdir:"):
            gitdir = os.path.normpath(os.path.join(path, line[7:].strip()))
            common = os.path.join(gitdir, "commondir")
            if os.path.exists(common):
                with open(common) as f:
                    gitdir = os.path.normpath(os.path.join(gitdir, f.read().strip()))
            return os.path.join(gitdir, "mvm", "objects")
    return os.path.join(path, "mvm", "objects")


def open_store(name: str, url: str, settings: dict[str, object] | None = None) -> Store:
    """A store for a gitmv remote URL; `settings` is the remote's config table.

    Each store kind's module (and its libraries: boto3, requests) is imported only here.
    """
    from gitmv.remotes.local import LocalStore

    settings = dict(settings or {})
    if url.startswith("file://"):
        return LocalStore(name, url, unquote(urlparse(url).path))
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if not scheme:
        return LocalStore(name, url, os.path.expanduser(url))
    if scheme == "s3":
        from gitmv.remotes.s3 import S3Store

        return S3Store(name, url, settings)
    if scheme in ("lfs+http", "lfs+https"):
        from gitmv.remotes.lfs import LfsStore

        return LfsStore(name, url, settings)
    if scheme in ("http", "https"):
        from gitmv.remotes.http import HttpStore

        return HttpStore(name, url, settings)
    raise RemoteError(
        f"remote {name!r}: unsupported URL {mask_url(url)!r}",
        "use a directory path, file://, s3://bucket/prefix, lfs+https://…/info/lfs or "
        "https://… (see docs/remotes.md)",
    )


def resolve(
    repo: Repo, config: Config, remote: str | None = None, git_remote: str | None = None,
    git_url: str | None = None, push: bool = False,
) -> Store:
    """The store to use: a named gitmv remote, `core.remote`, or the git remote's (its push
    endpoint when `push`, where Git LFS settings give one)."""
    name = remote or config.get("core.remote")
    if name:
        section = config.get(f"remote.{name}")
        if isinstance(section, dict) and section.get("url"):
            check_trusted(config, str(name), section)
            configured = str(section["url"])
            absolute = relative_to(configured, repo.root)
            if absolute != configured and not os.path.isdir(absolute):
                # relative to this clone's root, so a clone elsewhere finds nothing there:
                # say so, and do not start a new store in a directory nobody else reads
                raise RemoteError(
                    f"remote {name!r}: its directory {absolute} does not exist ({configured!r}, "
                    f"relative to the repository root {repo.root})",
                    f"clone next to where the store is, or point this clone at it: "
                    f"`git mvm remote add --local {name} /path/to/store` (mkdir it to start "
                    "a new store there)", store_wide=True)
            return open_store(name, absolute, section)
        if not remote and git_remote is None:
            git_remote = str(name)
        elif remote:
            url = git_remote_url(repo, remote)
            if url is None:
                raise RemoteError(
                    f"no remote named {remote!r}",
                    "`git mvm remote list` shows the configured remotes; add one with "
                    "`git mvm remote add NAME URL`",
                )
            git_remote, git_url = remote, url
    git_remote = git_remote or default_git_remote(repo)
    url = git_url or git_remote_url(repo, git_remote)
    if url is None and repo.bare and os.path.isfile(
            os.path.join(repo.common_dir, "mvm", "objects", "mvm-layout")):
        # a server whose own mvm/objects is its clones' store, in packs (layout 2): read as
        # the store it is (its loose objects its cache reads as they are)
        return _repo_store("origin", repo.common_dir, repo.common_dir)
    if url is None:
        raise RemoteError(
            "no remote to use: no gitmv remote is configured and git has no remote "
            f"{git_remote!r}",
            "add one with `git mvm remote add NAME URL`, or `git remote add origin URL`",
        )
    path = path_of_git_url(url, repo.root)
    if path is not None:
        return _repo_store(git_remote, url, path)
    # an http(s) or ssh git remote: its Git LFS endpoint, as `git lfs` does
    from gitmv.remotes.lfs import store_for_git_remote

    return store_for_git_remote(repo, git_remote, url, upload=push)


def check_trusted(config: Config, name: str, section: dict[str, object]) -> None:
    """Refuse a remote whose secrets, or whose choice of who may see them, come from the
    tracked config."""
    for key in ("url", "endpoint_url"):
        secret = secret_in_url(str(section.get(key, "")))
        if secret and not config.is_local(f"remote.{name}.{key}"):
            raise RemoteError(
                f"remote {name!r}: its {key.replace('_', ' ')} in .mvm/config.toml holds "
                f"{secret}, and that file is committed for everyone to read",
                f"move the remote to your local config (`git mvm remote remove {name}`, then "
                f"`git mvm remote add --local {name} URL`) or leave the credential out and "
                "let `git credential` (or the store's own credentials) supply it; and change "
                "it: it is in the history",
            )
    for key in LOCAL_ONLY_SETTINGS:
        if key in section and not config.is_local(f"remote.{name}.{key}"):
            raise RemoteError(
                f"remote {name!r}: `{key}` is set in the committed .mvm/config.toml; gitmv "
                "takes settings that send credentials, or choose who may receive them, only "
                "from your own config",
                f"if you trust it, set it yourself in .git/mvm/config.toml under "
                f"[remote.{name}] (`{key} = {_toml_literal(section[key])}`), or remove it "
                "from the shared file",
            )
    if "token_env" in section and not config.is_local(f"remote.{name}.url"):
        url = str(section.get("url", ""))
        raise RemoteError(
            f"remote {name!r}: your `token_env` would send the token to the URL that the "
            f"committed .mvm/config.toml names ({mask_url(url)}), which anyone who can commit "
            "may change",
            f"if the token belongs there, set the URL in .git/mvm/config.toml under "
            f"[remote.{name}] as well (`url = {_toml_literal(url)}`); a commit that changes "
            "the shared one then changes nothing for you",
        )


def _toml_literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    import json

    return json.dumps(value) if isinstance(value, str) else str(value)


def _repo_store(name: str, url: str, path: str) -> Store:
    from gitmv.remotes.local import LocalStore

    if not os.path.isdir(path):
        raise RemoteError(f"remote {name!r}: {path} does not exist",
                          "check the remote's URL (`git remote -v`)")
    objects = objects_dir_of_repo(path)
    return LocalStore(name, url, objects, git_dir=os.path.dirname(os.path.dirname(objects)))
