"""Semantic versions (semver.org 2.0.0) written with a leading `v`, as registry tags carry them.

Precedence follows the spec: major, minor, patch numerically; a pre-release sorts before its
release; pre-release identifiers compare one by one (numbers numerically and below words,
words in ASCII order, a shorter list first when all before are equal); build metadata never
changes precedence. `key()` adds the build text last only so sorting is deterministic.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from gitmv.errors import GitMvmError

_NUM = r"(?:0|[1-9][0-9]*)"
_PRE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD_ID = r"[0-9A-Za-z-]+"
PATTERN = (
    rf"v(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>{_PRE_ID}(?:\.{_PRE_ID})*))?"
    rf"(?:\+(?P<build>{_BUILD_ID}(?:\.{_BUILD_ID})*))?"
)
_FULL = re.compile(PATTERN)


class SemVer(NamedTuple):
    major: int
    minor: int
    patch: int
    pre: tuple[str, ...] = ()
    build: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> SemVer:
        m = _FULL.fullmatch(text)
        if not m:
            raise GitMvmError(
                f"{text!r} is not a semantic version",
                "write it as vMAJOR.MINOR.PATCH, e.g. v1.2.0, v2.0.0-rc.1 or v1.0.0+build.7",
            )
        return cls.from_match(m)

    @classmethod
    def from_match(cls, m: re.Match[str]) -> SemVer:
        """From a match of a pattern that contains PATTERN (e.g. a registry tag's name)."""
        major, minor, patch, pre, build = m.group("major", "minor", "patch", "pre", "build")
        return cls(int(major), int(minor), int(patch), tuple(pre.split(".")) if pre else (),
                   tuple(build.split(".")) if build else ())

    @classmethod
    def is_valid(cls, text: str) -> bool:
        return _FULL.fullmatch(text) is not None

    def __str__(self) -> str:
        text = f"v{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            text += "-" + ".".join(self.pre)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    def precedence(self) -> tuple[object, ...]:
        """What semver compares: equal for versions that differ only in build metadata."""
        pre = tuple((0, int(i), "") if i.isdigit() else (1, 0, i) for i in self.pre)
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, pre)

    def key(self) -> tuple[object, ...]:
        """A total order: precedence, then build metadata (only to break ties)."""
        return (*self.precedence(), self.build)

    def bump(self, part: str) -> SemVer:
        """The next release: `major`, `minor` or `patch`; a pre-release of that release
        becomes the release itself (v1.3.0-rc.1 bumped as patch is v1.3.0)."""
        if part == "major":
            if self.pre and self.minor == 0 and self.patch == 0:
                return SemVer(self.major, 0, 0)
            return SemVer(self.major + 1, 0, 0)
        if part == "minor":
            if self.pre and self.patch == 0:
                return SemVer(self.major, self.minor, 0)
            return SemVer(self.major, self.minor + 1, 0)
        if self.pre:
            return SemVer(self.major, self.minor, self.patch)
        return SemVer(self.major, self.minor, self.patch + 1)
