"""docs/migrating.md, run: every ```sh block of a section, in order, in one bash session in a
fresh sandbox (real `dvc` from .venv-dvc/, real `git-lfs`, a giftless server on loopback), and
the ```text block after each replaced by what it printed.

    python scripts/migrating_doc.py           # rewrite docs/migrating.md with fresh output
    python scripts/migrating_doc.py --check   # exit 1 (and a diff) when the doc is stale

Output is made deterministic: fixed commit dates and identity, generated data from `seq`, the
sandbox path written as /home/you, the LFS server as https://git.example.com.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "migrating.md"
SECTIONS = ("From DVC", "From Git LFS")  # each runs in a sandbox of its own
MARK = "@@gitmv-doc-block@@"


def split(text: str) -> list[tuple[str, str, str]]:
    """The doc as (kind, section, text) pieces: "sh" blocks, "out" blocks (```text right
    after an sh block) and "prose" in between."""
    pieces: list[tuple[str, str, str]] = []
    section = ""
    lines = text.splitlines(keepends=True)
    i = 0
    prose: list[str] = []
    last_sh = False
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section = line[3:].strip()
        fence = line.strip()
        if fence in ("```sh", "```text") and (fence == "```sh" or last_sh):
            j = i + 1
            while lines[j].strip() != "```":
                j += 1
            pieces.append(("prose", section, "".join(prose)))
            prose = []
            kind = "sh" if fence == "```sh" else "out"
            pieces.append((kind, section, "".join(lines[i + 1:j])))
            last_sh = kind == "sh"
            i = j + 1
            continue
        if line.strip():
            last_sh = False
        prose.append(line)
        i += 1
    pieces.append(("prose", section, "".join(prose)))
    return pieces


def environment(home: Path, extra: dict[str, str]) -> dict[str, str]:
    from tests.dvc import dvc_executable

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "DVC_"))}
    env.update(
        HOME=str(home), GIT_CONFIG_NOSYSTEM="1", LC_ALL="C.UTF-8", NO_COLOR="1",
        GIT_AUTHOR_NAME="Ana", GIT_AUTHOR_EMAIL="ana@example.com",
        GIT_COMMITTER_NAME="Ana", GIT_COMMITTER_EMAIL="ana@example.com",
        GIT_AUTHOR_DATE="2026-01-05T10:00:00Z", GIT_COMMITTER_DATE="2026-01-05T10:00:00Z",
        DVC_NO_ANALYTICS="1", DVC_NO_UPDATER="1", PYTHONPATH=str(ROOT),
        PATH=os.pathsep.join([str(dvc_executable().parent), os.path.dirname(sys.executable),
                              env.get("PATH", "")]),
    )
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n"
                                     "[advice]\n\tdetachedHead = false\n")
    env.update(extra)
    return env


def run_section(blocks: list[str], sandbox: Path, extra: dict[str, str]) -> list[str]:
    """Each block's output (stdout and stderr, as a terminal would show them in order)."""
    home = sandbox / "home"
    home.mkdir(parents=True)
    script = "set -euo pipefail\n" + "".join(f"echo {MARK}\n{b}" for b in blocks)
    proc = subprocess.run(["bash", "-c", script], cwd=sandbox, env=environment(home, extra),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          check=False)
    outs = proc.stdout.split(MARK + "\n")[1:]
    if proc.returncode != 0:
        raise SystemExit(f"migrating-doc: block {len(outs)} failed ({proc.returncode}):\n"
                         f"{blocks[len(outs) - 1] if outs else ''}\n--- its output:\n"
                         f"{outs[-1] if outs else proc.stdout}")
    return outs


# git-lfs's transfer meter: printed (with a rate) only when a transfer outlasts its update
# tick, so whether a run shows it depends on the machine's speed
LFS_METER = re.compile(r"^(?:Uploading|Downloading) LFS objects: .*\n", re.M)


def mask(text: str, sandbox: Path, lfs_origin: str) -> str:
    text = text.replace(str(sandbox), "/home/you").replace(lfs_origin, "https://git.example.com")
    text = LFS_METER.sub("", text)
    return re.sub(r"[ \t]+\n", "\n", text)


def render() -> str:
    from tests.stores.lfs import Giftless

    pieces = split(DOC.read_text())
    outputs: dict[int, str] = {}
    with tempfile.TemporaryDirectory(prefix="gitmv-migrating-") as tmp:
        base = Path(os.path.realpath(tmp))
        server = Giftless(base / "giftless")
        try:
            lfs_url = server.endpoint("team", "project")
            for section in SECTIONS:
                sandbox = base / section.lower().replace(" ", "-")
                sandbox.mkdir()
                idx = [i for i, (k, s, _) in enumerate(pieces) if k == "sh" and s == section]
                outs = run_section([pieces[i][2] for i in idx], sandbox, {"LFS_URL": lfs_url})
                for i, out in zip(idx, outs, strict=True):
                    outputs[i] = mask(out, sandbox, server.url)
        finally:
            server.stop()
            shutil.rmtree(base / "giftless", ignore_errors=True)
    text = []
    for i, (kind, _, body) in enumerate(pieces):
        if kind == "prose":
            text.append(body)
        elif kind == "sh":
            text.append(f"```sh\n{body}```\n")
            out = outputs.get(i, "")
            if out.strip():
                text.append(f"```text\n{out.rstrip()}\n```\n")
    return "".join(text)


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    new = render()
    old = DOC.read_text()
    if "--check" in argv:
        if new != old:
            sys.stdout.writelines(difflib.unified_diff(
                old.splitlines(keepends=True), new.splitlines(keepends=True),
                "docs/migrating.md", "regenerated"))
            print("docs/migrating.md is stale: run python scripts/migrating_doc.py",
                  file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
