"""`git mvm card`: model cards from registry tags, on real repositories with real tags.

The tags are written here as `git tag -a -F` would from the agreed message format (a subject,
a blank line, a `[gitmv]` TOML table), so these tests pin the card to that format rather
than to how `register` happens to build it; one test goes through `git mvm register` too.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import tomlkit
import yaml

from gitmv.registry import card
from tests.helpers import (
    error_lines,
    git,
    make_dataset,
    mvm,
    read_pointer,
    rev,
    run,
    write,
)

ENV = {"python": "3.11.7", "implementation": "CPython", "platform": "Linux-6.1-x86_64",
       "machine": "x86_64", "os": "Debian GNU/Linux 12 (bookworm)", "gitmv": "0.1.0",
       "packages": {"numpy": "2.1.0", "torch": "2.5.1"}}


def snapshot(repo: Path, model: str, version: str, path: str, data: list[str],
             metrics: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The `[gitmv]` table register writes, from the pointers of HEAD."""
    ptr = read_pointer(repo, path)
    snap: dict[str, Any] = {
        "format": 1, "event": "register", "model": model, "version": version, "path": path,
        "kind": ptr["kind"], "oid": ptr["oid"], "size": ptr["size"],
    }
    if ptr["kind"] == "dir":
        snap["files"] = ptr["files"]
    snap.update(commit=rev(repo), author="Ada <ada@example.com>",
                date="2026-11-20T10:00:00+00:00", params=params, metrics=metrics)
    snap["data"] = {}
    for d in data:
        p = read_pointer(repo, d)
        snap["data"][d] = {"kind": p["kind"], "oid": p["oid"], "size": p["size"],
                           **({"files": p["files"]} if p["kind"] == "dir" else {})}
    snap["env"] = ENV
    return snap


def tag(repo: Path, name: str, subject: str, table: dict[str, Any] | None,
        target: str = "HEAD") -> None:
    msg = repo.parent / "tagmsg"
    text = subject + "\n"
    if table is not None:
        text += "\n" + tomlkit.dumps({"gitmv": table})
    msg.write_text(text)
    git(repo, "tag", "-a", "-F", str(msg), name, target)


def commit_version(repo: Path, n: int, accuracy: float, card_text: str | None = None) -> str:
    """Model bytes, data, params and metrics of version n, committed; returns the commit."""
    write(repo / "models" / "classifier.pt", f"weights {n}".encode() * 100)
    if n == 1:
        make_dataset(repo / "data" / "train", n=6, size=50)
    write(repo / "metrics.toml", f"accuracy = {accuracy}\nloss = 0.25\n")
    write(repo / "params.toml", "lr = 1e-05\n[model]\narch = \"resnet\"\nlayers = 18\n")
    if card_text is not None:
        write(repo / "models" / "classifier.card.md", card_text)
    assert mvm(repo, "add", "-q", "models/classifier.pt", "data/train") == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"version {n}")
    return rev(repo)


def register(repo: Path, version: str, accuracy: float) -> None:
    snap = snapshot(repo, "classifier", version, "models/classifier.pt", ["data/train"],
                    {"metrics.toml": {"accuracy": accuracy, "loss": 0.25}},
                    {"params.toml": {"lr": 1e-05, "model.arch": "resnet", "model.layers": 18}})
    tag(repo, f"classifier@{version}", f"Register classifier {version}", snap)


def assign(repo: Path, version: str, stage: str, n: int) -> None:
    table = {"format": 1, "event": "assign", "model": "classifier", "version": version,
             "stage": stage}
    tag(repo, f"classifier#{stage}#{n}", f"Assign classifier {version} to {stage}", table,
        target=f"classifier@{version}^{{commit}}")


def declare(repo: Path, body: str) -> None:
    """Append `[models.classifier]` to the shared config (the default file only has it in a
    comment, which `helpers.configure` would mistake for the table)."""
    with open(repo / ".mvm" / "config.toml", "a") as f:
        f.write(f"\n[models.classifier]\n{body}\n")


