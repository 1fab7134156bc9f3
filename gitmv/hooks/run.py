"""What the installed hooks do (`git mvm hook NAME ARGS…`).

Hooks run on every commit and checkout, so this module imports only the standard library at
the top; a repository without `.mvm/` costs one `stat` after the chained hook (if any) ran.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gitmv.config import Config
    from gitmv.objects.state import StatCache
    from gitmv.repo import Repo
    from gitmv.worktree.workspace import Workspace

ZERO = "0" * 40
CHAINED = ".mvm-chained"


def run(name: str, args: list[str]) -> int:
    if name == "textconv":  # the `mvm` diff driver (diff.mvm.textconv), not a git hook
        from gitmv.hooks.textconv import run as textconv

        return textconv(args)
    if not args and os.environ.get("PRE_COMMIT"):
        args, stdin = _pre_commit_framework_args(name)
    else:
        stdin = sys.stdin.buffer.read() if name in ("pre-push", "post-rewrite") else b""
    rc = _run_chained(name, args, stdin)
    if rc != 0 and name.startswith("pre-"):
        return rc  # the foreign hook refused: so does git
    if not os.path.isdir(".mvm"):
        return rc  # not a gitmv repository (hooks run at the work-tree root)
    from gitmv.errors import GitMvmError, os_error

    try:
        if name == "pre-commit":
            own = pre_commit()
        elif name == "pre-push":
            own = pre_push(args, stdin)
        elif name == "post-checkout":
            own = post_checkout(args)
        elif name == "post-merge":
            own = post_merge(args)
        elif name == "post-rewrite":
            own = post_rewrite(args, stdin)
        elif name == "post-commit":
            own = post_commit()
        elif name == "post-index-change":
            own = post_index_change(args)
        else:
            sys.stderr.write(f"git mvm: unknown hook {name!r}\n")
            return 2
    except (GitMvmError, OSError) as err:
        # disk full, permissions: one line, never a traceback
        exc = os_error(err, f"{name} hook") if isinstance(err, OSError) else err
        if name.startswith("post-"):
            _warn(f"{exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
            return rc
        sys.stderr.write(f"git mvm: error: {exc.message}\n")
        if exc.hint:
            sys.stderr.write(f"hint: {exc.hint}\n")
        return 1
    return rc or own


def _pre_commit_framework_args(name: str) -> tuple[list[str], bytes]:
    """Rebuild git's hook arguments (and pre-push's stdin) from the PRE_COMMIT_* variables.

    Under the pre-commit framework a hook gets no arguments: the framework reads pre-push's
    stdin itself and passes what it found in the environment (only for the first ref that
    pushes new commits); post-checkout's three arguments arrive the same way.
    """
    env = os.environ.get
    if name == "pre-push":
        remote = env("PRE_COMMIT_REMOTE_NAME", "")
        local_ref = env("PRE_COMMIT_LOCAL_BRANCH", "")
        to_ref = env("PRE_COMMIT_TO_REF", "") or local_ref
        from_ref = env("PRE_COMMIT_FROM_REF", "") if env("PRE_COMMIT_TO_REF") else ZERO
        if not remote or not to_ref:
            return [], b""  # nothing to push, or run by hand without a push to look at
        remote_ref = env("PRE_COMMIT_REMOTE_BRANCH", "") or local_ref or to_ref
        line = f"{local_ref or to_ref} {to_ref} {remote_ref} {from_ref or ZERO}\n"
        return [remote, env("PRE_COMMIT_REMOTE_URL", "") or remote], line.encode()
    if name == "post-checkout":
        return [env("PRE_COMMIT_FROM_REF", "") or ZERO, env("PRE_COMMIT_TO_REF", "") or "HEAD",
                env("PRE_COMMIT_CHECKOUT_TYPE", "") or "1"], b""
    if name == "post-merge":
        return [env("PRE_COMMIT_IS_SQUASH_MERGE", "") or "0"], b""
    if name == "post-rewrite":
        return [env("PRE_COMMIT_REWRITE_COMMAND", "") or "rebase"], b""
    return [], b""


def _run_chained(name: str, args: list[str], stdin: bytes) -> int:
    """Run the hook that was installed before ours, exactly as git would have."""
    directory = os.environ.get("GITMV_HOOKS_DIR")
    if not directory:
        return 0
    path = os.path.join(directory, name + CHAINED)
    if not os.access(path, os.X_OK):
        return 0
    env = dict(os.environ)
    env.pop("GITMV_HOOKS_DIR", None)
    proc = subprocess.run([path, *args], input=stdin, env=env, check=False)
    return proc.returncode


def _warn(message: str) -> None:
    sys.stderr.write(f"git mvm: warning: {message}\n")


def _workspace() -> Workspace:
    from gitmv.worktree.workspace import Workspace

    return Workspace.open()


# --- pre-commit ------------------------------------------------------------------------------
def pre_commit() -> int:
    from gitmv.config import Config, parse_size
    from gitmv.errors import GitMvmError
    from gitmv.objects.pointer import (
        MAX_POINTER_SIZE,
        SUFFIX,
        Pointer,
        artifact_path,
        is_pointer_data,
    )
    from gitmv.repo import Repo

    repo = Repo.discover()
    out = repo.git("diff", "--cached", "--raw", "-z", "--no-renames", "--no-abbrev",
                   "--diff-filter=ACMR")
    staged: list[tuple[str, str, str]] = []  # (mode, blob, path)
    fields = out.split(b"\0")
    for i in range(0, len(fields) - 1, 2):
        meta = fields[i].split()
        if len(meta) >= 5:
            staged.append((meta[1].decode(), meta[3].decode(),
                           fields[i + 1].decode("utf-8", "surrogateescape")))
    if not staged:
        return 0
    # only files that read as pointers are pointers: any other `*.mvm` is a plain file
    named = [(m, b, p) for m, b, p in staged if p.endswith(SUFFIX) and m.startswith("100")]
    if named:  # a large data file named `*.mvm` is never read whole
        named = [f for f, size in zip(named, _blob_sizes(repo, [b for _, b, _ in named]),
                                      strict=True) if size <= MAX_POINTER_SIZE]
    datas = repo.read_blobs([b for _, b, _ in named]) if named else []
    pointer_blobs = {(b, p): d for (_, b, p), d in zip(named, datas, strict=True)
                     if is_pointer_data(d)}
    config = Config.load(repo.root, repo.mvm_dir)
    problems = _artifact_bytes_staged(repo, [p for m, b, p in staged if (b, p) not in
                                             pointer_blobs and m != "160000"])
    limit = parse_size(config.get("hooks.max_file_size", "5MB"), "hooks.max_file_size")
    plain = [(m, b, p) for m, b, p in staged
             if (b, p) not in pointer_blobs and m.startswith("100")]
    if limit and plain:
        sizes = _blob_sizes(repo, [b for _, b, _ in plain])
        for (_, _blob, path), size in zip(plain, sizes, strict=True):
            if size > limit:
                problems.append(
                    f"{path}: {size:,} bytes is over hooks.max_file_size ({limit:,}) and not "
                    f"tracked by gitmv; fix: git rm --cached -- {path} && git mvm add {path}"
                    " (or raise hooks.max_file_size in .mvm/config.toml, or commit with "
                    "--no-verify)"
                )
    pointers = list(pointer_blobs)
    if pointers:
        from gitmv.worktree.workspace import Workspace

        ws = Workspace(repo, config)
        blobs = list(pointer_blobs.values())
        _keep_artifacts_ignored(repo, [artifact_path(p) for _, p in pointers],
                                _follow_renames(ws, pointers, blobs))
        from gitmv.worktree.merge import is_unresolved

        for (_, path), data in zip(pointers, blobs, strict=True):
            if is_unresolved(data):
                rel = artifact_path(path)
                problems.append(
                    f"{path}: still holds a merge conflict (it was staged as the merge left "
                    f"it); fix: git checkout -m -- {path} (brings the conflict back), then "
                    f"git mvm resolve {rel} --ours|--theirs|--union")
                continue
            try:
                ptr = Pointer.parse(data, path)
            except GitMvmError as exc:
                problems.append(f"{exc.message} (commit with --no-verify to skip this check)")
                continue
            rel = artifact_path(path)
            if not ws.in_cache(ptr):
                problems.append(
                    f"{path}: its object {ptr.oid_str} is not in the cache, so nobody could "
                    f"get these bytes back; fix: git mvm add {rel} (or `git mvm pull {rel}`; "
                    "commit with --no-verify to skip this check)"
                )
                continue
            wrong = ws.pointer_problem(ptr, read=True)
            if wrong:
                problems.append(
                    f"{path}: {wrong}; fix: git mvm add {rel} (or restore the pointer with "
                    f"`git checkout HEAD -- {path}`; commit with --no-verify to skip this check)"
                )
                continue
            if ws.config.get("hooks.check_stale", True) and _is_stale(ws, rel, ptr):
                problems.append(
                    f"{rel}: changed in the work tree after its pointer was staged; fix: "
                    f"git mvm add {rel} (or set hooks.check_stale = false, or commit with "
                    "--no-verify)"
                )
    problems += _check_toml_files(repo, config, {p: b for m, b, p in staged})
    if problems:
        sys.stderr.write("git mvm: pre-commit refused the commit:\n")
        for p in problems:
            sys.stderr.write(f"  {p}\n")
        return 1
    return 0


def _artifact_bytes_staged(repo: Repo, paths: list[str]) -> list[str]:
    """Staged files that are an artifact's bytes, or inside a directory artifact: their
    pointer is in the index, so the bytes belong in the cache, not in git, whatever their
    size (a renamed pointer, `git add -A` or `git add -f` put them there)."""
    from gitmv.objects.pointer import SUFFIX

    # Candidates first, from the work tree (a stat each, no git call for an ordinary commit):
    # a pointer beside the file or beside a directory above it; then the index decides.
    candidates: dict[str, list[str]] = {}
    for path in paths:
        parts = path.split("/")
        for n in range(len(parts), 0, -1):
            art = "/".join(parts[:n])
            if os.path.lexists(repo.abs(art + SUFFIX)):
                candidates.setdefault(art, []).append(path)
                break
    if not candidates:
        return []
    out = repo.git("ls-files", "-z", "--cached", "--",
                   *(f":(literal){art}{SUFFIX}" for art in candidates))
    tracked = {p[: -len(SUFFIX)] for p in out.decode("utf-8", "surrogateescape").split("\0")
               if p}
    hits = {art: files for art, files in candidates.items() if art in tracked}
    problems = []
    for art, files in sorted(hits.items()):
        what = (f"{art}: its bytes are staged in git" if files == [art] else
                f"{art}: {len(files)} file(s) of this directory artifact are staged in git "
                f"(e.g. {files[0]})")
        problems.append(
            f"{what}, but {art}{SUFFIX} tracks it with gitmv; fix: git rm -r -q --cached -- "
            f"{art} (the bytes stay in the work tree; `git mvm add {art}` records a new "
            "version), or commit with --no-verify"
        )
    return problems


def _follow_renames(ws: Workspace, pointers: list[tuple[str, str]], blobs: list[bytes]
                    ) -> list[str]:
    """The bytes of a renamed pointer's artifact follow it (`git mv a.pt.mvm b.pt.mvm`);
    the `.gitignore` files that changed."""
    from gitmv.errors import GitMvmError
    from gitmv.objects.pointer import Pointer, artifact_path
    from gitmv.worktree.workspace import Artifact

    arts = []
    for (_, path), data in zip(pointers, blobs, strict=True):
        if not os.path.lexists(ws.repo.abs(artifact_path(path))):
            try:
                arts.append(Artifact(artifact_path(path), Pointer.parse(data, path), None))
            except GitMvmError:
                continue  # said below
    if not arts:
        return []
    from gitmv.worktree.checkout import follow_renames

    return follow_renames(ws, arts)


def _keep_artifacts_ignored(repo: Repo, rels: list[str], renamed: list[str]) -> None:
    """A staged pointer's artifact is listed in the .gitignore beside it (and that file staged
    with it): `git mv a.pt.mvm b.pt.mvm` leaves `/a.pt` in it, not `/b.pt`, so the next
    `git add -A` would commit the model's bytes. `renamed`: .gitignore files a rename that
    gitmv followed changed already."""
    from gitmv import ui
    from gitmv.worktree.workspace import _gitignore_rel, add_ignore_entry

    changed = sorted(set(renamed) | {_gitignore_rel(rel) for rel in rels
                                      if add_ignore_entry(repo.abs(rel))}
                     | _unstaged_ignores(repo, rels))
    if not changed:
        return
    names = ", ".join(changed)
    # `git commit PATHS` commits a temporary index and then writes the real one itself:
    # staging into the first would leave the second with the old file, a change to undo.
    if os.path.basename(os.environ.get("GIT_INDEX_FILE", "")).startswith("next-index"):
        ui.info(f"git mvm: listed the renamed artifact(s) in {names}; commit it too "
                f"(`git add {names}`): `git commit PATHS` takes only the paths named")
        return
    repo.stage(changed)
    ui.info(f"git mvm: listed the renamed artifact(s) in {names} (staged)")


def _unstaged_ignores(repo: Repo, rels: list[str]) -> set[str]:
    """.gitignore files whose work-tree version lists a staged pointer's artifact and whose
    staged version does not: an earlier `git mvm status` followed a `git mv` of the pointer
    and wrote the line (one git call; a file read only when its .gitignore is modified)."""
    from gitmv.worktree.workspace import _gitignore_rel, _ignore_pattern

    by_file: dict[str, list[str]] = {}
    for rel in rels:
        by_file.setdefault(_gitignore_rel(rel), []).append(rel)
    out = repo.git("diff", "--name-only", "-z", "--", *by_file, check=False)
    found = set()
    for gi in out.decode("utf-8", "surrogateescape").split("\0"):
        if gi not in by_file:
            continue
        try:
            with open(repo.abs(gi), encoding="utf-8", errors="surrogateescape") as f:
                here = set(f.read().splitlines())
        except OSError:
            continue
        staged = set(repo.git("cat-file", "blob", f":{gi}", check=False)
                     .decode("utf-8", "surrogateescape").splitlines())
        if any(_ignore_pattern(os.path.basename(rel)) in here - staged for rel in by_file[gi]):
            found.add(gi)
    return found


def _blob_sizes(repo: Repo, blobs: list[str]) -> list[int]:
    out = repo.git("cat-file", "--batch-check=%(objectsize)",
                      input="".join(b + "\n" for b in blobs).encode())
    return [int(x) for x in out.split()]


def _is_stale(ws: Workspace, rel: str, ptr: object) -> bool:
    """The work-tree artifact differs from the staged pointer (absent is not stale)."""
    from gitmv.objects.pointer import Pointer
    from gitmv.worktree.workspace import Artifact, Selection

    assert isinstance(ptr, Pointer)
    if not os.path.lexists(ws.repo.abs(rel)):
        return False
    status = ws.status(Selection(Artifact(rel, ptr, None), ""))
    return status.state == "modified"


def _check_toml_files(repo: Repo, config: Config, staged: dict[str, str]) -> list[str]:
    """Staged metrics and params files named in config must be valid TOML."""
    import fnmatch
    import tomllib

    patterns: list[str] = []
    for key in ("metrics.files", "params.files"):
        value = config.get(key, [])
        patterns += [value] if isinstance(value, str) else [str(v) for v in value]
    if not patterns:
        return []
    chosen = [p for p in staged if any(fnmatch.fnmatch(p, pat) for pat in patterns)]
    problems = []
    for path, data in zip(chosen, repo.read_blobs([staged[p] for p in chosen]), strict=True):
        try:
            tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            problems.append(f"{path}: not valid TOML ({exc}); fix the file (it is named in "
                            "metrics.files/params.files), or commit with --no-verify")
    return problems


# --- pre-push --------------------------------------------------------------------------------
def pre_push(args: list[str], stdin: bytes) -> int:
    """Upload the objects named by pointers in the commits the remote does not have yet.

    Offline first: the pointers of the pushed commits minus what the remote's old values (the
    `<remote sha>` git hands us, read from the push's own connection) reach. A push whose new
    commits name no pointer ends there, with no second connection to the remote. Only when
    some do are they narrowed by what the remote's refs name now (`_remote_tips`)."""
    from gitmv import ui
    from gitmv.remotes import base as remotes
    from gitmv.transfer.reach import parse_pointers, pointer_blobs_in_commits
    from gitmv.transfer.sync import push_pointers

    updates = []
    for line in stdin.decode().splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[1] != ZERO:  # a deletion pushes nothing
            updates.append(parts)
    if not updates:
        return 0
    ws = _workspace()
    remote_name = args[0] if args else "origin"
    url = args[1] if len(args) > 1 else None
    revs: list[str] = []
    excludes: list[str] = []
    for _lref, lsha, _rref, rsha in updates:
        revs.append(lsha)
        if rsha != ZERO and ws.repo.has_commit(rsha):
            excludes.append(rsha)
    blobs = pointer_blobs_in_commits(ws.repo, [*revs, "--not", *excludes])
    if not blobs:
        return 0
    tips = _remote_tips(ws.repo, url or remote_name)
    if tips:
        blobs = pointer_blobs_in_commits(ws.repo, [*revs, "--not", *excludes, *tips])
    pointers = parse_pointers(ws.repo, blobs,
                              escape="`git push --no-verify` pushes without their bytes")
    if not pointers:
        return 0
    store = remotes.resolve(ws.repo, ws.config, git_remote=remote_name, git_url=url, push=True)
    result = push_pointers(ws, store, pointers, jobs=8)
    if result.transferred:
        ui.info(f"git mvm: uploaded {ui.plural(len(result.transferred), 'object')} to {store.name}")
    return 0


