"""The tables of a brandmatch dataset, their columns and the checks every table passes.

A dataset is a set of tables (pandas DataFrames on the Python side, Parquet on disk):

=================  ==============================================================================
table              columns
=================  ==============================================================================
accounts           account_id, handle, role (brand|influencer), category, followers, bio
posts              post_id, account_id, caption, timestamp, likes, comments, image_ref
audience           account_id, member_id                (a member follows/comments on the account)
audience_posts     post_id, member_id, caption, timestamp, likes, comments, image_ref
detections         post_id, kind (object|scene), class_index, confidence   (what a vision model saw)
cooperations       brand_id, influencer_id, score       (score: optional competence, MIR's label)
splits             brand_id, split (train|validation|test)
grids              grid, brand_id, influencer_id, label (fixed candidate grids, label 0/1)
=================  ==============================================================================

Timestamps are integer Unix seconds (UTC). Missing values are nulls, never sentinel numbers.
Integer columns are int64: every value is range-checked before conversion (never wrapped or
rounded); a float above 2**53 is refused, as it cannot hold an exact integer. A timestamp column
also accepts date-times (datetime64 columns, ``datetime``/``date`` objects, ISO-8601 text), which
are converted to Unix seconds (naive = UTC; sub-second parts rounded down).
"""

from __future__ import annotations

import datetime as _dt
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from brandmatch.errors import DatasetError, plain, where

SCHEMA_VERSION = 1

ROLES = ("brand", "influencer")
SPLITS = ("train", "validation", "test")
DETECTION_KINDS = ("object", "scene")
N_OBJECT_CLASSES = 1000  # ImageNet-1k
N_SCENE_CLASSES = 365  # Places365


@dataclass(frozen=True)
class Column:
    """One column: its kind (str, int, float), whether nulls are allowed, and value checks."""

    name: str
    kind: str
    nullable: bool = False
    allowed: tuple[str, ...] | None = None
    min_value: float | None = None
    max_value: float | None = None
    #: a timestamp (int, Unix seconds): date-times are accepted and converted
    time: bool = False


@dataclass(frozen=True)
class TableSpec:
    """A table: its columns in order and the columns whose combination must be unique."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    required: bool = True

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "accounts",
            (
                Column("account_id", "str"),
                Column("handle", "str"),
                Column("role", "str", allowed=ROLES),
                Column("category", "str", nullable=True),
                Column("followers", "int", nullable=True, min_value=0),
                Column("bio", "str", nullable=True),
            ),
            key=("account_id",),
        ),
        TableSpec(
            "posts",
            (
                Column("post_id", "str"),
                Column("account_id", "str"),
                Column("caption", "str", nullable=True),
                Column("timestamp", "int", nullable=True, time=True),
                Column("likes", "int", nullable=True, min_value=0),
                Column("comments", "int", nullable=True, min_value=0),
                Column("image_ref", "str", nullable=True),
            ),
            key=("post_id",),
            required=False,
        ),
        TableSpec(
            "audience",
            (Column("account_id", "str"), Column("member_id", "str")),
            key=("account_id", "member_id"),
            required=False,
        ),
        TableSpec(
            "audience_posts",
            (
                Column("post_id", "str"),
                Column("member_id", "str"),
                Column("caption", "str", nullable=True),
                Column("timestamp", "int", nullable=True, time=True),
                Column("likes", "int", nullable=True, min_value=0),
                Column("comments", "int", nullable=True, min_value=0),
                Column("image_ref", "str", nullable=True),
            ),
            key=("post_id",),
            required=False,
        ),
        TableSpec(
            "detections",
            (
                Column("post_id", "str"),
                Column("kind", "str", allowed=DETECTION_KINDS),
                Column("class_index", "int", min_value=0, max_value=N_OBJECT_CLASSES - 1),
                Column("confidence", "float", min_value=0.0, max_value=1.0),
            ),
            key=("post_id", "kind", "class_index"),
            required=False,
        ),
        TableSpec(
            "cooperations",
            (
                Column("brand_id", "str"),
                Column("influencer_id", "str"),
                Column("score", "float", nullable=True),
            ),
            key=("brand_id", "influencer_id"),
        ),
        TableSpec(
            "splits",
            (Column("brand_id", "str"), Column("split", "str", allowed=SPLITS)),
            key=("brand_id",),
        ),
        TableSpec(
            "grids",
            (
                Column("grid", "str"),
                Column("brand_id", "str"),
                Column("influencer_id", "str"),
                Column("label", "int", min_value=0, max_value=1),
            ),
            key=("grid", "brand_id", "influencer_id"),
        ),
    )
}

_PANDAS_DTYPE = {"str": object, "int": "Int64", "float": "float64"}


def empty_table(name: str) -> pd.DataFrame:
    """An empty DataFrame with the table's columns and dtypes."""
    spec = TABLES[name]
    return pd.DataFrame({c.name: pd.Series([], dtype=_PANDAS_DTYPE[c.kind]) for c in spec.columns})


