"""Where the heavy per-account work runs: ``local`` (this process, the default) or ``ray``.

The engine is chosen by ``--engine local|ray`` (``featurize``, ``embed``), else by the environment
variable ``BRANDMATCH_ENGINE`` (the config key), else ``local``. Unknown names, a missing Ray, an
unreachable cluster: :class:`~brandmatch.errors.EngineError` (exit code 2, one line naming the
parameter and its allowed values).

``ray`` runs on Ray Data (the ``ray`` extra: ``pip install 'brandmatch[ray]'``):

* a cluster when ``BRANDMATCH_RAY_ADDRESS`` is set (``ray.init(address=...)``: ``host:6379``,
  ``ray://host:10001`` or ``auto``), else a local Ray started for the run with
  ``BRANDMATCH_RAY_NUM_CPUS`` CPUs (default: every CPU of the machine), dashboard off, Ray's logging
  quiet, shut down when the run ends. A Ray session the caller already started is reused (and left
  running).
* the input is cut into shards of accounts (``SHARD_ACCOUNTS`` per shard); each shard's rows of
  the accounts, posts, audience, audience posts and detections tables travel as Parquet bytes in
  one Ray Data row (:func:`shard_tables`), so workers need no shared file system (post images,
  referenced by path, do);
* :meth:`ray.data.Dataset.map_batches` runs one actor per CPU; each actor gets the driver's
  fitted state once (``ray.put`` of our own in-memory objects, never an unpickled file) and keeps
  its models (image classifier, sentence encoder) across shards;
* what comes back (numpy ``.npz`` bytes, read with ``allow_pickle=False``) is placed by shard
  position, so the result is aligned on the input accounts exactly as the local engine's.

Fitting (LDA, vocabularies, Word2Vec, node2vec) stays on the driver (features/pipeline.py);
the per-account transforms run on the workers through
:meth:`brandmatch.features.transform.FittedFeaturizer.transform`, which reproduces ``featurize``'s
vectors bit for bit for accounts of the fitted dataset (tests/features/test_engine.py checks the
two engines agree byte for byte). The model-side counterpart (batch embed / score) is
:mod:`brandmatch.serving.batch`.
"""

from __future__ import annotations

import io
import logging
import os
import socket
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from brandmatch.data.store import BLOCK_TABLES, Blocks
from brandmatch.errors import EngineError

ENGINES = ("local", "ray")
#: the config key: the engine used when no --engine is given
ENGINE_ENV = "BRANDMATCH_ENGINE"
#: a running Ray cluster to use instead of a local Ray started for the run
ADDRESS_ENV = "BRANDMATCH_RAY_ADDRESS"
#: CPUs of the local Ray started for the run (default: every CPU of the machine)
NUM_CPUS_ENV = "BRANDMATCH_RAY_NUM_CPUS"
#: accounts per shard of ``featurize --engine ray``
SHARD_ACCOUNTS = 2000
_CONNECT_TIMEOUT_S = 3.0


# ---------------------------------------------------------------------- choosing


def resolve_engine(name: str | None = None, flag: str = "--engine") -> str:
    """The engine to use: ``name`` (from ``flag``), else ``$BRANDMATCH_ENGINE``, else ``local``.

    Raises EngineError for an unknown name, or ``ray`` without Ray installed.
    """
    if name is None or not str(name).strip():
        env = os.environ.get(ENGINE_ENV, "").strip()
        if not env:
            return "local"
        name, flag = env, ENGINE_ENV
    name = str(name).strip()
    if name not in ENGINES:
        raise EngineError(f"{flag} {name!r}: unknown engine (allowed values: {', '.join(ENGINES)})")
    if name == "ray":
        require_ray(flag)
    return name


