"""Fit a model on a dataset's training brands and evaluate it on a fixed candidate grid.

Selection data (the validation grid) reach the model; the test grid is only scored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from brandmatch.data.store import Dataset
from brandmatch.errors import DatasetError, ModelUnavailable
from brandmatch.evaluation.protocol import GridEvaluation, evaluate_grid
from brandmatch.models.base import AccountInfo, Ranker, create, score_grid


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
                        "per_category": None})
        else:
            out["available"] = True
            out.update(self.evaluation.to_json_dict())
        out["seconds"] = round(self.seconds, 3)
        return out


def account_info(dataset: Dataset, splits: tuple[str, ...] = ("train",)) -> AccountInfo:
    """What a model may know when trained on ``splits``: categories from those cooperations only."""
    train = dataset.cooperations(list(splits))
    cats = dataset.brand_category()
    inf_cats: dict[str, set[str]] = {}
    for b, m in zip(train.brand_ids.tolist(), train.influencer_ids.tolist()):
        if cats.get(b) is not None:
            inf_cats.setdefault(m, set()).add(cats[b])
    return AccountInfo(
        brand_category=cats,
        influencer_categories={m: frozenset(c) for m, c in inf_cats.items()},
        influencers=tuple(train.influencers),
    )


def fit_on_dataset(model: Ranker, dataset: Dataset) -> Ranker:
    """Fit on the train split; the validation grid (if the dataset has one) is given for selection."""
    train = dataset.cooperations("train")
    if len(train) == 0:
        raise DatasetError(f"{dataset.path or dataset.name}: no training cooperations (splits table has no train brands)")
    valid = dataset.grid("validation") if "validation" in dataset.grid_names() else None
    return model.fit(train, dataset.features, valid, account_info(dataset))


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
    return evaluate_grid(
        scores,
        g.labels,
        [str(cats.get(b)) for b in g.brand_ids],
        [inf_cats.get(m, frozenset()) for m in g.influencer_ids],
        n_bootstrap=n_bootstrap,
        seed=seed,
    )


def run_model(
    name: str,
    dataset: Dataset,
    grid: str = "test",
    *,
    params: dict[str, Any] | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> ModelResult:
    """Create, fit and evaluate a registered model; an unavailable model gives an n/a row."""
    params = dict(params or {})
    start = time.perf_counter()
    try:
        model = create(name, **params)
        fit_on_dataset(model, dataset)
        evaluation = evaluate_model(model, dataset, grid, n_bootstrap=n_bootstrap, seed=seed)
    except ModelUnavailable as exc:
        return ModelResult(dataset.name, name, None, str(exc), params, time.perf_counter() - start)
    return ModelResult(dataset.name, name, evaluation, None, params, time.perf_counter() - start)
