"""Params and metrics in tracked TOML, JSON or YAML files (by the file's suffix: `.json`,
`.yaml` / `.yml` through PyYAML, the `yaml` extra; anything else TOML): read them at any
revision, diff them, gate on them.

Values are read from git objects (`ls-tree` + `cat-file --batch`), never by checking out, or
from the work tree. Nested tables flatten to dotted keys (`eval.test.f1`), arrays to indexed
keys (`losses[0]`, `runs[1].f1`). Nothing here prints: problems (a file missing at a revision,
unparseable, holding nan/inf) are collected in `Values.problems` for the command to show.
The gates (`[gates]` rules of `git mvm check`) live in `gitmv.review.gates`, which builds on
this module (never the other way round).
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from gitmv.errors import GitMvmError

if TYPE_CHECKING:
    from gitmv.worktree.workspace import Workspace

Scalar = int | float | str | bool
KINDS = ("metrics", "params")
DIRECTIONS = ("higher", "lower")
WORK_TREE = "the work tree"
MISSING = "missing"
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # TOML integers are 64-bit


class Problem(NamedTuple):
    """Why (part of) a file's values could not be read at one revision."""

    file: str
    rev: str  # the revision as the user named it, or "the work tree"
    message: str
    key: str | None = None  # the one value left out (non-finite); None: the whole file

    def __str__(self) -> str:
        return f"{self.file} at {self.rev}: {self.message}"


class Values(NamedTuple):
    """{file: {dotted key: value}} of one kind at one revision, and what could not be read."""

    files: dict[str, dict[str, Scalar]]
    problems: list[Problem]
    rev: str  # label: the revision as given, or "the work tree"

    def flat(self) -> dict[tuple[str, str], Scalar]:
        return {(f, k): v for f, keys in self.files.items() for k, v in keys.items()}

    def unreadable(self, file: str, key: str) -> Problem | None:
        """What kept `key` of `file` from being read here: the file is not valid TOML, or the
        value is not a finite number. None when it was read, or when the file is missing (a
        missing file's keys are simply absent: added or removed in a diff)."""
        for p in self.problems:
            if p.file == file and p.message != MISSING and p.key in (None, key):
                return p
        return None


def rev_label(rev: str | None) -> str:
    return WORK_TREE if rev is None else rev


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- key flattening ------------------------------------------------------------------------

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def key_segment(name: str) -> str:
    """A table key as it appears in a dotted key: bare when TOML allows, else a TOML basic
    string (escaped as JSON escapes it, so a newline in a key cannot break a table row)."""
    if _BARE.fullmatch(name):
        return name
    return json.dumps(name, ensure_ascii=False)


def flatten(data: Mapping[str, Any], quote: bool = True) -> dict[str, Any]:
    """Nested tables to `a.b.c`, arrays to `a[0]`; leaves are left as TOML gave them.

    `quote`: a table key that is not a bare TOML key is double-quoted (`eval."f1.macro"`).
    Config tables naming keys (`better`, `gates`) use quote=False, so `"eval.test.f1"` and
    `eval.test.f1` written in the config both name the same dotted key.
    """
    out: dict[str, Any] = {}

    def walk(node: Any, key: str) -> None:
        if isinstance(node, Mapping):
            for name, child in node.items():
                seg = key_segment(str(name)) if quote else str(name)
                walk(child, f"{key}.{seg}" if key else seg)
        elif isinstance(node, list):
            for i, child in enumerate(node):
                walk(child, f"{key}[{i}]")
        else:
            out[key] = node

    walk(data, "")
    return out


def _scalar(value: Any) -> Scalar:
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value)


def file_format(file: str) -> str:
    """How a params or metrics file is read, by its suffix: "JSON", "YAML" or "TOML"."""
    lower = file.lower()
    if lower.endswith(".json"):
        return "JSON"
    if lower.endswith((".yaml", ".yml")):
        return "YAML"
    return "TOML"


def _load_yaml(text: str, file: str) -> Any:
    try:
        import yaml
    except ImportError:
        raise GitMvmError(f"{file}: reading YAML params and metrics needs PyYAML, which is "
                          "not installed", "pip install 'gitmv[yaml]'") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(" ".join(str(exc).split())) from None


