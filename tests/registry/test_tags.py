"""The tag cache (gitmv/registry/tags.py) says what git says of every tag: checked against
`git for-each-ref` on tags of every shape, from an empty cache, a warm one and a damaged one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitmv.registry.read import _digest
from gitmv.registry.tags import CACHE, TagBodies, list_tags
from gitmv.repo import Repo
from tests.helpers import git

FIELDS = ("objecttype", "*objecttype", "*objectname", "taggername", "taggeremail",
          "taggerdate:iso-strict", "contents:subject", "contents:body")
PATTERNS = ("refs/tags/**/*@*", "refs/tags/**/*#*")


def by_git(repo: Path) -> dict[str, tuple[str, ...]]:
    fmt = "%(refname:strip=2)%00" + "%00".join(f"%({f})" for f in FIELDS) + "%00%01"
    out = git(repo, "for-each-ref", f"--format={fmt}", *PATTERNS)
    rows = [r.lstrip("\n").split("\0") for r in out.split("\0\x01") if r.strip()]
    # of a lightweight tag the registry reads only that it is one
    return {r[0]: tuple(r[1:]) if r[1] == "tag" else (r[1],) for r in rows}


def by_cache(repo: Path, digest: Callable[[str, bytes], Any] = lambda name, body: None
             ) -> dict[str, tuple[str, ...]]:
    r = Repo.discover(str(repo))
    bodies = TagBodies(r)
    out: dict[str, tuple[str, ...]] = {}
    for t in list_tags(r, PATTERNS, bodies, digest):
        if t.otype != "tag":
            out[t.name] = (t.otype,)
            continue
        name, _, email = t.tagger.rpartition(" ")
        body = bodies.get(t.obj).decode()
        out[t.name] = (t.otype, t.target_type, t.target, name, email,
                       t.date, t.subject, body)
    return out


def test_the_cache_says_what_git_says(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    git(repo, "tag", "-a", "m@v1.0.0", "-m", "Register m\n\n[gitmv]\nversion = \"v1.0.0\"\n")
    git(repo, "tag", "-a", "m#dev#1", "-m", "a subject\nover two lines\n\nand a body\n")
    git(repo, "tag", "-a", "m@v1.0.0!", "-m", "subject only")
    git(repo, "tag", "-a", "m@deprecated", tree, "-m", "a tree, not a commit")
    git(repo, "tag", "m#prod#2")  # lightweight
    git(repo, "tag", "-a", "dir/x=m@v2.0.0", head, "-m", "Ünïcode sübject\n\nbödy\n")
    sig = ("a signed-looking tag\n\nits body\n-----BEGIN PGP SIGNATURE-----\nabc\n"
           "-----END PGP SIGNATURE-----\n")
    git(repo, "tag", "-a", "--cleanup=verbatim", "m#dev#3", "-m", sig)
    expected = by_git(repo)
    assert len(expected) == 7
    assert by_cache(repo) == expected  # cold: read with cat-file, cached
    assert by_cache(repo) == expected  # warm: from the cache
    (repo / ".git" / "mvm" / CACHE).write_bytes(b"\x00garbage")
    assert by_cache(repo) == expected  # damaged: rebuilt
    git(repo, "tag", "-d", "m@v1.0.0!")
    del expected["m@v1.0.0!"]
    assert by_cache(repo) == expected


def summary(repo: Path) -> object:
    """What the registry reads, all of it that the cache feeds: events in order with their
    kept fields, versions, stages."""
    from gitmv.registry.read import read_tags

    reg = read_tags(Repo.discover(str(repo)))
    return ({name: ([(e.tag, e.action, e.commit, e.tagger, e.date, e.order, e.subject,
                      e.fields) for e in m.events],
                    {v: (x.commit, x.active, x.metrics, x.sort_key())
                     for v, x in m.versions.items()},
                    {s: v.version for s, v in m.stages.items()})
             for name, m in reg.models.items()}, reg.errors, reg.warnings, reg.counters)


def test_any_tag_change_by_plain_git_is_seen(repo: Path, tmp_path: Path) -> None:
    """A seeded random run of what plain git does to tags between two gitmv calls: annotated
    tags added (registrations with metrics, stage events), deleted, moved (`tag -f`: the same
    name, a new tag object), lightweight ones, refs packed, a teammate's clone pushing tags
    that this clone fetches (with --prune-tags: deletions too). After every step the cached
    read is exactly git's, and exactly a read with no cache."""
    import random

    seed = random.randrange(1 << 30)
    rnd = random.Random(seed)
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "origin", "HEAD:refs/heads/main")
    mate = tmp_path / "mate"
    git(tmp_path, "clone", "-q", str(origin), str(mate))
    commits = [git(repo, "rev-parse", "HEAD").strip()]
    for i in range(3):
        git(repo, "commit", "-q", "--allow-empty", "-m", f"c{i}")
        commits.append(git(repo, "rev-parse", "HEAD").strip())
    git(repo, "push", "-q", "origin", "HEAD:refs/heads/main")
    git(mate, "fetch", "-q", "origin")
    def message(name: str) -> str:
        acc = rnd.choice([0.5, 0.75, 0.9])
        return (f"Event {name}\n\n[gitmv]\nformat = 1\ndate = "
                f"\"2030-01-01T00:00:0{rnd.randrange(9)}+00:00\"\n"
                f"oid = \"sha256:{rnd.randrange(99):064d}\"\n\n[gitmv.metrics."
                f"\"m.toml\"]\naccuracy = {acc}\n")

    for n in range(1, 41):
        step = n - 1
        existing = [t for t in git(repo, "tag", "-l").split() if t]
        op = rnd.choice(["register", "stage", "delete", "move", "light", "pack", "mate"])
        where = rnd.choice(commits)
        name = (f"m{rnd.randrange(2)}@v1.{n}.0" if op in ("register", "mate") else
                f"m{rnd.randrange(2)}#{rnd.choice(['dev', 'prod'])}{rnd.choice(['', '!'])}#{n}")
        if op in ("register", "stage"):
            git(repo, "tag", "-a", name, where, "-m", message(name))
        elif op == "delete" and existing:
            git(repo, "tag", "-d", rnd.choice(existing))
        elif op == "move" and existing:
            moved = rnd.choice(existing)
            git(repo, "tag", "-a", "-f", moved, rnd.choice(commits), "-m", message(moved))
        elif op == "light":
            git(repo, "tag", name, where)
        elif op == "pack":
            git(repo, "pack-refs", "--all")
        elif op == "mate":
            git(mate, "tag", "-a", name, where, "-m", message(name))
            gone = [t for t in git(mate, "tag", "-l").split() if t and t != name]
            if gone and rnd.random() < 0.5:
                git(mate, "tag", "-d", rnd.choice(gone))
            git(mate, "push", "-q", "--force", "--prune", "origin", "refs/tags/*:refs/tags/*")
            git(repo, "fetch", "-q", "--force", "--prune", "--prune-tags", "origin")
        if op != "mate" and rnd.random() < 0.3:  # the teammate sees this clone's tags too
            git(repo, "push", "-q", "--force", "--prune", "origin", "refs/tags/*:refs/tags/*")
            git(mate, "fetch", "-q", "--force", "--prune", "--prune-tags", "origin")
        # the registry's own cache, warm from the step before
        assert by_cache(repo, _digest) == by_git(repo), f"seed {seed}, step {step} ({op})"
        warm = summary(repo)
        (repo / ".git" / "mvm" / CACHE).unlink(missing_ok=True)
        assert summary(repo) == warm, f"seed {seed}, step {step} ({op})"
        if step % 10 == 0:  # a cache made by another digest is not taken for the registry's
            by_cache(repo)
            assert summary(repo) == warm, f"seed {seed}, step {step} ({op})"