@pytest.fixture
def registry_repo(repo: Path) -> Path:
    """classifier v1.0.0 (in production) and v1.1.0 (in staging) on two commits."""
    declare(repo, 'path = "models/classifier.pt"\ndata = ["data/train"]\nlicense = "mit"\n'
              'library_name = "pytorch"\ntags = ["vision"]\ntask = "image-classification"\n'
              'eval_dataset = { name = "holdout", split = "test" }\n'
              'description = "Sorts pictures of cats from pictures of dogs."')
    commit_version(repo, 1, 0.9)
    register(repo, "v1.0.0", 0.9)
    assign(repo, "v1.0.0", "production", 1)
    commit_version(repo, 2, 0.95)
    register(repo, "v1.1.0", 0.95)
    assign(repo, "v1.1.0", "staging", 2)
    return repo


def split_card(text: str) -> tuple[dict[str, Any], str]:
    assert text.startswith("---\n"), text[:80]
    end = text.index("\n---\n", 4)
    return yaml.safe_load(text[4:end]), text[end + 5 :]


def headings(body: str) -> list[str]:
    """Markdown headings, not lines of fenced code blocks."""
    out, fenced = [], False
    for ln in body.splitlines():
        if ln.startswith("```"):
            fenced = not fenced
        elif ln.startswith("#") and not fenced:
            out.append(ln)
    return out


def section(body: str, heading: str) -> str:
    start = body.index(f"\n## {heading}\n") + len(heading) + 5
    nxt = body.find("\n## ", start)
    return body[start : nxt if nxt >= 0 else len(body)].strip()


def table_rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in ln.strip().strip("|").split(" | ")]
            for ln in text.splitlines() if ln.startswith("| ") and "---|" not in ln]


