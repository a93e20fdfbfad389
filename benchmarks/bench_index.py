"""Exact vs HNSW inner-product search over N random vectors (not a test).

    .venv/bin/python benchmarks/bench_index.py [--n 1000000] [--dim 64] [--queries 100] [--k 100]
        [--hnsw-m 32] [--ef-construction 200] [--ef-search 64,128,256] [--threads 1] [--seed 0]
        [--out benchmarks/results/index.json]

What it answers: how much faster than a brute-force numpy scan is a top-k query of the serving
index (:class:`brandmatch.serving.index.InnerProductIndex`), exact (faiss ``IndexFlatIP``) and
approximate (faiss HNSW with the inner-product metric, several ``ef_search``), and what recall@k the
approximate index keeps against the exact one.

Workload: N item vectors and Q queries drawn i.i.d. from N(0, 1) in ``--dim`` dimensions (float32;
MORNING+'s influencer embeddings have a few hundred dimensions, the default 64 keeps the 1M run in
memory), seeded. Each method answers the Q queries ONE AT A TIME (a serving request is one brand)
and the median per-query latency is recorded:

- ``numpy``: ``x @ q`` (float32 matrix-vector product) + ``argpartition`` + sort of the top k;
- ``exact``: ``InnerProductIndex(kind="exact").search`` (faiss flat scan + exact float64 re-sort);
- ``hnsw[ef]``: ``InnerProductIndex(kind="hnsw")`` with ``ef_search = ef``;
- ``exact+filter``: the exact index with a random 50 % allowed mask (faiss selector path).

Reported: build seconds, median / p95 per-query milliseconds, the latency ratio
``numpy / method`` (> 1: faster than numpy), and for HNSW recall@k = |top-k HNSW ∩ top-k exact| / k
averaged over the queries. faiss and numpy use ``--threads`` threads (default 1: the serving
process answers one request per core). Absolute timings depend on the machine; compare ratios.

Output: a table on stdout and ``--out`` (strict JSON, written atomically).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "index.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1_000_000, help="number of item vectors (default 1,000,000)")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--hnsw-m", type=int, default=32)
    p.add_argument("--ef-construction", type=int, default=200)
    p.add_argument("--ef-search", default="128,256,512", help="comma-separated ef_search values (each >= k)")
    p.add_argument("--threads", type=int, default=1, help="faiss / BLAS threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    if min(args.n, args.dim, args.queries, args.k, args.threads) < 1 or args.k > args.n:
        p.error("--n, --dim, --queries, --k, --threads must be >= 1 and --k <= --n")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import faiss
    import numpy as np

    from brandmatch.atomic import write_json_atomic
    from brandmatch.serving.index import HNSWParams, InnerProductIndex

    faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((args.n, args.dim), dtype=np.float32)
    q = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    ids = np.arange(args.n).astype(str)
    k = args.k

    def timed(fn) -> tuple[list[np.ndarray], np.ndarray]:
        fn(q[0])  # warm-up
        rows, ms = [], []
        for i in range(len(q)):
            t0 = time.perf_counter()
            rows.append(fn(q[i]))
            ms.append((time.perf_counter() - t0) * 1e3)
        return rows, np.asarray(ms)

    def numpy_top(v: np.ndarray) -> np.ndarray:
        s = x @ v
        top = np.argpartition(-s, k - 1)[:k]
        return top[np.argsort(-s[top], kind="stable")]

    methods: dict[str, dict] = {}
    _, ms = timed(numpy_top)
    methods["numpy"] = {"build_s": 0.0, "median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95))}
    print(f"n={args.n:,} dim={args.dim} queries={args.queries} k={k} threads={args.threads}", flush=True)

    t0 = time.perf_counter()
    exact = InnerProductIndex(ids, x, "exact")
    build = time.perf_counter() - t0
    exact_rows, ms = timed(lambda v: exact.search(v[None, :], k)[1][0])
    methods["exact"] = {"build_s": build, "median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95))}
    truth = [set(r.tolist()) for r in exact_rows]
    np_rows = [numpy_top(v) for v in q[:5]]
    methods["exact"]["agrees_with_numpy"] = bool(all(set(a.tolist()) == t for a, t in zip(np_rows, truth[:5])))

    allowed = rng.random(args.n) < 0.5
    _, ms = timed(lambda v: exact.search(v[None, :], k, allowed)[1][0])
    methods["exact+filter50"] = {"build_s": 0.0, "median_ms": float(np.median(ms)),
                                 "p95_ms": float(np.percentile(ms, 95))}
    del exact

    efs = [int(e) for e in args.ef_search.split(",") if e.strip()]
    t0 = time.perf_counter()
    hnsw = InnerProductIndex(ids, x, "hnsw", HNSWParams(m=args.hnsw_m, ef_construction=args.ef_construction,
                                                          ef_search=max(efs[0], k)))
    build = time.perf_counter() - t0
    for ef in efs:
        hnsw.hnsw = HNSWParams(m=args.hnsw_m, ef_construction=args.ef_construction, ef_search=ef)
        rows, ms = timed(lambda v: hnsw.search(v[None, :], k)[1][0])
        recall = float(np.mean([len(set(r.tolist()) & t) / k for r, t in zip(rows, truth)]))
        methods[f"hnsw[ef={ef}]"] = {"build_s": build, "median_ms": float(np.median(ms)),
                                     "p95_ms": float(np.percentile(ms, 95)), f"recall@{k}": recall}
        build = 0.0  # one graph, several ef_search

    base = methods["numpy"]["median_ms"]
    print(f"{'method':<16} {'build s':>8} {'median ms':>10} {'p95 ms':>8} {'numpy/x':>8} {'recall':>7}")
    for name, m in methods.items():
        m["speedup_vs_numpy"] = base / m["median_ms"] if m["median_ms"] > 0 else None
        rec = m.get(f"recall@{k}")
        print(f"{name:<16} {m['build_s']:>8.1f} {m['median_ms']:>10.3f} {m['p95_ms']:>8.3f} "
              f"{m['speedup_vs_numpy']:>8.2f} {'' if rec is None else f'{rec:.4f}':>7}")
    doc = {
        "benchmark": "bench_index", "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
                    "faiss": faiss.__version__, "numpy": np.__version__},
        "settings": {"n": args.n, "dim": args.dim, "queries": args.queries, "k": k, "threads": args.threads,
                     "hnsw_m": args.hnsw_m, "ef_construction": args.ef_construction, "ef_search": efs,
                     "seed": args.seed, "filter_share": 0.5},
        "methods": methods,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, doc)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
