"""`git mvm fsck [--remote [NAME] [--verify] [--repair]]`."""

from __future__ import annotations

import os
import sys
from typing import Any

from gitmv import ui
from gitmv.commands.output import print_json
from gitmv.errors import UsageError
from gitmv.fsutil import repo_lock
from gitmv.objects.pointer import SUFFIX
from gitmv.ui import human_size
from gitmv.worktree.workspace import Workspace

COMMITS_SHOWN = 3


def run(json: bool, jobs: int | None, remote: str | None = None, verify: bool = False,
        repair: bool = False) -> int:
    from gitmv.transfer import audit
    from gitmv.transfer.engine import clean_store_temps

    if (verify or repair) and remote is None:
        raise UsageError("--verify and --repair check a remote store",
                         "add --remote (the default remote) or --remote NAME")
    ws = Workspace.open(jobs=jobs)
    quarantine = os.path.join(ws.repo.mvm_dir, "quarantine")
    with repo_lock(ws.lock_path):
        ws.cache.make_tmp_dir()
        with ws.cache.packs.merging(wait=True):  # before any index is used
            packs = ws.cache.packs.check(ws.cache.tmp_dir, quarantine)
        oids = list(ws.cache.iter_loose())
        ok = ws.parallel(ws.cache.verify, oids)
        corrupt = [oid for oid, good in zip(oids, ok, strict=True) if not good]
        moved = {oid: ws.cache.quarantine(oid, quarantine) for oid in corrupt}
        moved.update(packs.moved)
        corrupt += list(packs.moved)
        ws.state.forget_complete()  # objects may have gone missing or been moved aside
    named, unreadable = audit.all_pointers(ws)
    sizes = audit.pointer_size_problems(ws, named)
    report: dict[str, Any] = {
        "checked": len(oids) + packs.checked,
        "corrupt": [{"oid": f"sha256:{o}", "moved_to": p} for o, p in moved.items()],
        "packs": {"indexes_rebuilt": [{"pack": p, "why": w} for p, w in packs.rebuilt],
                  "salvaged": [{"pack": p, "why": w} for p, w in packs.salvaged],
                  "indexes_removed": packs.indexes_removed},
        "wrong_size": [{"path": s.path, "oid": f"sha256:{s.oid}", "pointer_size":
                        s.pointer_size, "object_size": s.object_size, "commits":
                        list(s.commits)} for s in sizes],
        "unreadable_pointers": [{"path": u.path, "commits": list(u.commits), "why": u.why}
                                for u in unreadable],
    }
    left: list[tuple[audit.Problem, str]] = []
    if remote is not None:
        from gitmv.remotes import base as remotes

        store = remotes.resolve(ws.repo, ws.config, remote=remote or None, push=repair)
        store_packs = audit.check_packs(ws, store)  # (layout 2: its indexes and packs)
        packs_left = audit.repair_packs(ws, store, store_packs) if repair and store_packs \
            else [(p, "") for p in store_packs]
        checked, problems = audit.check_store(ws, store, named, verify, ws.jobs)
        repaired: list[audit.Problem] = []
        temps = (0, 0)
        if repair and problems:
            repaired, left = audit.repair_store(ws, store, problems, ws.jobs)
        else:
            left = [(p, "") for p in problems]
        if repair:  # what killed uploads left, whether or not anything else was wrong
            temps = clean_store_temps(store)
        fixed = {p.oid for p in repaired}
        why = {p.oid: w for p, w in left}
        report["remote"] = {
            "name": store.name, "checked": checked, "verified": verify,
            "temps_removed": {"removed": temps[0], "bytes": temps[1]},
            "packs": [{"name": p.name, "problem": p.kind, "detail": p.detail,
                       "repaired": repair and not why, **({"not_repaired": why} if why else {})}
                      for p, why in packs_left],
            "problems": [{"oid": f"sha256:{p.oid}", "problem": p.kind, "detail": p.detail,
                          "paths": list(p.where), "commits": list(p.commits),
                          "repaired": p.oid in fixed,
                          **({"not_repaired": why[p.oid]} if why.get(p.oid) else {})}
                         for p in problems],
        }
    if json:
        print_json(report)
    else:
        _print(report, moved, sizes, left, repair)
    damaged = packs.rebuilt or packs.salvaged or packs.indexes_removed
    bad_packs = any(not p["repaired"] for p in report.get("remote", {}).get("packs", ()))
    return 1 if corrupt or sizes or left or unreadable or damaged or bad_packs else 0


