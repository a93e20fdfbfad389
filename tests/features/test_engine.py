"""The engines agree: `featurize` and batch embed / score give the local engine's results on Ray.

Featurize: every view the same bytes (values, masks, checksums) and the same fitted state.
Embed / score (brandmatch.serving.batch): within RTOL = 1e-5, ATOL = 1e-6 (float32 matmul
blocking may differ with the shard size). One Ray session (2 CPUs) serves the whole module; the
worlds are tiny (10 accounts; 36 accounts), so Ray's start-up dominates.
Bad engine names and unreachable clusters stop with exit code 2 and one line.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from brandmatch.cli import main
from brandmatch.data.store import load_dataset, write_dataset
from brandmatch.errors import EngineError
from brandmatch.features import fitted
from brandmatch.features.engine import ADDRESS_ENV, ENGINE_ENV, resolve_engine
from brandmatch.features.pipeline import featurize
from brandmatch.features.store import FeatureSet

from .conftest import tiny_options, write_tiny

RAY_REASON = "Ray is not installed (the optional 'ray' extra: pip install 'brandmatch[ray]'; make install has it)"


@pytest.fixture(scope="module")
def ray_env():
    """One local Ray for the module (2 CPUs, no dashboard); the engines reuse a running session."""
    ray = pytest.importorskip("ray", reason=RAY_REASON)
    pytest.importorskip("ray.data", reason=RAY_REASON)
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield ray
    if started:
        ray.shutdown()


# ---------------------------------------------------------------------- choosing the engine


def test_engine_names_and_config_key(monkeypatch):
    monkeypatch.delenv(ENGINE_ENV, raising=False)
    assert resolve_engine(None) == "local" and resolve_engine("local") == "local"
    with pytest.raises(EngineError, match=r"--engine 'spark': unknown engine \(allowed values: local, ray\)"):
        resolve_engine("spark")
    monkeypatch.setenv(ENGINE_ENV, "dask")
    with pytest.raises(EngineError, match=rf"{ENGINE_ENV} 'dask': unknown engine \(allowed values: local, ray\)"):
        resolve_engine(None)
    assert resolve_engine("local") == "local"  # the flag wins over the config key


def test_ray_without_the_extra_is_a_one_line_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # as if `brandmatch[ray]` were not installed
    with pytest.raises(EngineError, match=r"--engine ray: Ray is not installed .*pip install 'brandmatch\[ray\]'"):
        resolve_engine("ray")


def test_cli_unknown_engine_exits_2_with_one_line(tmp_path, capsys):
    write_tiny(tmp_path / "tiny")
    assert main(["featurize", str(tmp_path / "tiny"), "--engine", "spark", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--engine 'spark'" in err and "allowed values: local, ray" in err
    assert not (tmp_path / "tiny" / "features" / "manifest.json").exists()


def test_unreachable_cluster_exits_2_with_one_line(tmp_path, capsys, monkeypatch):
    ray = pytest.importorskip("ray", reason=RAY_REASON)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(ADDRESS_ENV, f"127.0.0.1:{port}")
    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # as if no session ran in this process
    write_tiny(tmp_path / "tiny")
    assert main(["featurize", str(tmp_path / "tiny"), "--engine", "ray", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{ADDRESS_ENV}='127.0.0.1:{port}'" in err and "allowed values" in err
    assert not (tmp_path / "tiny" / "features" / "manifest.json").exists()


def test_errors_raised_on_workers_come_back_as_themselves():
    """Ray Data keeps only an exception's text: the BrandmatchError kind and message are recovered."""
    from brandmatch.errors import FeatureError
    from brandmatch.features.engine import _brandmatch_cause

    text = ("ray::MapBatches(_run_shard)() (pid=1)\n  File \"x.py\", line 3, in f\n"
            "brandmatch.errors.FeatureError: posts.parquet, row 3, column caption: not text")
    got = _brandmatch_cause(RuntimeError(text))
    assert isinstance(got, FeatureError) and str(got) == "posts.parquet, row 3, column caption: not text"
    assert _brandmatch_cause(RuntimeError("ValueError: something else")) is None


