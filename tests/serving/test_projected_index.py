"""The projected index: candidates from projected vectors, exact re-rank; equal to an exact search
where the projection loses nothing or every row is re-ranked; round-trip and tamper checks; served
by the Recommender and the CLI exactly as the exact index."""

from __future__ import annotations

import json

import numpy as np
import pytest

from brandmatch.cli import main
from brandmatch.data.store import write_dataset
from brandmatch.errors import ServingError
from brandmatch.serving.batch import account_vectors, project_influencers
from brandmatch.serving.projected_index import (ProjectedIndex, ProjectedParams, fit_projection, load_index)
from brandmatch.serving.recommend import Filters, Recommender
from tests.serving.world import fitted, serving_world

ALL = Filters(min_followers=None, max_followers=None, exclude_partners=False)


def low_rank(n: int, d: int, rank: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, rank)) @ rng.normal(size=(rank, d))).astype(np.float32)


def exact_top(x: np.ndarray, q: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[int]:
    s = x.astype(np.float64) @ q.astype(np.float64)
    if allowed is not None:
        s[~allowed] = -np.inf
    order = np.lexsort((np.arange(len(s)), -s))
    return [int(i) for i in order[:k] if np.isfinite(s[i])]


def index_of(x: np.ndarray, **params) -> ProjectedIndex:
    ids = [f"m{i}" for i in range(len(x))]
    return ProjectedIndex.build(ids, lambda rows: x[rows], ProjectedParams(**params))


def test_fit_projection_spans_a_low_rank_sample_and_is_orthonormal():
    x = low_rank(300, 40, 5)
    p = fit_projection(x, 8)
    assert p.shape == (40, 8)
    np.testing.assert_allclose(p.T @ p, np.eye(8), atol=1e-5)
    # rank 5 <= 8: projecting and lifting back gives the rows again
    np.testing.assert_allclose(x @ p @ p.T, x, rtol=1e-4, atol=1e-3 * np.abs(x).max())
    np.testing.assert_array_equal(fit_projection(x, 40), np.eye(40, dtype=np.float32))  # r = d: identity
    np.testing.assert_array_equal(fit_projection(x, 500), np.eye(40, dtype=np.float32))
    with pytest.raises(ServingError, match="non-empty"):
        fit_projection(np.zeros((0, 4)), 2)


def test_lossless_projection_finds_the_exact_top_k_with_no_spare_candidates():
    x = low_rank(500, 60, 6, seed=1)
    ix = index_of(x, dim=6, rerank=5, sample=500)  # rank 6 in 6 dims: projected scores are exact
    rng = np.random.default_rng(2)
    for _ in range(5):
        q = rng.normal(size=60)
        s, r = ix.search(q[None, :], 5)
        want = exact_top(x, q, 5)
        assert r[0].tolist() == want
        np.testing.assert_allclose(s[0], x[want].astype(np.float64) @ q, rtol=1e-12)


def test_every_row_reranked_equals_exact_search_with_filters():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 30)).astype(np.float32)  # full rank: the projection to 4 dims loses much
    ix = index_of(x, dim=4, rerank=200, sample=50)
    allowed = rng.random(200) < 0.3
    for _ in range(4):
        q = rng.normal(size=30)
        assert ix.search(q, 10)[1][0].tolist() == exact_top(x, q, 10)
        s, r = ix.search(q, 10, allowed)
        assert r[0].tolist() == exact_top(x, q, 10, allowed)
        assert allowed[r[0]].all()
    # more asked than allowed: padded with -1 / -inf
    few = np.zeros(200, dtype=bool)
    few[[3, 7]] = True
    s, r = ix.search(rng.normal(size=30), 5, few)
    assert sorted(r[0][:2].tolist()) == [3, 7] and r[0][2:].tolist() == [-1, -1, -1] and np.isneginf(s[0][2:]).all()


def test_few_candidates_on_full_rank_data_can_miss_rows_but_never_report_a_wrong_score():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(400, 50)).astype(np.float32)
    ix = index_of(x, dim=2, rerank=10, sample=400)
    q = rng.normal(size=50)
    s, r = ix.search(q, 10)
    np.testing.assert_allclose(s[0], x[r[0]].astype(np.float64) @ q, rtol=1e-12)  # exact scores
    assert np.all(np.diff(s[0]) <= 0)


def test_cosine_search_and_exact_scores():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(120, 16)).astype(np.float32) * rng.uniform(0.1, 5.0, size=(120, 1)).astype(np.float32)
    ix = index_of(x, dim=3, rerank=120, sample=120)
    unit = x.astype(np.float64) / np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    allowed = np.ones(120, dtype=bool)
    allowed[0] = False
    s, r = ix.cosine_search(x[0], 6, allowed)
    cos = unit @ unit[0]
    cos[0] = -np.inf
    assert r[0].tolist() == exact_top(unit, unit[0], 6, allowed)
    np.testing.assert_allclose(s[0], cos[r[0]], rtol=1e-9)
    q = rng.normal(size=16)
    np.testing.assert_allclose(ix.exact_scores(q), x.astype(np.float64) @ q, rtol=1e-12)


