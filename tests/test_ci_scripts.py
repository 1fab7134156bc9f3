"""scripts/ci: one report comment per pull request (GitHub via a fake `gh`, GitLab via a
loopback HTTP server), fetching only what the report needs, and the CI files themselves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gitmv.objects.pointer import Pointer
from tests.helpers import (
    cache_objects,
    delete_remote_object,
    git,
    git_ok,
    init_bare,
    init_hooked,
    remote_oids,
    save,
    save_dir,
    tree_digest,
    write,
)

ROOT = Path(__file__).resolve().parent.parent
CI = ROOT / "scripts" / "ci"
SCRIPT = CI / "gitmv_pr.py"
MARKER = "<!-- gitmv-report -->"

FAKE_GH = """\
#!{python}
# A stand-in for the GitHub CLI: records each call, serves canned JSON.
import json, os, re, sys
state = os.environ["FAKE_GH_DIR"]
args = sys.argv[1:]
stdin = sys.stdin.read() if "--input" in args else ""
with open(os.path.join(state, "calls.jsonl"), "a") as f:
    f.write(json.dumps({{"argv": args, "stdin": stdin, "host": os.environ.get("GH_HOST"),
                        "token": os.environ.get("GH_TOKEN")}}) + "\\n")
if os.path.exists(os.path.join(state, "fail")):
    sys.stderr.write(open(os.path.join(state, "fail")).read())
    sys.exit(1)
if "-X" in args:
    url = [a for a in args if a.startswith("repos/")][0]
    m = re.search(r"comments/(\\d+)$", url)
    print(json.dumps({{"id": int(m.group(1)) if m else 9001}}))
else:
    sys.stdout.write(open(os.path.join(state, "comments.json")).read())
