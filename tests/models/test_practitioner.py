"""Practitioner baselines: tuned-cosine, knn, lambdarank (hand-computed values, save/load, bad params)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from brandmatch.data.schema import CandidateGrid, CooperationSet
from brandmatch.errors import ModelError
from brandmatch.evaluation.metrics import grid_metrics
from brandmatch.features.store import FeatureSet, FeatureView
from brandmatch.models import create, load_model
from brandmatch.models.base import AccountInfo
from brandmatch.models.cosine import normalized_rows

from tests.models.toy_world import toy_world


def _grid(name, brands, infs, positives) -> CandidateGrid:
    labels = np.zeros((len(brands), len(infs)), dtype=np.int8)
    for b, m in positives:
        labels[brands.index(b), infs.index(m)] = 1
    return CandidateGrid(name, np.array(brands, dtype=object), np.array(infs, dtype=object), labels)


def _noisy_world(seed: int = 0):
    """12 brands, 30 influencers, three views of different quality; validation = the last 4 brands."""
    rng = np.random.default_rng(seed)
    brands, infs = [f"b{i}" for i in range(12)], [f"m{j}" for j in range(30)]
    ids = np.array(brands + infs)
    cluster = rng.integers(0, 3, size=len(ids))
    views = {}
    for name, d, noise in (("content_text", 4, 0.8), ("attributes", 5, 1.5), ("content_visual", 3, 3.0)):
        centers = rng.normal(size=(3, d))
        x = (centers[cluster] + noise * rng.normal(size=(len(ids), d))).astype(np.float32)
        views[name] = FeatureView(name, ids, x, np.ones(len(ids), dtype=bool))
    pairs = []
    for i, b in enumerate(brands):
        same = [m for j, m in enumerate(infs) if cluster[12 + j] == cluster[i]]
        pairs += [(b, m) for m in rng.choice(same, size=min(4, len(same)), replace=False)]
    train = [p for p in pairs if int(p[0][1:]) < 8]
    co = CooperationSet(np.array([p[0] for p in train]), np.array([p[1] for p in train]))
    valid_pairs = [p for p in pairs if int(p[0][1:]) >= 8]
    valid = _grid("validation", brands[8:], infs, valid_pairs)
    return FeatureSet(views), co, valid


# ---------------------------------------------------------------- tuned-cosine


def test_tuned_cosine_picks_the_brute_force_weights():
    feats, co, valid = _noisy_world()
    model = create("tuned-cosine").fit(co, feats, valid)
    names = list(model.weights_)  # the cosine term's feature order
    assert sorted(names) == ["attributes", "content_text", "content_visual"]
    cos = []
    for n in names:
        ub = normalized_rows(feats[n].lookup(list(valid.brand_ids))[0])
        um = normalized_rows(feats[n].lookup(list(valid.influencer_ids))[0])
        cos.append(ub @ um.T)
    best, best_w = -math.inf, None
    for w in itertools.product([0.0, 0.25, 0.5, 1.0, 2.0], repeat=3):
        if not any(w):
            continue
        value = grid_metrics(sum(wi * c for wi, c in zip(w, cos)), valid.labels)["MAP"]
        if value > best:
            best, best_w = value, w
    assert tuple(model.weights_.values()) == best_w
    assert model.search_["search"] == "exhaustive" and model.search_["tried"] == 124
    assert model.search_["valid_MAP"] == pytest.approx(best)
    # the model's score is the weighted sum, and it embeds
    expect = sum(w * c for w, c in zip(best_w, cos))
    s = model.score(list(valid.brand_ids), list(valid.influencer_ids))
    np.testing.assert_allclose(s, expect, atol=1e-5)
    e = model.embed(list(valid.brand_ids), "brand") @ model.embed(list(valid.influencer_ids), "influencer").T
    np.testing.assert_allclose(s, e, rtol=1e-12)


def test_tuned_cosine_coordinate_search_and_no_validation():
    feats, co, valid = _noisy_world(1)
    coord = create("tuned-cosine", search="coordinate").fit(co, feats, valid)
    exhaustive = create("tuned-cosine", search="exhaustive").fit(co, feats, valid)
    assert coord.search_["search"] == "coordinate"
    assert coord.search_["valid_MAP"] <= exhaustive.search_["valid_MAP"] + 1e-12
    plain = create("tuned-cosine").fit(co, feats, None)
    assert set(plain.weights_.values()) == {1.0}
    cosine = create("cosine").fit(co, feats)
    b, m = list(valid.brand_ids), list(valid.influencer_ids)
    np.testing.assert_allclose(plain.score(b, m), cosine.score(b, m), rtol=1e-6)


def test_tuned_cosine_save_load(tmp_path):
    feats, co, valid = _noisy_world()
    model = create("tuned-cosine", grid=[0, 1, 2]).fit(co, feats, valid)
    model.save(tmp_path / "m")
    back = load_model(tmp_path / "m", feats)
    b, m = list(valid.brand_ids), list(valid.influencer_ids)
    np.testing.assert_array_equal(back.score(b, m), model.score(b, m))
    assert back.weights_ == model.weights_ and back.get_params()["grid"] == [0.0, 1.0, 2.0]


# ---------------------------------------------------------------- knn


def _three_brands():
    """Training brands A = (1, 0), B = (0, 1), C = (1, 1); new brand T = (1, 0).
    Partners: A -> m1 (1, 0), m3 (0.6, 0.8); B -> m2 (0, 1); C -> m2."""
    ids = np.array(["A", "B", "C", "T", "m1", "m2", "m3"])
    x = np.array([[1, 0], [0, 1], [1, 1], [1, 0], [1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32)
    feats = FeatureSet({"content_text": FeatureView("content_text", ids, x, np.ones(7, dtype=bool))})
    pairs = [("A", "m1"), ("A", "m3"), ("B", "m2"), ("C", "m2")]
    co = CooperationSet(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
    return feats, co


def test_knn_hand_computed():
    feats, co = _three_brands()
    infs = ["m1", "m2", "m3"]
    # sim(T, .) = 1 (A), 0 (B), 1/sqrt(2) (C)
    k1 = create("knn", k=1).fit(co, feats)
    # profile = mean(unit m1, unit m3) = (0.8, 0.4)
    np.testing.assert_allclose(k1.score(["T"], infs), [[0.8, 0.4, 0.8]], atol=1e-6)
    k2 = create("knn", k=2).fit(co, feats)
    # neighbours A, C: profile = 0.5 (0.8, 0.4) + 0.5 (0, 1) = (0.4, 0.7)
    np.testing.assert_allclose(k2.score(["T"], infs), [[0.4, 0.7, 0.24 + 0.56]], atol=1e-6)
    ks = create("knn", k=2, weighting="similarity").fit(co, feats)
    a = 1 / (1 + 1 / math.sqrt(2))
    p = a * np.array([0.8, 0.4]) + (1 - a) * np.array([0.0, 1.0])
    np.testing.assert_allclose(ks.score(["T"], infs), [[p[0], p[1], 0.6 * p[0] + 0.8 * p[1]]], atol=1e-6)
    # a training brand is never its own neighbour: A's nearest other brand is C (partner m2)
    np.testing.assert_allclose(k1.score(["A"], infs), [[0.0, 1.0, 0.8]], atol=1e-6)
    # it decomposes
    np.testing.assert_allclose(k2.embed(["T", "A"], "brand") @ k2.embed(infs, "influencer").T,
                               k2.score(["T", "A"], infs), rtol=1e-12)


def test_knn_k_chosen_on_validation(tmp_path):
    feats, co = _three_brands()
    valid = _grid("validation", ["T"], ["m1", "m2", "m3"], [("T", "m2")])
    # k = 1 ranks m2 last (AP 1/3); k = 2 ranks m2 second after m3 (AP 1/2)
    model = create("knn", k_grid=[1, 2]).fit(co, feats, valid)
    assert model.k_ == 2
    assert model.validation_["by_k"] == {"1": pytest.approx(1 / 3), "2": pytest.approx(0.5)}
    model.save(tmp_path / "knn")
    back = load_model(tmp_path / "knn", feats)
    assert back.k_ == 2
    np.testing.assert_array_equal(back.score(["T", "B"], ["m1", "m2", "m3"]), model.score(["T", "B"], ["m1", "m2", "m3"]))


# ---------------------------------------------------------------- lambdarank


def _pair_world():
    """Train b0 (food) - m0, b1 (food) - m0, m2; b2 (auto) - m1; m3 has no partner. New brand t (food)."""
    ids = np.array(["b0", "b1", "b2", "t", "m0", "m1", "m2", "m3"])
    x = np.array([[1, 0], [1, 1], [0, 1], [3, 4], [1, 0], [0, 2], [1, 1], [0, 0]], dtype=np.float32)
    text_mask = np.array([1, 1, 1, 1, 1, 1, 1, 0], dtype=bool)
    act = np.zeros((8, 6), dtype=np.float32)
    act[4:, 0] = [99, 0, 999, 9]  # followers
    act[4:, 1] = [10, 5, 100, 0]  # likes per post
    act[4:, 2] = [0, 1, 0, 0]  # comments per post
    feats = FeatureSet({
        "content_text": FeatureView("content_text", ids, x, text_mask),
        "activity": FeatureView("activity", ids, act, np.array([0, 0, 0, 0, 1, 1, 1, 1], dtype=bool),
                                {"posts_present": 4}),
    })
    pairs = [("b0", "m0"), ("b1", "m0"), ("b1", "m2"), ("b2", "m1")]
    co = CooperationSet(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
    cats = {"b0": "food", "b1": "food", "b2": "auto", "t": "food"}
    info = AccountInfo(cats, {}, ("m0", "m1", "m2", "m3"))
    return feats, co, info


def test_lambdarank_pair_features_hand_computed():
    feats, co, info = _pair_world()
    model = create("lambdarank", n_estimators=3, min_data_in_leaf=1, negatives=2).fit(co, feats, None, info)
    assert model.feature_names_ == ["cos_content_text", "category_match", "n_partners", "log_followers",
                                    "engagement"]
    x = model.pair_features(["t", "b1"], ["m0", "m1", "m2", "m3"])
    nan = np.nan
    # t = (3, 4): cos with m0 (1, 0) = 0.6, m1 (0, 2) = 0.8, m2 (1, 1) = 7 / (5 sqrt 2), m3 absent
    t = [[0.6, 1, 2, math.log(100), 10 / 99],
         [0.8, 0, 1, math.log(1), 6 / 1],
         [7 / (5 * math.sqrt(2)), 1, 1, math.log(1000), 100 / 999],
         [nan, 0, 0, math.log(10), 0 / 9]]
    # b1 (training brand, left out of its own partners): m0 keeps b0 (food), m2 has no one left
    b1 = [[1 / math.sqrt(2), 1, 1, math.log(100), 10 / 99],
          [1 / math.sqrt(2), 0, 1, math.log(1), 6 / 1],
          [1.0, 0, 0, math.log(1000), 100 / 999],
          [nan, 0, 0, math.log(10), 0 / 9]]
    np.testing.assert_allclose(x, np.array([t, b1]), atol=1e-6)
    # a negative may leave out one of its partners: for b2 (auto), m0 without b0 keeps one partner
    # (b1, food: no auto match); m1 without b2 has none left
    y = model.pair_features(["b2"], ["m0", "m1"], [["b0", "b2"]])
    np.testing.assert_allclose(y[0, :, 1:3], [[0, 1], [0, 0]])
    z = model.pair_features(["t"], ["m0"], [["b0"]])  # t (food): m0 without b0 still has b1 (food)
    np.testing.assert_allclose(z[0, :, 1:3], [[1, 1]])
    with pytest.raises(NotImplementedError, match="do not decompose"):
        model.embed(["t"], "brand")


def test_lambdarank_smoke_fit_and_save_load(tmp_path):
    feats, co, info, brands, infs = toy_world(n_brands=12, n_infs=36, seed=2)
    train_brands, valid_brands = brands[:9], brands[9:]
    keep = np.isin(co.brand_ids, train_brands)
    train = CooperationSet(co.brand_ids[keep], co.influencer_ids[keep])
    valid_pairs = [(b, m) for b, m in zip(co.brand_ids, co.influencer_ids) if b in valid_brands]
    valid = _grid("validation", valid_brands, infs, valid_pairs)
    model = create("lambdarank", n_estimators=40, min_data_in_leaf=5, negatives=8, patience=5)
    model.fit(train, feats, valid, AccountInfo(info.brand_category, {}, tuple(train.influencers)))
    s = model.score(valid_brands, infs)
    assert s.shape == (3, 36) and np.isfinite(s).all()
    assert grid_metrics(s, valid.labels)["AUC"] > 0.8
    assert 1 <= model.best_iteration_ <= 40 and model.history_["valid_map"]
    model.save(tmp_path / "lr")
    text = (tmp_path / "lr" / "config.json").read_text()
    assert "booster_sha256" in text
    back = load_model(tmp_path / "lr", feats)
    np.testing.assert_array_equal(back.score(valid_brands, infs), s)


def test_lambdarank_tampered_booster_refused(tmp_path):
    feats, co, info = _pair_world()
    model = create("lambdarank", n_estimators=2, min_data_in_leaf=1, negatives=2).fit(co, feats, None, info)
    model._booster_sha256 = "0" * 64
    with pytest.raises(ModelError, match="booster text checksum"):
        model.load_state_dict(model.state_dict())


# ---------------------------------------------------------------- parameters


@pytest.mark.parametrize("name, params, match", [
    ("knn", {"k": 0}, "parameter 'k' = 0 is not allowed"),
    ("knn", {"weighting": "max"}, "parameter 'weighting'"),
    ("knn", {"k_grid": []}, "parameter 'k_grid' = \\[\\]"),
    ("knn", {"kk": 3}, "unknown parameter 'kk'"),
    ("tuned-cosine", {"grid": [0]}, "parameter 'grid'"),
    ("tuned-cosine", {"grid": [-1, 1]}, "parameter 'grid'"),
    ("tuned-cosine", {"search": "random"}, "parameter 'search'"),
    ("lambdarank", {"learning_rate": 0}, "parameter 'learning_rate' = 0"),
    ("lambdarank", {"num_leaves": 1}, "parameter 'num_leaves'"),
    ("lambdarank", {"negatives": 2.5}, "parameter 'negatives'"),
])
def test_bad_parameters_one_line(name, params, match):
    with pytest.raises(ModelError, match=match) as info:
        create(name, **params)
    assert "\n" not in str(info.value)
