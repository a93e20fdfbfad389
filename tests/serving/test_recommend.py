"""The serving core: filters, ranking == brute force, parts, evidence, lookups, new brands."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from brandmatch.errors import BrandmatchError, ServingError
from brandmatch.features.store import FeatureSet, FeatureView
from brandmatch.serving.index import InnerProductIndex
from brandmatch.serving.recommend import Filters, Recommendation, Recommender
from tests.serving.world import fitted, serving_world

ALL = Filters(min_followers=None, max_followers=None, exclude_partners=False)


@pytest.fixture(scope="module")
def world():
    ds = serving_world()
    return ds, fitted(ds)


@pytest.fixture(scope="module")
def rec(world):
    ds, model = world
    return Recommender(model, ds)


def brute(model, rec: Recommender, brand: str, allowed: np.ndarray, k: int) -> list[str]:
    """Top-k by model.score over every allowed influencer (the reference)."""
    s = model.score([brand], rec.influencer_ids)[0]
    s = np.where(allowed, s, -np.inf)
    order = np.argsort(-s, kind="stable")
    return [rec.influencer_ids[i] for i in order[:k] if np.isfinite(s[i])]


# ---------------------------------------------------------------- filters


def test_filters_validate_values():
    for kwargs, msg in (({"min_followers": -1}, "min_followers must be >= 0"),
                        ({"max_followers": -5}, "max_followers must be >= 0"),
                        ({"min_followers": 10, "max_followers": 5}, "min_followers 10 is above max_followers 5"),
                        ({"min_engagement": -0.1}, "min_engagement must be >= 0"),
                        ({"min_engagement": float("nan")}, "finite"),
                        ({"min_followers": 2.5}, "whole number"),
                        ({"categories": ("",)}, "non-empty")):
        with pytest.raises(ServingError, match=msg) as exc:
            Filters(**kwargs)
        assert "\n" not in str(exc.value)
    assert issubclass(ServingError, BrandmatchError)
    assert Filters(categories=["food"]).categories == ("food",)
    assert Filters(categories="food").categories == ("food",)


def test_unknown_followers_are_kept_and_shown_unknown(rec):
    got = {r.influencer_id: r for r in rec.recommend("b4", k=30)}
    # default micro range: m1 (3,000) and m2 (150,000) are out, m0 / m3 (unknown) are kept
    assert "m1" not in got and "m2" not in got
    for m in ("m0", "m3"):
        if m in got:
            assert got[m].followers is None
    allowed = rec.allowed(Filters(exclude_partners=False))
    row = {m: i for i, m in enumerate(rec.influencer_ids)}
    assert allowed[row["m0"]] and allowed[row["m3"]]
    assert not allowed[row["m1"]] and not allowed[row["m2"]]
    f = rec.followers
    known = ~np.isnan(f)
    assert np.all((f[allowed & known] >= 5000) & (f[allowed & known] <= 100000))


def test_micro_range_bounds_are_configurable(rec):
    allowed = rec.allowed(Filters(min_followers=None, max_followers=200000, exclude_partners=False))
    row = {m: i for i, m in enumerate(rec.influencer_ids)}
    assert allowed[row["m1"]] and allowed[row["m2"]]
    allowed = rec.allowed(Filters(min_followers=140000, max_followers=None, exclude_partners=False))
    assert set(np.array(rec.influencer_ids)[allowed]) == {"m0", "m2", "m3"}  # unknown counts kept


def test_category_filter(rec):
    got = rec.recommend("b4", k=30, filters=Filters(min_followers=None, max_followers=None, categories=("beauty",)))
    assert [r.influencer_id for r in got] == ["m6"]  # the accounts table's own category
    assert "beauty" in got[0].categories
    auto = rec.recommend("b4", k=30, filters=Filters(min_followers=None, max_followers=None, categories=("AUTO",)))
    assert auto and all("auto" in r.categories for r in auto)
    with pytest.raises(ServingError, match="unknown category 'fod'.*food"):
        rec.recommend("b4", filters=Filters(categories=("fod",)))


def test_engagement_filter_keeps_unknown(rec):
    row = {m: i for i, m in enumerate(rec.influencer_ids)}
    assert rec.engagement[row["m4"]] == pytest.approx(0.10, abs=1e-3)
    assert rec.engagement[row["m5"]] == pytest.approx(0.01, abs=1e-3)
    allowed = rec.allowed(Filters(min_followers=None, max_followers=None, min_engagement=0.05, exclude_partners=False))
    assert allowed[row["m4"]] and not allowed[row["m5"]]
    assert allowed[row["m7"]]  # no posts: unknown, kept
    got = {r.influencer_id: r for r in rec.recommend("b0", k=30, filters=ALL)}
    assert got["m4"].engagement_rate == pytest.approx(0.10, abs=1e-3)
    assert got["m7"].engagement_rate is None


def test_partners_excluded_by_default(world, rec):
    ds, _ = world
    partners = {m for b, m in zip(ds.tables.cooperations["brand_id"], ds.tables.cooperations["influencer_id"])
                if b == "b4"}
    got = [r.influencer_id for r in rec.recommend("b4", k=30, filters=Filters(min_followers=None, max_followers=None))]
    assert partners and not partners & set(got)
    with_partners = [r.influencer_id for r in rec.recommend("b4", k=30, filters=ALL)]
    assert partners <= set(with_partners)


# ---------------------------------------------------------------- ranking and parts


@pytest.mark.parametrize("filters", [ALL, Filters(), Filters(min_followers=None, max_followers=None,
                                                               categories=("food",), min_engagement=0.05)])
def test_ranking_equals_brute_force(world, rec, filters):
    ds, model = world
    for brand in ("b0", "b4", "b5"):
        for k in (1, 5, 40):
            got = rec.recommend(brand, k=k, filters=filters)
            want = brute(model, rec, brand, rec.allowed(filters, brand), k)
            assert [r.influencer_id for r in got] == want
            assert [r.rank for r in got] == list(range(1, len(got) + 1))
            scores = model.score([brand], [r.influencer_id for r in got])[0]
            np.testing.assert_allclose([r.score for r in got], scores, rtol=1e-6, atol=1e-9)


def test_parts_sum_to_the_score(world, rec):
    _, model = world
    got = rec.recommend("b5", k=10, filters=ALL)
    assert set(got[0].parts) == set(model.parts) == {"c", "au", "att", "cat", "prof", "hub"}
    for r in got:
        assert math.isclose(sum(r.parts.values()), r.score, rel_tol=1e-9, abs_tol=1e-12)
        shares = r.shares()
        assert math.isclose(sum(abs(v) for v in shares.values()), 1.0, rel_tol=1e-9)
    ps = model.part_scores(["b5"], [got[0].influencer_id])
    for p, v in got[0].parts.items():
        assert v == pytest.approx(float(ps[p][0, 0]), rel=1e-6, abs=1e-9)


def test_hnsw_index_agrees_on_the_toy_world(world):
    ds, model = world
    exact = Recommender(model, ds)
    approx = Recommender(model, ds, index_kind="hnsw")
    for brand in ("b0", "b5"):
        a = [r.influencer_id for r in exact.recommend(brand, k=10, filters=ALL)]
        b = [r.influencer_id for r in approx.recommend(brand, k=10, filters=ALL)]
        assert a == b  # 30 points: HNSW is exhaustive here


def test_explain_matches_recommend(rec):
    top = rec.recommend("b5", k=3, filters=ALL)
    for r in top:
        e = rec.explain("b5", r.influencer_id)
        assert e.rank == r.rank and e.score == pytest.approx(r.score) and e.parts == pytest.approx(r.parts)
    with pytest.raises(ServingError, match="role 'brand', not a influencer"):
        rec.explain("b5", "b4")


def test_similar_lookalikes_by_cosine(rec):
    got = rec.similar("m4", k=5, filters=ALL)
    assert len(got) == 5 and "m4" not in [r.influencer_id for r in got]
    x = rec.index.vectors.astype(np.float64)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    row = {m: i for i, m in enumerate(rec.influencer_ids)}
    cos = unit @ unit[row["m4"]]
    cos[row["m4"]] = -np.inf
    want = [rec.influencer_ids[i] for i in np.argsort(-cos, kind="stable")[:5]]
    assert [r.influencer_id for r in got] == want
    for r in got:
        assert r.score == pytest.approx(cos[row[r.influencer_id]], abs=1e-6)
        assert sum(r.parts.values()) == pytest.approx(r.score, abs=1e-9)
    # cluster mates (j % 3 == 1) are the closest
    assert all(int(r.influencer_id[1:]) % 3 == 1 for r in got)
    micro = rec.similar("m4", k=30)
    assert "m1" not in [r.influencer_id for r in micro]


# ---------------------------------------------------------------- records and evidence


def test_recommendation_json_is_strict_and_complete(rec):
    r = rec.recommend("b4", k=1, filters=ALL)[0]
    d = json.loads(r.to_json())
    assert {"rank", "influencer_id", "handle", "score", "parts", "shares", "followers", "engagement_rate",
            "evidence", "categories"} <= set(d)
    ev = d["evidence"]
    assert set(ev) == {"brand", "influencer", "shared_attributes", "unavailable"}
    assert "content_text" in ev["brand"] and ev["brand"]["content_text"][0]["label"].startswith("topic ")
    assert any("topic words unavailable" in u for u in ev["unavailable"])
    assert any("no bios" in u for u in ev["unavailable"])
    unknown = Recommendation(1, "m0", None, 1.0, {"c": 1.0}, None, None, {})
    assert json.loads(unknown.to_json())["followers"] is None
    assert unknown.flat()["followers"] == "unknown" and unknown.flat()["engagement_rate"] == "unknown"


def test_evidence_names_topics_and_visual_concepts():
    """Views carrying LDA top_words and 1,365-d object + scene semantics are explained by name."""
    ds = serving_world()
    ids = ds.features["content_text"].ids
    n = len(ids)
    rng = np.random.default_rng(1)
    text = rng.dirichlet(np.ones(5), size=n).astype(np.float32)
    words = [[f"w{t}a", f"w{t}b", f"w{t}c"] for t in range(5)]
    vis = np.zeros((n, 1365), np.float32)
    vis[:, 3] = 1.0
    vis[:, 1000 + 7] = 1.0
    feats = FeatureSet({**ds.features.views,
                        "content_text": FeatureView("content_text", ids, text, np.ones(n, bool), {"top_words": words}),
                        "content_visual": FeatureView("content_visual", ids, vis, np.ones(n, bool),
                                                      {"parts": {"object": [0, 1000], "scene": [1000, 1365]}})})
    ds.features = feats
    model = fitted(ds)
    r = Recommender(model, ds).recommend("b0", k=1, filters=ALL)[0]
    ev = r.evidence
    t = np.argmax(text[list(ids).index(r.influencer_id)])
    assert ev["influencer"]["content_text"][0]["label"] == f"topic {t}: " + " ".join(words[t])
    labels = [e["label"] for e in ev["brand"]["content_visual"]]
    assert len(labels) == 2 and labels[0].startswith("object") and labels[1].startswith("scene: ")
    assert "topic" in r.evidence_summary()


def test_evidence_names_the_bio_kinds_where_the_dataset_has_them():
    """attributes_kinds rows are explained by their kinds' attribute names; batched == per pair."""
    ds = serving_world()
    ids = ds.features["content_text"].ids
    n = len(ids)
    kinds = np.zeros((n, 3), np.float32)
    kinds[np.arange(n), np.arange(n) % 3] = 1.0
    kinds[0, 2] = 1.0
    table = [["makeup", "lipstick"], ["coffee", "espresso", "latte", "brew", "beans"], ["dog"]]
    ds.features = FeatureSet({**ds.features.views, "attributes_kinds": FeatureView(
        "attributes_kinds", ids, kinds, np.ones(n, bool), {"kinds": table})})
    rec = Recommender(fitted(ds), ds)
    brand = "b0"
    got = rec.recommend(brand, k=3, filters=ALL)
    row = list(ids).index(brand)
    want = [f"kind {j}: " + ", ".join(table[j][:4]) for j in np.flatnonzero(kinds[row])]
    for r in got:
        assert [e["label"] for e in r.evidence["brand"]["attributes_kinds"]] == want
        m = list(ids).index(r.influencer_id)
        assert [e["label"] for e in r.evidence["influencer"]["attributes_kinds"]] == \
            [f"kind {j}: " + ", ".join(table[j][:4]) for j in np.flatnonzero(kinds[m])]
        assert r.evidence == rec.evidence(brand, r.influencer_id)
        assert "brand: " in r.evidence_summary() and want[0] in r.evidence_summary()
    # a dataset without the view reports nothing about it
    bare = serving_world()
    bare.features = FeatureSet({k: v for k, v in bare.features.views.items() if k != "attributes_kinds"})
    ev = Recommender(fitted(bare), bare).recommend(brand, 1, ALL)[0].evidence
    assert "attributes_kinds" not in ev["brand"] and "attributes_kinds" not in " ".join(ev["unavailable"])


