"""What a store says of an object it holds, and whether that is the object: the answer of
`Store.stat_many`, which a push confirms uploads with and `fsck --remote` checks."""

from __future__ import annotations

from typing import NamedTuple

ANOTHER_SIZE = -1  # Stored.size of an object held at another size than asked, not said which


class Stored(NamedTuple):
    """What a store says of an object it holds."""

    size: int | None  # its length in bytes; None where the store does not say
    sha256: str | None = None  # the store's own checksum of the bytes (hex), where it keeps one
    mtime: float | None = None  # when it was last written or refreshed (epoch s), where said


def holds(stored: Stored | None, oid: str, size: int | None) -> bool:
    """Whether `stored` (a store's answer) is object `oid` of `size` bytes as far as the store
    can tell: there, of that size when both are known, of that hash when the store keeps one."""
    return (stored is not None
            and (size is None or stored.size is None or stored.size == size)
            and (stored.sha256 is None or stored.sha256 == oid))


def byte_range(offset: int, length: int | None) -> str | None:
    """The HTTP Range value for `length` bytes from `offset` (to the end when None); None
    for the whole object. HTTP and S3 stores read parts of packs with it."""
    if length is not None:
        return f"bytes={offset}-{offset + length - 1}"
    return f"bytes={offset}-" if offset else None
