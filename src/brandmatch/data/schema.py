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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from brandmatch.errors import DatasetError, where

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
                Column("timestamp", "int", nullable=True),
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
                Column("timestamp", "int", nullable=True),
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
    return value.item() if isinstance(value, np.generic) else value


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


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
        if col.kind == "str":
            values = series.astype(object).where(~null, None)
            bad = np.array([v is not None and not isinstance(v, str) for v in values], dtype=bool)
            if bad.any():
                values = values.map(lambda v: v if v is None or isinstance(v, str) else str(v))
            if not col.nullable:
                blank = np.array([isinstance(v, str) and v.strip() == "" for v in values], dtype=bool)
                if blank.any():
                    row = _first_bad(blank) + 1
                    raise DatasetError(f"{where(source, row, col.name)}: empty value in table {name!r}")
            if col.allowed is not None:
                bad = np.array([v is not None and v not in col.allowed for v in values], dtype=bool)
                if bad.any():
                    i = _first_bad(bad)
                    raise DatasetError(
                        f"{where(source, i + 1, col.name)}: value {values.iloc[i]!r} not one of "
                        f"{', '.join(col.allowed)}"
                    )
            out[col.name] = values.astype(object)
        else:
            numeric = pd.to_numeric(series, errors="coerce")
            unparsable = numeric.isna().to_numpy() & ~null
            if unparsable.any():
                i = _first_bad(unparsable)
                raise DatasetError(
                    f"{where(source, i + 1, col.name)}: {_shown(series.iloc[i])!r} is not a number"
                )
            arr = numeric.to_numpy(dtype=float, na_value=np.nan)
            if np.isinf(arr).any():
                i = _first_bad(np.isinf(arr))
                raise DatasetError(f"{where(source, i + 1, col.name)}: infinite value")
            if col.kind == "int":
                frac = ~np.isnan(arr) & (arr != np.round(arr))
                if frac.any():
                    i = _first_bad(frac)
                    raise DatasetError(
                        f"{where(source, i + 1, col.name)}: {_shown(series.iloc[i])!r} is not an integer"
                    )
            if col.min_value is not None:
                low = ~np.isnan(arr) & (arr < col.min_value)
                if low.any():
                    i = _first_bad(low)
                    raise DatasetError(
                        f"{where(source, i + 1, col.name)}: {arr[i]:g} is below {col.min_value:g}"
                    )
            if col.max_value is not None and not (name == "detections" and col.name == "class_index"):
                high = ~np.isnan(arr) & (arr > col.max_value)
                if high.any():
                    i = _first_bad(high)
                    raise DatasetError(
                        f"{where(source, i + 1, col.name)}: {arr[i]:g} is above {col.max_value:g}"
                    )
            if col.kind == "int":
                out[col.name] = pd.array(
                    [None if np.isnan(v) else int(v) for v in arr], dtype="Int64"
                ) if null.any() else pd.array(arr.astype(np.int64), dtype="Int64")
                out[col.name] = pd.Series(out[col.name])
            else:
                out[col.name] = pd.Series(arr, dtype="float64")
    result = pd.DataFrame(out)
    if name == "detections" and len(result):
        limit = np.where(result["kind"].to_numpy() == "scene", N_SCENE_CLASSES, N_OBJECT_CLASSES)
        high = result["class_index"].to_numpy(dtype=np.int64) >= limit
        if high.any():
            i = _first_bad(high)
            raise DatasetError(
                f"{where(source, i + 1, 'class_index')}: class {result['class_index'].iloc[i]} out of "
                f"range for kind {result['kind'].iloc[i]!r} (objects < {N_OBJECT_CLASSES}, "
                f"scenes < {N_SCENE_CLASSES})"
            )
    if spec.key and len(result):
        dup = result.duplicated(list(spec.key)).to_numpy()
        if dup.any():
            i = _first_bad(dup)
            key = ", ".join(f"{k}={result[k].iloc[i]!r}" for k in spec.key)
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
        raise DatasetError(f"{where(source, i + 1, column)}: unknown {what} {values[i]!r}")


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
    return Tables(**canon)


def ordered_unique(values: Sequence[str]) -> list[str]:
    """Distinct values in first-appearance order."""
    return list(dict.fromkeys(values))
