"""Post -> account pooling: which posts stand for an account, and how their vectors combine.

* :func:`content_groups`: an account's H most recent posts (MORNING: H = 50, section IV-A).
* :func:`audience_groups`: an account's audience posts, Q members x L posts (MORNING: Q = 25,
  L = 2, section IV-B / V-B).
* :func:`semantic_pool`: eq. 4-6 -- per post the object (1,000) and scene (365) confidences, values
  below the threshold set to zero, summed over the account's posts, each part normalised to sum 1
  (psi = L1 normalisation), then concatenated (objects first).
* :func:`pool_rows`: MIR's history pooling x_acc = sum_p w_p x_p with sum_p w_p = 1, either the
  plain mean ("ap") or the engagement-weighted mean ("wap", w_p proportional to
  likes + comments + 1, baselines-spec section 2.3).

A *group table* is a DataFrame with columns ``account_id, post_id`` (one row per post that counts
for an account; a post may count for several accounts, e.g. a member who follows two brands).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from brandmatch.data.schema import N_OBJECT_CLASSES, N_SCENE_CLASSES

#: MORNING section V-A: confidence threshold of the visual semantics.
CONFIDENCE_THRESHOLD = 0.1
#: Posts per account (MORNING / MIR: the 50 crawled posts).
H_POSTS = 50
#: Audience members per account and posts per member (MORNING section V-B).
Q_MEMBERS = 25
L_POSTS = 2


def _recent_first(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """Sort by key, then newest timestamp first (null timestamps last), then post_id (stable ties)."""
    ts = pd.to_numeric(frame["timestamp"]).astype("Float64").fillna(-np.inf).astype(float)
    order = pd.DataFrame({"k": frame[key].to_numpy(), "t": -ts.to_numpy(), "p": frame["post_id"].to_numpy()})
    idx = order.sort_values(["k", "t", "p"], kind="mergesort").index
    return frame.loc[idx]


def content_groups(posts: pd.DataFrame, h: int = H_POSTS) -> pd.DataFrame:
    """(account_id, post_id) of each account's ``h`` most recent posts."""
    if posts.empty:
        return pd.DataFrame({"account_id": pd.Series([], dtype=object), "post_id": pd.Series([], dtype=object)})
    sorted_posts = _recent_first(posts[["account_id", "post_id", "timestamp"]], "account_id")
    top = sorted_posts.groupby("account_id", sort=False).head(h)
    return top[["account_id", "post_id"]].reset_index(drop=True)


def audience_groups(
    audience: pd.DataFrame, audience_posts: pd.DataFrame, q: int = Q_MEMBERS, l_posts: int = L_POSTS
) -> pd.DataFrame:
    """(account_id, post_id) of the posts of each account's audience: the first ``q`` members in
    table order, and each member's ``l_posts`` most recent posts."""
    if audience.empty or audience_posts.empty:
        return pd.DataFrame({"account_id": pd.Series([], dtype=object), "post_id": pd.Series([], dtype=object)})
    members = audience.groupby("account_id", sort=False).head(q)[["account_id", "member_id"]]
    mp = _recent_first(audience_posts[["member_id", "post_id", "timestamp"]], "member_id")
    mp = mp.groupby("member_id", sort=False).head(l_posts)[["member_id", "post_id"]]
    pairs = members.merge(mp, on="member_id", how="inner", sort=False)
    return pairs[["account_id", "post_id"]].drop_duplicates().reset_index(drop=True)


def group_matrix(
    groups: pd.DataFrame,
    account_ids: Sequence[str],
    post_index: dict[str, int],
    weights: np.ndarray | None = None,
    normalize: bool = True,
) -> sp.csr_matrix:
    """Sparse (n_accounts, n_posts) pooling matrix: row a holds w_p for the posts of account a.

    weights: optional (n_posts,) per-post weight (indexed like ``post_index``); rows are normalised
    to sum 1 when ``normalize`` (the pooled vector is then a weighted mean).
    """
    acc_index = {a: i for i, a in enumerate(account_ids)}
    rows = np.fromiter((acc_index.get(a, -1) for a in groups["account_id"].tolist()), dtype=np.int64, count=len(groups))
    cols = np.fromiter((post_index.get(p, -1) for p in groups["post_id"].tolist()), dtype=np.int64, count=len(groups))
    ok = (rows >= 0) & (cols >= 0)
    rows, cols = rows[ok], cols[ok]
    data = np.ones(len(rows)) if weights is None else np.asarray(weights, dtype=np.float64)[cols]
    mat = sp.csr_matrix((data, (rows, cols)), shape=(len(account_ids), len(post_index)))
    if normalize:
        sums = np.asarray(mat.sum(axis=1)).ravel()
        inv = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
        mat = sp.diags(inv) @ mat
    return mat.tocsr()


