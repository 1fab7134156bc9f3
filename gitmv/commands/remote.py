"""`git mvm remote add/list/remove`: named object stores in .mvm/config.toml (or, with
--local, in the never-committed local config)."""

from __future__ import annotations

import os
import sys

from gitmv.commands.output import print_json, table
from gitmv.config import SHARED_CONFIG, Config
from gitmv.errors import GitMvmError, UsageError
from gitmv.fsutil import atomic_write
from gitmv.remotes import base as remotes
from gitmv.remotes.urls import mask_url, secret_in_url
from gitmv.repo import Repo


def _config_path(repo: Repo, local: bool) -> str:
    return os.path.join(repo.mvm_dir, "config.toml") if local else os.path.join(
        repo.root, SHARED_CONFIG)


def _load_doc(path: str):  # type: ignore[no-untyped-def]
    import tomlkit

    try:
        with open(path, encoding="utf-8") as f:
            return tomlkit.parse(f.read())
    except FileNotFoundError:
        return tomlkit.document()


def run(action: str, name: str | None, url: str | None, local: bool, default: bool,
        json: bool, endpoint_url: str | None = None, region: str | None = None,
        profile: str | None = None, packs: bool | None = None) -> int:
    import tomlkit

    repo = Repo.discover()
    if action == "list":
        cfg = Config.load(repo.root, repo.mvm_dir)
        section = cfg.get("remote", {}) or {}
        items = [{"name": n, "url": mask_url(str(v.get("url", ""))),
                  "default": cfg.get("core.remote") == n}
                 for n, v in sorted(section.items()) if isinstance(v, dict)]
        if json:
            print_json(items)
        elif items:
            sys.stdout.write(table([(("* " if i["default"] else "  ") + i["name"], i["url"])
                                    for i in items]))
        return 0
    if not name:
        raise UsageError(f"`git mvm remote {action}` needs a NAME")
    path = _config_path(repo, local)
    doc = _load_doc(path)
    if action == "add":
        if not url:
            raise UsageError("`git mvm remote add` needs NAME and URL")
        s3_settings = {k: v for k, v in (("endpoint_url", endpoint_url), ("region", region),
                                          ("profile", profile)) if v}
        if s3_settings and not url.lower().startswith("s3://"):
            raise UsageError("--endpoint-url, --region and --profile are for s3:// remotes")
        for what, value in (("URL", url), ("endpoint URL", endpoint_url or "")):
            secret = secret_in_url(value)
            if secret and not local:
                raise GitMvmError(
                    f"remote {name!r}: the {what} holds {secret}, and {SHARED_CONFIG} is "
                    "committed for everyone who clones the repository to read",
                    f"keep it to yourself with `git mvm remote add --local {name} …`, or leave "
                    "the credential out: gitmv asks `git credential` (your credential helper) "
                    "for it, and an S3 store reads the AWS credentials of your environment",
                )
        # refuses an unsupported URL now, not at push time
        store = remotes.open_store(name, url, dict(s3_settings))
        if packs is not None and url.lower().startswith("lfs+"):
            flag = "--packs" if packs else "--no-packs"
            raise UsageError(f"{flag} is for directory, S3 and WebDAV stores: a Git LFS "
                             "server takes whole objects")
        if packs and not store.can_list:
            raise UsageError("--packs needs a store that lists its files: set "
                             f"`webdav = true` in [remote.{name}] for a WebDAV server")
        section = doc.setdefault("remote", tomlkit.table(is_super_table=True))
        if name in section:
            raise GitMvmError(f"remote {name!r} already exists in {path}",
                              f"remove it first: git mvm remote remove {name}")
        entry = tomlkit.table()
        entry["url"] = url
        for key, value in s3_settings.items():
            entry[key] = value
        if packs is not None:  # (none: the default, packs where the store can list)
            entry["packs"] = packs
        section[name] = entry
        if default:
            doc.setdefault("core", tomlkit.table())["remote"] = name
    elif action == "remove":
        section = doc.get("remote")
        if not section or name not in section:
            raise GitMvmError(f"no remote {name!r} in {path}",
                              "`git mvm remote list` shows the configured remotes")
        del section[name]
        core = doc.get("core")
        if core is not None and core.get("remote") == name:
            del core["remote"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write(path, tomlkit.dumps(doc).encode())
    if not local:
        repo.stage([SHARED_CONFIG])
    return 0
