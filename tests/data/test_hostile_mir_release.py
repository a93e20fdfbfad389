"""Issue 14.9 for the public-release importer: damaged release files, generated with Hypothesis.

Property: importing a copy of ../shared/datasets/mir-public in which ONE file is damaged (truncated,
bytes flipped, replaced by garbage or an empty file, a .npy / .pt array of another shape or dtype or
holding NaN, a pickle with a reduce call) either imports or raises a
:class:`~brandmatch.errors.BrandmatchError` whose one-line message names that file, and leaves no
output folder behind. Any other exception breaks the property. A few examples per run (each import
reads the whole release); ``BRANDMATCH_FUZZ_EXAMPLES`` raises the count.
"""

from __future__ import annotations

import io
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brandmatch.data.mir_public import FILES, import_mir_to
from brandmatch.errors import BrandmatchError

EXAMPLES = min(int(os.environ.get("BRANDMATCH_FUZZ_EXAMPLES", "8")), 200)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

MUTATIONS = ("truncate", "flip", "garbage", "empty", "array")


class Reduce:
    """Unpickling this calls os.getcwd (a reduce): the safe unpickler must refuse it."""

    def __reduce__(self):
        return (os.getcwd, ())


def _damage(path: Path, kind: str, data: st.DataObject) -> None:
    raw = path.read_bytes()
    if kind == "truncate":
        path.write_bytes(raw[: data.draw(st.integers(0, max(len(raw) - 1, 0)), label="keep")])
    elif kind == "flip":
        buf = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 16), label="flips")):
            i = data.draw(st.integers(0, len(buf) - 1), label="at")
            buf[i] ^= 1 << data.draw(st.integers(0, 7), label="bit")
        path.write_bytes(bytes(buf))
    elif kind == "garbage":
        path.write_bytes(data.draw(st.binary(min_size=1, max_size=4096), label="garbage"))
    elif kind == "empty":
        path.write_bytes(b"")
    else:  # a well-formed file of the right kind with hostile content
        shape = data.draw(st.sampled_from([(0,), (3,), (5, 2), (360, 19), (3748, 128), (2, 2, 2)]), label="shape")
        fill = data.draw(st.sampled_from(["nan", "inf", "zeros", "huge", "int"]), label="fill")
        arr = {"nan": np.full(shape, np.nan), "inf": np.full(shape, np.inf), "zeros": np.zeros(shape),
               "huge": np.full(shape, 1e300), "int": np.arange(int(np.prod(shape))).reshape(shape)}[fill]
        if path.suffix == ".npy":
            np.save(path, arr, allow_pickle=False)
            path.with_suffix(".npy.npy").replace(path) if path.with_suffix(".npy.npy").exists() else None
        elif path.suffix == ".pt":
            buf = io.BytesIO()
            torch.save(torch.as_tensor(arr), buf)
            path.write_bytes(buf.getvalue())
        elif path.suffix in (".pickle", ".pkl"):
            path.write_bytes(pickle.dumps(data.draw(st.sampled_from(
                [Reduce(), arr.tolist(), {"a": 1}, "text", None, [None, 1.5, "x"]]), label="pickled")))
        else:
            path.write_bytes(raw[: len(raw) // 2])


@pytest.fixture(scope="module")
def release(mir_public_dir: Path, tmp_path_factory) -> Path:
    """A private copy of the release's files the importer reads (about 13 MB)."""
    root = tmp_path_factory.mktemp("release") / "mir-public"
    for rel in FILES.values():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mir_public_dir / rel, root / rel)
    return root


@FUZZ
@given(data=st.data())
def test_a_damaged_release_file_is_refused_by_name_or_imported(release, tmp_path_factory, data):
    rel = data.draw(st.sampled_from(sorted(FILES.values())), label="file")
    kind = data.draw(st.sampled_from(MUTATIONS), label="mutation")
    work = tmp_path_factory.mktemp("case")
    src = work / "mir-public"
    shutil.copytree(release, src)
    _damage(src / rel, kind, data)
    out = work / "out"
    try:
        import_mir_to(src, out, progress=False)
    except BrandmatchError as exc:
        message = str(exc)
        assert "\n" not in message
        assert Path(rel).name in message or rel in message, message
        assert not out.exists()
        assert not [p for p in work.iterdir() if p.name.startswith(".out")]
    else:
        assert (out / "manifest.json").exists()