def test_save_load_round_trip_checksums_and_binding(tmp_path):
    x = low_rank(90, 20, 4, seed=6)
    ix = index_of(x, dim=4, rerank=7, candidates="ivf", sample=90)
    ix.save(tmp_path / "px")
    assert json.loads((tmp_path / "px" / "manifest.json").read_text())["kind"] == "projected"
    back = load_index(tmp_path / "px")
    assert isinstance(back, ProjectedIndex) and back.params == ix.params
    np.testing.assert_array_equal(back.projection, ix.projection)
    np.testing.assert_array_equal(back.reduced, ix.reduced)
    q = np.arange(20, dtype=np.float64)
    with pytest.raises(ServingError, match="no model bound"):
        back.search(q, 3)
    back.bind(lambda rows: x[rows])
    assert back.search(q, 3)[1].tolist() == ix.search(q, 3)[1].tolist()
    with pytest.raises(ServingError, match="query dimension 5, index dimension 20"):
        back.search(np.ones(5), 3)
    np.save(tmp_path / "px" / "norms.npy", np.ones(90))
    with pytest.raises(ServingError, match=r"norms\.npy: checksum does not match"):
        load_index(tmp_path / "px")
    with pytest.raises(ServingError, match="candidates must be one of exact, ivf"):
        ProjectedParams(candidates="hnsw")
    with pytest.raises(ServingError, match="rerank must be an integer >= 1"):
        ProjectedParams(rerank=0)


@pytest.fixture(scope="module")
def world():
    ds = serving_world()
    return ds, fitted(ds)


def test_recommender_on_a_projected_index_equals_the_exact_one(world, tmp_path):
    ds, model = world
    exact = Recommender(model, ds)
    # 30 influencers, 1,387-wide vectors projected to 3 dims; every row re-ranked: exact results
    proj = Recommender(model, ds, index_kind="projected", projected=ProjectedParams(dim=3, rerank=30, sample=30))
    for brand, f in (("b5", ALL), ("b0", ALL), ("b5", Filters())):
        a, b = exact.recommend(brand, 8, f), proj.recommend(brand, 8, f)
        assert [r.influencer_id for r in a] == [r.influencer_id for r in b]
        for ra, rb in zip(a, b):
            assert rb.score == pytest.approx(ra.score, rel=1e-6) and rb.parts == pytest.approx(ra.parts, rel=1e-5)
    assert [r.influencer_id for r in proj.similar("m4", 5, ALL)] == [r.influencer_id for r in exact.similar("m4", 5, ALL)]
    e, p = exact.explain("b5", "m9"), proj.explain("b5", "m9")
    assert (e.rank, e.score) == (p.rank, pytest.approx(p.score))
    # saved, reloaded and checked against the model like the exact index
    proj.save_index(tmp_path / "px")
    again = Recommender(model, ds, index=load_index(tmp_path / "px"))
    assert [r.influencer_id for r in again.recommend("b5", 8, ALL)] == [r.influencer_id for r in exact.recommend("b5", 8, ALL)]
    bad = load_index(tmp_path / "px")
    bad.norms[:] += 1.0
    with pytest.raises(ServingError, match="not built from this model"):
        Recommender(model, ds, index=bad)
    with pytest.raises(ServingError, match="index kind must be one of exact, hnsw, ivf, projected"):
        Recommender(model, ds, index_kind="pca")


def test_projection_blocks_cover_every_row_once_and_match_the_full_vectors(world):
    ds, model = world
    ids = [m for m in ds.accounts.loc[ds.accounts["role"] == "influencer", "account_id"]]
    x = account_vectors(model, ids, "influencer")
    p = fit_projection(x, 4)
    seen = np.zeros(len(ids), dtype=int)
    for rows, red, norms in project_influencers(model, ids, p, "local", shard_size=7):
        seen[rows] += 1
        # a shard's vectors are computed in a batch of its own size: equal up to float32 rounding
        np.testing.assert_allclose(red, x[rows].astype(np.float32) @ p, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(norms, np.linalg.norm(x[rows].astype(np.float64), axis=1), rtol=1e-7)
    assert (seen == 1).all()


def test_cli_embed_projected_then_recommend(world, tmp_path, capsys):
    ds, _ = world
    write_dataset(ds, tmp_path / "data", features=ds.features)
    assert main(["train", "--model", "morning", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "model"),
                 "--epochs", "2", "--threads", "1", "--no-progress"]) == 0
    dirs = ["--model-dir", str(tmp_path / "model"), "--data", str(tmp_path / "data")]
    capsys.readouterr()
    assert main(["embed", *dirs, "--index-kind", "projected", "--index-dir", str(tmp_path / "px"),
                 "--reduced-dim", "4", "--rerank", "30", "--engine", "local"]) == 0
    assert "projected to 4" in capsys.readouterr().out
    assert main(["recommend", *dirs, "--brand", "b4", "--k", "3", "--format", "json"]) == 0
    want = json.loads(capsys.readouterr().out)
    assert main(["recommend", *dirs, "--brand", "b4", "--k", "3", "--format", "json",
                 "--index-dir", str(tmp_path / "px")]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [r["influencer_id"] for r in got["recommendations"]] == [r["influencer_id"] for r in want["recommendations"]]
    # bad input: one line, exit 2
    for argv, msg in (
            (["embed", *dirs, "--index-kind", "projected", "--index-dir", str(tmp_path / "p2"), "--out",
              str(tmp_path / "v.parquet")], "--out: --index-kind projected keeps no full vectors"),
            (["embed", *dirs, "--index-kind", "projected"], "--index-kind projected needs --index-dir"),
            (["embed", *dirs], "--out is required"),
            (["recommend", *dirs, "--brand", "b4", "--rerank", "5"], "--reduced-dim / --rerank apply to --index-kind projected only"),
            (["embed", *dirs, "--index-kind", "projected", "--index-dir", str(tmp_path / "p3"), "--rerank", "0"],
             "rerank must be an integer >= 1")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert msg in err and len(err.splitlines()) == 1
