"""A toy world for model tests: brands and influencers in 3 clusters, every view informative."""

from __future__ import annotations

import numpy as np

from brandmatch.data.schema import CooperationSet
from brandmatch.features.store import FeatureSet, FeatureView
from brandmatch.models import create
from brandmatch.models.base import AccountInfo
from brandmatch.training.trainer import TrainingOptions

#: small towers for speed; everything else as the recipe says
TINY = {"tower.visual_layers": [8, 8], "tower.text_layers": [6, 8], "tower.attribute_layers": [8, 6],
        "tower.d_a": 6, "batch_size": 4, "epochs": 3, "patience": None}
#: the cosine-based terms at once (no tower)
LITE = {"recipe": None, "terms": ["cosine"], "cosine.weights": "diagonal", "l1": 0.0, "epochs": 2,
        "batch_size": 4, "patience": None}


def toy_world(n_brands: int = 6, n_infs: int = 24, seed: int = 0, drop: tuple[str, ...] = (),
              brand_only: tuple[str, ...] = ()):
    """Brands and influencers in 3 clusters; each brand partners every influencer of its cluster."""
    rng = np.random.default_rng(seed)
    brands = [f"b{i}" for i in range(n_brands)]
    infs = [f"m{i}" for i in range(n_infs)]
    ids = np.array(brands + infs)
    cluster = np.array([i % 3 for i in range(n_brands)] + [j % 3 for j in range(n_infs)])
    dims = {"content_visual": 10, "content_text": 5, "audience_visual": 9, "audience_text": 4, "attributes": 7}
    views = {}
    for name, d in dims.items():
        if name in drop:
            continue
        centers = rng.normal(size=(3, d))
        x = (centers[cluster] + 0.3 * rng.normal(size=(len(ids), d))).astype(np.float32)
        mask = np.ones(len(ids), dtype=bool)
        if name in brand_only:
            mask[n_brands:] = False
            x[n_brands:] = 0
        views[name] = FeatureView(name, ids, x, mask)
    if "attributes_kinds" not in drop:  # bio kinds (features/bio_kinds.py): the cluster's kind, one stray kind
        kinds = np.zeros((len(ids), 4), np.float32)
        kinds[np.arange(len(ids)), cluster] = 1.0
        kinds[np.arange(len(ids)), rng.integers(0, 4, len(ids))] = 1.0
        views["attributes_kinds"] = FeatureView("attributes_kinds", ids, kinds, np.ones(len(ids), dtype=bool),
                                                {"kinds": [[f"trait{k}a", f"trait{k}b"] for k in range(4)]})
    pairs = []
    for i, b in enumerate(brands):
        pairs.extend((b, m) for j, m in enumerate(infs) if j % 3 == i % 3)
    co = CooperationSet(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
    cats = {b: ("food" if i % 2 == 0 else "auto") for i, b in enumerate(brands)}
    inf_cats: dict[str, set] = {}
    for b, m in pairs:
        inf_cats.setdefault(m, set()).add(cats[b])
    info = AccountInfo(cats, {m: frozenset(c) for m, c in inf_cats.items()}, tuple(infs))
    return FeatureSet(views), co, info, brands, infs


def fit(params=None, world=None, valid=None, **options):
    """Fit a MORNING recipe (default: the paper's, with TINY towers) on the toy world."""
    feats, co, info, brands, infs = world or toy_world()
    params = dict(params or {})
    recipe = params.setdefault("recipe", "paper")
    towers = recipe in ("paper", "code") or "tower" in params.get("terms", [])
    params = {**{k: v for k, v in TINY.items() if towers or not k.startswith("tower.")}, **params}
    model = create("morning", **params)
    model.fit(co, feats, valid, info, TrainingOptions(progress=False, **options))
    return model, feats, brands, infs
