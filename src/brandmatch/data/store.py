"""Read and write a dataset directory: one Parquet file per table plus ``manifest.json``.

Layout::

    DATA/
      manifest.json        schema version, name, metadata, per-table row counts and sha256
      accounts.parquet  posts.parquet  audience.parquet  audience_posts.parquet
      detections.parquet  cooperations.parquet  splits.parquet  grids.parquet
      features/            precomputed feature views (see brandmatch.features.store)

Writes are atomic: everything goes to a temporary sibling directory that is renamed into place,
so a failed write leaves no partial output. Every table is validated on write and on read.
(``features/store.py`` is the one features module the data layer uses: importers of data that
ships precomputed features write them through it.)
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Collection, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from brandmatch.data.schema import (
    SCHEMA_VERSION,
    TABLES,
    CandidateGrid,
    CooperationSet,
    Tables,
    grid_from_frame,
    ordered_unique,
    validate_tables,
)
from brandmatch.atomic import clean_stale_siblings, read_json, replace_dir, sha256_file, write_json_atomic
from brandmatch.errors import DatasetError
from brandmatch.features.store import FeatureSet

MANIFEST = "manifest.json"
FEATURES_DIR = "features"


@dataclass
class Dataset:
    """A validated dataset: its tables, metadata and (lazily loaded) feature set."""

    name: str
    tables: Tables
    metadata: dict = field(default_factory=dict)
    path: Path | None = None
    _features: FeatureSet | None = field(default=None, repr=False)
    #: the tables read from ``path`` (None: all of them; see :func:`load_dataset`'s ``tables``)
    loaded: frozenset[str] | None = None

    # ------------------------------------------------------------ accessors
    @property
    def accounts(self) -> pd.DataFrame:
        return self.tables.accounts

    @property
    def features(self) -> FeatureSet:
        """Feature views stored with the dataset (empty when it has none)."""
        if self._features is None:
            fdir = self.path / FEATURES_DIR if self.path is not None else None
            if fdir is not None and (fdir / "manifest.json").exists():
                self._features = FeatureSet.load(fdir)
            else:
                self._features = FeatureSet(path=fdir)
        return self._features

    @features.setter
    def features(self, value: FeatureSet) -> None:
        self._features = value

    def ids(self, role: str) -> list[str]:
        """Account ids of one role ('brand' or 'influencer') in table order."""
        acc = self.tables.accounts
        return acc.loc[acc["role"] == role, "account_id"].tolist()

    def brands(self, split: str | None = None) -> list[str]:
        """Brand ids, optionally only those of one split (train/validation/test)."""
        if split is None:
            return self.ids("brand")
        sp = self.tables.splits
        return sp.loc[sp["split"] == split, "brand_id"].tolist()

    def influencers(self) -> list[str]:
        return self.ids("influencer")

    def brand_category(self) -> dict[str, str | None]:
        acc = self.tables.accounts
        sub = acc[acc["role"] == "brand"]
        return dict(zip(sub["account_id"].tolist(), sub["category"].tolist()))

    def influencer_categories(self) -> dict[str, frozenset[str]]:
        """Influencer -> categories of the brands it cooperated with (all cooperations).

        This is the category rule of cAUC: an influencer belongs to every category of a brand it
        cooperated with (the dataset has no other source of influencer categories).
        """
        cat = self.brand_category()
        out: dict[str, set[str]] = {}
        co = self.tables.cooperations
        for b, m in zip(co["brand_id"].tolist(), co["influencer_id"].tolist()):
            c = cat.get(b)
            if c is not None:
                out.setdefault(m, set()).add(c)
        return {m: frozenset(c) for m, c in out.items()}

    def cooperations(self, split: str | Sequence[str] | None = None) -> CooperationSet:
        """Cooperations of the brands of one split (or several, or all)."""
        co = self.tables.cooperations
        if split is not None:
            splits = [split] if isinstance(split, str) else list(split)
            brands = set(self.tables.splits.loc[self.tables.splits["split"].isin(splits), "brand_id"])
            co = co[co["brand_id"].isin(brands)]
        return CooperationSet.from_frame(co)

    def grid_names(self) -> list[str]:
        return ordered_unique(self.tables.grids["grid"].tolist())

    def grid(self, name: str = "test") -> CandidateGrid:
        return grid_from_frame(self.tables.grids, name, self._source("grids"))

    def _source(self, table: str) -> str:
        return str(self.path / f"{table}.parquet") if self.path is not None else table

    def summary(self) -> dict:
        """Counts for `brandmatch info`: tables, feature views, splits, grids."""
        t = self.tables
        splits = t.splits["split"].value_counts().to_dict()
        grids = {}
        for g in self.grid_names():
            grid = self.grid(g)
            grids[g] = {
                "brands": int(len(grid.brand_ids)),
                "candidates": int(len(grid.influencer_ids)),
                "positives": grid.n_positives,
            }
        feats = {}
        for name in self.features.names():
            v = self.features[name]
            feats[name] = {"rows": int(len(v.ids)), "dim": v.dim, "present": int(v.mask.sum())}
        return {
            "name": self.name,
            "path": str(self.path) if self.path else None,
            "schema_version": SCHEMA_VERSION,
            "tables": {name: int(len(frame)) for name, frame in t.items()},
            "roles": t.accounts["role"].value_counts().to_dict(),
            "splits": {k: int(v) for k, v in splits.items()},
            "grids": grids,
            "features": feats,
            "metadata": self.metadata,
        }


# ---------------------------------------------------------------------- IO


def _arrow_table(name: str, frame: pd.DataFrame) -> pa.Table:
    fields = []
    for col in TABLES[name].columns:
        typ = {"str": pa.string(), "int": pa.int64(), "float": pa.float64()}[col.kind]
        fields.append(pa.field(col.name, typ, nullable=col.nullable))
    schema = pa.schema(fields)
    arrays = []
    for col, fld in zip(TABLES[name].columns, schema):
        s = frame[col.name]
        if col.kind == "int":
            arrays.append(pa.array(s.astype("Int64"), type=pa.int64(), from_pandas=True))
        elif col.kind == "float":
            arrays.append(pa.array(s.to_numpy(dtype=float), type=pa.float64(), from_pandas=True))
        else:
            arrays.append(pa.array(s.astype(object).tolist(), type=pa.string()))
    return pa.Table.from_arrays(arrays, schema=schema)


_NULLABLE_INTEGERS = {
    pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(), pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(), pa.uint64(): pd.UInt64Dtype(),
}


def exact_integers(arrow_type: pa.DataType):
    """``types_mapper`` for ``to_pandas``: integer columns as nullable pandas integers, so a
    column with nulls is not turned into float64 (which rounds values above 2**53)."""
    return _NULLABLE_INTEGERS.get(arrow_type)


def write_table(path: Path, name: str, frame: pd.DataFrame) -> None:
    """Write one canonical table as Parquet (deterministic bytes for equal content)."""
    pq.write_table(_arrow_table(name, frame), path, compression="zstd", write_statistics=False)


def read_table(path: Path, name: str, filters: list | None = None) -> pd.DataFrame:
    """Read one Parquet table into pandas with the schema's dtypes (not yet validated); ``filters``:
    pyarrow row filters (only the matching rows are converted)."""
    try:
        table = pq.read_table(path, filters=filters)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DatasetError(f"{path}: not a readable Parquet file ({exc})") from None
    return _frame(table, name)


def _frame(table: pa.Table, name: str) -> pd.DataFrame:
    frame = table.to_pandas(types_mapper=exact_integers)
    for col in TABLES[name].columns:
        if col.name in frame and col.kind == "int":
            frame[col.name] = frame[col.name].astype("Int64")
        elif col.name in frame and col.kind == "str":
            frame[col.name] = frame[col.name].astype(object).where(frame[col.name].notna(), None)
    return frame


def write_dataset(
    dataset: Dataset,
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    features: FeatureSet | None = None,
) -> Dataset:
    """Validate and write ``dataset`` to ``out`` atomically; return the dataset re-bound to ``out``.

    ``features`` (default: the dataset's own feature set, if it has views) is written to
    ``out/features``. An existing ``out`` is replaced only with ``overwrite=True``.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise DatasetError(f"{out}: already exists (use --force to replace it)")
    tables = validate_tables(dataset.tables)
    feats = features if features is not None else (dataset.features if dataset._features is not None or dataset.path else None)
    if feats is not None:
        _check_feature_ids(feats, tables)
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_siblings(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "name": dataset.name,
            "metadata": dataset.metadata,
            "tables": {},
        }
        for name, frame in tables.items():
            fpath = tmp / f"{name}.parquet"
            write_table(fpath, name, frame)
            manifest["tables"][name] = {
                "file": fpath.name,
                "rows": int(len(frame)),
                "sha256": sha256_file(fpath),
            }
        if feats is not None and feats.names():
            feats.save(tmp / FEATURES_DIR)
        write_json_atomic(tmp / MANIFEST, manifest, sort_keys=True)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if feats is not None and feats.names():
        feats.path = out / FEATURES_DIR  # save() pointed it at the temporary directory
    return Dataset(dataset.name, tables, dict(dataset.metadata), out)


def _check_feature_ids(features: FeatureSet, tables: Tables) -> None:
    known = set(tables.accounts["account_id"].tolist())
    for name in features.names():
        view = features[name]
        unknown = [a for a in view.ids.tolist() if a not in known]
        if unknown:
            i = view.ids.tolist().index(unknown[0])
            raise DatasetError(
                f"features/{name}.npz, row {i + 1}, column 'ids': unknown account {unknown[0]!r}"
            )


#: What the Recommender reads: no audiences, audience posts or detections, no evaluation grids
#: (23.7 M rows at a million influencers); the influencers' own posts for engagement rates and
#: caption evidence.
RECOMMEND_TABLES = ("accounts", "cooperations", "splits", "posts")
#: What training reads (with ``grids=TRAINING_GRIDS``): no posts, and of the grids the validation
#: grid only (model selection; the test grid is for evaluation, 17 M rows at a million).
TRAINING_TABLES = ("accounts", "cooperations", "splits", "grids")
TRAINING_GRIDS = ("validation",)


def load_dataset(path: str | os.PathLike, *, verify: bool = True,
                 tables: Collection[str] | None = None, grids: Collection[str] | None = None) -> Dataset:
    """Read and validate a dataset directory; checksums are verified unless ``verify=False``.

    ``tables``: read only these tables (the others stay empty, unread and unverified), for the
    steps that never look at posts: at a million influencers the audience posts and detections
    alone are hundreds of millions of rows (``RECOMMEND_TABLES``: what serving reads;
    ``TRAINING_TABLES``: what training reads). ``grids``: of the grids table, only the rows of these
    grids (the file's checksum is still verified whole).
    """
    path = Path(path)
    mpath = path / MANIFEST
    if not path.is_dir():
        raise DatasetError(f"{path}: no such dataset directory")
    manifest = read_json(mpath, DatasetError, "manifest (not a brandmatch dataset directory)")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise DatasetError(
            f"{mpath}: schema_version {manifest.get('schema_version')!r}, expected {SCHEMA_VERSION}"
        )
    frames: dict[str, pd.DataFrame] = {}
    sources: dict[str, str] = {}
    loaded = None if tables is None else frozenset(tables)
    if tables is not None:
        unknown = sorted(set(tables) - set(TABLES))
        if unknown:
            raise DatasetError(f"{path}: unknown table {unknown[0]!r} (known: {', '.join(TABLES)})")
    for name, spec in TABLES.items():
        if tables is not None and name not in tables:
            from brandmatch.data.schema import empty_table

            frames[name] = empty_table(name)
            continue
        entry = manifest.get("tables", {}).get(name)
        fpath = _checked_file(path, mpath, name, entry, verify)
        if name == "grids" and grids is not None:
            frame = read_table(fpath, name, filters=[("grid", "in", sorted(grids))])
            if len(frame) > entry["rows"]:
                raise DatasetError(f"{fpath}: {len(frame)} rows of grids {sorted(grids)}, manifest says {entry['rows']} in all")
            frames[name], sources[name] = frame, str(fpath)
            continue
        frame = read_table(fpath, name)
        if len(frame) != entry["rows"]:
            raise DatasetError(f"{fpath}: {len(frame)} rows, manifest says {entry['rows']}")
        frames[name] = frame
        sources[name] = str(fpath)
    tables = validate_tables(Tables(**frames), sources)
    return Dataset(manifest.get("name", path.name), tables, manifest.get("metadata", {}), path,
                   loaded=loaded)


# ---------------------------------------------------------------------- account blocks

#: the tables an account block covers (:meth:`DatasetWriter.end_block`)
BLOCK_TABLES = ("accounts", "posts", "audience", "audience_posts", "detections")


@dataclass(frozen=True)
class Blocks:
    """A dataset written in account blocks: ``ends[table]`` (n_blocks,) cumulative row ends.

    Block ``i`` is rows ``[ends[t][i-1], ends[t][i])`` of each table ``t`` of :data:`BLOCK_TABLES`
    (``rows``); :meth:`read` takes some blocks' rows of every table, reading only the Parquet row
    groups that hold them.
    """

    path: Path
    ends: dict[str, np.ndarray]
    files: dict[str, Path]

    def __len__(self) -> int:
        return len(self.ends["accounts"])

    def rows(self, table: str, i: int) -> tuple[int, int]:
        e = self.ends[table]
        return (int(e[i - 1]) if i > 0 else 0), int(e[i])

    def account_rows(self, i: int) -> np.ndarray:
        """(n,) positions in the accounts table of block ``i``'s accounts."""
        return np.arange(*self.rows("accounts", i))

    def read(self, blocks: Sequence[int]) -> Tables:
        """The rows of ``blocks`` (ascending block numbers) of every block table, validated
        together (references inside them hold by the writer's contract); no cooperations,
        splits or grids."""
        from brandmatch.data.schema import empty_table

        frames: dict[str, pd.DataFrame] = {t: empty_table(t) for t in TABLES}
        sources = {}
        for table in BLOCK_TABLES:
            parts = [_read_rows(self.files[table], table, *self.rows(table, i)) for i in blocks]
            frames[table] = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
            sources[table] = f"{self.files[table]} (block(s) {', '.join(map(str, blocks[:3]))}"\
                             f"{', ...' if len(blocks) > 3 else ''})"
        return validate_tables(Tables(**frames), sources)


def _read_rows(path: Path, table: str, start: int, end: int) -> pd.DataFrame:
    """Rows ``[start, end)`` of one table file: only the row groups that overlap them are read."""
    try:
        pf = pq.ParquetFile(path)
        sizes = np.array([pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)], dtype=np.int64)
        offsets = np.concatenate(([0], np.cumsum(sizes)))
        groups = [g for g in range(len(sizes)) if offsets[g] < end and offsets[g + 1] > start]
        if not groups or start >= end:
            from brandmatch.data.schema import empty_table

            return empty_table(table)
        arrow = pf.read_row_groups(groups)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DatasetError(f"{path}: not a readable Parquet file ({exc})") from None
    first = int(offsets[groups[0]])
    return _frame(arrow.slice(start - first, end - start), table)