# --- the card of a version -------------------------------------------------------------------
def test_card_of_latest_version(registry_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = run(capsys, registry_repo, "card", "classifier")
    assert res.rc == 0, res.err
    meta, body = split_card(res.out)
    assert meta == {
        "license": "mit",
        "library_name": "pytorch",
        "tags": ["gitmv", "vision"],
        "datasets": ["data/train"],
        "pipeline_tag": "image-classification",
        "model-index": [{
            "name": "classifier",
            "results": [{
                "task": {"type": "image-classification"},
                "dataset": {"name": "holdout", "split": "test", "type": "holdout"},
                "metrics": [
                    {"type": "accuracy", "value": 0.95, "name": "accuracy"},
                    {"type": "loss", "value": 0.25, "name": "loss"},
                ],
            }],
        }],
    }
    assert headings(body) == [
        "# classifier v1.1.0", "## Model details", "## Intended use", "## Training data",
        "## Training parameters", "## Evaluation", "## Ethical considerations",
        "## Caveats and recommendations",
    ]
    assert "\nSorts pictures of cats from pictures of dogs.\n" in body
    ptr = read_pointer(registry_repo, "models/classifier.pt")
    details = dict(r for r in table_rows(section(body, "Model details")) if len(r) == 2)
    assert details["Model"] == "`classifier`"
    assert details["Version"] == "`v1.1.0`"
    assert details["Commit"] == f"`{rev(registry_repo)}`"
    assert details["Commit author"] == "Ada <ada@example.com>"
    assert details["Artifact"] == "`models/classifier.pt` (file)"
    assert details["Object id"] == f"`{ptr['oid']}`"
    assert details["Size"] == f"{ptr['size']:,} bytes"
    assert details["Stages"] == "`staging`"
    assert details["License"] == "mit"
    assert details["Environment"] == ("Python 3.11.7 (CPython) on Debian GNU/Linux 12 "
                                      "(bookworm) x86_64, gitmv 0.1.0")
    assert details["numpy"] == "2.1.0" and details["torch"] == "2.5.1"
    data = read_pointer(registry_repo, "data/train")
    assert table_rows(section(body, "Training data")) == [
        ["path", "kind", "oid", "bytes", "files"],
        ["`data/train`", "dir", f"`{data['oid']}`", f"{data['size']:,}", "6"],
    ]
    assert table_rows(section(body, "Training parameters")) == [
        ["param", "value"], ["lr", "1e-05"], ["model.arch", "resnet"], ["model.layers", "18"],
    ]
    assert table_rows(section(body, "Evaluation")) == [
        ["metric", "value"], ["accuracy", "0.95"], ["loss", "0.25"],
    ]
    assert section(body, "Intended use") == (
        "_Not written yet: add a `## Intended use` section to "
        "`models/classifier.card.md`._")


def test_version_stage_and_spec_select_the_version(
    registry_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def accuracy_and_title(*args: str) -> tuple[Any, str]:
        res = run(capsys, registry_repo, "card", *args)
        assert res.rc == 0, res.err
        meta, body = split_card(res.out)
        return meta["model-index"][0]["results"][0]["metrics"][0]["value"], headings(body)[0]

    assert accuracy_and_title("classifier", "v1.0.0") == (0.9, "# classifier v1.0.0")
    assert accuracy_and_title("classifier", "1.0.0") == (0.9, "# classifier v1.0.0")
    assert accuracy_and_title("classifier", "production") == (0.9, "# classifier v1.0.0")
    assert accuracy_and_title("classifier", "staging") == (0.95, "# classifier v1.1.0")
    assert accuracy_and_title("classifier", "latest") == (0.95, "# classifier v1.1.0")
    assert accuracy_and_title("classifier@v1.0.0") == (0.9, "# classifier v1.0.0")
    assert accuracy_and_title("classifier#staging") == (0.95, "# classifier v1.1.0")
    out = run(capsys, registry_repo, "card", "classifier", "production").out
    assert "| Stages | `production` |" in out
    assert f"| Commit | `{rev(registry_repo, 'HEAD~1')}` |" in out


def test_output_file_is_written_whole_and_replaced(
    registry_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stdout = run(capsys, registry_repo, "card", "classifier").out
    write(registry_repo / "README.md", "old readme\n")
    res = run(capsys, registry_repo, "card", "classifier", "-o", "README.md")
    assert res.rc == 0, res.err
    assert res.out == ""
    assert res.err == "wrote the card of classifier v1.1.0 to README.md\n"
    assert (registry_repo / "README.md").read_text() == stdout
    assert sorted(p.name for p in registry_repo.iterdir() if p.name.startswith(".mvm-tmp")) == []
    sub = registry_repo / "models"
    old = os.getcwd()
    os.chdir(sub)
    try:
        assert mvm(sub, "card", "classifier", "v1.0.0", "-o", "CARD.md", "-q") == 0
    finally:
        os.chdir(old)
    assert split_card((sub / "CARD.md").read_text())[1].startswith("\n# classifier v1.0.0\n")


# --- free text from MODEL.card.md --------------------------------------------------------------
CARD_V1 = """\
---
license: apache-2.0
language:
- en
---
# Cat or dog

A small convolutional network that tells cats from dogs.

## Intended use

Sorting a personal photo library. Not for anything that decides about people.

## metrics

Measured on the 2024 holdout split (1,000 images).

## Training details

Trained for 3 epochs on one GPU.

```
## this line is inside a code block, not a heading
```
"""


def test_card_file_replaces_placeholders_and_extends_facts(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    declare(repo, 'path = "models/classifier.pt"\nlicense = "mit"\n'
              'description = "replaced by the card file"')
    commit_version(repo, 1, 0.9, card_text=CARD_V1)
    register(repo, "v1.0.0", 0.9)
    # A later commit and the work tree change the card file: v1.0.0's card keeps its own text.
    write(repo / "models" / "classifier.card.md", "## Intended use\n\nSomething else.\n")
    git(repo, "commit", "-qam", "new card text")
    write(repo / "models" / "classifier.card.md", "## Intended use\n\nUncommitted.\n")
    res = run(capsys, repo, "card", "classifier", "v1.0.0")
    assert res.rc == 0, res.err
    meta, body = split_card(res.out)
    assert meta["license"] == "apache-2.0"
    assert meta["language"] == ["en"]
    assert list(meta) == ["license", "tags", "datasets", "language"]
    assert ("\n# model-index: declare task and eval_dataset in [models.classifier] to list the "
            "metrics here\nlanguage:\n- en\n---\n") in res.out
    assert headings(body) == [
        "# Cat or dog", "## Model details", "## Intended use", "## Training data",
        "## Training parameters", "## Evaluation", "## Ethical considerations",
        "## Caveats and recommendations", "## Training details",
    ]
    assert "replaced by the card file" not in body
    assert body.startswith("\n# Cat or dog\n\nA small convolutional network that tells cats "
                           "from dogs.\n\n## Model details\n")
    assert "| License | apache-2.0 |" in body
    assert section(body, "Intended use") == (
        "Sorting a personal photo library. Not for anything that decides about people.")
    assert section(body, "Evaluation") == (
        "From `metrics.toml` at the version's commit.\n\n"
        "| metric | value |\n|---|---|\n| accuracy | 0.9 |\n| loss | 0.25 |\n\n"
        "Measured on the 2024 holdout split (1,000 images).")
    assert body.endswith(
        "\n## Training details\n\nTrained for 3 epochs on one GPU.\n\n```\n## this line is "
        "inside a code block, not a heading\n```\n\n<sub>Generated by `git mvm card "
        "classifier v1.0.0` from tag `classifier@v1.0.0`.</sub>\n")
    assert section(body, "Caveats and recommendations") == (
        "_Not written yet: add a `## Caveats and recommendations` section to "
        "`models/classifier.card.md`._")


def test_version_without_snapshot_still_gets_a_card(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tag written by another tool (gto) carries no [gitmv] table: facts say so."""
    declare(repo, 'path = "models/classifier.pt"')
    commit_version(repo, 1, 0.9)
    tag(repo, "classifier@v0.1.0", "Registering artifact classifier version v0.1.0", None)
    res = run(capsys, repo, "card", "classifier")
    assert res.rc == 0, res.err
    meta, body = split_card(res.out)
    assert meta == {"tags": ["gitmv"]}
    assert "| Object id | not recorded |" in body
    assert "| Artifact | `models/classifier.pt` |" in body
    assert section(body, "Evaluation") == "No metrics were recorded for this version."


# --- refusals ----------------------------------------------------------------------------------
def test_unknown_model_version_or_stage_is_one_clear_error(
    registry_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for args in (("nosuch",), ("classifier", "v9.9.9"), ("classifier", "archive")):
        res = run(capsys, registry_repo, "card", *args)
        assert res.rc == 1, args
        assert res.out == ""
        lines = error_lines(res.err)
        assert len(lines) == 1, res.err
        assert "Traceback" not in res.err
        assert re.search(r"nosuch|v9\.9\.9|archive", lines[0]), lines[0]
        assert "hint:" in res.err
    assert not (registry_repo / "README.md").exists()


def test_failed_card_leaves_the_output_file_alone(
    registry_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(registry_repo / "README.md", "keep me\n")
    res = run(capsys, registry_repo, "card", "classifier", "v9.9.9", "-o", "README.md")
    assert res.rc == 1
    assert (registry_repo / "README.md").read_text() == "keep me\n"


# --- pieces ----------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [
    1e-05, 1e20, -2.5e-300, 0.1, 3.0, 7, -1, True, False, None, "yes", "No", "1.0", "0x10",
    "a: b", "#x", "- item", "data/train", "v1.2.0", "it's \"quoted\"", "ünïcode", "", "~",
    "line\nbreak", "[1]", "{a}", "null",
])
def test_yaml_scalars_read_back_as_written(value: Any) -> None:
    text = "\n".join(card.yaml_block({"k": value}))
    assert yaml.safe_load(text) == {"k": value}


def test_yaml_blocks_of_nested_values() -> None:
    value = {"a": [{"b": 1, "c": [1.5, "x"]}, {"d": {"e": None}}], "f": [], "g": {}}
    text = "\n".join(card.yaml_block(value))
    assert yaml.safe_load(text) == value
    assert text == ("a:\n- b: 1\n  c:\n  - 1.5\n  - x\n- d:\n    e: null\nf: []\ng: {}")


def test_parse_card_text() -> None:
    parsed = card.parse_card_text("intro\n\n## Intended Use ##\nuse\n~~~\n## no\n~~~\n## X\n")
    assert parsed == card.CardText("", "", "intro",
                                   [("Intended Use", "use\n~~~\n## no\n~~~"), ("X", "")])


def test_card_path() -> None:
    assert card.card_path("clf", "models/clf.pt") == "models/clf.card.md"
    assert card.card_path("clf", "clf.pt") == "clf.card.md"
    assert card.card_path("emb", "models/emb/") == "models/emb.card.md"


def test_card_of_a_version_register_wrote(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Through `git mvm register` and `promote`: the snapshot they write is what the card shows."""
    from gitmv.registry import envinfo

    declare(repo, 'path = "models/classifier.pt"\ndata = ["data/train"]\n'
            'metrics = ["metrics.toml"]\nparams = ["params.toml"]\n'
            'datasets = ["hub-user/cats-and-dogs"]')
    commit_version(repo, 1, 0.875)
    assert mvm(repo, "register", "-q", "classifier", "v0.3.0", "-m", "first") == 0
    assert mvm(repo, "promote", "-q", "classifier", "v0.3.0", "staging") == 0
    res = run(capsys, repo, "card", "classifier")
    assert res.rc == 0, res.err
    meta, body = split_card(res.out)
    assert meta == {"tags": ["gitmv"], "datasets": ["hub-user/cats-and-dogs"]}
    assert table_rows(section(body, "Evaluation")) == [
        ["metric", "value"], ["accuracy", "0.875"], ["loss", "0.25"],
    ]
    details = dict(r for r in table_rows(section(body, "Model details")) if len(r) == 2)
    assert details["Version"] == "`v0.3.0`"
    assert details["Object id"] == f"`{read_pointer(repo, 'models/classifier.pt')['oid']}`"
    assert details["Stages"] == "`staging`"
    assert details["Commit"] == f"`{rev(repo)}`"
    assert details["Registered"].endswith("by Test <test@example.com> (tag `classifier@v0.3.0`)")
    env = envinfo.collect(include_packages=False)
    assert details["Environment"] == (f"Python {env['python']} ({env['implementation']}) on "
                                      f"{env['os']} {env['machine']}, gitmv {env['gitmv']}")
    assert details["pytest"] == envinfo.installed_packages()["pytest"]
    assert table_rows(section(body, "Training parameters")) == [
        ["param", "value"], ["lr", "1e-05"], ["model.arch", "resnet"], ["model.layers", "18"],
    ]
    data = read_pointer(repo, "data/train")
    assert table_rows(section(body, "Training data"))[1] == [
        "`data/train`", "dir", f"`{data['oid']}`", f"{data['size']:,}", "6"]


def test_config_is_read_at_the_versions_commit(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """[models.NAME] as the version's commit had it; the current one only when it had none."""
    commit_version(repo, 1, 0.9)  # the commit declares no model
    register(repo, "v1.0.0", 0.9)
    declare(repo, 'path = "models/classifier.pt"\nlicense = "mit"\ntags = "vision"')
    git(repo, "commit", "-qam", "declare the model")
    commit_version(repo, 2, 0.95)
    register(repo, "v2.0.0", 0.95)
    cfg = repo / ".mvm" / "config.toml"
    cfg.write_text(cfg.read_text().replace('license = "mit"', 'license = "apache-2.0"'))
    git(repo, "commit", "-qam", "relicense")

    def front(version: str) -> dict[str, Any]:
        res = run(capsys, repo, "card", "classifier", version)
        assert res.rc == 0, res.err
        return split_card(res.out)[0]

    assert front("v2.0.0")["license"] == "mit"  # as committed with v2.0.0
    assert front("v1.0.0")["license"] == "apache-2.0"  # v1.0.0's commit declared nothing
    assert front("v1.0.0")["tags"] == ["gitmv", "vision"]
