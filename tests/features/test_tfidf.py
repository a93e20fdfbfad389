"""TF-IDF views: hand-computed vocabulary, idf and rows; the stage and its transform agree."""

from __future__ import annotations

import math

import numpy as np

from brandmatch.features.tfidf import fit_tfidf, tfidf_rows


def test_vocabulary_idf_and_rows_by_hand():
    docs = [["latte", "latte", "bean"], ["latte", "bean", "mug"], ["bean", "tyre"], ["tyre", "mug"], []]
    # df: bean 3, latte 2, mug 2, tyre 2 over n = 4 non-empty documents; max_df 0.75 -> at most 3
    vocab, idf = fit_tfidf(docs, max_terms=3, min_df=2, max_df=0.75)
    assert vocab == ["bean", "latte", "mug"]  # by document frequency, then word; capped at 3 terms
    np.testing.assert_allclose(idf, [math.log(5 / 4) + 1, math.log(5 / 3) + 1, math.log(5 / 3) + 1])
    values, mask = tfidf_rows(docs, vocab, idf)
    assert values.shape == (5, 3) and values.dtype == np.float32
    assert mask.tolist() == [True, True, True, True, False]  # the empty document is masked
    row = np.array([idf[0], (1 + math.log(2)) * idf[1], 0.0])  # sublinear tf: latte twice
    np.testing.assert_allclose(values[0], row / np.linalg.norm(row), rtol=1e-6)
    np.testing.assert_allclose(values[3], [0.0, 0.0, 1.0])  # "tyre" is not in the vocabulary: mug alone
    np.testing.assert_allclose(np.linalg.norm(values[:4], axis=1), 1.0, rtol=1e-6)
    assert not values[4].any()


def test_min_and_max_document_frequency():
    docs = [["a", "b"], ["a", "c"], ["a", "c"], ["a"]]
    vocab, _ = fit_tfidf(docs, max_terms=10, min_df=2, max_df=0.5)
    assert vocab == ["c"]  # "a" in every document (above 50%), "b" in one (below min_df)
    assert fit_tfidf([[], []])[0] == []
