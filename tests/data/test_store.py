"""The dataset store (brandmatch.data.store), table validation (schema) and the feature store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from brandmatch.data.schema import TABLES, Tables, empty_table, frames_equal, validate_table, validate_tables
from brandmatch.data.store import Dataset, load_dataset, write_dataset
from brandmatch.errors import DatasetError, FeatureError
from brandmatch.features.store import FeatureSet, FeatureView


def full_tables() -> Tables:
    """Every table non-empty, with nulls in every nullable column and awkward values."""
    accounts = pd.DataFrame(
        {
            "account_id": ["b1", "b2", "m1", "m2", "m3"],
            "handle": ["brand.one", "Brand Two ☕", "m_1", "m2", "m3"],
            "role": ["brand", "brand", "influencer", "influencer", "influencer"],
            "category": ["food", None, None, "food", None],
            "followers": [10, None, 2**40, 0, None],
            "bio": ["línea 1\nlínea 2, \"quoted\"", None, "", "🎉", None],
        }
    )
    posts = pd.DataFrame(
        {
            "post_id": ["p1", "p2", "p3"],
            "account_id": ["m1", "m1", "b1"],
            "caption": ["hello", None, ""],
            "timestamp": [1_700_000_000, None, 4_102_444_800],  # > 2**31
            "likes": [5, None, 0],
            "comments": [None, 1, 2],
            "image_ref": [None, "img/p2.jpg", None],
        }
    )
    audience = pd.DataFrame({"account_id": ["m1", "m1", "b1"], "member_id": ["u1", "u2", "u1"]})
    audience_posts = pd.DataFrame(
        {
            "post_id": ["a1", "a2"],
            "member_id": ["u1", "u2"],
            "caption": ["x", None],
            "timestamp": [None, 1],
            "likes": [None, 3],
            "comments": [0, None],
            "image_ref": [None, None],
        }
    )
    detections = pd.DataFrame(
        {
            "post_id": ["p1", "p1", "a1"],
            "kind": ["object", "scene", "scene"],
            "class_index": [999, 364, 0],
            "confidence": [0.5, 1.0, 0.0],
        }
    )
    cooperations = pd.DataFrame(
        {"brand_id": ["b1", "b1", "b2"], "influencer_id": ["m1", "m2", "m3"], "score": [0.25, np.nan, 1e-9]}
    )
    splits = pd.DataFrame({"brand_id": ["b1", "b2"], "split": ["train", "test"]})
    grids = pd.DataFrame(
        {"grid": ["test"] * 2, "brand_id": ["b2", "b2"], "influencer_id": ["m3", "m1"], "label": [1, 0]}
    )
    return Tables(
        accounts=accounts, cooperations=cooperations, splits=splits, grids=grids, posts=posts,
        audience=audience, audience_posts=audience_posts, detections=detections,
    )


def full_dataset() -> Dataset:
    ds = Dataset("full", full_tables(), {"note": "ünïcode", "nested": {"a": [1, 2.5, None, True]}})
    ids = ["b1", "b2", "m1", "m2", "m3"]
    values = np.arange(10, dtype=np.float32).reshape(5, 2)
    mask = np.array([True, True, True, False, True])
    values[~mask] = 0
    ds.features = FeatureSet({"content_text": FeatureView("content_text", np.array(ids), values, mask, {"k": "v"})})
    return ds


@pytest.fixture
def written(tmp_path) -> tuple[Dataset, Path]:
    ds = full_dataset()
    return ds, write_dataset(ds, tmp_path / "ds").path


# ------------------------------------------------------------------------------ round trips


def test_round_trip_all_tables_with_nulls(written):
    ds, path = written
    back = load_dataset(path)
    canon = validate_tables(ds.tables)
    for name in TABLES:
        a, b = getattr(canon, name), getattr(back.tables, name)
        assert frames_equal(a, b), name
        for col in TABLES[name].columns:
            expected = {"str": "object", "int": "Int64", "float": "float64"}[col.kind]
            assert str(b[col.name].dtype) == expected, (name, col.name)
    acc = back.tables.accounts
    assert acc.followers[0] == 10 and pd.isna(acc.followers[1]) and acc.followers[2] == 2**40
    assert acc.bio[0] == "línea 1\nlínea 2, \"quoted\"" and acc.bio[2] == "" and acc.bio[1] is None
    assert back.tables.posts.timestamp[2] == 4_102_444_800
    assert np.isnan(back.tables.cooperations.score[1]) and back.tables.cooperations.score[2] == 1e-9
    assert back.metadata == ds.metadata and back.name == "full"
    v = back.features["content_text"]
    np.testing.assert_array_equal(v.values, ds.features["content_text"].values)
    np.testing.assert_array_equal(v.mask, ds.features["content_text"].mask)
    assert v.meta == {"k": "v"}


def test_round_trip_of_empty_optional_tables(tmp_path):
    t = full_tables()
    for name in ("posts", "audience", "audience_posts", "detections"):
        setattr(t, name, empty_table(name))
    back = load_dataset(write_dataset(Dataset("e", t), tmp_path / "e").path)
    assert all(len(getattr(back.tables, n)) == 0 for n in ("posts", "audience", "audience_posts", "detections"))
    assert back.features.names() == []


def test_writes_are_deterministic(tmp_path):
    a = write_dataset(full_dataset(), tmp_path / "a").path
    b = write_dataset(full_dataset(), tmp_path / "b").path
    for name in TABLES:
        assert (a / f"{name}.parquet").read_bytes() == (b / f"{name}.parquet").read_bytes()
    assert (a / "manifest.json").read_text() == (b / "manifest.json").read_text()


def test_accessors(written):
    _, path = written
    ds = load_dataset(path)
    assert ds.brands() == ["b1", "b2"] and ds.brands("test") == ["b2"]
    assert ds.influencers() == ["m1", "m2", "m3"]
    assert ds.influencer_categories() == {"m1": frozenset({"food"}), "m2": frozenset({"food"})}
    assert len(ds.cooperations("train")) == 2 and len(ds.cooperations()) == 3
    g = ds.grid("test")
    assert g.labels.tolist() == [[1, 0]] and g.influencer_ids.tolist() == ["m3", "m1"]
    s = ds.summary()
    assert s["grids"]["test"] == {"brands": 1, "candidates": 2, "positives": 1}
    assert s["features"]["content_text"] == {"rows": 5, "dim": 2, "present": 4}
    json.dumps(s)


# ------------------------------------------------------------------------------ tampering, versions


def test_tampered_table_is_detected(written):
    _, path = written
    f = path / "cooperations.parquet"
    table = pq.read_table(f)
    scores = table.column("score").to_pylist()
    scores[0] = 0.99
    pq.write_table(table.set_column(2, "score", pa.array(scores, pa.float64())), f)
    with pytest.raises(DatasetError, match=r"cooperations\.parquet: checksum does not match"):
        load_dataset(path)
    assert load_dataset(path, verify=False).tables.cooperations.score[0] == 0.99


def test_truncated_table_is_detected(written):
    _, path = written
    f = path / "grids.parquet"
    f.write_bytes(f.read_bytes()[:50])
    with pytest.raises(DatasetError, match=r"grids\.parquet: checksum"):
        load_dataset(path)
    with pytest.raises(DatasetError, match=r"grids\.parquet: not a readable Parquet file"):
        load_dataset(path, verify=False)


def test_tampered_feature_file_is_detected(written):
    _, path = written
    f = path / "features" / "content_text.npz"
    with np.load(f) as z:
        ids, values, mask = z["ids"], z["values"].copy(), z["mask"]
    values[0, 0] = 42
    np.savez(f, ids=ids, values=values, mask=mask)
    with pytest.raises(FeatureError, match=r"content_text\.npz: checksum does not match"):
        load_dataset(path).features


def test_schema_version_mismatch(written):
    _, path = written
    m = json.loads((path / "manifest.json").read_text())
    m["schema_version"] = 999
    (path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(DatasetError, match=r"manifest\.json: schema_version 999, expected 1"):
        load_dataset(path)


def test_manifest_problems(written, tmp_path):
    _, path = written
    with pytest.raises(DatasetError, match="no such dataset directory"):
        load_dataset(tmp_path / "nope")
    m = json.loads((path / "manifest.json").read_text())
    m["tables"]["splits"]["rows"] = 7
    (path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(DatasetError, match=r"splits\.parquet: 2 rows, manifest says 7"):
        load_dataset(path)
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"manifest\.json: invalid JSON at line 1"):
        load_dataset(path)
    (path / "manifest.json").unlink()
    with pytest.raises(DatasetError, match="missing manifest"):
        load_dataset(path)


def test_missing_table_file(written):
    _, path = written
    (path / "posts.parquet").unlink()
    with pytest.raises(DatasetError, match=r"posts\.parquet: missing table file"):
        load_dataset(path)


def test_invalid_table_on_disk_is_rejected_on_read(written):
    _, path = written
    f = path / "splits.parquet"
    pq.write_table(pa.table({"brand_id": ["b1", "b2"], "split": ["train", "holdout"]}), f)
    with pytest.raises(DatasetError, match=r"splits\.parquet, row 2, column 'split': value 'holdout'"):
        load_dataset(path, verify=False)


# ------------------------------------------------------------------------------ atomic writes


def test_failed_write_leaves_no_output(tmp_path):
    ds = full_dataset()
    ds.tables.cooperations.loc[1, "influencer_id"] = "ghost"
    with pytest.raises(DatasetError, match="unknown influencer 'ghost'"):
        write_dataset(ds, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_old_dataset(written):
    ds, path = written
    before = {p.name: p.read_bytes() for p in path.glob("*.parquet")}
    bad = full_dataset()
    bad.tables.splits.loc[0, "split"] = "dev"
    with pytest.raises(DatasetError):
        write_dataset(bad, path, overwrite=True)
    assert {p.name: p.read_bytes() for p in path.glob("*.parquet")} == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["ds"]


def test_unknown_account_in_features_is_rejected_before_writing(tmp_path):
    ds = full_dataset()
    v = ds.features["content_text"]
    ds.features = FeatureSet({"content_text": FeatureView("content_text", np.array(["b1", "b2", "m1", "m2", "zz"]), v.values, v.mask)})
    with pytest.raises(DatasetError, match=r"features/content_text\.npz, row 5, column 'ids': unknown account 'zz'"):
        write_dataset(ds, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_existing_output_needs_overwrite(written):
    ds, path = written
    with pytest.raises(DatasetError, match="already exists"):
        write_dataset(ds, path)
    assert write_dataset(ds, path, overwrite=True).path == path


# ------------------------------------------------------------------------------ validate_table messages


def _accounts(**changes) -> pd.DataFrame:
    frame = full_tables().accounts.copy()
    for (row, col), value in changes.get("cells", {}).items():
        frame.loc[row, col] = value
    return frame


@pytest.mark.parametrize(
    "frame_fn, message",
    [
        (lambda: _accounts().drop(columns=["role"]), "src.csv, column 'role': missing column in table 'accounts'"),
        (lambda: _accounts().assign(extra=1), "src.csv, column 'extra': unknown column in table 'accounts'"),
        (lambda: _accounts(cells={(2, "account_id"): None}), "src.csv, row 3, column 'account_id': empty value"),
        (lambda: _accounts(cells={(3, "handle"): "   "}), "src.csv, row 4, column 'handle': empty value"),
        (lambda: _accounts(cells={(1, "role"): "shop"}), "src.csv, row 2, column 'role': value 'shop' not one of brand, influencer"),
        (lambda: _accounts().astype({"followers": object}).pipe(lambda f: f.assign(followers=[1, "many", None, 2, 3])),
         "src.csv, row 2, column 'followers': 'many' is not a number"),
        (lambda: _accounts().assign(followers=[1, 2.5, None, 2, 3]), "src.csv, row 2, column 'followers': 2.5 is not an integer"),
        (lambda: _accounts().assign(followers=[1, -1, None, 2, 3]), "src.csv, row 2, column 'followers': -1 is below 0"),
        (lambda: _accounts().assign(followers=[1, np.inf, None, 2, 3]), "src.csv, row 2, column 'followers': infinite value"),
        (lambda: _accounts(cells={(4, "account_id"): "b1"}), "src.csv, row 5, column 'account_id': duplicate account_id='b1'"),
    ],
    ids=["missing", "extra", "null", "blank", "allowed", "number", "integer", "min", "inf", "duplicate"],
)
def test_validate_table_names_row_and_column(frame_fn, message):
    with pytest.raises(DatasetError) as info:
        validate_table("accounts", frame_fn(), "src.csv")
    assert message in str(info.value)


def test_validate_detections_ranges():
    det = full_tables().detections
    det.loc[1, "class_index"] = 365  # a scene class out of Places365's range
    with pytest.raises(DatasetError, match=r"d\.csv, row 2, column 'class_index': class 365 out of range for kind 'scene'"):
        validate_table("detections", det, "d.csv")
    det.loc[1, "class_index"] = 1000
    det.loc[1, "kind"] = "object"
    with pytest.raises(DatasetError, match=r"row 2, column 'class_index': class 1000 out of range"):
        validate_table("detections", det, "d.csv")
    det = full_tables().detections
    det.loc[0, "confidence"] = 1.5
    with pytest.raises(DatasetError, match=r"row 1, column 'confidence': 1.5 is above 1"):
        validate_table("detections", det, "d.csv")


def test_validate_tables_checks_references():
    t = full_tables()
    t.posts.loc[2, "account_id"] = "nobody"
    with pytest.raises(DatasetError, match=r"posts\.csv, row 3, column 'account_id': unknown account 'nobody'"):
        validate_tables(t, {"posts": "posts.csv"})
    t = full_tables()
    t.audience_posts.loc[0, "member_id"] = "u9"
    with pytest.raises(DatasetError, match=r"row 1, column 'member_id': unknown audience member 'u9'"):
        validate_tables(t)
    t = full_tables()
    t.detections.loc[2, "post_id"] = "p9"
    with pytest.raises(DatasetError, match=r"row 3, column 'post_id': unknown post 'p9'"):
        validate_tables(t)
    t = full_tables()
    t.splits.loc[0, "brand_id"] = "m1"  # an influencer is not a brand
    with pytest.raises(DatasetError, match=r"row 1, column 'brand_id': unknown brand 'm1'"):
        validate_tables(t)


def test_validate_table_canonicalises():
    frame = pd.DataFrame(
        {"score": ["0.5", None], "influencer_id": ["m1", 7], "brand_id": ["b1", "b1"]}
    )
    out = validate_table("cooperations", frame, "c")
    assert list(out.columns) == ["brand_id", "influencer_id", "score"]
    assert out.influencer_id.tolist() == ["m1", "7"] and out.score.dtype == "float64"
    assert np.isnan(out.score[1])


def test_feature_view_validation():
    with pytest.raises(FeatureError, match=r"row 2, column 'ids': duplicate account id 'a'"):
        FeatureView("v", np.array(["a", "a"]), np.zeros((2, 1)), np.ones(2, bool))
    with pytest.raises(FeatureError, match=r"row 1, column 2: non-finite value nan"):
        FeatureView("v", np.array(["a", "b"]), np.array([[0, np.nan], [0, 0]]), np.ones(2, bool))
    with pytest.raises(FeatureError, match="has ids 2, values"):
        FeatureView("v", np.array(["a", "b"]), np.zeros((3, 1)), np.ones(2, bool))


def test_written_feature_set_points_at_the_output(tmp_path):
    ds = full_dataset()
    out = write_dataset(ds, tmp_path / "out")
    assert ds.features.path == tmp_path / "out" / "features"
    assert out.features.names() == ["content_text"]


def test_large_views_are_memory_mapped_copy_on_write(tmp_path, monkeypatch):
    """Views of at least MMAP_BYTES come back as copy-on-write maps of the .npz member: same values,
    changing them in memory leaves the file (and its checksum) as it was."""
    import brandmatch.features.store as fstore

    rng = np.random.default_rng(0)
    values = rng.normal(size=(50, 7)).astype(np.float32)
    fs = FeatureSet({"big": FeatureView("big", np.array([f"a{i}" for i in range(50)]), values, np.ones(50, bool)),
                     "small": FeatureView("small", np.array(["a0"]), np.ones((1, 2), np.float32), np.ones(1, bool))})
    fs.save(tmp_path / "f")
    monkeypatch.setattr(fstore, "MMAP_BYTES", 50 * 7 * 4)
    loaded = FeatureSet.load(tmp_path / "f")
    assert isinstance(loaded["big"].values, np.memmap) and not isinstance(loaded["small"].values, np.memmap)
    np.testing.assert_array_equal(loaded["big"].values, values)
    loaded["big"].values[3, 4] = 99.0
    again = FeatureSet.load(tmp_path / "f")  # verifies the sha256 again
    assert again["big"].values[3, 4] == values[3, 4]


def test_non_finite_values_are_found_in_any_block(monkeypatch):
    import brandmatch.features.store as fstore

    monkeypatch.setattr(fstore, "VALIDATE_BYTES", 3 * 2 * 4)  # 3 rows of 2 columns a block
    values = np.zeros((10, 2), np.float32)
    values[7, 1] = np.inf
    with pytest.raises(FeatureError, match=r"row 8, column 2: non-finite value inf in view 'v' \(account 'a7'"):
        FeatureView("v", np.array([f"a{i}" for i in range(10)]), values, np.ones(10, bool))


def test_training_tables_read_only_the_validation_grid(tmp_path):
    from brandmatch.data.store import TRAINING_GRIDS, TRAINING_TABLES

    t = full_tables()
    t.splits = pd.DataFrame({"brand_id": ["b1", "b2"], "split": ["train", "validation"]})
    t.grids = pd.DataFrame({"grid": ["validation", "validation"], "brand_id": ["b2", "b2"],
                            "influencer_id": ["m3", "m1"], "label": [1, 0]})
    t.splits = pd.concat([t.splits, pd.DataFrame({"brand_id": ["b3"], "split": ["test"]})], ignore_index=True)
    t.accounts = pd.concat([t.accounts, t.accounts[t.accounts["account_id"] == "b2"].assign(
        account_id="b3", handle="b3")], ignore_index=True)
    t.grids = pd.concat([t.grids, pd.DataFrame({"grid": ["test"] * 3, "brand_id": ["b3"] * 3,
                                                "influencer_id": ["m1", "m2", "m3"], "label": [0, 1, 0]})],
                        ignore_index=True)
    path = write_dataset(Dataset("grids", t), tmp_path / "ds").path
    ds = load_dataset(path, tables=TRAINING_TABLES, grids=TRAINING_GRIDS)
    assert ds.grid_names() == ["validation"] and len(ds.tables.grids) == 2
    assert ds.tables.posts.empty and len(ds.tables.accounts) == len(t.accounts)
    assert ds.grid("validation").labels.sum() == 1
    assert sorted(load_dataset(path).grid_names()) == ["test", "validation"]  # all of them by default
    f = path / "grids.parquet"  # the whole file is still verified
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(DatasetError, match=r"grids\.parquet: checksum does not match"):
        load_dataset(path, tables=TRAINING_TABLES, grids=TRAINING_GRIDS)
