"""The model registry, read from annotated git tags named as iterative/gto names them.

    MODEL@vX.Y.Z        register a version        MODEL#STAGE#N     assign STAGE
    MODEL@vX.Y.Z!       deregister it             MODEL#STAGE!#N    unassign STAGE
    MODEL@deprecated    deprecate the model       N = 1 + the highest counter of any tag of MODEL

State comes from the tags whose names contain `@` or `#` (`tags.list_tags`: one
`git for-each-ref` of names and ids, plus a cache of what each tag object says); only
annotated tags count (the tagger and date are the audit trail). A lightweight tag in one of
these forms is kept as a problem for `show` to report; its counter still counts, as it does
for GTO, so the next tag never takes its name. Messages are read lazily: the cache keeps the
few scalar fields ordering needs (version, date, rollback_from), a registration's oid and
metrics; the whole TOML snapshot is parsed only when somebody asks for it. At 10,000 tags of
one model a read costs about what `git for-each-ref` over them does
(scripts/registry_scale.py).

Which version holds a stage follows GTO: a (version, stage) pair is active when its last
assign/unassign event is an assignment; the stage shows, among active pairs of versions that
are not deregistered, the one assigned last. Events are ordered by tagger date (seconds, as
GTO orders them), then by the snapshot's precise date, then by the counter.
"""

from __future__ import annotations

import json
import marshal
import re
import tomllib
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from gitmv.errors import GitMvmError
from gitmv.registry import semver
from gitmv.registry.tags import TagBodies, list_tags
from gitmv.repo import Repo

if TYPE_CHECKING:
    from gitmv.config import Config

# GTO 1.10's names: letters, digits, '-', '_', '/', starting and ending with a letter or
# digit. A model may carry a directory (GTO's monorepo form `dir/path:name`), written `=` in
# tags: `dir/path=name@v1.0.0`.
NAME = r"[A-Za-z0-9](?:[A-Za-z0-9_/-]*[A-Za-z0-9])?"
_DIRNAME = r"[A-Za-z0-9_./-]+"
_NAME_RE = re.compile(NAME)
_MODEL_RE = re.compile(rf"(?:{_DIRNAME}:)?{NAME}")
TAG_RE = re.compile(
    rf"(?P<model>(?:{_DIRNAME}=)?{NAME})(?:"
    rf"@(?P<version>{semver.PATTERN})(?P<dereg>!?)"
    rf"|#(?P<stage>{NAME})(?P<unassign>!?)"
    rf"|@(?P<deprecated>deprecated))"
    rf"(?:#(?P<counter>[0-9]+))?"
)
_SCALAR = re.compile(r'^([a-z_]+) = ("(?:[^"\\]|\\.)*"|true|false|-?[0-9]+)$', re.MULTILINE)

ACTIONS = ("register", "deregister", "assign", "unassign", "deprecate")
DEFAULT_STAGES = ("dev", "staging", "production")


def configured_stages(config: Config) -> list[str]:
    """`registry.stages` of the config, in its order (default dev, staging, production)."""
    stages = config.get("registry.stages")
    return [str(s) for s in stages] if isinstance(stages, list) else list(DEFAULT_STAGES)


def is_valid_name(name: str, what: str = "model") -> bool:
    pattern = _MODEL_RE if what == "model" else _NAME_RE
    return pattern.fullmatch(name) is not None


def check_name(name: str, what: str) -> None:
    if not is_valid_name(name, what):
        where = " (a model may be prefixed by a directory: dir/path:name)" \
            if what == "model" else ""
        raise GitMvmError(
            f"{name!r} is not a valid {what} name",
            "use letters, digits, '-', '_' and '/', starting and ending with a letter or "
            f"digit (the names GTO accepts){where}",
        )


