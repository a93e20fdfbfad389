"""Building blocks shared by learned terms: the MLP towers of MORNING (sec. V-A)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as tf

from brandmatch.models.dropout import dropout


class MLP(nn.Module):
    """Linear layers of the given widths with LeakyReLU (sec. V-A) and dropout between layers.

    ``final_activation``: LeakyReLU after the last layer too (sigma, mu, omega, gamma: the paper
    uses leaky ReLU "as the activation function" of these MLPs; beta's output is used directly).
    ``dropout_mode``: "dropout" (dropout on hidden activations, the paper's "dropout layers")
    or "dropconnect" (dropout on the first layer's weight matrix, the reference code).
    (n, d_in) -> (n, widths[-1]).
    """

    def __init__(self, d_in: int, widths: Sequence[int], *, slope: float, dropout: float, dropout_mode: str,
                 final_activation: bool):
        super().__init__()
        dims = [d_in, *widths]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.slope, self.p, self.mode, self.final_activation = slope, dropout, dropout_mode, final_activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = len(self.layers)
        for i, layer in enumerate(self.layers):
            if i == 0 and self.mode == "dropconnect" and self.training and self.p > 0:
                x = tf.linear(x, dropout(layer.weight, self.p, True), layer.bias)
            else:
                x = layer(x)
            if i < n - 1 or self.final_activation:
                x = tf.leaky_relu(x, self.slope)
            if i < n - 1 and self.mode == "dropout" and self.p > 0:
                x = dropout(x, self.p, self.training)
        return x


def module_state(module: nn.Module | None) -> dict[str, np.ndarray]:
    """A module's parameters and buffers as numpy arrays (empty before the module exists)."""
    if module is None:
        return {}
    return {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def load_module_state(owner: str, module: nn.Module | None, state: dict[str, np.ndarray]) -> None:
    """Load arrays written by :func:`module_state` into ``module`` (built from the saved layout);
    names and shapes must match exactly (one-line ModelError otherwise). Leaves it in eval mode."""
    from brandmatch.errors import ModelError

    if module is None:
        raise ModelError(f"{owner}: load_extra_config() must come first (the saved layout builds the network)")
    own = module.state_dict()
    missing, unexpected = set(own) - set(state), set(state) - set(own)
    if missing or unexpected:
        raise ModelError(f"{owner}: weights do not match the config (missing {sorted(missing)[:3]}, "
                         f"unexpected {sorted(unexpected)[:3]})")
    for k, v in state.items():
        if tuple(own[k].shape) != tuple(np.shape(v)):
            raise ModelError(f"{owner}: weight {k!r} has shape {tuple(np.shape(v))}, the config builds "
                             f"{tuple(own[k].shape)}")
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    module.eval()
