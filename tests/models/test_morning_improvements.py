"""MORNING improvement views (not in the paper): category affinity and partner profile."""

from __future__ import annotations

import numpy as np
import pytest

from brandmatch.models import load_model
from brandmatch.models.morning import partner_profiles

from tests.models.test_morning import _fit, toy_world

LITE = {"cosine_residual": True, "init_range": 0.0, "input_norm": "standard", "l1": 0.0, "epochs": 2,
        "frozen_views": "c,au,att", "cosine_weights": "diagonal"}
CAT = {"category_view": True, "category_aux": 1.0}
PROF = {"partner_profile": True, "profile_tau": 0.5}


def test_partner_profile_hand_computed_and_leave_one_out():
    sim = {"t": np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])}  # three training brands
    partner_mean = {"x": np.eye(3)}  # brand i's partners have mean feature e_i
    queries = {"t": np.array([[1.0, 0.0], [1.0, 0.0]])}
    # row 0: training brand 0 (its own partners left out); row 1: a new brand with the same features
    out = partner_profiles(sim, partner_mean, queries, np.array([0, -1]), tau=1.0)["x"]
    e = np.e
    loo = np.array([0.0, e / (e + 1), 1 / (e + 1)])
    np.testing.assert_allclose(out[0], loo / np.linalg.norm(loo), rtol=1e-6)
    assert out[0, 0] == 0.0  # the brand's own partners do not enter its profile
    new = np.array([e, e, 1.0]) / (2 * e + 1)
    np.testing.assert_allclose(out[1], new / np.linalg.norm(new), rtol=1e-6)


@pytest.mark.parametrize("extra", [CAT, PROF, {**CAT, **PROF}, {**CAT, "category_layers": [4], "negatives": "category"}])
def test_improvement_views_decompose(extra):
    model, feats, brands, infs = _fit({**LITE, **extra})
    s = model.score(brands, infs)
    np.testing.assert_allclose(s, model.embed(brands, "brand") @ model.embed(infs, "influencer").T, rtol=1e-6)
    vs = model.view_scores(brands, infs)
    assert {"cat" if extra.get("category_view") else "c", "prof" if extra.get("partner_profile") else "c"} <= set(vs)
    np.testing.assert_allclose(sum(vs.values()), s, rtol=1e-5, atol=1e-5)


def test_category_view_sides():
    model, feats, brands, infs = _fit({**LITE, **CAT})
    assert model.categories_ == ["auto", "food"]
    eb, em = model.embed_views(brands, "brand")["cat"], model.embed_views(infs, "influencer")["cat"]
    # brand side: one-hot of the brand's category (toy world: even brands "food")
    np.testing.assert_array_equal(eb, np.array([[0, 1] if i % 2 == 0 else [1, 0] for i in range(len(brands))]))
    # influencer side: s * log p(category | m), a distribution over the categories
    s = float(np.exp(model.net_.category.log_scale.item()))
    np.testing.assert_allclose(np.exp(em / s).sum(1), 1.0, rtol=1e-5)
    # a brand of unknown category gets no category term
    model.brand_category_.pop(brands[0])
    assert not model.embed_views(brands[:1], "brand")["cat"].any()


def test_profile_buffers_from_training_partners_only():
    feats, co, info, brands, infs = toy_world()
    keep = co.brand_ids != brands[0]  # brand 0 has no training cooperation: not a profile row
    from brandmatch.data.schema import CooperationSet

    train = CooperationSet(co.brand_ids[keep], co.influencer_ids[keep])
    model, *_ = _fit({**LITE, **PROF}, world=(feats, train, info, brands, infs))
    assert brands[0] not in model.profile_brands_
    row = model.profile_brands_.index(brands[3])
    x, _ = feats["content_text"].lookup([m for j, m in enumerate(infs) if j % 3 == 0])
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    got = model.net_.profile.partner_content_text.numpy()[row]
    np.testing.assert_allclose(got, unit.mean(0), rtol=1e-5, atol=1e-6)
    # a training brand's profile is its leave-one-out profile
    p_train = model._brand_profiles(model.net_, feats, [brands[3]])["content_text"].numpy()
    sim = {n: getattr(model.net_.profile, f"sim_{n}").numpy() for n in model.net_.profile.sim_names}
    q = model._unit_inputs(feats, [brands[3]], model.net_.profile.sim_names)
    mean = {"content_text": model.net_.profile.partner_content_text.numpy()}
    expect = partner_profiles(sim, mean, q, np.array([row]), 0.5)["content_text"]
    np.testing.assert_allclose(p_train, expect, rtol=1e-6)
    assert not np.allclose(expect, partner_profiles(sim, mean, q, np.array([-1]), 0.5)["content_text"])


def test_improvement_views_save_load(tmp_path):
    model, feats, brands, infs = _fit({**LITE, **CAT, **PROF})
    model.save(tmp_path / "m")
    again = load_model(tmp_path / "m", feats)
    np.testing.assert_allclose(again.score(brands, infs), model.score(brands, infs), rtol=1e-12, atol=1e-12)
    assert again.categories_ == model.categories_ and again.profile_brands_ == model.profile_brands_


def test_cosine_sqrt_and_center_hand_computed():
    """Frozen weighted cosine before training = sum of cosines of the transformed raw vectors."""
    from brandmatch.models import create

    feats, co, info, brands, infs = toy_world()
    from brandmatch.features.store import FeatureSet, FeatureView

    feats = FeatureSet({n: FeatureView(n, feats[n].ids, np.abs(feats[n].values), feats[n].mask) for n in feats.names()})
    model = create("morning", **{**LITE, "epochs": 0, "cosine_sqrt": "content_text",
                                 "cosine_center": "attributes,content_text"})
    model.fit(co, feats, None, info)
    train_ids = list(dict.fromkeys(co.brand_ids.tolist())) + list(dict.fromkeys(co.influencer_ids.tolist()))
    expect = np.zeros((len(brands), len(infs)))
    for name in model.net_.inputs:
        def tx(ids):
            x = feats[name].lookup(list(ids))[0].astype(np.float64)
            return np.sqrt(x) if name == "content_text" else x
        center = tx(train_ids).mean(0) if name in ("attributes", "content_text") else 0.0
        xb, xm = tx(brands) - center, tx(infs) - center
        xb /= np.linalg.norm(xb, axis=1, keepdims=True)
        xm /= np.linalg.norm(xm, axis=1, keepdims=True)
        expect += xb @ xm.T
    np.testing.assert_allclose(model.score(brands, infs), expect, rtol=1e-4, atol=1e-5)
