"""TF-IDF text views: the captions' words without a topic bottleneck.

LDA compresses an account's captions into K topic shares; on worlds it was not tuned for, that
lost much of the captions' signal (docs/results.md and issue 12: a plain TF-IDF cosine beat the
topic cosine on captions and audiences). These views keep the words.

Documents are the same as the topic views' (the cleaned words of an account's H most recent posts,
or of its audience members' posts; :mod:`brandmatch.features.topics`). Fitted (label-free, on
every account's document, as the LDA is): the vocabulary, the ``max_terms`` words of highest
document frequency among those in at least ``min_df`` documents and at most ``max_df`` of them
(ties by word), and idf_w = ln((1 + n) / (1 + df_w)) + 1 (smoothed, as scikit-learn). An account's
row: (1 + ln tf_w) * idf_w over the vocabulary (sublinear tf), L2-normalised; an account without a
vocabulary word is masked. Shapes: values (n_accounts, n_terms) float32.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

import numpy as np

#: defaults (ours): vocabulary size, minimum document count, maximum document share
MAX_TERMS = 3000
MIN_DF = 3
MAX_DF = 0.5


def fit_tfidf(docs: Sequence[list[str]], max_terms: int = MAX_TERMS, min_df: int = MIN_DF,
              max_df: float = MAX_DF) -> tuple[list[str], np.ndarray]:
    """Vocabulary (sorted by decreasing document frequency, then word) and idf (n_terms,) float64."""
    n = sum(1 for d in docs if d)
    df = Counter(w for d in docs for w in set(d))
    limit = max_df * n
    kept = [(c, w) for w, c in df.items() if c >= min_df and c <= limit]
    kept.sort(key=lambda cw: (-cw[0], cw[1]))
    kept = kept[:max_terms]
    vocab = [w for _, w in kept]
    idf = np.array([math.log((1.0 + n) / (1.0 + c)) + 1.0 for c, _ in kept], dtype=np.float64)
    return vocab, idf


def tfidf_rows(docs: Sequence[list[str]], vocab: Sequence[str], idf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows (n_docs, n_terms) float32 and mask (n_docs,) bool for ``docs`` over a fitted vocabulary."""
    index = {w: i for i, w in enumerate(vocab)}
    values = np.zeros((len(docs), len(vocab)), dtype=np.float32)
    for r, d in enumerate(docs):
        tf = Counter(index[w] for w in d if w in index)
        if not tf:
            continue
        cols = np.fromiter(tf.keys(), dtype=np.int64, count=len(tf))
        counts = np.fromiter(tf.values(), dtype=np.float64, count=len(tf))
        row = (1.0 + np.log(counts)) * idf[cols]
        values[r, cols] = row / np.linalg.norm(row)
    mask = values.any(axis=1)
    return values, mask