def dataset_blocks(path: str | os.PathLike | None) -> Blocks | None:
    """The account blocks of the dataset directory ``path`` (None: not written in blocks)."""
    if path is None:
        return None
    path = Path(path)
    manifest = read_json(path / MANIFEST, DatasetError, "manifest (not a brandmatch dataset directory)")
    spec = manifest.get("blocks")
    if not spec:
        return None
    where = f"{path / MANIFEST}: blocks"
    if not isinstance(spec, dict) or spec.get("tables") != list(BLOCK_TABLES) or not isinstance(spec.get("ends"), list):
        raise DatasetError(f"{where}: expected {{'tables': {list(BLOCK_TABLES)}, 'ends': [[rows per table], ...]}}")
    try:
        ends = np.array(spec["ends"], dtype=np.int64).reshape(len(spec["ends"]), len(BLOCK_TABLES))
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: 'ends' must be a list of {len(BLOCK_TABLES)} row counts per block") from None
    tables = manifest.get("tables", {})
    out = {}
    for j, t in enumerate(BLOCK_TABLES):
        col = ends[:, j]
        if len(col) and (col[0] < 0 or (np.diff(col) < 0).any() or col[-1] != int(tables.get(t, {}).get("rows", -1))):
            raise DatasetError(f"{where}: the row ends of {t!r} must rise to its {tables.get(t, {}).get('rows')} rows")
        out[t] = col
    files = {t: path / tables[t]["file"] for t in BLOCK_TABLES}
    return Blocks(path, out, files)