"""


class FakeGh:
    def __init__(self, tmp: Path) -> None:
        self.state = tmp / "gh-state"
        self.state.mkdir()
        bindir = tmp / "gh-bin"
        bindir.mkdir()
        gh = bindir / "gh"
        gh.write_text(FAKE_GH.format(python=sys.executable))
        gh.chmod(0o755)
        self.env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
                    "FAKE_GH_DIR": str(self.state)}

    def serve(self, *pages: list[dict[str, Any]]) -> None:
        """What `gh api --paginate …/comments` prints: one JSON array per page, back to back."""
        (self.state / "comments.json").write_text("".join(json.dumps(p, indent=1)
                                                          for p in pages) + "\n")

    def calls(self) -> list[dict[str, Any]]:
        path = self.state / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]


def comment(fake_env: dict[str, str], *args: str, input: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), "comment", *args], env=fake_env,
                          capture_output=True, text=True, input=input, check=False)


@pytest.fixture
def gh(tmp_path: Path) -> FakeGh:
    return FakeGh(tmp_path)


@pytest.fixture
def report(tmp_path: Path) -> Path:
    return write(tmp_path / "report.md", "## gitmv review\n\n| key | old | new |\n")


LISTING = "repos/acme/models/issues/7/comments?per_page=100"


def test_github_creates_the_comment_when_none_has_the_marker(gh: FakeGh, report: Path) -> None:
    gh.serve([{"id": 1, "body": "LGTM"},
              {"id": 2, "body": f"quoting the bot:\n> {MARKER}\n> old report"}])
    proc = comment(gh.env, "github", "--repo", "acme/models", "--pr", "7", str(report))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "created comment 9001 on acme/models#7\n"
    calls = gh.calls()
    assert [c["argv"] for c in calls] == [
        ["api", "--paginate", LISTING],
        ["api", "-X", "POST", "repos/acme/models/issues/7/comments", "--input", "-"],
    ]
    assert json.loads(calls[1]["stdin"]) == {
        "body": f"{MARKER}\n## gitmv review\n\n| key | old | new |\n"}


def test_github_updates_the_marked_comment_found_on_a_later_page(gh: FakeGh, report: Path
                                                                  ) -> None:
    gh.serve([{"id": 1, "body": "first"}, {"id": 2, "body": "second"}],
             [{"id": 3, "body": "third"}, {"id": 42, "body": f"{MARKER}\nold report"},
              {"id": 50, "body": f"{MARKER}\na duplicate from a race"}])
    proc = comment(gh.env, "github", "--repo", "acme/models", "--pr", "7", str(report))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "updated comment 42 on acme/models#7\n"
    calls = gh.calls()
    assert [c["argv"] for c in calls] == [
        ["api", "--paginate", LISTING],
        ["api", "-X", "PATCH", "repos/acme/models/issues/comments/42", "--input", "-"],
    ]
    assert json.loads(calls[1]["stdin"])["body"] == (
        f"{MARKER}\n## gitmv review\n\n| key | old | new |\n")


def test_github_second_push_edits_what_the_first_created(gh: FakeGh, report: Path) -> None:
    gh.serve([])
    assert comment(gh.env, "github", "--repo", "acme/models", "--pr", "7",
                   str(report)).returncode == 0
    body = json.loads(gh.calls()[1]["stdin"])["body"]
    gh.serve([{"id": 9001, "body": body}])  # GitHub now lists the comment the first run made
    proc = comment(gh.env, "github", "--pr", "7", "-",
                   input=f"{MARKER}\n## second push\n")  # $GITHUB_REPOSITORY, stdin
    assert proc.stdout == "updated comment 9001 on acme/models#7\n"
    last = gh.calls()[-1]
    assert last["argv"][:4] == ["api", "-X", "PATCH", "repos/acme/models/issues/comments/9001"]
    assert json.loads(last["stdin"])["body"] == f"{MARKER}\n## second push\n"  # marker once


@pytest.fixture(autouse=True)
def _github_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/models")


def test_github_truncates_a_report_longer_than_a_comment(gh: FakeGh, tmp_path: Path) -> None:
    gh.serve([])
    big = write(tmp_path / "big.md", "| row |\n" * 10_000)  # 80,000 characters
    assert comment(gh.env, "github", "--pr", "7", str(big)).returncode == 0
    body = json.loads(gh.calls()[1]["stdin"])["body"]
    assert len(body) == 65_000
    assert body.startswith(f"{MARKER}\n| row |\n")
    assert body.endswith("… the report is 80,022 characters, more than a comment holds; the "
                         "whole report is in the job's summary and artifacts.\n")


def test_github_failures_are_one_line_and_exit_1(gh: FakeGh, report: Path, tmp_path: Path
                                                 ) -> None:
    (gh.state / "fail").write_text("gh: Resource not accessible by integration (HTTP 403)\n")
    proc = comment(gh.env, "github", "--pr", "7", str(report))
    assert proc.returncode == 1
    assert proc.stderr == (f"gitmv_pr.py: error: gh api --paginate {LISTING} failed: gh: "
                           "Resource not accessible by integration (HTTP 403)\n")
    empty = write(tmp_path / "empty.md", "\n")
    proc = comment(gh.env, "github", "--pr", "7", str(empty))
    assert proc.returncode == 1
    assert proc.stderr == (f"gitmv_pr.py: error: {empty} is empty: the report step produced "
                           "nothing\n")
    no_gh = {**gh.env, "PATH": os.path.dirname(sys.executable)}
    proc = comment(no_gh, "github", "--pr", "7", str(report))
    assert proc.stderr == "gitmv_pr.py: error: gh (the GitHub CLI) is not installed here\n"


# --- GitLab: a loopback server that speaks the notes API -----------------------------------


class FakeGitLab:
    PAGE = 2

    def __init__(self) -> None:
        self.notes: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.status = 200
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, value: Any, headers: dict[str, str] | None = None
                      ) -> None:
                data = json.dumps(value).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> Any:
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n)) if n else None
                tokens = {k.upper(): v for k, v in self.headers.items()
                          if k.upper().endswith("TOKEN")}
                fake.requests.append((self.command, self.path, tokens, body))
                return body

            def do_GET(self) -> None:
                self._record()
                if fake.status != 200:
                    return self._send(fake.status, {"message": "403 Forbidden"})
                from urllib.parse import parse_qs, urlparse

                page = int(parse_qs(urlparse(self.path).query)["page"][0])
                chunk = fake.notes[(page - 1) * fake.PAGE: page * fake.PAGE]
                more = len(fake.notes) > page * fake.PAGE
                return self._send(200, chunk, {"X-Next-Page": str(page + 1) if more else ""})

            def do_PUT(self) -> None:
                body = self._record()
                note_id = int(self.path.rsplit("/", 1)[1])
                for note in fake.notes:
                    if note["id"] == note_id:
                        note["body"] = body["body"]
                self._send(200, {"id": note_id})

            def do_POST(self) -> None:
                body = self._record()
                fake.notes.append({"id": 500 + len(fake.notes), "body": body["body"],
                                   "system": False})
                self._send(201, {"id": fake.notes[-1]["id"]})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v4"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def gitlab() -> Iterator[FakeGitLab]:
    fake = FakeGitLab()
    yield fake
    fake.close()


def gitlab_env(fake: FakeGitLab, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "GITMV_"))}
    env.update(CI_API_V4_URL=fake.url, CI_PROJECT_ID="group/models",
               CI_MERGE_REQUEST_IID="12", **extra)
    return env


NOTES = "/api/v4/projects/group%2Fmodels/merge_requests/12/notes"


def test_gitlab_creates_then_updates_one_note(gitlab: FakeGitLab, report: Path) -> None:
    gitlab.notes = [{"id": 1, "body": "nice", "system": False},
                    {"id": 2, "body": f"{MARKER}\nmentioned by the system", "system": True},
                    {"id": 3, "body": "rebased", "system": False}]
    env = gitlab_env(gitlab, GITMV_GITLAB_TOKEN="glpat-secret", CI_JOB_TOKEN="job")
    proc = comment(env, "gitlab", str(report))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "created note 503 on merge request !12\n"
    listing = f"{NOTES}?per_page=100&sort=asc&order_by=created_at&page="
    assert [(m, p) for m, p, _, _ in gitlab.requests] == [
        ("GET", listing + "1"), ("GET", listing + "2"), ("POST", NOTES)]
    assert {t for _, _, tokens, _ in gitlab.requests for t in tokens.items()} == {
        ("PRIVATE-TOKEN", "glpat-secret")}
    assert gitlab.requests[-1][3] == {"body": f"{MARKER}\n## gitmv review\n\n| key | old | new |\n"}

    gitlab.requests.clear()
    write(report, "## after the second push\n")
    proc = comment(env, "gitlab", str(report))
    assert proc.stdout == "updated note 503 on merge request !12\n"
    assert [(m, p) for m, p, _, _ in gitlab.requests] == [
        ("GET", listing + "1"), ("GET", listing + "2"), ("PUT", f"{NOTES}/503")]
    assert len(gitlab.notes) == 4
    assert gitlab.notes[-1]["body"] == f"{MARKER}\n## after the second push\n"


def test_gitlab_job_token_and_a_clear_403(gitlab: FakeGitLab, report: Path) -> None:
    gitlab.status = 403
    proc = comment(gitlab_env(gitlab, CI_JOB_TOKEN="job-xyz"), "gitlab", str(report))
    assert proc.returncode == 1
    assert gitlab.requests[0][2] == {"JOB-TOKEN": "job-xyz"}
    assert proc.stderr.startswith("gitmv_pr.py: error: GitLab API GET ")
    assert proc.stderr.endswith(": HTTP 403 Forbidden; set GITMV_GITLAB_TOKEN to a project access "
                                "token with the api scope (CI_JOB_TOKEN cannot write "
                                "merge-request notes)\n")
    proc = comment(gitlab_env(gitlab), "gitlab", str(report))
    assert proc.stderr == ("gitmv_pr.py: error: no GitLab token: set GITMV_GITLAB_TOKEN (a "
                           "project access token with the api scope) as a masked CI/CD "
                           "variable\n")
    env = gitlab_env(gitlab, GITMV_GITLAB_TOKEN="t")
    del env["CI_MERGE_REQUEST_IID"]
    proc = comment(env, "gitlab", str(report))
    assert proc.stderr == ("gitmv_pr.py: error: not in a GitLab merge-request pipeline: "
                           "CI_MERGE_REQUEST_IID unset\n")


# --- fetch: only what the report needs -----------------------------------------------------


def run_fetch(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), "fetch", *args], cwd=repo,
                          capture_output=True, text=True, check=False)


@pytest.fixture
def team(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """alice pushes main (a model, a dataset, params) and two pull-request branches: `tune`
    changes params.toml only, `data` changes the dataset too. Returns (bare, alice, oids)."""
    bare = init_bare(tmp_path / "origin.git")
    alice = init_hooked(tmp_path / "alice", bare)
    write(alice / "params.toml", "lr = 0.1\n")
    git(alice, "add", "params.toml")
    save(alice, "model.pt", b"m" * 3000)
    save_dir(alice, "data", {"a.bin": b"a" * 100, "b.bin": b"b" * 200}, "v1")
    git_ok(alice, "push", "-q", "origin", "main")
    old = Pointer.parse((alice / "data.mvm").read_bytes(), "data.mvm").oid
    git(alice, "checkout", "-q", "-b", "tune")
    write(alice / "params.toml", "lr = 0.05\n")
    git_ok(alice, "commit", "-q", "-am", "lower lr")
    git_ok(alice, "push", "-q", "origin", "tune")
    git(alice, "checkout", "-q", "-b", "data", "main")
    save_dir(alice, "data", {"a.bin": b"a" * 100, "c.bin": b"c" * 300}, "more data")
    git_ok(alice, "push", "-q", "origin", "data")
    new = Pointer.parse((alice / "data.mvm").read_bytes(), "data.mvm").oid
    return bare, alice, {"old": old, "new": new}


def ci_clone(bare: Path, dest: Path, branch: str) -> Path:
    """What a CI checkout is: a plain clone, no hooks, no gitmv cache."""
    subprocess.run(["git", "clone", "-q", "-b", branch, str(bare), str(dest)], check=True)
    return dest


def test_fetch_for_a_params_only_change_fetches_nothing(team: tuple[Path, Path, dict[str, str]],
                                                        tmp_path: Path) -> None:
    bare, alice, _ = team
    ci = ci_clone(bare, tmp_path / "ci", "tune")
    proc = run_fetch(ci, "origin/main", "HEAD")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ("gitmv: no pointer differs between origin/main and HEAD: nothing to "
                           "fetch\n")
    assert cache_objects(ci) == {}
    # a new model version (a file artifact): its pointer holds the sizes, nothing to fetch
    git(alice, "checkout", "-q", "-b", "model", "main")
    save(alice, "model.pt", b"n" * 5000, "retrain")
    git_ok(alice, "push", "-q", "origin", "model")
    git(ci, "fetch", "-q", "origin")
    git(ci, "checkout", "-q", "origin/model")
    proc = run_fetch(ci, "origin/main", "HEAD")
    assert proc.stderr == ("gitmv: 1 pointer(s) changed, no directory among them: nothing to "
                           "fetch\n")
    assert cache_objects(ci) == {}


def test_fetch_gets_only_the_changed_directory_manifests(team: tuple[Path, Path, dict[str, str]],
                                                         tmp_path: Path) -> None:
    bare, _, oids = team
    ci = ci_clone(bare, tmp_path / "ci", "data")
    proc = run_fetch(ci, "origin/main", "HEAD")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "gitmv: fetched 2 directory manifest(s) from origin\n"
    assert set(cache_objects(ci)) == {oids["old"], oids["new"]}  # no file object, no model
    assert {oids["old"], oids["new"]} < remote_oids(bare)
    assert not (ci / "data").exists()
    # already there: nothing more
    proc = run_fetch(ci, "origin/main", "HEAD")
    assert proc.stderr == "gitmv: the 2 directory manifest(s) the report needs are in the cache\n"


def test_fetch_changed_also_pulls_the_changed_artifacts(team: tuple[Path, Path, dict[str, str]],
                                                        tmp_path: Path) -> None:
    bare, alice, _ = team
    ci = ci_clone(bare, tmp_path / "ci", "data")
    proc = run_fetch(ci, "origin/main", "HEAD", "--mode", "changed")
    assert proc.returncode == 0, proc.stderr
    assert tree_digest(ci / "data") == tree_digest(alice / "data")
    assert not (ci / "model.pt").exists()  # unchanged: not pulled


def test_fetch_none_and_a_missing_manifest(team: tuple[Path, Path, dict[str, str]],
                                           tmp_path: Path) -> None:
    bare, _, oids = team
    ci = ci_clone(bare, tmp_path / "ci", "data")
    proc = run_fetch(ci, "origin/main", "HEAD", "--mode", "none")
    assert proc.stderr == "gitmv: fetch skipped (--mode none)\n"
    delete_remote_object(bare, oids["old"])  # someone pushed with --no-verify, say: the
    # report goes on without counts
    proc = run_fetch(ci, "origin/main", "HEAD")
    assert proc.returncode == 0
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(f"warning: manifest sha256:{oids['old']}: ")
    assert lines[-1] == "gitmv: fetched 1 directory manifest(s) from origin"
    assert set(cache_objects(ci)) == {oids["new"]}


# --- the CI files ---------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    yaml = pytest.importorskip("yaml")  # only where a YAML parser is already installed
    return yaml.safe_load(path.read_text())


def test_github_workflow_and_action_are_valid_and_wired() -> None:
    wf = load_yaml(CI / "github-pr-comment.yml")
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in on
    assert wf["permissions"] == {"contents": "read", "pull-requests": "write"}
    steps = wf["jobs"]["review"]["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    assert steps[0]["with"]["fetch-depth"] == 0
    assert steps[-1]["uses"].endswith("/gitmv/scripts/ci@v0.1.0")
    action = load_yaml(CI / "action.yml")
    assert action["runs"]["using"] == "composite"
    runs = [s.get("run", "") for s in action["runs"]["steps"]]
    assert any("gitmv_pr.py\" fetch \"origin/$BASE\" HEAD" in r for r in runs)
    assert any('git mvm report "origin/$BASE" HEAD --md' in r for r in runs)
    assert any("gitmv_pr.py\" comment github" in r for r in runs)
    assert any('git mvm check --baseline "origin/$BASE"' in r for r in runs)
    for step in action["runs"]["steps"]:
        if "run" in step:
            assert step["shell"] == "bash"
            assert "${{" not in step["run"]  # inputs reach scripts through env, never inline


def test_gitlab_example_is_valid_and_wired() -> None:
    ci = load_yaml(CI / "gitlab-ci.yml")
    job = ci["gitmv-review"]
    assert job["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert job["variables"]["GIT_DEPTH"] == "0"
    script = "\n".join(job["script"])
    assert 'python ci/gitmv_pr.py fetch "$BASE" HEAD' in script
    assert 'git mvm report "$BASE" HEAD --md > gitmv-report.md' in script
    assert "python ci/gitmv_pr.py comment gitlab gitmv-report.md" in script
    assert job["script"][-1] == 'git mvm check --baseline "$BASE"'


def test_bash_parts_of_the_action_parse() -> None:
    action = load_yaml(CI / "action.yml")
    for step in action["runs"]["steps"]:
        if "run" in step:
            proc = subprocess.run(["bash", "-n"], input=step["run"], capture_output=True,
                                  text=True, check=False)
            assert proc.returncode == 0, (step.get("name"), proc.stderr)


def test_the_docs_example_is_the_real_current_output(tmp_path: Path) -> None:
    """docs/ci.md shows what scripts/ci/example.sh prints, block for block."""
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run(["bash", str(CI / "example.sh"), "--out", str(out)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    doc = (ROOT / "docs" / "ci.md").read_text()
    names = sorted(p.name for p in out.iterdir())
    assert names == ["check-fail.txt", "check-pass.txt", "fetch.txt", "pointer-diff.txt",
                     "report-2.md", "report.md"]
    for name in names:
        start, end = f"<!-- example:{name} -->\n", f"\n<!-- /example:{name} -->"
        assert start in doc, name
        block = doc.split(start, 1)[1].split(end, 1)[0]
        body = block.split("\n", 1)[1].rsplit("\n", 1)[0]  # inside the fence
        assert body == (out / name).read_text().rstrip(), (
            f"docs/ci.md's {name} is not what gitmv prints now: run "
            "scripts/ci/example.sh --update-doc")
    assert "check-fail.txt" in doc and "\n$ echo $?\n1\n" in (out / "check-fail.txt").read_text()
    assert "gitmv: fetched 2 directory manifest(s) from origin" in (out / "fetch.txt").read_text()


# --- the composite action's steps, run as GitHub's runner would (minus setup-python/pip) ----


def _expr(text: str, ctx: dict[str, str]) -> str:
    """The `${{ name }}` substitutions this action uses (plain context names only)."""
    import re

    return re.sub(r"\$\{\{\s*([\w.-]+)\s*\}\}", lambda m: ctx[m.group(1)], text)


def _condition(text: str, ctx: dict[str, str]) -> bool:
    """`a == 'b' && c && d == e`: the subset of expressions the action's `if:`s use."""
    def value(term: str) -> str:
        term = term.strip()
        return term[1:-1] if term.startswith("'") else ctx.get(term, "")

    for clause in " ".join(text.split()).split("&&"):
        left, eq, right = clause.partition("==")
        if eq and value(left) != value(right):
            return False
        if not eq and not value(left):
            return False
    return True