def _shown(value: object) -> object:
    """A cell as users wrote it: numpy scalars as plain Python values (2.5, not np.float64(2.5))."""
    return plain(value)


#: Characters refused in ids: C0/C1 controls (Cc), invisible format characters (Cf: zero-width
#: space/joiners, BOM, bidi controls, soft hyphen ...), line/paragraph separators and other
#: non-characters. An id with one looks like another id that lacks it.
_INVISIBLE_CATEGORIES = ("Cc", "Cf", "Co", "Cn", "Zl", "Zp")


def is_id_column(name: str) -> bool:
    """Columns holding ids (normalised to NFC, invisible characters refused): ``*_id``."""
    return name.endswith("_id")


def _invisible(text: str) -> str | None:
    for ch in text:
        if unicodedata.category(ch) in _INVISIBLE_CATEGORIES:
            return ch
    return None


def normalize_id(value: str, source: object, row: int | None, column: str) -> str:
    """An id in Unicode NFC; refuses control and invisible characters (naming file, row, column)."""
    if value.isascii():
        found = _ASCII_CONTROL.search(value)
        if found is None:
            return value
        bad: str | None = found.group()
    else:
        bad = _invisible(value)
    if bad is not None:
        name = unicodedata.name(bad, "control character")
        raise DatasetError(
            f"{where(source, row, column)}: id {value!r} contains an invisible or control character "
            f"U+{ord(bad):04X} ({name}); ids must be visible text"
        )
    return unicodedata.normalize("NFC", value)


_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _normalized_ids(values: pd.Series, source: object, column: str) -> pd.Series:
    """An id column in NFC with invisible/control characters refused (fast path: plain ASCII)."""
    raw = values.tolist()
    for start in range(0, len(raw), 1 << 16):  # in chunks: bounded memory on tables of millions of rows
        joined = " ".join(v for v in raw[start:start + (1 << 16)] if v is not None)
        if not joined.isascii() or _ASCII_CONTROL.search(joined) is not None:
            break
    else:
        return values
    return pd.Series(
        [v if v is None else normalize_id(v, source, i + 1, column) for i, v in enumerate(values)], dtype=object
    )


def _type_name(value: object) -> str:
    if isinstance(value, (bool, np.bool_)):
        return f"true/false value ({value})"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "bytes value (binary)"
    if isinstance(value, (list, tuple, np.ndarray, set, frozenset)):
        return "list value"
    if isinstance(value, dict):
        return "struct/map value"
    return f"{type(value).__name__} value"


