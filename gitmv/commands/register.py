"""register and deprecate: versions enter and leave the registry."""

from __future__ import annotations

from gitmv import ui
from gitmv.errors import GitMvmError, UsageError
from gitmv.registry import read as registry
from gitmv.registry import write as rw
from gitmv.registry.semver import SemVer
from gitmv.worktree.workspace import Workspace


def _choose_version(model: registry.Model, version: str | None, bump: str | None) -> str:
    if version and bump:
        raise UsageError(f"give a VERSION or --bump-{bump}, not both")
    if version:
        chosen = SemVer.parse(version)
    else:
        # never a version taken before, but a deregistered pre-release is no base: after
        # v1.2.0 and a withdrawn v2.0.0-rc.1 the next patch is v1.2.1, not v2.0.0
        taken = [v for v in model.versions.values() if v.active or not v.semver.pre]
        base = max(taken, key=registry.Version.sort_key) if taken else None
        if base is None:
            chosen = {"major": SemVer(1, 0, 0), "minor": SemVer(0, 1, 0)}.get(
                bump or "patch", SemVer(0, 0, 1))
        else:
            chosen = base.semver.bump(bump or "patch")
    text = str(chosen)
    old = model.versions.get(text)
    if old is not None:
        state = "registered" if old.active else "registered and later deregistered"
        raise GitMvmError(
            f"{model.name}@{text} already exists ({state}, on commit {old.commit[:12]})",
            "a version is never reused: register the next one (e.g. --bump-patch)",
        )
    latest = model.latest
    if latest is not None and chosen.precedence() <= latest.semver.precedence():
        raise GitMvmError(
            f"{text} does not come after {model.name}'s latest version {latest.version}",
            f"versions only go forward: use a version above {latest.version} "
            "(or --bump-major/--bump-minor/--bump-patch)",
        )
    return text


def run(
    model: str, version: str | None, bump: str | None, ref: str | None, path: str | None,
    message: str | None, sign: bool, env: bool, push: bool, remote: str | None,
) -> int:
    ws = Workspace.open()
    registry.check_name(model, "model")
    reg = registry.load(ws)
    m = reg.get(model)
    rel = rw.model_path(ws, m, path)
    commit = ws.repo.resolve(ref or "HEAD")
    ptr = rw.pointer_at(ws, commit, rel, f"cannot register {model}")
    at_head = commit == ws.repo.resolve("HEAD")
    if at_head:
        rw.check_clean(ws, rel, ptr)
    rw.check_cached(ws, rel, ptr, None if at_head else commit)
    text = _choose_version(m, version, bump)
    if m.deprecated is not None:
        ui.warn(f"model {model} was deprecated ({m.deprecated.tag}): this registration revives "
                "it (GTO's rule: any later event does)")
    on_commit = [v.version for v in m.active_versions() if v.commit == commit]
    if on_commit:
        ui.warn(f"{model} {', '.join(on_commit)} is registered on this commit too: gitmv keeps "
                "them apart; GTO reads them until a stage is assigned to either (then `gto "
                "show` refuses the registry)")
    else:
        same = [v.version for v in m.active_versions() if v.records_oid(ptr.oid_str)]
        if same:
            ui.warn(f"{model} {', '.join(same)} already has these bytes "
                    f"({ptr.oid_str[:19]}…)")
    from gitmv.review.metrics import snapshot_at

    values = snapshot_at(ws, commit, rw.declared(ws, model))
    table = rw.register_snapshot(ws, model, text, commit, rel, ptr, include_env=env,
                                 values=values, after=rw.last_event_time(m))
    tag = registry.tag_name("register", model, text)
    rw.create_tag(ws, tag, commit, rw.message(message or f"Register {model} {text}", table),
                  sign, table["date"])
    where = rw.push_tag(ws, tag, remote, [ptr]) if push else None
    ui.info(f"registered {model} {text}: tag {tag} on {commit[:12]}"
            + (f", pushed to {where}" if where else ""))
    return 0


def deprecate(
    model: str, version: str | None, message: str | None, sign: bool, push: bool,
    remote: str | None,
) -> int:
    ws = Workspace.open()
    registry.check_name(model, "model")
    reg = registry.load(ws)
    m = reg.model(model)
    if version is not None:
        v = reg.resolve(f"{model}@{version}")
        stages = [s for s, held in m.stages.items() if held.version == v.version]
        table = rw.event_snapshot(ws, "deregister", model, v.commit, rw.last_event_time(m),
                                  version=v.version, path=v.summary.get("path"))
        tag = registry.tag_name("deregister", model, v.version)
        rw.create_tag(ws, tag, v.commit,
                      rw.message(message or f"Deregister {model} {v.version}", table), sign,
                      table["date"])
        done = f"deregistered {model} {v.version}: tag {tag}"
        if stages:
            ui.warn(f"{v.version} no longer counts in "
                    f"{'stage' if len(stages) == 1 else 'stages'} {', '.join(stages)}; "
                    f"`git mvm show {model}` shows what holds them now")
        if m.deprecated is not None:
            ui.warn(f"model {model} was deprecated: any later event revives it (GTO's rule), "
                    f"so it is not any more; `git mvm deprecate {model}` deprecates it again")
    else:
        if m.deprecated is not None:
            raise GitMvmError(f"model {model} is already deprecated ({m.deprecated.tag})",
                              f"`git mvm history {model}` shows when and why")
        tag = registry.tag_name("deprecate", model)
        if any(e.tag == tag for e in m.events):  # deprecated before, then revived
            tag = f"{tag}#{reg.next_counter(model)}"
        # on the commit of the model's last event, as GTO does: never a local commit that
        # `--push` would publish with the tag
        commit = m.events[-1].commit
        table = rw.event_snapshot(ws, "deprecate", model, commit, rw.last_event_time(m))
        rw.create_tag(ws, tag, commit, rw.message(message or f"Deprecate {model}", table), sign,
                      table["date"])
        done = f"deprecated {model}: tag {tag}"
    # the line saying it is done only once it is (a rejected push deletes the tag)
    where = rw.push_tag(ws, tag, remote, []) if push else None
    ui.info(done + (f", pushed to {where}" if where else ""))
    return 0
