"""The featurize pipeline on a hand-made world: views, masks, caching, resume, bad inputs, CLI."""

from __future__ import annotations

import numpy as np
import pytest

from brandmatch.cli import main
from brandmatch.data.store import load_dataset
from brandmatch.errors import FeatureError
from brandmatch.features.pipeline import FeaturizeOptions, featurize
from brandmatch.features.store import FeatureSet

from .conftest import tiny_options, tiny_tables, write_tiny

VIEWS = {"activity", "content_text", "audience_text", "content_visual", "audience_visual",
         "content_text_w2v", "content_text_w2v_wap", "attributes"}


def test_all_views_aligned_and_masked(tiny_dir):
    ds = load_dataset(tiny_dir)
    reps = featurize(ds, options=tiny_options())
    status = {r.stage: r.status for r in reps}
    assert status["minilm"] == "skipped" and status["effnet"] == "skipped"
    fs = load_dataset(tiny_dir).features
    assert VIEWS <= set(fs.names())
    ids = ds.accounts["account_id"].tolist()
    for name in VIEWS:
        v = fs[name]
        assert v.ids.tolist() == ids, name
        assert "stage_hash" in v.meta
    # m5 has no posts, no audience, no bio: masked everywhere but activity (no followers either)
    for name in VIEWS:
        v = fs[name]
        assert not v.mask[v.index["m5"]], name
        assert not v.values[v.index["m5"]].any(), name
    ct = fs["content_text"]
    np.testing.assert_allclose(ct.values[ct.mask].sum(axis=1), 1.0, rtol=1e-5)
    assert ct.meta["num_topics"] == 3
    vis = fs["content_visual"]
    assert vis.dim == 1365 and vis.meta["scene_part"] == "present"
    b0 = vis.values[vis.index["b0"]]
    assert b0[500] == pytest.approx(1.0) and b0[501] == 0.0  # 0.05 < threshold
    assert b0[1000 + 10] == pytest.approx(1.0)
    # food brand's content topic is closer to a food influencer than to a beauty one
    def cos(a, b):
        return a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    x = fs["content_visual"]
    assert cos(x.values[x.index["b0"]], x.values[x.index["m0"]]) > cos(x.values[x.index["b0"]], x.values[x.index["m2"]])


def test_rerun_is_cached_and_input_change_recomputes(tiny_dir):
    featurize(load_dataset(tiny_dir), options=tiny_options())
    reps = featurize(load_dataset(tiny_dir), options=tiny_options())
    assert {r.status for r in reps} <= {"cached", "skipped"}
    # a changed parameter recomputes only the stages that use it
    reps = featurize(load_dataset(tiny_dir), options=tiny_options(w2v_dim=8))
    status = {r.stage: r.status for r in reps}
    assert status["w2v"] == "computed" and status["content_topics"] == "cached"
    assert load_dataset(tiny_dir).features["content_text_w2v"].dim == 8
    reps = featurize(load_dataset(tiny_dir), options=tiny_options(w2v_dim=8, force=True))
    assert {r.status for r in reps if r.views} == {"computed"}


def test_interrupted_run_resumes(tiny_dir, monkeypatch):
    from brandmatch.features import pipeline

    def boom(run):
        raise KeyboardInterrupt

    monkeypatch.setitem(pipeline.STAGES, "visual", boom)
    with pytest.raises(KeyboardInterrupt):
        featurize(load_dataset(tiny_dir), options=tiny_options())
    done = FeatureSet.load(tiny_dir / "features")
    assert "content_text" in done and "content_visual" not in done
    monkeypatch.undo()
    reps = featurize(load_dataset(tiny_dir), options=tiny_options())
    status = {r.stage: r.status for r in reps}
    assert status["content_topics"] == "cached" and status["visual"] == "computed"


def test_out_directory_and_no_posts(tmp_path):
    t = tiny_tables()
    t.posts = t.posts.iloc[:0]
    t.detections = t.detections[t.detections.post_id.str.startswith("u-")]
    ds = write_tiny(tmp_path / "d", t)
    reps = featurize(ds, tmp_path / "out", tiny_options())
    status = {r.stage: r.status for r in reps}
    assert status["content_topics"] == "skipped" and status["audience_topics"] == "computed"
    fs = FeatureSet.load(tmp_path / "out")
    assert "content_text" not in fs and "audience_text" in fs
    assert not fs["content_visual"].mask.any() if "content_visual" in fs else True


def test_empty_captions_and_bad_options(tmp_path):
    t = tiny_tables()
    t.posts["caption"] = None
    t.audience_posts["caption"] = ""
    ds = write_tiny(tmp_path / "e", t)
    reps = featurize(ds, options=tiny_options())
    status = {r.stage: r.status for r in reps}
    assert status["content_topics"] == "skipped" and status["audience_topics"] == "skipped"
    assert status["visual"] == "computed"
    with pytest.raises(FeatureError, match="unknown stage"):
        featurize(ds, options=FeaturizeOptions(with_=("bert",)))


