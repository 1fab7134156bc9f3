"""Writing the registry: the checks before a tag, its message (a TOML snapshot), the tag
itself, and pushing it. The message shape is a contract (docs/formats.md, "Registry tags"):
a subject line, a blank line, then a `[gitmv]` TOML table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from gitmv.errors import GitFailed, GitMvmError
from gitmv.objects.pointer import Pointer, pointer_path
from gitmv.registry.read import TAG_RE, Model, Version, check_name, configured_stages
from gitmv.repo import run_git
from gitmv.worktree.diffing import pointers_at
from gitmv.worktree.workspace import Workspace

FORMAT_VERSION = 1


def declared(ws: Workspace, name: str) -> dict[str, Any]:
    """The `[models.NAME]` table of the config, else what GTO's `artifacts.yaml` or
    `dvc.yaml` say of the model (path, type, description); {} when nothing declares it."""
    table = ws.config.get(f"models.{name}")
    if isinstance(table, dict):
        return table
    from gitmv.registry import gtofiles

    return dict(gtofiles.artifacts(ws.repo.root).get(name, {}))


def model_path(ws: Workspace, model: Model, path: str | None) -> str:
    """The artifact path of a model: --path, the config's, else the one its highest
    registered version records."""
    name = model.name
    configured = declared(ws, name).get("path")
    if configured is not None and not isinstance(configured, str):
        raise GitMvmError(f"[models.{name}] path in .mvm/config.toml is {configured!r}, "
                          "not a path", f'write it as a string: path = "models/{name}.pt"')
    for given in (path, configured):
        if given and "://" in given:
            refuse_url(name, given)
    if path:
        rel = ws.to_rel(path)
        if rel.endswith(".mvm"):
            rel = rel[:-4]
        if configured and configured.strip("/") != rel:
            raise GitMvmError(
                f"model {name} is declared with path {configured!r} in .mvm/config.toml, "
                f"not {rel!r}", "drop --path, or fix [models." + name + "] path")
        return rel
    if configured:
        return configured.strip("/")
    latest = model.highest_ever()
    if latest is not None and isinstance(latest.summary.get("path"), str):
        return str(latest.summary["path"])
    raise GitMvmError(
        f"model {name} is not declared and has no registered version to take a path from",
        f"declare it in .mvm/config.toml ([models.{name}] path = \"models/{name}.pt\") or "
        f"name the artifact: `git mvm register {name} --path PATH`",
    )


def refuse_url(name: str, url: str) -> None:
    """A model whose bytes live at a URL (GTO lets an artifact's path be `s3://…`): gitmv
    registers bytes it versions, which a URL's are not (they may change under the tag)."""
    raise GitMvmError(
        f"model {name}: {url} is a URL; gitmv registers bytes it tracks in the repository, "
        "so a version always names the same bytes, and a URL's may change",
        "download it into the repository, `git mvm add` and commit it (the remote store "
        "keeps the bytes), then register; or keep registering that model with gto")


def pointer_at(ws: Workspace, commit: str, path: str, what: str) -> Pointer:
    found = pointers_at(ws, commit, [path]).get(path)
    if found is None:
        raise _no_pointer(what, path, commit)
    return found


def _no_pointer(what: str, path: str, commit: str) -> GitMvmError:
    return GitMvmError(
        f"{what}: {pointer_path(path)} is not in commit {commit[:12]}",
        f"track the model with `git mvm add {path}` and commit the pointer, or name "
        "another commit with --ref",
    )


def version_pointer(ws: Workspace, model: Model, v: Version, what: str) -> tuple[str, Pointer]:
    """(path, pointer) of a registered version at its commit (`version_artifact`); a commit
    without the pointer is refused."""
    path, ptr = version_artifact(ws, model, v, what)
    if ptr is None:
        raise _no_pointer(what, path, v.commit)
    return path, ptr


def version_artifact(ws: Workspace, model: Model, v: Version, what: str
                     ) -> tuple[str, Pointer | None]:
    """(path, pointer) of a registered version at its commit, the one pointer read once. The
    path is the one its snapshot records, else (a version GTO registered) the model's; the
    pointer must hold the oid the snapshot records. None: no gitmv pointer there (GTO's
    version of a file in git or a DVC output: `registry.foreign`)."""
    path = v.summary.get("path")
    if not isinstance(path, str):
        path = model_path(ws, model, None)
    ptr = pointers_at(ws, v.commit, [path]).get(path)
    if ptr is None:
        return path, None
    recorded = v.summary.get("oid")
    if isinstance(recorded, str) and recorded != ptr.oid_str:
        raise GitMvmError(
            f"{what}: tag {v.tag} records {recorded} but {pointer_path(path)} at "
            f"{v.commit[:12]} says {ptr.oid_str}",
            "the tag or the commit was rewritten; ask who registered it")
    return path, ptr


def check_clean(ws: Workspace, path: str, ptr: Pointer) -> None:
    """Refuse when the work tree's model differs from the pointer being registered."""
    try:
        current = ws.read_pointer(path)
    except GitMvmError:
        current = None
    if current is None or (current.kind, current.oid) != (ptr.kind, ptr.oid):
        raise GitMvmError(
            f"{path}: the pointer in the work tree differs from the one at the commit",
            "commit the pointer first (`git add "
            f"{pointer_path(path)} && git commit`), or register another commit with --ref",
        )
    sels = [s for s in ws.select([ws.repo.abs(path)]) if s.artifact.path == path]
    for sel in sels:
        state = ws.status(sel)
        if state.state == "outdated":  # another cached version: the pointer's is one command away
            raise GitMvmError(f"{path} is outdated in the work tree ({state.detail})",
                              f"run `git mvm checkout {path}`, then register")
        if state.state in ("modified", "missing"):
            detail = f" ({state.detail})" if state.detail else ""
            raise GitMvmError(
                f"{path} is {state.state} in the work tree{detail}: the model is dirty",
                f"save it (`git mvm add {path}` and commit) or restore it "
                f"(`git mvm checkout --force {path}`), then register",
            )


def check_cached(ws: Workspace, path: str, ptr: Pointer, commit: str | None) -> None:
    """Refuse when the objects of the pointer (at `commit`; None: HEAD) are not cached."""
    if not ws.in_cache(ptr, thorough=True):
        where = "" if commit is None else f" with commit {commit[:12]} checked out"
        raise GitMvmError(
            f"{path}: the objects of {ptr.oid_str} are not in the cache",
            f"fetch them (`git mvm fetch {path}`{where}) or add the model from the machine "
            "that made it, then register",
        )


def identity(ws: Workspace, after: float = 0.0) -> tuple[str, str]:
    """The tagger git will write: ("Name <email>", ISO 8601 date).

    The date is git's (it honours GIT_COMMITTER_DATE), with the clock's microseconds when
    it is the current second: the registry orders events of one second by it. It is never
    in or before the second `after` (the model's last event): GTO orders a model's events
    by the tagger's seconds alone, so two events in one second could read differently in
    gto; the tag then carries the next second (`create_tag` writes the snapshot's date).
    """
    ident = ws.repo.git("var", "GIT_COMMITTER_IDENT").decode().strip()
    who, _, when = ident.rpartition(">")
    stamp, _, tz = when.strip().partition(" ")
    clock = datetime.now(UTC)
    try:
        seconds = int(stamp)
        offset = int(tz[:3]) * 3600 + (-1 if tz.startswith("-") else 1) * int(tz[3:5]) * 60
    except ValueError:
        return who + ">", clock.isoformat(timespec="microseconds")
    zone = timezone(timedelta(seconds=offset))
    if seconds <= int(after):
        return who + ">", datetime.fromtimestamp(int(after) + 1, zone).isoformat()
    if seconds == int(clock.timestamp()):
        return who + ">", clock.astimezone(zone).isoformat(timespec="microseconds")
    return who + ">", datetime.fromtimestamp(seconds, zone).isoformat()


def last_event_time(model: Model) -> float:
    """The tagger time (seconds) of the model's last event; 0 for a new model."""
    return max((e.order[0] for e in model.events), default=0.0)


def artifact_fields(path: str, ptr: Pointer) -> dict[str, Any]:
    out: dict[str, Any] = {"path": path, "kind": ptr.kind, "oid": ptr.oid_str, "size": ptr.size}
    if ptr.kind == "dir":
        out["files"] = ptr.files or 0
    return out


def _lineage(ws: Workspace, commit: str, decl: dict[str, Any]) -> dict[str, Any]:
    data = decl.get("data") or []
    if isinstance(data, str):
        data = [data]
    at = pointers_at(ws, commit)
    out: dict[str, Any] = {}
    for item in data:
        rel = str(item).strip("/")
        ptr = at.get(rel)
        if ptr is None:
            from gitmv import ui

            ui.warn(f"data {rel!r} of the model is not tracked at {commit[:12]}; not in lineage")
            continue
        entry = artifact_fields(rel, ptr)
        del entry["path"]
        out[rel] = entry
    return out


def register_snapshot(
    ws: Workspace, model: str, version: str, commit: str, path: str, ptr: Pointer,
    include_env: bool, values: dict[str, dict[str, dict[str, Any]]], after: float = 0.0,
) -> dict[str, Any]:
    """The TOML table a registration tag carries. `values` holds the params and metrics
    recorded for the version (`{"params": {file: {key: value}}, "metrics": …}`), read by the
    caller (the review reads them; the registry does not depend on it)."""
    decl = declared(ws, model)
    author, date = identity(ws, after)
    table: dict[str, Any] = {"format": FORMAT_VERSION, "event": "register", "model": model,
                             "version": version, **artifact_fields(path, ptr),
                             "commit": commit, "author": author, "date": date}
    if isinstance(decl.get("description"), str):
        table["description"] = decl["description"]
    table["params"] = values.get("params", {})
    table["metrics"] = values.get("metrics", {})
    table["data"] = _lineage(ws, commit, decl)
    if include_env:
        from gitmv.registry import envinfo

        table["env"] = envinfo.collect()
    return table


def event_snapshot(ws: Workspace, event: str, model: str, commit: str, after: float = 0.0,
                   **fields: Any) -> dict[str, Any]:
    """The table of a deregister/assign/unassign/deprecate tag (dated after `after`)."""
    table: dict[str, Any] = {"format": FORMAT_VERSION, "event": event, "model": model}
    table.update({k: v for k, v in fields.items() if v is not None})
    author, date = identity(ws, after)
    table.update(commit=commit, author=author, date=date)
    return table


def message(subject: str, table: dict[str, Any]) -> str:
    import tomlkit

    subject = " ".join(subject.split()) or f"{table['event']} {table['model']}"
    return f"{subject}\n\n{tomlkit.dumps({'gitmv': table})}"


def _git_date(iso: str) -> str | None:
    """An ISO 8601 date as GIT_COMMITTER_DATE takes it ("SECONDS +HHMM")."""
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return None
    offset = when.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{int(when.timestamp())} {sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def create_tag(ws: Workspace, name: str, commit: str, text: str, sign: bool = False,
               date: str | None = None) -> None:
    """`git tag -a` (or -s); its tagger date is `date` (the snapshot's) when given."""
    taken = GitMvmError(
        f"tag {name} already exists",
        "another registry command ran at the same time; check `git mvm show`, then run the "
        "command again (it takes the next counter)",
    )
    exists = ws.repo.git("rev-parse", "-q", "--verify", f"refs/tags/{name}", check=False)
    if exists.strip():
        raise taken
    try:
        stamp = _git_date(date) if date else None
        # the date reaches git as GIT_COMMITTER_DATE, beside the variables locating the repo
        env = {**(ws.repo.locate or {}), **({"GIT_COMMITTER_DATE": stamp} if stamp else {})}
        run_git(["tag", "-s" if sign else "-a", "--cleanup=verbatim", "-F", "-", name, commit],
                cwd=ws.repo.root, input=text.encode(), locate=env)
    except GitFailed as exc:
        if "already exists" in exc.stderr:
            raise taken from None
        raise GitMvmError(f"cannot create tag {name}: {exc.detail}",
                          "check `git tag` works here (for --sign: user.signingkey, gpg)"
                          ) from None


def push_tag(ws: Workspace, name: str, remote: str | None, pointers: list[Pointer],
             objects_required: bool = True) -> str:
    """Push the version's objects, then the tag. A rejected tag (somebody pushed a tag of
    that name first) is deleted locally, so fetching theirs works, and the error says how
    to retry. Without `objects_required` (a promotion by somebody who never had the bytes)
    objects that cannot be sent are a warning. Returns the git remote used."""
    from gitmv.remotes import base as remotes
    from gitmv.transfer.sync import push_pointers

    git_remote = remote or remotes.default_git_remote(ws.repo)
    later = f"push it later with `git push {git_remote} refs/tags/{name}`"
    if remotes.git_remote_url(ws.repo, git_remote) is None:
        raise GitMvmError(f"no git remote {git_remote!r} to push tag {name} to",
                          f"the tag is kept locally; add the remote (`git remote add "
                          f"{git_remote} URL`), then {later}")
    if pointers:
        store = remotes.resolve(ws.repo, ws.config, git_remote=git_remote, push=True)
        try:
            push_pointers(ws, store, pointers, ws.jobs)
        except GitMvmError as exc:
            from gitmv import ui

            if objects_required:
                raise GitMvmError(
                    exc.message, f"the tag {name} is kept locally and was not pushed; once "
                    f"`git mvm push` sends the objects, {later}") from None
            ui.warn(f"the version's objects could not be pushed ({exc.message.splitlines()[0]}"
                    "); `git mvm get` elsewhere needs whoever registered it to push them")
    try:
        ws.repo.git("push", "-q", git_remote, f"refs/tags/{name}:refs/tags/{name}")
    except GitFailed as exc:
        # git's word for a tag name the remote holds already; "[remote rejected]" (a hook
        # said no) and the rest are other failures, after which the tag stays
        if "(already exists)" not in exc.stderr:
            lines = [line.strip() for line in exc.stderr.splitlines() if line.strip()]
            detail = next((line for line in lines if line.startswith("!")), exc.detail)
            raise GitMvmError(f"pushing tag {name} to {git_remote} failed: {detail}",
                              f"the tag is kept locally; {later}") from None
        ws.repo.git("tag", "-d", name, check=False)
        parsed = TAG_RE.fullmatch(name)
        if parsed and parsed["stage"]:
            again = "then run the same command again: it will take the next counter"
        elif parsed and parsed["version"] and not parsed["dereg"]:
            again = ("then register yours as the next version (`git mvm register` without a "
                     "VERSION picks it)")
        else:  # a deregistration or deprecation: theirs did what yours would have
            again = "nothing more is needed (their tag does what yours would have)"
        raise GitMvmError(
            f"{git_remote} already has a tag {name}: somebody else changed the registry "
            f"at the same time, and their tag was pushed first (your tag {name} was deleted "
            "locally; nothing was changed on the remote)",
            f"fetch their tags (`git fetch {git_remote} --tags`), check `git mvm show`, {again}",
        ) from None
    return git_remote


def valid_stage(ws: Workspace, stage: str) -> None:
    check_name(stage, "stage")
    allowed = allowed_stages(ws)
    if stage not in allowed:
        raise GitMvmError(
            f"unknown stage {stage!r}: the stages are {', '.join(allowed)}",
            "add it to registry.stages in .mvm/config.toml (or `stages:` in .gto) to allow it",
        )


def allowed_stages(ws: Workspace) -> list[str]:
    """registry.stages (default dev, staging, production), then those `.gto` declares."""
    from gitmv.registry import gtofiles

    out = configured_stages(ws.config)
    return out + [s for s in gtofiles.stages(ws.repo.root) if s not in out]


def protected_stages(ws: Workspace) -> list[str]:
    value = ws.config.get("registry.protected", [])
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise GitMvmError(f"registry.protected in .mvm/config.toml is {value!r}, not a list "
                          "of stages", 'write it as a list: protected = ["production"]')
    return [str(s) for s in value]