# ---------------------------------------------------------------- resolution, lookups, k


def test_brand_by_handle_and_unknown_brand_message(rec):
    a = [r.influencer_id for r in rec.recommend("B4_BRAND", k=3, filters=ALL)]
    b = [r.influencer_id for r in rec.recommend("@b4_brand", k=3, filters=ALL)]
    assert a == b == [r.influencer_id for r in rec.recommend("b4", k=3, filters=ALL)]
    with pytest.raises(ServingError) as exc:
        rec.recommend("b4_brnd")
    msg = str(exc.value)
    assert "unknown brand 'b4_brnd'" in msg and "B4_brand" in msg and "\n" not in msg
    with pytest.raises(ServingError, match="role 'influencer', not a brand"):
        rec.recommend("m3")


@pytest.mark.parametrize("k", [0, -1, 2.5, "3", True])
def test_bad_k(rec, k):
    with pytest.raises(ServingError, match="k must be an integer >= 1"):
        rec.recommend("b0", k=k)


def test_k_above_the_pool_returns_every_candidate(rec):
    got = rec.recommend("b0", k=1000, filters=ALL)
    assert len(got) == len(rec.influencer_ids)
    assert rec.recommend("b0", k=5, filters=Filters(min_followers=10**9, max_followers=None,
                                                     categories=("beauty",))) == []


