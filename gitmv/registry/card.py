"""Model cards: Markdown with Hugging Face YAML front matter, from a registered version.

The facts come from the version's tag snapshot (the `[gitmv]` TOML table of the tag
message): artifact, oid, metrics, params, data lineage, environment. People's prose comes
from an optional tracked `MODEL.card.md` beside the model, read at the version's commit.
Merge rule (docs/formats.md, "Model cards"):

- a section of `MODEL.card.md` whose `## ` heading names a generated section (case and
  spacing ignored, a few aliases) REPLACES that section's placeholder when the section is
  prose only (intended use, ethical considerations, caveats), and EXTENDS it when the
  section holds facts (details, training data, parameters, evaluation): the facts first,
  then the text;
- other `## ` sections follow the generated ones, in the file's order;
- text before the first `## ` heading replaces the config's `description` under the title;
  a leading `# ` heading replaces the title;
- a leading `---` YAML block is front matter: each of its top-level keys replaces the
  generated key of that name, other keys are added.

The YAML is written here (no YAML library at run time): strings are quoted unless plainly
safe, floats always carry a `.` so YAML 1.1 parsers (PyYAML) read them as numbers too.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from gitmv.config import Config
    from gitmv.repo import Repo


class VersionLike(Protocol):
    """What a card needs of a registered version (gitmv.registry.read.Version has it)."""

    @property
    def model(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def commit(self) -> str: ...
    @property
    def tag(self) -> str: ...
    @property
    def tagger(self) -> str: ...
    @property
    def date(self) -> Any: ...
    @property
    def snapshot(self) -> Mapping[str, Any]: ...


FACTS, PROSE = "facts", "prose"
# (heading, kind): the generated sections, in order, after Mitchell et al. (2019).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("Model details", FACTS),
    ("Intended use", PROSE),
    ("Training data", FACTS),
    ("Training parameters", FACTS),
    ("Evaluation", FACTS),
    ("Ethical considerations", PROSE),
    ("Caveats and recommendations", PROSE),
)
ALIASES = {
    "details": "Model details",
    "intended uses": "Intended use",
    "uses": "Intended use",
    "data": "Training data",
    "parameters": "Training parameters",
    "hyperparameters": "Training parameters",
    "params": "Training parameters",
    "metrics": "Evaluation",
    "evaluation results": "Evaluation",
    "caveats": "Caveats and recommendations",
    "limitations": "Caveats and recommendations",
}
CARD_SUFFIX = ".card.md"


def card_path(model: str, model_path: str) -> str:
    """`models/classifier.pt` of model `classifier` -> `models/classifier.card.md`."""
    directory = model_path.rstrip("/").rpartition("/")[0]
    return f"{directory}/{model}{CARD_SUFFIX}" if directory else f"{model}{CARD_SUFFIX}"


# --- the free-text file ----------------------------------------------------------------------
class CardText(NamedTuple):
    front_matter: str  # the YAML between the leading `---` lines, without them
    title: str
    intro: str
    sections: list[tuple[str, str]]  # (heading as written, body)


def _canonical(heading: str) -> str | None:
    key = " ".join(heading.split()).lower()
    for name, _kind in SECTIONS:
        if key == name.lower():
            return name
    return ALIASES.get(key)


def parse_card_text(text: str) -> CardText:
    """Split a MODEL.card.md into front matter, title, intro and `## ` sections.

    Headings inside fenced code blocks are text, not section breaks.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    front = ""
    if lines and lines[0].strip() == "---":
        for i in range(1, len(lines)):
            if lines[i].strip() in ("---", "..."):
                front = "\n".join(lines[1:i])
                lines = lines[i + 1 :]
                break
    title = ""
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is not None and lines[first].startswith("# "):
        title = lines[first][2:].strip()
        lines = lines[first + 1 :]
    intro: list[str] = []
    sections: list[tuple[str, list[str]]] = []
    fence = ""
    for line in lines:
        stripped = line.lstrip()
        if fence:
            if stripped.startswith(fence):
                fence = ""
        elif stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
        elif line.startswith("## "):
            sections.append((line[3:].strip().rstrip("#").strip(), []))
            continue
        (sections[-1][1] if sections else intro).append(line)
    return CardText(front, title, "\n".join(intro).strip(),
                    [(h, "\n".join(body).strip()) for h, body in sections])


