"""Eq. 4-6 (threshold, sum over posts, psi = L1 per part, concat) and MIR history pooling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from brandmatch.features import pooling


def _dets(rows):
    return pd.DataFrame(rows, columns=["post_id", "kind", "class_index", "confidence"])


def test_eq4_6_threshold_sum_normalise_concat():
    groups = pd.DataFrame({"account_id": ["a", "a", "b"], "post_id": ["p1", "p2", "p3"]})
    idx = {"p1": 0, "p2": 1, "p3": 2}
    det = _dets([
        ("p1", "object", 3, 0.6), ("p1", "object", 7, 0.09),  # 0.09 < 0.1: dropped
        ("p2", "object", 3, 0.2), ("p2", "object", 5, 0.2),
        ("p1", "scene", 2, 0.5), ("p2", "scene", 4, 0.5),
        ("p3", "object", 9, 0.1),  # exactly at the threshold: kept
    ])
    obj, sce = pooling.detection_matrices(det, idx, threshold=0.1)
    values, mask, info = pooling.semantic_pool(obj, sce, groups, ["a", "b", "c"], idx)
    assert values.shape == (3, 1365)
    # account a: objects 3: 0.6 + 0.2 = 0.8, 5: 0.2 -> /1.0; scenes 2: 0.5, 4: 0.5 -> /1.0
    np.testing.assert_allclose(values[0, 3], 0.8, rtol=1e-6)
    np.testing.assert_allclose(values[0, 5], 0.2, rtol=1e-6)
    assert values[0, 7] == 0.0
    np.testing.assert_allclose(values[0, 1000 + 2], 0.5, rtol=1e-6)
    np.testing.assert_allclose(values[0, 1000 + 4], 0.5, rtol=1e-6)
    np.testing.assert_allclose(values[0, :1000].sum(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(values[0, 1000:].sum(), 1.0, rtol=1e-6)
    # account b: objects only -> scene part all zeros (half-missing), still present
    np.testing.assert_allclose(values[1, 9], 1.0)
    assert values[1, 1000:].sum() == 0.0
    assert mask.tolist() == [True, True, False]  # c has no posts
    assert info["accounts_half_missing"] == 1


def test_pool_rows_mean_and_engagement_weighted():
    groups = pd.DataFrame({"account_id": ["a", "a", "b"], "post_id": ["p1", "p2", "p3"]})
    idx = {"p1": 0, "p2": 1, "p3": 2}
    x = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    present = np.array([True, True, False])
    mean, mask = pooling.pool_rows(x, present, groups, ["a", "b"], idx)
    np.testing.assert_allclose(mean[0], [0.5, 0.5])
    assert mask.tolist() == [True, False] and not mean[1].any()
    w = pooling.engagement_weights(pd.Series([2, 0, 5]), pd.Series([1, None, 0]))
    np.testing.assert_allclose(w, [4.0, 1.0, 6.0])  # likes + comments + 1
    wap, _ = pooling.pool_rows(x, present, groups, ["a", "b"], idx, weights=w)
    np.testing.assert_allclose(wap[0], [0.8, 0.2])


def test_content_groups_keep_h_most_recent():
    posts = pd.DataFrame({
        "post_id": ["p1", "p2", "p3", "q1"], "account_id": ["a", "a", "a", "b"],
        "timestamp": pd.array([10, 30, 20, None], dtype="Int64"),
    })
    g = pooling.content_groups(posts, h=2)
    assert sorted(g[g.account_id == "a"].post_id) == ["p2", "p3"]
    assert g[g.account_id == "b"].post_id.tolist() == ["q1"]


def test_audience_groups_q_members_l_posts():
    audience = pd.DataFrame({"account_id": ["a"] * 3, "member_id": ["u1", "u2", "u3"]})
    ap = pd.DataFrame({"post_id": ["x1", "x2", "x3", "y1", "z1"], "member_id": ["u1", "u1", "u1", "u2", "u3"],
                       "timestamp": pd.array([1, 3, 2, 1, 1], dtype="Int64")})
    g = pooling.audience_groups(audience, ap, q=2, l_posts=2)
    assert sorted(g.post_id) == ["x2", "x3", "y1"]


def test_empty_inputs():
    empty = pd.DataFrame({"post_id": [], "account_id": [], "timestamp": []})
    assert pooling.content_groups(empty).empty
    obj, sce = pooling.detection_matrices(_dets([]), {}, 0.1)
    values, mask, _ = pooling.semantic_pool(obj, sce, pooling.content_groups(empty), ["a"], {})
    assert values.shape == (1, 1365) and not mask.any()
