"""Simple, training-free features of a dataset with raw posts: the five standard views.

``simple_features(dataset) -> FeatureSet`` builds, per account:

- ``content_visual`` / ``audience_visual``: pooled detections of the account's posts (or of its
  audience members' posts): the sum of confidences per ImageNet object class (1,000) and per
  Places365 scene class (365), each part normalised to sum 1 (eq. 4-6 without the learned parts);
- ``content_text`` / ``audience_text``: TF-IDF of all the captions (English stop words removed,
  sublinear tf, vocabulary of the ``max_terms`` most frequent terms over the whole dataset);
- ``attributes``: binary bio-keyword vector; the keyword list is the dataset's
  ``metadata['attribute_vocabulary']`` when it has one (synthetic worlds), else the ``max_terms``
  most frequent bio words.

They are a baseline for the MORNING featurizer (topics, CNN semantics, node2vec attributes), good
enough for COSINE and for checking that every view carries signal. An account with no posts /
no audience / no keyword in its bio is masked in that view.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from brandmatch.data.schema import N_OBJECT_CLASSES, N_SCENE_CLASSES
from brandmatch.features.store import FeatureSet, FeatureView

KEYWORD_PATTERN = r"(?u)\b[a-z][a-z\-]+[a-z]\b"


def _pool_detections(ids: list[str], post_owner: pd.Series, detections: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(n, 1365) pooled detection histograms and the mask of accounts with any detection.

    post_owner: Series post_id -> account id.
    """
    index = {a: i for i, a in enumerate(ids)}
    n = len(ids)
    det = detections[detections["post_id"].isin(post_owner.index)]
    if det.empty:
        return np.zeros((n, N_OBJECT_CLASSES + N_SCENE_CLASSES), np.float32), np.zeros(n, bool)
    owner = post_owner.reindex(det["post_id"].to_numpy()).to_numpy()
    rows = np.fromiter((index.get(a, -1) for a in owner), dtype=np.int64, count=len(owner))
    cls = det["class_index"].to_numpy(dtype=np.int64) + np.where(det["kind"].to_numpy() == "scene", N_OBJECT_CLASSES, 0)
    conf = det["confidence"].to_numpy(dtype=np.float64)
    ok = rows >= 0
    mat = sp.csr_matrix((conf[ok], (rows[ok], cls[ok])), shape=(n, N_OBJECT_CLASSES + N_SCENE_CLASSES))
    dense = mat.toarray()
    for lo, hi in ((0, N_OBJECT_CLASSES), (N_OBJECT_CLASSES, N_OBJECT_CLASSES + N_SCENE_CLASSES)):
        s = dense[:, lo:hi].sum(axis=1, keepdims=True)
        dense[:, lo:hi] = np.divide(dense[:, lo:hi], s, out=np.zeros_like(dense[:, lo:hi]), where=s > 0)
    return dense.astype(np.float32), dense.sum(axis=1) > 0


def _tfidf(ids: list[str], docs: pd.Series, max_terms: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """TF-IDF rows for ``ids`` from docs (Series account id -> concatenated text)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    text = docs.reindex(ids).fillna("").tolist()
    mask = np.array([bool(t.strip()) for t in text])
    if not mask.any():
        return np.zeros((len(ids), 1), np.float32), mask, []
    vec = TfidfVectorizer(max_features=max_terms, stop_words="english", sublinear_tf=True, min_df=2,
                          token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b", dtype=np.float32)
    try:
        x = vec.fit_transform(text)
    except ValueError:  # empty vocabulary
        return np.zeros((len(ids), 1), np.float32), np.zeros(len(ids), bool), []
    dense = x.toarray().astype(np.float32)
    mask &= dense.any(axis=1)
    return dense, mask, vec.get_feature_names_out().tolist()


def simple_features(dataset, max_terms: int = 3000) -> FeatureSet:
    """The five standard views from a dataset's posts, audiences, detections and bios."""
    t = dataset.tables
    acc = t.accounts
    ids = acc["account_id"].tolist()
    views: dict[str, FeatureView] = {}

    posts = t.posts
    owner = pd.Series(posts["account_id"].to_numpy(), index=posts["post_id"].to_numpy())
    x, m = _pool_detections(ids, owner, t.detections)
    views["content_visual"] = FeatureView("content_visual", ids, x, m, {"kind": "pooled detections", "dims": "1000 objects + 365 scenes"})
    docs = posts.groupby("account_id", sort=False)["caption"].apply(lambda s: " ".join(v for v in s if isinstance(v, str)))
    x, m, terms = _tfidf(ids, docs, max_terms)
    views["content_text"] = FeatureView("content_text", ids, x, m, {"kind": "tfidf", "terms": len(terms)})

    aud = t.audience
    aposts = t.audience_posts
    if len(aud) and len(aposts):
        member_posts = aposts.merge(aud, on="member_id")
        a_owner = member_posts[["post_id", "account_id"]]
        det = t.detections[t.detections["post_id"].isin(set(aposts["post_id"].tolist()))]
        det = det.merge(a_owner, on="post_id")
        # a member may follow several accounts: pool per (account, post) pair
        det = det.rename(columns={"post_id": "orig_post"})
        det["post_id"] = det["account_id"] + "\x1f" + det["orig_post"]
        owner2 = pd.Series(det["account_id"].to_numpy(), index=det["post_id"].to_numpy())
        owner2 = owner2[~owner2.index.duplicated()]
        x, m = _pool_detections(ids, owner2, det[["post_id", "kind", "class_index", "confidence"]])
        views["audience_visual"] = FeatureView("audience_visual", ids, x, m, {"kind": "pooled audience detections"})
        adocs = member_posts.groupby("account_id", sort=False)["caption"].apply(
            lambda s: " ".join(v for v in s if isinstance(v, str)))
        x, m, terms = _tfidf(ids, adocs, max_terms)
        views["audience_text"] = FeatureView("audience_text", ids, x, m, {"kind": "tfidf", "terms": len(terms)})

    bios = acc["bio"].fillna("").str.lower().tolist()
    vocab_meta = (getattr(dataset, "metadata", {}) or {}).get("attribute_vocabulary")
    from sklearn.feature_extraction.text import CountVectorizer

    if vocab_meta:
        keywords = sorted({k.lower() for kws in vocab_meta.values() for k in kws})
        vec = CountVectorizer(vocabulary=keywords, token_pattern=KEYWORD_PATTERN, binary=True, lowercase=True)
    else:
        vec = CountVectorizer(max_features=max_terms, token_pattern=KEYWORD_PATTERN, binary=True,
                              stop_words="english", lowercase=True)
    try:
        x = vec.fit_transform(bios).toarray().astype(np.float32)
        names = vec.get_feature_names_out().tolist()
    except ValueError:
        x, names = np.zeros((len(ids), 1), np.float32), []
    views["attributes"] = FeatureView("attributes", ids, x, x.any(axis=1), {"kind": "bio keywords", "keywords": names})
    return FeatureSet(views)
