"""Users' own tables (brandmatch.data.user_import) on examples/tiny and damaged copies of it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brandmatch.data.schema import TABLES, frames_equal
from brandmatch.data.store import load_dataset, write_dataset
from brandmatch.data.user_import import import_tables, import_tables_to
from brandmatch.errors import BrandmatchError, DatasetError, FeatureError

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "examples" / "tiny"


@pytest.fixture
def tiny(tmp_path) -> Path:
    dst = tmp_path / "tiny"
    shutil.copytree(TINY, dst)
    return dst


def _edit_csv(path: Path, fn) -> None:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = fn(frame)
    frame.to_csv(path, index=False)


# ------------------------------------------------------------------------------ the example


def test_tiny_imports():
    ds = import_tables(TINY)
    assert len(ds.brands()) == 6 and len(ds.influencers()) == 12
    assert Counter(ds.brand_category().values()) == {"drink": 3, "shoes": 3}
    assert len(ds.tables.posts) == 20 and len(ds.tables.cooperations) == 16
    assert ds.tables.cooperations.score.isna().sum() == 2
    assert ds.tables.accounts.followers.isna().sum() == 2
    # derived: one brand per category in each split (round(.2*3)=1 test, then 1 of 2 validation)
    sp = ds.tables.splits
    cats = ds.brand_category()
    for split in ("train", "validation", "test"):
        assert Counter(cats[b] for b in sp.brand_id[sp.split == split]) == {"drink": 1, "shoes": 1}
    assert ds.metadata["derived"]["grids"]["built"] == ["test", "validation"]
    for name in ("test", "validation"):
        g = ds.grid(name)
        co = ds.tables.cooperations
        assert g.brand_ids.tolist() == ds.brands(name)
        assert g.n_positives == co.brand_id.isin(ds.brands(name)).sum()
    text = ds.features["content_text"]
    assert text.dim == 4 and int(text.mask.sum()) == 16
    assert not text.lookup(["trail_tess", "city_walker"])[1].any()
    np.testing.assert_allclose(text.lookup(["brewhaus"])[0][0], [0.8, 0.1, 0.05, 0.05], rtol=1e-6)
    act = ds.features["activity"]
    assert act.mask.sum() == 17  # every account but city_walker (no posts, no follower count)
    assert set(ds.metadata["files"]) == {"accounts.csv", "cooperations.csv", "posts.csv", "features/content_text.csv"}


def test_round_trip(tmp_path):
    ds = import_tables_to(TINY, tmp_path / "out")
    back = load_dataset(tmp_path / "out")
    for name in TABLES:
        assert frames_equal(getattr(back.tables, name), getattr(ds.tables, name)), name
    assert back.metadata == ds.metadata
    for name in ds.features.names():
        a, b = ds.features[name], back.features[name]
        np.testing.assert_array_equal(a.values, b.values)
        np.testing.assert_array_equal(a.mask, b.mask)
        assert a.meta == b.meta


def test_parquet_tables_import_the_same(tiny):
    a = import_tables(TINY)
    for name in ("accounts", "cooperations", "posts"):
        getattr(a.tables, name).to_parquet(tiny / f"{name}.parquet")
        (tiny / f"{name}.csv").unlink()
    b = import_tables(tiny)
    for name in TABLES:
        assert frames_equal(getattr(a.tables, name), getattr(b.tables, name)), name


def test_nullable_columns_may_be_left_out(tiny):
    _edit_csv(tiny / "cooperations.csv", lambda f: f.drop(columns=["score"]))
    _edit_csv(tiny / "accounts.csv", lambda f: f.drop(columns=["bio", "category"]))
    ds = import_tables(tiny)
    assert ds.tables.cooperations.score.isna().all()
    assert ds.tables.accounts.bio.isna().all()


# ------------------------------------------------------------------------------ splits and grids


def _many_brands(tmp_path: Path) -> Path:
    """3 categories x 10 brands, 30 influencers, each brand with 2 partners."""
    d = tmp_path / "many"
    d.mkdir()
    brands = [f"{c}{i}" for c in ("food", "auto", "shoes") for i in range(10)]
    infs = [f"m{i}" for i in range(30)]
    pd.DataFrame(
        {
            "account_id": brands + infs,
            "handle": brands + infs,
            "role": ["brand"] * 30 + ["influencer"] * 30,
            "category": [b.rstrip("0123456789") for b in brands] + [""] * 30,
        }
    ).to_csv(d / "accounts.csv", index=False)
    rows = [(b, infs[(k + j) % 30]) for k, b in enumerate(brands) for j in (0, 7)]
    pd.DataFrame(rows, columns=["brand_id", "influencer_id"]).to_csv(d / "cooperations.csv", index=False)
    return d


def test_derived_splits_are_stratified_and_deterministic(tmp_path):
    src = _many_brands(tmp_path)
    a = import_tables(src, seed=3)
    b = import_tables(src, seed=3)
    assert frames_equal(a.tables.splits, b.tables.splits) and frames_equal(a.tables.grids, b.tables.grids)
    cats = a.brand_category()
    sp = a.tables.splits
    per = {s: Counter(cats[x] for x in sp.brand_id[sp.split == s]) for s in ("train", "validation", "test")}
    # round(.2*10)=2 test per category, then round(.15*8)=1 validation of the 8 left
    assert per == {
        "test": {"food": 2, "auto": 2, "shoes": 2},
        "validation": {"food": 1, "auto": 1, "shoes": 1},
        "train": {"food": 7, "auto": 7, "shoes": 7},
    }
    other = import_tables(src, seed=4)
    assert not frames_equal(other.tables.splits, a.tables.splits)  # the seed matters
    assert set(a.brands("test")).isdisjoint(a.brands("validation"))
    g = a.grid("test")
    assert g.labels.shape == (6, len(g.influencer_ids)) and g.n_positives == 12


def test_derivation_does_not_depend_on_the_string_hash_seed(tmp_path):
    code = "import sys; from brandmatch.data.user_import import import_tables_to; import_tables_to(sys.argv[1], sys.argv[2])"
    procs = {
        seed: subprocess.Popen(
            [sys.executable, "-c", code, str(TINY), str(tmp_path / f"out{seed}")],
            env={**os.environ, "PYTHONHASHSEED": seed}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for seed in ("1", "2")
    }
    outs = []
    for seed, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outs.append({p.name: p.read_bytes() for p in sorted((tmp_path / f"out{seed}").glob("*.parquet"))})
    assert outs[0] == outs[1] and len(outs[0]) == len(TABLES)


def test_given_splits_drive_the_grids(tiny):
    pd.DataFrame(
        {"brand_id": ["brewhaus", "citrus_fizz", "peak_tea", "trailstep", "urbansole", "kicklab"],
         "split": ["train", "train", "test", "train", "validation", "test"]}
    ).to_csv(tiny / "splits.csv", index=False)
    ds = import_tables(tiny)
    assert ds.brands("test") == ["peak_tea", "kicklab"]
    assert ds.grid("test").brand_ids.tolist() == ["peak_tea", "kicklab"]
    assert ds.grid("validation").brand_ids.tolist() == ["urbansole"]
    assert ds.metadata["derived"]["splits"] is None


def test_given_grids_are_kept_and_drive_the_splits(tiny):
    rows = [("test", b, m, int((b, m) in {("peak_tea", "teatime_tom"), ("kicklab", "kicks_kai")}))
            for b in ("peak_tea", "kicklab") for m in ("teatime_tom", "kicks_kai", "hike_hana")]
    pd.DataFrame(rows, columns=["grid", "brand_id", "influencer_id", "label"]).to_csv(tiny / "grids.csv", index=False)
    ds = import_tables(tiny)
    assert ds.grid_names() == ["test"]
    assert ds.grid("test").labels.tolist() == [[1, 0, 0], [0, 1, 0]]
    assert sorted(ds.brands("test")) == ["kicklab", "peak_tea"]
    assert not set(ds.brands("validation")) & {"kicklab", "peak_tea"}


# ------------------------------------------------------------------------------ bad input


def _msg(exc_info) -> str:
    return str(exc_info.value)


def test_missing_required_file(tiny, tmp_path):
    (tiny / "accounts.csv").unlink()
    with pytest.raises(DatasetError, match=r"accounts\.csv: missing file"):
        import_tables_to(tiny, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_column(tiny):
    _edit_csv(tiny / "accounts.csv", lambda f: f.rename(columns={"role": "kind"}))
    with pytest.raises(DatasetError) as info:
        import_tables(tiny)
    assert "accounts.csv, column 'role': missing column" in _msg(info)


def test_wrong_column_name(tiny):
    _edit_csv(tiny / "accounts.csv", lambda f: f.rename(columns={"followers": "follower_count"}))
    with pytest.raises(DatasetError) as info:
        import_tables(tiny)
    assert "accounts.csv, column 'follower_count': unknown column" in _msg(info)


def test_non_numeric_follower_count(tiny):
    def edit(f):
        f.loc[1, "followers"] = "12.9k"
        return f

    _edit_csv(tiny / "accounts.csv", edit)
    with pytest.raises(DatasetError) as info:
        import_tables(tiny)
    assert "accounts.csv, row 2, column 'followers': '12.9k' is not a number" in _msg(info)


def test_unknown_account_in_cooperations(tiny):
    with open(tiny / "cooperations.csv", "a") as f:
        f.write("brewhaus,ghost_user,0.1\n")
    with pytest.raises(DatasetError) as info:
        import_tables(tiny)
    assert "cooperations.csv, row 17, column 'influencer_id': unknown influencer 'ghost_user'" in _msg(info)


def test_brand_used_as_influencer_in_cooperations(tiny):
    with open(tiny / "cooperations.csv", "a") as f:
        f.write("brewhaus,kicklab,\n")
    with pytest.raises(DatasetError, match=r"row 17, column 'influencer_id': unknown influencer 'kicklab'"):
        import_tables(tiny)


def test_unknown_account_in_grid(tiny):
    pd.DataFrame(
        [("test", "peak_tea", "teatime_tom", 1), ("test", "peak_tea", "nobody", 0)],
        columns=["grid", "brand_id", "influencer_id", "label"],
    ).to_csv(tiny / "grids.csv", index=False)
    with pytest.raises(DatasetError) as info:
        import_tables(tiny)
    assert "grids.csv, row 2, column 'influencer_id': unknown influencer 'nobody'" in _msg(info)


def test_incomplete_grid(tiny):
    pd.DataFrame(
        [("test", "peak_tea", "teatime_tom", 1), ("test", "peak_tea", "ana.brews", 0),
         ("test", "kicklab", "kicks_kai", 1)],
        columns=["grid", "brand_id", "influencer_id", "label"],
    ).to_csv(tiny / "grids.csv", index=False)
    with pytest.raises(DatasetError, match=r"grids\.csv.*not a full brand x candidate grid"):
        import_tables(tiny)


def test_duplicate_key(tiny):
    with open(tiny / "cooperations.csv", "a") as f:
        f.write("brewhaus,ana.brews,0.5\n")
    with pytest.raises(DatasetError, match=r"cooperations\.csv, row 17, column 'influencer_id': duplicate"):
        import_tables(tiny)


@pytest.mark.parametrize("value", ["", "nan", "NaN", "inf"])
def test_nan_in_a_feature(tiny, tmp_path, value):
    def edit(f):
        f.loc[2, "topic_drinks"] = value
        return f

    _edit_csv(tiny / "features" / "content_text.csv", edit)
    with pytest.raises(FeatureError) as info:
        import_tables_to(tiny, tmp_path / "out")
    assert "content_text.csv, row 3, column 'topic_drinks'" in _msg(info)
    assert not (tmp_path / "out").exists()


def test_non_numeric_feature(tiny):
    def edit(f):
        f.loc[0, "topic_outdoor"] = "high"
        return f

    _edit_csv(tiny / "features" / "content_text.csv", edit)
    with pytest.raises(FeatureError, match=r"row 1, column 'topic_outdoor': 'high' is not a number"):
        import_tables(tiny)


def test_feature_unknown_or_duplicate_account(tiny):
    path = tiny / "features" / "content_text.csv"
    original = path.read_text()
    path.write_text(original + "ghost,0.25,0.25,0.25,0.25\n")
    with pytest.raises(FeatureError, match=r"content_text\.csv, row 17, column 'account_id': unknown account 'ghost'"):
        import_tables(tiny)
    path.write_text(original + "brewhaus,0.25,0.25,0.25,0.25\n")
    with pytest.raises(FeatureError, match=r"row 17, column 'account_id': duplicate account 'brewhaus' \(also row 1\)"):
        import_tables(tiny)


def test_feature_file_needs_account_id_first(tiny):
    _edit_csv(tiny / "features" / "content_text.csv", lambda f: f.rename(columns={"account_id": "id"}))
    with pytest.raises(FeatureError, match="first column must be 'account_id'"):
        import_tables(tiny)


def test_unknown_table_file(tiny):
    shutil.copy(tiny / "posts.csv", tiny / "post.csv")
    with pytest.raises(DatasetError, match=r"post\.csv: unknown table file"):
        import_tables(tiny)


def test_table_given_twice(tiny):
    import_tables(TINY).tables.posts.to_parquet(tiny / "posts.parquet")
    with pytest.raises(DatasetError, match="given twice"):
        import_tables(tiny)


def test_malformed_csv(tiny):
    with open(tiny / "cooperations.csv", "a") as f:
        f.write('brewhaus,"unterminated\n')
    with pytest.raises(DatasetError, match=r"cooperations\.csv: malformed CSV"):
        import_tables(tiny)


def test_bad_role_value(tiny):
    def edit(f):
        f.loc[4, "role"] = "Brand"
        return f

    _edit_csv(tiny / "accounts.csv", edit)
    with pytest.raises(DatasetError, match=r"accounts\.csv, row 5, column 'role': value 'Brand' not one of brand, influencer"):
        import_tables(tiny)


def test_errors_are_brandmatch_errors_with_exit_code_2(tiny):
    (tiny / "cooperations.csv").unlink()
    with pytest.raises(BrandmatchError) as info:
        import_tables(tiny)
    assert info.value.exit_code == 2


def test_bad_fractions_are_rejected():
    with pytest.raises(ValueError, match="test_fraction"):
        import_tables(TINY, test_fraction=1.0)


def test_write_refuses_existing_output(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(DatasetError, match="already exists"):
        import_tables_to(TINY, tmp_path / "out")
    ds = import_tables_to(TINY, tmp_path / "out", overwrite=True)
    assert write_dataset(ds, tmp_path / "out", overwrite=True).path == tmp_path / "out"
