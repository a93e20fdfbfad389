"""The one training workflow: a listwise loss and a list sampler plug in as one entry each."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from brandmatch.models.composed import LossSpec
from brandmatch.models.morning import MorningRanker
from brandmatch.training import losses as losses_mod
from brandmatch.training import samplers as samplers_mod
from brandmatch.training.samplers import ListBatch, UniformNegativeSampler
from brandmatch.training.trainer import TrainingOptions

from tests.models.toy_world import LITE, toy_world


def listnet(scores: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
    """Top-one ListNet: cross-entropy between softmax(relevance) and softmax(scores), (n, L) -> scalar."""
    return -(torch.softmax(relevance, -1) * torch.log_softmax(scores, -1)).sum(-1).mean()


class ThreeNegatives(UniformNegativeSampler):
    """Lists of 1 positive + 3 uniform negatives, relevance 1 / 0."""

    lists_seen = 0

    def epoch(self, rng, batch_size):
        order = rng.permutation(len(self.pair_brand))
        b, p = self.pair_brand[order], self.pair_pos[order]
        negs = np.stack([self.negatives(b, rng) for _ in range(3)], axis=1)
        cands = np.concatenate([p[:, None], negs], axis=1)
        rel = np.zeros(cands.shape)
        rel[:, 0] = 1.0
        ThreeNegatives.lists_seen += len(b)
        return [ListBatch(b[i:i + batch_size], cands[i:i + batch_size], rel[i:i + batch_size])
                for i in range(0, len(b), batch_size)]


class ListwiseCosine(MorningRanker):
    name = "listwise-cosine-test"  # not registered: built directly

    def training_spec(self):
        spec = super().training_spec()
        return dataclasses.replace(spec, sampler="three", losses=(LossSpec("listnet", 1.0),))


def test_listwise_loss_and_list_sampler_plug_in(monkeypatch):
    monkeypatch.setitem(losses_mod.LOSSES, "listnet", losses_mod.Loss(listnet, "listwise"))
    monkeypatch.setitem(samplers_mod.SAMPLERS, "three", lambda train, pool, *a, **k: ThreeNegatives(train, pool))
    feats, co, info, brands, infs = toy_world()
    seen = []
    original = ListwiseCosine.batch_scores

    def spy(self, b, c):
        seen.append(c.shape)
        return original(self, b, c)

    monkeypatch.setattr(ListwiseCosine, "batch_scores", spy)
    ThreeNegatives.lists_seen = 0
    model = ListwiseCosine(**{**LITE, "epochs": 3, "lr": 0.05})
    model.fit(co, feats, None, info, TrainingOptions(progress=False))
    assert seen and all(s[1] == 4 for s in seen)  # lists of 4 candidates reached the model
    assert ThreeNegatives.lists_seen == 3 * len(co)
    losses = [h["loss"] for h in model.history_]
    assert losses[-1] < losses[0]  # the listwise objective is what was minimised
    s = model.score(brands, infs)
    np.testing.assert_allclose(s, model.embed(brands, "brand") @ model.embed(infs, "influencer").T, rtol=1e-6)


def test_unknown_loss_or_sampler_is_refused(monkeypatch):
    from brandmatch.errors import ModelError

    feats, co, info, *_ = toy_world()
    model = ListwiseCosine(**LITE)
    with pytest.raises(ModelError, match="unknown sampler 'three'"):
        model.fit(co, feats, None, info, TrainingOptions(progress=False))
    monkeypatch.setitem(samplers_mod.SAMPLERS, "three", lambda train, pool, *a, **k: ThreeNegatives(train, pool))
    with pytest.raises(ModelError, match="unknown loss 'listnet'"):
        ListwiseCosine(**LITE).fit(co, feats, None, info, TrainingOptions(progress=False))
