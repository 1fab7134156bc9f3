"""Reading registry tags from git, cheaply at any number of tags.

A tag object never changes (its id is the hash of its content), so what the registry needs of
one (target, tagger, date, subject, and for a stage tag its small message) is kept in a cache,
`.git/mvm/registry-tags`, keyed by the tag object's id. A read is one
`git for-each-ref` printing only names, types and object ids (it reads no tag object: 0.02 s
at 10,000 tags, where reading them all takes 0.1-0.2 s), the cache, and one
`git cat-file --batch` for the tags the cache does not know. A registration's message (its
snapshot, with the whole Python environment: the bulk of the registry's bytes) is not kept:
`TagBodies` reads it when somebody needs it, many in one git call.

The cache is only ever a copy: a missing, unreadable or foreign file is rebuilt from git, and
a repository where it cannot be written is read from git every time.
"""

from __future__ import annotations

import marshal
import os
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from gitmv.repo import Repo

CACHE = "registry-tags"
CACHE_VERSION = 7
_SIGNATURES = (b"-----BEGIN PGP SIGNATURE-----", b"-----BEGIN SSH SIGNATURE-----",
               b"-----BEGIN SIGNED MESSAGE-----")


class Tag(NamedTuple):
    """One ref in registry form, as `%(objecttype)`, `%(*objecttype)` … would print it."""
    name: str  # refname:strip=2
    otype: str  # "tag" for an annotated tag
    obj: str  # the ref's object id (the tag object's for an annotated tag)
    target_type: str  # *objecttype
    target: str  # *objectname
    tagger: str  # "taggername <taggeremail>"
    date: str  # taggerdate:iso-strict
    ts: int  # the tagger date's seconds
    subject: str
    digest: Any  # what `digest` kept of the message (None: nothing)


# in the cache: (target, tagger, date, ts, subject, digest); target is "TYPE:ID" when the
# tag points to something other than a commit
Cached = tuple[str, str, str, int, str, Any]


def _iso(ts: str, tz: str) -> str:
    try:
        sign = -1 if tz.startswith("-") else 1
        offset = sign * (int(tz[1:3]) * 3600 + int(tz[3:5]) * 60)
        return datetime.fromtimestamp(int(ts), timezone(timedelta(seconds=offset))).isoformat()
    except (ValueError, OverflowError, OSError):
        return ""


def body_of(message: bytes) -> bytes:
    """What `%(contents:body)` prints of a tag message: the text after its subject paragraph,
    without a signature."""
    for mark in _SIGNATURES:
        at = message.rfind(b"\n" + mark)
        if at >= 0:
            message = message[:at + 1]
            break
        if message.startswith(mark):
            return b""
    return message.partition(b"\n\n")[2]


def parse_tag(data: bytes) -> tuple[str, str, str, str, int, str, bytes]:
    """(target type, target, "tagger <email>", iso date, seconds, subject, body) of a tag
    object."""
    head, _, message = data.partition(b"\n\n")
    target = target_type = name = email = date = ""
    seconds = 0
    for line in head.decode("utf-8", "replace").split("\n"):
        key, _, value = line.partition(" ")
        if key == "object":
            target = value
        elif key == "type":
            target_type = value
        elif key == "tagger":
            who, _, when = value.rpartition(">")
            name, _, mail = who.partition("<")
            name, email = name.strip(), f"<{mail}>"
            ts, _, tz = when.strip().partition(" ")
            date = _iso(ts, tz)
            seconds = int(ts) if date else 0
    subject_par = message.partition(b"\n\n")[0]
    for mark in _SIGNATURES:
        if subject_par.startswith(mark):
            subject_par = b""
        subject_par = subject_par.partition(b"\n" + mark)[0]
    subject = " ".join(subject_par.decode("utf-8", "replace").split("\n")).strip()
    return target_type, target, f"{name} {email}", date, seconds, subject, body_of(message)


def cat_batch(repo: Repo, objs: list[str]) -> dict[str, bytes]:
    """The raw content of these tag objects, in one `git cat-file --batch` (a missing or
    non-tag object is left out)."""
    if not objs:
        return {}
    out = repo.git("cat-file", "--batch", input="".join(f"{o}\n" for o in objs).encode())
    found: dict[str, bytes] = {}
    pos = 0
    for obj in objs:
        eol = out.index(b"\n", pos)
        header = out[pos:eol].split()
        if len(header) < 3:  # "<obj> missing"
            pos = eol + 1
            continue
        size = int(header[2])
        if header[1] == b"tag":
            found[obj] = out[eol + 1:eol + 1 + size]
        pos = eol + 1 + size + 1
    return found


