"""Losses, one per file, registered with their signature.

- pairwise: ``loss(pos, neg, **options) -> scalar``; pos / neg (n,) scores of a positive and a
  sampled negative for n brands: :func:`triplet_hinge` (MORNING eq. 28-30),
  :func:`global_cross_entropy` (eq. 31), :func:`score_difference` (reference code);
- listwise: ``loss(scores, relevance, **options) -> scalar``; scores / relevance (n, L) for n lists
  of L candidates: :func:`mir_listwise` (MIR's modified listwise loss);
- regulariser: :func:`l1_penalty` (eq. 32; takes parameters; the trainer applies its subgradient).

A loss file adds one line to :data:`LOSSES`.
"""

from dataclasses import dataclass
from typing import Callable

import torch

from brandmatch.training.losses.global_ce import global_cross_entropy
from brandmatch.training.losses.l1 import add_l1_subgradient_, l1_penalty
from brandmatch.training.losses.mir_listwise import mir_listwise
from brandmatch.training.losses.score_difference import score_difference
from brandmatch.training.losses.triplet import triplet_hinge


@dataclass(frozen=True)
class Loss:
    """A registered loss: its function and its signature ("pairwise" or "listwise")."""

    fn: Callable[..., torch.Tensor]
    signature: str


LOSSES: dict[str, Loss] = {
    "triplet": Loss(triplet_hinge, "pairwise"),
    "global_ce": Loss(global_cross_entropy, "pairwise"),
    "score_difference": Loss(score_difference, "pairwise"),
    "mir_listwise": Loss(mir_listwise, "listwise"),
}

__all__ = ["LOSSES", "Loss", "triplet_hinge", "global_cross_entropy", "score_difference", "mir_listwise", "l1_penalty",
           "add_l1_subgradient_"]