def run_action(ci: Path, tmp: Path, env: dict[str, str], fork: bool = False, **inputs: str
               ) -> dict[str, subprocess.CompletedProcess[str]]:
    action = load_yaml(CI / "action.yml")
    runner = tmp / "runner"
    runner.mkdir(exist_ok=True)
    files = {k: runner / k.lower() for k in
             ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")}
    for f in files.values():
        f.write_text("")
    ctx = {f"inputs.{k}": str(v.get("default", "")) for k, v in action["inputs"].items()}
    ctx.update({"github.base_ref": "main", "github.token": "ghs_token",
                "github.repository": "acme/models", "github.event.pull_request.number": "7",
                "github.event.pull_request.head.repo.full_name":
                    "someone/models" if fork else "acme/models"})
    ctx.update({f"inputs.{k.replace('_', '-')}": v for k, v in inputs.items()})
    for k in list(ctx):  # defaults that are expressions themselves
        ctx[k] = _expr(ctx[k], ctx)
    base_env = {**env, **{k: str(p) for k, p in files.items()},
                "GITHUB_ACTION_PATH": str(CI), "RUNNER_TEMP": str(runner),
                "GITHUB_REPOSITORY": "acme/models", "GITHUB_ACTIONS": "true",
                "GITHUB_SERVER_URL": "https://github.com",
                "GITMV_PY": sys.executable}
    results = {}
    for step in action["runs"]["steps"]:
        if "run" not in step or step["name"] == "Install gitmv":
            continue  # setup-python and pip: this interpreter already has gitmv
        for line in files["GITHUB_OUTPUT"].read_text().splitlines():
            key, _, val = line.partition("=")
            ctx[f"steps.report.outputs.{key}"] = val
        if "if" in step and not _condition(step["if"], ctx):
            continue
        step_env = {**base_env, **{k: _expr(str(v), ctx) for k, v in step.get("env", {}).items()}}
        proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=ci, env=step_env,
                              capture_output=True, text=True, check=False)
        results[step["name"]] = proc
        if proc.returncode != 0:
            break  # a failing step ends the job, as on GitHub
    return results


