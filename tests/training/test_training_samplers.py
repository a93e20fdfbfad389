import numpy as np
import pytest

from brandmatch.errors import ModelError

from brandmatch.data.schema import CooperationSet
from brandmatch.training.samplers import CategoryNegativeSampler, UniformNegativeSampler, make_sampler


def _co():
    pairs = [("b0", "m0"), ("b0", "m1"), ("b0", "m2"), ("b1", "m2"), ("b1", "m3"), ("b2", "m4")]
    return CooperationSet(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))


def test_uniform_never_returns_a_partner():
    co = _co()
    s = UniformNegativeSampler(co, pool=[f"m{i}" for i in range(6)])
    rng = np.random.default_rng(0)
    partners = co.partners()
    for _ in range(200):
        for batch in s.epoch(rng, 4):
            for b, p, n in zip(batch.brands, batch.positives, batch.negatives):
                assert s.influencers[p] in partners[s.brands[b]]
                assert s.influencers[n] not in partners[s.brands[b]]
    assert sum(len(b) for b in s.epoch(rng, 4)) == len(co)


def test_uniform_covers_the_pool_and_is_seeded():
    s = UniformNegativeSampler(_co(), pool=[f"m{i}" for i in range(6)])
    brands = np.zeros(2000, dtype=np.int64)  # b0: partners m0-m2
    neg = s.negatives(brands, np.random.default_rng(1))
    assert {s.influencers[i] for i in np.unique(neg)} == {"m3", "m4", "m5"}
    again = s.negatives(brands, np.random.default_rng(1))
    np.testing.assert_array_equal(neg, again)


def test_brand_with_every_influencer_is_an_error():
    co = CooperationSet(np.array(["b0", "b0"]), np.array(["m0", "m1"]))
    with pytest.raises(ModelError):
        UniformNegativeSampler(co)


def test_category_sampler_hard_negatives_share_category_and_exclude_partners():
    co = _co()
    cats = {"b0": "food", "b1": "food", "b2": "auto"}
    inf_cats = {"m0": frozenset({"food"}), "m1": frozenset({"food"}), "m2": frozenset({"food"}),
                "m3": frozenset({"food"}), "m4": frozenset({"auto"})}
    s = make_sampler("category", co, [f"m{i}" for i in range(6)], cats, inf_cats, hard_fraction=1.0)
    assert isinstance(s, CategoryNegativeSampler)
    neg = s.negatives(np.zeros(500, dtype=np.int64), np.random.default_rng(0))
    assert {s.influencers[i] for i in neg} == {"m3"}  # the only same-category non-partner of b0
    neg1 = s.negatives(np.ones(500, dtype=np.int64), np.random.default_rng(0))
    assert not {s.influencers[i] for i in neg1} & {"m2", "m3"}
