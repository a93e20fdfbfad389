"""Bio keywords, WordNet merging, eq. 13-17 co-occurrence graph, eq. 18 mean, and no leakage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from brandmatch.data.store import load_dataset
from brandmatch.features.attributes import (
    AttributeSettings, WordNetNouns, bio_keywords, bio_tokens, cooccurrence, edge_weights,
    mean_embedding, merge_keywords,
)
from brandmatch.features.pipeline import featurize
from brandmatch.features.topics import load_stopwords

from .conftest import tiny_options, tiny_tables, write_tiny


@pytest.fixture(scope="module")
def wordnet():
    try:
        return WordNetNouns.find()
    except Exception as exc:  # pragma: no cover - machine without wordnet-base
        pytest.skip(str(exc))


def test_eq13_16_two_cooperations_by_hand():
    # attributes 0..3; example 1: S_b = {0, 1}, S_m = {2}; example 2: S_b = {0}, S_m = {0, 3}
    c = cooccurrence([[0, 1], [0]], [[2], [0, 3]], 4)
    expected = np.zeros((4, 4))
    # example 1: q_b(0,1) = 1; q_bm: (0,2), (1,2)
    expected[0, 1] += 1; expected[0, 2] += 1; expected[1, 2] += 1
    # example 2: q_m(0,3) = 1; q_bm: (0 in b, 0 in m) is the diagonal (ignored), (0 in b, 3 in m) -> (0,3)
    # q_m and q_bm both hold for (0,3): 2
    expected[0, 3] += 2
    expected = expected + expected.T
    np.testing.assert_array_equal(c, expected)
    assert np.all(np.diag(c) == 0)


def test_eq16_or_counts_once_per_example():
    # s0 and s1 on both sides: q_b = q_m = 1 and q_bm = 1 (not 2) -> 3
    c = cooccurrence([[0, 1]], [[0, 1]], 2)
    assert c[0, 1] == 3 and c[1, 0] == 3


def test_eq17_weights():
    coocf = np.array([[0, 8, 0], [8, 0, 2], [0, 2, 0]], dtype=float)
    i, j, w = edge_weights(coocf, eta=2.0)
    assert list(zip(i.tolist(), j.tolist())) == [(0, 1), (1, 2)]
    np.testing.assert_allclose(w, [2.0, 1.0])


def test_eq18_mean_of_attribute_embeddings():
    emb = np.array([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    node_mask = np.array([True, True, False])  # attribute 2 not in the graph: ignored
    values, mask = mean_embedding([[0, 1], [2], [], [1, 2]], emb, node_mask)
    np.testing.assert_allclose(values[0], [0.5, 0.5])
    assert mask.tolist() == [True, False, False, True]
    np.testing.assert_allclose(values[3], [0.0, 1.0])


def test_bio_tokens_compounds_and_noise():
    stop = load_stopwords()[0]
    toks = bio_tokens("Makeup-Artist 💄 | Food blogger & dog lover. www.x.com me@x.com @brand #Beauty", stop)
    assert toks[:2] == ["makeup-artist", "food"]
    assert "beauty" in toks and not any("x.com" in t or t == "brand" for t in toks)
    assert bio_tokens(None, stop) == [] and bio_tokens("", stop) == []


def test_bio_keywords_frequency_and_spaced_compounds():
    stop = load_stopwords()[0]
    bios = ["food blogger"] * 3 + ["rare word food"] + [None] * 30
    lists, vocab = bio_keywords(bios, stop, AttributeSettings(min_df=3))
    assert "food-blogger" in vocab and "food" in vocab and "rare" not in vocab
    assert lists[-1] == []


def test_wordnet_parent_concepts(wordnet):
    vocab = ["lipstick", "mascara", "eyeliner", "pudding", "sorbet", "ice-cream", "photographer", "chef",
             "makeup-artist", "whisky", "vodka"]
    m = merge_keywords(vocab, wordnet, AttributeSettings())
    assert m["lipstick"] == m["mascara"] == m["eyeliner"] == "makeup"
    assert m["sorbet"] == m["ice-cream"]
    assert "dessert" in m["sorbet"]
    assert m["whisky"] == m["vodka"] == "liquor"
    assert m["photographer"] == "photographer" and m["chef"] == "chef"  # people stay as they are
    assert m["makeup-artist"] == "makeup-artist"


def test_wordnet_morphology(wordnet):
    assert wordnet.lemmatize("lipsticks") == "lipstick"
    assert wordnet.lemmatize("women") == "woman"
    assert wordnet.lemmatize("qwzx") is None


def _attr_view(path: Path):
    ds = load_dataset(path)
    featurize(ds, options=tiny_options(), stages=["attributes"])
    return load_dataset(path).features["attributes"]


def test_graph_ignores_validation_and_test_cooperations(tmp_path, wordnet):
    base = _attr_view(write_tiny(tmp_path / "a").path)
    t = tiny_tables()
    # drop b2's (validation) and b3's (test) cooperations and add other ones for them
    co = t.cooperations
    co = co[~co.brand_id.isin(["b2", "b3"])]
    extra = co.iloc[:0].copy()
    extra.loc[0] = ["b2", "m2", np.nan]
    extra.loc[1] = ["b3", "m0", np.nan]
    extra.loc[2] = ["b3", "m1", np.nan]
    import pandas as pd

    t.cooperations = pd.concat([co, extra], ignore_index=True)
    t.grids = t.grids.iloc[:0]
    changed = _attr_view(write_tiny(tmp_path / "b", t).path)
    assert base.meta["n_edges"] == changed.meta["n_edges"]
    assert base.meta["stage_hash"] == changed.meta["stage_hash"]
    np.testing.assert_array_equal(base.values, changed.values)
    # ... while a training cooperation does change it
    t2 = tiny_tables()
    t2.cooperations = t2.cooperations[~((t2.cooperations.brand_id == "b0") & (t2.cooperations.influencer_id == "m1"))]
    t2.grids = t2.grids.iloc[:0]
    other = _attr_view(write_tiny(tmp_path / "c", t2).path)
    assert other.meta["stage_hash"] != base.meta["stage_hash"]


def test_accounts_without_bio_are_masked(tiny_dir, wordnet):
    view = _attr_view(tiny_dir)
    row = view.index["m5"]
    assert not view.mask[row] and not view.values[row].any()
    assert view.mask[view.index["b0"]]
    assert view.meta["n_attributes"] >= 5
