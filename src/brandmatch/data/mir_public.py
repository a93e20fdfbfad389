"""Importer for the public brand/micro-influencer release (``datasets/mir-public``).

``import_mir(src)`` reads the published files as they are (``.pkl``/``.pickle`` through the
restricted unpickler of :mod:`brandmatch.data.safe_pickle`, ``.pt`` with
``torch.load(weights_only=True)``, ``.npy`` with ``allow_pickle=False``, ``.xls`` with xlrd,
``.xlsx`` with openpyxl) and returns an in-memory :class:`~brandmatch.data.store.Dataset` with
its tables and a :class:`~brandmatch.features.store.FeatureSet`; ``import_mir_to(src, out)``
also writes it (atomically) with :func:`~brandmatch.data.store.write_dataset`.

What the tables hold, and the decisions behind them (each is also recorded in
``dataset.metadata["decisions"]`` and checked by ``tests/data/test_mir_public.py``):

Accounts
    360 brands (``bamir-features/sorted_360_brand_list.pkl``; a brand's position there is its
    brand index) then 3,748 influencers (``sorted_3748_inf_list.pkl``), in those orders.
    ``account_id`` is the Instagram handle, except for the 4 handles that are both a brand and
    an influencer (``bernardaud``, ``earthhourofficial``, ``lgcanada``, ``mimichengs``): the brand
    keeps the handle and the influencer's ``account_id`` is ``f"{handle}#influencer"``
    (:data:`DUAL_ROLE_SUFFIX`); the ``handle`` column always holds the raw handle.
    ``followers`` and ``bio`` are null (not public).
Brand categories
    From ``mir-labels/pre_dataset.xls``: its rows list the brands in 12 blocks of 30 consecutive
    brands, in the order of :data:`CATEGORY_BLOCKS`. The importer checks that every brand's rows
    are contiguous, that the blocks hold 30 distinct brands each and that they cover the 360
    brands (a brand not covered would get a null category and be listed in the metadata).
    Influencers have a null category: theirs are derived from cooperations where needed.
Cooperations
    ``bamir-features/all_positive_tuples.pickle`` holds 4,452 (brand, influencer) pairs: the
    4,209 pairs of ``pre_dataset.xls`` plus 243 pairs whose influencer (237 handles) is in neither
    influencer list, so it has no id, no feature and no place in any grid. By default those 243
    pairs are left out of the cooperations table and listed in
    ``metadata["dropped_cooperations"]``; ``keep_unlisted_influencers=True`` keeps them and adds
    their influencers as extra accounts (after the 3,748, handle order) whose features are all
    masked. Every cooperation carries MIR's competence score from ``pre_dataset.xls`` where the
    pair is there (null otherwise). Rows are sorted by (brand index, influencer index).
Splits
    The official brand-disjoint split of the reproduction (``discover_train_brand_index`` 286,
    ``discover_test_brand_index`` 74); validation brands are carved out of the 286 with
    :func:`~brandmatch.data.splits.carve_validation` (category-stratified, seeded). Order: the
    ``discover_*`` order.
Grids (brand-major; brands and candidates in a stable, file-given order)
    ``test``: the official 74 x 797 grid of ``test_label_list.npy``, rows in
    ``discover_test_brand_index`` order and columns in ``discover_test_inf_index`` order,
    cross-checked cell by cell against the first 58,978 rows of
    ``morning-testset/testset_r.xlsx`` (the rest is padding); any disagreement is a
    :class:`DatasetError`.
    ``validation``: validation brands x the union of their partners
    (:func:`~brandmatch.data.splits.partner_grid` over the validation brands' cooperations).
    ``mir-test``: MIR's own grid (``mir-labels/test_set.xlsx``, 74 x 790), kept when it is a full
    grid, else skipped with a note in the metadata. Its brands are not exactly the official test
    brands (it has ``eurowingscrews``, a training brand of the official split, instead of
    ``pixar``): see ``metadata["grids"]["mir-test"]``.
Features (views of :mod:`brandmatch.features.store`, one row per account, accounts order)
    ``content_text``: the 19-d LDA topic distributions (``*_text_feature_lda.pt``), for every
    account in a ``discover_*`` list. 124 influencers are in both the train and the test
    influencer lists; their two rows come from two runs of the same topic model's (stochastic)
    inference and differ slightly; the train row is used and the differences are in the view's
    meta. ``content_visual``: the 1,365-d object (1,000) + scene (365) semantics, for the 360
    brands only; influencer rows are masked (the features are not public), never zero-filled as
    if real. ``attributes``: the 128-d node2vec attribute representation (float64 in the files,
    float32 here) for every listed account. Accounts in no ``discover_*`` list are masked.

Every file read is named, with its sha256, in ``metadata["files"]``. Bad input (a missing,
unreadable or malformed file, a shape mismatch, a disagreement between files) raises
:class:`DatasetError` naming the file (and the row and column where there is one);
:func:`import_mir_to` then leaves no output behind.
"""

from __future__ import annotations

import math
import os
import sys
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from brandmatch.data.safe_pickle import load_pickle
from brandmatch.data.schema import (
    N_OBJECT_CLASSES,
    N_SCENE_CLASSES,
    CandidateGrid,
    CooperationSet,
    Tables,
    grid_to_frame,
    validate_tables,
)
from brandmatch.data.splits import VALIDATION_FRACTION, carve_validation, partner_grid, splits_frame
from brandmatch.data.store import Dataset, write_dataset
from brandmatch.atomic import sha256_file
from brandmatch.errors import DatasetError, plain, where
from brandmatch.features.store import FeatureSet, FeatureView

