"""Tests of the evaluation protocol (brandmatch.evaluation.protocol)."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from brandmatch.evaluation import protocol as protocol_mod
from brandmatch.evaluation.metrics import (
    METRICS,
    brand_quantities,
    grid_metrics,
    metrics_from_quantities,
)
from brandmatch.evaluation.protocol import (
    GridEvaluation,
    bootstrap_ci,
    evaluate_grid,
    format_metrics_table,
)

CATS = ("beauty", "food", "fashion")


def make_case(seed: int = 0, b: int = 30, n: int = 200, *, signal: float = 1.0):
    """Random grid with some signal: positives score higher on average; coarse ties."""
    rng = np.random.default_rng(seed)
    labels = (rng.random((b, n)) < 0.04).astype(int)
    labels[np.arange(b), rng.integers(0, n, size=b)] = 1
    scores = np.round(rng.normal(size=(b, n)) + signal * labels, 2)
    brand_cats = [CATS[i % 3] if i % 4 else CATS[(i // 4) % 3] for i in range(b)]
    cand_cats = [
        frozenset(c for c in CATS if rng.random() < 0.4) for _ in range(n)
    ]
    return scores, labels, brand_cats, cand_cats


def manual_mask(brand_cats, cand_cats) -> np.ndarray:
    return np.array([[bc in cc for cc in cand_cats] for bc in brand_cats], dtype=bool)


def assert_same_metrics(got: dict, want: dict) -> None:
    for name in METRICS:
        if math.isnan(want[name]):
            assert math.isnan(got[name]), name
        else:
            assert got[name] == pytest.approx(want[name], rel=1e-12, abs=1e-12), name


# --------------------------------------------------------------------------------------
# evaluate_grid
# --------------------------------------------------------------------------------------


def test_overall_metrics_match_grid_metrics_with_category_mask():
    scores, labels, bcats, ccats = make_case(1)
    ev = evaluate_grid(scores, labels, bcats, ccats, n_bootstrap=50, seed=0)
    want = grid_metrics(scores, labels, manual_mask(bcats, ccats))
    assert list(ev.metrics) == list(METRICS)
    assert_same_metrics(ev.metrics, want)
    assert not math.isnan(ev.metrics["cAUC"])
    assert ev.n_brands == 30 and ev.n_candidates == 200
    assert ev.n_positives == int(labels.sum())
    assert ev.skipped_brands == 0


def test_category_mask_rule_hand_case():
    # brand 0 (cat "a"): positive 0.5; negatives 0.9 (cats {a, b}) and 0.1 (cats {b})
    #   -> only 0.9 is a same-category negative: 0.5 > 0.9 fails -> cAUC 0/1, AUC 1/2
    scores = np.array([[0.9, 0.5, 0.1]])
    labels = np.array([[0, 1, 0]])
    ev = evaluate_grid(
        scores, labels, ["a"], [frozenset({"a", "b"}), frozenset({"a"}), frozenset({"b"})],
        n_bootstrap=0,
    )
    assert ev.metrics["cAUC"] == 0.0
    assert ev.metrics["AUC"] == 0.5


def test_no_candidate_categories_gives_nan_cauc():
    scores, labels, bcats, _ = make_case(2)
    ev = evaluate_grid(scores, labels, bcats, None, n_bootstrap=20)
    assert math.isnan(ev.metrics["cAUC"])
    assert all(math.isnan(x) for x in ev.ci95["cAUC"])
    assert all(math.isnan(v["cAUC"]) for v in ev.per_category.values())
    d = ev.to_json_dict()
    assert d["metrics"]["cAUC"] is None
    assert d["ci95"]["cAUC"] == [None, None]


def test_per_category_order_and_values():
    scores, labels, bcats, ccats = make_case(3, b=24)
    bcats = ["food"] * 3 + ["beauty"] * 5 + ["food"] * 6 + ["fashion"] * 10
    ev = evaluate_grid(scores, labels, bcats, ccats, n_bootstrap=10)
    assert list(ev.per_category) == ["food", "beauty", "fashion", "all"]
    mask = manual_mask(bcats, ccats)
    for cat in ("food", "beauty", "fashion"):
        rows = [i for i, c in enumerate(bcats) if c == cat]
        want = grid_metrics(scores[rows], labels[rows], mask[rows])
        assert list(ev.per_category[cat]) == list(METRICS)
        assert_same_metrics(ev.per_category[cat], want)
    assert_same_metrics(ev.per_category["all"], ev.metrics)


def test_skipped_brands_counted_and_category_of_skipped_brands_is_nan():
    scores, labels, _, ccats = make_case(4, b=6)
    labels[[2, 5]] = 0
    bcats = ["a", "a", "z", "b", "b", "z"]  # category "z" has only brands without positives
    with pytest.warns(UserWarning, match="2 brand"):
        ev = evaluate_grid(scores, labels, bcats, ccats, n_bootstrap=20)
    assert ev.skipped_brands == 2
    assert ev.n_brands == 6
    assert all(math.isnan(v) for v in ev.per_category["z"].values())
    keep = [0, 1, 3, 4]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ev_keep = evaluate_grid(
            scores[keep], labels[keep], [bcats[i] for i in keep], ccats, n_bootstrap=20
        )
    assert_same_metrics(ev.metrics, ev_keep.metrics)
    # the bootstrap resamples only evaluable brands: same draws -> same intervals
    for name in METRICS:
        assert ev.ci95[name] == pytest.approx(ev_keep.ci95[name], nan_ok=True)


def test_input_validation():
    scores, labels, bcats, ccats = make_case(5, b=4, n=10)
    with pytest.raises(ValueError, match="brand_categories"):
        evaluate_grid(scores, labels, bcats[:3], ccats)
    with pytest.raises(ValueError, match="candidate_categories"):
        evaluate_grid(scores, labels, bcats, ccats[:9])
    with pytest.raises(ValueError, match="reserved"):
        evaluate_grid(scores, labels, ["a", "all", "b", "c"], ccats)
    with pytest.raises(ValueError, match="2-D"):
        evaluate_grid(scores[0], labels[0], bcats, ccats)
    bad = scores.copy()
    bad[3, 7] = np.nan
    with pytest.raises(ValueError, match=r"brand row 3, candidate column 7"):
        evaluate_grid(bad, labels, bcats, ccats)
    with pytest.raises(ValueError, match="n_bootstrap"):
        evaluate_grid(scores, labels, bcats, ccats, n_bootstrap=-1)


# --------------------------------------------------------------------------------------
# bootstrap
# --------------------------------------------------------------------------------------


def test_bootstrap_deterministic_for_seed():
    scores, labels, bcats, ccats = make_case(6)
    a = evaluate_grid(scores, labels, bcats, ccats, n_bootstrap=200, seed=7)
    b = evaluate_grid(scores, labels, bcats, ccats, n_bootstrap=200, seed=7)
    c = evaluate_grid(scores, labels, bcats, ccats, n_bootstrap=200, seed=8)
    assert a.ci95 == b.ci95
    assert a.ci95 != c.ci95
    assert a.to_json_dict() == b.to_json_dict()


def test_bootstrap_ci_contains_point_estimate():
    scores, labels, bcats, ccats = make_case(7, b=74, n=400)
    ev = evaluate_grid(scores, labels, bcats, ccats, n_bootstrap=1000, seed=0)
    assert list(ev.ci95) == list(METRICS)
    for name in METRICS:
        lo, hi = ev.ci95[name]
        assert lo <= ev.metrics[name] <= hi, name
        assert lo < hi, name


def test_bootstrap_matches_naive_loop(monkeypatch):
    scores, labels, bcats, ccats = make_case(8, b=17, n=120)
    q = brand_quantities(scores, labels, manual_mask(bcats, ccats))
    n_boot, seed = 64, 3
    # naive: same draws, metrics recomputed replicate by replicate from the definitions
    idx = np.random.default_rng(seed).integers(0, len(q), size=(n_boot, len(q)))
    reps = {m: [] for m in METRICS}
    for row in idx:
        vals = metrics_from_quantities(q.take(row))
        for m in METRICS:
            reps[m].append(vals[m])
    want = {m: tuple(np.percentile(reps[m], [2.5, 97.5])) for m in METRICS}
    got = bootstrap_ci(q, n_bootstrap=n_boot, seed=seed)
    for m in METRICS:
        assert got[m] == pytest.approx(want[m], rel=1e-12), m
    # chunked replicates draw the same index rows -> identical result
    monkeypatch.setattr(protocol_mod, "_BOOTSTRAP_CELLS", 17 * 5)
    chunked = bootstrap_ci(q, n_bootstrap=n_boot, seed=seed)
    for m in METRICS:
        assert chunked[m] == pytest.approx(want[m], rel=1e-12), m


def test_bootstrap_medr_uses_lower_median():
    # two brands with best positions 1 and 9: every even-sized resample's lower median is
    # the smaller value -> with only {1, 9} drawn the median is 1 unless both draws are 9
    scores = np.tile(np.arange(10, 0, -1, dtype=float), (2, 1))
    labels = np.zeros((2, 10), dtype=int)
    labels[0, 0] = 1
    labels[1, 8] = 1
    q = brand_quantities(scores, labels)
    lo, hi = bootstrap_ci(q, n_bootstrap=400, seed=0)["MedR"]
    assert lo == 1.0 and hi == 9.0  # ~1/4 of replicates draw (9, 9)
    ev = evaluate_grid(scores, labels, ["a", "a"], n_bootstrap=0)
    assert ev.metrics["MedR"] == 1.0


def test_zero_bootstrap_and_single_brand():
    scores, labels, bcats, ccats = make_case(9, b=1, n=50)
    ev = evaluate_grid(scores, labels, bcats, ccats, n_bootstrap=0)
    assert all(math.isnan(lo) and math.isnan(hi) for lo, hi in ev.ci95.values())
    ev = evaluate_grid(scores, labels, bcats, ccats, n_bootstrap=30)
    for name in ("R@10", "MRR", "MAP", "MedR", "NDCG@10", "AUC"):
        assert ev.ci95[name] == pytest.approx((ev.metrics[name], ev.metrics[name]))


# --------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------


def test_to_json_dict_is_json_safe():
    scores, labels, bcats, _ = make_case(10, b=8, n=60)
    labels[0] = 0
    with pytest.warns(UserWarning):
        ev = evaluate_grid(scores, labels, bcats, None, n_bootstrap=25, seed=1)
    assert isinstance(ev, GridEvaluation)
    d = ev.to_json_dict()
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    assert set(back) >= {
        "metrics", "ci95", "per_category", "n_brands", "n_candidates", "n_positives",
        "skipped_brands",
    }
    assert back["n_brands"] == 8 and back["n_candidates"] == 60 and back["skipped_brands"] == 1
    assert back["n_positives"] == int(labels.sum())
    assert back["metrics"]["cAUC"] is None
    assert back["metrics"]["AUC"] == pytest.approx(ev.metrics["AUC"])
    assert back["ci95"]["MRR"] == pytest.approx(list(ev.ci95["MRR"]))
    assert list(back["per_category"])[-1] == "all"
    assert back["n_bootstrap"] == 25 and back["seed"] == 1


# --------------------------------------------------------------------------------------
# markdown table
# --------------------------------------------------------------------------------------


def test_format_metrics_table_exact():
    rows = {
        "MORNING": {"AUC": 0.81234, "MedR": 5.0, "MRR": 0.1},
        "random": {"AUC": float("nan"), "MedR": 12.5, "MRR": None},
    }
    text = format_metrics_table(rows, ["AUC", "MRR", "MedR", "cAUC"], title="Results")
    assert text == (
        "**Results**\n"
        "\n"
        "|         |   AUC |   MRR |   MedR | cAUC |\n"
        "| ------- | ----: | ----: | -----: | ---: |\n"
        "| MORNING | 0.812 | 0.100 |      5 |  n/a |\n"
        "| random  |   n/a |   n/a | 12.500 |  n/a |\n"
    )


def test_format_metrics_table_defaults():
    text = format_metrics_table({"m|x": {m: 1.0 for m in METRICS}}, row_header="model")
    lines = text.splitlines()
    assert len(lines) == 3
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["model", *METRICS]
    assert "m\\|x" in lines[2]
    cells = [c.strip() for c in lines[2].split(" | ")[1:]]
    cells[-1] = cells[-1].rstrip(" |")
    assert cells == ["1.000"] * 6 + ["1", "1.000"]


def test_format_table_from_evaluation():
    scores, labels, bcats, ccats = make_case(11, b=9, n=40)
    ev = evaluate_grid(scores, labels, bcats, ccats, n_bootstrap=0)
    text = format_metrics_table(ev.per_category)
    assert text.count("\n") == 2 + len(ev.per_category)
    assert "| all " in text


# --------------------------------------------------------------------------------------
# degenerate grids: say so instead of printing perfect scores silently (issue 14)
# --------------------------------------------------------------------------------------


def test_grid_of_only_positives_warns():
    scores = np.array([[0.3, 0.2, 0.1]])
    labels = np.ones((1, 3), dtype=int)
    ev = evaluate_grid(scores, labels, ["drink"], None, n_bootstrap=10, brand_ids=["peak_tea"])
    # the metrics keep their semantics: perfect ranking, AUC undefined
    assert ev.metrics["R@10"] == ev.metrics["MRR"] == ev.metrics["MAP"] == 1.0
    assert math.isnan(ev.metrics["AUC"])
    assert "R@10: k = 10 >= candidates (3) for every brand: trivially 1.0" in ev.warnings
    assert "R@50: k = 50 >= candidates (3) for every brand: trivially 1.0" in ev.warnings
    assert any(w.startswith("grid has no negatives for every brand ('peak_tea'): AUC undefined") and
               "trivially 1" in w for w in ev.warnings)
    assert "only 1 brand has positives: the bootstrap intervals over brands are degenerate" in ev.warnings
    assert json.loads(json.dumps(ev.to_json_dict(), allow_nan=False))["warnings"] == ev.warnings


def test_k_at_least_candidates_warns_and_sound_grid_does_not():
    rng = np.random.default_rng(0)
    scores = rng.random((4, 12))
    labels = np.zeros((4, 12), dtype=int)
    labels[:, 0] = 1
    labels[1, 5] = 1
    ev = evaluate_grid(scores, labels, ["a"] * 4, None, n_bootstrap=0)
    assert ev.warnings == ["R@50: k = 50 >= candidates (12) for every brand: trivially 1.0"]
    assert ev.metrics["R@50"] == 1.0
    big = rng.random((4, 60))
    big_labels = np.zeros((4, 60), dtype=int)
    big_labels[:, 3] = 1
    assert evaluate_grid(big, big_labels, ["a"] * 4, None, n_bootstrap=5).warnings == []


def test_some_brands_without_negatives_are_named():
    scores = np.array([[0.9, 0.1, 0.5] + [0.0] * 57, [0.5] * 60, [0.2] * 60])
    labels = np.zeros((3, 60), dtype=int)
    labels[0, 0] = 1
    labels[1] = 1
    with pytest.warns(UserWarning):
        ev = evaluate_grid(scores, labels + np.array([[0], [0], [0]]), ["a", "b", "a"], None, n_bootstrap=0,
                           brand_ids=["x", "y", "z"])
    assert "grid has no negatives for 1 of 2 brand(s) ('y'): AUC undefined for them (left out of AUC), " \
           "ranking metrics (R@k, MRR, MAP, MedR, NDCG@10) trivially 1" in ev.warnings
    assert "1 brand(s) without positives excluded from every metric ('z')" in ev.warnings