# --- YAML front matter ------------------------------------------------------------------------
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./+-]*")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        if "e" in text:
            mantissa, _, exponent = text.partition("e")
            if "." not in mantissa:
                mantissa += ".0"
            if exponent[0] not in "+-":
                exponent = "+" + exponent
            text = f"{mantissa}e{exponent}"
        return text
    text = str(value)
    if _PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text)  # a JSON string is a valid YAML double-quoted scalar


def yaml_block(value: Any, indent: int = 0) -> list[str]:
    """Block-style YAML lines for dicts and lists of scalars, dicts and lists."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            k = yaml_scalar(str(key))
            if isinstance(item, Mapping | list) and item:
                lines.append(f"{pad}{k}:")
                lines += yaml_block(item, indent + (0 if isinstance(item, list) else 2))
            else:
                lines.append(f"{pad}{k}: {_empty_or_scalar(item)}")
    else:
        for item in value:
            if isinstance(item, Mapping | list) and item:
                sub = yaml_block(item, indent + 2)
                lines.append(f"{pad}- {sub[0].lstrip()}")
                lines += sub[1:]
            else:
                lines.append(f"{pad}- {_empty_or_scalar(item)}")
    return lines


def _empty_or_scalar(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return yaml_scalar(value)


def _top_level_blocks(front: str) -> list[tuple[str, str]]:
    """(key, block text) of each top-level key of a YAML mapping written in block style."""
    blocks: list[tuple[str, list[str]]] = []
    for line in front.split("\n"):
        if line and not line[0].isspace() and not line.startswith(("#", "-")) and ":" in line:
            blocks.append((line.split(":", 1)[0].strip().strip("'\""), [line]))
        elif blocks:
            blocks[-1][1].append(line)
    return [(k, "\n".join(v).rstrip()) for k, v in blocks]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def front_matter(model: str, snapshot: Mapping[str, Any], declared: Mapping[str, Any],
                 user_front: str) -> str:
    metrics: Mapping[str, Mapping[str, Any]] = snapshot.get("metrics") or {}
    data: Mapping[str, Any] = snapshot.get("data") or {}
    meta: dict[str, Any] = {}
    if declared.get("license"):
        meta["license"] = str(declared["license"])
    if declared.get("library_name"):
        meta["library_name"] = str(declared["library_name"])
    raw_tags = declared.get("tags") or []
    tags = [raw_tags] if isinstance(raw_tags, str) else [str(t) for t in raw_tags]
    meta["tags"] = ["gitmv", *(t for t in tags if t != "gitmv")]
    if declared.get("base_model"):
        meta["base_model"] = declared["base_model"]
    datasets = declared.get("datasets")
    if isinstance(datasets, list) and datasets:
        meta["datasets"] = [str(d) for d in datasets]
    elif data:
        meta["datasets"] = list(data)
    task = _task(declared)
    if task:
        meta["pipeline_tag"] = task["type"]
    results_metrics = []
    several = len(metrics) > 1
    for file, values in metrics.items():
        for key, value in values.items():
            if _is_number(value):
                entry: dict[str, Any] = {"type": key, "value": value}
                entry["name"] = f"{key} ({file})" if several else key
                results_metrics.append(entry)
    dataset = _eval_dataset(declared)
    blocks = [(key, "\n".join(yaml_block({key: value}))) for key, value in meta.items()]
    if results_metrics and task and dataset:
        result = {"task": task, "dataset": dataset, "metrics": results_metrics}
        index = [{"name": model, "results": [result]}]
        blocks.append(("model-index", "\n".join(yaml_block({"model-index": index}))))
    elif results_metrics:
        # Hub tools (huggingface_hub's ModelCard) refuse a result without task and dataset.
        blocks.append(("model-index", "# model-index: declare task and eval_dataset in "
                       f"[models.{model}] to list the metrics here"))
    user = dict(_top_level_blocks(user_front))
    merged = [user.pop(k, b) for k, b in blocks] + list(user.values())
    return "---\n" + "\n".join(merged) + "\n---\n"


def _task(declared: Mapping[str, Any]) -> dict[str, str] | None:
    task = declared.get("task")
    if isinstance(task, str) and task:
        return {"type": task}
    if isinstance(task, Mapping) and task.get("type"):
        return {k: str(v) for k, v in task.items() if k in ("type", "name")}
    return None


def _eval_dataset(declared: Mapping[str, Any]) -> dict[str, str] | None:
    ds = declared.get("eval_dataset")
    if isinstance(ds, str) and ds:
        return {"name": ds, "type": ds}
    if isinstance(ds, Mapping) and (ds.get("name") or ds.get("type")):
        out = {k: str(v) for k, v in ds.items() if k in ("type", "name", "config", "split")}
        out.setdefault("type", out.get("name", ""))
        out.setdefault("name", out["type"])
        return out
    return None


# --- Markdown ---------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, list | Mapping):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _code(text: Any) -> str:
    return f"`{text}`" if text not in (None, "") else "not recorded"


def _date(value: Any) -> str:
    iso = getattr(value, "isoformat", None)
    return str(iso() if callable(iso) else value)


def _values_table(values: Mapping[str, Mapping[str, Any]], what: str) -> str:
    if not values:
        return f"No {what} were recorded for this version."
    if len(values) == 1:
        (file, table), = values.items()
        return (f"From `{file}` at the version's commit.\n\n"
                + md_table((what[:-1], "value"), sorted(table.items())))
    rows = [(file, key, value) for file, table in values.items()
            for key, value in sorted(table.items())]
    return md_table(("file", what[:-1], "value"), rows)


def _details(v: VersionLike, snap: Mapping[str, Any], stages: Sequence[str],
             declared: Mapping[str, Any], license: str) -> str:
    kind = snap.get("kind")
    artifact = _code(snap.get("path") or declared.get("path"))
    if kind == "dir":
        artifact += f" (directory of {snap.get('files', '?'):,} files)" if isinstance(
            snap.get("files"), int) else " (directory)"
    elif kind == "file":
        artifact += " (file)"
    size = snap.get("size")
    rows: list[tuple[str, str]] = [
        ("Model", f"`{v.model}`"),
        ("Version", f"`{v.version}`"),
        ("Registered", f"{_date(v.date)} by {v.tagger} (tag `{v.tag}`)"),
        ("Commit", f"`{v.commit}`"),
    ]
    if snap.get("author"):
        rows.append(("Commit author", str(snap["author"])))
    rows += [
        ("Artifact", artifact),
        ("Object id", _code(snap.get("oid"))),
        ("Size", f"{size:,} bytes" if isinstance(size, int) else "not recorded"),
        ("Stages", ", ".join(f"`{s}`" for s in stages) if stages else "none"),
    ]
    if license:
        rows.append(("License", license))
    env = snap.get("env") or {}
    if env:
        system = " ".join(str(p) for p in (env.get("os") or env.get("platform"),
                                             env.get("machine")) if p)
        rows.append(("Environment",
                     f"Python {env.get('python', '?')} ({env.get('implementation', '?')}) on "
                     f"{system or '?'}, gitmv {env.get('gitmv', '?')}"))
    text = md_table(("", ""), rows)
    packages = env.get("packages") or {}
    if packages:
        text += (f"\n\n<details>\n<summary>Installed packages at registration "
                 f"({len(packages)})</summary>\n\n"
                 + md_table(("package", "version"), sorted(packages.items()))
                 + "\n\n</details>")
    return text


def _training_data(snap: Mapping[str, Any]) -> str:
    data: Mapping[str, Mapping[str, Any]] = snap.get("data") or {}
    if not data:
        return ("No data artifacts were recorded for this version (declare them in "
                "`data = [...]` of the model's `[models.NAME]` config).")
    rows = []
    for path, info in data.items():
        size = info.get("size")
        rows.append((f"`{path}`", info.get("kind", ""), _code(info.get("oid")),
                     f"{size:,}" if isinstance(size, int) else "",
                     f"{info['files']:,}" if isinstance(info.get("files"), int) else ""))
    return ("Data artifacts of the version's commit (lineage): the object id names their "
            "exact bytes.\n\n" + md_table(("path", "kind", "oid", "bytes", "files"), rows))


def _license(declared: Mapping[str, Any], user: CardText) -> str:
    """The license the front matter states: MODEL.card.md's front matter wins over config."""
    for key, block in _top_level_blocks(user.front_matter):
        if key == "license":
            return block.split(":", 1)[1].strip().strip("'\"")
    return str(declared.get("license") or "")


