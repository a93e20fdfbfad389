"""Samplers: what one epoch of training batches is made of.

Every sampler follows :class:`Sampler`: ``brands`` / ``influencers`` (the account lists batches
index into) and ``epoch(rng, batch_size) -> list of batches``; a batch has ``brands`` (n,) and
``candidates`` (n, L) rows, column 0 a positive. Pair samplers (L = 2: a positive and one sampled
negative) serve pairwise losses; list samplers (with a ``relevance`` (n, L) array) serve
listwise ones (:class:`KBucketsSampler`: MIR's K-buckets lists with graded competence labels).

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


class KBucketsSampler(UniformNegativeSampler):
    """MIR's K-buckets lists (Gan et al., ACM MM 2019; baselines-spec sec. 2.7, reconstruction A).

    For each training brand b, its partners sorted by competence c(b, m) (descending; ties by
    first appearance) are cut into K - 1 contiguous buckets of near-equal size (``np.array_split``:
    the first buckets take the remainder); bucket K holds the non-partners of b (uniform draws
    from the pool). A list is one draw from each bucket, in bucket order, so column 0 is a partner
    from the most competent bucket and the last column a negative. A brand with fewer than K - 1
    partners has one partner per bucket and its empty buckets are filled with further negatives.
    Every epoch draws ``lists_per_positive`` lists per training pair (with replacement), shuffled.

    ``construction="one_positive"`` (the spec's reconstruction B) uses one bucket of all partners:
    a list is one partner and K - 1 non-partners, with labels (1, 0, ..., 0).
    Relevance (n, K), each list summing to 1: ``labels="competence"`` y_j = c_j / sum_k c_k with
    c = 0 for negatives (all partners equal when their competences sum to 0); ``"grade"``
    y_j proportional to K - j (j = 1..K the bucket). Competence is ``train.scores``; missing values
    take the median of the brand's known scores (1 when none is known, or without scores).
    """

    def __init__(self, train: CooperationSet, pool: Sequence[str] | None = None, k: int = 4,
                 lists_per_positive: int = 5, labels: str = "competence", construction: str = "buckets"):
        from brandmatch.errors import ModelError

        if not isinstance(k, int) or isinstance(k, bool) or k < 2:
            raise ModelError(f"k_buckets sampler: parameter 'k' = {k!r} is not allowed (allowed: an integer >= 2)")
        if not isinstance(lists_per_positive, int) or isinstance(lists_per_positive, bool) or lists_per_positive < 1:
            raise ModelError(f"k_buckets sampler: parameter 'lists_per_positive' = {lists_per_positive!r} is not "
                             f"allowed (allowed: an integer >= 1)")
        if labels not in ("competence", "grade"):
            raise ModelError(f"k_buckets sampler: parameter 'labels' = {labels!r} is not allowed "
                             f"(allowed: one of competence, grade)")
        if construction not in ("buckets", "one_positive"):
            raise ModelError(f"k_buckets sampler: parameter 'construction' = {construction!r} is not allowed "
                             f"(allowed: one of buckets, one_positive)")
        super().__init__(train, pool)
        self.k, self.lists_per_positive, self.labels = k, lists_per_positive, labels
        scores = np.full(len(train), np.nan) if train.scores is None else np.asarray(train.scores, dtype=np.float64)
        n_buckets = k - 1 if construction == "buckets" else 1
        #: per brand index: list of K - 1 (or 1) arrays of (influencer row, competence), most competent first
        self.buckets: list[list[tuple[np.ndarray, np.ndarray]]] = []
        for bi in range(len(self.brands)):
            rows = np.flatnonzero(self.pair_brand == bi)
            c = scores[rows]
            known = np.isfinite(c)
            c = np.where(known, c, np.median(c[known]) if known.any() else 1.0)
            order = np.argsort(-c, kind="stable")
            members, comp = self.pair_pos[rows][order], c[order]
            self.buckets.append([(members[ix], comp[ix])
                                 for ix in np.array_split(np.arange(len(members)), min(n_buckets, len(members)))])

    def lists(self, brand: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n lists of brand index ``brand``: candidates (n, K) influencer rows, relevance (n, K)."""
        k = self.k
        cands = np.empty((n, k), dtype=np.int64)
        comp = np.zeros((n, k))
        filled = len(self.buckets[brand])
        for j, (members, c) in enumerate(self.buckets[brand]):
            pick = rng.integers(0, len(members), size=n)
            cands[:, j], comp[:, j] = members[pick], c[pick]
        for j in range(filled, k):
            cands[:, j] = self.negatives(np.full(n, brand, dtype=np.int64), rng)
        if self.labels == "grade":
            grade = np.where(np.arange(k) < filled, k - 1 - np.arange(k), 0).astype(np.float64)
            rel = np.broadcast_to(grade / grade.sum(), (n, k)).copy()
        else:
            total = comp.sum(axis=1, keepdims=True)
            equal = np.where(np.arange(k) < filled, 1.0 / filled, 0.0)
            rel = np.where(total > 0, comp / np.where(total > 0, total, 1.0), equal)
        return cands, rel

    def epoch(self, rng: np.random.Generator, batch_size: int) -> list[ListBatch]:
        """``lists_per_positive`` lists per training pair, in a fresh random order, in batches of lists."""
        counts = np.bincount(self.pair_brand, minlength=len(self.brands)) * self.lists_per_positive
        brands, cands, rels = [], [], []
        for bi, n in enumerate(counts.tolist()):
            if n:
                c, r = self.lists(bi, n, rng)
                brands.append(np.full(n, bi, dtype=np.int64))
                cands.append(c)
                rels.append(r)
        b, c, r = np.concatenate(brands), np.concatenate(cands), np.concatenate(rels)
        order = rng.permutation(len(b))
        b, c, r = b[order], c[order], r[order]
        return [ListBatch(b[i:i + batch_size], c[i:i + batch_size], r[i:i + batch_size])
                for i in range(0, len(b), batch_size)]


def _k_buckets(train: CooperationSet, pool: Sequence[str] | None, brand_category: Mapping[str, str | None],
               influencer_categories: Mapping[str, frozenset[str]], k: int = 4, lists_per_positive: int = 5,
               labels: str = "competence", construction: str = "buckets", **options: float) -> KBucketsSampler:
    return KBucketsSampler(train, pool, k, lists_per_positive, labels, construction)


def _uniform(train: CooperationSet, pool: Sequence[str] | None, brand_category: Mapping[str, str | None],
             influencer_categories: Mapping[str, frozenset[str]], **options: float) -> UniformNegativeSampler:
    return UniformNegativeSampler(train, pool)


def _category(train: CooperationSet, pool: Sequence[str] | None, brand_category: Mapping[str, str | None],
              influencer_categories: Mapping[str, frozenset[str]], hard_fraction: float = 0.5,
              **options: float) -> CategoryNegativeSampler:
    return CategoryNegativeSampler(train, brand_category, influencer_categories, pool, hard_fraction)


#: sampler name -> factory(train, pool, brand_category, influencer_categories, **options); a new
#: sampler (e.g. MIR's K-buckets lists) is one class plus one line here
SAMPLERS: dict[str, Callable[..., Sampler]] = {"uniform": _uniform, "category": _category,
                                               "k_buckets": _k_buckets}


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
