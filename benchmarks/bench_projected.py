"""Recall and latency of the projected index against an exact scan of the same model, same run.

    python benchmarks/bench_projected.py --model-dir M --data D --index-dir I [--brands 5] [--k 10,100]
                                         [--out benchmarks/results/projected.json]

For each of ``--brands`` test brands (the first ones, in dataset order): the projected index's
top-k (``ProjectedIndex.search``, no filter) and the exact top-k from every influencer's full
vector (``ProjectedIndex.exact_scores``: the model re-embeds every influencer, chunk by chunk;
the reference). Recall@k = |projected top-k & exact top-k| / k; the scores the projected index
returns are exact by construction, so the check is only which rows it finds. Latency: the
projected search (candidates + exact re-rank) against the exact scan, per brand.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from brandmatch.atomic import write_json_atomic  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="projected index: recall@k and latency against an exact scan")
    p.add_argument("--model-dir", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--index-dir", type=Path, required=True, help="a projected index (brandmatch embed --index-kind projected)")
    p.add_argument("--brands", type=int, default=5)
    p.add_argument("--k", default="10,100")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "projected.json")
    args = p.parse_args(argv)
    from brandmatch.serving.projected_index import ProjectedIndex
    from brandmatch.serving.recommend import Recommender

    ks = sorted({int(x) for x in args.k.split(",")})
    t = time.perf_counter()
    rec = Recommender.from_dirs(args.model_dir, args.data, index_dir=args.index_dir)
    load_s = time.perf_counter() - t
    index = rec.index
    if not isinstance(index, ProjectedIndex):
        raise SystemExit(f"{args.index_dir}: not a projected index")
    brands = (rec.dataset.brands("test") or rec.dataset.brands())[:args.brands]
    runs = []
    for b in brands:
        q = rec._embed([b], "brand")[0]
        t = time.perf_counter()
        _, rows = index.search(q, max(ks))
        proj_s = time.perf_counter() - t
        t = time.perf_counter()
        exact = index.exact_scores(q)
        exact_s = time.perf_counter() - t
        order = np.lexsort((np.arange(len(exact)), -exact))
        recall = {f"recall@{k}": len(set(rows[0][:k].tolist()) & set(order[:k].tolist())) / k for k in ks}
        runs.append({"brand": b, **recall, "projected_seconds": round(proj_s, 4), "exact_scan_seconds": round(exact_s, 2)})
        print(runs[-1], flush=True)
    result = {
        "benchmark": "projected index recall against an exact scan",
        "created_unix": int(time.time()),
        "influencers": len(index), "dim": index.dim, "reduced_dim": int(index.reduced.shape[1]),
        "params": vars(index.params), "load_seconds": round(load_s, 2),
        "mean": {key: round(float(np.mean([r[key] for r in runs])), 4) for key in runs[0] if key != "brand"},
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, result)
    print(f"mean {result['mean']}; results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
