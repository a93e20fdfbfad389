"""Kinds of accounts read from their bios (ours, issue 12): attributes written together form a kind.

MORNING's attribute view (eq. 13-18) places attributes by their co-occurrence across TRAINING
cooperations and averages node2vec vectors, which blurs what kind of account a bio describes.
People describe themselves with a few words of the same kind ("mua | lipstick", "foodie, pastry"),
so attributes that share bios far more often than chance belong together. Fit (label-free, over
every account's bio; no cooperation is read):

1. counts: n_i = bios with attribute i, n_ij = bios with both i and j, N = bios with any attribute;
2. affinity A_ij = max(0, log(n_ij N / (n_i n_j))) (positive PMI) where n_ij >= ``min_pair``, else 0;
3. normalised Laplacian L = I - D^-1/2 A D^-1/2 over the attributes with an edge (the others have
   no kind); eigenvalues l_1 <= l_2 <= ...;
4. number of kinds K = argmax_{k_min <= k <= k_max} (l_{k+1} - l_k) (the eigengap), unless fixed;
5. spectral embedding: the K first eigenvectors, rows scaled to unit length; k-means with K
   clusters (seeded) -> kind of each attribute.

Account row (K,): 1 for every kind one of its attributes belongs to, else 0; masked when none of
its attributes has a kind. New accounts need only the attribute -> kind table (transform).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from brandmatch.errors import FeatureError

#: pairs seen in fewer bios than this are not evidence (one shared bio is chance at this size)
MIN_PAIR = 2
K_MIN = 4
K_MAX = 64


@dataclass(frozen=True)
class BioKinds:
    """labels: (n_attributes,) kind of each attribute, -1 = none; k: number of kinds;
    eigenvalues: the Laplacian's smallest eigenvalues (for the record)."""

    labels: np.ndarray
    k: int
    eigenvalues: np.ndarray


def _check(name: str, value: int, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise FeatureError(f"bio kinds parameter {name} must be an integer >= {low}, got {value!r}")


def fit_bio_kinds(
    attribute_lists: Sequence[Sequence[int]], n_attributes: int, k: int | None = None,
    min_pair: int = MIN_PAIR, k_min: int = K_MIN, k_max: int = K_MAX, seed: int = 0,
) -> BioKinds:
    """Kinds of ``n_attributes`` attributes from per-bio attribute lists (see the module docstring)."""
    from scipy.sparse import csr_matrix
    from sklearn.cluster import KMeans

    _check("min_pair", min_pair, 1)
    _check("k_min", k_min, 1)
    _check("k_max", k_max, k_min)
    if k is not None:
        _check("k", k, 1)
    rows = [sorted(set(int(a) for a in ls)) for ls in attribute_lists]
    rows = [r for r in rows if r]
    none = BioKinds(np.full(n_attributes, -1, np.int64), 0, np.zeros(0))
    if not rows:
        return none
    indptr = np.cumsum([0] + [len(r) for r in rows])
    x = csr_matrix((np.ones(indptr[-1]), np.concatenate(rows), indptr), shape=(len(rows), n_attributes))
    co = (x.T @ x).toarray()
    n_i = np.diag(co).copy()
    np.fill_diagonal(co, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(co * len(rows) / np.outer(n_i, n_i))
    affinity = np.where(co >= min_pair, np.maximum(pmi, 0.0), 0.0)
    nodes = np.flatnonzero(affinity.sum(axis=1) > 0)
    if len(nodes) < 2:
        return none
    a = affinity[np.ix_(nodes, nodes)]
    d = 1.0 / np.sqrt(a.sum(axis=1))
    lap = np.eye(len(nodes)) - d[:, None] * a * d[None, :]
    values, vectors = np.linalg.eigh(lap)
    hi = min(k_max, len(nodes) - 1)
    if k is None:
        lo = min(k_min, hi)
        gaps = values[lo:hi + 1] - values[lo - 1:hi]  # gaps[j] = l_{lo+j+1} - l_{lo+j} (1-based l)
        k = lo + int(np.argmax(gaps))
    k = min(k, len(nodes))
    emb = vectors[:, :k]
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(emb)
    labels = np.full(n_attributes, -1, np.int64)
    labels[nodes] = km.labels_
    return BioKinds(labels, int(k), values[: min(len(values), k_max + 1)])


def kind_rows(attribute_lists: Sequence[Sequence[int]], labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, k) float32 kind indicators of n accounts and their (n,) mask (any attribute with a kind)."""
    out = np.zeros((len(attribute_lists), k), np.float32)
    for r, attrs in enumerate(attribute_lists):
        kinds = [int(labels[a]) for a in attrs if 0 <= a < len(labels) and labels[a] >= 0]
        out[r, kinds] = 1.0
    return out, out.any(axis=1)


def kind_table(names: Sequence[str], labels: np.ndarray) -> list[list[str]]:
    """The attributes of each kind, by kind index (for the view's meta and for reading)."""
    k = int(labels.max()) + 1 if len(labels) else 0
    return [[n for n, lab in zip(names, labels.tolist()) if lab == j] for j in range(k)]
