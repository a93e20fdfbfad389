"""The score-term contract: a ranker's score is a sum of terms, each an inner product of sides.

A term contributes to one or more *parts* (MORNING's views ``c``, ``au``, ``att``, or a term's
own part such as ``cat``). For every part p it maps n accounts to a brand side B_p (n, d_p) and an
influencer side M_p (n, d_p), and its score for a pair is sum_p <B_p(b), M_p(m)>. Because every
side depends on one account only, the composed ranker concatenates the sides into
``embed(b, "brand")`` and ``embed(m, "influencer")`` and ``score == embed(b) @ embed(m).T``
holds for every composition.

Life cycle (what :class:`~brandmatch.models.composed.ComposedRanker` calls):

1. ``Term(**params)``: parameters validated against ``PARAMS`` (one-line error otherwise);
2. ``prepare(ctx)`` at fit time: choose inputs from the usable layout, learn fixed state from the
   TRAINING data only (statistics, buffers), then ``build()`` the parameters;
3. ``layout()`` / ``load_layout(d)`` + ``build()`` rebuild a saved term before its weights load;
4. ``brand_side(acc)`` / ``influencer_side(acc)`` -> {part: (n, d_p)}; ``aux_loss`` optional.

A ``post_hoc`` term's part is in ``embed`` and ``score`` but not in the training path's scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn as nn

from brandmatch.data.schema import CooperationSet
from brandmatch.features.store import FeatureSet
from brandmatch.models.params import Param, resolve

#: MORNING's views (sec. IV) -> their feature views (visual first, then text)
VIEW_INPUTS: dict[str, tuple[str, ...]] = {
    "c": ("content_visual", "content_text"),  # X^p, X^t (eq. 7-9)
    "au": ("audience_visual", "audience_text"),  # Y^p, Y^t (eq. 10-12)
    "att": ("attributes",),  # mean node2vec attribute embedding (eq. 18)
}
VIEW_ORDER = ("c", "au", "att")
FEATURE_NAMES = tuple(n for v in VIEW_ORDER for n in VIEW_INPUTS[v])


def view_of(feature_name: str) -> str:
    """MORNING view of a feature view name; other names are their own part."""
    for v, names in VIEW_INPUTS.items():
        if feature_name in names:
            return v
    return feature_name


@dataclass
class Accounts:
    """n accounts as a term sees them: ids, raw rows and presence by feature-view name.

    x: name -> (n, d) float32 (zeros where absent); present: name -> (n,) bool.
    """

    ids: list[str]
    x: dict[str, torch.Tensor]
    present: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return len(self.ids)

    @staticmethod
    def concat(a: "Accounts", b: "Accounts") -> "Accounts":
        """Rows of ``a`` then rows of ``b`` (same feature views)."""
        return Accounts(a.ids + b.ids, {k: torch.cat([a.x[k], b.x[k]]) for k in a.x},
                        {k: torch.cat([a.present[k], b.present[k]]) for k in a.present})

    def select(self, rows: torch.Tensor) -> "Accounts":
        """The accounts at ``rows`` (n',) int64."""
        idx = rows.tolist()
        return Accounts([self.ids[i] for i in idx], {k: v.index_select(0, rows) for k, v in self.x.items()},
                        {k: v.index_select(0, rows) for k, v in self.present.items()})


def lookup_accounts(features: FeatureSet, ids: list[str], names: list[str]) -> Accounts:
    """Accounts for ``ids`` with the feature views ``names`` (unknown ids come back masked)."""
    x, present = {}, {}
    for n in names:
        values, mask = features[n].lookup(ids)
        x[n] = torch.from_numpy(values)
        present[n] = torch.from_numpy(mask)
    return Accounts(list(ids), x, present)


@dataclass
class FitContext:
    """What a term may learn from at fit time: TRAINING data only.

    layout: usable inputs by part (view -> {feature view: dim}), already restricted to the model's
    views; brands / influencers: the training accounts (influencers include the sampling pool);
    brand_category: brand id -> category (``AccountInfo``); train: the training cooperations.
    """

    features: FeatureSet
    layout: dict[str, dict[str, int]]
    brands: list[str]
    influencers: list[str]
    train: CooperationSet | None = None
    brand_category: dict[str, str | None] = field(default_factory=dict)


class ScoreTerm(nn.Module):
    """Base class of every term; see the module docstring for the contract."""

    kind: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    PARAMS: ClassVar[tuple[Param, ...]] = ()
    #: brand side == influencer side (the composed ranker then encodes both roles in one pass)
    symmetric: ClassVar[bool] = False
    #: fixed after ``prepare`` and left out of the training path: its part adds to the fitted
    #: model's scores, never to the scores the losses see (e.g. a correction the other terms would
    #: otherwise learn to undo)
    post_hoc: ClassVar[bool] = False

    def __init__(self, **params: Any):
        super().__init__()
        self.params: dict[str, Any] = resolve(f"term {self.kind!r}", self.PARAMS, params)
        #: part -> {feature view name: dim} this term reads (set by prepare / load_layout)
        self.inputs_: dict[str, dict[str, int]] = {}

    # ------------------------------------------------------------ life cycle
    def prepare(self, ctx: FitContext) -> None:
        """Choose inputs, learn fixed state (subclasses), build the parameters."""
        self.choose_inputs(ctx)
        self.build()

    def choose_inputs(self, ctx: FitContext) -> None:
        """``inputs_`` = the usable layout restricted to the term's ``views`` parameter (None: all)."""
        wanted = self.params.get("views")
        self.inputs_ = {p: dict(d) for p, d in ctx.layout.items() if wanted is None or p in wanted}

    def build(self) -> None:
        """Create parameters and buffers from ``inputs_`` (and any other layout state)."""

    def layout(self) -> dict[str, Any]:
        """JSON-able state that ``build`` needs to recreate the parameters' shapes."""
        return {"inputs": self.inputs_}

    def load_layout(self, layout: dict[str, Any]) -> None:
        """Restore :meth:`layout` output (JSON sorts keys: put parts and inputs back in order)."""
        self.inputs_ = ordered_layout(layout.get("inputs", {}))

    # ------------------------------------------------------------ scoring
    @property
    def parts(self) -> list[str]:
        return list(self.inputs_)

    @property
    def feature_names(self) -> list[str]:
        """The feature views the term scores with."""
        return [n for d in self.inputs_.values() for n in d]

    @property
    def required_inputs(self) -> list[str]:
        """Every feature view the sides read (a term may read more than it scores with)."""
        return self.feature_names

    def brand_side(self, acc: Accounts) -> dict[str, torch.Tensor]:
        """part -> (n, d_p) brand-side vectors."""
        raise NotImplementedError

    def influencer_side(self, acc: Accounts) -> dict[str, torch.Tensor]:
        """part -> (n, d_p) influencer-side vectors."""
        raise NotImplementedError

    def aux_loss(self, brands: Accounts, positives: Accounts) -> torch.Tensor | None:
        """An auxiliary loss on n (brand, positive influencer) rows, or None (most terms)."""
        return None


def ordered_layout(saved: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Parts in MORNING's order (others after, sorted), inputs in VIEW_INPUTS order."""
    parts = [v for v in VIEW_ORDER if v in saved] + sorted(p for p in saved if p not in VIEW_ORDER)
    out = {}
    for p in parts:
        order = [n for n in VIEW_INPUTS.get(p, ()) if n in saved[p]]
        order += sorted(n for n in saved[p] if n not in order)
        out[p] = {n: int(saved[p][n]) for n in order}
    return out


def standard_stats(features: FeatureSet, ids: list[str], names: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Mean and std (std < 1e-6 -> 1) of each input over the present rows of ``ids``: name -> ((d,), (d,))."""
    stats = {}
    for name in names:
        values, mask = features[name].lookup(ids)
        v = values[mask].astype(np.float64)
        mean = v.mean(axis=0) if len(v) else np.zeros(values.shape[1])
        std = v.std(axis=0) if len(v) else np.ones(values.shape[1])
        stats[name] = (mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32))
    return stats


class InputNorm(nn.Module):
    """Input preparation of a learned term: "none", "l2" (unit rows) or "standard" (z-scores on the
    training accounts, absent rows back to zero). Buffers ``mean_<name>``, ``std_<name>`` (d,)."""

    def __init__(self, mode: str, dims: dict[str, int]):
        super().__init__()
        self.mode = mode
        self.names = list(dims)
        if mode == "standard":
            for n, d in dims.items():
                self.register_buffer(f"mean_{n}", torch.zeros(d))
                self.register_buffer(f"std_{n}", torch.ones(d))

    def fit(self, stats: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        with torch.no_grad():
            for n in self.names:
                getattr(self, f"mean_{n}").copy_(torch.from_numpy(stats[n][0]))
                getattr(self, f"std_{n}").copy_(torch.from_numpy(stats[n][1]))

    def forward(self, acc: Accounts, name: str) -> torch.Tensor:
        """(n, d) prepared rows of input ``name``."""
        x = acc.x[name]
        if self.mode == "l2":
            return torch.nn.functional.normalize(x, dim=-1)
        if self.mode == "standard":
            z = (x - getattr(self, f"mean_{name}")) / getattr(self, f"std_{name}")
            return z * acc.present[name].unsqueeze(-1).to(z.dtype)
        return x
