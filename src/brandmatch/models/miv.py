"""MIV: influence from activeness (the activeness-factor module of Li, Lai & Chen 2011).

MIV(m) = sum_i z(f_i(m)) over the factors f = log(1 + followers), log(1 + likes per post),
log(1 + comments per post), posts per day; z-scores use the training influencers' statistics.
The score ignores the brand (F(b, m) = MIV(m)), so it ranks every brand's candidates the same way;
an influencer without activity statistics gets the lowest training value minus 1. It decomposes:
embed(b, "brand") = [1], embed(m, "influencer") = [MIV(m)].
Without an ``activity`` view built from posts and follower counts the model is unavailable.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from brandmatch.data.schema import CandidateGrid, CooperationSet
from brandmatch.errors import ModelError, ModelUnavailable
from brandmatch.features.activity import ACTIVITY_COLUMNS
from brandmatch.features.store import FeatureSet
from brandmatch.models.base import AccountInfo, Ranker, register

#: The activeness factors summed by MIV (baselines-spec §4.4) and whether they are log-scaled.
FACTORS = (("followers", True), ("likes_per_post", True), ("comments_per_post", True), ("posts_per_day", False))


@register
class MIVRanker(Ranker):
    """Brand-independent activeness score; needs the ``activity`` view with post statistics."""

    name = "miv"
    summary = "MIV: brand-independent activeness (followers, likes, comments, posting frequency)"

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None
        self.floor_: float | None = None  # score of an influencer without statistics

    def _factors(self, feats: FeatureSet, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        if "activity" not in feats or feats["activity"].meta.get("posts_present", 0) == 0:
            raise ModelUnavailable(
                "miv: the data has no post statistics (likes, comments, timestamps) to measure activeness"
            )
        view = feats["activity"]
        values, mask = view.lookup(list(ids))
        cols = [ACTIVITY_COLUMNS.index(name) for name, _ in FACTORS]
        x = values[:, cols].astype(np.float64)
        for j, (_, log) in enumerate(FACTORS):
            if log:
                x[:, j] = np.log1p(np.maximum(x[:, j], 0.0))
        return x, mask

    def fit(
        self,
        train: CooperationSet,
        features: FeatureSet,
        valid: CandidateGrid | None = None,
        info: AccountInfo | None = None,
    ) -> "MIVRanker":
        self.features_ = features
        pool = list(info.influencers) if info and info.influencers else train.influencers
        x, mask = self._factors(features, pool)
        if not mask.any():
            raise ModelUnavailable("miv: no training influencer has activity statistics")
        self.mean_ = x[mask].mean(axis=0)
        std = x[mask].std(axis=0)
        self.std_ = np.where(std > 0, std, 1.0)
        self.floor_ = float(((x[mask] - self.mean_) / self.std_).sum(axis=1).min() - 1.0)
        return self

    def values(self, influencer_ids: Sequence[str]) -> np.ndarray:
        """MIV(m) of each influencer: (n,) float64."""
        feats = self._require_fitted()
        if self.mean_ is None or self.std_ is None or self.floor_ is None:
            raise ModelUnavailable("miv: not fitted")
        x, mask = self._factors(feats, influencer_ids)
        z = ((x - self.mean_) / self.std_).sum(axis=1)
        z[~mask] = self.floor_
        return z

    def embed(self, account_ids: Sequence[str], role: str) -> np.ndarray:
        """Brands: (n, 1) ones; influencers: (n, 1) MIV values."""
        if role == "brand":
            return np.ones((len(account_ids), 1))
        if role == "influencer":
            return self.values(account_ids)[:, None]
        raise ModelError(f"miv: role must be 'brand' or 'influencer', got {role!r}")

    def score(self, brand_ids: Sequence[str], influencer_ids: Sequence[str]) -> np.ndarray:
        return np.broadcast_to(self.values(influencer_ids), (len(brand_ids), len(influencer_ids))).copy()

    def required_inputs(self) -> list[str]:
        return ["activity"]

    def state_dict(self) -> dict[str, np.ndarray]:
        return {} if self.mean_ is None else {"mean": self.mean_, "std": self.std_,
                                               "floor": np.array([self.floor_])}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if state:
            self.mean_, self.std_, self.floor_ = state["mean"], state["std"], float(state["floor"][0])