def _remote_tips(repo: Repo, remote: str) -> list[str]:
    """The commits the remote's branches and tags name now (`git ls-remote`) that this clone
    has: the remote holds their history, so the store holds its objects (gc --remote keeps
    whatever the remote's refs name) and a push need not check them.

    git may not ask anyone anything here (GIT_TERMINAL_PROMPT=0, stdin at its end): the push
    has its connection already, and a hook that asks for a password a second time is worse
    than one that checks more. A remote that cannot be listed so excludes nothing (every
    pushed commit is checked: slower, safe). Remote-tracking refs are never taken instead:
    one for a branch deleted on the server is stale, and its commits' objects may be gone
    from the store."""
    from gitmv.errors import GitFailed

    saved = os.environ.get("GIT_TERMINAL_PROMPT")
    os.environ["GIT_TERMINAL_PROMPT"] = "0"  # (run_git hands git this process's environment)
    try:
        out = repo.git("ls-remote", "--heads", "--tags", "--", remote, input=b"")
    except GitFailed:
        return []
    finally:
        if saved is None:
            del os.environ["GIT_TERMINAL_PROMPT"]
        else:
            os.environ["GIT_TERMINAL_PROMPT"] = saved
    shas = sorted({line.split()[0].decode() for line in out.splitlines() if line.strip()})
    if not shas:
        return []
    kinds = repo.git("cat-file", "--batch-check=%(objectname) %(objecttype)",
                     input="".join(f"{s}\n" for s in shas).encode(), check=False)
    return [f[0].decode() for f in (ln.split() for ln in kinds.splitlines())
            if len(f) == 2 and f[1] == b"commit"]