def render(v: VersionLike, *, stages: Sequence[str] = (), declared: Mapping[str, Any] | None
           = None, card_text: str | None = None, card_file: str = "") -> str:
    """The whole card. `declared` is the model's `[models.NAME]` config table; `card_text`
    the content of `card_file` (MODEL.card.md) at the version's commit, if any."""
    declared = declared or {}
    snap = v.snapshot or {}
    user = parse_card_text(card_text or "")
    where = f"`{card_file}`" if card_file else f"`{v.model}{CARD_SUFFIX}` beside the model"
    generated = {
        "Model details": _details(v, snap, stages, declared, _license(declared, user)),
        "Training data": _training_data(snap),
        "Training parameters": _values_table(snap.get("params") or {}, "params"),
        "Evaluation": _values_table(snap.get("metrics") or {}, "metrics"),
    }
    user_by_name: dict[str, list[str]] = {}
    extra: list[tuple[str, str]] = []
    for heading, body in user.sections:
        name = _canonical(heading)
        if name is None:
            extra.append((heading, body))
        else:
            user_by_name.setdefault(name, []).append(body)
    out = [front_matter(v.model, snap, declared, user.front_matter),
           f"# {user.title or f'{v.model} {v.version}'}", ""]
    intro = user.intro or str(declared.get("description") or snap.get("description")
                              or "").strip()
    if intro:
        out += [intro, ""]
    for name, kind in SECTIONS:
        texts = [t for t in user_by_name.get(name, []) if t]
        out += [f"## {name}", ""]
        if kind == FACTS:
            out += [generated[name], ""]
            out += [p for t in texts for p in (t, "")]
        elif texts:
            out += [p for t in texts for p in (t, "")]
        else:
            out += [f"_Not written yet: add a `## {name}` section to {where}._", ""]
    for heading, body in extra:
        out += [f"## {heading}", ""] + ([body, ""] if body else [])
    out.append(f"<sub>Generated by `git mvm card {v.model} {v.version}` from tag "
               f"`{v.tag}`.</sub>")
    return "\n".join(out) + "\n"


