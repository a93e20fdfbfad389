"""Issue 12, "done when" 3: on a generated world whose audience carries no signal, the default recipe
is not worse than the best single-view COSINE on the test grid.

The world is the real generator's (``generate_to("small", SEED, w_audience=0,
audience_content_corr=0, ...)``): with ``w_audience = 0`` the audience term drops out of the latent
cooperation score and with ``audience_content_corr = 0`` every account's audience interests are
drawn independently of its content, so the audience views carry no information about who
cooperates with whom. The small preset is enlarged (72 brands, 24 of them test brands, 1,000
influencers, 20 posts per account, 10 audience members) so that the test grid (24 x ~360) is large
enough to compare models; the features come from the real pipeline (``featurize``: LDA topics with
a fixed number of topics, visual concepts, TF-IDF, attributes; no Word2Vec, no EfficientNet).

Uncertainty: every standard error (SE) here is a bootstrap over the test brands (2,000 resamples
with a fixed seed), of the micro-averaged AUC and of MAP, computed from the per-brand quantities of
``brand_quantities``. For a difference of two models the resampled brands are the same for both
(paired), so the SE is that of the difference.

* Premise: each audience view's COSINE test AUC lies within 0.5 +- 3 SE (a view at chance fails
  this with probability ~0.3%); each content view's is above 0.5 by more than 3 SE.
* Claim: the default MORNING recipe (``create("morning")``: recipe ``plus``, ``select = true``, its
  parameters as shipped, nothing overridden) reaches, on the test grid, an AUC and a MAP at least
  those of the best single-view COSINE minus ONE paired SE of the difference. The single views are
  every feature view the recipe can draw on (content_visual, content_text, content_text_tfidf,
  audience_visual, audience_text, audience_text_tfidf, attributes, and attributes_kinds where the
  pipeline writes it) and the COSINE of each MORNING view's inputs (c, au); "best" is chosen on the
  test grid itself, per metric, so the bar is optimistic for the single views (the maximum of nine
  or ten noisy estimates). A strict ``>=`` is not
  asserted: it holds on this seed but is noise-bound. Margin on seeds 0-4 of the same world (code
  with the hubness term and the selection's cAUC guard), as (default - best single) / paired SE:
  AUC +1.33 +1.32 -0.65 +1.35 +1.70, MAP +0.67 +0.31 -1.22 -0.20 -0.45; the one-SE tolerance fails
  on seed 2 (MAP; TF-IDF content alone is the test grid's best single view there). Before the
  hubness term (seeds 0-4): AUC +1.20 +0.83 -0.36 +1.27 -1.25, MAP +0.17 -0.44 +1.32 -0.10 -0.76,
  failing on seed 4 (AUC: the screening on the 12 validation brands left out the attributes view).
  With 800 influencers instead of 1,000 (seed 1) the screening left out the content view and MAP
  fell 2.3 SE below the best single view: the claim is about this world.
* The selection record shows the audience view left out by the screening and absent from the
  chosen views.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from brandmatch.data.store import load_dataset
from brandmatch.data.synthetic import generate_to
from brandmatch.evaluation.metrics import brand_quantities, grid_metrics
from brandmatch.features.pipeline import FeaturizeOptions, featurize
from brandmatch.models import create
from brandmatch.models.base import score_grid
from brandmatch.training.trainer import TrainingOptions
from brandmatch.training.workflow import fit_model

pytestmark = pytest.mark.slow

SEED = 0
#: the audience carries no signal about cooperations
NOISE_AUDIENCE = {"w_audience": 0.0, "audience_content_corr": 0.0}
#: the small preset, enlarged so that the test grid can tell models apart (see the module docstring)
SIZE = {"brands_per_category": 6, "test_brands": 24, "influencers": 1000, "posts_per_account": 20,
        "audience_size": 10}
N_BOOT = 2000
SINGLE_VIEWS = {
    "content_visual": ["content_visual"], "content_text": ["content_text"],
    "content_text_tfidf": ["content_text_tfidf"], "audience_visual": ["audience_visual"],
    "audience_text": ["audience_text"], "audience_text_tfidf": ["audience_text_tfidf"],
    "attributes": ["attributes"], "c": ["content_visual", "content_text"],
    "au": ["audience_visual", "audience_text"],
}
#: views only some feature pipelines write (bio kinds): compared with when present
OPTIONAL_SINGLE_VIEWS = ("attributes_kinds",)
AUDIENCE = ("audience_visual", "audience_text", "audience_text_tfidf", "au")
CONTENT = ("content_visual", "content_text", "content_text_tfidf", "c")


def _auc(q, idx=slice(None)):
    """Micro-averaged AUC (as grid_metrics) of the brands ``idx`` (rows of a bootstrap index: per row)."""
    return q.auc_hits[idx].sum(-1) / q.auc_pairs[idx].sum(-1)


def _map(q, idx=slice(None)):
    return q.average_precision[idx].mean(-1)


METRIC_FNS = {"AUC": _auc, "MAP": _map}


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    """The world, its features, every single-view COSINE and the default recipe, scored on the test grid."""
    out: Path = tmp_path_factory.mktemp("noise-audience") / "world"
    generate_to(out, "small", SEED, **NOISE_AUDIENCE, **SIZE)
    featurize(load_dataset(out), options=FeaturizeOptions(with_=("tfidf",), topics=10, seed=0, progress=False,
                                                          engine="local"))
    ds = load_dataset(out)
    test = ds.grid("test")
    assert test.labels.shape[0] == SIZE["test_brands"]
    assert (test.labels.sum(axis=1) > 0).all()  # every test brand has partners: every row counts

    def scored(model):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = score_grid(model, test)
        return {"metrics": grid_metrics(s, test.labels), "q": brand_quantities(s, test.labels)}

    singles = {}
    present = {n: [n] for n in OPTIONAL_SINGLE_VIEWS if n in ds.features.names()}
    for name, inputs in {**SINGLE_VIEWS, **present}.items():
        cos = create("cosine", views=inputs)
        fit_model(cos, ds)
        singles[name] = scored(cos)
    plus = create("morning")  # the default recipe, as shipped
    fit_model(plus, ds, TrainingOptions(progress=False))
    idx = np.random.default_rng(0).integers(0, SIZE["test_brands"], size=(N_BOOT, SIZE["test_brands"]))
    return {"ds": ds, "singles": singles, "plus": scored(plus), "model": plus, "idx": idx}


def test_the_world_is_what_the_claim_needs(results):
    ds, idx = results["ds"], results["idx"]
    cfg = ds.metadata["config"]
    assert cfg["w_audience"] == 0.0 and cfg["audience_content_corr"] == 0.0 and ds.metadata["seed"] == SEED
    for name, r in results["singles"].items():
        auc = r["metrics"]["AUC"]
        assert _auc(r["q"]) == pytest.approx(auc)  # the bootstrap statistic is grid_metrics' AUC
        se = float(_auc(r["q"], idx).std())
        print(f"{name}: test AUC {auc:.4f}, SE {se:.4f}")
        if name in AUDIENCE:
            assert abs(auc - 0.5) <= 3 * se, f"{name}: test AUC {auc:.3f} is not at chance (SE {se:.3f})"
        elif name in CONTENT:
            assert auc - 3 * se > 0.5, f"{name}: test AUC {auc:.3f} is not above chance (SE {se:.3f})"


def test_default_recipe_leaves_the_audience_out(results):
    model = results["model"]
    assert model.recipe == "plus" and model.config["select"] is True
    sel = model.selection_
    print({v: (r["auc"], r["kept"]) for v, r in sel["views"].items()}, sel["chosen"])
    assert sel["views"]["au"]["kept"] is False and "not above chance" in sel["views"]["au"]["why"]
    assert sel["views"]["c"]["kept"] is True
    chosen = sel["chosen"]["params"]["views"]
    assert "au" not in chosen and model.config["views"] == chosen
    assert not any(c.get("skipped") for c in sel["candidates"])  # the whole search ran within its budget


@pytest.mark.parametrize("metric", ["AUC", "MAP"])
def test_default_recipe_not_worse_than_the_best_single_view(results, metric):
    fn, idx, plus, singles = METRIC_FNS[metric], results["idx"], results["plus"], results["singles"]
    best = max(singles, key=lambda n: singles[n]["metrics"][metric])
    ours, theirs = plus["metrics"][metric], singles[best]["metrics"][metric]
    se = float((fn(plus["q"], idx) - fn(singles[best]["q"], idx)).std())
    print(f"{metric}: default recipe {ours:.4f}; single views " + ", ".join(
        f"{n} {r['metrics'][metric]:.4f}" for n, r in singles.items()) + f"; paired SE vs {best} {se:.4f}")
    assert 0 < se < 0.05  # a usable grid: the tolerance is small
    assert ours >= theirs - se, (f"{metric}: default recipe {ours:.4f} < best single view {best} {theirs:.4f} "
                                 f"minus one paired SE {se:.4f}")
