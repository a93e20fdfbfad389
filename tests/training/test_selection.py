"""The adaptive recipe (training/selection.py): view screening, candidates, budget, record, round trip."""

from __future__ import annotations

import numpy as np
import pytest

from brandmatch.data.schema import CandidateGrid, CooperationSet
from brandmatch.errors import ModelError
from brandmatch.evaluation.metrics import grid_metrics
from brandmatch.features.store import FeatureSet, FeatureView
from brandmatch.models import create
from brandmatch.models.base import AccountInfo, load_model
from brandmatch.training.selection import SelectionSpace, validation_category_mask, screen_views, select_params
from brandmatch.training.trainer import TrainingOptions

#: the plus recipe, small and quick (no hard negatives on a toy world of two categories)
SPREAD = 1.5  # within-cluster spread: validation metrics below 1, so that candidates differ
QUICK = {"recipe": "plus", "epochs": 2, "batch_size": 4, "patience": None}


def world(noise: tuple[str, ...] = ("audience_visual", "audience_text"), seed: int = 0):
    """3 clusters; brands b0-b8 train, b9-b14 validation, b15-b20 test; ``noise`` views are pure noise."""
    rng = np.random.default_rng(seed)
    n_b, n_m = 21, 36
    brands = [f"b{i}" for i in range(n_b)]
    infs = [f"m{j}" for j in range(n_m)]
    ids = np.array(brands + infs)
    cluster = np.array([i % 3 for i in range(n_b)] + [j % 3 for j in range(n_m)])
    views = {}
    for name, d in {"content_visual": 10, "content_text": 5, "audience_visual": 9, "audience_text": 4,
                    "attributes": 7}.items():
        centers = rng.normal(size=(3, d)) * (2.0 if name == "attributes" else 1.0)  # a strong second view
        signal = centers[cluster] if name not in noise else 0.0
        x = (signal + SPREAD * rng.normal(size=(len(ids), d))).astype(np.float32)
        if name.endswith("_text"):  # topic-like views are non-negative (the recipe's Hellinger)
            x = np.abs(x)
        views[name] = FeatureView(name, ids, x, np.ones(len(ids), bool))
    labels = np.array([[int(cluster[i] == j % 3) for j in range(n_m)] for i in range(n_b)], dtype=np.int8)
    train = [(brands[i], infs[j]) for i in range(9) for j in range(n_m) if labels[i, j]]
    co = CooperationSet(np.array([p[0] for p in train]), np.array([p[1] for p in train]))
    cats = {b: ("food" if i % 2 == 0 else "auto") for i, b in enumerate(brands)}
    inf_cats: dict[str, set] = {}
    for b, m in train:
        inf_cats.setdefault(m, set()).add(cats[b])
    info = AccountInfo(cats, {m: frozenset(c) for m, c in inf_cats.items()}, tuple(infs))

    def grid(name, rows):
        return CandidateGrid(name, np.array([brands[i] for i in rows]), np.array(infs), labels[list(rows)])

    return FeatureSet(views), co, info, grid("validation", range(9, 15)), grid("test", range(15, 21))


def test_screening_leaves_out_a_view_at_chance():
    feats, co, info, valid, _ = world()
    out = screen_views(["c", "au", "att"], co, feats, valid, info, z=1.96)
    assert out["c"]["kept"] and out["att"]["kept"] and not out["au"]["kept"]
    assert out["att"]["auc"] > out["c"]["auc"] > 0.75 > 0.6 > out["au"]["auc"] and out["au"]["inputs"] == ["audience_visual", "audience_text"]
    assert "not above chance" in out["au"]["why"]
    # every view at chance: the best one is kept all the same
    feats2, co2, info2, valid2, _ = world(noise=tuple(feats.names()))
    out2 = screen_views(["c", "au", "att"], co2, feats2, valid2, info2, z=1.96)
    assert sum(r["kept"] for r in out2.values()) == 1
    best = max(out2, key=lambda v: out2[v]["auc"])
    assert out2[best]["kept"] and out2[best]["why"] == "no view above chance: the best one is kept"