def _print(report: dict[str, Any], moved: dict[str, str], sizes: list[Any],
           left: list[tuple[Any, str]], repair: bool) -> None:
    out = sys.stdout.write
    for p in report["packs"]["indexes_rebuilt"]:
        out(f"pack index rebuilt: pack-{p['pack']}.idx ({p['why']}), from its pack\n")
    for p in report["packs"]["salvaged"]:
        out(f"damaged pack: pack-{p['pack']}.pack ({p['why']}): its intact objects were kept "
            "in a new pack, the corrupt ones moved aside\n")
    for p in report["packs"]["indexes_removed"]:
        out(f"pack missing: pack-{p}.idx named it and was removed (its objects are missing)\n")
    for oid, dest in moved.items():
        out(f"corrupt: sha256:{oid} (moved to {dest})\n")
    for s in sizes:
        out(f"wrong size: {s.path} (sha256:{s.oid}): its pointer says {s.pointer_size} bytes, "
            f"the object has {s.object_size}{_commits(s.commits)}\n")
    for u in report["unreadable_pointers"]:
        out(f"unreadable pointer: {u['path']}{SUFFIX}{_commits(u['commits'])}: {u['why']}\n")
    ui.info(f"checked {ui.plural(report['checked'], 'object')}: {len(moved)} corrupt")
    if report["unreadable_pointers"]:
        ui.info("hint: a pointer gitmv cannot read names bytes nothing checks: upgrade gitmv "
                "if a newer one wrote it, else restore the pointer from a commit that has it "
                "right (`git checkout COMMIT -- PATH.mvm`) and commit")
    if moved or report["packs"]["indexes_removed"]:
        ui.info("hint: `git mvm pull` fetches good copies from the remote; "
                "`git mvm add` re-adds artifacts still intact in the work tree")
    if sizes:
        ui.info("hint: a pointer was edited by hand: `git mvm add PATH` writes it again from "
                "the file, or `git checkout` the pointer from a commit that has it right")
    remote = report.get("remote")
    if remote is None:
        return
    for p in remote["packs"]:
        state = " (repaired)" if p["repaired"] else (
            f": not repaired: {p['not_repaired']}" if p.get("not_repaired") else
            ": `git mvm fsck --remote --repair` rebuilds its index from the pack" if not repair
            else "")
        out(f"{p['problem']} on {remote['name']}: {p['name']}: {p['detail']}{state}\n")
    for p in remote["problems"]:
        where = ", ".join(p["paths"]) or "no artifact in the work tree"
        state = " (repaired)" if p["repaired"] else (
            f": not repaired: {p['not_repaired']}" if p.get("not_repaired") else "")
        out(f"{p['problem']} on {remote['name']}: {p['oid']} ({where}"
            f"{_commits(p['commits'])}): {p['detail']}{state}\n")
    problems = remote["problems"]
    repaired = sum(1 for p in problems if p["repaired"])
    ui.info(f"checked {ui.plural(remote['checked'], 'object')} on {remote['name']}"
            f"{' (sizes and sha256)' if remote['verified'] else ' (sizes)'}: "
            f"{len(problems)} wrong" + (f", {repaired} repaired" if repair else ""))
    if remote["temps_removed"]["removed"]:
        ui.info(f"removed {ui.plural(remote['temps_removed']['removed'], 'dead upload temp file')} "
                f"({human_size(remote['temps_removed']['bytes'])}) from {remote['name']}")
    if left and not repair:
        ui.info("hint: `git mvm fsck --remote --repair` puts this clone's copies back on the "
                "store")
    elif left:
        ui.info("hint: the objects not repaired need a clone that has them: run `git mvm fsck "
                "--remote --repair` there (the commits above name the versions they break)")


def _commits(commits: list[str] | tuple[str, ...]) -> str:
    if not commits:
        return ""
    shown = ", ".join(c[:12] for c in commits[:COMMITS_SHOWN])
    more = f" and {len(commits) - COMMITS_SHOWN} more" if len(commits) > COMMITS_SHOWN else ""
    return f" in commit {shown}{more}"
