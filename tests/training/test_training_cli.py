"""`brandmatch train` then `evaluate --model-dir`, recipes, provenance and bad parameters."""

import json

import numpy as np
import pytest

from brandmatch.cli import main
from brandmatch.data.store import load_dataset, write_dataset
from brandmatch.evaluation.runner import evaluate_model
from brandmatch.features.store import FeatureSet, FeatureView
from brandmatch.models.base import load_model

from conftest import make_tiny_dataset

TINY = ["tower.visual_layers=[4,4]", "tower.text_layers=[4,4]", "tower.attribute_layers=[4,4]", "tower.d_a=4",
        "batch_size=2"]


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "tiny"
    write_dataset(make_tiny_dataset(), path)
    return path


def test_train_resume_and_evaluate(tmp_path, data, capsys):
    out = tmp_path / "model"
    args = ["train", "--model", "morning", "--recipe", "paper", "--data", str(data), "--out", str(out),
            "--views", "c,att", "--seed", "1", "--epochs", "2", "--no-progress"] + sum((["--param", p] for p in TINY), [])
    assert main(args) == 0
    assert "recipe paper" in capsys.readouterr().out
    assert (out / "config.json").exists() and (out / "weights.safetensors").exists()
    assert (out / "checkpoints" / "LATEST").exists()
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "morning" and config["params"]["seed"] == 1 and config["params"]["views"] == ["c", "att"]
    assert config["params"]["recipe"] == "paper" and config["params"]["tower.d_a"] == 4
    prov = config["provenance"]
    ds = load_dataset(data)
    assert prov["recipe"]["name"] == "paper" and prov["code"].startswith("brandmatch ")
    assert prov["dataset"]["manifest_sha256"] and set(prov["features"]) == {"content_text", "attributes"}
    assert prov["features"]["content_text"] == ds.features["content_text"].checksum()
    model = load_model(out, ds.features)
    first = model.score(["b2", "b5"], ["m0", "m3", "m4", "m7"])
    # resuming a finished run changes nothing
    assert main(args + ["--resume"]) == 0
    again = load_model(out, ds.features).score(["b2", "b5"], ["m0", "m3", "m4", "m7"])
    np.testing.assert_allclose(first, again, rtol=1e-12)
    # resuming with another setting is refused, naming it
    capsys.readouterr()
    assert main([a if a != "--seed" else "--seed" for a in args] + ["--resume", "--param", "lr=0.01"]) == 2
    err = capsys.readouterr().err
    assert "cannot resume" in err and "params.lr (0.002 vs 0.01)" in err and len(err.strip().splitlines()) == 1
    ev = evaluate_model(model, ds, "test", n_bootstrap=0)
    assert 0.0 <= ev.metrics["AUC"] <= 1.0
    assert main(["evaluate", "--model-dir", str(out), "--data", str(data), "--bootstrap", "0",
                 "--json", str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["model"] == "morning"


def test_default_recipe_is_plus_and_model_dir_guards(tmp_path, data, capsys):
    out = tmp_path / "plus"
    assert main(["train", "--model", "morning", "--data", str(data), "--out", str(out), "--epochs", "2",
                 "--no-progress"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["params"]["recipe"] == "plus" and "NaN" not in (out / "config.json").read_text()
    ds = load_dataset(data)
    # other features than the ones the model was trained on: a clear message, not a shape error
    changed = FeatureSet({n: FeatureView(n, v.ids, v.values * 2, v.mask) for n, v in ds.features.views.items()})
    with pytest.raises(Exception, match="feature view 'attributes' differs from the one the model was trained on"):
        load_model(out, changed)
    with pytest.raises(Exception, match="trained on feature view 'attributes', which these features do not have"):
        load_model(out, FeatureSet({"content_text": ds.features["content_text"]}))
    # a flipped bit in the weights is caught
    w = out / "weights.safetensors"
    raw = bytearray(w.read_bytes())
    raw[-3] ^= 0x01
    w.write_bytes(bytes(raw))
    capsys.readouterr()
    assert main(["evaluate", "--model-dir", str(out), "--data", str(data), "--bootstrap", "0"]) == 2
    assert "checksum does not match config.json" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--param", "tower.input_norm=standardized", "--recipe", "paper"],
     "parameter 'tower.input_norm' = 'standardized' is not allowed (allowed: one of none, l2, standard)"),
    (["--param", "cosine.weights=diag"], "parameter 'cosine.weights' = 'diag' is not allowed"),
    (["--param", "negatives=categry"], "parameter 'negatives' = 'categry' is not allowed"),
    (["--param", "input_norm=standard"], "unknown parameter 'input_norm'"),
    (["--epochs", "0"], "parameter 'epochs' = 0 is not allowed (allowed: an integer >= 1)"),
    (["--epochs", "-2"], "parameter 'epochs' = -2 is not allowed"),
    (["--param", "lr=NaN"], "parameter 'lr' = nan is not allowed"),
    (["--recipe", "fast"], "unknown recipe 'fast'"),
    (["--threads", "0"], "--threads must be >= 1"),
])
def test_bad_parameters_exit_2_with_one_line(tmp_path, data, capsys, extra, message):
    out = tmp_path / "m"
    code = main(["train", "--model", "morning", "--data", str(data), "--out", str(out), "--no-progress", *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()  # nothing written


def test_train_unknown_model_exits_2(tmp_path, data):
    assert main(["train", "--model", "nope", "--data", str(data), "--out", str(tmp_path / "m")]) == 2


def test_models_lists_recipes_and_parameters(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for recipe in ("paper", "code", "plus", "plus-attribute-tower"):
        assert f"--recipe {recipe}" in out
    assert "(default)" in out and "cosine" in out and "miv" in out
    assert main(["models", "--params", "morning"]) == 0
    out = capsys.readouterr().out
    assert "margins = [4.0, 2.0, 2.0]" in out and "eq. 28-30" in out and "tower.d_a = 512" in out
