#!/usr/bin/env python3
"""gitmv in pull-request CI: fetch what the review needs, post the review as ONE comment.

    gitmv_pr.py fetch BASE HEAD [--mode manifests|changed|none]
    gitmv_pr.py comment github --repo OWNER/NAME --pr N REPORT.md
    gitmv_pr.py comment gitlab REPORT.md

`fetch` looks at the pointers (`*.mvm`) that differ between BASE and HEAD. None (a change of
params or metrics TOML only): nothing is fetched, as the report reads pointers and TOML from
git objects. `manifests` (the default) downloads only the manifests of the changed directory
artifacts, at both revisions, which is all `git mvm report` needs to count the files added,
removed and modified; file artifacts need nothing (their pointers hold the sizes).
`changed` also runs `git mvm pull` for the changed artifacts at HEAD, for jobs that go on to
evaluate the model.

`comment` posts REPORT.md as a pull-request (GitHub, through `gh api`) or merge-request
(GitLab, through its REST API) comment that starts with the hidden marker
`<!-- gitmv-report -->`; when a comment with the marker is already there, it is edited in
place, so later pushes update the one comment rather than adding more.

GitHub needs `GH_TOKEN` (the workflow's `github.token`, with `pull-requests: write`).
GitLab reads `CI_API_V4_URL`, `CI_PROJECT_ID`, `CI_MERGE_REQUEST_IID` and a token: a project
access token with the `api` scope in `GITMV_GITLAB_TOKEN` (GitLab's CI_JOB_TOKEN cannot write
merge-request notes; it is tried only when no other token is set).

Only the standard library at the top: `fetch` imports gitmv (installed in the CI job).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

MARKER = "<!-- gitmv-report -->"
ZERO = "0" * 40
GITHUB_MAX = 65_000  # GitHub refuses comments over 65,536 characters
GITLAB_MAX = 1_000_000


class CIError(Exception):
    """A failure to report in one line (the script exits 1)."""


# --- messages --------------------------------------------------------------------------------


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _warn(message: str) -> None:
    prefix = "::warning::" if os.environ.get("GITHUB_ACTIONS") == "true" else "warning: "
    _say(prefix + message)


# --- fetch -----------------------------------------------------------------------------------


def changed_pointers(base: str, head: str) -> list[tuple[str, str, str]]:
    """(path, old blob, new blob) of every pointer that differs; ZERO for a missing side."""
    proc = subprocess.run(
        ["git", "diff", "--raw", "-z", "--no-abbrev", "--no-renames", base, head, "--",
         "*.mvm"], capture_output=True, check=False)
    if proc.returncode != 0:
        raise CIError(f"git diff {base} {head} failed: {proc.stderr.decode().strip()}")
    fields = proc.stdout.split(b"\0")
    out = []
    for i in range(0, len(fields) - 1, 2):
        meta = fields[i].split()
        if len(meta) >= 5:
            out.append((fields[i + 1].decode("utf-8", "surrogateescape"), meta[2].decode(),
                        meta[3].decode()))
    return out


def fetch(base: str, head: str, mode: str) -> int:
    if mode == "none":
        _say("gitmv: fetch skipped (--mode none)")
        return 0
    changed = changed_pointers(base, head)
    if not changed:
        _say(f"gitmv: no pointer differs between {base} and {head}: nothing to fetch")
        return 0
    from gitmv.errors import GitMvmError
    from gitmv.objects.pointer import Pointer
    from gitmv.remotes import base as remotes
    from gitmv.transfer.engine import download
    from gitmv.transfer.view import packed_view
    from gitmv.worktree.workspace import Workspace

    ws = Workspace.open()
    blobs = sorted({b for _, old, new in changed for b in (old, new) if b != ZERO})
    by_blob = dict(zip(blobs, ws.repo.read_blobs(blobs), strict=True))
    needed: dict[str, int] = {}  # directory manifest oid -> its size (0: unknown)
    for path, old, new in changed:
        for blob in (old, new):
            if blob == ZERO:
                continue
            try:
                ptr = Pointer.parse(by_blob[blob], f"{path} (blob {blob[:12]})")
            except GitMvmError as exc:
                _warn(exc.message)
                continue
            if ptr.kind == "dir":
                needed[ptr.oid] = ptr.manifest_size or 0
    missing = {oid: size for oid, size in needed.items() if not ws.cache.has(oid)}
    rc = 0
    if not needed:
        _say(f"gitmv: {len(changed)} pointer(s) changed, no directory among them: nothing "
             "to fetch")
    elif not missing:
        _say(f"gitmv: the {len(needed)} directory manifest(s) the report needs are in the "
             "cache")
    else:
        try:
            store = packed_view(ws, remotes.resolve(ws.repo, ws.config))  # (its packs, if any)
            result = download(ws.cache, store, sorted(missing), 8,
                              {o: s for o, s in missing.items() if s})
        except GitMvmError as exc:
            _warn(f"could not fetch directory manifests: {exc.message}; the report shows no "
                  "file counts for them")
        else:
            for oid, why in result.failed:
                _warn(f"manifest sha256:{oid}: {why}")
            _say(f"gitmv: fetched {len(result.transferred)} directory manifest(s) from "
                 f"{store.name}")
    if mode == "changed":
        present = sorted(path[: -len(".mvm")] for path, _, new in changed if new != ZERO)
        if present:
            rc = subprocess.run(["git", "mvm", "pull", "--", *present], check=False).returncode
    return rc


# --- one comment, found by its marker -------------------------------------------------------


def with_marker(body: str, limit: int) -> str:
    text = body if body.startswith(MARKER) else f"{MARKER}\n{body}"
    if len(text) <= limit:
        return text
    note = (f"\n\n… the report is {len(text):,} characters, more than a comment holds; the "
            "whole report is in the job's summary and artifacts.\n")
    return text[: limit - len(note)] + note


def json_values(text: str) -> Iterator[Any]:
    """Every JSON value in `text`: `gh api --paginate` prints one array per page."""
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return
        value, pos = decoder.raw_decode(text, pos)
        yield value


def _gh(args: list[str], stdin: str | None = None) -> str:
    try:
        proc = subprocess.run(["gh", "api", *args], input=stdin, capture_output=True,
                              text=True, check=False)
    except FileNotFoundError:
        raise CIError("gh (the GitHub CLI) is not installed here") from None
    if proc.returncode != 0:
        raise CIError(f"gh api {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def github_comment(repo: str, pr: str, body: str) -> str:
    listing = _gh(["--paginate", f"repos/{repo}/issues/{pr}/comments?per_page=100"])
    ours = [c for page in json_values(listing) for c in page
            if str(c.get("body", "")).startswith(MARKER)]
    payload = json.dumps({"body": with_marker(body, GITHUB_MAX)})
    if ours:
        cid = ours[0]["id"]
        _gh(["-X", "PATCH", f"repos/{repo}/issues/comments/{cid}", "--input", "-"], payload)
        return f"updated comment {cid} on {repo}#{pr}"
    made = json.loads(_gh(["-X", "POST", f"repos/{repo}/issues/{pr}/comments", "--input", "-"],
                          payload) or "{}")
    return f"created comment {made.get('id', '?')} on {repo}#{pr}"


def _gitlab(method: str, url: str, token: tuple[str, str], data: dict[str, str] | None = None
            ) -> tuple[Any, dict[str, str]]:
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={token[0]: token[1], "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read() or b"null"), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        hint = ""
        if exc.code in (401, 403):
            hint = ("; set GITMV_GITLAB_TOKEN to a project access token with the api scope "
                    "(CI_JOB_TOKEN cannot write merge-request notes)")
        raise CIError(f"GitLab API {method} {url}: HTTP {exc.code} {exc.reason}{hint}") from None
    except urllib.error.URLError as exc:
        raise CIError(f"GitLab API {method} {url}: {exc.reason}") from None


def gitlab_comment(body: str) -> str:
    env = os.environ
    missing = [k for k in ("CI_API_V4_URL", "CI_PROJECT_ID", "CI_MERGE_REQUEST_IID")
               if not env.get(k)]
    if missing:
        raise CIError(f"not in a GitLab merge-request pipeline: {', '.join(missing)} unset")
    if env.get("GITMV_GITLAB_TOKEN"):
        token = ("PRIVATE-TOKEN", env["GITMV_GITLAB_TOKEN"])
    elif env.get("CI_JOB_TOKEN"):
        token = ("JOB-TOKEN", env["CI_JOB_TOKEN"])
    else:
        raise CIError("no GitLab token: set GITMV_GITLAB_TOKEN (a project access token with "
                      "the api scope) as a masked CI/CD variable")
    project = urllib.parse.quote(env["CI_PROJECT_ID"], safe="")
    notes = (f"{env['CI_API_V4_URL'].rstrip('/')}/projects/{project}/merge_requests/"
             f"{env['CI_MERGE_REQUEST_IID']}/notes")
    page: str | None = "1"
    found = None
    while page and found is None:
        listing, headers = _gitlab("GET", f"{notes}?per_page=100&sort=asc&order_by=created_at"
                                          f"&page={page}", token)
        for note in listing or []:
            if not note.get("system") and str(note.get("body", "")).startswith(MARKER):
                found = note["id"]
                break
        page = {k.lower(): v for k, v in headers.items()}.get("x-next-page") or None
    data = {"body": with_marker(body, GITLAB_MAX)}
    if found is not None:
        _gitlab("PUT", f"{notes}/{found}", token, data)
        return f"updated note {found} on merge request !{env['CI_MERGE_REQUEST_IID']}"
    made, _ = _gitlab("POST", notes, token, data)
    return f"created note {made.get('id', '?')} on merge request !{env['CI_MERGE_REQUEST_IID']}"


# --- command line ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gitmv_pr.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("fetch", help="fetch what `git mvm report BASE HEAD` needs")
    p.add_argument("base")
    p.add_argument("head")
    p.add_argument("--mode", choices=("manifests", "changed", "none"), default="manifests")
    p = sub.add_parser("comment", help="post or update the one report comment")
    p.add_argument("forge", choices=("github", "gitlab"))
    p.add_argument("report", help="the Markdown file (`-`: standard input)")
    p.add_argument("--repo", help="GitHub: OWNER/NAME (default $GITHUB_REPOSITORY)")
    p.add_argument("--pr", help="GitHub: the pull request's number")
    ns = parser.parse_args(argv)
    try:
        if ns.command == "fetch":
            return fetch(ns.base, ns.head, ns.mode)
        if ns.report == "-":
            body = sys.stdin.read()
        else:
            with open(ns.report, encoding="utf-8") as f:
                body = f.read()
        if not body.strip():
            raise CIError(f"{ns.report} is empty: the report step produced nothing")
        if ns.forge == "github":
            repo = ns.repo or os.environ.get("GITHUB_REPOSITORY")
            if not repo or not ns.pr:
                raise CIError("github needs --repo OWNER/NAME (or $GITHUB_REPOSITORY) and --pr N")
            print(github_comment(repo, ns.pr, body))
        else:
            print(gitlab_comment(body))
        return 0
    except (CIError, OSError) as exc:
        _say(f"gitmv_pr.py: error: {exc}")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
