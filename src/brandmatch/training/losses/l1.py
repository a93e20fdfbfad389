"""L1 regularisation over all weights (MORNING eq. 32: lambda * ||theta||_1, lambda = 0.001).

Not a ranking loss (it takes parameters, not scores): ``l1_penalty(parameters, lam)``.
"Weights" are the weight matrices (tensors with >= 2 dimensions); biases are left out, as is usual
for weight regularisers (``include_biases=True`` adds them).
"""

from __future__ import annotations

from typing import Iterable

import torch


def l1_penalty(parameters: Iterable[torch.nn.Parameter], lam: float = 0.001, *, include_biases: bool = False) -> torch.Tensor:
    """lam * sum |w| over the given parameters (matrices only unless ``include_biases``)."""
    total: torch.Tensor | None = None
    for p in parameters:
        if not p.requires_grad or (p.dim() < 2 and not include_biases):
            continue
        s = p.abs().sum()
        total = s if total is None else total + s
    if total is None:
        return torch.zeros(())
    return lam * total


@torch.no_grad()
def add_l1_subgradient_(parameters: Iterable[torch.nn.Parameter], lam: float = 0.001, *,
                        include_biases: bool = False) -> None:
    """Add the gradient of :func:`l1_penalty` (lam * sign(w), 0 at w = 0) to ``p.grad`` in place.

    Same update as back-propagating the penalty, without building its graph every step.
    """
    ps = [p for p in parameters
          if p.grad is not None and p.requires_grad and (p.dim() >= 2 or include_biases)]
    if ps:
        torch._foreach_add_([p.grad for p in ps], torch._foreach_sign(ps), alpha=lam)
