"""Paired significance over brands: a sign-flip randomization test and Holm's step-down correction.

Two methods scored on the same test brands give per-brand values a_i, b_i (AP, AUC, ...). Under
the null hypothesis that the methods are exchangeable for every brand, each difference
d_i = a_i - b_i is as likely to carry either sign, so the statistic T = |mean_i d_i| is compared
with its distribution over sign flips s in {-1, +1}^n:

    p = #{s : |mean_i s_i d_i| >= |mean_i d_i|} / 2^n                  (exact: every flip)
    p = (1 + #{r : |mean_i s_ri d_i| >= |mean_i d_i|}) / (1 + R)      (R seeded random flips)

(two-sided; the exact form when 2^n <= R, the Monte Carlo form otherwise, which never returns 0).
Brands where either value is undefined (nan: no positive, or no pair) are left out of the pair.

Holm (1979): with m p-values sorted p_(1) <= ... <= p_(m), the adjusted values are
p~_(j) = max_{k <= j} min(1, (m - k + 1) p_(k)); rejecting p~ <= alpha controls the family-wise
error rate at alpha.
"""

from __future__ import annotations

import itertools
import math
from typing import Sequence

import numpy as np

from brandmatch.errors import BrandmatchError

#: default number of random sign flips
N_PERMUTATIONS = 10_000
#: largest number of (flip, brand) cells drawn at once
_CHUNK_CELLS = 1 << 22


class SignificanceInputError(BrandmatchError, ValueError):
    """Per-brand values handed to a test are malformed."""


def paired_differences(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> np.ndarray:
    """a - b over the brands where both are finite: (n,), (n,) -> (n',) float64."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise SignificanceInputError(f"paired values must be two 1-D arrays of one length, got shapes "
                                     f"{a.shape} and {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep] - b[keep]


def sign_flip_test(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *,
                   n_permutations: int = N_PERMUTATIONS, seed: int = 0) -> float:
    """Two-sided paired randomization test of mean(a - b) = 0 over brands: the p-value in (0, 1].

    a, b: (n_brands,) per-brand values of two methods on the same brands (nan: left out).
    Exact over all 2^n flips when 2^n <= ``n_permutations``, else ``n_permutations`` flips drawn
    with ``numpy.random.default_rng(seed)``. No usable brand, or every difference 0: p = 1.
    """
    if n_permutations < 1:
        raise SignificanceInputError(f"n_permutations must be >= 1, got {n_permutations}")
    d = paired_differences(a, b)
    n = len(d)
    if n == 0 or not np.any(d):
        return 1.0
    observed = abs(d.mean())
    tol = 1e-12 * max(1.0, float(np.abs(d).max()))  # sums of the same numbers in another order
    if n < 63 and 2 ** n <= n_permutations:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))  # (2^n, n)
        stats = np.abs(signs @ d) / n
        return float(np.count_nonzero(stats >= observed - tol)) / len(signs)
    rng = np.random.default_rng(seed)
    hits, done = 0, 0
    chunk = max(1, _CHUNK_CELLS // n)
    while done < n_permutations:
        k = min(chunk, n_permutations - done)
        signs = rng.integers(0, 2, size=(k, n), dtype=np.int8) * 2 - 1
        stats = np.abs(signs.astype(np.float64) @ d) / n
        hits += int(np.count_nonzero(stats >= observed - tol))
        done += k
    return (1 + hits) / (1 + n_permutations)


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values, in the input order: (m,) -> (m,) float64.

    nan entries (tests not run) stay nan and do not count towards m.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise SignificanceInputError(f"p-values must be 1-D, got shape {p.shape}")
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    if len(idx) == 0:
        return out
    if np.any((p[idx] < 0) | (p[idx] > 1)):
        raise SignificanceInputError("p-values must lie in [0, 1]")
    m = len(idx)
    order = idx[np.argsort(p[idx], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def compare_to_reference(per_brand: dict[str, np.ndarray], reference: str, *,
                         n_permutations: int = N_PERMUTATIONS, seed: int = 0) -> dict[str, dict[str, float]]:
    """Every method vs ``reference`` on the same brands: method -> {"diff", "p", "p_holm", "n"}.

    per_brand: method -> (n_brands,) values in one brand order. ``diff`` is the mean of
    method - reference over the usable brands; the Holm family is every method but the reference.
    """
    if reference not in per_brand:
        raise SignificanceInputError(f"reference method {reference!r} has no per-brand values")
    names = [m for m in per_brand if m != reference]
    raw, diffs, counts = [], [], []
    for name in names:
        d = paired_differences(per_brand[name], per_brand[reference])
        raw.append(sign_flip_test(per_brand[name], per_brand[reference], n_permutations=n_permutations, seed=seed))
        diffs.append(float(d.mean()) if len(d) else math.nan)
        counts.append(len(d))
    adjusted = holm(raw) if names else np.array([])
    return {name: {"diff": diffs[i], "p": raw[i], "p_holm": float(adjusted[i]), "n": counts[i]}
            for i, name in enumerate(names)}