def test_the_action_end_to_end_with_a_fake_gh(gh: FakeGh, tmp_path: Path) -> None:
    bare = init_bare(tmp_path / "origin.git")
    alice = init_hooked(tmp_path / "alice", bare)
    write(alice / ".mvm" / "config.toml",
          '[metrics]\nfiles = ["metrics.toml"]\nbetter = { loss = "lower" }\n\n'
          '[gates]\nloss = "no-regression 1%"\n')
    write(alice / "metrics.toml", "loss = 0.30\n")
    git(alice, "add", ".mvm/config.toml", "metrics.toml")
    save_dir(alice, "data", {"a.bin": b"a" * 100}, "v1")
    git_ok(alice, "push", "-q", "origin", "main")
    git(alice, "checkout", "-q", "-b", "pr")
    write(alice / "metrics.toml", "loss = 0.36\n")  # 20% worse: the gate fails
    git(alice, "add", "metrics.toml")
    save_dir(alice, "data", {"a.bin": b"a" * 100, "b.bin": b"b" * 50}, "more data")
    git_ok(alice, "push", "-q", "origin", "pr")
    ci = ci_clone(bare, tmp_path / "ci", "pr")
    gh.serve([{"id": 5, "body": "a human"}])

    steps = run_action(ci, tmp_path, gh.env)
    assert list(steps) == ["Fetch what the report needs", "Report", "Comment on the pull request",
                           "Gates (git mvm check)"]
    assert steps["Fetch what the report needs"].stderr == (
        "gitmv: fetched 2 directory manifest(s) from origin\n")
    report = (tmp_path / "runner" / "gitmv-report.md").read_text()
    assert (tmp_path / "runner" / "github_step_summary").read_text() == report
    assert "| data | dir | modified | 100 B | 150 B | +50 B | 1 added, 0 removed, 0 modified |" \
        in report
    assert steps["Comment on the pull request"].stdout == "created comment 9001 on acme/models#7\n"
    posted = json.loads(gh.calls()[-1]["stdin"])["body"]
    assert posted == f"{MARKER}\n{report}"
    assert {(c["host"], c["token"]) for c in gh.calls()} == {("github.com", "ghs_token")}
    gate = steps["Gates (git mvm check)"]
    assert gate.returncode == 1
    assert "::error title=gitmv gates::a metrics gate failed (see the table above)" in gate.stdout

    # the next push fixes the loss: the same comment is edited, the check passes
    write(alice / "metrics.toml", "loss = 0.29\n")
    git_ok(alice, "commit", "-q", "-am", "fix")
    git_ok(alice, "push", "-q", "origin", "pr")
    git(ci, "pull", "-q", "--ff-only", "origin", "pr")
    gh.serve([{"id": 5, "body": "a human"}, {"id": 9001, "body": posted}])
    steps = run_action(ci, tmp_path, gh.env)
    assert steps["Fetch what the report needs"].stderr == (
        "gitmv: the 2 directory manifest(s) the report needs are in the cache\n")
    assert steps["Comment on the pull request"].stdout == "updated comment 9001 on acme/models#7\n"
    assert gh.calls()[-1]["argv"][:4] == ["api", "-X", "PATCH",
                                          "repos/acme/models/issues/comments/9001"]
    assert steps["Gates (git mvm check)"].returncode == 0

    # a pull request from a fork: no comment (its token is read-only), the check still runs
    calls = len(gh.calls())
    steps = run_action(ci, tmp_path, gh.env, fork=True)
    assert list(steps) == ["Fetch what the report needs", "Report", "Gates (git mvm check)"]
    assert steps["Gates (git mvm check)"].returncode == 0
    assert len(gh.calls()) == calls
    # check: "false" never fails the job
    steps = run_action(ci, tmp_path, gh.env, check="false")
    assert "Gates (git mvm check)" not in steps
