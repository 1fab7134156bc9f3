"""show and history: the registry's state and its audit trail."""

from __future__ import annotations

import sys
from typing import Any

from gitmv import ui
from gitmv.commands.output import print_json, table
from gitmv.registry import read as registry
from gitmv.registry.read import Event, Model, Registry, Version
from gitmv.repo import Repo

KEY_METRICS = 3


def _flat_metrics(v: Version) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for keys in v.metrics.values():
        if isinstance(keys, dict):
            for k, value in keys.items():
                out.setdefault(k, value)
    return out


def _key_metrics(v: Version, better: dict[str, Any]) -> dict[str, Any]:
    """The metrics `metrics.better` names, else the first few."""
    flat = _flat_metrics(v)
    chosen = {k: x for k, x in flat.items() if k in better or k.rsplit(".", 1)[-1] in better}
    if chosen or len(flat) <= KEY_METRICS:
        return chosen or flat
    return dict(list(flat.items())[:KEY_METRICS])


def _brief(v: Version, better: dict[str, Any]) -> dict[str, Any]:
    return {"version": v.version, "commit": v.commit, "tag": v.tag, "date": v.date,
            "author": v.tagger, "metrics": _key_metrics(v, better)}


def _fmt_metrics(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{k}={x:.4g}" if isinstance(x, float) else f"{k}={x}"
                     for k, x in metrics.items())


def _short(v: Version) -> str:
    """A version, or (a stage on a commit with no version: GTO's --sr) the commit, short."""
    return v.version if v.registered else v.version[:12]


def _stage_names(reg_models: list[Model], configured: list[str]) -> list[str]:
    seen = list(configured)
    for m in reg_models:
        seen += [s for s in m.stages if s not in seen]
    return [s for s in seen if any(s in m.stages for m in reg_models)] or []


def _report_problems(reg: Registry) -> int:
    for w in reg.warnings:
        sys.stderr.write(f"git mvm: warning: {w}\n")
    for e in reg.errors:
        sys.stderr.write(f"git mvm: error: {e}\n")
    return 1 if reg.errors else 0


def _config(repo: Repo) -> tuple[list[str], dict[str, Any]]:
    from gitmv.config import Config

    cfg = Config.load(repo.root, repo.mvm_dir, repo.tracked_config())
    better = cfg.get("metrics.better", {})
    from gitmv.registry import gtofiles

    stages = registry.configured_stages(cfg)
    stages += [s for s in gtofiles.stages(repo.root) if s not in stages]
    return stages, better if isinstance(better, dict) else {}


def _field(reg: Registry, spec: str, field: str) -> int:
    """`show SPEC --version` (or --name, --ref, --stage), as gto prints it: one value."""
    if "@" not in spec and "#" not in spec:
        spec += "@latest"
    v = reg.resolve(spec)
    m = reg.model(v.model)
    if field == "stage":
        held = [s for s, h in m.stages.items() if h is v]
        sys.stdout.write("".join(f"{s}\n" for s in held))
        return 0
    value = {"name": v.model, "version": v.version, "ref": v.tag}[field]
    sys.stdout.write(value + "\n")
    return 0


def _gto_show(reg: Registry, configured: list[str]) -> dict[str, Any]:
    """`gto show --json`'s shape: {model: {version, stage: {stage: version|null}, registered,
    active}}, every stage used by any model listed for each (deprecated models left out)."""
    models = [m for m in reg.models.values() if m.deprecated is None]
    stages = sorted({s for m in models for s in m.stages})
    return {m.name: {"version": m.latest.version if m.latest else None,
                     "stage": {s: m.stages[s].version if s in m.stages else None
                               for s in stages},
                     "registered": True, "active": True} for m in models}


