"""A registry of many tags of ONE model, written in one `git fast-import` (seconds for
10,000): for the scaling tests and scripts/registry_scale.py.

Model `m` (declared in .mvm/config.toml, path models/m.pt): N - N/10 versions, each on its own
commit whose pointer names made-up bytes, registered with gitmv's snapshot (and `env`, the
`[gitmv.env]` tables, appended: the bulk of a real registration); every 9th version is also
assigned to a stage (dev, staging, production in turn), N/10 tags in all. Tagger dates one
minute apart. HEAD ends on the last version's commit (`git reset --hard`).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

STAGES = ("dev", "staging", "production")
T0 = 1_764_000_000


def _data(text: str) -> str:
    return f"data {len(text.encode())}\n{text}\n"


def _tag(name: str, commit: str, when: int, message: str) -> str:
    return (f"tag {name}\nfrom {commit}\ntagger Bench <bench@example.com> {when} +0000\n"
            + _data(message))


def version_name(i: int) -> str:
    return f"v0.{i // 100}.{i % 100}"


def _git(repo: Path, *args: str, stdin: bytes | None = None) -> str:
    return subprocess.run(["git", *args], cwd=repo, input=stdin, capture_output=True,
                          check=True).stdout.decode()


def make_tags(repo: Path, n_tags: int, env: str = "") -> dict[str, int]:
    """Write the tags (into a repository with `git mvm init` done and one commit);
    returns {"versions": …, "assignments": …}."""
    cfg = repo / ".mvm" / "config.toml"
    cfg.write_text(cfg.read_text() + '\n[models.m]\npath = "models/m.pt"\n')
    _git(repo, "add", ".mvm/config.toml")
    _git(repo, "commit", "-q", "-m", "declare m")
    base = _git(repo, "rev-parse", "HEAD").strip()
    branch = _git(repo, "symbolic-ref", "--short", "HEAD").strip()
    n_assign = n_tags // 10
    n_versions = n_tags - n_assign
    stream: list[str] = []
    for v in range(n_versions):
        pointer = f'mvm = 1\nkind = "file"\noid = "sha256:{v:064x}"\nsize = {1000 + v}\n'
        stream.append(f"commit refs/heads/{branch}\nmark :{v + 1}\n"
                      f"committer Bench <bench@example.com> {T0 + v} +0000\n"
                      + _data(f"train {v}") + (f"from :{v}\n" if v else f"from {base}\n")
                      + "M 100644 inline models/m.pt.mvm\n" + _data(pointer) + "\n")
    marks = repo / ".git" / "manytags-marks"
    _git(repo, "fast-import", "--quiet", f"--export-marks={marks}",
         stdin="".join(stream).encode())
    by_mark = dict(line.split() for line in marks.read_text().splitlines())
    marks.unlink()
    when = T0 + n_versions
    tags: list[str] = []
    counter = 0
    for v in range(n_versions):
        commit = by_mark[f":{v + 1}"]
        version = version_name(v)
        date = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(when))
        snap = (f'[gitmv]\nformat = 1\nevent = "register"\nmodel = "m"\n'
                f'version = "{version}"\npath = "models/m.pt"\nkind = "file"\n'
                f'oid = "sha256:{v:064x}"\nsize = {1000 + v}\ncommit = "{commit}"\n'
                f'author = "Bench <bench@example.com>"\ndate = "{date}"\n'
                f'[gitmv.metrics."metrics.toml"]\naccuracy = {0.5 + v / 1e5:.5f}\n' + env)
        tags.append(_tag(f"m@{version}", commit, when, f"Register m {version}\n\n{snap}"))
        when += 60
        if v % 9 == 0 and counter < n_assign:
            counter += 1
            stage = STAGES[counter % 3]
            body = (f'[gitmv]\nformat = 1\nevent = "assign"\nmodel = "m"\n'
                    f'version = "{version}"\nstage = "{stage}"\ncommit = "{commit}"\n'
                    f'author = "Bench <bench@example.com>"\ndate = "{date}"\n')
            tags.append(_tag(f"m#{stage}#{counter}", commit, when,
                             f"Assign m {version} to {stage}\n\n{body}"))
            when += 60
    _git(repo, "fast-import", "--quiet", stdin="".join(tags).encode())
    _git(repo, "pack-refs", "--all")
    _git(repo, "reset", "-q", "--hard", branch)
    return {"versions": n_versions, "assignments": counter}


def fake_env(packages: int = 150) -> str:
    """`[gitmv.env]` tables of the size a real environment has (~150 packages)."""
    lines = ['[gitmv.env]\npython = "3.11.7"\nplatform = "Linux-x86_64"\n',
             "[gitmv.env.packages]\n"]
    lines += [f'"package-{i}" = "1.{i}.0"\n' for i in range(packages)]
    return "".join(lines)