# --- post-checkout / post-merge / post-rewrite -------------------------------------------------
def post_checkout(args: list[str]) -> int:
    if len(args) < 3 or args[2] != "1":
        # a file checkout (`git checkout [REV] -- F`, `git restore`): git wrote pointer files,
        # not branches, and says which nowhere: the pointers it rewrote since gitmv last
        # followed them
        return follow_pointers()
    return _materialize_changes(args[0], args[1])


def post_index_change(args: list[str]) -> int:
    """git wrote the index; with "1" as the first argument it also updated the work tree
    (`reset --hard`, `stash`, `stash pop`, cherry-pick, revert, a branch switch before its
    post-checkout): bring the artifacts whose pointers it rewrote into line. The shim runs
    no Python for any other call."""
    if not args or args[0] != "1":
        return 0
    return follow_pointers()


def follow_pointers() -> int:
    """Materialize the artifacts whose pointer files git rewrote since gitmv last followed
    them (their stat-cache rows no longer match). Nothing rewritten: a `git ls-files`, an
    `lstat` and a row read per pointer."""
    from gitmv.objects.pointer import SUFFIX, artifact_path
    from gitmv.objects.state import StatCache
    from gitmv.repo import Repo

    repo = Repo.discover()
    out = repo.git("ls-files", "-z", "--cached", "--", f"*{SUFFIX}")
    rels = sorted({artifact_path(p) for p in out.decode("utf-8", "surrogateescape").split("\0")
                   if p})
    if not rels:
        return 0
    state = StatCache(os.path.join(repo.mvm_dir, "state.sqlite"))
    todo = [rel for rel in rels if _followed(repo, state, rel) is False]
    state.close()
    if todo:  # only now the work tree's machinery (its imports cost more than all the above)
        from gitmv.worktree.workspace import Workspace

        ws = Workspace(repo)
        from gitmv.errors import GitMvmError
        from gitmv.worktree.checkout import follow_renames, say_unstaged_ignores
        from gitmv.worktree.workspace import Artifact

        absent = []
        for rel in todo:
            if not os.path.lexists(ws.repo.abs(rel)):
                try:
                    absent.append(Artifact(rel, ws.read_pointer(rel), None))
                except GitMvmError:
                    continue
        if absent:
            say_unstaged_ignores(follow_renames(ws, absent))
        materialize(ws, todo, skip_invalid=True)
    return 0