def tag_name(action: str, model: str, version: str | None = None, stage: str | None = None,
             counter: int | None = None) -> str:
    model = model.replace(":", "=")  # GTO writes a model's directory prefix with '='
    if action == "register":
        return f"{model}@{version}"
    if action == "deregister":
        return f"{model}@{version}!"
    if action == "deprecate":
        return f"{model}@deprecated"
    mark = "!" if action == "unassign" else ""
    return f"{model}#{stage}{mark}#{counter}"


def _scalars(body: str) -> dict[str, Any]:
    """The [gitmv] table's scalar keys, without parsing the whole snapshot."""
    head = body.partition("[gitmv]\n")[2].partition("\n[")[0]
    out: dict[str, Any] = {}
    for key, raw in _SCALAR.findall(head):
        try:
            out[key] = json.loads(raw)
        except ValueError:
            continue
    return out


def _with_scalars(ev: Event) -> Event:
    """The event with its [gitmv] scalars read and its order refined by the precise date."""
    fields = _scalars(ev.body)
    precise = fields.get("date")
    fine = _timestamp(precise) if isinstance(precise, str) else ev.order[0]
    return ev._replace(fields=fields, order=(ev.order[0], fine, ev.order[2]))


def _timestamp(iso: str) -> float:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return 0.0


class Event(NamedTuple):
    action: str  # one of ACTIONS
    model: str
    tag: str
    commit: str
    tagger: str  # "Name <email>"
    date: str  # the tagger date, ISO 8601
    order: tuple[float, float, int]
    subject: str
    # the message after its subject as git stored it; None for a tag named with `@` (a
    # registration's message carries its whole environment) until somebody reads `raw`
    text: bytes | None
    # scalar keys of the [gitmv] table: empty for tags gitmv did not write, and for `@` tags
    # unless another event of their model shares their second (Version.summary has them)
    fields: dict[str, Any]
    version: str | None = None
    stage: str | None = None
    counter: int | None = None
    obj: str = ""  # the tag object's id
    bodies: TagBodies | None = None  # where `text` is read from when it is None

    @property
    def raw(self) -> bytes:
        if self.text is not None:
            return self.text
        return self.bodies.get(self.obj) if self.bodies is not None else b""

    @property
    def body(self) -> str:
        return self.raw.decode("utf-8", "replace")

    @property
    def message(self) -> str:
        return self.subject + ("\n\n" + self.body.rstrip("\n") if self.body.strip() else "")


def _without_env(text: str) -> str:
    """The snapshot text without its [gitmv.env…] tables (the bulk: every package)."""
    kept: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        if line.startswith("["):
            skipping = line.startswith("[gitmv.env")
        if not skipping:
            kept.append(line)
    return "".join(kept)


def parse_snapshot(body: str, with_env: bool = True) -> dict[str, Any]:
    """The [gitmv] table of a tag message; {} when the message has none or it is not TOML.
    Without `with_env` the environment tables are skipped (5x faster on a typical tag)."""
    start = body.find("[gitmv]")
    if start < 0:
        return {}
    text = body[start:] if with_env else _without_env(body[start:])
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return {}
    table = doc.get("gitmv")
    return table if isinstance(table, dict) else {}


def parse_tables(body: str, name: str) -> dict[str, Any]:
    """The `[gitmv.NAME…]` tables of a tag message (e.g. the metrics), parsed alone: the
    headers are found by search, so neither the rest of the snapshot nor its environment
    is read. {} when there are none; the whole snapshot's value when the slice is not TOML."""
    head = f"\n[gitmv.{name}"
    start = body.find(head)
    if start < 0:
        return {}
    end = start + 1
    while True:  # past every header of this table and its sub-tables
        nxt = body.find("\n[", end)
        if nxt < 0 or not body.startswith(head, nxt):
            end = len(body) if nxt < 0 else nxt
            break
        end = nxt + 1
    try:
        table = tomllib.loads(body[start + 1:end]).get("gitmv", {}).get(name)
    except tomllib.TOMLDecodeError:
        table = parse_snapshot(body, with_env=False).get(name)
    return table if isinstance(table, dict) else {}


