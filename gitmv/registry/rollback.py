"""Rollback: which version a rollback puts back in a stage (`plan_rollback`, the one rule the
real rollback and its drill share), and the drill (`rollback_drill`): that version's bytes on
the store, downloaded and hashed (or the store's own checksum), and the stage's gates on it,
with nothing written: no tag, nothing in the work tree.

The gates are the review's (`gitmv.review.gates`), which the registry may not import: the
caller hands them in as `GateCheck` (`gitmv.commands.promote.drill_gates` is the CLI's).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from gitmv.errors import GitMvmError
from gitmv.registry import read as registry
from gitmv.registry import write as rw
from gitmv.registry.read import Model, Registry, Version
from gitmv.worktree.workspace import Workspace

# (the version a rollback puts back) -> the failed gates, one line each ("accuracy >= 0.9:
# 0.85 is below"), [] when all pass; None when the config has no gates
GateCheck = Callable[[Version], "list[str] | None"]


class RollbackPlan(NamedTuple):
    """What `git mvm rollback` would do: assign `target` to `stage` (tag `tags[0]` on its
    commit), then unassign `current` (tag `tags[1]`)."""

    model: Model
    stage: str
    current: Version
    target: Version
    tags: tuple[str, str]


def open_model(ws: Workspace, reg: Registry, model: str, stage: str,
               used_ok: bool = False) -> Model:
    """The model, refused as promote, rollback and unassign refuse it. The stage must be
    configured, or (`used_ok`: a rollback or unassign, which only undo) one the model's tags
    already use (GTO's `prod`)."""
    registry.check_name(model, "model")
    m = reg.model(model)
    if not (used_ok and m.stage_events(stage)):
        rw.valid_stage(ws, stage)
    if m.deprecated is not None:
        raise GitMvmError(
            f"model {model} is deprecated ({m.deprecated.tag}); its stages are frozen",
            f"register a new version to revive it (`git mvm register {model}`)",
        )
    return m


def plan_rollback(ws: Workspace, reg: Registry, model: str, stage: str,
                  to: str | None = None) -> RollbackPlan:
    """The version a rollback of `stage` puts back (`to`, or the one that held it before the
    current one), refused as the real rollback refuses it."""
    m = open_model(ws, reg, model, stage, used_ok=True)
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
    counter = reg.next_counter(m.name)
    tags = (registry.tag_name("assign", m.name, stage=stage, counter=counter),
            registry.tag_name("unassign", m.name, stage=stage, counter=counter + 1))
    return RollbackPlan(m, stage, current, target, tags)


class StoreProblem(NamedTuple):
    """An object of the rollback target that the store does not hold as it should."""

    oid: str  # hex sha256
    kind: str  # "missing", "wrong size" (cut short or grown), "corrupt", "unreadable",
    #            "pointer" (no pointer at the version's commit: nothing to fetch)
    detail: str  # what is wrong, in words
    path: str  # the artifact (or the file inside a directory artifact) that needs it

    def __str__(self) -> str:
        if self.kind == "pointer":
            return self.detail
        what = "missing from" if self.kind == "missing" else f"{self.kind} on"
        return f"{self.path}: object sha256:{self.oid} is {what} the store ({self.detail})"


class RollbackDrill(NamedTuple):
    """What `git mvm rollback MODEL STAGE --dry-run` found. `ok`: the real rollback would
    succeed and put bytes in the stage that are on the store, verified, and pass its gates."""

    model: str
    stage: str
    current: str  # the version in the stage now
    target: str  # the version the rollback would put back
    commit: str  # the target's commit: where the rollback's tag would point
    tags: tuple[str, ...]  # the tags the rollback would write (assign, then unassign)
    path: str  # the target's artifact
    oid: str  # its object (a directory's: its manifest), hex sha256 ("" when unknown)
    store: str  # the store checked
    checked: int  # objects checked on it (a directory: its manifest and every file)
    problems: tuple[StoreProblem, ...]  # objects not on the store as they should be
    gates: str  # "passed", "failed", "none" (no gates configured or handed in), "unprotected"
    #            (the stage is not protected: none run, as promote runs none)
    failed_gates: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems and self.gates != "failed"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = self._asdict()
        out["tags"] = list(self.tags)
        out["problems"] = [p._asdict() for p in self.problems]
        out["failed_gates"] = list(self.failed_gates)
        out["ok"] = self.ok
        return out


def rollback_drill(ws: Workspace, model: str, stage: str, to: str | None = None,
                   remote: str | None = None, gates: GateCheck | None = None,
                   jobs: int | None = None) -> RollbackDrill:
    """Rehearse `git mvm rollback MODEL STAGE [--to VERSION]`: the version it would put back
    (refused as the rollback refuses), every object of that version on the store (`remote`:
    the git remote whose store, as `--push` picks it; default the configured one) read back
    and hashed, or checked by the store's own checksum, and, for a protected stage, `gates`
    on it. Writes no tag; the cache may gain the target's manifest (to know its files)."""
    from gitmv.remotes import base as remotes
    from gitmv.transfer.audit import Named, check_store

    reg = registry.load(ws)
    plan = plan_rollback(ws, reg, model, stage, to)
    target = plan.target
    problems: list[StoreProblem] = []
    path, oid, checked, where = "", "", 0, ""
    try:
        path, ptr = rw.version_pointer(ws, plan.model, target,
                                       f"cannot read {model} {target.version}")
    except GitMvmError as exc:
        problems.append(StoreProblem("", "pointer", exc.message, path))
    else:
        oid = ptr.oid
        store = remotes.resolve(ws.repo, ws.config, git_remote=remote)
        where = store.name
        checked, found = check_store(ws, store, [Named(ptr, path, (target.commit,))],
                                     verify=True, jobs=jobs or ws.jobs)
        problems += [StoreProblem(p.oid, p.kind, p.detail, p.where[0] if p.where else path)
                     for p in found]
    outcome, failed = "unprotected", []
    if stage in rw.protected_stages(ws):
        result = gates(target) if gates is not None else None
        outcome = "none" if result is None else "failed" if result else "passed"
        failed = result or []
    return RollbackDrill(model, stage, plan.current.version, target.version, target.commit,
                         plan.tags, path, oid, where, checked, tuple(problems), outcome,
                         tuple(failed))