def _followed(repo: Repo, state: StatCache, rel: str) -> bool | None:
    """Whether gitmv followed the pointer of `rel` since git last wrote it: the pointer file's
    own stat-cache row (`Workspace.mark_followed`) still vouches for its stat. None: no
    pointer file in the work tree (nothing to follow)."""
    from gitmv.objects.hashing import stat_of
    from gitmv.objects.pointer import pointer_path

    ppath = repo.abs(pointer_path(rel))
    try:
        st = os.lstat(ppath)
    except FileNotFoundError:
        return None
    return state.get(ppath, stat_of(st)) is not None


def post_commit() -> int:
    """A commit git made without checking anything out (a cherry-pick, a revert, or a
    commit of a pointer rewritten by hand) may leave the work tree holding an older version
    of an artifact it changed: check the pointer's out, but only then (the cache has what
    is there). Unsaved bytes are never touched, and an artifact left absent stays absent."""
    from gitmv.objects.pointer import SUFFIX, artifact_path
    from gitmv.repo import Repo

    repo = Repo.discover()
    out = repo.git("diff-tree", "--no-commit-id", "--name-only", "-r", "-z", "--root",
                   "--no-renames", "HEAD", "--", f"*{SUFFIX}", check=False)
    changed = sorted({artifact_path(p) for p in
                      out.decode("utf-8", "surrogateescape").split("\0") if p})
    if not changed:
        return 0
    from gitmv.worktree.workspace import Selection, Workspace

    ws = Workspace(repo)
    changed = [p for p in changed if _followed(repo, ws.state, p) is False]  # not as `add` left
    if not changed:
        ws.state.close()
        return 0
    arts = {a.path: a for a in ws.artifacts()}
    outdated, clean = [], []
    for rel in changed:
        a = arts.get(rel)
        if a is None or a.pointer is None:
            continue
        state = ws.status(Selection(a, "")).state
        if state == "outdated":
            outdated.append(rel)
        elif state == "up to date":
            clean.append(rel)
    ws.mark_followed(clean)
    if outdated:
        materialize(ws, outdated)
    ws.state.close()
    return 0


