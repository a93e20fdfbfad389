"""Evaluation protocol: overall metrics, bootstrap confidence intervals over brands, and
per-category breakdown of a brand x candidate score grid; plus a markdown table formatter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from brandmatch.evaluation.metrics import (
    METRICS,
    BrandQuantities,
    EvaluationInputError,
    brand_quantities,
    metrics_from_quantities,
    same_category_mask,
    warn_skipped,
)

__all__ = ["GridEvaluation", "evaluate_grid", "bootstrap_ci", "format_metrics_table", "degenerate_warnings"]

#: Key of the all-brands entry in :attr:`GridEvaluation.per_category`.
ALL_KEY = "all"

#: Largest number of (replicate, brand) cells resampled at once.
_BOOTSTRAP_CELLS = 1 << 22


def _json_float(value: float | None) -> float | None:
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) else None


@dataclass
class GridEvaluation:
    """Result of :func:`evaluate_grid`.

    ``n_brands`` counts every brand row of the grid (skipped ones included); ``skipped_brands``
    of them have no positive and are excluded from every metric. ``n_positives`` is the number
    of positive cells of the grid. ``warnings`` says where a metric is undefined or trivially
    perfect on this grid (see :func:`degenerate_warnings`); they are printed under the results
    table and kept in the JSON.
    """

    metrics: dict[str, float]  # overall, keys = METRICS
    ci95: dict[str, tuple[float, float]]  # bootstrap over brands, percentile interval
    per_category: dict[str, dict[str, float]]  # category -> METRICS dict, then "all"
    n_brands: int
    n_candidates: int
    n_positives: int
    skipped_brands: int
    n_bootstrap: int = 0
    seed: int | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-safe dict (non-finite floats become ``None``; intervals become lists)."""
        return {
            "metrics": {k: _json_float(v) for k, v in self.metrics.items()},
            "ci95": {k: [_json_float(lo), _json_float(hi)] for k, (lo, hi) in self.ci95.items()},
            "per_category": {
                cat: {k: _json_float(v) for k, v in vals.items()}
                for cat, vals in self.per_category.items()
            },
            "n_brands": int(self.n_brands),
            "n_candidates": int(self.n_candidates),
            "n_positives": int(self.n_positives),
            "skipped_brands": int(self.skipped_brands),
            "n_bootstrap": int(self.n_bootstrap),
            "seed": None if self.seed is None else int(self.seed),
            "warnings": list(self.warnings),
        }


