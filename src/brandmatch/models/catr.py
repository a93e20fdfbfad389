"""CATR: CAMERA's concept-based representation with a triplet ranker (a baseline of MORNING, TMM 2022,
sec. V-B; baselines-spec sec. 4.3).

Exactly :class:`~brandmatch.models.camera.CameraRanker` (concept profiles, concept embeddings,
bi-directional concept attention, gamma similarity, hinge margin 7 over active triplets, its
hyper-parameters) with F = sim(b, m): the endorsement-effect and influence scores s1, s2 are
dropped, so CATR reads no engagement data. Like CAMERA, F is pair-specific (the attention of
each side depends on the other), so CATR has no ``embed``.
"""

from __future__ import annotations

from brandmatch.models.base import register
from brandmatch.models.camera import CameraRanker


@register
class CatrRanker(CameraRanker):
    """Concept representation + BCAM similarity + triplet loss (CAMERA without s1, s2)."""

    name = "catr"
    summary = "CATR: CAMERA's concept representation and concept attention with a triplet ranker (no s1, s2)"
    ENDORSEMENT = False
