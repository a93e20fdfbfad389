"""Import a user's own data: a folder of CSV or Parquet tables (format: ``docs/data-format.md``).

::

    SRC/
      accounts.csv          required
      cooperations.csv      required
      posts.csv  audience.csv  audience_posts.csv  detections.csv  splits.csv  grids.csv   optional
      features/<view>.csv   optional precomputed features: account_id, then numeric columns

Each table may be ``.csv`` or ``.parquet`` (not both). Columns are those of
:data:`brandmatch.data.schema.TABLES`; a nullable column may be left out (it is then all null).
In a CSV every value is text, an empty cell is a null, and numbers are parsed per column.

Missing splits are derived: test brands are carved out of all brands (category-stratified,
``test_fraction``), then validation brands out of the rest (``validation_fraction``), both with
:func:`~brandmatch.data.splits.carve_validation` and ``seed``. When a grids table is given
without splits, the brands of its ``test`` / ``validation`` grids form those splits. Missing
grids are derived: ``test`` and ``validation`` = the split's brands x the union of their partners
(:func:`~brandmatch.data.splits.partner_grid`).

Every problem raises :class:`DatasetError` (tables) or :class:`FeatureError` (features) naming the
file, the 1-based data row (the header line is not counted) and the column.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from brandmatch.data.schema import (
    TABLES,
    normalize_id,
    CooperationSet,
    Tables,
    empty_table,
    grid_from_frame,
    grid_to_frame,
    validate_table,
    validate_tables,
)
from brandmatch.data.splits import VALIDATION_FRACTION, carve_validation, partner_grid, splits_frame
from brandmatch.data.store import Dataset, exact_integers, write_dataset
from brandmatch.atomic import sha256_file
from brandmatch.errors import DatasetError, FeatureError, where
from brandmatch.features.store import FeatureSet, FeatureView

TEST_FRACTION = 0.2
TABLE_SUFFIXES = (".csv", ".parquet")
REQUIRED_TABLES = ("accounts", "cooperations")
FEATURES_DIR = "features"
#: Files in ``features/`` with these suffixes are skipped (notes next to the data).
IGNORED_FEATURE_SUFFIXES = (".md", ".txt")


def _read_csv(path: Path, error: type[Exception]) -> pd.DataFrame:
    """A CSV with every value as text; empty cells are NaN, nothing else is."""
    try:
        return pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError:
        raise error(f"{path}: empty file (expected a header line with the column names)") from None
    except pd.errors.ParserError as exc:
        raise error(f"{path}: malformed CSV ({str(exc).strip()})") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise error(f"{path}: cannot read file ({exc.strerror or exc})") from None


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pq.read_table(path).to_pandas(types_mapper=exact_integers)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DatasetError(f"{path}: not a readable Parquet file ({exc})") from None


def _table_files(src: Path) -> dict[str, Path]:
    """Table name -> its file; unknown table files and duplicates are errors."""
    found: dict[str, Path] = {}
    for path in sorted(src.iterdir()):
        if not path.is_file() or path.suffix.lower() not in TABLE_SUFFIXES or path.name.startswith("."):
            continue
        name = path.stem
        if name not in TABLES:
            raise DatasetError(
                f"{path}: unknown table file (expected {', '.join(f'{t}.csv' for t in TABLES)}, "
                "or .parquet)"
            )
        if name in found:
            raise DatasetError(f"{path}: table {name!r} given twice (also {found[name].name}); keep one")
        found[name] = path
    for name in REQUIRED_TABLES:
        if name not in found:
            raise DatasetError(f"{src / (name + '.csv')}: missing file (table {name!r} is required)")
    return found


def _read_table(name: str, path: Path) -> pd.DataFrame:
    frame = _read_csv(path, DatasetError) if path.suffix.lower() == ".csv" else _read_parquet(path)
    # nullable columns may be left out: add them as all-null (unknown columns stay and are errors)
    for col in TABLES[name].columns:
        if col.nullable and col.name not in frame.columns:
            frame[col.name] = pd.Series([None] * len(frame), dtype=object)
    return frame


def check_image_refs(frame: pd.DataFrame, source: object, root: Path | None = None) -> list[str | None]:
    """Check every ``image_ref`` of a posts table; return them with local paths made absolute
    against ``root`` (unchanged when ``root`` is None).

    A reference is a URL (``scheme://...``, not read) or a path relative to the image root (the
    dataset directory; a brand profile's folder) that stays inside it: absolute paths and paths
    that climb out of the root (``../x``, or a symbolic link pointing outside) are refused, so
    a table cannot make brandmatch open any file on the machine.
    """
    out: list[str | None] = []
    base = root.resolve() if root is not None else None
    for i, ref in enumerate(frame["image_ref"].tolist()):
        if ref is None or (isinstance(ref, float) and math.isnan(ref)) or "://" in str(ref):
            out.append(ref)
            continue
        ref = str(ref)
        place = where(source, i + 1, "image_ref")
        if "\x00" in ref:
            raise DatasetError(f"{place}: image path {_short(ref)!r} contains a NUL character")
        p = Path(ref)
        if p.is_absolute() or p.drive or ref.startswith(("/", "\\")):
            if base is None or not _inside(Path(ref), base):
                raise DatasetError(
                    f"{place}: absolute image path {_short(ref)!r} is not allowed (write it relative to the "
                    f"{'folder ' + str(root) if root is not None else 'dataset directory'}, e.g. images/post1.jpg)"
                )
            out.append(str(Path(ref).resolve()))
            continue
        parts = Path(os.path.normpath(ref.replace("\\", "/"))).parts
        if ".." in parts:
            raise DatasetError(
                f"{place}: image path {_short(ref)!r} points outside the "
                f"{'folder ' + str(root) if root is not None else 'dataset directory'} ('..' is not allowed)"
            )
        if base is not None:
            target = base / ref
            try:
                resolved = target.resolve()
                resolved.is_file()
            except (OSError, RuntimeError) as exc:
                raise DatasetError(f"{place}: image path {_short(ref)!r} is not a usable path "
                                   f"({getattr(exc, 'strerror', None) or exc})") from None
            if not _inside(target, base):
                raise DatasetError(f"{place}: image path {ref!r} leads outside the folder {root} (symbolic link)")
            out.append(str(resolved))
        else:
            out.append(ref)
    return out


def _short(text: str, limit: int = 256) -> str:
    """A long value cut for messages (the message stays readable)."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _inside(path: Path, base: Path) -> bool:
    """Whether ``path`` (symbolic links followed) is ``base`` or inside it."""
    try:
        path.resolve().relative_to(base)
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def check_output_not_source(src: str | os.PathLike, out: str | os.PathLike) -> None:
    """Refuse an output directory that is the source folder, contains it or lies inside it
    (``--out SRC --force`` would replace the user's data with the dataset)."""
    s, o = Path(src).resolve(), Path(out).resolve()
    if o == s:
        raise DatasetError(f"{out}: the output directory is the source folder {src}; choose another --out")
    if o in s.parents:
        raise DatasetError(
            f"{out}: the output directory contains the source folder {src} (replacing it would delete the "
            "source); choose another --out"
        )
    if s in o.parents:
        raise DatasetError(f"{out}: the output directory is inside the source folder {src}; choose another --out")


# --------------------------------------------------------------------------- features


def _read_feature_csv(path: Path, account_ids: list[str]) -> FeatureView:
    name = path.stem
    try:
        FeatureSet._file(name)
    except FeatureError:
        raise FeatureError(f"{path}: invalid view name {name!r} (letters, digits, '_', '-', '.')") from None
    frame = _read_csv(path, FeatureError)
    cols = list(frame.columns)
    if not cols or cols[0] != "account_id":
        raise FeatureError(f"{where(path, column=cols[0] if cols else None)}: the first column must be 'account_id'")
    value_cols = cols[1:]
    if not value_cols:
        raise FeatureError(f"{path}: no feature columns after 'account_id'")
    ids = frame["account_id"]
    empty = ids.isna().to_numpy()
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise FeatureError(f"{where(path, i + 1, 'account_id')}: empty account id")
    index = {a: k for k, a in enumerate(account_ids)}
    seen: dict[str, int] = {}
    try:
        ids = pd.Series([normalize_id(str(a), path, i + 1, "account_id") for i, a in enumerate(ids.tolist())],
                        dtype=object)
    except DatasetError as exc:
        raise FeatureError(str(exc)) from None
    for i, a in enumerate(ids.tolist()):
        if a not in index:
            raise FeatureError(f"{where(path, i + 1, 'account_id')}: unknown account {a!r}")
        if a in seen:
            raise FeatureError(
                f"{where(path, i + 1, 'account_id')}: duplicate account {a!r} (also row {seen[a] + 1})"
            )
        seen[a] = i
    block = np.empty((len(frame), len(value_cols)), dtype=np.float64)
    for j, col in enumerate(value_cols):
        raw = frame[col]
        num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(num)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            text = raw.iloc[i]
            if text is None or (isinstance(text, float) and math.isnan(text)):
                what = "empty value (NaN)"
            elif np.isnan(num[i]) and str(text).strip().lower() not in ("nan", "-nan", "+nan"):
                what = f"{text!r} is not a number"
            else:
                what = f"value {text!r} is not finite (NaN/inf are not allowed; leave the account's row out instead)"
            raise FeatureError(f"{where(path, i + 1, col)}: {what}")
        block[:, j] = num
    values = np.zeros((len(account_ids), len(value_cols)), dtype=np.float32)
    mask = np.zeros(len(account_ids), dtype=bool)
    rows = np.fromiter((index[a] for a in ids.tolist()), dtype=np.int64, count=len(frame))
    values[rows] = block.astype(np.float32)
    mask[rows] = True
    meta = {"source": f"{FEATURES_DIR}/{path.name}", "columns": value_cols, "rows_in_file": int(len(frame))}
    return FeatureView(name, np.array(account_ids, dtype=str), values, mask, meta)


def _read_features(src: Path, account_ids: list[str]) -> tuple[list[FeatureView], dict[str, Path]]:
    fdir = src / FEATURES_DIR
    if not fdir.is_dir():
        return [], {}
    views, files = [], {}
    for path in sorted(fdir.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix.lower() in IGNORED_FEATURE_SUFFIXES:
            continue
        if path.suffix.lower() != ".csv":
            raise FeatureError(f"{path}: feature files must be CSV (features/<view>.csv)")
        views.append(_read_feature_csv(path, account_ids))
        files[f"{FEATURES_DIR}/{path.name}"] = path
    return views, files


# --------------------------------------------------------------------------- import


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value}")


def _derive_splits(
    brands: list[str],
    category: dict[str, Any],
    grids: pd.DataFrame | None,
    test_fraction: float,
    validation_fraction: float,
    seed: int,
    grid_source: object,
) -> tuple[pd.DataFrame, dict]:
    given = set(grids["grid"].tolist()) if grids is not None and len(grids) else set()
    note: dict[str, Any] = {}
    if "test" in given:
        test_set = set(grids.loc[grids["grid"] == "test", "brand_id"])
        note["test"] = "brands of the given 'test' grid"
    else:
        # brands of a given validation grid are never carved into test
        given_valid = set(grids.loc[grids["grid"] == "validation", "brand_id"]) if "validation" in given else set()
        pool = [b for b in brands if b not in given_valid]
        _, test = carve_validation(pool, category, test_fraction, seed) if len(pool) else ([], [])
        test_set = set(test)
        note["test"] = (f"carve_validation({'all brands' if not given_valid else 'brands not in the validation grid'}, "
                        f"test_fraction={test_fraction}, seed={seed})")
    rest = [b for b in brands if b not in test_set]
    if "validation" in given:
        valid_set = set(grids.loc[grids["grid"] == "validation", "brand_id"])
        clash = sorted(valid_set & test_set)
        if clash:
            raise DatasetError(
                f"{where(grid_source, column='brand_id')}: brand {clash[0]!r} is in both the 'test' and the "
                "'validation' grid"
            )
        note["validation"] = "brands of the given 'validation' grid"
    else:
        _, valid = carve_validation(rest, category, validation_fraction, seed) if len(rest) else ([], [])
        valid_set = set(valid)
        note["validation"] = (
            f"carve_validation(non-test brands, validation_fraction={validation_fraction}, seed={seed})"
        )
    train = [b for b in brands if b not in test_set and b not in valid_set]
    valid = [b for b in brands if b in valid_set]
    test = [b for b in brands if b in test_set]
    return splits_frame(train, valid, test), note


def import_tables(
    src: str | os.PathLike,
    *,
    validation_fraction: float = VALIDATION_FRACTION,
    test_fraction: float = TEST_FRACTION,
    seed: int = 0,
) -> Dataset:
    """Read and validate a folder of tables (see the module docstring); return an in-memory Dataset.

    Raises :class:`DatasetError` / :class:`FeatureError` naming the file, row and column at fault.
    """
    _check_fraction("validation_fraction", validation_fraction)
    _check_fraction("test_fraction", test_fraction)
    src = Path(src)
    if not src.is_dir():
        raise DatasetError(f"{src}: no such directory")
    files = _table_files(src)
    frames = {name: _read_table(name, path) for name, path in files.items()}
    sources = {name: str(path) for name, path in files.items()}
    placeholder = {name: empty_table(name) for name in ("splits", "grids") if name not in frames}
    tables = validate_tables(Tables(**{**placeholder, **frames}), sources)
    for name in ("posts", "audience_posts"):
        if name in frames:
            check_image_refs(getattr(tables, name), sources[name])

    # every given grid must be a full brand x candidate grid
    if "grids" in frames:
        for g in dict.fromkeys(tables.grids["grid"].tolist()):
            grid_from_frame(tables.grids, g, sources["grids"])

    accounts = tables.accounts
    brands = accounts.loc[accounts["role"] == "brand", "account_id"].tolist()
    category = dict(zip(brands, accounts.loc[accounts["role"] == "brand", "category"].tolist()))
    derived: dict[str, Any] = {"splits": None, "grids": None}
    if "splits" not in frames:
        splits, note = _derive_splits(
            brands, category, tables.grids if "grids" in frames else None,
            test_fraction, validation_fraction, seed, sources.get("grids", "grids"),
        )
        tables.splits = validate_table("splits", splits, "splits (derived)")
        derived["splits"] = note
    if "grids" not in frames:
        co = CooperationSet.from_frame(tables.cooperations)
        built, skipped = [], {}
        for name in ("test", "validation"):
            members = tables.splits.loc[tables.splits["split"] == name, "brand_id"].tolist()
            grid = partner_grid(name, members, co)
            if grid.labels.size == 0:
                skipped[name] = "no brands in this split" if not members else "these brands have no cooperations"
                continue
            built.append(grid_to_frame(grid))
        frame = pd.concat(built, ignore_index=True) if built else empty_table("grids")
        tables.grids = validate_table("grids", frame, "grids (derived)")
        derived["grids"] = {
            "built": [f["grid"].iloc[0] for f in built],
            "skipped": skipped,
            "rule": "split brands x union of their partners (partner_grid)",
        }

    # ---------------------------------------------------------------- features
    account_ids = accounts["account_id"].tolist()
    views, feature_files = _read_features(src, account_ids)
    features = FeatureSet({v.name: v for v in views})
    if "activity" not in features:
        from brandmatch.features.activity import activity_view

        activity = activity_view(accounts, tables.posts)
        if activity is not None:
            features.add(activity)

    counts = {name: int(len(frame)) for name, frame in tables.items()}
    metadata = {
        "source": str(src),
        "importer": "brandmatch.data.user_import",
        "files": {
            **{path.name: {"sha256": sha256_file(path), "table": name} for name, path in files.items()},
            **{rel: {"sha256": sha256_file(path), "view": Path(rel).stem} for rel, path in feature_files.items()},
        },
        "counts": {
            "tables": counts,
            "brands": len(brands),
            "influencers": int((accounts["role"] == "influencer").sum()),
            "splits": {s: int((tables.splits["split"] == s).sum()) for s in ("train", "validation", "test")},
            "features": {v.name: {"dim": v.dim, "present": int(v.mask.sum())} for v in features.views.values()},
        },
        "derived": derived,
        "validation_fraction": validation_fraction,
        "test_fraction": test_fraction,
        "seed": seed,
    }
    ds = Dataset(src.resolve().name or "dataset", tables, metadata)
    ds.features = features
    return ds


def import_tables_to(
    src: str | os.PathLike,
    out: str | os.PathLike,
    overwrite: bool = False,
    **kwargs: Any,
) -> Dataset:
    """:func:`import_tables` then :func:`write_dataset` (atomic); returns the dataset bound to ``out``."""
    out = Path(out)
    check_output_not_source(src, out)
    if out.exists() and not overwrite:
        raise DatasetError(f"{out}: already exists (use --force to replace it)")
    ds = import_tables(src, **kwargs)
    written = write_dataset(ds, out, overwrite=overwrite)
    written.features = ds.features
    return written
