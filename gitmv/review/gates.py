"""`[gates]` rules of `git mvm check`: metrics at a revision against thresholds and a baseline.

Rule syntax (a string, or a list of strings, per metric key):
    ">= 0.90"  "> 0.9"  "<= 0.3"  "< 0.3"  "== 1"     a threshold on the value
    "no-regression"  "no-regression 1%"  "no-regression 0.002"
                                            not worse than the baseline by more than the
                                            tolerance (relative to |baseline|, or absolute)
    "improves"  "improves 0.5%"  "improves 0.01"
                                            better than the baseline by at least that much
"Worse" and "better" come from `metrics.better`; a no-regression or improves rule for a key
without a direction is malformed. A malformed rule raises UsageError (exit 2) before any value
is read. Boundaries are inclusive, with a 1e-9 relative slack for binary float noise.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from gitmv.errors import GitMvmError, UsageError
from gitmv.review.metrics import (
    Problem,
    Scalar,
    clean_float,
    direction_of,
    directions,
    fmt_number,
    fmt_percent,
    is_number,
    key_candidates,
    values_at,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from gitmv.registry.read import Version
    from gitmv.worktree.workspace import Workspace

COMPARISONS = (">=", "<=", "==", ">", "<")
_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_THRESHOLD = re.compile(rf"\s*(>=|<=|==|>|<)\s*({_NUM})\s*")
_RELATIVE = re.compile(r"\s*(no-regression|improves)(?:\s+((?:\d+(?:\.\d*)?|\.\d+)"
                       r"(?:[eE][+-]?\d+)?)\s*(%)?)?\s*")
SYNTAX_HINT = (
    'a gate is a threshold (">= 0.90", "> 0.9", "<= 0.3", "< 0.3", "== 1"), '
    '"no-regression [TOLERANCE[%]]" or "improves [AMOUNT[%]]"'
)


class Rule(NamedTuple):
    key: str  # dotted key as written in [gates]
    text: str  # the rule as written
    op: str  # one of COMPARISONS, "no-regression", "improves"
    amount: float | int  # threshold, tolerance or required improvement
    relative: bool  # amount is a percentage of |baseline|
    direction: str | None  # "higher" | "lower" for no-regression / improves

    def __str__(self) -> str:
        return f"{self.key} {self.text.strip()}"


class GateResult(NamedTuple):
    rule: str  # "accuracy >= 0.90"
    key: str  # the metric key the rule was applied to
    file: str | None  # the metrics file holding it (None: found nowhere)
    baseline: Scalar | None
    value: Scalar | None
    ok: bool
    reason: str

    def as_json(self) -> dict[str, Any]:
        return self._asdict()


class GateReport(NamedTuple):
    baseline: str  # how the baseline was named: "origin/main" or "merge base of HEAD and …"
    baseline_commit: str | None
    rev: str  # "the work tree" or the revision as given
    results: list[GateResult]
    problems: list[Problem]

    @property
    def passed(self) -> bool:
        return all(r.ok for r in self.results)

    def as_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline, "baseline_commit": self.baseline_commit,
            "rev": self.rev, "passed": self.passed,
            "results": [r.as_json() for r in self.results],
            "problems": [str(p) for p in self.problems],
        }


def _malformed(key: str, text: object, why: str, hint: str = SYNTAX_HINT) -> UsageError:
    return UsageError(f"malformed gate rule gates.{key} = {text!r}: {why}", hint)


def parse_rule(key: str, text: object, better: Mapping[str, str]) -> Rule:
    if not isinstance(text, str):
        raise _malformed(key, text, "not a string")
    m = _THRESHOLD.fullmatch(text)
    if m:
        return Rule(key, text, m.group(1), _number(m.group(2)), False, None)
    m = _RELATIVE.fullmatch(text)
    if not m:
        raise _malformed(key, text, "not a rule gitmv knows")
    op, amount, pct = m.group(1), m.group(2), m.group(3)
    direction = _rule_direction(key, better)
    if direction is None:
        raise _malformed(
            key, text, f"{key} has no direction, so gitmv cannot tell better from worse",
            f'say which way is better in .mvm/config.toml: [metrics] better = {{ {key} = '
            '"higher" }  (or "lower")',
        )
    return Rule(key, text, op, _number(amount or "0"), pct is not None, direction)


def _number(text: str) -> float | int:
    """An int when written as one, so a reason quotes `== 3` back as 3, not 3.0."""
    return int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)


def _rule_direction(key: str, better: Mapping[str, str]) -> str | None:
    direction = direction_of(key, better)
    if direction is not None:
        return direction
    # `[gates] f1 = …` with `better = { "eval.test.f1" = "higher" }`: the same name.
    found = {d for k, d in better.items() if key in key_candidates(k)}
    return found.pop() if len(found) == 1 else None


def parse_rules(ws: Workspace) -> list[Rule]:
    """Every rule of `[gates]`, checked; UsageError (exit 2) names the first malformed one
    (or the malformed `metrics.better` they take their directions from)."""
    raw = ws.config.get("gates", {})
    if not isinstance(raw, dict):
        raise UsageError(f".mvm/config.toml: gates must be a table, not {raw!r}",
                         'write rules under [gates], like `accuracy = ">= 0.90"`')
    try:
        better = directions(ws)
    except GitMvmError as exc:  # the rules' directions: malformed gates config, exit 2 too
        raise UsageError(exc.message, exc.hint) from None
    rules: list[Rule] = []

    def walk(node: dict[str, Any], prefix: str) -> None:
        for name, value in node.items():
            key = f"{prefix}.{name}" if prefix else str(name)
            if isinstance(value, dict):
                walk(value, key)
            elif isinstance(value, list):
                if not value:
                    raise _malformed(key, value, "an empty list of rules")
                rules.extend(parse_rule(key, v, better) for v in value)
            else:
                rules.append(parse_rule(key, value, better))

    walk(raw, "")
    return rules


# --- the baseline --------------------------------------------------------------------------

DEFAULT_BRANCH_REFS = (
    "refs/remotes/origin/HEAD", "refs/remotes/origin/main", "refs/remotes/origin/master",
    "refs/heads/main", "refs/heads/master",
)


def default_baseline(ws: Workspace, rev: str | None = None) -> tuple[str, str]:
    """(description, commit): the merge base of `rev` (None: HEAD, for the work tree) with
    the upstream default branch."""
    repo = ws.repo
    head = rev or "HEAD"
    commit = repo.resolve(head)
    for ref in DEFAULT_BRANCH_REFS:
        out = repo.git("rev-parse", "--verify", "-q", f"{ref}^{{commit}}", check=False).strip()
        if not out:
            continue
        name = ref.removeprefix("refs/remotes/").removeprefix("refs/heads/")
        base = repo.git("merge-base", commit, out.decode(), check=False).strip()
        if not base:
            raise GitMvmError(
                f"no default baseline: {head} and {name} have no common commit",
                "name the baseline: `git mvm check --baseline REV` (a branch, tag or commit)",
            )
        return f"merge base of {head} and {name}", base.decode()
    raise GitMvmError(
        "no default baseline: none of origin/HEAD, origin/main, origin/master, main or master "
        "exists",
        "name the baseline: `git mvm check --baseline REV` (a branch, tag or commit; in CI, "
        "fetch the target branch first, e.g. `git fetch origin main`)",
    )


def resolve_baseline(ws: Workspace, baseline: str | None, rev: str | None = None
                     ) -> tuple[str, str]:
    """(description, commit) of the baseline as the user named it, or the default for the
    metrics of `rev` (None: the work tree)."""
    if baseline is None:
        return default_baseline(ws, rev)
    try:
        return baseline, ws.repo.resolve(baseline)
    except GitMvmError:
        if "@" not in baseline and "#" not in baseline:
            raise
        try:
            return _registry_baseline(ws, baseline)
        except ImportError:  # a gitmv without the model registry
            raise GitMvmError(f"unknown revision {baseline!r}",
                              "name a commit, branch or tag (`git log` lists them)") from None


def _registry_baseline(ws: Workspace, spec: str) -> tuple[str, str]:
    """A registry spec: MODEL@vX.Y.Z, MODEL@latest, MODEL#STAGE or MODEL@STAGE."""
    from gitmv.registry import read as registry
    from gitmv.registry import semver

    model, at, rest = spec.partition("@")  # a model name holds no '@'
    query = spec
    if at and rest not in ("latest", "greatest") and not re.fullmatch(semver.PATTERN, rest):
        query = f"{model}#{rest}"  # `classifier@production`: the stage
    version = registry.load(ws).resolve(query)
    return f"{spec} ({version.model}@{version.version})", version.commit


