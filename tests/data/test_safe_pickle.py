"""The restricted unpickler: builtin containers load, anything that needs a callable is refused."""

from __future__ import annotations

import collections
import os
import pickle

import pytest

from brandmatch.data.safe_pickle import load_pickle, loads
from brandmatch.errors import DatasetError

SAFE_OBJECTS = [
    ["a", "b", 1, 2.5, True, None],
    {"k": [1, 2], "n": {"x": (1, "y")}},
    {("brand", "influencer"), ("b2", "m2")},
    frozenset({"a", "b"}),
    (1, (2, (3,))),
    [{1, 2}, frozenset({3})],
]


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("obj", SAFE_OBJECTS, ids=lambda o: type(o).__name__)
def test_builtin_containers_load_in_every_protocol(tmp_path, obj, protocol):
    path = tmp_path / "ok.pickle"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    assert load_pickle(path) == obj


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_os_system_reduce_is_rejected_and_not_run(tmp_path, protocol):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_Evil(sentinel), protocol=protocol))
    with pytest.raises(DatasetError) as info:
        load_pickle(path)
    msg = str(info.value)
    assert str(path) in msg and "unsafe pickle" in msg and "system" in msg
    assert not sentinel.exists()


@pytest.mark.parametrize(
    "obj",
    [
        collections.OrderedDict(a=1),  # a harmless class is still a class: refused
        bytes(b"abc"),  # protocol 0-2 encode bytes through _codecs.encode
        range(3),
    ],
    ids=["OrderedDict", "bytes", "range"],
)
def test_other_globals_are_rejected(tmp_path, obj):
    path = tmp_path / "x.pickle"
    path.write_bytes(pickle.dumps(obj, protocol=2))
    with pytest.raises(DatasetError, match="x.pickle: unsafe pickle, refused global"):
        load_pickle(path)


def test_only_builtins_module_is_allowed():
    # a global named like an allowed container but from another module
    data = b"cos\nset\n(tR."
    with pytest.raises(DatasetError, match="refused global os.set"):
        loads(data, "crafted")


def test_malformed_and_missing_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.pickle"
    bad.write_bytes(pickle.dumps([1, 2, 3])[:-3])
    with pytest.raises(DatasetError, match=r"bad\.pickle: not a readable pickle"):
        load_pickle(bad)
    with pytest.raises(DatasetError, match=r"gone\.pickle: missing file"):
        load_pickle(tmp_path / "gone.pickle")
