"""GTO's declarations, read as gitmv's own: `.gto` (its `stages:`), `artifacts.yaml` (what
`gto annotate` writes: a model's `path`, `type`, `description`) and the `artifacts:` section
of `dvc.yaml` (`path`, `type`, `desc`). All YAML: PyYAML is imported only when one of these
files exists (the `yaml` extra), and its absence is one line saying how to install it.

A `[models.NAME]` table or `registry.stages` in .mvm/config.toml wins; these fill in what it
does not say, so a GTO repository works without writing gitmv's config first.
"""

from __future__ import annotations

import os
from typing import Any

from gitmv.errors import GitMvmError


def _load(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise GitMvmError(f"cannot read {path}: {exc.strerror}", "check its permissions") from None
    try:
        import yaml
    except ImportError:
        raise GitMvmError(
            f"reading {os.path.basename(path)} (GTO's declarations) needs PyYAML",
            "install it: `pip install 'gitmv[yaml]'` (or `pip install pyyaml`)") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "not YAML"
        raise GitMvmError(f"{path} is not valid YAML: {first}",
                          "fix the file (gto reads it too)") from None


def stages(root: str) -> list[str]:
    """The `stages:` of `.gto` ([] when there is no such file or list)."""
    doc = _load(os.path.join(root, ".gto"))
    found = doc.get("stages") if isinstance(doc, dict) else None
    return [str(s) for s in found] if isinstance(found, list) else []


def artifacts(root: str) -> dict[str, dict[str, str]]:
    """name -> {path, type, description} from `dvc.yaml`'s `artifacts:`, then
    `artifacts.yaml` (which wins where both name a model)."""
    out: dict[str, dict[str, str]] = {}
    dvc = _load(os.path.join(root, "dvc.yaml"))
    index = _load(os.path.join(root, "artifacts.yaml"))
    for doc in ((dvc or {}).get("artifacts") if isinstance(dvc, dict) else None, index):
        if not isinstance(doc, dict):
            continue
        for name, decl in doc.items():
            if not isinstance(decl, dict):
                continue
            entry = {k: str(decl[k]) for k in ("path", "type", "description") if decl.get(k)}
            if decl.get("desc") and "description" not in entry:
                entry["description"] = str(decl["desc"])
            out[str(name)] = entry
    return out
