"""Where listing beats HEADs for S3 existence checks (gitmv/remotes/s3.py: HEAD_MAX,
KEYS_PER_HEAD), measured against moto's server on loopback.

    .venv/bin/python scripts/s3_exists_crossover.py [--sizes 1000,20000] [--repeat 3]

Fills one bucket per store size with random objects in the cache layout, then times
`exists_many` both ways for queries of n objects (half present, half absent), and the cost of
one HEAD and of one full list page.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gitmv.remotes import s3
from tests.stores.s3 import REGION, MotoServer, aws_env

QUERIES = (1, 16, 32, 64, 96, 128, 256, 512, 1000, 2000, 5000, 20000)


def timed(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def fill(srv: MotoServer, bucket: str, count: int) -> list[str]:
    client = srv.client()
    oids = [os.urandom(32).hex() for _ in range(count)]

    def put(oid: str) -> None:
        client.put_object(Bucket=bucket, Key=f"objects/{oid[:2]}/{oid[2:4]}/{oid}", Body=b"x")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, oids))
    return oids


def measure(srv: MotoServer, size: int, repeat: int) -> None:
    bucket = srv.new_bucket()
    t = time.perf_counter()
    present = fill(srv, bucket, size)
    print(f"\nstore of {size} objects (filled in {time.perf_counter() - t:.1f}s)")
    store = s3.S3Store("bench", f"s3://{bucket}/objects",
                       {"endpoint_url": srv.endpoint, "region": REGION})
    client = store._client()
    one_head = timed(lambda: client.head_object(Bucket=bucket, Key=store.key(present[0])), 20)
    one_page = timed(lambda: client.list_objects_v2(Bucket=bucket, Prefix="objects/",
                                                    MaxKeys=1000), 5)
    print(f"one HEAD {one_head * 1000:.1f} ms; one list page ({min(size, 1000)} keys) "
          f"{one_page * 1000:.1f} ms")
    whole = timed(lambda: list(store.list_objects()), repeat)
    per_head = timed(lambda: store._head_many(present[:1000]), 1) / min(size, 1000)
    print(f"whole store listed in {whole:.2f}s: {whole / size * 1000:.3f} ms per key; parallel "
          f"HEADs {per_head * 1000:.2f} ms per object; one key listed costs "
          f"1/{per_head / (whole / size):.0f} of a HEAD")
    print(f"{'n':>6} {'HEADs':>9} {'listing':>9} {'chosen':>9}  faster")
    for n in QUERIES:
        if n > 2 * size:
            continue
        query = present[: n // 2] + [os.urandom(32).hex() for _ in range(n - n // 2)]
        want = set(present[: n // 2])
        assert store._head_many(query) == want
        assert store._list_many(query) == want
        times = repeat if n < 5000 else 1
        heads = timed(lambda q=query: store._head_many(q), times)
        listing = timed(lambda q=query: store._list_many(q), times)
        assert store.exists_many(query) == want
        chosen = timed(lambda q=query: store.exists_many(q), times)
        best = "HEAD" if heads < listing else "list"
        print(f"{n:>6} {heads * 1000:>7.0f}ms {listing * 1000:>7.0f}ms {chosen * 1000:>7.0f}ms  "
              f"{best}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,20000")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    os.environ.update(aws_env())
    srv = MotoServer().start()
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            measure(srv, size, args.repeat)
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
