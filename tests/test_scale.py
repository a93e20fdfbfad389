"""benchmarks/scale.py (`make scale`): the stage runner's measurements and the JSON it writes, on a
tiny world (the generate stage only, a few seconds), and the whole run end to end (slow: Ray)."""

from __future__ import annotations

import json
import sys

import pytest

from tests.bench_modules import load_benchmark


def _scale():
    return load_benchmark("scale")


def test_run_stage_measures_time_memory_and_figures(tmp_path):
    scale = _scale()
    code = ("import json, time\nblock = bytearray(200 * 2**20)\nfor i in range(0, len(block), 4096): block[i] = 1\n"
            "time.sleep(0.6)\nprint('noise')\nprint(json.dumps({'answer': 42}))\n")
    r = scale.run_stage("child", [sys.executable, "-c", code], tmp_path / "logs", sample_every=0.05)
    assert r["exit_code"] == 0 and r["figures"] == {"answer": 42}
    assert r["seconds"] >= 0.6
    assert r["peak_rss_mib"] >= 200  # the child's own peak (rusage of wait4)
    assert r["peak_tree_rss_mib"] >= r["peak_rss_mib"]
    assert (tmp_path / "logs" / "child.log").read_text().startswith("noise")
    failed = scale.run_stage("bad", [sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "logs")
    assert failed["exit_code"] == 3 and failed["figures"] is None


def test_tree_rss_counts_descendants():
    import os

    scale = _scale()
    assert scale.tree_rss(os.getpid()) > 0
    assert scale.tree_rss(2**22 + 12345) == 0  # no such process


def test_generate_stage_writes_strict_json(tmp_path):
    scale = _scale()
    results = tmp_path / "scale.json"
    rc = scale.main(["--influencers", "200", "--brands-per-category", "4", "--posts", "3", "--audience-size", "2",
                     "--audience-posts", "1", "--stages", "generate", "--out", str(tmp_path / "run"),
                     "--results", str(results)])
    assert rc == 0
    text = results.read_text()
    assert "NaN" not in text and "Infinity" not in text
    r = json.loads(text)
    assert r["completed"] is True and r["config"]["influencers"] == 200
    (g,) = r["stages"]
    assert g["stage"] == "generate" and g["exit_code"] == 0
    assert g["rows"]["posts"] == (200 + 48) * 3 and g["rows"]["audience_posts"] == (200 + 48) * 2
    assert g["throughput"]["influencers_per_s"] > 0 and g["peak_rss_mib"] > 0


def test_unknown_stage_is_refused(tmp_path):
    scale = _scale()
    with pytest.raises(SystemExit, match="unknown stage 'fit'"):
        scale.main(["--stages", "generate,fit", "--out", str(tmp_path), "--results", "none"])


@pytest.mark.slow
def test_whole_run_on_a_tiny_world(tmp_path):
    pytest.importorskip("ray", reason="the scale run featurizes and embeds with --engine ray (pip install 'brandmatch[ray]')")
    scale = _scale()
    results = tmp_path / "scale.json"
    rc = scale.main(["--influencers", "200", "--brands-per-category", "4", "--posts", "5", "--audience-size", "3",
                     "--audience-posts", "2", "--topics", "5", "--epochs", "1", "--train-brands", "10",
                     "--queries", "3", "--valid-candidates", "30", "--train-pairs", "40", "--index-kind", "projected",
                     "--out", str(tmp_path / "run"), "--results", str(results)])
    r = json.loads(results.read_text())
    assert rc == 0 and r["completed"], [s["output_tail"] for s in r["stages"] if s["exit_code"]]
    names = [s["stage"] for s in r["stages"]]
    assert names == ["generate", "featurize", "train", "embed", "recommend", "recommend_cli"]
    assert r["embedding_dim"] > 0
    train = r["stages"][2]["figures"]  # the validation grid's candidates sampled down to 30
    assert train["validation_candidates_full"] > 30 and train["validation_candidates"] == 30
    assert train["validation_positives"] > 0
    assert train["train_pairs_full"] > 40 and train["train_pairs"] == 40  # the sampled brands' pairs, capped
    embed = r["stages"][3]  # the million-influencer index path: projected vectors, no vectors file
    assert embed["reduced_dim"] == min(256, r["embedding_dim"]) and not (tmp_path / "run" / "vectors.parquet").exists()
    q = r["stages"][4]["figures"]
    assert q["influencers"] == 200 and q["latency_ms_p50"] > 0
