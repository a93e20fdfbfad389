"""Samplers: what one epoch of training batches is made of.

Every sampler follows :class:`Sampler`: ``brands`` / ``influencers`` (the account lists batches
index into) and ``epoch(rng, batch_size) -> list of batches``; a batch has ``brands`` (n,) and
``candidates`` (n, L) rows, column 0 a positive. Pair samplers (L = 2: a positive and one sampled
negative) serve pairwise losses; list samplers (with a ``relevance`` (n, L) array) serve
listwise ones.

Negative samplers: one sampled negative influencer per training (brand, positive) pair.

MORNING (sec. IV-E): "random sampling is used to get the same amount of micro-influencers m_y"
-> :class:`UniformNegativeSampler` draws uniformly from the training influencer pool, never one
of the brand's partners. :class:`CategoryNegativeSampler` (an option, not in the paper) draws a
share of "hard" negatives among influencers that cooperated (in the TRAINING data only, as given
by ``AccountInfo.influencer_categories``) with brands of the brand's category.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Protocol, Sequence

import numpy as np

from brandmatch.data.schema import CooperationSet


@dataclass
class PairBatch:
    """Index triplets into the sampler's account lists: brands (n,), positives (n,), negatives (n,)."""

    brands: np.ndarray
    positives: np.ndarray
    negatives: np.ndarray

    def __len__(self) -> int:
        return len(self.brands)

    @property
    def candidates(self) -> np.ndarray:
        """(n, 2) rows: the positive, then the negative."""
        return np.stack([self.positives, self.negatives], axis=1)


class Batch(Protocol):
    brands: np.ndarray

    @property
    def candidates(self) -> np.ndarray: ...

    def __len__(self) -> int: ...


class Sampler(Protocol):
    """What the trainer needs from a sampler."""

    brands: list[str]
    influencers: list[str]

    def epoch(self, rng: np.random.Generator, batch_size: int) -> Sequence[Batch]: ...


