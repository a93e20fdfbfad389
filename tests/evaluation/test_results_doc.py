"""docs/results.md from the benchmark JSON: `brandmatch results --from`, the run cache, --max-seeds/--max-splits."""

from __future__ import annotations

import json
import re

import pytest

from brandmatch.atomic import strict_json
from brandmatch.cli import main
from brandmatch.data.store import load_dataset
from brandmatch.evaluation import benchmark as bench
from brandmatch.evaluation.experiments import (ResultsError, SYNTHETIC_WHY, find_benchmarks, mean_ci, reading,
                                               results_markdown, synthetic_why, write_results)

from tests.evaluation.test_benchmark import small_world  # noqa: F401  (module-scoped fixture)

QUIET = dict(log=lambda m: None, n_permutations=200, ablations=False)


def test_mean_ci():
    m, h = mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and 2.4 < h < 2.5  # t(0.975, 2) * 1 / sqrt(3) = 2.484
    assert mean_ci([0.5]) == (0.5, 0.0)


def test_second_call_reuses_the_run_files(small_world, tmp_path, monkeypatch):  # noqa: F811
    ds = load_dataset(small_world)
    out = tmp_path / "reports"
    include = ["rand", "cosine", "knn"]
    doc, text, _ = bench.run_benchmark(ds, out, seeds=2, splits=1, include=include, **QUIET)
    files = sorted((out / ds.name / "runs").glob("*.json"))
    n_runs = sum(len(r) for per in doc["runs"].values() for r in per.values())
    assert len(files) == n_runs and n_runs >= 4
    stored = json.loads(files[0].read_text())
    assert set(stored) == {"about", "run"} and stored["about"]["dataset"] == ds.name
    first = (out / ds.name / "benchmark.json").read_text()

    calls = []

    def boom(ds, method, seed, threads):
        calls.append((method.key, seed))
        raise RuntimeError("fit called although the run is stored")

    monkeypatch.setattr(bench, "run_once", boom)
    again, text2, _ = bench.run_benchmark(ds, out, seeds=2, splits=1, include=include, **QUIET)
    assert calls == [] and (out / ds.name / "benchmark.json").read_text() == first and text2 == text
    # a third seed only computes what is missing (seed 2 of the seeded methods); failures are not stored
    third, _, _ = bench.run_benchmark(ds, out, seeds=3, splits=1, include=include, **QUIET)
    assert calls and {seed for _, seed in calls} == {2}
    assert len(sorted((out / ds.name / "runs").glob("*.json"))) == n_runs
    assert strict_json(third["official"]["cosine"]) == strict_json(doc["official"]["cosine"])
    calls.clear()
    bench.run_benchmark(ds, out, seeds=1, splits=0, include=["cosine"], cache=False, **QUIET)
    assert calls == [("cosine", None)]


def test_cache_key_depends_on_method_split_seed_and_features():
    m1, m2 = bench.Method("a", "A", "rand", {}), bench.Method("b", "B", "rand", {"x": 1})
    k = bench.run_cache_key(m1, "official", 0, "f", "s")
    assert k == bench.run_cache_key(bench.Method("other-key", "X", "rand", {}), "official", 0, "f", "s")  # run_key
    assert len({k, bench.run_cache_key(m2, "official", 0, "f", "s"), bench.run_cache_key(m1, "split1", 0, "f", "s"),
                bench.run_cache_key(m1, "official", 1, "f", "s"), bench.run_cache_key(m1, "official", 0, "g", "s"),
                bench.run_cache_key(m1, "official", 0, "f", "t")}) == 6


def test_max_seeds_and_max_splits_are_reported(small_world, tmp_path):  # noqa: F811
    ds = load_dataset(small_world)
    doc, text, _ = bench.run_benchmark(ds, tmp_path, seeds=2, splits=1, include=["rand", "cosine"],
                                       max_seeds={"rand": 1}, max_splits={"rand": 0}, **QUIET)
    assert len(doc["runs"]["rand"]["official"]) == 1 and doc["runs"]["rand"]["split1"] == []
    assert doc["methods"]["rand"]["seeds"] == 1 and doc["methods"]["rand"]["splits"] == 0
    assert not doc["derived"]["rand"]["available"] and doc["derived"]["cosine"]["available"]
    assert "Fewer seeds (to fit the CPU budget): RAND 1." in text and "Fewer derived splits" in text
    with pytest.raises(bench.BenchmarkError, match="--max-seeds: unknown method 'nope'"):
        bench.run_benchmark(ds, tmp_path, seeds=1, splits=0, include=["cosine"], max_seeds={"nope": 1}, **QUIET)


