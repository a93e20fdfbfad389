"""Validation carving and partner grids."""

from __future__ import annotations

import numpy as np
import pytest

from brandmatch.data.schema import CooperationSet
from brandmatch.data.splits import carve_validation, partner_grid


def _brands():
    cats = {}
    for c, n in (("food", 20), ("auto", 7), ("shoes", 1)):
        for i in range(n):
            cats[f"{c}{i}"] = c
    return list(cats), cats


def test_carve_is_stratified_and_deterministic():
    brands, cats = _brands()
    train, valid = carve_validation(brands, cats, fraction=0.15, seed=0)
    assert sorted(train + valid) == sorted(brands) and not set(train) & set(valid)
    per_cat = {c: sum(cats[b] == c for b in valid) for c in ("food", "auto", "shoes")}
    assert per_cat == {"food": 3, "auto": 1, "shoes": 0}  # round(.15*20)=3, round(1.05)=1, singleton kept
    assert carve_validation(list(reversed(brands)), cats, 0.15, 0)[1] == list(reversed(valid))
    assert carve_validation(brands, cats, 0.15, 1)[1] != valid


def test_carve_rejects_bad_fraction():
    brands, cats = _brands()
    with pytest.raises(ValueError, match="fraction"):
        carve_validation(brands, cats, 1.0)


def test_partner_grid_is_union_of_partners():
    co = CooperationSet(np.array(["a", "a", "b", "c"]), np.array(["m1", "m2", "m2", "m9"]))
    g = partner_grid("validation", ["a", "b"], co)
    assert list(g.influencer_ids) == ["m1", "m2"]
    np.testing.assert_array_equal(g.labels, [[1, 1], [0, 1]])
    assert g.n_positives == 3