def run(model: str | None, json: bool, field: str | None = None,
        gto_json: bool = False) -> int:
    repo = Repo.discover(bare_ok=True)
    reg = registry.load(repo)
    if field is not None:
        if model is None:
            from gitmv.errors import UsageError

            raise UsageError(f"--{field} needs a MODEL, MODEL#STAGE or MODEL@VERSION")
        return _field(reg, model, field)
    configured, better = _config(repo)
    if gto_json:
        if model is not None:
            from gitmv.errors import UsageError

            raise UsageError("--gto-json prints gto show's registry shape: without MODEL "
                             "(`show MODEL --json` lists the versions)")
        print_json(_gto_show(reg, configured))
        return 0
    models = [reg.model(model)] if model else list(reg.models.values())
    # the metrics shown: kept in the tag cache; otherwise the messages read in one git call
    shown = list(models[0].versions.values()) if model else \
        [m.latest for m in models if m.latest is not None]
    if shown:
        models[0].prefetch([v for v in shown if "metrics" not in v.event.fields])
    if json:
        out = []
        for m in models:
            item: dict[str, Any] = {
                "model": m.name,
                "deprecated": m.deprecated is not None,
                "latest": _brief(m.latest, better) if m.latest else None,
                "stages": {s: _brief(v, better) for s, v in m.stages.items()},
            }
            if model:
                item["versions"] = [
                    {**_brief(v, better), "active": v.active,
                     "stages": sorted(s for s, h in m.stages.items() if h is v)}
                    for v in sorted(m.versions.values(), key=Version.sort_key,
                                    reverse=True)]
            out.append(item)
        print_json({"models": out, "errors": reg.errors, "warnings": reg.warnings})
        return 1 if reg.errors else 0
    if model:
        m = models[0]
        rows = [["VERSION", "STAGES", "COMMIT", "DATE", "METRICS"]]
        for v in sorted(m.versions.values(), key=Version.sort_key, reverse=True):
            held = ",".join(s for s, h in m.stages.items() if h is v) or "-"
            state = "" if v.active else " (deregistered)"
            rows.append([v.version + state, held, v.commit[:12], v.date.replace("T", " "),
                         _fmt_metrics(_key_metrics(v, better))])
        active = len(m.active_versions())
        gone = len(m.versions) - active
        head = f"{m.name}: {ui.plural(active, 'version')}"
        head += f" (and {gone} deregistered)" if gone else ""
        head += f", latest {m.latest.version}" if m.latest else ""
        if m.deprecated is not None:
            head += f"; deprecated on {m.deprecated.date[:10]}"
        sys.stdout.write(head + "\n" + table(rows))
    elif models:
        stages = _stage_names(models, configured)
        rows = [["MODEL", "LATEST", *[s.upper() for s in stages], "METRICS (LATEST)"]]
        for m in models:
            latest = m.latest
            name = m.name + (" (deprecated)" if m.deprecated is not None else "")
            rows.append([name, latest.version if latest else "-",
                         *[_short(m.stages[s]) if s in m.stages else "-" for s in stages],
                         _fmt_metrics(_key_metrics(latest, better)) if latest else ""])
        sys.stdout.write(table(rows))
    else:
        sys.stdout.write("no models registered yet (`git mvm register MODEL` adds one)\n")
    return _report_problems(reg)


def describe(ev: Event) -> str:
    """One line for an event: what happened."""
    if ev.action == "register":
        return f"registered {ev.version}"
    if ev.action == "deregister":
        return f"deregistered {ev.version}"
    if ev.action == "deprecate":
        return "deprecated the model"
    if ev.action == "unassign":
        return f"removed {ev.version} from {ev.stage}"
    if ev.action == "assign":
        back = ev.fields.get("rollback_from")
        if isinstance(back, str):
            return f"rolled {ev.stage} back from {back} to {ev.version}"
        forced = " (forced past a failed check)" if ev.fields.get("forced") else ""
        return f"promoted {ev.version} to {ev.stage}{forced}"
    return f"ignored ({ev.tag})"


