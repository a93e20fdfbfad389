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

    def _latent(self, ids: list[str]) -> dict[str, np.ndarray]:
        """Latent state of ``ids``: content, audience (n, T), attributes (n, A), engagement (n,)."""
        feats = self._check(self.features_)
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

    def _weights(self) -> tuple[dict[str, float], np.ndarray]:
        meta = self._check(self.features_)["latent.content"].meta
        return {k: float(v) for k, v in meta["weights"].items()}, np.asarray(meta["compat"], dtype=np.float64)

    def score(self, brand_ids: Sequence[str], influencer_ids: Sequence[str]) -> np.ndarray:
        from brandmatch.data.synthetic import id_hashes, latent_score, pair_noise

        meta = self._check(self.features_)["latent.content"].meta
        brand_ids, influencer_ids = list(brand_ids), list(influencer_ids)
        weights, compat = self._weights()
        noise = None
        if self.noise:
            salt = int(meta["noise_salt"])
            noise = pair_noise(id_hashes(brand_ids, salt), id_hashes(influencer_ids, salt))
        return latent_score(self._latent(brand_ids), self._latent(influencer_ids), weights, compat, noise)

    def embed(self, account_ids: Sequence[str], role: str) -> np.ndarray:
        """Without the per-pair noise the latent score decomposes (``noise=False`` only):
        brand [w_c u(theta_b), w_a u(alpha_b), w_att C^T a_b, w_e], influencer
        [u(theta_m), u(alpha_m), a_m, e_m] (u: unit rows)."""
        from brandmatch.errors import ModelError

        if self.noise:
            raise NotImplementedError("oracle: the per-pair noise term does not decompose (use noise=False)")
        if role not in ("brand", "influencer"):
            raise ModelError(f"oracle: role must be 'brand' or 'influencer', got {role!r}")
        lat = self._latent(list(account_ids))
        unit = lambda x: x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-300)  # noqa: E731
        if role == "influencer":
            return np.hstack([unit(lat["content"]), unit(lat["audience"]), lat["attributes"],
                              lat["engagement"][:, None]])
        w, compat = self._weights()
        n = len(lat["content"])
        return np.hstack([w["w_content"] * unit(lat["content"]), w["w_audience"] * unit(lat["audience"]),
                          w["w_attributes"] * (lat["attributes"] @ compat), np.full((n, 1), w["w_engagement"])])
