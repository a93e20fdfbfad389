"""The one training workflow: a model and data in, a fitted model out.

``fit_model(model, dataset, options)`` takes the dataset's train split, its validation grid (for
model selection; the test grid never reaches it) and the account information a model may know;
``fit_ranker`` does the work for any model:

- a training-free model (``learns`` false) just fits (COSINE prepares its terms, MIV its statistics);
- a learned model describes its objective as data (:class:`~brandmatch.models.composed.TrainingSpec`;
  ``model.training_cooperations(train, features)`` first attaches graded labels, e.g. MIR's):
  the workflow seeds everything, builds the sampler the spec names, lets the model prepare its
  terms on the sampler's training accounts, turns the spec's losses (pairwise or listwise, from
  :data:`~brandmatch.training.losses.LOSSES`) into ``batch_loss``, validates on the validation grid
  once per epoch, and runs the :class:`~brandmatch.training.trainer.Trainer` (checkpoints, exact
  resume guarded by a fingerprint of hyper-parameters, seed and data checksums).

Every fitted model gets ``provenance_`` (dataset manifest, feature-view checksums, recipe, code
version), saved in its ``config.json`` and checked when it is loaded.
``brandmatch train``, ``evaluate``, ``report`` and ``results`` all go through here.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from brandmatch.data.schema import CandidateGrid, CooperationSet
from brandmatch.data.store import Dataset
from brandmatch.errors import DatasetError, ModelError
from brandmatch.features.store import FeatureSet
from brandmatch.models.base import AccountInfo, Ranker, create
from brandmatch.models.composed import ComposedRanker
from brandmatch.provenance import code_version, dataset_checksum, feature_checksums
from brandmatch.training.losses import LOSSES
from brandmatch.training.samplers import Batch, make_sampler
from brandmatch.training.seeding import seed_everything, set_torch_threads
from brandmatch.training.trainer import Trainer, TrainConfig, TrainingOptions


def account_info(dataset: Dataset, splits: tuple[str, ...] = ("train",)) -> AccountInfo:
    """What a model may know when trained on ``splits``: categories from those cooperations only."""
    train = dataset.cooperations(list(splits))
    cats = dataset.brand_category()
    inf_cats: dict[str, set[str]] = {}
    for b, m in zip(train.brand_ids.tolist(), train.influencer_ids.tolist()):
        if cats.get(b) is not None:
            inf_cats.setdefault(m, set()).add(cats[b])
    return AccountInfo(
        brand_category=cats,
        influencer_categories={m: frozenset(c) for m, c in inf_cats.items()},
        influencers=tuple(train.influencers),
    )


def fit_model(model: Ranker, dataset: Dataset, options: TrainingOptions | None = None) -> Ranker:
    """Fit on the train split; the validation grid (if the dataset has one) is given for selection."""
    train = dataset.cooperations("train")
    if len(train) == 0:
        raise DatasetError(f"{dataset.path or dataset.name}: no training cooperations (splits table has no train brands)")
    valid = dataset.grid("validation") if "validation" in dataset.grid_names() else None
    fit_ranker(model, train, dataset.features, valid, account_info(dataset), options)
    if model.provenance_ is not None:
        model.provenance_["dataset"] = {"name": dataset.name, "manifest_sha256": dataset_checksum(dataset)}
    return model


def pairs_checksum(train: CooperationSet | None) -> str | None:
    """SHA-256 of the training pairs in order (None without training data)."""
    if train is None:
        return None
    text = "\n".join(f"{b}\t{m}" for b, m in zip(train.brand_ids.tolist(), train.influencer_ids.tolist()))
    return hashlib.sha256(text.encode()).hexdigest()


def _record_provenance(model: Ranker, features: FeatureSet, train: CooperationSet | None) -> None:
    recipe = getattr(model, "recipe_info_", None)
    model.provenance_ = {
        "features": feature_checksums(features, model.required_inputs()),
        "train_pairs_sha256": pairs_checksum(train),
        "recipe": None if recipe is None else {"name": recipe.name, "sha256": recipe.sha256},
        "code": code_version(),
        "dataset": None,
    }


def fit_ranker(model: Ranker, train: CooperationSet | None, features: FeatureSet, valid: CandidateGrid | None = None,
               info: AccountInfo | None = None, options: TrainingOptions | None = None) -> Ranker:
    """Fit any registered model; see the module docstring. Returns ``model``."""
    if not getattr(model, "learns", False):
        if options is not None and options.resume:
            raise ModelError(f"model {model.name!r} does not train: nothing to resume")
        model.fit(train, features, valid, info)
        _record_provenance(model, features, train)
        return model
    if train is None or len(train) == 0:
        raise ModelError(f"{model.name}: no training cooperations")
    options = options or TrainingOptions()
    set_torch_threads(options.threads)
    space = model.selection_space()
    if space is not None:  # the recipe adapts to this dataset first (training/selection.py)
        if valid is None or not len(valid.brand_ids) or not valid.labels.any():
            model.selection_ = {"skipped": "no validation grid with positives"}
        else:
            from brandmatch.training.selection import SelectionSpace, select_params

            parsed = SelectionSpace.parse(space, f"{model.name} [select]", model.get_params().get("select_metric"))
            found = select_params(model, parsed, train, features, valid, info, options)
            model.selection_ = found.record
            if options.checkpoint_dir is None and not options.resume:
                return adopt(model, found.winner)
    spec = model.training_spec()
    seed_everything(spec.seed)
    info = info or AccountInfo()
    pool = list(info.influencers) if info.influencers else None
    train = model.training_cooperations(train, features)  # graded labels where a model has them (MIR)
    sampler = make_sampler(spec.sampler, train, pool, info.brand_category, info.influencer_categories,
                           **spec.sampler_options)
    model.prepare(train, features, info, sampler.brands, sampler.influencers)
    spec = model.training_spec()  # the losses depend on the parts the prepared model has
    for ls in spec.losses:
        if ls.loss not in LOSSES:
            raise ModelError(f"{model.name}: unknown loss {ls.loss!r} (known: {', '.join(LOSSES)})")
    model.bind_training(sampler.brands, sampler.influencers)

    def batch_loss(batch: Batch) -> torch.Tensor:
        scores, aux = model.batch_scores(batch.brands, batch.candidates)
        total = sum(scores.values())
        loss = aux if aux is not None else torch.zeros(())
        for ls in spec.losses:
            s = total if ls.parts is None else sum(scores[p] for p in ls.parts)
            entry = LOSSES[ls.loss]
            if entry.signature == "pairwise":
                value = entry.fn(s[:, 0], s[:, 1], **ls.options)
            else:
                value = entry.fn(s, torch.as_tensor(batch.relevance, dtype=s.dtype), **ls.options)
            loss = loss + ls.weight * value
        return loss  # + lambda ||theta||_1: applied by the trainer as its exact subgradient

    validate = None
    if valid is not None and len(valid.brand_ids) and valid.labels.any():
        from brandmatch.evaluation.metrics import grid_metrics  # a leaf module (numpy only)

        def validate() -> dict[str, float]:  # epochs are chosen without post-hoc terms (never trained)
            brands, candidates = list(valid.brand_ids), list(valid.influencer_ids)
            scores = model.score(brands, candidates, post_hoc=False) if isinstance(model, ComposedRanker) \
                else model.score(brands, candidates)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return grid_metrics(scores, valid.labels)

    _record_provenance(model, features, train)
    fingerprint = {
        "model": model.name,
        "params": model.get_params(),
        "data": {"features": model.provenance_["features"], "train_pairs_sha256": model.provenance_["train_pairs_sha256"],
                 "validation": _grid_checksum(valid)},
    }
    config = TrainConfig(epochs=spec.epochs, batch_size=spec.batch_size, lr=spec.lr, lr_decay=spec.lr_decay,
                         weight_decay=spec.weight_decay, select_metric=spec.select_metric or "",
                         patience=spec.patience, seed=spec.seed, l1=spec.l1)
    try:
        result = Trainer(config, options).fit(model.network_, sampler, batch_loss, validate, name=model.name,
                                              fingerprint=fingerprint)
    finally:
        model.unbind_training()
    model.history_ = result.history
    model.best_epoch_ = result.best_epoch
    return model


def adopt(model: Ranker, winner: Ranker) -> Ranker:
    """``model`` takes the fitted state of ``winner``, a candidate of its selection fitted with the
    parameters ``model`` now has (its ``config`` and ``selection_`` stay its own). Returns ``model``."""
    keep = {k: model.__dict__[k] for k in ("config", "selection_") if k in model.__dict__}
    model.__dict__.update({k: v for k, v in winner.__dict__.items() if k not in keep})
    model.__dict__.update(keep)
    return model


def _grid_checksum(grid: CandidateGrid | None) -> str | None:
    if grid is None:
        return None
    h = hashlib.sha256()
    h.update("\x00".join(map(str, grid.brand_ids)).encode())
    h.update("\x00".join(map(str, grid.influencer_ids)).encode())
    h.update(np.ascontiguousarray(grid.labels).tobytes())
    return h.hexdigest()


def train_to_directory(model: Ranker | str, dataset: Dataset, out: str | Path, params: dict[str, Any] | None = None,
                       *, options: TrainingOptions | None = None) -> Ranker:
    """Fit a model (an instance, or a registered name with ``params``) on ``dataset``'s train split,
    checkpointing under ``out/checkpoints/`` (resumable), and save it into ``out``."""
    from brandmatch.training.checkpoint import save_model_into

    out = Path(out)
    if isinstance(model, str):
        model = create(model, **dict(params or {}))
    options = options or TrainingOptions()
    if getattr(model, "learns", False):
        options.checkpoint_dir = out / "checkpoints"
    fit_model(model, dataset, options)
    save_model_into(model, out)
    return model
