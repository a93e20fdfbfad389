"""Category affinity (ours, not in MORNING): F_cat(b, m) = s * log p(category(b) | m).

A linear classifier (or an MLP with ``layers``) over the influencer's prepared, masked inputs
(concatenated, (n, d_in)) predicts the brand category among the TRAINING brands' categories,
log-softmax (n, n_cat); the influencer side is s * log p(. | m) with a learned scale s > 0
(starting at ``weight``), the brand side the one-hot of the brand's category (zeros for a category
the model never saw: no prior), so the term is an inner product. ``aux`` weights a
cross-entropy -log p(category(b) | m+) on each batch's (brand, positive) rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn as nn

from brandmatch.errors import ModelUnavailable
from brandmatch.models.layers import MLP
from brandmatch.models.params import Param
from brandmatch.models.terms.base import VIEW_ORDER, Accounts, FitContext, InputNorm, ScoreTerm, standard_stats


class CategoryTerm(ScoreTerm):
    """s * log p(category(b) | m); part ``cat``."""

    kind = "category"
    summary = "category affinity: s * log p(category(b) | influencer features)"
    PARAMS = (
        Param("views", None, "names", "ours: views whose inputs feed the classifier (null: all usable)",
              choices=VIEW_ORDER, nullable=True),
        Param("layers", [], "ints", "ours: hidden widths of the classifier ([] = linear)", low=1),
        Param("weight", 0.1, "float", "ours: initial scale s (learned)", low=0.0, low_open=True),
        Param("aux", 0.0, "float", "ours: weight of -log p(category(b) | m+) on the positives", low=0.0),
        Param("dropout", 0.5, "float", "sec. V-A rate, between hidden layers only", low=0.0, high=0.99),
        Param("input_norm", "standard", "str", "ours: input preparation", choices=("none", "l2", "standard")),
    )

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.categories_: list[str] = []
        self.brand_category_: dict[str, str] = {}

    def prepare(self, ctx: FitContext) -> None:
        self.choose_inputs(ctx)
        self.categories_ = sorted({c for b in ctx.brands if (c := ctx.brand_category.get(b)) is not None})
        if not self.categories_:
            raise ModelUnavailable("term 'category': the training brands have no categories")
        self.brand_category_ = {b: c for b, c in ctx.brand_category.items() if c in self.categories_}
        self.build()
        if self.params["input_norm"] == "standard":
            self.norm.fit(standard_stats(ctx.features, ctx.brands + ctx.influencers, self.feature_names))

    def build(self) -> None:
        dims = {n: d for inp in self.inputs_.values() for n, d in inp.items()}
        p = self.params
        self.norm = InputNorm(p["input_norm"], dims)
        self.classifier = MLP(sum(dims.values()), [*p["layers"], len(self.categories_)], slope=0.01,
                              dropout=p["dropout"], dropout_mode="dropout", final_activation=False)
        self.log_scale = nn.Parameter(torch.tensor(float(np.log(p["weight"]))))

    def layout(self) -> dict[str, Any]:
        return {**super().layout(), "categories": self.categories_, "brand_category": self.brand_category_}

    def load_layout(self, layout: dict[str, Any]) -> None:
        super().load_layout(layout)
        self.categories_ = list(layout.get("categories", []))
        self.brand_category_ = dict(layout.get("brand_category", {}))

    @property
    def parts(self) -> list[str]:
        return ["cat"] if self.inputs_ else []

    def log_p(self, acc: Accounts) -> torch.Tensor:
        """(n, n_cat) log p(category | account inputs); absent inputs enter as zeros."""
        parts = [self.norm(acc, n) * acc.present[n].unsqueeze(-1).to(acc.x[n].dtype) for n in self.feature_names]
        return torch.log_softmax(self.classifier(torch.cat(parts, dim=-1)), dim=-1)

    def onehot(self, ids: list[str]) -> torch.Tensor:
        """(n, n_cat) one-hot of each brand's category (zero row when unknown)."""
        index = {c: i for i, c in enumerate(self.categories_)}
        out = torch.zeros(len(ids), len(self.categories_))
        for r, b in enumerate(ids):
            c = index.get(self.brand_category_.get(b))
            if c is not None:
                out[r, c] = 1.0
        return out

    def brand_side(self, acc: Accounts) -> dict[str, torch.Tensor]:
        return {"cat": self.onehot(acc.ids)}

    def influencer_side(self, acc: Accounts) -> dict[str, torch.Tensor]:
        return {"cat": self.log_p(acc) * torch.exp(self.log_scale)}

    def aux_loss(self, brands: Accounts, positives: Accounts) -> torch.Tensor | None:
        if not self.params["aux"]:
            return None
        target = self.onehot(brands.ids)
        known = target.sum(-1) > 0
        if not known.any():
            return None
        lp = (self.log_p(positives) * target).sum(-1)
        return -self.params["aux"] * lp[known].mean()
