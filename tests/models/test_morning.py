"""MORNING: each equation on tiny tensors, decomposition, views, save/load, selection, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brandmatch.data.schema import CandidateGrid, CooperationSet
from brandmatch.errors import ModelUnavailable
from brandmatch.features.store import FeatureSet, FeatureView
from brandmatch.models import create, load_model
from brandmatch.models.base import AccountInfo
from brandmatch.models.morning import MLP, CoAttention, FusedView, MorningRanker, parse_views

TINY = dict(visual_layers=[8, 8], text_layers=[6, 8], attribute_layers=[8, 6], d_a=6, batch_size=4,
            epochs=3, patience=None)


def toy_world(n_brands: int = 6, n_infs: int = 24, seed: int = 0, drop: tuple[str, ...] = (),
              brand_only: tuple[str, ...] = ()):
    """Brands and influencers in 3 clusters; each brand partners every influencer of its cluster."""
    rng = np.random.default_rng(seed)
    brands = [f"b{i}" for i in range(n_brands)]
    infs = [f"m{i}" for i in range(n_infs)]
    ids = np.array(brands + infs)
    cluster = np.array([i % 3 for i in range(n_brands)] + [j % 3 for j in range(n_infs)])
    dims = {"content_visual": 10, "content_text": 5, "audience_visual": 9, "audience_text": 4, "attributes": 7}
    views = {}
    for name, d in dims.items():
        if name in drop:
            continue
        centers = rng.normal(size=(3, d))
        x = (centers[cluster] + 0.3 * rng.normal(size=(len(ids), d))).astype(np.float32)
        mask = np.ones(len(ids), dtype=bool)
        if name in brand_only:
            mask[n_brands:] = False
            x[n_brands:] = 0
        views[name] = FeatureView(name, ids, x, mask)
    pairs = []
    for i, b in enumerate(brands):
        pairs.extend((b, m) for j, m in enumerate(infs) if j % 3 == i % 3)
    co = CooperationSet(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
    cats = {b: ("food" if i % 2 == 0 else "auto") for i, b in enumerate(brands)}
    inf_cats: dict[str, set] = {}
    for b, m in pairs:
        inf_cats.setdefault(m, set()).add(cats[b])
    info = AccountInfo(cats, {m: frozenset(c) for m, c in inf_cats.items()}, tuple(infs))
    return FeatureSet(views), co, info, brands, infs


def test_parse_views():
    assert parse_views("c,au,att") == ["c", "au", "att"]
    assert parse_views("att,c") == ["c", "att"]
    assert parse_views("full") == ["c", "au", "att"]


def test_mlp_and_fusion_shapes():
    mlp = MLP(10, [8, 8, 8, 4], slope=0.01, dropout=0.5, dropout_mode="dropout", final_activation=True)
    assert len(mlp.layers) == 4
    assert mlp(torch.randn(3, 10)).shape == (3, 4)
    fused = FusedView({"p": 10, "t": 5}, [8, 8], [6, 8], 6, slope=0.01, dropout=0.0, dropout_mode="dropout")
    fused.eval()
    xp, xt = torch.randn(3, 10), torch.randn(3, 5)
    e = fused({"p": xp, "t": xt})
    assert e.shape == (3, 6)
    # eq. 9: (e^p W^p + b^p) o (e^t W^t + b^t)
    expect = fused.proj["p"](fused.towers["p"](xp)) * fused.proj["t"](fused.towers["t"](xt))
    assert torch.allclose(e, expect)
    # one modality: its projection alone
    only_t = FusedView({"t": 5}, [8, 8], [6, 8], 6, slope=0.01, dropout=0.0, dropout_mode="dropout")
    assert torch.allclose(only_t({"t": xt}), only_t.proj["t"](only_t.towers["t"](xt)))


@pytest.mark.parametrize("mode", ["paper", "code"])
def test_coattention_weights_sum_to_d_a(mode):
    co = CoAttention(6, mode)
    e_c, e_u = torch.randn(4, 6), torch.randn(4, 6)
    w_c, w_u = co.weights(e_c, e_u)
    assert torch.allclose(w_c.sum(-1), torch.full((4,), 6.0))
    assert torch.allclose(w_u.sum(-1), torch.full((4,), 6.0))
    c2, u2 = co(e_c, e_u)
    assert torch.allclose(c2, e_c * w_c) and torch.allclose(u2, e_u * w_u)
    # eq. 20-21 by hand
    e_f = torch.sigmoid(co.f1(e_c)) * torch.sigmoid(co.f2(e_u))
    a = e_c * e_f
    if mode == "code":
        a = torch.sigmoid(a)
    assert torch.allclose(w_c, torch.softmax(a, -1) * 6)


def _fit(params=None, world=None, valid=None, **kw):
    feats, co, info, brands, infs = world or toy_world()
    model = create("morning", **{**TINY, **(params or {})})
    model.training_options.progress = False
    for k, v in kw.items():
        setattr(model.training_options, k, v)
    model.fit(co, feats, valid, info)
    return model, feats, brands, infs


def test_score_equals_embedding_inner_product():
    model, feats, brands, infs = _fit()
    s = model.score(brands, infs)
    e = model.embed(brands, "brand") @ model.embed(infs, "influencer").T
    assert s.shape == (len(brands), len(infs))
    np.testing.assert_allclose(s, e, rtol=1e-6)
    vs = model.view_scores(brands, infs)
    assert set(vs) == {"c", "au", "att"}
    np.testing.assert_allclose(sum(vs.values()), s, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("extra", [
    {},
    {"cosine_weights": "diagonal", "frozen_views": "c,au,att"},
    {"cosine_weights": "linear", "fixed_cosine_views": "att"},
    {"cosine_weights": "diagonal", "frozen_views": "att", "fixed_cosine_views": "att", "tower_scale": 0.1},
])
def test_cosine_residual_decomposes(extra):
    model, feats, brands, infs = _fit({"cosine_residual": True, "init_range": 0.0, "epochs": 1, **extra})
    s = model.score(brands, infs)
    np.testing.assert_allclose(s, model.embed(brands, "brand") @ model.embed(infs, "influencer").T, rtol=1e-6)


def test_frozen_weighted_cosine_starts_at_cosine():
    from brandmatch.models.cosine import CosineRanker

    feats, co, info, brands, infs = toy_world()
    model = create("morning", **{**TINY, "cosine_residual": True, "frozen_views": "c,au,att",
                                 "cosine_weights": "diagonal", "epochs": 0})
    model.fit(co, feats, None, info)
    cos = CosineRanker().fit(co, feats).score(brands, infs)
    np.testing.assert_allclose(model.score(brands, infs), cos, rtol=1e-5, atol=1e-5)


def test_loss_decreases_on_toy_problem():
    model, *_ = _fit({"epochs": 6, "dropout": 0.0, "l1": 0.0, "init_range": 0.0, "lr": 0.01})
    losses = [h["loss"] for h in model.history_]
    assert losses[-1] < 0.5 * losses[0]


def test_views_auto_drop_and_single_modality():
    world = toy_world(drop=("audience_visual", "audience_text"), brand_only=("content_visual",))
    model, feats, brands, infs = _fit(world=world)
    assert list(model.layout_) == ["c", "att"]
    assert list(model.layout_["c"]) == ["content_text"]  # visual present for brands only
    assert "au" in model.dropped_ and "c" in model.dropped_
    assert model.net_.coatt is None
    assert model.score(brands, infs).shape == (len(brands), len(infs))
    only = _fit({"views": "att"}, world=world)[0]
    assert list(only.layout_) == ["att"]
    none = toy_world(drop=("audience_visual", "audience_text", "content_visual", "content_text", "attributes"))
    with pytest.raises(ModelUnavailable):
        _fit(world=none)
    with pytest.raises(ModelUnavailable):
        _fit({"views": "au"}, world=world)


def test_save_load_round_trip(tmp_path):
    model, feats, brands, infs = _fit({"cosine_residual": True, "input_norm": "standard"})
    model.save(tmp_path / "m")
    again = load_model(tmp_path / "m", feats)
    assert isinstance(again, MorningRanker)
    np.testing.assert_allclose(again.score(brands, infs), model.score(brands, infs), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(again.embed(infs), model.embed(infs))
    assert again.layout_ == model.layout_


def test_selection_uses_validation_grid_only():
    feats, co, info, brands, infs = toy_world()
    grid = CandidateGrid("validation", np.array(brands[:2], dtype=object), np.array(infs[:5], dtype=object),
                         np.array([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0]], dtype=np.int8))
    model = create("morning", **{**TINY, "epochs": 4})
    model.training_options.progress = False
    seen = []
    original = MorningRanker.score

    def spy(self, b, m):
        seen.append((tuple(b), tuple(m)))
        return original(self, b, m)

    MorningRanker.score = spy
    try:
        model.fit(co, feats, grid, info)
    finally:
        MorningRanker.score = original
    assert seen and all(s == (tuple(brands[:2]), tuple(infs[:5])) for s in seen)
    assert len(seen) == 4  # once per epoch
    assert all("valid" in h and "MAP" in h["valid"] for h in model.history_)
    best = max(range(4), key=lambda i: model.history_[i]["valid"]["MAP"])
    assert model.best_epoch_ == best + 1


def test_resume_after_kill_gives_same_weights(tmp_path):
    world = toy_world()

    class Kill(Exception):
        pass

    def stop_after(k):
        def cb(record):
            if record["epoch"] == k:
                raise Kill()
        return cb

    full, *_ = _fit({"epochs": 4, "select_metric": ""}, world=world, checkpoint_dir=tmp_path / "a")
    with pytest.raises(Kill):
        _fit({"epochs": 4, "select_metric": ""}, world=world, checkpoint_dir=tmp_path / "b", callbacks=[stop_after(2)])
    resumed, *_ = _fit({"epochs": 4, "select_metric": ""}, world=world, checkpoint_dir=tmp_path / "b", resume=True)
    a, b = full.state_dict(), resumed.state_dict()
    assert set(a) == set(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert [h["loss"] for h in full.history_] == [h["loss"] for h in resumed.history_]


def test_code_variant_and_options_run():
    model, feats, brands, infs = _fit({"variant": "code", "negatives": "category"})
    assert model.setting("global_loss") == "pair_softmax"
    assert np.isfinite(model.score(brands, infs)).all()


def test_seed_determinism():
    a = _fit({"epochs": 2})[0].state_dict()
    b = _fit({"epochs": 2})[0].state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
