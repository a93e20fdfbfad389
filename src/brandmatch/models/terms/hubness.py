"""Hubness correction (ours, after CSLS: Conneau et al., "Word translation without parallel data",
ICLR 2018, eq. 6): an influencer that resembles many known brands is a hub, ranked high for every
brand; the term lowers it by its mean similarity to its k nearest training brands.

CSLS(b, m) = 2 cos(b, m) - r(m) - r(b), r(m) = mean of the k largest cos(b', m) over the
reference brands b'. r(b) is one constant per brand and changes no brand's ranking, so the term is

    F_hub(b, m) = -alpha * r(m),   r(m) = mean_{b' in top-k training brands of m} s(b', m)

with s the training-free COSINE of the term's inputs (the sum over inputs of unit-vector cosines,
``sqrt`` inputs as Hellinger, as in :mod:`brandmatch.models.terms.cosine`). CSLS's weighting (2 cos
- r) is alpha = 0.5 against a COSINE of weight 1, and its default k is 10.

The term is *post hoc*: it has no parameter to learn and the training path leaves its part out
(``post_hoc``). In training the reference brands include the brand of every training pair, so
r(m) of a training positive contains that pair's own similarity; a penalty seen during training
would also be learnt away by the other terms. The fitted model's score, embeddings, index and
explanations include it. Brand side: the constant 1 (n, 1); influencer side: -alpha * r(m) (n, 1);
part ``hub``. Buffer ``reference`` (n_reference_brands, D): the training brands' COSINE vectors.
"""

from __future__ import annotations

from typing import Any

import torch

from brandmatch.errors import ModelUnavailable
from brandmatch.models.params import Param
from brandmatch.models.terms.base import FEATURE_NAMES, VIEW_ORDER, Accounts, FitContext, ScoreTerm, \
    lookup_accounts
from brandmatch.models.terms.cosine import CosineTerm


class HubnessTerm(ScoreTerm):
    """-alpha x (mean COSINE of the influencer to its k nearest training brands); part ``hub``."""

    kind = "hubness"
    summary = "hubness correction (CSLS): minus the influencer's mean COSINE to its k nearest training brands"
    post_hoc = True
    PARAMS = (
        Param("views", None, "names", "ours: the views whose inputs measure similarity (null: every usable view)",
              choices=VIEW_ORDER, nullable=True),
        Param("k", 10, "int", "CSLS (Conneau et al. 2018): nearest reference brands averaged", low=1),
        Param("alpha", 0.5, "float", "CSLS: weight of r(m) against a COSINE of weight 1 (2 cos - r: 0.5)",
              low=0.0),
        Param("sqrt", [], "names", "ours: inputs square-rooted before the cosine (Hellinger)", choices=FEATURE_NAMES),
    )

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.n_reference_: int = 0
        self.similarity = CosineTerm(views=self.params["views"], weights="fixed", sqrt=self.params["sqrt"])

    def prepare(self, ctx: FitContext) -> None:
        self.choose_inputs(ctx)
        if not ctx.brands:
            raise ModelUnavailable("term 'hubness': needs training brands as the reference")
        self.n_reference_ = len(ctx.brands)
        self.build()
        brands = lookup_accounts(ctx.features, list(ctx.brands), self.feature_names)
        with torch.no_grad():
            self.reference.copy_(self._cosine_vectors(brands))

    def build(self) -> None:
        self.similarity.inputs_ = self.inputs_
        self.similarity.build()
        dim = sum(d for inputs in self.inputs_.values() for d in inputs.values())
        self.register_buffer("reference", torch.zeros(self.n_reference_, dim))

    def layout(self) -> dict[str, Any]:
        return {**super().layout(), "n_reference": self.n_reference_}

    def load_layout(self, layout: dict[str, Any]) -> None:
        super().load_layout(layout)
        self.n_reference_ = int(layout.get("n_reference", 0))

    @property
    def parts(self) -> list[str]:
        return ["hub"] if self.inputs_ else []

    def _cosine_vectors(self, acc: Accounts) -> torch.Tensor:
        """(n, D) COSINE vectors: <row(b), row(m)> is the sum over inputs of unit cosines."""
        side = self.similarity.side(acc)
        return torch.cat([side[p] for p in self.inputs_], dim=-1)

    def hub_scores(self, acc: Accounts) -> torch.Tensor:
        """r(m): (n,) mean of the k largest COSINE similarities to the reference brands."""
        sims = self._cosine_vectors(acc).double() @ self.reference.double().T
        k = min(self.params["k"], sims.shape[1])
        return sims.topk(k, dim=1).values.mean(dim=1).float()

    def brand_side(self, acc: Accounts) -> dict[str, torch.Tensor]:
        return {"hub": torch.ones(len(acc), 1)}

    def influencer_side(self, acc: Accounts) -> dict[str, torch.Tensor]:
        return {"hub": -self.params["alpha"] * self.hub_scores(acc).unsqueeze(1)}
