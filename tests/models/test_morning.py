"""MORNING as a composition: recipes, decomposition, views, save/load, selection, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brandmatch.data.schema import CandidateGrid
from brandmatch.errors import ModelError, ModelUnavailable
from brandmatch.models import create, load_model
from brandmatch.models.morning import MorningRanker
from brandmatch.models.recipes import load_recipe, recipe_names

from tests.models.toy_world import LITE, TINY, fit, toy_world

RECIPES = ["paper", "code", "plus", "plus-attribute-tower", "plus-kinds"]


def test_shipped_recipes_build_and_default_is_plus():
    assert sorted(recipe_names("morning")) == sorted(RECIPES)
    assert create("morning").recipe == "plus"
    paper = create("morning", recipe="paper").config
    assert paper["terms"] == ["tower"] and paper["margins"] == [4.0, 2.0, 2.0] and paper["l1"] == 0.001
    assert paper["tower.d_a"] == 512 and paper["lr"] == 0.002 and paper["batch_size"] == 16
    code = create("morning", recipe="code").config
    assert code["global_loss"] == "pair_softmax" and code["tower.dropout_mode"] == "dropconnect"
    plus = create("morning", recipe="plus").config
    assert plus["terms"] == ["cosine", "category", "profile", "hubness"] and plus["cosine.sqrt"] == ["content_text"]
    assert plus["hubness.sqrt"] == ["content_text"] and plus["hubness.k"] == 10 and plus["hubness.alpha"] == 0.5


def test_override_wins_over_recipe_and_is_recorded():
    m = create("morning", recipe="code", **{"tower.coattention": "paper", "lr": 0.01})
    assert m.config["tower.coattention"] == "paper" and m.config["lr"] == 0.01
    assert m.get_params()["recipe"] == "code"
    # replacing the terms drops the recipe's values for the terms left out
    only = create("morning", recipe="plus", terms=["cosine"])
    assert not any(k.startswith(("category.", "profile.")) for k in only.config)


@pytest.mark.parametrize("params, message", [
    ({"negatives": "categry"}, "parameter 'negatives' = 'categry' is not allowed (allowed: one of uniform, category)"),
    ({"terms": ["tower"], "tower.input_norm": "standardized"},
     "parameter 'tower.input_norm' = 'standardized' is not allowed (allowed: one of none, l2, standard)"),
    ({"cosine.weights": "diag"}, "parameter 'cosine.weights' = 'diag' is not allowed"),
    ({"cosine_weights": "diag"}, "unknown parameter 'cosine_weights'; did you mean 'cosine.weights'?"),
    ({"epochs": 0}, "parameter 'epochs' = 0 is not allowed (allowed: an integer >= 1)"),
    ({"epochs": -3}, "parameter 'epochs' = -3 is not allowed"),
    ({"lr": float("nan")}, "parameter 'lr' = nan is not allowed (allowed: a finite number > 0)"),
    ({"lr": "0.1"}, "parameter 'lr' = '0.1' is not allowed"),
    ({"batch_size": True}, "parameter 'batch_size' = true is not allowed"),
    ({"margins": [1.0, 2.0]}, "parameter 'margins' = [1.0, 2.0] is not allowed (allowed: a list of finite "
                              "numbers >= 0, exactly 3 values)"),
    ({"views": "c,xx"}, "parameter 'views' = 'c,xx' is not allowed"),
    ({"terms": []}, "parameter 'terms' is empty"),
    ({"category.aux": -1.0}, "parameter 'category.aux' = -1.0 is not allowed (allowed: a finite number >= 0)"),
    ({"recipe": "paper", "profile.tau": 0.1}, "parameter 'profile.tau' belongs to term 'profile', which this model "
                                              "does not use"),
    ({"recipe": "nope"}, "unknown recipe 'nope' (known: code, paper, plus, plus-attribute-tower"),
    ({"select_metric": "map"}, "parameter 'select_metric' = 'map' is not allowed"),
])
def test_bad_parameters_name_the_parameter(params, message):
    with pytest.raises(ModelError) as err:
        create("morning", **params)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_recipe_file_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[params]\nlr = \n")
    with pytest.raises(ModelError, match="bad.toml: invalid TOML"):
        load_recipe("morning", str(bad))
    odd = tmp_path / "odd.toml"
    odd.write_text("flags = 1\n")
    with pytest.raises(ModelError, match="unknown top-level key 'flags'"):
        load_recipe("morning", str(odd))
    mine = tmp_path / "mine.toml"
    mine.write_text('description = "mine"\n[params]\nepochs = 2\n[terms.cosine]\nweights = "fixed"\n')
    m = create("morning", recipe=str(mine))
    assert m.config["terms"] == ["cosine"] and m.config["epochs"] == 2 and m.config["cosine.weights"] == "fixed"


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_recipe_decomposes_and_training_scores_are_score_entries(recipe):
    """score == embed(b) @ embed(m).T, part scores sum to it, and the training path's scores (what the
    losses see) are entries of the same matrix: a different code path, compared in eval mode."""
    params = {"recipe": recipe, "epochs": 1, "batch_size": 4, "patience": None}
    if recipe in ("paper", "code"):
        params.update({k: v for k, v in TINY.items() if k.startswith("tower.")})
    if recipe == "plus-attribute-tower":
        params.update({"tower.attribute_layers": [8, 6]})
    feats, co, info, brands, infs = toy_world()
    model = create("morning", **params).fit(co, feats, None, info)
    s = model.score(brands, infs)
    np.testing.assert_allclose(s, model.embed(brands, "brand") @ model.embed(infs, "influencer").T, rtol=1e-6)
    parts = model.part_scores(brands, infs)
    np.testing.assert_allclose(sum(parts.values()), s, rtol=1e-5, atol=1e-5)
    model.bind_training(brands, infs)
    model.network_.eval()
    rows = np.array([0, 3, 5, 3])
    cands = np.array([[0, 7], [2, 2], [23, 1], [9, 4]])
    with torch.no_grad():
        by_part, _ = model.batch_scores(rows, cands)
    got = sum(by_part.values()).numpy()
    trained = s - sum(v for p, v in parts.items() if p not in model.training_parts())  # less post-hoc parts
    np.testing.assert_allclose(trained, model.score(brands, infs, post_hoc=False), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, trained[rows[:, None], cands], rtol=1e-5, atol=1e-5)
    assert set(by_part) == set(model.training_parts())
    for p, v in by_part.items():
        np.testing.assert_allclose(v.numpy(), parts[p][rows[:, None], cands], rtol=1e-5, atol=1e-5)


def test_paper_parts_are_the_three_views():
    model, feats, brands, infs = fit()
    assert model.parts == ["c", "au", "att"]
    assert model.network_["tower"].coatt is not None


def test_weighted_cosine_before_training_is_cosine():
    feats, co, info, brands, infs = toy_world()
    model = create("morning", **{**LITE, "cosine.weights": "diagonal"})
    model.prepare(co, feats, info, brands, infs)
    cos = create("cosine").fit(co, feats).score(brands, infs)
    np.testing.assert_allclose(model.score(brands, infs), cos, rtol=1e-5, atol=1e-5)


def test_loss_decreases_on_toy_problem():
    model, *_ = fit({"epochs": 6, "tower.dropout": 0.0, "l1": 0.0, "tower.init_range": 0.0, "lr": 0.01})
    losses = [h["loss"] for h in model.history_]
    assert losses[-1] < 0.5 * losses[0]


def test_views_auto_drop_and_single_modality():
    world = toy_world(drop=("audience_visual", "audience_text"), brand_only=("content_visual",))
    model, feats, brands, infs = fit(world=world)
    assert list(model.layout_) == ["c", "att"]
    assert list(model.layout_["c"]) == ["content_text"]  # visual present for brands only
    assert "au" in model.dropped_ and "c" in model.dropped_
    assert model.network_["tower"].coatt is None
    assert model.score(brands, infs).shape == (len(brands), len(infs))
    only = fit({"views": ["att"]}, world=world)[0]
    assert list(only.layout_) == ["att"]
    none = toy_world(drop=("audience_visual", "audience_text", "content_visual", "content_text", "attributes"))
    with pytest.raises(ModelUnavailable):
        fit(world=none)
    with pytest.raises(ModelUnavailable):
        fit({"views": ["au"]}, world=world)


@pytest.mark.parametrize("recipe", ["paper", "plus", "plus-kinds"])
def test_save_load_round_trip(tmp_path, recipe):
    params = {"recipe": recipe, "epochs": 2}
    model, feats, brands, infs = fit(params)
    model.save(tmp_path / "m")
    again = load_model(tmp_path / "m", feats)
    assert isinstance(again, MorningRanker) and again.recipe == recipe and again.config == model.config
    np.testing.assert_allclose(again.score(brands, infs), model.score(brands, infs), rtol=1e-12, atol=1e-12)
    assert again.layout_ == model.layout_ and again.parts == model.parts


def test_selection_uses_validation_grid_only():
    feats, co, info, brands, infs = toy_world()
    grid = CandidateGrid("validation", np.array(brands[:2], dtype=object), np.array(infs[:5], dtype=object),
                         np.array([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0]], dtype=np.int8))
    seen = []
    original = MorningRanker.score

    def spy(self, b, m, post_hoc=True):
        seen.append((tuple(b), tuple(m)))
        return original(self, b, m, post_hoc)

    MorningRanker.score = spy
    try:
        model, *_ = fit({"epochs": 4}, world=(feats, co, info, brands, infs), valid=grid)
    finally:
        MorningRanker.score = original
    assert seen and all(s == (tuple(brands[:2]), tuple(infs[:5])) for s in seen)
    assert len(seen) == 4  # once per epoch
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

    p = {"epochs": 4, "select_metric": None}
    full, *_ = fit(p, world=world, checkpoint_dir=tmp_path / "a")
    with pytest.raises(Kill):
        fit(p, world=world, checkpoint_dir=tmp_path / "b", callbacks=[stop_after(2)])
    resumed, *_ = fit(p, world=world, checkpoint_dir=tmp_path / "b", resume=True)
    a, b = full.state_dict(), resumed.state_dict()
    assert set(a) == set(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert [h["loss"] for h in full.history_] == [h["loss"] for h in resumed.history_]


def test_resume_refuses_other_settings_naming_them(tmp_path):
    world = toy_world()
    fit({"epochs": 2}, world=world, checkpoint_dir=tmp_path / "c")
    with pytest.raises(ModelError, match=r"cannot resume.*params\.lr \(0\.002 vs 0\.01\).*params\.seed \(0 vs 3\)"):
        fit({"epochs": 2, "lr": 0.01, "seed": 3}, world=world, checkpoint_dir=tmp_path / "c", resume=True)
    other = toy_world(seed=5)
    with pytest.raises(ModelError, match=r"cannot resume.*data\.features\.attributes"):
        fit({"epochs": 2}, world=other, checkpoint_dir=tmp_path / "c", resume=True)


def test_code_recipe_and_hard_negatives_run():
    model, feats, brands, infs = fit({"recipe": "code", "negatives": "category"})
    assert np.isfinite(model.score(brands, infs)).all()


def test_seed_determinism_and_seed_matters():
    a = fit({"epochs": 2})[0].state_dict()
    b = fit({"epochs": 2})[0].state_dict()
    c = fit({"epochs": 2, "seed": 1})[0].state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert any(not np.array_equal(a[k], c[k]) for k in a)
