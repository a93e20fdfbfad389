"""Triplet hinge loss (MORNING eq. 28-30): max(s(b, m-) - s(b, m+) + margin, 0).

Signature shared by every ranking loss in this package: ``loss(pos, neg, **options)`` with
``pos``/``neg`` (n,) score tensors of the positive and the sampled negative of n pairs; returns a
scalar tensor.
"""

from __future__ import annotations

import torch


def triplet_hinge(pos: torch.Tensor, neg: torch.Tensor, *, margin: float = 1.0, reduction: str = "mean") -> torch.Tensor:
    """Hinge on (neg - pos + margin).

    reduction: "mean" over all n triplets (the paper's batch mean), "active" = sum over triplets
    with a positive hinge divided by their number + 1e-16 (the authors' reference code),
    "sum".
    """
    h = torch.clamp(neg - pos + margin, min=0.0)
    if reduction == "mean":
        return h.mean()
    if reduction == "active":
        n_active = (h > 0).sum().to(h.dtype)
        return h.sum() / (n_active + 1e-16)
    if reduction == "sum":
        return h.sum()
    raise ValueError(f"unknown reduction {reduction!r} (mean, active, sum)")