class UniformNegativeSampler:
    """Uniform negatives from ``pool`` excluding each brand's partners (vectorised rejection).

    ``brands`` / ``influencers`` are the account lists the index arrays refer to; the pool is a
    subset of ``influencers`` (default: all of them).
    """

    def __init__(self, train: CooperationSet, pool: Sequence[str] | None = None):
        self.brands: list[str] = train.brands
        pool_list = list(dict.fromkeys(pool)) if pool is not None else []
        self.influencers: list[str] = list(dict.fromkeys(list(train.influencers) + pool_list))
        b_index = {b: i for i, b in enumerate(self.brands)}
        m_index = {m: j for j, m in enumerate(self.influencers)}
        self.pair_brand = np.array([b_index[b] for b in train.brand_ids.tolist()], dtype=np.int64)
        self.pair_pos = np.array([m_index[m] for m in train.influencer_ids.tolist()], dtype=np.int64)
        self.pool = np.array([m_index[m] for m in (pool_list or self.influencers)], dtype=np.int64)
        # partner matrix (n_brands, n_influencers) for O(1) exclusion checks
        self.partner = np.zeros((len(self.brands), len(self.influencers)), dtype=bool)
        self.partner[self.pair_brand, self.pair_pos] = True
        free = (~self.partner[:, self.pool]).sum(axis=1)
        if (free == 0).any():
            bad = self.brands[int(np.flatnonzero(free == 0)[0])]
            from brandmatch.errors import ModelError

            raise ModelError(f"brand {bad!r} cooperated with every influencer of the pool: no negative to sample")

    def __len__(self) -> int:
        return len(self.pair_brand)

    def _uniform(self, brands: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = self.pool[rng.integers(0, len(self.pool), size=len(brands))]
        bad = self.partner[brands, out]
        while bad.any():
            out[bad] = self.pool[rng.integers(0, len(self.pool), size=int(bad.sum()))]
            bad = self.partner[brands, out]
        return out

    def negatives(self, brands: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One negative influencer index per brand index; never a partner of that brand."""
        return self._uniform(brands, rng)

    def epoch(self, rng: np.random.Generator, batch_size: int) -> list[PairBatch]:
        """All training pairs in a fresh random order, each with a fresh negative, in batches."""
        order = rng.permutation(len(self.pair_brand))
        b = self.pair_brand[order]
        p = self.pair_pos[order]
        n = self.negatives(b, rng)
        return [PairBatch(b[i : i + batch_size], p[i : i + batch_size], n[i : i + batch_size])
                for i in range(0, len(order), batch_size)]


class CategoryNegativeSampler(UniformNegativeSampler):
    """A share ``hard_fraction`` of negatives from the brand's own category (option, not in the paper).

    Same-category influencers are those that cooperated with a training brand of that category
    (``influencer_categories`` must be built from training cooperations only). Falls back to a
    uniform draw when the category has no non-partner influencer.
    """

    def __init__(
        self,
        train: CooperationSet,
        brand_category: Mapping[str, str | None],
        influencer_categories: Mapping[str, frozenset[str]],
        pool: Sequence[str] | None = None,
        hard_fraction: float = 0.5,
    ):
        super().__init__(train, pool)
        self.hard_fraction = float(hard_fraction)
        cats = sorted({c for c in brand_category.values() if c is not None})
        c_index = {c: i for i, c in enumerate(cats)}
        self.brand_cat = np.array([c_index.get(brand_category.get(b), -1) if brand_category.get(b) is not None else -1
                                   for b in self.brands], dtype=np.int64)
        pool_set = set(self.pool.tolist())
        self.cat_members: list[np.ndarray] = []
        for c in cats:
            members = [j for j, m in enumerate(self.influencers)
                       if j in pool_set and c in influencer_categories.get(m, frozenset())]
            self.cat_members.append(np.array(members, dtype=np.int64))

    def negatives(self, brands: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = self._uniform(brands, rng)
        hard = rng.random(len(brands)) < self.hard_fraction
        for i in np.flatnonzero(hard):
            c = self.brand_cat[brands[i]]
            if c < 0 or len(self.cat_members[c]) == 0:
                continue
            members = self.cat_members[c]
            for _ in range(20):
                cand = members[rng.integers(0, len(members))]
                if not self.partner[brands[i], cand]:
                    out[i] = cand
                    break
        return out


@dataclass
class ListBatch:
    """n training lists: brands (n,), candidates (n, L) influencer rows, relevance (n, L) labels
    (graded or binary; column 0 holds a positive)."""

    brands: np.ndarray
    candidates: np.ndarray
    relevance: np.ndarray

    def __len__(self) -> int:
        return len(self.brands)


def _uniform(train: CooperationSet, pool: Sequence[str] | None, brand_category: Mapping[str, str | None],
             influencer_categories: Mapping[str, frozenset[str]], **options: float) -> UniformNegativeSampler:
    return UniformNegativeSampler(train, pool)


def _category(train: CooperationSet, pool: Sequence[str] | None, brand_category: Mapping[str, str | None],
              influencer_categories: Mapping[str, frozenset[str]], hard_fraction: float = 0.5,
              **options: float) -> CategoryNegativeSampler:
    return CategoryNegativeSampler(train, brand_category, influencer_categories, pool, hard_fraction)


#: sampler name -> factory(train, pool, brand_category, influencer_categories, **options); a new
#: sampler (e.g. MIR's K-buckets lists) is one class plus one line here
SAMPLERS: dict[str, Callable[..., Sampler]] = {"uniform": _uniform, "category": _category}


def make_sampler(
    kind: str,
    train: CooperationSet,
    pool: Sequence[str] | None = None,
    brand_category: Mapping[str, str | None] | None = None,
    influencer_categories: Mapping[str, frozenset[str]] | None = None,
    **options: float,
) -> Sampler:
    """The registered sampler ``kind``: 'uniform' (the paper), 'category' (same-category hard negatives), ..."""
    if kind not in SAMPLERS:
        from brandmatch.errors import ModelError

        raise ModelError(f"unknown sampler {kind!r} (allowed: {', '.join(SAMPLERS)})")
    return SAMPLERS[kind](train, pool, brand_category or {}, influencer_categories or {}, **options)
