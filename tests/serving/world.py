"""A serving world: the toy world's clusters as a Dataset with followers, posts and categories.

Brands b0..b5 (food / auto alternating; b0-b3 train, b4 validation-less test, b5 test);
influencers m0..m29 in 3 clusters. Followers: m0 unknown, m1 3,000 (below 5k), m2 150,000 (above
100k), m3 unknown, the rest 5,000-99,000. Posts give m4 an engagement rate of 0.10 and m5 0.01
(others unknown). The accounts table gives m6 the category "beauty".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from brandmatch.data.schema import CooperationSet, Tables, grid_to_frame, validate_tables
from brandmatch.data.splits import partner_grid
from brandmatch.data.store import Dataset
from brandmatch.models import create
from brandmatch.training.trainer import TrainingOptions
from brandmatch.training.workflow import fit_model
from tests.models.toy_world import toy_world

N_BRANDS, N_INFS = 6, 30


def serving_world(seed: int = 0) -> Dataset:
    feats, co, info, brands, infs = toy_world(N_BRANDS, N_INFS, seed=seed)
    rng = np.random.default_rng(seed)
    followers: list[int | None] = [int(x) for x in rng.integers(5000, 99000, size=N_INFS)]
    followers[0], followers[1], followers[2], followers[3] = None, 3000, 150000, None
    cats = [info.brand_category[b] for b in brands]
    own = [None] * N_INFS
    own[6] = "beauty"
    accounts = pd.DataFrame({
        "account_id": brands + infs,
        "handle": [f"@{b.upper()}_brand".lstrip("@") for b in brands] + [f"inf_{m}" for m in infs],
        "role": ["brand"] * N_BRANDS + ["influencer"] * N_INFS,
        "category": cats + own,
        "followers": [None] * N_BRANDS + followers,
        "bio": [None] * (N_BRANDS + N_INFS),
    })
    # m4: (1000 + 0) / f4 ... choose likes so that rates are exact
    f4, f5 = followers[4], followers[5]
    posts = pd.DataFrame({
        "post_id": ["p0", "p1", "p2"],
        "account_id": ["m4", "m4", "m5"],
        "caption": ["fresh pasta night", "market haul", "new wheels"],
        "timestamp": [1, 2, 3],
        "likes": [int(0.08 * f4), int(0.10 * f4), int(0.01 * f5)],
        "comments": [int(0.02 * f4), 0, 0],
        "image_ref": [None, None, None],
    })
    coop = pd.DataFrame({"brand_id": co.brand_ids, "influencer_id": co.influencer_ids, "score": np.nan})
    splits = pd.DataFrame({"brand_id": brands, "split": ["train"] * 4 + ["test"] * 2})
    grid = partner_grid("test", brands[4:], CooperationSet.from_frame(coop))
    tables = validate_tables(Tables(accounts=accounts, cooperations=coop, splits=splits,
                                    grids=grid_to_frame(grid), posts=posts))
    ds = Dataset("serving-toy", tables)
    ds.features = feats
    return ds


def fitted(ds: Dataset, recipe: str = "plus"):
    """MORNING+ (cosine, category, profile terms) fitted for 2 epochs on the train split."""
    model = create("morning", recipe=recipe, epochs=2, patience=None, batch_size=8)
    fit_model(model, ds, TrainingOptions(progress=False, threads=1))
    return model
