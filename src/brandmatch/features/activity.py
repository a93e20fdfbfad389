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
    index = {a: i for i, a in enumerate(ids)}
    n = len(ids)
    values = np.zeros((n, len(ACTIVITY_COLUMNS)), dtype=np.float64)
    values[:, 0] = accounts["followers"].astype("Float64").fillna(0).to_numpy(dtype=float)
    has_posts = np.zeros(n, dtype=bool)
    if not posts.empty:
        newest_overall = (pd.to_numeric(posts["timestamp"]).max() if reference_timestamp is None
                          else reference_timestamp)
        for account, group in posts.groupby("account_id", sort=False):
            i = index[account]
            has_posts[i] = True
            likes = group["likes"].astype("Float64").dropna().to_numpy(dtype=float)
            comments = group["comments"].astype("Float64").dropna().to_numpy(dtype=float)
            values[i, 1] = likes.mean() if len(likes) else 0.0
            values[i, 2] = comments.mean() if len(comments) else 0.0
            ts = np.sort(group["timestamp"].astype("Float64").dropna().to_numpy(dtype=float))
            if len(ts) >= 2 and ts[-1] > ts[0]:
                values[i, 3] = (len(ts) - 1) / ((ts[-1] - ts[0]) / SECONDS_PER_DAY)
                gaps = np.diff(ts)
                values[i, 5] = gaps.std() / gaps.mean() if gaps.mean() > 0 else 0.0
            if len(ts) and pd.notna(newest_overall):
                values[i, 4] = (float(newest_overall) - ts[-1]) / SECONDS_PER_DAY
    mask = has_followers | has_posts
    values[~mask] = 0.0
    return FeatureView(
        "activity", np.array(ids, dtype=str), values.astype(np.float32), mask,
        {"columns": list(ACTIVITY_COLUMNS), "posts_present": int(has_posts.sum())},
    )