def require_ray(flag: str = "--engine") -> Any:
    """The ``ray`` module (with Ray Data), or EngineError naming the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise EngineError(f"{flag} ray: Ray is not installed ({exc}); install the extra with "
                          f"pip install 'brandmatch[ray]' (allowed values: {', '.join(ENGINES)})") from None
    return ray


def _num_cpus(num_cpus: int | None) -> int:
    if num_cpus is not None:
        return int(num_cpus)
    env = os.environ.get(NUM_CPUS_ENV, "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n < 1:
            raise EngineError(f"{NUM_CPUS_ENV}={env!r}: expected an integer >= 1 (or unset: every CPU)")
        return n
    return os.cpu_count() or 1


def _check_reachable(address: str) -> None:
    """Fail fast (seconds, not Ray's minute of retries) when ``host:port`` does not answer."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise EngineError(f"{ADDRESS_ENV}={address!r}: not a Ray address (allowed values: host:port, "
                          "ray://host:port, auto; or unset for a local Ray started for the run)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=_CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise EngineError(f"{ADDRESS_ENV}={address!r}: no Ray cluster answers there ({exc.strerror or exc}); "
                          "allowed values: the address of a running cluster (host:port, ray://host:port, auto), "
                          "or unset for a local Ray started for the run") from None


def _quiet_data() -> None:
    """No progress bars or execution banners from Ray Data (stdout stays the command's own)."""
    import warnings

    from ray.data import DataContext

    with warnings.catch_warnings():  # Ray's own context sets its deprecated fields on creation
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    for attr in ("print_on_execution_start", "enable_operator_progress_bars"):
        if hasattr(ctx, attr):
            setattr(ctx, attr, False)
    logging.getLogger("ray").setLevel(logging.WARNING)
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # not "progress bars disabled" on every run


@contextmanager
def ray_session(num_cpus: int | None = None) -> Iterator[dict]:
    """A Ray session for one run: the running one if any (left running), the cluster at
    ``$BRANDMATCH_RAY_ADDRESS``, else a local Ray (``num_cpus``, default ``$BRANDMATCH_RAY_NUM_CPUS``
    or every CPU; dashboard off; logging quiet) shut down on exit. Yields ``{"address", "cpus",
    "started"}``."""
    ray = require_ray()
    started = False
    if ray.is_initialized():
        where = "existing session"
    else:
        address = os.environ.get(ADDRESS_ENV, "").strip()
        if address:
            _check_reachable(address)
            try:
                ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
            except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError ...
                msg = " ".join(str(exc).split())[:200]
                raise EngineError(f"{ADDRESS_ENV}={address!r}: cannot connect to a Ray cluster "
                                  f"({type(exc).__name__}: {msg}); allowed values: the address of a running "
                                  "cluster (host:port, ray://host:port, auto), or unset for a local Ray") from None
            where = address
        else:
            cpus = _num_cpus(num_cpus)
            ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING,
                     log_to_driver=False)
            where = f"local Ray ({cpus} CPUs)"
        started = True
    _quiet_data()
    try:
        yield {"address": where, "cpus": cluster_cpus(), "started": started}
    finally:
        if started:
            ray.shutdown()


def session_for(engine: str):
    """:func:`ray_session` for ``ray``, a no-op context for ``local``."""
    return ray_session() if engine == "ray" else nullcontext({"address": "in process", "cpus": 1, "started": False})


def cluster_cpus() -> int:
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


#: per worker process: the payload of the current run, built once (``key`` -> worker object)
_WORKER_STATE: dict[str, Any] = {}


