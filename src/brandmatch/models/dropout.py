"""Dropout with cheap masks on CPU.

``torch.nn.functional.dropout`` draws one Bernoulli number per element through a slow per-element
path on CPU: with the paper's batch of 16 (~48 account encodings of width 1024 per step) the
masks cost about as much as a third of the step's matrix products. For p = 0.5 (MORNING's
dropout, sec. V-A) every bit of a uniform random 32-bit word is an independent Bernoulli(0.5)
draw, so :func:`dropout` draws one word per 32 mask entries from torch's generator (seeded,
checkpointed and resumed with the rest of the torch RNG state) and unpacks its bits. Any other p
falls back to torch's dropout. Same distribution and the same inverted scaling (kept entries x
1 / (1 - p)); a different random stream than torch's dropout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as tf

_SHIFTS = torch.arange(32, dtype=torch.int32)


def _half_bits(shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """int32 tensor of ``shape`` with independent fair 0/1 entries: the bits of uniform int32 words."""
    n = 1
    for s in shape:
        n *= int(s)
    # every int32 value equally likely (high is exclusive); bit k of a word = (word >> k) & 1
    words = torch.randint(-(2**31), 2**31, ((n + 31) // 32,), dtype=torch.int32)
    bits = (words.unsqueeze(-1) >> _SHIFTS).bitwise_and_(1)  # (words, 32)
    return bits.reshape(-1)[:n].reshape(shape)


def bernoulli_half_mask(shape: torch.Size | tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A tensor of ``shape`` with independent entries in {0, 1}, each 1 with probability 1/2."""
    return _half_bits(shape).to(dtype)


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout of ``x`` (any shape) with drop probability ``p`` (fast path for p = 0.5)."""
    if not training or p == 0:
        return x
    if p == 0.5:
        return x.mul(_half_bits(x.shape)).mul_(2.0)  # int bits promote to x's dtype
    return tf.dropout(x, p, True)