class TagBodies:
    """Tag messages read on demand: `git cat-file --batch`, many tags in one call."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.read: dict[str, bytes] = {}
        self.loads = 0  # git calls made (the scaling tests count them)

    def get(self, obj: str) -> bytes:
        if obj not in self.read:
            self.prefetch([obj])
        return self.read.get(obj, b"")

    def prefetch(self, objs: list[str]) -> None:
        """Read the messages of these tag objects (those not read yet) in one git call."""
        wanted = [o for o in dict.fromkeys(objs) if o and o not in self.read]
        if not wanted:
            return
        self.loads += 1
        found = cat_batch(self.repo, wanted)
        for obj in wanted:
            self.read[obj] = body_of(found[obj].partition(b"\n\n")[2]) if obj in found else b""


def _cache_path(repo: Repo) -> str:
    return os.path.join(repo.mvm_dir, CACHE)


def _kind(digest: Callable[[str, bytes], Any]) -> str:
    """Which digest made a cache: what it kept depends on it (a cache made by another is
    read as none)."""
    return f"{getattr(digest, '__module__', '')}.{getattr(digest, '__qualname__', '')}"


def _load_cache(path: str, kind: str) -> dict[str, Cached]:
    try:
        with open(path, "rb") as f:  # loads of the whole file: load(f) reads it in small
            doc = marshal.loads(f.read())  # pieces, 4-5x slower (0.1 s at 10,000 tags)
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if not isinstance(doc, dict) or doc.get("version") != CACHE_VERSION \
            or doc.get("digest") != kind \
            or not isinstance(doc.get("tags"), dict):
        return {}
    return doc["tags"]  # type: ignore[no-any-return]


def _save_cache(path: str, tags: dict[str, Cached], kind: str) -> None:
    from gitmv.fsutil import atomic_write, sharing_of_dir

    try:  # in a directory a group shares, the group's (every clone of it reads the cache)
        atomic_write(path, marshal.dumps({"version": CACHE_VERSION, "digest": kind,
                                    "tags": tags}),
                     sharing=sharing_of_dir(os.path.dirname(path)))
    except OSError:  # a read-only repository: read from git each time
        pass


def list_tags(repo: Repo, patterns: tuple[str, ...], bodies: TagBodies,
              digest: Callable[[str, bytes], Any]) -> list[Tag]:
    """Every ref under these patterns with what the registry reads of it. `digest(name,
    body)` is what to keep of a tag's message (a marshal-able value, e.g. the few fields a
    stage tag's ordering needs; None: nothing, the message is read on demand)."""
    out = repo.git("for-each-ref", "--format=%(objectname) %(objecttype) %(refname:strip=2)",
                   *patterns).decode("utf-8", "replace")
    refs: dict[str, tuple[str, str]] = {}
    for line in out.splitlines():  # (a ref name has no space)
        obj, otype, name = line.split(" ", 2)
        refs[name] = (obj, otype)
    path = _cache_path(repo)
    kind = _kind(digest)
    cache = _load_cache(path, kind)
    missing = [obj for obj, otype in refs.values() if otype == "tag" and obj not in cache]
    changed = bool(missing)
    if missing:
        raw = cat_batch(repo, missing)
        names = {obj: name for name, (obj, _) in refs.items()}
        for obj in missing:
            if obj not in raw:
                continue
            target_type, target, tagger, date, ts, subject, body = parse_tag(raw[obj])
            if target_type != "commit":
                target = f"{target_type}:{target}"
            cache[obj] = (target, sys.intern(tagger), date, ts, subject,
                          digest(names[obj], body))
            bodies.read[obj] = body
    tags: list[Tag] = []
    for name, (obj, otype) in refs.items():
        found = cache.get(obj) if otype == "tag" else None
        if found is None:
            tags.append(Tag(name, otype, obj, "", "", "", "", 0, "", None))
            continue
        target, tagger, date, ts, subject, kept = found
        target_type = "commit"
        if ":" in target:
            target_type, _, target = target.partition(":")
        tags.append(Tag(name, otype, obj, target_type, target, tagger, date, ts, subject, kept))
    used = {obj for obj, otype in refs.values() if otype == "tag" and obj in cache}
    if len(used) != len(cache):  # tags deleted: keep the cache the size of the registry
        cache = {obj: cache[obj] for obj in used}
        changed = True
    if changed:
        _save_cache(path, cache, kind)
    return tags
