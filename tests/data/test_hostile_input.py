"""Issue 14.9: hostile input, generated with Hypothesis.

Property, for `brandmatch import` (CSV and Parquet) and for the brand-profile loader (import-format
and instaloader folders): every input either loads, or raises a
:class:`~brandmatch.errors.BrandmatchError` whose one-line message names a file of the input (CLI:
exit code 2, one line on stderr) and leaves no output behind (no --out folder, no temporary
sibling). Any other exception, a second line or a written output on failure breaks the property.

Bounded for the test suite (``max_examples`` below, a few seconds per test); the environment
variable ``BRANDMATCH_FUZZ_EXAMPLES`` raises it (``benchmarks/fuzz_import.py --examples N``).
"""

from __future__ import annotations

import io
import json
import lzma
import math
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brandmatch.cli import main
from brandmatch.data.profile import load_brand_profile
from brandmatch.data.store import load_dataset
from brandmatch.errors import BrandmatchError

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "examples" / "tiny"
NEW_BRAND = REPO / "examples" / "new-brand"
INSTALOADER = REPO / "examples" / "new-brand-instaloader"

EXAMPLES = int(os.environ.get("BRANDMATCH_FUZZ_EXAMPLES", "30"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 30, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ------------------------------------------------------------------ hostile values

SPECIAL = [
    "", " ", "NaN", "nan", "inf", "-inf", "Infinity", "1e309", "1e30", "-1", "0", "1.5", "12k", "9" * 40,
    "0x1F", "True", "None", "null", "2023-11-14T22:13:20Z", "14/11/2023", "9999-99-99", "1e17",
    "\u200b", "ana.brews\u200b", "ana.brews", "brewhaus", "latte_leo", "cafe\u0301", "caf\u00e9", "\ufeff",
    "\u202e", "\x07", "\x00", "\r\n", '"', ",", "../../etc/passwd", "/etc/passwd", "C:\\x.jpg",
    "https://example.com/x.jpg", "x" * 5000, "\U0001f642", "\u0130", "brand", "influencer", "drink",
]
TEXT = st.one_of(
    st.sampled_from(SPECIAL),
    st.text(max_size=20),
    st.text(min_size=300, max_size=2000),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


def _tables(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.csv"))


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _arrow_column(draw, n: int) -> pa.Array:
    kind = draw(st.sampled_from(["bool", "list", "binary", "float", "int", "text", "timestamp", "date", "null",
                                 "dict", "struct", "uint64"]))
    if kind == "bool":
        return pa.array(draw(st.lists(st.one_of(st.none(), st.booleans()), min_size=n, max_size=n)))
    if kind == "list":
        return pa.array([[1, 2]] * n)
    if kind == "binary":
        return pa.array(draw(st.lists(st.binary(max_size=8), min_size=n, max_size=n)), type=pa.binary())
    if kind == "float":
        return pa.array(draw(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=n, max_size=n)),
                        type=pa.float64())
    if kind == "int":
        return pa.array(draw(st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), min_size=n,
                                      max_size=n)), type=pa.int64())
    if kind == "uint64":
        return pa.array(draw(st.lists(st.integers(0, 2**64 - 1), min_size=n, max_size=n)), type=pa.uint64())
    if kind == "text":
        return pa.array(draw(st.lists(st.one_of(st.none(), TEXT), min_size=n, max_size=n)), type=pa.string())
    if kind == "timestamp":
        return pa.array(draw(st.lists(st.integers(-(2**40), 2**40), min_size=n, max_size=n)),
                        type=pa.int64()).cast(pa.timestamp("s"))
    if kind == "date":
        return pa.array(draw(st.lists(st.integers(-(10**5), 10**5), min_size=n, max_size=n)),
                        type=pa.int32()).cast(pa.date32())
    if kind == "null":
        return pa.nulls(n)
    if kind == "dict":
        return pa.array([draw(TEXT) for _ in range(n)]).dictionary_encode()
    return pa.array([{"a": 1}] * n)


@st.composite
def mutation(draw, folder: Path):
    """Apply one hostile change to a CSV table folder (in place); return a description."""
    files = _tables(folder)
    if not files:
        return "no table left"
    path = draw(st.sampled_from(files))
    kind = draw(st.sampled_from(["cell", "cell", "cell", "header", "row", "duplicate", "truncate", "bytes",
                                 "parquet", "drop"]))
    if kind == "bytes":
        path.write_bytes(draw(st.binary(max_size=200)))
        return f"{path.name}: random bytes"
    if kind == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: draw(st.integers(0, len(data)))])
        return f"{path.name}: truncated"
    try:
        frame = _read(path)
    except Exception:  # noqa: BLE001 - an earlier mutation broke the file: leave it broken
        return f"{path.name}: unreadable, kept"
    if kind == "drop" and path.parent == folder and path.stem not in ("accounts", "cooperations"):
        path.unlink()
        return f"{path.name}: removed"
    cols = list(frame.columns)
    if kind == "header" and cols:
        col = draw(st.sampled_from(cols))
        new = draw(st.one_of(st.just(None), st.sampled_from(cols), st.sampled_from(SPECIAL), st.text(max_size=10)))
        frame = frame.drop(columns=[col]) if new is None else frame.rename(columns={col: new})
        frame.to_csv(path, index=False)
        return f"{path.name}: column {col!r} -> {new!r}"
    if kind == "row":
        values = draw(st.lists(TEXT, min_size=0, max_size=len(cols) + 2))
        with open(path, "a", encoding="utf-8", newline="") as f:
            f.write(",".join('"' + v.replace('"', '""') + '"' for v in values) + "\n")
        return f"{path.name}: row {values!r}"
    if kind == "duplicate" and len(frame):
        i = draw(st.integers(0, len(frame) - 1))
        pd.concat([frame, frame.iloc[[i]]]).to_csv(path, index=False)
        return f"{path.name}: row {i + 1} duplicated"
    if kind == "parquet" and path.parent == folder and len(frame) and cols:
        col = draw(st.sampled_from(cols))
        table = pa.Table.from_pandas(frame.drop(columns=[col]), preserve_index=False)
        table = table.append_column(col, _arrow_column(draw, len(frame)))
        pq.write_table(table, path.with_suffix(".parquet"))
        path.unlink()
        return f"{path.name}: Parquet, column {col!r} of another type"
    if not len(frame) or not cols:
        return f"{path.name}: empty, kept"
    i = draw(st.integers(0, len(frame) - 1))
    col = draw(st.sampled_from(cols))
    value = draw(TEXT)
    frame.loc[i, col] = value
    frame.to_csv(path, index=False)
    return f"{path.name}: row {i + 1}, {col!r} = {value!r}"


