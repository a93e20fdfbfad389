"""KNN (practitioner baseline, in the manner of Sweet et al.'s content-matching kNN): a new brand is
scored against an influencer through its k most similar TRAINING brands and their partners.

    sim(b, b')  = sum_u cos(x_b^u, x_b'^u)             (u: ``brand_views`` present for both)
    N_k(b)      = the k training brands b' != b with the largest sim (ties: training order)
    a(b, b')    = 1/k ("uniform") or max(sim, 0) / sum_{N_k} max(sim, 0) ("similarity"; uniform
                  when that sum is 0)
    F(b, m)     = sum_{b' in N_k(b)} a(b, b') mean_{m' partner of b'} sum_v cos(x_m'^v, x_m^v)

(v: ``match_views``; a partner absent in a view contributes 0 to that view's mean.) It
decomposes: the brand side is a fixed profile P_v(b) = sum_{b'} a(b, b') mean_{m'} unit(x_m'^v)
concatenated over v, the influencer side is unit(x_m^v) concatenated over v (zero where absent),
and F = <P(b), U(m)> = embed(b, "brand") . embed(m, "influencer").

k: given, or (``k=null``) chosen from ``k_grid`` by ``select_metric`` on the VALIDATION grid (first
best in grid order; 10, capped at the number of training brands, without a validation grid).
Learned state (state_dict): the training brands' unit features per brand view and their partner
profiles per match view; the chosen k and the validation record in the config.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np

from brandmatch.data.schema import CandidateGrid, CooperationSet
from brandmatch.errors import ModelError, ModelUnavailable
from brandmatch.evaluation.metrics import LOWER_IS_BETTER, METRICS, grid_metrics
from brandmatch.features.store import STANDARD_VIEWS, FeatureSet
from brandmatch.models.base import AccountInfo, Ranker, register
from brandmatch.models.cosine import unit_lookup
from brandmatch.models.params import Param, resolve

DEFAULT_K = 10


@register
class KNNRanker(Ranker):
    """Brand-kNN over training brands, then partner-to-influencer cosine (see the module docstring)."""

    name = "knn"
    summary = "KNN: the k most similar training brands' partners vs the influencer (content matching)"
    PARAMS = (
        Param("k", None, "int", "ours: neighbour brands (null: chosen from k_grid on the validation grid)",
              low=1, nullable=True),
        Param("k_grid", [1, 3, 5, 10, 20, 40], "ints", "ours: values of k tried on the validation grid", low=1),
        Param("weighting", "uniform", "str", "ours: neighbour weights 1/k or proportional to similarity",
              choices=("uniform", "similarity")),
        Param("brand_views", None, "names", "ours: views of the brand-brand similarity (null: every standard "
              "view present for training brands)", choices=STANDARD_VIEWS, nullable=True),
        Param("match_views", None, "names", "ours: views of the partner-influencer cosine (null: every "
              "standard view present for training influencers)", choices=STANDARD_VIEWS, nullable=True),
        Param("select_metric", "MAP", "str", "ours: validation metric that picks k (MedR: minimised)",
              choices=METRICS),
    )

    def __init__(self, k: int | None = None, k_grid: Sequence[int] = (1, 3, 5, 10, 20, 40),
                 weighting: str = "uniform", brand_views: list[str] | str | None = None,
                 match_views: list[str] | str | None = None, select_metric: str = "MAP"):
        c = resolve(self.name, self.PARAMS, {"k": k, "k_grid": list(k_grid), "weighting": weighting,
                                             "brand_views": brand_views, "match_views": match_views,
                                             "select_metric": select_metric})
        if not c["k_grid"]:
            raise ModelError(f"{self.name}: parameter 'k_grid' = [] is not allowed (allowed: a non-empty list "
                             f"of integers >= 1)")
        self.k, self.k_grid, self.weighting = c["k"], c["k_grid"], c["weighting"]
        self.brand_views, self.match_views, self.select_metric = c["brand_views"], c["match_views"], c["select_metric"]
        self.k_: int | None = None
        self.train_brands_: list[str] = []
        self.brand_views_: list[str] = []
        self.match_views_: list[str] = []
        self.brand_units_: dict[str, np.ndarray] = {}  # view -> (n_train_brands, d) unit rows (0: absent)
        self.profiles_: dict[str, np.ndarray] = {}  # view -> (n_train_brands, d) mean unit partner rows
        self.validation_: dict[str, Any] = {}

    # ------------------------------------------------------------ fit
    def fit(self, train: CooperationSet, features: FeatureSet, valid: CandidateGrid | None = None,
            info: AccountInfo | None = None) -> "KNNRanker":
        if train is None or len(train) == 0:
            raise ModelError(f"{self.name}: no training cooperations")
        self.features_ = features
        brands = train.brands
        partners = train.partners()
        present = lambda v, ids: v in features and features[v].lookup(list(ids))[1].any()  # noqa: E731
        bviews = self.brand_views if self.brand_views is not None else list(STANDARD_VIEWS)
        mviews = self.match_views if self.match_views is not None else list(STANDARD_VIEWS)
        self.brand_views_ = [v for v in bviews if present(v, brands)]
        self.match_views_ = [v for v in mviews if present(v, train.influencers)]
        if not self.brand_views_ or not self.match_views_:
            raise ModelUnavailable(f"{self.name}: needs a feature view present for training brands "
                                   f"({', '.join(bviews)}) and one for training influencers ({', '.join(mviews)})")
        self.train_brands_ = list(brands)
        self.brand_units_ = {v: unit_lookup(features, v, brands)[0] for v in self.brand_views_}
        self.profiles_ = {}
        for v in self.match_views_:
            rows = []
            for b in brands:
                u, _ = unit_lookup(features, v, sorted(partners[b]))
                rows.append(u.mean(axis=0))
            self.profiles_[v] = np.stack(rows)
        if self.k is not None:
            self.k_, self.validation_ = min(self.k, len(brands)), {"reason": "k given"}
        elif valid is None or not len(valid.brand_ids) or not valid.labels.any():
            self.k_ = min(DEFAULT_K, len(brands))
            self.validation_ = {"reason": f"no validation grid: k = {self.k_}"}
        else:
            self.k_, self.validation_ = self._select_k(valid)
        return self

    def _select_k(self, valid: CandidateGrid) -> tuple[int, dict[str, Any]]:
        um = self.influencer_side(valid.influencer_ids)
        sim = self.brand_similarity(valid.brand_ids)
        values = {}
        best_k, best = None, -math.inf
        for k in dict.fromkeys(min(k, len(self.train_brands_)) for k in self.k_grid):
            scores = self.brand_side(valid.brand_ids, k, sim) @ um.T
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = grid_metrics(scores, valid.labels)[self.select_metric]
            values[str(k)] = value
            key = -math.inf if math.isnan(value) else (-value if self.select_metric in LOWER_IS_BETTER else value)
            if best_k is None or key > best:
                best_k, best = k, key
        assert best_k is not None
        return best_k, {"metric": self.select_metric, "by_k": values}

    # ------------------------------------------------------------ sides
    def _require(self) -> FeatureSet:
        feats = self._require_fitted()
        if not self.train_brands_:
            raise ModelError(f"model {self.name!r} is not fitted: call fit() first")
        return feats

    def brand_similarity(self, brand_ids: Sequence[str]) -> np.ndarray:
        """sim(b, b') for the query brands vs the training brands: (n, n_train_brands); a training
        brand's similarity to itself is -inf (never its own neighbour)."""
        feats = self._require()
        sim = np.zeros((len(brand_ids), len(self.train_brands_)))
        for v in self.brand_views_:
            ub, _ = unit_lookup(feats, v, brand_ids)
            sim += ub @ self.brand_units_[v].T
        index = {b: j for j, b in enumerate(self.train_brands_)}
        for i, b in enumerate(brand_ids):
            if b in index:
                sim[i, index[b]] = -np.inf
        return sim

    def neighbour_weights(self, sim: np.ndarray, k: int) -> np.ndarray:
        """a(b, b'): (n, n_train_brands), k non-zero entries per row (``sim`` from :meth:`brand_similarity`)."""
        n, t = sim.shape
        k = min(k, t - 1 if np.isneginf(sim).any() else t) if t > 1 else t
        order = np.argsort(-sim, axis=1, kind="stable")[:, :k]
        a = np.zeros((n, t))
        rows = np.arange(n)[:, None]
        if self.weighting == "uniform":
            a[rows, order] = 1.0 / max(k, 1)
        else:
            s = np.maximum(sim[rows, order], 0.0)
            total = s.sum(axis=1, keepdims=True)
            a[rows, order] = np.where(total > 0, s / np.where(total > 0, total, 1.0), 1.0 / max(k, 1))
        return a

    def brand_side(self, brand_ids: Sequence[str], k: int | None = None, sim: np.ndarray | None = None) -> np.ndarray:
        """Profiles P(b): (n, sum_v d_v) float64."""
        sim = self.brand_similarity(brand_ids) if sim is None else sim
        a = self.neighbour_weights(sim, self.k_ if k is None else k)
        return np.concatenate([a @ self.profiles_[v] for v in self.match_views_], axis=1)

    def influencer_side(self, influencer_ids: Sequence[str]) -> np.ndarray:
        """Unit rows U(m): (n, sum_v d_v) float64."""
        feats = self._require()
        return np.concatenate([unit_lookup(feats, v, influencer_ids)[0] for v in self.match_views_], axis=1)

    def embed(self, account_ids: Sequence[str], role: str = "influencer") -> np.ndarray:
        if role == "brand":
            return self.brand_side(list(account_ids))
        if role == "influencer":
            return self.influencer_side(list(account_ids))
        raise ModelError(f"{self.name}: role must be 'brand' or 'influencer', got {role!r}")

    def score(self, brand_ids: Sequence[str], influencer_ids: Sequence[str]) -> np.ndarray:
        return self.embed(brand_ids, "brand") @ self.embed(influencer_ids, "influencer").T

    def required_inputs(self) -> list[str]:
        return list(dict.fromkeys([*self.brand_views_, *self.match_views_]))

    # ------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, np.ndarray]:
        return {**{f"brand.{v}": x for v, x in self.brand_units_.items()},
                **{f"profile.{v}": x for v, x in self.profiles_.items()}}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        want = {f"brand.{v}" for v in self.brand_views_} | {f"profile.{v}" for v in self.match_views_}
        if set(state) != want:
            raise ModelError(f"{self.name}: weights do not match the config (have {sorted(state)[:4]}, "
                             f"expected {sorted(want)[:4]})")
        self.brand_units_ = {v: np.asarray(state[f"brand.{v}"], dtype=np.float64) for v in self.brand_views_}
        self.profiles_ = {v: np.asarray(state[f"profile.{v}"], dtype=np.float64) for v in self.match_views_}
        n = len(self.train_brands_)
        if any(x.shape[0] != n for x in [*self.brand_units_.values(), *self.profiles_.values()]):
            raise ModelError(f"{self.name}: weights have another number of training brands than the config ({n})")

    def extra_config(self) -> dict[str, Any]:
        return {"k": self.k_, "train_brands": self.train_brands_, "brand_views": self.brand_views_,
                "match_views": self.match_views_, "validation": self.validation_}

    def load_extra_config(self, extra: dict[str, Any]) -> None:
        self.k_ = extra.get("k")
        self.train_brands_ = list(extra.get("train_brands", []))
        self.brand_views_ = list(extra.get("brand_views", []))
        self.match_views_ = list(extra.get("match_views", []))
        self.validation_ = dict(extra.get("validation") or {})
