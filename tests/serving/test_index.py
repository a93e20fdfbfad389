"""The inner-product index: exact top-k == brute-force model scoring, filters, HNSW, save / load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from brandmatch.errors import ServingError
from brandmatch.serving import index as index_mod
from brandmatch.serving.index import HNSWParams, InnerProductIndex, IVFParams
from tests.models.toy_world import LITE, fit, toy_world


def brute(q: np.ndarray, x: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    s = q.astype(np.float64) @ x.astype(np.float64).T
    if allowed is not None:
        s = np.where(allowed[None, :], s, -np.inf)
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


@pytest.fixture(scope="module")
def toy_model():
    world = toy_world(n_brands=6, n_infs=60, seed=3)
    model, _, brands, infs = fit({**LITE, "terms": ["cosine", "category", "profile"]}, world=world, threads=1)
    return model, brands, infs


@pytest.mark.parametrize("use_filter", [False, True])
def test_index_top_k_equals_model_score(toy_model, use_filter):
    model, brands, infs = toy_model
    idx = InnerProductIndex(infs, model.embed(infs, "influencer"))
    rng = np.random.default_rng(0)
    allowed = rng.random(len(infs)) < 0.4 if use_filter else None
    full = model.score(brands, infs)  # the reference: brute-force model scoring
    for k in (1, 7, 60):
        scores, rows = idx.search(model.embed(brands, "brand"), k, allowed)
        for i in range(len(brands)):
            s = full[i] if allowed is None else np.where(allowed, full[i], -np.inf)
            want = np.argsort(-s, kind="stable")[:k]
            want = want[np.isfinite(s[want])]
            got = rows[i][rows[i] >= 0]
            assert got.tolist() == want.tolist()
            np.testing.assert_allclose(scores[i][: len(got)], full[i][got], rtol=1e-5, atol=1e-6)
            if allowed is not None:
                assert allowed[got].all()
                assert len(got) == min(k, int(allowed.sum()))


def test_filtered_search_paths_agree(monkeypatch):
    """Brute-force subset, faiss selector and refill give the exact filtered top-k."""
    rng = np.random.default_rng(1)
    x, q = rng.normal(size=(3000, 12)), rng.normal(size=(4, 12))
    ids = [f"m{i}" for i in range(3000)]
    for share in (0.003, 0.3, 0.9):
        allowed = rng.random(3000) < share
        want = brute(q, x.astype(np.float32), 25, allowed)
        for rows_limit in (0, 10**9):  # force the faiss selector path, then the subset path
            monkeypatch.setattr(index_mod, "SUBSET_ROWS", rows_limit)
            monkeypatch.setattr(index_mod, "SUBSET_SHARE", 0.0 if rows_limit == 0 else 1.0)
            _, rows = InnerProductIndex(ids, x).search(q, 25, allowed)
            for i in range(len(q)):
                got = rows[i][rows[i] >= 0]
                n = min(25, int(allowed.sum()))
                assert got.tolist() == want[i][:n].tolist()


def test_padding_when_fewer_rows_pass():
    x = np.eye(4)
    idx = InnerProductIndex(["a", "b", "c", "d"], x)
    allowed = np.array([True, False, True, False])
    scores, rows = idx.search(np.array([[0.0, 0.0, 1.0, 0.5]]), 3, allowed)
    assert rows.tolist() == [[2, 0, -1]]
    assert scores[0, 0] == 1.0 and scores[0, 1] == 0.0 and scores[0, 2] == -np.inf
    _, rows = idx.search(np.ones((1, 4)), 2, np.zeros(4, bool))
    assert rows.tolist() == [[-1, -1]]


def test_hnsw_recall_and_parameters():
    rng = np.random.default_rng(2)
    x, q = rng.normal(size=(4000, 16)), rng.normal(size=(20, 16))
    want = brute(q, x.astype(np.float32), 10)
    idx = InnerProductIndex([str(i) for i in range(4000)], x, "hnsw", HNSWParams(m=16, ef_construction=100,
                                                                                   ef_search=400))
    _, rows = idx.search(q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows.tolist(), want.tolist())])
    assert recall >= 0.9
    allowed = rng.random(4000) < 0.5
    _, rows = idx.search(q, 10, allowed)
    assert (rows >= 0).all() and allowed[rows].all()
    with pytest.raises(ServingError, match="ef_search"):
        HNSWParams(ef_search=0)


def test_ivf_probing_every_cell_is_exact_and_fewer_cells_keep_recall():
    rng = np.random.default_rng(3)
    # clustered vectors (the case IVF is for): 20 centres, small spread
    centres = rng.normal(size=(20, 16)) * 3
    x = centres[rng.integers(0, 20, 4000)] + rng.normal(size=(4000, 16)) * 0.5
    q = rng.normal(size=(15, 16))
    want = brute(q, x.astype(np.float32), 10)
    ids = [str(i) for i in range(4000)]
    full = InnerProductIndex(ids, x, "ivf", ivf=IVFParams(nlist=32, nprobe=32))
    assert full.index.nlist == 32 and full.index.is_trained
    np.testing.assert_array_equal(full.search(q, 10)[1], want)  # every cell probed: exact
    some = InnerProductIndex(ids, x, "ivf", ivf=IVFParams(nlist=32, nprobe=8))
    _, rows = some.search(q, 10)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows.tolist(), want.tolist())]) >= 0.9
    allowed = rng.random(4000) < 0.5  # filtered search (selector path): only allowed rows, never short
    _, rows = some.search(q, 10, allowed)
    assert (rows >= 0).all() and allowed[rows].all()
    # default cell count: 4 sqrt(n), capped at n / 39 (every centroid sees 39 training points)
    assert IVFParams().cells(4000) == 102 and IVFParams().cells(1000) == 25 and IVFParams().cells(10) == 1
    with pytest.raises(ServingError, match="nprobe must be an integer >= 1"):
        IVFParams(nprobe=0)


def test_bad_requests():
    idx = InnerProductIndex(["a", "b"], np.eye(2))
    with pytest.raises(ServingError, match="k must be an integer >= 1"):
        idx.search(np.ones((1, 2)), 0)
    with pytest.raises(ServingError, match="query dimension 3"):
        idx.search(np.ones((1, 3)), 1)
    with pytest.raises(ServingError, match="allowed mask"):
        idx.search(np.ones((1, 2)), 1, np.ones(3, bool))
    with pytest.raises(ServingError, match="index kind"):
        InnerProductIndex(["a"], np.ones((1, 2)), "annoy")
    with pytest.raises(ServingError, match="non-finite"):
        InnerProductIndex(["a"], np.array([[np.nan, 1.0]]))
    with pytest.raises(ServingError, match="2 ids for 1 vectors"):
        InnerProductIndex(["a", "b"], np.ones((1, 2)))


@pytest.mark.parametrize("kind", ["exact", "hnsw", "ivf"])
def test_save_load_round_trip_and_checksums(tmp_path, kind):
    rng = np.random.default_rng(4)
    x, q = rng.normal(size=(500, 8)), rng.normal(size=(3, 8))
    idx = InnerProductIndex([f"m{i}" for i in range(500)], x, kind, HNSWParams(m=8), ivf=IVFParams(nprobe=4))
    idx.save(tmp_path / "ix")
    assert sorted(p.name for p in (tmp_path / "ix").iterdir()) == ["ids.npy", "index.faiss", "manifest.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind
    back = InnerProductIndex.load(tmp_path / "ix")
    assert back.kind == kind and back.ids.tolist() == idx.ids.tolist()
    np.testing.assert_array_equal(back.vectors, idx.vectors)
    for a, b in zip(idx.search(q, 10), back.search(q, 10)):
        np.testing.assert_array_equal(a, b)
    manifest = json.loads((tmp_path / "ix" / "manifest.json").read_text())
    assert manifest["rows"] == 500 and manifest["dim"] == 8 and set(manifest["sha256"]) == {"ids.npy", "index.faiss"}
    blob = (tmp_path / "ix" / "index.faiss").read_bytes()
    (tmp_path / "ix" / "index.faiss").write_bytes(blob[:-4] + b"\x00\x00\x00\x01")
    with pytest.raises(ServingError, match="index.faiss: checksum does not match"):
        InnerProductIndex.load(tmp_path / "ix")
    with pytest.raises(ServingError, match="missing index manifest"):
        InnerProductIndex.load(tmp_path / "nothing")


def test_load_refuses_a_manifest_whose_kind_does_not_match_the_index(tmp_path):
    InnerProductIndex(["a", "b"], np.eye(2)).save(tmp_path / "ix")
    mpath = tmp_path / "ix" / "manifest.json"
    manifest = json.loads(mpath.read_text())
    mpath.write_text(json.dumps({**manifest, "kind": "ivf"}))
    with pytest.raises(ServingError, match="kind 'ivf' but index.faiss holds a IndexFlatIP"):
        InnerProductIndex.load(tmp_path / "ix")


def test_overwrite_is_atomic(tmp_path):
    a = InnerProductIndex(["a"], np.ones((1, 2)))
    b = InnerProductIndex(["b", "c"], np.eye(2))
    a.save(tmp_path / "ix")
    b.save(tmp_path / "ix")
    assert InnerProductIndex.load(tmp_path / "ix").ids.tolist() == ["b", "c"]


def test_subset_search_is_exact_under_float32_near_ties(monkeypatch):
    """Rows whose scores differ below float32 resolution: the filtered (subset) search still returns
    the float64 top-k, for dense and sparse (CSR-scored) vectors."""
    rng = np.random.default_rng(5)
    d, n = 3000, 400
    x = np.ones((n, d), dtype=np.float32)
    cols = rng.choice(d, size=n, replace=False)
    x[np.arange(n), cols] = np.nextafter(np.float32(1), np.float32(2))  # +1 ulp in one coordinate each
    x[::3] = 0.0  # a share of empty rows
    q = np.ones((3, d), dtype=np.float32)
    for i in range(3):  # scores ~3000 differ by ~1e-10: far below float32 resolution, far above float64's
        q[i, cols] = 1.0 + 0.5 * rng.permutation(n) / n
    allowed = rng.random(n) < 0.9
    want = brute(q, x, 10, allowed)
    for sparse_share in (0.0, 1.0):  # dense float32 product, then the CSR copy
        monkeypatch.setattr(index_mod, "SPARSE_SHARE", sparse_share)
        _, rows = InnerProductIndex([f"m{i}" for i in range(n)], x).search(q, 10, allowed)
        assert rows.tolist() == want.tolist()


def test_sparse_and_dense_subset_scoring_agree(monkeypatch):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2000, 50)) * (rng.random((2000, 50)) < 0.1)
    q = rng.normal(size=(5, 50))
    for share in (0.01, 0.5):  # a gathered subset, then every row scored and masked
        allowed = rng.random(2000) < share
        want = brute(q, x.astype(np.float32), 15, allowed)
        got = []
        for sparse_share in (0.0, 1.0):
            monkeypatch.setattr(index_mod, "SPARSE_SHARE", sparse_share)
            s, rows = InnerProductIndex([f"m{i}" for i in range(2000)], x).search(q, 15, allowed)
            n = min(15, int(allowed.sum()))
            assert rows[:, :n].tolist() == want[:, :n].tolist()
            got.append(s)
        np.testing.assert_array_equal(got[0], got[1])