# --- evaluation ----------------------------------------------------------------------------


def _short(ws: Workspace, commit: str) -> str:
    return ws.repo.git("rev-parse", "--short=12", commit).decode().strip()


def run_gates(ws: Workspace, baseline: str | None, rev: str | None) -> GateReport:
    """Evaluate every `[gates]` rule on the metrics at `rev` (None: the work tree) against
    `baseline` (None: the merge base of `rev`, or HEAD, with the upstream default branch)."""
    rules = parse_rules(ws)
    if not rules:
        return GateReport(baseline or "", None, rev or "the work tree", [], [])
    label, commit = resolve_baseline(ws, baseline, rev)
    base = values_at(ws, _short(ws, commit), "metrics")
    new = values_at(ws, rev, "metrics")
    better = directions(ws)
    base_flat, new_flat = base.flat(), new.flat()
    results: list[GateResult] = []
    for rule in rules:
        matched = match_keys(rule.key, [*new_flat, *base_flat])
        if not matched:
            results.append(GateResult(str(rule), rule.key, None, None, None, False,
                                      f"{rule.key} is in no metrics file at {new.rev} or "
                                      f"{base.rev}"))
            continue
        for file, key in matched:
            direction = direction_of(key, better) or rule.direction
            base_value, value = base_flat.get((file, key)), new_flat.get((file, key))
            unread = new.unreadable(file, key)
            if unread is None and rule.op not in COMPARISONS:
                unread = base.unreadable(file, key)  # the baseline matters to this rule
            if unread is not None:  # a gate that cannot read its value fails
                results.append(GateResult(str(rule), key, file, base_value, value, False,
                                          f"cannot read it: {unread}"))
                continue
            results.append(evaluate(rule._replace(direction=direction), file, key,
                                    base_value, value, new.rev))
    return GateReport(label, commit, new.rev, results, base.problems + new.problems)


