"""Basic-auth credentials from the user's git credential helpers (`git credential
fill/approve/reject`); gitmv never stores a secret itself."""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import urlsplit


class Credential(NamedTuple):
    username: str
    password: str
    fields: dict[str, str]  # what git answered (protocol, host, path, …): given back as is


def _describe(url: str, username: str | None) -> dict[str, str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    fields = {"protocol": parts.scheme, "host": host}
    path = parts.path.strip("/")
    if path:
        fields["path"] = path  # git ignores it unless credential.useHttpPath is set
    if username:
        fields["username"] = username
    return fields


def _encode(fields: dict[str, str]) -> bytes:
    if any("\n" in v or "\0" in v for v in fields.values()):
        raise ValueError("credential field contains a newline")
    return "".join(f"{k}={v}\n" for k, v in fields.items()).encode() + b"\n"


def _git_credential(action: str, fields: dict[str, str]) -> bytes:
    """Run `git credential ACTION` (in the current repository: its config applies); stdout,
    empty when git failed (no helper had an answer and no terminal to ask on)."""
    from gitmv.repo import run_git

    try:
        return run_git(["credential", action], input=_encode(fields), check=False)
    except (OSError, ValueError):
        return b""


def fill(url: str, username: str | None = None) -> Credential | None:
    """Ask the credential helpers (and, on a terminal, the user) for `url`; None if none."""
    out = _git_credential("fill", _describe(url, username))
    fields: dict[str, str] = {}
    for line in out.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key] = value
    if "username" not in fields or "password" not in fields:
        return None
    return Credential(fields["username"], fields["password"], fields)


def approve(cred: Credential) -> None:
    """Tell the helpers these credentials worked (they may store them)."""
    _git_credential("approve", cred.fields)


def reject(cred: Credential) -> None:
    """Tell the helpers these credentials were refused (they forget them)."""
    _git_credential("reject", cred.fields)