def test_search_and_info(rec):
    hits = rec.search_brands("B")
    assert [h["id"] for h in hits][:2] == ["b0", "b1"] and len(hits) == 6
    assert rec.search_brands("b3_brand")[0] == {"id": "b3", "handle": "B3_brand", "category": "auto",
                                                "followers": None}
    assert [h["id"] for h in rec.search_influencers("M1", limit=3)] == ["m1", "m10", "m11"]
    assert rec.search_influencers("zzz") == []
    with pytest.raises(ServingError, match="limit"):
        rec.search_brands("b", limit=0)
    info = rec.influencer_info("inf_m4")
    assert info["id"] == "m4" and info["engagement_rate"] == pytest.approx(0.1, abs=1e-3)
    assert info["captions"][0] in ("fresh pasta night", "market haul") and len(info["captions"]) == 2
    assert "b0" not in info["partners"] and "b1" in info["partners"]
    binfo = rec.brand_info("b4")
    assert binfo["category"] == "food" and binfo["followers"] is None and "content_text" in binfo["top"]
    assert any("no posts" in u for u in binfo["unavailable"])


# ---------------------------------------------------------------- new brands


def test_recommend_features_for_a_new_brand_equals_the_known_brand(world, rec):
    """A new brand whose rows equal b4's (and b4's category) ranks like b4 without partner exclusion."""
    ds, model = world
    rows = {}
    for name in model.required_inputs():
        v, m = ds.features[name].lookup(["b4"])
        rows[name] = FeatureView(name, np.array(["new:b4"]), v, m)
    got = rec.recommend_features(FeatureSet(rows), "new:b4", "Food", k=10, filters=ALL)
    want = rec.recommend("b4", k=10, filters=ALL)
    # the profile term leaves a training brand out of its own profile: b4 is a test brand, so equal
    assert [r.influencer_id for r in got] == [r.influencer_id for r in want]
    np.testing.assert_allclose([r.score for r in got], [r.score for r in want], rtol=1e-5)
    assert got[0].parts["cat"] == pytest.approx(want[0].parts["cat"], rel=1e-5)
    # without a category the category term has no prior: its part is 0
    nocat = rec.recommend_features(FeatureSet(rows), "new:b4", None, k=3, filters=ALL)
    assert all(r.parts["cat"] == 0 for r in nocat)
    # the original model is untouched
    assert "new:b4" not in next(t for t in model.terms if t.kind == "category").brand_category_
    # a featurizer's own id for its single row is accepted
    other = FeatureSet({n: FeatureView(n, np.array(["whatever"]), v.values, v.mask) for n, v in rows.items()})
    assert [r.influencer_id for r in rec.recommend_features(other, "new:b4", "food", 10, ALL)] == \
        [r.influencer_id for r in got]


