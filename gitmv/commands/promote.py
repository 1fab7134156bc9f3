"""promote (assign), rollback and unassign: which version is in which stage."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gitmv import ui
from gitmv.errors import GitMvmError
from gitmv.registry import read as registry
from gitmv.registry import write as rw
from gitmv.registry.read import Model, Registry, Version
from gitmv.registry.rollback import open_model, plan_rollback, rollback_drill
from gitmv.review.gates import drill_gates
from gitmv.worktree.workspace import Workspace


def _open(model: str, stage: str, used_ok: bool = False) -> tuple[Workspace, Registry, Model]:
    """The workspace, registry and model (refused as `rollback.open_model` refuses)."""
    ws = Workspace.open()
    reg = registry.load(ws)
    return ws, reg, open_model(ws, reg, model, stage, used_ok)


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
            remote: str | None, retire: Version | None = None) -> int:
    """Assign `v` to `stage`; with `retire` (a rollback), then unassign the version rolled
    back from, so that no later change to the stage (a deregistration, an unassignment)
    brings it back, in gitmv as in gto."""
    counter = reg.next_counter(m.name)
    tag = registry.tag_name("assign", m.name, stage=stage, counter=counter)
    table = rw.event_snapshot(ws, "assign", m.name, v.commit, rw.last_event_time(m),
                              version=v.version, stage=stage, **_artifact(v), **extra)
    rw.create_tag(ws, tag, v.commit, rw.message(subject, table), sign, table["date"])
    tags = [tag]
    if retire is not None:
        when = datetime.fromisoformat(table["date"]).timestamp()
        tags.append(_unassign_tag(ws, m, retire, stage, counter + 1, when, sign,
                                  f"Roll back {m.name} in {stage}: {retire.version} leaves it"))
    _warn_two_versions(m, v)
    if push:
        # the version's objects too: pre-push sees no new commit when only a tag is pushed
        _, ptr = rw.version_pointer(ws, m, v, f"cannot push {m.name} {v.version}")
        where = rw.push_tag(ws, tag, remote, [ptr], objects_required=False)
        for more in tags[1:]:
            rw.push_tag(ws, more, remote, [])
    back = f" (rolled back from {extra['rollback_from']})" if "rollback_from" in extra else ""
    ui.info(f"{m.name} {v.version} is now in {stage}{back}: {'tags' if len(tags) > 1 else 'tag'} "
            f"{', '.join(tags)}" + (f", pushed to {where}" if push else ""))
    return 0


def _warn_two_versions(m: Model, v: Version) -> None:
    """GTO reads two versions on one commit until a stage tag lands there: warn then."""
    others = [x.version for x in sorted(
        (x for x in m.versions.values() if x.commit == v.commit and x.active and x is not v),
        key=Version.sort_key, reverse=True)]  # (not every version sorted: 10,000 of them)
    if others:
        ui.warn(f"{m.name} {', '.join(others)} is registered on the commit of {v.version} too: "
                "with a stage tag on it, `gto show` refuses the registry (GTO allows one "
                "version per commit); gitmv reads it")


def _unassign_tag(ws: Workspace, m: Model, current: Version, stage: str, counter: int,
                  after: float, sign: bool, subject: str) -> str:
    tag = registry.tag_name("unassign", m.name, stage=stage, counter=counter)
    table = rw.event_snapshot(ws, "unassign", m.name, current.commit, after,
                              version=current.version, stage=stage, **_artifact(current))
    rw.create_tag(ws, tag, current.commit, rw.message(subject, table), sign, table["date"])
    return tag


def run(model: str, version: str, stage: str, force: bool, message: str | None, sign: bool,
        push: bool, remote: str | None) -> int:
    ws, reg, m = _open(model, stage)
    v = reg.resolve(f"{model}@{version}")
    current = m.stages.get(stage)
    if current is not None and current.version == v.version:
        ui.info(f"{model} {v.version} is already in {stage}; nothing to do")
        return 0
    if force and not (message or "").strip():
        raise GitMvmError("--force needs a reason: -m \"why\" (recorded in the tag, shown by "
                          "`git mvm history`)",
                          f"git mvm promote {model} {version} {stage} --force -m \"…\"")
    extra = _gates(ws, m, v, stage, force)
    if extra.get("forced") and message:
        extra["reason"] = message
    subject = message or f"Promote {model} {v.version} to {stage}"
    return _assign(ws, reg, m, v, stage, subject, extra, sign, push, remote)


def rollback(model: str, stage: str, to: str | None, message: str | None, sign: bool,
             push: bool, remote: str | None, dry_run: bool = False, json: bool = False) -> int:
    if dry_run:
        given = [opt for opt, on in (("-m", message is not None), ("--sign", sign),
                                     ("--push", push)) if on]
        if given:
            from gitmv.errors import UsageError

            raise UsageError(f"--dry-run writes no tag: {', '.join(given)} would do nothing",
                             "drop them for the drill; give them to the real rollback")
        return _drill(model, stage, to, remote, json)
    ws = Workspace.open()
    reg = registry.load(ws)
    plan = plan_rollback(ws, reg, model, stage, to)
    current, target = plan.current, plan.target
    subject = message or f"Roll back {model} in {stage} from {current.version} to " \
        f"{target.version}"
    return _assign(ws, reg, plan.model, target, stage, subject,
                   {"rollback_from": current.version}, sign, push, remote, retire=current)


def _drill(model: str, stage: str, to: str | None, remote: str | None, json: bool) -> int:
    ws = Workspace.open()
    d = rollback_drill(ws, model, stage, to, remote, drill_gates(ws))
    if json:
        from gitmv.commands.output import print_json

        print_json(d.as_json())
    else:
        ui.info(f"rollback drill: {model} in {stage}: {d.current} -> {d.target}")
        ui.info(f"  would write tag {d.tags[0]} on {d.commit[:12]} ({d.target}), then "
                f"{d.tags[1]} ({d.current} leaves {stage})")
        if d.oid:
            state = "verified" if not d.problems else \
                f"{ui.plural(len(d.problems), 'problem')}"
            ui.info(f"  bytes: {d.path} sha256:{d.oid[:12]}, "
                    f"{ui.plural(d.checked, 'object')} on store {d.store!r}: {state}")
        gates = {"passed": "passed", "failed": "FAILED: " + "; ".join(d.failed_gates),
                 "none": "none configured", "unprotected": f"not run ({stage} is not "
                 "protected)"}[d.gates]
        ui.info(f"  gates: {gates}")
    if d.ok:
        if not json:
            ui.info(f"drill passed: `git mvm rollback {model} {stage}"
                    f"{' --to ' + d.target if to else ''}` would put {d.target} back")
        return 0
    for p in d.problems[1:]:
        ui.warn(str(p))
    first = str(d.problems[0]) if d.problems else \
        f"{d.target} fails the gates of {stage}: {'; '.join(d.failed_gates)}"
    hint = ("push the version's bytes from a clone that has them (`git mvm push`), or "
            "repair the store (`git mvm fsck --remote --verify --repair`)" if d.problems
            else f"`git mvm check --rev {d.commit[:12]}` shows the details; roll back "
            "to another version with --to")
    raise GitMvmError(f"rollback drill failed: {first}", hint)


def unassign(model: str, stage: str, message: str | None, sign: bool, push: bool,
             remote: str | None) -> int:
    ws, reg, m = _open(model, stage, used_ok=True)
    current = m.stages.get(stage)
    if current is None:
        raise GitMvmError(f"no version of {model} is in {stage}",
                          f"`git mvm show {model}` lists its stages")
    tag = _unassign_tag(ws, m, current, stage, reg.next_counter(model), rw.last_event_time(m),
                        sign, message or f"Unassign {model} {current.version} from {stage}")
    where = rw.push_tag(ws, tag, remote, []) if push else None
    ui.info(f"{model} {current.version} left {stage}: tag {tag}"
            + (f", pushed to {where}" if where else ""))
    after = registry.load(ws).model(model).stages.get(stage)
    if after is not None:
        ui.info(f"{stage} now shows {after.version} (its earlier assignment still stands)")
    return 0
