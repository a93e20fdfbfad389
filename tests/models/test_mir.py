"""MIR: the modified listwise loss, K-buckets lists, competence labels, decomposition, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from brandmatch.cli import main
from brandmatch.data.schema import CooperationSet
from brandmatch.data.store import load_dataset, write_dataset
from brandmatch.errors import ModelError
from brandmatch.features.store import FeatureSet, FeatureView
from brandmatch.models import create, load_model
from brandmatch.training.losses import LOSSES, mir_listwise
from brandmatch.training.samplers import SAMPLERS, KBucketsSampler, ListBatch, make_sampler
from brandmatch.training.trainer import TrainingOptions

from conftest import make_tiny_dataset
from tests.models.toy_world import toy_world

#: small towers, no L1 (the toy's products of three tiny towers would be all L1), a few quick epochs
SMALL = {"visual_hidden": 8, "text_hidden": 6, "extra_hidden": 6, "d": 5, "init_std": 0.0, "l1": 0.0, "lr": 0.01,
         "batch_size": 8, "epochs": 3, "patience": None}


# ------------------------------------------------------------------ loss


def test_listwise_loss_by_hand():
    # softmax([0, ln 3]) = [1/4, 3/4]; labels [1/2, 1/2] -> -(ln 1/4 + ln 3/4) / 2
    scores = torch.tensor([[0.0, math.log(3.0)], [1.0, 1.0]])
    rel = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    first = -(0.5 * math.log(0.25 + 1e-8) + 0.5 * math.log(0.75 + 1e-8))
    second = -math.log(0.5 + 1e-8)
    assert mir_listwise(scores, rel).item() == pytest.approx(first + second, rel=1e-6)  # summed over lists
    assert mir_listwise(scores, rel, reduction="mean").item() == pytest.approx((first + second) / 2, rel=1e-6)
    assert LOSSES["mir_listwise"].signature == "listwise"
    # a one-hot list of two is the logistic loss of the score difference
    s = torch.tensor([[2.0, -1.0]])
    assert mir_listwise(s, torch.tensor([[1.0, 0.0]])).item() == pytest.approx(math.log1p(math.exp(-3.0)), rel=1e-5)
    with pytest.raises(ValueError, match="unknown reduction"):
        mir_listwise(scores, rel, reduction="max")


# ------------------------------------------------------------------ K-buckets sampler


def _coop() -> CooperationSet:
    # b0: five partners with competences; b1: one partner; pool m0..m9
    pairs = [("b0", "m0", 0.1), ("b0", "m1", 0.5), ("b0", "m2", 0.3), ("b0", "m3", 0.2), ("b0", "m4", 0.4),
             ("b1", "m5", 0.7)]
    return CooperationSet(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]),
                          np.array([p[2] for p in pairs]))


POOL = [f"m{i}" for i in range(10)]
SCORE = {("b0", "m0"): 0.1, ("b0", "m1"): 0.5, ("b0", "m2"): 0.3, ("b0", "m3"): 0.2, ("b0", "m4"): 0.4,
         ("b1", "m5"): 0.7}


def test_k_buckets_boundaries_and_competence_labels():
    sampler = make_sampler("k_buckets", _coop(), POOL, k=3, lists_per_positive=4)
    assert isinstance(sampler, KBucketsSampler) and "k_buckets" in SAMPLERS
    infs = sampler.influencers
    # b0 sorted by competence: m1 .5, m4 .4, m2 .3 | m3 .2, m0 .1 (K - 1 = 2 buckets, the first takes the remainder)
    buckets = [[infs[j] for j in members] for members, _ in sampler.buckets[0]]
    assert buckets == [["m1", "m4", "m2"], ["m3", "m0"]]
    assert [[infs[j] for j in members] for members, _ in sampler.buckets[1]] == [["m5"]]
    batches = sampler.epoch(np.random.default_rng(0), batch_size=5)
    assert all(isinstance(b, ListBatch) for b in batches)
    brands = np.concatenate([b.brands for b in batches])
    cands = np.concatenate([b.candidates for b in batches])
    rel = np.concatenate([b.relevance for b in batches])
    assert cands.shape == (4 * 6, 3) and rel.shape == (24, 3)  # lists_per_positive lists per training pair
    assert (np.bincount(brands) == [4 * 5, 4 * 1]).all()
    np.testing.assert_allclose(rel.sum(axis=1), 1.0)
    for b, c, r in zip(brands, cands, rel):
        brand = sampler.brands[b]
        names = [infs[j] for j in c]
        if brand == "b0":
            assert names[0] in buckets[0] and names[1] in buckets[1]
            assert (brand, names[2]) not in SCORE  # the last bucket: a non-partner
            c0, c1 = SCORE[(brand, names[0])], SCORE[(brand, names[1])]
            np.testing.assert_allclose(r, [c0 / (c0 + c1), c1 / (c0 + c1), 0.0])
        else:  # one partner, K - 1 = 2 buckets: the empty bucket holds a further negative
            assert names[0] == "m5" and (brand, names[1]) not in SCORE and (brand, names[2]) not in SCORE
            np.testing.assert_allclose(r, [1.0, 0.0, 0.0])


def test_k_buckets_grade_labels_missing_scores_and_k2():
    co = _coop()
    grade = KBucketsSampler(co, POOL, k=4, labels="grade")
    # b0: 5 partners in 3 buckets (2, 2, 1): grades K - j = 3, 2, 1, 0 normalised
    assert [len(m) for m, _ in grade.buckets[0]] == [2, 2, 1]
    cands, rel = grade.lists(0, 3, np.random.default_rng(1))
    np.testing.assert_allclose(rel, np.tile([0.5, 1 / 3, 1 / 6, 0.0], (3, 1)))
    # missing competence: the brand's median of the known ones (m0 -> median(.5, .3, .2, .4) = .35)
    scores = co.scores.copy()
    scores[0] = np.nan
    s = KBucketsSampler(CooperationSet(co.brand_ids, co.influencer_ids, scores), POOL, k=6)
    members, comp = zip(*s.buckets[0])
    assert [s.influencers[m[0]] for m in members] == ["m1", "m4", "m0", "m2", "m3"]
    assert comp[2][0] == pytest.approx(0.35)
    # K = 2: one partner vs one non-partner, one-hot labels (pairwise softmax)
    k2 = KBucketsSampler(co, POOL, k=2)
    cands, rel = k2.lists(0, 50, np.random.default_rng(2))
    np.testing.assert_allclose(rel, np.tile([1.0, 0.0], (50, 1)))
    assert {k2.influencers[j] for j in cands[:, 1]}.isdisjoint({"m0", "m1", "m2", "m3", "m4"})
    # no scores at all: partners are equally relevant
    eq = KBucketsSampler(CooperationSet(co.brand_ids, co.influencer_ids), POOL, k=3)
    np.testing.assert_allclose(eq.lists(0, 2, np.random.default_rng(0))[1], [[0.5, 0.5, 0.0]] * 2)


@pytest.mark.parametrize("options, message", [
    ({"k": 1}, "parameter 'k' = 1 is not allowed (allowed: an integer >= 2)"),
    ({"lists_per_positive": 0}, "parameter 'lists_per_positive' = 0 is not allowed"),
    ({"labels": "rank"}, "parameter 'labels' = 'rank' is not allowed (allowed: one of competence, grade)"),
])
def test_k_buckets_bad_options(options, message):
    with pytest.raises(ModelError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_sampler("k_buckets", _coop(), POOL, **options)


# ------------------------------------------------------------------ the model


@pytest.mark.parametrize("params, message", [
    ({"k": 1}, "mir: parameter 'k' = 1 is not allowed (allowed: an integer >= 2)"),
    ({"labels": "ranks"}, "mir: parameter 'labels' = 'ranks' is not allowed (allowed: one of competence, grade)"),
    ({"kk": 3}, "mir: unknown parameter 'kk'; did you mean 'k'?"),
    ({"d": 0}, "mir: parameter 'd' = 0 is not allowed (allowed: an integer >= 1)"),
    ({"input_norm": "lrn"}, "parameter 'input_norm' = 'lrn' is not allowed (allowed: one of none, l2, standard)"),
    ({"reduce": "sum"}, "mir: unknown parameter 'reduce'"),
])
def test_bad_parameters_name_the_parameter(params, message):
    with pytest.raises(ModelError) as err:
        create("mir", **params)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_defaults_are_the_papers():
    c = create("mir").config
    assert c["k"] == 4 and c["d"] == 512 and c["visual_hidden"] == 4096 and c["text_hidden"] == 300
    assert c["batch_size"] == 64 and c["l1"] == 0.001 and c["reduction"] == "sum" and c["dropconnect"] == 0.5
    spec = create("mir", k=3).training_spec()
    assert spec.sampler == "k_buckets" and spec.sampler_options["k"] == 3
    assert [ls.loss for ls in spec.losses] == ["mir_listwise"]


def fit_mir(world=None, **params):
    feats, co, info, brands, infs = world or toy_world()
    model = create("mir", **{**SMALL, **params})
    model.fit(co, feats, None, info, TrainingOptions(progress=False))
    return model, feats, co, brands, infs


def test_decomposes_and_training_scores_are_score_entries(monkeypatch):
    from brandmatch.models.mir import MirRanker

    seen = []
    original = MirRanker.batch_scores

    def spy(self, b, c):
        seen.append(c.shape[1])
        return original(self, b, c)

    monkeypatch.setattr(MirRanker, "batch_scores", spy)
    model, feats, co, brands, infs = fit_mir(k=3)
    assert seen and set(seen) == {3}  # K-buckets lists of K candidates reached the model
    losses = [h["loss"] for h in model.history_]
    assert losses[-1] < losses[0]
    s = model.score(brands, infs)
    e_b, e_m = model.embed(brands, "brand"), model.embed(infs, "influencer")
    np.testing.assert_allclose(s, e_b @ e_m.T, rtol=1e-6, atol=1e-9)
    model.bind_training(brands, infs)
    model.network_.eval()
    rows, cands = np.array([0, 3, 5, 3]), np.array([[0, 7, 1], [2, 2, 9], [23, 1, 4], [9, 4, 0]])
    with torch.no_grad():
        by_part, aux = original(model, rows, cands)
    assert aux is None and list(by_part) == ["mir"]
    np.testing.assert_allclose(by_part["mir"].numpy(), s[rows[:, None], cands], rtol=1e-5, atol=1e-7)
    # F = mean_d z_b z_m: each side carries 1 / sqrt(d)
    term = model.network_["bilinear"]
    from brandmatch.models.terms.base import lookup_accounts

    acc_b = lookup_accounts(feats, brands[:2], model.required_inputs())
    acc_m = lookup_accounts(feats, infs[:3], model.required_inputs())
    with torch.no_grad():
        z_b = term.represent(acc_b, "brand") * math.sqrt(5)
        z_m = term.represent(acc_m, "influencer") * math.sqrt(5)
    np.testing.assert_allclose(s[:2, :3], (z_b @ z_m.T).numpy() / 5, rtol=1e-5, atol=1e-7)


def test_separate_towers_and_brand_only_views():
    # content_visual present for brands only (as on the public data): the brand towers use it
    world = toy_world(brand_only=("content_visual",), drop=("audience_visual", "audience_text"))
    model, feats, co, brands, infs = fit_mir(world, epochs=1)
    roles = model.network_["bilinear"].roles_
    assert roles["brand"] == {"content_visual": "visual", "content_text": "text", "attributes": "extra"}
    assert roles["influencer"] == {"content_text": "text", "attributes": "extra"}
    assert model.competence_ == "equal"  # no scores, no activity view


def test_competence_from_scores_or_engagement():
    feats, co, info, brands, infs = toy_world()
    model = create("mir", **SMALL)
    scored = CooperationSet(co.brand_ids, co.influencer_ids, np.linspace(0.1, 1.0, len(co)))
    assert model.training_cooperations(scored, feats) is scored and model.competence_ == "cooperations"
    ids = np.array(brands + infs)
    act = np.zeros((len(ids), 6), dtype=np.float32)
    act[:, 0], act[:, 1], act[:, 2] = 1000.0, np.arange(len(ids)), 10.0  # followers, likes, comments per post
    with_activity = FeatureSet({**feats.views, "activity": FeatureView("activity", ids, act, np.ones(len(ids), bool))})
    labelled = model.training_cooperations(co, with_activity)
    assert model.competence_ == "engagement"
    index = {a: i for i, a in enumerate(ids)}
    expected = [(index[m] + 10.0) / 1000.0 for m in co.influencer_ids]  # (likes + comments) / followers
    np.testing.assert_allclose(labelled.scores, expected, rtol=1e-6)


def test_save_load_round_trip(tmp_path):
    model, feats, co, brands, infs = fit_mir(epochs=1)
    model.save(tmp_path / "m")
    again = load_model(tmp_path / "m", feats)
    np.testing.assert_array_equal(again.score(brands, infs), model.score(brands, infs))  # same products, same order
    assert again.competence_ == "equal" and again.config == model.config


def test_train_and_evaluate_through_the_cli(tmp_path, capsys):
    data = tmp_path / "tiny"
    write_dataset(make_tiny_dataset(), data)
    out = tmp_path / "model"
    params = ["text_hidden=4", "extra_hidden=4", "d=3", "batch_size=4", "k=3", "init_std=0.0"]
    assert main(["train", "--model", "mir", "--data", str(data), "--out", str(out), "--epochs", "2", "--threads", "1",
                 "--no-progress"] + sum((["--param", p] for p in params), [])) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "mir" and config["params"]["k"] == 3 and config["extra"]["competence"] == "equal"
    assert set(config["provenance"]["features"]) == {"content_text", "attributes"}
    capsys.readouterr()
    assert main(["evaluate", "--model-dir", str(out), "--data", str(data), "--bootstrap", "0",
                 "--json", str(tmp_path / "m.json")]) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["model"] == "mir"
    ds = load_dataset(data)
    model = load_model(out, ds.features)
    s = model.score(["b2", "b5"], ["m0", "m3", "m4", "m7"])
    np.testing.assert_allclose(s, model.embed(["b2", "b5"], "brand") @ model.embed(["m0", "m3", "m4", "m7"]).T,
                               rtol=1e-6, atol=1e-12)


def test_one_positive_construction_is_reconstruction_b():
    s = make_sampler("k_buckets", _coop(), POOL, k=4, construction="one_positive")
    assert len(s.buckets[0]) == 1 and len(s.buckets[0][0][0]) == 5  # one bucket of all five partners
    cands, rel = s.lists(0, 20, np.random.default_rng(3))
    np.testing.assert_allclose(rel, np.tile([1.0, 0.0, 0.0, 0.0], (20, 1)))
    partners = {s.influencers[j] for j in s.buckets[0][0][0]}
    assert {s.influencers[j] for j in cands[:, 0]} <= partners
    assert {s.influencers[j] for j in cands[:, 1:].ravel()}.isdisjoint(partners)
    with pytest.raises(ModelError, match="parameter 'construction' = 'B' is not allowed"):
        make_sampler("k_buckets", _coop(), POOL, construction="B")
    assert create("mir", construction="one_positive").training_spec().sampler_options["construction"] == "one_positive"


# ------------------------------------------------------------------ recipes (K = 2, 3, 4)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_shipped_recipes_k2_k3_k4(k):
    from brandmatch.models.recipes import load_recipe, recipe_names

    assert recipe_names("mir") == ["k2", "k3", "k4"]
    r = load_recipe("mir", f"k{k}")
    assert r.description and r.source and r.params["k"] == k
    model = create("mir", recipe=f"k{k}")
    assert model.config["k"] == k and model.get_params()["recipe"] == f"k{k}"
    assert model.training_spec().sampler_options["k"] == k
    # the paper's widths stay the defaults; a recipe's reduced width says why in its source
    assert create("mir").config["visual_hidden"] == 4096
    if model.config["visual_hidden"] != 4096:
        assert "visual_hidden" in r.source
    # explicit parameters win over the recipe's
    assert create("mir", recipe=f"k{k}", lr=0.05).config["lr"] == 0.05


def test_recipe_smoke_fit_and_round_trip(tmp_path):
    model, feats, co, brands, infs = fit_mir(recipe="k2", epochs=1)
    assert model.config["k"] == 2 and np.isfinite(model.score(brands, infs)).all()
    model.save(tmp_path / "m")
    again = load_model(tmp_path / "m", feats)
    assert again.recipe == "k2" and again.config == model.config
    np.testing.assert_array_equal(again.score(brands, infs), model.score(brands, infs))


def test_unknown_recipe_is_one_line():
    with pytest.raises(ModelError, match=r"mir: unknown recipe 'k9' \(known: k2, k3, k4"):
        create("mir", recipe="k9")


def test_train_with_a_recipe_through_the_cli(tmp_path):
    data = tmp_path / "tiny"
    write_dataset(make_tiny_dataset(), data)
    out = tmp_path / "model"
    params = ["visual_hidden=4", "text_hidden=4", "extra_hidden=4", "d=3", "batch_size=4", "init_std=0.0"]
    assert main(["train", "--model", "mir", "--recipe", "k3", "--data", str(data), "--out", str(out), "--epochs", "1",
                 "--threads", "1", "--no-progress"] + sum((["--param", p] for p in params), [])) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["params"]["recipe"] == "k3" and config["params"]["k"] == 3


@pytest.mark.parametrize("name, key, value, paper", [
    ("hptr", "visual_hidden", 512, 4096),
    ("catr", "similarity_layers", [512, 512, 256], [1024, 1024, 512]),
    ("camera", "similarity_layers", [512, 512, 256], [1024, 1024, 512]),
])
def test_cpu_recipes_of_the_other_baselines(name, key, value, paper):
    from brandmatch.models.base import MODELS
    from brandmatch.models.recipes import load_recipe

    model = create(name, recipe="cpu")
    assert model.config[key] == value and create(name).config[key] == paper  # the paper's stays the default
    assert key in load_recipe(name, "cpu").source
    again = MODELS[name].from_params(model.get_params())
    assert again.config == model.config and again.recipe == "cpu"
