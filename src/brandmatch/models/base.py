"""The Ranker protocol every model follows, and the registry that names models.

A model learns F(brand, influencer) from training cooperations over a :class:`FeatureSet`:

- ``fit(train, features, valid=None, info=None)`` returns ``self``; learned state ends in ``_``.
- ``score(brand_ids, influencer_ids)`` -> (n_brands, n_influencers) float64 matrix.
- ``embed(account_ids, role)`` -> (n, d) vectors where F decomposes into an inner product of
  per-account vectors (then ``score == embed(brands) @ embed(influencers).T``).
- ``save(dir)`` / ``load(dir, features)``: ``config.json`` plus ``weights.safetensors``; never pickle.

Hyper-parameters are keyword arguments of ``__init__`` whose defaults are the papers' values.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Sequence, TypeVar

import numpy as np

from brandmatch.atomic import replace_dir
from brandmatch.data.schema import CandidateGrid, CooperationSet
from brandmatch.errors import ModelError
from brandmatch.features.store import FeatureSet

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
FORMAT_VERSION = 1


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

    # ------------------------------------------------------------ params
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
            config = {
                "format_version": FORMAT_VERSION,
                "model": self.name,
                "params": self.get_params(),
                "extra": self.extra_config(),
            }
            with open(tmp / CONFIG_FILE, "w", encoding="utf-8") as f:
                json.dump(config, f, indent=2, sort_keys=True)
                f.write("\n")
            state = {k: np.ascontiguousarray(v) for k, v in self.state_dict().items()}
            save_file(state, str(tmp / WEIGHTS_FILE))
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
    try:
        return cls(**params)
    except TypeError as exc:
        raise ModelError(f"model {name!r}: {exc}") from None


def load_model(directory: str | os.PathLike, features: FeatureSet) -> Ranker:
    """Rebuild a model saved with :meth:`Ranker.save` over ``features``."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    directory = Path(directory)
    cpath = directory / CONFIG_FILE
    if not cpath.exists():
        raise ModelError(f"{cpath}: missing model config (not a model directory)")
    try:
        config = json.loads(cpath.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelError(f"{cpath}: invalid JSON at line {exc.lineno}, column {exc.colno}") from None
    if config.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"{cpath}: format_version {config.get('format_version')!r}, expected {FORMAT_VERSION}")
    model = create(config["model"], **config.get("params", {}))
    wpath = directory / WEIGHTS_FILE
    try:
        state = load_file(str(wpath)) if wpath.exists() else {}
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"{wpath}: unreadable weights ({exc})") from None
    model.load_extra_config(config.get("extra", {}))
    model.load_state_dict(state)
    model.features_ = features
    return model


def score_grid(model: Ranker, grid: CandidateGrid) -> np.ndarray:
    """Scores of a model on a candidate grid: (n_brands, n_candidates) float64."""
    scores = np.asarray(model.score(list(grid.brand_ids), list(grid.influencer_ids)), dtype=np.float64)
    if scores.shape != grid.labels.shape:
        raise ModelError(
            f"model {model.name!r} returned scores of shape {scores.shape}, grid is {grid.labels.shape}"
        )
    return scores