def _run_shard(batch: dict[str, np.ndarray], refs: list, worker: type) -> dict[str, np.ndarray]:
    """A Ray Data task: ``worker(payload)`` built once per worker process and run (the worker
    processes, and what they built, are reused from shard to shard)."""
    key = refs[0].hex()
    state = _WORKER_STATE.get(key)
    if state is None:
        import ray

        _WORKER_STATE.clear()  # one run's payload per process: the previous one is released
        _single_thread()
        try:
            payload = ray.get(refs[0])
        except Exception as exc:
            # an exception of ours, not Ray's system error: Ray Data retries those forever (a
            # worker that cannot import the payload's classes would hang the run)
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            msg = lines[-1][:200] if lines else type(exc).__name__  # the root cause's own line
            raise EngineError(f"ray engine: a worker cannot load the run's state ({msg}); "
                              "every node needs the same brandmatch and the modules of any custom classifier"
                              ) from None
        state = _WORKER_STATE[key] = worker(payload)
    return state(batch)


def map_shards(worker: type, payload: Any, rows: Sequence[dict], concurrency: int | None = None
               ) -> Iterator[dict[str, np.ndarray]]:
    """Ray Data over ``rows`` (one row per shard), one CPU per task, at most one task per CPU of the
    cluster: ``worker(payload)`` is built once per worker process (``payload`` shipped once through
    the object store) and called on each shard's row; yields the output batches (numpy dicts) in
    no particular order."""
    ray = require_ray()
    import ray.data

    _quiet_data()
    if not rows:
        return
    n = max(1, min(len(rows), concurrency or cluster_cpus()))
    refs = [ray.put(payload)]  # in a list: tasks receive the reference and get it once per process
    ds = ray.data.from_items(list(rows), override_num_blocks=len(rows))
    ds = ds.map_batches(_run_shard, fn_kwargs={"refs": refs, "worker": worker}, batch_size=1, num_cpus=1,
                        batch_format="numpy", compute=ray.data.TaskPoolStrategy(size=n))
    try:
        yield from ds.iter_batches(batch_size=None, batch_format="numpy")
    except Exception as exc:
        cause = _brandmatch_cause(exc)
        if cause is not None:  # bad input found on a worker: the same one-line error as locally
            raise cause from None
        raise


def _brandmatch_cause(exc: BaseException) -> BaseException | None:
    """The BrandmatchError a worker raised, out of Ray's wrappers (RayTaskError, UserCodeException)."""
    from brandmatch.errors import BrandmatchError

    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, BrandmatchError):
            return e
        todo.extend([e.__cause__, e.__context__, getattr(e, "cause", None)])
    # Ray Data keeps only the text of an exception raised in a task: "brandmatch.errors.<Kind>: <message>"
    import re

    from brandmatch import errors

    found = re.findall(r"brandmatch\.errors\.(\w+): ([^\n]*)", str(exc))
    if found:
        kind, message = found[-1]
        cls = getattr(errors, kind, None)
        if isinstance(cls, type) and issubclass(cls, BrandmatchError):
            return cls(message)
    return None


def _single_thread() -> None:
    """One actor per CPU: torch uses one thread in each (Ray sets OMP_NUM_THREADS=1 for numpy)."""
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


# ---------------------------------------------------------------------- featurize shards


def _to_parquet(frame: pd.DataFrame) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False), sink)
    return sink.getvalue().to_pybytes()


def _from_parquet(blob: bytes) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pq.read_table(pa.BufferReader(blob)).to_pandas()


