"""Concept representation of accounts (CAMERA, Wang et al., IEEE TMM 2021; baselines-spec sec. 3.2-3.4).

CAMERA describes an account by concepts: a profile pi over a concept vocabulary, concept
embeddings E (COSMIC, learned from concept-annotated images), the "historical activities" vector
h = sum_k pi_k E_k and the "marketing direction" C = the embeddings of the account's top concepts.
Neither the 420-concept generator nor COSMIC's embeddings are available, so (our choice):

- concepts are the components of the distribution-valued feature views (``concept_views``:
  the LDA topics of ``content_text`` and the 1,000 object + 365 scene classes of
  ``content_visual``); an account's profile pi is the mean over its present concept views of the
  view row clipped at 0 and normalised to sum 1 (pi sums to 1 over the concatenated vocabulary);
- E (n_concepts, e) is fitted without labels on the TRAINING accounts: the truncated SVD of the
  positive PMI of concept co-occurrence (P^T P over their profiles P), E = U_e sqrt(S_e), then
  z-scored per dimension over the concepts (COSMIC's last step); e = min(size, n_concepts).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from brandmatch.features.store import FeatureSet


def concept_profiles(features: FeatureSet, ids: Sequence[str], views: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """pi (n, sum of view dims) float32 summing to 1 where any concept view is present; present (n,) bool."""
    parts, count = [], np.zeros(len(ids))
    for v in views:
        values, mask = features[v].lookup(list(ids))
        x = np.clip(values.astype(np.float64), 0.0, None) * mask[:, None]
        total = x.sum(axis=1, keepdims=True)
        ok = mask & (total[:, 0] > 0)
        parts.append(np.where(ok[:, None], x / np.where(total > 0, total, 1.0), 0.0))
        count += ok
    pi = np.concatenate(parts, axis=1) / np.maximum(count, 1)[:, None]
    return pi.astype(np.float32), count > 0


def concept_embeddings(profiles: np.ndarray, size: int) -> np.ndarray:
    """E (n_concepts, min(size, n_concepts)) float32 from training profiles (n, n_concepts): PPMI + SVD, z-scored."""
    p = profiles.astype(np.float64)
    co = p.T @ p
    total = co.sum()
    row = co.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(co * total / np.outer(row, row))
    ppmi = np.where(np.isfinite(pmi) & (pmi > 0), pmi, 0.0)
    u, s, _ = np.linalg.svd(ppmi, hermitian=True)
    e = min(size, p.shape[1])
    emb = u[:, :e] * np.sqrt(np.abs(s[:e]))
    std = emb.std(axis=0)
    emb = (emb - emb.mean(axis=0)) / np.where(std > 1e-9, std, 1.0)
    return emb.astype(np.float32)
