"""Tests of the reference ranking metrics (brandmatch.evaluation.metrics)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from brandmatch.evaluation import metrics as metrics_mod
from brandmatch.evaluation.metrics import (
    LOWER_IS_BETTER,
    METRICS,
    EvaluationInputError,
    brand_quantities,
    grid_metrics,
    lower_median,
    metrics_from_quantities,
    per_brand_metrics,
    pessimistic_positions,
)

LOG2 = math.log2

# --------------------------------------------------------------------------------------
# brute-force reference written straight from the README definitions (slow, loops)
# --------------------------------------------------------------------------------------


def brute_brand(scores, labels, same=None) -> dict:
    s = [float(x) for x in scores]
    y = [int(x) for x in labels]
    n = len(s)
    pos = [sum(1 for j in range(n) if s[j] >= s[i]) for i in range(n)]
    pp = sorted(pos[i] for i in range(n) if y[i] == 1)
    if not pp:
        return {"skip": True}
    negs = [i for i in range(n) if y[i] == 0]
    posi = [i for i in range(n) if y[i] == 1]
    hits = sum(1 for p in posi for q in negs if s[p] > s[q])
    cnegs = [] if same is None else [i for i in negs if same[i]]
    chits = sum(1 for p in posi for q in cnegs if s[p] > s[q])
    dcg = sum(1 / LOG2(p + 1) for p in pp if p <= 10)
    idcg = sum(1 / LOG2(i + 1) for i in range(1, min(10, len(pp)) + 1))
    return {
        "skip": False,
        "R@10": sum(p <= 10 for p in pp) / len(pp),
        "R@50": sum(p <= 50 for p in pp) / len(pp),
        "RR": 1 / pp[0],
        "AP": sum((k + 1) / p for k, p in enumerate(pp)) / len(pp),
        "best_position": pp[0],
        "NDCG@10": dcg / idcg,
        "auc_hits": hits,
        "auc_pairs": len(posi) * len(negs),
        "cauc_hits": chits,
        "cauc_pairs": len(posi) * len(cnegs),
    }


def brute_grid(scores, labels, same=None) -> dict[str, float]:
    rows = [
        brute_brand(scores[i], labels[i], None if same is None else same[i])
        for i in range(len(scores))
    ]
    rows = [r for r in rows if not r["skip"]]
    if not rows:
        return {m: math.nan for m in METRICS}
    best = sorted(r["best_position"] for r in rows)
    ap = sum(r["auc_pairs"] for r in rows)
    cp = sum(r["cauc_pairs"] for r in rows)
    return {
        "AUC": sum(r["auc_hits"] for r in rows) / ap if ap else math.nan,
        "cAUC": sum(r["cauc_hits"] for r in rows) / cp if cp else math.nan,
        "R@10": float(np.mean([r["R@10"] for r in rows])),
        "R@50": float(np.mean([r["R@50"] for r in rows])),
        "MRR": float(np.mean([r["RR"] for r in rows])),
        "MAP": float(np.mean([r["AP"] for r in rows])),
        "MedR": float(best[(len(best) - 1) // 2]),
        "NDCG@10": float(np.mean([r["NDCG@10"] for r in rows])),
    }


def assert_metrics_close(got: dict, want: dict) -> None:
    for name in METRICS:
        g, w = got[name], want[name]
        if isinstance(w, float) and math.isnan(w):
            assert math.isnan(g), name
        else:
            assert g == pytest.approx(w, rel=1e-12, abs=1e-12), name


def random_grid(rng: np.random.Generator, b: int, n: int, *, ties: bool, p_pos: float = 0.05):
    if ties:
        scores = rng.integers(0, 6, size=(b, n)).astype(float)
    else:
        scores = rng.permutation(b * n).reshape(b, n).astype(float) / (b * n)
    labels = (rng.random((b, n)) < p_pos).astype(int)
    labels[np.arange(b), rng.integers(0, n, size=b)] = 1  # at least one positive each
    same = rng.random((b, n)) < 0.4
    return scores, labels, same


# --------------------------------------------------------------------------------------
# constants
# --------------------------------------------------------------------------------------


def test_metric_names():
    assert METRICS == ("AUC", "cAUC", "R@10", "R@50", "MRR", "MAP", "MedR", "NDCG@10")
    assert LOWER_IS_BETTER == frozenset({"MedR"})


# --------------------------------------------------------------------------------------
# pessimistic positions
# --------------------------------------------------------------------------------------


def test_positions_with_tie():
    # 0.9 is tied twice: both take position 2 (two candidates score >= 0.9)
    pos = pessimistic_positions(np.array([0.9, 0.9, 0.5, 0.1]))
    assert pos.dtype == np.int64
    assert pos.tolist() == [2, 2, 3, 4]


def test_positions_all_ties_and_distinct():
    assert pessimistic_positions(np.full(5, 0.3)).tolist() == [5] * 5
    assert pessimistic_positions(np.array([0.1, 0.4, 0.3, 0.2])).tolist() == [4, 1, 2, 3]
    assert pessimistic_positions(np.array([7.0])).tolist() == [1]
    assert pessimistic_positions(np.array([])).tolist() == []
    # negative and zero scores, -0.0 ties with 0.0
    assert pessimistic_positions(np.array([-1.0, 0.0, -0.0, 2.0])).tolist() == [4, 3, 3, 1]


def test_positions_match_brute_force():
    rng = np.random.default_rng(1)
    for _ in range(20):
        s = rng.integers(0, 8, size=int(rng.integers(1, 40))).astype(float)
        want = [int((s >= x).sum()) for x in s]
        assert pessimistic_positions(s).tolist() == want


# --------------------------------------------------------------------------------------
# per-brand quantities, hand-computed
# --------------------------------------------------------------------------------------


def test_per_brand_hand_case_with_tie():
    # scores [0.9, 0.9, 0.5, 0.1], labels [1, 0, 0, 1] -> positions [2, 2, 3, 4]
    # positives at positions 2 and 4:
    #   R@10 = R@50 = 2/2 = 1; best = 2; RR = 1/2
    #   AP = (1/2 + 2/4) / 2 = 0.5
    #   DCG = 1/log2(3) + 1/log2(5); IDCG = 1/log2(2) + 1/log2(3)
    #   AUC pairs: (0.9 vs 0.9) tie -> fail, (0.9 vs 0.5) hit, (0.1 vs 0.9) fail,
    #              (0.1 vs 0.5) fail -> 1 hit / 4 pairs
    r = per_brand_metrics(np.array([0.9, 0.9, 0.5, 0.1]), np.array([1, 0, 0, 1]))
    assert r["R@10"] == 1.0 and r["R@50"] == 1.0
    assert r["best_position"] == 2
    assert r["RR"] == 0.5
    assert r["AP"] == pytest.approx(0.5)
    assert r["NDCG@10"] == pytest.approx((1 / LOG2(3) + 1 / LOG2(5)) / (1 + 1 / LOG2(3)))
    assert (r["auc_hits"], r["auc_pairs"]) == (1, 4)
    assert (r["cauc_hits"], r["cauc_pairs"]) == (0, 0)
    assert r["n_positives"] == 2


def test_per_brand_all_ties():
    # every candidate ties -> all at position 5; positives at 5, 5
    #   R@10 = 1, RR = 1/5, AP = (1/5 + 2/5)/2 = 0.3, AUC 0 hits / (2*3) pairs
    #   NDCG = (2/log2(6)) / (1 + 1/log2(3))
    r = per_brand_metrics(np.full(5, 0.42), np.array([1, 0, 1, 0, 0]))
    assert r["best_position"] == 5
    assert r["RR"] == pytest.approx(0.2)
    assert r["AP"] == pytest.approx(0.3)
    assert r["R@10"] == 1.0
    assert (r["auc_hits"], r["auc_pairs"]) == (0, 6)
    assert r["NDCG@10"] == pytest.approx((2 / LOG2(6)) / (1 + 1 / LOG2(3)))


def test_recall_cutoffs_and_tie_straddling_cutoff():
    n = 60
    # distinct scores: candidate i has position i + 1
    scores = np.arange(n, 0, -1, dtype=float)
    labels = np.zeros(n, dtype=int)
    labels[[4, 9, 10, 49, 50]] = 1  # positions 5, 10, 11, 50, 51
    r = per_brand_metrics(scores, labels)
    assert r["R@10"] == pytest.approx(2 / 5)
    assert r["R@50"] == pytest.approx(4 / 5)
    assert r["best_position"] == 5
    # AP = (1/5 + 2/10 + 3/11 + 4/50 + 5/51) / 5
    assert r["AP"] == pytest.approx((1 / 5 + 2 / 10 + 3 / 11 + 4 / 50 + 5 / 51) / 5)

    # a tie group over positions 9..11 pushes its positive (position 9 if optimistic) to 11
    scores = np.arange(n, 0, -1, dtype=float)
    scores[8:11] = scores[8]
    labels = np.zeros(n, dtype=int)
    labels[8] = 1
    r = per_brand_metrics(scores, labels)
    assert r["best_position"] == 11
    assert r["R@10"] == 0.0 and r["R@50"] == 1.0
    assert r["NDCG@10"] == 0.0


def test_map_formula():
    # positives at positions 1, 3, 6 (distinct scores) -> AP = (1/1 + 2/3 + 3/6) / 3
    scores = np.linspace(1.0, 0.0, 8)
    labels = np.array([1, 0, 1, 0, 0, 1, 0, 0])
    r = per_brand_metrics(scores, labels)
    assert r["AP"] == pytest.approx((1 + 2 / 3 + 3 / 6) / 3)
    assert r["RR"] == 1.0
    # perfect ranking -> AP = 1, NDCG = 1, AUC = all pairs
    r = per_brand_metrics(scores, np.array([1, 1, 1, 0, 0, 0, 0, 0]))
    assert r["AP"] == pytest.approx(1.0)
    assert r["NDCG@10"] == pytest.approx(1.0)
    assert r["auc_hits"] == r["auc_pairs"] == 15


def test_ndcg_idcg_capped_at_ten():
    # 12 positives on top of 20 distinct candidates -> positions 1..12; DCG counts 1..10
    # and IDCG = sum_{i=1..10}, so NDCG = 1
    scores = np.arange(20, 0, -1, dtype=float)
    labels = np.r_[np.ones(12, int), np.zeros(8, int)]
    assert per_brand_metrics(scores, labels)["NDCG@10"] == pytest.approx(1.0)
    # 12 positives at positions 3..14 -> DCG = sum_{p=3..10} 1/log2(p+1)
    labels = np.r_[np.zeros(2, int), np.ones(12, int), np.zeros(6, int)]
    want = sum(1 / LOG2(p + 1) for p in range(3, 11)) / sum(1 / LOG2(i + 1) for i in range(1, 11))
    assert per_brand_metrics(scores, labels)["NDCG@10"] == pytest.approx(want)


def test_brand_without_positives():
    r = per_brand_metrics(np.array([0.3, 0.2]), np.array([0, 0]))
    assert r["n_positives"] == 0
    assert math.isnan(r["R@10"]) and math.isnan(r["RR"]) and math.isnan(r["AP"])
    assert math.isnan(r["NDCG@10"]) and math.isnan(r["best_position"])
    assert r["auc_pairs"] == 0 and r["cauc_pairs"] == 0


def test_cauc_with_category_mask():
    # scores    [0.9, 0.8, 0.7, 0.6, 0.5]
    # labels    [0,   1,   0,   0,   1  ]
    # same-cat  [T,   T,   F,   T,   F  ]
    # positives 0.8, 0.5; same-category negatives 0.9, 0.6
    #   cAUC pairs: 0.8>0.9? no; 0.8>0.6 yes; 0.5>0.9 no; 0.5>0.6 no -> 1/4
    #   AUC pairs (all 3 negatives): 0.8 beats 0.7, 0.6; 0.5 beats none -> 2/6
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    labels = np.array([0, 1, 0, 0, 1])
    same = np.array([True, True, False, True, False])
    r = per_brand_metrics(scores, labels, same)
    assert (r["cauc_hits"], r["cauc_pairs"]) == (1, 4)
    assert (r["auc_hits"], r["auc_pairs"]) == (2, 6)
    g = grid_metrics(scores[None], labels[None], same[None])
    assert g["cAUC"] == pytest.approx(1 / 4)
    assert g["AUC"] == pytest.approx(2 / 6)
    # the positive's own mask value is irrelevant (a positive is always in the category)
    r2 = per_brand_metrics(scores, labels, np.array([True, False, False, True, True]))
    assert (r2["cauc_hits"], r2["cauc_pairs"]) == (1, 4)


def test_cauc_ties_are_failures():
    scores = np.array([0.5, 0.5, 0.4])
    labels = np.array([1, 0, 0])
    r = per_brand_metrics(scores, labels, np.array([True, True, False]))
    assert (r["cauc_hits"], r["cauc_pairs"]) == (0, 1)


def test_cauc_nan_without_mask_or_pairs():
    scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.3]])
    labels = np.array([[1, 0, 0], [0, 1, 0]])
    assert math.isnan(grid_metrics(scores, labels)["cAUC"])
    assert math.isnan(grid_metrics(scores, labels, np.zeros((2, 3), bool))["cAUC"])
    # brand 0 has no same-category negative: it contributes no triple; brand 1 does (0.8 > 0.3)
    same = np.array([[True, False, False], [False, False, True]])
    assert grid_metrics(scores, labels, same)["cAUC"] == 1.0


# --------------------------------------------------------------------------------------
# AUC vs sklearn
# --------------------------------------------------------------------------------------


def test_auc_equals_sklearn_without_ties():
    rng = np.random.default_rng(2)
    for _ in range(10):
        n = 200
        s = rng.random(n)
        y = (rng.random(n) < 0.2).astype(int)
        y[0], y[1] = 1, 0
        r = per_brand_metrics(s, y)
        assert r["auc_hits"] / r["auc_pairs"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        g = grid_metrics(s[None], y[None])
        assert g["AUC"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_auc_strict_below_sklearn_with_ties():
    rng = np.random.default_rng(3)
    for _ in range(10):
        n = 300
        s = rng.integers(0, 5, size=n).astype(float)
        y = (rng.random(n) < 0.3).astype(int)
        y[0], y[1] = 1, 0
        r = per_brand_metrics(s, y)
        ours = r["auc_hits"] / r["auc_pairs"]
        tied = sum(int((s[y == 0] == v).sum()) for v in s[y == 1])
        assert tied > 0
        # sklearn counts a tie as 1/2, we count it as a failure
        assert ours < roc_auc_score(y, s)
        assert ours == pytest.approx(roc_auc_score(y, s) - 0.5 * tied / r["auc_pairs"], abs=1e-12)


def test_auc_is_micro_averaged():
    # brand 0: positive 0.9 vs negatives 0.1, 0.2, 0.3 -> 3 hits / 3 pairs (AUC 1)
    # brand 1: positives 0.0, 0.5 vs negatives 0.6, 0.7 -> 0 hits / 4 pairs (AUC 0)
    # micro = 3/7; a mean of per-brand AUCs would give 0.5
    scores = np.array([[0.9, 0.1, 0.2, 0.3], [0.0, 0.5, 0.6, 0.7]])
    labels = np.array([[1, 0, 0, 0], [1, 1, 0, 0]])
    assert grid_metrics(scores, labels)["AUC"] == pytest.approx(3 / 7)


# --------------------------------------------------------------------------------------
# grid aggregation
# --------------------------------------------------------------------------------------


def _grid_with_best_positions(best: list[int], n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    scores = np.tile(np.arange(n, 0, -1, dtype=float), (len(best), 1))
    labels = np.zeros((len(best), n), dtype=int)
    for i, b in enumerate(best):
        labels[i, b - 1] = 1
    return scores, labels


def test_medr_lower_median_even_and_odd():
    g = grid_metrics(*_grid_with_best_positions([7, 1, 5, 3]))
    assert g["MedR"] == 3.0  # sorted 1,3,5,7 -> lower median 3 (not 4)
    assert grid_metrics(*_grid_with_best_positions([10, 2]))["MedR"] == 2.0
    assert grid_metrics(*_grid_with_best_positions([9, 4, 6]))["MedR"] == 6.0
    assert grid_metrics(*_grid_with_best_positions([5]))["MedR"] == 5.0
    assert lower_median(np.array([4, 1, 3, 2])) == 2.0
    assert lower_median(np.array([4, 1, 3, 2, 5])) == 3.0
    assert math.isnan(lower_median(np.array([])))


def test_mrr_map_ndcg_means():
    scores, labels = _grid_with_best_positions([1, 2, 4])
    g = grid_metrics(scores, labels)
    assert g["MRR"] == pytest.approx((1 + 1 / 2 + 1 / 4) / 3)
    assert g["MAP"] == pytest.approx((1 + 1 / 2 + 1 / 4) / 3)  # one positive: AP = RR
    assert g["NDCG@10"] == pytest.approx((1 + 1 / LOG2(3) + 1 / LOG2(5)) / 3)
    assert g["R@10"] == 1.0


def test_brands_without_positives_are_skipped():
    rng = np.random.default_rng(4)
    scores, labels, same = random_grid(rng, 6, 50, ties=True)
    labels_with_empty = labels.copy()
    labels_with_empty[[1, 4]] = 0
    with pytest.warns(UserWarning, match="2 brand"):
        g = grid_metrics(scores, labels_with_empty, same)
    assert g["skipped_brands"] == 2
    keep = [0, 2, 3, 5]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        want = grid_metrics(scores[keep], labels[keep], same[keep])
    assert want["skipped_brands"] == 0
    assert_metrics_close(g, want)


def test_all_brands_skipped_gives_nan():
    with pytest.warns(UserWarning):
        g = grid_metrics(np.ones((3, 4)), np.zeros((3, 4)))
    assert g["skipped_brands"] == 3
    assert all(math.isnan(g[m]) for m in METRICS)


def test_grid_keys_and_types():
    rng = np.random.default_rng(5)
    scores, labels, same = random_grid(rng, 4, 30, ties=False)
    g = grid_metrics(scores, labels, same)
    assert list(g) == [*METRICS, "skipped_brands"]
    assert all(isinstance(g[m], float) for m in METRICS)


@pytest.mark.parametrize("ties", [True, False])
def test_grid_matches_brute_force(ties):
    rng = np.random.default_rng(6 + ties)
    for b, n in [(1, 1), (1, 2), (3, 15), (7, 60), (12, 80)]:
        scores, labels, same = random_grid(rng, b, n, ties=ties, p_pos=0.15)
        got = grid_metrics(scores, labels, same)
        assert_metrics_close(got, brute_grid(scores, labels, same))
        for i in range(b):
            r = per_brand_metrics(scores[i], labels[i], same[i])
            want = brute_brand(scores[i], labels[i], same[i])
            for key in ("R@10", "R@50", "RR", "AP", "NDCG@10"):
                assert r[key] == pytest.approx(want[key], rel=1e-12), key
            for key in ("best_position", "auc_hits", "auc_pairs", "cauc_hits", "cauc_pairs"):
                assert r[key] == want[key], key


def test_brute_force_many_positives_beyond_cutoffs():
    # many positives and ties around positions 10 and 50
    rng = np.random.default_rng(8)
    scores = np.round(rng.random((5, 120)), 1)
    labels = (rng.random((5, 120)) < 0.5).astype(int)
    same = rng.random((5, 120)) < 0.5
    assert_metrics_close(grid_metrics(scores, labels, same), brute_grid(scores, labels, same))


def test_row_blocking_gives_same_result(monkeypatch):
    rng = np.random.default_rng(9)
    scores, labels, same = random_grid(rng, 23, 40, ties=True)
    want = grid_metrics(scores, labels, same)
    monkeypatch.setattr(metrics_mod, "_BLOCK_CELLS", 100)  # 2 rows per block
    got = grid_metrics(scores, labels, same)
    assert_metrics_close(got, want)


def test_bool_and_int_labels_agree():
    rng = np.random.default_rng(10)
    scores, labels, same = random_grid(rng, 5, 30, ties=True)
    assert_metrics_close(
        grid_metrics(scores, labels.astype(bool), same),
        grid_metrics(scores, labels.astype(float), same.astype(int)),
    )


def test_zero_candidates():
    with pytest.warns(UserWarning):
        g = grid_metrics(np.zeros((2, 0)), np.zeros((2, 0)))
    assert g["skipped_brands"] == 2
    q = brand_quantities(np.zeros((0, 5)), np.zeros((0, 5)))
    assert len(q) == 0
    assert math.isnan(metrics_from_quantities(q)["AUC"])


# --------------------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------------------


def test_negated_scores_flip_auc_without_ties():
    rng = np.random.default_rng(11)
    scores, labels, same = random_grid(rng, 10, 200, ties=False)
    g = grid_metrics(scores, labels, same)
    h = grid_metrics(-scores, labels, same)
    assert h["AUC"] == pytest.approx(1 - g["AUC"], abs=1e-12)
    assert h["cAUC"] == pytest.approx(1 - g["cAUC"], abs=1e-12)


def test_negated_scores_with_ties_sum_below_one():
    rng = np.random.default_rng(12)
    scores, labels, _ = random_grid(rng, 10, 200, ties=True)
    g = grid_metrics(scores, labels)
    h = grid_metrics(-scores, labels)
    assert g["AUC"] + h["AUC"] < 1.0  # ties fail in both directions


def test_candidate_permutation_invariance():
    rng = np.random.default_rng(13)
    for ties in (False, True):
        scores, labels, same = random_grid(rng, 8, 150, ties=ties)
        perm = rng.permutation(150)
        assert_metrics_close(
            grid_metrics(scores[:, perm], labels[:, perm], same[:, perm]),
            grid_metrics(scores, labels, same),
        )


def test_brand_permutation_invariance_and_monotone_transform():
    rng = np.random.default_rng(14)
    scores, labels, same = random_grid(rng, 9, 100, ties=True)
    perm = rng.permutation(9)
    base = grid_metrics(scores, labels, same)
    assert_metrics_close(grid_metrics(scores[perm], labels[perm], same[perm]), base)
    # a strictly increasing transform keeps ties and order -> identical metrics
    assert_metrics_close(grid_metrics(np.exp(scores) * 3 - 1, labels, same), base)


def test_metric_ranges():
    rng = np.random.default_rng(15)
    scores, labels, same = random_grid(rng, 20, 300, ties=True)
    g = grid_metrics(scores, labels, same)
    for m in ("AUC", "cAUC", "R@10", "R@50", "MRR", "MAP", "NDCG@10"):
        assert 0.0 <= g[m] <= 1.0
    assert 1 <= g["MedR"] <= 300
    assert g["R@10"] <= g["R@50"]


# --------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_scores_rejected_with_location(bad):
    scores = np.zeros((3, 4))
    scores[1, 2] = bad
    labels = np.eye(3, 4)
    with pytest.raises(ValueError, match=r"brand row 1, candidate column 2"):
        grid_metrics(scores, labels)
    with pytest.raises(EvaluationInputError, match=r"candidate column 2"):
        per_brand_metrics(scores[1], labels[1])
    with pytest.raises(ValueError, match="finite"):
        pessimistic_positions(scores[1])


def test_shape_and_label_validation():
    with pytest.raises(ValueError, match="shape"):
        grid_metrics(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="same_category"):
        grid_metrics(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((3, 3), bool))
    with pytest.raises(ValueError, match="2-D"):
        grid_metrics(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="1-D"):
        per_brand_metrics(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"labels must be 0/1.*brand row 0, candidate column 1"):
        grid_metrics(np.zeros((1, 3)), np.array([[1, 2, 0]]))
    with pytest.raises(ValueError, match="numeric"):
        grid_metrics(np.array([["a", "b"]]), np.zeros((1, 2)))


# --------------------------------------------------------------------------------------
# realistic and large grids (their speed is not asserted here: timings belong in benchmarks/)
# --------------------------------------------------------------------------------------


def test_realistic_grid_with_many_ties():
    rng = np.random.default_rng(16)
    scores = np.round(rng.random((74, 800)), 3)  # many ties
    labels = (rng.random((74, 800)) < 0.01).astype(int)
    same = rng.random((74, 800)) < 0.3
    g = grid_metrics(scores, labels, same)
    assert all(np.isfinite(g[m]) for m in ("AUC", "MAP", "MRR"))


def test_large_grid_random_scores_are_at_chance():
    rng = np.random.default_rng(17)
    scores = rng.random((100, 20_000)).astype(np.float32)
    labels = rng.random((100, 20_000)) < 0.001
    labels[:, 0] = True
    g = grid_metrics(scores, labels)
    assert 0.4 < g["AUC"] < 0.6
