"""Deterministic, category-stratified carving of validation brands out of the training brands,
and the candidate grid built from a set of brands (the papers' protocol: the union of their partners).
"""

from __future__ import annotations

import hashlib
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from brandmatch.data.schema import CandidateGrid, CooperationSet, ordered_unique

VALIDATION_FRACTION = 0.15


def _stable_key(seed: int, brand: str) -> str:
    return hashlib.sha256(f"{seed}\x1f{brand}".encode()).hexdigest()


def carve_validation(
    train_brands: Sequence[str],
    brand_category: Mapping[str, str | None],
    fraction: float = VALIDATION_FRACTION,
    seed: int = 0,
) -> tuple[list[str], list[str]]:
    """Split training brands into (train, validation), stratified by category.

    Within each category the brands are ordered by a seeded hash of their id (so the result does
    not depend on input order) and the first round(fraction * n) go to validation, at least one
    when the category has two or more brands. Returns both lists in the input order.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    by_cat: dict[str, list[str]] = {}
    for b in train_brands:
        by_cat.setdefault(str(brand_category.get(b)), []).append(b)
    valid: set[str] = set()
    for cat in sorted(by_cat):
        members = sorted(by_cat[cat], key=lambda b: _stable_key(seed, b))
        k = int(round(fraction * len(members)))
        if len(members) >= 2:
            k = min(max(k, 1), len(members) - 1)
        else:
            k = 0
        valid.update(members[:k])
    return [b for b in train_brands if b not in valid], [b for b in train_brands if b in valid]


def splits_frame(train: Sequence[str], validation: Sequence[str], test: Sequence[str]) -> pd.DataFrame:
    """The splits table for the three brand lists."""
    rows = [(b, "train") for b in train] + [(b, "validation") for b in validation] + [(b, "test") for b in test]
    return pd.DataFrame(rows, columns=["brand_id", "split"])


def partner_grid(name: str, brands: Sequence[str], cooperations: CooperationSet) -> CandidateGrid:
    """Grid of ``brands`` x (union of their partners), candidates in first-appearance order."""
    brand_set = set(brands)
    pairs = [(b, m) for b, m in zip(cooperations.brand_ids.tolist(), cooperations.influencer_ids.tolist()) if b in brand_set]
    candidates = ordered_unique([m for _, m in pairs])
    b_index = {b: i for i, b in enumerate(brands)}
    m_index = {m: j for j, m in enumerate(candidates)}
    labels = np.zeros((len(brands), len(candidates)), dtype=np.int8)
    for b, m in pairs:
        labels[b_index[b], m_index[m]] = 1
    return CandidateGrid(name, np.array(list(brands), dtype=object), np.array(candidates, dtype=object), labels)