class Version:
    """A registered version of a model (public API: model cards and deployments read it)."""

    def __init__(self, event: Event, parsed: semver.SemVer | None = None) -> None:
        self.model = event.model
        self.version: str = event.version or ""
        self.semver = parsed or semver.SemVer.parse(self.version)
        self.commit = event.commit
        self.tag = event.tag
        self.tagger = event.tagger
        self.date = event.date
        self.event = event
        self.deregistered: Event | None = None
        self.registered = True  # False: a commit in a stage without a version (GTO's --sr)
        self._snapshot: dict[str, Any] | None = None
        self._summary: dict[str, Any] | None = None
        self._key: tuple[object, ...] | None = None

    def sort_key(self) -> tuple[object, ...]:
        """`semver.key()`, computed once (the versions are sorted more than once)."""
        if self._key is None:
            self._key = self.semver.key()
        return self._key

    @property
    def active(self) -> bool:
        return self.deregistered is None

    @property
    def snapshot(self) -> dict[str, Any]:
        """The parsed [gitmv] table of the registration tag ({} for a tag GTO wrote)."""
        if self._snapshot is None:
            self._snapshot = parse_snapshot(self.event.body)
        return self._snapshot

    @property
    def summary(self) -> dict[str, Any]:
        """The snapshot without its environment: what `show` needs, parsed cheaply."""
        if self._snapshot is not None:
            return self._snapshot
        if self._summary is None:
            self._summary = parse_snapshot(self.event.body, with_env=False)
        return self._summary

    @property
    def metrics(self) -> dict[str, Any]:
        """The metrics the snapshot records ({file: {key: value}}), without parsing the rest."""
        found = self.event.fields.get("metrics")
        if found is None:
            found = self.summary.get("metrics") if self._snapshot is not None \
                or self._summary is not None else parse_tables(self.event.body, "metrics")
        return found if isinstance(found, dict) else {}

    def records_oid(self, oid: str) -> bool:
        """Whether the snapshot records these bytes (the tag cache keeps the oid: the
        messages are not read)."""
        if "oid" in self.event.fields:
            return bool(self.event.fields["oid"] == oid)
        return f'"{oid}"'.encode() in self.event.raw and self.summary.get("oid") == oid

    def __repr__(self) -> str:
        return f"Version({self.model}@{self.version}, {self.commit[:7]})"


