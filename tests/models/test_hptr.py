"""HPTR: MIR's representation with a triplet ranker: dot-product score, objective, decomposition, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from brandmatch.cli import main
from brandmatch.data.store import write_dataset
from brandmatch.errors import ModelError
from brandmatch.models import create, load_model
from brandmatch.models.terms.base import lookup_accounts
from brandmatch.training.trainer import TrainingOptions

from conftest import make_tiny_dataset
from tests.models.toy_world import toy_world

SMALL = {"visual_hidden": 8, "text_hidden": 6, "extra_hidden": 6, "d": 5, "init_std": 0.0, "l1": 0.0, "lr": 0.01,
         "batch_size": 4, "epochs": 3, "patience": None}


def test_objective_and_defaults():
    model = create("hptr")
    spec = model.training_spec()
    assert spec.sampler == "uniform" and spec.batch_size == 16 and spec.lr == 0.002 and spec.l1 == 0.001
    (loss,) = spec.losses
    assert loss.loss == "triplet" and loss.options == {"margin": 4.0, "reduction": "active"} and loss.parts is None
    assert model.config["d"] == 512 and model.config["visual_hidden"] == 4096


@pytest.mark.parametrize("params, message", [
    ({"margin": -1.0}, "hptr: parameter 'margin' = -1.0 is not allowed (allowed: a finite number >= 0)"),
    ({"hinge_reduction": "max"}, "hptr: parameter 'hinge_reduction' = 'max' is not allowed (allowed: one of active, "
                                 "mean, sum)"),
    ({"negatives": "hard"}, "hptr: parameter 'negatives' = 'hard' is not allowed"),
    ({"k": 3}, "hptr: unknown parameter 'k'"),
])
def test_bad_parameters_name_the_parameter(params, message):
    with pytest.raises(ModelError) as err:
        create("hptr", **params)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_dot_product_decomposition_and_training_path():
    feats, co, info, brands, infs = toy_world()
    model = create("hptr", **SMALL).fit(co, feats, None, info, TrainingOptions(progress=False))
    losses = [h["loss"] for h in model.history_]
    assert losses[-1] < losses[0]
    s = model.score(brands, infs)
    np.testing.assert_allclose(s, model.embed(brands, "brand") @ model.embed(infs, "influencer").T, rtol=1e-6,
                               atol=1e-9)
    term = model.network_["bilinear"]
    names = model.required_inputs()
    with torch.no_grad():  # F = <z_b, z_m>, no 1/d (HPTR)
        z_b = term.represent(lookup_accounts(feats, brands, names), "brand")
        z_m = term.represent(lookup_accounts(feats, infs, names), "influencer")
    np.testing.assert_allclose(s, (z_b @ z_m.T).numpy(), rtol=1e-5, atol=1e-7)
    model.bind_training(brands, infs)
    model.network_.eval()
    rows, cands = np.array([1, 4, 4]), np.array([[1, 0], [4, 22], [7, 7]])
    with torch.no_grad():
        by_part, _ = model.batch_scores(rows, cands)
    np.testing.assert_allclose(by_part["mir"].numpy(), s[rows[:, None], cands], rtol=1e-5, atol=1e-7)


def test_train_evaluate_cli_and_round_trip(tmp_path):
    data = tmp_path / "tiny"
    ds = make_tiny_dataset()
    write_dataset(ds, data)
    out = tmp_path / "model"
    params = ["text_hidden=4", "extra_hidden=4", "d=3", "batch_size=2", "init_std=0.0"]
    assert main(["train", "--model", "hptr", "--data", str(data), "--out", str(out), "--epochs", "2",
                 "--threads", "1", "--no-progress"] + sum((["--param", p] for p in params), [])) == 0
    assert main(["evaluate", "--model-dir", str(out), "--data", str(data), "--bootstrap", "0",
                 "--json", str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["model"] == "hptr"
    model = load_model(out, ds.features)
    assert model.config["d"] == 3 and model.network_["bilinear"].params["reduce"] == "sum"
