"""`brandmatch benchmark`: derived splits, method list, and one --quick run on a small generated world."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from brandmatch.cli import main
from brandmatch.data.store import load_dataset
from brandmatch.evaluation.benchmark import BenchmarkError, Method, Run, adapted, benchmark_methods, derived_split, \
    select_methods, stratified_test_brands


@pytest.fixture(scope="module")
def small_world(tmp_path_factory) -> Path:
    from brandmatch.data.synthetic import generate_to
    from brandmatch.features.simple import simple_features
    from brandmatch.features.store import write_view

    out = tmp_path_factory.mktemp("bench") / "small"
    generate_to(out, "small", 0, progress=False)
    feats = simple_features(load_dataset(out))
    for name in feats.names():
        write_view(out / "features", feats[name])
    return out


def test_stratified_test_brands_by_hand():
    brands = ["a1", "a2", "a3", "a4", "b1", "b2", "c1", "c2"]
    cats = {b: b[0] for b in brands}
    # 3 of 8: quotas a 1.5, b 0.75, c 0.75 -> floors 1, 0, 0; the two largest remainders: b, c (0.75) -> 1, 1, 1
    chosen = stratified_test_brands(brands, cats, 3, seed=1)
    assert len(chosen) == 3 and sorted(b[0] for b in chosen) == ["a", "b", "c"]
    assert chosen == stratified_test_brands(list(reversed(brands)), cats, 3, seed=1)[::-1]
    assert stratified_test_brands(brands, cats, 3, seed=1) == chosen


def test_derived_split_is_brand_disjoint_and_sized(small_world):
    ds = load_dataset(small_world)
    d1, d2 = derived_split(ds, 1), derived_split(ds, 2)
    for d in (d1, d2):
        train, valid, test = (set(d.brands(s)) for s in ("train", "validation", "test"))
        assert not (train & valid) and not (train & test) and not (valid & test)
        assert len(test) == len(ds.brands("test"))
        assert train | valid | test == set(ds.tables.splits["brand_id"])
        g = d.grid("test")
        partners = set(d.cooperations("test").influencers)
        assert partners <= set(g.influencer_ids.tolist())
        assert g.n_positives == len(d.cooperations("test"))
        assert set(d.grid("validation").brand_ids.tolist()) == valid
        # category-stratified: every category keeps its share of test brands (+-1)
        cats = ds.brand_category()
        for c in set(cats.values()):
            n_c = sum(1 for b in ds.tables.splits["brand_id"] if cats[b] == c)
            share = len(test) * n_c / len(cats)
            assert abs(sum(1 for b in test if cats[b] == c) - share) < 1
    assert set(d1.brands("test")) != set(d2.brands("test"))


def test_method_list_and_selection():
    methods = benchmark_methods()
    keys = [m.key for m in methods]
    for key in ("rand", "cosine", "tuned-cosine", "knn", "lambdarank", "morning:paper", "morning:plus",
                "morning:views=c"):
        assert key in keys
    assert "morning" not in keys  # models with recipes appear once per recipe
    kept = select_methods(methods, ["cosine", "morning"], ["morning:paper"])
    assert "morning:paper" not in [m.key for m in kept] and "cosine" in [m.key for m in kept]
    with pytest.raises(BenchmarkError, match="unknown method 'nope'"):
        select_methods(methods, ["nope"], None)


def test_benchmark_quick_writes_reports(small_world, tmp_path, capsys):
    out = tmp_path / "reports"
    assert main(["benchmark", "--data", str(small_world), "--quick", "--out", str(out), "--threads", "1"]) == 0
    folder = out / "synthetic-small"
    for name in ("benchmark.json", "benchmark.md", "benchmark_main.png", "benchmark_ablation.png"):
        assert (folder / name).stat().st_size > 0
    doc = json.loads((folder / "benchmark.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-strict {c}"))
    assert doc["quick"] and doc["seeds"] == 1 and doc["splits"] == 1
    assert doc["official"]["cosine"]["available"] and doc["derived"]["cosine"]["available"]
    pvalues = [e[k] for part in doc["significance"].values() for role in part.values()
               for metric in ("AP", "AUC") for e in (role.get(metric) or {}).values() for k in ("p", "p_holm")]
    assert pvalues and all(0.0 <= p <= 1.0 for p in pvalues)
    assert doc["significance"]["official"]["vs_cosine"]["reference"] == "cosine"
    text = (folder / "benchmark.md").read_text()
    assert "Table III analogue" in text and "Table IV analogue" in text and "Table V analogue" in text
    assert "p AP vs COSINE" in text
    assert (folder / "benchmark_main.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in capsys.readouterr().out
    assert not math.isnan(np.mean([doc["official"]["cosine"]["metrics"]["AUC"]["mean"]]))
    # the ablations take apart what the default recipe chose on the same split and seed
    stored = [json.loads(f.read_text()) for f in (folder / "runs").glob("*.json")]
    base = next(d for d in stored if d["about"]["method"] == "morning:plus" and d["about"]["split"] == "official")
    chosen = base["run"]["chosen"]
    assert chosen and "views" in chosen
    ablation = next(d for d in stored if d["about"]["method"] == "morning:views=c" and d["about"]["split"] == "official")
    run_params = json.loads(ablation["about"]["run_key"][len("morning"):])
    assert run_params["views"] == ["c"] and run_params["select"] is False
    assert {k: v for k, v in run_params.items() if k not in ("views", "select", "recipe", "epochs", "patience")} == \
        {k: v for k, v in chosen.items() if k not in ("views", "patience")}


def test_an_ablation_starts_from_the_parameters_the_default_recipe_chose():
    m = Method("morning:views=c", "MORNING plus c-only", "morning", {"recipe": "plus", "views": ["c"], "select": False},
               "ablation", adapt="morning:plus")
    base = Run(True, chosen={"attributes": "kinds", "terms": ["cosine", "kinds"], "views": ["c", "att"]})
    assert adapted(m, base).params == {"recipe": "plus", "attributes": "kinds", "terms": ["cosine", "kinds"],
                                       "views": ["c"], "select": False}
    assert adapted(m, Run(True, chosen={})).params == m.params
    assert adapted(m, Run(True, chosen={})).run_key == m.run_key


def test_benchmark_bad_options_exit_2(small_world, tmp_path, capsys):
    assert main(["benchmark", "--data", str(small_world), "--seeds", "0", "--out", str(tmp_path)]) == 2
    assert "--seeds must be >= 1" in capsys.readouterr().err
    assert main(["benchmark", "--data", str(small_world), "--models", "nope", "--out", str(tmp_path)]) == 2
    assert main(["benchmark", "--out", str(tmp_path)]) == 2
    assert not (tmp_path / "synthetic-small").exists()