def _refuse_odd_types(series: pd.Series, null: np.ndarray, col: Column, source: object) -> None:
    """Refuse bool, bytes, list and struct cells (Parquet bool/binary/list/struct columns), which
    would otherwise be coerced without a word (True to 1, a list to the text '[1 2]')."""
    expected = {"str": "text", "int": "an integer", "float": "a number"}[col.kind]
    if pd.api.types.is_bool_dtype(series.dtype):
        i = int(np.flatnonzero(~null)[0]) + 1 if (~null).any() else None
        raise DatasetError(
            f"{where(source, i, col.name)}: a true/false (bool) column where {expected} is expected"
        )
    if series.dtype != object:
        return
    ok_types = (str, int, float, np.integer, np.floating, _dt.date, pd.Timestamp, np.datetime64, type(None))
    values = series.to_numpy()
    odd = {t for t in set(map(type, values)) if not issubclass(t, ok_types) or issubclass(t, (bool, np.bool_))}
    if not odd:
        return
    for i, v in enumerate(values):
        if type(v) in odd and not null[i]:
            raise DatasetError(
                f"{where(source, i + 1, col.name)}: a {_type_name(v)} where {expected} is expected "
                "(store the column as text or numbers)"
            )


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: Floats hold every integer of magnitude up to 2**53 exactly; above it they are rounded.
EXACT_FLOAT_LIMIT = 2**53
_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_ISO_TEXT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?"
    r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def _value_text(value: object) -> str:
    """A cell as the user wrote it, for range messages: CSV text as is, numbers without '.0'."""
    value = _shown(value)
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return str(value)


def _is_datetime_like(dtype: object) -> bool:
    return pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype)


def _refuse_datetime_dtype(series: pd.Series, null: np.ndarray, col: Column, source: object) -> None:
    if _is_datetime_like(series.dtype):
        i = int(np.flatnonzero(~null)[0]) + 1 if (~null).any() else None
        raise DatasetError(
            f"{where(source, i, col.name)}: a date/time column ({series.dtype}) where numbers are expected"
            + (" (only 'timestamp' columns take dates)" if col.kind == "int" else "")
        )


def _datetime_seconds(value: object) -> int | None:
    """Unix seconds (rounded down) of a datetime/date/Timestamp object; naive = UTC. None otherwise."""
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime(warn=False)
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value).to_pydatetime(warn=False)
    if isinstance(value, _dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=_dt.timezone.utc)
        delta = aware - _EPOCH
        return delta.days * 86400 + delta.seconds
    if isinstance(value, _dt.date):
        return (value - _EPOCH.date()).days * 86400
    return None


def _timestamps_as_seconds(series: pd.Series, null: np.ndarray, source: object, column: str) -> pd.Series:
    """A timestamp column with every date-time cell (datetime64 dtype, datetime/date objects,
    ISO-8601 text) replaced by integer Unix seconds (naive = UTC, rounded down); numbers unchanged."""
    if pd.api.types.is_timedelta64_dtype(series.dtype):
        raise DatasetError(
            f"{where(source, column=column)}: a duration column ({series.dtype}); expected Unix seconds or date-times"
        )
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        if getattr(series.dt, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        raw = series.to_numpy()
        unit, count = np.datetime_data(raw.dtype)
        per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit] // count
        ticks = raw.view(np.int64)
        seconds = np.floor_divide(ticks, per_second)
        return pd.Series(pd.arrays.IntegerArray(np.where(null, 0, seconds), null.copy()))
    if series.dtype != object and not pd.api.types.is_string_dtype(series.dtype):
        return series
    # only cells that are not numbers can be date-times (keeps the common case vectorised)
    not_number = pd.to_numeric(series, errors="coerce").isna().to_numpy() & ~null
    if not not_number.any():
        return series
    values = series.astype(object).to_numpy()
    out = values.copy()
    changed = False
    for i in np.flatnonzero(not_number):
        v = values[i]
        if isinstance(v, str):
            text = v.strip()
            if not _ISO_TEXT.fullmatch(text):
                continue
            try:
                stamp = pd.Timestamp(text.replace(" ", "T", 1))
            except (ValueError, OverflowError):
                raise DatasetError(f"{where(source, int(i) + 1, column)}: {v!r} is not a valid date-time") from None
            sec = _datetime_seconds(stamp)
        else:
            sec = _datetime_seconds(v)
        if sec is not None:
            out[i] = sec
            changed = True
    return pd.Series(out, dtype=object) if changed else series


