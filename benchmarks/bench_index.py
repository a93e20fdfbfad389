"""Exact vs approximate (HNSW, IVF) inner-product search over N synthetic influencer vectors (not a test).

    .venv/bin/python benchmarks/bench_index.py [--n 1000000] [--dim 64] [--workload gaussian|model]
        [--queries 100] [--k 100] [--approx hnsw,ivf] [--hnsw-m 32] [--ef-construction 200]
        [--ef-search 128,256,512] [--nprobe 32,64,128,256,512,1024] [--threads 1] [--seed 0]
        [--out benchmarks/results/index.json]

What it answers: how much faster than a brute-force numpy scan is a top-k query of the serving
index (:class:`brandmatch.serving.index.InnerProductIndex`), exact (faiss ``IndexFlatIP``) and
approximate (faiss HNSW or IVF with the inner-product metric, several ``ef_search`` / ``nprobe``),
and what recall@k the approximate index keeps against the exact one.

Workloads (N item vectors and Q queries in ``--dim`` dimensions, float32, seeded):

- ``gaussian``: i.i.d. N(0, 1), the worst case for an approximate index (no structure at all);
- ``model``: shaped like a trained model's influencer embeddings: the demo's synthetic-world model
  (``--model-dir`` / ``--data``, default the ``make demo`` paths) embeds its influencers, the
  vectors are projected on their top ``--dim`` principal axes, and N vectors are drawn from a
  smoothed bootstrap of them (a random embedded influencer plus Gaussian noise with Silverman's
  bandwidth per axis); queries are the model's brand embeddings projected the same way, plus the
  same noise. MORNING+'s embeddings have thousands of mostly-zero columns; 64 principal axes keep
  the 1M run in memory.

Each method answers the Q queries ONE AT A TIME (a serving request is one brand) and the median
per-query latency is recorded:

- ``numpy``: ``x @ q`` (float32 matrix-vector product) + ``argpartition`` + sort of the top k;
- ``exact``: ``InnerProductIndex(kind="exact").search`` (faiss flat scan + exact float64 re-sort);
- ``exact+filter50``: the exact index with a random 50 % allowed mask (faiss selector path);
- ``hnsw[ef]``: ``InnerProductIndex(kind="hnsw")`` with ``ef_search = ef``;
- ``ivf[nprobe]``: ``InnerProductIndex(kind="ivf")`` (default ``nlist``) with that ``nprobe``.

Reported: build seconds, median / p95 per-query milliseconds, the latency ratio
``numpy / method`` (> 1: faster than numpy), for the approximate ones recall@k = |top-k approx ∩
top-k exact| / k averaged over the queries, and per approximate kind the fastest setting with
recall@k >= ``--target-recall``. faiss and numpy use ``--threads`` threads (default 1: the serving
process answers one request per core). Absolute timings depend on the machine; compare ratios.
The HNSW graph takes tens of minutes to build at N = 1,000,000 on one core: ``--approx ivf`` skips it.

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
    p.add_argument("--approx", default="hnsw,ivf", help="approximate kinds to measure (comma-separated; '' none)")
    p.add_argument("--nprobe", default="32,64,128,256,512,1024", help="comma-separated IVF nprobe values")
    p.add_argument("--target-recall", type=float, default=0.95)
    p.add_argument("--workload", choices=("gaussian", "model"), default="gaussian")
    p.add_argument("--model-dir", type=Path, default=REPO / "data" / "models" / "synthetic-paper-plus")
    p.add_argument("--data", type=Path, default=REPO / "data" / "synthetic-paper-seed0")
    p.add_argument("--threads", type=int, default=1, help="faiss / BLAS threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    if min(args.n, args.dim, args.queries, args.k, args.threads) < 1 or args.k > args.n:
        p.error("--n, --dim, --queries, --k, --threads must be >= 1 and --k <= --n")
    args.approx = [a.strip() for a in args.approx.split(",") if a.strip()]
    if any(a not in ("hnsw", "ivf") for a in args.approx):
        p.error(f"--approx: allowed values hnsw, ivf (got {','.join(args.approx)})")
    return args


def model_workload(args: argparse.Namespace, rng) -> tuple:
    """(n, dim) items and (queries, dim) queries shaped like the model's embeddings (module docstring)."""
    import numpy as np

    from brandmatch.serving.recommend import Recommender

    rec = Recommender.from_dirs(args.model_dir, args.data)
    inf = np.asarray(rec.index.vectors, dtype=np.float64)
    brands = rec._embed(rec.brand_ids, "brand").astype(np.float64)
    mean = inf.mean(axis=0)
    _, _, vt = np.linalg.svd(inf - mean, full_matrices=False)
    axes = vt[:args.dim].T  # (D, dim)
    zi, zb = inf @ axes, brands @ axes  # inner products are kept up to the dropped axes
    bandwidth = zi.std(axis=0) * (4.0 / ((args.dim + 2) * len(zi))) ** (1.0 / (args.dim + 4))  # Silverman
    x = zi[rng.integers(0, len(zi), args.n)] + rng.standard_normal((args.n, args.dim)) * bandwidth
    q = zb[rng.integers(0, len(zb), args.queries)] + rng.standard_normal((args.queries, args.dim)) * bandwidth
    source = {"model_dir": str(args.model_dir), "influencers": len(zi), "brands": len(zb),
              "embedding_dim": int(inf.shape[1]), "variance_kept": float(
                  (zi - zi.mean(0)).var(axis=0).sum() / (inf - mean).var(axis=0).sum())}
    return x.astype(np.float32), q.astype(np.float32), source


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import faiss
    import numpy as np

    from brandmatch.atomic import write_json_atomic
    from brandmatch.serving.index import HNSWParams, InnerProductIndex, IVFParams

    faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    source: dict = {}
    if args.workload == "model":
        x, q, source = model_workload(args, rng)
    else:
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
    print(f"n={args.n:,} dim={args.dim} workload={args.workload} queries={args.queries} k={k} "
          f"threads={args.threads}", flush=True)

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

    def measure(name: str, index, build: float) -> None:
        rows, ms = timed(lambda v: index.search(v[None, :], k)[1][0])
        recall = float(np.mean([len(set(r.tolist()) & t) / k for r, t in zip(rows, truth)]))
        methods[name] = {"build_s": build, "median_ms": float(np.median(ms)),
                         "p95_ms": float(np.percentile(ms, 95)), f"recall@{k}": recall}
        print(f"  {name}: {methods[name]['median_ms']:.3f} ms, recall {recall:.4f}", flush=True)

    efs = [int(e) for e in args.ef_search.split(",") if e.strip()]
    if "hnsw" in args.approx:
        t0 = time.perf_counter()
        hnsw = InnerProductIndex(ids, x, "hnsw", HNSWParams(m=args.hnsw_m, ef_construction=args.ef_construction,
                                                              ef_search=max(efs[0], k)))
        build = time.perf_counter() - t0
        for ef in efs:
            hnsw.hnsw = HNSWParams(m=args.hnsw_m, ef_construction=args.ef_construction, ef_search=ef)
            measure(f"hnsw[ef={ef}]", hnsw, build)
            build = 0.0  # one graph, several ef_search
        del hnsw
    probes = [int(e) for e in args.nprobe.split(",") if e.strip()]
    nlist = None
    if "ivf" in args.approx:
        t0 = time.perf_counter()
        ivf = InnerProductIndex(ids, x, "ivf", ivf=IVFParams(nprobe=probes[0]))
        build = time.perf_counter() - t0
        nlist = int(ivf.index.nlist)
        for nprobe in probes:
            if nprobe > nlist:
                continue
            ivf.ivf = IVFParams(nprobe=nprobe)
            measure(f"ivf[nprobe={nprobe}]", ivf, build)
            build = 0.0  # one index, several nprobe
        del ivf
    best: dict[str, str | None] = {}
    for kind in args.approx:
        ok = [(m["median_ms"], name) for name, m in methods.items()
              if name.startswith(kind + "[") and m[f"recall@{k}"] >= args.target_recall]
        best[kind] = min(ok)[1] if ok else None

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
        "settings": {"n": args.n, "dim": args.dim, "workload": args.workload, "queries": args.queries, "k": k,
                     "threads": args.threads, "approx": args.approx, "hnsw_m": args.hnsw_m,
                     "ef_construction": args.ef_construction, "ef_search": efs, "ivf_nlist": nlist,
                     "nprobe": probes, "target_recall": args.target_recall, "seed": args.seed,
                     "filter_share": 0.5},
        "workload_source": source,
        "methods": methods,
        "fastest_at_target_recall": best,
    }
    for kind, name in best.items():
        print(f"fastest {kind} with recall@{k} >= {args.target_recall}: "
              + (f"{name} ({methods[name]['median_ms']:.3f} ms)" if name else "none measured"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, doc)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
