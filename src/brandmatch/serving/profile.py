"""Recommendations for a NEW brand given as a profile folder (`brandmatch recommend --brand-profile`).

profile folder --(data.profile.load_brand_profile)--> Tables --(features.transform.FittedFeaturizer,
fitted by `brandmatch featurize` on DATA)--> one feature row per view --> Recommender.recommend_features.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from brandmatch.features.store import FeatureSet


def featurize_profile(
    profile_path: str | os.PathLike,
    data_dir: str | os.PathLike,
    *,
    category: str | None = None,
    brand_id: str | None = None,
    taken_ids: set[str] | frozenset[str] = frozenset(),
    classifier_factory: Callable | None = None,
) -> tuple[FeatureSet, str, str | None]:
    """(feature rows of the profile's brand, its id, its category).

    data_dir: the dataset whose `featurize` run fitted the featurizer (DATA/features/fitted).
    category: the brand's category (overrides the profile's). taken_ids: account ids already in
    the dataset; a profile whose id is one of them is renamed ``new:<id>`` (the recommender serves
    dataset brands through ``--brand``).
    """
    from brandmatch.data.profile import brand_of, load_brand_profile
    from brandmatch.features.transform import FittedFeaturizer

    fz = FittedFeaturizer.load(data_dir)
    tables = load_brand_profile(profile_path, category=category, brand_id=brand_id)
    own, _ = brand_of(tables)
    if own in taken_ids:
        tables = load_brand_profile(profile_path, category=category, brand_id=f"new:{own}")
    brand, cat = brand_of(tables)
    features = fz.transform(tables, classifier_factory=classifier_factory)
    # one row per view, only where the view is present for the brand
    rows = FeatureSet({n: v for n, v in features.views.items() if v.mask.any()})
    return rows, brand, cat


def recommend_profile(
    model_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    profile_path: str | os.PathLike,
    k: int = 20,
    filters: Any = None,
    *,
    category: str | None = None,
    recommender: Any = None,
    classifier_factory: Callable | None = None,
) -> tuple[list, str, str | None]:
    """Top-k influencers for the brand of ``profile_path``: (recommendations, brand id, category).

    recommender: an already loaded :class:`~brandmatch.serving.recommend.Recommender` (default:
    loaded from ``model_dir`` and ``data_dir``); filters: a ``serving.recommend.Filters``.
    """
    from brandmatch.serving.recommend import Filters, Recommender

    rec = recommender if recommender is not None else Recommender.from_dirs(model_dir, data_dir)
    taken = set(rec.dataset.tables.accounts["account_id"].astype(str))
    features, brand, cat = featurize_profile(profile_path, data_dir, category=category, taken_ids=taken,
                                             classifier_factory=classifier_factory)
    recs = rec.recommend_features(features, brand, cat, k, filters if filters is not None else Filters())
    return recs, brand, cat


__all__ = ["featurize_profile", "recommend_profile"]
