"""CAMERA and CATR: concept profiles and embeddings, concept attention, s1 / s2, training path, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from brandmatch.cli import main
from brandmatch.data.schema import CooperationSet
from brandmatch.data.store import write_dataset
from brandmatch.errors import ModelError
from brandmatch.features.store import FeatureSet, FeatureView
from brandmatch.models import create, load_model
from brandmatch.models.camera import TwoInputScore
from brandmatch.models.concepts import concept_embeddings, concept_profiles
from brandmatch.training.trainer import TrainingOptions

from conftest import make_tiny_dataset
from tests.models.toy_world import toy_world

SMALL = {"attention_layers": [8, 6], "similarity_layers": [8, 6], "embedding_size": 4, "n_concepts": 3,
         "score_hidden": 4, "epochs": 3, "batch_size": 4, "patience": None, "l1": 0.0, "init_std": 0.0, "lr": 0.01}


def concept_world(activity: bool = False):
    """The toy world with probability-valued concept views (softmax rows), optionally an activity view."""
    feats, co, info, brands, infs = toy_world(drop=("audience_visual", "audience_text"))
    views = dict(feats.views)
    for n in ("content_visual", "content_text"):
        v = views[n]
        x = np.exp(v.values)
        views[n] = FeatureView(n, v.ids, (x / x.sum(1, keepdims=True)).astype(np.float32), v.mask)
    if activity:
        ids = np.array(brands + infs)
        act = np.zeros((len(ids), 6), dtype=np.float32)
        act[:, 0] = 1000.0 + 100.0 * np.arange(len(ids))
        act[:, 1], act[:, 2] = 50.0, 5.0
        views["activity"] = FeatureView("activity", ids, act, np.ones(len(ids), bool))
    return FeatureSet(views), co, info, brands, infs


def test_concept_profiles_by_hand():
    ids = np.array(["a", "b", "c"])
    topics = FeatureView("content_text", ids, np.array([[1, 3], [2, 2], [0, 0]], np.float32), np.array([1, 1, 0], bool))
    visual = FeatureView("content_visual", ids, np.array([[1, 1, 2], [0, 0, 0], [4, 0, 0]], np.float32),
                         np.array([1, 0, 1], bool))
    pi, present = concept_profiles(FeatureSet({"content_text": topics, "content_visual": visual}), ["a", "b", "c", "z"],
                                   ["content_text", "content_visual"])
    # mean over the present views of each normalised view row; absent views and unknown accounts give zeros
    np.testing.assert_allclose(pi, [[0.125, 0.375, 0.125, 0.125, 0.25], [0.5, 0.5, 0, 0, 0], [0, 0, 1, 0, 0],
                                    [0, 0, 0, 0, 0]], rtol=1e-6)
    assert present.tolist() == [True, True, True, False]


def test_concept_embeddings_are_ppmi_svd_zscored():
    # two groups of concepts that co-occur only within their group
    profiles = np.array([[0.5, 0.5, 0, 0], [0.4, 0.6, 0, 0], [0, 0, 0.5, 0.5], [0, 0, 0.3, 0.7]])
    e = concept_embeddings(profiles, 10)
    assert e.shape == (4, 4)  # e = min(size, n_concepts)
    np.testing.assert_allclose(e.mean(axis=0), 0.0, atol=1e-5)
    cos = (e / np.linalg.norm(e, axis=1, keepdims=True)) @ (e / np.linalg.norm(e, axis=1, keepdims=True)).T
    assert cos[0, 1] > cos[0, 2] and cos[2, 3] > cos[1, 3]  # co-occurring concepts end up closer


def test_two_input_score_by_hand():
    s = TwoInputScore(1)
    with torch.no_grad():
        s.p.copy_(torch.tensor([1.0, 2.0]))
        s.q.copy_(torch.tensor([0.0, -1.0]))
        s.w.copy_(torch.tensor([2.0, -1.0]))
    x = torch.tensor([[0.5, 1.0]])
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    expected = sig(2.0 * sig(0.5) - 1.0 * sig(2.0 * 1.0 - 1.0))
    assert s(x).item() == pytest.approx(expected, rel=1e-6)
    assert all(p.dim() == 1 for p in s.parameters())  # kept out of the L1 penalty (matrices only)


@pytest.mark.parametrize("name, params, message", [
    ("camera", {"margin": -7.0}, "camera: parameter 'margin' = -7.0 is not allowed (allowed: a finite number >= 0)"),
    ("camera", {"n_concepts": 0}, "camera: parameter 'n_concepts' = 0 is not allowed (allowed: an integer >= 1)"),
    ("catr", {"similarity_layers": []}, "catr: parameter 'similarity_layers' = [] is not allowed (allowed: a "
                                        "non-empty list of integers >= 1)"),
    ("catr", {"dropconnect": 1.0}, "catr: parameter 'dropconnect' = 1.0 is not allowed (allowed: a finite number "
                                   ">= 0 and <= 0.99)"),
    ("catr", {"marginn": 1.0}, "catr: unknown parameter 'marginn'; did you mean 'margin'?"),
])
def test_bad_parameters_name_the_parameter(name, params, message):
    with pytest.raises(ModelError) as err:
        create(name, **params)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_defaults_and_objective():
    cam = create("camera")
    assert cam.config["margin"] == 7.0 and cam.config["embedding_size"] == 100 and cam.config["n_concepts"] == 10
    assert cam.config["similarity_layers"] == [1024, 1024, 512] and cam.config["batch_size"] == 8
    (loss,) = cam.training_spec().losses
    assert loss.loss == "triplet" and loss.options == {"margin": 7.0, "reduction": "active"}


@pytest.mark.parametrize("name", ["catr", "camera"])
def test_fit_score_training_path_and_round_trip(name, tmp_path):
    feats, co, info, brands, infs = concept_world(activity=True)
    learn = {"margin": 1.0, "hinge_reduction": "mean", "epochs": 5}  # a steady signal on the toy world
    model = create(name, **{**SMALL, **learn}).fit(co, feats, None, info, TrainingOptions(progress=False))
    losses = [h["loss"] for h in model.history_]
    assert losses[-1] < losses[0]
    assert model.layout_["activity"] is (name == "camera")
    assert ("activity" in model.required_inputs()) is (name == "camera")
    s = model.score(brands, infs)
    assert s.shape == (len(brands), len(infs)) and np.isfinite(s).all()
    with pytest.raises(NotImplementedError):  # the concept attention makes F pair-specific
        model.embed(brands, "brand")
    model.bind_training(brands, infs)
    model.network_.eval()
    rows, cands = np.array([0, 3, 5]), np.array([[0, 7], [2, 2], [23, 1]])
    with torch.no_grad():
        by_part, aux = model.batch_scores(rows, cands)
    assert aux is None
    np.testing.assert_allclose(by_part["F"].numpy(), s[rows[:, None], cands], rtol=1e-5, atol=1e-7)
    model.unbind_training()
    model.save(tmp_path / "m")
    again = load_model(tmp_path / "m", feats)
    np.testing.assert_allclose(again.score(brands, infs), s, rtol=1e-5, atol=1e-9)


def test_attention_and_scores_by_hand():
    """F for one pair recomputed from the equations (alpha, beta, gamma, s1, s2)."""
    feats, co, info, brands, infs = concept_world(activity=True)
    model = create("camera", **{**SMALL, "init_std": 0.3}).fit(co, feats, None, info,
                                                               TrainingOptions(progress=False))
    net = model.network_.eval()
    with torch.no_grad():
        b, m = model.encode(["b1"]), model.encode(["m4"])
        width = b["psi"].shape[-1]
        alpha = torch.softmax((b["psi"][0] * m["rho"][0]).sum(-1) / width, dim=0)
        beta = torch.softmax((m["psi"][0] * b["rho"][0]).sum(-1) / width, dim=0)
        d_m, d_b = alpha @ m["C"][0], beta @ b["C"][0]
        g_b = net.gamma(torch.cat([d_b, b["h"][0], b["dense"][0]]).unsqueeze(0))[0]
        g_m = net.gamma(torch.cat([d_m, m["h"][0], m["dense"][0]]).unsqueeze(0))[0]
        x = torch.stack([(b["upi"][0] * m["upi"][0]).sum(), (b["ua"][0] * m["ua"][0]).sum()]) * m["r"][0]
        expected = (g_b @ g_m) * net.s1(x.unsqueeze(0))[0] * net.s2(m["y"][0].unsqueeze(0))[0]
    assert model.score(["b1"], ["m4"])[0, 0] == pytest.approx(expected.item(), rel=1e-5)
    # h = pi E and C = E of the top concepts
    pi, _ = concept_profiles(feats, ["b1"], ["content_visual", "content_text"])
    np.testing.assert_allclose(b["h"][0].numpy(), pi[0] @ net.concepts.numpy(), rtol=1e-5, atol=1e-6)
    top = np.argsort(-pi[0], kind="stable")[:3]
    np.testing.assert_allclose(b["C"][0].numpy(), net.concepts.numpy()[top], rtol=1e-6)


def test_endorsement_inputs_do_not_read_cooperations():
    """s1 / s2 inputs are label-free: other training pairs leave them unchanged (no test-label leak)."""
    feats, co, info, brands, infs = concept_world(activity=True)
    other = CooperationSet(co.brand_ids[::-1].copy(), np.roll(co.influencer_ids, 5))
    encoded = []
    for train in (co, other):
        model = create("camera", **SMALL)
        model.prepare(train, feats, info, brands, infs)
        with torch.no_grad():
            enc = model.encode(["b0", "m3", "m4"])
        encoded.append({k: enc[k] for k in ("upi", "ua", "y", "r")})
    for k in encoded[0]:
        torch.testing.assert_close(encoded[0][k], encoded[1][k])


@pytest.mark.parametrize("name", ["catr", "camera"])
def test_train_and_evaluate_through_the_cli(name, tmp_path):
    data = tmp_path / "tiny"
    ds = make_tiny_dataset()
    write_dataset(ds, data)
    out = tmp_path / "model"
    params = ["attention_layers=[4,4]", "similarity_layers=[4,4]", "score_hidden=2", "batch_size=2", "init_std=0.0"]
    assert main(["train", "--model", name, "--data", str(data), "--out", str(out), "--epochs", "2", "--threads", "1",
                 "--no-progress"] + sum((["--param", p] for p in params), [])) == 0
    assert main(["evaluate", "--model-dir", str(out), "--data", str(data), "--bootstrap", "0",
                 "--json", str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["model"] == name
    config = json.loads((out / "config.json").read_text())
    assert config["extra"]["layout"]["concept"] == {"content_text": 2}
    model = load_model(out, ds.features)
    assert model.score(["b2", "b5"], ["m0", "m7"]).shape == (2, 2)


def test_score_in_chunks_equals_one_pass(monkeypatch):
    import brandmatch.models.camera as camera_module

    feats, co, info, brands, infs = concept_world(activity=True)
    model = create("camera", **{**SMALL, "init_std": 0.3})
    model.prepare(co, feats, info, brands, infs)
    whole = model.score(brands, infs)
    monkeypatch.setattr(camera_module, "PAIR_CHUNK", 5)  # 5 influencers per chunk, one brand per chunk
    np.testing.assert_allclose(model.score(brands, infs), whole, rtol=1e-5, atol=1e-7)
