"""Training speed of the full MORNING model on a paper-size world (not a test).

    .venv/bin/python benchmarks/bench_training.py [--epochs 2] [--pairs 3400] [--threads N]
        [--batch-sizes 16,64,128] [--compile]

Builds random features of the paper's sizes (X^p, Y^p 1,365-d; X^t 22-d, Y^t 21-d; attributes
128-d), ~3,400 training pairs over 286 brands, trains the full model (paper defaults, batch 16)
for a few epochs, and prints pairs/s, achieved FLOP/s, the share of this machine's matmul
throughput and the projected time of 100 epochs, once per batch size: 16 (the paper's), 64 and
128 (throughput settings; 128 reaches the 50% target on a quiet 2-core machine). With 16 pairs (~48 account encodings) per step the matrix products run
on 48-row operands, far from a large matmul's efficiency, and every step also makes two
memory-bound passes over all 10.4 M parameters (the L1 subgradient and Adam); their time per step
is printed too. ``--compile`` uses the opt-in compiled
L1 + Adam step (``TrainingOptions.compile_optimizer``).

Matmul reference: a 4096 x 4096 float32 matmul (best of 3) timed in the same process before the
first epoch and after every epoch; each epoch's share uses the mean of the measurements just
before and just after it, so a shared machine's load affects both sides of the ratio alike
(the load average is printed with each measurement).

FLOP are counted from the layer sizes (matrix products only; element-wise work is not counted):
every account encoded in a batch (brands and influencers deduplicated) costs 2 x MACs forward;
backward costs 2 x MACs for the weight gradients plus 2 x MACs for the input gradients of every
layer except the first layer of each tower (its input, the raw features, needs no gradient).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from brandmatch.data.schema import CooperationSet
from brandmatch.features.store import FeatureSet, FeatureView
from brandmatch.models import create
from brandmatch.models.base import AccountInfo
from brandmatch.training.seeding import set_torch_threads
from brandmatch.training.trainer import TrainingOptions


def load() -> str:
    return "load %.2f %.2f %.2f" % os.getloadavg()


def matmul_gflops(n: int = 4096, repeats: int = 3, threads: int | None = None) -> float:
    """Best-of-``repeats`` float32 n x n matmul GFLOP/s with ``threads`` intra-op threads (None: current)."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _matmul_gflops(n, repeats)
    finally:
        torch.set_num_threads(before)


def _matmul_gflops(n: int, repeats: int) -> float:
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


def flop_per_encoding(net: torch.nn.Module) -> tuple[int, int]:
    """(MACs of one account encoding, MACs of the towers' first layers = no input gradient)."""
    from brandmatch.models.layers import MLP

    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    macs = sum(m.in_features * m.out_features for m in linears)
    first = sum(m.layers[0].in_features * m.layers[0].out_features for m in net.modules() if isinstance(m, MLP))
    return macs, first


def optimizer_ms(model, l1: float, repeats: int = 10) -> tuple[float, float]:
    """Milliseconds of one L1 subgradient pass and one fused Adam step over the model's parameters."""
    from brandmatch.training.losses.l1 import add_l1_subgradient_

    params = [p for p in model.network_.parameters() if p.requires_grad]
    for p in params:
        p.grad = torch.zeros_like(p)
    opt = torch.optim.Adam(params, lr=1e-9, fused=True)
    opt.step()
    t = time.perf_counter()
    for _ in range(repeats):
        add_l1_subgradient_(params, l1)
    l1_ms = (time.perf_counter() - t) / repeats * 1e3
    t = time.perf_counter()
    for _ in range(repeats):
        opt.step()
    adam_ms = (time.perf_counter() - t) / repeats * 1e3
    for p in params:
        p.grad = None
    return l1_ms, adam_ms


