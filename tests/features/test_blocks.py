"""Datasets written in account blocks (data/store.py) and `featurize` reading them block by block.

A block holds some accounts and every row of theirs (posts, audience, the members' posts, the
detections of all those posts); the manifest records each block's row ranges. `featurize
--fit-accounts` on such a dataset loaded without its posts (what the CLI does) fits on whole
blocks chosen at random and lets the engine's workers read the other blocks themselves: the same
bytes as the run with every table in memory, on both engines.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from brandmatch.data.schema import frames_equal
from brandmatch.data.store import BLOCK_TABLES, DatasetWriter, dataset_blocks, load_dataset
from brandmatch.errors import DatasetError, FeatureError
from brandmatch.features.engine import tables_of
from brandmatch.features.pipeline import featurize, fit_sample
from brandmatch.features.store import FeatureSet

from .conftest import tiny_options, tiny_tables
from .test_engine import RAY_REASON

LIGHT = ("accounts", "cooperations", "splits")


def write_blocked(path: Path, block_accounts: int = 3) -> None:
    """The tiny world written in blocks of ``block_accounts`` consecutive accounts."""
    t = tiny_tables()
    with DatasetWriter(path, "tiny") as w:
        for lo in range(0, len(t.accounts), block_accounts):
            part = tables_of(t, np.arange(lo, min(lo + block_accounts, len(t.accounts))))
            for table in BLOCK_TABLES:
                w.write(table, getattr(part, table))
            w.end_block()
        for table in ("cooperations", "splits", "grids"):
            w.write(table, getattr(t, table))


def test_blocks_are_recorded_and_read_back(tmp_path):
    write_blocked(tmp_path / "d")
    blocks = dataset_blocks(tmp_path / "d")
    full = load_dataset(tmp_path / "d").tables
    assert len(blocks) == 4  # 10 accounts in blocks of 3
    assert blocks.rows("accounts", 3) == (9, 10) and blocks.rows("posts", 0) == (0, 18)  # b0-b2: 6 posts each
    for chosen in ([0], [2], [1, 3], [0, 1, 2, 3]):
        rows = np.concatenate([blocks.account_rows(b) for b in chosen])
        want, got = tables_of(full, rows), blocks.read(chosen)
        for table in BLOCK_TABLES:
            assert frames_equal(getattr(got, table), getattr(want, table)), (chosen, table)
    assert dataset_blocks(None) is None


def test_a_dataset_written_whole_has_no_blocks(tmp_path):
    from .conftest import write_tiny

    write_tiny(tmp_path / "d")
    assert dataset_blocks(tmp_path / "d") is None


def test_rows_after_the_last_block_are_refused(tmp_path):
    t = tiny_tables()
    w = DatasetWriter(tmp_path / "d", "tiny")
    w.write("accounts", t.accounts.iloc[:2])
    w.end_block()
    w.write("accounts", t.accounts.iloc[2:4])
    with pytest.raises(DatasetError, match="written after the last block"):
        w.close()
    assert not (tmp_path / "d").exists()  # no partial output


@pytest.mark.parametrize("ends, message", [
    ([[3, 18, 9, 18, 54]], "row ends of 'accounts' must rise to its 10 rows"),
    ([[3, 18, 9, 18]], "'ends' must be a list of 5 row counts per block"),
    ("nope", "expected {'tables'"),
])
def test_bad_block_manifests_are_one_line_errors(tmp_path, ends, message):
    write_blocked(tmp_path / "d")
    manifest = tmp_path / "d" / "manifest.json"
    spec = json.loads(manifest.read_text())
    spec["blocks"] = ends if isinstance(ends, str) else {"tables": list(BLOCK_TABLES), "ends": ends}
    manifest.write_text(json.dumps(spec))
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace("[", r"\[")):
        dataset_blocks(tmp_path / "d")


def test_fit_sample_takes_whole_random_blocks():
    class Fake:
        def __init__(self, sizes):
            self.ends = {"accounts": np.cumsum(sizes)}

        def __len__(self):
            return len(self.ends["accounts"])

        def account_rows(self, i):
            e = self.ends["accounts"]
            return np.arange(e[i - 1] if i else 0, e[i])

    blocks = Fake([4, 4, 4, 4, 4])
    rows, chosen = fit_sample(20, blocks, 6, seed=1)
    assert len(chosen) == 2 and len(rows) == 6 and len(set(rows.tolist())) == 6
    allowed = set(np.concatenate([blocks.account_rows(b) for b in chosen]).tolist())
    assert set(rows.tolist()) <= allowed and (np.diff(rows) > 0).all()
    assert fit_sample(20, blocks, 6, seed=1)[1] == chosen  # seeded
    rows, chosen = fit_sample(20, None, 6, seed=1)
    assert chosen == [] and len(rows) == 6


def _same(a: Path, b: Path) -> None:
    fa, fb = FeatureSet.load(a / "features"), FeatureSet.load(b / "features")
    assert fa.names() == fb.names() and len(fa.names()) == 11
    for name in fa.names():
        np.testing.assert_array_equal(fa[name].ids, fb[name].ids, err_msg=name)
        np.testing.assert_array_equal(fa[name].mask, fb[name].mask, err_msg=name)
        np.testing.assert_array_equal(fa[name].values, fb[name].values, err_msg=name)
        assert fa[name].meta["stage_hash"] == fb[name].meta["stage_hash"], name


@pytest.mark.parametrize("engine", ["local", "ray"])
def test_featurize_reading_blocks_equals_the_run_in_memory(tmp_path, engine):
    if engine == "ray":
        pytest.importorskip("ray", reason=RAY_REASON)
    for name in ("memory", "lazy"):
        write_blocked(tmp_path / name, block_accounts=2)
    featurize(load_dataset(tmp_path / "memory"), options=tiny_options(fit_accounts=8))
    light = load_dataset(tmp_path / "lazy", tables=LIGHT)
    assert light.tables.posts.empty and light.tables.detections.empty  # never loaded here
    reports = featurize(light, options=tiny_options(fit_accounts=8, engine=engine, shard_accounts=4))
    assert reports[-1].stage == "transform" and "3 shard(s)" in reports[-1].note  # 5 blocks of 2, <= 4 a shard
    _same(tmp_path / "memory", tmp_path / "lazy")


def test_a_light_load_without_blocks_or_sample_is_refused(tmp_path):
    from .conftest import write_tiny

    write_tiny(tmp_path / "whole")
    with pytest.raises(FeatureError, match="written in account blocks and --fit-accounts"):
        featurize(load_dataset(tmp_path / "whole", tables=LIGHT), options=tiny_options(fit_accounts=8))
    write_blocked(tmp_path / "blocked")
    with pytest.raises(FeatureError, match="written in account blocks and --fit-accounts"):
        featurize(load_dataset(tmp_path / "blocked", tables=LIGHT), options=tiny_options())


def test_cli_reads_a_blocked_dataset_lazily_and_checks_its_files(tmp_path, capsys):
    from brandmatch.cli import main

    write_blocked(tmp_path / "d", block_accounts=2)
    args = ["featurize", str(tmp_path / "d"), "--fit-accounts", "8", "--topics", "3", "--no-progress",
            "--engine", "local"]
    assert main(args) == 0
    out = capsys.readouterr().out
    # the blocks, one shard of them (the in-memory path cuts 10 accounts into 2 shards of 5)
    assert "local: 1 shard(s) of <= 10 accounts on 1 CPU(s); fitted on 8 of 10 accounts" in out
    posts = tmp_path / "d" / "posts.parquet"
    posts.write_bytes(posts.read_bytes()[:-9] + b"corrupted")
    assert main(args + ["--force"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"brandmatch featurize: error: {posts}: checksum does not match the manifest (file changed or truncated)"]


def test_views_assembled_in_memory_maps_are_the_same_bytes(tmp_path, monkeypatch):
    """Large views are assembled in memory-mapped files under the feature directory (removed
    afterwards): the views written are those of the in-memory assembly."""
    import brandmatch.features.store as fstore

    for name in ("memory", "mapped"):
        write_blocked(tmp_path / name, block_accounts=2)
    featurize(load_dataset(tmp_path / "memory"), options=tiny_options(fit_accounts=8))
    monkeypatch.setattr(fstore, "MMAP_BYTES", 1)  # every view assembled (and loaded) memory-mapped
    featurize(load_dataset(tmp_path / "mapped", tables=LIGHT), options=tiny_options(fit_accounts=8))
    _same(tmp_path / "memory", tmp_path / "mapped")
    assert not [p for p in (tmp_path / "mapped" / "features").iterdir() if p.name.startswith(".transform-")]


def test_cli_with_a_sample_as_large_as_the_dataset_loads_it_whole(tmp_path, capsys):
    """--fit-accounts at least the accounts is no sample: the plain run (tables loaded, views fitted
    on all), not the block reader (which needs a sample to fit on)."""
    from brandmatch.cli import main

    write_blocked(tmp_path / "d", block_accounts=2)
    assert main(["featurize", str(tmp_path / "d"), "--fit-accounts", "20000", "--topics", "3",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "transform" not in out and "content_text" in out
