"""Secrets a remote's URL may carry, and the URL as it may be printed.

A URL can hold a credential in three places: the password (`https://ana:s3cret@host`), a token
given as the user name (`https://ghp_…@github.com`, `https://oauth2:glpat-…@gitlab.com` has it
as the password), or a query parameter (`?token=…`, a presigned `X-Amz-Signature=…`). None of
them may land in the committed config, and none is ever printed: `mask_url` lives in
`gitmv.errors` (re-exported here), so that `repo`, which may not import remotes, masks the URLs
in git's messages with the same copy.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from gitmv.errors import MASK, SECRET_PARAM, TOKEN_USER, mask_url

__all__ = ["MASK", "mask_url", "secret_in_url"]


def secret_in_url(url: str) -> str | None:
    """What credential the URL carries, in words ("a password"), or None."""
    try:
        parts = urlsplit(url)
        password, user = parts.password, parts.username
    except ValueError:
        return None
    if password:
        return "a password"
    if user and parts.scheme.lower() in ("http", "https") and TOKEN_USER.match(user):
        return "a token as its user name"
    names = [name for name, _ in parse_qsl(parts.query, keep_blank_values=True)
             if SECRET_PARAM.search(name)]
    if names:
        return f"a credential in its query ({names[0]}=…)"
    return None
