"""The Ranker protocol every model follows, and the registry that names models.

A model learns F(brand, influencer) from training cooperations over a :class:`FeatureSet`:

- ``fit(train, features, valid=None, info=None)`` returns ``self``; learned state ends in ``_``.
- ``score(brand_ids, influencer_ids)`` -> (n_brands, n_influencers) float64 matrix.
- ``embed(account_ids, role)`` -> (n, d) vectors where F decomposes into an inner product of
  per-account vectors (then ``score == embed(brands) @ embed(influencers).T``).
- ``save(dir)`` / ``load(dir, features)``: ``config.json`` plus ``weights.safetensors``; never pickle.
  ``config.json`` records the weights' SHA-256 (verified on load) and the model's provenance: the
  checksums of the feature views it read, the dataset manifest, the recipe and the code version;
  loading against features whose checksums differ fails with a message naming the view.

Hyper-parameters are keyword arguments of ``__init__`` whose defaults are the papers' values.
"""

from __future__ import annotations

import inspect
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Sequence, TypeVar

import numpy as np

from brandmatch.atomic import read_json, replace_dir, sha256_file, strict_json
from brandmatch.data.schema import CandidateGrid, CooperationSet
from brandmatch.errors import ModelError
from brandmatch.features.store import FeatureSet

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
FORMAT_VERSION = 2


@dataclass(frozen=True)
class AccountInfo:
    """What a model may know about accounts beyond their features.

    brand_category: brand id -> category; influencer_categories: influencer id -> categories of
    the brands it cooperated with IN THE TRAINING DATA ONLY; influencers: the candidate pool for
    negative sampling (training influencers).
    """

    brand_category: dict[str, str | None] = field(default_factory=dict)
    influencer_categories: dict[str, frozenset[str]] = field(default_factory=dict)
    influencers: tuple[str, ...] = ()


R = TypeVar("R", bound="Ranker")


