"""Retries with exponential backoff and jitter for transient remote faults.

Stores raise `TransientError` for what may pass (connection refused or reset, timeouts,
HTTP 5xx, 429); it may carry the server's `Retry-After`. Anything else fails at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from gitmv import ui
from gitmv.errors import GitMvmError

T = TypeVar("T")

ATTEMPTS = 5
BASE_DELAY = 0.25  # seconds; doubles each attempt
MAX_DELAY = 8.0
MAX_RETRY_AFTER = 60.0


class RemoteError(GitMvmError):
    """A store could not be reached or refused a request (not worth retrying).

    `store_wide`: every request to this store would fail the same way (credentials refused,
    no such bucket, permission denied, endpoint unreachable): a batch stops at the first such
    error and reports it once, instead of failing each object with the same message.
    """

    def __init__(self, message: str, hint: str | None = None, store_wide: bool = False) -> None:
        super().__init__(message, hint)
        self.store_wide = store_wide


class TransientError(RemoteError):
    """A fault that may pass: retried with backoff, then reported."""

    def __init__(self, message: str, retry_after: float | None = None,
                 hint: str | None = None, store_wide: bool = False) -> None:
        super().__init__(message, hint, store_wide)
        self.retry_after = retry_after


# Server errors that no retry mends: the server does not implement the request (501: a
# read-only HTTP server answering PUT), the HTTP version (505), or an extension it needs (510).
PERMANENT_5XX = frozenset((501, 505, 510))


def is_transient_status(code: int) -> bool:
    """Whether an HTTP status may pass on a retry: a busy or failing server (408, 425, 429,
    5xx other than `PERMANENT_5XX`)."""
    return code in (408, 425, 429) or (code >= 500 and code not in PERMANENT_5XX)


def delay_for(attempt: int, retry_after: float | None) -> float:
    """Full-jitter exponential backoff; a server's Retry-After wins (bounded)."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
    return random.uniform(0, min(MAX_DELAY, BASE_DELAY * (2**attempt)))


def with_retries(
    fn: Callable[[], T], what: str, attempts: int = ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `fn` until it succeeds, retrying TransientError up to `attempts` times in all."""
    for attempt in range(attempts):
        try:
            return fn()
        except TransientError as exc:
            if attempt == attempts - 1:
                raise TransientError(
                    f"{exc.message} (gave up after {attempts} attempts)", hint=exc.hint,
                    store_wide=exc.store_wide,
                ) from None
            wait = delay_for(attempt, exc.retry_after)
            ui.debug(f"{what}: {exc.message}; retrying in {wait:.2f}s")
            sleep(wait)
    raise AssertionError("unreachable")


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After is delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
