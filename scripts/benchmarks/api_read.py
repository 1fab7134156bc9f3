"""Read one artifact through gitmv.api in this fresh process and say what it cost (JSON on
stdout): time to the first byte, time to read it all, the sha256 of what was read, and the
peak resident set before and after. Run by scripts/benchmarks/api.py and tests/api.

    python scripts/benchmarks/api_read.py REPO PATH [CHUNK_BYTES]
"""

from __future__ import annotations

import hashlib
import json
import resource
import sys
import time


def peak_rss() -> int:
    """Peak resident set of this process so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv: list[str]) -> int:
    repo, path = argv[0], argv[1]
    chunk = int(argv[2]) if len(argv) > 2 else 1 << 20
    import gitmv.api as mvm

    # what a call imports, imported before the baseline: the numbers are the read's alone
    import gitmv.objects.state
    import gitmv.transfer.ensure
    import gitmv.transfer.sync
    import gitmv.worktree.diffing  # noqa: F401

    buf = bytearray(chunk)
    before = peak_rss()
    start = time.perf_counter()
    h = hashlib.sha256()
    total = 0
    with mvm.open(path, repo=repo) as f:
        n = f.readinto(buf)
        first = time.perf_counter() - start
        while n:
            h.update(memoryview(buf)[:n])
            total += n
            n = f.readinto(buf)
    elapsed = time.perf_counter() - start
    json.dump({"first_byte_s": first, "total_s": elapsed, "bytes": total,
               "sha256": h.hexdigest(), "rss_before": before, "rss_peak": peak_rss()},
              sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