def _exact_int(value: object) -> int | None:
    """The exact integer of a cell given as an integer (int, numpy int, integer text); else None."""
    value = _shown(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        return int(value.strip())
    return None


def _integers(series: pd.Series, null: np.ndarray, col: Column, source: object) -> pd.Series:
    """An int64 column (nullable ``Int64``) from any numbers or numeric text, checked before conversion.

    Whole numbers only; a value outside int64 or a float above 2**53 (already rounded, so not the
    integer the user meant) is refused with the value as written. Then min/max checks.
    """
    _refuse_datetime_dtype(series, null, col, source)
    n = len(series)
    exact = np.zeros(n, dtype=np.int64)
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) and not null.any():
        exact = series.to_numpy(dtype=np.int64)
    elif pd.api.types.is_integer_dtype(dtype):
        if pd.api.types.is_unsigned_integer_dtype(dtype):
            raw = series.to_numpy(dtype=np.uint64, na_value=0)
            over = ~null & (raw > np.uint64(INT64_MAX))
            if over.any():
                i = _first_bad(over)
                raise DatasetError(
                    f"{where(source, i + 1, col.name)}: {_value_text(series.iloc[i])} is out of the integer range "
                    f"({INT64_MIN} to {INT64_MAX})"
                )
        exact = series.to_numpy(dtype=np.int64, na_value=0)
    else:
        numeric = pd.to_numeric(series, errors="coerce")
        arr = np.asarray(numeric.to_numpy(dtype=float, na_value=np.nan), dtype=np.float64)
        unparsable = np.isnan(arr) & ~null
        if unparsable.any():
            i = _first_bad(unparsable)
            what = "is not a number" + (" or a date-time" if col.time else "")
            raise DatasetError(f"{where(source, i + 1, col.name)}: {_shown(series.iloc[i])!r} {what}")
        if np.isinf(arr).any():
            i = _first_bad(np.isinf(arr))
            raise DatasetError(f"{where(source, i + 1, col.name)}: infinite value")
        with np.errstate(invalid="ignore"):
            big = ~null & (np.abs(arr) >= EXACT_FLOAT_LIMIT)
        frac = ~null & ~big & (arr != np.round(arr))
        if frac.any():
            i = _first_bad(frac)
            raise DatasetError(f"{where(source, i + 1, col.name)}: {_shown(series.iloc[i])!r} is not an integer")
        small = ~null & ~big
        exact[small] = arr[small].astype(np.int64)
        for i in np.flatnonzero(big):
            cell = series.iloc[i]
            value = _exact_int(cell)
            if value is None:  # given as a float
                if arr[i] >= 2.0**63 or arr[i] < -(2.0**63):
                    value = int(arr[i]) if arr[i] == np.round(arr[i]) else None
                if value is None or INT64_MIN <= value <= INT64_MAX:
                    raise DatasetError(
                        f"{where(source, int(i) + 1, col.name)}: {_value_text(cell)} is a floating-point number above "
                        f"2^53 = {EXACT_FLOAT_LIMIT}, which cannot hold an exact integer (write the whole number, "
                        "or store the column as integers)"
                    )
            if not INT64_MIN <= value <= INT64_MAX:
                raise DatasetError(
                    f"{where(source, int(i) + 1, col.name)}: {_value_text(cell)} is out of the integer range "
                    f"({INT64_MIN} to {INT64_MAX})"
                )
            exact[i] = value
    _check_range(exact, null, series, col, source)
    return pd.Series(pd.arrays.IntegerArray(np.where(null, 0, exact), null.copy()))


