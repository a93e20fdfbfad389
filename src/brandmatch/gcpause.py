"""The cyclic garbage collector paused over a block of allocation-heavy work.

Cleaning captions and building documents allocate millions of small lists and strings that stay
alive until the block ends. With the collector on, each of its frequent young-generation passes
re-walks the objects allocated since the last one, and older passes walk the whole growing heap:
on 5,360 synthetic accounts that was about a quarter of featurize's transform CPU time, for
nothing, since these blocks create no reference cycles that need collecting before they end.
Reference counting frees everything else as usual; the collector is re-enabled afterwards (if it
was on) and runs normally from there.
"""

from __future__ import annotations

import contextlib
import gc
from typing import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """``with gc_paused(): ...``: the collector off inside, restored to its previous state after."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
