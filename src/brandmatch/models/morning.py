"""MORNING (Wang et al., IEEE TMM 2022/23, sec. IV and V-A): three account views, co-attention,
F = sum of three inner products, trained with three triplet losses + a global cross-entropy + L1.

Views (shared towers for brands and influencers: the paper defines ONE sigma, mu, omega, gamma,
beta applied to both roles, eq. 7-18; so do we):

- content  (``c``):  e_c^p = sigma(X^p) (4-layer MLP 1024-1024-1024-512, eq. 7),
  e_c^t = mu(X^t) (2-layer MLP 128-512, eq. 8),
  e_c^a = (e_c^p W_1^p + b_1^p) o (e_c^t W_1^t + b_1^t), d_a = 512 (low-rank bilinear, eq. 9).
  Inputs: feature views ``content_visual`` (X^p) and ``content_text`` (X^t).
- audience (``au``): e_u^t = gamma(Y^t), e_u^p = omega(Y^p), fused as eq. 9 with its own
  weights (eq. 10-12). Inputs: ``audience_visual``, ``audience_text``.
- attribute (``att``): e_s^a = beta(mean attribute embedding), beta 2-layer MLP 1024-512 (eq. 18).
  Input: ``attributes`` (the mean node2vec vector is the feature view itself).

A modality is *usable* when its feature view is present for at least one training brand and one
training influencer; a view runs on its usable modalities (one modality: its projection
``e W + b`` alone, no Hadamard with a missing part); a view without a usable modality is dropped,
and so is a view not asked for in ``views`` (Table IV ablations: "c", "au", "att", "c,au", ...).

Co-attention (eq. 20-24, only when both c and au are active), per account:
e_f = phi(e_c W_f^1 + b_f^1) o phi(e_u W_f^2 + b_f^2), w_c = softmax(e_c o e_f) * d_a,
w_u = softmax(e_u o e_f) * d_a, e_c' = e_c o w_c, e_u' = e_u o w_u (the weights sum to d_a).

Score (eq. 19, 25-27): F(b, m) = <e_c'^b, e_c'^m> + <e_u'^b, e_u'^m> + <e_s^b, e_s^m>; every term
depends on one account only, so ``embed`` returns [e_c'; e_u'; e_s] and F = embed(b) . embed(m).

Loss (eq. 28-32): hinge triplet losses on f, g, h with margins 4, 2, 2; the global cross-entropy
on F (F is unbounded, so we read eq. 31 as binary cross-entropy on sigmoid(F), positive label 1,
sampled negative label 0); lambda * L1 over all weight matrices (lambda = 0.001). Adam, batch 16,
lr 0.002 x 0.95 per epoch, dropout 0.5, uniform(-0.1, 0.1) init, at most 100 epochs (sec. V-A).

Options reproducing the authors' reference code instead of the paper (paper = default):
``global_loss="pair_softmax"`` (softmax over each (pos, neg) pair of raw F), ``dropout_mode=
"dropconnect"`` (dropout on first-layer weight matrices), ``hinge_reduction="active"`` (mean over
active triplets only), ``score_term`` > 0 (a small signed term eps * mean(F- - F+) on raw scores),
``coattention="code"`` (softmax(sigmoid(e_c o e_f)) instead of softmax(e_c o e_f)).
``variant="code"`` switches all five at once.

Documented improvements (not in the paper, all off by default): ``input_norm`` ("l2",
"standard"), ``cosine_residual`` (a learned, non-negative weight per raw feature view times the
cosine of the raw vectors is added to each view's score: the model starts at training-free
COSINE and learns a residual on top), ``negatives="category"`` (same-category hard negatives),
``weight_decay``, ``init_range=0`` (PyTorch's default init), smaller towers via the layer sizes,
``cosine_sqrt`` / ``cosine_center`` (with cosine_residual: the cosine of the square roots of a
feature view, i.e. the Hellinger / Bhattacharyya affinity of probability vectors such as LDA topic
proportions; the cosine of a feature view centred on the training accounts' mean).
Two extra views, each a sum of inner products so F = embed(b, "brand") . embed(m, "influencer")
still holds (their brand and influencer sides differ, so ``role`` matters for them):
``category_view`` (not in the paper): F_cat(b, m) = s * log p(category(b) | m), a linear (or
``category_layers`` MLP) classifier over the influencer's prepared inputs against the brand's
one-hot category (categories of the training brands; ``AccountInfo.brand_category``), with
``category_aux`` weighting a cross-entropy -log p(category(b) | m+) on each batch's positives;
``partner_profile`` (not in the paper): the two-hop signal sum_v <P_v(b) o w_v, unit(x_m^v) o w_v>,
P(b) = softmax-kNN (temperature ``profile_tau``) over training brands of their TRAINING partners'
mean unit features, leave-one-out for training brands (see :func:`partner_profiles`).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as tf

from brandmatch.data.schema import CandidateGrid, CooperationSet
from brandmatch.errors import ModelError, ModelUnavailable
from brandmatch.features.store import FeatureSet
from brandmatch.models.base import AccountInfo, Ranker, register
from brandmatch.models.cosine import normalized_rows
from brandmatch.training.dropout import dropout
from brandmatch.training.losses import global_cross_entropy, triplet_hinge
from brandmatch.training.samplers import PairBatch, make_sampler
from brandmatch.training.seeding import seed_everything, set_torch_threads
from brandmatch.training.trainer import Trainer, TrainConfig, TrainingOptions

#: view short name -> (visual feature view, textual feature view); attributes has one input
VIEW_INPUTS: dict[str, tuple[str, ...]] = {
    "c": ("content_visual", "content_text"),
    "au": ("audience_visual", "audience_text"),
    "att": ("attributes",),
}
VIEW_ORDER = ("c", "au", "att")
VIEW_ALIASES = {"content": "c", "audience": "au", "attribute": "att", "attributes": "att", "full": "c,au,att"}

#: settings of the authors' reference code (``variant="code"``)
CODE_VARIANT = {
    "global_loss": "pair_softmax",
    "dropout_mode": "dropconnect",
    "hinge_reduction": "active",
    "score_term": 0.001,
    "coattention": "code",
}


def parse_views(views: str | Sequence[str]) -> list[str]:
    """'c,au,att' (or a list, or aliases) -> ordered list of view short names."""
    items = views.split(",") if isinstance(views, str) else list(views)
    out: list[str] = []
    for item in items:
        item = item.strip().lower()
        if not item:
            continue
        for v in VIEW_ALIASES.get(item, item).split(","):
            if v not in VIEW_INPUTS:
                raise ModelError(f"morning: unknown view {v!r} (use c, au, att)")
            if v not in out:
                out.append(v)
    if not out:
        raise ModelError("morning: no view selected")
    return [v for v in VIEW_ORDER if v in out]


# ---------------------------------------------------------------------------------- network


class MLP(nn.Module):
    """Linear layers of the given widths with LeakyReLU (sec. V-A) and dropout between layers.

    ``final_activation``: LeakyReLU after the last layer too (sigma, mu, omega, gamma: the paper
    uses leaky ReLU "as the activation function" of these MLPs; beta's output is used directly).
    ``dropout_mode``: "dropout" (dropout 0.5 on hidden activations, the paper's "dropout layers")
    or "dropconnect" (dropout on the first layer's weight matrix, the reference code).
    """

    def __init__(self, d_in: int, widths: Sequence[int], *, slope: float, dropout: float, dropout_mode: str,
                 final_activation: bool):
        super().__init__()
        dims = [d_in, *widths]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.slope, self.p, self.mode, self.final_activation = slope, dropout, dropout_mode, final_activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = len(self.layers)
        for i, layer in enumerate(self.layers):
            if i == 0 and self.mode == "dropconnect" and self.training and self.p > 0:
                x = tf.linear(x, dropout(layer.weight, self.p, True), layer.bias)
            else:
                x = layer(x)
            if i < n - 1 or self.final_activation:
                x = tf.leaky_relu(x, self.slope)
            if i < n - 1 and self.mode == "dropout" and self.p > 0:
                x = dropout(x, self.p, self.training)
        return x


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
        d_a = e_c.shape[-1]
        e_f = torch.sigmoid(self.f1(e_c)) * torch.sigmoid(self.f2(e_u))  # eq. 20
        a_c, a_u = e_c * e_f, e_u * e_f
        if self.mode == "code":
            a_c, a_u = torch.sigmoid(a_c), torch.sigmoid(a_u)
        w_c = torch.softmax(a_c, dim=-1) * d_a  # eq. 21
        w_u = torch.softmax(a_u, dim=-1) * d_a  # eq. 22
        return w_c, w_u

    def forward(self, e_c: torch.Tensor, e_u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w_c, w_u = self.weights(e_c, e_u)
        return e_c * w_c, e_u * w_u  # eq. 23-24


class CategoryHead(nn.Module):
    """Category-affinity view (not in the paper): log p(category | influencer features).

    A linear map (or an MLP with ``layers``) of the concatenated (prepared, masked) inputs,
    (n, d_in) -> log-softmax over the ``n_categories`` training brand categories (n, n_cat),
    and a learned positive scale s. The brand side is the one-hot of the brand's category, so
    F_cat(b, m) = s * log p(cat(b) | m) is an inner product.
    """

    def __init__(self, d_in: int, n_categories: int, layers: Sequence[int], weight: float, **mlp: Any):
        super().__init__()
        self.mlp = MLP(d_in, [*layers, n_categories], final_activation=False, **mlp)
        self.log_scale = nn.Parameter(torch.tensor(float(np.log(max(weight, 1e-8)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, d_in) -> log-probabilities (n, n_categories)."""
        return torch.log_softmax(self.mlp(x), dim=-1)


def partner_profiles(sim: dict[str, np.ndarray], partner_mean: dict[str, np.ndarray],
                     queries: dict[str, np.ndarray], self_index: np.ndarray, tau: float) -> dict[str, np.ndarray]:
    """Predicted partner profile P(b) of query brands (not in the paper; a two-hop signal).

    sim: name -> (n_train_brands, d) unit-norm features of the training brands (zero rows: absent);
    partner_mean: name -> (n_train_brands, d') mean unit-norm feature of each training brand's
    training partners; queries: name -> (n, d) unit-norm features of the query brands (same names
    as ``sim``); self_index: (n,) row of the query brand among the training brands or -1.
    w(b, b') = softmax over training brands b' != b of sum_v cos(x_b^v, x_b'^v) / tau (the brand
    itself is left out: leave-one-out, so a training brand's profile never contains its own
    partners); P_v(b) = unit(sum_b' w(b, b') partner_mean_v(b')). Returns name -> (n, d') float32.
    """
    n = len(self_index)
    n_train = next(iter(partner_mean.values())).shape[0] if partner_mean else 0
    s = np.zeros((n, n_train), dtype=np.float64)
    for name, train_x in sim.items():
        s += queries[name].astype(np.float64) @ train_x.astype(np.float64).T
    logits = s / tau
    rows = np.flatnonzero(self_index >= 0)
    logits[rows, self_index[rows]] = -np.inf  # leave-one-out
    logits -= logits.max(axis=1, keepdims=True)
    w = np.exp(logits)
    w /= w.sum(axis=1, keepdims=True)
    out = {}
    for name, mean in partner_mean.items():
        out[name] = normalized_rows(w @ mean.astype(np.float64)).astype(np.float32)
    return out


class PartnerProfile(nn.Module):
    """Partner-profile view (not in the paper): F_prof(b, m) = sum_v <P_v(b) o w_v, u_v(m) o w_v>.

    Buffers: ``sim_<name>`` (n_train_brands, d) unit brand features for brand-brand similarity,
    ``partner_<name>`` (n_train_brands, d') mean unit feature of each training brand's partners
    (TRAINING cooperations only). Parameters: ``log_w_<name>`` (d',) per-dimension log weights
    (w_v = exp(log_w / 2), starting at ``weight``). u_v(m) is the unit raw feature of the influencer.
    """

    def __init__(self, sim_dims: dict[str, int], partner_dims: dict[str, int], n_brands: int, tau: float,
                 weight: float):
        super().__init__()
        self.sim_names, self.partner_names, self.tau = list(sim_dims), list(partner_dims), tau
        for name, d in sim_dims.items():
            self.register_buffer(f"sim_{name}", torch.zeros(n_brands, d))
        for name, d in partner_dims.items():
            self.register_buffer(f"partner_{name}", torch.zeros(n_brands, d))
        self.log_w = nn.ParameterDict({n: nn.Parameter(torch.full((d,), float(np.log(max(weight, 1e-8)))))
                                       for n, d in partner_dims.items()})

    def profiles(self, queries: dict[str, np.ndarray], self_index: np.ndarray) -> dict[str, torch.Tensor]:
        """Fixed (no gradient) profiles of query brands: name -> (n, d')."""
        sim = {n: getattr(self, f"sim_{n}").numpy() for n in self.sim_names}
        mean = {n: getattr(self, f"partner_{n}").numpy() for n in self.partner_names}
        return {n: torch.from_numpy(v) for n, v in partner_profiles(sim, mean, queries, self_index, self.tau).items()}

    def side(self, vectors: dict[str, torch.Tensor]) -> torch.Tensor:
        """Weighted brand profiles or influencer unit features: name -> (n, d') -> (n, sum d')."""
        return torch.cat([vectors[n] * torch.exp(0.5 * self.log_w[n]) for n in self.partner_names], dim=-1)


class MorningNet(nn.Module):
    """The per-account encoder: inputs by feature-view name -> per-view vectors (eq. 7-27)."""

    def __init__(self, layout: dict[str, dict[str, int]], *, d_a: int, visual_layers: Sequence[int],
                 text_layers: Sequence[int], attribute_layers: Sequence[int], slope: float, dropout: float,
                 dropout_mode: str, coattention: str, input_norm: str, cosine_residual: bool,
                 norm_stats: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
                 cosine_weights: str = "learned", frozen_views: Sequence[str] = (), tower_scale: float = 1.0,
                 fixed_cosine_views: Sequence[str] = (), cosine_sqrt: Sequence[str] = (),
                 cosine_center: dict[str, np.ndarray] | None = None):
        super().__init__()
        self.layout = layout  # view -> {feature view name: input dim}
        self.frozen = [v for v in frozen_views if v in layout] if cosine_residual else []
        self.input_norm = input_norm
        mlp = dict(slope=slope, dropout=dropout, dropout_mode=dropout_mode)
        self.views = nn.ModuleDict()
        for view, inputs in layout.items():
            if view in self.frozen:
                continue
            if view == "att":
                (name, dim), = inputs.items()
                self.views[view] = MLP(dim, attribute_layers, final_activation=False, **mlp)
            else:
                vis, txt = VIEW_INPUTS[view]
                dims = {m: inputs[n] for m, n in (("p", vis), ("t", txt)) if n in inputs}
                self.views[view] = FusedView(dims, visual_layers, text_layers, d_a, **mlp)
        self.coatt = CoAttention(d_a, coattention) if "c" in self.views and "au" in self.views else None
        self.inputs = [n for v in layout for n in layout[v]]
        for name in self.inputs:
            d = next(inp[name] for inp in layout.values() if name in inp)
            mean, std = (norm_stats or {}).get(name, (np.zeros(d, np.float32), np.ones(d, np.float32)))
            self.register_buffer(f"mean_{name}", torch.as_tensor(mean, dtype=torch.float32))
            self.register_buffer(f"std_{name}", torch.as_tensor(std, dtype=torch.float32))
        self.cosine_residual = cosine_residual
        if cosine_residual:
            # log of the weight of each raw view's cosine (per dimension with "diagonal");
            # starts at weight 1 (= COSINE)
            dims = {n: d for inp in layout.values() for n, d in inp.items()}
            self.cosine_weights = cosine_weights
            fixed = {n for v in fixed_cosine_views if v in layout for n in layout[v]}
            self.fixed_inputs = fixed
            self.log_cos = nn.ParameterDict({
                n: nn.Parameter(torch.zeros(dims[n] if cosine_weights == "diagonal" and n not in fixed else ()),
                                requires_grad=cosine_weights not in ("fixed", "linear") and n not in fixed)
                for n in self.inputs})
            if cosine_weights == "linear":  # x^T A A^T y, A starts at the identity (= COSINE)
                self.cos_linear = nn.ParameterDict({n: nn.Parameter(torch.eye(dims[n]), requires_grad=n not in fixed)
                                                    for n in self.inputs})
            # improvement: transforms of the raw vectors before the cosine (Hellinger, centring)
            self.cosine_sqrt = [n for n in cosine_sqrt if n in self.inputs]
            self.cosine_center = [n for n in (cosine_center or {}) if n in self.inputs]
            for n in self.cosine_center:
                self.register_buffer(f"cos_center_{n}", torch.as_tensor(cosine_center[n], dtype=torch.float32))
            # learned scale of the tower part (scores scale with its square)
            self.tower_scale = nn.Parameter(torch.tensor(float(tower_scale)), requires_grad=tower_scale != 1.0)

    def cosine_input(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Raw (n, d) vector of input ``name`` as it enters the cosine: sqrt (``cosine_sqrt``: the
        Hellinger / Bhattacharyya affinity of probability vectors), minus the training mean
        (``cosine_center``); unchanged by default. Not in the paper."""
        if name in self.cosine_sqrt:
            x = torch.sqrt(torch.clamp(x, min=0.0))
        if name in self.cosine_center:
            x = x - getattr(self, f"cos_center_{name}")
        return x

    def prepare(self, name: str, x: torch.Tensor) -> torch.Tensor:
        if self.input_norm == "l2":
            return tf.normalize(x, dim=-1)
        if self.input_norm == "standard":
            return (x - getattr(self, f"mean_{name}")) / getattr(self, f"std_{name}")
        return x

    def forward(self, x: dict[str, torch.Tensor], present: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """x: feature-view name -> (n, d_in); present: name -> (n,) bool. Returns view -> (n, d).

        A masked (missing) row enters the towers as a zero vector, also after standardisation.
        """
        raw = x
        if present is not None and self.input_norm == "standard":
            x = {n: self.prepare(n, v) * present[n].unsqueeze(-1).to(v.dtype) for n, v in x.items()}
        elif self.input_norm != "none":
            x = {n: self.prepare(n, v) for n, v in x.items()}
        out: dict[str, torch.Tensor] = {}
        for view, inputs in self.layout.items():
            if view in self.frozen:
                continue  # scored by its cosine part alone (below)
            if view == "att":
                (name,) = inputs
                out[view] = self.views[view](x[name])
            else:
                vis, txt = VIEW_INPUTS[view]
                out[view] = self.views[view]({m: x[n] for m, n in (("p", vis), ("t", txt)) if n in inputs})
        if self.coatt is not None and "c" in out and "au" in out:
            out["c"], out["au"] = self.coatt(out["c"], out["au"])
        if self.cosine_residual:
            for view, inputs in self.layout.items():
                parts = [] if view in self.frozen else [out[view] * self.tower_scale]
                for name in inputs:
                    unit = tf.normalize(self.cosine_input(name, raw[name]), dim=-1)
                    if present is not None:
                        unit = unit * present[name].unsqueeze(-1).to(unit.dtype)
                    if self.cosine_weights == "linear":
                        unit = unit @ self.cos_linear[name]
                    parts.append(unit * torch.exp(0.5 * self.log_cos[name]))
                out[view] = torch.cat(parts, dim=-1)
        return out


# ---------------------------------------------------------------------------------- ranker


@register
class MorningRanker(Ranker):
    """MORNING; every default is the paper's (see the module docstring for equations)."""

    name = "morning"
    summary = "MORNING: content + audience + attribute views, co-attention, joint triplet/CE loss"
    learns = True

    def __init__(
        self,
        views: str = "c,au,att",  # Table IV ablations: any subset of c, au, att
        d_a: int = 512,  # sec. V-A: dimensions of e_c^a, e_u^a, e_s^a
        visual_layers: Sequence[int] = (1024, 1024, 1024, 512),  # sigma, omega (eq. 7, 11)
        text_layers: Sequence[int] = (128, 512),  # mu, gamma (eq. 8, 10)
        attribute_layers: Sequence[int] = (1024, 512),  # beta (eq. 18)
        negative_slope: float = 0.01,  # leaky ReLU (sec. V-A)
        dropout: float = 0.5,  # sec. V-A
        dropout_mode: str = "dropout",  # code: "dropconnect"
        init_range: float = 0.1,  # uniform(-0.1, 0.1) (sec. V-A); 0 = PyTorch default init
        margins: Sequence[float] = (4.0, 2.0, 2.0),  # margin1-3 (eq. 28-30)
        global_loss: str = "sigmoid",  # eq. 31 read as BCE on sigmoid(F); code: "pair_softmax"
        hinge_reduction: str = "mean",  # code: "active"
        coattention: str = "paper",  # eq. 21-22; code: "code"
        score_term: float = 0.0,  # code: small signed term on raw scores
        global_weight: float = 1.0,  # weight of L4 in eq. 32 (1 in the paper)
        triplet_weight: float = 1.0,  # weight of L1-L3 in eq. 32 (1 in the paper)
        l1: float = 0.001,  # lambda (eq. 32)
        lr: float = 0.002,  # sec. V-A
        lr_decay: float = 0.95,  # per epoch (sec. V-A)
        batch_size: int = 16,  # sec. V-A
        epochs: int = 100,  # sec. V-A
        weight_decay: float = 0.0,  # improvement option
        patience: int | None = 20,  # early stopping on the validation grid (ours)
        select_metric: str = "MAP",  # model selection on the validation grid (ours)
        negatives: str = "uniform",  # sec. IV-E random sampling; option "category"
        hard_fraction: float = 0.5,  # share of same-category negatives with negatives="category"
        input_norm: str = "none",  # improvement option: "l2", "standard"
        cosine_residual: bool = False,  # improvement option: learn on top of per-view cosine
        cosine_weights: str = "learned",  # with cosine_residual: "learned", "fixed" (1) or "diagonal"
        frozen_views: str = "",  # with cosine_residual: views scored by their cosine alone (no tower)
        tower_scale: float = 1.0,  # with cosine_residual: initial learned scale of the towers (1: fixed)
        fixed_cosine_views: str = "",  # with cosine_residual: views whose cosine weight stays 1
        cosine_sqrt: str = "",  # improvement option (cosine_residual): feature views square-rooted before the cosine
        cosine_center: str = "",  # improvement option (cosine_residual): views centred on the training mean
        category_view: bool = False,  # improvement option: + s * log p(category(b) | m) (CategoryHead)
        category_weight: float = 0.1,  # with category_view: initial scale s (learned)
        category_layers: Sequence[int] = (),  # with category_view: hidden widths of the classifier (() linear)
        category_aux: float = 0.0,  # with category_view: weight of -log p(category(b) | m+) on positives
        partner_profile: bool = False,  # improvement option: + two-hop partner-profile view (PartnerProfile)
        profile_tau: float = 0.05,  # with partner_profile: softmax temperature of brand-brand cosine
        profile_weight: float = 0.3,  # with partner_profile: initial per-dimension weight (learned)
        variant: str = "paper",  # "code": the reference code's five choices at once
        seed: int = 0,
    ):
        self.views = views
        self.d_a = d_a
        self.visual_layers = list(visual_layers)
        self.text_layers = list(text_layers)
        self.attribute_layers = list(attribute_layers)
        self.negative_slope = negative_slope
        self.dropout = dropout
        self.dropout_mode = dropout_mode
        self.init_range = init_range
        self.margins = list(margins)
        self.global_loss = global_loss
        self.hinge_reduction = hinge_reduction
        self.coattention = coattention
        self.score_term = score_term
        self.global_weight = global_weight
        self.triplet_weight = triplet_weight
        self.l1 = l1
        self.lr = lr
        self.lr_decay = lr_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.weight_decay = weight_decay
        self.patience = patience
        self.select_metric = select_metric
        self.negatives = negatives
        self.hard_fraction = hard_fraction
        self.input_norm = input_norm
        self.cosine_residual = cosine_residual
        self.cosine_weights = cosine_weights
        self.frozen_views = frozen_views
        self.tower_scale = tower_scale
        self.fixed_cosine_views = fixed_cosine_views
        self.cosine_sqrt = cosine_sqrt
        self.cosine_center = cosine_center
        self.category_view = category_view
        self.category_weight = category_weight
        self.category_layers = list(category_layers)
        self.category_aux = category_aux
        self.partner_profile = partner_profile
        self.profile_tau = profile_tau
        self.profile_weight = profile_weight
        self.variant = variant
        self.seed = seed
        if variant not in ("paper", "code"):
            raise ModelError(f"morning: variant must be 'paper' or 'code', got {variant!r}")
        if len(self.margins) != 3:
            raise ModelError("morning: margins needs three values (content, audience, attribute)")
        parse_views(views)
        #: run-time training options (checkpoints, resume, progress); not a hyper-parameter
        self.training_options = TrainingOptions()
        self.net_: MorningNet | None = None
        self.layout_: dict[str, dict[str, int]] = {}
        self.dropped_: dict[str, str] = {}
        self.history_: list[dict[str, Any]] = []
        self.best_epoch_: int | None = None
        #: category_view: training brand categories (classifier outputs) and brand id -> category
        self.categories_: list[str] = []
        self.brand_category_: dict[str, str] = {}
        #: partner_profile: training brands (rows of the profile buffers), brand-similarity inputs
        self.profile_brands_: list[str] = []
        self.profile_sim_dims_: dict[str, int] = {}

    # ------------------------------------------------------------ effective settings
    def setting(self, key: str) -> Any:
        """A loss/network setting after applying ``variant="code"``."""
        if self.variant == "code" and key in CODE_VARIANT:
            return CODE_VARIANT[key]
        return getattr(self, key)

    # ------------------------------------------------------------ layout
    def _layout(self, features: FeatureSet, brands: Sequence[str], influencers: Sequence[str]) -> None:
        """Decide which views and modalities run: usable = present for a training brand AND influencer."""
        layout: dict[str, dict[str, int]] = {}
        dropped: dict[str, str] = {}
        wanted = parse_views(self.views)
        for view in VIEW_ORDER:
            if view not in wanted:
                continue
            inputs: dict[str, int] = {}
            missing = []
            for name in VIEW_INPUTS[view]:
                if name in features:
                    fv = features[name]
                    if fv.lookup(list(brands))[1].any() and fv.lookup(list(influencers))[1].any():
                        inputs[name] = fv.dim
                        continue
                missing.append(name)
            if inputs:
                layout[view] = inputs
                if missing:
                    dropped[view] = "runs without " + ", ".join(missing) + " (not present for both roles)"
            else:
                dropped[view] = "dropped: " + ", ".join(missing) + " missing"
        if not layout:
            raise ModelUnavailable(
                f"morning: none of the views {','.join(wanted)} has usable features "
                f"(need {', '.join(n for v in wanted for n in VIEW_INPUTS[v])} for brands and influencers)"
            )
        self.layout_, self.dropped_ = layout, dropped

    def _feature_names(self, option: str) -> list[str]:
        """Comma-separated feature-view names of ``option`` (cosine_sqrt / cosine_center)."""
        names = [n.strip() for n in getattr(self, option).split(",") if n.strip()]
        known = {n for v in VIEW_INPUTS.values() for n in v}
        bad = [n for n in names if n not in known]
        if bad:
            raise ModelError(f"morning: {option} names unknown feature views {bad} (use {', '.join(sorted(known))})")
        return names

    def _cosine_centers(self, features: FeatureSet, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Mean over ``ids`` (present rows) of each ``cosine_center`` input after the sqrt: name -> (d,)."""
        out = {}
        sqrt = set(self._feature_names("cosine_sqrt"))
        for n in self._feature_names("cosine_center"):
            if n not in features:
                continue
            values, mask = features[n].lookup(list(ids))
            v = values[mask].astype(np.float64)
            if n in sqrt:
                v = np.sqrt(np.maximum(v, 0.0))
            out[n] = (v.mean(axis=0) if len(v) else np.zeros(values.shape[1])).astype(np.float32)
        return out

    def _build(self, norm_stats: dict | None = None, centers: dict[str, np.ndarray] | None = None) -> MorningNet:
        if centers is None:  # rebuilt for load_state_dict: shapes only, the values come with the weights
            dims = {n: d for inp in self.layout_.values() for n, d in inp.items()}
            centers = {n: np.zeros(dims[n], np.float32) for n in self._feature_names("cosine_center") if n in dims}
        net = MorningNet(
            self.layout_, d_a=self.d_a, visual_layers=self.visual_layers, text_layers=self.text_layers,
            attribute_layers=self.attribute_layers, slope=self.negative_slope, dropout=self.dropout,
            dropout_mode=self.setting("dropout_mode"), coattention=self.setting("coattention"),
            input_norm=self.input_norm, cosine_residual=self.cosine_residual, norm_stats=norm_stats,
            cosine_weights=self.cosine_weights, tower_scale=self.tower_scale,
            fixed_cosine_views=parse_views(self.fixed_cosine_views) if self.fixed_cosine_views else (),
            frozen_views=parse_views(self.frozen_views) if self.frozen_views else (),
            cosine_sqrt=self._feature_names("cosine_sqrt"), cosine_center=centers,
        )
        mlp = dict(slope=self.negative_slope, dropout=self.dropout, dropout_mode=self.setting("dropout_mode"))
        dims = {n: d for inp in self.layout_.values() for n, d in inp.items()}
        net.category = (CategoryHead(sum(dims[n] for n in net.inputs), len(self.categories_), self.category_layers,
                                     self.category_weight, **mlp) if self.category_view else None)
        net.profile = (PartnerProfile(self.profile_sim_dims_, {n: dims[n] for n in net.inputs},
                                      len(self.profile_brands_), self.profile_tau, self.profile_weight)
                       if self.partner_profile else None)
        if self.init_range and self.init_range > 0:
            with torch.no_grad():
                for pname, p in net.named_parameters():
                    # the improvement heads keep PyTorch's default init
                    if not pname.startswith(("log_cos", "tower_scale", "cos_linear", "category.", "profile.")):
                        p.uniform_(-self.init_range, self.init_range)  # sec. V-A
        return net

    # ------------------------------------------------------------ inputs
    def _inputs(self, features: FeatureSet, ids: Sequence[str]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        x, present = {}, {}
        for inputs in self.layout_.values():
            for name in inputs:
                values, mask = features[name].lookup(list(ids))
                x[name] = torch.from_numpy(values)
                present[name] = torch.from_numpy(mask)
        return x, present

    def _norm_stats(self, features: FeatureSet, ids: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        stats = {}
        for inputs in self.layout_.values():
            for name in inputs:
                values, mask = features[name].lookup(list(ids))
                v = values[mask].astype(np.float64)
                mean = v.mean(axis=0) if len(v) else np.zeros(values.shape[1])
                std = v.std(axis=0) if len(v) else np.ones(values.shape[1])
                stats[name] = (mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32))
        return stats

    @staticmethod
    def _pair_scores(eb: dict[str, torch.Tensor], em: dict[str, torch.Tensor], bi: torch.Tensor,
                     mi: torch.Tensor) -> dict[str, torch.Tensor]:
        # index_select: a cheap gather (advanced indexing is a slower path on CPU for small batches)
        return {v: (eb[v].index_select(0, bi) * em[v].index_select(0, mi)).sum(-1) for v in eb}

    # ------------------------------------------------------------ improvement views (not in the paper)
    def _category_logp(self, net: MorningNet, x: dict[str, torch.Tensor], present: dict[str, torch.Tensor]) -> torch.Tensor:
        """log p(category | account inputs): (n, n_categories); absent inputs enter as zeros."""
        parts = [net.prepare(n, x[n]) * present[n].unsqueeze(-1).to(x[n].dtype) for n in net.inputs]
        return net.category(torch.cat(parts, dim=-1))

    def _category_onehot(self, brand_ids: Sequence[str]) -> torch.Tensor:
        """Brand side of the category view: one-hot of the brand's category, (n, n_categories)."""
        index = {c: i for i, c in enumerate(self.categories_)}
        out = torch.zeros(len(brand_ids), len(self.categories_))
        for r, b in enumerate(brand_ids):
            c = index.get(self.brand_category_.get(b))  # unknown category: zero row (no prior)
            if c is not None:
                out[r, c] = 1.0
        return out

    def _unit_inputs(self, features: FeatureSet, ids: Sequence[str], names: Sequence[str]) -> dict[str, np.ndarray]:
        """Unit-norm raw features, zero rows where absent: name -> (n, d) float32."""
        out = {}
        for n in names:
            values, mask = features[n].lookup(list(ids))
            out[n] = (normalized_rows(values) * mask[:, None]).astype(np.float32)
        return out

    def _brand_profiles(self, net: MorningNet, features: FeatureSet, brand_ids: Sequence[str]) -> dict[str, torch.Tensor]:
        """P(b) of ``brand_ids`` (leave-one-out for training brands): name -> (n, d')."""
        row = {b: i for i, b in enumerate(self.profile_brands_)}
        self_index = np.array([row.get(b, -1) for b in brand_ids], dtype=np.int64)
        return net.profile.profiles(self._unit_inputs(features, brand_ids, net.profile.sim_names), self_index)

    def _fit_profile(self, net: MorningNet, features: FeatureSet, train: CooperationSet, brands: Sequence[str]) -> None:
        """Fill the profile buffers from TRAINING cooperations: brand features, partners' mean features."""
        sim = self._unit_inputs(features, brands, net.profile.sim_names)
        row = {b: i for i, b in enumerate(brands)}
        infs = list(dict.fromkeys(train.influencer_ids.tolist()))
        col = {m: j for j, m in enumerate(infs)}
        partners = np.zeros((len(brands), len(infs)))
        partners[[row[b] for b in train.brand_ids.tolist()], [col[m] for m in train.influencer_ids.tolist()]] = 1.0
        partners /= np.maximum(partners.sum(axis=1, keepdims=True), 1.0)
        unit = self._unit_inputs(features, infs, net.profile.partner_names)
        with torch.no_grad():
            for n in net.profile.sim_names:
                getattr(net.profile, f"sim_{n}").copy_(torch.from_numpy(sim[n]))
            for n in net.profile.partner_names:
                getattr(net.profile, f"partner_{n}").copy_(torch.from_numpy((partners @ unit[n]).astype(np.float32)))

    # ------------------------------------------------------------ fit
    def fit(self, train: CooperationSet, features: FeatureSet, valid: CandidateGrid | None = None,
            info: AccountInfo | None = None) -> "MorningRanker":
        if len(train) == 0:
            raise ModelError("morning: no training cooperations")
        set_torch_threads(self.training_options.threads)
        seed_everything(self.seed)
        info = info or AccountInfo()
        pool = list(info.influencers) if info.influencers else None
        sampler = make_sampler(self.negatives, train, pool, info.brand_category, info.influencer_categories,
                               self.hard_fraction)
        self._layout(features, sampler.brands, sampler.influencers)
        if self.category_view:
            self.categories_ = sorted({c for b in sampler.brands if (c := info.brand_category.get(b)) is not None})
            if not self.categories_:
                raise ModelUnavailable("morning: category_view needs brand categories (AccountInfo.brand_category)")
            self.brand_category_ = {b: c for b, c in info.brand_category.items() if c in self.categories_}
        if self.partner_profile:
            self.profile_brands_ = list(sampler.brands)
            names = [n for v in VIEW_ORDER for n in VIEW_INPUTS[v]]
            self.profile_sim_dims_ = {n: features[n].dim for n in names
                                      if n in features and features[n].lookup(list(sampler.brands))[1].any()}
        stats = self._norm_stats(features, sampler.brands + sampler.influencers) if self.input_norm == "standard" else None
        centers = self._cosine_centers(features, sampler.brands + sampler.influencers)
        net = self._build(stats, centers)
        self.net_ = net
        self.features_ = features
        xb, pb = self._inputs(features, sampler.brands)
        xm, pm = self._inputs(features, sampler.influencers)
        n_b = len(sampler.brands)
        x_all = {k: torch.cat([xb[k], xm[k]]) for k in xb}
        p_all = {k: torch.cat([pb[k], pm[k]]) for k in pb}
        views = list(self.layout_)
        if net.category is not None:
            cat_b = self._category_onehot(sampler.brands)  # (n_b, n_cat)
            cat_known = cat_b.sum(-1) > 0
            cat_idx = cat_b.argmax(-1)
        if net.profile is not None:
            self._fit_profile(net, features, train, sampler.brands)
            prof_b = self._brand_profiles(net, features, sampler.brands)  # leave-one-out, fixed
            prof_m = {n: torch.from_numpy(v) for n, v in
                      self._unit_inputs(features, sampler.influencers, net.profile.partner_names).items()}
        margins = dict(zip(VIEW_ORDER, self.margins))
        global_mode, reduction = self.setting("global_loss"), self.setting("hinge_reduction")
        score_term = self.setting("score_term")

        def batch_loss(batch: PairBatch) -> torch.Tensor:
            # each account's embedding once per batch: brands and influencers deduplicated
            ub, bi = np.unique(batch.brands, return_inverse=True)
            um, mi = np.unique(np.concatenate([batch.positives, batch.negatives]), return_inverse=True)
            rows = torch.from_numpy(np.concatenate([ub, um + n_b]))
            emb = net({k: v.index_select(0, rows) for k, v in x_all.items()},
                      {k: v.index_select(0, rows) for k, v in p_all.items()})
            nb = len(ub)
            eb = {v: e[:nb] for v, e in emb.items()}
            em = {v: e[nb:] for v, e in emb.items()}
            bi_t = torch.from_numpy(bi)
            n = len(batch)
            loss = torch.zeros(())
            ub_t, um_t = torch.from_numpy(ub), torch.from_numpy(um)
            if net.category is not None:  # improvement: category-affinity view
                logp = self._category_logp(net, {k: v.index_select(0, um_t + n_b) for k, v in x_all.items()},
                                           {k: v.index_select(0, um_t + n_b) for k, v in p_all.items()})
                eb["cat"] = cat_b.index_select(0, ub_t)
                em["cat"] = logp * torch.exp(net.category.log_scale)
                if self.category_aux:
                    b_rows = torch.from_numpy(ub[bi])
                    known = cat_known.index_select(0, b_rows)
                    lp = logp.index_select(0, torch.from_numpy(mi[:n])).gather(
                        1, cat_idx.index_select(0, b_rows).unsqueeze(-1)).squeeze(-1)
                    if known.any():
                        loss = loss - self.category_aux * lp[known].mean()
            if net.profile is not None:  # improvement: partner-profile view
                eb["prof"] = net.profile.side({k: v.index_select(0, ub_t) for k, v in prof_b.items()})
                em["prof"] = net.profile.side({k: v.index_select(0, um_t) for k, v in prof_m.items()})
            pos = self._pair_scores(eb, em, bi_t, torch.from_numpy(mi[:n]))
            neg = self._pair_scores(eb, em, bi_t, torch.from_numpy(mi[n:]))
            for v in views:  # eq. 28-30
                loss = loss + self.triplet_weight * triplet_hinge(pos[v], neg[v], margin=margins[v], reduction=reduction)
            f_pos = sum(pos.values())  # eq. 19 (+ the improvement views)
            f_neg = sum(neg.values())
            loss = loss + self.global_weight * global_cross_entropy(f_pos, f_neg, mode=global_mode)  # eq. 31
            if score_term:
                loss = loss + score_term * (f_neg - f_pos).mean()
            return loss  # + lambda ||theta||_1 (eq. 32): applied by the trainer as its exact subgradient

        validate = None
        if valid is not None and len(valid.brand_ids) and valid.labels.any():
            from brandmatch.evaluation.metrics import grid_metrics

            def validate() -> dict[str, float]:
                import warnings

                scores = self.score(list(valid.brand_ids), list(valid.influencer_ids))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return grid_metrics(scores, valid.labels)

        config = TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, lr_decay=self.lr_decay,
                             weight_decay=self.weight_decay, select_metric=self.select_metric,
                             patience=self.patience, seed=self.seed, l1=self.l1)
        result = Trainer(config, self.training_options).fit(net, sampler, batch_loss, validate, name=self.name)
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        return self

    # ------------------------------------------------------------ inference
    def _require_net(self) -> tuple[MorningNet, FeatureSet]:
        feats = self._require_fitted()
        if self.net_ is None:
            raise ModelError("morning: not fitted (no network); call fit() or load a saved model")
        return self.net_, feats

    def _extra_views(self) -> list[str]:
        net = self.net_
        return ([] if net is None or net.category is None else ["cat"]) + \
            ([] if net is None or net.profile is None else ["prof"])

    def embed_views(self, account_ids: Sequence[str], role: str = "influencer") -> dict[str, np.ndarray]:
        """Per-view vectors of ``account_ids``: view -> (n, d_v) float32 (e_c', e_u', e_s).

        With the improvement views, "cat" and "prof" depend on ``role`` (brand: category one-hot,
        partner profile; influencer: s * log p(category | m), weighted unit features).
        """
        net, feats = self._require_net()
        was = net.training
        net.eval()
        out: dict[str, list[np.ndarray]] = {v: [] for v in [*self.layout_, *self._extra_views()]}
        ids = list(account_ids)
        with torch.no_grad():
            for i in range(0, max(len(ids), 1), 4096):
                chunk = ids[i : i + 4096]
                if not chunk:
                    break
                x, p = self._inputs(feats, chunk)
                emb = net(x, p)
                if net.category is not None:
                    emb["cat"] = (self._category_onehot(chunk) if role == "brand" else
                                  self._category_logp(net, x, p) * torch.exp(net.category.log_scale))
                if net.profile is not None:
                    vecs = (self._brand_profiles(net, feats, chunk) if role == "brand" else
                            {k: torch.from_numpy(v) for k, v in
                             self._unit_inputs(feats, chunk, net.profile.partner_names).items()})
                    emb["prof"] = net.profile.side(vecs)
                for v in out:
                    out[v].append(emb[v].numpy())
        net.train(was)
        return {v: (np.concatenate(a) if a else np.zeros((0, 0), np.float32)) for v, a in out.items()}

    def embed(self, account_ids: Sequence[str], role: str = "influencer") -> np.ndarray:
        """[e_c'; e_u'; e_s] per account: (n, d) float64 with F(b, m) = embed(b) . embed(m).

        Brands and influencers share the towers (one sigma, mu, ... in the paper), so ``role``
        does not change the paper's part of the vector; it does change the improvement views
        (``category_view``, ``partner_profile``), whose brand and influencer sides differ.
        """
        if role not in ("brand", "influencer"):
            raise ModelError(f"morning: role must be 'brand' or 'influencer', got {role!r}")
        views = self.embed_views(account_ids, role)
        return np.concatenate([views[v] for v in views], axis=1).astype(np.float64)

    def score(self, brand_ids: Sequence[str], influencer_ids: Sequence[str]) -> np.ndarray:
        return self.embed(brand_ids, "brand") @ self.embed(influencer_ids, "influencer").T

    def view_scores(self, brand_ids: Sequence[str], influencer_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """f, g, h separately (eq. 25-27): view -> (n_brands, n_influencers)."""
        eb, em = self.embed_views(brand_ids, "brand"), self.embed_views(influencer_ids, "influencer")
        return {v: eb[v].astype(np.float64) @ em[v].astype(np.float64).T for v in eb}

    # ------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, np.ndarray]:
        if self.net_ is None:
            return {}
        return {k: v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if not self.layout_:
            raise ModelError("morning: load_extra_config() must come first (the saved layout builds the network)")
        net = self._build()
        own = net.state_dict()
        missing = set(own) - set(state)
        unexpected = set(state) - set(own)
        if missing or unexpected:
            raise ModelError(f"morning: weights do not match the config (missing {sorted(missing)[:3]}, "
                             f"unexpected {sorted(unexpected)[:3]})")
        net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
        net.eval()
        self.net_ = net

    def extra_config(self) -> dict[str, Any]:
        return {"layout": self.layout_, "dropped": self.dropped_, "best_epoch": self.best_epoch_,
                "history": self.history_, "categories": self.categories_, "brand_category": self.brand_category_,
                "profile_brands": self.profile_brands_, "profile_sim_dims": self.profile_sim_dims_}

    def load_extra_config(self, extra: dict[str, Any]) -> None:
        saved = extra.get("layout", {})
        # canonical order (the JSON config stores keys sorted): views by VIEW_ORDER, inputs by VIEW_INPUTS
        self.layout_ = {v: {n: int(saved[v][n]) for n in VIEW_INPUTS[v] if n in saved[v]}
                        for v in VIEW_ORDER if v in saved}
        self.dropped_ = dict(extra.get("dropped", {}))
        self.best_epoch_ = extra.get("best_epoch")
        self.history_ = list(extra.get("history", []))
        self.categories_ = list(extra.get("categories", []))
        self.brand_category_ = dict(extra.get("brand_category", {}))
        self.profile_brands_ = list(extra.get("profile_brands", []))
        # keep the canonical order of the brand-similarity inputs (JSON stores keys sorted)
        sim = extra.get("profile_sim_dims", {})
        self.profile_sim_dims_ = {n: int(sim[n]) for v in VIEW_ORDER for n in VIEW_INPUTS[v] if n in sim}

    def get_params(self) -> dict[str, Any]:
        params = super().get_params()
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}

