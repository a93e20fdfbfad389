"""staged_dir: the new directory replaces the old one only when the block succeeds."""

from __future__ import annotations

import pytest

from brandmatch.atomic import staged_dir


def test_staged_dir_replaces_on_success_and_leaves_the_old_one_on_failure(tmp_path):
    out = tmp_path / "sub" / "ix"
    with staged_dir(out) as tmp:
        (tmp / "a.txt").write_text("one")
        assert not out.exists()  # nothing visible before the block ends
    assert (out / "a.txt").read_text() == "one"
    with pytest.raises(RuntimeError, match="half way"):
        with staged_dir(out) as tmp:
            (tmp / "a.txt").write_text("two")
            raise RuntimeError("half way")
    assert (out / "a.txt").read_text() == "one"
    assert sorted(p.name for p in out.parent.iterdir()) == ["ix"]  # no temporary sibling left
    with staged_dir(out) as tmp:
        (tmp / "b.txt").write_text("three")
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]  # replaced whole, not merged