def post_merge(args: list[str] | None = None) -> int:
    if args and args[0] == "1":  # a squash merge: HEAD stays, the merged pointers are staged
        return _materialize_changes("ORIG_HEAD", "--cached")
    return _materialize_changes("ORIG_HEAD", "HEAD")


def post_rewrite(args: list[str], stdin: bytes = b"") -> int:
    """After a rebase the work tree holds the artifacts of where it started (post-checkout ran
    for `onto`), not of ORIG_HEAD: also materialize every pointer the rewritten commits touch
    (stdin lists `<old sha> <new sha>` per commit)."""
    if args and args[0] == "amend":
        return 0  # the work tree did not change
    rewritten = [f.split()[1] for f in stdin.decode(errors="replace").splitlines()
                 if len(f.split()) >= 2]
    return _materialize_changes("ORIG_HEAD", "HEAD", rewritten)


def _materialize_changes(old: str, new: str, commits: list[str] | None = None) -> int:
    from gitmv.objects.pointer import SUFFIX, artifact_path
    from gitmv.repo import Repo

    repo = Repo.discover()
    if old == ZERO or not repo.has_commit(old):
        changed = None  # everything the new commit has
    else:
        ends = ["--cached", old] if new == "--cached" else [old, new]  # the index vs old
        out = repo.git("diff", "--name-only", "-z", "--no-renames", *ends, "--", f"*{SUFFIX}")
        if commits:  # pointers the given commits change, whatever the two ends hold
            out += b"\0" + repo.git("log", "--no-walk", "--stdin", "--format=", "--name-only",
                                    "-z", "-m", "--no-renames", "--", f"*{SUFFIX}",
                                    input="".join(c + "\n" for c in commits).encode())
        changed = sorted({artifact_path(p) for p in
                          out.decode("utf-8", "surrogateescape").split("\0") if p})
        if not changed:
            return 0
    ws = _workspace()
    if changed is not None:  # post-index-change, run first, may have followed them already
        changed = [p for p in changed if not _followed(ws.repo, ws.state, p)]
        if not changed:
            ws.state.close()
            return 0
    materialize(ws, changed)
    return 0


