"""Argument parsing and dispatch: `git mvm <command> …` (also `git mv-model`, `python -m gitmv`).

Commands are imported when they run, so a hook with nothing to do stays cheap.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from gitmv import __version__, ui
from gitmv.errors import GitMvmError

if TYPE_CHECKING:
    import argparse

PROG = "git mvm"

# command -> (module in gitmv.commands, one-line summary)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("init", "create .mvm/config.toml with commented defaults"),
    "add": ("add", "version files or directories: cache their bytes, write and stage pointers"),
    "status": ("status", "show artifacts that are modified, missing or not in the cache"),
    "checkout": ("checkout", "make the work tree match the pointers, from the cache"),
    "ls": ("ls", "list the tracked artifacts of the work tree or of a revision"),
    "diff": ("diff", "artifacts added, removed or modified between revisions or the work tree"),
    "fsck": ("fsck", "re-hash cache objects (move corrupt ones aside); check a remote store"),
    "untrack": ("untrack", "turn an artifact back into an ordinary, untracked file"),
    "install": ("install", "install the git hooks that carry artifacts along"),
    "uninstall": ("uninstall", "remove gitmv's git hooks, restoring any hook they chained"),
    "push": ("transfer:push", "upload the objects artifacts need to a remote store"),
    "fetch": ("transfer:fetch", "download the objects artifacts need into the cache"),
    "pull": ("transfer:pull", "fetch, then check out"),
    "remote": ("remote", "manage remote object stores"),
    "clone": ("clone", "git clone, install the hooks, and pull the artifacts"),
    "gc": ("gc", "delete cache (or store) objects that provably nothing needs"),
    "metrics": ("metrics", "show, diff or plot the metrics kept in tracked TOML, JSON or YAML"),
    "params": ("params", "show or diff the training params kept in tracked TOML, JSON or YAML"),
    "check": ("check", "CI gate: check metrics against the [gates] rules and a baseline"),
    "report": ("report", "the review of a change: artifacts, params, metrics and gates"),
    "card": ("card", "write a model card (Markdown, Hugging Face metadata) for a version"),
    "register": ("register", "register a model version: an annotated tag MODEL@vX.Y.Z"),
    "promote": ("promote", "assign a registered version to a stage (tag MODEL#STAGE#N)"),
    "assign": ("promote", "the same as promote"),
    "rollback": ("promote:rollback", "put back the version that held a stage before"),
    "unassign": ("promote:unassign", "take the current version out of a stage"),
    "deprecate": ("register:deprecate", "deprecate a model, or deregister one version"),
    "show": ("show", "the registry: models, latest versions, versions in each stage"),
    "history": ("show:history", "a model's registry events, oldest first: the audit trail"),
    "check-ref": ("show:check_ref", "the registry event a tag records (as gto check-ref)"),
    "get": ("get", "write a registered version's bytes to a path, without a checkout"),
    "import": ("importing", "bring a Git LFS or DVC repository over: their files become "
               "pointers, their objects cached, their server a remote"),
    "resolve": ("resolve", "finish a merge conflict in pointers: keep ours, theirs or both"),
    "hook": ("hook", "entry point of the installed git hooks"),
    "help": ("help", "show help for a command"),
}


def _parser_class() -> type[argparse.ArgumentParser]:
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> Any:
            self.print_usage(sys.stderr)
            sys.stderr.write(f"{PROG}: error: {message}\n")
            raise SystemExit(2)

    return _Parser


def _common(p: argparse.ArgumentParser) -> None:
    import argparse

    g = p.add_argument_group("output")
    g.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="print nothing but errors")
    g.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="say more; show tracebacks of unexpected errors")


def _positive_int(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: must be at least 1")
    return value


def _jobs(p: argparse.ArgumentParser) -> None:
    p.add_argument("-j", "--jobs", type=_positive_int, default=None, metavar="N",
                   help="files to read or write in parallel (default 8)")


# `git clone` options `git mvm clone` hands to git as given: (flags, takes a value, help).
# `-j` stays gitmv's (files in parallel); `-q` is both git's and gitmv's.
GIT_CLONE_OPTIONS: tuple[tuple[tuple[str, ...], bool, str], ...] = (
    (("-b", "--branch"), True, "check out this branch (or tag) instead of the remote's HEAD"),
    (("-o", "--origin"), True, "name the remote this instead of origin"),
    (("--depth",), True, "a shallow clone of this many commits"),
    (("--shallow-since",), True, "a shallow clone of the commits after this date"),
    (("--shallow-exclude",), True, "a shallow clone without the history of this revision"),
    (("--filter",), True, "a partial clone (blob:none, tree:0, ...)"),
    (("--reference",), True, "borrow objects from this local repository"),
    (("--separate-git-dir",), True, "put the git dir here"),
    (("--template",), True, "the template directory"),
    (("-c", "--config"), True, "KEY=VALUE set in the new repository's config"),
    (("--recurse-submodules",), False, "also clone the submodules"),
    (("--shallow-submodules",), False, "clone the submodules shallow"),
    (("--single-branch",), False, "fetch only the one branch"),
    (("--no-single-branch",), False, "fetch every branch"),
    (("--no-tags",), False, "fetch no tags"),
    (("-n", "--no-checkout"), False, "check nothing out (and so pull no artifacts)"),
    (("--bare",), False, "a bare repository (no work tree: no hooks, no artifacts)"),
    (("--mirror",), False, "a bare mirror (no work tree: no hooks, no artifacts)"),
    (("--sparse",), False, "a sparse checkout of the top directory's files"),
    (("--no-hardlinks",), False, "copy a local repository's objects"),
    (("-s", "--shared"), False, "share a local repository's objects"),
    (("--dissociate",), False, "stop borrowing from --reference once cloned"),
)


def _git_clone_options(p: argparse.ArgumentParser) -> None:
    import argparse

    class _PassOn(argparse.Action):
        def __call__(self, parser: argparse.ArgumentParser, ns: argparse.Namespace,
                     values: Any, option_string: str | None = None) -> None:
            flag = option_string or ""
            if not isinstance(values, str):
                given = [flag]
            elif flag.startswith("--"):
                given = [f"{flag}={values}"]
            else:
                given = [flag, values]
            setattr(ns, self.dest, [*(getattr(ns, self.dest) or []), *given])

    g = p.add_argument_group("git clone options (passed to git as given)")
    for flags, takes_value, help_text in GIT_CLONE_OPTIONS:
        g.add_argument(*flags, dest="git_options", action=_PassOn, default=[],
                       nargs=None if takes_value else 0, help=help_text,
                       metavar="VALUE" if takes_value else None)


def _json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


class _Unbuilt:
    """Stands in for the parser of a command `make_parser(only=…)` leaves out: every call on
    it (add_argument, add_argument_group, …) does nothing and returns it."""

    def __getattr__(self, name: str) -> Any:
        return self._nothing

    def _nothing(self, *args: Any, **kwargs: Any) -> _Unbuilt:
        return self


def make_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with `only` (a command's name), the parser of that command alone
    under the same top level: what `main` parses a command line with (building all ~35
    subparsers costs 30-40 ms a call)."""
    import argparse

    _Parser = _parser_class()
    parser = _Parser(
        prog=PROG,
        description="Version machine-learning models and datasets inside ordinary Git "
        "repositories: large files become small pointer files in commits, their bytes live "
        "in a content-addressed cache.",
        epilog=f"`{PROG} help COMMAND` shows a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"gitmv {__version__}")
    _common(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def cmd(name: str) -> argparse.ArgumentParser:
        if only is not None and name != only:
            return cast("argparse.ArgumentParser", _Unbuilt())
        summary = COMMANDS[name][1]
        p = sub.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")
        _common(p)
        return p

    p = cmd("init")
    p.add_argument("--no-hooks", dest="install_hooks", action="store_false",
                   help="do not install the git hooks")

    p = cmd("add")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="files, directories or globs (pointer files matched are taken for "
                   "their artifacts); `.` at the top of the work tree: every artifact again "
                   "and each untracked, not ignored file or directory there")
    p.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                   help="user metadata stored in the pointer's [meta] table (repeatable)")
    _jobs(p)

    p = cmd("status")
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.add_argument("--remote", nargs="?", const="", default=None, metavar="NAME",
                   help="also report artifacts whose objects are not on the remote yet")
    _json(p)
    _jobs(p)

    p = cmd("checkout")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="artifacts, or paths inside a directory artifact (default: all)")
    p.add_argument("-f", "--force", action="store_true",
                   help="overwrite work-tree changes that are not in the cache")
    _jobs(p)

    p = cmd("ls")
    p.add_argument("rev", nargs="?", metavar="REV",
                   help="a commit, branch or tag (default: the work tree)")
    _json(p)

    p = cmd("diff")
    p.add_argument("a", nargs="?", metavar="A", help="old revision (default HEAD)")
    p.add_argument("b", nargs="?", metavar="B", help="new revision (default: the work tree)")
    _json(p)

    p = cmd("fsck")
    p.add_argument("--remote", nargs="?", const="", default=None, metavar="NAME",
                   help="also check the objects every commit and the work tree name on a "
                   "remote store (the default remote, or NAME): missing, or of the wrong size")
    p.add_argument("--verify", action="store_true",
                   help="with --remote: also check their sha256 (the store's own checksum "
                   "where it keeps one, else by downloading them)")
    p.add_argument("--repair", action="store_true",
                   help="with --remote: put this clone's verified copy of every bad object "
                   "back on the store; name the commits of those it cannot")
    _json(p)
    _jobs(p)

    p = cmd("untrack")
    p.add_argument("paths", nargs="+", metavar="PATH")

    p = cmd("install")
    p.add_argument("--force", action="store_true",
                   help="replace a previously chained hook with the one there now")
    cmd("uninstall")

    def remote_opts(p: argparse.ArgumentParser) -> None:
        p.add_argument("--remote", "-r", metavar="NAME", help="the remote to use")
        _jobs(p)

    p = cmd("push")
    p.add_argument("paths", nargs="*", metavar="[REMOTE] PATH",
                   help="a remote name first, then artifacts (default: all)")
    p.add_argument("--all-commits", action="store_true",
                   help="every version named in any commit of any branch or tag")
    p.add_argument("--full", action="store_true",
                   help="check every file of a directory on the store, even when its manifest "
                   "is there, and verify the sha256 of what the store holds (the store's "
                   "checksum, else a download); replaces what is missing or wrong")
    remote_opts(p)
    p = cmd("fetch")
    p.add_argument("paths", nargs="*", metavar="[REMOTE] PATH")
    remote_opts(p)
    p = cmd("pull")
    p.add_argument("paths", nargs="*", metavar="[REMOTE] PATH")
    p.add_argument("-f", "--force", action="store_true",
                   help="overwrite work-tree changes that are not in the cache")
    remote_opts(p)

    p = cmd("remote")
    p.add_argument("action", choices=("add", "list", "remove"))
    p.add_argument("name", nargs="?", metavar="NAME")
    p.add_argument("url", nargs="?", metavar="URL")
    p.add_argument("--local", action="store_true",
                   help="write the local config (<git dir>/mvm/config.toml), never committed")
    p.add_argument("-d", "--default", action="store_true", help="make it core.remote")
    p.add_argument("--endpoint-url", metavar="URL",
                   help="S3: an S3-compatible server (MinIO, Ceph, R2, GCS interop)")
    p.add_argument("--region", metavar="REGION", help="S3: the bucket's region")
    p.add_argument("--profile", metavar="NAME",
                   help="S3: the AWS profile whose credentials to use (gitmv stores none)")
    p.add_argument("--packs", action=argparse.BooleanOptionalAction, default=None,
                   help="objects in packs, large ones as content-defined chunks (store "
                   "layout 2), the default for directory, S3 and WebDAV stores; --no-packs "
                   "keeps loose objects (layout 1) for a store an older gitmv shares "
                   "(docs/remotes.md)")
    _json(p)

    p = cmd("clone")
    p.add_argument("url", metavar="URL")
    p.add_argument("directory", nargs="?", metavar="DIR")
    _jobs(p)
    _git_clone_options(p)

    p = cmd("gc")
    p.add_argument("-n", "--dry-run", action="store_true", help="only say what would be freed")
    p.add_argument("--remote", nargs="?", const="", default=None, metavar="NAME",
                   help="collect garbage on a remote store instead of the cache")
    p.add_argument("--force", action="store_true",
                   help="delete even when something that could name objects cannot be read "
                        "(an unreachable remote, a shallow clone, an unreadable pointer, a "
                        "clone of a shared cache that is gone): what nothing that was read "
                        "names goes")
    p.add_argument("--forget-clone", action="append", default=[], metavar="GITDIR",
                   help="drop a clone that no longer exists from a shared cache's list, then "
                        "collect (repeatable)")
    _json(p)

    p = cmd("card")
    p.add_argument("model", metavar="MODEL", help="a registered model (or MODEL@VERSION)")
    p.add_argument("version", nargs="?", metavar="VERSION",
                   help="vX.Y.Z, a stage, or latest (default: the latest version)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the card to FILE (atomically) instead of standard output")

    def values_opts(p: argparse.ArgumentParser) -> None:
        p.add_argument("--all", action="store_true", help="diff: every key, changed or not")
        p.add_argument("--md", action="store_true",
                       help="print a GitHub Markdown table (for a pull-request comment)")
        p.add_argument("--precision", type=int, default=None, metavar="N",
                       help="significant digits of numbers in tables (default 6)")
        _json(p)

    p = cmd("metrics")
    p.add_argument("action", choices=("show", "diff", "plot"))
    p.add_argument("args", nargs="*", metavar="REV|KEY",
                   help="show: revisions (default: the work tree); diff: [A [B]] (default: "
                   "HEAD against the work tree); plot: metric keys")
    values_opts(p)
    p.add_argument("--revs", metavar="RANGE",
                   help="plot: the commits to plot, a revision or A..B (default HEAD)")
    p.add_argument("-n", "--max-count", type=int, default=50, metavar="N",
                   help="plot: at most the newest N first-parent commits (default 50)")
    p.add_argument("-o", "--output", metavar="FILE", help="plot: FILE.svg, FILE.png or FILE.html")

    p = cmd("params")
    p.add_argument("action", choices=("show", "diff"))
    p.add_argument("args", nargs="*", metavar="REV",
                   help="show: revisions (default: the work tree); diff: [A [B]] (default: "
                   "HEAD against the work tree)")
    values_opts(p)

    p = cmd("check")
    p.add_argument("--baseline", metavar="REV",
                   help="compare against REV (default: the merge base of --rev, or HEAD, with "
                   "the upstream default branch: origin/HEAD, origin/main or main)")
    p.add_argument("--rev", metavar="REV",
                   help="the revision whose metrics are checked (default: the work tree)")
    p.add_argument("--md", action="store_true", help="print a GitHub Markdown table")
    _json(p)

    p = cmd("report")
    p.add_argument("a", nargs="?", metavar="A", help="old revision (default HEAD)")
    p.add_argument("b", nargs="?", metavar="B", help="new revision (default: the work tree)")
    p.add_argument("--md", action="store_true",
                   help="print Markdown (for a pull-request comment)")
    p.add_argument("--precision", type=int, default=None, metavar="N",
                   help="significant digits of numbers in tables (default 6)")
    _json(p)

    def tag_opts(p: argparse.ArgumentParser) -> None:
        p.add_argument("-m", "--message", metavar="MSG",
                       help="the tag message's subject line (the audit trail's 'why')")
        p.add_argument("--sign", action="store_true", help="GPG-sign the tag (git tag -s)")
        p.add_argument("--push", action="store_true",
                       help="push the tag (and the version's objects) to the git remote")
        p.add_argument("--remote", metavar="NAME",
                       help="the git remote --push uses (default: upstream, else origin)")

    p = cmd("register")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("version", nargs="?", metavar="VERSION",
                   help="vMAJOR.MINOR.PATCH[-PRE][+BUILD] (default: the next patch version)")
    bump = p.add_mutually_exclusive_group()
    for part in ("major", "minor", "patch"):
        bump.add_argument(f"--bump-{part}", dest="bump", action="store_const", const=part,
                          help=f"the next {part} version")
    p.add_argument("--ref", metavar="REV", help="the commit to register (default HEAD)")
    p.add_argument("--path", metavar="PATH",
                   help="the artifact, for a model not declared in [models.NAME]")
    p.add_argument("--no-env", dest="env", action="store_false",
                   help="do not record the Python environment in the tag")
    tag_opts(p)

    for name in ("promote", "assign"):
        p = cmd(name)
        p.add_argument("model", metavar="MODEL")
        p.add_argument("version", metavar="VERSION", help="vX.Y.Z or latest")
        p.add_argument("stage", metavar="STAGE", help="one of registry.stages")
        p.add_argument("--force", action="store_true",
                       help="promote to a protected stage although the check fails "
                       "(recorded in the tag; say why with -m)")
        tag_opts(p)

    p = cmd("rollback")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("stage", metavar="STAGE")
    p.add_argument("--to", metavar="VERSION",
                   help="the version to put back (default: the one that held the stage "
                   "before the current one)")
    p.add_argument("-n", "--dry-run", action="store_true",
                   help="a rollback drill: say what the rollback would do, check the version "
                   "it puts back is on the store (downloaded and hashed) and passes the "
                   "stage's gates; write nothing (exit 1 if the rollback would fail)")
    _json(p)
    tag_opts(p)

    p = cmd("unassign")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("stage", metavar="STAGE")
    tag_opts(p)

    p = cmd("deprecate")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("version", nargs="?", metavar="VERSION",
                   help="deregister only this version (tag MODEL@vX.Y.Z!)")
    tag_opts(p)

    p = cmd("show")
    p.add_argument("model", nargs="?", metavar="MODEL|MODEL#STAGE|MODEL@VERSION",
                   help="one model's versions; with a field option, what a spec names")
    field = p.add_mutually_exclusive_group()
    for name, what in (("name", "the model's name"), ("version", "the version (as gto show "
                       "--version)"), ("ref", "the registration tag"),
                       ("stage", "the stages the version is in, one a line")):
        field.add_argument(f"--{name}", dest="field", action="store_const", const=name,
                           help=f"print only {what} of the version the spec names "
                           "(MODEL alone: its latest)")
    _json(p)
    p.add_argument("--gto-json", action="store_true",
                   help="print JSON in gto show --json's shape (docs/registry.md)")

    p = cmd("history")
    p.add_argument("model", nargs="?", metavar="MODEL",
                   help="one model's events (default: every model's, as gto history)")
    _json(p)
    p.add_argument("--gto-json", action="store_true",
                   help="print JSON in gto history --json's shape, newest first")

    p = cmd("check-ref")
    p.add_argument("ref", metavar="TAG", help="a registry tag (e.g. classifier@v1.2.0)")
    p.add_argument("--json", action="store_true", help="print JSON (gto check-ref's shape)")

    p = cmd("get")
    p.add_argument("spec", metavar="MODEL@VERSION|MODEL#STAGE|MODEL@latest|PATH",
                   help="a registered version, or with --rev the path of an artifact")
    p.add_argument("--repo", metavar="URL",
                   help="from the repository at URL (any git URL, file:// or a path), without "
                   "a clone: a shallow, blobless mirror under ~/.cache/gitmv/repos")
    p.add_argument("--rev", metavar="REV",
                   help="the artifact at PATH in this branch, tag or commit (not the registry)")
    p.add_argument("-o", "--output", metavar="PATH",
                   help="where to write it (default: the artifact's name, here)")
    p.add_argument("-f", "--force", action="store_true", help="replace PATH if it exists")
    p.add_argument("--remote", "-r", metavar="NAME",
                   help="the remote to fetch from when the cache lacks the objects")
    _json(p)
    _jobs(p)

    p = cmd("import")
    p.add_argument("source", choices=("lfs", "dvc"),
                   help="lfs: Git LFS pointers of the index; dvc: .dvc files and dvc.lock "
                   "outputs (docs/migrating.md)")
    p.add_argument("paths", nargs="*", metavar="PATHSPEC|TARGET",
                   help="lfs: pathspecs of the LFS files to import; dvc: .dvc files or "
                   "outputs (default: all)")
    p.add_argument("--push", action="store_true",
                   help="dvc: upload the imported objects to the remote made from DVC's")
    p.add_argument("--remote", metavar="NAME",
                   help="the name of the gitmv remote made from the source's server (default: "
                   "lfs, or the DVC remote's name)")
    _jobs(p)

    p = cmd("resolve")
    p.add_argument("paths", nargs="+", metavar="PATH", help="artifacts whose pointer is in "
                   "conflict (`git mvm status` lists them)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--ours", dest="side", action="store_const", const="ours",
                       help="keep the version of the branch you are on")
    which.add_argument("--theirs", dest="side", action="store_const", const="theirs",
                       help="keep the version being merged in (or cherry-picked, rebased)")
    which.add_argument("--union", dest="side", action="store_const", const="union",
                       help="directories: every file of both sides (a file changed on both "
                       "needs --prefer)")
    p.add_argument("--prefer", choices=("ours", "theirs"),
                   help="with --union: the side whose version of a file changed on both wins")
    _jobs(p)

    p = cmd("hook")
    p.add_argument("name", metavar="NAME")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARG")

    p = cmd("help")
    p.add_argument("topic", nargs="?", metavar="COMMAND")
    return parser