def _check_range(values: np.ndarray, null: np.ndarray, series: pd.Series, col: Column, source: object) -> None:
    if col.min_value is not None:
        low = ~null & (values < col.min_value)
        if low.any():
            i = _first_bad(low)
            raise DatasetError(
                f"{where(source, i + 1, col.name)}: {_value_text(series.iloc[i])} is below {col.min_value:g}"
            )
    # detections.class_index: the limit depends on the row's kind (checked by validate_table)
    if col.max_value is not None and col.name != "class_index":
        high = ~null & (values > col.max_value)
        if high.any():
            i = _first_bad(high)
            raise DatasetError(
                f"{where(source, i + 1, col.name)}: {_value_text(series.iloc[i])} is above {col.max_value:g}"
            )


def _floats(series: pd.Series, null: np.ndarray, col: Column, source: object) -> pd.Series:
    _refuse_datetime_dtype(series, null, col, source)
    numeric = pd.to_numeric(series, errors="coerce")
    arr = np.asarray(numeric.to_numpy(dtype=float, na_value=np.nan), dtype=np.float64)
    unparsable = np.isnan(arr) & ~null
    if unparsable.any():
        i = _first_bad(unparsable)
        raise DatasetError(f"{where(source, i + 1, col.name)}: {_shown(series.iloc[i])!r} is not a number")
    if np.isinf(arr).any():
        i = _first_bad(np.isinf(arr))
        raise DatasetError(f"{where(source, i + 1, col.name)}: infinite value")
    with np.errstate(invalid="ignore"):
        _check_range(arr, null | np.isnan(arr), series, col, source)
    return pd.Series(arr, dtype="float64")


def _is_blank(v: object) -> bool:
    return isinstance(v, str) and (v == "" or v.isspace())


def validate_table(name: str, frame: pd.DataFrame, source: object) -> pd.DataFrame:
    """Check one table against its spec and return it with canonical column order and dtypes.

    Raises :class:`DatasetError` naming ``source`` (a file), the 1-based data row and the column.
    Extra columns are an error (a misspelt column would otherwise be silently ignored).
    """
    spec = TABLES[name]
    missing = [c for c in spec.column_names if c not in frame.columns]
    if missing:
        raise DatasetError(f"{where(source, column=missing[0])}: missing column in table {name!r}")
    extra = [c for c in frame.columns if c not in spec.column_names]
    if extra:
        raise DatasetError(
            f"{where(source, column=extra[0])}: unknown column in table {name!r} "
            f"(expected {', '.join(spec.column_names)})"
        )
    frame = frame.reset_index(drop=True)
    out: dict[str, pd.Series] = {}
    for col in spec.columns:
        series = frame[col.name]
        null = series.isna().to_numpy()
        if not col.nullable and null.any():
            row = _first_bad(null) + 1
            raise DatasetError(f"{where(source, row, col.name)}: empty value in table {name!r}")
        _refuse_odd_types(series, null, col, source)
        if col.kind == "str":
            values = series.astype(object).where(~null, None)
            # fast path: a column of str (and None) cells only (the type set is built in C)
            only_text = all(t is type(None) or issubclass(t, str) for t in set(map(type, values)))
            bad = None if only_text else np.array([v is not None and not isinstance(v, str) for v in values], dtype=bool)
            if bad is not None and bad.any():
                floats = np.array([isinstance(v, (float, np.floating)) for v in values], dtype=bool)
                if floats.any():
                    i = _first_bad(floats)
                    raise DatasetError(
                        f"{where(source, i + 1, col.name)}: a number ({_shown(values.iloc[i])}) where text is "
                        "expected (store the column as text)"
                    )
                values = values.map(lambda v: v if v is None or isinstance(v, str) else str(_shown(v)))
            if is_id_column(col.name):
                values = _normalized_ids(values, source, col.name)
            if not col.nullable:
                # v.strip() == '' exactly when v is '' or all whitespace (str.isspace, same definition)
                cells = values.to_numpy()
                if only_text:  # and no None (refused above): str methods mapped in C
                    blank = np.fromiter(map(len, cells), dtype=np.int64, count=len(cells)) == 0
                    blank |= np.fromiter(map(str.isspace, cells), dtype=bool, count=len(cells))
                else:
                    blank = np.fromiter(map(_is_blank, cells), dtype=bool, count=len(cells))
                if blank.any():
                    row = _first_bad(blank) + 1
                    raise DatasetError(f"{where(source, row, col.name)}: empty value in table {name!r}")
            if col.allowed is not None:
                bad = (values.notna() & ~values.isin(list(col.allowed))).to_numpy()
                if bad.any():
                    i = _first_bad(bad)
                    raise DatasetError(
                        f"{where(source, i + 1, col.name)}: value {_shown(values.iloc[i])!r} not one of "
                        f"{', '.join(col.allowed)}"
                    )
            out[col.name] = values.astype(object)
        elif col.kind == "int":
            if col.time:
                series = _timestamps_as_seconds(series, null, source, col.name)
            out[col.name] = _integers(series, null, col, source)
        else:
            out[col.name] = _floats(series, null, col, source)
    result = pd.DataFrame(out)
    if name == "detections" and len(result):
        limit = np.where(result["kind"].to_numpy() == "scene", N_SCENE_CLASSES, N_OBJECT_CLASSES)
        high = result["class_index"].to_numpy(dtype=np.int64) >= limit
        if high.any():
            i = _first_bad(high)
            raise DatasetError(
                f"{where(source, i + 1, 'class_index')}: class {_shown(result['class_index'].iloc[i])} out of "
                f"range for kind {_shown(result['kind'].iloc[i])!r} (objects < {N_OBJECT_CLASSES}, "
                f"scenes < {N_SCENE_CLASSES})"
            )
    if spec.key and len(result):
        dup = result.duplicated(list(spec.key)).to_numpy()
        if dup.any():
            i = _first_bad(dup)
            key = ", ".join(f"{k}={_shown(result[k].iloc[i])!r}" for k in spec.key)
            raise DatasetError(f"{where(source, i + 1, spec.key[-1])}: duplicate {key}")
    return result