def _checked_file(path: Path, mpath: Path, name: str, entry, verify: bool) -> Path:
    """The file of table ``name`` from its manifest entry, its sha256 verified unless not ``verify``."""
    if entry is None:
        raise DatasetError(f"{mpath}: table {name!r} missing from the manifest")
    lacking = [k for k in ("file", "rows", "sha256") if not isinstance(entry, dict) or k not in entry]
    if lacking:
        raise DatasetError(f"{mpath}: the entry of table {name!r} has no {lacking[0]!r}")
    fpath = path / entry["file"]
    if not fpath.exists():
        raise DatasetError(f"{fpath}: missing table file")
    if verify and sha256_file(fpath) != entry["sha256"]:
        raise DatasetError(f"{fpath}: checksum does not match the manifest (file changed or truncated)")
    return fpath


def verify_table_files(path: str | os.PathLike, names: Collection[str]) -> None:
    """Check the sha256 of tables left unread by ``load_dataset(tables=...)`` (streamed, nothing
    loaded): a reader that takes them block by block still reads checked files."""
    path = Path(path)
    mpath = path / MANIFEST
    manifest = read_json(mpath, DatasetError, "manifest (not a brandmatch dataset directory)")
    for name in names:
        _checked_file(path, mpath, name, manifest.get("tables", {}).get(name), True)


