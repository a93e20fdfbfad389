"""The fitted featurizer: new accounts get the same views as `featurize` computes, from stored state."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brandmatch.data.schema import Tables, empty_table
from brandmatch.data.store import load_dataset
from brandmatch.errors import FeatureError
from brandmatch.features import fitted
from brandmatch.features.pipeline import featurize
from brandmatch.features.store import FeatureSet
from brandmatch.features.transform import FittedFeaturizer

from .conftest import tiny_options, write_tiny

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def featurized(tmp_path_factory) -> Path:
    """The tiny world, featurized once (w2v on, effnet off), read-only for the tests below."""
    root = tmp_path_factory.mktemp("transform") / "tiny"
    write_tiny(root)
    featurize(load_dataset(root), options=tiny_options())
    return root


def _copy(featurized: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "tiny"
    shutil.copytree(featurized, dst)
    return dst


def _subset(tables: Tables, account: str) -> Tables:
    """Only ``account``'s rows (its posts, audience, audience posts, detections)."""
    acc = tables.accounts[tables.accounts["account_id"] == account].reset_index(drop=True)
    posts = tables.posts[tables.posts["account_id"] == account].reset_index(drop=True)
    aud = tables.audience[tables.audience["account_id"] == account].reset_index(drop=True)
    ap = tables.audience_posts[tables.audience_posts["member_id"].isin(aud["member_id"])].reset_index(drop=True)
    pids = set(posts["post_id"]) | set(ap["post_id"])
    det = tables.detections[tables.detections["post_id"].isin(pids)].reset_index(drop=True)
    return Tables(acc, empty_table("cooperations"), empty_table("splits"), empty_table("grids"), posts, aud, ap, det)


def test_known_accounts_get_identical_vectors(featurized):
    ds = load_dataset(featurized)
    stored = FeatureSet.load(featurized / "features")
    fz = FittedFeaturizer.load(featurized)
    assert set(fz.stages) == {"activity", "content_topics", "audience_topics", "visual", "tfidf", "w2v", "attributes"}
    out = fz.transform(ds.tables)
    assert set(out.names()) == set(fz.views()) == set(stored.names())
    for name in out.names():
        np.testing.assert_array_equal(out[name].mask, stored[name].mask, err_msg=name)
        np.testing.assert_array_equal(out[name].values, stored[name].values, err_msg=name)  # bit for bit
    # one account alone (as a new brand profile would come) gets its row of the whole, exactly
    for account in ("b1", "m0", "m5"):
        alone = fz.transform(_subset(ds.tables, account))
        for name in alone.names():
            v, m = stored[name].lookup([account])
            np.testing.assert_array_equal(alone[name].mask, m, err_msg=f"{account} {name}")
            np.testing.assert_array_equal(alone[name].values, v, err_msg=f"{account} {name}")


def test_lda_inference_reimplements_gensim():
    from gensim.corpora import Dictionary

    from brandmatch.features.topics import _train_lda, lda_inference

    docs = [["coffee", "latte", "bean", "cup"] * 3, ["wine", "beer", "bar", "cheers"] * 2,
            ["coffee", "bar", "cup", "wine"], ["latte", "bean", "beer"]] * 4
    d = Dictionary(docs)
    bows = [d.doc2bow(x) for x in docs]
    lda = _train_lda(bows, d, 3, 2, 50, 0)
    gamma0 = copy.deepcopy(lda.random_state).gamma(100.0, 1.0 / 100.0, (len(bows), 3))
    expected, _ = lda.inference(bows)
    got = lda_inference(bows, lda.expElogbeta, lda.alpha, gamma0, lda.iterations, lda.gamma_threshold)
    np.testing.assert_array_equal(got, expected)


