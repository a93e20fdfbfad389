"""Choosing a recipe's views and terms on the validation grid of the dataset at hand.

A recipe with ``select = true`` in its parameters and a ``[select]`` table (the search space) is
adapted to each dataset before it trains (``fit_ranker`` calls :func:`select_params`):

1. **View screening** (training-free): for every MORNING view the model may use (``views``), the
   COSINE of that view's feature inputs scores the validation grid; a view whose mean per-brand
   AUC is not above chance by ``screen_z`` standard errors (mean - z * SE <= 0.5) is left out of
   the screened candidates. A view that carries no signal on this dataset then cannot weigh as
   much as the strong ones (an untuned sum of five views fell below its best single view on an
   independent world). If no view passes, the best one by mean AUC is kept.
2. **Candidates**: each entry of ``candidates`` (parameter overrides of the recipe: other terms,
   other weights) is tried with the screened views; then each with every view (when screening
   left one out); then each with the best screened view alone (when more than one passed);
   duplicates skipped; each is fitted with the training workflow (its own early stopping on the
   validation grid) and scored on the validation grid with ``metric``. Ties go to the earlier one.
   A candidate the data cannot feed (no usable feature view) is recorded as unavailable.
3. **Guard** (``not_below_cosine``, a list of metrics): a candidate whose validation value of one
   of them falls below the training-free COSINE's (every view, the benchmark's reference) on the
   same validation grid, COSINE with the candidate's own post-hoc parts added (the same correction
   on both sides: the guard judges what the learned terms do), is not chosen while another
   candidate passes (marked ``below_cosine`` in the record). E.g. ``["cAUC"]``: a term that buys
   between-category AUC at the cost of ranking within the brand's own category (a brand's real
   choice) must not win on MAP alone.
4. **Post-hoc terms** (``post_hoc``, parameter -> values, e.g. ``{"hubness.alpha" = [0.0, 0.5]}``):
   a fitted candidate that has such a term (one that training never sees, ``ScoreTerm.post_hoc``)
   is scored once per combination of the values, without refitting; each is a candidate of its
   own in the record (``rescored``). A refit with the chosen values gives the same model.
5. **Budget**: a candidate starts only while the CPU time this process spent on the selection is
   under ``budget_seconds`` (the first always runs); the rest are recorded as skipped. CPU time,
   not wall time: on a busy machine waiting does not count, so the same command chooses the same
   model whatever else runs (wall seconds are recorded beside it).

The winner's parameters replace the model's (``model.set_params``). Without checkpoints the
workflow then adopts the winner's fitted state (it is the network a fit of those parameters
gives: same seed, same data; a test checks it); with checkpoints (``brandmatch train``) it fits
the winner again as usual, so that checkpoints, resume and the fingerprint stay what they are.
The whole record (per-view AUC, every candidate with its validation metric and seconds, the
choice) is returned for the model's ``config.json`` (``selection``) and ``brandmatch info M``.
The test grid is never read.

Space keys (``[select]`` of a recipe): ``metric`` (validation metric, default the model's
``select_metric``), ``screen`` (bool, default true), ``screen_z`` (default 1.96),
``candidates`` (list of tables, default ``[{}]``: the recipe as written), ``post_hoc`` (table of
parameter -> list of values, default none), ``not_below_cosine`` (list of metrics, default none),
``budget_seconds`` (default 240).
"""

from __future__ import annotations

import copy
import itertools
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from brandmatch.data.schema import CandidateGrid, CooperationSet
from brandmatch.errors import ModelError, ModelUnavailable
from brandmatch.features.store import FeatureSet
from brandmatch.models.base import AccountInfo, Ranker, create
from brandmatch.models.composed import ComposedRanker
from brandmatch.models.terms.base import VIEW_INPUTS
from brandmatch.training.trainer import TrainingOptions

METRICS = ("AUC", "cAUC", "R@10", "R@50", "MRR", "MAP", "MedR", "NDCG@10")
LOWER_IS_BETTER = ("MedR",)
SPACE_KEYS = ("metric", "screen", "screen_z", "candidates", "post_hoc", "not_below_cosine", "budget_seconds")