#: Appended to the handle of an influencer whose handle is also a brand's.
DUAL_ROLE_SUFFIX = "#influencer"

#: The category of each block of 30 consecutive brands in ``pre_dataset.xls``, in order.
CATEGORY_BLOCKS = (
    "airline",
    "auto",
    "clothing",
    "drink",
    "electronics",
    "entertainment",
    "food",
    "jewelry",
    "makeup",
    "nonprofit",
    "shoes",
    "services",
)
BRANDS_PER_BLOCK = 30
#: Rows of ``testset_r.xlsx`` that form the official grid (74 x 797); later rows are padding.
TESTSET_R_GRID_ROWS = 74 * 797
#: Tolerance on "sums to 1" for the LDA rows and each part of the visual vector.
SUM_TOLERANCE = 1e-3

_B = "bamir-features"
_L = "mir-labels"
_T = "morning-testset"

#: Every file the importer reads, by role, relative to the release folder (read in this order:
#: small and fast files first, so that a bad file is reported quickly).
FILES: dict[str, str] = {
    "brand_list": f"{_B}/sorted_360_brand_list.pkl",
    "inf_list": f"{_B}/sorted_3748_inf_list.pkl",
    "category_list": f"{_B}/category_list.pickle",
    "train_brand_index": f"{_B}/discover_train_brand_index.pickle",
    "test_brand_index": f"{_B}/discover_test_brand_index.pickle",
    "train_inf_index": f"{_B}/discover_train_inf_index.pickle",
    "test_inf_index": f"{_B}/discover_test_inf_index.pickle",
    "positive_pairs": f"{_B}/all_positive_tuples.pickle",
    "test_labels": f"{_B}/test_label_list.npy",
    "train_brand_lda": f"{_B}/train_brand_text_feature_lda.pt",
    "test_brand_lda": f"{_B}/test_brand_text_feature_lda.pt",
    "train_inf_lda": f"{_B}/train_inf_text_feature_lda.pt",
    "test_inf_lda": f"{_B}/test_inf_text_feature_lda.pt",
    "train_brand_visual": f"{_B}/train_brand_mor_image_feature.pt",
    "test_brand_visual": f"{_B}/test_brand_mor_image_feature.pt",
    "train_brand_n2v": f"{_B}/train_brand_hashtag_weighted_nod2vec_0615_r1_sqrt.pt",
    "test_brand_n2v": f"{_B}/test_brand_hashtag_weighted_nod2vec_0615_r1_sqrt.pt",
    "train_inf_n2v": f"{_B}/train_inf_hashtag_weighted_nod2vec_0615_r1_sqrt.pt",
    "test_inf_n2v": f"{_B}/test_inf_hashtag_weighted_nod2vec_0615_r1_sqrt.pt",
    "pre_dataset": f"{_L}/pre_dataset.xls",
    "testset_r": f"{_T}/testset_r.xlsx",
    "mir_test_set": f"{_L}/test_set.xlsx",
}


# --------------------------------------------------------------------------- file readers


def _read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:
        raise DatasetError(f"{path}: not a readable .npy array ({type(exc).__name__}: {exc})") from None


def _read_pt(path: Path) -> np.ndarray:
    import torch  # heavy import, only needed here

    try:
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DatasetError(f"{path}: not a readable tensor file ({type(exc).__name__}: {first})") from None
    if not isinstance(obj, torch.Tensor):
        raise DatasetError(f"{path}: expected one tensor, found {type(obj).__name__}")
    if obj.dtype not in (torch.float32, torch.float64):
        raise DatasetError(f"{path}: expected a float tensor, found {obj.dtype}")
    return obj.detach().cpu().numpy()


