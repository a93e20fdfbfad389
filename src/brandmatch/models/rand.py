"""RAND: a seeded random score per (brand, influencer) pair (the papers' chance baseline)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from brandmatch.models.base import Ranker, register


def _hash_ids(ids: Sequence[str], salt: int) -> np.ndarray:
    """Stable 64-bit hash of each id (independent of Python's hash randomisation): (n,) uint64."""
    import hashlib

    out = np.empty(len(ids), dtype=np.uint64)
    for i, a in enumerate(ids):
        digest = hashlib.blake2b(f"{salt}\x1f{a}".encode(), digest_size=8).digest()
        out[i] = np.frombuffer(digest, dtype=np.uint64)[0]
    return out


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


@register
class RandomRanker(Ranker):
    """Uniform scores in [0, 1) that depend only on (seed, brand, influencer), not on query order."""

    name = "rand"
    summary = "RAND: seeded random scores (chance level)"

    def __init__(self, seed: int = 0):
        self.seed = seed

    def score(self, brand_ids: Sequence[str], influencer_ids: Sequence[str]) -> np.ndarray:
        hb = _hash_ids(list(brand_ids), self.seed)
        hm = _hash_ids(list(influencer_ids), self.seed + 1)
        with np.errstate(over="ignore"):
            mixed = _splitmix64(hb[:, None] * np.uint64(0xD6E8FEB86659FD93) ^ hm[None, :])
        return (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53)
