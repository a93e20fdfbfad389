"""`brandmatch benchmark`: every registered model and shipped recipe, MORNING's view ablations,
several seeds and several brand-disjoint splits, with paired significance tests over brands.

``brandmatch benchmark --data DIR [--seeds 3] [--splits 5] [--quick] [--out reports]``

Protocol:

- **Methods** (:func:`benchmark_methods`): one row per registered model without recipes, one per
  shipped recipe of a model with recipes (``models.recipes.recipe_names``); MORNING's view
  ablations (Table IV) run its default recipe *as adapted to the data* with ``views`` restricted:
  the parameters the default recipe's selection chose on the same split and seed (its run's
  ``chosen``), then the ablation's views, ``select`` off (so the views stay as given). The
  ablations thus take apart the model the default recipe ships on this dataset. A model that cannot run on
  the data (``ModelUnavailable``) is an n/a row.
- **Fitting**: every run goes through :func:`brandmatch.training.workflow.fit_model` (train split,
  validation grid for model selection; the test grid is only scored). Models with a ``seed``
  parameter run once per seed (0 .. seeds-1), the others once.
- **Splits**: the dataset's official split, reported apart, and ``splits`` derived brand-disjoint
  splits (:func:`derived_split`): category-stratified test brands of the official test size drawn
  from all brands of the splits table, validation carved from the remaining training brands
  (:func:`brandmatch.data.splits.carve_validation`), test grid = test brands x (union of their
  partners, then the official grid's extra candidates: those that are partners of no official
  test brand), validation grid = validation brands x union of their partners.
- **Cells**: mean over runs with a 95% Student-t interval: over seeds on the official split; over
  splits (each split's mean over seeds) on the derived ones.
- **Significance** (:mod:`brandmatch.evaluation.significance`): per-brand AP and AUC (mean over
  seeds) of every method vs COSINE and vs the best method (highest mean VALIDATION MAP on the
  official split, the ORACLE excluded), sign-flip randomization test over brands, Holm-corrected within each family
  (table x reference x metric: the main table and the ablations are separate families); on the official test brands, and pooled over the (split, brand) units of
  the derived splits.

- **Budget**: ``--max-seeds KEY=N`` / ``--max-splits KEY=N`` give slow methods fewer seeds or
  derived splits (0: official split only); the report's seed note names them.
- **Cache** (:class:`RunCache`): every finished run is stored as strict JSON in
  ``<out>/<dataset>/runs/<key>.json``, key = hash of the method's run key (model and parameters),
  the split (name and content), the seed and the dataset's feature checksums; written atomically,
  so an interrupted benchmark resumes and a second invocation only computes what is missing
  (``--no-cache`` recomputes; a run that raised is retried). Changes to the code or to a recipe
  file's values (the run key names the recipe, not its content) do not invalidate stored runs:
  delete ``runs/`` (or bump :data:`RUN_CACHE_VERSION`) after changing a model or a recipe.

Writes ``<out>/<dataset>/benchmark.json`` (strict JSON), ``benchmark.md`` and PNG plots;
``brandmatch results --from <out>`` (:mod:`brandmatch.evaluation.experiments`) turns the datasets'
JSON files into docs/results.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import math
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from brandmatch.atomic import write_json_atomic, write_text_atomic
from brandmatch.data.schema import grid_to_frame, ordered_unique
from brandmatch.data.splits import carve_validation, partner_grid, splits_frame
from brandmatch.data.store import Dataset
from brandmatch.errors import BrandmatchError, ModelUnavailable
from brandmatch.evaluation.experiments import ABLATIONS, PAPER_ROWS, mean_ci
from brandmatch.evaluation.metrics import METRICS, brand_quantities, grid_metrics
from brandmatch.evaluation.protocol import evaluate_grid
from brandmatch.evaluation.report import display_name
from brandmatch.evaluation.significance import N_PERMUTATIONS, compare_to_reference

#: metrics in the tables (NDCG@10 is kept in the JSON)
COLUMNS = ("AUC", "cAUC", "R@10", "R@50", "MRR", "MAP", "MedR")
#: the significance tests' per-brand metrics
TESTED = ("AP", "AUC")
REFERENCE = "cosine"
#: --quick: these models (default recipe only), fewer rounds / epochs, two ablations
QUICK_MODELS = ("rand", "miv", "cosine", "tuned-cosine", "knn", "lambdarank", "morning")
QUICK_PARAMS: dict[str, Any] = {"epochs": 2, "n_estimators": 30, "patience": None}
QUICK_ABLATIONS = ("c-only", "att-only")
#: Table IV rows of the paper beside our ablations (real data)
PAPER_ABLATIONS = {"c-only": "MOR. c-only (paper)", "att-only": "MOR. att-only (paper)",
                   "c+att": "MOR. c+att (paper)", "full": "MOR. (paper, full data)"}
OFFICIAL = "official"


class BenchmarkError(BrandmatchError):
    """Bad benchmark options (exit code 2)."""


@dataclass(frozen=True)
class Method:
    """One row: ``key`` (``model`` or ``model:recipe`` or ``model:views=...``), display ``label``,
    the registered ``model`` and its parameters, the ``table`` it belongs to (main / ablation)."""

    key: str
    label: str
    model: str
    params: dict[str, Any]
    table: str = "main"
    #: key of the method whose selected parameters (``Run.chosen``) this one starts from (ablations)
    adapt: str | None = None

    @property
    def run_key(self) -> str:
        """Identical models share runs (e.g. MORNING's default recipe and its full ablation)."""
        return self.model + json.dumps(self.params, sort_keys=True)


def _param_names(model: str) -> set[str]:
    from brandmatch.models import MODELS

    cls = MODELS[model]
    names = {p.name for p in getattr(cls, "PARAMS", ())}
    sig = inspect.signature(cls.__init__)
    names |= {p for p in sig.parameters if p not in ("self", "params")}
    return names


def seeded(model: str) -> bool:
    """The model has a ``seed`` parameter (its runs repeat over seeds)."""
    return "seed" in _param_names(model)


def benchmark_methods(*, quick: bool = False, ablations: bool = True) -> list[Method]:
    """Every registered model and shipped recipe (main table), then MORNING's view ablations."""
    from brandmatch.models import MODELS
    from brandmatch.models.recipes import recipe_names

    order = list(dict.fromkeys([*(m for m in ("rand", "miv", "cosine", "tuned-cosine", "knn", "lambdarank",
                                              "oracle", "mir", "hptr", "catr", "camera", "morning")
                                  if m in MODELS), *sorted(MODELS)]))
    out: list[Method] = []
    for name in order:
        if quick and name not in QUICK_MODELS:
            continue
        extra = {k: v for k, v in QUICK_PARAMS.items() if k in _param_names(name)} if quick else {}
        recipes = recipe_names(name)
        if recipes:
            default = getattr(MODELS[name], "default_recipe", None)
            for r in ([default] if quick and default else recipes):
                tag = " (default)" if r == default else ""
                out.append(Method(f"{name}:{r}", f"{display_name(name)} {r}{tag}", name, {"recipe": r, **extra}))
        else:
            out.append(Method(name, display_name(name), name, dict(extra)))
    if ablations and "morning" in MODELS:
        default = MODELS["morning"].default_recipe
        extra = {k: v for k, v in QUICK_PARAMS.items() if k in _param_names("morning")} if quick else {}
        # fixed views: a recipe's validation-based selection (select = true) would re-choose them
        fixed = {"select": False} if "select" in _param_names("morning") else {}
        for label, views in ABLATIONS:
            if quick and label not in QUICK_ABLATIONS:
                continue
            out.append(Method(f"morning:views={views}", f"MORNING {default} {label}", "morning",
                              {"recipe": default, "views": views.split(","), **fixed, **extra}, "ablation",
                              adapt=f"morning:{default}"))
    return out


def select_methods(methods: Sequence[Method], include: Sequence[str] | None, exclude: Sequence[str] | None
                   ) -> list[Method]:
    """Keep methods whose key or model is in ``include`` (all when None), minus ``exclude``."""
    known = {m.key for m in methods} | {m.model for m in methods}
    for name in [*(include or []), *(exclude or [])]:
        if name not in known:
            raise BenchmarkError(f"unknown method {name!r} (known: {', '.join(sorted(known))})")
    inc = set(include) if include else None
    exc = set(exclude or [])
    kept = [m for m in methods if (inc is None or m.key in inc or m.model in inc)
            and m.key not in exc and m.model not in exc]
    if not kept:
        raise BenchmarkError("no method left to run (check --models / --exclude)")
    return kept


# ---------------------------------------------------------------- splits


def _hash(seed: int, brand: str) -> str:
    return hashlib.sha256(f"benchmark\x1f{seed}\x1f{brand}".encode()).hexdigest()


def stratified_test_brands(brands: Sequence[str], category: dict[str, str | None], n_test: int, seed: int) -> list[str]:
    """``n_test`` brands, per category in proportion to its size (largest remainders; ties by
    category name), each category's brands in a seeded hash order. Returns them in input order."""
    by_cat: dict[str, list[str]] = {}
    for b in brands:
        by_cat.setdefault(str(category.get(b)), []).append(b)
    total = len(brands)
    quota = {c: n_test * len(v) / total for c, v in by_cat.items()}
    take = {c: int(math.floor(q)) for c, q in quota.items()}
    left = n_test - sum(take.values())
    for c in sorted(by_cat, key=lambda c: (-(quota[c] - take[c]), c))[:left]:
        take[c] += 1
    chosen: set[str] = set()
    for c, members in by_cat.items():
        chosen.update(sorted(members, key=lambda b: _hash(seed, b))[:take[c]])
    return [b for b in brands if b in chosen]


def derived_split(ds: Dataset, seed: int) -> Dataset:
    """A new brand-disjoint split of ``ds`` (see the module docstring); ``seed`` >= 1."""
    splits = ds.tables.splits
    brands = ordered_unique(splits["brand_id"].tolist())
    official_test = ds.brands("test")
    n_valid = len(ds.brands("validation"))
    if not official_test:
        raise BenchmarkError(f"{ds.name}: the splits table has no test brands to size derived splits on")
    cats = ds.brand_category()
    test = stratified_test_brands(brands, cats, len(official_test), seed)
    rest = [b for b in brands if b not in set(test)]
    if n_valid:
        train, valid = carve_validation(rest, cats, fraction=min(0.5, max(0.01, n_valid / len(rest))), seed=seed)
    else:
        train, valid = rest, []
    co = ds.cooperations()
    grid = partner_grid("test", test, co)
    if "test" in ds.grid_names():  # the official pool's extra candidates (partners of no official test brand)
        partners_official = set(ds.cooperations("test").influencers)
        extra = [m for m in ds.grid("test").influencer_ids.tolist()
                 if m not in partners_official and m not in set(grid.influencer_ids.tolist())]
        if extra:
            grid = _with_candidates(grid, extra)
    frames = [grid_to_frame(grid)]
    if valid:
        frames.append(grid_to_frame(partner_grid("validation", valid, co)))
    tables = dataclasses.replace(ds.tables, splits=splits_frame(train, valid, test),
                                 grids=pd.concat(frames, ignore_index=True))
    out = Dataset(ds.name, tables, dict(ds.metadata, derived_split=seed), None)
    out.features = ds.features
    return out


def _with_candidates(grid, extra: Sequence[str]):
    from brandmatch.data.schema import CandidateGrid

    labels = np.concatenate([grid.labels, np.zeros((len(grid.brand_ids), len(extra)), dtype=np.int8)], axis=1)
    return CandidateGrid(grid.name, grid.brand_ids, np.array([*grid.influencer_ids.tolist(), *extra], dtype=object),
                         labels)


# ---------------------------------------------------------------- runs


@dataclass
class Run:
    """One fitted and evaluated model on one split and seed."""

    available: bool
    reason: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    valid: dict[str, float] = field(default_factory=dict)
    per_category: dict[str, dict[str, float]] = field(default_factory=dict)
    per_brand: dict[str, list[float]] = field(default_factory=dict)  # "AP", "AUC" -> (n_test_brands,)
    seconds: float = 0.0
    #: the parameters the model's validation-grid selection chose ({} without one; None: not recorded,
    #: a run file older than this field)
    chosen: dict[str, Any] | None = field(default_factory=dict)


#: bump when a Run's meaning changes (metrics, protocol): older run files are then ignored
RUN_CACHE_VERSION = 1


def features_checksum(ds: Dataset) -> str:
    """SHA-256 over the dataset's feature views (name and content checksum of each, sorted)."""
    feats = ds.features
    names = sorted(feats.names()) if feats is not None else []
    return hashlib.sha256(json.dumps({n: feats[n].checksum() for n in names}, sort_keys=True).encode()).hexdigest()


def split_checksum(ds: Dataset) -> str:
    """SHA-256 over what defines a split: the train / validation / test brands and the candidate grids."""
    h = hashlib.sha256()
    for role in ("train", "validation", "test"):
        h.update(json.dumps([role, [str(b) for b in ds.brands(role)]]).encode())
    for name in sorted(ds.grid_names()):
        g = ds.grid(name)
        h.update(json.dumps([name, [str(b) for b in g.brand_ids], [str(m) for m in g.influencer_ids]]).encode())
        h.update(np.ascontiguousarray(g.labels, dtype=np.int8).tobytes())
    return h.hexdigest()


def run_cache_key(method: Method, split: str, seed: int | None, features: str, split_sum: str) -> str:
    """The run file's name: a hash of the method's run key, the split (name and content), the seed and
    the feature checksums (a run is reused only for the same model, parameters, data and seed)."""
    doc = {"version": RUN_CACHE_VERSION, "run_key": method.run_key, "split": split, "split_sha256": split_sum,
           "seed": seed, "features_sha256": features}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32]