@dataclass(frozen=True)
class SelectionSpace:
    """A recipe's ``[select]`` table, validated (see the module docstring)."""

    metric: str = "MAP"
    screen: bool = True
    screen_z: float = 1.96
    candidates: tuple[dict[str, Any], ...] = field(default_factory=lambda: ({},))
    budget_seconds: float = 240.0
    not_below_cosine: tuple[str, ...] = ()
    post_hoc: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    @classmethod
    def parse(cls, table: dict[str, Any], owner: str, default_metric: str | None) -> "SelectionSpace":
        for key in table:
            if key not in SPACE_KEYS:
                raise ModelError(f"{owner}: [select] has an unknown key {key!r} (allowed: {', '.join(SPACE_KEYS)})")
        metric = table.get("metric", default_metric or "MAP")
        if metric not in METRICS:
            raise ModelError(f"{owner}: [select] metric = {metric!r} is not allowed (allowed: one of {', '.join(METRICS)})")
        screen = table.get("screen", True)
        if not isinstance(screen, bool):
            raise ModelError(f"{owner}: [select] screen = {screen!r} is not allowed (allowed: true or false)")
        z = table.get("screen_z", 1.96)
        if isinstance(z, bool) or not isinstance(z, (int, float)) or not math.isfinite(z) or z < 0:
            raise ModelError(f"{owner}: [select] screen_z = {z!r} is not allowed (allowed: a number >= 0)")
        cands = table.get("candidates", [{}])
        if not isinstance(cands, list) or not cands or not all(isinstance(c, dict) for c in cands):
            raise ModelError(f"{owner}: [select] candidates must be a non-empty list of tables of parameters")
        budget = table.get("budget_seconds", 240.0)
        if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0:
            raise ModelError(f"{owner}: [select] budget_seconds = {budget!r} is not allowed (allowed: a number > 0)")
        guard = table.get("not_below_cosine", [])
        if not isinstance(guard, list) or not all(isinstance(g, str) and g in METRICS for g in guard):
            raise ModelError(f"{owner}: [select] not_below_cosine = {guard!r} is not allowed (allowed: a list of "
                             f"{', '.join(METRICS)})")
        post = table.get("post_hoc", {})
        if not isinstance(post, dict) or not all(isinstance(v, list) and v for v in post.values()):
            raise ModelError(f"{owner}: [select] post_hoc must be a table of parameter -> non-empty list of values")
        from brandmatch.models.terms import TERMS

        allowed = [f"{k}.{p.name}" for k, t in TERMS.items() if t.post_hoc for p in t.PARAMS]
        for key in post:
            if key not in allowed:
                raise ModelError(f"{owner}: [select] post_hoc has {key!r}, not a post-hoc term's parameter "
                                 f"(allowed: {', '.join(allowed)})")
        return cls(metric, screen, float(z), tuple(dict(c) for c in cands), float(budget), tuple(guard),
                   tuple((k, tuple(v)) for k, v in post.items()))


def _better(a: float, b: float, metric: str) -> bool:
    return a < b if metric in LOWER_IS_BETTER else a > b


def screen_views(views: list[str], train: CooperationSet, features: FeatureSet, valid: CandidateGrid,
                 info: AccountInfo, z: float, view_inputs: dict[str, tuple[str, ...]] | None = None
                 ) -> dict[str, dict[str, Any]]:
    """Per MORNING view: validation AUC of the COSINE of its inputs (``view_inputs``, default the
    paper's; mean and SE over brands), kept or not."""
    from brandmatch.evaluation.metrics import brand_quantities  # a leaf module (numpy only)

    view_inputs = view_inputs or VIEW_INPUTS
    out: dict[str, dict[str, Any]] = {}
    for v in views:
        inputs = [n for n in view_inputs.get(v, (v,)) if n in features]
        if not inputs:
            out[v] = {"inputs": [], "auc": None, "se": None, "kept": False, "why": "no feature view present"}
            continue
        cos = create("cosine", views=inputs)
        cos.fit(train, features, valid, info)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = cos.score(list(valid.brand_ids), list(valid.influencer_ids))
            q = brand_quantities(np.nan_to_num(scores, nan=-1e9), valid.labels)
        ok = q.auc_pairs > 0  # brands with positives and negatives
        auc = q.auc_hits[ok] / q.auc_pairs[ok]  # per-brand AUC, ties as failures (evaluation/metrics.py)
        if len(auc) == 0:
            out[v] = {"inputs": inputs, "auc": None, "se": None, "kept": False, "why": "no validation brand scored"}
            continue
        mean = float(auc.mean())
        se = float(auc.std(ddof=1) / math.sqrt(len(auc))) if len(auc) > 1 else float("inf")
        kept = mean - z * se > 0.5
        out[v] = {"inputs": inputs, "auc": mean, "se": se, "brands": int(len(auc)), "kept": bool(kept),
                  "why": None if kept else f"validation AUC {mean:.3f} not above chance by {z} SE ({se:.3f})"}
    if out and not any(r["kept"] for r in out.values()):
        best = max((v for v in out if out[v]["auc"] is not None), key=lambda v: out[v]["auc"], default=None)
        if best is not None:
            out[best]["kept"] = True
            out[best]["why"] = "no view above chance: the best one is kept"
    return out


