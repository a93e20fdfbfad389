"""The default number of torch threads (rule measured by benchmarks/bench_threads.py)."""

from __future__ import annotations

import os

import pytest
import torch

from brandmatch.errors import BrandmatchError, ModelError
from brandmatch.training.seeding import set_torch_threads


@pytest.fixture(autouse=True)
def _restore_threads(monkeypatch):
    """Each test starts without BRANDMATCH_THREADS and leaves torch's thread count as it found it."""
    monkeypatch.delenv("BRANDMATCH_THREADS", raising=False)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def many_idle_cores(monkeypatch):
    """Pretend to run on an idle 8-core machine."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))


def test_default_is_one_thread():
    assert set_torch_threads() == 1
    assert torch.get_num_threads() == 1


def test_default_does_not_follow_the_core_count(many_idle_cores):
    assert set_torch_threads(None) == 1
    assert torch.get_num_threads() == 1


def test_default_does_not_follow_the_load(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    for load in [(0.0, 0.0, 0.0), (1.5, 1.0, 0.5), (9.0, 9.0, 9.0)]:
        monkeypatch.setattr(os, "getloadavg", lambda load=load: load)
        assert set_torch_threads() == 1


@pytest.mark.parametrize("value, expected", [("2", 2), ("1", 1), (" 3 ", 3), ("", 1), ("  ", 1)])
def test_env_var_sets_the_default(monkeypatch, many_idle_cores, value, expected):
    monkeypatch.setenv("BRANDMATCH_THREADS", value)
    assert set_torch_threads() == expected
    assert torch.get_num_threads() == expected


def test_explicit_argument_wins_over_env_and_default(monkeypatch, many_idle_cores):
    monkeypatch.setenv("BRANDMATCH_THREADS", "3")
    assert set_torch_threads(2) == 2
    assert torch.get_num_threads() == 2
    monkeypatch.delenv("BRANDMATCH_THREADS")
    assert set_torch_threads(2) == 2


def test_explicit_argument_is_used_even_when_env_is_bad(monkeypatch):
    monkeypatch.setenv("BRANDMATCH_THREADS", "abc")
    assert set_torch_threads(1) == 1


def test_explicit_argument_below_one_means_one():
    assert set_torch_threads(0) == 1
    assert set_torch_threads(-4) == 1


@pytest.mark.parametrize("value", ["abc", "0", "00", "-1", "1.5", "2x", "+2", "1e3", "\u0662"])
def test_bad_env_value_raises_a_one_line_model_error(monkeypatch, value):
    torch.set_num_threads(1)
    monkeypatch.setenv("BRANDMATCH_THREADS", value)
    with pytest.raises(ModelError) as exc:
        set_torch_threads()
    msg = str(exc.value)
    assert "\n" not in msg
    assert "BRANDMATCH_THREADS" in msg
    assert repr(value) in msg
    assert "positive integer" in msg
    assert isinstance(exc.value, BrandmatchError) and exc.value.exit_code == 2  # the CLI: one line, exit 2
    assert torch.get_num_threads() == 1  # nothing changed
