"""Batch ``embed`` / ``score`` over every influencer, on the local engine or on Ray.

::

    vecs = embed_influencers(model, ids, engine="ray")         # (n, d) float64, rows in ``ids`` order
    s = score_influencers(model, brand_ids, ids, engine="ray") # (n_brands, n) float64
    write_vectors("vectors.parquet", ids, vecs)                # atomic; read_vectors reads it back

``local`` is ``model.embed(ids, role)`` / ``model.score(brand_ids, ids)`` in this process (what the
recommender's index build does). ``ray`` (:mod:`brandmatch.features.engine`: session, config keys)
cuts ``ids`` into shards of ``shard_size`` influencers (a multiple of the composed models' embedding
chunk, so a shard's chunks are the local run's chunks), ships the fitted model with its features
once through the object store (``ray.put`` of our in-memory model: each actor gets it once and
keeps it), and places each shard's rows back by position.

Agreement with ``local``: the same model on the same rows runs the same float32 operations; only
the matrix-multiply blocking may differ (another batch size when a shard is not chunk-aligned, one
thread per actor), so the two engines agree to ``RTOL`` = 1e-5 relative and ``ATOL`` = 1e-6
absolute (``np.allclose``; the tolerance the recommender accepts for a saved index) and, with
chunk-aligned shards, are usually the same bytes (tests/serving/test_batch.py).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from brandmatch.errors import ServingError
from brandmatch.features.engine import map_shards, ray_session, resolve_engine
from brandmatch.serving.projected_index import project_rows

#: the tolerance within which the ray engine's vectors and scores equal the local engine's
RTOL, ATOL = 1e-5, 1e-6
#: influencers per shard: 4 chunks of the composed models' embedding chunk (4096)
SHARD_INFLUENCERS = 4 * 4096


def _ids(ids: Sequence[str]) -> list[str]:
    return [str(i) for i in ids]


def embed_influencers(model, ids: Sequence[str], engine: str | None = None, role: str = "influencer",
                      shard_size: int = SHARD_INFLUENCERS) -> np.ndarray:
    """``model.embed(ids, role)`` as (n, d) float64, on ``engine`` (None: $BRANDMATCH_ENGINE, else local)."""
    engine = resolve_engine(engine)
    ids = _ids(ids)
    if role not in ("brand", "influencer"):
        raise ServingError(f"role {role!r}: allowed values: brand, influencer")
    if engine == "local":
        return _embed(model, ids, role)
    return _on_ray(model, ids, {"op": "embed", "role": role}, shard_size)


def score_influencers(model, brand_ids: Sequence[str], influencer_ids: Sequence[str], engine: str | None = None,
                      shard_size: int = SHARD_INFLUENCERS) -> np.ndarray:
    """``model.score(brand_ids, influencer_ids)`` as (n_brands, n_influencers) float64, on ``engine``
    (sharded over influencers; any Ranker, decomposing or not)."""
    engine = resolve_engine(engine)
    brands, ids = _ids(brand_ids), _ids(influencer_ids)
    if engine == "local":
        return np.asarray(model.score(brands, ids), dtype=np.float64)
    return _on_ray(model, ids, {"op": "score", "brands": brands}, shard_size).T.copy()


def split_embed(model) -> bool:
    """Whether ``model.embed`` is the concatenation of ``model.embed_parts`` in ``model.parts`` order."""
    from brandmatch.models.composed import ComposedRanker

    return isinstance(model, ComposedRanker) and type(model).embed is ComposedRanker.embed and \
        type(model).embed_parts is ComposedRanker.embed_parts


def account_vectors(model, ids: Sequence[str], role: str) -> np.ndarray:
    """``model.embed(ids, role)`` as (n, d): float32 when the model splits into parts (its parts are
    float32: no float64 copy of a large chunk), else float64."""
    if split_embed(model):
        ep = model.embed_parts(list(ids), role)
        return np.concatenate([ep[p] for p in model.parts], axis=1)
    return np.asarray(model.embed(list(ids), role), dtype=np.float64)


def project_influencers(model, ids: Sequence[str], projection: np.ndarray, engine: str | None = None,
                        shard_size: int = SHARD_INFLUENCERS):
    """Every influencer's vector projected, shard by shard, on ``engine``: yields (rows, reduced (m, r)
    float32, norms (m,) float64 of the full vectors); the full (n, d) matrix is never assembled."""
    engine = resolve_engine(engine)
    ids = _ids(ids)
    proj = np.ascontiguousarray(np.asarray(projection, dtype=np.float32))
    if shard_size < 1:
        raise ServingError(f"shard size {shard_size}: expected an integer >= 1")
    if engine == "local":
        for s in range(0, len(ids), shard_size):
            rows = np.arange(s, min(s + shard_size, len(ids)))
            yield (rows, *_project(model, ids[s:s + shard_size], proj))
        return
    shards = [{"start": s, "stop": min(s + shard_size, len(ids))} for s in range(0, len(ids), shard_size)]
    with ray_session():
        for batch in map_shards(_ModelWorker, {"model": model, "ids": ids,
                                               "task": {"op": "project", "projection": proj}}, shards):
            yield batch["row"], np.asarray(batch["value"][:, :-1], dtype=np.float32), np.asarray(batch["value"][:, -1])


def _project(model, ids: list[str], proj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    try:
        x = account_vectors(model, ids, "influencer")
    except NotImplementedError as exc:
        raise ServingError(f"model {model.name!r} cannot be embedded: {exc}") from None
    return project_rows(x, proj)


def _embed(model, ids: list[str], role: str) -> np.ndarray:
    try:
        return np.asarray(model.embed(ids, role), dtype=np.float64)
    except NotImplementedError as exc:
        raise ServingError(f"model {model.name!r} cannot be embedded: {exc}") from None


class _ModelWorker:
    """On a Ray worker: the model (with its features) once, then shard after shard of influencer ids."""

    def __init__(self, state: dict) -> None:
        self.model, self.ids, self.task = state["model"], state["ids"], state["task"]

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows, outs = [], []
        for start, stop in zip(batch["start"].tolist(), batch["stop"].tolist()):
            ids = self.ids[int(start):int(stop)]
            if self.task["op"] == "embed":
                out = _embed(self.model, ids, self.task["role"])
            elif self.task["op"] == "project":  # reduced vectors, then the full norm as a last column
                red, norms = _project(self.model, ids, self.task["projection"])
                out = np.concatenate([red.astype(np.float64), norms[:, None]], axis=1)
            else:
                out = np.asarray(self.model.score(self.task["brands"], ids), dtype=np.float64).T
            rows.append(np.arange(int(start), int(stop), dtype=np.int64))
            outs.append(out)
        return {"row": np.concatenate(rows), "value": np.concatenate(outs, axis=0)}


def _on_ray(model, ids: list[str], task: dict[str, Any], shard_size: int) -> np.ndarray:
    """Rows of ``task`` for every id (n, width), computed shard by shard on Ray actors."""
    if shard_size < 1:
        raise ServingError(f"shard size {shard_size}: expected an integer >= 1")
    n = len(ids)
    if n == 0:  # nothing to distribute: the local call gives the right (0, width) shape
        return _embed(model, ids, task["role"]) if task["op"] == "embed" else \
            np.asarray(model.score(task["brands"], ids), dtype=np.float64).T
    rows = [{"start": s, "stop": min(s + shard_size, n)} for s in range(0, n, shard_size)]
    out: np.ndarray | None = None
    filled = np.zeros(n, dtype=bool)
    with ray_session():
        for batch in map_shards(_ModelWorker, {"model": model, "ids": ids, "task": task}, rows):
            value = np.asarray(batch["value"], dtype=np.float64)
            if out is None:
                out = np.zeros((n, value.shape[1]), dtype=np.float64)
            out[batch["row"]] = value
            filled[batch["row"]] = True
    if out is None or not filled.all():
        raise ServingError(f"ray engine: {int((~filled).sum())} of {n} rows came back empty")
    return out


# ---------------------------------------------------------------------- files


def write_vectors(path: str | os.PathLike, ids: Sequence[str], vectors: np.ndarray) -> Path:
    """Parquet with ``account_id`` (string) and ``vector`` (fixed-size list of float64), written to a
    temporary file beside ``path`` and renamed (no partial file on failure)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    x = np.ascontiguousarray(np.asarray(vectors, dtype=np.float64))
    ids = _ids(ids)
    if x.ndim != 2 or x.shape[0] != len(ids):
        raise ServingError(f"{path}: {len(ids)} ids for vectors of shape {x.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)
    flat = pa.array(x.reshape(-1), type=pa.float64())
    table = pa.table({"account_id": pa.array(ids, type=pa.string()),
                      "vector": pa.FixedSizeListArray.from_arrays(flat, x.shape[1])})
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_vectors(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """What :func:`write_vectors` wrote: ids and (n, d) float64 vectors."""
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        table = pq.read_table(path)
        ids = table.column("account_id").to_pylist()
        col = table.column("vector").combine_chunks()
    except (OSError, KeyError, ValueError) as exc:
        raise ServingError(f"{path}: not a vectors file written by `brandmatch embed` ({exc})") from None
    d = col.type.list_size if len(ids) else 0
    x = np.asarray(col.flatten().to_numpy(zero_copy_only=False), dtype=np.float64).reshape(len(ids), d)
    return [str(i) for i in ids], x
