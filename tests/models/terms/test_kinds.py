"""The ``kinds`` term: F = p_b^T C p_m by hand, the embed contract, parameter checks, a planted world."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from brandmatch.data.schema import CooperationSet
from brandmatch.errors import ModelError
from brandmatch.evaluation.metrics import grid_metrics
from brandmatch.features.store import FeatureSet, FeatureView
from brandmatch.models import create
from brandmatch.models.base import AccountInfo
from brandmatch.models.terms import TERMS
from brandmatch.models.terms.base import FitContext, lookup_accounts
from brandmatch.models.terms.kinds import KindsTerm
from brandmatch.training.trainer import TrainingOptions

from tests.models.toy_world import toy_world


def _features() -> FeatureSet:
    """b0, b1 (brands), m0, m1, m2 (influencers); attributes 2-d, m2 has none."""
    ids = np.array(["b0", "b1", "m0", "m1", "m2"])
    attr = np.array([[1, 0], [0, 2], [0, 1], [1, 1], [5, 5]], dtype=np.float32)
    return FeatureSet({"attributes": FeatureView("attributes", ids, attr, np.array([1, 1, 1, 1, 0], bool))})


def _term(**params) -> KindsTerm:
    """K = 2, raw inputs, no dropout, softmax; W = [[1, 0], [0, 1]], bias 0; C = [[2, -1], [0, 3]]."""
    term = KindsTerm(**{"k": 2, "input_norm": "none", "input_dropout": 0.0, "assign": "softmax", **params})
    term.prepare(FitContext(_features(), {"att": {"attributes": 2}}, ["b0", "b1"], ["m0", "m1", "m2"],
                            CooperationSet(np.array(["b0"]), np.array(["m0"]))))
    with torch.no_grad():
        for enc in term.encoders.values():
            enc.weight.copy_(torch.eye(2))
            enc.bias.zero_()
        term.compat.copy_(torch.tensor([[2.0, -1.0], [0.0, 3.0]]))
    return term.eval()


def _score(term, b, m):
    names = term.required_inputs
    eb = term.brand_side(lookup_accounts(_features(), b, names))
    em = term.influencer_side(lookup_accounts(_features(), m, names))
    return sum(eb[p] @ em[p].T for p in term.parts)


def _softmax(v):
    e = [math.exp(x) for x in v]
    return [x / sum(e) for x in e]


def test_registered_with_one_part():
    assert TERMS["kinds"] is KindsTerm
    assert _term().parts == ["kind"]


def test_softmax_kinds_score_by_hand():
    C = [[2.0, -1.0], [0.0, 3.0]]
    pb = {"b0": _softmax([1, 0]), "b1": _softmax([0, 2])}
    pm = {"m0": _softmax([0, 1]), "m1": _softmax([1, 1])}
    s = _score(_term(), ["b0", "b1"], ["m0", "m1", "m2"])
    for i, b in enumerate(["b0", "b1"]):
        for j, m in enumerate(["m0", "m1"]):
            expect = sum(pb[b][r] * C[r][c] * pm[m][c] for r in range(2) for c in range(2))
            assert s[i, j].item() == pytest.approx(expect, rel=1e-6)
        assert s[i, 2].item() == 0.0  # m2 has no attributes: no kind, no term


def test_linear_assignment_is_a_bilinear_form_tau_and_scale():
    s = _score(_term(assign="linear", tau=0.5, scale=2.0), ["b0", "b1"], ["m0", "m1"])
    C = np.array([[2.0, -1.0], [0.0, 3.0]])
    xb, xm = np.array([[1, 0], [0, 2]]), np.array([[0, 1], [1, 1]])
    np.testing.assert_allclose(s.detach().numpy(), 2.0 * (xb / 0.5) @ C @ (xm / 0.5).T, rtol=1e-6)


def test_separate_encoders_and_l2_penalty():
    term = _term(shared=False, l2=0.5)
    assert set(term.encoders) == {"brand", "influencer"}
    penalty = term.aux_loss(None, None)
    # 0.5 * (||C||^2 = 4 + 1 + 9, ||W_brand||^2 = 2, ||W_influencer||^2 = 2)
    assert penalty.item() == pytest.approx(0.5 * (14 + 2 + 2))
    assert _term(l2=0.0).aux_loss(None, None) is None


@pytest.mark.parametrize("params, message", [
    ({"kinds.k": 0}, "parameter 'kinds.k' = 0 is not allowed (allowed: an integer >= 1)"),
    ({"kinds.assign": "hard"}, "parameter 'kinds.assign' = 'hard' is not allowed (allowed: one of softmax, linear)"),
    ({"kinds.tau": 0.0}, "parameter 'kinds.tau' = 0.0 is not allowed (allowed: a finite number > 0)"),
    ({"kinds.input_dropout": 1.0}, "parameter 'kinds.input_dropout' = 1.0 is not allowed"),
    ({"kinds.l2": -1e-3}, "parameter 'kinds.l2' = -0.001 is not allowed (allowed: a finite number >= 0)"),
    ({"kinds.views": ["att", "bio"]}, "parameter 'kinds.views' = ['att', 'bio'] is not allowed"),
    ({"kinds.shared": "yes"}, "parameter 'kinds.shared' = 'yes' is not allowed (allowed: true or false)"),
    ({"kinds.scale": 0.0}, "parameter 'kinds.scale' = 0.0 is not allowed (allowed: a finite number > 0)"),
    ({"kinds.init": "random"}, "parameter 'kinds.init' = 'random' is not allowed"),
])
def test_parameter_errors_are_one_line(params, message):
    with pytest.raises(ModelError) as err:
        create("morning", recipe=None, terms=["kinds"], **params)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("assign", ["softmax", "linear"])
def test_embed_contract_in_a_composition(assign):
    feats, co, info, brands, infs = toy_world()
    model = create("morning", recipe=None, terms=["cosine", "kinds"], l1=0.0, epochs=1, batch_size=4,
                   patience=None, **{"kinds.assign": assign, "kinds.k": 3})
    model.fit(co, feats, None, info, TrainingOptions(progress=False))
    assert "kind" in model.parts
    s = model.score(brands, infs)
    np.testing.assert_allclose(s, model.embed(brands, "brand") @ model.embed(infs, "influencer").T, rtol=1e-6)
    parts = model.part_scores(brands, infs)
    np.testing.assert_allclose(sum(parts.values()), s, rtol=1e-5, atol=1e-5)
    assert np.abs(parts["kind"]).max() > 0


def _planted_world(seed: int = 0):
    """4 kinds; a brand of kind k works with the influencers of kind (k + 1) % 4, never its own.

    Brands and influencers of a kind share a feature centre (attributes, content_text), so cosine
    similarity points at the wrong kind; only a learned compatibility finds the partners. b0-b11
    train, h0-h7 are held-out brands (never in a cooperation).
    """
    rng = np.random.default_rng(seed)
    train_b, held_b = [f"b{i}" for i in range(12)], [f"h{i}" for i in range(8)]
    infs = [f"m{i}" for i in range(40)]
    ids = train_b + held_b + infs
    kind = np.array([i % 4 for i in range(12)] + [i % 4 for i in range(8)] + [j % 4 for j in range(40)])
    views = {}
    for name, d in (("attributes", 6), ("content_text", 5)):
        centres = rng.normal(size=(4, d)) * 2
        x = (centres[kind] + 0.5 * rng.normal(size=(len(ids), d))).astype(np.float32)
        views[name] = FeatureView(name, np.array(ids), x, np.ones(len(ids), bool))
    pairs = [(b, m) for i, b in enumerate(train_b) for j, m in enumerate(infs)
             if j % 4 == (i % 4 + 1) % 4 and rng.random() < 0.8]
    co = CooperationSet(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
    info = AccountInfo({b: "all" for b in train_b}, {m: frozenset({"all"}) for m in infs}, tuple(infs))
    labels = np.array([[float(j % 4 == (i % 4 + 1) % 4) for j in range(40)] for i in range(8)])
    return FeatureSet(views), co, info, held_b, infs, labels


@pytest.mark.parametrize("assign", ["softmax", "linear"])
def test_learns_a_planted_kind_compatibility_for_unseen_brands(assign):
    feats, co, info, held, infs, labels = _planted_world()
    model = create("morning", recipe=None, terms=["kinds"], l1=0.0, lr=0.02, epochs=15, batch_size=8,
                   patience=None, seed=0, **{"kinds.assign": assign, "kinds.k": 4, "kinds.l2": 0.0})
    model.fit(co, feats, None, info, TrainingOptions(progress=False, threads=1))
    auc = grid_metrics(model.score(held, infs), labels)["AUC"]
    cosine = create("cosine").fit(co, feats, None, info)
    auc_cosine = grid_metrics(cosine.score(held, infs), labels)["AUC"]
    assert auc > 0.9 and auc_cosine < 0.6, (auc, auc_cosine)
