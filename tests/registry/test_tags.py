"""The tag cache (gitmv/registry/tags.py) says what git says of every tag: checked against
`git for-each-ref` on tags of every shape, from an empty cache, a warm one and a damaged one."""

from __future__ import annotations

from pathlib import Path

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


def by_cache(repo: Path) -> dict[str, tuple[str, ...]]:
    r = Repo.discover(str(repo))
    bodies = TagBodies(r)
    out: dict[str, tuple[str, ...]] = {}
    for t in list_tags(r, PATTERNS, bodies, lambda name, body: None):
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
