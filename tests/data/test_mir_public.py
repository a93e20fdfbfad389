"""The importer of the public release (brandmatch.data.mir_public), on the real data.

The release is imported once per module (``mir``); files of the release are re-read here with
independent code where a fact is checked against them. Tests are skipped when ../shared is absent.
"""

from __future__ import annotations

import os
import pickle
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from brandmatch.data.mir_public import CATEGORY_BLOCKS, DUAL_ROLE_SUFFIX, FILES, import_mir, import_mir_to
from brandmatch.data.safe_pickle import load_pickle
from brandmatch.data.schema import TABLES, frames_equal
from brandmatch.data.store import load_dataset
from brandmatch.errors import DatasetError

B = "bamir-features"


@pytest.fixture(scope="module")
def mir(mir_public_dir, tmp_path_factory):
    """(dataset as imported and written, its directory): the release is imported once per module."""
    root = tmp_path_factory.mktemp("mir")
    ds = import_mir_to(mir_public_dir, root / "out", progress=False)
    return ds, root / "out"


@pytest.fixture(scope="module")
def lists(mir_public_dir):
    def pk(name):
        with open(mir_public_dir / B / name, "rb") as f:
            return pickle.load(f)  # the release's own files, trusted here to cross-check

    return {
        "brands": pk("sorted_360_brand_list.pkl"),
        "infs": pk("sorted_3748_inf_list.pkl"),
        "trb": pk("discover_train_brand_index.pickle"),
        "teb": pk("discover_test_brand_index.pickle"),
        "tri": pk("discover_train_inf_index.pickle"),
        "tei": pk("discover_test_inf_index.pickle"),
    }


def _inf_id(handle, brands):
    return handle + DUAL_ROLE_SUFFIX if handle in set(brands) else handle


# ------------------------------------------------------------------------------ facts


def test_accounts(mir, lists):
    ds = mir[0]
    acc = ds.tables.accounts
    assert len(ds.brands()) == 360 and len(ds.influencers()) == 3748
    assert ds.brands() == lists["brands"]
    assert acc.loc[acc.role == "influencer", "handle"].tolist() == lists["infs"]
    dual = acc[acc.account_id.str.endswith(DUAL_ROLE_SUFFIX)]
    assert sorted(dual.handle) == ["bernardaud", "earthhourofficial", "lgcanada", "mimichengs"]
    assert (dual.role == "influencer").all()
    assert set(dual.handle) <= set(ds.brands())
    assert acc.followers.isna().all() and acc.bio.isna().all()
    assert acc.loc[acc.role == "influencer", "category"].isna().all()


def test_brand_categories_are_12_blocks_of_30(mir):
    ds = mir[0]
    cats = ds.brand_category()
    assert Counter(cats.values()) == {c: 30 for c in CATEGORY_BLOCKS}
    rep = ds.metadata["decisions"]["brand_categories"]
    assert rep["block_sizes"] == [30] * 12 and rep["brands_covered"] == 360
    assert ds.metadata["decisions"]["brands_without_category"] == []
    # spot checks from pre_dataset.xls: the first block is airline, the last one services
    assert cats["aerlingus"] == "airline"


def test_splits(mir, lists):
    ds = mir[0]
    train, valid, test = ds.brands("train"), ds.brands("validation"), ds.brands("test")
    assert len(train) + len(valid) == 286 and len(test) == 74
    official_train = [lists["brands"][i] for i in lists["trb"]]
    assert sorted(train + valid) == sorted(official_train)
    assert test == [lists["brands"][i] for i in lists["teb"]]
    cats = ds.brand_category()
    per_cat = Counter(cats[b] for b in valid)
    assert set(per_cat) == set(CATEGORY_BLOCKS)  # stratified: every category gives validation brands
    assert len(valid) == ds.metadata["counts"]["splits"]["validation"]


def test_official_test_grid(mir, lists, mir_public_dir):
    ds = mir[0]
    g = ds.grid("test")
    assert g.labels.shape == (74, 797) and g.n_positives == 824
    assert g.brand_ids.tolist() == [lists["brands"][i] for i in lists["teb"]]
    assert g.influencer_ids.tolist() == [_inf_id(lists["infs"][i], lists["brands"]) for i in lists["tei"]]
    np.testing.assert_array_equal(g.labels, np.load(mir_public_dir / B / "test_label_list.npy"))
    tg = ds.metadata["decisions"]["test_grid"]
    assert tg["cells_checked"] == 58978 and tg["padding_rows_ignored"] == 30


