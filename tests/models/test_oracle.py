"""The oracle: the synthetic world's latent score, unavailable elsewhere."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from brandmatch.data.synthetic import generate_world
from brandmatch.errors import ModelUnavailable
from brandmatch.evaluation.metrics import grid_metrics
from brandmatch.evaluation.runner import fit_model, run_model
from brandmatch.features.store import FeatureSet
from brandmatch.models import MODELS, create
from brandmatch.models.base import score_grid


@pytest.fixture(scope="module")
def small():
    return generate_world("small", seed=0)


def _auc(scores, labels) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(grid_metrics(scores, labels)["AUC"])


def test_registered():
    assert "oracle" in MODELS


def test_oracle_ranks_partners_first_on_synthetic(small):
    g = small.grid("test")
    model = fit_model(create("oracle"), small)
    scores = score_grid(model, g)
    assert scores.shape == g.labels.shape and np.isfinite(scores).all()
    assert _auc(scores, g.labels) >= 0.9
    plain = fit_model(create("oracle", noise=False), small)
    assert _auc(score_grid(plain, g), g.labels) >= 0.85
    # the noise term is a deterministic hash: same scores twice
    np.testing.assert_array_equal(scores, score_grid(model, g))
    # without the noise the latent score decomposes into per-account vectors
    b, m = list(g.brand_ids), list(g.influencer_ids)
    np.testing.assert_allclose(plain.embed(b, "brand") @ plain.embed(m, "influencer").T, plain.score(b, m),
                               rtol=1e-10, atol=1e-12)
    with pytest.raises(NotImplementedError, match="does not decompose"):
        model.embed(b, "brand")


def test_oracle_unavailable_without_latent_views(small):
    saved = small.features
    try:
        small.features = FeatureSet({k: v for k, v in saved.views.items() if not k.startswith("latent.")})
        with pytest.raises(ModelUnavailable):
            fit_model(create("oracle"), small)
        result = run_model("oracle", small, n_bootstrap=10)
        assert result.evaluation is None and "synthetic" in result.unavailable
    finally:
        small.features = saved


def test_oracle_unavailable_on_tiny_dataset():
    from tests.conftest import make_tiny_dataset

    ds = make_tiny_dataset()
    with pytest.raises(ModelUnavailable):
        create("oracle").fit(ds.cooperations("train"), ds.features)


def test_cosine_ignores_latent_views(small):
    # latent views are not standard views: COSINE has nothing to use in the generated feature set
    with pytest.raises(ModelUnavailable):
        fit_model(create("cosine"), small).score(["b0000"], ["m0000000"])
