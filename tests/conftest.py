"""Shared fixtures: the ../shared folder and a tiny hand-made dataset."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brandmatch.data.schema import Tables, grid_to_frame
from brandmatch.data.splits import partner_grid
from brandmatch.data.store import Dataset
from brandmatch.data.schema import CooperationSet
from brandmatch.features.store import FeatureSet, FeatureView

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BRANDMATCH_SHARED", REPO / ".." / "shared")).resolve()
MIR_PUBLIC = SHARED / "datasets" / "mir-public"


@pytest.fixture(scope="session")
def mir_public_dir() -> Path:
    if not (MIR_PUBLIC / "README.md").exists():
        pytest.skip(f"the public dataset is not at {MIR_PUBLIC}")
    return MIR_PUBLIC


def make_tiny_dataset() -> Dataset:
    """2 categories x 3 brands, 8 influencers; brands b0..b5, influencers m0..m7.

    Train brands b0, b1, b3, b4; validation none; test brands b2 (food) and b5 (auto).
    Features: 'content_text' (2-d, food axis / auto axis) for everyone, 'attributes' (2-d)
    missing for m7.
    """
    brands = [f"b{i}" for i in range(6)]
    infs = [f"m{i}" for i in range(8)]
    cats = ["food"] * 3 + ["auto"] * 3
    accounts = pd.DataFrame(
        {
            "account_id": brands + infs,
            "handle": brands + infs,
            "role": ["brand"] * 6 + ["influencer"] * 8,
            "category": cats + [None] * 8,
            "followers": [None] * 6 + [5000, 12000, 8000, 30000, 60000, 7000, 9000, 20000],
            "bio": [None] * 14,
        }
    )
    pairs = [("b0", "m0"), ("b0", "m1"), ("b1", "m1"), ("b1", "m2"), ("b2", "m0"), ("b2", "m3"),
             ("b3", "m4"), ("b3", "m5"), ("b4", "m5"), ("b4", "m6"), ("b5", "m4"), ("b5", "m7")]
    co = pd.DataFrame(pairs, columns=["brand_id", "influencer_id"])
    co["score"] = np.nan
    splits = pd.DataFrame({"brand_id": brands, "split": ["train", "train", "test", "train", "train", "test"]})
    test = partner_grid("test", ["b2", "b5"], CooperationSet.from_frame(co))
    tables = Tables(accounts=accounts, cooperations=co, splits=splits, grids=grid_to_frame(test))
    ids = np.array(brands + infs)
    food = np.array([1, 1, 1, 0, 0, 0, 0.9, 0.8, 0.7, 0.6, 0.1, 0.2, 0.3, 0.0])
    text = np.stack([food, 1 - food], axis=1).astype(np.float32)
    attr = np.stack([food, np.linspace(0, 1, 14)], axis=1).astype(np.float32)
    attr_mask = np.ones(14, dtype=bool)
    attr_mask[-1] = False
    attr[-1] = 0.0
    feats = FeatureSet(
        {
            "content_text": FeatureView("content_text", ids, text, np.ones(14, dtype=bool)),
            "attributes": FeatureView("attributes", ids, attr, attr_mask),
        }
    )
    ds = Dataset("tiny", tables)
    ds.features = feats
    return ds


@pytest.fixture
def tiny_dataset() -> Dataset:
    return make_tiny_dataset()
