"""Signed score difference (the MORNING authors' reference code): mean(F(b, m-) - F(b, m+)).

Not in the paper; the reference code adds it with a small weight (0.001) to the raw scores.
Pairwise signature: ``loss(pos, neg) -> scalar`` with (n,) score tensors.
"""

from __future__ import annotations

import torch


def score_difference(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """mean(neg - pos) over the n pairs (lower when positives score higher)."""
    return (neg - pos).mean()
