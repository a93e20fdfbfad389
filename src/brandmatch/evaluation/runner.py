"""Fit a model on a dataset's training brands and evaluate it on a fixed candidate grid.

Selection data (the validation grid) reach the model; the test grid is only scored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from brandmatch.data.store import Dataset
from brandmatch.errors import ModelUnavailable
from brandmatch.evaluation.protocol import GridEvaluation, evaluate_grid
from brandmatch.models.base import Ranker, create, score_grid
from brandmatch.training.workflow import account_info, fit_model  # noqa: F401  (the one training workflow)


@dataclass
class ModelResult:
    """One row of a results table: the evaluation, or why the model is not available."""

    dataset: str
    model: str
    evaluation: GridEvaluation | None
    unavailable: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json_dict(self) -> dict:
        out: dict[str, Any] = {"dataset": self.dataset, "model": self.model, "params": self.params}
        if self.evaluation is None:
            out.update({"available": False, "reason": self.unavailable, "metrics": None, "ci95": None,
                        "per_category": None, "warnings": []})
        else:
            out["available"] = True
            out.update(self.evaluation.to_json_dict())
        out["seconds"] = round(self.seconds, 3)
        return out


def evaluate_model(
    model: Ranker,
    dataset: Dataset,
    grid: str = "test",
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> GridEvaluation:
    """Score ``grid`` with a fitted model and compute every metric, CIs and per-category rows."""
    g = dataset.grid(grid)
    scores = score_grid(model, g)
    cats = dataset.brand_category()
    inf_cats = dataset.influencer_categories()
    ev = evaluate_grid(
        scores,
        g.labels,
        [str(cats.get(b)) for b in g.brand_ids],
        [inf_cats.get(m, frozenset()) for m in g.influencer_ids],
        n_bootstrap=n_bootstrap,
        seed=seed,
        brand_ids=g.brand_ids.tolist(),
    )
    # 'test' and 'validation' grids never overlap training (checked on load); other grids may
    trained = set(dataset.brands("train"))
    leaked = [b for b in g.brand_ids.tolist() if b in trained]
    if leaked:
        shown = ", ".join(repr(b) for b in leaked[:3]) + (f" and {len(leaked) - 3} more" if len(leaked) > 3 else "")
        ev.warnings.append(f"grid {grid!r}: {len(leaked)} brand(s) are in the 'train' split ({shown}): "
                           "the model was trained on their cooperations")
    return ev


def run_model(
    name: str,
    dataset: Dataset,
    grid: str = "test",
    *,
    params: dict[str, Any] | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    options: Any = None,
) -> ModelResult:
    """Create, fit and evaluate a registered model; an unavailable model gives an n/a row."""
    params = dict(params or {})
    start = time.perf_counter()
    try:
        model = create(name, **params)
        fit_model(model, dataset, options)
        evaluation = evaluate_model(model, dataset, grid, n_bootstrap=n_bootstrap, seed=seed)
    except ModelUnavailable as exc:
        return ModelResult(dataset.name, name, None, str(exc), params, time.perf_counter() - start)
    return ModelResult(dataset.name, name, evaluation, None, params, time.perf_counter() - start)
