"""benchmarks/summary.py: the markdown view of benchmarks/results/*.json."""

from __future__ import annotations

import json

from tests.bench_modules import load_benchmark


def load():
    return load_benchmark("summary")


def test_figures_records_and_skips(tmp_path):
    summary = load()
    (tmp_path / "b.json").write_text(json.dumps({
        "benchmark": "bench_x", "date": "2026-12-02", "machine": {"cpus": 2},
        "n": 1000, "cooperations": 5, "ok": True, "per_query_ms": [1.0, 2.0],
        "api_ms": {"p50": 13.25, "p99": 37.1},
        "stages": [{"stage": "embed", "seconds": 43.2}, {"stage": "index", "seconds": 1.5, "recall@100": 0.97}],
        "runs": [{"threads": 1, "batch_size": 16, "batches_per_s": 10.74}, {"threads": 2, "batch_size": 16,
                                                                            "batches_per_s": 16.3}],
        "speedup_vs_numpy": 7.248, "rows_per_s": 147488.0,
    }))
    (tmp_path / "a.json").write_text("{not json")
    text = summary.summarise(tmp_path)
    lines = text.splitlines()
    assert lines[0] == "# Benchmark results"
    assert lines.index("## a") < lines.index("## b")  # sorted by file name
    assert any(line.startswith("(unreadable: JSONDecodeError") for line in lines)
    assert "What: bench_x" in lines and "Date: 2026-12-02" in lines and "Machine: 2 CPUs" in lines
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| figure")]
    assert rows == [
        "| api_ms/p50 | 13.25 |", "| api_ms/p99 | 37.1 |",
        "| stages/stage=embed/seconds | 43.2 |", "| stages/stage=index/seconds | 1.5 |",
        "| stages/stage=index/recall@100 | 0.97 |",
        "| runs/batch_size=16,threads=1/batches_per_s | 10.74 |", "| runs/batch_size=16,threads=2/batches_per_s | 16.3 |",
        "| speedup_vs_numpy | 7.248 |", "| rows_per_s | 147,488 |",
    ]  # n, cooperations (not a measurement word), ok (bool) and the per-query list are left out


def test_main_writes_atomically_and_refuses_a_missing_folder(tmp_path, capsys):
    summary = load()
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "x.json").write_text(json.dumps({"wall_seconds": 2.5}))
    assert summary.main(["--results", str(tmp_path / "r")]) == 0
    assert "| wall_seconds | 2.5 |" in (tmp_path / "r" / "summary.md").read_text()
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["summary.md", "x.json"]  # no temp file left
    assert summary.main(["--results", str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().err
