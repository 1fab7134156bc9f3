"""Pointer files `<artifact>.mvm`: parse, validate, write (canonical TOML)."""

from __future__ import annotations

import json
import re
import tomllib
from typing import NamedTuple

from gitmv.errors import FormatError

SUFFIX = ".mvm"
# the .gitattributes line `init` adds: `git diff` shows pointers through gitmv's driver
DIFF_ATTRIBUTES_LINE = f"*{SUFFIX} diff=mvm"
FORMAT_VERSION = 1
HEADER = "# managed by git-mvm: the artifact's bytes live in the mvm cache\n"
MAX_POINTER_SIZE = 64 * 1024

# A line `mvm = <N>`: a pointer's version key, which every pointer has (a damaged or newer one
# too); data that merely ends in `.mvm` does not.
_SAYS_POINTER = re.compile(rb"^mvm[ \t]*=[ \t]*[0-9]+[ \t]*\r?$", re.MULTILINE)
_HEX64 = re.compile(r"[0-9a-f]{64}")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def parse_oid(value: object, where: str) -> str:
    """`sha256:<64 lowercase hex>` -> hex, or a FormatError naming `where`."""
    if not isinstance(value, str) or not value.startswith("sha256:"):
        raise FormatError(where, f"oid must be 'sha256:<64 hex>', got {value!r}")
    hexpart = value[7:]
    if not _HEX64.fullmatch(hexpart):
        raise FormatError(where, f"oid must be 'sha256:<64 lowercase hex>', got {value!r}")
    return hexpart


def is_pointer_data(data: bytes) -> bool:
    """Whether these bytes read as a gitmv pointer, readable or not: at most 64 KiB, starting
    with gitmv's header or holding an `mvm = N` line. Anything else named `*.mvm` is data."""
    if len(data) > MAX_POINTER_SIZE:
        return False
    return data.startswith(HEADER.encode()) or _SAYS_POINTER.search(data) is not None


def is_pointer_file(path: str) -> bool:
    """`is_pointer_data` of the regular file at `path` (not following a symlink), reading no
    more than it needs: the size from `lstat`, then the header, then at most 64 KiB."""
    import os
    import stat

    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_POINTER_SIZE:
            return False
        with open(path, "rb") as f:
            head = f.read(len(HEADER))
            if head == HEADER.encode():
                return True
            return is_pointer_data(head + f.read(MAX_POINTER_SIZE + 1 - len(head)))
    except OSError:
        return False


def _toml_str(value: str) -> str:
    # JSON string escapes are a subset of TOML basic-string escapes.
    return json.dumps(value, ensure_ascii=False)


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_str(key)


_NO_META: dict[str, str] = {}


class Pointer(NamedTuple):
    kind: str  # "file" or "dir"
    oid: str  # hex, without the "sha256:" prefix
    size: int
    files: int | None = None
    meta: dict[str, str] = _NO_META  # never mutated: `add` builds a new dict
    manifest_size: int | None = None  # dir only: bytes of the manifest object (Git LFS asks)

    @property
    def oid_str(self) -> str:
        return f"sha256:{self.oid}"

    def dump(self) -> bytes:
        lines = [
            HEADER,
            f"mvm = {FORMAT_VERSION}\n",
            f'kind = "{self.kind}"\n',
            f'oid = "sha256:{self.oid}"\n',
            f"size = {self.size}\n",
        ]
        if self.kind == "dir":
            lines.append(f"files = {self.files or 0}\n")
            if self.manifest_size is not None:
                lines.append(f"manifest_size = {self.manifest_size}\n")
        if self.meta:
            lines.append("\n[meta]\n")
            for key in sorted(self.meta):
                lines.append(f"{_toml_key(key)} = {_toml_str(self.meta[key])}\n")
        return "".join(lines).encode()

    @classmethod
    def parse(cls, data: bytes, where: str) -> Pointer:
        if len(data) > MAX_POINTER_SIZE:
            raise FormatError(where, f"not a gitmv pointer: {len(data)} bytes is too large")
        try:
            doc = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise FormatError(
                where,
                f"not a valid pointer: {exc}",
                "restore it with `git checkout -- <pointer>` or re-create it with `git mvm add`",
            ) from None
        version = doc.get("mvm")
        if not isinstance(version, int) or isinstance(version, bool):
            raise FormatError(where, "not a gitmv pointer: the `mvm = <version>` key is missing")
        if version > FORMAT_VERSION:
            raise FormatError(
                where,
                f"pointer format version {version} is newer than this gitmv understands "
                f"({FORMAT_VERSION})",
                "upgrade gitmv: pip install -U gitmv",
            )
        if version < 1:
            raise FormatError(where, f"unknown pointer format version {version}")
        kind = doc.get("kind")
        if kind not in ("file", "dir"):
            raise FormatError(where, f"kind must be \"file\" or \"dir\", got {kind!r}")
        oid = parse_oid(doc.get("oid"), where)
        size = doc.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise FormatError(where, f"size must be a non-negative integer, got {size!r}")
        files: int | None = None
        manifest_size: int | None = None
        if kind == "dir":
            files = doc.get("files")
            if files is None:
                raise FormatError(where, "a directory pointer needs `files = N` (the number of "
                                  "files in its manifest); the key is missing",
                                  "restore it with `git checkout -- <pointer>` or re-create it "
                                  "with `git mvm add`")
            if not isinstance(files, int) or isinstance(files, bool) or files < 0:
                raise FormatError(where, f"files must be a non-negative integer, got {files!r}")
            manifest_size = doc.get("manifest_size")
            if manifest_size is not None and (
                not isinstance(manifest_size, int) or isinstance(manifest_size, bool)
                or manifest_size < 0
            ):
                raise FormatError(
                    where, f"manifest_size must be a non-negative integer, got {manifest_size!r}"
                )
        meta_raw = doc.get("meta", {})
        if not isinstance(meta_raw, dict):
            raise FormatError(where, "[meta] must be a table")
        meta = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in meta_raw.items()}
        return cls(kind=kind, oid=oid, size=size, files=files, meta=meta,
                   manifest_size=manifest_size)


def artifact_path(pointer_path: str) -> str:
    return pointer_path[: -len(SUFFIX)]


def pointer_path(artifact: str) -> str:
    return artifact + SUFFIX
