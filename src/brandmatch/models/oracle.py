"""ORACLE: the synthetic world's own latent cooperation score (synthetic data only).

The generator (``brandmatch.data.synthetic``) exports each account's latent state as feature
views ``latent.content`` (theta), ``latent.audience`` (alpha), ``latent.attributes`` (normalised
attribute types) and ``latent.engagement`` (standardised log engagement rate); the meta of
``latent.content`` holds the score weights, the attribute compatibility matrix and the salt of the
per-pair noise. The oracle recomputes

    s(b, m) = w_content cos(theta_b, theta_m) + w_audience cos(alpha_b, alpha_m)
            + w_attributes a_b^T C a_m + w_engagement e_m + w_noise eps(b, m)

exactly as the generator did when it formed the cooperations (``noise=False`` drops the
per-pair hash noise eps). It is an upper reference for models, not a model: on any dataset without
the latent views it raises :class:`ModelUnavailable`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from brandmatch.data.schema import CandidateGrid, CooperationSet
from brandmatch.errors import ModelUnavailable
from brandmatch.features.store import FeatureSet
from brandmatch.models.base import AccountInfo, Ranker, register
from brandmatch.models.params import Param, resolve

LATENT_VIEWS = ("latent.content", "latent.audience", "latent.attributes", "latent.engagement")


@register
class OracleRanker(Ranker):
    """The latent score of the synthetic world; ``noise`` includes the per-pair noise term."""

    name = "oracle"
    summary = "ORACLE: the synthetic world's latent cooperation score (synthetic data only)"

    PARAMS = (Param("noise", True, "bool", "include the generator's per-pair noise term"),)

    def __init__(self, noise: bool = True):
        self.noise = resolve(self.name, self.PARAMS, {"noise": noise})["noise"]

    def _check(self, features: FeatureSet | None) -> FeatureSet:
        if features is None:
            raise ModelUnavailable("oracle: not fitted")
        missing = [v for v in LATENT_VIEWS if v not in features]
        if missing:
            raise ModelUnavailable(
                f"oracle: only available on synthetic worlds (no latent view {missing[0]!r} in the feature set)"
            )
        meta = features["latent.content"].meta
        if "weights" not in meta or "compat" not in meta:
            raise ModelUnavailable("oracle: latent.content carries no score weights / compatibility matrix")
        return features

    def fit(
        self,
        train: CooperationSet,
        features: FeatureSet,
        valid: CandidateGrid | None = None,
        info: AccountInfo | None = None,
    ) -> "OracleRanker":
        self.features_ = self._check(features)
        return self

    def score(self, brand_ids: Sequence[str], influencer_ids: Sequence[str]) -> np.ndarray:
        from brandmatch.data.synthetic import id_hashes, latent_score, pair_noise

        feats = self._check(self.features_)
        meta = feats["latent.content"].meta
        brand_ids, influencer_ids = list(brand_ids), list(influencer_ids)

        def side(ids: list[str]) -> dict[str, np.ndarray]:
            out = {}
            for key, view in (("content", "latent.content"), ("audience", "latent.audience"),
                              ("attributes", "latent.attributes"), ("engagement", "latent.engagement")):
                values, mask = feats[view].lookup(ids)
                if not mask.all():
                    bad = ids[int(np.flatnonzero(~mask)[0])]
                    raise ModelUnavailable(f"oracle: account {bad!r} has no latent state (not generated)")
                out[key] = values.astype(np.float64)
            out["engagement"] = out["engagement"][:, 0]
            return out

        weights = {k: float(v) for k, v in meta["weights"].items()}
        compat = np.asarray(meta["compat"], dtype=np.float64)
        noise = None
        if self.noise:
            salt = int(meta["noise_salt"])
            noise = pair_noise(id_hashes(brand_ids, salt), id_hashes(influencer_ids, salt))
        return latent_score(side(brand_ids), side(influencer_ids), weights, compat, noise)
