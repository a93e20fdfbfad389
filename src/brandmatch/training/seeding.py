"""Full seeding of every random source a training run touches (python, numpy, torch).

Same seed -> same numbers: :func:`seed_everything` seeds the global generators; the trainer
additionally owns a ``numpy.random.Generator`` for negative sampling whose state is checkpointed.
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global RNG and torch (CPU) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def set_torch_threads(n: int | None = None) -> int:
    """Use ``n`` intra-op threads (default: BRANDMATCH_THREADS or the number of usable cores) and
    one inter-op thread (when still possible in this process)."""
    if n is None:
        env = os.environ.get("BRANDMATCH_THREADS")
        if env:
            n = int(env)
        else:
            try:
                n = len(os.sched_getaffinity(0))
            except AttributeError:  # pragma: no cover - non-Linux
                n = os.cpu_count() or 1
    n = max(1, int(n))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    if torch.get_num_interop_threads() != 1:
        try:  # the training loop runs no inter-op parallel work; settable once, before any is started
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
    return n


def rng_state() -> dict[str, Any]:
    """JSON-serialisable state of python's and numpy's global generators (torch's is a tensor)."""
    py = random.getstate()
    np_state = np.random.get_state()
    return {
        "python": [py[0], list(py[1]), py[2]],
        "numpy_global": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    s = state["numpy_global"]
    np.random.set_state((s[0], np.asarray(s[1], dtype=np.uint32), s[2], s[3], s[4]))
