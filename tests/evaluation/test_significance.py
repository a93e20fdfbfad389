"""Sign-flip randomization test and Holm's correction against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from brandmatch.evaluation.significance import SignificanceInputError, compare_to_reference, holm, \
    sign_flip_test


def test_exact_p_value_three_brands():
    # d = (1, 2, 3): the 8 sign sums are 6, 4, 2, 0, 0, -2, -4, -6; |sum| >= 6 twice -> p = 2/8
    assert sign_flip_test([1, 2, 3], [0, 0, 0]) == pytest.approx(0.25)


def test_exact_p_value_four_brands_with_ties_in_the_statistic():
    # d = (0.5, 0.5, 0.25, -0.25), sum 1.0; the 16 |sums| that reach 1.0:
    # +.5+.5+.25-.25 = 1.0, +.5+.5-.25+.25 = 1.0, +.5+.5+.25+.25 = 1.5, +.5+.5-.25-.25 = 0.5 (no)
    # and their mirrors -> 3 of 8, twice -> p = 6/16
    a = np.array([0.9, 0.8, 0.5, 0.25])
    b = np.array([0.4, 0.3, 0.25, 0.5])
    assert sign_flip_test(a, b) == pytest.approx(6 / 16)


def test_nan_brands_left_out_and_degenerate_cases():
    # the nan brand drops out: d = (1, 2, 3) again
    assert sign_flip_test([1, 2, 3, np.nan], [0, 0, 0, 0.5]) == pytest.approx(0.25)
    assert sign_flip_test([0.3, 0.2], [0.3, 0.2]) == 1.0
    assert sign_flip_test([], []) == 1.0
    with pytest.raises(SignificanceInputError):
        sign_flip_test([1, 2], [1])


def test_monte_carlo_is_seeded_in_range_and_close_to_exact():
    rng = np.random.default_rng(1)
    a, b = rng.random(14), rng.random(14)
    exact = sign_flip_test(a, b, n_permutations=2 ** 14)
    mc1 = sign_flip_test(a, b, n_permutations=2000, seed=3)
    mc2 = sign_flip_test(a, b, n_permutations=2000, seed=3)
    assert mc1 == mc2
    assert 0 < mc1 <= 1
    assert abs(mc1 - exact) < 0.05
    # a large consistent gain: the Monte Carlo p-value is its floor 1 / (R + 1)
    assert sign_flip_test(np.ones(40), np.zeros(40), n_permutations=999) == pytest.approx(1 / 1000)


def test_holm_step_down_hand_example():
    # sorted 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> max 0.06)
    out = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(out, [0.03, 0.06, 0.06, 0.02])
    # capped at 1, nan kept and not counted in m
    out = holm([0.6, np.nan, 0.2])
    np.testing.assert_allclose(out[[0, 2]], [0.6, 0.4])
    assert np.isnan(out[1])
    with pytest.raises(SignificanceInputError):
        holm([1.2])


def test_compare_to_reference_family():
    per_brand = {"cosine": np.array([0.1, 0.2, 0.3]), "a": np.array([1.1, 2.2, 3.3]),
                 "b": np.array([0.1, 0.2, 0.3])}
    out = compare_to_reference(per_brand, "cosine")
    assert set(out) == {"a", "b"}
    assert out["a"]["p"] == pytest.approx(0.25)
    assert out["a"]["p_holm"] == pytest.approx(0.5)  # m = 2, smallest p doubled
    assert out["b"]["p"] == 1.0 and out["b"]["p_holm"] == 1.0
    assert out["a"]["diff"] == pytest.approx(2.0)
