"""`brandmatch results` machinery on the tiny dataset (cached runs, markdown with verdicts)."""

from brandmatch.evaluation.experiments import mean_ci, run_results

from conftest import make_tiny_dataset


def test_mean_ci():
    m, h = mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and 2.4 < h < 2.5  # t(0.975, 2) * 1 / sqrt(3) = 2.484
    assert mean_ci([0.5]) == (0.5, 0.0)


def test_results_markdown_and_cache(tmp_path):
    ds = make_tiny_dataset()
    out = tmp_path / "results.md"
    text = run_results(ds, out, seeds=1, variants=["RAND", "COSINE", "MORNING weighted-cosine"],
                       cache=tmp_path / "cache", log=lambda m: None)
    assert out.read_text() == text
    assert "| COSINE | 1 |" in text and "| MORNING weighted-cosine | 1 |" in text
    assert "Floor (beat COSINE" in text
    cached = sorted((tmp_path / "cache").rglob("*.json"))
    assert len(cached) == 3
    again = run_results(ds, out, seeds=1, variants=["RAND", "COSINE", "MORNING weighted-cosine"],
                        cache=tmp_path / "cache", log=lambda m: (_ for _ in ()).throw(AssertionError(m)))
    assert again == text  # everything came from the cache


def _row(auc, map_, r50=0.3, cauc=0.6):
    return {"AUC": (auc, 0.0), "cAUC": (cauc, 0.0), "R@50": (r50, 0.0), "MAP": (map_, 0.0), "R@10": (0.1, 0.0),
            "MRR": (0.3, 0.0), "MedR": (3.0, 0.0)}


def test_synthetic_verdict_names_the_ablations_the_full_model_does_not_beat():
    from brandmatch.evaluation.experiments import synthetic_verdict

    summary = {"RAND": _row(0.5, 0.02), "COSINE": _row(0.79, 0.16), "ORACLE": _row(0.98, 0.6),
               "MORNING+ c-only": _row(0.75, 0.15), "MORNING+ c+att": _row(0.85, 0.21),
               "MORNING+ full": _row(0.84, 0.22), "MORNING paper full": _row(0.70, 0.07)}
    text = synthetic_verdict(summary)
    assert "- AUC: MORNING+ full does NOT beat MORNING+ c+att (0.840)" in text  # 0.84 < 0.85
    assert "- MAP: MORNING+ full beats every ablation and COSINE (0.220)" in text  # ORACLE is no rival
    assert "MORNING paper full: AUC 0.700, MAP 0.070; beats COSINE on none of AUC, R@50, MAP" in text
    assert synthetic_verdict({"COSINE": _row(0.8, 0.1)}) == "MORNING+ full is n/a on this world."


def test_seed_counts_cap_a_variant_and_deterministic_models_run_once(tmp_path):
    from brandmatch.evaluation.experiments import run_variants

    ds = make_tiny_dataset()
    variants = {"RAND": ("rand", {}, ""), "COSINE": ("cosine", {}, ""), "RAND capped": ("rand", {}, "")}
    runs = run_variants(ds, variants, 3, None, log=lambda m: None, seed_counts={"RAND capped": 1})
    assert [len(runs[k]) for k in variants] == [3, 1, 1]
    assert [r["params"]["seed"] for r in runs["RAND"]] == [0, 1, 2]


def test_real_verdict_picks_the_variant_by_validation_not_test_map():
    from brandmatch.evaluation.experiments import real_verdict

    summary = {"COSINE": _row(0.80, 0.16, r50=0.40),
               "MORNING a": _row(0.82, 0.20, r50=0.45),  # best on test
               "MORNING b": _row(0.81, 0.17, r50=0.41)}  # best on validation
    runs = {"MORNING a": [{"valid": {"MAP": 0.20}}, {"valid": {"MAP": 0.22}}],
            "MORNING b": [{"valid": {"MAP": 0.25}}, {"valid": {"MAP": 0.23}}]}
    text = real_verdict(summary, runs)
    assert "Best MORNING variant by mean validation MAP (0.240): **MORNING b**." in text
    assert "Floor (beat COSINE on AUC, R@50 and MAP, means over seeds): **met** (AUC 0.810 vs 0.800" in text
    # without validation records the test-grid choice is labelled as such
    assert "no validation grid: selection on the test grid" in real_verdict(summary)
