"""COSINE: training-free content match, the sum over feature views of cos(brand vector, influencer vector).

F(b, m) = sum_{v in views, v present for b and m} cos(x_b^v, x_m^v). A view missing for either
account contributes nothing to that pair (it is not treated as a zero vector). COSINE is the
``cosine`` score term with fixed weights (:mod:`brandmatch.models.terms.cosine`), so it embeds:
score = embed(b, "brand") . embed(m, "influencer") (unit vectors of every view, concatenated).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from brandmatch.errors import ModelUnavailable
from brandmatch.features.store import STANDARD_VIEWS, FeatureSet
from brandmatch.models.base import register
from brandmatch.models.composed import ComposedRanker
from brandmatch.models.params import Param, resolve
from brandmatch.models.terms.base import ScoreTerm, view_of
from brandmatch.models.terms.cosine import CosineTerm


def normalized_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero): (n, d) -> (n, d) float64."""
    x = np.asarray(x, dtype=np.float64)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def unit_lookup(features: FeatureSet, name: str, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows of view ``name`` for ``ids``: (n, d) float64 (zero rows where absent) and mask (n,) bool."""
    values, mask = features[name].lookup(list(ids))
    return normalized_rows(values) * mask[:, None], mask


@register
class CosineRanker(ComposedRanker):
    """Sum of per-view cosine similarities; ``views=None`` uses every standard view present."""

    name = "cosine"
    summary = "COSINE: training-free sum of per-view cosine similarities"
    PARAMS = (Param("views", None, "names", "feature views to compare (null: every standard view present)",
                    nullable=True),)

    def __init__(self, views: list[str] | str | None = None):
        super().__init__()
        self.views = resolve(self.name, self.PARAMS, {"views": views})["views"]

    def get_params(self) -> dict:
        return {"views": self.views}

    def make_terms(self) -> list[ScoreTerm]:
        return [CosineTerm(weights="fixed")]

    def usable_layout(self, features: FeatureSet, brands: Sequence[str], influencers: Sequence[str]) -> None:
        """Every wanted view present for some account (no training accounts needed)."""
        wanted = self.views if self.views is not None else list(STANDARD_VIEWS)
        present = [v for v in wanted if v in features and features[v].mask.any()]
        if not present:
            raise ModelUnavailable(f"cosine: none of the views {', '.join(wanted)} is present in the feature set")
        layout: dict[str, dict[str, int]] = {}
        for v in present:
            layout.setdefault(view_of(v), {})[v] = features[v].dim
        self.layout_, self.dropped_ = layout, {}
