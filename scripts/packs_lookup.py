"""What a cache's number of packs costs a command, with and without the merges commands make.

N commands each publish a pack of 100 small objects into one cache (`Cache.flush`, as `add`
and `pull` do); then 20,000 lookups of objects the cache lacks (what `add` of a new dataset
asks) are timed, and the packs counted. Run once with merging as commands do it, once with it
off (AUTO_MERGE_AT huge: the cache an older gitmv left).

    python scripts/packs_lookup.py [--commands 200] [--misses 20000]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gitmv.objects import packed
from gitmv.objects.cache import HELD_MAX, Cache


def run(commands: int, misses: int, merge: bool) -> tuple[int, float, float]:
    """(packs left, seconds of the commands' flushes, seconds of the misses)."""
    packed.AUTO_MERGE_AT = 12 if merge else 1 << 30
    root = Path(tempfile.mkdtemp(prefix="packs-lookup-"))
    try:
        flushes = 0.0
        for i in range(commands):
            cache = Cache(str(root / "objects"), str(root / "tmp"))
            for j in range(max(100, HELD_MAX + 1)):
                cache.put_bytes(os.urandom(200) + i.to_bytes(4, "big") + j.to_bytes(4, "big"))
            t = time.perf_counter()
            cache.flush(durable=False)
            flushes += time.perf_counter() - t
        cache = Cache(str(root / "objects"), str(root / "tmp"))
        wanted = [hashlib.sha256(str(k).encode()).hexdigest() for k in range(misses)]
        t = time.perf_counter()
        for oid in wanted:
            cache.has(oid, fresh=False)
        lookups = time.perf_counter() - t
        return len(cache.packs.indexes()), flushes, lookups
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--commands", type=int, default=200)
    p.add_argument("--misses", type=int, default=20_000)
    args = p.parse_args()
    print(f"{args.commands} commands of 100 small objects each, then {args.misses:,} misses")
    for merge in (False, True):
        n, flushes, lookups = run(args.commands, args.misses, merge)
        print(f"{'merging' if merge else 'no merging':12} packs {n:4}   flushes {flushes:6.2f} s"
              f"   misses {lookups:6.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