def _one_line_naming(err: str, folder: Path) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert str(folder) in lines[0], lines[0]
    return lines[0]


def _no_output(out: Path) -> None:
    assert not out.exists(), "a failed import left its output"
    left = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")] if out.parent.exists() else []
    assert not left, f"temporary siblings left: {left}"


# ------------------------------------------------------------------ brandmatch import


@FUZZ
@given(st.data())
def test_import_of_hostile_tables_loads_or_fails_cleanly(data):
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "src", Path(tmp) / "work" / "out"
        shutil.copytree(TINY, src)
        (src / "README.md").unlink(missing_ok=True)
        changes = [data.draw(mutation(src)) for _ in range(data.draw(st.integers(1, 3)))]
        stdout, stderr = io.StringIO(), io.StringIO()
        from contextlib import redirect_stderr, redirect_stdout

        with redirect_stdout(stdout), redirect_stderr(stderr):
            rc = main(["import", str(src), "--out", str(out)])
        if rc == 0:
            load_dataset(out)
        else:
            assert rc == 2, (changes, stderr.getvalue())
            _one_line_naming(stderr.getvalue(), src)
            _no_output(out)


# ------------------------------------------------------------------ brand profiles (import format)


def _profile_call(root: Path) -> None:
    try:
        tables = load_brand_profile(root)
    except BrandmatchError as exc:
        _one_line_naming(str(exc), root)
        return
    assert len(tables.accounts) == 1 and tables.accounts["role"].iloc[0] == "brand"
    for ref in tables.posts["image_ref"].dropna().tolist():
        if "://" not in ref:
            assert Path(ref).resolve().is_relative_to(root.resolve()), ref


@st.composite
def image_bytes(draw) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    size = (draw(st.integers(1, 8)), draw(st.integers(1, 8)))
    Image.new("RGB", size, (draw(st.integers(0, 255)), 10, 20)).save(buf, format=draw(st.sampled_from(["JPEG",
                                                                                                     "PNG"])))
    good = buf.getvalue()
    how = draw(st.sampled_from(["good", "truncated", "garbage", "empty", "text"]))
    if how == "truncated":
        return good[: draw(st.integers(0, len(good) - 1))]
    if how == "garbage":
        return draw(st.binary(max_size=64))
    if how == "empty":
        return b""
    if how == "text":
        return b"not an image at all\n"
    return good


