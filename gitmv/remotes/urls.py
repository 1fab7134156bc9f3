"""Secrets a remote's URL may carry, and the URL as it may be printed.

A URL can hold a credential in three places: the password (`https://ana:s3cret@host`), a token
given as the user name (`https://ghp_…@github.com`, `https://oauth2:glpat-…@gitlab.com` has it
as the password), or a query parameter (`?token=…`, a presigned `X-Amz-Signature=…`). None of
them may land in the committed config, and none is ever printed.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# query parameter names that carry a credential (case-insensitive, anywhere in the name)
_SECRET_PARAM = re.compile(r"token|secret|passw|pwd|key|sig|credential|auth", re.IGNORECASE)
# user names that are tokens: the known prefixes, or anything long and opaque
_TOKEN_USER = re.compile(r"(ghp_|gho_|ghu_|ghs_|github_pat_|glpat-|hf_|xox[bp]-)"
                         r"|[A-Za-z0-9_\-]{24,}$")
MASK = "***"


def secret_in_url(url: str) -> str | None:
    """What credential the URL carries, in words ("a password"), or None."""
    try:
        parts = urlsplit(url)
        password, user = parts.password, parts.username
    except ValueError:
        return None
    if password:
        return "a password"
    if user and parts.scheme.lower() in ("http", "https") and _TOKEN_USER.match(user):
        return "a token as its user name"
    names = [name for name, _ in parse_qsl(parts.query, keep_blank_values=True)
             if _SECRET_PARAM.search(name)]
    if names:
        return f"a credential in its query ({names[0]}=…)"
    return None


def mask_url(url: str) -> str:
    """The URL with every credential it carries replaced by `***`, for printing."""
    try:
        parts = urlsplit(url)
        password, user, host, port = parts.password, parts.username, parts.hostname, parts.port
    except ValueError:
        return url
    if parts.netloc and (password is not None or user is not None):
        netloc = host or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if port is not None:
            netloc += f":{port}"
        if user is not None and parts.scheme.lower() in ("http", "https") \
                and _TOKEN_USER.match(user):
            user = MASK
        userinfo = (user or "") + (f":{MASK}" if password is not None else "")
        parts = parts._replace(netloc=f"{userinfo}@{netloc}")
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if any(_SECRET_PARAM.search(name) for name, _ in pairs):
            masked = [(n, MASK if _SECRET_PARAM.search(n) else v) for n, v in pairs]
            parts = parts._replace(query=urlencode(masked, safe="*"))
    return urlunsplit(parts)
