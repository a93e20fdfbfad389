"""Parallel generation (``workers`` > 1) writes the same bytes as the serial path, and the worker
count is checked like every other generate parameter."""

from __future__ import annotations

import concurrent.futures
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from brandmatch.cli import main as cli_main
from brandmatch.data import synthetic
from brandmatch.data.schema import TABLES, frames_equal
from brandmatch.data.store import BLOCK_TABLES, DatasetWriter, dataset_blocks
from brandmatch.data.synthetic import generate_to, generate_world, resolve_workers
from brandmatch.errors import BrandmatchError

#: small, but four chunks of accounts (48 brands, then 3 x 1000 influencers at most)
SIZES = dict(influencers=2500, posts_per_account=3, audience_size=2, audience_posts=1)


@pytest.fixture
def many_cpus(monkeypatch):
    """Let workers=2 start a pool even on a one-CPU machine; count the chunks it rendered."""
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    submitted = []
    real_submit = concurrent.futures.ProcessPoolExecutor.submit

    def submit(self, fn, *args, **kwargs):
        submitted.append(fn.__name__)
        return real_submit(self, fn, *args, **kwargs)

    monkeypatch.setattr(concurrent.futures.ProcessPoolExecutor, "submit", submit)
    return submitted


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_parallel_writes_the_same_bytes(tmp_path, many_cpus):
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    stats1 = generate_to(serial, "small", 5, workers=1, **SIZES)
    assert many_cpus == []
    stats2 = generate_to(parallel, "small", 5, workers=2, **SIZES)
    # every chunk rendered in the pool, then the grids' parts validated there
    assert many_cpus[:4] == ["_pool_render"] * 4 and set(many_cpus[4:]) == {"_prepare_grid"}
    assert stats1 == stats2
    a, b = _files(serial), _files(parallel)
    assert sorted(a) == sorted(b)
    assert {f"{t}.parquet" for t in TABLES} <= set(a)
    for name in a:
        if name != "manifest.json":
            assert a[name] == b[name], name
    ma, mb = json.loads(a["manifest.json"]), json.loads(b["manifest.json"])
    ma["metadata"].pop("timings", None)
    mb["metadata"].pop("timings", None)
    assert ma == mb


def test_parallel_in_memory_world_is_the_same(many_cpus):
    one = generate_world("small", 2, workers=1)
    two = generate_world("small", 2, workers=2)
    assert many_cpus == ["_pool_render"] * 2
    for (name, x), (_, y) in zip(one.tables.items(), two.tables.items()):
        assert frames_equal(x, y), name
    assert one.metadata["stats"] == two.metadata["stats"]
    for view in one.features.names():
        assert (one.features[view].values == two.features[view].values).all(), view


def test_prepared_chunks_write_what_the_writer_writes(tmp_path):
    """The workers validate and convert chunks (store.prepare_chunk); the parent appends them
    (DatasetWriter.append): the same bytes as DatasetWriter.write of the frames."""
    world = synthetic.World(synthetic.make_config("small"), 1)
    render = synthetic.Renderer(world)
    acc = synthetic._slice(world.brands, 0, 20)
    with DatasetWriter(tmp_path / "direct", "x") as direct, DatasetWriter(tmp_path / "prepared", "x") as prep:
        sink = synthetic._WriterSink(prep)
        for chunk in (1, 2):
            frames, _, _ = synthetic._render_chunk(render, 1, acc, "brand", chunk, 0, None)
            prepared, _, _ = synthetic._render_chunk(
                render, 1, acc, "brand", chunk, 0, [sink.source(t, chunk) for t in BLOCK_TABLES])
            for table, frame, part in zip(BLOCK_TABLES, frames, prepared):
                direct.write(table, frame)
                sink.write_prepared(table, part)
            assert all(prep.rows(t) == direct.rows(t) > 0 for t in ("accounts", "posts"))
    assert _files(tmp_path / "direct") == _files(tmp_path / "prepared")


def test_worker_failure_leaves_no_output(tmp_path, many_cpus, monkeypatch):
    def broken(self, rng, acc, first_member):
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(synthetic.Renderer, "audiences", broken)
    out = tmp_path / "x"
    with pytest.raises(RuntimeError, match="exploded"):
        generate_to(out, "small", 0, workers=2, **SIZES)
    assert many_cpus  # it failed in a worker
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_bad_workers(tmp_path, capsys):
    assert resolve_workers(1) == 1
    assert 1 <= resolve_workers(None) == (os.cpu_count() or 1)
    assert resolve_workers(10_000) == (os.cpu_count() or 1)
    for bad in (0, -3, 1.5, True):
        with pytest.raises(BrandmatchError, match="expected an integer >= 1"):
            generate_to(tmp_path / "x", "small", 0, workers=bad)
    assert not (tmp_path / "x").exists()
    assert cli_main(["generate", "--preset", "small", "--workers", "0", "--out", str(tmp_path / "y"),
                     "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--workers" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "y").exists()


def test_cli_workers_option(tmp_path, capsys):
    out = tmp_path / "g"
    assert cli_main(["generate", "--preset", "small", "--seed", "1", "--out", str(out), "--no-progress",
                     "--influencers", "200", "--posts-per-account", "2", "--audience-size", "1",
                     "--audience-posts", "1", "--brands-per-category", "3", "--workers", "2"]) == 0
    assert "grid test" in capsys.readouterr().out
    assert len(pd.read_parquet(out / "accounts.parquet")) == 236
    # one account block per rendered chunk (36 brands, then 200 influencers), each holding all
    # the rows of its accounts: reading one block alone passes the cross-table checks
    blocks = dataset_blocks(out)
    assert len(blocks) == 2 and blocks.rows("accounts", 1) == (36, 236)
    second = blocks.read([1])
    assert set(second.accounts["role"]) == {"influencer"} and len(second.posts) == 400
    assert set(second.audience_posts["member_id"]) == set(second.audience["member_id"])


def test_pair_noise_in_place_matches_the_formula():
    import math

    import numpy as np

    from brandmatch.hashing import id_hashes, splitmix64

    hb = id_hashes([f"b{i:04d}" for i in range(37)], 17)
    hm = id_hashes([f"m{i:07d}" for i in range(1001)], 17)
    with np.errstate(over="ignore"):
        x = splitmix64(hb[:, None] ^ splitmix64(hm[None, :] * np.uint64(0xD6E8FEB86659FD93)))
    u = ((x >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)
    ref = np.log(u / (1.0 - u)) * (math.sqrt(3.0) / math.pi)
    got = synthetic.pair_noise(hb, hm)
    assert got.shape == (37, 1001) and got.dtype == np.float64
    assert np.array_equal(got.view(np.uint64), ref.view(np.uint64))
