"""`brandmatch train` then `evaluate --model-dir` on the tiny dataset."""

import json

import numpy as np

from brandmatch.cli import main
from brandmatch.data.store import load_dataset, write_dataset
from brandmatch.evaluation.runner import evaluate_model
from brandmatch.models.base import load_model

from conftest import make_tiny_dataset

TINY = ["visual_layers=[4,4]", "text_layers=[4,4]", "attribute_layers=[4,4]", "d_a=4", "batch_size=2"]


def test_train_resume_and_evaluate(tmp_path, capsys):
    data = tmp_path / "tiny"
    write_dataset(make_tiny_dataset(), data)
    out = tmp_path / "model"
    args = ["train", "--model", "morning", "--data", str(data), "--out", str(out), "--views", "c,att",
            "--seed", "1", "--epochs", "2", "--no-progress"] + sum((["--param", p] for p in TINY), [])
    assert main(args) == 0
    assert (out / "config.json").exists() and (out / "weights.safetensors").exists()
    assert (out / "checkpoints" / "LATEST").exists()
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "morning" and config["params"]["seed"] == 1 and config["params"]["views"] == "c,att"
    ds = load_dataset(data)
    model = load_model(out, ds.features)
    first = model.score(["b2", "b5"], ["m0", "m3", "m4", "m7"])
    # resuming a finished run changes nothing
    assert main(args + ["--resume"]) == 0
    again = load_model(out, ds.features).score(["b2", "b5"], ["m0", "m3", "m4", "m7"])
    np.testing.assert_allclose(first, again, rtol=1e-12)
    ev = evaluate_model(model, ds, "test", n_bootstrap=0)
    assert 0.0 <= ev.metrics["AUC"] <= 1.0
    assert main(["evaluate", "--model-dir", str(out), "--data", str(data), "--bootstrap", "0",
                 "--json", str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["model"] == "morning"


def test_train_unknown_model_exits_2(tmp_path, capsys):
    data = tmp_path / "tiny"
    write_dataset(make_tiny_dataset(), data)
    assert main(["train", "--model", "nope", "--data", str(data), "--out", str(tmp_path / "m")]) == 2
