"""features/activity.py: the vectorised view against a per-account reference written out longhand."""

import numpy as np
import pandas as pd
import pytest

from brandmatch.errors import FeatureError
from brandmatch.features.activity import SECONDS_PER_DAY, activity_view


def reference(accounts: pd.DataFrame, posts: pd.DataFrame, now: float) -> tuple[np.ndarray, np.ndarray]:
    """One account at a time, in plain Python: the view's definition."""
    rows, mask = [], []
    for _, acc in accounts.iterrows():
        own = posts[posts["account_id"] == acc["account_id"]]
        followers = 0.0 if pd.isna(acc["followers"]) else float(acc["followers"])
        likes = [float(v) for v in own["likes"] if pd.notna(v)]
        comments = [float(v) for v in own["comments"] if pd.notna(v)]
        ts = sorted(float(v) for v in own["timestamp"] if pd.notna(v))
        per_day = cv = since = 0.0
        if len(ts) >= 2 and ts[-1] > ts[0]:
            per_day = (len(ts) - 1) / ((ts[-1] - ts[0]) / SECONDS_PER_DAY)
            gaps = [b - a for a, b in zip(ts, ts[1:])]
            mean = sum(gaps) / len(gaps)
            sd = (sum((g - mean) ** 2 for g in gaps) / len(gaps)) ** 0.5
            cv = sd / mean if mean > 0 else 0.0
        if ts:
            since = (now - ts[-1]) / SECONDS_PER_DAY
        present = pd.notna(acc["followers"]) or len(own) > 0
        row = [followers, sum(likes) / len(likes) if likes else 0.0,
               sum(comments) / len(comments) if comments else 0.0, per_day, since, cv]
        rows.append(row if present else [0.0] * 6)
        mask.append(present)
    return np.array(rows), np.array(mask)


def random_tables(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = 40
    ids = [f"a{i}" for i in range(n)]
    followers = pd.array([None if rng.random() < 0.2 else int(rng.integers(10, 10**6)) for _ in ids],
                         dtype="Int64")
    per = rng.integers(0, 7, size=n)  # ragged: no posts, one post, several
    owner = np.repeat(np.arange(n), per)
    rng.shuffle(owner)  # posts of an account are not contiguous
    m = len(owner)
    ts = rng.integers(1_600_000_000, 1_700_000_000, size=m).astype(float)
    ts[rng.random(m) < 0.3] = ts[0]  # repeated timestamps: zero gaps, zero spans
    posts = pd.DataFrame({
        "account_id": [ids[i] for i in owner],
        "likes": pd.array([None if rng.random() < 0.15 else int(v) for v in rng.integers(0, 5000, m)], dtype="Int64"),
        "comments": pd.array([None if rng.random() < 0.15 else int(v) for v in rng.integers(0, 90, m)], dtype="Int64"),
        "timestamp": pd.array([None if rng.random() < 0.1 else v for v in ts], dtype="Float64"),
    })
    return pd.DataFrame({"account_id": ids, "followers": followers}), posts


@pytest.mark.parametrize("seed", range(6))
def test_matches_the_per_account_reference(seed):
    accounts, posts = random_tables(seed)
    now = float(pd.to_numeric(posts["timestamp"]).max())
    view = activity_view(accounts, posts)
    want, mask = reference(accounts, posts, now)
    np.testing.assert_array_equal(view.mask, mask)
    np.testing.assert_allclose(view.values, want.astype(np.float32), rtol=1e-6, atol=1e-6)
    # a later "now" (new accounts featurized against the fitted dataset) shifts column 4 only
    later = activity_view(accounts, posts, reference_timestamp=now + 2 * SECONDS_PER_DAY)
    has_ts = want[:, 4] > 0
    np.testing.assert_allclose(later.values[has_ts, 4] - view.values[has_ts, 4], 2.0, rtol=1e-5)
    np.testing.assert_array_equal(np.delete(later.values, 4, axis=1), np.delete(view.values, 4, axis=1))


def test_hand_computed_account():
    accounts = pd.DataFrame({"account_id": ["x", "y", "z"], "followers": pd.array([100, None, None], dtype="Int64")})
    day = SECONDS_PER_DAY
    posts = pd.DataFrame({
        "account_id": ["x", "x", "x", "y"],
        "likes": pd.array([10, 20, None, 7], dtype="Int64"),
        "comments": pd.array([1, 2, 3, None], dtype="Int64"),
        "timestamp": pd.array([0.0, 3 * day, 1 * day, 5 * day], dtype="Float64"),
    })
    view = activity_view(accounts, posts)
    # x: gaps 1 and 2 days (mean 1.5, sd 0.5): 2 gaps over 3 days; newest post of all is y's, 2 days later
    np.testing.assert_allclose(view.values[0], [100, 15, 2, 2 / 3, 2, 0.5 / 1.5], rtol=1e-6)
    np.testing.assert_allclose(view.values[1], [0, 7, 0, 0, 0, 0])  # one post: no rate, no spread
    assert view.mask.tolist() == [True, True, False]  # z: no followers, no posts
    np.testing.assert_array_equal(view.values[2], 0.0)


def test_nothing_to_compute_and_unknown_accounts():
    accounts = pd.DataFrame({"account_id": ["x"], "followers": pd.array([None], dtype="Int64")})
    empty = pd.DataFrame({"account_id": [], "likes": [], "comments": [], "timestamp": []})
    assert activity_view(accounts, empty) is None
    stray = pd.DataFrame({"account_id": ["q"], "likes": [1], "comments": [1], "timestamp": [1.0]})
    with pytest.raises(FeatureError, match="1 post"):
        activity_view(accounts, stray)