def test_cooperations(mir, mir_public_dir):
    import xlrd

    ds = mir[0]
    co = ds.tables.cooperations
    rep = ds.metadata["decisions"]["cooperations"]
    print({k: v for k, v in rep.items() if isinstance(v, int)})
    assert rep["all_positive_pairs"] == 4452 and rep["pre_dataset_pairs"] == 4209
    assert rep["pre_dataset_pairs_missing_from_all_positive"] == 0
    assert rep["pairs_with_unlisted_influencer"] == 243 == len(ds.metadata["dropped_cooperations"])
    assert len(co) == 4209 and co.score.notna().all()
    # competence scores, re-read from pre_dataset.xls
    sheet = xlrd.open_workbook(str(mir_public_dir / FILES["pre_dataset"])).sheet_by_index(0)
    brands = set(ds.brands())
    expected = {
        (sheet.cell_value(r, 0), _inf_id(sheet.cell_value(r, 1), brands)): sheet.cell_value(r, 2)
        for r in range(sheet.nrows)
    }
    got = dict(zip(zip(co.brand_id, co.influencer_id), co.score))
    assert got == expected
    # every test-grid positive is a cooperation, and every test-brand cooperation is in the grid
    g = ds.grid("test")
    pos = {(g.brand_ids[a], g.influencer_ids[c]) for a, c in zip(*np.nonzero(g.labels))}
    assert pos <= set(got)
    assert {bm for bm in got if bm[0] in set(g.brand_ids)} == pos
    assert rep["test_grid_positives_not_cooperations"] == 0
    # every dropped pair has a known brand and an influencer in no list
    known_inf = set(ds.tables.accounts.handle)
    assert all(b in brands and m not in known_inf for b, m in ds.metadata["dropped_cooperations"])


def test_validation_grid(mir):
    ds = mir[0]
    g = ds.grid("validation")
    valid = ds.brands("validation")
    assert g.brand_ids.tolist() == valid
    co = ds.tables.cooperations
    sub = co[co.brand_id.isin(valid)]
    assert g.n_positives == len(sub)
    assert set(g.influencer_ids) == set(sub.influencer_id)
    assert not set(g.brand_ids) & set(ds.brands("test"))


def test_mir_test_grid(mir):
    ds = mir[0]
    g = ds.grid("mir-test")
    assert g.labels.shape == (74, 790) and g.n_positives == 816
    info = ds.metadata["grids"]["mir-test"]
    assert info["included"] and info["official_test_brands_missing"] == ["pixar"]
    assert list(info["brands_not_in_official_test"]) == ["eurowingscrews"]
    assert ds.grid_names() == ["test", "validation", "mir-test"]


def test_features(mir, lists):
    ds = mir[0]
    f = ds.features
    assert set(f.names()) == {"content_text", "content_visual", "attributes"}
    acc = ds.tables.accounts
    ids = acc.account_id.tolist()
    is_brand = (acc.role == "brand").to_numpy()
    for name, dim in (("content_text", 19), ("content_visual", 1365), ("attributes", 128)):
        v = f[name]
        assert v.ids.tolist() == ids and v.dim == dim and v.values.dtype == np.float32
    text = f["content_text"]
    assert text.mask.all()  # every influencer is in a train or test list
    np.testing.assert_allclose(text.values.sum(axis=1), 1.0, atol=1e-5)
    overlap = text.meta["overlap"]
    print("content_text overlap:", overlap)
    assert overlap["influencers_in_train_and_test_lists"] == 124 and overlap["row_used"] == "train"
    visual = f["content_visual"]
    np.testing.assert_array_equal(visual.mask, is_brand)
    np.testing.assert_allclose(visual.values[is_brand, :1000].sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(visual.values[is_brand, 1000:].sum(axis=1), 1.0, atol=1e-4)
    assert not visual.values[~is_brand].any()
    attrs = f["attributes"]
    assert attrs.mask.all() and attrs.meta["overlap"]["max_abs_diff"] == 0.0
    # rows follow the discover_* order: spot-check against the tensors
    import torch

    src = Path(ds.metadata["source"])
    tr = torch.load(src / B / "train_inf_hashtag_weighted_nod2vec_0615_r1_sqrt.pt", weights_only=True).numpy()
    k = 17
    handle = lists["infs"][lists["tri"][k]]
    np.testing.assert_array_equal(attrs.lookup([_inf_id(handle, lists["brands"])])[0][0], tr[k].astype(np.float32))


def test_metadata_is_json_and_names_every_file(mir):
    ds, out = mir[0], mir[1]
    files = ds.metadata["files"]
    assert set(files) == set(FILES.values())
    assert all(len(v["sha256"]) == 64 for v in files.values())
    assert load_dataset(out).metadata == ds.metadata  # JSON round trip keeps it unchanged


# ------------------------------------------------------------------------------ store


def test_round_trip(mir):
    ds, out = mir[0], mir[1]
    back = load_dataset(out)
    for name in TABLES:
        assert frames_equal(getattr(back.tables, name), getattr(ds.tables, name)), name
    assert sorted(back.features.names()) == sorted(ds.features.names())  # manifest sorts keys
    for name in ds.features.names():
        a, b = ds.features[name], back.features[name]
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.values, b.values)
        np.testing.assert_array_equal(a.mask, b.mask)
        assert a.meta == b.meta


def _parquet_bytes(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.glob("*.parquet"))}