def _event_json(ev: Event) -> dict[str, Any]:
    """Every event has the same keys; those an event does not have are null (forced: false)."""
    item: dict[str, Any] = {"event": ev.action, "tag": ev.tag, "version": ev.version,
                            "stage": ev.stage, "commit": ev.commit, "author": ev.tagger,
                            "date": ev.date, "message": ev.subject}
    for key in ("rollback_from", "reason", "gates", "checked_against"):
        item[key] = ev.fields.get(key)
    item["forced"] = ev.fields.get("forced") is True
    failed = registry.parse_snapshot(ev.body, with_env=False).get("failed_gates") \
        if ev.fields.get("gates") == "failed" else None
    item["failed_gates"] = failed if isinstance(failed, list) else None
    return item


GTO_EVENTS = {"register": "registration", "deregister": "deregistration",
              "assign": "assignment", "unassign": "unassignment", "deprecate": "deprecation"}
GTO_PRIORITY = {"deprecate": 2, "register": 3, "deregister": 4, "assign": 5, "unassign": 6}


def gto_event(ev: Event) -> dict[str, Any]:
    """One event in `gto history --json`'s shape."""
    name, _, email = ev.tagger.rpartition(" <")
    return {"timestamp": ev.date, "artifact": ev.model, "event": GTO_EVENTS[ev.action],
            "priority": GTO_PRIORITY[ev.action], "version": ev.version, "stage": ev.stage,
            "commit": ev.commit, "author": name, "author_email": email.rstrip(">"),
            "message": ev.message, "ref": ev.tag}


def when(ev: Event) -> str:
    """The tagger date as gto prints it: seconds and the offset (`2026-12-06 17:50:41+01:00`)."""
    return ev.date.replace("T", " ")


def history(model: str | None, json: bool, gto_json: bool = False) -> int:
    repo = Repo.discover(bare_ok=True)
    reg = registry.load(repo)
    models = [reg.model(model)] if model else list(reg.models.values())
    events = sorted((e for m in models for e in m.events if e.action != "ignored"),
                    key=lambda e: e.order)
    if gto_json:  # newest first, as gto prints it
        print_json([gto_event(e) for e in reversed(events)])
        return 0
    if json:
        print_json([{**({} if model else {"model": e.model}), **_event_json(e)}
                    for e in events])
        return 0
    rows = [["DATE", *([] if model else ["MODEL"]), "EVENT", "AUTHOR", "COMMIT", "MESSAGE"]]
    for ev in events:
        rows.append([when(ev), *([] if model else [ev.model]), describe(ev), ev.tagger,
                     ev.commit[:12], ev.subject])
    sys.stdout.write(table(rows))
    for m in models:
        for w in m.problems:
            sys.stderr.write(f"git mvm: warning: {w}\n")
    return 0


def check_ref(ref: str, json: bool) -> int:
    """`gto check-ref TAG`: the event a registry tag records (JSON: gto's shape)."""
    repo = Repo.discover(bare_ok=True)
    reg = registry.load(repo)
    name = ref.removeprefix("refs/tags/")
    found = [e for m in reg.models.values() for e in m.events if e.tag == name]
    if not found:
        from gitmv.errors import GitMvmError

        raise GitMvmError(f"{name} is not a registry tag of an annotated tag of a commit",
                          "`git mvm history` lists the registry's tags")
    ev = found[0]
    if json:
        item = gto_event(ev)
        out = {"artifact": ev.model, "created_at": ev.date, "author": item["author"],
               "author_email": item["author_email"], "message": ev.message,
               "commit_hexsha": ev.commit, "tag": ev.tag, "version": ev.version,
               **({"stage": ev.stage} if ev.stage else {}), "event": item["event"]}
        print_json(out)
        return 0
    sys.stdout.write(f"{describe(ev)} ({ev.model}, tag {ev.tag}, commit {ev.commit[:12]})\n")
    return 0
