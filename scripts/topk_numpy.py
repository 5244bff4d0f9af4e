#!/usr/bin/env python3
"""numpy's exact top-k, the peer of scripts/bench-topk: a random float32 ITEMS x DIM
matrix with biases, QUERIES random queries, each scored as `items @ q + biases` and cut
with argpartition, then ordered (stable, ties to the lower index). One thread: run with
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 (scripts/bench-topk-compare
does). Prints one JSON line like bench-topk's, with the BLAS numpy runs on.
    python3 scripts/topk_numpy.py ITEMS DIM K QUERIES
"""
import json, sys, time

import numpy as np


def blas():
    try:
        cfg = np.show_config(mode="dicts")
        b = cfg.get("Build Dependencies", {}).get("blas", {})
        return f"{b.get('name', '?')} {b.get('version', '')}".strip()
    except Exception:  # older numpy
        return "unknown"


def main():
    if len(sys.argv) != 5:
        print("usage: topk_numpy.py ITEMS DIM K QUERIES", file=sys.stderr)
        sys.exit(2)
    items, dim, k, queries = map(int, sys.argv[1:])
    rng = np.random.default_rng(42)
    m = (rng.random((items, dim), dtype=np.float32) - 0.5)
    b = (rng.random(items, dtype=np.float32) - 0.5)
    qs = rng.random((queries, dim), dtype=np.float32) - 0.5
    times = []
    first = 0
    for q in qs:
        t = time.perf_counter()
        s = m @ q + b
        part = np.argpartition(-s, k - 1)[:k] if k < items else np.arange(items)
        top = part[np.lexsort((part, -s[part]))]
        times.append((time.perf_counter() - t) * 1e6)
        first += int(top[0])
    times.sort()
    pct = lambda p: times[round((len(times) - 1) * p)]
    print(json.dumps({"items": items, "dim": dim, "k": k, "queries": queries,
                      "p50_us": pct(0.5), "p99_us": pct(0.99), "blas": blas(),
                      "numpy": np.__version__, "checksum": first}))


main()
