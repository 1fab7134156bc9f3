"""gitmv.registry.envinfo: what `register` records about the interpreter that registered it."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from gitmv import __version__
from gitmv.registry import envinfo


def fake_dist(site: Path, dirname: str, metadata: str, filename: str = "METADATA") -> None:
    d = site / dirname
    d.mkdir(parents=True)
    (d / filename).write_text(metadata)


def test_collect_describes_this_interpreter() -> None:
    env = envinfo.collect()
    assert list(env) == ["python", "implementation", "platform", "machine", "os", "gitmv",
                         "packages"]
    assert env["python"] == ".".join(str(n) for n in sys.version_info[:3])
    assert env["implementation"] == platform.python_implementation()
    assert env["platform"] == platform.platform()
    assert env["machine"] == platform.machine()
    assert env["gitmv"] == __version__
    assert isinstance(env["os"], str) and env["os"]
    if platform.system() == "Linux":
        pretty = platform.freedesktop_os_release().get("PRETTY_NAME")
        assert env["os"] == pretty


def test_packages_are_the_installed_distributions_sorted_and_normalized() -> None:
    packages = envinfo.collect()["packages"]
    assert packages["pytest"] == importlib.metadata.version("pytest")
    assert packages["tomlkit"] == importlib.metadata.version("tomlkit")
    assert list(packages) == sorted(packages)
    for name, version in packages.items():
        assert name == envinfo.normalize_name(name), name
        assert version and isinstance(version, str), name


def test_without_packages() -> None:
    env = envinfo.collect(include_packages=False)
    assert "packages" not in env
    assert env["gitmv"] == __version__


def test_first_on_sys_path_wins_and_broken_metadata_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    fake_dist(first, "Foo_Bar.Baz-1.2.3.dist-info",
              "Metadata-Version: 2.1\nName: Foo_Bar.Baz\nVersion: 1.2.3\n\n"
              "Version: 9.9.9 is only text in the description\n")
    fake_dist(second, "foo_bar_baz-0.1.dist-info",
              "Metadata-Version: 2.1\nName: foo-bar-baz\nVersion: 0.1\n")
    fake_dist(second, "Old.Egg-2.0-py3.11.egg-info",
              "Metadata-Version: 1.0\nName: Old.Egg\nVersion: 2.0\n", filename="PKG-INFO")
    fake_dist(second, "noversion-1.0.dist-info", "Metadata-Version: 2.1\nName: noversion\n")
    monkeypatch.setattr(sys, "path", [str(first), str(second), *sys.path])
    packages = envinfo.installed_packages()
    assert packages["foo-bar-baz"] == "1.2.3"
    assert packages["old-egg"] == "2.0"
    assert "noversion" not in packages
    assert "Foo_Bar.Baz" not in packages


@pytest.mark.parametrize(("raw", "normalized"), [
    ("Typing_Extensions", "typing-extensions"),
    ("zope.interface", "zope-interface"),
    ("a-_.b", "a-b"),
    ("PyYAML", "pyyaml"),
])
def test_normalize_name(raw: str, normalized: str) -> None:
    assert envinfo.normalize_name(raw) == normalized


def test_import_is_cheap() -> None:
    """Importing the module loads neither importlib.metadata nor platform (collect does)."""
    code = ("import sys; import gitmv.registry.envinfo; "
            "print(sorted(m for m in ('importlib.metadata', 'platform') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert out.stdout.strip() == "[]"
