"""The README's first command: gitmv's main jobs end to end in a temporary repository: version a
model and a dataset, restore them byte for byte, review a retrained model's params and metrics,
gate it, register it and promote it; merge two branches' changes to one dataset."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile


def sh(*cmd: str, cwd: str) -> None:
    print(f"$ {shlex.join(cmd)}", flush=True)
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
        return review_and_registry(repo) or dataset_merge(repo)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def review_and_registry(repo: str) -> int:
    """Params and metrics beside the model, the review of a retrained model, the registry."""
    print("$ # .mvm/config.toml: which files hold params and metrics, gates, the model")
    write(os.path.join(repo, ".mvm", "config.toml"), (
        '[metrics]\nfiles = ["metrics.toml"]\nbetter = { accuracy = "higher", loss = "lower" }\n'
        '[params]\nfiles = ["params.toml"]\n'
        '[gates]\naccuracy = ">= 0.90"\nloss = "no-regression 5%"\n'
        '[registry]\nprotected = ["production"]\n'
        '[models.classifier]\npath = "models/classifier.pt"\ndata = ["data"]\n'
    ))
    write(os.path.join(repo, "params.toml"), "lr = 0.01\nepochs = 10\n")
    write(os.path.join(repo, "metrics.toml"), "accuracy = 0.91\nloss = 0.25\n")
    sh("git", "add", ".mvm/config.toml", "params.toml", "metrics.toml", cwd=repo)
    sh("git", "commit", "-q", "-m", "Track params and metrics", cwd=repo)
    sh("git", "mvm", "register", "classifier", "v1.0.0", "--no-env", "-m", "First model",
       cwd=repo)
    sh("git", "mvm", "promote", "classifier", "v1.0.0", "production", cwd=repo)
    print("$ # retrain: more epochs, a better model")
    with open(os.path.join(repo, "models", "classifier.pt"), "wb") as f:
        f.write(os.urandom(8 << 20))
    write(os.path.join(repo, "params.toml"), "lr = 0.01\nepochs = 20\n")
    write(os.path.join(repo, "metrics.toml"), "accuracy = 0.94\nloss = 0.19\n")
    sh("git", "mvm", "add", "-q", "models/classifier.pt", cwd=repo)
    sh("git", "mvm", "params", "diff", cwd=repo)
    sh("git", "mvm", "metrics", "diff", cwd=repo)
    sh("git", "add", "params.toml", "metrics.toml", cwd=repo)
    sh("git", "commit", "-q", "-m", "Retrain for 20 epochs", cwd=repo)
    sh("git", "mvm", "check", "--baseline", "classifier@v1.0.0", "--rev", "HEAD", cwd=repo)
    sh("git", "mvm", "register", "classifier", "--bump-minor", "--no-env", cwd=repo)
    sh("git", "mvm", "promote", "classifier", "v1.1.0", "production", cwd=repo)
    sh("git", "mvm", "show", "classifier", cwd=repo)
    print("demo: OK: a retrained model reviewed, registered and promoted")
    return 0


def dataset_merge(repo: str) -> int:
    """Two branches change different files of one dataset; `git merge` merges the manifests
    (the merge driver) and the post-merge hook checks out the merged bytes."""
    def put(rel: str, data: bytes) -> None:
        with open(os.path.join(repo, rel), "wb") as f:
            f.write(data)

    sh("git", "switch", "-q", "-c", "more-cats", cwd=repo)
    print("$ # on more-cats: a new cat picture")
    cat = os.urandom(4096)
    put("data/train/cats/new.jpg", cat)
    sh("git", "mvm", "add", "-q", "data", cwd=repo)
    sh("git", "commit", "-q", "-m", "More cats", cwd=repo)
    sh("git", "switch", "-q", "main", cwd=repo)
    print("$ # on main: one dog picture relabelled (replaced)")
    dog = os.urandom(4096)
    put("data/train/dogs/000.jpg", dog)
    sh("git", "mvm", "add", "-q", "data", cwd=repo)
    sh("git", "commit", "-q", "-m", "Fix a dog", cwd=repo)
    sh("git", "merge", "--no-edit", "-q", "more-cats", cwd=repo)
    sh("git", "mvm", "diff", "HEAD~1", "HEAD", cwd=repo)
    got = digest(os.path.join(repo, "data", "train"))
    if (got.get(os.path.join("cats", "new.jpg")) != hashlib.sha256(cat).hexdigest()
            or got.get(os.path.join("dogs", "000.jpg")) != hashlib.sha256(dog).hexdigest()):
        print("demo: FAILED: the merged dataset lacks a branch's change", file=sys.stderr)
        return 1
    print("demo: OK: both branches' changes to the dataset merged, bytes in the work tree")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
