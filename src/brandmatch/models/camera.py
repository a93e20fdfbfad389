"""CAMERA (Wang et al., "Discover Micro-Influencers for Brands via Better Understanding", IEEE TMM
2021/22; baselines-spec sec. 3): concept representation, bi-directional concept attention (BCAM),
endorsement-effect and influence scores, triplet loss.

Per account (:mod:`brandmatch.models.concepts`): concept profile pi, historical activities
h = pi E (e-d), marketing direction C = E of its ``n_concepts`` top concepts (k, e), and
``dense_views`` (ours: the ``attributes`` node2vec vector a, the public data's concept-graph view).
Shared sub-networks psi, rho (e -> 1024 -> 512) and gamma (-> 1024 -> 1024 -> 512), LReLU 0.01.
For a pair (b, m) (sec. 3.5-3.8):

    alpha_k = softmax_k(psi(h_b) . rho(c_{m,k}) / 512),  d_m = sum_k alpha_k c_{m,k}
    beta_k  = softmax_k(psi(h_m) . rho(c_{b,k}) / 512),  d_b = sum_k beta_k c_{b,k}
    sim(b, m) = gamma([d_b; h_b; a_b]) . gamma([d_m; h_m; a_m])
    F(b, m) = sim(b, m) * s1(b, m) * s2(m)
    s(x1, x2) = sigmoid(sum_j w_j sigmoid(x1 p_j + q_j) + sum_j w'_j sigmoid(x2 p'_j + q'_j))   (64 units each)

Because d_b depends on m (and d_m on b), F does not decompose into per-account vectors: CAMERA
has no ``embed``; ``score`` evaluates every pair (in chunks).

Endorsement inputs (our choice; the authors' ``cor_score_*`` inputs are unknown and, if computed
from brand-mentioning posts, non-zero essentially only for true partners, which leaks the test
labels; baselines-spec sec. 3.7): s1's inputs are label-free, x = (cos(pi_b, pi_m) r_m,
cos(a_b, a_m) r_m): how close the influencer's content is to the brand, times its engagement
rate relative to the training influencers' median (r_m = 1 where unknown). s2's inputs are the
influencer's likes / followers and comments / followers per post (the ``activity`` view,
z-scored on the training influencers; 0 where absent, as on the public data, where s2 is then a
learned constant). Neither uses a cooperation.
Other choices: DropConnect (keep 0.6) on the first weight matrix of psi, rho and gamma only (the
code also drops gamma's second); all weights and biases N(0, 0.1^2) (sec. 3.9), s1 / s2 free of
L1 (their parameters are vectors); one uniform non-partner per training pair and epoch; the
code's lr decay (x0.99 per 24,000 steps) is ~1 per epoch here; epoch selection on validation
brands (the code printed test metrics every epoch).
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as tf

from brandmatch.data.schema import CandidateGrid, CooperationSet
from brandmatch.errors import ModelError, ModelUnavailable
from brandmatch.features.activity import ACTIVITY_COLUMNS
from brandmatch.features.store import FeatureSet
from brandmatch.models.base import AccountInfo, Ranker, register
from brandmatch.models.composed import LossSpec, TrainingSpec
from brandmatch.models.concepts import concept_embeddings, concept_profiles
from brandmatch.models.layers import MLP, load_module_state, module_state
from brandmatch.models.mir import METRICS, engagement_rate
from brandmatch.models.params import Param, describe, resolve
from brandmatch.models.recipes import RecipeParams, recipe_config

PAIR_CHUNK = 8192


class TwoInputScore(nn.Module):
    """s(x1, x2) = sigmoid(sum_j w_j sigmoid(x1 p_j + q_j) + sum_j w'_j sigmoid(x2 p'_j + q'_j)): (P, 2) -> (P,)."""

    def __init__(self, hidden: int):
        super().__init__()
        # vectors (2 * hidden,), not matrices: two scalar-input units, kept out of the L1 penalty (sec. 3.7)
        self.hidden = hidden
        self.p = nn.Parameter(torch.zeros(2 * hidden))
        self.q = nn.Parameter(torch.zeros(2 * hidden))
        self.w = nn.Parameter(torch.zeros(2 * hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (2, self.hidden)
        hidden = torch.sigmoid(x.unsqueeze(-1) * self.p.view(shape) + self.q.view(shape))  # (P, 2, hidden)
        return torch.sigmoid((hidden * self.w.view(shape)).sum(dim=(-1, -2)))


class CameraNet(nn.Module):
    """BCAM + gamma + (optionally) s1, s2; buffers: the concept embeddings and input statistics."""

    def __init__(self, n_concepts: int, e: int, dense_dim: int, p: dict[str, Any], endorsement: bool):
        super().__init__()
        mlp = dict(slope=p["slope"], dropout=p["dropconnect"], dropout_mode="dropconnect", final_activation=True)
        self.register_buffer("concepts", torch.zeros(n_concepts, e))  # E
        self.psi = MLP(e, p["attention_layers"], **mlp)
        self.rho = MLP(e, p["attention_layers"], **mlp)
        self.gamma = MLP(2 * e + dense_dim, p["similarity_layers"], **mlp)
        self.endorsement = endorsement
        if endorsement:
            self.s1 = TwoInputScore(p["score_hidden"])
            self.s2 = TwoInputScore(p["score_hidden"])
            self.register_buffer("influence_mean", torch.zeros(2))
            self.register_buffer("influence_std", torch.ones(2))
            self.register_buffer("engagement_median", torch.ones(()))


@register
class CameraRanker(RecipeParams, Ranker):
    """CAMERA: concepts, bi-directional concept attention, similarity x endorsement x influence."""

    name = "camera"
    summary = "CAMERA: concept representation, bi-directional concept attention, endorsement/influence scores"
    learns: ClassVar[bool] = True
    ENDORSEMENT: ClassVar[bool] = True
    PARAMS = (
        Param("concept_views", ["content_visual", "content_text"], "names",
              "sec. 3.2-3.4: concept sources (ours: the distribution-valued views stand in for the 420 concepts)"),
        Param("dense_views", ["attributes"], "names", "ours: dense views appended to h (node2vec attributes)"),
        Param("embedding_size", 100, "int", "sec. 3.3: concept embedding size e", low=1),
        Param("n_concepts", 10, "int", "sec. 3.4: concepts per account in the marketing direction", low=1),
        Param("attention_layers", [1024, 512], "ints", "sec. 3.5: psi, rho widths", low=1),
        Param("similarity_layers", [1024, 1024, 512], "ints", "sec. 3.6: gamma widths", low=1),
        Param("score_hidden", 64, "int", "sec. 3.7: sigmoid units per input of s1, s2", low=1),
        Param("slope", 0.01, "float", "sec. 3.5: leaky ReLU negative slope", low=0.0, high=1.0),
        Param("dropconnect", 0.4, "float", "sec. 3.9: DropConnect keep 0.6", low=0.0, high=0.99),
        Param("init_std", 0.1, "float", "sec. 3.9: weights and biases N(0, 0.1^2); 0 = PyTorch's default", low=0.0),
        Param("margin", 7.0, "float", "sec. 3.8: hinge margin", low=0.0),
        Param("hinge_reduction", "active", "str", "sec. 3.8: mean over active triplets", choices=("active", "mean", "sum")),
        Param("l1", 0.001, "float", "sec. 3.8: lambda of L1 on psi, rho, gamma weights", low=0.0),
        Param("lr", 0.002, "float", "sec. 3.9: Adam learning rate", low=0.0, low_open=True),
        Param("lr_decay", 1.0, "float", "sec. 3.9: x0.99 per 24,000 steps (~1 per epoch)", low=0.0, high=1.0,
              low_open=True),
        Param("batch_size", 8, "int", "sec. 3.9: 8 triplets per batch", low=1),
        Param("epochs", 40, "int", "sec. 3.9: 40 epochs", low=1),
        Param("weight_decay", 0.0, "float", "ours: Adam weight decay", low=0.0),
        Param("patience", 5, "int", "ours: epochs without validation gain before stopping (null: never)", low=1,
              nullable=True),
        Param("select_metric", "MAP", "str", "ours: validation metric that selects the epoch", choices=METRICS,
              nullable=True),
        Param("seed", 0, "int", "ours: seed of initialisation, sampling and dropout (the code: 42)", low=0),
    )

    def __init__(self, recipe: str | None = None, **params: Any):
        self.recipe = recipe
        self.recipe_info_, values, owner = recipe_config(self.name, recipe, params)
        self.config = resolve(owner, self.PARAMS, values)
        for key in ("attention_layers", "similarity_layers"):
            if not self.config[key]:
                raise ModelError(f"{self.name}: parameter {key!r} = [] is not allowed (allowed: a non-empty list of "
                                 f"integers >= 1)")
        self.network_: CameraNet | None = None
        self.layout_: dict[str, Any] = {}
        self.history_: list[dict[str, Any]] = []
        self.best_epoch_: int | None = None
        self._bound: tuple[dict[str, Any], dict[str, Any]] | None = None

    @classmethod
    def describe_params(cls) -> list[str]:
        return describe(cls.PARAMS)

    # ------------------------------------------------------------ fitting
    def fit(self, train: CooperationSet | None, features: FeatureSet, valid: CandidateGrid | None = None,
            info: AccountInfo | None = None, options: Any = None) -> "CameraRanker":
        from brandmatch.training.workflow import fit_ranker  # the one training workflow

        return fit_ranker(self, train, features, valid, info, options)

    def training_spec(self) -> TrainingSpec:
        c = self.config
        return TrainingSpec(sampler="uniform", losses=(LossSpec("triplet", 1.0, None, {
            "margin": c["margin"], "reduction": c["hinge_reduction"]}),), epochs=c["epochs"],
            batch_size=c["batch_size"], lr=c["lr"], lr_decay=c["lr_decay"], weight_decay=c["weight_decay"],
            l1=c["l1"], patience=c["patience"], select_metric=c["select_metric"], seed=c["seed"])

    def prepare(self, train: CooperationSet | None, features: FeatureSet, info: AccountInfo,
                brands: Sequence[str], influencers: Sequence[str]) -> "CameraRanker":
        """Choose the views, fit the concept space and the input statistics on the training accounts, build."""
        c = self.config
        accounts = list(brands) + list(influencers)

        def used(names: list[str]) -> dict[str, int]:
            return {n: features[n].dim for n in names if n in features and features[n].lookup(accounts)[1].any()}

        concept, dense = used(c["concept_views"]), used(c["dense_views"])
        if not concept:
            raise ModelUnavailable(f"{self.name}: no concept view present for the training accounts "
                                   f"(need one of {', '.join(c['concept_views'])})")
        pi, present = concept_profiles(features, accounts, list(concept))
        emb = concept_embeddings(pi[present], c["embedding_size"])
        activity = self.ENDORSEMENT and "activity" in features and features["activity"].lookup(list(influencers))[1].any()
        self.layout_ = {"concept": concept, "dense": dense, "embedding": int(emb.shape[1]), "activity": bool(activity)}
        self._build()
        net = self.network_
        std = c["init_std"]
        with torch.no_grad():
            net.concepts.copy_(torch.from_numpy(emb))
            if std > 0:
                for _, w in net.named_parameters():
                    w.normal_(0.0, std)
            if activity:
                y, ok = self._influence_inputs(features, list(influencers))
                net.influence_mean.copy_(torch.from_numpy(y[ok].mean(axis=0).astype(np.float32)))
                s = y[ok].std(axis=0)
                net.influence_std.copy_(torch.from_numpy(np.where(s > 1e-12, s, 1.0).astype(np.float32)))
                rate = engagement_rate(features, list(influencers))
                if np.isfinite(rate).any() and np.nanmedian(rate) > 0:
                    net.engagement_median.fill_(float(np.nanmedian(rate)))
        self.features_ = features
        return self

    def _build(self) -> None:
        lay = self.layout_
        n = sum(lay["concept"].values())
        self.network_ = CameraNet(n, lay["embedding"], sum(lay["dense"].values()), self.config, self.ENDORSEMENT)

    @staticmethod
    def _influence_inputs(features: FeatureSet, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(likes / followers, comments / followers) per post: (n, 2) float64 (0 where unknown), known (n,)."""
        values, mask = features["activity"].lookup(ids)
        cols = [ACTIVITY_COLUMNS.index(c) for c in ("followers", "likes_per_post", "comments_per_post")]
        followers = values[:, cols[0]].astype(np.float64)
        ok = mask & (followers > 0)
        y = np.where(ok[:, None], values[:, cols[1:]] / np.where(ok, followers, 1.0)[:, None], 0.0)
        return y, ok

    def required_inputs(self) -> list[str]:
        lay = self.layout_
        return [*lay.get("concept", {}), *lay.get("dense", {})] + (["activity"] if lay.get("activity") else [])

    # ------------------------------------------------------------ encoding
    def encode(self, ids: Sequence[str]) -> dict[str, torch.Tensor]:
        """Per-account tensors: h (n, e), C (n, k, e), cmask (n, k), psi (n, a), rho (n, k, a), dense (n, d),
        unit profile upi (n, V), unit dense ua (n, d), influence y (n, 2), relative engagement r (n,)."""
        feats = self._require_fitted()
        net, lay = self.network_, self.layout_
        ids = list(ids)
        pi_np, _ = concept_profiles(feats, ids, list(lay["concept"]))
        pi = torch.from_numpy(pi_np)
        h = pi @ net.concepts
        k = min(self.config["n_concepts"], pi.shape[1])
        top_w, top = torch.topk(pi, k, dim=1)
        concepts = net.concepts[top]  # (n, k, e)
        dense = [torch.from_numpy(feats[v].lookup(ids)[0]) for v in lay["dense"]]
        dense_x = torch.cat(dense, dim=1) if dense else torch.zeros(len(ids), 0)
        out = {"h": h, "C": concepts, "cmask": top_w > 0, "psi": net.psi(h), "dense": dense_x,
               "rho": net.rho(concepts.reshape(-1, concepts.shape[-1])).reshape(len(ids), k, -1),
               "upi": tf.normalize(pi, dim=-1),
               "ua": tf.normalize(dense_x, dim=-1) if dense else torch.zeros(len(ids), 0)}
        if net.endorsement:
            if lay["activity"]:
                y, ok = self._influence_inputs(feats, ids)
                y_t = (torch.from_numpy(y.astype(np.float32)) - net.influence_mean) / net.influence_std
                out["y"] = y_t * torch.from_numpy(ok).unsqueeze(-1).to(y_t.dtype)
                rate = engagement_rate(feats, ids)
                out["r"] = torch.from_numpy(np.where(np.isfinite(rate), rate, 1.0).astype(np.float32))
                out["r"] = torch.where(torch.from_numpy(np.isfinite(rate)), out["r"] / net.engagement_median,
                                       torch.ones_like(out["r"]))
            else:
                out["y"], out["r"] = torch.zeros(len(ids), 2), torch.ones(len(ids))
        return out

    def pair_scores(self, b: dict[str, torch.Tensor], bi: torch.Tensor, m: dict[str, torch.Tensor],
                    mi: torch.Tensor) -> torch.Tensor:
        """F for the P pairs (b[bi[p]], m[mi[p]]): (P,)."""
        net = self.network_
        width = b["psi"].shape[-1]

        def attend(query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
            logits = (query.unsqueeze(1) * keys).sum(-1) / width  # (P, k)
            w = torch.softmax(logits.masked_fill(~mask, -torch.inf), dim=-1).nan_to_num(0.0)
            return (w.unsqueeze(-1) * values).sum(1)

        d_m = attend(b["psi"][bi], m["rho"][mi], m["cmask"][mi], m["C"][mi])  # alpha: brand over m's concepts
        d_b = attend(m["psi"][mi], b["rho"][bi], b["cmask"][bi], b["C"][bi])  # beta: influencer over b's concepts
        g_b = net.gamma(torch.cat([d_b, b["h"][bi], b["dense"][bi]], dim=-1))
        g_m = net.gamma(torch.cat([d_m, m["h"][mi], m["dense"][mi]], dim=-1))
        sim = (g_b * g_m).sum(-1)
        if not net.endorsement:
            return sim
        r = m["r"][mi].unsqueeze(-1)
        x = torch.stack([(b["upi"][bi] * m["upi"][mi]).sum(-1), (b["ua"][bi] * m["ua"][mi]).sum(-1)], dim=-1) * r
        return sim * net.s1(x) * net.s2(m["y"][mi])

    # ------------------------------------------------------------ training path
    def bind_training(self, brands: Sequence[str], influencers: Sequence[str]) -> None:
        self._require_fitted()
        self._bound_ids = (list(brands), list(influencers))

    def batch_scores(self, brand_rows: np.ndarray, candidate_rows: np.ndarray
                     ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """brand_rows (n,), candidate_rows (n, L) into the bound accounts -> ({"F": (n, L)}, None)."""
        if getattr(self, "_bound_ids", None) is None:
            raise ModelError(f"{self.name}: bind_training() must come before batch_scores()")
        brands, infs = self._bound_ids
        n, L = candidate_rows.shape
        ub, bi = np.unique(brand_rows, return_inverse=True)
        um, mi = np.unique(candidate_rows.reshape(-1), return_inverse=True)
        b = self.encode([brands[i] for i in ub])
        m = self.encode([infs[j] for j in um])
        bi_t = torch.from_numpy(np.repeat(bi.reshape(-1), L))
        mi_t = torch.from_numpy(mi.reshape(-1))
        return {"F": self.pair_scores(b, bi_t, m, mi_t).view(n, L)}, None

    def unbind_training(self) -> None:
        self._bound_ids = None

    # ------------------------------------------------------------ inference
    def score(self, brand_ids: Sequence[str], influencer_ids: Sequence[str]) -> np.ndarray:
        """F for every pair: (n_brands, n_influencers) float64, computed in chunks of pairs."""
        self._require_fitted()
        net = self.network_
        was = net.training
        net.eval()
        nb, nm = len(brand_ids), len(influencer_ids)
        out = np.zeros((nb, nm))
        with torch.no_grad():
            b, m = self.encode(brand_ids), self.encode(influencer_ids)
            cols = min(max(nm, 1), PAIR_CHUNK)
            rows = max(1, PAIR_CHUNK // cols)
            for i in range(0, nb, rows):
                i2 = min(i + rows, nb)
                for j in range(0, nm, cols):
                    j2 = min(j + cols, nm)
                    bi = torch.arange(i, i2).repeat_interleave(j2 - j)
                    mi = torch.arange(j, j2).repeat(i2 - i)
                    out[i:i2, j:j2] = self.pair_scores(b, bi, m, mi).view(i2 - i, j2 - j).double().numpy()
        net.train(was)
        return out

    # ------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, np.ndarray]:
        return module_state(self.network_)

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        load_module_state(self.name, self.network_, state)

    def extra_config(self) -> dict[str, Any]:
        return {"layout": self.layout_, "best_epoch": self.best_epoch_, "history": self.history_}

    def load_extra_config(self, extra: dict[str, Any]) -> None:
        lay = dict(extra.get("layout", {}))
        order = lambda names, saved: {n: int(saved[n]) for n in names if n in saved}  # noqa: E731
        self.layout_ = {"concept": order(self.config["concept_views"], lay.get("concept", {})),
                        "dense": order(self.config["dense_views"], lay.get("dense", {})),
                        "embedding": int(lay.get("embedding", 0)), "activity": bool(lay.get("activity", False))}
        self.best_epoch_ = extra.get("best_epoch")
        self.history_ = list(extra.get("history", []))
        self._build()
