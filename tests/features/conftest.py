"""A hand-made tiny world for the feature tests (no generator needed) and tiny settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brandmatch.data.schema import CooperationSet, Tables, grid_to_frame
from brandmatch.data.splits import partner_grid
from brandmatch.data.store import Dataset, write_dataset
from brandmatch.features.pipeline import FeaturizeOptions

FOOD = ["Best chocolate cake and pizza tonight #FoodBlogger #yummy", "Homemade pasta recipe with fresh basil",
        "Dessert time: ice cream, pudding and cookies https://t.co/x", "Brunch with pancakes and coffee @cafe_bob",
        "Spicy burger and fries at the diner #foodporn"]
BEAUTY = ["New lipstick and mascara haul #MakeupArtist 💄", "Skincare routine: serum, moisturizer, sunscreen",
          "Eyeshadow palette tutorial for a smoky look", "Foundation shade match and concealer tips #beauty",
          "Glossy lips with nude lipstick and blush @glowco"]
BIOS = {
    "b0": "Official bakery. cake, dessert & chocolate lovers welcome",
    "b1": "Beauty brand | lipstick • mascara • skincare",
    "b2": "Pizza and burger kitchen. chef approved",
    "b3": "Cosmetics for everyone: lipstick, eyeshadow, mascara",
    "m0": "Food blogger | cake and dessert addict | chef",
    "m1": "food blogger, pizza lover, chef at home",
    "m2": "makeup-artist • lipstick and mascara junkie",
    "m3": "makeup-artist, skincare and eyeshadow",
    "m4": "dessert and chocolate, food blogger",
    "m5": None,  # no bio
}


def tiny_tables(n_posts: int = 6) -> Tables:
    """4 brands (b0 food, b1 beauty, b2 food, b3 beauty), 6 influencers (m0, m1, m4 food; m2, m3
    beauty; m5 has no posts, no bio, no audience). Splits: b0, b1 train; b2 validation; b3 test."""
    brands, infs = ["b0", "b1", "b2", "b3"], ["m0", "m1", "m2", "m3", "m4", "m5"]
    theme = {"b0": FOOD, "b1": BEAUTY, "b2": FOOD, "b3": BEAUTY, "m0": FOOD, "m1": FOOD, "m2": BEAUTY,
             "m3": BEAUTY, "m4": FOOD}
    accounts = pd.DataFrame({
        "account_id": brands + infs, "handle": brands + infs,
        "role": ["brand"] * 4 + ["influencer"] * 6,
        "category": ["food", "makeup", "food", "makeup"] + [None] * 6,
        "followers": [1000] * 4 + [500, 600, 700, 800, 900, None],
        "bio": [BIOS[a] for a in brands + infs],
    })
    posts, dets = [], []
    for a, caps in theme.items():
        for k in range(n_posts):
            pid = f"{a}-p{k}"
            posts.append((pid, a, caps[k % len(caps)], 1_550_000_000 + 1000 * k, 10 * k, k, None))
            obj = 500 if caps is FOOD else 600
            dets.append((pid, "object", obj, 0.8))
            dets.append((pid, "object", obj + 1, 0.05))  # below the 0.1 threshold
            dets.append((pid, "scene", 10 if caps is FOOD else 20, 0.5))
    posts_df = pd.DataFrame(posts, columns=["post_id", "account_id", "caption", "timestamp", "likes", "comments", "image_ref"])
    audience, aposts = [], []
    for a, caps in theme.items():
        for q in range(3):
            member = f"u-{a}-{q}"
            audience.append((a, member))
            for k in range(2):
                pid = f"{member}-{k}"
                aposts.append((pid, member, caps[(q + k) % len(caps)], 1_550_000_000 + k, 1, 0, None))
                dets.append((pid, "object", 500 if caps is FOOD else 600, 0.7))
    co = pd.DataFrame([("b0", "m0"), ("b0", "m1"), ("b1", "m2"), ("b2", "m4"), ("b3", "m3")],
                      columns=["brand_id", "influencer_id"])
    co["score"] = np.nan
    splits = pd.DataFrame({"brand_id": brands, "split": ["train", "train", "validation", "test"]})
    grid = partner_grid("test", ["b3"], CooperationSet.from_frame(co))
    return Tables(
        accounts=accounts, cooperations=co, splits=splits, grids=grid_to_frame(grid), posts=posts_df,
        audience=pd.DataFrame(audience, columns=["account_id", "member_id"]),
        audience_posts=pd.DataFrame(aposts, columns=["post_id", "member_id", "caption", "timestamp", "likes", "comments", "image_ref"]),
        detections=pd.DataFrame(dets, columns=["post_id", "kind", "class_index", "confidence"]),
    )


def tiny_options(**kw) -> FeaturizeOptions:
    base = dict(topics=3, topic_passes=2, n2v_walks=3, n2v_length=12, n2v_epochs=2, w2v_epochs=2, w2v_dim=16,
                progress=False, attr_min_df=1, with_=("w2v", "tfidf"))
    base.update(kw)
    return FeaturizeOptions(**base)


def write_tiny(path: Path, tables: Tables | None = None) -> Dataset:
    return write_dataset(Dataset("tiny", tables or tiny_tables()), path)


@pytest.fixture()
def tiny_dir(tmp_path: Path) -> Path:
    write_tiny(tmp_path / "tiny")
    return tmp_path / "tiny"