def _new_brand(account: str = "newbrand", bio: str = "cake, dessert & chocolate lovers | food blogger") -> Tables:
    acc = pd.DataFrame({"account_id": [account], "handle": [account], "role": ["brand"], "category": ["food"],
                        "followers": [1234], "bio": [bio]})
    caps = ["Chocolate cake and pizza night #FoodBlogger", "Dessert: ice cream and cookies", "Pasta recipe with basil"]
    posts = pd.DataFrame({"post_id": [f"{account}-{i}" for i in range(3)], "account_id": [account] * 3,
                          "caption": caps, "timestamp": [1_560_000_000 - 10 * i for i in range(3)],
                          "likes": [5, 6, 7], "comments": [0, 1, None], "image_ref": [None] * 3})
    det = pd.DataFrame({"post_id": [f"{account}-0", f"{account}-1"], "kind": ["object", "scene"],
                        "class_index": [500, 10], "confidence": [0.9, 0.4]})
    return Tables(acc, empty_table("cooperations"), empty_table("splits"), empty_table("grids"), posts,
                  detections=det)


def test_new_account_views_are_deterministic_and_batch_independent(featurized):
    fz = FittedFeaturizer.load(featurized)
    stored = FeatureSet.load(featurized / "features")
    one = fz.transform(_new_brand())
    assert {"content_text", "content_visual", "content_text_w2v", "attributes", "activity"} <= set(one.names())
    assert "audience_text" not in one.names() or not one["audience_text"].mask.any()  # no audience given
    for name in one.names():
        assert one[name].dim == stored[name].dim
    assert all(one[n].mask[0] for n in ("content_text", "content_visual", "content_text_w2v", "attributes"))
    np.testing.assert_allclose(one["content_text"].values.sum(), 1.0, rtol=1e-5)
    assert one["activity"].values[0, 4] == 0.0  # newer than the dataset: "0 days since the last post"
    again = fz.transform(_new_brand())
    for name in one.names():
        np.testing.assert_array_equal(one[name].values, again[name].values)
    # with another new account in the same call, the first one's rows do not change
    two = _new_brand("other", "makeup-artist, lipstick and mascara")
    both = _new_brand()
    both = Tables(pd.concat([both.accounts, two.accounts], ignore_index=True), both.cooperations, both.splits,
                  both.grids, pd.concat([both.posts, two.posts], ignore_index=True),
                  detections=pd.concat([both.detections, two.detections], ignore_index=True))
    out = fz.transform(both)
    for name in one.names():
        np.testing.assert_array_equal(out[name].lookup(["newbrand"])[0], one[name].values, err_msg=name)
    # the bio's attributes are those the fitted vocabulary knows; food, not beauty
    attrs = out["attributes"].meta["account_attributes"]
    assert attrs["newbrand"] and attrs["other"] and not set(attrs["newbrand"]) & set(attrs["other"])


def test_images_go_through_the_classifier(featurized, tmp_path):
    from PIL import Image

    class Fake:
        name, n_classes, embed_dim = "fake", 1000, 8

        def predict(self, images):
            probs = np.zeros((len(images), 1000), np.float32)
            probs[:, 504] = 0.7  # coffee mug
            probs[:, 1] = 0.05  # below the threshold
            return probs, np.ones((len(images), 8), np.float32)

    t = _new_brand()
    refs = []
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(tmp_path / f"{i}.jpg")
        refs.append(f"{i}.jpg")
    t.posts["image_ref"] = refs
    t.detections = empty_table("detections")
    out = FittedFeaturizer.load(featurized).transform(t, images_root=tmp_path, classifier_factory=Fake)
    v = out["content_visual"]
    assert v.mask[0] and v.values[0, 504] == pytest.approx(1.0) and v.values[0, 1000:].sum() == 0
    assert v.meta["scene_part"] == "missing" and v.meta["images_found"] == 3


