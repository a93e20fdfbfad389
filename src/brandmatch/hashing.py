"""Stable hashing of ids: the same numbers on every machine and Python process (no hash seed)."""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, element-wise on uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def id_hashes(ids: Sequence[str] | np.ndarray, salt: int) -> np.ndarray:
    """64-bit BLAKE2b of ``f"{salt}\\x1f{id}"`` per id (little-endian): (n,) uint64."""
    out = np.empty(len(ids), dtype=np.uint64)
    for i, a in enumerate(ids):
        out[i] = int.from_bytes(hashlib.blake2b(f"{salt}\x1f{a}".encode(), digest_size=8).digest(), "little")
    return out
