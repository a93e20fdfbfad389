"""Top-k inner-product search over per-account vectors (the influencer side of ``model.embed``).

Every servable model decomposes as F(b, m) = <embed(b, "brand"), embed(m, "influencer")>, so the
top-k influencers of a brand are a maximum-inner-product search over one vector per influencer.

- ``kind="exact"``: faiss ``IndexFlatIP`` (exhaustive, exact up to float32 rounding);
- ``kind="hnsw"``: faiss ``IndexHNSWFlat`` with the inner-product metric (approximate); parameters
  ``m`` (graph degree), ``ef_construction``, ``ef_search``. (The MIPS -> L2 augmentation
  x' = [x, sqrt(R^2 - |x|^2)] was measured too: lower recall at the same ef_search on random
  vectors, 0.69 vs 0.95 recall@100 at ef_search 128, n = 20,000, d = 64.) Building the graph is
  the slow part (tens of minutes for 10^6 vectors on one core);
- ``kind="ivf"``: faiss ``IndexIVFFlat`` with the inner-product metric (approximate): ``nlist``
  k-means cells (default ``4 sqrt(n)``, at most n / 39 so every centroid sees 39 training points),
  trained on a seeded sample of ``train_per_list * nlist`` rows; a query scans the ``nprobe`` cells
  whose centroids have the largest inner product with it. Builds in seconds at 10^6 vectors; the
  recall at a given ``nprobe`` depends on how clustered the vectors are (benchmarks/bench_index.py
  measures it against exact).

Filters (a boolean ``allowed`` mask over the rows) never cost top-k correctness: a small allowed
subset (at most ``SUBSET_ROWS`` rows or ``SUBSET_SHARE`` of the index) is searched by brute force:
one float32 product (over a CSR copy when the vectors are mostly zeros, ``SPARSE_SHARE``; no
per-query float64 copy of the collection) screens the rows, and every row that float32 rounding
could lift into the top-k (a proven bound, see :meth:`InnerProductIndex._brute`) is re-scored
exactly in float64, so the result equals a float64 scan of the subset; otherwise faiss searches the filtered subset through an ``IDSelectorBitmap``
(exact for ``exact``; HNSW over-fetches with ef_search >= the over-fetch), and a search that
comes back with fewer than min(k, allowed) rows is refilled by brute force over the subset.
Scores are always recomputed from the stored float32 vectors (float64 accumulation).

On disk an index is a directory written atomically: ``index.faiss`` (``faiss.serialize_index``
bytes), ``ids.npy`` (unicode array, no pickle) and ``manifest.json`` (kind, parameters, shapes and
the SHA-256 of both files, verified on load).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from brandmatch.atomic import read_json, sha256_file, staged_dir, strict_json
from brandmatch.errors import ServingError

INDEX_FORMAT_VERSION = 1
INDEX_FILE = "index.faiss"
IDS_FILE = "ids.npy"
MANIFEST_FILE = "manifest.json"
KINDS = ("exact", "hnsw", "ivf")
#: allowed subsets at most this many rows (or this share of the index) are brute-forced
SUBSET_ROWS = 20_000
SUBSET_SHARE = 0.02
#: vectors with at most this share of non-zero entries are also kept as a sparse (CSR) copy
SPARSE_SHARE = 0.25


@dataclass(frozen=True)
class HNSWParams:
    """HNSW graph parameters: ``m`` links per node, ``ef_construction`` / ``ef_search`` beam widths."""

    m: int = 32
    ef_construction: int = 200
    ef_search: int = 128

    def __post_init__(self) -> None:
        for name in ("m", "ef_construction", "ef_search"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ServingError(f"HNSW parameter {name} must be an integer >= 1, got {v!r}")


@dataclass(frozen=True)
class IVFParams:
    """IVF parameters: ``nlist`` cells (None: ``4 sqrt(n)``, capped at n / 39), ``nprobe`` cells
    scanned per query, ``train_per_list`` k-means training rows per cell, ``seed`` of the sample."""

    nlist: int | None = None
    nprobe: int = 64
    train_per_list: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("nlist", "nprobe", "train_per_list", "seed"):
            v = getattr(self, name)
            if v is None and name == "nlist":
                continue
            low = 0 if name == "seed" else 1
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < low:
                raise ServingError(f"IVF parameter {name} must be an integer >= {low}, got {v!r}")

    def cells(self, n: int) -> int:
        """The number of cells for ``n`` vectors (``nlist``, or the default; never above n)."""
        if self.nlist is not None:
            return max(1, min(int(self.nlist), n))
        return max(1, min(int(round(4 * np.sqrt(n))), n // 39))


def _faiss():
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss-cpu is a dependency
        raise ServingError("faiss is not installed (pip install faiss-cpu)") from None
    return faiss


def checked_file(directory: Path, name: str, manifest: dict) -> Path:
    """``directory / name``, present and matching the SHA-256 the index manifest records (ServingError)."""
    path = directory / name
    if not path.exists():
        raise ServingError(f"{path}: missing index file")
    if sha256_file(path) != manifest.get("sha256", {}).get(name):
        raise ServingError(f"{path}: checksum does not match the manifest (file changed or truncated)")
    return path


class InnerProductIndex:
    """Top-k by inner product over n item vectors.

    ids: (n,) str; vectors: (n, d) float (stored float32, C-contiguous).
    """

    def __init__(self, ids: Sequence[str], vectors: np.ndarray, kind: str = "exact",
                 hnsw: HNSWParams | None = None, *, ivf: IVFParams | None = None, _index: Any = None):
        if kind not in KINDS:
            raise ServingError(f"index kind must be one of {', '.join(KINDS)}, got {kind!r}")
        x = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
        if x.ndim != 2:
            raise ServingError(f"index vectors must be (n, d), got shape {x.shape}")
        self.ids = np.asarray(list(ids), dtype=str)
        if len(self.ids) != x.shape[0]:
            raise ServingError(f"index: {len(self.ids)} ids for {x.shape[0]} vectors")
        if not np.isfinite(x).all():
            r = int(np.argwhere(~np.isfinite(x))[0][0])
            raise ServingError(f"index: non-finite vector for id {self.ids[r]!r}")
        self.kind = kind
        self.hnsw = hnsw or HNSWParams()
        self.ivf = ivf or IVFParams()
        self.vectors = x
        self._row: dict[str, int] | None = None
        self._norms: np.ndarray | None = None
        self._csr: Any = None
        self.index = _index if _index is not None else self._build()

    # ------------------------------------------------------------ building
    def _build(self) -> Any:
        faiss = _faiss()
        d = self.dim
        if self.kind == "exact":
            index = faiss.IndexFlatIP(d)
            if len(self.vectors):
                index.add(self.vectors)
            return index
        if self.kind == "ivf":
            n = len(self.vectors)
            nlist = self.ivf.cells(max(n, 1))
            quantizer = faiss.IndexFlatIP(d)
            index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
            index.own_fields = True
            quantizer.this.disown()  # the IVF index owns (and frees) its quantizer
            index.cp.min_points_per_centroid = 1  # small collections: no "too few points" warning
            index.cp.seed = self.ivf.seed
            if n:
                m = min(n, self.ivf.train_per_list * nlist)
                sample = np.random.default_rng(self.ivf.seed).choice(n, size=m, replace=False) if m < n else None
                index.train(self.vectors if sample is None else self.vectors[np.sort(sample)])
                index.add(self.vectors)
            index.nprobe = self.ivf.nprobe
            return index
        index = faiss.IndexHNSWFlat(d, self.hnsw.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.hnsw.ef_construction
        index.hnsw.efSearch = self.hnsw.ef_search
        if len(self.vectors):
            index.add(self.vectors)
        return index

    # ------------------------------------------------------------ properties
    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def row_of(self) -> dict[str, int]:
        """id -> row."""
        if self._row is None:
            self._row = {a: i for i, a in enumerate(self.ids.tolist())}
        return self._row

    # ------------------------------------------------------------ search
    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows per query: queries (q, d) -> scores (q, k) float64, rows (q, k) int64.

        ``allowed``: (n,) bool, rows that may be returned (None: all). Fewer than k results
        (k > allowed rows) are padded with score -inf and row -1; rows come in descending score.
        """
        q = np.ascontiguousarray(np.atleast_2d(np.asarray(queries, dtype=np.float32)))
        if q.shape[1] != self.dim:
            raise ServingError(f"index: query dimension {q.shape[1]}, index dimension {self.dim}")
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise ServingError(f"k must be an integer >= 1, got {k!r}")
        n = len(self)
        if allowed is not None:
            allowed = np.asarray(allowed, dtype=bool)
            if allowed.shape != (n,):
                raise ServingError(f"index: allowed mask of shape {allowed.shape}, index has {n} rows")
        n_allowed = n if allowed is None else int(allowed.sum())
        scores = np.full((len(q), k), -np.inf)
        rows = np.full((len(q), k), -1, dtype=np.int64)
        kk = min(k, n_allowed)
        if kk == 0:
            return scores, rows
        if allowed is not None and n_allowed < n and (n_allowed <= SUBSET_ROWS or n_allowed <= SUBSET_SHARE * n):
            s, r = self._brute(q, kk, np.flatnonzero(allowed))
        else:
            s, r = self._faiss_search(q, kk, allowed if (allowed is not None and n_allowed < n) else None)
            short = (r < 0).any(axis=1)
            if short.any():  # HNSW / IVF may miss rows under a selective filter: refill by brute force
                subset = np.flatnonzero(allowed) if allowed is not None else np.arange(n)
                s[short], r[short] = self._brute(q[short], kk, subset)
        scores[:, :kk], rows[:, :kk] = s, r
        return scores, rows

    def _exact_scores(self, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """<q_i, x_rows[i, j]> in float64: q (nq, d), rows (nq, kk) valid -> (nq, kk)."""
        x = self.vectors[rows].astype(np.float64)  # (nq, kk, d)
        return np.einsum("qkd,qd->qk", x, q.astype(np.float64))

    def _sorted(self, q: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact float64 scores of ``rows`` (nq, kk) >= 0, sorted descending (ties: lower row first)."""
        s = self._exact_scores(q, rows)
        order = np.lexsort((rows, -s), axis=-1)
        return np.take_along_axis(s, order, 1), np.take_along_axis(rows, order, 1)

    @property
    def norms(self) -> np.ndarray:
        """(n,) float64 Euclidean norms of the stored float32 rows (computed once)."""
        if self._norms is None:
            self._norms = np.sqrt(np.einsum("nd,nd->n", self.vectors, self.vectors, dtype=np.float64))
        return self._norms

    @property
    def _sparse(self) -> Any:
        """A CSR copy of the vectors when at most ``SPARSE_SHARE`` of their entries are non-zero
        (else False): the float32 candidate scores then cost one sparse product (built once)."""
        if self._csr is None:
            x = self.vectors
            csr: Any = False
            if x.size and np.count_nonzero(x) <= SPARSE_SHARE * x.size:
                from scipy import sparse

                csr = sparse.csr_matrix(x)
            self._csr = csr
        return self._csr

    def _scores32(self, qc: np.ndarray, subset: np.ndarray | None) -> np.ndarray:
        """float32 <q, x> for every row (``subset`` None) or the ``subset`` rows: (nq, rows)."""
        sp = self._sparse
        if sp is not False:
            m = sp if subset is None else sp[subset]
            return np.ascontiguousarray(np.asarray(m @ qc.T, dtype=np.float32).T)
        x = self.vectors if subset is None else self.vectors[subset]
        return (x @ qc.T).T

    def _brute(self, q: np.ndarray, kk: int, subset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-kk over ``subset`` rows (sorted, ascending row ids).

        One float32 product scores the candidates (every row with the disallowed ones masked when
        the subset is a large share of the index, else the subset's rows gathered); then every row
        that float32 rounding could lift into the top-kk is re-scored exactly in float64 and the
        top-kk are sorted as :meth:`_sorted` does. The rounding bound of an inner product of length
        d in float32 is |fl(<q, x>) - <q, x>| <= gamma_d |q| |x| (any summation order, with or
        without FMA; gamma_d = d u / (1 - d u), u = 2^-24), so with T the kk-th best exact score
        among the float32 top (kk + margin), every row whose float32 score is below
        T - 2 gamma_d |q| |x| scores below T exactly and cannot be in the top-kk: the result
        is the same as scoring every subset row in float64.
        """
        n, d = self.vectors.shape
        m = len(subset)
        out_s = np.full((len(q), kk), -np.inf)
        out_r = np.full((len(q), kk), -1, dtype=np.int64)
        if m == 0 or kk == 0:
            return out_s, out_r
        full = 4 * m >= n  # score every row and mask (no gather of a large share of the index)
        if full:
            mask = np.zeros(n, dtype=bool)
            mask[subset] = True
        u = 2.0 ** -24
        gamma = 2.0 * (d + 2) * u / (1.0 - (d + 2) * u) + 1e-12  # 2x margin, plus float64 rounding
        qn = np.sqrt(np.einsum("qd,qd->q", q, q, dtype=np.float64))
        norms = self.norms
        fetch = min(m, kk + 8)
        for start in range(0, len(q), 64):  # query chunks bound the (rows, chunk) score matrix
            qc = q[start:start + 64]
            if full:
                s32 = self._scores32(qc, None)  # (chunk, n) float32
                s32[:, ~mask] = -np.inf
                cand_rows = None
            else:
                s32 = self._scores32(qc, subset)  # (chunk, m)
                cand_rows = subset
            for i in range(len(qc)):
                si = s32[i]
                if fetch < si.shape[0]:
                    top = np.argpartition(-si, fetch - 1)[:fetch]
                else:
                    top = np.arange(si.shape[0])
                if cand_rows is None:
                    top = top[mask[top]]
                rows = top if cand_rows is None else cand_rows[top]
                exact = self._exact_scores(qc[i:i + 1], rows[None, :])[0]
                t = np.partition(exact, len(exact) - min(kk, len(exact)))[len(exact) - min(kk, len(exact))]
                all_rows = np.arange(n) if cand_rows is None else cand_rows
                slack = gamma * qn[start + i] * norms[all_rows]
                near = np.flatnonzero(si.astype(np.float64) + slack >= t)
                extra = np.setdiff1d(all_rows[near], rows, assume_unique=True)
                if cand_rows is None:
                    extra = extra[mask[extra]]
                if len(extra):
                    rows = np.concatenate([rows, extra])
                    exact = np.concatenate([exact, self._exact_scores(qc[i:i + 1], extra[None, :])[0]])
                order = np.lexsort((rows, -exact))[:kk]
                out_s[start + i, :len(order)] = exact[order]
                out_r[start + i, :len(order)] = rows[order]
        return out_s, out_r

    def _faiss_search(self, q: np.ndarray, kk: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        faiss = _faiss()
        fetch = min(len(self), kk + 8)  # a margin for float32 near-ties, re-sorted exactly below
        params = None
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(self.hnsw.ef_search, fetch)
        elif self.kind == "ivf":
            params = faiss.SearchParametersIVF()
            params.nprobe = self.ivf.nprobe
        elif allowed is not None:
            params = faiss.SearchParameters()
        sel = None
        if allowed is not None:
            bits = np.packbits(allowed.astype(np.uint8), bitorder="little")
            sel = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits))
            params.sel = sel
        _, rows = self.index.search(q, fetch, params=params)
        del sel  # the selector (and ``bits`` it points into) lived through the search
        out_s = np.full((len(q), kk), -np.inf)
        out_r = np.full((len(q), kk), -1, dtype=np.int64)
        for i in range(len(q)):  # per query (not per pair): drop -1 padding, exact re-sort
            r = rows[i][rows[i] >= 0]
            if len(r) == 0:
                continue
            s, r = self._sorted(q[i:i + 1], r[None, :])
            m = min(kk, r.shape[1])
            out_s[i, :m], out_r[i, :m] = s[0, :m], r[0, :m]
        return out_s, out_r

    # ------------------------------------------------------------ disk
    def save(self, directory: str | os.PathLike) -> None:
        """Write ``index.faiss``, ``ids.npy`` and ``manifest.json`` atomically into ``directory``."""
        faiss = _faiss()
        with staged_dir(directory) as tmp:
            blob = faiss.serialize_index(self.index)
            (tmp / INDEX_FILE).write_bytes(np.asarray(blob, dtype=np.uint8).tobytes())
            with open(tmp / IDS_FILE, "wb") as f:
                np.save(f, self.ids, allow_pickle=False)
            manifest = {
                "format_version": INDEX_FORMAT_VERSION, "kind": self.kind, "rows": len(self), "dim": self.dim,
                "hnsw": vars(self.hnsw) if self.kind == "hnsw" else None,
                "ivf": {**vars(self.ivf), "nlist": int(self.index.nlist)} if self.kind == "ivf" else None,
                "sha256": {INDEX_FILE: sha256_file(tmp / INDEX_FILE), IDS_FILE: sha256_file(tmp / IDS_FILE)},
            }
            (tmp / MANIFEST_FILE).write_text(strict_json(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "InnerProductIndex":
        """Read an index written by :meth:`save`; both files must match their recorded SHA-256."""
        faiss = _faiss()
        directory = Path(directory)
        mpath = directory / MANIFEST_FILE
        manifest = read_json(mpath, ServingError, "index manifest (not an index directory)")
        if manifest.get("format_version") != INDEX_FORMAT_VERSION:
            raise ServingError(f"{mpath}: format_version {manifest.get('format_version')!r}, "
                               f"expected {INDEX_FORMAT_VERSION}")
        for name in (INDEX_FILE, IDS_FILE):
            checked_file(directory, name, manifest)
        try:
            ids = np.load(directory / IDS_FILE, allow_pickle=False)
            index = faiss.deserialize_index(np.frombuffer((directory / INDEX_FILE).read_bytes(), dtype=np.uint8))
        except (ValueError, OSError, RuntimeError) as exc:
            raise ServingError(f"{directory}: unreadable index ({exc})") from None
        kind = manifest.get("kind")
        if kind not in KINDS:
            raise ServingError(f"{mpath}: unknown index kind {kind!r}")
        expected = {"exact": faiss.IndexFlat, "hnsw": faiss.IndexHNSW, "ivf": faiss.IndexIVFFlat}[kind]
        if not isinstance(index, expected):
            raise ServingError(f"{mpath}: kind {kind!r} but index.faiss holds a {type(index).__name__}")
        if kind == "ivf":
            index.make_direct_map()  # reconstruct_n below reads rows by id
        n, d = int(index.ntotal), int(index.d)
        if n != len(ids) or n != manifest.get("rows") or d != manifest.get("dim"):
            raise ServingError(f"{directory}: index has {n} x {d}, ids {len(ids)}, manifest "
                               f"{manifest.get('rows')} x {manifest.get('dim')}")
        vectors = index.reconstruct_n(0, n) if n else np.zeros((0, index.d), np.float32)
        vectors = np.ascontiguousarray(vectors[:, :d], dtype=np.float32)
        hnsw = HNSWParams(**manifest["hnsw"]) if kind == "hnsw" and manifest.get("hnsw") else None
        try:
            ivf = IVFParams(**manifest["ivf"]) if kind == "ivf" and manifest.get("ivf") else None
        except TypeError as exc:
            raise ServingError(f"{mpath}: bad ivf parameters ({exc})") from None
        return cls(ids, vectors, kind, hnsw, ivf=ivf, _index=index)
