"""Losses, one per file, one signature for ranking losses: ``loss(pos, neg, **options) -> scalar``.

- :func:`triplet_hinge` (MORNING eq. 28-30)
- :func:`global_cross_entropy` (MORNING eq. 31)
- :func:`l1_penalty` (MORNING eq. 32; takes parameters, a regulariser)
"""

from brandmatch.training.losses.global_ce import global_cross_entropy
from brandmatch.training.losses.l1 import add_l1_subgradient_, l1_penalty
from brandmatch.training.losses.triplet import triplet_hinge

RANKING_LOSSES = {"triplet": triplet_hinge, "global_ce": global_cross_entropy}

__all__ = ["triplet_hinge", "global_cross_entropy", "l1_penalty", "add_l1_subgradient_", "RANKING_LOSSES"]
