"""Each score term's equations on tiny tensors, its sides and its parameter checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from brandmatch.data.schema import CooperationSet
from brandmatch.errors import ModelError, ModelUnavailable
from brandmatch.features.store import FeatureSet, FeatureView
from brandmatch.models.terms import TERMS
from brandmatch.models.terms.base import Accounts, FitContext, lookup_accounts
from brandmatch.models.terms.category import CategoryTerm
from brandmatch.models.terms.cosine import CosineTerm
from brandmatch.models.terms.profile import ProfileTerm
from brandmatch.models.terms.tower import CoAttention, FusedView, TowerTerm

MLP = dict(slope=0.01, dropout=0.0, dropout_mode="dropout")


def _features() -> FeatureSet:
    """b0, b1 (brands), m0, m1, m2 (influencers); content_text 2-d, attributes 2-d (m2 has none)."""
    ids = np.array(["b0", "b1", "m0", "m1", "m2"])
    text = np.array([[1, 0], [0, 4], [1, 1], [0, 2], [3, 0]], dtype=np.float32)
    attr = np.array([[3, 4], [1, 0], [3, 4], [0, 1], [0, 0]], dtype=np.float32)
    return FeatureSet({"content_text": FeatureView("content_text", ids, text, np.ones(5, bool)),
                       "attributes": FeatureView("attributes", ids, attr, np.array([1, 1, 1, 1, 0], bool))})


LAYOUT = {"c": {"content_text": 2}, "att": {"attributes": 2}}


def _ctx(feats=None, train=None, cats=None) -> FitContext:
    feats = feats or _features()
    train = train or CooperationSet(np.array(["b0", "b0", "b1"]), np.array(["m0", "m2", "m1"]))
    return FitContext(feats, LAYOUT, ["b0", "b1"], ["m0", "m1", "m2"], train, {"b0": "food", "b1": "auto"} if cats is None else cats)


def _acc(ids, names=("content_text", "attributes")):
    return lookup_accounts(_features(), list(ids), list(names))


def _score(term, b, m):
    eb, em = term.brand_side(_acc(b, term.required_inputs)), term.influencer_side(_acc(m, term.required_inputs))
    return sum(eb[p] @ em[p].T for p in term.parts)


# ------------------------------------------------------------------ tower (eq. 7-24)


def test_fusion_is_hadamard_of_projections_eq9():
    fused = FusedView({"p": 10, "t": 5}, [8, 8], [6, 8], 6, **MLP)
    xp, xt = torch.randn(3, 10), torch.randn(3, 5)
    expect = fused.proj["p"](fused.towers["p"](xp)) * fused.proj["t"](fused.towers["t"](xt))
    assert torch.allclose(fused({"p": xp, "t": xt}), expect)
    only_t = FusedView({"t": 5}, [8, 8], [6, 8], 6, **MLP)
    assert torch.allclose(only_t({"t": xt}), only_t.proj["t"](only_t.towers["t"](xt)))


@pytest.mark.parametrize("mode", ["paper", "code"])
def test_coattention_eq20_24(mode):
    co = CoAttention(6, mode)
    e_c, e_u = torch.randn(4, 6), torch.randn(4, 6)
    w_c, w_u = co.weights(e_c, e_u)
    assert torch.allclose(w_c.sum(-1), torch.full((4,), 6.0)) and torch.allclose(w_u.sum(-1), torch.full((4,), 6.0))
    e_f = torch.sigmoid(co.f1(e_c)) * torch.sigmoid(co.f2(e_u))  # eq. 20
    a = e_c * e_f
    if mode == "code":
        a = torch.sigmoid(a)
    assert torch.allclose(w_c, torch.softmax(a, -1) * 6)  # eq. 21
    c2, u2 = co(e_c, e_u)
    assert torch.allclose(c2, e_c * w_c) and torch.allclose(u2, e_u * w_u)  # eq. 23-24


def test_tower_scale_multiplies_both_sides_and_scores_by_its_square():
    term = TowerTerm(views=["att"], attribute_layers=[3, 2], dropout=0.0, scale=1.0)
    term.prepare(_ctx())
    term.eval()
    base = _score(term, ["b0", "b1"], ["m0", "m1"])
    with torch.no_grad():
        term.scale.fill_(0.5)
    assert torch.allclose(_score(term, ["b0", "b1"], ["m0", "m1"]), 0.25 * base, atol=1e-6)
    assert not term.scale.requires_grad
    assert TowerTerm(scale_learned=True, views=["att"], attribute_layers=[2]).params["scale_learned"]


def test_tower_init_range_and_input_norm():
    term = TowerTerm(views=["c", "att"], text_layers=[3, 2], attribute_layers=[3, 2], d_a=2, init_range=0.05,
                     input_norm="standard")
    term.prepare(_ctx())
    for name, p in term.named_parameters():
        if name != "scale":
            assert p.abs().max() <= 0.05, name
    # standard: z-scores on the training accounts; an absent row stays zero
    x = _acc(["m2"], ["attributes"])
    assert torch.equal(term.norm(x, "attributes"), torch.zeros(1, 2))
    all_ids = ["b0", "b1", "m0", "m1", "m2"]
    z = term.norm(_acc(all_ids, ["content_text"]), "content_text")
    np.testing.assert_allclose(z.mean(0).numpy(), 0.0, atol=1e-6)


# ------------------------------------------------------------------ cosine


def test_fixed_cosine_hand_computed():
    term = CosineTerm(weights="fixed")
    term.prepare(_ctx())
    s = _score(term, ["b0"], ["m0", "m1", "m2"]).numpy()
    # text: cos([1,0],[1,1]) = 1/sqrt2, cos([1,0],[0,2]) = 0, cos([1,0],[3,0]) = 1;
    # attributes: cos([3,4],[3,4]) = 1, cos([3,4],[0,1]) = 0.8, m2 absent -> 0
    np.testing.assert_allclose(s, [[1 / math.sqrt(2) + 1, 0.8, 1.0]], rtol=1e-6)
    assert not any(p.requires_grad for p in term.parameters())


def test_learned_and_diagonal_weights():
    term = CosineTerm(weights="learned")
    term.prepare(_ctx())
    with torch.no_grad():
        term.log_w["attributes"].fill_(math.log(3.0))
    s = _score(term, ["b0"], ["m0"]).item()
    assert s == pytest.approx(1 / math.sqrt(2) + 3.0, rel=1e-6)
    diag = CosineTerm(weights="diagonal", fixed_views=["att"])
    diag.prepare(_ctx())
    assert diag.log_w["content_text"].shape == (2,) and diag.log_w["content_text"].requires_grad
    assert diag.log_w["attributes"].shape == () and not diag.log_w["attributes"].requires_grad
    with torch.no_grad():
        diag.log_w["content_text"].copy_(torch.log(torch.tensor([4.0, 1.0])))
    # b0 = [1,0], m0 = unit([1,1]) -> 4 * 1 * (1/sqrt2) on text + 1 on attributes
    assert _score(diag, ["b0"], ["m0"]).item() == pytest.approx(4 / math.sqrt(2) + 1, rel=1e-6)


def test_linear_weights_start_at_identity():
    term = CosineTerm(weights="linear")
    term.prepare(_ctx())
    fixed = CosineTerm(weights="fixed")
    fixed.prepare(_ctx())
    assert torch.allclose(_score(term, ["b0", "b1"], ["m0", "m1"]), _score(fixed, ["b0", "b1"], ["m0", "m1"]))
    assert term.linear["content_text"].requires_grad and not term.log_w["content_text"].requires_grad


def test_sqrt_and_center_hand_computed():
    term = CosineTerm(weights="fixed", views=["c"], sqrt=["content_text"], center=["content_text"])
    term.prepare(_ctx())
    x = np.sqrt(np.array([[1, 0], [0, 4], [1, 1], [0, 2], [3, 0]], dtype=np.float64))
    center = x.mean(0)  # training brands + influencers = all five accounts
    u = (x - center) / np.linalg.norm(x - center, axis=1, keepdims=True)
    np.testing.assert_allclose(_score(term, ["b0", "b1"], ["m0", "m1", "m2"]).numpy(), u[:2] @ u[2:].T,
                               rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ category


def test_category_sides_and_aux_loss_hand_computed():
    term = CategoryTerm(views=["att"], weight=0.5, aux=2.0)
    term.prepare(_ctx())
    assert term.categories_ == ["auto", "food"] and term.parts == ["cat"]
    eb = term.brand_side(_acc(["b0", "b1", "zz"]))["cat"]
    assert torch.equal(eb, torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]]))  # unknown brand: no prior
    m = _acc(["m0", "m1"])
    em = term.influencer_side(m)["cat"]
    logp = term.log_p(m)
    assert torch.allclose(em, 0.5 * logp, atol=1e-6)
    assert torch.allclose(torch.exp(logp).sum(-1), torch.ones(2))
    # aux: -aux * mean log p(category(b) | m+): b0 (food) with m0, b1 (auto) with m1
    expect = -2.0 * (logp[0, 1] + logp[1, 0]) / 2
    assert torch.allclose(term.aux_loss(_acc(["b0", "b1"]), m), expect)
    with pytest.raises(ModelUnavailable, match="no categories"):
        CategoryTerm().prepare(_ctx(cats={}))


# ------------------------------------------------------------------ profile


def test_profile_hand_computed_with_leave_one_out():
    # brands b0 = [1,0] text, b1 = [0,4]; b0's partners m0, m2; b1's partner m1 (training pairs)
    term = ProfileTerm(views=["c"], tau=1.0, weight=1.0)
    ctx = _ctx()
    ctx = FitContext(ctx.features, {"c": {"content_text": 2}}, ctx.brands, ctx.influencers, ctx.train,
                     ctx.brand_category)
    term.prepare(ctx)
    assert term.sim_dims_ == {"content_text": 2, "attributes": 2}
    u = lambda v: np.asarray(v, float) / np.linalg.norm(v)  # noqa: E731
    partners_b0 = (u([1, 1]) + u([3, 0])) / 2
    np.testing.assert_allclose(term.partner_content_text[0].numpy(), partners_b0, rtol=1e-6)
    # b0 is a training brand: its own row is left out, so its profile is b1's partners' mean (m1)
    prof = term.profiles(_acc(["b0"]))["content_text"].numpy()
    np.testing.assert_allclose(prof[0], u([0, 2]), rtol=1e-6)
    # a new brand "zz" with b0's features: softmax over both training brands
    feats = _features()
    ids = np.array(["zz"])
    new = Accounts(["zz"], {"content_text": torch.tensor([[1.0, 0.0]]), "attributes": torch.tensor([[3.0, 4.0]])},
                   {"content_text": torch.tensor([True]), "attributes": torch.tensor([True])})
    s0 = 1.0 + 1.0  # cos with b0: text 1, attributes 1
    s1 = 0.0 + 0.6  # cos with b1: text 0, attributes cos([3,4],[1,0]) = 0.6
    w0, w1 = np.exp(s0) / (np.exp(s0) + np.exp(s1)), np.exp(s1) / (np.exp(s0) + np.exp(s1))
    np.testing.assert_allclose(term.profiles(new)["content_text"].numpy()[0], u(w0 * partners_b0 + w1 * u([0, 2])),
                               rtol=1e-5)
    del feats, ids


# ------------------------------------------------------------------ parameters


@pytest.mark.parametrize("kind, params, message", [
    ("tower", {"d_a": 0}, "parameter 'd_a' = 0 is not allowed (allowed: an integer >= 1)"),
    ("tower", {"dropout": 1.5}, "parameter 'dropout' = 1.5 is not allowed"),
    ("tower", {"coattention": "sigmoid"}, "allowed: one of paper, code"),
    ("tower", {"views": ["c", "x"]}, "parameter 'views' = ['c', 'x'] is not allowed"),
    ("tower", {"scale": 0.0}, "parameter 'scale' = 0.0 is not allowed (allowed: a finite number > 0)"),
    ("tower", {"visual_layers": [0]}, "parameter 'visual_layers' = [0] is not allowed"),
    ("cosine", {"weights": "diag"}, "allowed: one of fixed, learned, diagonal, linear"),
    ("cosine", {"sqrt": ["topics"]}, "parameter 'sqrt' = ['topics'] is not allowed"),
    ("category", {"weight": float("inf")}, "parameter 'weight' = inf is not allowed"),
    ("category", {"layers": [4.5]}, "parameter 'layers' = [4.5] is not allowed"),
    ("profile", {"tau": -1}, "parameter 'tau' = -1 is not allowed"),
    ("profile", {"temperature": 1}, "unknown parameter 'temperature'"),
])
def test_term_parameters_are_validated(kind, params, message):
    with pytest.raises(ModelError) as err:
        TERMS[kind](**params)
    assert message in str(err.value)


def test_every_term_documents_its_parameters():
    for term in TERMS.values():
        assert term.kind and term.summary
        for p in term.PARAMS:
            assert p.source, (term.kind, p.name)
            p.check(p.default, term.kind)  # every default is valid