def test_selection_record_and_choice():
    feats, co, info, valid, _ = world()
    model = create("morning", **QUICK)
    space = SelectionSpace.parse({"candidates": [{}, {"terms": ["cosine", "profile"]}]}, "t", "MAP")
    rec = select_params(model, space, co, feats, valid, info, TrainingOptions(progress=False)).record
    tried = [c["params"] for c in rec["candidates"]]
    # every candidate on the screened views first, then on every view, then on the best screened view alone
    assert tried == [{"views": ["c", "att"]}, {"terms": ["cosine", "profile"], "views": ["c", "att"]},
                     {"views": ["c", "au", "att"]}, {"terms": ["cosine", "profile"], "views": ["c", "au", "att"]},
                     {"views": ["att"]}, {"terms": ["cosine", "profile"], "views": ["att"]}]
    values = [c["valid"] for c in rec["candidates"]]
    assert rec["chosen"]["valid"] == max(values)
    chosen = rec["candidates"][values.index(max(values))]["params"]
    assert model.config["views"] == chosen["views"] and model.config["select"] is True
    assert model.config["terms"] == chosen.get("terms", ["cosine", "category", "profile", "hubness"])


def test_a_candidate_the_data_cannot_feed_is_recorded_as_unavailable():
    feats, co, info, valid, _ = world()
    feats = FeatureSet({n: feats[n] for n in feats.names() if n != "audience_visual"})
    space = SelectionSpace.parse({"candidates": [{}, {"text": "tfidf", "views": ["au"]}]}, "t", None)
    rec = select_params(create("morning", **QUICK), space, co, feats, valid, info, TrainingOptions(progress=False)).record
    last = next(c for c in rec["candidates"] if c["params"].get("text") == "tfidf")
    assert last["params"] == {"text": "tfidf", "views": ["au"]} and "no usable feature view" in last["unavailable"]
    assert "valid" in rec["candidates"][0] and rec["chosen"]["params"] != last["params"]


def test_budget_always_runs_the_first_candidate():
    feats, co, info, valid, _ = world()
    space = SelectionSpace.parse({"candidates": [{}, {"terms": ["cosine"]}], "budget_seconds": 1e-9}, "t", None)
    rec = select_params(create("morning", **QUICK), space, co, feats, valid, info, TrainingOptions(progress=False)).record
    assert "valid" in rec["candidates"][0]
    assert all(c.get("skipped") == "budget of 1e-09 CPU s spent" for c in rec["candidates"][1:])


def test_default_recipe_adapts_is_saved_and_not_worse_than_the_best_single_view(tmp_path):
    feats, co, info, valid, test = world()
    model = create("morning", **QUICK)
    assert model.config["select"] is True  # the default recipe selects
    model.fit(co, feats, valid, info, TrainingOptions(progress=False))
    sel = model.selection_
    assert sel["views"]["au"]["kept"] is False and sel["metric"] == "MAP"
    model.save(tmp_path / "m")
    back = load_model(tmp_path / "m", feats)
    assert back.selection_ == sel
    test_auc = lambda m: grid_metrics(m.score(list(test.brand_ids), list(test.influencer_ids)), test.labels)["AUC"]
    singles = []
    for inputs in (["content_visual", "content_text"], ["audience_visual", "audience_text"], ["attributes"]):
        cos = create("cosine", views=inputs)
        cos.fit(co, feats, valid, info)
        singles.append(test_auc(cos))
    assert test_auc(back) >= max(singles) - 1e-9



