"""Calibration and view ablation of the synthetic world (numbers in docs/synthetic-world.md).

    python benchmarks/synthetic_ablation.py [--preset paper] [--seed 0] [--data DIR]

Prints, on the test grid: AUC of COSINE over simple features (each single view and all views),
of the oracle (the latent score), of MIV, and a supervised check: logistic regression on per-view
features of training pairs (positives + the other training brands' partners as negatives),
evaluated on the test grid, for content only, content + audience, content + attributes and all.
The attribute block of the supervised check is the outer product of the brand's and the
influencer's bio attribute-type indicators (which kinds of influencer a kind of brand works with);
cosine only sees attribute equality.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from brandmatch.data.store import load_dataset  # noqa: E402
from brandmatch.data.synthetic import generate_world  # noqa: E402
from brandmatch.evaluation.metrics import grid_metrics  # noqa: E402
from brandmatch.evaluation.runner import fit_model  # noqa: E402
from brandmatch.features.simple import simple_features  # noqa: E402
from brandmatch.features.store import FeatureSet  # noqa: E402
from brandmatch.models import create  # noqa: E402
from brandmatch.models.base import score_grid  # noqa: E402
from brandmatch.models.cosine import normalized_rows  # noqa: E402

VIEWS = ("content_text", "content_visual", "audience_text", "audience_visual", "attributes")


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(grid_metrics(scores, labels)["AUC"])


def cosine_auc(ds, feats: FeatureSet, views: list[str] | None, grid: str = "test") -> float:
    saved = ds.features
    ds.features = feats
    try:
        model = fit_model(create("cosine", views=views), ds)
        g = ds.grid(grid)
        return auc(score_grid(model, g), g.labels)
    finally:
        ds.features = saved


def _cos(feats: FeatureSet, view: str, b: list[str], m: list[str]) -> np.ndarray:
    xb, mb = feats[view].lookup(b)
    xm, mm = feats[view].lookup(m)
    return np.where(mb[:, None] & mm[None, :], normalized_rows(xb) @ normalized_rows(xm).T, 0.0)


def attribute_types(ds, feats: FeatureSet, ids: list[str]) -> np.ndarray:
    """(n, A) indicators of attribute types from the bio keywords (metadata vocabulary)."""
    vocab = ds.metadata["attribute_vocabulary"]
    names = feats["attributes"].meta["keywords"]
    col = {k: j for j, k in enumerate(names)}
    x, _ = feats["attributes"].lookup(ids)
    out = np.zeros((len(ids), len(vocab)), np.float32)
    for a, (typ, kws) in enumerate(vocab.items()):
        cols = [col[k.lower()] for k in kws if k.lower() in col]
        out[:, a] = x[:, cols].max(axis=1) if cols else 0
    return out


def pair_features(ds, feats, brands, infs, blocks) -> np.ndarray:
    """(nb * nm, d) features of every (brand, influencer) pair, brand-major."""
    parts = []
    if "content" in blocks:
        parts += [_cos(feats, "content_text", brands, infs), _cos(feats, "content_visual", brands, infs)]
    if "audience" in blocks:
        parts += [_cos(feats, "audience_text", brands, infs), _cos(feats, "audience_visual", brands, infs)]
    cols = [p.reshape(-1, 1) for p in parts]
    if "attributes" in blocks:
        ab = attribute_types(ds, feats, brands)
        am = attribute_types(ds, feats, infs)
        outer = (ab[:, None, :, None] * am[None, :, None, :]).reshape(len(brands) * len(infs), -1)
        cols.append(outer)
    return np.hstack(cols).astype(np.float32)


def supervised(ds, feats, blocks: tuple[str, ...], seed: int = 0) -> float:
    from sklearn.linear_model import LogisticRegression

    train = ds.cooperations("train")
    partners = train.partners()
    brands = list(partners)
    infs = train.influencers
    idx = {m: j for j, m in enumerate(infs)}
    labels = np.zeros((len(brands), len(infs)), np.int8)
    for i, b in enumerate(brands):
        labels[i, [idx[m] for m in partners[b]]] = 1
    x = pair_features(ds, feats, brands, infs, blocks)
    y = labels.reshape(-1)
    rng = np.random.default_rng(seed)
    neg = np.flatnonzero(y == 0)
    pos = np.flatnonzero(y == 1)
    keep = np.concatenate([pos, rng.choice(neg, size=min(len(neg), 20 * len(pos)), replace=False)])
    clf = LogisticRegression(C=0.3, max_iter=2000)
    clf.fit(x[keep], y[keep])
    g = ds.grid("test")
    xt = pair_features(ds, feats, list(g.brand_ids), list(g.influencer_ids), blocks)
    scores = clf.decision_function(xt).reshape(g.labels.shape)
    return auc(scores, g.labels)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="paper")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", type=Path, default=None, help="an existing synthetic dataset (else generate)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    ds = load_dataset(args.data) if args.data else generate_world(args.preset, args.seed)
    t1 = time.perf_counter()
    feats = simple_features(ds)
    t2 = time.perf_counter()
    print(f"dataset {ds.name} seed {args.seed}: generated/loaded in {t1 - t0:.1f}s, simple features in {t2 - t1:.1f}s")
    g = ds.grid("test")
    print(f"test grid: {len(g.brand_ids)} brands x {len(g.influencer_ids)} candidates, {g.n_positives} positives")
    rows = []
    for v in VIEWS:
        rows.append((f"cosine [{v}]", cosine_auc(ds, feats, [v])))
    rows.append(("cosine [content_text+content_visual]", cosine_auc(ds, feats, ["content_text", "content_visual"])))
    rows.append(("cosine [all five views]", cosine_auc(ds, feats, None)))
    for name, params in (("oracle", {}), ("oracle (noise=False)", {"noise": False}), ("miv", {})):
        model = fit_model(create(name.split()[0], **params), ds)
        rows.append((name, auc(score_grid(model, g), g.labels)))
    for blocks in (("content",), ("content", "audience"), ("content", "attributes"),
                   ("content", "audience", "attributes"), ("audience",), ("attributes",)):
        rows.append((f"logreg [{' + '.join(blocks)}]", supervised(ds, feats, blocks, args.seed)))
    width = max(len(r[0]) for r in rows)
    print(f"{'model':<{width}}  AUC (test grid)")
    for name, value in rows:
        print(f"{name:<{width}}  {value:.4f}")
    print(f"total {time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