def _percentile_interval(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return (math.nan, math.nan)
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return (float(lo), float(hi))


def bootstrap_ci(
    q: BrandQuantities, *, n_bootstrap: int = 1000, seed: int = 0
) -> dict[str, tuple[float, float]]:
    """95% percentile bootstrap intervals of every metric, resampling brands with replacement.

    Only brands with positives are resampled. Each replicate recomputes the metrics from the
    per-brand quantities (AUC/cAUC: summed hits over summed pairs; MedR: lower median of the
    resampled best positions; the rest: means). Replicates where a metric is undefined (e.g. no
    cAUC pair drawn) are left out of that metric's interval; ``(nan, nan)`` if none is defined
    or ``n_bootstrap == 0``.

    Args:
        q: per-brand quantities, ``(n_brands,)`` arrays.
        n_bootstrap: number of replicates (>= 0).
        seed: seed of the ``numpy.random.Generator`` drawing the resamples.

    Returns:
        ``{metric: (lo, hi)}`` for every name in :data:`METRICS`, in that order.
    """
    if n_bootstrap < 0:
        raise EvaluationInputError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    q = q.take(q.evaluable)
    m = len(q)
    if m == 0 or n_bootstrap == 0:
        return {name: (math.nan, math.nan) for name in METRICS}
    rng = np.random.default_rng(seed)
    mid = (m - 1) // 2
    reps = {name: np.empty(n_bootstrap, dtype=np.float64) for name in METRICS}
    means = {
        "R@10": q.recall_at_10,
        "R@50": q.recall_at_50,
        "MRR": q.reciprocal_rank,
        "MAP": q.average_precision,
        "NDCG@10": q.ndcg_at_10,
    }
    chunk = max(1, _BOOTSTRAP_CELLS // m)
    with np.errstate(divide="ignore", invalid="ignore"):
        for start in range(0, n_bootstrap, chunk):
            stop = min(n_bootstrap, start + chunk)
            idx = rng.integers(0, m, size=(stop - start, m))
            for name, arr in means.items():
                reps[name][start:stop] = arr[idx].mean(axis=1)
            reps["AUC"][start:stop] = q.auc_hits[idx].sum(axis=1) / q.auc_pairs[idx].sum(axis=1)
            reps["cAUC"][start:stop] = (
                q.cauc_hits[idx].sum(axis=1) / q.cauc_pairs[idx].sum(axis=1)
            )
            reps["MedR"][start:stop] = np.partition(q.best_position[idx], mid, axis=1)[:, mid]
    return {name: _percentile_interval(reps[name]) for name in METRICS}


def _brand_list(names: Sequence[str], first: int = 3) -> str:
    shown = ", ".join(repr(str(b)) for b in names[:first])
    return shown + (f" and {len(names) - first} more" if len(names) > first else "")


def degenerate_warnings(
    q: BrandQuantities, n_candidates: int, brand_ids: Sequence[str] | None = None, n_bootstrap: int = 0
) -> list[str]:
    """Where the grid makes a metric meaningless; one line each (empty when the grid is sound).

    * ``R@k`` with ``k >= n_candidates``: every positive is within the first k, R@k = 1.0 for any
      scores.
    * brands whose every candidate is a positive (no negatives): no (positive, negative) pair, so
      their AUC is undefined, and their ranking metrics are 1 for any (untied) scores.
    * brands without positives (excluded from every metric).
    * a single brand with positives: the bootstrap over brands has nothing to resample.
    The metrics keep their documented semantics (:mod:`brandmatch.evaluation.metrics`).
    """
    out: list[str] = []
    names = [str(b) for b in brand_ids] if brand_ids is not None else [f"row {i + 1}" for i in range(len(q))]
    evaluable = q.evaluable
    n_eval = int(evaluable.sum())
    if n_eval == 0:
        return [f"no brand of the grid has a positive: every metric is undefined ({len(q)} brand(s) skipped)"
                if len(q) else "the grid has no brands: every metric is undefined"]
    for k in (10, 50):
        if n_candidates <= k:
            out.append(f"R@{k}: k = {k} >= candidates ({n_candidates}) for every brand: trivially 1.0")
    no_neg = evaluable & (q.n_positives >= n_candidates)
    if no_neg.any():
        which = [names[i] for i in np.flatnonzero(no_neg)]
        scope = "every brand" if len(which) == n_eval else f"{len(which)} of {n_eval} brand(s)"
        out.append(
            f"grid has no negatives for {scope} ({_brand_list(which)}): AUC undefined"
            + (" (n/a)" if len(which) == n_eval else " for them (left out of AUC)")
            + ", ranking metrics (R@k, MRR, MAP, MedR, NDCG@10) trivially 1"
        )
    skipped = ~evaluable
    if skipped.any():
        which = [names[i] for i in np.flatnonzero(skipped)]
        out.append(f"{len(which)} brand(s) without positives excluded from every metric ({_brand_list(which)})")
    if n_eval == 1 and n_bootstrap > 0:
        out.append("only 1 brand has positives: the bootstrap intervals over brands are degenerate")
    return out


def evaluate_grid(
    scores: np.ndarray,
    labels: np.ndarray,
    brand_categories: Sequence[str],
    candidate_categories: Sequence[frozenset[str]] | None = None,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    brand_ids: Sequence[str] | None = None,
) -> GridEvaluation:
    """Evaluate a score grid: metrics, bootstrap CIs over brands, per-category metrics.

    Args:
        scores: ``(n_brands, n_candidates)`` finite floats, higher = better.
        labels: ``(n_brands, n_candidates)`` 0/1 or bool.
        brand_categories: ``n_brands`` category names; ``brand_categories[i]`` is brand row i's.
        candidate_categories: ``n_candidates`` sets; ``candidate_categories[j]`` holds the
            categories of the brands candidate j cooperated with. The cAUC mask of brand i is
            ``brand_categories[i] in candidate_categories[j]``. ``None`` -> cAUC is ``nan``.
        n_bootstrap: bootstrap replicates over brands (0 -> intervals are ``nan``).
        seed: seed of the bootstrap's ``numpy.random.Generator``.
        brand_ids: optional ``n_brands`` names, used in the warnings (default: "row i").

    Returns:
        :class:`GridEvaluation`; ``per_category`` lists categories in order of first
        appearance in ``brand_categories``, then ``"all"`` (equal to ``metrics``). Brands
        without positives are excluded everywhere and counted in ``skipped_brands`` (with a
        ``UserWarning``). ``warnings`` lists degenerate parts of the grid
        (:func:`degenerate_warnings`).
    """
    s = np.asarray(scores)
    if s.ndim != 2:
        raise EvaluationInputError(f"scores must be 2-D (brands x candidates), got shape {s.shape}")
    n_brands, n_cand = s.shape
    cats = [str(c) for c in brand_categories]
    if len(cats) != n_brands:
        raise EvaluationInputError(
            f"brand_categories has {len(cats)} entries but the grid has {n_brands} brand rows"
        )
    if ALL_KEY in cats:
        raise EvaluationInputError(
            f"brand category name {ALL_KEY!r} is reserved for the all-brands entry "
            f"(brand row {cats.index(ALL_KEY)})"
        )
    same = None
    if candidate_categories is not None:
        cand_cats = list(candidate_categories)
        if len(cand_cats) != n_cand:
            raise EvaluationInputError(
                f"candidate_categories has {len(cand_cats)} entries but the grid has "
                f"{n_cand} candidate columns"
            )
        same = same_category_mask(cats, cand_cats)

    q = brand_quantities(scores, labels, same)
    evaluable = q.evaluable
    skipped = int((~evaluable).sum())
    warn_skipped(skipped)

    overall = metrics_from_quantities(q)
    ci95 = bootstrap_ci(q, n_bootstrap=n_bootstrap, seed=seed)

    per_category: dict[str, dict[str, float]] = {}
    cat_array = np.array(cats, dtype=object)
    for cat in dict.fromkeys(cats):
        per_category[cat] = metrics_from_quantities(q.take(cat_array == cat))
    per_category[ALL_KEY] = dict(overall)

    return GridEvaluation(
        metrics=overall,
        ci95=ci95,
        per_category=per_category,
        n_brands=n_brands,
        n_candidates=n_cand,
        n_positives=int(q.n_positives.sum()),
        skipped_brands=skipped,
        n_bootstrap=n_bootstrap,
        seed=seed,
        warnings=degenerate_warnings(q, n_cand, brand_ids, n_bootstrap),
    )


def _format_value(column: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    v = float(value)
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if column == "MedR" and v.is_integer():
        return str(int(v))
    return f"{v:.3f}"


def format_metrics_table(
    rows: Mapping[str, Mapping[str, float | None]],
    columns: Sequence[str] = METRICS,
    *,
    title: str | None = None,
    row_header: str = "",
) -> str:
    """Render ``{row name: {metric: value}}`` as a markdown table.

    Values print with 3 decimals; MedR prints with no decimals when integral; ``None``, ``nan``
    and missing entries print as ``n/a``. ``title`` (if given) is a bold line above the table;
    ``row_header`` heads the first column. Returns the table text ending with a newline.
    """
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    header = [cell(row_header)] + [cell(c) for c in columns]
    body = [
        [cell(str(name))] + [_format_value(c, values.get(c)) for c in columns]
        for name, values in rows.items()
    ]
    widths = [max(3, len(h), *(len(r[i]) for r in body)) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cells[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)),
        ]
        return "| " + " | ".join(padded) + " |"

    sep = "| " + " | ".join(
        [("-" * widths[0])] + [("-" * (w - 1)) + ":" for w in widths[1:]]
    ) + " |"
    lines = [line(header), sep, *(line(r) for r in body)]
    text = "\n".join(lines) + "\n"
    if title is not None:
        text = f"**{title}**\n\n" + text
    return text

