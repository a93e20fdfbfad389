"""Issue 14: date-time timestamps, huge numbers and train/test leakage in users' tables.

Bad input ends the CLI with exit code 2 and one line naming the file, row and column; nothing is
written.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from brandmatch.cli import main
from brandmatch.data.schema import validate_table
from brandmatch.data.store import load_dataset, write_dataset
from brandmatch.data.user_import import import_tables
from brandmatch.errors import DatasetError

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "examples" / "tiny"


@pytest.fixture
def tiny(tmp_path) -> Path:
    dst = tmp_path / "tiny"
    shutil.copytree(TINY, dst)
    return dst


def _import_error(src: Path, tmp_path: Path, capsys) -> str:
    """Run `brandmatch import`; it must fail with exit 2, one line on stderr, no output."""
    out = tmp_path / "out"
    rc = main(["import", str(src), "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 2, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert not out.exists()
    return lines[0]


def _set_cell(path: Path, row: int, column: str, value: str) -> None:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[row - 1, column] = value
    frame.to_csv(path, index=False)


# ------------------------------------------------------------------------------ 1. date-times


def _reference_posts() -> pd.DataFrame:
    return import_tables(TINY).tables.posts


@pytest.mark.parametrize(
    "arrow_type",
    [pa.timestamp("us"), pa.timestamp("ns", tz="UTC"), pa.timestamp("s"), pa.timestamp("ms", tz="Europe/Berlin")],
    ids=["us-naive", "ns-utc", "s-naive", "ms-berlin"],
)
def test_parquet_datetime_timestamps_become_unix_seconds(tiny, arrow_type):
    ref = _reference_posts()
    seconds = ref["timestamp"].to_numpy(dtype=np.int64)
    posts = pd.read_csv(tiny / "posts.csv", dtype=str, keep_default_na=False)
    table = pa.Table.from_pandas(posts.drop(columns=["timestamp"]), preserve_index=False)
    unit = arrow_type.unit
    scale = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit]
    stamps = pa.array(seconds * scale, type=pa.int64()).cast(arrow_type)
    table = table.append_column("timestamp", stamps)
    pq.write_table(table, tiny / "posts.parquet")
    (tiny / "posts.csv").unlink()
    ds = import_tables(tiny)
    assert ds.tables.posts["timestamp"].tolist() == seconds.tolist()
    ref_act = import_tables(TINY).features["activity"]
    np.testing.assert_array_equal(ds.features["activity"].values, ref_act.values)


def test_parquet_datetime_with_nulls_and_subseconds(tiny):
    posts = import_tables(TINY).tables.posts
    stamps = pd.to_datetime(posts["timestamp"].astype("float64"), unit="s") + pd.Timedelta(milliseconds=900)
    stamps.iloc[3] = pd.NaT
    frame = posts.assign(timestamp=stamps.astype("datetime64[ns]"))
    frame.to_parquet(tiny / "posts.parquet")
    (tiny / "posts.csv").unlink()
    got = import_tables(tiny).tables.posts["timestamp"]
    expected = posts["timestamp"].astype(object).tolist()
    expected[3] = None
    assert [None if pd.isna(v) else int(v) for v in got] == expected  # sub-seconds rounded down


def test_csv_iso_8601_timestamps_are_converted(tiny):
    path = tiny / "posts.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    secs = frame["timestamp"].astype(int)
    iso = pd.to_datetime(secs, unit="s", utc=True)
    frame["timestamp"] = [
        # Z, an offset, naive with a space (pandas' own to_csv format) and plain numbers, mixed
        [t.strftime("%Y-%m-%dT%H:%M:%SZ"), t.tz_convert("Asia/Kolkata").isoformat(),
         t.tz_localize(None).strftime("%Y-%m-%d %H:%M:%S"), str(s)][k % 4]
        for k, (t, s) in enumerate(zip(iso, secs))
    ]
    frame.to_csv(path, index=False)
    assert import_tables(tiny).tables.posts["timestamp"].tolist() == secs.tolist()


def test_csv_written_by_pandas_from_datetime64_is_accepted(tiny):
    path = tiny / "posts.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    secs = frame["timestamp"].astype(int)
    frame["timestamp"] = pd.to_datetime(secs, unit="s")  # datetime64, written as 'YYYY-MM-DD HH:MM:SS'
    frame.to_csv(path, index=False)
    assert import_tables(tiny).tables.posts["timestamp"].tolist() == secs.tolist()


@pytest.mark.parametrize("value", ["2023-13-45T00:00:00Z", "14/11/2023", "yesterday"])
def test_bad_date_text_is_refused(tiny, tmp_path, capsys, value):
    _set_cell(tiny / "posts.csv", 4, "timestamp", value)
    line = _import_error(tiny, tmp_path, capsys)
    assert f"posts.csv, row 4, column 'timestamp': '{value}' is not" in line


def test_datetime_in_a_count_column_is_refused(tiny, tmp_path, capsys):
    posts = import_tables(TINY).tables.posts
    posts.assign(likes=pd.to_datetime(posts["likes"].astype("float64"), unit="s")).to_parquet(tiny / "posts.parquet")
    (tiny / "posts.csv").unlink()
    line = _import_error(tiny, tmp_path, capsys)
    assert "posts.parquet, row 1, column 'likes': a date/time column" in line


# ------------------------------------------------------------------------------ 2. huge numbers


@pytest.mark.parametrize(
    "table, row, column, value, problem",
    [
        ("accounts", 2, "followers", "1e30", "1e30 is out of the integer range"),
        ("accounts", 2, "followers", "9223372036854775808", "9223372036854775808 is out of the integer range"),
        ("accounts", 2, "followers", "-9223372036854775809", "-9223372036854775809 is out of the integer range"),
        ("posts", 3, "timestamp", "1e300", "1e300 is out of the integer range"),
        ("posts", 3, "likes", "1e300", "1e300 is out of the integer range"),
        ("posts", 3, "comments", "1e300", "1e300 is out of the integer range"),
        ("posts", 3, "likes", "-1e300", "-1e300 is out of the integer range"),
        ("posts", 3, "likes", "9007199254740993.0", "9007199254740993.0 is a floating-point number above 2^53"),
        ("posts", 3, "likes", "1.5e17", "1.5e17 is a floating-point number above 2^53"),
        ("posts", 3, "likes", "-3", "-3 is below 0"),
    ],
)
def test_huge_integers_are_refused_with_the_users_value(tiny, tmp_path, capsys, table, row, column, value, problem):
    _set_cell(tiny / f"{table}.csv", row, column, value)
    line = _import_error(tiny, tmp_path, capsys)
    assert f"{tiny / table}.csv, row {row}, column '{column}': {problem}" in line


def test_int64_maximum_with_empty_cells_is_kept_exactly(tiny, tmp_path):
    """The column has empty cells (kicklab, city_walker): no detour through float64."""
    _set_cell(tiny / "accounts.csv", 2, "followers", "9223372036854775807")
    _set_cell(tiny / "accounts.csv", 3, "followers", "9007199254740993")  # 2^53 + 1
    ds = import_tables(tiny)
    assert ds.accounts["followers"].iloc[1] == 2**63 - 1
    assert ds.accounts["followers"].iloc[2] == 2**53 + 1
    back = load_dataset(write_dataset(ds, tmp_path / "out", features=ds.features).path)
    assert back.accounts["followers"].iloc[1] == 2**63 - 1
    assert back.accounts["followers"].iloc[2] == 2**53 + 1


def test_parquet_integers_with_nulls_are_exact(tiny):
    accounts = import_tables(TINY).accounts.copy()
    accounts.loc[1, "followers"] = 2**53 + 1
    pq.write_table(pa.Table.from_pandas(accounts, preserve_index=False), tiny / "accounts.parquet")
    (tiny / "accounts.csv").unlink()
    assert import_tables(tiny).accounts["followers"].iloc[1] == 2**53 + 1


@pytest.mark.parametrize(
    "values, message",
    [
        ([1.0, 2.0**60, None], "row 2, column 'followers': 1.152921504606847e+18 is a floating-point number above 2^53"),
        ([1.0, 1e30, None], "row 2, column 'followers': 1e+30 is out of the integer range"),
        (pd.array([1, 2**64 - 1, None], dtype="UInt64"), "row 2, column 'followers': 18446744073709551615 is out"),
    ],
    ids=["float-above-2^53", "float-out-of-range", "uint64"],
)
def test_numeric_columns_out_of_range(values, message):
    frame = pd.DataFrame({"account_id": ["a", "b", "c"], "handle": ["a", "b", "c"], "role": ["brand"] * 3,
                          "category": [None] * 3, "followers": values, "bio": [None] * 3})
    with pytest.raises(DatasetError) as info:
        validate_table("accounts", frame, "acc.parquet")
    assert f"acc.parquet, {message}" in str(info.value)


# ------------------------------------------------------------------------------ 4. train/test leakage


def _leaky_splits_and_grid(tiny: Path) -> None:
    """splits.csv trains brewhaus and kicklab; grids.csv tests them (and peak_tea)."""
    pd.DataFrame(
        {"brand_id": ["brewhaus", "citrus_fizz", "peak_tea", "trailstep", "urbansole", "kicklab"],
         "split": ["train", "train", "test", "train", "validation", "train"]}
    ).to_csv(tiny / "splits.csv", index=False)
    rows = [("test", b, m, int((b, m) in {("brewhaus", "ana.brews"), ("peak_tea", "teatime_tom"),
                                          ("kicklab", "kicks_kai")}))
            for b in ("peak_tea", "brewhaus", "kicklab") for m in ("ana.brews", "teatime_tom", "kicks_kai")]
    pd.DataFrame(rows, columns=["grid", "brand_id", "influencer_id", "label"]).to_csv(tiny / "grids.csv", index=False)


def test_training_brands_in_the_test_grid_are_refused_at_import(tiny, tmp_path, capsys):
    _leaky_splits_and_grid(tiny)
    line = _import_error(tiny, tmp_path, capsys)
    assert f"{tiny / 'grids.csv'}, row 4, column 'brand_id': 2 brand(s) of grid 'test' are also in the 'train' " \
           f"split of {tiny / 'splits.csv'}: 'brewhaus', 'kicklab' (train/test leakage" in line


def test_training_brands_in_the_validation_grid_are_refused(tiny):
    pd.DataFrame({"brand_id": ["brewhaus", "peak_tea"], "split": ["train", "test"]}).to_csv(tiny / "splits.csv", index=False)
    rows = [("validation", "brewhaus", "ana.brews", 1), ("test", "peak_tea", "teatime_tom", 1)]
    pd.DataFrame(rows, columns=["grid", "brand_id", "influencer_id", "label"]).to_csv(tiny / "grids.csv", index=False)
    with pytest.raises(DatasetError, match=r"grids\.csv, row 1, column 'brand_id': 1 brand\(s\) of grid 'validation' "
                                           r"are also in the 'train' split of .*splits\.csv: 'brewhaus'"):
        import_tables(tiny)


def test_test_brands_in_the_validation_grid_are_refused(tiny):
    pd.DataFrame({"brand_id": ["brewhaus", "peak_tea"], "split": ["train", "test"]}).to_csv(tiny / "splits.csv", index=False)
    rows = [("validation", "peak_tea", "teatime_tom", 1), ("test", "peak_tea", "teatime_tom", 1)]
    pd.DataFrame(rows, columns=["grid", "brand_id", "influencer_id", "label"]).to_csv(tiny / "grids.csv", index=False)
    with pytest.raises(DatasetError, match=r"grids\.csv, row 2, column 'brand_id': 1 brand\(s\) of grid 'test' "
                                           r"are also in the 'validation' grid: 'peak_tea'"):
        import_tables(tiny)


def test_many_leaked_brands_are_named_first_few(tmp_path):
    brands = [f"b{i:02d}" for i in range(12)]
    accounts = pd.DataFrame({"account_id": brands + ["m"], "handle": brands + ["m"],
                             "role": ["brand"] * 12 + ["influencer"]})
    splits = pd.DataFrame({"brand_id": brands, "split": ["train"] * 12})
    grids = pd.DataFrame({"grid": "test", "brand_id": brands, "influencer_id": "m", "label": 1})
    from brandmatch.data.schema import Tables, validate_tables

    with pytest.raises(DatasetError) as info:
        validate_tables(Tables(accounts.assign(category=None, followers=None, bio=None),
                               pd.DataFrame({"brand_id": brands, "influencer_id": "m", "score": None}), splits, grids))
    assert "12 brand(s) of grid 'test' are also in the 'train' split of splits: 'b00', 'b01', 'b02', 'b03', " \
           "'b04' and 7 more" in str(info.value)


def test_leaky_dataset_directory_is_refused_at_load(tmp_path):
    """A dataset written before the check (or edited by hand) is refused when loaded."""
    import json

    from brandmatch.atomic import sha256_file
    from brandmatch.data.store import write_table

    ds = import_tables(TINY)
    out = write_dataset(ds, tmp_path / "ds", features=ds.features).path
    splits = ds.tables.splits.copy()
    test_brands = ds.brands("test")
    splits.loc[splits["brand_id"] == test_brands[0], "split"] = "train"
    write_table(out / "splits.parquet", "splits", splits)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["tables"]["splits"]["sha256"] = sha256_file(out / "splits.parquet")
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatasetError) as info:
        load_dataset(out)
    msg = str(info.value)
    assert f"{out / 'grids.parquet'}, row 1, column 'brand_id': 1 brand(s) of grid 'test' are also in the 'train' " \
           f"split of {out / 'splits.parquet'}: {test_brands[0]!r}" in msg


# ------------------------------------------------------------------------------ 5. degenerate evaluation


def test_one_test_brand_grid_of_positives_is_flagged_in_output_and_json(tiny, tmp_path, capsys):
    """A derived test grid of one brand holds only its partners (all positives): the scores are
    trivially perfect, and the table and the JSON say so."""
    import json

    pd.DataFrame({"brand_id": ["brewhaus", "citrus_fizz", "peak_tea", "trailstep", "urbansole", "kicklab"],
                  "split": ["train", "train", "test", "train", "validation", "train"]}).to_csv(tiny / "splits.csv",
                                                                                               index=False)
    assert main(["import", str(tiny), "--out", str(tmp_path / "ds")]) == 0
    capsys.readouterr()
    out_json = tmp_path / "res.json"
    assert main(["evaluate", "--model", "rand", "--data", str(tmp_path / "ds"), "--json", str(out_json),
                 "--bootstrap", "10"]) == 0
    out = capsys.readouterr().out
    assert "Warnings:" in out
    assert "- R@10: k = 10 >= candidates (3) for every brand: trivially 1.0" in out
    assert "- grid has no negatives for every brand ('peak_tea'): AUC undefined" in out
    doc = json.loads(out_json.read_text())
    assert doc["metrics"]["MAP"] == 1.0 and doc["metrics"]["AUC"] is None
    assert "R@50: k = 50 >= candidates (3) for every brand: trivially 1.0" in doc["warnings"]


def test_given_validation_grid_alone_keeps_its_brands_out_of_test(tmp_path):
    """Only a validation grid given: test brands are carved from the other brands (never a clash)."""
    from tests.data.test_user_import import _many_brands

    src = _many_brands(tmp_path)
    co = pd.read_csv(src / "cooperations.csv")
    valid = [f"{c}{i}" for c in ("food", "auto", "shoes") for i in range(10)]  # every brand validates
    cands = sorted(set(co.loc[co.brand_id.isin(valid), "influencer_id"]))
    pairs = set(zip(co.brand_id, co.influencer_id))
    rows = [("validation", b, m, int((b, m) in pairs)) for b in valid[:20] for m in cands]
    pd.DataFrame(rows, columns=["grid", "brand_id", "influencer_id", "label"]).to_csv(src / "grids.csv", index=False)
    ds = import_tables(src, seed=1)
    assert set(ds.brands("validation")) == set(valid[:20])
    assert ds.brands("test") and not set(ds.brands("test")) & set(valid[:20])


# ------------------------------------------------------------------------------ 7. interrupted runs


def test_stale_temporary_siblings_are_removed_on_the_next_run(tiny, tmp_path, capsys):
    import os
    import time

    from brandmatch.data.store import DatasetWriter

    old = time.time() - 3600
    stale = [tmp_path / ".out.tmp-abcd1234", tmp_path / ".out.old-4242", tmp_path / ".gw.tmp-x1y2z3w4"]
    keep = [tmp_path / ".out.tmp-notours", tmp_path / ".other.tmp-abcd1234", tmp_path / "out.tmp-abcd1234"]
    for d in stale + keep:
        d.mkdir()
        (d / "accounts.parquet").write_bytes(b"half")
        os.utime(d, (old, old))
    fresh = tmp_path / ".out.tmp-zzzzzzzz"  # younger than this process: another run's, not touched
    fresh.mkdir()
    os.utime(fresh, (time.time() + 60, time.time() + 60))
    assert main(["import", str(tiny), "--out", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    assert not stale[0].exists() and not stale[1].exists()
    assert stale[2].exists() and fresh.exists() and all(d.exists() for d in keep)
    # the streaming writer (`brandmatch generate`) cleans its own left-overs the same way
    writer = DatasetWriter(tmp_path / "gw", "gw")
    writer.abort()
    assert not stale[2].exists() and all(d.exists() for d in keep)


@pytest.mark.parametrize("where_out", ["same", "inside", "parent"])
def test_import_refuses_an_output_that_is_contains_or_is_inside_the_source(tiny, tmp_path, capsys, where_out):
    out = {"same": tiny, "inside": tiny / "dataset", "parent": tmp_path}[where_out]
    before = sorted(p.name for p in tiny.iterdir())
    rc = main(["import", str(tiny), "--out", str(out), "--force"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "source folder" in err and "choose another --out" in err
    assert sorted(p.name for p in tiny.iterdir()) == before and (tiny / "accounts.csv").is_file()
    from brandmatch.data.mir_public import import_mir_to

    with pytest.raises(DatasetError, match="source folder"):
        import_mir_to(tiny, out, overwrite=True)


# ------------------------------------------------------------------------------ 8. messages and hostile values


def _accounts_parquet(tiny: Path, column: str, arrow: pa.Array) -> None:
    frame = pd.read_csv(tiny / "accounts.csv", dtype=str, keep_default_na=False, na_values=[""])
    table = pa.Table.from_pandas(frame.drop(columns=[column]), preserve_index=False).append_column(column, arrow)
    pq.write_table(table, tiny / "accounts.parquet")
    (tiny / "accounts.csv").unlink()


@pytest.mark.parametrize(
    "column, make, expected",
    [
        ("followers", lambda n: pa.array([True] * n), "column 'followers': a true/false (bool) column where an integer"),
        ("bio", lambda n: pa.array([[1, 2]] * n), "row 1, column 'bio': a list value where text is expected"),
        ("handle", lambda n: pa.array([b"x"] * n), "row 1, column 'handle': a bytes value (binary) where text"),
        ("bio", lambda n: pa.array([True] * n), "column 'bio': a true/false (bool) column where text is expected"),
    ],
    ids=["bool-int", "list-text", "bytes-text", "bool-text"],
)
def test_parquet_bool_list_and_bytes_columns_are_refused(tiny, tmp_path, capsys, column, make, expected):
    _accounts_parquet(tiny, column, make(18))
    line = _import_error(tiny, tmp_path, capsys)
    assert "accounts.parquet" in line and expected in line, line


def test_messages_show_plain_values_not_numpy_reprs():
    from brandmatch.features.store import FeatureView

    det = pd.DataFrame({"post_id": ["p1", "p1"], "kind": ["object", "object"], "class_index": [951, 951],
                        "confidence": [0.5, 0.6]})
    with pytest.raises(DatasetError) as exc:
        validate_table("detections", det, "detections.csv")
    assert str(exc.value) == ("detections.csv, row 2, column 'class_index': duplicate post_id='p1', kind='object', "
                              "class_index=951")
    from brandmatch.errors import FeatureError

    with pytest.raises(FeatureError) as fexc:
        FeatureView("v", np.array(["latte_leo", "b"]), np.array([[0, np.inf], [0, 0]]), np.ones(2, bool))
    msg = str(fexc.value)
    assert "np." not in msg and "account 'latte_leo'" in msg and "column 2" in msg, msg
    # messages quoting a parser's multi-line text stay one line
    assert "\n" not in str(DatasetError("f.csv: malformed CSV (Error tokenizing data.\nC error: line 3)"))


@pytest.mark.parametrize("ref", ["../../etc/passwd", "/etc/passwd", "img/../../secret.jpg"])
def test_image_refs_outside_the_dataset_are_refused(tiny, tmp_path, capsys, ref):
    _set_cell(tiny / "posts.csv", 3, "image_ref", ref)
    line = _import_error(tiny, tmp_path, capsys)
    assert line.startswith(f"brandmatch import: error: {tiny / 'posts.csv'}, row 3, column 'image_ref':"), line
    assert repr(ref) in line


def test_relative_and_url_image_refs_are_accepted(tiny):
    _set_cell(tiny / "posts.csv", 1, "image_ref", "images/p01.jpg")
    _set_cell(tiny / "posts.csv", 2, "image_ref", "https://example.com/p02.jpg")
    posts = import_tables(tiny).tables.posts
    assert posts["image_ref"].iloc[:2].tolist() == ["images/p01.jpg", "https://example.com/p02.jpg"]


def test_brand_profile_image_refs_stay_inside_the_profile_folder(tmp_path):
    from brandmatch.data.profile import load_brand_profile

    from PIL import Image

    outside = tmp_path / "secret.jpg"
    Image.new("RGB", (4, 4)).save(outside)
    root = tmp_path / "brand"
    root.mkdir()
    (root / "accounts.csv").write_text("account_id,handle,role\nnb,nb,brand\n")
    for ref in ("../secret.jpg", str(outside)):
        (root / "posts.csv").write_text(f"post_id,account_id,caption,image_ref\nq1,nb,hi,{ref}\n")
        with pytest.raises(DatasetError, match=r"posts\.csv, row 1, column 'image_ref': .*secret\.jpg"):
            load_brand_profile(root)
    (root / "link.jpg").symlink_to(outside)
    (root / "posts.csv").write_text("post_id,account_id,caption,image_ref\nq1,nb,hi,link.jpg\n")
    with pytest.raises(DatasetError, match=r"row 1, column 'image_ref': image path 'link.jpg' leads outside"):
        load_brand_profile(root)


@pytest.mark.parametrize("char", ["\u200b", "\u200d", "\ufeff", "\u202e", "\x07", "\x85"],
                         ids=["zwsp", "zwj", "bom", "rlo", "bel", "nel"])
def test_ids_with_invisible_or_control_characters_are_refused(tiny, tmp_path, capsys, char):
    _set_cell(tiny / "accounts.csv", 4, "account_id", "ana.brews" + char)
    line = _import_error(tiny, tmp_path, capsys)
    assert f"{tiny / 'accounts.csv'}, row 4, column 'account_id': id " in line
    assert f"U+{ord(char):04X}" in line, line


def test_ids_are_normalised_to_nfc(tiny):
    import unicodedata

    nfc, nfd = unicodedata.normalize("NFC", "café_lu"), unicodedata.normalize("NFD", "café_lu")
    accounts = pd.read_csv(tiny / "accounts.csv", dtype=str, keep_default_na=False)
    old = accounts.loc[accounts["role"] == "influencer", "account_id"].iloc[0]
    accounts.loc[accounts["account_id"] == old, "account_id"] = nfc
    accounts.to_csv(tiny / "accounts.csv", index=False)
    co = pd.read_csv(tiny / "cooperations.csv", dtype=str, keep_default_na=False)
    co.loc[co["influencer_id"] == old, "influencer_id"] = nfd  # the same id, decomposed
    co.to_csv(tiny / "cooperations.csv", index=False)
    posts = pd.read_csv(tiny / "posts.csv", dtype=str, keep_default_na=False)
    posts.loc[posts["account_id"] == old, "account_id"] = nfd
    posts.to_csv(tiny / "posts.csv", index=False)
    feats = pd.read_csv(tiny / "features" / "content_text.csv", dtype=str, keep_default_na=False)
    feats.loc[feats["account_id"] == old, "account_id"] = nfd
    feats.to_csv(tiny / "features" / "content_text.csv", index=False)
    ds = import_tables(tiny)
    assert ds.features["content_text"].mask[ds.features["content_text"].index[nfc]]
    assert nfc in ds.tables.cooperations["influencer_id"].tolist()
    assert nfd not in set(ds.tables.posts["account_id"])


def test_instaloader_image_linking_outside_the_folder_is_refused(tmp_path):
    from brandmatch.data.profile import load_brand_profile

    root = tmp_path / "beanandbrewco"
    shutil.copytree(REPO / "examples" / "new-brand-instaloader", root)
    outside = tmp_path / "secret.jpg"
    shutil.copy(root / "2019-05-11_09-45-30_UTC.jpg", outside)
    (root / "2019-05-11_09-45-30_UTC.jpg").unlink()
    (root / "2019-05-11_09-45-30_UTC.jpg").symlink_to(outside)
    with pytest.raises(DatasetError, match=r"2019-05-11_09-45-30_UTC\.jpg: the image leads outside the folder"):
        load_brand_profile(root)


def test_instaloader_post_with_an_impossible_date_or_nan_time_is_refused(tmp_path):
    import json
    import lzma

    from brandmatch.data.profile import load_brand_profile

    root = tmp_path / "beanandbrewco"
    shutil.copytree(REPO / "examples" / "new-brand-instaloader", root)
    meta = root / "2019-05-11_09-45-30_UTC.json.xz"
    obj = json.loads(lzma.open(meta).read())
    obj["node"]["taken_at_timestamp"] = float("nan")
    meta.write_bytes(lzma.compress(json.dumps(obj).encode()))
    with pytest.raises(DatasetError, match=r"column 'node.taken_at_timestamp': nan is not a Unix time"):
        load_brand_profile(root)
    meta.unlink()
    (root / "2019-05-11_09-45-30_UTC.txt").rename(root / "2019-13-45_09-45-30_UTC.txt")
    with pytest.raises(DatasetError, match=r"2019-13-45_09-45-30_UTC is not a valid date and time"):
        load_brand_profile(root)
