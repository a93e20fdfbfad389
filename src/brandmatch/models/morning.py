"""MORNING (Wang et al., IEEE TMM 2022/23, sec. IV and V-A) as a composition of score terms.

F(b, m) = f + g + h (eq. 19, 25-27): inner products of per-view account vectors produced by the
``tower`` term (content c, audience au, attribute att; eq. 7-24, see
:mod:`brandmatch.models.terms.tower`). Other terms add parts to F (``cosine``: weighted cosine
of the raw views; ``category``; ``profile``), always as inner products, so
F = embed(b, "brand") . embed(m, "influencer") for every recipe.

Objective (eq. 28-32), described here as data and run by the training workflow
(:func:`brandmatch.training.workflow.fit_ranker`): a hinge triplet loss on each MORNING view's
score (all terms' contributions to that view) with margins 4, 2, 2 (eq. 28-30); the global
cross-entropy on F (eq. 31; F is unbounded, so read as binary cross-entropy on sigmoid(F) with the
positive labelled 1 and the sampled negative 0; the reference code's softmax over each pair is
``global_loss="pair_softmax"``); lambda * L1 over all weight matrices (eq. 32, lambda = 0.001).
Adam, batch 16, lr 0.002 x 0.95 per epoch, at most 100 epochs (sec. V-A); model selection and
early stopping on the validation brands (ours: the reference scripts picked epochs on the test set).

Recipes (``src/brandmatch/recipes/morning/*.toml``; ``brandmatch models`` lists them):
``paper`` (faithful), ``code`` (the authors' reference-code choices), ``plus`` (the default: the
best documented variant by validation MAP on the public data) and ``plus-attribute-tower`` (the
MORNING+ recipe of the synthetic tables). ``recipe=None`` means the defaults below (the paper's).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from brandmatch.errors import ModelError, ModelUnavailable
from brandmatch.features.store import FeatureSet
from brandmatch.models.base import register
from brandmatch.models.composed import ComposedRanker, LossSpec, TrainingSpec
from brandmatch.models.params import Param, describe, resolve, unknown
from brandmatch.models.recipes import Recipe, RecipeParams, load_recipe
from brandmatch.models.terms import TERMS
from brandmatch.models.terms.base import VIEW_INPUTS, VIEW_ORDER, ScoreTerm

METRICS = ("AUC", "cAUC", "R@10", "R@50", "MRR", "MAP", "MedR", "NDCG@10")
DEFAULT_RECIPE = "plus"
#: ``text`` parameter -> suffix of the content / audience text feature views
TEXT_INPUTS = ("topics", "tfidf")
_TEXT_SUFFIX = {"topics": "", "tfidf": "_tfidf"}
#: ``attributes`` parameter -> the attribute view's feature views
ATTRIBUTE_INPUTS = {"node2vec": ("attributes",), "kinds": ("attributes_kinds",),
                    "both": ("attributes", "attributes_kinds")}


@register
class MorningRanker(RecipeParams, ComposedRanker):
    """MORNING and its recipes; every default of :attr:`PARAMS` is the paper's (or marked ours)."""

    name = "morning"
    summary = "MORNING: content + audience + attribute views, co-attention, joint triplet/CE loss"
    learns = True
    default_recipe = DEFAULT_RECIPE
    PARAMS = (
        Param("terms", ["tower"], "names", "eq. 19: F is the tower's f + g + h; other terms add parts",
              choices=tuple(TERMS)),
        Param("views", list(VIEW_ORDER), "names", "Table IV: the views the model may use", choices=VIEW_ORDER),
        Param("text", "topics", "str", "sec. IV-A/B: the content and audience text inputs: LDA topic shares (the "
              "paper's X^t, Y^t) or TF-IDF words (ours, features/tfidf.py: content_text_tfidf, audience_text_tfidf)",
              choices=TEXT_INPUTS),
        Param("attributes", "node2vec", "str", "sec. IV-C: the attribute view's inputs: the mean node2vec vector of "
              "the account's attributes (the paper's eq. 18), the kinds its bio's attributes belong to (ours, "
              "features/bio_kinds.py: attributes_kinds), or both", choices=tuple(ATTRIBUTE_INPUTS)),
        Param("margins", [4.0, 2.0, 2.0], "floats", "eq. 28-30: margins of the c, au, att triplet losses",
              low=0.0, length=3),
        Param("triplet_weight", 1.0, "float", "eq. 32: weight of L1-L3", low=0.0),
        Param("hinge_reduction", "mean", "str", "eq. 28-30 batch mean (reference code: active)",
              choices=("mean", "active", "sum")),
        Param("global_loss", "sigmoid", "str", "eq. 31 as BCE on sigmoid(F) (reference code: pair_softmax)",
              choices=("sigmoid", "pair_softmax")),
        Param("global_weight", 1.0, "float", "eq. 32: weight of L4", low=0.0),
        Param("score_term", 0.0, "float", "reference code: eps * mean(F- - F+) on raw scores", low=0.0),
        Param("l1", 0.001, "float", "eq. 32: lambda of the L1 term over weight matrices", low=0.0),
        Param("lr", 0.002, "float", "sec. V-A: Adam learning rate", low=0.0, low_open=True),
        Param("lr_decay", 0.95, "float", "sec. V-A: learning-rate factor per epoch", low=0.0, high=1.0, low_open=True),
        Param("batch_size", 16, "int", "sec. V-A", low=1),
        Param("epochs", 100, "int", "sec. V-A: at most 100 epochs", low=1),
        Param("weight_decay", 0.0, "float", "ours: Adam weight decay", low=0.0),
        Param("patience", 10, "int", "ours: epochs without validation gain before stopping (null: never)",
              low=1, nullable=True),
        Param("select_metric", "MAP", "str", "ours: validation metric that selects the epoch (null: last)",
              choices=METRICS, nullable=True),
        Param("negatives", "uniform", "str", "sec. IV-E: random negatives (ours: half same-category)",
              choices=("uniform", "category")),
        Param("hard_fraction", 0.5, "float", "ours: share of same-category negatives", low=0.0, high=1.0),
        Param("seed", 0, "int", "ours: seed of initialisation, sampling and dropout", low=0),
        Param("select", False, "bool", "ours: choose views and terms on the validation grid before training, "
              "over the recipe's [select] table (training/selection.py)"),
    )

    def __init__(self, recipe: str | None = DEFAULT_RECIPE, **params: Any):
        super().__init__()
        self.recipe = recipe
        self.recipe_info_: Recipe | None = load_recipe(self.name, recipe) if recipe is not None else None
        base = dict(self.recipe_info_.params) if self.recipe_info_ else {}
        owner = self.name + (f" (recipe {recipe!r})" if recipe is not None else "")
        self.config = self.resolve_params(self.overridden(base, params, owner), owner)

    # ------------------------------------------------------------ parameters
    @classmethod
    def overridden(cls, values: dict[str, Any], overrides: dict[str, Any], owner: str) -> dict[str, Any]:
        """``values`` with ``overrides`` on top; when ``overrides`` replaces ``terms``, the ``term.key``
        values of the terms left out go with them (a recipe's, or a fitted choice's)."""
        out = dict(values)
        if "terms" in overrides:
            kept = next(p for p in cls.PARAMS if p.name == "terms").check(overrides["terms"], owner)
            out = {k: v for k, v in out.items() if "." not in k or k.split(".", 1)[0] in kept}
        return {**out, **overrides}

    @classmethod
    def resolve_params(cls, values: dict[str, Any], owner: str) -> dict[str, Any]:
        """Flat parameters (``key`` for the model, ``term.key`` for a term) -> every value, validated."""
        own = {k: v for k, v in values.items() if "." not in k}
        known = [p.name for p in cls.PARAMS] + [f"{k}.{p.name}" for k, t in TERMS.items() for p in t.PARAMS]
        for k in own:
            if k not in {p.name for p in cls.PARAMS}:
                raise unknown(owner, k, known)
        config = resolve(owner, cls.PARAMS, own)
        if not config["terms"]:
            raise ModelError(f"{owner}: parameter 'terms' is empty (allowed: a list of {', '.join(TERMS)})")
        if config["text"] != "topics" and "tower" in config["terms"]:
            raise ModelError(f"{owner}: parameter 'text' = {config['text']!r} is not allowed with the tower term "
                             f"(allowed: topics; the towers are sized for topic shares)")
        if config["attributes"] != "node2vec" and "tower" in config["terms"]:
            raise ModelError(f"{owner}: parameter 'attributes' = {config['attributes']!r} is not allowed with the "
                             f"tower term (allowed: node2vec; eq. 18's MLP takes one attribute vector)")
        per_term: dict[str, dict[str, Any]] = {k: {} for k in config["terms"]}
        for key, value in values.items():
            if "." not in key:
                continue
            kind, name = key.split(".", 1)
            if kind not in TERMS:
                raise unknown(owner, key, known)
            if kind not in per_term:
                raise ModelError(f"{owner}: parameter {key!r} belongs to term {kind!r}, which this model does not "
                                 f"use (terms: {', '.join(config['terms'])}; add it with terms=...)")
            if name not in {p.name for p in TERMS[kind].PARAMS}:
                raise unknown(owner, key, known)
            per_term[kind][name] = value
        for kind, tvalues in per_term.items():
            specs = [dataclasses.replace(p, name=f"{kind}.{p.name}") for p in TERMS[kind].PARAMS]
            config.update(resolve(owner, specs, {f"{kind}.{k}": v for k, v in tvalues.items()}))
        return config

    def set_params(self, **params: Any) -> "MorningRanker":
        """Change parameters before fitting (validated as in ``__init__``; replacing ``terms`` drops
        the values of terms no longer used). Returns self."""
        if self.network_ is not None:
            raise ModelError(f"{self.name}: set_params on a fitted model")
        owner = self.name + (f" (recipe {self.recipe!r})" if self.recipe else "")
        self.config = self.resolve_params(self.overridden(self.config, params, owner), owner)
        return self

    def set_post_hoc(self, **params: Any) -> "MorningRanker":
        """Change parameters of ``post_hoc`` terms (``term.key``) of a fitted model: the training path
        and its epoch selection never see those terms, so the fit stays what a fit with the new values
        gives. Validated as in ``__init__``. Returns self."""
        owner = self.name + (f" (recipe {self.recipe!r})" if self.recipe else "")
        for key in params:
            kind = key.split(".", 1)[0]
            if "." not in key or kind not in TERMS or not TERMS[kind].post_hoc:
                post = [k for k, t in TERMS.items() if t.post_hoc]
                raise ModelError(f"{owner}: parameter {key!r} is not a post-hoc term's (allowed: the parameters of "
                                 f"{', '.join(post)})")
        self.config = self.resolve_params(self.overridden(self.config, params, owner), owner)
        if self.network_ is not None:
            for key in params:
                kind, name = key.split(".", 1)
                if kind in self.network_:
                    self.network_[kind].params[name] = self.config[key]
        return self

    def selection_space(self) -> dict[str, Any] | None:
        """The recipe's ``[select]`` table when ``select`` is on (None: train as configured)."""
        if not self.config["select"]:
            return None
        return dict(self.recipe_info_.select) if self.recipe_info_ is not None else {}

    @classmethod
    def describe_params(cls) -> list[str]:
        lines = describe(cls.PARAMS)
        for kind, term in TERMS.items():
            lines += describe(term.PARAMS, prefix=f"{kind}.")
        return lines

    # ------------------------------------------------------------ composition
    def make_terms(self) -> list[ScoreTerm]:
        out = []
        for kind in TERMS:  # registry order: parts come out in a fixed order
            if kind in self.config["terms"]:
                prefix = kind + "."
                out.append(TERMS[kind](**{k[len(prefix):]: v for k, v in self.config.items() if k.startswith(prefix)}))
        return out

    def wanted_inputs(self) -> dict[str, tuple[str, ...]]:
        suffix = _TEXT_SUFFIX[self.config["text"]]
        inputs = {v: tuple(n + suffix if n.endswith("_text") else n for n in VIEW_INPUTS[v]) for v in VIEW_ORDER}
        inputs["att"] = ATTRIBUTE_INPUTS[self.config["attributes"]]
        return {v: inputs[v] for v in VIEW_ORDER if v in self.config["views"]}

    def usable_layout(self, features: FeatureSet, brands: Sequence[str], influencers: Sequence[str]) -> None:
        """As the composed ranker's, and a ``text`` or ``attributes`` choice whose own views the data
        lacks altogether is refused (ModelUnavailable) rather than trained as a different model."""
        super().usable_layout(features, brands, influencers)
        used = {n for inputs in self.layout_.values() for n in inputs}
        wanted = {n for names in self.wanted_inputs().values() for n in names}
        paper = {n for names in VIEW_INPUTS.values() for n in names}  # the inputs of text=topics, node2vec
        own = {"text": sorted(n for n in wanted - paper if n.endswith("_text" + _TEXT_SUFFIX[self.config["text"]])),
               "attributes": sorted((wanted - paper) & set(ATTRIBUTE_INPUTS["kinds"]))}
        for param, names in own.items():
            if names and not used.intersection(names):
                raise ModelUnavailable(f"{self.name}: parameter {param!r} = {self.config[param]!r} needs "
                                       f"{', '.join(names)}, which the training brands and influencers do not have")

    def training_spec(self) -> TrainingSpec:
        c = self.config
        parts = self.parts if self.network_ is not None else []
        margins = dict(zip(VIEW_ORDER, c["margins"]))
        losses: list[LossSpec] = []
        if c["triplet_weight"]:
            losses += [LossSpec("triplet", c["triplet_weight"], (v,), {"margin": margins[v],
                                                                       "reduction": c["hinge_reduction"]})
                       for v in parts if v in VIEW_ORDER]  # eq. 28-30
        if c["global_weight"]:
            losses.append(LossSpec("global_ce", c["global_weight"], None, {"mode": c["global_loss"]}))  # eq. 31
        if c["score_term"]:
            losses.append(LossSpec("score_difference", c["score_term"], None, {}))
        return TrainingSpec(sampler=c["negatives"], sampler_options={"hard_fraction": c["hard_fraction"]},
                            losses=tuple(losses), epochs=c["epochs"], batch_size=c["batch_size"], lr=c["lr"],
                            lr_decay=c["lr_decay"], weight_decay=c["weight_decay"], l1=c["l1"],
                            patience=c["patience"], select_metric=c["select_metric"], seed=c["seed"])
