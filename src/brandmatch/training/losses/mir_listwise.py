"""MIR's modified listwise loss (Gan et al., ACM MM 2019; baselines-spec sec. 2.8, exact from the code).

For each training list of K candidates with scores s (K,) and graded labels y (K,) (the K-buckets
sampler's relevance, summing to 1 per list):

    p_j = exp(s_j) / sum_k exp(s_k),     L = - sum_lists sum_j y_j log(p_j + eps),  eps = 1e-8

ListNet's top-one cross-entropy on K-item sub-lists, summed (not averaged) over the batch in the
authors' code (``reduction="sum"``); ``"mean"`` divides by the number of lists.
Listwise signature: ``loss(scores (n, L), relevance (n, L), **options) -> scalar``.
"""

from __future__ import annotations

import torch

EPS = 1e-8


def mir_listwise(scores: torch.Tensor, relevance: torch.Tensor, *, reduction: str = "sum",
                 eps: float = EPS) -> torch.Tensor:
    """-sum_j y_j log(softmax(s)_j + eps) per list, summed (or averaged) over the n lists."""
    per_list = -(relevance * torch.log(torch.softmax(scores, dim=-1) + eps)).sum(-1)
    if reduction == "sum":
        return per_list.sum()
    if reduction == "mean":
        return per_list.mean()
    raise ValueError(f"unknown reduction {reduction!r} (sum, mean)")