def parse_document(data: bytes, file: str) -> Any:
    """The file parsed by its format; ValueError (with the parser's reason) when it is not
    valid, UnicodeDecodeError when it is not UTF-8."""
    text = data.decode("utf-8")
    fmt = file_format(file)
    if fmt == "JSON":
        return json.loads(text)  # (JSONDecodeError is a ValueError)
    if fmt == "YAML":
        return _load_yaml(text, file)
    return tomllib.loads(text)  # (TOMLDecodeError is a ValueError)


def parse_values(data: bytes, file: str, rev: str) -> tuple[dict[str, Scalar], list[Problem]]:
    """One file's flattened values; a non-finite number is left out with a problem."""
    fmt = file_format(file)
    try:
        doc = parse_document(data, file)
    except UnicodeDecodeError:
        return {}, [Problem(file, rev, f"not UTF-8 text: cannot read it as {fmt}")]
    except ValueError as exc:
        return {}, [Problem(file, rev, f"invalid {fmt}: {exc}")]
    if doc is None and fmt == "YAML":
        doc = {}  # an empty YAML file
    if not isinstance(doc, Mapping):
        return {}, [Problem(file, rev, f"not a table of values at the top ({fmt} "
                            f"{type(doc).__name__})")]
    values: dict[str, Scalar] = {}
    problems: list[Problem] = []
    for key, value in flatten(doc).items():
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(Problem(file, rev, f"{key} = {value}: not a finite number; left out",
                                    key))
            continue
        if isinstance(value, int) and not isinstance(value, bool) \
                and not INT_MIN <= value <= INT_MAX:  # tomllib, json and yaml let them by
            problems.append(Problem(file, rev, f"{key}: an integer beyond TOML's 64-bit range; "
                                    "left out", key))
            continue
        values[key] = _scalar(value)
    return values, problems


# --- which files ---------------------------------------------------------------------------


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Git's `:(glob)` rules: `*` and `?` stay inside one path segment, `**/` spans any."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:[^/]+/)*")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == n:
            out.append("/.*")
            i += 3
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body.replace(chr(92), chr(92) * 2)}]")
                i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out))


