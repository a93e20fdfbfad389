"""Reference ranking metrics for the brand -> micro-influencer retrieval grid (pure numpy).

These follow the semantics of the papers' evaluation scripts, as documented in the
dataset README:

* A brand's grid row holds one score per candidate (``scores``, shape ``(n_candidates,)``)
  and a binary label (``labels``: 1 = the candidate cooperated with the brand).
* A candidate's *position* is the number of candidates scoring ``>=`` its score, so ties are
  pessimistic: every member of a tie group takes the group's worst position (1-based).
* ``R@k``: per brand, the share of its positives at position ``<= k``; mean over brands.
* ``MRR``: mean over brands of ``1 / position`` of the best (smallest-position) positive.
* ``MAP``: per brand, with the positives' positions sorted ``p_1 <= p_2 <= ...``,
  ``AP = mean_k k / p_k``; mean over brands.
* ``MedR``: *lower* median over brands of the best positive's position
  (``sorted[(n - 1) // 2]``; the ordinary median for odd ``n``).
* ``AUC``: share of (brand, positive, negative) triples with ``s(pos) > s(neg)``, strictly
  (ties are failures), micro-averaged over all triples of all brands.
* ``cAUC``: as ``AUC``, restricted to triples whose negative shares the positive's category
  (see :func:`per_brand_metrics` for the rule).
* ``NDCG@10``: binary gains with the pessimistic positions; ``DCG = sum_{pos, p <= 10}
  1 / log2(p + 1)``, ``IDCG = sum_{i=1}^{min(10, n_pos)} 1 / log2(i + 1)``; mean over brands.
* Brands without any positive are excluded from every metric and counted as skipped.

Everything is vectorised: a grid is processed in row blocks with one sort per row, so the
cost is ``O(n_brands * n_candidates * log n_candidates)`` with bounded memory.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from brandmatch.errors import BrandmatchError

__all__ = [
    "METRICS",
    "LOWER_IS_BETTER",
    "EvaluationInputError",
    "BrandQuantities",
    "pessimistic_positions",
    "per_brand_metrics",
    "brand_quantities",
    "metrics_from_quantities",
    "grid_metrics",
    "lower_median",
    "warn_skipped",
]

METRICS: tuple[str, ...] = ("AUC", "cAUC", "R@10", "R@50", "MRR", "MAP", "MedR", "NDCG@10")
LOWER_IS_BETTER = frozenset({"MedR"})

#: Largest number of grid cells processed at once (bounds the temporary arrays' memory).
_BLOCK_CELLS = 1 << 21

# _IDCG[m] = sum_{i=1}^{min(m, 10)} 1 / log2(i + 1); _IDCG[0] = 0.
_IDCG = np.concatenate(([0.0], np.cumsum(1.0 / np.log2(np.arange(2, 12, dtype=np.float64)))))


class EvaluationInputError(BrandmatchError, ValueError):
    """Scores, labels or masks handed to the evaluation are malformed (a ``ValueError``)."""


# --------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------


def _location(index: tuple[int, ...]) -> str:
    if len(index) == 2:
        return f"brand row {index[0]}, candidate column {index[1]}"
    return f"candidate column {index[0]}"


def _as_scores(scores: Any, ndim: int) -> np.ndarray:
    try:
        arr = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise EvaluationInputError(f"scores must be numeric: {exc}") from exc
    if arr.ndim != ndim:
        raise EvaluationInputError(f"scores must be {ndim}-D, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise EvaluationInputError(
            f"scores must be finite: found {arr[first].item()!r} at {_location(first)} "
            f"({int(bad.sum())} non-finite value(s) in total)"
        )
    return arr


def _as_binary(values: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != shape:
        raise EvaluationInputError(f"{name} shape {arr.shape} does not match scores shape {shape}")
    if arr.dtype == np.bool_:
        return arr
    try:
        num = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise EvaluationInputError(f"{name} must be binary (0/1 or bool): {exc}") from exc
    bad = (num != 0.0) & (num != 1.0)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise EvaluationInputError(
            f"{name} must be 0/1 or bool: found {arr[first].item()!r} at {_location(first)}"
        )
    return num == 1.0


# --------------------------------------------------------------------------------------
# per-brand quantities
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrandQuantities:
    """Per-brand quantities from which every grid metric (and its bootstrap) is computed.

    All arrays have shape ``(n_brands,)``. For a brand without positives the float
    quantities are ``nan``, ``best_position`` is 0 and every count is 0.
    """

    recall_at_10: np.ndarray  # float64
    recall_at_50: np.ndarray  # float64
    reciprocal_rank: np.ndarray  # float64, 1 / best_position
    average_precision: np.ndarray  # float64
    best_position: np.ndarray  # int64, pessimistic position of the best positive
    ndcg_at_10: np.ndarray  # float64
    auc_hits: np.ndarray  # int64, (pos, neg) pairs with s(pos) > s(neg)
    auc_pairs: np.ndarray  # int64, n_pos * n_neg
    cauc_hits: np.ndarray  # int64, same, negatives restricted to the brand's category
    cauc_pairs: np.ndarray  # int64, n_pos * n_same_category_negatives
    n_positives: np.ndarray  # int64

    def __len__(self) -> int:
        return int(self.n_positives.shape[0])

    @property
    def evaluable(self) -> np.ndarray:
        """``(n_brands,)`` bool: the brand has at least one positive."""
        return self.n_positives > 0

    def take(self, index: np.ndarray) -> BrandQuantities:
        """Select brands by an integer index array or a boolean mask of shape ``(n_brands,)``."""
        return BrandQuantities(**{name: getattr(self, name)[index] for name in _FIELDS})


_FIELDS = tuple(BrandQuantities.__dataclass_fields__)


def _quantities_block(
    scores: np.ndarray, labels: np.ndarray, same_category: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Per-brand quantities for a block of rows; ``scores`` (b, n) finite, ``labels`` (b, n) bool."""
    b, n = scores.shape
    if n == 0:
        zeros = np.zeros(b, dtype=np.int64)
        nans = np.full(b, np.nan)
        return {
            "recall_at_10": nans, "recall_at_50": nans.copy(), "reciprocal_rank": nans.copy(),
            "average_precision": nans.copy(), "best_position": zeros, "ndcg_at_10": nans.copy(),
            "auc_hits": zeros.copy(), "auc_pairs": zeros.copy(), "cauc_hits": zeros.copy(),
            "cauc_pairs": zeros.copy(), "n_positives": zeros.copy(),
        }
    # Sort every row by decreasing score; within a tie group the order is irrelevant.
    order = np.argsort(scores, axis=1)[:, ::-1]
    sorted_scores = np.take_along_axis(scores, order, axis=1)
    pos_lab = np.take_along_axis(labels, order, axis=1)
    # group_end[r, k]: index (in sorted order) of the last member of k's tie group, so the
    # pessimistic position is group_end + 1.
    is_last = np.ones((b, n), dtype=bool)
    is_last[:, :-1] = sorted_scores[:, :-1] != sorted_scores[:, 1:]
    idx = np.where(is_last, np.arange(n, dtype=np.int64), n)
    group_end = np.minimum.accumulate(idx[:, ::-1], axis=1)[:, ::-1]
    position = group_end + 1  # (b, n), non-decreasing along each row

    n_pos = pos_lab.sum(axis=1, dtype=np.int64)
    has_pos = n_pos > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = np.where(has_pos, n_pos, 0).astype(np.float64)
        r10 = (pos_lab & (position <= 10)).sum(axis=1) / denom
        r50 = (pos_lab & (position <= 50)).sum(axis=1) / denom
        # the first positive in sorted order has the smallest position
        first = np.argmax(pos_lab, axis=1)
        best = np.where(has_pos, position[np.arange(b), first], 0).astype(np.int64)
        rr = np.where(has_pos, 1.0 / np.maximum(best, 1), np.nan)
        # positions of positives are already sorted along the row; k = running count
        k = np.cumsum(pos_lab, axis=1)
        ap = np.where(pos_lab, k / position, 0.0).sum(axis=1) / denom
        gain = np.where(pos_lab & (position <= 10), 1.0 / np.log2(position + 1.0), 0.0)
        ndcg = gain.sum(axis=1) / _IDCG[np.minimum(n_pos, 10)]
    ndcg[~has_pos] = np.nan

    def strict_hits(neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # negatives scoring >= s(pos) = running negative count at the end of pos's tie group
        cum_neg = np.cumsum(neg, axis=1, dtype=np.int64)
        n_neg = cum_neg[:, -1]
        neg_ge = np.take_along_axis(cum_neg, group_end, axis=1)
        hits = np.where(pos_lab, n_neg[:, None] - neg_ge, 0).sum(axis=1, dtype=np.int64)
        return hits, n_pos * n_neg

    negatives = ~pos_lab
    auc_hits, auc_pairs = strict_hits(negatives)
    if same_category is None:
        cauc_hits = np.zeros(b, dtype=np.int64)
        cauc_pairs = np.zeros(b, dtype=np.int64)
    else:
        same_sorted = np.take_along_axis(same_category, order, axis=1)
        cauc_hits, cauc_pairs = strict_hits(negatives & same_sorted)

    return {
        "recall_at_10": r10, "recall_at_50": r50, "reciprocal_rank": rr,
        "average_precision": ap, "best_position": best, "ndcg_at_10": ndcg,
        "auc_hits": auc_hits, "auc_pairs": auc_pairs, "cauc_hits": cauc_hits,
        "cauc_pairs": cauc_pairs, "n_positives": n_pos,
    }


def brand_quantities(
    scores: np.ndarray, labels: np.ndarray, same_category: np.ndarray | None = None
) -> BrandQuantities:
    """Per-brand quantities of a whole grid.

    Args:
        scores: ``(n_brands, n_candidates)`` finite floats, higher = better match.
        labels: ``(n_brands, n_candidates)`` 0/1 or bool, 1 = positive.
        same_category: optional ``(n_brands, n_candidates)`` bool, True where the candidate is
            in the brand's category (used for cAUC only; see :func:`per_brand_metrics`).

    Returns:
        :class:`BrandQuantities` with arrays of shape ``(n_brands,)``; brands without positives
        are kept (with ``n_positives == 0``) so that row indices stay aligned.

    Raises:
        EvaluationInputError (a ``ValueError``): wrong shapes, non-binary labels, or a NaN/inf
            score (the message names the brand row and candidate column).
    """
    s = _as_scores(scores, ndim=2)
    y = _as_binary(labels, s.shape, "labels")
    c = None if same_category is None else _as_binary(same_category, s.shape, "same_category")
    n_brands, n_cand = s.shape
    rows_per_block = max(1, _BLOCK_CELLS // max(n_cand, 1))
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, n_brands, rows_per_block):
        stop = min(n_brands, start + rows_per_block)
        parts.append(
            _quantities_block(s[start:stop], y[start:stop], None if c is None else c[start:stop])
        )
    if not parts:
        empty = {name: np.zeros(0, dtype=np.int64) for name in _FIELDS}
        for name in ("recall_at_10", "recall_at_50", "reciprocal_rank", "average_precision",
                     "ndcg_at_10"):
            empty[name] = np.zeros(0, dtype=np.float64)
        return BrandQuantities(**empty)
    return BrandQuantities(**{name: np.concatenate([p[name] for p in parts]) for name in _FIELDS})


# --------------------------------------------------------------------------------------
# public per-brand API
# --------------------------------------------------------------------------------------


def pessimistic_positions(scores: np.ndarray) -> np.ndarray:
    """1-based pessimistic positions of one brand's candidates.

    ``position[i] = #{j : scores[j] >= scores[i]}``, so a tie group shares its worst position.

    Args:
        scores: ``(n_candidates,)`` finite floats.

    Returns:
        ``(n_candidates,)`` int64 positions in ``1..n_candidates``.
    """
    s = _as_scores(scores, ndim=1)
    ascending = np.sort(s)
    # (number of scores >= s_i) = n - (number of scores < s_i)
    return (s.shape[0] - np.searchsorted(ascending, s, side="left")).astype(np.int64)


def per_brand_metrics(
    scores: np.ndarray, labels: np.ndarray, same_category: np.ndarray | None = None
) -> dict[str, float | int]:
    """Per-brand quantities of one brand.

    Args:
        scores: ``(n_candidates,)`` finite floats.
        labels: ``(n_candidates,)`` 0/1 or bool.
        same_category: optional ``(n_candidates,)`` bool: True where the candidate is in the
            brand's category. Rule: a positive's category is the brand's category (it
            cooperated with that brand), so every positive takes part in cAUC; a negative
            counts for cAUC iff the set of categories of the brands it cooperated with contains
            the brand's category, i.e. iff ``same_category`` is True for it.

    Returns:
        ``{"R@10", "R@50", "RR", "AP", "best_position", "NDCG@10", "auc_hits", "auc_pairs",
        "cauc_hits", "cauc_pairs", "n_positives"}``. Rates are floats, the rest ints. A brand
        without positives gets ``nan`` rates, ``best_position = nan`` and zero counts; it is
        excluded from grid metrics.
    """
    s = _as_scores(scores, ndim=1)
    y = _as_binary(labels, s.shape, "labels")
    c = None if same_category is None else _as_binary(same_category, s.shape, "same_category")
    q = brand_quantities(s[None, :], y[None, :], None if c is None else c[None, :])
    n_pos = int(q.n_positives[0])
    return {
        "R@10": float(q.recall_at_10[0]),
        "R@50": float(q.recall_at_50[0]),
        "RR": float(q.reciprocal_rank[0]),
        "AP": float(q.average_precision[0]),
        "best_position": int(q.best_position[0]) if n_pos > 0 else math.nan,
        "NDCG@10": float(q.ndcg_at_10[0]),
        "auc_hits": int(q.auc_hits[0]),
        "auc_pairs": int(q.auc_pairs[0]),
        "cauc_hits": int(q.cauc_hits[0]),
        "cauc_pairs": int(q.cauc_pairs[0]),
        "n_positives": n_pos,
    }


# --------------------------------------------------------------------------------------
# aggregation
# --------------------------------------------------------------------------------------


def lower_median(values: np.ndarray) -> float:
    """Lower median of a 1-D array: ``sorted(values)[(n - 1) // 2]``; ``nan`` when empty."""
    v = np.asarray(values)
    if v.size == 0:
        return math.nan
    k = (v.size - 1) // 2
    return float(np.partition(v, k)[k])


def _ratio(num: int, den: int) -> float:
    return num / den if den > 0 else math.nan


def metrics_from_quantities(q: BrandQuantities) -> dict[str, float]:
    """Aggregate per-brand quantities into the :data:`METRICS` dict (keys in that order).

    Brands without positives are ignored. AUC/cAUC are micro-averaged (sum of hits over sum
    of pairs); ``nan`` where there are no pairs (cAUC without a category mask) or no brands.
    """
    q = q.take(q.evaluable)
    n = len(q)
    out: dict[str, float] = {
        "AUC": _ratio(int(q.auc_hits.sum()), int(q.auc_pairs.sum())),
        "cAUC": _ratio(int(q.cauc_hits.sum()), int(q.cauc_pairs.sum())),
    }
    if n == 0:
        out.update({name: math.nan for name in ("R@10", "R@50", "MRR", "MAP", "MedR", "NDCG@10")})
    else:
        out["R@10"] = float(q.recall_at_10.mean())
        out["R@50"] = float(q.recall_at_50.mean())
        out["MRR"] = float(q.reciprocal_rank.mean())
        out["MAP"] = float(q.average_precision.mean())
        out["MedR"] = lower_median(q.best_position)
        out["NDCG@10"] = float(q.ndcg_at_10.mean())
    return {name: out[name] for name in METRICS}


def warn_skipped(n_skipped: int) -> None:
    """Emit a ``UserWarning`` that ``n_skipped`` brands without positives were excluded."""
    if n_skipped > 0:
        warnings.warn(
            f"{n_skipped} brand(s) have no positive candidate and are excluded from every metric",
            UserWarning,
            stacklevel=3,
        )


def same_category_mask(
    brand_categories: Sequence[str], candidate_categories: Sequence[frozenset[str]]
) -> np.ndarray:
    """``(n_brands, n_candidates)`` bool: brand i's category is among candidate j's categories (the
    cAUC mask of :func:`grid_metrics`)."""
    unique: dict[str, int] = {}
    codes = np.array([unique.setdefault(c, len(unique)) for c in brand_categories], dtype=np.int64)
    per_cat = np.array(
        [[cat in cands for cands in candidate_categories] for cat in unique], dtype=bool
    ).reshape(len(unique), len(candidate_categories))
    return per_cat[codes]


def grid_metrics(
    scores: np.ndarray, labels: np.ndarray, same_category: np.ndarray | None = None
) -> dict[str, float]:
    """All reference metrics of a grid.

    Args:
        scores: ``(n_brands, n_candidates)`` finite floats, higher = better.
        labels: ``(n_brands, n_candidates)`` 0/1 or bool.
        same_category: optional ``(n_brands, n_candidates)`` bool category mask for cAUC
            (see :func:`per_brand_metrics`); ``None`` -> cAUC is ``nan``.

    Returns:
        The :data:`METRICS` values (in that order), followed by ``"skipped_brands"``: the
        number of brands without positives, which are excluded (a ``UserWarning`` is emitted
        when it is non-zero).
    """
    q = brand_quantities(scores, labels, same_category)
    skipped = int((~q.evaluable).sum())
    warn_skipped(skipped)
    result: dict[str, float] = dict(metrics_from_quantities(q))
    result["skipped_brands"] = skipped
    return result
