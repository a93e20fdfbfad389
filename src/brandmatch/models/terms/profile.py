"""Partner profile (ours, not in MORNING): a two-hop signal through similar training brands.

P_v(b) = unit( sum_b' w(b, b') mean_{m' partner of b' in TRAINING} unit(x_m'^v) ),
w(b, .) = softmax over training brands b' != b of sum_u cos(x_b^u, x_b'^u) / tau

(u: every feature view present for the training brands, v: the term's inputs). A training brand
is left out of its own profile (leave-one-out), so its profile never contains its own partners.
F_prof(b, m) = sum_v <P_v(b) o w_v, unit(x_m^v) o w_v>, w_v = exp(l_v / 2) per dimension,
starting at sqrt(``weight``). Buffers: ``sim_<u>`` (n_train_brands, d_u) unit brand features,
``partner_<v>`` (n_train_brands, d_v) mean unit features of each training brand's partners.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as tf

from brandmatch.errors import ModelUnavailable
from brandmatch.models.params import Param
from brandmatch.models.terms.base import FEATURE_NAMES, VIEW_ORDER, Accounts, FitContext, ScoreTerm


def unit_rows(acc: Accounts, name: str) -> torch.Tensor:
    """(n, d) unit rows of input ``name``, zero where absent."""
    return tf.normalize(acc.x[name], dim=-1) * acc.present[name].unsqueeze(-1).to(acc.x[name].dtype)


class ProfileTerm(ScoreTerm):
    """Two-hop partner profile; part ``prof``."""

    kind = "profile"
    summary = "partner profile: the influencer vs the partners of similar training brands"
    PARAMS = (
        Param("views", None, "names", "ours: views whose inputs are profiled (null: all usable)",
              choices=VIEW_ORDER, nullable=True),
        Param("tau", 0.05, "float", "ours: softmax temperature of the brand-brand cosine", low=0.0, low_open=True),
        Param("weight", 0.3, "float", "ours: initial per-dimension weight (learned)", low=0.0, low_open=True),
    )

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.brands_: list[str] = []
        self.sim_dims_: dict[str, int] = {}

    def prepare(self, ctx: FitContext) -> None:
        self.choose_inputs(ctx)
        if ctx.train is None or len(ctx.train) == 0:
            raise ModelUnavailable("term 'profile': needs training cooperations")
        self.brands_ = list(ctx.brands)
        self.sim_dims_ = {n: ctx.features[n].dim for n in FEATURE_NAMES
                          if n in ctx.features and ctx.features[n].lookup(self.brands_)[1].any()}
        self.build()
        from brandmatch.models.terms.base import lookup_accounts

        brands = lookup_accounts(ctx.features, self.brands_, list(self.sim_dims_))
        row = {b: i for i, b in enumerate(self.brands_)}
        infs = list(dict.fromkeys(ctx.train.influencer_ids.tolist()))
        col = {m: j for j, m in enumerate(infs)}
        partners = np.zeros((len(self.brands_), len(infs)))
        partners[[row[b] for b in ctx.train.brand_ids.tolist()], [col[m] for m in ctx.train.influencer_ids.tolist()]] = 1
        partners /= np.maximum(partners.sum(axis=1, keepdims=True), 1.0)
        members = lookup_accounts(ctx.features, infs, self.feature_names)
        with torch.no_grad():
            for n in self.sim_dims_:
                getattr(self, f"sim_{n}").copy_(unit_rows(brands, n))
            for n in self.feature_names:
                mean = torch.from_numpy(partners) @ unit_rows(members, n).double()
                getattr(self, f"partner_{n}").copy_(mean.float())

    def build(self) -> None:
        nb = len(self.brands_)
        for n, d in self.sim_dims_.items():
            self.register_buffer(f"sim_{n}", torch.zeros(nb, d))
        for n, d in ((n, d) for inp in self.inputs_.values() for n, d in inp.items()):
            self.register_buffer(f"partner_{n}", torch.zeros(nb, d))
        start = float(np.log(self.params["weight"]))
        self.log_w = nn.ParameterDict({n: nn.Parameter(torch.full((d,), start))
                                       for inp in self.inputs_.values() for n, d in inp.items()})

    def layout(self) -> dict[str, Any]:
        return {**super().layout(), "brands": self.brands_, "sim_dims": self.sim_dims_}

    def load_layout(self, layout: dict[str, Any]) -> None:
        super().load_layout(layout)
        self.brands_ = list(layout.get("brands", []))
        sim = layout.get("sim_dims", {})
        self.sim_dims_ = {n: int(sim[n]) for n in FEATURE_NAMES if n in sim}

    @property
    def parts(self) -> list[str]:
        return ["prof"] if self.inputs_ else []

    @property
    def required_inputs(self) -> list[str]:
        return list(dict.fromkeys([*self.feature_names, *self.sim_dims_]))

    def profiles(self, acc: Accounts) -> dict[str, torch.Tensor]:
        """Fixed (no gradient) profiles P_v of the brands in ``acc``: name -> (n, d_v)."""
        with torch.no_grad():
            s = torch.zeros(len(acc), len(self.brands_), dtype=torch.float64)
            for n in self.sim_dims_:
                s += unit_rows(acc, n).double() @ getattr(self, f"sim_{n}").double().T
            logits = s / self.params["tau"]
            row = {b: i for i, b in enumerate(self.brands_)}
            for r, b in enumerate(acc.ids):
                if b in row:
                    logits[r, row[b]] = -torch.inf  # leave-one-out
            w = torch.softmax(logits, dim=1)
            return {n: tf.normalize(w @ getattr(self, f"partner_{n}").double(), dim=-1).float()
                    for n in self.feature_names}

    def brand_side(self, acc: Accounts) -> dict[str, torch.Tensor]:
        prof = self.profiles(acc)
        return {"prof": torch.cat([prof[n] * torch.exp(0.5 * self.log_w[n]) for n in self.feature_names], dim=-1)}

    def influencer_side(self, acc: Accounts) -> dict[str, torch.Tensor]:
        return {"prof": torch.cat([unit_rows(acc, n) * torch.exp(0.5 * self.log_w[n]) for n in self.feature_names],
                                  dim=-1)}