def test_fitted_state_round_trip_and_no_pickle(featurized, tmp_path):
    fz = FittedFeaturizer.load(featurized)
    files = sorted(p.name for p in (featurized / "features" / "fitted").rglob("*") if p.is_file())
    assert files and all(f.endswith((".npy", ".json")) for f in files)
    fz.save(tmp_path / "features")
    back = FittedFeaturizer.load(tmp_path)  # a directory with features/fitted
    assert set(back.stages) == set(fz.stages)
    for name, st in fz.stages.items():
        other = back.stages[name]
        assert other.stage_hash == st.stage_hash
        assert json.dumps(other.state, sort_keys=True) == json.dumps(st.state, sort_keys=True)
        assert set(other.arrays) == set(st.arrays)
        for key, arr in st.arrays.items():
            assert other.arrays[key].dtype == arr.dtype
            np.testing.assert_array_equal(other.arrays[key], arr)
    a, b = fz.transform(_new_brand()), back.transform(_new_brand())
    for name in a.names():
        np.testing.assert_array_equal(a[name].values, b[name].values)


@pytest.mark.parametrize("target", ["content_topics/exp_elog_beta.npy", "attributes/state.json",
                                    "w2v/manifest.json", "manifest.json"])
def test_tampered_fitted_file_is_refused(featurized, tmp_path, target):
    root = _copy(featurized, tmp_path)
    path = root / "features" / "fitted" / target
    data = bytearray(path.read_bytes())
    if target.endswith(".npy"):
        data[-1] ^= 0x01  # one bit of one float
    else:
        text = data.decode("utf-8")
        data = bytearray(text.replace('"stage_hash": "', '"stage_hash": "0', 1).encode("utf-8")
                         if '"stage_hash": "' in text else (text + " ").encode("utf-8"))
    path.write_bytes(bytes(data))
    with pytest.raises(FeatureError) as err:
        FittedFeaturizer.load(root)
    assert "does not match" in str(err.value) and str(root) in str(err.value)


def test_missing_fitted_state_is_reported_and_featurize_restores_it(featurized, tmp_path):
    root = _copy(featurized, tmp_path)
    shutil.rmtree(root / "features" / "fitted")
    with pytest.raises(FeatureError, match="no fitted featurizer"):
        FittedFeaturizer.load(root)
    reports = {r.stage: r.status for r in featurize(load_dataset(root), options=tiny_options())}
    assert reports["attributes"] == "computed" and reports["content_topics"] == "computed"
    assert set(FittedFeaturizer.load(root).stages) == set(FittedFeaturizer.load(featurized).stages)
    # the views themselves did not change
    a, b = FeatureSet.load(root / "features"), FeatureSet.load(featurized / "features")
    for name in b.names():
        np.testing.assert_array_equal(a[name].values, b[name].values)
    reports = {r.stage: r.status for r in featurize(load_dataset(root), options=tiny_options())}
    assert reports["attributes"] == "cached" and reports["content_topics"] == "cached"
    fitted.remove_stage(root / "features", "w2v")
    assert "w2v" not in FittedFeaturizer.load(root).stages


def test_brand_profile_example_through_the_featurizer(featurized):
    from brandmatch.serving.profile import featurize_profile

    rows, brand, category = featurize_profile(REPO / "examples" / "new-brand", featurized, taken_ids={"beanandbrew"})
    assert brand == "new:beanandbrew" and category == "drink"
    assert {"content_text", "content_visual", "attributes", "activity"} <= set(rows.names())
    assert all(v.ids.tolist() == [brand] and v.mask.all() for v in rows.views.values())


