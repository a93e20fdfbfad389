"""HPTR: MIR's history-pooling representation with a triplet ranker (a baseline of MORNING, TMM 2022,
sec. V-B; implementable spec in baselines-spec sec. 4.2).

Representation: the ``bilinear`` term exactly as in MIR (pooled views, separate brand /
influencer towers per modality, Hadamard fusion; :mod:`brandmatch.models.terms.bilinear`), scored
by the plain dot product F = <z_b, z_m> (``reduce="sum"``), so F = embed(b) . embed(m).
Objective: hinge max(0, F(b, m-) - F(b, m+) + margin) averaged over the active triplets
(CAMERA / MORNING reference-code style) + 0.001 * L1; one uniform non-partner per training pair,
resampled each epoch; Adam, lr 0.002, batch 16.
Choices where the spec is uncertain: margin 4 (MORNING's content-branch margin; the spec suggests
tuning in {1, 4, 7}); 40 epochs with x0.95 lr decay per epoch (MORNING's schedule), early stopping
and epoch selection on the validation brands.
"""

from __future__ import annotations

from brandmatch.models.base import register
from brandmatch.models.composed import LossSpec, TrainingSpec
from brandmatch.models.mir import METRICS, TERM_PARAMS, BilinearRanker
from brandmatch.models.params import Param


@register
class HptrRanker(BilinearRanker):
    """History pooling + bilinear fusion + triplet loss."""

    name = "hptr"
    summary = "HPTR: MIR's history-pooling representation with a triplet hinge ranker"
    REDUCE = "sum"
    OWN = (
        Param("margin", 4.0, "float", "sec. 4.2: hinge margin (unknown; MORNING's content margin)", low=0.0),
        Param("hinge_reduction", "active", "str", "sec. 4.2: mean over active triplets (or all, or sum)",
              choices=("active", "mean", "sum")),
        Param("negatives", "uniform", "str", "sec. 4.2: one random non-partner per pair (ours: same-category share)",
              choices=("uniform", "category")),
        Param("hard_fraction", 0.5, "float", "ours: share of same-category negatives", low=0.0, high=1.0),
        Param("l1", 0.001, "float", "sec. 4.2: lambda of L1 on the weight matrices", low=0.0),
        Param("lr", 0.002, "float", "sec. 4.2: Adam learning rate", low=0.0, low_open=True),
        Param("lr_decay", 0.95, "float", "sec. 4.1: x0.95 per epoch (MORNING's schedule)", low=0.0, high=1.0,
              low_open=True),
        Param("batch_size", 16, "int", "sec. 4.2: batch of 16 triplets", low=1),
        Param("epochs", 40, "int", "sec. 4.2: ~40-100 epochs", low=1),
        Param("weight_decay", 0.0, "float", "ours: Adam weight decay", low=0.0),
        Param("patience", 5, "int", "ours: epochs without validation gain before stopping (null: never)", low=1,
              nullable=True),
        Param("select_metric", "MAP", "str", "ours: validation metric that selects the epoch", choices=METRICS,
              nullable=True),
        Param("seed", 0, "int", "ours: seed of initialisation, sampling and dropout", low=0),
    )
    PARAMS = (*OWN, *TERM_PARAMS)

    def training_spec(self) -> TrainingSpec:
        c = self.config
        return TrainingSpec(sampler=c["negatives"], sampler_options={"hard_fraction": c["hard_fraction"]},
                            losses=(LossSpec("triplet", 1.0, None, {"margin": c["margin"],
                                                                    "reduction": c["hinge_reduction"]}),),
                            epochs=c["epochs"], batch_size=c["batch_size"], lr=c["lr"], lr_decay=c["lr_decay"],
                            weight_decay=c["weight_decay"], l1=c["l1"], patience=c["patience"],
                            select_metric=c["select_metric"], seed=c["seed"])