def test_deterministic(mir, mir_public_dir, tmp_path):
    ds, out = mir
    again = import_mir_to(mir_public_dir, tmp_path / "again", progress=False)
    assert _parquet_bytes(tmp_path / "again") == _parquet_bytes(out)
    assert (tmp_path / "again" / "manifest.json").read_text() == (out / "manifest.json").read_text()
    for name in ds.features.names():
        np.testing.assert_array_equal(again.features[name].values, ds.features[name].values)
        np.testing.assert_array_equal(again.features[name].mask, ds.features[name].mask)


def test_keep_unlisted_influencers(mir, mir_public_dir):
    ds = import_mir(mir_public_dir, progress=False, keep_unlisted_influencers=True)
    assert len(ds.influencers()) == 3748 + 237
    co = ds.tables.cooperations
    assert len(co) == 4452 and co.score.isna().sum() == 243
    extra = ds.influencers()[3748:]
    for name in ds.features.names():
        assert not ds.features[name].lookup(extra)[1].any()
    assert ds.grid("test").n_positives == 824


# ------------------------------------------------------------------------------ bad input


@pytest.fixture
def release_copy(mir_public_dir, tmp_path):
    dst = tmp_path / "release"
    shutil.copytree(mir_public_dir, dst)
    for p in dst.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dst


def _save_pt(path, tensor):
    import torch

    torch.save(tensor, path)


def _corrupt(release: Path, case: str) -> str:
    """Damage the copy; return the file name the error must mention."""
    import torch

    b = release / B
    if case == "missing":
        (b / "sorted_3748_inf_list.pkl").unlink()
        return "sorted_3748_inf_list.pkl"
    if case == "truncated_pt":
        p = b / "test_inf_text_feature_lda.pt"
        p.write_bytes(p.read_bytes()[:200])
        return p.name
    if case == "garbage_pickle":
        (b / "discover_test_brand_index.pickle").write_bytes(b"not a pickle at all")
        return "discover_test_brand_index.pickle"
    if case == "wrong_pickle_content":
        (b / "discover_test_brand_index.pickle").write_bytes(pickle.dumps(["a", "b"]))
        return "discover_test_brand_index.pickle"
    if case == "rows_mismatch":
        _save_pt(b / "test_brand_text_feature_lda.pt", torch.full((73, 19), 1 / 19))
        return "test_brand_text_feature_lda.pt"
    if case == "dim_mismatch":
        _save_pt(b / "test_brand_mor_image_feature.pt", torch.zeros(74, 1000))
        return "test_brand_mor_image_feature.pt"
    if case == "lda_not_distribution":
        p = b / "train_inf_text_feature_lda.pt"
        t = torch.load(p, weights_only=True).clone()
        t[5] *= 2
        _save_pt(p, t)
        return "train_inf_text_feature_lda.pt, row 6"
    if case == "pickled_npy":
        np.save(b / "test_label_list.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
        return "test_label_list.npy"
    if case == "label_disagrees":
        p = b / "test_label_list.npy"
        lab = np.load(p)
        lab[3, 10] = 1 - lab[3, 10]
        np.save(p, lab)
        return "testset_r.xlsx, row"
    if case == "garbage_xls":
        (release / FILES["pre_dataset"]).write_bytes(b"\x00" * 1000)
        return "pre_dataset.xls"
    if case == "garbage_xlsx":
        (release / FILES["mir_test_set"]).write_text("brand,influencer,label\n")
        return "test_set.xlsx"
    raise AssertionError(case)


BAD_CASES = [
    "missing", "truncated_pt", "garbage_pickle", "wrong_pickle_content", "rows_mismatch",
    "dim_mismatch", "lda_not_distribution", "pickled_npy", "label_disagrees", "garbage_xls",
    "garbage_xlsx",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_names_the_file_and_leaves_no_output(mir, release_copy, tmp_path, case):
    # depends on `mir` only so that the spreadsheets are already parsed (content-addressed cache)
    expected = _corrupt(release_copy, case)
    out = tmp_path / "out"
    with pytest.raises(DatasetError) as info:
        import_mir_to(release_copy, out, progress=False)
    assert expected in str(info.value), str(info.value)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no temp dir left


def test_malicious_pickle_is_not_executed(mir, release_copy, tmp_path):
    sentinel = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {sentinel}",))

    (release_copy / B / "all_positive_tuples.pickle").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(DatasetError, match=r"all_positive_tuples\.pickle.*unsafe pickle"):
        import_mir_to(release_copy, tmp_path / "out", progress=False)
    assert not sentinel.exists() and not (tmp_path / "out").exists()


def test_existing_output_is_refused(mir, mir_public_dir, tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(DatasetError, match="already exists"):
        import_mir_to(mir_public_dir, tmp_path / "out", progress=False)


def test_missing_source_directory(tmp_path):
    with pytest.raises(DatasetError, match="no such directory"):
        import_mir(tmp_path / "nowhere", progress=False)


def test_safe_pickle_reads_the_release_lists(mir_public_dir):
    assert len(load_pickle(mir_public_dir / B / "sorted_360_brand_list.pkl")) == 360
    pairs = load_pickle(mir_public_dir / B / "all_positive_tuples.pickle")
    assert isinstance(pairs, set) and len(pairs) == 4452
