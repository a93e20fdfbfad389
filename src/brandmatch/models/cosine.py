"""COSINE: training-free content match, the sum over views of cos(brand vector, influencer vector).

F(b, m) = sum_{v in views, v present for b and m} cos(x_b^v, x_m^v). A view missing for either
account contributes nothing to that pair (it is not treated as a zero vector).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from brandmatch.errors import ModelUnavailable
from brandmatch.features.store import STANDARD_VIEWS
from brandmatch.models.base import Ranker, register


def normalized_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero): (n, d) -> (n, d) float64."""
    x = np.asarray(x, dtype=np.float64)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


@register
class CosineRanker(Ranker):
    """Sum of per-view cosine similarities; ``views=None`` uses every standard view present."""

    name = "cosine"
    summary = "COSINE: training-free sum of per-view cosine similarities"

    def __init__(self, views: list[str] | None = None):
        self.views = views

    def used_views(self) -> list[str]:
        feats = self._require_fitted()
        wanted = self.views if self.views is not None else list(STANDARD_VIEWS)
        present = [v for v in wanted if v in feats and feats[v].mask.any()]
        if not present:
            raise ModelUnavailable(
                f"cosine: none of the views {', '.join(wanted)} is present in the feature set"
            )
        return present

    def score(self, brand_ids: Sequence[str], influencer_ids: Sequence[str]) -> np.ndarray:
        feats = self._require_fitted()
        total = np.zeros((len(brand_ids), len(influencer_ids)), dtype=np.float64)
        for view in self.used_views():
            xb, mb = feats[view].lookup(list(brand_ids))
            xm, mm = feats[view].lookup(list(influencer_ids))
            sim = normalized_rows(xb) @ normalized_rows(xm).T
            total += np.where(mb[:, None] & mm[None, :], sim, 0.0)
        return total