def is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def configured_files(ws: Workspace, kind: str) -> list[str]:
    """The patterns of `<kind>.files` (a string or a list), normalised to repository paths."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    value = ws.config.get(f"{kind}.files", [])
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(p, str) for p in items):
        raise GitMvmError(
            f".mvm/config.toml: {kind}.files must be a list of paths or globs, not {value!r}",
            f'write it like `files = ["{kind}.toml", "eval/*.toml"]` under [{kind}]',
        )
    return [normalise_pattern(p) for p in items if p.strip()]


def normalise_pattern(pattern: str) -> str:
    """A path or glob from the work-tree root, as git names it (`./a.toml` is `a.toml`)."""
    return pattern.strip().lstrip("/").removeprefix("./")


def _match(patterns: list[str], paths: Iterable[str]) -> tuple[list[str], list[str]]:
    """(matched paths in pattern order, patterns that matched nothing)."""
    available = set(paths)
    matched: list[str] = []
    unmatched: list[str] = []
    for pattern in patterns:
        if is_glob(pattern):
            rx = glob_to_regex(pattern)
            hits = sorted(p for p in available if rx.fullmatch(p))
        else:
            hits = [pattern] if pattern in available else []
        if not hits:
            unmatched.append(pattern)
        matched.extend(h for h in hits if h not in matched)
    return matched, unmatched


def _prefixes(patterns: list[str]) -> list[str] | None:
    """Directories to list that hold every match, or None when only the whole tree will do."""
    out = []
    for pattern in patterns:
        if not is_glob(pattern):
            out.append(pattern)
            continue
        head = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
        if "/" not in head:
            return None
        out.append(head.rsplit("/", 1)[0])
    return out


def _missing(pattern: str, rev: str) -> Problem:
    return Problem(pattern, rev, MISSING)


def values_at(
    ws: Workspace, rev: str | None, kind: str, patterns: list[str] | None = None
) -> Values:
    """The `kind` ("metrics" or "params") values at `rev` (None: the work tree).

    `patterns` overrides the configured `<kind>.files` (a model's own list, say).
    """
    if patterns is None:
        patterns = configured_files(ws, kind)
    else:
        patterns = [normalise_pattern(p) for p in patterns if p.strip()]
    label = rev_label(rev)
    files: dict[str, dict[str, Scalar]] = {}
    problems: list[Problem] = []
    if not patterns:
        return Values(files, problems, label)
    contents: dict[str, bytes] = {}
    if rev is None:
        listed = _work_tree_files(ws, patterns)
        matched, unmatched = _match(patterns, listed)
        for path in matched:
            try:
                with open(ws.repo.abs(path), "rb") as f:
                    contents[path] = f.read()
            except FileNotFoundError:  # a glob's match that git tracks but the tree lost
                continue
            except OSError as exc:
                problems.append(Problem(path, label, f"cannot read: {exc.strerror or exc}"))
    else:
        blobs = _tree_blobs(ws, rev, patterns)
        matched, unmatched = _match(patterns, blobs)
        for path, blob in zip(matched, ws.repo.read_blobs([blobs[p] for p in matched]),
                              strict=True):
            contents[path] = blob
    # A glob names whatever matches (maybe nothing); a plain path names a file that should be.
    problems.extend(_missing(p, label) for p in unmatched if not is_glob(p))
    for path in matched:
        data = contents.get(path)
        if data is None:
            continue
        values, bad = parse_values(data, path, label)
        problems.extend(bad)
        if values or not bad:
            files[path] = values
    return Values(files, problems, label)


def _work_tree_files(ws: Workspace, patterns: list[str]) -> list[str]:
    literal = [p for p in patterns if not is_glob(p)]
    found = [p for p in literal if os.path.isfile(ws.repo.abs(p))]
    if len(literal) < len(patterns):
        out = ws.repo.git("ls-files", "-z", "--cached", "--others", "--exclude-standard")
        found += [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]
    return found


def _tree_blobs(ws: Workspace, rev: str, patterns: list[str]) -> dict[str, str]:
    prefixes = _prefixes(patterns)
    return ws.repo.tree_blobs(rev, sorted(set(prefixes)) if prefixes is not None else ())


# --- directions ----------------------------------------------------------------------------

_INDEX = re.compile(r"\[\d+\]")


def key_candidates(key: str) -> list[str]:
    """Names a config rule may use for `key`: the full dotted key, it without array indexes,
    then its last segment (without indexes). The first that a rule names wins."""
    plain = _INDEX.sub("", key)
    last = _split_last(plain)
    out: list[str] = []
    for name in (key, plain, last):
        if name not in out:
            out.append(name)
    return out


def _split_last(key: str) -> str:
    depth_quote = False
    cut = 0
    for i, c in enumerate(key):
        if c == '"' and (i == 0 or key[i - 1] != "\\"):
            depth_quote = not depth_quote
        elif c == "." and not depth_quote:
            cut = i + 1
    return key[cut:]


def directions(ws: Workspace) -> dict[str, str]:
    """`metrics.better` flattened: {dotted key or last name: "higher" | "lower"}."""
    raw = ws.config.get("metrics.better", {})
    if not isinstance(raw, dict):
        raise GitMvmError(
            f".mvm/config.toml: metrics.better must be a table, not {raw!r}",
            'write it like `better = { accuracy = "higher", loss = "lower" }` under [metrics]',
        )
    out: dict[str, str] = {}
    for key, value in flatten(raw, quote=False).items():
        if value not in DIRECTIONS:
            raise GitMvmError(
                f".mvm/config.toml: metrics.better.{key} = {value!r}: not a direction",
                'use "higher" (bigger is better) or "lower" (smaller is better)',
            )
        out[key] = str(value)
    return out


def direction_of(key: str, better: Mapping[str, str]) -> str | None:
    for name in key_candidates(key):
        if name in better:
            return better[name]
    return None


# --- diffs ---------------------------------------------------------------------------------


def keys_by_file(flats: Iterable[Mapping[tuple[str, str], object]]) -> list[tuple[str, str]]:
    """Every (file, key) of the flattened sides: files in the order they first appear, each
    file's keys together, in the order they first appear."""
    keys = list(dict.fromkeys(fk for flat in flats for fk in flat))
    rank = {f: i for i, f in enumerate(dict.fromkeys(f for f, _ in keys))}
    return sorted(keys, key=lambda fk: rank[fk[0]])


class Row(NamedTuple):
    """One key of one file, old side against new side."""

    file: str
    key: str
    old: Scalar | None  # None: absent on that side
    new: Scalar | None
    change: float | int | None  # new - old, numbers only (None past the float range)
    rel_change: float | None  # change / |old| * 100 when finite (so None for old = 0)
    direction: str | None  # "higher" | "lower" from metrics.better
    status: str  # "added" "removed" "improved" "regressed" "changed" "unchanged"

    @property
    def changed(self) -> bool:
        return self.status != "unchanged"

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file, "key": self.key, "old": self.old, "new": self.new,
            "change": self.change, "rel_change": self.rel_change,
            "direction": self.direction, "status": self.status,
        }


