"""Reference evaluation: ranking metrics of a brand x candidate score grid and the protocol
(bootstrap confidence intervals over brands, per-category breakdown, markdown tables)."""

from brandmatch.evaluation.metrics import (
    LOWER_IS_BETTER,
    METRICS,
    BrandQuantities,
    EvaluationInputError,
    brand_quantities,
    grid_metrics,
    lower_median,
    metrics_from_quantities,
    per_brand_metrics,
    pessimistic_positions,
)
from brandmatch.evaluation.protocol import (
    GridEvaluation,
    bootstrap_ci,
    evaluate_grid,
    format_metrics_table,
)

__all__ = [
    "METRICS",
    "LOWER_IS_BETTER",
    "BrandQuantities",
    "EvaluationInputError",
    "brand_quantities",
    "grid_metrics",
    "lower_median",
    "metrics_from_quantities",
    "per_brand_metrics",
    "pessimistic_positions",
    "GridEvaluation",
    "bootstrap_ci",
    "evaluate_grid",
    "format_metrics_table",
]