def test_recommend_features_errors(world, rec):
    ds, model = world
    with pytest.raises(ServingError, match="already an account"):
        rec.recommend_features(FeatureSet(), "b4", None)
    bad = FeatureSet({"content_text": FeatureView("content_text", np.array(["x"]), np.zeros((1, 2)), np.ones(1, bool))})
    with pytest.raises(ServingError, match="dimension 2"):
        rec.recommend_features(bad, "x", None)
    empty = FeatureSet({"content_text": FeatureView("content_text", np.array(["x"]),
                                                    np.zeros((1, ds.features["content_text"].dim)), np.zeros(1, bool))})
    with pytest.raises(ServingError, match="no present row"):
        rec.recommend_features(empty, "x", None)
    with pytest.raises(ServingError, match="must be a FeatureSet"):
        rec.recommend_features("features", "x", None)


def test_model_without_embed_is_refused(world):
    ds, _ = world
    from brandmatch.models import create

    model = create("rand")
    model.fit(ds.cooperations("train"), ds.features)
    with pytest.raises(ServingError, match="does not decompose"):
        Recommender(model, ds)


def test_saved_index_is_reused_and_checked(world, rec, tmp_path):
    ds, model = world
    rec.save_index(tmp_path / "ix")
    again = Recommender(model, ds, index=InnerProductIndex.load(tmp_path / "ix"))
    assert [r.influencer_id for r in again.recommend("b5", k=5, filters=ALL)] == \
        [r.influencer_id for r in rec.recommend("b5", k=5, filters=ALL)]
    other = InnerProductIndex(rec.influencer_ids, rec.index.vectors + 1.0)
    with pytest.raises(ServingError, match="not built from this model"):
        Recommender(model, ds, index=other)
    with pytest.raises(ServingError, match="ids differ"):
        Recommender(model, ds, index=InnerProductIndex(rec.influencer_ids[::-1], rec.index.vectors))