# ---------------------------------------------------------------------- featurize


def test_featurize_on_ray_equals_local_byte_for_byte(ray_env, tmp_path):
    write_tiny(tmp_path / "local")
    write_tiny(tmp_path / "ray")
    featurize(load_dataset(tmp_path / "local"), options=tiny_options())
    reports = featurize(load_dataset(tmp_path / "ray"), options=tiny_options(engine="ray", shard_accounts=3))
    assert reports[-1].stage == "transform" and "4 shard(s)" in reports[-1].note  # 10 accounts / 3
    a, b = FeatureSet.load(tmp_path / "local" / "features"), FeatureSet.load(tmp_path / "ray" / "features")
    assert a.names() == b.names() and len(a.names()) == 11  # tfidf and bio kinds views included
    for name in a.names():
        np.testing.assert_array_equal(a[name].ids, b[name].ids, err_msg=name)
        np.testing.assert_array_equal(a[name].mask, b[name].mask, err_msg=name)
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)  # same bytes
        assert a[name].checksum() == b[name].checksum(), name
        assert a[name].meta["stage_hash"] == b[name].meta["stage_hash"], name
    # the fitted state (LDA with featurize's own starting gammas, vocabularies, node2vec) is the same
    fa, fb = tmp_path / "local" / "features", tmp_path / "ray" / "features"
    assert fitted.stages(fa) == fitted.stages(fb)
    for stage in fitted.stages(fa):
        sa, sb = fitted.read_stage(fa, stage), fitted.read_stage(fb, stage)
        assert sa.stage_hash == sb.stage_hash and sa.arrays.keys() == sb.arrays.keys(), stage
        for k in sa.arrays:
            np.testing.assert_array_equal(sa.arrays[k], sb.arrays[k], err_msg=f"{stage} {k}")
    # the local engine finds every stage of the Ray run cached: one cache for both engines
    again = featurize(load_dataset(tmp_path / "ray"), options=tiny_options())
    assert {r.status for r in again} <= {"cached", "skipped"}


def _same_features(da: Path, db: Path) -> None:
    a, b = FeatureSet.load(da / "features"), FeatureSet.load(db / "features")
    assert a.names() == b.names()
    for name in a.names():
        np.testing.assert_array_equal(a[name].ids, b[name].ids, err_msg=name)
        np.testing.assert_array_equal(a[name].mask, b[name].mask, err_msg=name)
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
        assert a[name].meta["stage_hash"] == b[name].meta["stage_hash"], name


def test_fit_on_a_sample_then_transform_everyone_same_on_both_engines(ray_env, tmp_path):
    """--fit-accounts: the caption stages fit on a seeded sample (8 of the 10 accounts: TF-IDF needs
    words in 3 documents), every account's views come from the
    fitted transform, shard by shard: in this process (local) or on Ray, the same bytes."""
    from brandmatch.features.topics import CaptionCleaner, load_stopwords

    for name in ("local", "ray", "all"):
        write_tiny(tmp_path / name)
    reports = featurize(load_dataset(tmp_path / "local"), options=tiny_options(fit_accounts=8, shard_accounts=3))
    assert reports[-1].stage == "transform" and "fitted on 8 of 10 accounts" in reports[-1].note
    featurize(load_dataset(tmp_path / "ray"), options=tiny_options(fit_accounts=8, engine="ray", shard_accounts=4))
    _same_features(tmp_path / "local", tmp_path / "ray")
    fs = FeatureSet.load(tmp_path / "local" / "features")
    assert len(fs.names()) == 11 and len(fs["content_text"].ids) == 10
    assert "8 accounts drawn with seed 0" in fs["content_text"].meta["fitted_on"]
    # the LDA and its dictionary saw the sample's captions only
    topics = fitted.read_stage(tmp_path / "local" / "features", "content_topics")
    sample = set(topics.arrays["gamma_init_ids"].tolist())
    assert 0 < len(sample) <= 8
    ds = load_dataset(tmp_path / "local")
    posts = ds.tables.posts
    own = posts[posts["account_id"].isin(sample)]["caption"].tolist()
    words = {w for toks in CaptionCleaner(load_stopwords()[0]).clean_all(own) for w in toks}
    assert set(topics.state["vocabulary"]) <= words
    # a sample as large as the dataset is no sample: the plain run, same hashes and bytes
    featurize(load_dataset(tmp_path / "all"), options=tiny_options(fit_accounts=10))
    plain = tmp_path / "plain"
    write_tiny(plain)
    featurize(load_dataset(plain), options=tiny_options())
    _same_features(tmp_path / "all", plain)


