"""docs/deploy.md, run: every ```sh and ```python block, in order, against a models repository
served over HTTP (`git http-backend` on loopback, tests/gitserver.py) with a directory store;
after each block, which version's bytes the deployment holds is checked by hashing.

The blocks are read from the file, so a doc edit that breaks a recipe fails here. Shell
blocks run under `bash -euo pipefail`: any failing command fails the test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gitserver import GitHttp
from tests.helpers import clone_hooked, doc_blocks, git, git_ok, init_bare, init_hooked, mvm, save

DOC = Path(__file__).resolve().parent.parent / "docs" / "deploy.md"
WEIGHTS = {"v1.0.0": b"weights of v1.0.0", "v1.1.0": b"weights of v1.1.0"}


BLOCKS = doc_blocks(DOC.read_text(), ("sh", "python"))
# what the deployment's classifier.pt holds after each block ("" for a block that writes
# none): the recipes' story, in order
HOLDS = ["v1.0.0", "v1.0.0", "", "", "v1.1.0", "", "v1.0.0"]


def test_the_page_tells_the_story_the_test_checks() -> None:
    assert [b.section for b in BLOCKS] == [
        "Bake the production model into an image", "Fetch the model when the service starts",
        "From Python", "CI: promote, then deploy", "CI: promote, then deploy",
        "Roll back in one step", "Roll back in one step"]
    assert len(HOLDS) == len(BLOCKS)
    for b in BLOCKS:  # commands only: no prompts, no outputs pasted in
        assert not re.search(r"^\s*\$ ", b.script, re.M), b.section


def models_repository(tmp_path: Path) -> tuple[Path, Path]:
    """The team's repository: classifier v1.0.0 in production, v1.1.0 registered; published
    to a bare repository (the server's) and a directory store. Returns (server root, clone
    of it for CI)."""
    srv = tmp_path / "srv"
    bare = init_bare(srv / "models.git")
    git(bare, "config", "uploadpack.allowFilter", "true")
    team = init_hooked(tmp_path / "team", bare)
    assert mvm(team, "remote", "add", "-q", "-d", "store", str(tmp_path / "store")) == 0
    for version, data in WEIGHTS.items():
        save(team, "models/classifier.pt", data, f"train {version}")
        assert mvm(team, "register", "-q", "--no-env", "classifier", version, "--path",
                   "models/classifier.pt") == 0
        if version == "v1.0.0":
            assert mvm(team, "promote", "-q", "classifier", version, "production") == 0
    assert mvm(team, "push", "-q") == 0
    git_ok(team, "push", "-q", "origin", "main", "--tags")
    return srv, clone_hooked(bare, tmp_path / "ci")


def test_every_recipe_runs_and_the_deployment_holds_the_right_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv, ci = models_repository(tmp_path)
    models = tmp_path / "models"
    models.mkdir()
    deploy = tmp_path / "deploy"  # where the deployment runs: no clone there
    deploy.mkdir()
    with GitHttp(srv) as server:
        env = {**os.environ, "MODEL_REPO": server.url("models.git"), "MODELS": str(models),
               "CLONE": str(ci), "GITMV_REPO_CACHE": str(tmp_path / "mirrors")}
        for block, holds in zip(BLOCKS, HOLDS, strict=True):
            argv = ["bash", "-euo", "pipefail", "-c", block.script] if block.lang == "sh" \
                else [sys.executable, "-c", block.script]
            proc = subprocess.run(argv, cwd=deploy, env=env, capture_output=True, text=True,
                                  check=False)
            where = f"{block.section}:\n{block.script}\n{proc.stdout}\n{proc.stderr}"
            assert proc.returncode == 0, where
            if holds:
                assert (models / "classifier.pt").read_bytes() == WEIGHTS[holds], where
            if block.section == "Fetch the model when the service starts":
                deployed = json.loads((models / "classifier.json").read_text())
                assert deployed["version"] == "v1.0.0", deployed
            if block.section == "From Python":
                assert proc.stdout.startswith("v1.0.0 ") and proc.stderr == "", where
                assert (models / "batch.pt").read_bytes() == WEIGHTS["v1.0.0"]
            if "--dry-run" in block.script:
                assert "v1.1.0 -> v1.0.0" in proc.stdout + proc.stderr, where
    # the deployment never made a clone; the registry says what the recipes did, and why
    assert sorted(os.listdir(deploy)) == []
    proc = subprocess.run(["git", "mvm", "history", "classifier", "--json"], cwd=ci,
                          capture_output=True, text=True, check=True)
    events = json.loads(proc.stdout)
    assert [(e["event"], e["version"], e["stage"]) for e in events][-3:] == [
        ("assign", "v1.1.0", "production"), ("assign", "v1.0.0", "production"),
        ("unassign", "v1.1.0", "production")], events
    assert events[-2]["rollback_from"] == "v1.1.0"
    assert events[-2]["message"] == "latency regression in v1.1.0"


def test_a_failing_command_fails_its_block(tmp_path: Path) -> None:
    """The harness: a command that fails mid-block is not masked by later ones."""
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c",
                           "git mvm get --repo /nonexistent 'm#prod'\ntrue\n"],
                          cwd=tmp_path, capture_output=True, text=True, check=False)
    assert proc.returncode != 0
