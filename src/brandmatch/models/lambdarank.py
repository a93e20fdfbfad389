"""LAMBDARANK (practitioner baseline, ours): a gradient-boosted ranker (LightGBM, objective
``lambdarank``) over hand-made (brand, influencer) pair features.

Pair features, in this order (a feature absent from the data is left out; nan = missing):

- ``cos_<view>``: cos(x_b^v, x_m^v) for every standard feature view present for the training
  brands and influencers (nan when either account lacks the view);
- ``category_match``: 1 when the brand's category is among the categories of the influencer's
  TRAINING partners other than the brand itself (leave-one-out, so a training positive does not
  see its own label), else 0; nan without a brand category;
- ``n_partners``: the influencer's number of training partner brands other than the brand itself;
- ``log_followers``: log(1 + followers) from the ``activity`` view (when it exists);
- ``engagement``: (likes + comments per post) / max(followers, 1) (when the view has post statistics).

Training: per training brand one query group, its partners (label 1) and ``negatives`` influencers
drawn uniformly (seeded) from the training pool minus its partners (label 0). Every training pair
leaves one cooperation out of its partner-based features: a positive its own brand, a negative one
of its partners drawn at random (else negatives, all drawn from influencers with a partner, would
differ from positives by having one more partner: a sampling artefact, not a signal, which
inverted the ranking on the public data). Boosting stops early
on the VALIDATION grid's MAP (one group per validation brand; ``patience`` rounds without gain).
It does not decompose (:meth:`embed` raises ``NotImplementedError``).

Saving: the booster's text model (``Booster.model_to_string``, truncated at the selected
iteration) is stored as a uint8 array in ``weights.safetensors`` (written atomically, SHA-256
checked by ``load_model``) and its own SHA-256 in the config; never pickle. The config also keeps
the training cooperations and the brand categories the pair features need.
"""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np

from brandmatch.data.schema import CandidateGrid, CooperationSet
from brandmatch.errors import ModelError, ModelUnavailable
from brandmatch.features.activity import ACTIVITY_COLUMNS
from brandmatch.features.store import STANDARD_VIEWS, FeatureSet
from brandmatch.models.base import AccountInfo, Ranker, register
from brandmatch.models.cosine import unit_lookup
from brandmatch.models.params import Param, resolve

BOOSTER_KEY = "booster_model_txt"