def clean_float(x: float | int) -> float | int:
    """Drop binary noise from a computed number (0.92 - 0.9 = 0.020000000000000018 → 0.02)."""
    if isinstance(x, int):
        return x
    return float(f"{x:.12g}")


def compare(file: str, key: str, old: Scalar | None, new: Scalar | None,
            direction: str | None) -> Row:
    change: float | int | None = None
    rel: float | None = None
    if old is None:
        status = "added"
    elif new is None:
        status = "removed"
    elif is_number(old) and is_number(new):
        assert isinstance(old, int | float) and isinstance(new, int | float)
        # Near the float limits a difference or ratio overflows to inf: no number then (JSON
        # has no inf), the status still says which way it went.
        delta = new - old
        if math.isfinite(delta):
            change = clean_float(delta)
            ratio = delta / abs(old) * 100 if old != 0 else math.inf
            rel = clean_float(ratio) if math.isfinite(ratio) else None
        if new == old:
            status = "unchanged"
        elif direction is None:
            status = "changed"
        else:
            status = "improved" if (new > old) == (direction == "higher") else "regressed"
    else:
        same = type(old) is type(new) and old == new
        status = "unchanged" if same else "changed"
    return Row(file, key, old, new, change, rel, direction, status)


def diff_values(old: Values, new: Values, better: Mapping[str, str] | None = None,
                include_unchanged: bool = False) -> list[Row]:
    """Rows in file order (old's first), keys in file order; unchanged rows only if asked.

    A value that one side could not read (its file is not valid TOML there, or it is not a
    finite number) gets no row: it is not removed or added, and the problem says why."""
    better = better or {}
    a, b = old.flat(), new.flat()
    order = [fk for fk in keys_by_file([a, b])
             if old.unreadable(*fk) is None and new.unreadable(*fk) is None]
    rows = []
    for file, key in order:
        row = compare(file, key, a.get((file, key)), b.get((file, key)),
                      direction_of(key, better))
        if include_unchanged or row.changed:
            rows.append(row)
    return rows


def diff_at(ws: Workspace, kind: str, a: str | None, b: str | None,
            include_unchanged: bool = False) -> tuple[list[Row], list[Problem]]:
    """Rows of `kind` between revisions `a` and `b` (None: the work tree), and problems."""
    old = values_at(ws, a, kind)
    new = values_at(ws, b, kind)
    better = directions(ws) if kind == "metrics" else {}
    return diff_values(old, new, better, include_unchanged), old.problems + new.problems


def fmt_percent(x: float, sign: bool = False) -> str:
    """A relative change for people: two decimals, or two significant digits when that would
    round a change that is not zero to 0.00% (`+0.0033%`)."""
    spec = "+" if sign else ""
    if x == 0:
        return "0.00%"
    if abs(x) < 0.005:
        return f"{x:{spec}.2g}%"
    return f"{x:{spec}.2f}%"


def fmt_number(x: Scalar | None, precision: int = 6) -> str:
    """A value for people: ints as they are, floats to `precision` significant digits."""
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        text = f"{x:.{precision}g}"
        return text if any(c in text for c in ".en") else text + ".0"
    return str(x)



def snapshot_at(ws: Workspace, commit: str, declared: Mapping[str, Any]
                ) -> dict[str, dict[str, dict[str, Any]]]:
    """The params and metrics a registration records: `{kind: {file: {key: value}}}` from the
    files a model declares (`params = …`, `metrics = …` under `[models.NAME]`), else the
    configured ones; problems are warned about, not fatal (a version may have no metrics)."""
    from gitmv import ui

    out: dict[str, dict[str, dict[str, Any]]] = {}
    for kind in ("params", "metrics"):  # the order the snapshot lists them in
        patterns = declared.get(kind)
        if isinstance(patterns, str):
            patterns = [patterns]
        values = values_at(ws, commit, kind, list(patterns) if patterns else None)
        for problem in values.problems:
            ui.warn(str(problem))
        out[kind] = {f: dict(keys) for f, keys in values.files.items()}
    return out