def test_info_shows_what_the_recipe_chose(tmp_path, capsys):
    from brandmatch.cli import main

    feats, co, info, valid, _ = world()
    model = create("morning", **QUICK)
    model.fit(co, feats, valid, info, TrainingOptions(progress=False))
    model.save(tmp_path / "m")
    assert main(["info", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert "model morning (recipe plus)" in out and "selection on the validation grid (MAP" in out
    assert "view au   COSINE AUC" in out and "left out" in out
    chosen = ", ".join(f"{k}={v}" for k, v in sorted(model.selection_["chosen"]["params"].items()))  # saved JSON sorts keys
    assert f"chosen: {chosen}" in out
    cosine_cauc = model.selection_["cosine"]["cAUC"]
    assert f"guard: not below the training-free COSINE's cAUC {cosine_cauc:.4f}" in out
    first = model.selection_["candidates"][0]
    assert (f"MAP {first['valid']:.4f} ({first['seconds']:.0f} s); cAUC {first['guard']['cAUC']:.4f} "
            f"vs COSINE {first['cosine']['cAUC']:.4f}") in out
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{not json")
    assert main(["info", str(tmp_path / "bad")]) == 2
    assert "config.json: invalid JSON at line 1, column 2" in capsys.readouterr().err


def test_no_validation_grid_trains_as_configured():
    feats, co, info, _, _ = world()
    model = create("morning", **QUICK)
    model.fit(co, feats, None, info, TrainingOptions(progress=False))
    assert model.selection_ == {"skipped": "no validation grid with positives"}
    assert model.config["views"] == ["c", "au", "att"]


@pytest.mark.parametrize("table, message", [
    ({"metrc": "MAP"}, "unknown key 'metrc'"),
    ({"metric": "F1"}, "metric = 'F1' is not allowed"),
    ({"candidates": []}, "candidates must be a non-empty list"),
    ({"budget_seconds": 0}, "budget_seconds = 0 is not allowed"),
    ({"screen": "yes"}, "screen = 'yes' is not allowed"),
    ({"not_below_cosine": ["F1"]}, "not_below_cosine = \\['F1'\\] is not allowed"),
    ({"not_below_cosine": "cAUC"}, "not_below_cosine = 'cAUC' is not allowed"),
    ({"post_hoc": {"cosine.weights": ["fixed"]}}, "post_hoc has 'cosine.weights', not a post-hoc term's parameter "
                                                  "\\(allowed: hubness.views, hubness.k, hubness.alpha, hubness.sqrt\\)"),
    ({"post_hoc": {"hubness.alpha": []}}, "post_hoc must be a table of parameter -> non-empty list"),
])
def test_space_errors(table, message):
    with pytest.raises(ModelError, match=message):
        SelectionSpace.parse(table, "morning [select]", "MAP")


def test_set_params_refuses_unknown_and_drops_unused_term_values():
    model = create("morning", recipe="plus")
    model.set_params(terms=["cosine"])
    assert not [k for k in model.config if k.startswith(("category.", "profile."))]
    with pytest.raises(ModelError, match="unknown parameter 'vews'"):
        model.set_params(vews=["c"])


def test_the_adopted_winner_is_what_fitting_its_parameters_gives(tmp_path):
    """Without checkpoints the workflow keeps the winning candidate's fit instead of fitting it again;
    that is only sound when the two are the same model: scores equal a fresh fit of the chosen
    parameters, and with checkpoints (refit) the scores are the same too."""
    feats, co, info, valid, test = world()
    adopted = create("morning", **QUICK).fit(co, feats, valid, info, TrainingOptions(progress=False))
    chosen = {k: v for k, v in adopted.get_params().items() if k not in ("recipe", "select")}
    assert adopted.config["select"] is True and adopted.history_
    fresh = create("morning", recipe="plus", **chosen, select=False).fit(co, feats, valid, info,
                                                                         TrainingOptions(progress=False))
    refit = create("morning", **QUICK).fit(co, feats, valid, info,
                                           TrainingOptions(progress=False, checkpoint_dir=tmp_path / "ck"))
    b, m = list(test.brand_ids), list(test.influencer_ids)
    np.testing.assert_allclose(adopted.score(b, m), fresh.score(b, m), rtol=0, atol=1e-6)
    np.testing.assert_allclose(refit.score(b, m), fresh.score(b, m), rtol=0, atol=1e-6)
    assert refit.selection_["chosen"] == adopted.selection_["chosen"]
    assert adopted.best_epoch_ == fresh.best_epoch_


def test_validation_category_mask_counts_training_and_validation_partners():
    """cAUC's rule on the validation grid: a candidate is in a brand's category when a training or a
    validation partner of it is."""
    valid = CandidateGrid("validation", np.array(["v0", "v1", "v2"]), np.array(["m0", "m1", "m2"]),
                          np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.int8))
    info = AccountInfo({"v0": "food", "v1": "auto", "v2": "food"}, {"m2": frozenset({"auto"})}, ())
    mask = validation_category_mask(valid, info)
    assert mask.tolist() == [[True, False, False], [False, True, True], [True, False, False]]


@pytest.mark.parametrize("cosine_cauc, chosen, passed", [(0.7, ["cosine"], True), (0.9, ["cosine", "category"], False)])
def test_guard_keeps_a_candidate_below_cosine_on_cauc_from_winning(monkeypatch, cosine_cauc, chosen, passed):
    """The category candidate has the better MAP but a validation cAUC below COSINE's: the other wins;
    when no candidate passes, the metric alone decides."""
    import brandmatch.training.selection as selection

    def fake_scores(model, valid):  # a constant grid names the candidate
        code = 1.0 if "category" in model.config["terms"] else 2.0
        return np.full(valid.labels.shape, code), np.zeros(valid.labels.shape)

    def fake_values(scores, valid, metrics, same_category=None):
        assert same_category is not None and same_category.shape == valid.labels.shape
        if np.all(scores == 1.0):
            values = {"MAP": 0.5, "cAUC": 0.6}
        elif np.all(scores == 2.0):
            values = {"MAP": 0.4, "cAUC": 0.8}
        else:  # COSINE's own scores
            values = {"MAP": 0.3, "cAUC": cosine_cauc}
        return {m: values[m] for m in metrics}

    monkeypatch.setattr(selection, "_scores", fake_scores)
    monkeypatch.setattr(selection, "_grid_values", fake_values)
    feats, co, info, valid, _ = world()
    space = SelectionSpace.parse({"screen": False, "not_below_cosine": ["cAUC"],
                                  "candidates": [{"terms": ["cosine", "category"]}, {"terms": ["cosine"]}]}, "t", "MAP")
    model = create("morning", **QUICK)
    rec = select_params(model, space, co, feats, valid, info, TrainingOptions(progress=False)).record
    assert rec["cosine"] == {"cAUC": cosine_cauc} and rec["guard_passed"] is passed
    first, second = rec["candidates"]
    assert first["guard"] == {"cAUC": 0.6} and first["below_cosine"] == ["cAUC"]
    assert ("below_cosine" in second) is (not passed)
    assert model.config["terms"] == chosen


def test_post_hoc_values_are_rescored_not_refitted():
    """Each hubness strength is one more candidate of the same fit; strength 0 scores exactly as the
    same candidate without the term (training and its epoch selection never see the term)."""
    feats, co, info, valid, test = world()
    space = SelectionSpace.parse({"screen": False, "post_hoc": {"hubness.alpha": [0.0, 1.0]},
                                  "candidates": [{"terms": ["cosine", "hubness"]}, {"terms": ["cosine"]}]}, "t", "MAP")
    model = create("morning", **QUICK)
    found = select_params(model, space, co, feats, valid, info, TrainingOptions(progress=False))
    cands = found.record["candidates"]
    views = ["c", "au", "att"]
    assert [c["params"] for c in cands] == [
        {"terms": ["cosine", "hubness"], "views": views, "hubness.alpha": 0.0},
        {"terms": ["cosine", "hubness"], "views": views, "hubness.alpha": 1.0},
        {"terms": ["cosine"], "views": views}]
    assert [c.get("rescored", False) for c in cands] == [False, True, False]
    assert cands[0]["valid"] == cands[2]["valid"] and cands[0]["valid"] != cands[1]["valid"]
    best = max(range(3), key=lambda i: (cands[i]["valid"], -i))
    assert found.record["chosen"]["params"] == cands[best]["params"]
    if "hubness" in model.config["terms"]:
        assert found.winner.network_["hubness"].params["alpha"] == model.config["hubness.alpha"]


def test_set_post_hoc_takes_only_post_hoc_parameters():
    feats, co, info, valid, _ = world()
    model = create("morning", **{**QUICK, "select": False})
    model.fit(co, feats, valid, info, TrainingOptions(progress=False))
    b, m = list(valid.brand_ids), list(valid.influencer_ids)
    before = model.score(b, m)
    model.set_post_hoc(**{"hubness.alpha": 1.0})
    hub = model.part_scores(b, m)["hub"]
    np.testing.assert_allclose(model.score(b, m), before + hub / 2, atol=1e-5)  # 0.5 -> 1.0 doubles the part
    with pytest.raises(ModelError, match="'cosine.weights' is not a post-hoc term's"):
        model.set_post_hoc(**{"cosine.weights": "fixed"})
    with pytest.raises(ModelError, match="'hubness.alpha' = -1.0 is not allowed"):
        model.set_post_hoc(**{"hubness.alpha": -1.0})


def test_the_guard_adds_the_candidates_post_hoc_parts_to_cosine():
    """A candidate with a hubness correction is held to COSINE with the same correction added."""
    from brandmatch.training.selection import _grid_values

    feats, co, info, valid, _ = world()
    space = SelectionSpace.parse({"screen": False, "not_below_cosine": ["cAUC"],
                                  "candidates": [{"terms": ["cosine", "hubness"], "hubness.alpha": 1.0}]}, "t", "MAP")
    model = create("morning", **QUICK)
    found = select_params(model, space, co, feats, valid, info, TrainingOptions(progress=False))
    entry = found.record["candidates"][0]
    b, m = list(valid.brand_ids), list(valid.influencer_ids)
    cos = create("cosine").fit(co, feats, valid, info).score(b, m)
    mask = validation_category_mask(valid, info)
    expect = _grid_values(cos + found.winner.part_scores(b, m)["hub"], valid, ("cAUC",), mask)
    assert entry["cosine"] == expect and expect != found.record["cosine"]
    assert entry["guard"] == _grid_values(found.winner.score(b, m), valid, ("cAUC",), mask)
