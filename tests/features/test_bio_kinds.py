"""features/bio_kinds.py: kinds recovered from planted co-occurrence, K by the eigengap, rows, errors."""

from __future__ import annotations

import numpy as np
import pytest

from brandmatch.errors import FeatureError
from brandmatch.features.bio_kinds import fit_bio_kinds, kind_rows, kind_table


def planted(k: int, per_kind: int, n: int, seed: int = 0) -> tuple[list[list[int]], np.ndarray]:
    """n bios; each takes 1-2 kinds and 2 attributes of each; plus one of 5 shared filler words."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(k), per_kind)
    filler = list(range(k * per_kind, k * per_kind + 5))
    bios = []
    for _ in range(n):
        kinds = rng.choice(k, size=rng.integers(1, 3), replace=False)
        attrs = [int(a) for c in kinds for a in rng.choice(np.flatnonzero(truth == c), 2, replace=False)]
        bios.append(attrs + [int(rng.choice(filler))])
    return bios, truth


def same_partition(labels: np.ndarray, truth: np.ndarray) -> bool:
    """Whether labels and truth group the attributes identically (up to renaming)."""
    pairs = set(zip(labels.tolist(), truth.tolist()))
    return len(pairs) == len(set(labels.tolist())) == len(set(truth.tolist()))


@pytest.mark.parametrize("k", [5, 9])
def test_planted_kinds_are_recovered_with_their_number(k):
    bios, truth = planted(k, 6, 1500, seed=k)
    got = fit_bio_kinds(bios, len(truth) + 5)
    assert got.k == k
    assert same_partition(got.labels[: len(truth)], truth)


def test_a_fixed_number_of_kinds_is_used_as_given():
    bios, truth = planted(6, 5, 1200)
    got = fit_bio_kinds(bios, len(truth) + 5, k=3)
    assert got.k == 3 and set(got.labels[: len(truth)].tolist()) <= {0, 1, 2}
    # each planted kind stays whole when kinds are merged
    assert all(len(set(got.labels[: len(truth)][truth == c].tolist())) == 1 for c in range(6))


def test_attributes_without_evidence_have_no_kind():
    bios = [[0, 1], [0, 1], [0, 1], [2, 3], [2, 3], [2, 3], [0, 4]]  # 4 shares one bio only: below min_pair
    got = fit_bio_kinds(bios, 6, k=2)
    assert got.labels[4] == -1 and got.labels[5] == -1
    assert got.labels[0] == got.labels[1] != got.labels[2] == got.labels[3]


def test_no_cooccurrence_gives_no_kinds():
    got = fit_bio_kinds([[0], [1], [2], []], 3)
    assert got.k == 0 and (got.labels == -1).all()


def test_kind_rows_are_indicators_masked_without_a_kind():
    labels = np.array([0, 0, 1, -1])
    values, mask = kind_rows([[0, 1], [2, 0], [3], []], labels, 2)
    np.testing.assert_array_equal(values, [[1, 0], [1, 1], [0, 0], [0, 0]])
    np.testing.assert_array_equal(mask, [True, True, False, False])
    assert values.dtype == np.float32


def test_kind_table_lists_attribute_names_per_kind():
    assert kind_table(["a", "b", "c", "d"], np.array([1, 0, 1, -1])) == [["b"], ["a", "c"]]


@pytest.mark.parametrize("params, message", [
    ({"min_pair": 0}, "min_pair must be an integer >= 1, got 0"),
    ({"k": 0}, "k must be an integer >= 1, got 0"),
    ({"k_min": 5, "k_max": 4}, "k_max must be an integer >= 5, got 4"),
    ({"k": 2.5}, "k must be an integer >= 1, got 2.5"),
])
def test_parameter_errors_name_the_parameter(params, message):
    with pytest.raises(FeatureError, match="bio kinds parameter " + message.replace(".", r"\.")):
        fit_bio_kinds([[0, 1]], 2, **params)
