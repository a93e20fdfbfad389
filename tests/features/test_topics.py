"""Caption cleaning and LDA topic vectors."""

from __future__ import annotations

import numpy as np
import pytest

from brandmatch.errors import FeatureError
from brandmatch.features.topics import (
    CaptionCleaner, TopicSettings, fit_topics, load_stopwords, segment_word, select_num_topics, shared_dir,
)


@pytest.fixture(scope="module")
def stop():
    return load_stopwords()[0]


def test_stopwords_combine_package_and_shared_lists():
    words, info = load_stopwords()
    assert {"the", "and", "about"} <= words
    assert info["gensim"] > 300 and info["sklearn"] > 300
    if (shared_dir() / "datasets/mir-public/morning-attributes/stopwords.txt").exists():
        assert isinstance(info["morning_list"], int) and info["morning_list"] > 500
        assert not any("\r" in w for w in words)


def test_cleaning_urls_mentions_emoji_hashtags(stop):
    caps = ["Loving this #FoodBlogger life!! 🍕 https://x.co/abc @chef_bob #makeupartist Café",
            "makeup artist makeup food blogger " * 3, None, "", "🍕🍕 @a #b"]
    toks = CaptionCleaner(stop, segment_min_count=2).clean_all(caps)
    first = toks[0]
    assert "food" in first and "blogger" in first  # camelCase split
    assert "makeup" in first and "artist" in first  # known-word segmentation of #makeupartist
    assert "cafe" in first and "loving" in first
    assert not any(t.startswith(("http", "chef", "bob", "x")) for t in first)
    assert "this" not in first  # stop word
    assert toks[2] == [] and toks[3] == [] and toks[4] == []


def test_segment_word_only_splits_into_known_words():
    logp = {"food": -2.0, "blogger": -3.0, "foo": -5.0}
    assert segment_word("foodblogger", logp) == ["food", "blogger"]
    assert segment_word("xyzqwerty", logp) == ["xyzqwerty"]


def _docs():
    food = "cake pizza pasta dessert chocolate burger recipe kitchen".split()
    beauty = "lipstick mascara skincare serum eyeshadow blush makeup palette".split()
    rng = np.random.default_rng(0)
    docs = []
    for i in range(20):
        vocab = food if i % 2 == 0 else beauty
        docs.append(list(rng.choice(vocab, 40)))
    return docs


def test_fit_topics_fixed_k_separates_themes():
    docs = _docs() + [[]]
    res = fit_topics(docs, TopicSettings(num_topics=2, passes=10, seed=0, min_df=1))
    assert res.values.shape == (21, 2)
    assert res.mask.tolist() == [True] * 20 + [False]  # empty document masked
    np.testing.assert_allclose(res.values[:20].sum(axis=1), 1.0, rtol=1e-5)
    assert not res.values[20].any()
    food_topic = res.values[0::2, :].mean(axis=0).argmax()
    assert res.values[1::2, food_topic].mean() < 0.5 < res.values[0::2, food_topic].mean()


def test_fit_topics_auto_records_curve_and_is_deterministic():
    s = TopicSettings(candidates=(2, 3, 4), passes=2, select_passes=1, min_df=1, seed=3)
    a = fit_topics(_docs(), s)
    b = fit_topics(_docs(), s)
    curve = a.meta["selection_curve"]
    assert [c["k"] for c in curve] == [2, 3, 4]
    assert all(c["perplexity"] > 0 and np.isfinite(c["coherence_npmi"]) for c in curve)
    assert a.meta["num_topics"] in [c["k"] for c in curve if c["adequate"]]
    assert max(c["gain"] for c in curve) == 1.0
    assert a.meta["num_topics"] in (2, 3, 4)
    np.testing.assert_array_equal(a.values, b.values)


def _lda_corpus(k_true: int, n_docs: int, seed: int) -> list[list[str]]:
    """Documents drawn from LDA's generative process with ``k_true`` topics, each owning 40 words."""
    rng = np.random.default_rng(seed)
    vocab = [f"w{t}x{j}" for t in range(k_true) for j in range(40)]
    beta = np.full((k_true, len(vocab)), 0.05 / len(vocab))
    for t in range(k_true):
        beta[t, t * 40:(t + 1) * 40] += 0.95 / 40
    beta /= beta.sum(axis=1, keepdims=True)
    docs = []
    for _ in range(n_docs):
        theta = rng.dirichlet(np.full(k_true, 0.2))
        z = rng.choice(k_true, size=80, p=theta)
        docs.append([vocab[rng.choice(len(vocab), p=beta[t])] for t in z])
    return docs


@pytest.mark.parametrize("k_true", [4, 8])
def test_topic_number_choice_finds_the_generating_k(k_true):
    """A corpus drawn from LDA with a known K: held-out completion and NPMI coherence pick it, where a
    min-max blend of bound perplexity and c_v coherence went to the ends of the range."""
    from gensim.corpora import Dictionary

    docs = _lda_corpus(k_true, 500, seed=k_true)
    dictionary = Dictionary(docs)
    settings = TopicSettings(candidates=(2, 4, 8, 12, 16), select_docs=400, select_heldout=100,
                             iterations=100, workers=1, seed=0)
    k, curve = select_num_topics(docs, dictionary, settings)
    assert k == k_true
    by_k = {c["k"]: c for c in curve}
    assert by_k[2]["completion"] < by_k[k_true]["completion"] and not by_k[2]["adequate"]  # too few: worse
    assert by_k[k_true]["coherence_npmi"] == max(c["coherence_npmi"] for c in curve if c["adequate"])


def test_fit_topics_needs_two_documents():
    with pytest.raises(FeatureError, match="at least 2"):
        fit_topics([["cake"], [], []], TopicSettings(num_topics=2))