@FUZZ
@given(st.data())
def test_brand_profile_folder_loads_or_fails_cleanly(data):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "brand"
        shutil.copytree(NEW_BRAND, root)
        (root / "README.md").unlink(missing_ok=True)
        (root / "img").mkdir()
        (root / "img" / "a.jpg").write_bytes(data.draw(image_bytes()))
        posts = _read(root / "posts.csv")
        i = data.draw(st.integers(0, len(posts) - 1))
        posts.loc[i, "image_ref"] = data.draw(st.one_of(st.just("img/a.jpg"), st.sampled_from(SPECIAL),
                                                        st.just(str(Path(tmp) / "outside.jpg"))))
        posts.to_csv(root / "posts.csv", index=False)
        (Path(tmp) / "outside.jpg").write_bytes(data.draw(image_bytes()))
        for _ in range(data.draw(st.integers(0, 2))):
            data.draw(mutation(root))
        _profile_call(root)


# ------------------------------------------------------------------ brand profiles (instaloader)

JSON_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.just(10**400), st.floats(allow_nan=True),
              TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6,
)
FIELDS = ["taken_at_timestamp", "edge_media_preview_like.count", "edge_media_to_comment.count", "shortcode",
          "edge_media_to_caption", "edge_media_to_caption.edges", "username", "biography", "edge_followed_by.count",
          "node", "instaloader.node_type"]


def _set_field(obj: dict, dotted: str, value) -> dict:
    cur = obj if dotted.startswith(("node", "instaloader")) else obj.setdefault("node", {})
    keys = dotted.split(".")
    for k in keys[:-1]:
        if not isinstance(cur, dict):
            return obj
        nxt = cur.get(k)
        if not isinstance(nxt, dict):
            nxt = cur[k] = {}
        cur = nxt
    if isinstance(cur, dict):
        cur[keys[-1]] = value
    return obj


@FUZZ
@given(st.data())
def test_instaloader_folder_loads_or_fails_cleanly(data):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "beanandbrewco"
        shutil.copytree(INSTALOADER, root)
        (root / "README.md").unlink(missing_ok=True)
        files = sorted(p for p in root.iterdir() if p.is_file())
        for _ in range(data.draw(st.integers(1, 3))):
            path = data.draw(st.sampled_from(files))
            kind = data.draw(st.sampled_from(["json", "json", "bytes", "truncate", "image", "text", "rename"]))
            if not path.exists():
                continue
            if kind == "json" and path.name.endswith(".json.xz"):
                try:
                    obj = json.loads(lzma.open(path).read())
                except Exception:  # noqa: BLE001 - broken by an earlier change
                    continue
                obj = _set_field(obj, data.draw(st.sampled_from(FIELDS)), data.draw(JSON_VALUE))
                text = json.dumps(obj, allow_nan=True)
                path.write_bytes(lzma.compress(text.encode()))
            elif kind == "bytes":
                path.write_bytes(data.draw(st.binary(max_size=100)))
            elif kind == "truncate":
                raw = path.read_bytes()
                path.write_bytes(raw[: data.draw(st.integers(0, len(raw)))])
            elif kind == "image" and path.suffix == ".jpg":
                path.write_bytes(data.draw(image_bytes()))
            elif kind == "text" and path.suffix == ".txt":
                path.write_bytes(data.draw(st.one_of(TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
                                                     st.binary(max_size=50))))
            elif kind == "rename":
                stem = data.draw(st.sampled_from(["2019-13-45_25-61-61_UTC", "0000-00-00_00-00-00_UTC",
                                                  "2019-05-11_09-45-30_UTC_7", "9999-12-31_23-59-59_UTC"]))
                path.rename(root / (stem + "".join(path.suffixes[-2:] if path.name.endswith(".json.xz")
                                                   else path.suffixes[-1:])))
                files = sorted(p for p in root.iterdir() if p.is_file())
        _profile_call(root)


def test_fuzz_settings_are_bounded():
    """The suite's default stays small (the long run lives in benchmarks/fuzz_import.py)."""
    if "BRANDMATCH_FUZZ_EXAMPLES" not in os.environ:
        assert EXAMPLES <= 30 and not math.isnan(EXAMPLES)
    else:
        pytest.skip("long fuzz run")
