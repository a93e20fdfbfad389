"""The hubness term (CSLS correction): hand-computed values, brute force, post-hoc training, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brandmatch.data.schema import CooperationSet
from brandmatch.errors import ModelError, ModelUnavailable
from brandmatch.features.store import FeatureSet, FeatureView
from brandmatch.models import create
from brandmatch.models.base import load_model
from brandmatch.models.terms.base import FitContext, lookup_accounts
from brandmatch.models.terms.hubness import HubnessTerm
from brandmatch.training.trainer import TrainingOptions
from tests.models.toy_world import LITE, toy_world


def _features() -> FeatureSet:
    """Brands b0-b2, influencers m0-m2; content_text (2-d) and attributes (2-d, m2 has none)."""
    ids = np.array(["b0", "b1", "b2", "m0", "m1", "m2"])
    text = np.array([[1, 0], [0, 1], [1, 1], [1, 0], [4, 3], [0, 9]], dtype=np.float32)
    attr = np.array([[1, 0], [0, 1], [0, 1], [0, 1], [1, 0], [0, 0]], dtype=np.float32)
    return FeatureSet({"content_text": FeatureView("content_text", ids, text, np.ones(6, bool)),
                       "attributes": FeatureView("attributes", ids, attr, np.array([1, 1, 1, 1, 1, 0], bool))})


def _term(**params) -> HubnessTerm:
    feats = _features()
    term = HubnessTerm(**params)
    term.prepare(FitContext(feats, {"c": {"content_text": 2}, "att": {"attributes": 2}}, ["b0", "b1", "b2"],
                            ["m0", "m1", "m2"], CooperationSet(np.array(["b0"]), np.array(["m0"]))))
    return term


def _sides(term, b, m):
    feats = _features()
    eb = term.brand_side(lookup_accounts(feats, b, term.required_inputs))["hub"]
    em = term.influencer_side(lookup_accounts(feats, m, term.required_inputs))["hub"]
    return eb.numpy(), em.numpy()


def test_hand_computed_k2():
    """m0 = (1, 0) text, (0, 1) attributes: COSINE to b0, b1, b2 = 1 + 0, 0 + 1, 1/sqrt2 + 1;
    the two nearest: 1.7071 and 1 -> r = 1.35355; m2 (no attributes) = (0, 1) text: 0, 1, 1/sqrt2 -> 0.85355."""
    eb, em = _sides(_term(k=2, alpha=0.5), ["b0", "b1"], ["m0", "m2"])
    assert eb.tolist() == [[1.0], [1.0]]
    s = 1 / np.sqrt(2)
    np.testing.assert_allclose(em[:, 0], [-0.5 * (1 + s + 1) / 2, -0.5 * (1 + s) / 2], rtol=1e-6)


def test_matches_brute_force_csls_offset_and_sqrt():
    feats = _features()
    term = _term(k=2, alpha=0.7, sqrt=["content_text"])
    _, em = _sides(term, ["b0"], ["m0", "m1", "m2"])

    def unit(name, ids, root):
        x, mask = feats[name].lookup(ids)
        x = np.sqrt(x) if root else x
        n = np.linalg.norm(x, axis=1, keepdims=True)
        return np.where(n > 0, x / np.where(n > 0, n, 1), 0) * mask[:, None]

    brands, infs = ["b0", "b1", "b2"], ["m0", "m1", "m2"]
    cos = unit("content_text", infs, True) @ unit("content_text", brands, True).T \
        + unit("attributes", infs, False) @ unit("attributes", brands, False).T
    expect = -0.7 * np.sort(cos, axis=1)[:, -2:].mean(axis=1)
    np.testing.assert_allclose(em[:, 0], expect, rtol=1e-6)


def test_k_above_the_reference_count_averages_every_brand_and_alpha_zero_is_no_term():
    _, em = _sides(_term(k=50), ["b0"], ["m0"])
    s = 1 / np.sqrt(2)
    np.testing.assert_allclose(em[0, 0], -0.5 * (1 + 1 + 1 + s) / 3, rtol=1e-6)
    _, zero = _sides(_term(alpha=0.0), ["b0"], ["m0", "m1"])
    assert np.all(zero == 0)


def test_a_hub_is_lowered_more_than_a_specialist():
    """An influencer equally close to every brand (a hub) against one close to b0 only; k = 2."""
    ids = np.array(["b0", "b1", "b2", "hub", "spec"])
    x = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [1, 0, 0]], dtype=np.float32)
    feats = FeatureSet({"attributes": FeatureView("attributes", ids, x, np.ones(5, bool))})
    term = HubnessTerm(k=2)
    term.prepare(FitContext(feats, {"att": {"attributes": 3}}, ["b0", "b1", "b2"], ["hub", "spec"],
                            CooperationSet(np.array(["b0"]), np.array(["spec"]))))
    em = term.influencer_side(lookup_accounts(feats, ["hub", "spec"], ["attributes"]))["hub"][:, 0]
    # r(hub) = 1/sqrt3 (every brand), r(spec) = (1 + 0) / 2
    np.testing.assert_allclose(em.numpy(), [-0.5 / np.sqrt(3), -0.25], rtol=1e-6)


def test_post_hoc_the_training_path_never_sees_it(tmp_path):
    """With a fixed number of epochs and no epoch selection the network is the same with and without
    the term; the fitted score adds exactly the hub part; a saved model scores the same."""
    feats, co, info, brands, infs = toy_world()
    params = {**LITE, "select_metric": None}
    opts = TrainingOptions(progress=False)
    plain = create("morning", **params).fit(co, feats, None, info, opts)
    hub = create("morning", **{**params, "terms": ["cosine", "hubness"], "hubness.k": 2}).fit(co, feats, None, info, opts)
    assert hub.parts == ["c", "au", "att", "hub"] and hub.training_parts() == ["c", "au", "att"]
    hub.bind_training(brands, infs)
    scores, _ = hub.batch_scores(np.array([0, 1]), np.array([[0, 1], [2, 3]]))
    assert "hub" not in scores
    parts = hub.part_scores(brands, infs)
    np.testing.assert_allclose(hub.score(brands, infs) - parts["hub"], plain.score(brands, infs), atol=1e-6)
    # the hub part is one value per influencer: the same for every brand
    assert np.allclose(parts["hub"], parts["hub"][0:1])
    hub.save(tmp_path / "m")
    np.testing.assert_allclose(load_model(tmp_path / "m", feats).score(brands, infs), hub.score(brands, infs),
                               atol=1e-6)


def test_needs_training_brands():
    with pytest.raises(ModelUnavailable, match="needs training brands"):
        HubnessTerm().prepare(FitContext(_features(), {"att": {"attributes": 2}}, [], ["m0"], None))


@pytest.mark.parametrize("params, message", [
    ({"k": 0}, "'k' = 0 is not allowed"),
    ({"alpha": -1.0}, "'alpha' = -1.0 is not allowed"),
    ({"sqrt": ["bios"]}, "'sqrt'"),
])
def test_parameters_are_validated(params, message):
    with pytest.raises(ModelError, match=message):
        HubnessTerm(**params)


def test_reference_vectors_are_a_saved_buffer():
    term = _term(k=2)
    assert tuple(term.reference.shape) == (3, 4) and "reference" in dict(term.named_buffers())
    assert torch.count_nonzero(term.reference) > 0
