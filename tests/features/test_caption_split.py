"""The caption splitter's fast path (substring pre-checks, one bytes.translate for the words) gives
exactly what the three regular expressions give; the garbage-collector pause restores its state."""

from __future__ import annotations

import gc
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brandmatch.features.topics import CaptionCleaner, _ascii
from brandmatch.gcpause import gc_paused

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"@[\w.]+")
_TAG = re.compile(r"#(\w+)")
_WORD = re.compile(r"[a-z]+")


def reference_split(caption: str | None) -> tuple[list[str], list[str]]:
    """The splitter as it was: every regular expression on every caption (the reference)."""
    if not caption:
        return [], []
    text = _URL.sub(" ", _ascii(caption))
    text = _MENTION.sub(" ", text)
    tags = _TAG.findall(text)
    text = _TAG.sub(" ", text).lower().replace("'", "")
    return _WORD.findall(text), tags


PIECES = ["http://x.co/a?b=1", "HTTPS://Shop.Example/ITEM", "wWw.brand.com", "www", "http", "://", "@", "@anna.b",
          "@_x", "#", "#FoodLover", "#x_y2", "##", "'", "it's", "Don'T", "CamelCase", "ABC", "123", "a1b2", "_", ".",
          "!", " ", "\n", "\t", "é", "Ä", "ﬁ", "™", "🔥", "\u200d", "️", "naïve", "Ⅻ", "ß", "İ", "K", "x"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=6)), max_size=20).map("".join))
def test_split_equals_the_regular_expressions(caption):
    assert CaptionCleaner(frozenset())._split(caption) == reference_split(caption)


def test_split_hand_checked():
    c = CaptionCleaner(frozenset())
    assert c._split("Visit WWW.Shop.com/x or http://a.b NOW! @chloe.k it's #FoodLover #x_1") == \
        (["visit", "or", "now", "its"], ["FoodLover", "x_1"])
    assert c._split("Café naïve ﬁne 🔥day") == (["cafe", "naive", "fine", "day"], [])
    assert c._split(None) == ([], []) and c._split("") == ([], [])


def test_gc_paused_restores_the_collector_state():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError):
        with gc_paused():
            raise ValueError("inside")
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # it was off before: left off
    finally:
        gc.enable()
