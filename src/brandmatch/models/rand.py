"""RAND: a seeded random score per (brand, influencer) pair (the papers' chance baseline)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from brandmatch.hashing import id_hashes, splitmix64
from brandmatch.models.base import Ranker, register
from brandmatch.models.params import Param, resolve


@register
class RandomRanker(Ranker):
    """Uniform scores in [0, 1) that depend only on (seed, brand, influencer), not on query order."""

    name = "rand"
    summary = "RAND: seeded random scores (chance level)"

    PARAMS = (Param("seed", 0, "int", "ours: seed of the pair hash", low=0),)

    def __init__(self, seed: int = 0):
        self.seed = resolve(self.name, self.PARAMS, {"seed": seed})["seed"]

    def score(self, brand_ids: Sequence[str], influencer_ids: Sequence[str]) -> np.ndarray:
        hb = id_hashes(list(brand_ids), self.seed)
        hm = id_hashes(list(influencer_ids), self.seed + 1)
        with np.errstate(over="ignore"):
            mixed = splitmix64(hb[:, None] * np.uint64(0xD6E8FEB86659FD93) ^ hm[None, :])
        return (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53)
