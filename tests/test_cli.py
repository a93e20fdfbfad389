"""The command line: exit codes, messages, JSON output, no partial output."""

from __future__ import annotations

import json

import pytest

from brandmatch.cli import main
from brandmatch.data.store import write_dataset
from conftest import make_tiny_dataset


@pytest.fixture
def tiny_dir(tmp_path):
    ds = make_tiny_dataset()
    write_dataset(ds, tmp_path / "tiny", features=ds.features)
    return tmp_path / "tiny"


def test_info_text_and_json(tiny_dir, capsys):
    assert main(["info", str(tiny_dir)]) == 0
    out = capsys.readouterr().out
    assert "grid test: 2 brands x 4 candidates, 4 positives" in out
    assert "content_text" in out
    assert main(["info", str(tiny_dir), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["tables"]["cooperations"] == 12
    assert doc["features"]["attributes"] == {"rows": 14, "dim": 2, "present": 13}
    assert doc["splits"] == {"train": 4, "test": 2}


def test_evaluate_json_document(tiny_dir, tmp_path, capsys):
    out = tmp_path / "res" / "cosine.json"
    assert main(["evaluate", "--model", "cosine", "--data", str(tiny_dir), "--json", str(out), "--bootstrap", "20"]) == 0
    assert "COSINE" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc["dataset"] == "tiny" and doc["model"] == "cosine"
    assert set(doc["metrics"]) == {"AUC", "cAUC", "R@10", "R@50", "MRR", "MAP", "MedR", "NDCG@10"}
    assert doc["metrics"]["AUC"] == pytest.approx(7 / 8)
    assert set(doc["ci95"]) == set(doc["metrics"])
    assert set(doc["per_category"]) == {"food", "auto", "all"}


def test_evaluate_with_param(tiny_dir, tmp_path):
    out = tmp_path / "text.json"
    assert main(["evaluate", "--model", "cosine", "--data", str(tiny_dir), "--param", 'views=["content_text"]',
                 "--json", str(out), "--bootstrap", "0"]) == 0
    assert json.loads(out.read_text())["params"] == {"views": ["content_text"]}


def test_unavailable_model_is_reported_not_faked(tiny_dir, tmp_path, capsys):
    out = tmp_path / "miv.json"
    assert main(["evaluate", "--model", "miv", "--data", str(tiny_dir), "--json", str(out)]) == 0
    assert "MIV: n/a" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc["available"] is False and doc["metrics"] is None


def test_report_writes_markdown_and_json(tiny_dir, tmp_path, capsys):
    assert main(["report", "--data", str(tiny_dir), "--models", "rand,miv,cosine", "--out", str(tmp_path / "r"),
                 "--bootstrap", "10"]) == 0
    md = (tmp_path / "r" / "tiny" / "results.md").read_text()
    assert "| RAND" in md and "| COSINE" in md and "MIV: n/a" in md
    doc = json.loads((tmp_path / "r" / "tiny" / "results.json").read_text())
    assert [r["model"] for r in doc["results"]] == ["rand", "miv", "cosine"]


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["info", "/nonexistent/ds"], "/nonexistent/ds: no such dataset directory"),
        (["evaluate", "--model", "nosuchmodel", "--data", "{tiny}"], "unknown model 'nosuchmodel'"),
        (["evaluate", "--model", "cosine", "--data", "{tiny}", "--grid", "nogrid"], "no grid named 'nogrid'"),
        (["evaluate", "--model", "cosine", "--data", "{tiny}", "--param", "views"], "expected KEY=VALUE"),
    ],
)
def test_bad_input_exits_2_with_one_message(tiny_dir, capsys, argv, fragment):
    argv = [a.replace("{tiny}", str(tiny_dir)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err
    assert len(err.splitlines()) == 1


def test_tampered_table_is_rejected(tiny_dir, capsys):
    path = tiny_dir / "cooperations.parquet"
    path.write_bytes(path.read_bytes()[:-20])
    assert main(["info", str(tiny_dir)]) == 2
    assert "cooperations.parquet: checksum does not match" in capsys.readouterr().err


def test_failed_evaluate_leaves_no_json(tiny_dir, tmp_path):
    out = tmp_path / "never.json"
    assert main(["evaluate", "--model", "cosine", "--data", str(tiny_dir), "--grid", "nogrid", "--json", str(out)]) == 2
    assert not out.exists()


def test_demo_on_the_real_release_prints_the_reference_figures(mir_public_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BRANDMATCH_SHARED", str(mir_public_dir.parents[1]))
    assert main(["demo", "--data", "mir", "--workdir", str(tmp_path / "data"), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "74 test brands x 797 candidates, 824 positives" in out
    # COSINE over the public LDA text + attribute vectors: the independently computed sanity values.
    cosine = next(line for line in out.splitlines() if line.startswith("| COSINE "))
    cells = [c.strip() for c in cosine.strip("|").split("|")]
    assert cells[1] == "0.835" and cells[4] == "0.427" and cells[6] == "0.162" and cells[7] == "5"
    assert "MIV: n/a" in out
    assert (tmp_path / "r" / "mir-public" / "results.json").exists()
    # then it trains the default recipe and recommends for a test brand, ending with the serve command
    assert "Top 10 micro-influencers for test brand" in out
    top = out.split("Top 10 micro-influencers for test brand", 1)[1].splitlines()
    assert sum(1 for line in top[:14] if line.strip()[:2].strip().isdigit()) == 10
    assert "brandmatch serve --model-dir" in out and (tmp_path / "data" / "models" / "mir-public-plus" / "config.json").exists()


def test_a_closed_pipe_stops_quietly(tmp_path):
    """`brandmatch info DIR | head -1`: no traceback when the reader goes away."""
    import subprocess
    import sys

    code = ("import sys; from brandmatch.cli import main\n"
            "sys.stdout.close = lambda: None\n"
            "class Closed:\n"
            "    def write(self, s): raise BrokenPipeError(32, 'Broken pipe')\n"
            "    def flush(self): pass\n"
            "    def fileno(self): return sys.__stdout__.fileno()\n"
            "sys.stdout = Closed()\n"
            f"sys.exit(main(['info', {str(tmp_path)!r}]))\n")
    (tmp_path / "config.json").write_text('{"model": "cosine", "params": {}, "extra": {}}')
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 141 and "Traceback" not in out.stderr
