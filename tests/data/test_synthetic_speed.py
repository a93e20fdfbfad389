"""The vectorised hot path of the synthetic generator renders exactly what the per-post loop it
replaced rendered (so a seed gives the same world, byte for byte), and the faster validation of
string columns refuses what it refused before."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from brandmatch.data import vocab
from brandmatch.data.schema import validate_table
from brandmatch.data.synthetic import _FRIEND_HANDLES, Renderer, World, _typo, make_config
from brandmatch.errors import DatasetError


def reference_captions(renderer: Renderer, rng, themes, kind, sponsored_rate) -> list[str]:
    """The per-post caption loop of generator version 2 (before vectorisation), verbatim."""
    w = renderer.w
    n = len(themes)
    n_content = 2 + rng.poisson(4, n)
    n_func = 1 + rng.poisson(3, n)
    n_tags = rng.poisson(2.2, n)
    n_emoji = rng.poisson(0.9, n)
    mention = rng.random(n) < 0.18
    sponsored = rng.random(n) < sponsored_rate
    ints = rng.integers(0, 1 << 30, size=(n, 32)).tolist()
    typos = (rng.random((n, 16)) < w.cfg.misspell_rate).tolist()
    n_content, n_func, n_tags, n_emoji = n_content.tolist(), n_func.tolist(), n_tags.tolist(), n_emoji.tolist()
    mention, sponsored, kind, themes = mention.tolist(), sponsored.tolist(), kind.tolist(), themes.tolist()
    out: list[str] = []
    for i in range(n):
        t = themes[i]
        words = w.theme_words[t]
        r = ints[i]
        if kind[i] == 3:
            phrase = vocab.FOREIGN_PHRASES[r[0] % len(vocab.FOREIGN_PHRASES)]
            tag = words[r[1] % len(words)]
            out.append(f"{phrase} #{tag} {w.theme_emoji[t][r[2] % len(w.theme_emoji[t])]}")
            continue
        src = renderer.daily if kind[i] == 1 else words
        toks: list[str] = []
        nc, nf = min(n_content[i], 12), min(n_func[i], 8)
        typo = typos[i]
        for k in range(nc):
            word = src[r[k] % len(src)]
            if typo[k]:
                word = _typo(word, r[k + 12])
            toks.append(word)
        if kind[i] == 2:
            toks.extend(renderer.promo[r[20 + k] % len(renderer.promo)] for k in range(2))
        for k in range(nf):
            pos = r[12 + k] % (len(toks) + 1)
            toks.insert(pos, renderer.func[r[24 + k] % len(renderer.func)])
        text = " ".join(toks)
        text = text[0].upper() + text[1:] + (".", "!", "", "!!", " ...")[r[31] % 5]
        parts = [text]
        emojis = w.theme_emoji[t] if kind[i] != 1 else vocab.GENERIC_EMOJI
        for k in range(min(n_emoji[i], 3)):
            parts.append(emojis[(r[5 + k] >> 3) % len(emojis)])
        if mention[i]:
            parts.append("@" + _FRIEND_HANDLES[(r[9] >> 2) % len(_FRIEND_HANDLES)])
        tags = []
        for k in range(min(n_tags[i], 5)):
            x = r[(k + 3) * 5 % 32] >> 4
            tags.append("#" + (src[x % len(src)] if x % 4 else vocab.GENERIC_TAGS[x % len(vocab.GENERIC_TAGS)]))
        if sponsored[i]:
            tags.append("#" + vocab.SPONSOR_TAGS[(r[10] >> 5) % len(vocab.SPONSOR_TAGS)])
        if tags:
            parts.append(" ".join(dict.fromkeys(tags)))
        out.append(" ".join(parts))
    return out


@pytest.mark.parametrize("seed,misspell,sponsored", [(0, 0.03, 0.04), (1, 0.5, 0.5), (2, 1.0, 1.0)])
def test_vectorised_captions_equal_the_loop(seed, misspell, sponsored):
    world = World(make_config("small", misspell_rate=misspell), 0)
    renderer = Renderer(world)
    rng = np.random.default_rng(seed)
    n = 4000
    themes = rng.integers(0, world.T, n)
    kind = rng.integers(0, 4, n)
    fast = renderer.captions(np.random.default_rng([seed, 7]), themes, kind, sponsored)
    slow = reference_captions(renderer, np.random.default_rng([seed, 7]), themes, kind, sponsored)
    assert list(fast) == slow
    assert renderer.captions(np.random.default_rng(0), themes[:0], kind[:0], 0.1).tolist() == []


def test_typo_table_covers_every_key():
    world = World(make_config("small"), 0)
    tb = Renderer(world).tables
    for s in range(len(tb.src_len)):
        for g in tb.src_words[s, : tb.src_len[s]]:
            word = tb.strings[g]
            if len(word) < 4:
                continue
            for k in range(0, 3 * (len(word) - 2) + 7):
                branch = int(k % 3 != 0)
                assert tb.strings[tb.typo[g, branch, k % (len(word) - 2)]] == _typo(word, k)


def test_string_validation_still_refuses_bad_cells():
    ok = pd.DataFrame({"post_id": ["p1", "p2"], "account_id": ["a", "a"], "caption": ["x", None],
                       "timestamp": [1, 2], "likes": [0, 1], "comments": [0, 0], "image_ref": [None, None]})
    assert validate_table("posts", ok, "t").shape == (2, 7)
    blank = ok.assign(account_id=["a", " \u2003"])
    with pytest.raises(DatasetError, match="row 2.*empty value"):
        validate_table("posts", blank, "t")
    numeric = ok.assign(caption=["x", 1.5])
    with pytest.raises(DatasetError, match="a number"):
        validate_table("posts", numeric, "t")
    det = pd.DataFrame({"post_id": ["p1"], "kind": ["thing"], "class_index": [1], "confidence": [0.5]})
    with pytest.raises(DatasetError, match="not one of"):
        validate_table("detections", det, "t")
