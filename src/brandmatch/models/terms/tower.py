"""MORNING's towers with co-attention (Wang et al., TMM 2022, eq. 7-24): parts c, au, att.

- content (``c``): e_c^p = sigma(X^p) (4-layer MLP 1024-1024-1024-512, eq. 7), e_c^t = mu(X^t)
  (2-layer MLP 128-512, eq. 8), e_c = (e_c^p W_1^p + b_1^p) o (e_c^t W_1^t + b_1^t), d_a = 512
  (low-rank bilinear fusion, eq. 9). A view with one usable modality runs on its projection alone.
- audience (``au``): the same with gamma(Y^t), omega(Y^p) and its own weights (eq. 10-12).
- attribute (``att``): e_s = beta(mean attribute embedding), beta 2-layer MLP 1024-512 (eq. 18).
- co-attention (eq. 20-24, only when both c and au run), per account:
  e_f = phi(e_c W_f^1 + b_f^1) o phi(e_u W_f^2 + b_f^2), w_c = softmax(e_c o e_f) * d_a,
  w_u = softmax(e_u o e_f) * d_a, e_c' = e_c o w_c, e_u' = e_u o w_u. ``coattention="code"``
  puts a sigmoid inside the softmax (the authors' reference code).

The paper shares one sigma, mu, omega, gamma, beta between brands and influencers, so the brand
side equals the influencer side and f, g, h (eq. 25-27) are inner products of the parts.
``scale`` (ours, not in the paper) multiplies both sides (scores scale with its square); with
``scale_learned`` it is a parameter, which lets the towers start as a small residual on another
term (the MORNING+ recipe).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn

from brandmatch.models.layers import MLP
from brandmatch.models.params import Param
from brandmatch.models.terms.base import VIEW_INPUTS, VIEW_ORDER, Accounts, FitContext, InputNorm, ScoreTerm, \
    standard_stats


class FusedView(nn.Module):
    """One two-modality view (eq. 7-9 / 10-12): towers + low-rank bilinear fusion into d_a.

    ``dims`` maps modality ('p' visual, 't' text) -> input width, only for usable modalities.
    """

    def __init__(self, dims: dict[str, int], visual_layers: Sequence[int], text_layers: Sequence[int], d_a: int,
                 **mlp: Any):
        super().__init__()
        self.modalities = [m for m in ("p", "t") if m in dims]
        self.towers = nn.ModuleDict()
        self.proj = nn.ModuleDict()
        for m in self.modalities:
            widths = visual_layers if m == "p" else text_layers
            self.towers[m] = MLP(dims[m], widths, final_activation=True, **mlp)
            self.proj[m] = nn.Linear(widths[-1], d_a)  # W_1^p, b_1^p / W_1^t, b_1^t

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """modality -> (n, d_m) inputs -> (n, d_a)."""
        out = None
        for m in self.modalities:
            z = self.proj[m](self.towers[m](inputs[m]))
            out = z if out is None else out * z  # Hadamard product (eq. 9)
        return out


class CoAttention(nn.Module):
    """Eq. 20-24; ``mode="code"`` puts a sigmoid inside the softmax (reference code)."""

    def __init__(self, d_a: int, mode: str = "paper"):
        super().__init__()
        self.f1 = nn.Linear(d_a, d_a)  # W_f^1, b_f^1
        self.f2 = nn.Linear(d_a, d_a)  # W_f^2, b_f^2
        self.mode = mode

    def weights(self, e_c: torch.Tensor, e_u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, d_a) x 2 -> attention weights w_c, w_u (n, d_a), each row summing to d_a."""
        d_a = e_c.shape[-1]
        e_f = torch.sigmoid(self.f1(e_c)) * torch.sigmoid(self.f2(e_u))  # eq. 20
        a_c, a_u = e_c * e_f, e_u * e_f
        if self.mode == "code":
            a_c, a_u = torch.sigmoid(a_c), torch.sigmoid(a_u)
        return torch.softmax(a_c, dim=-1) * d_a, torch.softmax(a_u, dim=-1) * d_a  # eq. 21-22

    def forward(self, e_c: torch.Tensor, e_u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w_c, w_u = self.weights(e_c, e_u)
        return e_c * w_c, e_u * w_u  # eq. 23-24


class TowerTerm(ScoreTerm):
    """MORNING's per-view towers, fusion and co-attention (eq. 7-27)."""

    kind = "tower"
    symmetric = True
    summary = "MORNING towers: MLPs per modality, low-rank bilinear fusion, co-attention (eq. 7-24)"
    PARAMS = (
        Param("views", list(VIEW_ORDER), "names", "Table IV: the views with a tower", choices=VIEW_ORDER),
        Param("d_a", 512, "int", "sec. V-A: dimension of e_c^a, e_u^a, e_s^a", low=1),
        Param("visual_layers", [1024, 1024, 1024, 512], "ints", "eq. 7, 11: sigma, omega widths", low=1),
        Param("text_layers", [128, 512], "ints", "eq. 8, 10: mu, gamma widths", low=1),
        Param("attribute_layers", [1024, 512], "ints", "eq. 18: beta widths (last = d of e_s)", low=1),
        Param("slope", 0.01, "float", "sec. V-A: leaky ReLU negative slope", low=0.0, high=1.0),
        Param("dropout", 0.5, "float", "sec. V-A: dropout rate", low=0.0, high=0.99),
        Param("dropout_mode", "dropout", "str", "sec. V-A (reference code: dropconnect)",
              choices=("dropout", "dropconnect")),
        Param("coattention", "paper", "str", "eq. 21-22 (reference code: sigmoid inside the softmax)",
              choices=("paper", "code")),
        Param("init_range", 0.1, "float", "sec. V-A: uniform(-r, r) init; 0 = PyTorch's default", low=0.0),
        Param("input_norm", "none", "str", "ours: inputs as given, unit rows, or z-scored on training accounts",
              choices=("none", "l2", "standard")),
        Param("scale", 1.0, "float", "ours: multiplier of both sides (scores scale with its square)", low=0.0,
              low_open=True),
        Param("scale_learned", False, "bool", "ours: learn the scale (towers as a residual on another term)"),
    )

    def prepare(self, ctx: FitContext) -> None:
        self.choose_inputs(ctx)
        self.build()
        if self.params["input_norm"] == "standard":
            self.norm.fit(standard_stats(ctx.features, ctx.brands + ctx.influencers, self.feature_names))
        r = self.params["init_range"]
        if r > 0:
            with torch.no_grad():
                for name, p in self.named_parameters():
                    if name != "scale":
                        p.uniform_(-r, r)  # sec. V-A

    def build(self) -> None:
        p = self.params
        mlp = dict(slope=p["slope"], dropout=p["dropout"], dropout_mode=p["dropout_mode"])
        self.views = nn.ModuleDict()
        for view, inputs in self.inputs_.items():
            if view == "att":
                (dim,) = inputs.values()
                self.views[view] = MLP(dim, p["attribute_layers"], final_activation=False, **mlp)
            else:
                vis, txt = VIEW_INPUTS[view]
                dims = {m: inputs[n] for m, n in (("p", vis), ("t", txt)) if n in inputs}
                self.views[view] = FusedView(dims, p["visual_layers"], p["text_layers"], p["d_a"], **mlp)
        self.coatt = CoAttention(p["d_a"], p["coattention"]) if "c" in self.views and "au" in self.views else None
        self.norm = InputNorm(p["input_norm"], {n: d for inp in self.inputs_.values() for n, d in inp.items()})
        self.scale = nn.Parameter(torch.tensor(float(p["scale"])), requires_grad=p["scale_learned"])

    def encode(self, acc: Accounts) -> dict[str, torch.Tensor]:
        """view -> (n, d) = e_c', e_u', e_s (eq. 9, 12, 18, 23-24) times ``scale``."""
        out: dict[str, torch.Tensor] = {}
        for view, inputs in self.inputs_.items():
            x = {n: self.norm(acc, n) for n in inputs}
            if view == "att":
                out[view] = self.views[view](x["attributes"])
            else:
                vis, txt = VIEW_INPUTS[view]
                out[view] = self.views[view]({m: x[n] for m, n in (("p", vis), ("t", txt)) if n in inputs})
        if self.coatt is not None:
            out["c"], out["au"] = self.coatt(out["c"], out["au"])
        return {v: e * self.scale for v, e in out.items()}

    def brand_side(self, acc: Accounts) -> dict[str, torch.Tensor]:
        return self.encode(acc)

    def influencer_side(self, acc: Accounts) -> dict[str, torch.Tensor]:
        return self.encode(acc)