def test_cli_featurize_and_cosine(tiny_dir, capsys):
    code = main(["featurize", str(tiny_dir), "--topics", "3", "--with", "w2v", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "content_text" in out and "total" in out
    assert main(["featurize", str(tiny_dir), "--topics", "x"]) == 2
    assert main(["featurize", str(tiny_dir), "--with", "nope", "--no-progress"]) == 2
    from brandmatch.models.base import create

    ds = load_dataset(tiny_dir)
    for view in ("content_text", "content_visual", "audience_text", "audience_visual", "attributes",
                 "content_text_w2v"):
        model = create("cosine", views=[view])
        model.fit(ds.cooperations("train"), ds.features)
        s = model.score(["b3"], ["m0", "m2", "m3"])
        assert s.shape == (1, 3) and np.isfinite(s).all()


def _imported_tiny(tmp_path):
    """examples/tiny imported: it supplies a 4-column content_text (features/content_text.csv)."""
    from pathlib import Path

    from brandmatch.data.user_import import import_tables_to

    src = Path(__file__).resolve().parents[2] / "examples" / "tiny"
    import_tables_to(src, tmp_path / "ds")
    return tmp_path / "ds"


def test_featurize_keeps_views_supplied_at_import(tmp_path, capsys):
    data = _imported_tiny(tmp_path)
    before = load_dataset(data).features["content_text"]
    assert before.dim == 4
    code = main(["featurize", str(data), "--topics", "2", "--with", "", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    after = load_dataset(data).features["content_text"]
    assert after.dim == 4 and after.meta == before.meta
    np.testing.assert_array_equal(after.values, before.values)
    np.testing.assert_array_equal(after.mask, before.mask)
    assert "content_topics   kept" in out and "kept as supplied at import: content_text" in out
    assert "views supplied at import, kept: content_text (--replace-imported recomputes them)" in out
    # --force recomputes featurize's own views, still not the supplied ones
    assert main(["featurize", str(data), "--topics", "2", "--with", "", "--no-progress", "--force"]) == 0
    assert load_dataset(data).features["content_text"].dim == 4
    capsys.readouterr()
    # only the explicit flag replaces them, and says so
    assert main(["featurize", str(data), "--topics", "2", "--with", "", "--no-progress",
                 "--replace-imported"]) == 0
    out = capsys.readouterr().out
    assert "replaced the view supplied at import: content_text" in out
    assert "views supplied at import, replaced: content_text" in out
    assert load_dataset(data).features["content_text"].dim == 2


def test_corrupted_view_is_recomputed_not_cached(tiny_dir):
    featurize(load_dataset(tiny_dir), options=tiny_options())
    path = tiny_dir / "features" / "content_text.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(FeatureError, match=r"content_text\.npz: checksum does not match"):
        load_dataset(tiny_dir).features  # noqa: B018 - loading verifies
    reps = featurize(load_dataset(tiny_dir), options=tiny_options())
    assert {r.stage: r.status for r in reps}["content_topics"] == "computed"
    assert load_dataset(tiny_dir).features["content_text"].dim == 3


def test_crash_between_view_file_and_manifest_heals_on_rerun(tiny_dir, monkeypatch):
    """Issue 14.7: a crash after a view file was replaced but before the feature manifest was
    rewritten leaves a file that does not match the manifest; the next run recomputes that view
    (it is never reported as cached) and the dataset loads again."""
    import brandmatch.features.store as fstore

    featurize(load_dataset(tiny_dir), options=tiny_options(topics=3))
    real = fstore._write_json

    def crash(path, obj):
        raise RuntimeError("simulated crash before the manifest is written")

    monkeypatch.setattr(fstore, "_write_json", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        featurize(load_dataset(tiny_dir), options=tiny_options(topics=2), stages=["content_topics"])
    monkeypatch.setattr(fstore, "_write_json", real)
    # the state the issue describes: the replaced file no longer matches the manifest
    with pytest.raises(FeatureError, match=r"content_text\.npz: checksum does not match"):
        load_dataset(tiny_dir).features  # noqa: B018 - loading verifies
    # rerun with the first run's settings: not "cached" (the manifest's hash matches, the file does not)
    reps = featurize(load_dataset(tiny_dir), options=tiny_options(topics=3), stages=["content_topics"])
    assert reps[0].status == "computed"
    assert load_dataset(tiny_dir).features["content_text"].dim == 3
    assert featurize(load_dataset(tiny_dir), options=tiny_options(topics=3),
                     stages=["content_topics"])[0].status == "cached"