def _set_verbosity(ns: argparse.Namespace) -> None:
    if getattr(ns, "verbose", False):
        ui.level = ui.VERBOSE
    elif getattr(ns, "quiet", False):
        ui.level = ui.QUIET
    else:
        ui.level = ui.NORMAL


def _report(exc: GitMvmError) -> int:
    import traceback

    sys.stderr.write(f"{PROG}: error: {exc.message}\n")
    if exc.hint:
        sys.stderr.write(f"hint: {exc.hint}\n")
    if ui.level >= ui.VERBOSE:
        traceback.print_exc()
    return exc.exit_code


def _os_error(exc: OSError) -> int:
    from gitmv.errors import os_error

    return _report(os_error(exc, "cannot continue"))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["hook"] and len(args) >= 2 and not args[1].startswith("-"):
        # The hooks' fast path: no parser, no imports beyond what the hook needs.
        from gitmv.hooks.run import run as run_hook

        try:
            return run_hook(args[1], args[2:])
        except KeyboardInterrupt:
            return 130
    if args[:1] == ["merge-driver"] and len(args) == 5:
        return _merge_driver(args[1:])
    parser = make_parser(_command_of(args))
    if not args:  # as git does: the usage and the commands, and a usage exit
        parser.print_help()
        return 2
    ns, extra = parser.parse_known_args(args)
    _fill_optional_positionals(parser, ns, extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    _set_verbosity(ns)
    kwargs = {k: v for k, v in vars(ns).items() if k not in ("command", "quiet", "verbose")}
    try:
        if ns.command == "help":
            return _help(parser, kwargs.get("topic"))
        import importlib

        modname, _, func = COMMANDS[ns.command][0].partition(":")
        module = importlib.import_module(f"gitmv.commands.{modname}")
        rc: int = getattr(module, func or "run")(**kwargs)
        return rc
    except GitMvmError as exc:
        return _report(exc)
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:
        if ui.level >= ui.VERBOSE:
            import traceback

            traceback.print_exc()
        return _os_error(exc)
    except Exception as exc:
        if ui.level >= ui.VERBOSE:
            import traceback

            traceback.print_exc()
        sys.stderr.write(
            f"{PROG}: error: unexpected {type(exc).__name__}: {exc}\n"
            "hint: this is a bug in gitmv; run again with -v and report the traceback\n"
        )
        return 1


def _command_of(args: list[str]) -> str | None:
    """The command a command line runs, when only its parser need be built (None: build
    them all, for the top-level help, `help`, or an unknown command's error)."""
    for arg in args:
        if arg in ("-h", "--help"):
            return None
        if not arg.startswith("-"):
            return arg if arg in COMMANDS and arg != "help" else None
    return None


def _merge_driver(args: list[str]) -> int:
    """`git mvm merge-driver %O %A %B %P`: the merge driver `install` registers; run by git,
    not by people, so it is in no help list (docs/workflows.md)."""
    from gitmv.commands.resolve import merge_driver

    try:
        return merge_driver(*args)
    except GitMvmError as exc:
        _report(exc)
    except OSError as exc:
        _os_error(exc)
    return 1  # a conflict, for git: the pointer stays ours


def _fill_optional_positionals(
    parser: argparse.ArgumentParser, ns: argparse.Namespace, extra: list[str]
) -> None:
    """argparse gives optional positionals (nargs="?") nothing once an option follows the
    first positional (`remote add --local NAME URL`, `register MODEL --ref REV VERSION`) and
    leaves the words over: give them to those positionals, in order, for every command."""
    import argparse

    if not extra or parser._subparsers is None:
        return
    for action in parser._subparsers._group_actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        sub = action.choices.get(ns.command)
        for pos in sub._get_positional_actions() if sub else []:
            if pos.nargs == "?" and getattr(ns, pos.dest, None) is None and extra \
                    and not extra[0].startswith("-"):
                setattr(ns, pos.dest, extra.pop(0))


def _help(parser: argparse.ArgumentParser, topic: str | None) -> int:
    import argparse

    if topic is None:
        parser.print_help()
        return 0
    if topic not in COMMANDS:
        raise GitMvmError(f"no such command {topic!r}", f"`{PROG} help` lists the commands")
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        if isinstance(action, argparse._SubParsersAction):
            action.choices[topic].print_help()
    return 0