def test_batched_evidence_and_cached_parts_equal_the_per_pair_computation(world, rec):
    """recommend() reads evidence and parts from per-dataset tables: the same as evidence() and
    model.part_scores for each returned pair."""
    ds, model = world
    for brand in rec.brand_ids[:3]:
        got = rec.recommend(brand, 8, ALL)
        ids = [r.influencer_id for r in got]
        ps = model.part_scores([brand], ids)
        for j, r in enumerate(got):
            assert r.evidence == rec.evidence(brand, r.influencer_id)
            for p, v in r.parts.items():
                assert v == pytest.approx(float(ps[p][0, j]), rel=1e-6, abs=1e-9)
        again = rec.recommend(brand, 8, ALL)  # cached brand side: the same records
        assert [a.to_dict() for a in again] == [r.to_dict() for r in got]
        again[0].evidence["influencer"].clear()  # records do not share mutable evidence
        assert rec.recommend(brand, 8, ALL)[0].evidence == got[0].evidence


def test_evidence_tables_sorted_in_blocks_equal_one_sort(monkeypatch):
    """The evidence tables are sorted TOP_BLOCK_ROWS rows at a time (bounded memory at a million
    influencers); any block size gives the tables of one sort over all rows."""
    from brandmatch.serving import recommend as rec

    rng = np.random.default_rng(0)
    values = np.maximum(rng.normal(size=(23, 1365)), 0).astype(np.float32)
    values[5] = 0.0
    view = FeatureView("content_visual", np.array([f"a{i}" for i in range(23)]), values, np.ones(23, bool),
                       {"parts": {"object": [0, 1000], "scene": [1000, 1365]}})
    vrows = np.array([3, -1, 0, 5, 22, 7, -1, 11], dtype=np.int64)
    read = lambda v, r: np.asarray(v.values[r], dtype=np.float32)  # noqa: E731
    monkeypatch.setattr(rec, "TOP_BLOCK_ROWS", 10_000)
    whole = rec._TopTable(view, vrows, read)
    monkeypatch.setattr(rec, "TOP_BLOCK_ROWS", 3)
    blocks = rec._TopTable(view, vrows, read)
    assert len(whole.spans) == len(blocks.spans) == 2
    for a, b in zip(whole.spans, blocks.spans):
        assert a[0] == b[0]
        for x, y in zip(a[1:], b[1:]):
            np.testing.assert_array_equal(x, y)
    # row 3 of vrows is the all-zero account: nothing positive; absent rows likewise
    assert not whole.spans[0][1][3] and not whole.spans[0][1][1] and whole.spans[0][1][0]
    labels = [f"class {j}" for j in range(1365)]
    assert [e["label"] for e in blocks.entries(0, labels)] == [e["label"] for e in whole.entries(0, labels)]