def _nan(x: Any) -> Any:
    """Strict JSON's nulls back to NaN (numbers and lists / dicts of numbers)."""
    if x is None:
        return math.nan
    if isinstance(x, list):
        return [_nan(v) for v in x]
    if isinstance(x, dict):
        return {k: _nan(v) for k, v in x.items()}
    return x


def run_to_json(run: "Run", about: dict[str, Any]) -> dict[str, Any]:
    return {"about": about, "run": dataclasses.asdict(run)}


def run_from_json(doc: dict[str, Any]) -> "Run":
    r = doc["run"]
    return Run(bool(r["available"]), r.get("reason"), _nan(r.get("metrics") or {}), _nan(r.get("valid") or {}),
               _nan(r.get("per_category") or {}), _nan(r.get("per_brand") or {}), float(r.get("seconds") or 0.0),
               r.get("chosen"))


class RunCache:
    """Finished runs as strict JSON files, ``<folder>/<run_cache_key>.json``, written atomically, so an
    interrupted benchmark resumes where it stopped and a second invocation only computes what is
    missing. A run that raised (``failed: ...``) is not stored: it is retried next time."""

    def __init__(self, folder: Path | None):
        self.folder = folder
        self.hits = 0

    def path(self, key: str) -> Path | None:
        return self.folder / f"{key}.json" if self.folder is not None else None

    def get(self, key: str) -> "Run | None":
        path = self.path(key)
        if path is None or not path.exists():
            return None
        try:
            run = run_from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # unreadable or from an older layout: recompute
        self.hits += 1
        return run

    def put(self, key: str, run: "Run", about: dict[str, Any]) -> None:
        path = self.path(key)
        if path is None or (run.reason or "").startswith("failed:"):
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, run_to_json(run, about))


