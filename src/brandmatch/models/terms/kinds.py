"""Learned kind compatibility (ours, not in MORNING; issue 12 item 2): part ``kind``.

Each account is soft-assigned to K latent *kinds* from all its (z-scored, masked) feature views,
and a learned K x K matrix C says how well a kind of brand works with a kind of influencer:

    x(a)  = [z_v(a) for v in inputs]                         (n, d_in), z-scores on training accounts
    p_r(a) = softmax(W_r dropout(x(a)) / tau)                 (n, K),   r = brand / influencer encoder
    F_kind(b, m) = s * p_b(b)^T C p_m(m)                      C: (K, K), s = ``scale`` (fixed)

brand side  B = s p_b C  (n, K),  influencer side  M = p_m  (n, K), so F_kind = <B(b), M(m)> and the
composed ranker's score == embed(b) @ embed(m).T holds. ``assign="linear"`` drops the softmax
(p = W x / tau: a rank-K bilinear form x_b^T W_b^T C W_m x_m over the concatenated views, the
issue's "low-rank bilinear over attribute and topic vectors"). ``shared=true`` uses one encoder
W for both roles (brands are few and never-seen brands must be placed by the same map that the
many influencers train); ``shared=false`` gives each role its own W_r.

Regularisation for brands never seen in training: dropout on the inputs (``input_dropout``),
a squared-Frobenius penalty l2 * (||C||^2 + ||W||^2) added to each batch's loss (``l2``), small K.
C starts at ``init_scale`` * I (``init="identity"``: homophily, like kinds match like) or 0
(``"zero"``); W ~ N(0, 1 / d_in). An account with none of the inputs present gets zero sides.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as tf

from brandmatch.models.params import Param
from brandmatch.models.terms.base import VIEW_ORDER, Accounts, FitContext, InputNorm, ScoreTerm, standard_stats

PART = "kind"


class KindsTerm(ScoreTerm):
    """p_b^T C p_m over K learned kinds; part ``kind``."""

    kind = "kinds"
    summary = "learned kind compatibility: softmax(W x / tau) kinds per account, F = p_b^T C p_m"
    PARAMS = (
        Param("views", ["att"], "names", "ours: views whose inputs assign kinds (null: all usable); att: "
              "best on the synthetic world's validation grid (all views: the 1,365-d visual inputs overfit)",
              choices=VIEW_ORDER, nullable=True),
        Param("k", 32, "int", "ours: number of latent kinds K (both roles); 32 > 16 on synthetic validation", low=1),
        Param("assign", "linear", "str", "ours: softmax = soft kinds; linear = rank-K bilinear form (better on "
              "synthetic validation)", choices=("softmax", "linear")),
        Param("tau", 1.0, "float", "ours: softmax temperature of the kind assignment", low=0.0, low_open=True),
        Param("shared", True, "bool", "ours: one encoder W for brands and influencers"),
        Param("input_dropout", 0.2, "float", "ours: dropout rate on the z-scored inputs", low=0.0, high=0.99),
        Param("l2", 1e-3, "float", "ours: l2 * (||C||_F^2 + ||W||_F^2) added to every batch's loss", low=0.0),
        Param("init", "zero", "str", "ours: C's start, init_scale * I or zeros (zero: the term starts silent)",
              choices=("identity", "zero")),
        Param("init_scale", 0.5, "float", "ours: C = init_scale * I at the start (init identity)", low=0.0),
        Param("input_norm", "standard", "str", "ours: input preparation", choices=("none", "l2", "standard")),
        Param("scale", 1.0, "float", "ours: fixed factor s on F_kind (Adam moves C and W by ~lr per step whatever "
              "their gradient, so s sets how fast the term can grow against the other terms)", low=0.0, low_open=True),
    )

    def prepare(self, ctx: FitContext) -> None:
        self.choose_inputs(ctx)
        self.build()
        if self.params["input_norm"] == "standard":
            self.norm.fit(standard_stats(ctx.features, ctx.brands + ctx.influencers, self.feature_names))

    def build(self) -> None:
        p = self.params
        dims = {n: d for inp in self.inputs_.values() for n, d in inp.items()}
        d_in, k = sum(dims.values()), p["k"]
        self.norm = InputNorm(p["input_norm"], dims)
        roles = ("shared",) if p["shared"] else ("brand", "influencer")
        self.encoders = nn.ModuleDict({r: nn.Linear(max(d_in, 1), k) for r in roles})
        with torch.no_grad():
            for enc in self.encoders.values():
                enc.weight.normal_(0.0, 1.0 / math.sqrt(max(d_in, 1)))
                enc.bias.zero_()
        start = torch.eye(k) * p["init_scale"] if p["init"] == "identity" else torch.zeros(k, k)
        self.compat = nn.Parameter(start)

    @property
    def parts(self) -> list[str]:
        return [PART] if self.inputs_ else []

    def assign(self, acc: Accounts, role: str) -> torch.Tensor:
        """(n, K) kind assignment p_r of the accounts (zero rows for accounts without any input)."""
        p = self.params
        pieces, present = [], torch.zeros(len(acc), dtype=torch.bool)
        for n in self.feature_names:
            pieces.append(self.norm(acc, n) * acc.present[n].unsqueeze(-1).to(acc.x[n].dtype))
            present = present | acc.present[n]
        x = torch.cat(pieces, dim=-1)
        if p["input_dropout"] > 0:
            x = tf.dropout(x, p["input_dropout"], self.training)
        logits = self.encoders["shared" if p["shared"] else role](x) / p["tau"]
        out = torch.softmax(logits, dim=-1) if p["assign"] == "softmax" else logits
        return out * present.unsqueeze(-1).to(out.dtype)

    def brand_side(self, acc: Accounts) -> dict[str, torch.Tensor]:
        return {PART: self.assign(acc, "brand") @ self.compat * self.params["scale"]}

    def influencer_side(self, acc: Accounts) -> dict[str, torch.Tensor]:
        return {PART: self.assign(acc, "influencer")}

    def aux_loss(self, brands: Accounts, positives: Accounts) -> torch.Tensor | None:
        l2 = self.params["l2"]
        if not l2:
            return None
        penalty = (self.compat ** 2).sum() + sum((enc.weight ** 2).sum() for enc in self.encoders.values())
        return l2 * penalty
