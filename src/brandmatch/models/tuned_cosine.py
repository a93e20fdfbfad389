"""TUNED-COSINE (practitioner baseline, ours): COSINE with one weight per feature view, chosen on
the VALIDATION grid.

F(b, m) = sum_v w_v cos(x_b^v, x_m^v)   (v: feature views present for both accounts)

Search (``fit``): the per-view cosine matrices S_v (n_valid_brands, n_candidates) of the
validation grid are computed once; a weight vector w in ``grid``^V (not all zero) is scored by
``select_metric`` of sum_v w_v S_v on that grid (never the test grid). ``search="exhaustive"``
tries every vector in ``itertools.product(grid, repeat=V)`` order; ``"coordinate"`` starts at
w = 1 and, view by view in feature order, tries every grid value with the others fixed, for at
most ``max_passes`` passes or until a pass changes nothing; ``"auto"`` is exhaustive when
len(grid)^V <= 256, else coordinate. Only a strict improvement replaces the incumbent (ties keep
the earlier vector). Without a validation grid every weight stays 1 (= COSINE).

It is a composition of the ``cosine`` score term with fixed weights (w_v = exp(l_v), l_v = -inf
for w_v = 0), so it embeds: score = embed(b, "brand") . embed(m, "influencer").
Motivation: an untuned sum of five views can fall below its own best single view.
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any, Sequence

import numpy as np
import torch

from brandmatch.data.schema import CandidateGrid, CooperationSet
from brandmatch.errors import ModelError
from brandmatch.evaluation.metrics import LOWER_IS_BETTER, METRICS, grid_metrics
from brandmatch.features.store import FeatureSet
from brandmatch.models.base import AccountInfo, register
from brandmatch.models.cosine import CosineRanker, unit_lookup
from brandmatch.models.params import Param, resolve
from brandmatch.models.terms.base import ScoreTerm
from brandmatch.models.terms.cosine import CosineTerm

#: the search space is exhaustive up to this many weight vectors ("auto")
EXHAUSTIVE_LIMIT = 256


@register
class TunedCosineRanker(CosineRanker):
    """COSINE with per-view weights picked by a validation search (see the module docstring)."""

    name = "tuned-cosine"
    summary = "TUNED-COSINE: per-view cosine weights chosen on the validation grid (practitioner baseline)"
    PARAMS = (
        Param("views", None, "names", "feature views to compare (null: every standard view present)",
              nullable=True),
        Param("grid", [0.0, 0.25, 0.5, 1.0, 2.0], "floats", "ours: candidate weights of each view", low=0.0),
        Param("search", "auto", "str", "ours: exhaustive (every weight vector), coordinate (one view at a "
              "time from w = 1), auto (exhaustive up to 256 vectors)", choices=("auto", "exhaustive", "coordinate")),
        Param("select_metric", "MAP", "str", "ours: validation metric maximised (MedR: minimised)", choices=METRICS),
        Param("max_passes", 3, "int", "ours: coordinate-search passes at most", low=1),
    )

    def __init__(self, views: list[str] | str | None = None, grid: Sequence[float] = (0.0, 0.25, 0.5, 1.0, 2.0),
                 search: str = "auto", select_metric: str = "MAP", max_passes: int = 3):
        super().__init__(views)
        c = resolve(self.name, self.PARAMS, {"views": views, "grid": list(grid), "search": search,
                                             "select_metric": select_metric, "max_passes": max_passes})
        if not c["grid"] or not any(g > 0 for g in c["grid"]):
            raise ModelError(f"{self.name}: parameter 'grid' = {c['grid']!r} is not allowed "
                             f"(allowed: a list of weights >= 0 with at least one > 0)")
        self.views, self.grid, self.search = c["views"], c["grid"], c["search"]
        self.select_metric, self.max_passes = c["select_metric"], c["max_passes"]
        self.weights_: dict[str, float] = {}
        self.search_: dict[str, Any] = {}

    def get_params(self) -> dict[str, Any]:
        return {"views": self.views, "grid": self.grid, "search": self.search,
                "select_metric": self.select_metric, "max_passes": self.max_passes}

    def make_terms(self) -> list[ScoreTerm]:
        return [CosineTerm(weights="learned")]  # one scalar per view; set by the search, never trained

    # ------------------------------------------------------------ fit = prepare + search
    def fit(self, train: CooperationSet | None, features: FeatureSet, valid: CandidateGrid | None = None,
            info: AccountInfo | None = None, options: Any = None) -> "TunedCosineRanker":
        super().fit(train, features, valid, info)
        names = self.terms[0].feature_names
        if valid is None or not len(valid.brand_ids) or not valid.labels.any():
            weights, record = {n: 1.0 for n in names}, {"reason": "no validation grid: every weight 1 (COSINE)"}
        else:
            weights, record = self.search_weights(names, features, valid)
        self.set_weights(weights)
        self.search_ = record
        return self

    def view_scores(self, names: Sequence[str], features: FeatureSet, grid: CandidateGrid) -> np.ndarray:
        """Per-view cosine matrices of a grid: (V, n_brands, n_candidates) float64."""
        out = []
        for n in names:
            ub, _ = unit_lookup(features, n, grid.brand_ids)
            um, _ = unit_lookup(features, n, grid.influencer_ids)
            out.append(ub @ um.T)
        return np.stack(out)

    def _metric(self, scores: np.ndarray, labels: np.ndarray) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = grid_metrics(scores, labels)[self.select_metric]
        if math.isnan(value):
            return -math.inf
        return -value if self.select_metric in LOWER_IS_BETTER else value

    def candidates(self, n_views: int) -> str:
        """The search actually run: "exhaustive" or "coordinate"."""
        if self.search != "auto":
            return self.search
        return "exhaustive" if len(self.grid) ** n_views <= EXHAUSTIVE_LIMIT else "coordinate"

    def search_weights(self, names: Sequence[str], features: FeatureSet, valid: CandidateGrid
                       ) -> tuple[dict[str, float], dict[str, Any]]:
        """The weight per view that maximises the validation metric, and a record of the search."""
        s = self.view_scores(names, features, valid)
        labels = valid.labels
        kind = self.candidates(len(names))
        tried = 0
        best_w: tuple[float, ...] | None = None
        best = -math.inf
        if kind == "exhaustive":
            for w in itertools.product(self.grid, repeat=len(names)):
                if not any(w):
                    continue
                tried += 1
                value = self._metric(np.tensordot(np.asarray(w), s, axes=1), labels)
                if best_w is None or value > best:
                    best_w, best = w, value
        else:
            start = 1.0 if 1.0 in self.grid else max(self.grid)
            best_w = tuple(start for _ in names)
            best = self._metric(np.tensordot(np.asarray(best_w), s, axes=1), labels)
            tried = 1
            for _ in range(self.max_passes):
                changed = False
                for i in range(len(names)):
                    for g in self.grid:
                        w = best_w[:i] + (g,) + best_w[i + 1:]
                        if w == best_w or not any(w):
                            continue
                        tried += 1
                        value = self._metric(np.tensordot(np.asarray(w), s, axes=1), labels)
                        if value > best:
                            best_w, best, changed = w, value, True
                if not changed:
                    break
        assert best_w is not None
        value = -best if self.select_metric in LOWER_IS_BETTER else best
        return dict(zip(names, map(float, best_w))), {"search": kind, "tried": tried,
                                                      "valid_" + self.select_metric: value}

    def set_weights(self, weights: dict[str, float]) -> None:
        """w_v per feature view into the cosine term (log-weights; -inf for 0)."""
        term = self.terms[0]
        with torch.no_grad():
            for n, w in weights.items():
                term.log_w[n].fill_(math.log(w) if w > 0 else -math.inf)
                term.log_w[n].requires_grad_(False)
        self.weights_ = dict(weights)

    # ------------------------------------------------------------ persistence
    def extra_config(self) -> dict[str, Any]:
        return {**super().extra_config(), "weights": self.weights_, "search": self.search_}

    def load_extra_config(self, extra: dict[str, Any]) -> None:
        super().load_extra_config(extra)
        self.weights_ = {k: float(v) for k, v in (extra.get("weights") or {}).items()}
        self.search_ = dict(extra.get("search") or {})