def test_cli_recommend_with_brand_profile(featurized, tmp_path, capsys):
    from brandmatch.cli import main

    assert main(["train", "--model", "cosine", "--data", str(featurized), "--out", str(tmp_path / "model"),
                 "--no-progress"]) == 0
    capsys.readouterr()
    base = ["recommend", "--model-dir", str(tmp_path / "model"), "--data", str(featurized), "--min-followers", "none",
            "--max-followers", "none", "--format", "json"]
    code = main([*base, "--brand-profile", str(REPO / "examples" / "new-brand"), "--k", "3"])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert doc["brand"] == "beanandbrew" and 1 <= len(doc["recommendations"]) <= 3
    code = main([*base, "--brand-profile", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and "not a brand profile folder" in err and err.count("\n") == 1


class _FakeClassifier:
    """Deterministic stand-in for EfficientNet-Lite0: class = mean intensity bucket."""

    name, n_classes, embed_dim = "fake", 1000, 4

    def predict(self, images):
        probs = np.zeros((len(images), 1000), np.float32)
        embs = np.zeros((len(images), 4), np.float32)
        for i, im in enumerate(images):
            m = float(np.asarray(im).mean())
            probs[i, int(m) % 1000] = 0.6
            probs[i, 999] = 0.3
            embs[i] = [m, m / 2, 1.0, -m]
        return probs, embs


def test_images_dataset_effnet_and_visual_views_identical(tmp_path):
    from PIL import Image

    from .conftest import tiny_tables

    t = tiny_tables()
    pids = t.posts["post_id"].tolist()
    t.posts["image_ref"] = [f"img/{pid}.png" for pid in pids]  # relative to the dataset directory
    t.detections = empty_table("detections")
    write_tiny(tmp_path / "ds", t)
    (tmp_path / "ds" / "img").mkdir()
    for i, pid in enumerate(pids):
        Image.fromarray(np.full((6, 6, 3), (7 * i) % 250, np.uint8)).save(tmp_path / "ds" / "img" / f"{pid}.png")
    ds = load_dataset(tmp_path / "ds")
    featurize(ds, options=tiny_options(with_=("effnet",), classifier_factory=_FakeClassifier),
              stages=["visual", "effnet"])
    stored = FeatureSet.load(tmp_path / "ds" / "features")
    fz = FittedFeaturizer.load(tmp_path / "ds")
    assert fz.stages["visual"].state["source"] == "images"
    out = fz.transform(ds.tables, images_root=tmp_path / "ds", classifier_factory=_FakeClassifier)
    assert {"content_visual", "content_image_effnet", "content_image_effnet_wap"} <= set(out.names())
    for name in out.names():
        np.testing.assert_array_equal(out[name].values, stored[name].values, err_msg=name)
        np.testing.assert_array_equal(out[name].mask, stored[name].mask, err_msg=name)


def test_new_brand_with_a_known_brands_content_gets_its_ranking(featurized):
    """A test brand's own posts, bio and audience given as a NEW brand (another id) are featurized
    by the fitted featurizer and ranked exactly as the dataset's brand is (same scores, same order)."""
    from brandmatch.models import create
    from brandmatch.serving.recommend import Filters, Recommender
    from brandmatch.training.trainer import TrainingOptions
    from brandmatch.training.workflow import fit_model

    ds = load_dataset(featurized)
    model = fit_model(create("morning", epochs=2), ds, TrainingOptions(progress=False))  # recipe plus
    rec = Recommender(model, ds)
    brand = "b3"  # the tiny world's test brand: not a training brand, so nothing is left out for it
    everyone = Filters(min_followers=None, max_followers=None, exclude_partners=False)
    known = rec.recommend(brand, 5, everyone)
    tables = _subset(ds.tables, brand)
    new_id = "new:b3"
    for frame in (tables.accounts, tables.posts, tables.audience):
        frame["account_id"] = frame["account_id"].replace(brand, new_id)
    rows = FittedFeaturizer.load(featurized).transform(tables)
    rows = FeatureSet({n: v for n, v in rows.views.items() if v.mask.any()})
    category = ds.brand_category()[brand]
    fresh = rec.recommend_features(rows, new_id, category, 5, everyone)
    assert [r.influencer_id for r in fresh] == [r.influencer_id for r in known]
    np.testing.assert_allclose([r.score for r in fresh], [r.score for r in known], rtol=1e-6)