def materialize(ws: Workspace, paths: list[str] | None, skip_invalid: bool = False) -> None:
    """Bring artifacts into the work tree after git moved the pointers; never fails.

    Unsaved bytes are kept: a file artifact's as a whole, a directory's file by file (the
    others are brought to the new version), each named in a warning. `skip_invalid`: say
    nothing of pointers that do not parse (a conflicted one, mid-merge; status names it)."""
    from gitmv import ui
    from gitmv.errors import GitMvmError, ObjectMissing, WouldOverwrite
    from gitmv.fsutil import repo_lock
    from gitmv.remotes import base as remotes
    from gitmv.transfer.sync import fetch_pointers
    from gitmv.worktree.checkout import checkout, remove_artifact, warn_kept

    arts = {a.path: a for a in ws.artifacts()}
    for gone in [p for p in paths or [] if p not in arts]:  # the new commit has no pointer
        if not remove_artifact(ws, gone):
            ui.warn(f"{gone}: no longer tracked here, but it holds changes that are not in "
                    "the cache; left as it is")
    wanted = [arts[p] for p in (paths if paths is not None else sorted(arts)) if p in arts]
    if skip_invalid:
        wanted = [a for a in wanted if a.pointer is not None]
    if not wanted:
        return
    pointers = [a.pointer for a in wanted if a.pointer is not None]
    missing = [p for p in pointers if not ws.in_cache(p)]
    if missing and ws.config.get("hooks.auto_pull", True):
        try:
            store = remotes.resolve(ws.repo, ws.config)
            fetch_pointers(ws, store, missing, jobs=8)
        except GitMvmError as exc:
            ui.warn(f"could not fetch: {exc.message}")
    from gitmv.worktree.workspace import Selection

    written = 0
    # not brought into line (unsaved bytes kept, an object missing, a full disk): warned once,
    # so followed all the same; `git mvm status` goes on saying it
    left: list[str] = []
    with repo_lock(ws.lock_path):
        for a in wanted:
            try:
                r = checkout(ws, Selection(a, ""), force=False, keep=True)
                written += 1 if (r.written or r.removed) else 0
                warn_kept(r, "the other files are at the checked-out version (`git mvm status` "
                          f"lists them; `git mvm checkout --force {a.path}` discards the "
                          "changes)")
            except ObjectMissing:
                ui.warn(f"{a.path}: bytes not in the cache; run `git mvm pull {a.path}`")
            except WouldOverwrite as exc:
                ui.warn(f"{exc.message}; left as it is ({exc.hint})")
            except GitMvmError as exc:  # a full disk, say: one line naming what and why
                ui.warn(exc.message + (f" ({exc.hint})" if exc.hint else ""))
            else:
                continue
            left.append(a.path)
    ws.mark_followed(left)
    ws.state.close()
    if written:
        ui.info(f"git mvm: checked out {ui.plural(written, 'artifact')}")