def _cell_str(value: object) -> str | None:
    """A spreadsheet cell as a handle: text as is, whole numbers without '.0', blanks None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value):
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    text = str(value)
    return text if text.strip() else None


def _read_xls_rows(path: Path) -> list[list[object]]:
    import xlrd

    try:
        book = xlrd.open_workbook(str(path))
        sheet = book.sheet_by_index(0)
        return [sheet.row_values(r) for r in range(sheet.nrows)]
    except Exception as exc:
        raise DatasetError(f"{path}: not a readable .xls workbook ({type(exc).__name__}: {exc})") from None


def _read_xlsx_rows(path: Path) -> list[tuple[object, ...]]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            rows = list(wb.worksheets[0].iter_rows(values_only=True))
        finally:
            wb.close()
        return rows
    except Exception as exc:
        raise DatasetError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from None


_READERS: dict[str, Callable[[Path], Any]] = {
    ".pkl": load_pickle,
    ".pickle": load_pickle,
    ".npy": _read_npy,
    ".pt": _read_pt,
    ".xls": _read_xls_rows,
    ".xlsx": _read_xlsx_rows,
}

#: Parsed spreadsheets by content hash: parsing ~120,000 xlsx rows takes seconds, and a parse is
#: a pure function of the file's bytes, so importing twice in one process parses once.
_SHEET_CACHE: OrderedDict[tuple[str, str], tuple[tuple[object, ...], ...]] = OrderedDict()
_SHEET_CACHE_SIZE = 4


def _read(path: Path, sha256: str) -> Any:
    """Read one release file with the reader of its suffix (spreadsheets memoized by sha256)."""
    reader = _READERS[path.suffix]
    if path.suffix not in (".xls", ".xlsx"):
        return reader(path)
    key = (path.suffix, sha256)
    if key in _SHEET_CACHE:
        _SHEET_CACHE.move_to_end(key)
        return _SHEET_CACHE[key]
    rows = tuple(tuple(row) for row in reader(path))
    _SHEET_CACHE[key] = rows
    while len(_SHEET_CACHE) > _SHEET_CACHE_SIZE:
        _SHEET_CACHE.popitem(last=False)
    return rows


# --------------------------------------------------------------------------- shape checks


def _str_list(obj: object, path: Path) -> list[str]:
    if not isinstance(obj, list):
        raise DatasetError(f"{path}: expected a list of names, found {type(obj).__name__}")
    seen: set[str] = set()
    for i, v in enumerate(obj):
        if not isinstance(v, str) or not v.strip():
            raise DatasetError(f"{where(path, i + 1)}: expected a non-empty name, found {v!r}")
        if v in seen:
            raise DatasetError(f"{where(path, i + 1)}: duplicate name {v!r}")
        seen.add(v)
    return list(obj)


def _index_list(obj: object, path: Path, upper: int, what: str) -> list[int]:
    if not isinstance(obj, list):
        raise DatasetError(f"{path}: expected a list of {what} indices, found {type(obj).__name__}")
    seen: set[int] = set()
    for i, v in enumerate(obj):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < upper:
            raise DatasetError(f"{where(path, i + 1)}: {v!r} is not a {what} index in [0, {upper})")
        if v in seen:
            raise DatasetError(f"{where(path, i + 1)}: duplicate {what} index {v}")
        seen.add(v)
    return list(obj)


def _pair_set(obj: object, path: Path) -> list[tuple[str, str]]:
    if not isinstance(obj, (set, frozenset, list)):
        raise DatasetError(f"{path}: expected a set of (brand, influencer) pairs, found {type(obj).__name__}")
    pairs = []
    for v in obj:
        if not (isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, str) and x for x in v)):
            raise DatasetError(f"{path}: expected (brand, influencer) name pairs, found {v!r}")
        pairs.append(v)
    return sorted(set(pairs))


def _matrix(arr: np.ndarray, path: Path, rows: int, dim: int | None = None) -> np.ndarray:
    if arr.ndim != 2:
        raise DatasetError(f"{path}: expected a 2-d matrix, found shape {tuple(arr.shape)}")
    if arr.shape[0] != rows:
        raise DatasetError(
            f"{path}: {arr.shape[0]} rows, expected {rows} (one per entry of the matching discover_* index)"
        )
    if dim is not None and arr.shape[1] != dim:
        raise DatasetError(f"{where(path, column=arr.shape[1])}: {arr.shape[1]} columns, expected {dim}")
    bad = ~np.isfinite(arr)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DatasetError(f"{where(path, int(r) + 1, int(c) + 1)}: non-finite value {arr[r, c]}")
    return arr


# --------------------------------------------------------------------------- import


def _load_files(src: Path, progress: bool) -> tuple[dict[str, Any], dict[str, str]]:
    if not src.is_dir():
        raise DatasetError(f"{src}: no such directory (expected the mir-public release folder)")
    for key, rel in FILES.items():  # report a missing file before reading anything
        if not (src / rel).is_file():
            raise DatasetError(f"{src / rel}: missing file of the mir-public release")
    from tqdm import tqdm

    data: dict[str, Any] = {}
    hashes: dict[str, str] = {}
    bar = tqdm(FILES.items(), desc="import-mir", unit="file", file=sys.stderr, disable=not progress)
    for key, rel in bar:
        path = src / rel
        bar.set_postfix_str(path.name, refresh=False)
        hashes[rel] = sha256_file(path)
        data[key] = _read(path, hashes[rel])
    return data, hashes


def _brand_categories(
    rows: Sequence[Sequence[object]], path: Path, brand_set: set[str], inf_index: dict[str, int]
) -> tuple[dict[str, str], dict[tuple[str, str], float], dict]:
    """Categories from the block rule, and the competence score of every pre_dataset pair."""
    order: list[str] = []
    seen: set[str] = set()
    scores: dict[tuple[str, str], float] = {}
    for r, row in enumerate(rows, start=1):
        if len(row) < 3:
            raise DatasetError(f"{where(path, r)}: {len(row)} columns, expected at least 3")
        brand, inf = _cell_str(row[0]), _cell_str(row[1])
        if brand is None:
            raise DatasetError(f"{where(path, r, 'A')}: empty brand")
        if inf is None:
            raise DatasetError(f"{where(path, r, 'B')}: empty influencer")
        if brand not in brand_set:
            raise DatasetError(f"{where(path, r, 'A')}: unknown brand {brand!r} (not in sorted_360_brand_list.pkl)")
        if inf not in inf_index:
            raise DatasetError(
                f"{where(path, r, 'B')}: unknown influencer {inf!r} (not in sorted_3748_inf_list.pkl)"
            )
        score = row[2]
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise DatasetError(f"{where(path, r, 'C')}: competence score {score!r} is not a number")
        if not order or order[-1] != brand:
            if brand in seen:
                raise DatasetError(
                    f"{where(path, r, 'A')}: brand {brand!r} reappears after other brands "
                    f"(the category rule needs each brand's rows to be contiguous)"
                )
            order.append(brand)
            seen.add(brand)
        if (brand, inf) in scores:
            raise DatasetError(f"{where(path, r, 'B')}: duplicate pair ({brand!r}, {inf!r})")
        scores[(brand, inf)] = float(score)
    n_expected = len(CATEGORY_BLOCKS) * BRANDS_PER_BLOCK
    if len(order) != n_expected:
        raise DatasetError(
            f"{path}: {len(order)} distinct brands, expected {n_expected} "
            f"({len(CATEGORY_BLOCKS)} blocks of {BRANDS_PER_BLOCK}): the category rule does not apply"
        )
    category: dict[str, str] = {}
    block_sizes = []
    for k, cat in enumerate(CATEGORY_BLOCKS):
        block = order[k * BRANDS_PER_BLOCK : (k + 1) * BRANDS_PER_BLOCK]
        block_sizes.append(len(set(block)))
        for b in block:
            category[b] = cat
    report = {
        "rule": "pre_dataset.xls lists brands in 12 blocks of 30 consecutive brands: "
        + ", ".join(CATEGORY_BLOCKS),
        "block_sizes": block_sizes,
        "brands_covered": len(category),
    }
    return category, scores, report


def _sheet_triples(
    rows: Sequence[Sequence[object]], path: Path
) -> tuple[list[str], list[str], np.ndarray]:
    """Columns A (brand), B (influencer), C (label 0/1) of spreadsheet rows, checked.

    Errors name the spreadsheet row (1-based; these files have no header) and column.
    """
    for r, row in enumerate(rows):
        if len(row) < 3:
            raise DatasetError(f"{where(path, r + 1)}: {len(row)} columns, expected 3 (brand, influencer, label)")
    cols = []
    for k, letter in ((0, "A"), (1, "B")):
        col = [v if type(v) is str else _cell_str(v) for v in (row[k] for row in rows)]
        if None in col:
            raise DatasetError(f"{where(path, col.index(None) + 1, letter)}: empty cell")
        cols.append(col)
    raw = [row[2] for row in rows]
    ok = np.fromiter(((type(v) is int or type(v) is float) and (v == 0 or v == 1) for v in raw), dtype=bool, count=len(raw))
    if not ok.all():
        r = int(np.flatnonzero(~ok)[0])
        raise DatasetError(f"{where(path, r + 1, 'C')}: label {plain(raw[r])!r} is not 0 or 1")
    return cols[0], cols[1], np.array(raw, dtype=np.float64).astype(np.int8)


def _positions(values: list[str], index: dict[str, int], path: Path, column: str, what: str) -> np.ndarray:
    """Position of every value in ``index``; the first unknown value is an error naming its row."""
    pos = np.fromiter((index.get(v, -1) for v in values), dtype=np.int64, count=len(values))
    if (pos < 0).any():
        r = int(np.flatnonzero(pos < 0)[0])
        raise DatasetError(f"{where(path, r + 1, column)}: {what} {plain(values[r])!r}")
    return pos


def _grid_long(rows: Sequence[Sequence[object]], path: Path, b_ids: dict[str, str], m_ids: dict[str, str]) -> pd.DataFrame:
    """Rows (brand, influencer, label) of a spreadsheet as a grids frame with account ids."""
    b, m, labels = _sheet_triples(rows, path)
    b_list, m_list = list(b_ids), list(m_ids)
    bi = _positions(b, {h: i for i, h in enumerate(b_list)}, path, "A", "unknown brand")
    mi = _positions(m, {h: i for i, h in enumerate(m_list)}, path, "B", "unknown influencer")
    b_vals = np.array([b_ids[h] for h in b_list], dtype=object)
    m_vals = np.array([m_ids[h] for h in m_list], dtype=object)
    return pd.DataFrame({"brand_id": b_vals[bi], "influencer_id": m_vals[mi], "label": labels.astype(np.int64)})


def _full_grid(frame: pd.DataFrame, name: str) -> tuple[CandidateGrid | None, str | None]:
    """The frame as a full brand x candidate grid (first-appearance orders), or the reason it is not one."""
    if frame.duplicated(["brand_id", "influencer_id"]).any():
        i = int(np.flatnonzero(frame.duplicated(["brand_id", "influencer_id"]).to_numpy())[0])
        return None, f"duplicate pair at row {i + 1}"
    brands = list(dict.fromkeys(frame["brand_id"].tolist()))
    infs = list(dict.fromkeys(frame["influencer_id"].tolist()))
    if len(frame) != len(brands) * len(infs):
        return None, f"{len(frame)} rows for {len(brands)} brands x {len(infs)} candidates: not a full grid"
    bi = {b: i for i, b in enumerate(brands)}
    mi = {m: j for j, m in enumerate(infs)}
    labels = np.zeros((len(brands), len(infs)), dtype=np.int8)
    labels[[bi[b] for b in frame["brand_id"]], [mi[m] for m in frame["influencer_id"]]] = frame["label"].to_numpy()
    return CandidateGrid(name, np.array(brands, dtype=object), np.array(infs, dtype=object), labels), None


def _check_sums(x: np.ndarray, path: Path, what: str, lo: int = 0, hi: int | None = None) -> dict:
    part = x[:, lo:hi]
    s = part.astype(np.float64).sum(axis=1)
    dev = np.abs(s - 1.0)
    if len(dev) and dev.max() > SUM_TOLERANCE:
        r = int(np.argmax(dev))
        raise DatasetError(
            f"{where(path, r + 1)}: {what} sums to {s[r]:.6f}, expected 1 (tolerance {SUM_TOLERANCE:g})"
        )
    return {"min": float(s.min()), "max": float(s.max())} if len(s) else {"min": None, "max": None}


def import_mir(
    src: str | os.PathLike,
    *,
    validation_fraction: float = VALIDATION_FRACTION,
    seed: int = 0,
    progress: bool = True,
    keep_unlisted_influencers: bool = False,
) -> Dataset:
    """Read the mir-public release folder ``src`` into an in-memory, validated :class:`Dataset`.

    ``validation_fraction`` and ``seed`` drive the carving of validation brands out of the
    official training brands; ``progress`` shows a progress bar over the files on stderr;
    ``keep_unlisted_influencers`` keeps the 243 cooperations whose influencer is in no list (see
    the module docstring). The dataset's ``features`` hold content_text, content_visual and
    attributes. Raises :class:`DatasetError` naming the file at fault.
    """
    src = Path(src)
    data, hashes = _load_files(src, progress)

    def p(key: str) -> Path:
        return src / FILES[key]

    # ---------------------------------------------------------------- accounts
    brands = _str_list(data["brand_list"], p("brand_list"))
    infs = _str_list(data["inf_list"], p("inf_list"))
    categories = data["category_list"]
    if not isinstance(categories, list) or sorted(map(str, categories)) != sorted(CATEGORY_BLOCKS):
        raise DatasetError(
            f"{p('category_list')}: expected the 12 categories {', '.join(sorted(CATEGORY_BLOCKS))}, "
            f"found {categories!r}"
        )
    brand_set = set(brands)
    inf_pos = {h: i for i, h in enumerate(infs)}
    dual = sorted(brand_set & set(inf_pos))
    brand_id = {h: h for h in brands}
    inf_id = {h: (h + DUAL_ROLE_SUFFIX if h in brand_set else h) for h in infs}

    # ---------------------------------------------------------------- categories + scores
    category, pre_scores, cat_report = _brand_categories(data["pre_dataset"], p("pre_dataset"), brand_set, inf_pos)
    no_category = [b for b in brands if b not in category]

    # ---------------------------------------------------------------- cooperations
    pairs = _pair_set(data["positive_pairs"], p("positive_pairs"))
    unknown_brands = sorted({b for b, _ in pairs if b not in brand_set})
    if unknown_brands:
        raise DatasetError(
            f"{p('positive_pairs')}: unknown brand {unknown_brands[0]!r} (not in sorted_360_brand_list.pkl)"
        )
    pair_set = set(pairs)
    pre_pairs = set(pre_scores)
    pre_only = sorted(pre_pairs - pair_set)
    all_pairs = sorted(pair_set | pre_pairs)
    unlisted = [(b, m) for b, m in all_pairs if m not in inf_pos]
    unlisted_handles = sorted({m for _, m in unlisted})
    extra_inf_ids: dict[str, str] = {}
    if keep_unlisted_influencers:
        for h in unlisted_handles:
            extra_inf_ids[h] = h + DUAL_ROLE_SUFFIX if h in brand_set else h
        kept = all_pairs
    else:
        kept = [(b, m) for b, m in all_pairs if m in inf_pos]
    all_inf_id = {**inf_id, **extra_inf_ids}
    b_pos = {b: i for i, b in enumerate(brands)}
    m_order = {h: i for i, h in enumerate(infs + unlisted_handles)}
    kept.sort(key=lambda bm: (b_pos[bm[0]], m_order[bm[1]]))
    cooperations = pd.DataFrame(
        {
            "brand_id": [brand_id[b] for b, _ in kept],
            "influencer_id": [all_inf_id[m] for _, m in kept],
            "score": [pre_scores.get(bm, np.nan) for bm in kept],
        }
    )

    influencer_handles = infs + (unlisted_handles if keep_unlisted_influencers else [])
    accounts = pd.DataFrame(
        {
            "account_id": [brand_id[b] for b in brands] + [all_inf_id[m] for m in influencer_handles],
            "handle": brands + influencer_handles,
            "role": ["brand"] * len(brands) + ["influencer"] * len(influencer_handles),
            "category": [category.get(b) for b in brands] + [None] * len(influencer_handles),
            "followers": pd.array([None] * (len(brands) + len(influencer_handles)), dtype="Int64"),
            "bio": [None] * (len(brands) + len(influencer_handles)),
        }
    )

    # ---------------------------------------------------------------- splits
    trb = _index_list(data["train_brand_index"], p("train_brand_index"), len(brands), "brand")
    teb = _index_list(data["test_brand_index"], p("test_brand_index"), len(brands), "brand")
    tri = _index_list(data["train_inf_index"], p("train_inf_index"), len(infs), "influencer")
    tei = _index_list(data["test_inf_index"], p("test_inf_index"), len(infs), "influencer")
    both = sorted(set(trb) & set(teb))
    if both:
        raise DatasetError(
            f"{p('test_brand_index')}: brand {brands[both[0]]!r} (index {both[0]}) is also a training brand"
        )
    train_official = [brand_id[brands[i]] for i in trb]
    test_brands = [brand_id[brands[i]] for i in teb]
    no_split = [b for i, b in enumerate(brands) if i not in set(trb) | set(teb)]
    train_brands, valid_brands = carve_validation(train_official, category, validation_fraction, seed)
    splits = splits_frame(train_brands, valid_brands, test_brands)

    # ---------------------------------------------------------------- test grid
    lab_path = p("test_labels")
    labels = data["test_labels"]
    if labels.shape != (len(teb), len(tei)):
        raise DatasetError(
            f"{lab_path}: shape {tuple(labels.shape)}, expected ({len(teb)}, {len(tei)}) "
            "(test brands x test influencers of the discover_* index lists)"
        )
    if not np.issubdtype(labels.dtype, np.integer) and not np.issubdtype(labels.dtype, np.bool_):
        raise DatasetError(f"{lab_path}: expected integer labels, found dtype {labels.dtype}")
    bad = (labels != 0) & (labels != 1)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DatasetError(f"{where(lab_path, int(r) + 1, int(c) + 1)}: label {labels[r, c]} is not 0 or 1")
    test_cands = [inf_id[infs[i]] for i in tei]
    test_grid = CandidateGrid("test", np.array(test_brands, dtype=object), np.array(test_cands, dtype=object), labels.astype(np.int8))
    tr_path = p("testset_r")
    tr_rows = data["testset_r"]
    n_grid = len(teb) * len(tei)
    nm = len(tei)
    if len(tr_rows) < n_grid:
        raise DatasetError(f"{tr_path}: {len(tr_rows)} rows, expected at least {n_grid} ({len(teb)} x {len(tei)} grid)")
    tb_pos = {brands[i]: a for a, i in enumerate(teb)}
    ti_pos = {infs[i]: c for c, i in enumerate(tei)}
    # cell by cell, matched by (brand, influencer) name: testset_r.xlsx has its own order
    tr_b, tr_m, tr_lab = _sheet_triples(tr_rows[:n_grid], tr_path)
    ai = _positions(tr_b, tb_pos, tr_path, "A", f"brand not in {FILES['test_brand_index']}:")
    ci = _positions(tr_m, ti_pos, tr_path, "B", f"influencer not in {FILES['test_inf_index']}:")
    flat = ai * nm + ci
    _, first = np.unique(flat, return_index=True)
    if len(first) != n_grid:
        dup = np.ones(n_grid, dtype=bool)
        dup[first] = False
        r = int(np.flatnonzero(dup)[0])
        raise DatasetError(f"{where(tr_path, r + 1, 'B')}: pair ({plain(tr_b[r])!r}, {plain(tr_m[r])!r}) appears twice in the grid rows")
    differ = labels[ai, ci] != tr_lab
    if differ.any():
        r = int(np.flatnonzero(differ)[0])
        raise DatasetError(
            f"{where(tr_path, r + 1, 'C')}: label {plain(tr_lab[r])} for ({plain(tr_b[r])!r}, {plain(tr_m[r])!r}), but "
            f"{lab_path.name} has {labels[ai[r], ci[r]]} at row {ai[r] + 1}, column {ci[r] + 1}"
        )
    tr_brand_order = list(dict.fromkeys(tr_b))
    tr_m_grid = np.array(tr_m, dtype=object).reshape(len(teb), nm)
    testset_r_order = {
        "brand_major": bool((np.array(tr_b, dtype=object) == np.repeat(np.array(tr_brand_order, dtype=object), nm)).all()),
        "same_candidate_order_for_every_brand": bool((tr_m_grid == tr_m_grid[:1]).all()),
        "brands_in_discover_order": tr_brand_order == [brands[i] for i in teb],
        "candidates_in_discover_order": tr_m_grid[0].tolist() == [infs[i] for i in tei],
    }

    # ---------------------------------------------------------------- validation grid
    co_set = CooperationSet.from_frame(cooperations)
    valid_grid = partner_grid("validation", valid_brands, co_set)

    # ---------------------------------------------------------------- MIR's test grid
    mir_path = p("mir_test_set")
    mir_frame = _grid_long(data["mir_test_set"], mir_path, brand_id, inf_id)
    mir_grid, mir_problem = _full_grid(mir_frame, "mir-test")
    split_of = {b: s for b, s in zip(splits["brand_id"], splits["split"])}
    co_pairs = set(zip(cooperations["brand_id"], cooperations["influencer_id"]))
    if mir_grid is not None:
        mb = mir_grid.brand_ids.tolist()
        mir_info = {
            "included": True,
            "source": FILES["mir_test_set"],
            "brands": len(mb),
            "candidates": int(len(mir_grid.influencer_ids)),
            "positives": mir_grid.n_positives,
            "brands_not_in_official_test": {b: split_of.get(b) for b in mb if b not in set(test_brands)},
            "official_test_brands_missing": [b for b in test_brands if b not in set(mb)],
            "candidates_not_in_official_test_grid": sorted(set(mir_grid.influencer_ids.tolist()) - set(test_cands)),
            "positives_not_cooperations": len(
                set(zip(*(mir_frame.loc[mir_frame["label"] == 1, c] for c in ("brand_id", "influencer_id")))) - co_pairs
            ),
            "note": "MIR's grid: its per-brand candidate order differs in the file; stored in first-appearance "
            "order. It contains brands of the official training split (see brands_not_in_official_test): "
            "do not evaluate on it a model trained on the official split without removing them.",
        }
    else:
        mir_info = {"included": False, "source": FILES["mir_test_set"], "reason": mir_problem}

    grids = [test_grid, valid_grid] + ([mir_grid] if mir_grid is not None else [])
    grids_frame = pd.concat([grid_to_frame(g) for g in grids], ignore_index=True)

    # ---------------------------------------------------------------- consistency report
    test_set = set(test_brands)
    test_pos = {(test_brands[a], test_cands[c]) for a, c in zip(*np.nonzero(labels))}
    test_brand_coops = {(b, m) for b, m in co_pairs if b in test_set}
    cooperation_report = {
        "source": FILES["positive_pairs"],
        "scores_from": FILES["pre_dataset"],
        "all_positive_pairs": len(pair_set),
        "pre_dataset_pairs": len(pre_pairs),
        "pre_dataset_pairs_missing_from_all_positive": len(pre_only),
        "all_positive_pairs_not_in_pre_dataset": len(pair_set - pre_pairs),
        "pairs_with_unlisted_influencer": len(unlisted),
        "unlisted_influencers": len(unlisted_handles),
        "unlisted_policy": "kept (extra influencer accounts, all features masked)"
        if keep_unlisted_influencers
        else "dropped (listed in metadata.dropped_cooperations)",
        "cooperations": int(len(cooperations)),
        "with_score": int(cooperations["score"].notna().sum()),
        "test_grid_positives": len(test_pos),
        "test_grid_positives_not_cooperations": len(test_pos - co_pairs),
        "test_brand_cooperations": len(test_brand_coops),
        "test_brand_cooperations_outside_test_grid": len(test_brand_coops - test_pos),
    }

    # ---------------------------------------------------------------- features
    ids_all = accounts["account_id"].tolist()
    row_of = {a: i for i, a in enumerate(ids_all)}
    n = len(ids_all)

    def rows_for(index: list[int], handles: list[str], id_map: dict[str, str]) -> list[int]:
        return [row_of[id_map[handles[i]]] for i in index]

    brand_rows = {"train": rows_for(trb, brands, brand_id), "test": rows_for(teb, brands, brand_id)}
    inf_rows = {"train": rows_for(tri, infs, inf_id), "test": rows_for(tei, infs, inf_id)}
    overlap = sorted(set(tri) & set(tei))
    tri_pos = {v: k for k, v in enumerate(tri)}
    tei_pos = {v: k for k, v in enumerate(tei)}

    def build(view: str, keys: dict[tuple[str, str], str], dim: int | None, roles: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, dict]:
        mats = {}
        for (role, part), key in keys.items():
            idx = {"brand": {"train": trb, "test": teb}, "influencer": {"train": tri, "test": tei}}[role][part]
            mats[(role, part)] = _matrix(np.asarray(data[key]), p(key), len(idx), dim)
            dim = mats[(role, part)].shape[1]  # every file of a view has the first file's width
        d = int(dim)
        values = np.zeros((n, d), dtype=np.float32)
        mask = np.zeros(n, dtype=bool)
        meta: dict[str, Any] = {"files": sorted(FILES[k] for k in keys.values()), "source_dtype": sorted({str(m.dtype) for m in mats.values()})}
        # test rows first, then train rows overwrite: the train row wins for accounts in both lists
        for part in ("test", "train"):
            for role in roles:
                if (role, part) in mats:
                    target = (brand_rows if role == "brand" else inf_rows)[part]
                    values[target] = mats[(role, part)].astype(np.float32)
                    mask[target] = True
        if "influencer" in roles and overlap:
            a = mats[("influencer", "train")][[tri_pos[i] for i in overlap]].astype(np.float64)
            b = mats[("influencer", "test")][[tei_pos[i] for i in overlap]].astype(np.float64)
            diff = np.abs(a - b).max(axis=1)
            meta["overlap"] = {
                "influencers_in_train_and_test_lists": len(overlap),
                "row_used": "train",
                "max_abs_diff": float(diff.max()),
                "mean_abs_diff": float(np.abs(a - b).mean()),
                "rows_differing_gt_1e-6": int((diff > 1e-6).sum()),
                "rows_differing_gt_1e-2": int((diff > 1e-2).sum()),
                "argmax_agreement": float((a.argmax(axis=1) == b.argmax(axis=1)).mean()),
            }
        return values, mask, meta

    text_keys = {
        ("brand", "train"): "train_brand_lda",
        ("brand", "test"): "test_brand_lda",
        ("influencer", "train"): "train_inf_lda",
        ("influencer", "test"): "test_inf_lda",
    }
    t_values, t_mask, t_meta = build("content_text", text_keys, None, ("brand", "influencer"))
    t_meta["row_sums"] = {k: _check_sums(np.asarray(data[v]), p(v), "LDA topic distribution") for k, v in
                          ((f"{r}_{s}", key) for (r, s), key in text_keys.items())}
    t_meta["description"] = "LDA topic distribution of the account's captions (19 topics)"
    content_text = FeatureView("content_text", np.array(ids_all), t_values, t_mask, t_meta)

    vis_keys = {("brand", "train"): "train_brand_visual", ("brand", "test"): "test_brand_visual"}
    v_values, v_mask, v_meta = build("content_visual", vis_keys, N_OBJECT_CLASSES + N_SCENE_CLASSES, ("brand",))
    v_meta["parts"] = {"object": [0, N_OBJECT_CLASSES], "scene": [N_OBJECT_CLASSES, N_OBJECT_CLASSES + N_SCENE_CLASSES]}
    v_meta["part_sums"] = {
        f"{part}_{s}": _check_sums(np.asarray(data[key]), p(key), f"{part} part", lo, hi)
        for (_, s), key in vis_keys.items()
        for part, lo, hi in (("object", 0, N_OBJECT_CLASSES), ("scene", N_OBJECT_CLASSES, None))
    }
    v_meta["description"] = "object (1,000) + scene (365) semantics; brands only: influencer image features are not public"
    content_visual = FeatureView("content_visual", np.array(ids_all), v_values, v_mask, v_meta)

    n2v_keys = {
        ("brand", "train"): "train_brand_n2v",
        ("brand", "test"): "test_brand_n2v",
        ("influencer", "train"): "train_inf_n2v",
        ("influencer", "test"): "test_inf_n2v",
    }
    a_values, a_mask, a_meta = build("attributes", n2v_keys, None, ("brand", "influencer"))
    a_meta["description"] = "node2vec attribute representation (hashtag weighted), float64 in the files"
    attributes = FeatureView("attributes", np.array(ids_all), a_values, a_mask, a_meta)
    features = FeatureSet({v.name: v for v in (content_text, content_visual, attributes)})

    # ---------------------------------------------------------------- tables + metadata
    tables = validate_tables(
        Tables(accounts=accounts, cooperations=cooperations, splits=splits, grids=grids_frame),
        {name: f"{src} ({name})" for name in ("accounts", "cooperations", "splits", "grids")},
    )
    listed = set(tri) | set(tei)
    metadata = {
        "source": str(src),
        "importer": "brandmatch.data.mir_public",
        "files": {rel: {"sha256": hashes[rel]} for rel in FILES.values()},
        "counts": {
            "brands": len(brands),
            "influencers": len(influencer_handles),
            "listed_influencers": len(infs),
            "cooperations": int(len(cooperations)),
            "splits": {s: int(c) for s, c in sorted(Counter(splits["split"]).items())},
            "official_split": {"train": len(trb), "test": len(teb)},
            "train_influencer_list": len(tri),
            "test_influencer_list": len(tei),
            "influencers_in_both_lists": len(overlap),
            "influencers_in_no_list": len(infs) - len(listed),
            "categories": {c: int(k) for c, k in sorted(Counter(category.values()).items())},
            "grids": {
                g.name: {"brands": int(len(g.brand_ids)), "candidates": int(len(g.influencer_ids)), "positives": g.n_positives}
                for g in grids
            },
            "features": {v.name: {"dim": v.dim, "present": int(v.mask.sum())} for v in features.views.values()},
        },
        "decisions": {
            "account_ids": f"the handle; an influencer whose handle is also a brand's gets handle + {DUAL_ROLE_SUFFIX!r}",
            "dual_role_handles": dual,
            "brand_categories": cat_report,
            "brands_without_category": no_category,
            "influencer_category": "null (derived from cooperations where needed)",
            "followers_and_bio": "null (not public)",
            "cooperations": cooperation_report,
            "splits": {
                "official": "bamir-features/discover_{train,test}_brand_index.pickle",
                "validation": "carve_validation over the official training brands (category-stratified)",
                "validation_fraction": validation_fraction,
                "seed": seed,
                "brands_without_split": no_split,
            },
            "test_grid": {
                "source": FILES["test_labels"],
                "order": "rows: discover_test_brand_index; columns: discover_test_inf_index",
                "cross_checked_against": FILES["testset_r"],
                "cells_checked": n_grid,
                "cells_matched_by": "(brand, influencer) name: testset_r.xlsx lists the grid in its own order",
                "testset_r_order": testset_r_order,
                "padding_rows_ignored": len(tr_rows) - n_grid,
            },
            "validation_grid": "validation brands x union of their partners (partner_grid)",
            "content_text": "train row used for influencers in both the train and the test list",
            "content_visual": "brands only; influencer rows masked",
            "unused_files": [
                f"{_B}/train_label_triplet_hard13_five_samebrand.npy (the reproduction's sampled triplets)",
                f"{_L}/pre_dataset_train.xlsx, {_L}/pre_dataset_test.xlsx (MIR's split of the same rows)",
                "morning-attributes/* (attribute graph; the account -> attribute mapping is not public)",
            ],
        },
        "grids": {"mir-test": mir_info},
        "dropped_cooperations": [] if keep_unlisted_influencers else [list(bm) for bm in unlisted],
    }
    ds = Dataset("mir-public", tables, metadata)
    ds.features = features
    return ds


def import_mir_to(
    src: str | os.PathLike,
    out: str | os.PathLike,
    overwrite: bool = False,
    **kwargs: Any,
) -> Dataset:
    """:func:`import_mir` then :func:`write_dataset` (atomic); returns the dataset bound to ``out``.

    Refuses an existing ``out`` unless ``overwrite`` (checked before the import starts).
    """
    out = Path(out)
    from brandmatch.data.user_import import check_output_not_source

    check_output_not_source(src, out)
    if out.exists() and not overwrite:
        raise DatasetError(f"{out}: already exists (use --force to replace it)")
    ds = import_mir(src, **kwargs)
    written = write_dataset(ds, out, overwrite=overwrite)
    written.features = ds.features
    return written
