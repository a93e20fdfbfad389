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