class Model:
    """Everything the tags say about one model."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.events: list[Event] = []
        self.versions: dict[str, Version] = {}
        self.stages: dict[str, Version] = {}  # stage -> the version in it now
        self.deprecated: Event | None = None
        self.problems: list[str] = []
        self._by_commit: dict[str, list[Version]] | None = None
        self._active: list[Version] | None = None  # once folded, versions do not change
        self.semvers: dict[str, semver.SemVer] = {}  # version -> parsed, from the tag names
        # commits a stage was assigned to with no registered version there (`gto assign
        # --sr`): GTO shows the commit as the version in the stage, and so does gitmv
        self.commits: dict[str, Version] = {}

    def active_versions(self) -> list[Version]:
        """Versions not deregistered, highest semver first."""
        if self._active is None:
            self._active = sorted((v for v in self.versions.values() if v.active),
                                  key=Version.sort_key, reverse=True)
        return list(self._active)

    @property
    def latest(self) -> Version | None:
        found = self.active_versions()
        return found[0] if found else None

    def highest_ever(self) -> Version | None:
        if not self.versions:
            return None
        return max(self.versions.values(), key=Version.sort_key)

    def stage_events(self, stage: str) -> list[Event]:
        return [e for e in self.events if e.stage == stage]

    def last_assigned(self, stage: str) -> Version | None:
        """The version assigned to `stage` last that is not deregistered, in it now or not."""
        for ev in reversed(self.stage_events(stage)):
            if ev.action == "assign" and ev.version in self.versions \
                    and self.versions[ev.version].active:
                return self.versions[ev.version]
        return None

    def rollback_target(self, stage: str) -> Version | None:
        """The version that held `stage` before the current one.

        Walking the stage's assignments from the newest, it skips the current version,
        deregistered versions, and any version a later rollback moved the stage away from
        (so a second rollback keeps going back instead of returning to the bad version).
        """
        current = self.stages.get(stage)
        rejected: set[str] = set()
        for ev in reversed(self.stage_events(stage)):
            if ev.action != "assign" or ev.version is None:
                continue
            back_from = ev.fields.get("rollback_from")
            if (ev.version not in rejected
                    and (current is None or ev.version != current.version)
                    and ev.version in self.versions and self.versions[ev.version].active):
                return self.versions[ev.version]
            if isinstance(back_from, str):
                rejected.add(back_from)
        return None

    # --- folding the events ------------------------------------------------------------------
    def _fold(self, tied: list[Event]) -> None:
        self._untie(tied)
        self.events.sort(key=lambda e: e.order)
        for ev in self.events:
            if ev.action == "register" and ev.version is not None:
                self.versions.setdefault(ev.version, Version(ev, self.semvers.get(ev.version)))
        for ev in self.events:
            if ev.action == "deregister" and ev.version in self.versions:
                self.versions[ev.version].deregistered = ev
        resolved: list[Event] = []
        for ev in self.events:
            if ev.action in ("assign", "unassign"):
                version = self._version_of(ev)
                if version is None:  # GTO's `assign --sr`: a stage on a commit, no version
                    version = ev.commit
                    if version not in self.commits:
                        bare = Version(ev._replace(version=version), semver.SemVer(0, 0, 0))
                        bare.registered = False
                        self.commits[version] = bare
                ev = ev._replace(version=version)
            resolved.append(ev)
        self.events = resolved
        pairs: dict[tuple[str, str], tuple[bool, tuple[float, float, int]]] = {}
        for ev in self.events:
            if ev.action in ("assign", "unassign") and ev.version and ev.stage:
                key = (ev.version, ev.stage)
                if ev.action == "assign":
                    pairs[key] = (True, ev.order)
                elif key in pairs:
                    pairs[key] = (False, pairs[key][1])
        best: dict[str, tuple[tuple[float, float, int], str]] = {}
        for (version, stage), (assigned, when) in pairs.items():
            if not assigned or not self.held(version).active:
                continue
            if stage not in best or when > best[stage][0]:
                best[stage] = (when, version)
        self.stages = {s: self.held(v) for s, (_, v) in sorted(best.items())}
        last = self.events[-1] if self.events else None
        self.deprecated = last if last is not None and last.action == "deprecate" else None

    def tied(self) -> list[Event]:
        """Events without a precise date (registrations are read without their message)
        that share a tagger second with another event of the model: only they need the
        snapshot's precise date to be ordered."""
        imprecise = [ev for ev in self.events if "date" not in ev.fields]
        if not imprecise:
            return []
        seconds = Counter(int(ev.order[0]) for ev in self.events)
        return [ev for ev in imprecise if seconds[int(ev.order[0])] > 1]

    def _untie(self, tied: list[Event]) -> None:
        if tied:
            ids = {id(ev) for ev in tied}
            self.events = [_with_scalars(ev) if id(ev) in ids and b"[gitmv]" in ev.raw
                           else ev for ev in self.events]

    def prefetch(self, versions: list[Version]) -> None:
        """Read the registration messages of these versions in one git call."""
        for v in versions[:1]:
            if v.event.bodies is not None:
                v.event.bodies.prefetch([x.event.obj for x in versions if x.event.text is None])

    def held(self, version: str) -> Version:
        """A version, or a commit a stage was assigned to without one (GTO's --sr)."""
        return self.versions.get(version) or self.commits[version]

    def _version_of(self, ev: Event) -> str | None:
        """The version a stage event names: the snapshot's, else (tags GTO wrote) the version
        registered at that commit, the last one registered before the event when several."""
        named = ev.fields.get("version")
        if isinstance(named, str) and named in self.versions:
            return named
        if self._by_commit is None:
            self._by_commit = {}
            for v in self.versions.values():
                self._by_commit.setdefault(v.commit, []).append(v)
        at_commit = self._by_commit.get(ev.commit, [])
        if not at_commit:
            return None
        before = [v for v in at_commit if v.event.order <= ev.order] or at_commit
        return max(before, key=lambda v: (v.event.order, v.sort_key())).version


