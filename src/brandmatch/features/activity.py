"""Activeness statistics per account (the inputs of the MIV baseline).

View ``activity`` columns (see :data:`ACTIVITY_COLUMNS`): followers, mean likes per post, mean
comments per post, posts per day over the account's post history, days since the newest post
(relative to the newest post in the dataset), coefficient of variation of the gaps between posts.
An account with no posts and no follower count is masked; one with only followers keeps the
post statistics at 0 and is still present (followers alone are real information).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from brandmatch.errors import FeatureError
from brandmatch.features.store import FeatureView

ACTIVITY_COLUMNS = (
    "followers",
    "likes_per_post",
    "comments_per_post",
    "posts_per_day",
    "days_since_last_post",
    "gap_cv",
)
SECONDS_PER_DAY = 86400.0


def activity_view(
    accounts: pd.DataFrame, posts: pd.DataFrame, reference_timestamp: float | None = None
) -> FeatureView | None:
    """Build the ``activity`` view, or None when the data has neither posts nor followers.

    accounts: the accounts table; posts: the posts table. Returns values (n_accounts, 6).
    reference_timestamp: "now" for days_since_last_post (default: the newest post in ``posts``;
    new accounts featurized later pass the fitted dataset's newest post).
    """
    has_followers = accounts["followers"].notna().to_numpy()
    if not has_followers.any() and posts.empty:
        return None
    ids = accounts["account_id"].tolist()
    n = len(ids)
    values = np.zeros((n, len(ACTIVITY_COLUMNS)), dtype=np.float64)
    values[:, 0] = accounts["followers"].astype("Float64").fillna(0).to_numpy(dtype=float)
    has_posts = np.zeros(n, dtype=bool)
    if not posts.empty:
        newest_overall = (pd.to_numeric(posts["timestamp"]).max() if reference_timestamp is None
                          else reference_timestamp)
        row = pd.Index(accounts["account_id"]).get_indexer(posts["account_id"])
        if (row < 0).any():
            raise FeatureError(f"activity: {int((row < 0).sum())} post(s) of accounts missing from the accounts table")
        has_posts[row] = True
        for col, name in ((1, "likes"), (2, "comments")):
            x = posts[name].astype("Float64")
            ok = x.notna().to_numpy()
            count = np.bincount(row[ok], minlength=n)
            total = np.bincount(row[ok], weights=x[ok].to_numpy(dtype=float), minlength=n)
            np.divide(total, count, out=values[:, col], where=count > 0)
        _timing(values, row, posts["timestamp"].astype("Float64"), n, newest_overall)
    mask = has_followers | has_posts
    values[~mask] = 0.0
    return FeatureView(
        "activity", np.array(ids, dtype=str), values.astype(np.float32), mask,
        {"columns": list(ACTIVITY_COLUMNS), "posts_present": int(has_posts.sum())},
    )


def _timing(values: np.ndarray, row: np.ndarray, timestamps: pd.Series, n: int, newest_overall) -> None:
    """Columns 3-5 in place from each post's account row (n_posts,) and timestamp (NA skipped)."""
    ok = timestamps.notna().to_numpy()
    row, ts = row[ok], timestamps[ok].to_numpy(dtype=float)
    if not len(ts):
        return
    order = np.lexsort((ts, row))
    row, ts = row[order], ts[order]
    count = np.bincount(row, minlength=n)
    start = np.concatenate(([0], np.cumsum(count)[:-1]))
    has = count > 0
    first, last = np.zeros(n), np.zeros(n)
    first[has], last[has] = ts[start[has]], ts[start[has] + count[has] - 1]
    span = last - first
    spread = (count >= 2) & (span > 0)
    values[spread, 3] = (count[spread] - 1) / (span[spread] / SECONDS_PER_DAY)
    same = row[1:] == row[:-1]
    gap_row, gaps = row[1:][same], np.diff(ts)[same]
    n_gaps = np.maximum(count - 1, 1)
    mean = np.bincount(gap_row, weights=gaps, minlength=n) / n_gaps
    var = np.bincount(gap_row, weights=(gaps - mean[gap_row]) ** 2, minlength=n) / n_gaps
    cv = np.divide(np.sqrt(var), mean, out=np.zeros(n), where=mean > 0)
    values[spread, 5] = cv[spread]
    if pd.notna(newest_overall):
        values[has, 4] = (float(newest_overall) - last[has]) / SECONDS_PER_DAY