def cooperation_matrix(co: CooperationSet, brands: Sequence[str], influencers: Sequence[str]) -> np.ndarray:
    """(n_brands, n_influencers) int8 matrix with 1 where a pair cooperated."""
    bi = {b: i for i, b in enumerate(brands)}
    mi = {m: j for j, m in enumerate(influencers)}
    out = np.zeros((len(brands), len(influencers)), dtype=np.int8)
    for b, m in zip(co.brand_ids.tolist(), co.influencer_ids.tolist()):
        if b in bi and m in mi:
            out[bi[b], mi[m]] = 1
    return out


# ---------------------------------------------------------------------- streaming writer


@dataclass(frozen=True)
class PreparedChunk:
    """One chunk of one table, validated and in its Parquet schema: ``rows`` rows as ``arrow``."""

    rows: int
    arrow: pa.Table


def prepare_chunk(table: str, frame: pd.DataFrame, source: str) -> PreparedChunk | None:
    """What :meth:`DatasetWriter.write` does to a chunk before appending it (validation names
    ``source``, row and column); None for an empty chunk. Pure: it can run in worker processes."""
    from brandmatch.data.schema import validate_table

    if len(frame) == 0:
        return None
    canon = validate_table(table, frame, source)
    return PreparedChunk(len(canon), _arrow_table(table, canon))