# --- inputs read from git ---------------------------------------------------------------------
def read_at(repo: Repo, commit: str, paths: Sequence[str]) -> list[bytes | None]:
    """The blobs at `commit:path` for each path (None where absent or not a file), one git call."""
    return repo.read_objects([f"{commit}:{p}" for p in paths])


def build(repo: Repo, config: Config, v: VersionLike, stages: Sequence[str]) -> str:
    """The card of version `v`: `[models.NAME]` and MODEL.card.md as of the version's commit.

    The model's config table comes from `.mvm/config.toml` at that commit (the card describes
    that version), or from the current config when that commit does not declare the model.
    """
    import tomllib

    from gitmv.config import SHARED_CONFIG

    snap = v.snapshot or {}
    config_blob, = read_at(repo, v.commit, [SHARED_CONFIG.replace("\\", "/")])
    declared: Any = None
    if config_blob is not None:
        try:
            models = tomllib.loads(config_blob.decode("utf-8", "replace")).get("models", {})
        except tomllib.TOMLDecodeError:
            models = {}
        declared = models.get(v.model) if isinstance(models, dict) else None
    if not isinstance(declared, Mapping) or not declared:
        declared = config.get(f"models.{v.model}")
    if not isinstance(declared, Mapping):
        declared = {}
    model_path = str(snap.get("path") or declared.get("path") or "")
    card_file = card_path(v.model, model_path) if model_path else ""
    text = None
    if card_file:
        blob, = read_at(repo, v.commit, [card_file])
        text = blob.decode("utf-8", "replace") if blob is not None else None
    return render(v, stages=stages, declared=declared, card_text=text, card_file=card_file)
