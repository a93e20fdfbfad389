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

from brandmatch.errors import ModelError


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global RNG and torch (CPU) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def set_torch_threads(n: int | None = None) -> int:
    """Use ``n`` intra-op threads and one inter-op thread (when still possible in this process);
    returns the number used.

    The rule: ``n`` given (``brandmatch train --threads N``) -> that many (at least 1); else the
    environment variable BRANDMATCH_THREADS when set (a positive integer; anything else, e.g.
    "abc" or "0", raises :class:`~brandmatch.errors.ModelError`; an empty value counts as unset);
    else 1 thread, whatever the number of cores.

    Why 1 and not the number of usable cores: ``benchmarks/bench_threads.py`` measures training
    throughput of a MORNING-sized step per thread count on an idle machine and on a busy one
    (other processes occupying cores); results in ``benchmarks/results/threads.json`` and
    ``docs/training-threads.md``. More threads help somewhat on an idle machine and cost a
    multiple of that as soon as another process competes for a core, so 1 thread is the safe
    default. A load-dependent default (cores minus the load average) was rejected: the thread
    count changes the trained weights (same seed, different numbers) and the load average lags.
    On a machine known to be idle, ask for more threads explicitly.
    """
    if n is None:
        env = os.environ.get("BRANDMATCH_THREADS", "").strip()
        if not env:
            n = 1
        elif env.isascii() and env.isdigit() and int(env) >= 1:
            n = int(env)
        else:
            raise ModelError(f"BRANDMATCH_THREADS={env!r} is not allowed: use a positive integer (1, 2, ...) "
                             "or leave it unset for the default of 1 thread")
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
