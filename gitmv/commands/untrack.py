from __future__ import annotations

import os
import shutil
import stat

from gitmv import ui
from gitmv.commands.output import report_failures
from gitmv.errors import GitMvmError
from gitmv.fsutil import remove_file, repo_lock, tmp_name
from gitmv.objects.pointer import pointer_path
from gitmv.worktree.checkout import checkout
from gitmv.worktree.workspace import Workspace, _gitignore_rel, remove_ignore_entry


def _materialize(path: str) -> None:
    """Replace hardlinks/symlinks into the cache by plain, writable copies."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or (stat.S_ISREG(st.st_mode) and st.st_nlink > 1):
        tmp = tmp_name(os.path.dirname(path))  # named so a later run cleans it up if killed
        try:
            shutil.copyfile(path, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            remove_file(tmp)
            raise


def run(paths: list[str]) -> int:
    ws = Workspace.open()
    failures: list[tuple[str, GitMvmError]] = []
    with repo_lock(ws.lock_path):
        for sel in ws.select(paths):
            rel = sel.artifact.path
            try:
                if sel.subpath:
                    raise GitMvmError(f"{rel}/{sel.subpath}: untrack works on whole artifacts",
                                      f"run `git mvm untrack {rel}`")
                checkout(ws, sel._replace(subpath=""), force=False)
                root = ws.repo.abs(rel)
                if os.path.isdir(root) and not os.path.islink(root):
                    for d, _dirs, files in os.walk(root):
                        for f in files:
                            _materialize(os.path.join(d, f))
                else:
                    _materialize(root)
                ws.repo.unstage_remove([pointer_path(rel)])
                os.unlink(ws.repo.abs(pointer_path(rel)))
                if remove_ignore_entry(root):
                    gi = _gitignore_rel(rel)
                    if os.path.exists(ws.repo.abs(gi)):
                        ws.repo.stage([gi])
                    else:
                        ws.repo.unstage_remove([gi])
                ws.state.delete_tree(root)
                ui.info(f"untracked: {rel} (now an ordinary file; `git add {rel}` to track "
                        "it in git)")
            except GitMvmError as exc:
                failures.append((rel, exc))
    return report_failures(failures)