class DatasetWriter:
    """Write a dataset chunk by chunk in bounded memory, atomically.

    Each :meth:`write` validates one chunk of one table (columns, dtypes, values, keys within the
    chunk) and appends it to that table's Parquet file through a ``pyarrow.parquet.ParquetWriter``.
    Feature views go to ``features/`` through :meth:`add_view`. :meth:`close` writes the tables that
    received no chunk as empty tables, computes row counts and sha256, writes ``manifest.json`` and
    renames the temporary directory into place; any exception (or :meth:`abort`) removes it, so a
    failed write leaves no partial output. Keys across chunks and references between tables are
    not checked here (the producer guarantees them; :func:`load_dataset` checks everything on read).
    Same chunks in the same order give the same bytes.

    Use as a context manager::

        with DatasetWriter(out, "name", metadata={...}) as w:
            w.write("accounts", frame)
            ...
        ds = load_dataset(out)
    """

    def __init__(
        self,
        out: str | os.PathLike,
        name: str,
        *,
        metadata: dict | None = None,
        overwrite: bool = False,
    ) -> None:
        self.out = Path(out)
        if self.out.exists() and not overwrite:
            raise DatasetError(f"{self.out}: already exists (use --force to replace it)")
        self.name = name
        self.metadata = dict(metadata or {})
        self.out.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_siblings(self.out)
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.tmp-", dir=self.out.parent))
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._rows: dict[str, int] = {t: 0 for t in TABLES}
        self._chunks: dict[str, int] = {t: 0 for t in TABLES}
        self._blocks: list[list[int]] = []
        self._closed = False

    @property
    def tmp_path(self) -> Path:
        return self._tmp

    def rows(self, table: str) -> int:
        """Rows written so far to ``table``."""
        return self._rows[table]

    def source(self, table: str, chunk: int) -> str:
        """How errors name chunk number ``chunk`` (1-based) of ``table``."""
        return f"{self.out / (table + '.parquet')} (chunk {chunk})"

    def write(self, table: str, frame: pd.DataFrame) -> None:
        """Validate one chunk of ``table`` and append it to the table's file."""
        if table not in TABLES:
            raise DatasetError(f"{self.out}: unknown table {table!r}")
        self.append(table, prepare_chunk(table, frame, self.source(table, self._chunks[table] + 1)))

    def append(self, table: str, chunk: "PreparedChunk | None") -> None:
        """Append a chunk :func:`prepare_chunk` validated and converted (possibly in another
        process); None is an empty chunk (counted, nothing written). ``write`` = prepare + append."""
        if self._closed:
            raise DatasetError(f"{self.out}: writer already closed")
        if table not in TABLES:
            raise DatasetError(f"{self.out}: unknown table {table!r}")
        self._chunks[table] += 1
        if chunk is None:
            return
        writer = self._writers.get(table)
        if writer is None:
            writer = pq.ParquetWriter(
                self._tmp / f"{table}.parquet", chunk.arrow.schema, compression="zstd", write_statistics=False
            )
            self._writers[table] = writer
        writer.write_table(chunk.arrow)
        self._rows[table] += chunk.rows

    def end_block(self) -> None:
        """Close one block of accounts: every row written to the :data:`BLOCK_TABLES` since the
        previous block belongs to the accounts written since then (their posts, their audience,
        those members' posts, the detections of all those posts). The producer guarantees it;
        the manifest records each block's row ranges (``blocks``) so that a reader can take one
        block from every table without reading the rest (:func:`dataset_blocks`)."""
        self._blocks.append([self._rows[t] for t in BLOCK_TABLES])

    def add_view(self, view) -> None:
        """Add one feature view (a :class:`brandmatch.features.store.FeatureView`) to ``features/``."""
        from brandmatch.features.store import write_view

        write_view(self._tmp / FEATURES_DIR, view)

    def close(self) -> Path:
        """Finish every table, write the manifest and move the dataset into place; return its path."""
        if self._closed:
            return self.out
        try:
            manifest = {
                "schema_version": SCHEMA_VERSION,
                "name": self.name,
                "metadata": self.metadata,
                "tables": {},
            }
            for table in TABLES:
                fpath = self._tmp / f"{table}.parquet"
                writer = self._writers.pop(table, None)
                if writer is not None:
                    writer.close()
                else:
                    from brandmatch.data.schema import empty_table

                    write_table(fpath, table, empty_table(table))
                manifest["tables"][table] = {
                    "file": fpath.name,
                    "rows": int(self._rows[table]),
                    "sha256": sha256_file(fpath),
                }
            if self._blocks:
                if self._blocks[-1] != [self._rows[t] for t in BLOCK_TABLES]:
                    raise DatasetError(f"{self.out}: rows of {', '.join(BLOCK_TABLES)} were written after the last "
                                       "block (end_block): blocks must cover every row")
                manifest["blocks"] = {"tables": list(BLOCK_TABLES), "ends": self._blocks}
            write_json_atomic(self._tmp / MANIFEST, manifest, sort_keys=True)
            replace_dir(self._tmp, self.out)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        return self.out

    def abort(self) -> None:
        """Drop everything written so far (no partial output)."""
        for writer in self._writers.values():
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - best effort cleanup
                pass
        self._writers.clear()
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._closed = True

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()