class Registry:
    """All models of a repository, as the tags say."""

    def __init__(self, models: dict[str, Model], errors: list[str], warnings: list[str],
                 counters: dict[str, int]) -> None:
        self.models = models
        self.errors = errors  # tags in registry form that are annotated but not of commits
        self.warnings = warnings  # events that could not be placed
        self.counters = counters  # model -> the highest counter of any tag in its name

    def model(self, name: str) -> Model:
        found = self.models.get(name)
        if found is None:
            raise GitMvmError(
                f"no model {name!r} in the registry",
                "`git mvm show` lists the registered models; `git mvm register` adds one "
                "(fetch the tags first with `git fetch --tags` if a teammate registered it)",
            )
        return found

    def get(self, name: str) -> Model:
        """The model, or an empty one (for a model about to get its first version)."""
        return self.models.get(name) or Model(name)

    def next_counter(self, name: str) -> int:
        return self.counters.get(name, 0) + 1

    def resolve(self, spec: str) -> Version:
        """`MODEL@vX.Y.Z`, `MODEL#STAGE` or `MODEL@latest` -> the version it names."""
        model, sep, rest = _split_spec(spec)
        m = self.model(model)
        if sep == "#":
            held = m.stages.get(rest)
            if held is None:
                raise GitMvmError(
                    f"no version of {model} is in stage {rest!r}",
                    f"`git mvm show {model}` lists its stages; "
                    f"`git mvm promote {model} VERSION {rest}` assigns one",
                )
            return held
        if rest in ("latest", "greatest"):
            latest = m.latest
            if latest is None:
                raise GitMvmError(f"{model} has no registered version",
                                  f"register one with `git mvm register {model}`")
            return latest
        version = m.versions.get(rest)
        if version is None:
            known = ", ".join(v.version for v in m.active_versions()[:5]) or "none"
            raise GitMvmError(f"{model} has no version {rest} (latest versions: {known})",
                              f"`git mvm show {model}` lists them")
        if not version.active:
            raise GitMvmError(f"{model}@{rest} was deregistered",
                              f"`git mvm history {model}` shows when and why")
        return version


def _split_spec(spec: str) -> tuple[str, str, str]:
    for sep in ("@", "#"):
        model, found, rest = spec.partition(sep)
        if found and model and rest:
            if sep == "#":
                check_name(rest, "stage")
            elif rest not in ("latest", "greatest") and not semver.SemVer.is_valid(rest):
                stage = f" (a stage is named with '#': {model}#{rest})" \
                    if is_valid_name(rest, "stage") else ""
                raise GitMvmError(f"{rest!r} is not a semantic version",
                                  f"write vMAJOR.MINOR.PATCH (e.g. v1.2.0) or latest{stage}")
            check_name(model, "model")
            return model, sep, rest
    raise GitMvmError(
        f"{spec!r} names no version",
        "write MODEL@vX.Y.Z, MODEL@latest or MODEL#STAGE (e.g. classifier#production)",
    )