class Ranker(ABC):
    """Base class of all models; subclasses set ``name`` and implement ``score``."""

    name: ClassVar[str] = ""
    #: Human-readable one-liner for `brandmatch models`.
    summary: ClassVar[str] = ""

    features_: FeatureSet | None = None
    #: where the fitted model came from (set by the training workflow; saved in config.json)
    provenance_: dict[str, Any] | None = None

    # ------------------------------------------------------------ protocol
    def fit(
        self: R,
        train: CooperationSet,
        features: FeatureSet,
        valid: CandidateGrid | None = None,
        info: AccountInfo | None = None,
    ) -> R:
        """Learn from training cooperations; training-free models only keep the features."""
        self.features_ = features
        return self

    @abstractmethod
    def score(self, brand_ids: Sequence[str], influencer_ids: Sequence[str]) -> np.ndarray:
        """F for every (brand, influencer) pair: (len(brand_ids), len(influencer_ids)) float64."""

    def embed(self, account_ids: Sequence[str], role: str) -> np.ndarray:
        """Per-account vectors (n, d) with F = <embed(b), embed(m)>; not all models decompose."""
        raise NotImplementedError(f"model {self.name!r} does not decompose into an inner product")

    def training_cooperations(self, train: CooperationSet, features: FeatureSet) -> CooperationSet:
        """The training pairs a learned model trains on; models with graded labels (MIR's competence)
        attach them here. Default: ``train`` unchanged."""
        return train

    def selection_space(self) -> dict[str, Any] | None:
        """A recipe's search space to choose parameters on the validation grid before training
        (training/selection.py), or None (the default): train as configured. A model that returns
        one also implements ``set_params(**params)`` (the candidates and the choice are set with it)."""
        return None

    def required_inputs(self) -> list[str]:
        """The feature views the fitted model reads (recorded and checked by save / load)."""
        return []

    # ------------------------------------------------------------ params
    @classmethod
    def from_params(cls: type[R], params: dict[str, Any]) -> R:
        """Rebuild from :meth:`get_params` output (what ``config.json`` stores)."""
        return cls(**params)

    def get_params(self) -> dict[str, Any]:
        """The constructor's keyword arguments as currently set (JSON-serialisable)."""
        sig = inspect.signature(type(self).__init__)
        kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return {p: getattr(self, p) for p, v in sig.parameters.items() if p != "self" and v.kind in kinds}

    def state_dict(self) -> dict[str, np.ndarray]:
        """Learned arrays to save (empty for training-free models)."""
        return {}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore learned arrays written by :meth:`state_dict`."""
        if state:
            raise ModelError(f"model {self.name!r} has no learned state but weights were given")

    def extra_config(self) -> dict[str, Any]:
        """Non-array learned state (e.g. the views actually used, the selected epoch)."""
        return {}

    def load_extra_config(self, extra: dict[str, Any]) -> None:
        """Restore what :meth:`extra_config` returned."""

    def _require_fitted(self) -> FeatureSet:
        if self.features_ is None:
            raise ModelError(f"model {self.name!r} is not fitted: call fit() first")
        return self.features_

    # ------------------------------------------------------------ disk
    def save(self, directory: str | os.PathLike) -> None:
        """Write config.json and weights.safetensors atomically into ``directory``."""
        from safetensors.numpy import save_file

        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
        try:
            state = {k: np.ascontiguousarray(v).reshape(np.shape(v)) for k, v in self.state_dict().items()}
            save_file(state, str(tmp / WEIGHTS_FILE))
            config = {
                "format_version": FORMAT_VERSION,
                "model": self.name,
                "params": self.get_params(),
                "extra": self.extra_config(),
                "provenance": self.provenance_ or {},
                "weights_sha256": sha256_file(tmp / WEIGHTS_FILE),
            }
            (tmp / CONFIG_FILE).write_text(strict_json(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            replace_dir(tmp, directory)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


MODELS: dict[str, type[Ranker]] = {}


def register(cls: type[R]) -> type[R]:
    """Class decorator: make a model constructible by name."""
    if not cls.name:
        raise TypeError(f"{cls.__name__} has no name")
    if cls.name in MODELS and MODELS[cls.name] is not cls:
        raise TypeError(f"model name {cls.name!r} registered twice")
    MODELS[cls.name] = cls
    return cls


def create(name: str, **params: Any) -> Ranker:
    """Construct a registered model by name with keyword hyper-parameters."""
    import brandmatch.models  # noqa: F401  (fills the registry)

    try:
        cls = MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r} (known: {', '.join(sorted(MODELS))})") from None
    sig = inspect.signature(cls.__init__)
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        from brandmatch.models.params import unknown

        known = [p for p in sig.parameters if p != "self"]
        for key in params:
            if key not in known:
                raise unknown(name, key, known)
    return cls(**params)


def read_config(directory: str | os.PathLike) -> dict[str, Any]:
    """A model directory's ``config.json`` as a dict (JSON only; nothing is loaded or trusted beyond
    that), or a one-line ModelError."""
    cpath = Path(directory) / CONFIG_FILE
    config = read_json(cpath, ModelError, "model config (not a model directory)")
    if not isinstance(config, dict) or "model" not in config:
        raise ModelError(f"{cpath}: not a model config (no 'model' key)")
    return config


def load_model(directory: str | os.PathLike, features: FeatureSet, *, check_features: bool = True) -> Ranker:
    """Rebuild a model saved with :meth:`Ranker.save` over ``features``.

    The weights must match their recorded SHA-256; with ``check_features`` every feature view the
    model was trained on must be in ``features`` with the recorded checksum.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    directory = Path(directory)
    cpath = directory / CONFIG_FILE
    config = read_config(directory)
    if config.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"{cpath}: format_version {config.get('format_version')!r}, expected {FORMAT_VERSION}")
    import brandmatch.models  # noqa: F401  (fills the registry)

    if config.get("model") not in MODELS:
        raise ModelError(f"{cpath}: unknown model {config.get('model')!r} (known: {', '.join(sorted(MODELS))})")
    model = MODELS[config["model"]].from_params(dict(config.get("params", {})))
    wpath = directory / WEIGHTS_FILE
    if not wpath.exists():
        raise ModelError(f"{wpath}: missing weights file")
    if sha256_file(wpath) != config.get("weights_sha256"):
        raise ModelError(f"{wpath}: checksum does not match config.json (file changed or truncated)")
    try:
        state = load_file(str(wpath))
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"{wpath}: unreadable weights ({exc})") from None
    provenance = config.get("provenance") or {}
    if check_features:
        check_feature_checksums(provenance.get("features", {}), features, directory)
    model.load_extra_config(config.get("extra", {}))
    model.load_state_dict(state)
    model.features_ = features
    model.provenance_ = provenance
    return model


def check_feature_checksums(recorded: dict[str, str], features: FeatureSet, source: object) -> None:
    """Every recorded view must be in ``features`` with the same content checksum."""
    for name, digest in recorded.items():
        if name not in features:
            raise ModelError(f"{source}: the model was trained on feature view {name!r}, which these features "
                             f"do not have (have: {', '.join(features.names()) or 'none'})")
        now = features[name].checksum()
        if now != digest:
            raise ModelError(f"{source}: feature view {name!r} differs from the one the model was trained on "
                             f"(checksum {now[:12]} vs {digest[:12]}): features recomputed or another dataset; "
                             f"retrain, or use the data the model was trained on")


def score_grid(model: Ranker, grid: CandidateGrid) -> np.ndarray:
    """Scores of a model on a candidate grid: (n_brands, n_candidates) float64."""
    scores = np.asarray(model.score(list(grid.brand_ids), list(grid.influencer_ids)), dtype=np.float64)
    if scores.shape != grid.labels.shape:
        raise ModelError(
            f"model {model.name!r} returned scores of shape {scores.shape}, grid is {grid.labels.shape}"
        )
    return scores
