"""MIR (Gan et al., "Seeking Micro-influencers for Brand Promotion", ACM MM 2019).

Representation: social account history pooling of the posts' visual and textual features (the
pooled feature views), separate brand / influencer towers per modality and low-rank bilinear
(Hadamard) fusion, F(b, m) = mean_d z_b[d] z_m[d] -- the ``bilinear`` term
(:mod:`brandmatch.models.terms.bilinear`), so F = embed(b, "brand") . embed(m, "influencer").

Objective (run by the training workflow): K-buckets lists (sampler ``k_buckets``,
:class:`~brandmatch.training.samplers.KBucketsSampler`) labelled by each partner's competence
score, and the modified listwise loss ``mir_listwise`` (softmax cross-entropy on K-item lists,
summed over the batch) plus lambda * L1 on the weight matrices.

Competence score (the ranking label), from :meth:`MirRanker.training_cooperations`:

- cooperations with scores (the public data: MIR's own scores from ``pre_dataset*.xls``, carried
  by the importer into the cooperations table's ``score`` column; only the training brands' rows
  reach the model) are used as they are;
- otherwise (the synthetic world) competence is computed from engagement as the paper defines it
  as far as the data allows: the paper's c(b, m) = mean over b's posts mentioning m of
  (likes + comments) / followers_b needs brand posts that mention influencers, which the synthetic
  world does not have, so we use the spec's fallback (baselines-spec sec. 2.6), the influencer's
  engagement rate (likes + comments per post) / followers from the ``activity`` view;
- without either, every partner is equally competent (``competence_ = "equal"``).

Choices where the spec is uncertain (baselines-spec sec. 2.7-2.9): K-buckets reconstruction A
(K - 1 competence buckets of a brand's partners + one bucket of non-partners, labels = competence
normalised within the list; ``construction="one_positive"`` is reconstruction B: one partner and
K - 1 non-partners); ``lists_per_positive`` = 1 list per training pair per epoch (the spec
suggests ~5); Adam (the workflow's optimizer; the authors used plain SGD) with the code's base lr 0.001 and
x0.99 decay per epoch (the code: x0.99 per 400 steps); L1 0.001 (the K = 2, 3 scripts); model
selection on validation brands (the authors evaluated on the test list).

Recipes (``src/brandmatch/recipes/mir/{k2,k3,k4}.toml``, ``brandmatch train --model mir --recipe
k3``): the paper's K = 2, 3, 4 with the authors' per-K scripts' lr and L1, and ``visual_hidden``
512 for a CPU budget (reason in each file's ``source``). Without a recipe the defaults below are
the paper's (K = 4, 4,096-wide visual towers). HPTR, CATR and CAMERA take a recipe the same way
(``cpu``: narrower layers).
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np

from brandmatch.data.schema import CooperationSet
from brandmatch.errors import ModelUnavailable
from brandmatch.features.activity import ACTIVITY_COLUMNS
from brandmatch.features.store import FeatureSet
from brandmatch.models.base import register
from brandmatch.models.composed import ComposedRanker, LossSpec, TrainingSpec
from brandmatch.models.params import Param, describe, resolve
from brandmatch.models.recipes import RecipeParams, recipe_config
from brandmatch.models.terms.base import ScoreTerm
from brandmatch.models.terms.bilinear import PART, BilinearTerm

METRICS = ("AUC", "cAUC", "R@10", "R@50", "MRR", "MAP", "MedR", "NDCG@10")
#: the bilinear term's parameters, exposed flat on MIR-like models (``reduce`` is fixed per model)
TERM_PARAMS = tuple(p for p in BilinearTerm.PARAMS if p.name != "reduce")


def engagement_rate(features: FeatureSet, ids: Sequence[str]) -> np.ndarray:
    """(likes + comments per post) / followers from the ``activity`` view: (n,) float64, NaN where unknown."""
    values, mask = features["activity"].lookup(list(ids))
    followers, likes, comments = (values[:, ACTIVITY_COLUMNS.index(c)].astype(np.float64)
                                  for c in ("followers", "likes_per_post", "comments_per_post"))
    ok = mask & (followers > 0)
    return np.where(ok, (likes + comments) / np.where(ok, followers, 1.0), np.nan)


class BilinearRanker(RecipeParams, ComposedRanker):
    """Models on MIR's account representation: flat parameters, the ``bilinear`` term only."""

    learns = True
    OWN: ClassVar[tuple[Param, ...]] = ()
    REDUCE: ClassVar[str] = "mean"

    def __init__(self, recipe: str | None = None, **params: Any):
        super().__init__()
        self.recipe = recipe
        self.recipe_info_, values, owner = recipe_config(self.name, recipe, params)
        self.config = resolve(owner, self.PARAMS, values)

    @classmethod
    def describe_params(cls) -> list[str]:
        return describe(cls.PARAMS)

    def make_terms(self) -> list[ScoreTerm]:
        return [BilinearTerm(**{p.name: self.config[p.name] for p in TERM_PARAMS}, reduce=self.REDUCE)]

    def wanted_inputs(self) -> dict[str, tuple[str, ...]]:
        c = self.config
        return {PART: tuple(dict.fromkeys([*c["visual_views"], *c["text_views"], *c["extra_views"]]))}

    def usable_layout(self, features: FeatureSet, brands: Sequence[str], influencers: Sequence[str]) -> None:
        """Inputs present for a training brand OR a training influencer (the towers are per role)."""
        inputs = {n: features[n].dim for n in self.wanted_inputs()[PART]
                  if n in features and (features[n].lookup(list(brands))[1].any()
                                        or features[n].lookup(list(influencers))[1].any())}
        if not inputs:
            raise ModelUnavailable(f"{self.name}: no usable feature view (need one of "
                                   f"{', '.join(self.wanted_inputs()[PART])})")
        self.layout_, self.dropped_ = {PART: inputs}, {}