def _post_hoc_variants(model: Ranker, post_hoc: tuple[tuple[str, tuple[Any, ...]], ...]) -> list[dict[str, Any]]:
    """The post-hoc parameter values to score a fitted candidate with: ``[{}]`` (as fitted) when it
    has none of those terms, else every combination of the values of the terms it has."""
    terms = set(model.get_params().get("terms") or [])
    mine = [(k, values) for k, values in post_hoc if k.split(".", 1)[0] in terms]
    if not mine:
        return [{}]
    return [dict(zip([k for k, _ in mine], combo)) for combo in itertools.product(*(v for _, v in mine))]


def _grid_values(scores: np.ndarray, valid: CandidateGrid, metrics: tuple[str, ...],
                 same_category: np.ndarray | None = None) -> dict[str, float]:
    """``metrics`` of a validation score grid (cAUC needs ``same_category``, the (n_brands,
    n_candidates) mask of :func:`validation_category_mask`); nan where undefined."""
    from brandmatch.evaluation.metrics import grid_metrics  # a leaf module (numpy only)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = grid_metrics(scores, valid.labels, same_category)
    return {m: float("nan") if values.get(m) is None else float(values[m]) for m in metrics}


def _scores(model: Ranker, valid: CandidateGrid) -> tuple[np.ndarray, np.ndarray]:
    """The model's validation scores and the share of them its post-hoc terms add (zeros if none)."""
    brands, candidates = list(valid.brand_ids), list(valid.influencer_ids)
    if isinstance(model, ComposedRanker) and any(t.post_hoc for t in model.terms):
        parts = model.part_scores(brands, candidates)
        trained = set(model.training_parts())
        return sum(parts.values()), sum(v for p, v in parts.items() if p not in trained)
    scores = model.score(brands, candidates)
    return scores, np.zeros_like(scores)


def validation_category_mask(valid: CandidateGrid, info: AccountInfo) -> np.ndarray:
    """The cAUC mask of the validation grid (n_brands, n_candidates): a candidate's categories are
    those of its training partners and of the validation brands it cooperated with."""
    from brandmatch.evaluation.metrics import same_category_mask  # a leaf module (numpy only)

    brand_cats = [str(info.brand_category.get(b)) for b in valid.brand_ids]
    partner_cats = [str(info.brand_category[b]) if info.brand_category.get(b) is not None else None
                    for b in valid.brand_ids]
    cands = [frozenset(info.influencer_categories.get(m, frozenset()))
             | {partner_cats[i] for i in np.flatnonzero(valid.labels[:, j]) if partner_cats[i] is not None}
             for j, m in enumerate(valid.influencer_ids)]
    return same_category_mask(brand_cats, cands)


@dataclass
class Selection:
    """What :func:`select_params` found: the ``record`` (for config.json) and the fitted ``winner``."""

    record: dict[str, Any]
    winner: Ranker


