"""Opt-in compiled optimizer step: the L1 subgradient and Adam's update in one pass per tensor.

The default (eager) step is ``grad += lambda * sign(w)`` (``losses/l1.py``, two memory-bound passes
over every weight matrix) followed by ``torch.optim.Adam(fused=True)`` (one more pass). With
MORNING's ~10 M parameters and the paper's batch of 16 pairs these passes cost about as much as
the batch's matrix products. :class:`CompiledAdamL1` computes the same update,

    g' = g + lambda * sign(w) (weight matrices) + weight_decay * w
    m <- m + (1 - beta1) (g' - m);  v <- beta2 v + (1 - beta2) g'^2
    w <- w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

with ``torch.compile`` (inductor: one generated C++ loop per tensor reading w, g, m, v once). It
works on the ``torch.optim.Adam`` object's own state (``step``, ``exp_avg``, ``exp_avg_sq``), so
checkpoints and resume are unchanged and a run can switch between the two paths. Results are
numerically equivalent to the eager path (float rounding differs: not bit-identical). Compiling
takes ~10-30 s once per process; when it fails (no C++ compiler, unsupported platform), training
falls back to the eager step with a warning. Off by default, never used by the tests.
"""

from __future__ import annotations

import warnings
from typing import Callable

import torch


def _adam_l1_update(params, grads, exp_avgs, exp_avg_sqs, steps, l1_flags, lr, *, beta1, beta2, eps, weight_decay,
                    lam):
    for i, (p, g, m, v, s) in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs, steps)):
        s.add_(1)
        if lam and l1_flags[i]:
            g = g + lam * torch.sign(p)
        if weight_decay:
            g = g + weight_decay * p
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        bc1 = 1 - torch.pow(beta1, s)
        bc2 = 1 - torch.pow(beta2, s)
        p.sub_((lr / bc1) * m / (v.sqrt() / bc2.sqrt() + eps))


_COMPILED: Callable | None = None


def _compiled() -> Callable:
    global _COMPILED
    if _COMPILED is None:
        _COMPILED = torch.compile(_adam_l1_update, dynamic=False, fullgraph=True)
    return _COMPILED


class CompiledAdamL1:
    """``step(lam)``: L1 subgradient + Adam update of ``optimizer`` (one param group) in one compiled pass.

    ``lam`` applies to the weight matrices (``dim >= 2``), as :func:`add_l1_subgradient_`.
    Parameters without a gradient in a step make that step fall back to the eager path.
    """

    def __init__(self, optimizer: torch.optim.Adam, lam: float):
        if len(optimizer.param_groups) != 1:
            raise ValueError("CompiledAdamL1 supports one parameter group")
        group = optimizer.param_groups[0]
        if group.get("amsgrad") or group.get("maximize") or group.get("decoupled_weight_decay"):
            raise ValueError("CompiledAdamL1 supports plain Adam only")
        self.optimizer = optimizer
        self.lam = float(lam)
        self.params: list[torch.nn.Parameter] = list(group["params"])
        self.l1_flags = tuple(p.dim() >= 2 for p in self.params)
        self.lr = torch.zeros((), dtype=torch.float32)
        self.failed = False

    def _state(self):
        ms, vs, steps = [], [], []
        for p in self.params:
            st = self.optimizer.state[p]
            if not st:  # as torch.optim.Adam(fused=True) initialises it
                st["step"] = torch.zeros((), dtype=torch.float32)
                st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            ms.append(st["exp_avg"])
            vs.append(st["exp_avg_sq"])
            steps.append(st["step"])
        return ms, vs, steps

    def _eager(self) -> None:
        from brandmatch.training.losses.l1 import add_l1_subgradient_

        if self.lam:
            add_l1_subgradient_(self.params, self.lam)
        self.optimizer.step()

    @torch.no_grad()
    def step(self) -> None:
        group = self.optimizer.param_groups[0]
        if self.failed or any(p.grad is None for p in self.params):
            self._eager()
            return
        self.lr.fill_(group["lr"])
        ms, vs, steps = self._state()
        try:
            beta1, beta2 = group["betas"]
            _compiled()(self.params, [p.grad for p in self.params], ms, vs, steps, self.l1_flags, self.lr,
                        beta1=float(beta1), beta2=float(beta2), eps=float(group["eps"]),
                        weight_decay=float(group["weight_decay"]), lam=self.lam)
        except Exception as exc:  # compilation fails before anything is updated
            warnings.warn(f"compiled optimizer step unavailable ({type(exc).__name__}: {exc}); using the eager step",
                          RuntimeWarning, stacklevel=2)
            self.failed = True
            self._eager()