@register
class MirRanker(BilinearRanker):
    """MIR(K): history pooling, bilinear fusion, K-buckets lists, modified listwise loss."""

    name = "mir"
    summary = "MIR: history-pooled visual+text towers, bilinear fusion, K-buckets listwise ranking"
    OWN = (
        Param("k", 4, "int", "Table 1: list length K of the K-buckets sampling (2, 3, 4; K = 4 best)", low=2),
        Param("construction", "buckets", "str", "sec. 2.7: K-buckets lists (reconstruction A) or one partner + "
              "K - 1 non-partners (reconstruction B)", choices=("buckets", "one_positive")),
        Param("labels", "competence", "str", "sec. 2.7: list labels = normalised competence (or bucket grades)",
              choices=("competence", "grade")),
        Param("lists_per_positive", 1, "int", "sec. 2.7 (reconstruction A): lists per training pair per epoch "
              "(the spec suggests ~5; 1: an epoch is one pass over the pairs, as for the pair samplers)",
              low=1),
        Param("reduction", "sum", "str", "sec. 2.8: loss summed over the batch's lists (or mean)",
              choices=("sum", "mean")),
        Param("l1", 0.001, "float", "sec. 2.8: lambda of L1 on the weight matrices (K = 2, 3 scripts)", low=0.0),
        Param("lr", 0.001, "float", "sec. 2.9: base learning rate (Adam here; the code: plain SGD)", low=0.0,
              low_open=True),
        Param("lr_decay", 0.99, "float", "sec. 2.9: x0.99 (per 400 steps in the code; per epoch here)", low=0.0,
              high=1.0, low_open=True),
        Param("batch_size", 64, "int", "sec. 2.9: 64 lists per batch", low=1),
        Param("epochs", 30, "int", "sec. 2.9: 30 epochs", low=1),
        Param("weight_decay", 0.0, "float", "ours: Adam weight decay", low=0.0),
        Param("patience", 5, "int", "ours: epochs without validation gain before stopping (null: never)", low=1,
              nullable=True),
        Param("select_metric", "MAP", "str", "ours: validation metric that selects the epoch (the code: test list)",
              choices=METRICS, nullable=True),
        Param("seed", 0, "int", "ours: seed of initialisation, sampling and dropout", low=0),
    )
    PARAMS = (*OWN, *TERM_PARAMS)

    def __init__(self, recipe: str | None = None, **params: Any):
        super().__init__(recipe, **params)
        self.competence_: str | None = None

    def training_cooperations(self, train: CooperationSet, features: FeatureSet) -> CooperationSet:
        """The training pairs with competence scores (see the module docstring for the source)."""
        if train.scores is not None and np.isfinite(train.scores).any():
            self.competence_ = "cooperations"
            return train
        if "activity" in features:
            rate = engagement_rate(features, train.influencer_ids.tolist())
            if np.isfinite(rate).any():
                self.competence_ = "engagement"
                return CooperationSet(train.brand_ids, train.influencer_ids, rate)
        self.competence_ = "equal"
        return CooperationSet(train.brand_ids, train.influencer_ids, np.ones(len(train)))

    def training_spec(self) -> TrainingSpec:
        c = self.config
        return TrainingSpec(sampler="k_buckets",
                            sampler_options={"k": c["k"], "lists_per_positive": c["lists_per_positive"],
                                             "labels": c["labels"], "construction": c["construction"]},
                            losses=(LossSpec("mir_listwise", 1.0, None, {"reduction": c["reduction"]}),),
                            epochs=c["epochs"], batch_size=c["batch_size"], lr=c["lr"], lr_decay=c["lr_decay"],
                            weight_decay=c["weight_decay"], l1=c["l1"], patience=c["patience"],
                            select_metric=c["select_metric"], seed=c["seed"])

    def extra_config(self) -> dict[str, Any]:
        return {**super().extra_config(), "competence": self.competence_}

    def load_extra_config(self, extra: dict[str, Any]) -> None:
        super().load_extra_config(extra)
        self.competence_ = extra.get("competence")