@pytest.mark.parametrize("value", ["1", "0"])
def test_cli_fit_accounts_below_two_exits_2_with_one_line(tmp_path, capsys, value):
    write_tiny(tmp_path / "d")
    assert main(["featurize", str(tmp_path / "d"), "--fit-accounts", value, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"brandmatch featurize: error: --fit-accounts {value}: expected an integer >= 2 (default: all accounts)"]


def test_image_classification_on_ray_equals_local(ray_env, tmp_path):
    """Posts with images and no detections: the classifier runs on the workers (a deterministic stand-in
    for EfficientNet-Lite0, shipped with the fitted state), the visual and effnet views the same bytes."""
    import sys

    from ray import cloudpickle

    from brandmatch.data.schema import empty_table

    from .conftest import tiny_tables
    from .test_transform import _FakeClassifier

    # the stand-in lives in a test module Ray's workers cannot import: ship its code by value
    module = sys.modules[_FakeClassifier.__module__]
    cloudpickle.register_pickle_by_value(module)
    try:
        _featurize_images_both(tmp_path, tiny_tables, empty_table, _FakeClassifier)
    finally:
        cloudpickle.unregister_pickle_by_value(module)
    a, b = FeatureSet.load(tmp_path / "local" / "features"), FeatureSet.load(tmp_path / "ray" / "features")
    assert a.names() == b.names() and {"content_visual", "content_image_effnet_wap"} <= set(a.names())
    for name in a.names():
        assert a[name].checksum() == b[name].checksum(), name


def _featurize_images_both(tmp_path, tiny_tables, empty_table, classifier) -> None:
    from PIL import Image

    for name in ("local", "ray"):
        t = tiny_tables()
        pids = t.posts["post_id"].tolist()
        t.posts["image_ref"] = [f"img/{pid}.png" for pid in pids]  # relative to the dataset directory
        t.detections = empty_table("detections")
        write_tiny(tmp_path / name, t)
        (tmp_path / name / "img").mkdir()
        for i, pid in enumerate(pids):
            Image.fromarray(np.full((6, 6, 3), (7 * i) % 250, np.uint8)).save(tmp_path / name / "img" / f"{pid}.png")
        featurize(load_dataset(tmp_path / name), stages=["visual", "effnet"], options=tiny_options(
            with_=("effnet",), classifier_factory=classifier, engine=name, shard_accounts=4))


# ---------------------------------------------------------------------- embed / score


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The serving toy world on disk and MORNING+ trained on it for 2 epochs (the CLI's own train)."""
    from tests.serving.world import serving_world

    root = tmp_path_factory.mktemp("engine-serving")
    ds = serving_world()
    write_dataset(ds, root / "data", features=ds.features)
    assert main(["train", "--model", "morning", "--data", str(root / "data"), "--out", str(root / "model"),
                 "--epochs", "2", "--threads", "1", "--no-progress"]) == 0
    return root


def test_embed_and_score_on_ray_equal_local(ray_env, served):
    from brandmatch.models.base import load_model
    from brandmatch.serving.batch import ATOL, RTOL, embed_influencers, score_influencers

    ds = load_dataset(served / "data")
    model = load_model(served / "model", ds.features)
    acc = ds.accounts
    infs = acc.loc[acc["role"] == "influencer", "account_id"].tolist()
    brands = acc.loc[acc["role"] == "brand", "account_id"].tolist()
    local = embed_influencers(model, infs, "local")
    for shard in (7, 4096):  # 5 shards that cut the model's chunks; one chunk-aligned shard
        got = embed_influencers(model, infs, "ray", shard_size=shard)
        assert got.shape == local.shape and got.dtype == np.float64
        np.testing.assert_allclose(got, local, rtol=RTOL, atol=ATOL)
        if shard % 4096 == 0:  # the local run's chunks: the same float32 operations, the same bytes
            np.testing.assert_array_equal(got, local)
    np.testing.assert_allclose(embed_influencers(model, brands, "ray", role="brand", shard_size=4),
                               embed_influencers(model, brands, "local", role="brand"), rtol=RTOL, atol=ATOL)
    s_local = score_influencers(model, brands, infs, "local")
    s_ray = score_influencers(model, brands, infs, "ray", shard_size=8)
    assert s_ray.shape == (len(brands), len(infs))
    np.testing.assert_allclose(s_ray, s_local, rtol=RTOL, atol=ATOL)


def test_projection_on_ray_equals_local(ray_env, served):
    """The projected index's blocks (reduced vectors, full norms): the same bytes on both engines for
    chunk-aligned shards, within the engines' tolerance otherwise."""
    from brandmatch.models.base import load_model
    from brandmatch.serving.batch import ATOL, RTOL, account_vectors, project_influencers
    from brandmatch.serving.projected_index import fit_projection

    ds = load_dataset(served / "data")
    model = load_model(served / "model", ds.features)
    acc = ds.accounts
    infs = acc.loc[acc["role"] == "influencer", "account_id"].tolist()
    proj = fit_projection(account_vectors(model, infs, "influencer"), 4)

    def gather(engine: str, shard: int) -> tuple[np.ndarray, np.ndarray]:
        red, norms = np.full((len(infs), 4), np.nan, np.float32), np.full(len(infs), np.nan)
        for rows, r, n in project_influencers(model, infs, proj, engine, shard_size=shard):
            red[rows], norms[rows] = r, n
        return red, norms

    red_l, norms_l = gather("local", 4096)
    for shard in (7, 4096):
        red_r, norms_r = gather("ray", shard)
        assert not np.isnan(norms_r).any()
        np.testing.assert_allclose(red_r, red_l, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(norms_r, norms_l, rtol=RTOL, atol=ATOL)
        if shard % 4096 == 0:
            np.testing.assert_array_equal(red_r, red_l)


def test_cli_embed_on_ray_writes_vectors_and_an_index_recommend_accepts(ray_env, served, tmp_path, capsys):
    from brandmatch.serving.batch import ATOL, RTOL, read_vectors

    dirs = ["--model-dir", str(served / "model"), "--data", str(served / "data")]
    assert main(["embed", *dirs, "--out", str(tmp_path / "local.parquet"), "--engine", "local"]) == 0
    assert main(["embed", *dirs, "--out", str(tmp_path / "ray.parquet"), "--engine", "ray", "--shard-size", "8",
                 "--index-dir", str(tmp_path / "index")]) == 0
    out = capsys.readouterr().out
    assert "embedded 30 influencers" in out and "on ray" in out
    ids_l, v_l = read_vectors(tmp_path / "local.parquet")
    ids_r, v_r = read_vectors(tmp_path / "ray.parquet")
    assert ids_l == ids_r and len(ids_r) == 30
    np.testing.assert_allclose(v_r, v_l, rtol=RTOL, atol=ATOL)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left
    # the index built from the Ray vectors serves `recommend` (which checks it against the model)
    assert main(["recommend", *dirs, "--index-dir", str(tmp_path / "index"), "--brand", "b4", "--k", "3"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[0].startswith("brand: b4")
    # bad input: one line, exit 2
    assert main(["embed", *dirs, "--out", str(tmp_path / "x.parquet"), "--engine", "spark"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "allowed values: local, ray" in err
    shutil.rmtree(tmp_path / "index")