def select_params(model: Ranker, space: SelectionSpace, train: CooperationSet, features: FeatureSet,
                  valid: CandidateGrid, info: AccountInfo, options: TrainingOptions | None) -> Selection:
    """Screen views, fit the candidates, apply the winner's parameters to ``model``; returns the
    record and the fitted winning candidate."""
    from brandmatch.training.workflow import fit_ranker

    t0, cpu0 = time.perf_counter(), time.process_time()
    base = {k: v for k, v in model.get_params().items() if k != "recipe"}
    views = list(base.get("views") or [])
    screened = screen_views(views, train, features, valid, info, space.screen_z, model.wanted_inputs()) \
        if space.screen else {}
    # a view with no feature input on this dataset is no variant of its own (the model drops it anyway)
    views = [v for v in views if screened.get(v, {}).get("inputs", [None]) != []]
    kept = [v for v in views if screened.get(v, {}).get("kept", True)]
    scored_views = [v for v in kept if screened.get(v, {}).get("auc") is not None]
    single = [max(scored_views, key=lambda v: screened[v]["auc"])] if scored_views else kept
    quiet = copy.copy(options) if options is not None else TrainingOptions()
    quiet.progress, quiet.checkpoint_dir, quiet.resume = False, None, False

    wanted = tuple(dict.fromkeys((space.metric, *space.not_below_cosine)))
    categories = validation_category_mask(valid, info) if "cAUC" in wanted else None
    reference: dict[str, float] = {}
    if space.not_below_cosine:
        cosine = create("cosine").fit(train, features, valid, info)
        cosine_scores = cosine.score(list(valid.brand_ids), list(valid.influencer_ids))
        reference = _grid_values(cosine_scores, valid, space.not_below_cosine, categories)
    tried: list[dict[str, Any]] = []
    seen: list[dict[str, Any]] = []
    for vs in (kept, views, single):  # every candidate on the screened views first, the others later
        for overrides in space.candidates:
            params = {**overrides, "views": overrides.get("views", vs)}
            if params in seen:
                continue
            seen.append(params)
            entry: dict[str, Any] = {"params": params}
            if tried and time.process_time() - cpu0 > space.budget_seconds:
                entry["skipped"] = f"budget of {space.budget_seconds:g} CPU s spent"
                tried.append(entry)
                continue
            t, cpu = time.perf_counter(), time.process_time()
            candidate = create(model.name, **base).set_params(**params, select=False)
            try:
                fit_ranker(candidate, train, features, valid, info, quiet)
            except ModelUnavailable as exc:  # e.g. TF-IDF text on data that has no such views
                entry["unavailable"] = str(exc)
                tried.append(entry)
                continue
            for i, variant in enumerate(_post_hoc_variants(candidate, space.post_hoc)):
                if i:  # the same fit, re-scored with other values of its post-hoc terms
                    entry = {"params": {**params, **variant}, "rescored": True}
                    t, cpu = time.perf_counter(), time.process_time()
                elif variant:
                    entry["params"] = {**params, **variant}
                if variant:
                    candidate.set_post_hoc(**variant)
                scores, post = _scores(candidate, valid)
                values = _grid_values(scores, valid, wanted, categories)
                entry["valid"] = values[space.metric]
                if space.not_below_cosine:  # against COSINE with the same post-hoc correction
                    floor = _grid_values(cosine_scores + post, valid, space.not_below_cosine, categories) \
                        if np.any(post) else reference
                    entry["guard"] = {g: values[g] for g in space.not_below_cosine}
                    entry["cosine"] = floor
                    below = [g for g in space.not_below_cosine if not values[g] >= floor[g]]
                    if below:
                        entry["below_cosine"] = below
                entry["seconds"] = round(time.perf_counter() - t, 2)
                entry["cpu_seconds"] = round(time.process_time() - cpu, 2)
                entry["_config"] = candidate.get_params()
                entry["_model"], entry["_variant"] = candidate, variant
                tried.append(entry)
    scored = [e for e in tried if "valid" in e and math.isfinite(e["valid"])]
    if not scored:
        raise ModelError(f"{model.name}: no selection candidate could be scored on the validation grid")
    guarded = [e for e in scored if "below_cosine" not in e]
    scored = guarded or scored  # no candidate passes the guard: the metric alone decides
    best = scored[0]
    for e in scored[1:]:
        if _better(e["valid"], best["valid"], space.metric):
            best = e
    chosen = {k: v for k, v in best["_config"].items() if k != "recipe"}
    model.set_params(**{**chosen, "select": True})
    winner = best["_model"]
    if best["_variant"]:
        winner.set_post_hoc(**best["_variant"])
    for e in tried:
        for key in ("_config", "_model", "_variant"):
            e.pop(key, None)
    return Selection({
        "metric": space.metric, "views": screened, "candidates": tried,
        **({"cosine": reference, "guard_passed": bool(guarded)} if space.not_below_cosine else {}),
        "chosen": {"params": best["params"], "valid": best["valid"]},
        "seconds": round(time.perf_counter() - t0, 2), "cpu_seconds": round(time.process_time() - cpu0, 2),
    }, winner)