def engagement_weights(likes: pd.Series, comments: pd.Series) -> np.ndarray:
    """MIR's "wap" weights before normalisation: likes + comments + 1 (nulls count as 0)."""
    lk = pd.to_numeric(likes).astype("Float64").fillna(0).to_numpy(dtype=float)
    cm = pd.to_numeric(comments).astype("Float64").fillna(0).to_numpy(dtype=float)
    return lk + cm + 1.0


def pool_rows(
    x: np.ndarray,
    present: np.ndarray,
    groups: pd.DataFrame,
    account_ids: Sequence[str],
    post_index: dict[str, int],
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """History pooling of post vectors into account vectors.

    x: (n_posts, d) post vectors (row order of ``post_index``); present: (n_posts,) bool, False for
    posts without a vector (they get no weight). weights: None for the plain mean ("ap"), or
    (n_posts,) unnormalised weights ("wap"). Returns values (n_accounts, d) float32 and mask
    (n_accounts,) -- True where the account has at least one present post.
    """
    w = np.where(present, 1.0 if weights is None else np.asarray(weights, dtype=np.float64), 0.0)
    mat = group_matrix(groups, account_ids, post_index, weights=w, normalize=True)
    values = np.asarray(mat @ x, dtype=np.float32)
    mask = np.asarray(mat.sum(axis=1)).ravel() > 0
    values[~mask] = 0.0
    return values, mask


def detection_matrices(
    detections: pd.DataFrame, post_index: dict[str, int], threshold: float = CONFIDENCE_THRESHOLD
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Per-post thresholded semantic vectors v~_o (n_posts, 1000) and v~_s (n_posts, 365).

    Confidences below ``threshold`` are set to zero (section IV-A); the others keep their value.
    Detections of posts not in ``post_index`` are ignored.
    """
    n = len(post_index)
    out = []
    for kind, width in (("object", N_OBJECT_CLASSES), ("scene", N_SCENE_CLASSES)):
        sub = detections[(detections["kind"] == kind)] if len(detections) else detections
        if len(sub):
            conf = sub["confidence"].to_numpy(dtype=np.float64)
            rows = np.fromiter((post_index.get(p, -1) for p in sub["post_id"].tolist()), dtype=np.int64, count=len(sub))
            cols = sub["class_index"].to_numpy(dtype=np.int64)
            keep = (rows >= 0) & (conf >= threshold)
            out.append(sp.csr_matrix((conf[keep], (rows[keep], cols[keep])), shape=(n, width)))
        else:
            out.append(sp.csr_matrix((n, width)))
    return out[0], out[1]


def semantic_pool(
    objects: sp.csr_matrix,
    scenes: sp.csr_matrix,
    groups: pd.DataFrame,
    account_ids: Sequence[str],
    post_index: dict[str, int],
    scene_available: bool = True,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Eq. 4-6: X^p = concat(psi(sum_p v~_o^p), psi(sum_p v~_s^p)), psi = L1 normalisation.

    objects/scenes: thresholded per-post matrices from :func:`detection_matrices`.
    Returns values (n_accounts, 1365) float32, mask (n_accounts,), info counts.

    Missing parts: a part with nothing above the threshold for an account stays all zeros (it does
    not sum to 1, so a reader can tell it is missing). The account is present (mask True) when at
    least one part is non-empty. When the data has no scene detections at all
    (``scene_available=False``) every scene part is zero and the caller records
    ``"scene_part": "missing"`` in the view meta.
    """
    agg = group_matrix(groups, account_ids, post_index, normalize=False)
    parts = []
    nonempty = []
    for mat in (objects, scenes):
        summed = np.asarray((agg @ mat).todense(), dtype=np.float64)
        total = summed.sum(axis=1, keepdims=True)
        parts.append(np.divide(summed, total, out=np.zeros_like(summed), where=total > 0))
        nonempty.append(total.ravel() > 0)
    values = np.concatenate(parts, axis=1).astype(np.float32)
    mask = nonempty[0] | nonempty[1]
    info = {
        "accounts_with_objects": int(nonempty[0].sum()),
        "accounts_with_scenes": int(nonempty[1].sum()),
        "accounts_half_missing": int((nonempty[0] ^ nonempty[1]).sum()) if scene_available else 0,
    }
    values[~mask] = 0.0
    return values, mask, info