def match_keys(rule_key: str, keys: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Keys a rule applies to: those whose full dotted key it names, else those whose key
    without array indexes or whose last segment it names."""
    unique = list(dict.fromkeys(keys))
    exact = [fk for fk in unique if fk[1] == rule_key]
    if exact:
        return exact
    return [fk for fk in unique if rule_key in key_candidates(fk[1])]


def _at_least(x: float, bound: float) -> bool:
    return x >= bound or math.isclose(x, bound, rel_tol=1e-9, abs_tol=1e-12)


def _threshold(op: str, value: float, bound: float) -> bool:
    close = math.isclose(value, bound, rel_tol=1e-9, abs_tol=1e-12)
    if op == ">=":
        return value >= bound or close
    if op == "<=":
        return value <= bound or close
    if op == "==":
        return close
    if op == ">":
        return value > bound and not close
    return value < bound and not close


def evaluate(rule: Rule, file: str, key: str, base: Scalar | None, value: Scalar | None,
             rev: str) -> GateResult:
    def result(ok: bool, reason: str) -> GateResult:
        return GateResult(str(rule), key, file, base, value, ok, reason)

    if value is None:
        return result(False, f"{key} is missing from {file} at {rev}")
    if not is_number(value):
        return result(False, f"{key} = {value!r} is not a number")
    assert isinstance(value, int | float)
    if rule.op in COMPARISONS:
        ok = _threshold(rule.op, value, rule.amount)
        shown = f"{fmt_number(value)} {rule.op} {fmt_number(rule.amount)}"
        return result(ok, shown if ok else f"not {shown}")
    if base is None:
        if rule.op == "no-regression":
            return result(True, "no baseline value: nothing to regress from")
        return result(False, "no baseline value to improve on")
    if not is_number(base):
        return result(False, f"baseline {key} = {base!r} is not a number")
    assert isinstance(base, int | float)
    gain = clean_float(value - base if rule.direction == "higher" else base - value)
    rel = gain / abs(base) * 100 if base != 0 else None
    moved = (f"{'improved' if gain > 0 else 'regressed' if gain < 0 else 'unchanged'}"
             + (f" by {fmt_number(abs(gain))}" if gain else "")
             + (f" ({fmt_percent(abs(rel))})" if gain and rel is not None else ""))
    need = f"{fmt_number(rule.amount)}{'%' if rule.relative else ''}"
    # A percentage of a zero baseline is zero: no-regression then allows no regression, and
    # any improvement on zero is more than any percentage of it.
    if rule.op == "no-regression" and rule.relative and base == 0 and rule.amount and gain < 0:
        return result(False, f"{moved}; a relative tolerance needs a non-zero baseline")
    allowed = abs(base) * rule.amount / 100 if rule.relative else rule.amount
    if rule.op == "no-regression":
        ok = _at_least(gain, -allowed)
        if ok:
            return result(True, moved + (f", within {need}" if gain < 0 else ""))
        return result(False, f"{moved}, more than the {need} allowed")
    if rule.amount == 0:
        ok = gain > 0
        return result(ok, moved if ok else f"{moved}; it must improve")
    ok = _at_least(gain, allowed) and gain > 0
    if ok:
        return result(True, f"{moved}, at least {need}")
    return result(False, f"{moved}; it must improve by at least {need}")


def drill_gates(ws: Workspace) -> Callable[[Version], list[str] | None]:
    """The stage's `[gates]` on the version a rollback puts back, for its drill
    (`registry.rollback.GateCheck`): its thresholds (a relative rule is measured against the
    version itself: the one it would replace is the version being rolled back, no baseline to
    hold it to). None: no gates configured; else the rules it fails."""

    def check(v: Version) -> list[str] | None:
        report = run_gates(ws, v.commit, v.commit)
        if not report.results:
            return None
        return [f"{r.rule}: {r.reason}" for r in report.results if not r.ok]

    return check
