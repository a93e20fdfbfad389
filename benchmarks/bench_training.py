"""Training speed of the full MORNING model on a paper-size world (not a test).

    .venv/bin/python benchmarks/bench_training.py [--epochs 2] [--pairs 3400] [--threads N]

Builds random features of the paper's sizes (X^p, Y^p 1,365-d; X^t 22-d, Y^t 21-d; attributes
128-d), ~3,400 training pairs over 286 brands, trains the full model (paper defaults, batch 16)
for a few epochs, and prints pairs/s, achieved FLOP/s, the share of this machine's matmul
throughput (a 4096 x 4096 float32 matmul timed in the same run) and the projected time of 100
epochs. FLOP are counted exactly from the layer sizes: every account encoded in a batch (brands
and influencers deduplicated) costs 2 x MACs forward and 4 x MACs backward.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from brandmatch.data.schema import CooperationSet
from brandmatch.features.store import FeatureSet, FeatureView
from brandmatch.models import create
from brandmatch.models.base import AccountInfo
from brandmatch.training.seeding import set_torch_threads


def matmul_gflops(n: int = 4096, repeats: int = 3) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def world(n_brands: int = 286, n_infs: int = 3075, n_pairs: int = 3400, seed: int = 0):
    rng = np.random.default_rng(seed)
    brands = [f"b{i}" for i in range(n_brands)]
    infs = [f"m{j}" for j in range(n_infs)]
    ids = np.array(brands + infs)
    n = len(ids)

    def simplex(d: int) -> np.ndarray:
        x = rng.gamma(0.3, size=(n, d))
        return (x / x.sum(1, keepdims=True)).astype(np.float32)

    vis = np.concatenate([simplex(1000), simplex(365)], axis=1) / 2
    views = {
        "content_visual": vis, "content_text": simplex(22),
        "audience_visual": np.concatenate([simplex(1000), simplex(365)], axis=1) / 2, "audience_text": simplex(21),
        "attributes": rng.normal(size=(n, 128)).astype(np.float32),
    }
    fs = FeatureSet({k: FeatureView(k, ids, v, np.ones(n, bool)) for k, v in views.items()})
    per = n_pairs // n_brands + 1
    pairs = {(b, infs[j]) for b in brands for j in rng.choice(n_infs, per, replace=False)}
    pairs = sorted(pairs)[:n_pairs]
    co = CooperationSet(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
    return fs, co, AccountInfo(influencers=tuple(infs))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=3400)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()
    threads = set_torch_threads(args.threads)
    peak = matmul_gflops()
    fs, co, info = world(n_pairs=args.pairs)
    model = create("morning", epochs=args.epochs, patience=None, batch_size=args.batch_size)
    model.training_options.progress = False
    model.training_options.threads = threads
    t = time.perf_counter()
    model.fit(co, fs, None, info)
    wall = time.perf_counter() - t
    train_s = sum(h["seconds"] for h in model.history_)
    macs = sum(m.in_features * m.out_features for m in model.net_.modules() if isinstance(m, torch.nn.Linear))
    # accounts encoded per batch: distinct brands + distinct influencers (pos + neg) of the batch
    rng = np.random.default_rng(0)
    from brandmatch.training.samplers import UniformNegativeSampler

    sampler = UniformNegativeSampler(co, list(info.influencers))
    enc = sum(len(np.unique(b.brands)) + len(np.unique(np.concatenate([b.positives, b.negatives])))
              for b in sampler.epoch(rng, args.batch_size))
    flop_epoch = 6.0 * macs * enc
    pairs_s = len(co) * args.epochs / train_s
    achieved = flop_epoch * args.epochs / train_s / 1e9
    print(f"threads {threads}; matmul 4096^2 float32: {peak:.1f} GFLOP/s")
    print(f"model: {macs / 1e6:.2f} M MACs per account encoding; {enc / len(co):.2f} encodings per pair; "
          f"{6.0 * macs * enc / len(co) / 1e6:.0f} MFLOP per training pair (fwd+bwd)")
    print(f"training: {len(co)} pairs x {args.epochs} epochs in {train_s:.1f}s (wall {wall:.1f}s incl. setup): "
          f"{pairs_s:.0f} pairs/s, {achieved:.1f} GFLOP/s = {100 * achieved / peak:.0f}% of matmul throughput")
    print(f"projected 100 epochs: {100 * train_s / args.epochs / 60:.1f} min")


if __name__ == "__main__":
    main()
