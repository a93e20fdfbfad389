"""`brandmatch recommend` / `brandmatch similar`: formats, filters, one-line errors with exit code 2."""

from __future__ import annotations

import csv
import io
import json

import pytest

from brandmatch.cli import main
from brandmatch.data.store import write_dataset
from tests.serving.world import serving_world


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("serving-cli")
    ds = serving_world()
    write_dataset(ds, root / "data", features=ds.features)
    assert main(["train", "--model", "morning", "--data", str(root / "data"), "--out", str(root / "model"),
                 "--epochs", "2", "--threads", "1", "--no-progress"]) == 0
    return ["--model-dir", str(root / "model"), "--data", str(root / "data")]


def run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_recommend_table(dirs, capsys):
    code, out, err = run(capsys, ["recommend", *dirs, "--brand", "b4", "--k", "5"])
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("brand: b4") and "rank" in lines[1] and "followers" in lines[1]
    assert len(lines) == 2 + 5
    assert all(part in lines[1] for part in ("c", "au", "att", "cat", "prof"))


def test_recommend_json_and_csv_parse_and_agree(dirs, capsys):
    code, out, _ = run(capsys, ["recommend", *dirs, "--brand", "B4_brand", "--k", "30", "--format", "json"])
    assert code == 0
    doc = json.loads(out)
    assert doc["brand"] == "b4" and doc["filters"]["exclude_partners"] is True
    recs = doc["recommendations"]
    ids = [r["influencer_id"] for r in recs]
    assert "m1" not in ids and "m2" not in ids  # outside 5k-100k
    assert not {"m4", "m7", "m10"} & set(ids)  # b4's partners (cluster 1) are excluded by default
    for r in recs:
        assert sum(r["parts"].values()) == pytest.approx(r["score"], rel=1e-9, abs=1e-12)
    unknown = [r for r in recs if r["influencer_id"] in ("m0", "m3")]
    assert unknown and all(r["followers"] is None for r in unknown)
    code, out, _ = run(capsys, ["recommend", *dirs, "--brand", "b4", "--k", "30", "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["influencer_id"] for r in rows] == ids
    assert [int(r["rank"]) for r in rows] == list(range(1, len(ids) + 1))
    for row, rec in zip(rows, recs):
        assert float(row["score"]) == pytest.approx(rec["score"])
        assert {k for k in row if k.startswith("share_")} == {f"share_{p}" for p in rec["parts"]}
        assert row["followers"] == ("unknown" if rec["followers"] is None else str(rec["followers"]))
        assert row["engagement_rate"] == "unknown" or float(row["engagement_rate"]) >= 0
        assert row["evidence"]


def test_recommend_filters(dirs, capsys):
    code, out, _ = run(capsys, ["recommend", *dirs, "--brand", "b4", "--k", "30", "--format", "json",
                                "--include-partners", "--min-followers", "none", "--max-followers", "none"])
    ids = [r["influencer_id"] for r in json.loads(out)["recommendations"]]
    assert {"m1", "m2", "m4"} <= set(ids) and len(ids) == 30
    code, out, _ = run(capsys, ["recommend", *dirs, "--brand", "b4", "--format", "json", "--category", "beauty",
                                "--min-followers", "0"])
    assert [r["influencer_id"] for r in json.loads(out)["recommendations"]] == ["m6"]
    code, out, _ = run(capsys, ["recommend", *dirs, "--brand", "b0", "--k", "30", "--format", "json",
                                "--include-partners", "--min-engagement", "0.05"])
    ids = [r["influencer_id"] for r in json.loads(out)["recommendations"]]
    assert "m4" in ids and "m5" not in ids and "m7" in ids  # m7: unknown engagement, kept


def test_similar(dirs, capsys):
    code, out, err = run(capsys, ["similar", *dirs, "--influencer", "inf_m4", "--k", "3", "--format", "json"])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["influencer"] == "m4"
    ids = [r["influencer_id"] for r in doc["recommendations"]]
    assert len(ids) == 3 and "m4" not in ids
    assert all(-1 - 1e-9 <= r["score"] <= 1 + 1e-9 for r in doc["recommendations"])


@pytest.mark.parametrize("argv, message", [
    (["--brand", "b4", "--k", "0"], "--k must be an integer >= 1, got '0'"),
    (["--brand", "b4", "--k", "ten"], "--k: expected an integer or 'none', got 'ten'"),
    (["--brand", "nope"], "unknown brand 'nope'"),
    (["--brand", "b4_brnd"], "B4_brand"),
    (["--brand", "m1"], "role 'influencer', not a brand"),
    (["--brand", "b4", "--min-followers", "-3"], "min_followers must be >= 0"),
    (["--brand", "b4", "--min-followers", "9", "--max-followers", "8"], "min_followers 9 is above max_followers 8"),
    (["--brand", "b4", "--min-engagement", "x"], "--min-engagement: expected a number"),
    (["--brand", "b4", "--category", "fod"], "unknown category 'fod'"),
])
def test_bad_input_exits_2_with_one_line(dirs, capsys, argv, message):
    code, out, err = run(capsys, ["recommend", *dirs, *argv])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err and err.startswith("brandmatch recommend: error: ")


def test_brand_profile_is_exclusive_with_brand(dirs, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["recommend", *dirs, "--brand", "b4", "--brand-profile", str(tmp_path)])
    assert exc.value.code == 2
    capsys.readouterr()
    code, out, err = run(capsys, ["recommend", *dirs, "--brand-profile", str(tmp_path / "missing")])
    assert code == 2 and out == "" and err.count("\n") == 1


def test_missing_model_dir(dirs, capsys, tmp_path):
    code, _, err = run(capsys, ["recommend", "--model-dir", str(tmp_path / "none"), *dirs[2:], "--brand", "b4"])
    assert code == 2 and "missing model config" in err


def test_index_dir_is_saved_then_reused(dirs, capsys, tmp_path):
    argv = ["recommend", *dirs, "--brand", "b5", "--k", "5", "--format", "json", "--index-dir", str(tmp_path / "ix")]
    code, first, _ = run(capsys, argv)
    assert code == 0 and (tmp_path / "ix" / "manifest.json").exists()
    code, second, _ = run(capsys, argv)
    assert code == 0 and json.loads(first)["recommendations"] == json.loads(second)["recommendations"]