def check_references(
    frame: pd.DataFrame,
    column: str,
    known: Iterable[str],
    source: object,
    what: str,
) -> None:
    """Every value of ``frame[column]`` must be in ``known``; name the first row that is not."""
    known_set = known if isinstance(known, (set, frozenset)) else set(known)
    values = frame[column].to_numpy()
    bad = np.fromiter((v not in known_set for v in values), dtype=bool, count=len(values))
    if bad.any():
        i = _first_bad(bad)
        raise DatasetError(f"{where(source, i + 1, column)}: unknown {what} {_shown(values[i])!r}")


@dataclass(frozen=True)
class CooperationSet:
    """Positive (brand, influencer) pairs, with MIR's optional competence score per pair.

    brand_ids, influencer_ids: (n,) str arrays; scores: (n,) float or None.
    """

    brand_ids: np.ndarray
    influencer_ids: np.ndarray
    scores: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(self.brand_ids) != len(self.influencer_ids):
            raise ValueError("brand_ids and influencer_ids differ in length")

    def __len__(self) -> int:
        return len(self.brand_ids)

    @property
    def brands(self) -> list[str]:
        """Distinct brands in first-appearance order."""
        return list(dict.fromkeys(self.brand_ids.tolist()))

    @property
    def influencers(self) -> list[str]:
        """Distinct influencers in first-appearance order."""
        return list(dict.fromkeys(self.influencer_ids.tolist()))

    def partners(self) -> dict[str, set[str]]:
        """brand -> set of its influencer partners."""
        out: dict[str, set[str]] = {}
        for b, m in zip(self.brand_ids.tolist(), self.influencer_ids.tolist()):
            out.setdefault(b, set()).add(m)
        return out

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "CooperationSet":
        score = frame["score"].to_numpy(dtype=float) if "score" in frame else None
        if score is not None and np.isnan(score).all():
            score = None
        return cls(
            frame["brand_id"].to_numpy(dtype=object).astype(str),
            frame["influencer_id"].to_numpy(dtype=object).astype(str),
            score,
        )