def read_tags(repo: Repo) -> Registry:
    """The registry from the tags named like registry tags (`tags.list_tags`: one
    `git for-each-ref`, a cache of what each tag object holds, registrations' messages read
    when needed)."""
    bodies = TagBodies(repo)
    # `*` stops at a slash in these patterns; `**/` spans any directories (also none)
    found = list_tags(repo, ("refs/tags/**/*@*", "refs/tags/**/*#*"), bodies, _digest)
    models: dict[str, Model] = {}
    problems: list[str] = []
    lightweight: list[str] = []
    counters: dict[str, int] = {}
    for tag in found:  # 10,000 tags: every lookup in this loop counts
        name = tag.name
        m = TAG_RE.fullmatch(name)
        if m is None:
            continue
        named, version, dereg, stage, unassign, deprecated, count = m.group(
            "model", "version", "dereg", "stage", "unassign", "deprecated", "counter")
        model = named.replace("=", ":") if "=" in named else named
        counter = int(count) if count else None
        if counter is not None:  # of any tag in this form, annotated or not (GTO's rule)
            counters[model] = max(counters.get(model, 0), counter)
        if tag.otype != "tag":  # gto ignores it too: a warning, not an error
            lightweight.append(
                f"tag {name} is a lightweight tag, ignored: the registry reads annotated "
                f"tags only (recreate it with `git tag -a -f {name} {name}^{{}}`)")
            continue
        if tag.target_type != "commit":
            problems.append(f"tag {name} points to a {tag.target_type or 'missing object'}, "
                            "not a commit; ignored")
            continue
        ts = float(tag.ts)
        if deprecated:
            action, version, stage = "deprecate", None, None
        elif stage:
            action = "unassign" if unassign else "assign"
            version = None
        else:
            action = "deregister" if dereg else "register"
        kept = tag.digest
        if type(kept) is tuple and len(kept) == 4:  # a registration's (_digest)
            date, oid, metrics, fine = kept
            fields: dict[str, Any] = {}
            if date is not None:
                fields["date"] = date
            if oid is not None:
                fields["oid"] = oid
            if metrics is not None:
                fields["metrics"] = metrics
            if fine is None:
                fine = ts
        else:
            fields = kept if isinstance(kept, dict) else {}
            precise = fields.get("date")
            fine = _timestamp(precise) if isinstance(precise, str) else ts
        ev = Event(action, model, name, tag.target, tag.tagger, tag.date,
                   (ts, fine, counter or 0), tag.subject, None, fields, version, stage,
                   counter, tag.obj, bodies)
        folded = models.get(model)
        if folded is None:
            folded = models[model] = Model(model)
        folded.events.append(ev)
        if action == "register" and version is not None:  # parsed once, by TAG_RE
            folded.semvers[version] = semver.SemVer.from_match(m)
    tied = {name: model.tied() for name, model in models.items()}
    bodies.prefetch([ev.obj for evs in tied.values() for ev in evs])
    warnings: list[str] = sorted(lightweight)
    for model in models.values():
        model._fold(tied[model.name])
        warnings.extend(model.problems)
    return Registry(dict(sorted(models.items())), problems, warnings, counters)


def _digest(name: str, body: bytes) -> dict[str, Any] | tuple[Any, ...] | None:
    """What the tag cache keeps of a message: a stage tag's [gitmv] scalars (its version,
    precise date, rollback_from: what ordering and `history` read), a registration's precise
    date and oid (ordering, register's "these bytes are registered" check); nothing of the
    others (their messages are read when needed)."""
    m = TAG_RE.fullmatch(name)
    if m is None or m["deprecated"] or m["dereg"]:
        return None
    text = body.decode("utf-8", "replace")
    fields = _scalars(text) if "[gitmv]" in text else {}
    if m["stage"] is None:  # a flat tuple: the cache loads 10,000 of them
        date = fields.get("date")
        metrics: dict[str, Any] | None = parse_tables(text, "metrics")  # `show MODEL` lists
        try:  # them all; kept as marshal keeps values (a TOML date it cannot: read on demand)
            marshal.dumps(metrics)
        except ValueError:
            metrics = None
        return (date, fields.get("oid"), metrics,
                _timestamp(date) if isinstance(date, str) else None)
    return fields


def load(ws_or_repo: Any) -> Registry:
    """The registry of a Workspace or a Repo."""
    repo = ws_or_repo.repo if hasattr(ws_or_repo, "repo") else ws_or_repo
    return read_tags(repo)
