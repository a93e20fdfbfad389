"""Weighted cosine of raw feature views (ours, not in MORNING): training-free COSINE and its learned
reweighting.

For every input v (a feature view) of a part p:

    s_v(b, m) = <u_v(b) o w_v, u_v(m) o w_v>,  u_v(a) = unit(T_v(x_a^v)) if x_a^v present, else 0

so sum_v s_v is COSINE with w_v = 1. ``weights``: "fixed" (w_v = 1: COSINE), "learned" (one
scalar w_v^2 = exp(l_v) per input, starting at 1), "diagonal" (one weight per dimension, starting
at 1), "linear" (u A A^T u', A starting at the identity). ``fixed_views``: parts whose weights stay
1. T_v is the identity, or the square root (``sqrt``: the Hellinger / Bhattacharyya affinity of
probability vectors such as LDA topic proportions), then minus the training accounts' mean
(``center``). A view absent for either account contributes nothing to the pair.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as tf

from brandmatch.models.params import Param
from brandmatch.models.terms.base import FEATURE_NAMES, VIEW_ORDER, Accounts, FitContext, ScoreTerm


class CosineTerm(ScoreTerm):
    """Per-input cosine with fixed or learned weights; brand side == influencer side."""

    kind = "cosine"
    summary = "weighted cosine of each raw feature view (COSINE, or learned view/dimension weights)"
    symmetric = True
    PARAMS = (
        Param("views", None, "names", "ours: the views whose inputs are compared (null: every usable view)",
              choices=VIEW_ORDER, nullable=True),
        Param("weights", "learned", "str", "ours: fixed (= COSINE), learned per input, diagonal per dimension, "
              "linear map", choices=("fixed", "learned", "diagonal", "linear")),
        Param("fixed_views", [], "names", "ours: views whose weights stay 1", choices=VIEW_ORDER),
        Param("sqrt", [], "names", "ours: inputs square-rooted before the cosine (Hellinger)", choices=FEATURE_NAMES),
        Param("center", [], "names", "ours: inputs centred on the training accounts' mean", choices=FEATURE_NAMES),
    )

    def prepare(self, ctx: FitContext) -> None:
        super().prepare(ctx)
        with torch.no_grad():
            for n in self._centered:
                values, mask = ctx.features[n].lookup(ctx.brands + ctx.influencers)
                v = values[mask].astype(np.float64)
                if n in self.params["sqrt"]:
                    v = np.sqrt(np.maximum(v, 0.0))
                mean = v.mean(axis=0) if len(v) else np.zeros(values.shape[1])
                getattr(self, f"center_{n}").copy_(torch.from_numpy(mean.astype(np.float32)))

    @property
    def _centered(self) -> list[str]:
        return [n for n in self.feature_names if n in self.params["center"]]

    def build(self) -> None:
        mode = self.params["weights"]
        self.log_w = nn.ParameterDict()
        self.linear = nn.ParameterDict()
        for part, inputs in self.inputs_.items():
            learn = mode != "fixed" and part not in self.params["fixed_views"]
            for n, d in inputs.items():
                shape = (d,) if mode == "diagonal" and learn else ()
                self.log_w[n] = nn.Parameter(torch.zeros(shape), requires_grad=learn and mode != "linear")
                if mode == "linear":
                    self.linear[n] = nn.Parameter(torch.eye(d), requires_grad=learn)
        for n in self._centered:
            d = next(inp[n] for inp in self.inputs_.values() if n in inp)
            self.register_buffer(f"center_{n}", torch.zeros(d))

    def unit(self, acc: Accounts, name: str) -> torch.Tensor:
        """(n, d) unit rows of T(x) for input ``name``, zero rows where absent."""
        x = acc.x[name]
        if name in self.params["sqrt"]:
            x = torch.sqrt(torch.clamp(x, min=0.0))
        if name in self._centered:
            x = x - getattr(self, f"center_{name}")
        return tf.normalize(x, dim=-1) * acc.present[name].unsqueeze(-1).to(x.dtype)

    def side(self, acc: Accounts) -> dict[str, torch.Tensor]:
        out = {}
        for part, inputs in self.inputs_.items():
            pieces = []
            for n in inputs:
                u = self.unit(acc, n)
                if n in self.linear:
                    u = u @ self.linear[n]
                pieces.append(u * torch.exp(0.5 * self.log_w[n]))
            out[part] = torch.cat(pieces, dim=-1)
        return out

    def brand_side(self, acc: Accounts) -> dict[str, torch.Tensor]:
        return self.side(acc)

    def influencer_side(self, acc: Accounts) -> dict[str, torch.Tensor]:
        return self.side(acc)
