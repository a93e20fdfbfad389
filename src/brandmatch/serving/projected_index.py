"""Top-k inner-product search when the influencer vectors do not fit in memory: candidates from
projected vectors, then an exact re-rank of the candidates from the model.

The default recipe's influencer side is 5,000-6,000 wide (two 1,365-d class histograms per
account, twice: the cosine and the profile terms). At a million influencers that is 21 GiB of
float32, more than the machine. :class:`ProjectedIndex` keeps instead, per influencer,

- ``reduced`` (n, r) float32: x projected on the top r right singular vectors V (d, r) of a seeded
  sample of the vectors, *uncentred* (the score is an inner product, not a distance:
  <q, x> = <V'q, V'x> + <q_perp, x_perp>, where q_perp and x_perp are the parts outside span(V));
- ``norms`` (n,) float64: |x| of the full vectors (for cosine lookalikes).

A search projects the query, takes the ``rerank`` best rows by projected inner product (an
:class:`~brandmatch.serving.index.InnerProductIndex`, exact or IVF, under the same filters), asks
``vectors_of(rows)`` for those rows' full vectors (the model embeds them: a few thousand rows),
and returns the top-k by exact float64 score. Every returned score is exact; a row is missed only
when its projected score is not among the ``rerank`` best: recall against an exact search is
measured, not assumed (tests/serving/test_projected_index.py, benchmarks/bench_index.py).

On disk: ``projection.npy`` (d, r), ``norms.npy``, ``manifest.json`` (kind ``projected``, shapes,
parameters, SHA-256 of both files) and the candidate index in ``candidates/`` (the projected
vectors and the ids, with its own manifest and checksums). ``vectors_of`` is not saved: whoever
loads the index binds the model (:meth:`bind`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from brandmatch.atomic import read_json, sha256_file, staged_dir, strict_json
from brandmatch.errors import ServingError
from brandmatch.serving.index import MANIFEST_FILE, InnerProductIndex, IVFParams, checked_file

PROJECTED_FORMAT_VERSION = 1
KIND = "projected"
PROJECTION_FILE = "projection.npy"
NORMS_FILE = "norms.npy"
CANDIDATES_DIR = "candidates"
#: rows embedded at a time when every full vector is needed (build, exact scans)
CHUNK_ROWS = 16_384

#: rows -> their full (len(rows), d) vectors
VectorsOf = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ProjectedParams:
    """``dim``: r, the projected width (the paper has no such step; ours); ``rerank``: candidates
    re-scored exactly per query (recall grows with it, latency too); ``candidates``: the candidate
    index over the projected vectors, ``exact`` or ``ivf``; ``sample``: rows the projection is
    fitted on; ``seed``: the sample's and the randomized SVD's seed."""

    dim: int = 256
    rerank: int = 1000
    candidates: str = "exact"
    sample: int = 20_000
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("dim", "rerank", "sample", "seed"):
            v = getattr(self, name)
            low = 0 if name == "seed" else 1
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < low:
                raise ServingError(f"projected index parameter {name} must be an integer >= {low}, got {v!r}")
        if self.candidates not in ("exact", "ivf"):
            raise ServingError(f"projected index parameter candidates must be one of exact, ivf, "
                               f"got {self.candidates!r}")


def fit_projection(sample: np.ndarray, dim: int, seed: int = 0) -> np.ndarray:
    """(d, r) orthonormal columns: the top r = min(dim, d) right singular vectors of ``sample``
    (s, d), uncentred. r = d gives the identity (no reduction)."""
    x = np.asarray(sample, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ServingError(f"projection: need a non-empty (s, d) sample, got shape {x.shape}")
    d = x.shape[1]
    r = min(int(dim), d)
    if r == d:
        return np.eye(d, dtype=np.float32)
    if r >= min(x.shape) // 2:  # a small problem: the exact SVD
        _, _, vt = np.linalg.svd(x.astype(np.float64), full_matrices=False)
    else:
        from sklearn.utils.extmath import randomized_svd

        _, _, vt = randomized_svd(x, n_components=r, n_iter=6, random_state=seed)
    v = np.zeros((d, r), dtype=np.float32)
    got = vt[:r].T
    v[:, :got.shape[1]] = got
    return np.ascontiguousarray(v)


class ProjectedIndex:
    """Projected candidates + exact re-rank. ids: (n,) str; projection: (d, r); reduced: (n, r);
    norms: (n,) full-vector norms."""

    kind = KIND

    def __init__(self, ids: Sequence[str], projection: np.ndarray, reduced: np.ndarray, norms: np.ndarray,
                 params: ProjectedParams | None = None, *, candidates: InnerProductIndex | None = None,
                 vectors_of: VectorsOf | None = None):
        self.params = params or ProjectedParams()
        self.ids = np.asarray(list(ids), dtype=str)
        p = np.ascontiguousarray(np.asarray(projection, dtype=np.float32))
        red = np.asarray(reduced, dtype=np.float32)
        nrm = np.asarray(norms, dtype=np.float64)
        n = len(self.ids)
        if p.ndim != 2 or red.shape != (n, p.shape[1]) or nrm.shape != (n,):
            raise ServingError(f"projected index: {n} ids, projection {p.shape}, reduced {red.shape}, "
                               f"norms {nrm.shape} do not agree")
        if not (np.isfinite(p).all() and np.isfinite(nrm).all()) or (nrm < 0).any():
            raise ServingError("projected index: non-finite projection or norms")
        self.projection = p
        self.norms = nrm
        if candidates is None:
            ivf = IVFParams(seed=self.params.seed) if self.params.candidates == "ivf" else None
            candidates = InnerProductIndex(self.ids, red, self.params.candidates, ivf=ivf)
        elif len(candidates) != n or candidates.dim != p.shape[1]:
            raise ServingError(f"projected index: candidate index {len(candidates)} x {candidates.dim}, "
                               f"expected {n} x {p.shape[1]}")
        self.candidates = candidates
        self._vectors_of = vectors_of

    # ------------------------------------------------------------ building
    @classmethod
    def build(cls, ids: Sequence[str], vectors_of: VectorsOf, params: ProjectedParams | None = None,
              project: Callable[[np.ndarray], Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]] | None = None
              ) -> "ProjectedIndex":
        """Fit the projection on a seeded sample of rows, then project every row.

        ``vectors_of(rows)``: full vectors of rows (the model's influencer side); ``project(P)``
        (optional: another engine) yields (rows, reduced, norms) blocks covering every row once;
        by default the rows are embedded here, ``CHUNK_ROWS`` at a time (never all at once)."""
        params = params or ProjectedParams()
        ids = np.asarray(list(ids), dtype=str)
        n = len(ids)
        if n == 0:
            raise ServingError("projected index: no influencers to index")
        rng = np.random.default_rng(params.seed)
        sample = np.sort(rng.choice(n, size=min(n, params.sample), replace=False))
        proj = fit_projection(_full(vectors_of, sample), params.dim, params.seed)
        reduced = np.zeros((n, proj.shape[1]), dtype=np.float32)
        norms = np.full(n, np.nan)
        blocks = project(proj) if project is not None else _project_blocks(vectors_of, n, proj)
        for rows, red, nrm in blocks:
            reduced[rows], norms[rows] = red, nrm
        if np.isnan(norms).any():
            raise ServingError(f"projected index: {int(np.isnan(norms).sum())} of {n} rows were not projected")
        return cls(ids, proj, reduced, norms, params, vectors_of=vectors_of)

    def bind(self, vectors_of: VectorsOf) -> "ProjectedIndex":
        """Attach the full-vector source (the model that built the index); returns self."""
        self._vectors_of = vectors_of
        return self

    # ------------------------------------------------------------ properties
    @property
    def dim(self) -> int:
        """The full (query) width d."""
        return int(self.projection.shape[0])

    @property
    def reduced(self) -> np.ndarray:
        return self.candidates.vectors

    def __len__(self) -> int:
        return len(self.ids)

    def project(self, x: np.ndarray) -> np.ndarray:
        """(m, d) -> (m, r) float32."""
        return np.asarray(x, dtype=np.float32) @ self.projection

    def vectors_of(self, rows: np.ndarray) -> np.ndarray:
        """Full vectors of ``rows`` as (len(rows), d) float32 or float64, from the bound model."""
        if self._vectors_of is None:
            raise ServingError("projected index: no model bound (bind() the model's influencer side first)")
        return _full(self._vectors_of, np.asarray(rows, dtype=np.int64))

    # ------------------------------------------------------------ search
    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows per query with exact scores: queries (q, d) -> scores (q, k) float64, rows (q, k)
        int64 (descending score, ties by lower row; -inf / -1 padding as InnerProductIndex)."""
        q = np.atleast_2d(np.asarray(queries, dtype=np.float64))
        if q.shape[1] != self.dim:
            raise ServingError(f"index: query dimension {q.shape[1]}, index dimension {self.dim}")
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise ServingError(f"k must be an integer >= 1, got {k!r}")
        fetch = min(len(self), max(int(k), self.params.rerank))
        _, cand = self.candidates.search(self.project(q), fetch, allowed)
        return self._rerank(q, cand, k, lambda rows, qi: self.vectors_of(rows).astype(np.float64) @ qi)

    def cosine_search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows by cosine to one full vector query (d,): candidates by projected inner product
        over full norms (every allowed row scanned: n x r), re-ranked by exact cosine."""
        qv = np.asarray(query, dtype=np.float64).reshape(1, -1)
        if qv.shape[1] != self.dim:
            raise ServingError(f"index: query dimension {qv.shape[1]}, index dimension {self.dim}")
        qn = float(np.linalg.norm(qv))
        approx = (self.reduced @ self.project(qv)[0]).astype(np.float64)
        approx = np.divide(approx, self.norms, out=np.zeros_like(approx), where=self.norms > 0)
        if allowed is not None:
            approx[~np.asarray(allowed, dtype=bool)] = -np.inf
        fetch = min(int(np.isfinite(approx).sum()), max(int(k), self.params.rerank))
        cand = np.argpartition(-approx, fetch - 1)[:fetch] if 0 < fetch < len(approx) else np.flatnonzero(
            np.isfinite(approx))

        def cos(rows: np.ndarray, qi: np.ndarray) -> np.ndarray:
            dots = self.vectors_of(rows).astype(np.float64) @ qi
            den = self.norms[rows] * qn
            return np.divide(dots, den, out=np.zeros_like(dots), where=den > 0)

        return self._rerank(qv, cand[None, :], k, cos)

    def exact_scores(self, query: np.ndarray) -> np.ndarray:
        """(n,) exact <query, x> for every row, embedding ``CHUNK_ROWS`` rows at a time (O(n d): for a
        rank among all candidates, not for serving top-k)."""
        qv = np.asarray(query, dtype=np.float64).reshape(-1)
        out = np.empty(len(self))
        for s in range(0, len(self), CHUNK_ROWS):
            rows = np.arange(s, min(s + CHUNK_ROWS, len(self)))
            out[rows] = self.vectors_of(rows).astype(np.float64) @ qv
        return out

    @staticmethod
    def _rerank(q: np.ndarray, cand: np.ndarray, k: int, score: Callable[[np.ndarray, np.ndarray], np.ndarray]
                ) -> tuple[np.ndarray, np.ndarray]:
        out_s = np.full((len(q), k), -np.inf)
        out_r = np.full((len(q), k), -1, dtype=np.int64)
        for i in range(len(q)):
            rows = cand[i][cand[i] >= 0]
            if len(rows) == 0:
                continue
            s = score(rows, q[i])
            order = np.lexsort((rows, -s))[:k]
            out_s[i, :len(order)], out_r[i, :len(order)] = s[order], rows[order]
        return out_s, out_r

    # ------------------------------------------------------------ disk
    def save(self, directory: str | os.PathLike) -> None:
        """Write the projection, norms, ids, candidate index and manifest atomically."""
        with staged_dir(directory) as tmp:
            for name, arr in ((PROJECTION_FILE, self.projection), (NORMS_FILE, self.norms)):
                with open(tmp / name, "wb") as f:
                    np.save(f, arr, allow_pickle=False)
            self.candidates.save(tmp / CANDIDATES_DIR)
            files = (PROJECTION_FILE, NORMS_FILE)  # the ids are the candidate index's own
            manifest = {"format_version": PROJECTED_FORMAT_VERSION, "kind": KIND, "rows": len(self),
                        "dim": self.dim, "reduced_dim": int(self.projection.shape[1]),
                        "params": vars(self.params), "sha256": {f: sha256_file(tmp / f) for f in files}}
            (tmp / MANIFEST_FILE).write_text(strict_json(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "ProjectedIndex":
        """Read what :meth:`save` wrote (checksums verified); bind the model before searching."""
        directory = Path(directory)
        mpath = directory / MANIFEST_FILE
        manifest = read_json(mpath, ServingError, "index manifest (not an index directory)")
        if manifest.get("kind") != KIND or manifest.get("format_version") != PROJECTED_FORMAT_VERSION:
            raise ServingError(f"{mpath}: not a projected index of format {PROJECTED_FORMAT_VERSION} "
                               f"(kind {manifest.get('kind')!r}, format {manifest.get('format_version')!r})")
        arrays = {}
        for name in (PROJECTION_FILE, NORMS_FILE):
            path = checked_file(directory, name, manifest)
            try:
                arrays[name] = np.load(path, allow_pickle=False)
            except (ValueError, OSError) as exc:
                raise ServingError(f"{path}: unreadable ({exc})") from None
        try:
            params = ProjectedParams(**manifest.get("params", {}))
        except TypeError as exc:
            raise ServingError(f"{mpath}: bad projected index parameters ({exc})") from None
        cands = InnerProductIndex.load(directory / CANDIDATES_DIR)
        return cls(cands.ids, arrays[PROJECTION_FILE], cands.vectors, arrays[NORMS_FILE], params,
                   candidates=cands)


def load_index(directory: str | os.PathLike) -> InnerProductIndex | ProjectedIndex:
    """Either index kind, by its manifest's ``kind``."""
    mpath = Path(directory) / MANIFEST_FILE
    manifest = read_json(mpath, ServingError, "index manifest (not an index directory)")
    if manifest.get("kind") == KIND:
        return ProjectedIndex.load(directory)
    return InnerProductIndex.load(directory)


def _full(vectors_of: VectorsOf, rows: np.ndarray) -> np.ndarray:
    """vectors_of(rows), float32 kept as it is (a chunk of 16,384 x 5,656 is 370 MB), else float64."""
    x = np.asarray(vectors_of(rows))
    if x.dtype != np.float32:
        x = x.astype(np.float64)
    if x.ndim != 2 or x.shape[0] != len(rows):
        raise ServingError(f"projected index: vectors_of gave shape {x.shape} for {len(rows)} rows")
    if not np.isfinite(x).all():
        raise ServingError("projected index: non-finite influencer vector")
    return x


def project_rows(x: np.ndarray, projection: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Full vectors x (m, d) -> (their projections (m, r) float32, their norms (m,) float64)."""
    if x.shape[1] != projection.shape[0]:
        raise ServingError(f"projection of width {projection.shape[0]} for vectors of width {x.shape[1]}")
    return x.astype(np.float32, copy=False) @ projection, np.sqrt(np.einsum("nd,nd->n", x, x, dtype=np.float64))


def _project_blocks(vectors_of: VectorsOf, n: int, proj: np.ndarray):
    for s in range(0, n, CHUNK_ROWS):
        rows = np.arange(s, min(s + CHUNK_ROWS, n))
        yield (rows, *project_rows(_full(vectors_of, rows), proj))