def test_results_command_writes_the_page_from_the_json(small_world, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "reports"
    assert main(["benchmark", "--data", str(small_world), "--models", "rand,cosine,knn", "--seeds", "1",
                 "--splits", "1", "--no-ablations", "--permutations", "200", "--out", str(out),
                 "--max-splits", "knn=0,rand=1"]) == 0
    capsys.readouterr()
    doc = json.loads((out / "synthetic-small" / "benchmark.json").read_text())
    assert doc["methods"]["knn"]["splits"] == 0 and doc["methods"]["rand"]["splits"] == 1
    assert main(["benchmark", "--data", str(small_world), "--max-splits", "knn", "--out", str(out)]) == 2
    page = tmp_path / "results.md"
    assert main(["results", "--from", str(out), "--out", str(page)]) == 0
    text = page.read_text()
    assert text.startswith("# Results") and "## synthetic-small (synthetic world)" in text
    assert "| COSINE | 1 |" in text and "Holm p AP vs COSINE" in text
    assert "### All methods over 1 repeated brand-disjoint splits" in text
    assert "### Reading (generated from the numbers above)" in text and "significantly worse: RAND" in text
    assert find_benchmarks([out]) == [out / "synthetic-small" / "benchmark.json"]
    assert main(["results", "--from", str(tmp_path / "none"), "--out", str(page)]) == 2
    with pytest.raises(ResultsError, match="no benchmark.json"):
        write_results([tmp_path], tmp_path / "x.md")


def _doc(maps: dict[str, float], *, real: bool = False) -> dict:
    """A minimal benchmark document: official MAP means, no significance."""
    def row(v):
        return {"available": True, "runs": 1, "metrics": {m: {"mean": v, "lo": None, "hi": None}
                                                          for m in ("AUC", "cAUC", "R@10", "R@50", "MRR", "MAP",
                                                                    "MedR")},
                "valid": {"MAP": {"mean": v}}}
    model = lambda k: k.split(":")[0]  # noqa: E731
    return {"dataset": "w", "_path": "w/benchmark.json", "command": "brandmatch benchmark", "seeds": 1, "splits": 0,
            "paper_rows": real, "grids": {"official": "g"}, "per_brand": {"brands": ["b"]},
            "methods": {k: {"label": k.upper(), "model": model(k), "params": {}, "table": "main", "seeded": False}
                        for k in maps},
            "official": {k: row(v) for k, v in maps.items()}, "derived": {},
            "significance": {"official": {}, "derived": {}}}


def test_synthetic_why_only_for_strong_methods_below_cosine():
    doc = _doc({"cosine": 0.2, "mir:k2": 0.1, "camera:cpu": 0.3, "knn": 0.05})
    lines = synthetic_why(doc)
    assert len(lines) == 1 and lines[0].startswith("- **MIR:K2** (test MAP 0.100; COSINE 0.200)")
    two = synthetic_why(_doc({"cosine": 0.2, "mir:k2": 0.1, "mir:k3": 0.05}))
    assert len(two) == 1 and two[0].startswith("- **MIR:K2, MIR:K3** (test MAP 0.100, 0.050; COSINE 0.200)")
    assert SYNTHETIC_WHY["mir"] in lines[0]
    assert not any(re.search(r"\d\.\d\d", text) for text in SYNTHETIC_WHY.values())  # no metric typed in prose
    text = results_markdown([doc])
    assert "Why methods the papers found strong rank below COSINE" in text
    assert "Why methods" not in results_markdown([_doc({"cosine": 0.2, "mir:k2": 0.1}, real=True)])


def test_reading_lists_significant_methods_by_sign():
    doc = _doc({"cosine": 0.2, "a": 0.3, "b": 0.1, "c": 0.2})
    sig = {"reference": "cosine",
           "AP": {"a": {"diff": 0.1, "p": 0.001, "p_holm": 0.003}, "b": {"diff": -0.1, "p": 0.01, "p_holm": 0.02},
                  "c": {"diff": 0.01, "p": 0.5, "p_holm": 0.9}},
           "AUC": {"a": {"diff": 0.01, "p": 0.3, "p_holm": 0.6}, "b": {"diff": -0.1, "p": 0.2, "p_holm": 0.4},
                   "c": {"diff": -0.01, "p": 0.5, "p_holm": 0.9}}}
    doc["significance"]["official"] = {"vs_cosine": sig, "vs_best": {"reference": "a"}}
    first = reading(doc)[0]
    assert "significantly better than COSINE: A;" in first and "significantly worse: B;" in first
    assert "not distinguishable from COSINE: C." in first
    assert any("Validation picks A" in line for line in reading(doc))
