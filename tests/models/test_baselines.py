"""RAND, COSINE and MIV on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from brandmatch.errors import ModelUnavailable
from brandmatch.features.activity import activity_view
from brandmatch.features.store import FeatureSet, FeatureView
from brandmatch.models import create
from brandmatch.evaluation.runner import account_info, fit_model, run_model


def test_rand_is_seeded_and_order_independent(tiny_dataset):
    model = fit_model(create("rand", seed=3), tiny_dataset)
    a = model.score(["b2", "b5"], ["m0", "m3", "m4"])
    b = model.score(["b5", "b2"], ["m4", "m0", "m3"])
    assert a.shape == (2, 3)
    assert np.all((a >= 0) & (a < 1))
    np.testing.assert_array_equal(a[0], b[1][[1, 2, 0]])
    other = fit_model(create("rand", seed=4), tiny_dataset).score(["b2", "b5"], ["m0", "m3", "m4"])
    assert not np.allclose(a, other)


def test_rand_is_near_chance_on_a_large_grid():
    model = create("rand", seed=0)
    s = model.score([f"b{i}" for i in range(50)], [f"m{j}" for j in range(400)])
    assert abs(s.mean() - 0.5) < 0.01
    assert len(np.unique(s)) == s.size


def test_cosine_hand_computed():
    ids = np.array(["b", "m1", "m2"])
    view_a = FeatureView("content_text", ids, np.array([[1, 0], [1, 1], [0, 2]], dtype=np.float32), np.ones(3, bool))
    view_b = FeatureView("attributes", ids, np.array([[3, 4], [3, 4], [0, 0]], dtype=np.float32),
                         np.array([True, True, False]))
    model = create("cosine").fit(None, FeatureSet({"content_text": view_a, "attributes": view_b}))
    s = model.score(["b"], ["m1", "m2"])
    # m1: cos([1,0],[1,1]) = 1/sqrt(2); attributes identical -> +1. m2: cos([1,0],[0,2]) = 0; attributes missing.
    np.testing.assert_allclose(s, [[1 / np.sqrt(2) + 1.0, 0.0]], rtol=1e-6)
    only_text = create("cosine", views=["content_text"]).fit(None, model.features_)
    np.testing.assert_allclose(only_text.score(["b"], ["m1", "m2"]), [[1 / np.sqrt(2), 0.0]], rtol=1e-6)


def test_cosine_unavailable_without_views():
    with pytest.raises(ModelUnavailable, match="none of the views"):
        create("cosine").fit(None, FeatureSet())


def test_cosine_and_miv_embed(tiny_dataset):
    """Both decompose: score == embed(brands) @ embed(influencers).T."""
    brands, infs = ["b2", "b5", "b0"], ["m0", "m3", "m4", "m7", "zz"]
    cos = fit_model(create("cosine"), tiny_dataset)
    np.testing.assert_allclose(cos.score(brands, infs), cos.embed(brands, "brand") @ cos.embed(infs, "influencer").T,
                               rtol=1e-12)
    # by hand: b2 (food axis [1, 0] text, [1, 0] attributes) vs m0 ([0.9, 0.1], [0.9, 6/13])
    u = lambda v: np.asarray(v, float) / np.linalg.norm(v)  # noqa: E731
    expect = u([1, 0]) @ u([0.9, 0.1]) + u([1, 2 / 13]) @ u([0.9, 6 / 13])
    assert cos.score(["b2"], ["m0"])[0, 0] == pytest.approx(expect, rel=1e-6)
    assert cos.score(["b2"], ["zz"])[0, 0] == 0.0  # an unknown account has no view: contributes nothing


def test_cosine_ranks_the_tiny_grid(tiny_dataset):
    result = run_model("cosine", tiny_dataset, n_bootstrap=50)
    assert result.evaluation is not None
    # Candidates m0, m3, m4, m7. b2 (food): text+attribute cosines 1.943, 1.594, 0.388, 0.0 ->
    # partners m0, m3 first (4/4 pairs). b5 (auto): 0.566, 1.311, 1.986, 1.0 (m7 has no attribute
    # view, so only its text cosine 1.0 counts) -> m4 beats m0, m3; m7 beats m0 only: 3/4 pairs.
    assert result.evaluation.metrics["AUC"] == pytest.approx(7 / 8)
    assert result.evaluation.metrics["MedR"] == 1
    assert result.evaluation.metrics["MAP"] == pytest.approx((1.0 + (1 / 1 + 2 / 3) / 2) / 2)


def test_miv_unavailable_without_posts(tiny_dataset):
    result = run_model("miv", tiny_dataset)
    assert result.evaluation is None
    assert "post statistics" in result.unavailable


def test_miv_scores_activeness(tiny_dataset):
    acc = tiny_dataset.accounts
    day = 86400
    posts = pd.DataFrame(
        {
            "post_id": ["p1", "p2", "p3", "p4"],
            "account_id": ["m0", "m0", "m1", "m1"],
            "caption": ["a", "b", "c", "d"],
            "timestamp": pd.array([0, day, 0, 10 * day], dtype="Int64"),
            "likes": pd.array([100, 300, 10, 10], dtype="Int64"),
            "comments": pd.array([10, 30, 1, 1], dtype="Int64"),
            "image_ref": [None] * 4,
        }
    )
    view = activity_view(acc, posts)
    ids = view.ids.tolist()
    # m0: 200 likes/post, 20 comments/post, 1 post/day; m1: 10 likes, 1 comment, 0.1 post/day.
    np.testing.assert_allclose(view.values[ids.index("m0"), :4], [5000, 200, 20, 1.0])
    np.testing.assert_allclose(view.values[ids.index("m1"), :4], [12000, 10, 1, 0.1])
    feats = FeatureSet({"activity": view})
    info = account_info(tiny_dataset)
    model = create("miv").fit(tiny_dataset.cooperations("train"), feats, None, info)
    s = model.score(["b2", "b5"], ["m0", "m1"])
    assert np.all(s[0] == s[1])  # brand-independent
    z = (np.log1p(view.values[[ids.index("m0"), ids.index("m1")], :3])).astype(float)
    assert s[0, 0] > s[0, 1] or np.allclose(z[0], z[1])
    # MIV decomposes: [1] for brands, [MIV(m)] for influencers; an influencer without statistics
    # ("zz" is unknown) gets the training floor, whatever else is in the query
    np.testing.assert_allclose(s, model.embed(["b2", "b5"], "brand") @ model.embed(["m0", "m1"], "influencer").T)
    alone = model.score(["b2"], ["zz"])[0, 0]
    assert alone == model.score(["b2"], ["m0", "zz"])[0, 1] == model.floor_
    assert model.floor_ < s.min()