@dataclass(frozen=True)
class CandidateGrid:
    """A fixed evaluation grid: every listed brand ranks the same candidate influencers.

    brand_ids: (n_brands,), influencer_ids: (n_candidates,), labels: (n_brands, n_candidates) int8.
    """

    name: str
    brand_ids: np.ndarray
    influencer_ids: np.ndarray
    labels: np.ndarray

    @property
    def n_positives(self) -> int:
        return int(self.labels.sum())


def grid_from_frame(grids: pd.DataFrame, name: str, source: object = "grids") -> CandidateGrid:
    """Build the (brand x candidate) label matrix of one grid; the grid must be complete."""
    sub = grids[grids["grid"] == name]
    if sub.empty:
        raise DatasetError(f"{source}: no grid named {name!r}")
    brands = list(dict.fromkeys(sub["brand_id"].tolist()))
    infs = list(dict.fromkeys(sub["influencer_id"].tolist()))
    if len(sub) != len(brands) * len(infs):
        raise DatasetError(
            f"{where(source, column='influencer_id')}: grid {name!r} is not a full brand x candidate "
            f"grid ({len(sub)} rows for {len(brands)} brands x {len(infs)} candidates)"
        )
    b_index = {b: i for i, b in enumerate(brands)}
    m_index = {m: j for j, m in enumerate(infs)}
    labels = np.zeros((len(brands), len(infs)), dtype=np.int8)
    rows = np.fromiter((b_index[b] for b in sub["brand_id"].tolist()), dtype=np.int64, count=len(sub))
    cols = np.fromiter((m_index[m] for m in sub["influencer_id"].tolist()), dtype=np.int64, count=len(sub))
    labels[rows, cols] = sub["label"].to_numpy(dtype=np.int64)
    return CandidateGrid(name, np.array(brands, dtype=object), np.array(infs, dtype=object), labels)


def grid_to_frame(grid: CandidateGrid) -> pd.DataFrame:
    """Long form (grid, brand_id, influencer_id, label), brand-major."""
    nb, nm = grid.labels.shape
    return pd.DataFrame(
        {
            "grid": [grid.name] * (nb * nm),
            "brand_id": np.repeat(np.asarray(grid.brand_ids, dtype=object), nm),
            "influencer_id": np.tile(np.asarray(grid.influencer_ids, dtype=object), nb),
            "label": pd.array(grid.labels.reshape(-1).astype(np.int64), dtype="Int64"),
        }
    )


def frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Value equality of two tables (same columns, same rows in the same order, nulls equal)."""
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    for c in a.columns:
        x, y = a[c].reset_index(drop=True), b[c].reset_index(drop=True)
        if not x.equals(y):
            xn, yn = x.isna(), y.isna()
            if not (xn.equals(yn) and x[~xn].astype(object).tolist() == y[~yn].astype(object).tolist()):
                return False
    return True


@dataclass
class Tables:
    """All tables of one dataset (empty optional tables when the data has none)."""

    accounts: pd.DataFrame
    cooperations: pd.DataFrame
    splits: pd.DataFrame
    grids: pd.DataFrame
    posts: pd.DataFrame = field(default_factory=lambda: empty_table("posts"))
    audience: pd.DataFrame = field(default_factory=lambda: empty_table("audience"))
    audience_posts: pd.DataFrame = field(default_factory=lambda: empty_table("audience_posts"))
    detections: pd.DataFrame = field(default_factory=lambda: empty_table("detections"))

    def items(self) -> list[tuple[str, pd.DataFrame]]:
        return [(name, getattr(self, name)) for name in TABLES]


def validate_tables(tables: Tables, sources: Mapping[str, object] | None = None) -> Tables:
    """Validate every table and the references between them; return canonical tables."""
    src = {name: (sources or {}).get(name, name) for name in TABLES}
    canon = {name: validate_table(name, frame, src[name]) for name, frame in tables.items()}
    accounts = canon["accounts"]
    roles = dict(zip(accounts["account_id"].tolist(), accounts["role"].tolist()))
    brands = {a for a, r in roles.items() if r == "brand"}
    influencers = {a for a, r in roles.items() if r == "influencer"}
    check_references(canon["posts"], "account_id", roles.keys(), src["posts"], "account")
    check_references(canon["audience"], "account_id", roles.keys(), src["audience"], "account")
    members = set(canon["audience"]["member_id"].tolist())
    check_references(canon["audience_posts"], "member_id", members, src["audience_posts"], "audience member")
    if len(canon["detections"]):
        post_ids = set(canon["posts"]["post_id"].tolist()) | set(canon["audience_posts"]["post_id"].tolist())
        check_references(canon["detections"], "post_id", post_ids, src["detections"], "post")
    check_references(canon["cooperations"], "brand_id", brands, src["cooperations"], "brand")
    check_references(canon["cooperations"], "influencer_id", influencers, src["cooperations"], "influencer")
    check_references(canon["splits"], "brand_id", brands, src["splits"], "brand")
    check_references(canon["grids"], "brand_id", brands, src["grids"], "brand")
    check_references(canon["grids"], "influencer_id", influencers, src["grids"], "influencer")
    check_no_leakage(canon["splits"], canon["grids"], src["splits"], src["grids"])
    return Tables(**canon)


#: Grids a model is selected (validation) or tested (test) on: their brands must not train.
EVALUATION_GRIDS = ("test", "validation")


def _named(brands: Sequence[str], first: int = 5) -> str:
    shown = ", ".join(repr(b) for b in brands[:first])
    return shown + (f" and {len(brands) - first} more" if len(brands) > first else "")


def check_no_leakage(splits: pd.DataFrame, grids: pd.DataFrame, splits_source: object = "splits",
                     grids_source: object = "grids") -> None:
    """Refuse train/test leakage: no brand of the 'test' or 'validation' grid may be in the
    'train' split (a model would train on the cooperations it is evaluated on), and no brand of
    the 'test' grid may be in the 'validation' grid or split (model selection would see test labels).

    Raises :class:`DatasetError` naming the first grid row, the first few brands and both tables.
    """
    if not len(grids):
        return
    split_of = dict(zip(splits["brand_id"].tolist(), splits["split"].tolist()))
    grid_names = grids["grid"].to_numpy()
    grid_brands = grids["brand_id"].to_numpy()
    in_split = {s: np.fromiter((split_of.get(b) == s for b in grid_brands), dtype=bool, count=len(grid_brands))
                for s in ("train", "validation")}
    valid_grid = set(grid_brands[grid_names == "validation"].tolist())
    in_valid_grid = np.fromiter((b in valid_grid for b in grid_brands), dtype=bool, count=len(grid_brands))
    checks = (
        ("test", in_split["train"], f"the 'train' split of {splits_source}", "trains on the brands it is tested on"),
        ("validation", in_split["train"], f"the 'train' split of {splits_source}",
         "selects the model on the brands it trained on"),
        ("test", in_split["validation"], f"the 'validation' split of {splits_source}",
         "is selected on the brands it is tested on"),
        ("test", in_valid_grid, "the 'validation' grid", "is selected on the brands it is tested on"),
    )
    for name, also, what, why in checks:
        bad = (grid_names == name) & also
        if bad.any():
            leaked = ordered_unique(grid_brands[bad].tolist())
            raise DatasetError(
                f"{where(grids_source, _first_bad(bad) + 1, 'brand_id')}: {len(leaked)} brand(s) of grid {name!r} "
                f"are also in {what}: {_named(leaked)} (train/test leakage: the model {why}; give these brands "
                f"the split {name!r} or remove them from the grid)"
            )


def ordered_unique(values: Sequence[str]) -> list[str]:
    """Distinct values in first-appearance order."""
    return list(dict.fromkeys(values))