@register
class LambdaRankRanker(Ranker):
    """LightGBM lambdarank over pair features (see the module docstring)."""

    name = "lambdarank"
    summary = "LAMBDARANK: LightGBM lambdarank over pair features (cosines, category, popularity)"
    PARAMS = (
        Param("n_estimators", 300, "int", "ours: boosting rounds at most", low=1),
        Param("learning_rate", 0.05, "float", "ours: shrinkage", low=0.0, high=1.0, low_open=True),
        Param("num_leaves", 15, "int", "ours: leaves per tree", low=2),
        Param("min_data_in_leaf", 20, "int", "ours: pairs per leaf at least", low=1),
        Param("negatives", 20, "int", "ours: sampled negatives per training brand", low=1),
        Param("patience", 30, "int", "ours: rounds without validation MAP gain before stopping (null: never)",
              low=1, nullable=True),
        Param("seed", 0, "int", "ours: seed of negative sampling and boosting", low=0),
        Param("threads", 1, "int", "ours: LightGBM threads (1: the same trees on any machine)", low=1),
    )

    def __init__(self, n_estimators: int = 300, learning_rate: float = 0.05, num_leaves: int = 15,
                 min_data_in_leaf: int = 20, negatives: int = 20, patience: int | None = 30, seed: int = 0,
                 threads: int = 1):
        c = resolve(self.name, self.PARAMS, dict(n_estimators=n_estimators, learning_rate=learning_rate,
                                                 num_leaves=num_leaves, min_data_in_leaf=min_data_in_leaf,
                                                 negatives=negatives, patience=patience, seed=seed, threads=threads))
        for k, v in c.items():
            setattr(self, k, v)
        self.booster_: Any = None
        self.model_text_: str | None = None
        self.feature_names_: list[str] = []
        self.cos_views_: list[str] = []
        self.brand_category_: dict[str, str | None] = {}
        self.partners_: dict[str, set[str]] = {}  # influencer -> its training partner brands
        self.best_iteration_: int | None = None
        self.history_: dict[str, Any] = {}

    # ------------------------------------------------------------ pair features
    def _setup(self, train: CooperationSet, features: FeatureSet, info: AccountInfo | None) -> None:
        self.features_ = features
        info = info or AccountInfo()
        brands, infs = train.brands, train.influencers
        present = lambda v, ids: v in features and features[v].lookup(list(ids))[1].any()  # noqa: E731
        self.cos_views_ = [v for v in STANDARD_VIEWS if present(v, brands) and present(v, infs)]
        self.partners_ = {}
        for b, m in zip(train.brand_ids.tolist(), train.influencer_ids.tolist()):
            self.partners_.setdefault(m, set()).add(b)
        self.brand_category_ = {b: c for b, c in info.brand_category.items()}
        names = [f"cos_{v}" for v in self.cos_views_] + ["category_match", "n_partners"]
        if "activity" in features and present("activity", infs):
            names.append("log_followers")
            if features["activity"].meta.get("posts_present", 0) > 0:
                names.append("engagement")
        self.feature_names_ = names

    def pair_features(self, brand_ids: Sequence[str], influencer_ids: Sequence[str],
                      left_out: Sequence[Sequence[str | None]] | None = None) -> np.ndarray:
        """Features of every pair: (n_brands, n_influencers, n_features) float64, columns
        :attr:`feature_names_` (nan = missing).

        left_out: (n_brands, n_influencers) the training partner brand whose cooperation the
        partner-based features ignore (default: the pair's own brand, leave-one-out).
        """
        feats = self._require_fitted()
        if not self.feature_names_:
            raise ModelError(f"model {self.name!r} is not fitted: call fit() first")
        brand_ids, influencer_ids = list(brand_ids), list(influencer_ids)
        nb, nm = len(brand_ids), len(influencer_ids)
        cols: dict[str, np.ndarray] = {}
        for v in self.cos_views_:
            ub, mb = unit_lookup(feats, v, brand_ids)
            um, mm = unit_lookup(feats, v, influencer_ids)
            c = ub @ um.T
            c[~(mb[:, None] & mm[None, :])] = np.nan
            cols[f"cos_{v}"] = c
        # leave-one-out: the left-out brand of pair (i, j), and is it a training partner of j?
        if left_out is None:
            left_out = [[b] * nm for b in brand_ids]
        partner = np.array([[x is not None and x in self.partners_.get(m, ()) for x, m in zip(row, influencer_ids)]
                            for row in left_out], dtype=bool).reshape(nb, nm)
        left_cat = [[self.brand_category_.get(x) if x is not None else None for x in row] for row in left_out]
        counts = np.array([len(self.partners_.get(m, ())) for m in influencer_ids], dtype=np.float64)
        cols["n_partners"] = counts[None, :] - partner
        cats = [self.brand_category_.get(b) for b in brand_ids]
        match = np.full((nb, nm), np.nan)
        for cat in {c for c in cats if c is not None}:
            rows = np.array([c == cat for c in cats])
            same = np.array([sum(self.brand_category_.get(p) == cat for p in self.partners_.get(m, ()))
                             for m in influencer_ids], dtype=np.float64)
            drop = partner & np.array([[c == cat for c in row] for row in left_cat], dtype=bool).reshape(nb, nm)
            match[rows] = ((same[None, :] - drop[rows]) > 0).astype(np.float64)
        cols["category_match"] = match
        if "log_followers" in self.feature_names_:
            values, mask = feats["activity"].lookup(influencer_ids)
            followers = values[:, ACTIVITY_COLUMNS.index("followers")].astype(np.float64)
            lf = np.where(mask, np.log1p(np.maximum(followers, 0.0)), np.nan)
            cols["log_followers"] = np.broadcast_to(lf, (nb, nm))
            if "engagement" in self.feature_names_:
                likes = values[:, ACTIVITY_COLUMNS.index("likes_per_post")].astype(np.float64)
                comments = values[:, ACTIVITY_COLUMNS.index("comments_per_post")].astype(np.float64)
                er = np.where(mask, (likes + comments) / np.maximum(followers, 1.0), np.nan)
                cols["engagement"] = np.broadcast_to(er, (nb, nm))
        return np.stack([cols[n] for n in self.feature_names_], axis=-1)

    # ------------------------------------------------------------ fit
    def _lgb_params(self) -> dict[str, Any]:
        return {"objective": "lambdarank", "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
                "min_data_in_leaf": self.min_data_in_leaf, "seed": self.seed, "num_threads": self.threads,
                "deterministic": True, "force_row_wise": True, "verbosity": -1, "metric": "map"}

    def fit(self, train: CooperationSet, features: FeatureSet, valid: CandidateGrid | None = None,
            info: AccountInfo | None = None) -> "LambdaRankRanker":
        import lightgbm as lgb

        if train is None or len(train) == 0:
            raise ModelError(f"{self.name}: no training cooperations")
        self._setup(train, features, info)
        if not self.cos_views_:
            raise ModelUnavailable(f"{self.name}: no standard feature view is present for training brands and "
                                   f"influencers ({', '.join(STANDARD_VIEWS)})")
        rng = np.random.default_rng(self.seed)
        pool = np.array(list((info.influencers if info and info.influencers else None) or train.influencers),
                        dtype=object)
        partners = train.partners()
        x, y, groups = [], [], []
        for b in train.brands:
            pos = sorted(partners[b])
            free = np.array([m for m in pool if m not in partners[b]], dtype=object)
            neg = list(rng.choice(free, size=min(self.negatives, len(free)), replace=False)) if len(free) else []
            cands = pos + neg
            # a negative leaves out one of its own partners (drawn), as a positive leaves out b: both
            # then look like a test candidate, known through the cooperations other than one
            left = [b] * len(pos) + [sorted(self.partners_[m])[rng.integers(len(self.partners_[m]))]
                                     if m in self.partners_ else None for m in neg]
            x.append(self.pair_features([b], cands, [left])[0])
            y.append(np.r_[np.ones(len(pos)), np.zeros(len(neg))])
            groups.append(len(cands))
        dtrain = lgb.Dataset(np.concatenate(x), np.concatenate(y), group=groups, feature_name=self.feature_names_,
                             free_raw_data=True)
        params = self._lgb_params()
        callbacks, valid_sets = [], []
        record: dict[str, Any] = {}
        if valid is not None and len(valid.brand_ids) and valid.labels.any():
            nb, nm = valid.labels.shape
            xv = self.pair_features(valid.brand_ids, valid.influencer_ids).reshape(nb * nm, -1)
            dvalid = lgb.Dataset(xv, valid.labels.reshape(-1).astype(np.float64), group=[nm] * nb,
                                 feature_name=self.feature_names_, reference=dtrain)
            params["eval_at"] = [nm]
            valid_sets = [dvalid]
            callbacks.append(lgb.record_evaluation(record))
            if self.patience is not None:
                callbacks.append(lgb.early_stopping(self.patience, first_metric_only=True, verbose=False))
        booster = lgb.train(params, dtrain, num_boost_round=self.n_estimators, valid_sets=valid_sets,
                            valid_names=["validation"] if valid_sets else None, callbacks=callbacks)
        best = booster.best_iteration if booster.best_iteration and booster.best_iteration > 0 else booster.current_iteration()
        self.best_iteration_ = int(best)
        curve = next(iter(record.get("validation", {}).values()), [])
        self.history_ = {"valid_map": [float(v) for v in curve], "rounds_run": int(booster.current_iteration())}
        self._load_text(booster.model_to_string(num_iteration=self.best_iteration_))
        return self

    def _load_text(self, text: str) -> None:
        import lightgbm as lgb

        self.model_text_ = text
        self.booster_ = lgb.Booster(model_str=text)

    # ------------------------------------------------------------ scoring
    def score(self, brand_ids: Sequence[str], influencer_ids: Sequence[str]) -> np.ndarray:
        if self.booster_ is None:
            raise ModelError(f"model {self.name!r} is not fitted: call fit() first")
        brand_ids, influencer_ids = list(brand_ids), list(influencer_ids)
        out = np.empty((len(brand_ids), len(influencer_ids)))
        step = max(1, (1 << 20) // max(1, len(influencer_ids)))
        for i in range(0, len(brand_ids), step):
            x = self.pair_features(brand_ids[i:i + step], influencer_ids)
            out[i:i + step] = self.booster_.predict(x.reshape(-1, x.shape[-1]), num_threads=self.threads
                                                    ).reshape(x.shape[:2])
        return out

    def embed(self, account_ids: Sequence[str], role: str = "influencer") -> np.ndarray:
        raise NotImplementedError(f"{self.name}: boosted trees over pair features (category match, partner "
                                  f"counts, cosines) do not decompose into per-account vectors; use score()")

    def required_inputs(self) -> list[str]:
        return [*self.cos_views_, *(["activity"] if "log_followers" in self.feature_names_ else [])]

    # ------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, np.ndarray]:
        if self.model_text_ is None:
            return {}
        return {BOOSTER_KEY: np.frombuffer(self.model_text_.encode("utf-8"), dtype=np.uint8).copy()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if set(state) != {BOOSTER_KEY}:
            raise ModelError(f"{self.name}: weights must hold exactly {BOOSTER_KEY!r}, got {sorted(state)[:3]}")
        text = np.asarray(state[BOOSTER_KEY], dtype=np.uint8).tobytes().decode("utf-8")
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if digest != self._booster_sha256:
            raise ModelError(f"{self.name}: booster text checksum {digest[:12]} does not match the config "
                             f"({str(self._booster_sha256)[:12]})")
        self._load_text(text)

    def extra_config(self) -> dict[str, Any]:
        pairs = sorted([b, m] for m, bs in self.partners_.items() for b in bs)
        return {"feature_names": self.feature_names_, "cos_views": self.cos_views_,
                "brand_category": self.brand_category_, "train_pairs": pairs,
                "best_iteration": self.best_iteration_, "history": self.history_,
                "booster_sha256": None if self.model_text_ is None else
                hashlib.sha256(self.model_text_.encode("utf-8")).hexdigest()}

    def load_extra_config(self, extra: dict[str, Any]) -> None:
        self.feature_names_ = list(extra.get("feature_names", []))
        self.cos_views_ = list(extra.get("cos_views", []))
        self.brand_category_ = dict(extra.get("brand_category") or {})
        self.partners_ = {}
        for b, m in extra.get("train_pairs", []):
            self.partners_.setdefault(m, set()).add(b)
        self.best_iteration_ = extra.get("best_iteration")
        self.history_ = dict(extra.get("history") or {})
        self._booster_sha256 = extra.get("booster_sha256")
