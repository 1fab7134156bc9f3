"""The README's first command: gitmv's main job end to end in a temporary repository."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile


def sh(*cmd: str, cwd: str) -> None:
    print(f"$ {' '.join(cmd)}", flush=True)
    subprocess.run(cmd, cwd=cwd, check=True)


def digest(root: str) -> dict[str, str]:
    """sha256 of every file under `root` (or of `root` itself when it is a file)."""
    if os.path.isfile(root):
        with open(root, "rb") as fh:
            return {root: hashlib.sha256(fh.read()).hexdigest()}
    out = {}
    for d, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def main() -> int:
    work = tempfile.mkdtemp(prefix="gitmv-demo-")
    env_home = os.path.join(work, "home")
    os.makedirs(env_home)
    os.environ.update(HOME=env_home, GIT_CONFIG_NOSYSTEM="1")
    repo = os.path.join(work, "repo")
    os.makedirs(repo)
    try:
        sh("git", "init", "-q", "-b", "main", cwd=repo)
        sh("git", "config", "user.name", "Demo", cwd=repo)
        sh("git", "config", "user.email", "demo@example.com", cwd=repo)
        sh("git", "mvm", "init", cwd=repo)
        os.makedirs(os.path.join(repo, "models"))
        with open(os.path.join(repo, "models", "classifier.pt"), "wb") as f:
            f.write(os.urandom(8 << 20))
        for split in ("train", "test"):
            for label in ("cats", "dogs"):
                d = os.path.join(repo, "data", split, label)
                os.makedirs(d)
                for i in range(50):
                    with open(os.path.join(d, f"{i:03}.jpg"), "wb") as f:
                        f.write(os.urandom(4096))
        model = os.path.join(repo, "models", "classifier.pt")
        before = digest(model) | digest(os.path.join(repo, "data"))
        sh("git", "mvm", "add", "models/classifier.pt", "data", "--meta", "framework=demo",
           cwd=repo)
        sh("git", "commit", "-q", "-m", "Add classifier and dataset", cwd=repo)
        print("$ cat models/classifier.pt.mvm")
        with open(os.path.join(repo, "models", "classifier.pt.mvm")) as f:
            print(f.read(), end="")
        sh("git", "mvm", "ls", cwd=repo)
        print("$ rm -rf models/classifier.pt data")
        os.remove(os.path.join(repo, "models", "classifier.pt"))
        shutil.rmtree(os.path.join(repo, "data"))
        sh("git", "mvm", "status", cwd=repo)
        sh("git", "mvm", "checkout", cwd=repo)
        sh("git", "mvm", "status", cwd=repo)
        after = digest(model) | digest(os.path.join(repo, "data"))
        if after != before:
            print("demo: FAILED: restored bytes differ", file=sys.stderr)
            return 1
        print(f"demo: OK: {len(after)} files restored byte for byte (sha256 checked)")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