def run_once(ds: Dataset, method: Method, seed: int | None, threads: int | None) -> Run:
    """Fit through the training workflow, then score the validation and test grids."""
    from brandmatch.models.base import create, score_grid
    from brandmatch.training.trainer import TrainingOptions
    from brandmatch.training.workflow import fit_model

    t0 = time.perf_counter()
    params = dict(method.params)
    if seed is not None:
        params["seed"] = seed
    try:
        model = create(method.model, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit_model(model, ds, TrainingOptions(progress=False, threads=threads))
    except ModelUnavailable as exc:
        return Run(False, str(exc), seconds=time.perf_counter() - t0)
    g = ds.grid("test")
    scores = score_grid(model, g)
    cats = ds.brand_category()
    inf_cats = ds.influencer_categories()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = evaluate_grid(scores, g.labels, [str(cats.get(b)) for b in g.brand_ids],
                           [inf_cats.get(m, frozenset()) for m in g.influencer_ids], n_bootstrap=0)
        q = brand_quantities(scores, g.labels)
        valid = {}
        if "validation" in ds.grid_names():
            vg = ds.grid("validation")
            valid = {k: float(v) for k, v in grid_metrics(score_grid(model, vg), vg.labels).items() if k in METRICS}
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = np.where(q.auc_pairs > 0, q.auc_hits / np.maximum(q.auc_pairs, 1), np.nan)
    selection = getattr(model, "selection_", None) or {}
    chosen = dict(selection.get("chosen", {}).get("params", {}))
    return Run(True, None, {k: float(v) for k, v in ev.metrics.items()}, valid,
               {c: {k: float(v) for k, v in d.items()} for c, d in ev.per_category.items()},
               {"AP": q.average_precision.astype(float).tolist(), "AUC": auc.astype(float).tolist()},
               time.perf_counter() - t0, chosen)


def adapted(method: Method, base: Run) -> Method:
    """An ablation with the parameters its base method's selection chose on the same split and seed
    underneath its own (the ablation's views and ``select`` off win)."""
    own = {k: v for k, v in method.params.items() if k != "recipe"}
    return dataclasses.replace(method, params={"recipe": method.params.get("recipe"), **(base.chosen or {}), **own})


# ---------------------------------------------------------------- aggregation


def _interval(values: Sequence[float]) -> dict[str, Any]:
    v = [x for x in values if x is not None and not math.isnan(x)]
    mean, half = mean_ci(v)
    return {"mean": mean, "lo": mean - half if len(v) > 1 else None, "hi": mean + half if len(v) > 1 else None,
            "n": len(v)}


def summarise_runs(runs: Sequence[Run]) -> dict[str, Any]:
    """Official split: per metric mean and 95% interval over seeds; per category means."""
    ok = [r for r in runs if r.available]
    if not ok:
        return {"available": False, "reason": runs[0].reason if runs else "not run"}
    cats = list(dict.fromkeys(c for r in ok for c in r.per_category))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a metric undefined in every run (cAUC of a category) stays nan
        per_category = {c: {m: float(np.nanmean([r.per_category[c][m] for r in ok if c in r.per_category]))
                             for m in METRICS} for c in cats}
    return {
        "available": True, "runs": len(ok), "seconds": sum(r.seconds for r in runs),
        "metrics": {m: _interval([r.metrics[m] for r in ok]) for m in METRICS},
        "valid": {m: _interval([r.valid.get(m, math.nan) for r in ok]) for m in METRICS},
        "per_category": per_category,
    }


def summarise_splits(per_split: Sequence[Sequence[Run]]) -> dict[str, Any]:
    """Derived splits: each split's mean over seeds, then mean and 95% interval over splits."""
    means = []
    per_split = [runs for runs in per_split if runs]  # [] = not run on that split (--max-splits)
    for runs in per_split:
        ok = [r for r in runs if r.available]
        if not ok:
            return {"available": False, "reason": runs[0].reason if runs else "not run"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            means.append({m: float(np.nanmean([r.metrics[m] for r in ok])) for m in METRICS})
    if not means:
        return {"available": False, "reason": "not run on the derived splits"}
    return {"available": True, "splits": len(means), "metrics": {m: _interval([x[m] for x in means]) for m in METRICS}}


def per_brand_mean(runs: Sequence[Run], metric: str, n: int) -> np.ndarray:
    """Mean over seeds of a per-brand metric: (n_brands,), nan when the method is unavailable."""
    ok = [np.asarray(r.per_brand[metric], dtype=float) for r in runs if r.available]
    if not ok:
        return np.full(n, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.nanmean(np.stack(ok), axis=0)


def significance(per_brand: dict[str, dict[str, np.ndarray]], references: dict[str, str],
                 families: dict[str, Sequence[str]], *, n_permutations: int, seed: int) -> dict[str, Any]:
    """reference role -> metric -> method -> {diff, p, p_holm, n, family} (methods with values only).

    Holm's correction runs within each family (a table: the main methods, the ablations) for one
    reference and one metric.
    """
    out: dict[str, Any] = {}
    for role, ref in references.items():
        out[role] = {"reference": ref}
        for metric in TESTED:
            values = {k: v[metric] for k, v in per_brand.items() if np.isfinite(v[metric]).any()}
            out[role][metric] = {}
            if ref not in values:
                continue
            for family, keys in families.items():
                members = {k: values[k] for k in keys if k in values and k != ref}
                if not members:
                    continue
                res = compare_to_reference({**members, ref: values[ref]}, ref, n_permutations=n_permutations,
                                           seed=seed)
                out[role][metric].update({k: {**v, "family": family} for k, v in res.items()})
    return out


# ---------------------------------------------------------------- report


def _cell(metric: str, s: dict[str, Any]) -> str:
    mean = s["mean"]
    if mean is None or math.isnan(mean):
        return "n/a"
    fmt = (lambda x: f"{x:.1f}") if metric == "MedR" else (lambda x: f"{x:.3f}")
    if s.get("lo") is None:
        return fmt(mean)
    return f"{fmt(mean)} [{fmt(s['lo'])}, {fmt(s['hi'])}]"


def _p(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("p_holm") is None or math.isnan(entry["p_holm"]):
        return "–"
    return f"{entry['p_holm']:.3g}"


def _table(rows: dict[str, dict[str, Any]], labels: dict[str, str], sig: dict[str, Any] | None,
           paper: dict[str, dict[str, float]] | None) -> str:
    head = ["method", "runs", *COLUMNS]
    if sig:
        head += ["p AP vs COSINE", "p AUC vs COSINE", "p AP vs best", "p AUC vs best"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, s in rows.items():
        if not s.get("available"):
            cells = ["n/a"] * len(COLUMNS)
            runs = "0"
        else:
            cells = [_cell(m, s["metrics"][m]) for m in COLUMNS]
            runs = str(s.get("runs", s.get("splits", "")))
        extra = []
        if sig:
            for role in ("vs_cosine", "vs_best"):
                for metric in TESTED:
                    extra.append(_p((sig.get(role, {}).get(metric) or {}).get(key)))
        lines.append("| " + " | ".join([labels[key], runs, *cells, *extra]) + " |")
    for name, row in (paper or {}).items():
        lines.append("| *" + name + "* | – | " + " | ".join(
            (f"{row[m]:.0f}" if m == "MedR" else f"{row[m]:.3f}") for m in COLUMNS)
            + (" | –" * 4 if sig else "") + " |")
    return "\n".join(lines)


def _category_table(rows: dict[str, dict[str, Any]], labels: dict[str, str], metric: str) -> str:
    keys = [k for k, s in rows.items() if s.get("available")]
    if not keys:
        return "(no method available)"
    cats = list(dict.fromkeys(c for k in keys for c in rows[k]["per_category"]))
    lines = ["| category | " + " | ".join(labels[k] for k in keys) + " |", "|" + "---|" * (len(keys) + 1)]
    for c in cats:
        vals = []
        for k in keys:
            v = rows[k]["per_category"].get(c, {}).get(metric)
            vals.append("n/a" if v is None or math.isnan(v) else (f"{v:.1f}" if metric == "MedR" else f"{v:.3f}"))
        lines.append(f"| {c} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def _sig_lines(sig: dict[str, Any], labels: dict[str, str], title: str) -> list[str]:
    lines = [f"**{title}** (mean per-brand difference, raw p, Holm-adjusted p)", ""]
    for role in ("vs_cosine", "vs_best"):
        block = sig.get(role) or {}
        ref = block.get("reference")
        if ref is None:
            continue
        lines += [f"vs {labels.get(ref, ref)}:", "", "| method | ΔAP | p AP | Holm p AP | ΔAUC | p AUC | Holm p AUC |",
                  "|---|---|---|---|---|---|---|"]
        for key in (block.get("AP") or {}):
            ap, auc = block["AP"][key], (block.get("AUC") or {}).get(key, {})
            lines.append(f"| {labels.get(key, key)} | {ap['diff']:+.4f} | {ap['p']:.3g} | {ap['p_holm']:.3g} | "
                         f"{auc.get('diff', math.nan):+.4f} | {auc.get('p', math.nan):.3g} | "
                         f"{auc.get('p_holm', math.nan):.3g} |")
        lines.append("")
    return lines


def write_plots(doc: dict[str, Any], folder: Path) -> list[Path]:
    """Bar charts (MAP and AUC with their intervals): main table and ablations. PNG, Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for table in ("main", "ablation"):
        keys = [k for k, m in doc["methods"].items() if m["table"] == table and doc["official"][k].get("available")]
        if not keys:
            continue
        fig, axes = plt.subplots(1, 2, figsize=(max(6.0, 0.55 * len(keys) + 3), 4.2))
        for ax, metric in zip(axes, ("MAP", "AUC")):
            x = np.arange(len(keys))
            for offset, where, label in ((-0.2, "official", "official split"), (0.2, "derived", "derived splits")):
                means, errs = [], [[], []]
                for k in keys:
                    s = (doc[where].get(k) or {})
                    cell = s.get("metrics", {}).get(metric) if s.get("available") else None
                    mean = cell["mean"] if cell else math.nan
                    means.append(mean)
                    errs[0].append(mean - cell["lo"] if cell and cell.get("lo") is not None else 0.0)
                    errs[1].append(cell["hi"] - mean if cell and cell.get("hi") is not None else 0.0)
                if not all(math.isnan(v) for v in means):
                    ax.bar(x + offset, means, 0.4, yerr=errs, capsize=2, label=label)
            ax.set_xticks(x)
            ax.set_xticklabels([doc["methods"][k]["label"] for k in keys], rotation=60, ha="right", fontsize=7)
            ax.set_title(metric)
            ax.legend(fontsize=7)
        fig.suptitle(f"{doc['dataset']}: {'all methods' if table == 'main' else 'MORNING view ablations'}")
        fig.tight_layout()
        path = folder / f"benchmark_{table}.png"
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=folder)
        os.close(fd)
        try:
            fig.savefig(tmp, dpi=110)
            os.replace(tmp, path)
        finally:
            plt.close(fig)
            if os.path.exists(tmp):
                os.remove(tmp)
        written.append(path)
    return written


def _seed_note(doc: dict[str, Any]) -> list[str]:
    """One line on the seeds: all seeded methods, and those run with fewer (``--max-seeds``)."""
    fewer = {k: m["seeds"] for k, m in doc["methods"].items()
             if m.get("seeded") and m.get("seeds") is not None and m["seeds"] < doc["seeds"]}
    text = f"Seeded methods run with seeds 0..{doc['seeds'] - 1} on every split; training-free ones once."
    if fewer:
        text += " Fewer seeds (to fit the CPU budget): " + ", ".join(
            f"{doc['methods'][k]['label']} {n}" for k, n in fewer.items()) + "."
    capped = {k: m["splits"] for k, m in doc["methods"].items()
              if m.get("splits") is not None and m["splits"] < doc["splits"]}
    if capped:
        text += " Fewer derived splits (CPU budget; n/a or fewer splits in the derived tables): " + ", ".join(
            f"{doc['methods'][k]['label']} {n}" for k, n in capped.items()) + "."
    return [text, ""]


def markdown(doc: dict[str, Any]) -> str:
    labels = {k: m["label"] for k, m in doc["methods"].items()}
    main = {k: doc["official"][k] for k, m in doc["methods"].items() if m["table"] == "main"}
    abl = {k: doc["official"][k] for k, m in doc["methods"].items() if m["table"] == "ablation"}
    real = doc["paper_rows"]
    paper_main = {k: v for k, v in PAPER_ROWS.items() if k == PAPER_ABLATIONS["full"]} if real else None
    paper_abl = {PAPER_ABLATIONS[label]: PAPER_ROWS[PAPER_ABLATIONS[label]] for label in PAPER_ABLATIONS} if real else None
    sig = doc["significance"]["official"]
    best = sig.get("vs_best", {}).get("reference")
    parts = [f"# Benchmark: {doc['dataset']}", "",
             f"Generated by `{doc['command']}`; do not edit by hand. Every run fits on the training brands "
             "(validation grid for model selection) and only scores the test grid. Cells: mean [95% Student-t "
             "interval] over seeds (official split) or over splits (derived splits); no interval with one run. "
             f"p-values: sign-flip randomization test over test brands on per-brand AP / AUC ({doc['permutations']} "
             "flips, exact when 2^n is smaller), Holm-corrected within each table (all methods; ablations) for one "
             "reference and metric; "
             f"'best' = highest mean validation MAP on the official split ({labels.get(best, best)}).", "",
             f"Official test grid: {doc['grids']['official']}. Derived splits: {doc['splits']} "
             f"({doc['grids'].get('derived', '-')}).", "", *_seed_note(doc),
             "## Table III analogue: all methods, official split", "", _table(main, labels, sig, paper_main), ""]
    if doc["splits"]:
        derived = {k: doc["derived"][k] for k in main}
        parts += [f"### All methods, mean over {doc['splits']} derived brand-disjoint splits", "",
                  _table(derived, labels, None, None), ""]
    if abl:
        parts += ["## Table IV analogue: MORNING view ablations, official split", "",
                  _table(abl, labels, sig, paper_abl), ""]
        if doc["splits"]:
            parts += [f"### Ablations over {doc['splits']} derived splits", "",
                      _table({k: doc["derived"][k] for k in abl}, labels, None, None), ""]
    parts += ["## Table V analogue: per brand category, official split (mean over seeds)", ""]
    for metric in ("AUC", "MAP"):
        parts += [f"**{metric}**", "", _category_table(main, labels, metric), ""]
    parts += ["## Significance", ""]
    parts += _sig_lines(sig, labels, "Official split, test brands")
    if doc["splits"]:
        parts += _sig_lines(doc["significance"]["derived"], labels, "Derived splits, pooled (split, brand) units")
    notes = [f"- {labels[k]}: n/a ({s.get('reason')})" for k, s in doc["official"].items() if not s.get("available")]
    if notes:
        parts += ["## Not available", "", *notes, ""]
    parts += ["## Methods", "", "| key | model | parameters |", "|---|---|---|"]
    parts += [f"| {k} | {m['model']} | `{json.dumps(m['params'], sort_keys=True)}` |" for k, m in doc["methods"].items()]
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------- driver


def run_benchmark(ds: Dataset, out: str | os.PathLike, *, seeds: int = 3, splits: int = 5, quick: bool = False,
                  include: Sequence[str] | None = None, exclude: Sequence[str] | None = None,
                  ablations: bool = True, threads: int | None = None, n_permutations: int = N_PERMUTATIONS,
                  command: str = "brandmatch benchmark", log: Callable[[str], None] | None = None,
                  cache: bool = True, max_seeds: dict[str, int] | None = None,
                  max_splits: dict[str, int] | None = None) -> tuple[dict[str, Any], str, list[Path]]:
    """Run everything and write ``out/<dataset>/benchmark.{json,md}`` and PNGs; returns (doc, markdown, paths).

    With ``cache`` every finished run is kept in ``out/<dataset>/runs/`` (:class:`RunCache`) and
    re-used by the next invocation. ``max_seeds`` caps the seeds of some methods (model name or
    method key -> number of seeds, e.g. ``{"camera": 1}`` for the slow ones) and ``max_splits`` the
    derived splits they run on (0: the official split only; their derived cells are then n/a); the
    report says so."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if seeds < 1:
        raise BenchmarkError(f"--seeds must be >= 1, got {seeds}")
    if splits < 0:
        raise BenchmarkError(f"--splits must be >= 0, got {splits}")
    if n_permutations < 1:
        raise BenchmarkError(f"--permutations must be >= 1, got {n_permutations}")
    if "test" not in ds.grid_names():
        raise BenchmarkError(f"{ds.path or ds.name}: no test grid to evaluate on")
    every = benchmark_methods(quick=quick, ablations=ablations)
    methods = select_methods(every, include, exclude)
    max_seeds = dict(max_seeds or {})
    known = {m.key for m in every} | {m.model for m in every}
    max_splits = dict(max_splits or {})
    for flag, caps, low in (("--max-seeds", max_seeds, 1), ("--max-splits", max_splits, 0)):
        for name, n in caps.items():
            if name not in known:
                raise BenchmarkError(f"{flag}: unknown method {name!r} (known: {', '.join(sorted(known))})")
            if n < low:
                raise BenchmarkError(f"{flag}: {name}={n} must be >= {low}")

    def n_splits(m: Method) -> int:
        return min(splits, max_splits.get(m.key, max_splits.get(m.model, splits)))

    def n_seeds(m: Method) -> int | None:
        if not seeded(m.model):
            return None
        return min(seeds, max_seeds.get(m.key, max_seeds.get(m.model, seeds)))
    datasets = {OFFICIAL: ds}
    for s in range(1, splits + 1):
        datasets[f"split{s}"] = derived_split(ds, s)
    disk = RunCache(Path(out) / ds.name / "runs" if cache else None)
    fsum = features_checksum(ds) if cache else ""
    cache: dict[tuple[str, str, int | None], Run] = {}  # type: ignore[no-redef]  (runs shared within this call)
    runs: dict[str, dict[str, list[Run]]] = {m.key: {} for m in methods}
    by_key = {m.key: m for m in every}

    def obtain(m: Method, split: str, sds: Dataset, ssum: str, seed: int | None, need_chosen: bool = False) -> Run:
        """The run of ``m`` on ``split`` / ``seed``: from this call, the run cache, or fitted now."""
        if m.adapt is not None:
            m = adapted(m, obtain(by_key[m.adapt], split, sds, ssum, seed, need_chosen=True))
        ck = (split, m.run_key, seed)
        if ck in cache and not (need_chosen and cache[ck].chosen is None):
            return cache[ck]
        key = run_cache_key(m, split, seed, fsum, ssum)
        stored = disk.get(key)
        if stored is not None and not (need_chosen and stored.chosen is None):
            cache[ck] = stored
            return stored
        try:
            cache[ck] = run_once(sds, m, seed, threads)
        except Exception as exc:  # a model that breaks must not sink the whole benchmark
            cache[ck] = Run(False, f"failed: {type(exc).__name__}: {exc}".splitlines()[0])
        r = cache[ck]
        disk.put(key, r, {"dataset": ds.name, "split": split, "method": m.key, "run_key": m.run_key, "seed": seed})
        log(f"[benchmark] {split} {m.key}" + (f" seed {seed}" if seed is not None else "") + ": "
            + (", ".join(f"{k} {r.metrics[k]:.3f}" for k in ("AUC", "R@50", "MAP")) if r.available
               else str(r.reason)) + f" ({r.seconds:.1f}s)")
        return r

    for index, (split, sds) in enumerate(datasets.items()):  # index 0: official, i: split i
        ssum = split_checksum(sds) if disk.folder is not None else ""
        for m in methods:
            if index > n_splits(m):
                runs[m.key][split] = []
                continue
            n = n_seeds(m)
            seed_list: list[int | None] = list(range(n)) if n is not None else [None]
            runs[m.key][split] = [obtain(m, split, sds, ssum, seed) for seed in seed_list]
    if disk.hits:
        log(f"[benchmark] re-used {disk.hits} stored runs from {disk.folder}")
    derived_names = [s for s in datasets if s != OFFICIAL]
    official = {m.key: summarise_runs(runs[m.key][OFFICIAL]) for m in methods}
    derived = {m.key: summarise_splits([runs[m.key][s] for s in derived_names]) for m in methods}
    # significance: official brands; pooled (split, brand) units of the derived splits
    n_off = len(ds.grid("test").brand_ids)
    pb_off = {m.key: {t: per_brand_mean(runs[m.key][OFFICIAL], t, n_off) for t in TESTED} for m in methods}
    models = {m.key: m.model for m in methods}
    vmap = {k: s["valid"]["MAP"]["mean"] for k, s in official.items()
            if s.get("available") and models[k] != "oracle"}  # the oracle knows the truth: never "best"
    vmap = {k: v for k, v in vmap.items() if v is not None and not math.isnan(v)}
    ref = next((m.key for m in methods if m.model == REFERENCE and m.key == REFERENCE), None)
    best = max(vmap, key=lambda k: vmap[k]) if vmap else None
    refs = {k: v for k, v in (("vs_cosine", ref), ("vs_best", best)) if v is not None}
    families = {t: [m.key for m in methods if m.table == t] for t in ("main", "ablation")}
    sig = {"official": significance(pb_off, refs, families, n_permutations=n_permutations, seed=0), "derived": {}}
    if derived_names:
        pooled = {}
        for m in methods:
            pooled[m.key] = {t: np.concatenate([per_brand_mean(runs[m.key][s], t, len(datasets[s].grid("test").brand_ids))
                                                for s in derived_names]) for t in TESTED}
        sig["derived"] = significance(pooled, refs, families, n_permutations=n_permutations, seed=0)
    g = ds.grid("test")
    grids = {OFFICIAL: f"{len(g.brand_ids)} brands x {len(g.influencer_ids)} candidates, {g.n_positives} positives"}
    if derived_names:
        shapes = [datasets[s].grid("test").labels.shape for s in derived_names]
        grids["derived"] = "test grids " + ", ".join(f"{a} x {b}" for a, b in shapes)
    doc = {
        "dataset": ds.name, "command": command, "seeds": seeds, "splits": splits, "quick": quick,
        "permutations": n_permutations, "grids": grids,
        "paper_rows": ds.name == "mir-public",
        "methods": {m.key: {"label": m.label, "model": m.model, "params": m.params, "table": m.table,
                            "seeded": seeded(m.model), "seeds": n_seeds(m), "splits": n_splits(m)}
                    for m in methods},
        "official": official, "derived": derived, "significance": sig,
        "per_brand": {"official": {k: {t: v.tolist() for t, v in d.items()} for k, d in pb_off.items()},
                      "brands": [str(b) for b in g.brand_ids]},
        "runs": {k: {s: [dataclasses.asdict(r) | {"per_brand": None} for r in rs] for s, rs in d.items()}
                 for k, d in runs.items()},
    }
    if doc["paper_rows"]:
        doc["paper"] = PAPER_ROWS
    folder = Path(out) / ds.name
    folder.mkdir(parents=True, exist_ok=True)
    text = markdown(doc)
    write_json_atomic(folder / "benchmark.json", doc)
    write_text_atomic(folder / "benchmark.md", text)
    written = [folder / "benchmark.json", folder / "benchmark.md", *write_plots(doc, folder)]
    return doc, text, written


def quick_world(folder: Path) -> Dataset:
    """The small synthetic world (seed 0) with the simple feature views, built in ``folder``."""
    from brandmatch.data.store import load_dataset
    from brandmatch.data.synthetic import generate_to
    from brandmatch.features.simple import simple_features
    from brandmatch.features.store import write_view

    generate_to(folder, "small", 0, overwrite=True, progress=False)
    feats = simple_features(load_dataset(folder))
    for name in feats.names():
        write_view(folder / "features", feats[name])
    return load_dataset(folder)


__all__ = ["Method", "benchmark_methods", "select_methods", "derived_split", "stratified_test_brands",
           "run_benchmark", "quick_world", "BenchmarkError"]
