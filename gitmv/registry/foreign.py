"""The bytes of a version GTO registered for a model gitmv does not track: a file committed
to git itself, or a DVC output (`PATH.dvc` at the commit, its bytes in DVC's local cache).
`get` writes them where it would write a gitmv artifact's."""

from __future__ import annotations

import hashlib
import os

from gitmv.errors import GitMvmError
from gitmv.fsutil import atomic_write, remove_file, tmp_name
from gitmv.repo import Repo

CHUNK = 1 << 20


def _blob(repo: Repo, commit: str, path: str) -> bytes | None:
    spec = f"{commit}:{path}"
    if repo.git("cat-file", "-t", spec, check=False).strip() != b"blob":
        return None
    return repo.git("cat-file", "blob", spec)


def _dvc_md5(text: bytes, where: str) -> str | None:
    """The md5 of a DVC file output (`outs: - md5: …`); None for a directory output."""
    try:
        import yaml
    except ImportError:
        raise GitMvmError(f"reading {where} (a DVC file) needs PyYAML",
                          "install it: `pip install 'gitmv[yaml]'`") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    outs = doc.get("outs") if isinstance(doc, dict) else None
    out = outs[0] if isinstance(outs, list) and outs and isinstance(outs[0], dict) else {}
    md5 = out.get("md5")
    if not isinstance(md5, str) or md5.endswith(".dir"):
        return None
    return md5


def _copy_verified(src: str, dest: str, md5: str) -> None:
    parent = os.path.dirname(dest) or "."
    tmp = tmp_name(parent)
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with open(src, "rb") as fin, open(tmp, "xb") as fout:
            while chunk := fin.read(CHUNK):
                digest.update(chunk)
                fout.write(chunk)
            fout.flush()
            os.fsync(fout.fileno())
        if digest.hexdigest() != md5:
            raise GitMvmError(f"{src} in DVC's cache does not hash to {md5}: it is damaged",
                              "run `dvc pull --force` for that output, then get again")
        os.replace(tmp, dest)
    except BaseException:
        remove_file(tmp)
        raise


def write_untracked(repo: Repo, commit: str, path: str, dest: str, what: str) -> str:
    """Write the bytes of `path` at `commit` to `dest` from git or from DVC's cache;
    returns where they came from. Refuses, saying why, when neither has them."""
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    data = _blob(repo, commit, path)
    if data is not None:
        atomic_write(dest, data)
        return f"{path}, a file in git"
    dvc = _blob(repo, commit, f"{path}.dvc")
    if dvc is None:
        raise GitMvmError(
            f"{what}: {path} at commit {commit[:12]} is neither a gitmv pointer, a file in git "
            "nor a DVC output",
            f"`git show {commit[:12]} --stat` shows what the commit holds; the model's path "
            "comes from [models.NAME] path, artifacts.yaml or dvc.yaml")
    md5 = _dvc_md5(dvc, f"{path}.dvc")
    if md5 is None:
        raise GitMvmError(f"{what}: {path}.dvc at {commit[:12]} is a DVC directory output "
                          "(or not one gitmv can read)",
                          f"`dvc get . {path} --rev {commit[:12]}` fetches it; or convert the "
                          "repository with `git mvm import dvc`")
    for cache in (os.path.join(".dvc", "cache", "files", "md5"), os.path.join(".dvc", "cache")):
        src = os.path.join(repo.root, cache, md5[:2], md5[2:])
        if os.path.isfile(src):
            _copy_verified(src, dest, md5)
            return f"{path}, a DVC output from DVC's cache"
    raise GitMvmError(f"{what}: {path} is a DVC output whose bytes (md5 {md5}) are not in "
                      "DVC's local cache", f"`dvc fetch {path}.dvc` (at commit {commit[:12]}) "
                      "brings them, then get again")
