"""Global cross-entropy on F (MORNING eq. 31): L4 = -y ln F(b, m+) - (1 - y) ln F(b, m-).

F is an unbounded sum of inner products, so the paper's formula needs a probability: the
paper-faithful reading (``mode="sigmoid"``) is binary cross-entropy on sigma(F) with label 1 for
the positive and 0 for the sampled negative: -ln sigma(F+) - ln(1 - sigma(F-)).
The authors' reference code instead took a softmax over each (positive, negative) pair of raw F
(``mode="pair_softmax"``): -ln( e^{F+} / (e^{F+} + e^{F-}) ) = softplus(F- - F+).
Signature as every ranking loss here: ``loss(pos, neg, **options) -> scalar``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as tf


def global_cross_entropy(pos: torch.Tensor, neg: torch.Tensor, *, mode: str = "sigmoid") -> torch.Tensor:
    """Mean over the n pairs of the global loss (see module docstring for ``mode``)."""
    if mode == "sigmoid":
        # -ln sigma(x) = softplus(-x); -ln(1 - sigma(x)) = softplus(x): numerically stable forms
        return (tf.softplus(-pos) + tf.softplus(neg)).mean()
    if mode == "pair_softmax":
        return tf.softplus(neg - pos).mean()
    raise ValueError(f"unknown global loss mode {mode!r} (sigmoid, pair_softmax)")
