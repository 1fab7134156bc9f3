"""The environment a model version was registered from: interpreter, platform, packages.

`register` stores this in the tag message's `[gitmv.env]` table, so a version records what
produced it. Only the stdlib is used, imported inside `collect`: hooks never import this.
"""

from __future__ import annotations

import re
import sys
from typing import Any

_SEPARATORS = re.compile(r"[-_.]+")


def normalize_name(name: str) -> str:
    """A distribution name as PEP 503 compares them: `Typing_Extensions` -> `typing-extensions`."""
    return _SEPARATORS.sub("-", name).lower()


def _name_and_version(metadata_text: str) -> tuple[str, str]:
    """`Name` and `Version` from the header block of a METADATA / PKG-INFO file.

    Reading the two header lines ourselves instead of `Distribution.metadata` (an email
    parser per package) makes listing ~80 packages take ~5 ms instead of ~70 ms.
    """
    name = version = ""
    for line in metadata_text.splitlines():
        if not line:
            break  # end of the headers; the description follows
        if line.startswith("Name:"):
            name = line[5:].strip()
        elif line.startswith("Version:"):
            version = line[8:].strip()
        if name and version:
            break
    return name, version


def installed_packages() -> dict[str, str]:
    """{normalized name: version} of the distributions the current interpreter can import.

    A name found twice on sys.path keeps the first one, the one `import` would load.
    """
    import importlib.metadata

    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
        name, version = _name_and_version(text)
        if not name or not version:
            continue  # a broken or half-removed installation: nothing reliable to record
        found.setdefault(normalize_name(name), version)
    return dict(sorted(found.items()))


def _os_name() -> str:
    import platform

    system = platform.system()
    if system == "Linux":
        try:
            pretty = platform.freedesktop_os_release().get("PRETTY_NAME", "")
        except OSError:
            pretty = ""
        if pretty:
            return pretty
    if system == "Darwin" and platform.mac_ver()[0]:
        return f"macOS {platform.mac_ver()[0]}"
    return f"{system} {platform.release()}".strip()


def collect(include_packages: bool = True) -> dict[str, Any]:
    """The current interpreter's environment as a TOML-ready dict (strings only)."""
    import platform

    from gitmv import __version__

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "os": _os_name(),
        "gitmv": __version__,
    }
    if include_packages:
        env["packages"] = installed_packages()
    return env


if __name__ == "__main__":  # pragma: no cover - a quick look: python -m gitmv.registry.envinfo
    import json

    json.dump(collect(), sys.stdout, indent=2)
    sys.stdout.write("\n")