def shard_tables(tables, shard_accounts: int = SHARD_ACCOUNTS) -> list[dict[str, bytes]]:
    """The tables cut into shards of ``shard_accounts`` consecutive accounts: per shard, Parquet
    bytes of its accounts, their posts, their audience, every post of those audience members and
    the detections of all those posts (original row order kept)."""
    if shard_accounts < 1:
        raise EngineError(f"shard size {shard_accounts}: expected an integer >= 1")
    acc = tables.accounts.reset_index(drop=True)
    n = len(acc)
    n_shards = max(1, -(-n // shard_accounts))
    shard_of = pd.Series(np.arange(n) // shard_accounts, index=acc["account_id"].astype(str).to_numpy())
    posts = tables.posts.reset_index(drop=True)
    aud = tables.audience.reset_index(drop=True)
    ap = tables.audience_posts.reset_index(drop=True)
    det = tables.detections.reset_index(drop=True)

    def groups(sh: np.ndarray) -> dict[int, np.ndarray]:
        """shard -> ascending rows, from a (rows,) array of shard numbers (-1: none)."""
        rows = np.flatnonzero(sh >= 0)
        if not len(rows):
            return {}
        order = np.argsort(sh[rows], kind="stable")
        rows, keys = rows[order], sh[rows][order]
        cuts = np.flatnonzero(np.diff(keys)) + 1
        return {int(k[0]): r for k, r in zip(np.split(keys, cuts), np.split(rows, cuts))}

    def shard_numbers(keys: pd.Series, mapping: pd.Series) -> np.ndarray:
        return keys.astype(str).map(mapping).fillna(-1).to_numpy(dtype=np.int64)

    post_rows = groups(shard_numbers(posts["account_id"], shard_of)) if len(posts) else {}
    aud_sh = shard_numbers(aud["account_id"], shard_of) if len(aud) else np.zeros(0, np.int64)
    aud_rows = groups(aud_sh)
    # audience members may follow accounts of several shards: their posts go to each of them
    pairs = pd.DataFrame({"member_id": aud["member_id"].astype(str).to_numpy(), "shard": aud_sh})
    pairs = pairs[pairs["shard"] >= 0].drop_duplicates()
    ap_pairs = pd.DataFrame({"member_id": ap["member_id"].astype(str).to_numpy(), "row": np.arange(len(ap))})
    ap_pairs = ap_pairs.merge(pairs, on="member_id", how="inner")
    ap_rows = {int(s): np.sort(g["row"].to_numpy()) for s, g in ap_pairs.groupby("shard")}
    # detections follow their posts (content and audience)
    post_pairs = [pd.DataFrame({"post_id": posts["post_id"].astype(str).to_numpy()[r], "shard": s})
                  for s, r in post_rows.items()]
    post_pairs += [pd.DataFrame({"post_id": ap["post_id"].astype(str).to_numpy()[r], "shard": s})
                   for s, r in ap_rows.items()]
    det_rows: dict[int, np.ndarray] = {}
    if len(det) and post_pairs:
        pp = pd.concat(post_pairs, ignore_index=True).drop_duplicates()
        dp = pd.DataFrame({"post_id": det["post_id"].astype(str).to_numpy(), "row": np.arange(len(det))})
        dp = dp.merge(pp, on="post_id", how="inner")
        det_rows = {int(s): np.sort(g["row"].to_numpy()) for s, g in dp.groupby("shard")}
    empty = np.zeros(0, dtype=np.int64)
    out = []
    for s in range(n_shards):
        out.append({
            "accounts": _to_parquet(acc.iloc[s * shard_accounts:(s + 1) * shard_accounts]),
            "posts": _to_parquet(posts.iloc[post_rows.get(s, empty)]),
            "audience": _to_parquet(aud.iloc[aud_rows.get(s, empty)]),
            "audience_posts": _to_parquet(ap.iloc[ap_rows.get(s, empty)]),
            "detections": _to_parquet(det.iloc[det_rows.get(s, empty)]),
        })
    return out


def _assembly(n: int, d: int, name: str, scratch: str | os.PathLike | None) -> np.ndarray:
    """(n, d) float32 zeros to place the shards' rows in: in memory, or for a view of at least
    ``MMAP_BYTES`` with a ``scratch`` directory, a memory-mapped ``.npy`` file there."""
    from brandmatch.features.store import MMAP_BYTES

    if scratch is None or n * d * 4 < MMAP_BYTES:
        return np.zeros((n, d), dtype=np.float32)
    return np.lib.format.open_memmap(Path(scratch) / f"{name}.npy", mode="w+", dtype=np.float32, shape=(n, d))


def block_runs(blocks: Blocks, shard_accounts: int) -> list[list[int]]:
    """Consecutive blocks grouped into shards of at most ``shard_accounts`` accounts (a block
    larger than that is a shard of its own)."""
    runs: list[list[int]] = []
    size = 0
    for i in range(len(blocks)):
        lo, hi = blocks.rows("accounts", i)
        if runs and size + (hi - lo) <= shard_accounts:
            runs[-1].append(i)
            size += hi - lo
        else:
            runs.append([i])
            size = hi - lo
    return runs


def tables_of(tables, account_rows: np.ndarray):
    """The part of ``tables`` about the accounts at ``account_rows`` (positions in
    ``tables.accounts``): those accounts, their posts, their audience, every post of those audience
    members and the detections of all those posts, in the original row order; no cooperations,
    splits or grids."""
    from brandmatch.data.schema import Tables, empty_table

    acc = tables.accounts.iloc[np.sort(np.asarray(account_rows, dtype=np.int64))].reset_index(drop=True)
    ids = set(acc["account_id"].astype(str))
    posts = tables.posts[tables.posts["account_id"].astype(str).isin(ids)].reset_index(drop=True)
    aud = tables.audience[tables.audience["account_id"].astype(str).isin(ids)].reset_index(drop=True)
    members = set(aud["member_id"].astype(str))
    ap = tables.audience_posts[tables.audience_posts["member_id"].astype(str).isin(members)].reset_index(drop=True)
    pids = set(posts["post_id"].astype(str)) | set(ap["post_id"].astype(str))
    det = tables.detections[tables.detections["post_id"].astype(str).isin(pids)].reset_index(drop=True)
    return Tables(acc, empty_table("cooperations"), empty_table("splits"), empty_table("grids"), posts, aud, ap, det)


def _shard_tables_from(row: dict[str, Any]):
    from brandmatch.data.schema import Tables, empty_table

    frames = {t: _from_parquet(row[t]) for t in BLOCK_TABLES}
    return Tables(frames["accounts"], empty_table("cooperations"), empty_table("splits"), empty_table("grids"),
                  frames["posts"], frames["audience"], frames["audience_posts"], frames["detections"])


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


class _FeaturizeWorker:
    """On a Ray worker: the fitted featurizer (and its image classifier) once, then shard after shard."""

    def __init__(self, state: dict) -> None:
        self.fz = state["featurizer"]
        self.root = state["images_root"]
        self.factory: Callable | None = state["classifier_factory"]
        self.use_images = bool(state["use_images"])
        self.blocks = state.get("blocks")
        self._classifier = None

    def classifier(self):
        if self._classifier is None:
            if self.factory is not None:
                self._classifier = self.factory()
            else:
                import contextlib
                import sys

                from brandmatch.features.visual import EfficientNetLite0

                with contextlib.redirect_stdout(sys.stderr):
                    self._classifier = EfficientNetLite0()
        return self._classifier

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = []
        for j in range(len(batch["shard"])):
            if "blocks" in batch:  # a shard of a dataset written in account blocks: read here
                tables = self.blocks.read([int(b) for b in str(batch["blocks"][j]).split(",")])
            else:
                tables = _shard_tables_from({t: batch[t][j] for t in BLOCK_TABLES})
            feats = self.fz.transform(tables, self.root, classifier_factory=self.classifier,
                                      use_images=self.use_images)
            arrays: dict[str, np.ndarray] = {}
            for name in feats.names():
                arrays[f"values__{name}"] = np.asarray(feats[name].values, dtype=np.float32)
                arrays[f"mask__{name}"] = np.asarray(feats[name].mask, dtype=bool)
            results.append(_npz(arrays))
        return {"shard": np.asarray(batch["shard"], dtype=np.int64), "result": np.array(results, dtype=object)}


def transform_sharded(
    featurizer, tables, images_root: str | os.PathLike | None = None, classifier_factory: Callable | None = None,
    use_images: bool = True, shard_accounts: int | None = None, engine: str = "ray",
    scratch: str | os.PathLike | None = None,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict]:
    """``featurizer.transform(tables)`` computed shard by shard: on Ray workers (``engine="ray"``;
    a session must be open: :func:`ray_session`) or in this process (``engine="local"``).
    ``tables``: in-memory :class:`~brandmatch.data.schema.Tables` (cut into shards here) or the
    dataset's :class:`~brandmatch.data.store.Blocks` (each shard read by its worker). Returns view -> (values (n, d) float32, mask (n,) bool) aligned on
    ``tables.accounts``, and run info. A view no shard produced is absent; rows of shards that did
    not produce a view are zeros, masked. ``shard_accounts`` None: ``SHARD_ACCOUNTS``, smaller for
    small inputs so that every CPU gets two shards.

    The local engine runs the very same shards one after the other (the worker class called
    directly): what ``featurize --fit-accounts`` does without Ray, so that both engines compute
    every account the same way.

    ``scratch``: a directory for the views of at least ``MMAP_BYTES`` (a million accounts' visual
    view is 5.5 GB): they are assembled in memory-mapped ``.npy`` files there, not in memory (the
    caller removes the directory once the views are written)."""
    cpus = cluster_cpus() if engine == "ray" else 1
    payload = {"featurizer": featurizer, "images_root": None if images_root is None else str(images_root),
               "classifier_factory": classifier_factory, "use_images": use_images}
    if isinstance(tables, Blocks):
        # the workers read their blocks' rows from the dataset's files (a file system they share
        # with this process); shards are runs of consecutive blocks of <= shard_accounts accounts
        n = int(tables.ends["accounts"][-1]) if len(tables) else 0
        runs = block_runs(tables, shard_accounts or SHARD_ACCOUNTS)
        starts = [int(tables.rows("accounts", r[0])[0]) for r in runs]
        payload["blocks"] = tables
        rows = [{"shard": i, "blocks": ",".join(map(str, r))} for i, r in enumerate(runs)]
        shard_accounts = max((tables.rows("accounts", r[-1])[1] - tables.rows("accounts", r[0])[0]) for r in runs) \
            if runs else 0
    else:
        n = len(tables.accounts)
        if shard_accounts is None:
            shard_accounts = max(1, min(SHARD_ACCOUNTS, -(-n // (2 * cpus))))
        shards = shard_tables(tables, shard_accounts)
        starts = [i * shard_accounts for i in range(len(shards))]
        rows = [{"shard": i, **blobs} for i, blobs in enumerate(shards)]
    values: dict[str, np.ndarray] = {}
    masks: dict[str, np.ndarray] = {}
    seen: set[int] = set()
    if engine == "ray":
        batches = map_shards(_FeaturizeWorker, payload, rows)
    else:
        worker = _FeaturizeWorker(payload)
        batches = (worker({k: [v] for k, v in row.items()}) for row in rows)
    for batch in batches:
        for s, blob in zip(np.asarray(batch["shard"]).tolist(), batch["result"]):
            start = starts[int(s)]
            seen.add(int(s))
            with np.load(io.BytesIO(bytes(blob)), allow_pickle=False) as z:
                for key in z.files:
                    kind, name = key.split("__", 1)
                    if kind != "values":
                        continue
                    v, m = z[key], z[f"mask__{name}"]
                    if name not in values:
                        values[name] = _assembly(n, v.shape[1], name, scratch)
                        masks[name] = np.zeros(n, dtype=bool)
                    values[name][start:start + len(v)] = v
                    masks[name][start:start + len(m)] = m
    missing = sorted(set(range(len(rows))) - seen)
    if missing:
        raise EngineError(f"ray engine: shard(s) {missing[:5]} returned no result")
    return {k: (values[k], masks[k]) for k in values}, {"shards": len(rows), "shard_accounts": shard_accounts,
                                                         "cpus": cpus}

