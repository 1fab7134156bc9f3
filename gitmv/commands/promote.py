"""promote (assign), rollback and unassign: which version is in which stage."""

from __future__ import annotations

from typing import Any

from gitmv import ui
from gitmv.errors import GitMvmError
from gitmv.registry import read as registry
from gitmv.registry import write as rw
from gitmv.registry.read import Model, Registry, Version
from gitmv.worktree.workspace import Workspace


def _open(model: str, stage: str) -> tuple[Workspace, Registry, Model]:
    ws = Workspace.open()
    registry.check_name(model, "model")
    rw.valid_stage(ws, stage)
    reg = registry.load(ws)
    m = reg.model(model)
    if m.deprecated is not None:
        raise GitMvmError(
            f"model {model} is deprecated ({m.deprecated.tag}); its stages are frozen",
            f"register a new version to revive it (`git mvm register {model}`)",
        )
    return ws, reg, m


def _artifact(v: Version) -> dict[str, Any]:
    keys = ("path", "kind", "oid", "size", "files")
    return {k: v.summary[k] for k in keys if k in v.summary}


def _gates(ws: Workspace, m: Model, v: Version, stage: str, force: bool) -> dict[str, Any]:
    """Run the gates of a protected stage: the new version against the one in the stage,
    or, when the stage is empty (unassigned), the one last assigned to it."""
    if stage not in rw.protected_stages(ws):
        return {}
    from gitmv.review.gates import run_gates

    current = m.stages.get(stage)
    baseline = current or m.last_assigned(stage)
    report = run_gates(ws, (baseline or v).commit, v.commit)
    for problem in report.problems:
        ui.warn(str(problem))
    if not report.results:
        ui.warn(f"{stage} is protected but no gates are configured ([gates] in "
                ".mvm/config.toml): nothing is checked")
    if baseline is None:
        against = "(no version in the stage)"
    else:
        against = baseline.version + ("" if current else f" (the last version in {stage})")
    checked = {"checked_against": baseline.version if baseline else ""}
    failed = [r for r in report.results if not r.ok]
    if not failed:
        ui.info(f"check passed: {ui.plural(len(report.results), 'gate')}, {v.version} "
                f"against {against}")
        return {**checked, "gates": "passed"}
    lines = [f"{r.rule}: {r.reason}" for r in failed]
    if not force:
        raise GitMvmError(
            f"{stage} is protected and {m.name} {v.version} fails the check against "
            f"{against}:\n  " + "\n  ".join(lines),
            f"`git mvm check --baseline {(baseline or v).commit[:12]} --rev {v.commit[:12]}` "
            "shows the details; to promote anyway: --force -m \"why\" (recorded in the tag)",
        )
    ui.warn(f"check failed, promoting anyway (--force): {'; '.join(lines)}")
    return {**checked, "gates": "failed", "forced": True, "failed_gates": lines}


def _assign(ws: Workspace, reg: Registry, m: Model, v: Version, stage: str,
            subject: str, extra: dict[str, Any], sign: bool, push: bool,
            remote: str | None) -> int:
    counter = reg.next_counter(m.name)
    tag = registry.tag_name("assign", m.name, stage=stage, counter=counter)
    table = rw.event_snapshot(ws, "assign", m.name, v.commit, rw.last_event_time(m),
                              version=v.version, stage=stage, **_artifact(v), **extra)
    rw.create_tag(ws, tag, v.commit, rw.message(subject, table), sign, table["date"])
    back = f" (rolled back from {extra['rollback_from']})" if "rollback_from" in extra else ""
    ui.info(f"{m.name} {v.version} is now in {stage}{back}: tag {tag}")
    if push:
        # the version's objects too: pre-push sees no new commit when only a tag is pushed
        _, ptr = rw.version_pointer(ws, m, v, f"cannot push {m.name} {v.version}")
        where = rw.push_tag(ws, tag, remote, [ptr], objects_required=False)
        ui.info(f"pushed {tag} to {where}")
    return 0


def run(model: str, version: str, stage: str, force: bool, message: str | None, sign: bool,
        push: bool, remote: str | None) -> int:
    ws, reg, m = _open(model, stage)
    v = reg.resolve(f"{model}@{version}")
    current = m.stages.get(stage)
    if current is not None and current.version == v.version:
        ui.info(f"{model} {v.version} is already in {stage}; nothing to do")
        return 0
    extra = _gates(ws, m, v, stage, force)
    if extra.get("forced") and message:
        extra["reason"] = message
    subject = message or f"Promote {model} {v.version} to {stage}"
    return _assign(ws, reg, m, v, stage, subject, extra, sign, push, remote)


def rollback(model: str, stage: str, to: str | None, message: str | None, sign: bool,
             push: bool, remote: str | None) -> int:
    ws, reg, m = _open(model, stage)
    current = m.stages.get(stage)
    if current is None:
        raise GitMvmError(f"no version of {model} is in {stage}: nothing to roll back",
                          f"`git mvm history {model}` shows the stage's past")
    if to is not None:
        target = reg.resolve(f"{model}@{to}")
        held = any(e.action == "assign" and e.version == target.version
                   for e in m.stage_events(stage))
        if not held and stage in rw.protected_stages(ws):
            raise GitMvmError(
                f"{model} {target.version} never held {stage}, a protected stage: a rollback "
                "only puts back a version that held it, without the check",
                f"promote it, so the check runs: `git mvm promote {model} {target.version} "
                f"{stage}`",
            )
    else:
        found = m.rollback_target(stage)
        if found is None:
            raise GitMvmError(
                f"{stage} has held no other version of {model} to roll back to",
                f"name one: `git mvm rollback {model} {stage} --to VERSION`",
            )
        target = found
    if target.version == current.version:
        raise GitMvmError(f"{model} {target.version} is already in {stage}",
                          f"`git mvm history {model}` shows what held {stage} before")
    subject = message or f"Roll back {model} in {stage} from {current.version} to " \
        f"{target.version}"
    return _assign(ws, reg, m, target, stage, subject, {"rollback_from": current.version},
                   sign, push, remote)


def unassign(model: str, stage: str, message: str | None, sign: bool, push: bool,
             remote: str | None) -> int:
    ws, reg, m = _open(model, stage)
    current = m.stages.get(stage)
    if current is None:
        raise GitMvmError(f"no version of {model} is in {stage}",
                          f"`git mvm show {model}` lists its stages")
    tag = registry.tag_name("unassign", model, stage=stage, counter=reg.next_counter(model))
    table = rw.event_snapshot(ws, "unassign", model, current.commit, rw.last_event_time(m),
                              version=current.version, stage=stage, **_artifact(current))
    rw.create_tag(ws, tag, current.commit,
                  rw.message(message or f"Unassign {model} {current.version} from {stage}",
                             table), sign, table["date"])
    ui.info(f"{model} {current.version} left {stage}: tag {tag}")
    after = registry.load(ws).model(model).stages.get(stage)
    if after is not None:
        ui.info(f"{stage} now shows {after.version} (its earlier assignment still stands)")
    if push:
        where = rw.push_tag(ws, tag, remote, [])
        ui.info(f"pushed {tag} to {where}")
    return 0
