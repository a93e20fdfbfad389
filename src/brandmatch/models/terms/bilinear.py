"""MIR's account representation (Gan et al., ACM MM 2019; baselines-spec sec. 2.3-2.5): part ``mir``.

History pooling happens in the feature stage: each input is an account-level view pooled over the
account's posts (:mod:`brandmatch.features.pooling`; ``*_wap`` views are MIR's engagement-weighted
"wap" pooling). Per modality the term takes the first view of its list present for the role:
visual (``content_image_effnet_wap``, else ``content_visual``: the 1,365-d object + scene
semantics), text (``content_text_w2v_wap``, else ``content_text``: the LDA topics of the public
data), and ``extra_views`` (ours: ``attributes``, the public data's third view). Brands and
influencers have SEPARATE towers (sec. 2.4), so a view present for one role only (the public
data's ``content_visual``, brands only) still serves that role.

Per role r and input v (sec. 2.4):  t_v = W_2^{r,v} LReLU(W_1^{r,v} x_v + b_1^{r,v})  (W_2 without
bias; DropConnect on W_1 in training), and the low-rank bilinear fusion z_r = prod_v t_v
(Hadamard product over the inputs present for the account; absent inputs are left out, an
account with none gets z = 0). F(b, m) = <z_b, z_m> / d (``reduce="mean"``: mean of the
element-wise product, MIR) or <z_b, z_m> (``"sum"``: HPTR); each side carries 1/sqrt(d) for the
mean, so F is an inner product of the sides.
Deviations: LRN on VGG maps (sec. 2.3) does not apply to semantic / topic vectors; instead inputs
are z-scored on the training accounts (``input_norm="standard"``, ours).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn

from brandmatch.errors import ModelUnavailable
from brandmatch.models.layers import MLP
from brandmatch.models.params import Param
from brandmatch.models.terms.base import Accounts, FitContext, InputNorm, ScoreTerm, ordered_layout, standard_stats

ROLES = ("brand", "influencer")
MODALITIES = ("visual", "text", "extra")
PART = "mir"


class Tower(nn.Module):
    """x (n, d_in) -> W_2 LReLU(W_1 x + b_1) (n, d); DropConnect on W_1 (sec. 2.4, 2.9)."""

    def __init__(self, d_in: int, hidden: int, d: int, slope: float, dropconnect: float):
        super().__init__()
        self.first = MLP(d_in, [hidden], slope=slope, dropout=dropconnect, dropout_mode="dropconnect",
                         final_activation=True)
        self.second = nn.Linear(hidden, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x))


def _key(name: str) -> str:
    return name.replace(".", "__")  # module names may not contain dots


class BilinearTerm(ScoreTerm):
    """MIR's per-role modality towers and Hadamard fusion; part ``mir``."""

    kind = "bilinear"
    summary = "MIR: per-role modality towers, low-rank bilinear (Hadamard) fusion, <z_b, z_m> (/ d)"
    PARAMS = (
        Param("visual_views", ["content_image_effnet_wap", "content_visual"], "names",
              "sec. 2.2-2.3: pooled post image features (first present view per role)"),
        Param("text_views", ["content_text_w2v_wap", "content_text"], "names",
              "sec. 2.2-2.3: pooled post caption features (first present view per role)"),
        Param("extra_views", ["attributes"], "names", "ours: further views, one tower each (public data: attributes)"),
        Param("visual_hidden", 4096, "int", "sec. 2.4: width of W_v1 (25,088 -> 4,096)", low=1),
        Param("text_hidden", 300, "int", "sec. 2.4: width of W_t1 (300 -> 300)", low=1),
        Param("extra_hidden", 300, "int", "ours: width of an extra view's first layer (as text)", low=1),
        Param("d", 512, "int", "sec. 2.4: width of t, v and z", low=1),
        Param("slope", 0.01, "float", "sec. 2.4: leaky ReLU negative slope", low=0.0, high=1.0),
        Param("dropconnect", 0.5, "float", "sec. 2.9: DropConnect keep 0.5 on the first-layer weights",
              low=0.0, high=0.99),
        Param("init_std", 0.1, "float", "sec. 2.9: weights N(0, 0.1^2), biases 0; 0 = PyTorch's default", low=0.0),
        Param("input_norm", "standard", "str", "ours: z-scored on training accounts (replaces LRN, sec. 2.3)",
              choices=("none", "l2", "standard")),
        Param("reduce", "mean", "str", "sec. 2.5: F = mean_d z_b z_m (HPTR: sum, sec. 4.2)", choices=("mean", "sum")),
    )

    def __init__(self, **params: Any):
        super().__init__(**params)
        #: role -> {feature view: modality}
        self.roles_: dict[str, dict[str, str]] = {}

    def prepare(self, ctx: FitContext) -> None:
        p = self.params
        wanted = {"visual": p["visual_views"], "text": p["text_views"]}
        accounts = {"brand": ctx.brands, "influencer": ctx.influencers}
        dims: dict[str, int] = {}
        self.roles_ = {}
        for role in ROLES:
            chosen: dict[str, str] = {}
            for modality, names in wanted.items():
                for n in names:
                    if n in ctx.features and ctx.features[n].lookup(accounts[role])[1].any():
                        chosen[n] = modality
                        break
            for n in p["extra_views"]:
                if n not in chosen and n in ctx.features and ctx.features[n].lookup(accounts[role])[1].any():
                    chosen[n] = "extra"
            if not chosen:
                want = [*wanted["visual"], *wanted["text"], *p["extra_views"]]
                raise ModelUnavailable(f"term 'bilinear': no input view present for the training {role}s "
                                       f"(need one of {', '.join(want)})")
            self.roles_[role] = chosen
            dims.update({n: ctx.features[n].dim for n in chosen})
        self.inputs_ = {PART: dims}
        self.build()
        if p["input_norm"] == "standard":
            self.norm.fit(standard_stats(ctx.features, ctx.brands + ctx.influencers, self.feature_names))
        std = p["init_std"]
        if std > 0:
            with torch.no_grad():
                for name, w in self.towers.named_parameters():
                    if w.dim() >= 2:
                        w.normal_(0.0, std)
                    else:
                        w.zero_()

    def build(self) -> None:
        p = self.params
        hidden = {"visual": p["visual_hidden"], "text": p["text_hidden"], "extra": p["extra_hidden"]}
        dims = self.inputs_.get(PART, {})
        self.towers = nn.ModuleDict({
            role: nn.ModuleDict({_key(n): Tower(dims[n], hidden[m], p["d"], p["slope"], p["dropconnect"])
                                 for n, m in self.roles_.get(role, {}).items()})
            for role in ROLES})
        self.norm = InputNorm(p["input_norm"], dict(dims))

    def layout(self) -> dict[str, Any]:
        # [view, modality] lists: JSON keeps their order (the product order of the fusion)
        return {**super().layout(), "roles": {r: [[n, m] for n, m in d.items()] for r, d in self.roles_.items()}}

    def load_layout(self, layout: dict[str, Any]) -> None:
        self.inputs_ = ordered_layout(layout.get("inputs", {}))
        roles = layout.get("roles", {})
        pairs = {r: roles.get(r, []) for r in ROLES}  # (a mapping in models saved before the lists)
        self.roles_ = {r: {str(n): str(m) for n, m in (p.items() if isinstance(p, dict) else p)}
                       for r, p in pairs.items()}

    def represent(self, acc: Accounts, role: str) -> torch.Tensor:
        """z of the accounts in ``role``: (n, d), the Hadamard product of the present inputs' towers."""
        z = torch.ones(len(acc), self.params["d"])
        any_present = torch.zeros(len(acc), dtype=torch.bool)
        for n in self.roles_[role]:
            present = acc.present[n]
            t = self.towers[role][_key(n)](self.norm(acc, n))
            z = z * torch.where(present.unsqueeze(-1), t, torch.ones_like(t))
            any_present = any_present | present
        scale = 1.0 / math.sqrt(self.params["d"]) if self.params["reduce"] == "mean" else 1.0
        return z * any_present.unsqueeze(-1).to(z.dtype) * scale

    def brand_side(self, acc: Accounts) -> dict[str, torch.Tensor]:
        return {PART: self.represent(acc, "brand")}

    def influencer_side(self, acc: Accounts) -> dict[str, torch.Tensor]:
        return {PART: self.represent(acc, "influencer")}