def run(batch_size: int, args, cores: int, threads: int, fs, co, info) -> dict:
    """Train the full model with ``batch_size`` and print its figures; returns them."""
    peaks = [matmul_gflops(threads=cores)]
    print(f"\n== batch {batch_size}{' (paper, sec. V-A)' if batch_size == 16 else ''}: training threads "
          f"{threads}; matmul 4096^2 float32 on {cores} threads before training: {peaks[0]:.1f} GFLOP/s "
          f"({load()})", flush=True)

    def after_epoch(rec: dict) -> None:
        peaks.append(matmul_gflops(threads=cores))
        print(f"epoch {rec['epoch']}: {rec['seconds']:.1f}s; matmul after it: {peaks[-1]:.1f} GFLOP/s ({load()})",
              flush=True)

    model = create("morning", recipe="paper", epochs=args.epochs, patience=None, batch_size=batch_size)
    options = TrainingOptions(progress=False, threads=threads, compile_optimizer=args.compile,
                              callbacks=[after_epoch])
    t = time.perf_counter()
    model.fit(co, fs, None, info, options)
    wall = time.perf_counter() - t
    macs, first = flop_per_encoding(model.network_)
    # accounts encoded per batch: distinct brands + distinct influencers (pos + neg) of the batch
    rng = np.random.default_rng(0)
    from brandmatch.training.samplers import UniformNegativeSampler

    sampler = UniformNegativeSampler(co, list(info.influencers))
    batches = sampler.epoch(rng, batch_size)
    enc = sum(len(np.unique(b.brands)) + len(np.unique(np.concatenate([b.positives, b.negatives])))
              for b in batches)
    flop_enc = 2.0 * macs + 2.0 * macs + 2.0 * (macs - first)  # forward, weight grads, input grads
    flop_epoch = flop_enc * enc
    secs = [h["seconds"] for h in model.history_]
    # the first epoch includes one-off costs (allocator warm-up; compilation with --compile):
    # steady state = the epochs after the first when there are several
    steady = secs[1:] if len(secs) > 1 else secs
    train_s = sum(steady) / len(steady)
    shares = [flop_epoch / s / 1e9 / ((peaks[i] + peaks[i + 1]) / 2) for i, s in enumerate(secs)]
    shares_steady = shares[1:] if len(shares) > 1 else shares
    pairs_s = len(co) / train_s
    achieved = flop_epoch / train_s / 1e9
    step_ms = train_s / len(batches) * 1e3
    l1_ms, adam_ms = optimizer_ms(model, model.config["l1"])
    print(f"model: {macs / 1e6:.2f} M MACs per account encoding ({first / 1e6:.2f} M in first layers: no input "
          f"gradient); {enc / len(co):.2f} encodings per pair; {flop_enc / 1e6:.1f} MFLOP per encoding, "
          f"{flop_epoch / len(co) / 1e6:.0f} MFLOP per training pair (fwd+bwd)")
    print(f"training{' (compiled optimizer step)' if args.compile else ''}: {len(co)} pairs x {args.epochs} "
          f"epochs, {', '.join(f'{x:.1f}s' for x in secs)} (wall {wall:.1f}s incl. setup); steady state "
          f"{pairs_s:.0f} pairs/s, {achieved:.1f} GFLOP/s")
    print(f"per step ({len(batches)} steps per epoch): {step_ms:.1f} ms, of which the parameter-sized passes "
          f"(memory-bound, independent of the batch) take L1 subgradient {l1_ms:.1f} ms + Adam {adam_ms:.1f} ms "
          f"(measured alone)")
    print(f"share of matmul throughput (each epoch vs the matmul measured around it): "
          f"{', '.join(f'{100 * x:.0f}%' for x in shares)}; steady state {100 * np.mean(shares_steady):.0f}%")
    print(f"projected 100 epochs: {100 * train_s / 60:.1f} min on this world ({load()})")
    return {"batch_size": batch_size, "pairs_s": pairs_s, "share": float(np.mean(shares_steady)),
            "minutes_100": 100 * train_s / 60}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=3400)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--batch-sizes", default="16,64,128",
                    help="comma-separated batch sizes to run (16: the paper's; larger: the throughput setting)")
    ap.add_argument("--compile", action="store_true", help="compiled L1 + Adam step (opt-in)")
    args = ap.parse_args()
    cores = set_torch_threads(len(os.sched_getaffinity(0)))  # the reference: a matmul on all usable cores
    threads = set_torch_threads(args.threads)
    fs, co, info = world(n_pairs=args.pairs)
    results = [run(int(b), args, cores, threads, fs, co, info) for b in args.batch_sizes.split(",")]
    print("\nsummary (target: >= 50% of the matmul throughput, 100 epochs < 10 min):")
    for r in results:
        print(f"  batch {r['batch_size']:>4}: {r['pairs_s']:.0f} pairs/s, {100 * r['share']:.0f}% of matmul, "
              f"100 epochs {r['minutes_100']:.1f} min")


if __name__ == "__main__":
    main()
