"""`brandmatch <command>`: the command-line front end.

Every command is a pair ``_add_<name>(subparsers)`` / ``_run_<name>(args) -> int`` registered in
:data:`COMMANDS`. Bad input raises a :class:`BrandmatchError`; :func:`main` prints its one-line
message and exits with code 2, leaving no partial output (writers are atomic).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from brandmatch import __version__
from brandmatch.atomic import strict_json, write_json_atomic
from brandmatch.errors import BrandmatchError

DEFAULT_SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"  # <repo>/../shared


def shared_dir() -> Path:
    """The shared folder beside the repository (override with BRANDMATCH_SHARED)."""
    return Path(os.environ.get("BRANDMATCH_SHARED", DEFAULT_SHARED)).resolve()


def _parse_params(items: Sequence[str] | None) -> dict[str, Any]:
    """`--param key=value` pairs; values are parsed as JSON when they parse, else kept as text."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise BrandmatchError(f"--param {item!r}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


# ---------------------------------------------------------------- import


def _add_import(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="import a folder of CSV/Parquet tables (docs/data-format.md)")
    p.add_argument("src", type=Path, help="folder with accounts.csv, cooperations.csv, ...")
    p.add_argument("--out", type=Path, required=True, help="dataset directory to create")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--seed", type=int, default=0, help="seed of derived splits")


def _run_import(args: argparse.Namespace) -> int:
    from brandmatch.data.store import write_dataset
    from brandmatch.data.user_import import check_output_not_source, import_tables

    check_output_not_source(args.src, args.out)
    ds = import_tables(args.src, seed=args.seed)
    ds = write_dataset(ds, args.out, overwrite=args.force, features=ds.features)
    _print_summary(ds.summary())
    return 0


def _add_import_mir(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import-mir", help="import the public brand-micro-influencer release")
    p.add_argument("src", type=Path, nargs="?", default=None,
                   help="the mir-public folder (default: ../shared/datasets/mir-public)")
    p.add_argument("--out", type=Path, required=True, help="dataset directory to create")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")


def _run_import_mir(args: argparse.Namespace) -> int:
    from brandmatch.data.mir_public import import_mir_to

    src = args.src or shared_dir() / "datasets" / "mir-public"
    ds = import_mir_to(src, args.out, overwrite=args.force)
    _print_summary(ds.summary())
    return 0


# ---------------------------------------------------------------- info


def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="a dataset (tables, feature views, splits, grids) or a trained model "
                                    "(parameters, provenance, what the recipe chose on the validation grid)")
    p.add_argument("data", type=Path, metavar="DIR", help="a dataset directory or a model directory")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def _model_summary(cfg: dict) -> dict:
    """What `info` shows of a model's config.json."""
    params = cfg.get("params", {})
    extra = cfg.get("extra", {})
    prov = cfg.get("provenance", {}) or {}
    return {"model": cfg.get("model"), "recipe": params.get("recipe"),
            "terms": params.get("terms"), "views": params.get("views"),
            "best_epoch": extra.get("best_epoch"), "epochs_run": len(extra.get("history") or []),
            "dataset": (prov.get("dataset") or {}).get("name"), "code": prov.get("code"),
            "selection": extra.get("selection"), "params": params}


def _print_model_summary(m: dict) -> None:
    print(f"model {m['model']}" + (f" (recipe {m['recipe']})" if m["recipe"] else "")
          + (f", trained on {m['dataset']}" if m["dataset"] else ""))
    if m["terms"] is not None:
        print(f"terms: {', '.join(m['terms'])}   views: {', '.join(m['views'] or [])}")
    if m["best_epoch"] is not None:
        print(f"selected epoch {m['best_epoch']} of {m['epochs_run']} on the validation grid")
    sel = m["selection"]
    if not sel:
        print("selection: none (the recipe trains as configured)")
        return
    if "skipped" in sel:
        print(f"selection: skipped ({sel['skipped']})")
        return
    print(f"selection on the validation grid ({sel['metric']}, {sel['seconds']:.0f} s):")
    for v, r in sel.get("views", {}).items():
        auc = "n/a" if r.get("auc") is None else f"{r['auc']:.3f} +- {r['se']:.3f}"
        print(f"  view {v:<4} COSINE AUC {auc:<16} {'kept' if r['kept'] else 'left out'}"
              + (f" ({r['why']})" if r.get("why") and r["kept"] else ""))
    if "cosine" in sel:
        print("  guard: not below the training-free COSINE's "
              + ", ".join(f"{g} {v:.4f}" for g, v in sel["cosine"].items())
              + " (with each candidate's post-hoc correction added)"
              + ("" if sel.get("guard_passed", True) else " (no candidate passed: the metric alone decided)"))
    for c in sel.get("candidates", []):
        what = ", ".join(f"{k}={v}" for k, v in c["params"].items())
        res = c.get("skipped") or (f"unavailable: {c['unavailable']}" if "unavailable" in c
                                   else f"{sel['metric']} {c['valid']:.4f} ({c['seconds']:.0f} s)")
        if "guard" in c:  # the floor: COSINE plus the candidate's own post-hoc correction
            floor = c.get("cosine", sel["cosine"])
            res += "; " + ", ".join(f"{g} {v:.4f} vs COSINE {floor[g]:.4f}" for g, v in c["guard"].items())
            res += f" (below COSINE: {', '.join(c['below_cosine'])})" if c.get("below_cosine") else ""
        print(f"  candidate {what:<60} {res}")
    chosen = ", ".join(f"{k}={v}" for k, v in sel["chosen"]["params"].items())
    print(f"  chosen: {chosen} ({sel['metric']} {sel['chosen']['valid']:.4f})")


def _print_summary(s: dict) -> None:
    print(f"dataset {s['name']}  ({s['path']})")
    print("tables:")
    for name, rows in s["tables"].items():
        print(f"  {name:<16} {rows:>10,} rows")
    print("accounts by role: " + ", ".join(f"{k} {v:,}" for k, v in s["roles"].items()))
    print("splits: " + ", ".join(f"{k} {v}" for k, v in s["splits"].items()))
    for g, d in s["grids"].items():
        print(f"grid {g}: {d['brands']} brands x {d['candidates']} candidates, {d['positives']} positives")
    if s["features"]:
        print("feature views:")
        for name, d in s["features"].items():
            print(f"  {name:<22} {d['rows']:>8} x {d['dim']:<5} present for {d['present']:,}")
    else:
        print("feature views: none")


def _run_info(args: argparse.Namespace) -> int:
    from brandmatch.data.store import load_dataset
    from brandmatch.models.base import CONFIG_FILE, read_config

    if (args.data / CONFIG_FILE).is_file():  # a model directory
        m = _model_summary(read_config(args.data))
        if args.json:
            print(strict_json(m, indent=2, default=str))
        else:
            _print_model_summary(m)
        return 0
    s = load_dataset(args.data).summary()
    if args.json:
        print(strict_json(s, indent=2, default=str))
    else:
        _print_summary(s)
    return 0


# ---------------------------------------------------------------- models


def _add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the registered models and their recipes")
    p.add_argument("--params", metavar="MODEL", default=None, help="list one model's parameters")


def _run_models(args: argparse.Namespace) -> int:
    from brandmatch.models import MODELS
    from brandmatch.models.recipes import load_recipe, recipe_names
    from brandmatch.models.terms import TERMS

    if args.params:
        if args.params not in MODELS:
            raise BrandmatchError(f"--params {args.params!r}: unknown model (known: {', '.join(sorted(MODELS))})")
        cls = MODELS[args.params]
        lines = cls.describe_params() if hasattr(cls, "describe_params") else \
            [f"{p.name} = {p.default!r}  ({p.allowed()}; {p.source})" for p in getattr(cls, "PARAMS", ())]
        print("\n".join(lines) if lines else f"{args.params}: no parameters")
        return 0
    for name in sorted(MODELS):
        print(f"{name:<12} {MODELS[name].summary}")
        for recipe in recipe_names(name):
            r = load_recipe(name, recipe)
            default = " (default)" if recipe == getattr(MODELS[name], "default_recipe", None) else ""
            print(f"  --recipe {recipe:<22} {r.description}{default}")
    print("terms (models/terms/): " + "; ".join(f"{k}: {t.summary}" for k, t in TERMS.items()))
    print("`brandmatch models --params NAME` lists a model's parameters with defaults, allowed values and sources")
    return 0


# ---------------------------------------------------------------- evaluate


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="fit (or load) a model and evaluate it on a candidate grid")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="registered model name (see `brandmatch models`)")
    src.add_argument("--model-dir", type=Path, help="a trained model directory (config.json + weights)")
    p.add_argument("--data", type=Path, required=True, help="dataset directory")
    p.add_argument("--grid", default="test", help="candidate grid to rank (default: test)")
    p.add_argument("--recipe", default=None, help="recipe of a model with recipes (see `brandmatch models`)")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="model hyper-parameter")
    p.add_argument("--json", type=Path, metavar="OUT", help="write metrics as JSON")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% CIs")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")


def _run_evaluate(args: argparse.Namespace) -> int:
    from brandmatch.data.store import load_dataset
    from brandmatch.evaluation.report import format_results, result_json
    from brandmatch.evaluation.runner import ModelResult, evaluate_model, run_model
    from brandmatch.models.base import load_model

    ds = load_dataset(args.data)
    if args.model_dir is not None:
        if args.param or args.recipe:
            raise BrandmatchError("--param / --recipe apply to --model; a trained --model-dir keeps its own")
        model = load_model(args.model_dir, ds.features)
        ev = evaluate_model(model, ds, args.grid, n_bootstrap=args.bootstrap, seed=args.seed)
        result = ModelResult(ds.name, model.name, ev, params=model.get_params())
    else:
        params = _parse_params(args.param)
        if args.recipe is not None:
            params["recipe"] = args.recipe
        result = run_model(args.model, ds, args.grid, params=params, n_bootstrap=args.bootstrap, seed=args.seed)
    print(format_results([result], title=f"{ds.name}: grid {args.grid}"))
    if args.json:
        write_json_atomic(args.json, result_json(result))
    return 0


# ---------------------------------------------------------------- report


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="evaluate several models and write markdown + JSON tables")
    p.add_argument("--data", type=Path, required=True, help="dataset directory")
    p.add_argument("--models", default="rand,miv,cosine", help="comma-separated model names")
    p.add_argument("--grid", default="test")
    p.add_argument("--out", type=Path, default=Path("reports"), help="report directory (default: reports/)")
    p.add_argument("--bootstrap", type=int, default=1000)


def _run_report(args: argparse.Namespace) -> int:
    from brandmatch.data.store import load_dataset
    from brandmatch.evaluation.report import run_report

    ds = load_dataset(args.data)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    text, written = run_report(ds, names, args.out, grid=args.grid, n_bootstrap=args.bootstrap)
    print(text)
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


# ---------------------------------------------------------------- generate


def _add_generate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate a synthetic Instagram world (docs/synthetic-world.md)")
    p.add_argument("--preset", default="paper", help="paper (published statistics, default) or small")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    p.add_argument("--out", type=Path, required=True, help="dataset directory to create")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--influencers", type=int, default=None, help="number of micro-influencers")
    p.add_argument("--posts-per-account", type=int, default=None, help="posts per brand / influencer")
    p.add_argument("--audience-size", type=int, default=None, help="active audience members per account")
    p.add_argument("--audience-posts", type=int, default=None, help="posts per audience member")
    p.add_argument("--brands-per-category", type=int, default=None, help="brands in each of the 12 categories")
    p.add_argument("--workers", type=int, default=None,
                   help="processes rendering the world in parallel (default: every CPU; same bytes for any N)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--simple-features", action="store_true",
                   help="also store the five standard views from brandmatch.features.simple (COSINE-ready)")


def _run_generate(args: argparse.Namespace) -> int:
    from brandmatch.data.synthetic import generate_to

    if args.workers is not None and args.workers < 1:
        raise BrandmatchError(f"--workers {args.workers}: expected an integer >= 1 (default: every CPU)")
    stats = generate_to(
        args.out, args.preset, args.seed, overwrite=args.force, progress=not args.no_progress,
        workers=args.workers, influencers=args.influencers, posts_per_account=args.posts_per_account,
        audience_size=args.audience_size, audience_posts=args.audience_posts,
        brands_per_category=args.brands_per_category,
    )
    if args.simple_features:
        from brandmatch.data.store import load_dataset
        from brandmatch.features.simple import simple_features
        from brandmatch.features.store import write_view

        feats = simple_features(load_dataset(args.out))
        for name in feats.names():
            write_view(args.out / "features", feats[name])
    ppb = stats["partners_per_brand"]
    print(f"wrote {args.out}: {stats['brands']} brands, {stats['influencers']:,} influencers, "
          f"{stats['cooperations']:,} cooperations (per brand mean {ppb['mean']:.1f}, "
          f"min {ppb['min']}, max {ppb['max']}), multi-brand share {stats['multi_brand_share']:.1%}")
    for g, d in stats["grids"].items():
        print(f"grid {g}: {d['brands']} brands x {d['candidates']} candidates, {d['positives']} positives")
    return 0


# ---------------------------------------------------------------- demo


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the main job: build the default data, evaluate the models, print tables")
    p.add_argument("--data", choices=["all", "synthetic", "mir"], default="all",
                   help="synthetic: generate and featurize the paper-size synthetic world; mir: the real "
                        "public release in ../shared; all (default): the real release (when ../shared is "
                        "there) then the synthetic world")
    p.add_argument("--models", default=None,
                   help="comma-separated models (default: rand,miv,cosine,oracle on synthetic; "
                        "rand,miv,cosine on mir; MORNING trains for minutes: add morning to include it)")
    p.add_argument("--workdir", type=Path, default=Path("data"), help="where datasets are built")
    p.add_argument("--out", type=Path, default=Path("reports"), help="report directory")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic world")
    p.add_argument("--no-recommend", action="store_true",
                   help="only the tables: skip training the plus recipe and printing recommendations")


DEMO_MODELS = {"synthetic": "rand,miv,cosine,oracle", "mir": "rand,miv,cosine"}


def _demo_dataset(args: argparse.Namespace, which: str):
    """Build (or reuse) a demo dataset: the synthetic paper world featurized, or the real import."""
    from brandmatch.data.store import load_dataset

    if which == "mir":
        from brandmatch.data.mir_public import import_mir_to

        target = args.workdir / "mir-public"
        if (target / "manifest.json").exists():
            print(f"using {target} (delete it to re-import)", file=sys.stderr)
            return load_dataset(target)
        return import_mir_to(shared_dir() / "datasets" / "mir-public", target, overwrite=True)

    from brandmatch.data.synthetic import GENERATOR_VERSION, generate_to
    from brandmatch.features.pipeline import FeaturizeOptions, featurize

    target = args.workdir / f"synthetic-paper-seed{args.seed}"
    manifest = target / "manifest.json"
    built = json.loads(manifest.read_text())["metadata"].get("generator_version") if manifest.exists() else None
    if built == GENERATOR_VERSION:
        print(f"using {target} (delete it to regenerate)", file=sys.stderr)
    else:
        print(f"generating the synthetic paper world into {target} ...", file=sys.stderr)
        generate_to(target, "paper", args.seed, overwrite=True, progress=True)
    ds = load_dataset(target)
    print("featurizing (cached stages are skipped) ...", file=sys.stderr)
    featurize(ds, None, FeaturizeOptions(with_=(), seed=args.seed, shared=shared_dir()),
              log=lambda line: print("  " + line, file=sys.stderr))
    return load_dataset(target)


def _run_demo(args: argparse.Namespace) -> int:
    from brandmatch.evaluation.report import run_report

    which = [args.data] if args.data != "all" else ["mir", "synthetic"]
    if args.data == "all" and not (shared_dir() / "datasets" / "mir-public" / "README.md").exists():
        print(f"note: {shared_dir()} has no datasets/mir-public: skipping the real-data table", file=sys.stderr)
        which = ["synthetic"]
    built = {}
    for kind in which:
        ds = _demo_dataset(args, kind)
        built[kind] = ds
        names = [m.strip() for m in (args.models or DEMO_MODELS[kind]).split(",") if m.strip()]
        text, written = run_report(ds, names, args.out, grid="test")
        print(text)
        print(f"wrote {', '.join(str(p) for p in written)}\n")
    if not args.no_recommend:
        _demo_recommendations(args, built)
    return 0


EXAMPLE_PROFILE = Path(__file__).resolve().parents[2] / "examples" / "new-brand"


def _demo_recommendations(args: argparse.Namespace, built: dict) -> None:
    """Train the default recipe (plus) on each demo dataset, print top-10 recommendations with their
    explanations for a test brand, and for the new brand of examples/new-brand on the featurized
    synthetic world (the real release ships features only: no fitted featurizer for new brands)."""
    from brandmatch.models.base import create
    from brandmatch.serving.recommend import Filters, Recommender
    from brandmatch.training.trainer import TrainingOptions
    from brandmatch.training.workflow import train_to_directory

    served = None
    for kind, ds in built.items():
        out = args.workdir / "models" / f"{ds.name}-plus"
        print(f"training MORNING (recipe plus) on {ds.name} into {out} ...", file=sys.stderr)
        model = train_to_directory(create("morning"), ds, out, options=TrainingOptions(progress=False))
        rec = Recommender(model, ds)
        brand = str(ds.grid("test").brand_ids[0])
        filters = Filters()
        print(f"\n== Top 10 micro-influencers for test brand {brand} ({ds.name}, MORNING plus; shares of the "
              f"score by view; a brand new to the model) ==")
        _print_recommendations(rec.recommend(brand, 10, filters), "table",
                               {"brand": brand, "filters": "5k-100k followers (unknown kept), partners hidden"})
        if kind == "synthetic":
            served = (out, ds.path)
            if (EXAMPLE_PROFILE / "accounts.csv").exists():
                from brandmatch.serving.profile import recommend_profile

                recs, new_brand, cat = recommend_profile(out, ds.path, EXAMPLE_PROFILE, 10, filters, recommender=rec)
                print(f"\n== Top 10 for a NEW brand from its profile folder {EXAMPLE_PROFILE} "
                      f"(id {new_brand}, category {cat}; featurized with the dataset's fitted featurizer) ==")
                _print_recommendations(recs, "table", {"brand": new_brand})
        elif served is None:
            served = (out, ds.path)
    if served is not None:
        print(f"\nOpen the web app on that model (http://127.0.0.1:8000):\n"
              f"  .venv/bin/brandmatch serve --model-dir {served[0]} --data {served[1]}")


# ---------------------------------------------------------------- featurize


def _add_featurize(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("featurize", help="compute the feature views of a dataset (cached, resumable)")
    p.add_argument("data", type=Path, help="dataset directory")
    p.add_argument("--out", type=Path, default=None, help="feature directory (default: DATA/features)")
    from brandmatch.features.pipeline import DEFAULT_WITH, OPTIONAL_STAGES

    p.add_argument("--with", dest="with_", default=",".join(DEFAULT_WITH),
                   help=f"optional stages, comma-separated: {', '.join(OPTIONAL_STAGES)} "
                        f"(default: {','.join(DEFAULT_WITH)})")
    p.add_argument("--topics", default="auto", help="number of LDA topics, or 'auto' to select (default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="recompute every stage, ignoring cached views")
    p.add_argument("--replace-imported", action="store_true",
                   help="also recompute the views supplied at import (features/<view>.csv); by default they are kept")
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    p.add_argument("--fit-accounts", type=int, default=None, metavar="N",
                   help="fit the caption stages (LDA, TF-IDF, Word2Vec) on N accounts drawn with --seed instead of "
                        "all; every account's views then come from the fitted transform (default: all accounts)")
    p.add_argument("--engine", default=None, metavar="local|ray",
                   help="where the per-account transforms run: local (this process) or ray (Ray Data; fitting "
                        "stays here); default $BRANDMATCH_ENGINE, else local (docs/engines.md)")


def _run_featurize(args: argparse.Namespace) -> int:
    import time as _time

    from brandmatch.data.store import BLOCK_TABLES, dataset_blocks, load_dataset, verify_table_files
    from brandmatch.features.pipeline import FeaturizeOptions, featurize

    if args.topics == "auto":
        topics = None
    else:
        try:
            topics = int(args.topics)
        except ValueError:
            raise BrandmatchError(f"--topics {args.topics!r}: expected 'auto' or a number") from None
        if topics < 2:
            raise BrandmatchError(f"--topics {topics}: need at least 2 topics")
    with_ = tuple(w.strip() for w in args.with_.split(",") if w.strip())
    blocks = dataset_blocks(args.data) if args.fit_accounts is not None else None
    if blocks is not None and len(blocks) and args.fit_accounts < int(blocks.ends["accounts"][-1]):
        # written in account blocks and fitted on a sample: fit on some blocks, the engine reads
        # the rest block by block; posts, audiences and detections are never loaded whole
        # (checked on disk instead)
        verify_table_files(args.data, BLOCK_TABLES)
        ds = load_dataset(args.data, tables=("accounts", "cooperations", "splits"))
    else:
        ds = load_dataset(args.data)
    opts = FeaturizeOptions(with_=with_, topics=topics, seed=args.seed, force=args.force,
                            replace_imported=args.replace_imported,
                            progress=not args.no_progress, shared=shared_dir(), engine=args.engine,
                            fit_accounts=args.fit_accounts)
    t0 = _time.perf_counter()
    print(f"{'stage':<16} {'status':<9} {'time':>9}  views")
    reports = featurize(ds, args.out, opts, log=print)
    out = args.out or (Path(args.data) / "features")
    print(f"total {_time.perf_counter() - t0:.1f}s; features in {out}")
    # from the feature manifest (rows, width, present): no view is loaded for the summary
    from brandmatch.atomic import read_json
    from brandmatch.errors import FeatureError

    manifest = Path(out) / "manifest.json"
    views = read_json(manifest, FeatureError).get("views", {}) if manifest.exists() else {}
    for name in sorted(views):
        e = views[name]
        print(f"  {name:<26} {e['rows']:>8} x {e['dim']:<5} present for {e['present']:,}")
    del reports
    return 0


# ---------------------------------------------------------------- train / results (MORNING issue)


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model on the train split (validation grid for selection) and save it")
    p.add_argument("--model", required=True, help="registered model name (see `brandmatch models`)")
    p.add_argument("--recipe", default=None,
                   help="named recipe or a .toml file (morning: plus (default), paper, code, plus-attribute-tower)")
    p.add_argument("--data", type=Path, required=True, help="dataset directory")
    p.add_argument("--out", type=Path, required=True, help="model directory (checkpoints in OUT/checkpoints/)")
    p.add_argument("--views", default=None, help="views of MORNING-like models, e.g. c,au,att")
    p.add_argument("--seed", type=int, default=None, help="training seed")
    p.add_argument("--epochs", type=int, default=None, help="maximum number of epochs (>= 1)")
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="override one hyper-parameter (term parameters as TERM.KEY, e.g. cosine.weights=fixed)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/ (same settings and data)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: see docs/training-threads.md)")
    p.add_argument("--checkpoint-every", type=int, default=1, metavar="N",
                   help="checkpoint after every N-th epoch and the last (default 1; full model: ~170 MB each)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")


def _run_train(args: argparse.Namespace) -> int:
    from brandmatch.data.store import TRAINING_GRIDS, TRAINING_TABLES, load_dataset
    from brandmatch.models.base import create
    from brandmatch.training.trainer import TrainingOptions
    from brandmatch.training.workflow import train_to_directory

    if args.checkpoint_every < 1:
        raise BrandmatchError(f"--checkpoint-every must be >= 1, got {args.checkpoint_every}")
    if args.threads is not None and args.threads < 1:
        raise BrandmatchError(f"--threads must be >= 1, got {args.threads}")
    params = _parse_params(args.param)
    for key in ("views", "seed", "epochs"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    if args.recipe is not None:
        params["recipe"] = args.recipe
    model = create(args.model, **params)  # parameters validated before any data is read
    # models read features, not posts or audiences; training selects on the validation grid only
    ds = load_dataset(args.data, tables=TRAINING_TABLES, grids=TRAINING_GRIDS)
    options = TrainingOptions(resume=args.resume, progress=not args.no_progress, threads=args.threads,
                              checkpoint_every=args.checkpoint_every, compile_optimizer=None)
    model = train_to_directory(model, ds, args.out, options=options)
    best = getattr(model, "best_epoch_", None)
    recipe = getattr(model, "recipe", None)
    print(f"trained {model.name}" + (f" (recipe {recipe})" if recipe else "") + f" on {ds.name}"
          + (f" (selected epoch {best} on the validation grid)" if best else "") + f"; saved to {args.out}")
    return 0


def _add_benchmark(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("benchmark", help="every model, recipe and MORNING ablation over seeds and brand-disjoint "
                                         "splits, with paired significance tests (markdown, JSON, PNG)")
    p.add_argument("--data", type=Path, default=None,
                   help="dataset directory (required unless --quick, which then builds the small synthetic world)")
    p.add_argument("--seeds", type=int, default=3, help="seeds of every seeded model (default 3)")
    p.add_argument("--splits", type=int, default=5, help="derived brand-disjoint splits besides the official one")
    p.add_argument("--quick", action="store_true",
                   help="1 seed, 1 derived split, few epochs / rounds, a small subset of models")
    p.add_argument("--out", type=Path, default=Path("reports"), help="report directory (default: reports/)")
    p.add_argument("--models", default=None, metavar="KEYS",
                   help="only these methods: model names or keys such as morning:paper, morning:views=c")
    p.add_argument("--exclude", default=None, metavar="KEYS", help="leave these methods out (same spelling)")
    p.add_argument("--no-ablations", action="store_true", help="skip MORNING's view ablations")
    p.add_argument("--threads", type=int, default=None, help="torch threads for training (default: see train)")
    p.add_argument("--permutations", type=int, default=10000, help="sign flips of the significance test")
    p.add_argument("--max-seeds", default=None, metavar="KEY=N,...",
                   help="fewer seeds for some methods (model names or keys), e.g. mir=1,camera=1; the report says so")
    p.add_argument("--max-splits", default=None, metavar="KEY=N,...",
                   help="fewer derived splits for some methods (0: official split only), e.g. camera=0")
    p.add_argument("--no-cache", action="store_true",
                   help="recompute every run (default: finished runs are kept in OUT/<dataset>/runs/ and re-used, "
                        "so an interrupted benchmark resumes)")


def _run_benchmark(args: argparse.Namespace) -> int:
    import tempfile

    from brandmatch.data.store import load_dataset
    from brandmatch.evaluation.benchmark import quick_world, run_benchmark

    if args.threads is not None and args.threads < 1:
        raise BrandmatchError(f"--threads must be >= 1, got {args.threads}")
    if args.data is None and not args.quick:
        raise BrandmatchError("--data is required (or --quick, which builds a small synthetic world)")
    split = lambda text: [x.strip() for x in text.split(",") if x.strip()] if text else None  # noqa: E731
    seeds, splits = (1, 1) if args.quick else (args.seeds, args.splits)
    command = "brandmatch benchmark" + (f" --data {args.data}" if args.data else "") + \
        (" --quick" if args.quick else f" --seeds {seeds} --splits {splits}") + \
        (f" --models {args.models}" if args.models else "") + (f" --exclude {args.exclude}" if args.exclude else "") + \
        (" --no-ablations" if args.no_ablations else "") + (f" --max-seeds {args.max_seeds}" if args.max_seeds else "") + \
        (f" --max-splits {args.max_splits}" if args.max_splits else "")
    caps: dict[str, dict[str, int]] = {"--max-seeds": {}, "--max-splits": {}}
    for flag, text in (("--max-seeds", args.max_seeds), ("--max-splits", args.max_splits)):
        # KEY=N,KEY=N,...; a key may hold '=' and ',' (morning:views=c,au=0)
        found = list(re.finditer(r"\s*(.+?)\s*=\s*(\d+)\s*(?:,|$)", text or ""))
        if text and "".join(f.group(0) for f in found) != text:
            raise BrandmatchError(f"{flag}: expected KEY=N[,KEY=N...], got {text!r}")
        for f in found:
            caps[flag][f.group(1)] = int(f.group(2))
    with tempfile.TemporaryDirectory(prefix="brandmatch-quick-") as tmp:
        ds = load_dataset(args.data) if args.data is not None else quick_world(Path(tmp) / "synthetic-small")
        _, text, written = run_benchmark(ds, args.out, seeds=seeds, splits=splits, quick=args.quick,
                                         include=split(args.models), exclude=split(args.exclude),
                                         ablations=not args.no_ablations, threads=args.threads,
                                         n_permutations=args.permutations, command=command,
                                         cache=not args.no_cache, max_seeds=caps["--max-seeds"],
                                         max_splits=caps["--max-splits"])
    print(text)
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def _add_results(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("results", help="write docs/results.md from the benchmark JSON files (run `brandmatch "
                                       "benchmark --data DIR` once per dataset first)",
                       description="Assemble docs/results.md from reports/<dataset>/benchmark.json, one per dataset "
                                   "(e.g. `brandmatch benchmark --data data/mir-public` and `--data "
                                   "data/synthetic-paper-seed0`): main table with intervals, the paper's numbers, "
                                   "Holm p-values vs COSINE, repeated splits, ablations and a generated reading. "
                                   "Nothing is trained.")
    p.add_argument("--from", dest="sources", type=Path, action="append", default=None, metavar="PATH",
                   help="a report folder holding <dataset>/benchmark.json, or a benchmark.json file "
                        "(repeatable; default: reports/)")
    p.add_argument("--out", type=Path, default=Path("docs/results.md"), help="markdown to write (default: docs/results.md)")


def _run_results(args: argparse.Namespace) -> int:
    from brandmatch.evaluation.experiments import find_benchmarks, write_results

    sources = args.sources or [Path("reports")]
    command = "brandmatch results " + " ".join(f"--from {s}" for s in sources) + f" --out {args.out}"
    text = write_results(sources, args.out, command=command)
    print(text)
    print(f"wrote {args.out} from {', '.join(str(p) for p in find_benchmarks(sources))}")
    return 0


# ---------------------------------------------------------------- recommend / similar


def _add_serving_filters(p: argparse.ArgumentParser) -> None:
    """Filters shared by `recommend` and `similar` (validated by serving.recommend.Filters)."""
    p.add_argument("--model-dir", type=Path, required=True, help="a model saved by `brandmatch train`")
    p.add_argument("--data", type=Path, required=True, help="the dataset directory the model was trained on")
    p.add_argument("--k", default="20", help="number of influencers (default 20)")
    p.add_argument("--min-followers", default="5000",
                   help="lowest follower count (default 5000; 'none': no bound); unknown counts are kept")
    p.add_argument("--max-followers", default="100000", help="highest follower count (default 100000; 'none')")
    p.add_argument("--category", action="append", default=None, metavar="C",
                   help="only influencers of this category (repeatable)")
    p.add_argument("--min-engagement", default=None, metavar="X",
                   help="lowest engagement rate (likes + comments) / followers; unknown rates are kept")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format")
    _add_index_kind(p)
    p.add_argument("--index-dir", type=Path, default=None,
                   help="reuse the influencer index saved there (built and saved there when absent)")


def _add_index_kind(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index-kind", choices=("exact", "hnsw", "ivf", "projected"), default="exact",
                   help="influencer index: exact (default), hnsw or ivf (approximate; docs/web-api.md), or "
                        "projected (candidates from projected vectors re-ranked exactly: for collections "
                        "whose full vectors do not fit in memory)")
    p.add_argument("--nprobe", type=int, default=None, metavar="N",
                   help="ivf: cells scanned per query (default 64; more = higher recall, slower)")
    _add_projected(p)


def _add_projected(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reduced-dim", type=int, default=None, metavar="R",
                   help="projected: width of the projected vectors (default 256)")
    p.add_argument("--rerank", type=int, default=None, metavar="N",
                   help="projected: candidates re-scored exactly per query (default 1000)")


def _projected_params(args: argparse.Namespace):
    """ProjectedParams of --reduced-dim / --rerank (None: defaults; one-line error when misplaced)."""
    from brandmatch.serving.projected_index import ProjectedParams

    given = {k: v for k, v in (("dim", args.reduced_dim), ("rerank", args.rerank)) if v is not None}
    if given and args.index_kind != "projected":
        raise BrandmatchError(f"--reduced-dim / --rerank apply to --index-kind projected only "
                              f"(got --index-kind {args.index_kind})")
    return ProjectedParams(**given) if given else None


def _index_options(args: argparse.Namespace) -> dict[str, Any]:
    """Recommender keyword arguments of --index-kind / --nprobe (one-line error on a bad value)."""
    from brandmatch.serving.index import IVFParams

    if args.nprobe is not None and args.index_kind != "ivf":
        raise BrandmatchError(f"--nprobe applies to --index-kind ivf only (got --index-kind {args.index_kind})")
    ivf = IVFParams(nprobe=args.nprobe) if args.nprobe is not None else None
    return {"index_kind": args.index_kind, "ivf": ivf, "projected": _projected_params(args)}


def _number(value: str | None, flag: str, kind: type) -> Any:
    """A CLI number ('none' -> None) or a one-line BrandmatchError."""
    if value is None or str(value).strip().lower() in ("none", ""):
        return None
    try:
        return kind(value)
    except ValueError:
        raise BrandmatchError(f"{flag}: expected {'an integer' if kind is int else 'a number'} or 'none', "
                              f"got {value!r}") from None


def _serving_filters(args: argparse.Namespace, exclude_partners: bool):
    from brandmatch.serving.recommend import Filters

    return Filters(min_followers=_number(args.min_followers, "--min-followers", int),
                   max_followers=_number(args.max_followers, "--max-followers", int),
                   categories=tuple(args.category or ()),
                   min_engagement=_number(args.min_engagement, "--min-engagement", float),
                   exclude_partners=exclude_partners)


def _serving_k(args: argparse.Namespace) -> int:
    k = _number(args.k, "--k", int)
    if k is None or k < 1:
        raise BrandmatchError(f"--k must be an integer >= 1, got {args.k!r}")
    return k


def _print_recommendations(recs: list, fmt: str, header: dict[str, Any]) -> None:
    """table / json / csv of serving.recommend.Recommendation rows."""
    import csv

    from brandmatch.atomic import strict_json

    if fmt == "json":
        print(strict_json({**header, "recommendations": [r.to_dict() for r in recs]}, indent=2))
        return
    rows = [r.flat() for r in recs]
    if fmt == "csv":
        cols = list(dict.fromkeys(c for row in rows for c in row)) or ["rank", "influencer_id", "handle", "score"]
        w = csv.DictWriter(sys.stdout, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for row in rows:
            w.writerow(row)
        return
    print("  ".join(f"{k}: {v}" for k, v in header.items() if not isinstance(v, dict)))
    if not recs:
        print("no influencer passes the filters")
        return
    parts = list(recs[0].parts)
    print(f"{'rank':>4}  {'influencer':<28} {'score':>8}  " + " ".join(f"{p:>6}" for p in parts)
          + f"  {'followers':>9} {'engage':>7}  evidence")
    for r in recs:
        shares = r.shares()
        name = r.influencer_id if not r.handle or r.handle == r.influencer_id else f"{r.influencer_id} @{r.handle}"
        fol = "unknown" if r.followers is None else f"{r.followers:,}"
        eng = "unknown" if r.engagement_rate is None else f"{r.engagement_rate:.2%}"
        share = " ".join("   n/a" if shares[p] is None else f"{shares[p]:>6.0%}" for p in parts)
        print(f"{r.rank:>4}  {name[:28]:<28} {r.score:>8.4f}  {share}  {fol:>9} {eng:>7}  {r.evidence_summary()}")


def _recommender(args: argparse.Namespace):
    """The Recommender of --model-dir / --data, with the index of --index-dir when one is saved there."""
    from brandmatch.serving.recommend import Recommender

    saved = args.index_dir is not None and (args.index_dir / "manifest.json").exists()
    rec = Recommender.from_dirs(args.model_dir, args.data, **_index_options(args),
                                index_dir=args.index_dir if saved else None)
    if args.index_dir is not None and not saved:
        rec.save_index(args.index_dir)
    return rec


def _add_recommend(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recommend", help="top-k micro-influencers for a brand, with filters and explanations")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--brand", default=None, metavar="ID_OR_HANDLE", help="a brand of the dataset")
    who.add_argument("--brand-profile", type=Path, default=None, metavar="PATH",
                     help="a new brand's profile folder: the import format (accounts.csv with one brand, "
                          "posts.csv, ...) or an instaloader download (docs/new-brands.md)")
    p.add_argument("--brand-category", default=None, metavar="C",
                   help="with --brand-profile: the brand's category (overrides the profile's)")
    _add_serving_filters(p)
    p.add_argument("--include-partners", action="store_true",
                   help="also list influencers the brand already cooperated with")


def _run_recommend(args: argparse.Namespace) -> int:
    k = _serving_k(args)
    filters = _serving_filters(args, exclude_partners=not args.include_partners)
    rec = _recommender(args)
    if args.brand_profile is not None:
        from brandmatch.serving.profile import recommend_profile

        recs, brand, _ = recommend_profile(args.model_dir, args.data, args.brand_profile, k, filters,
                                           category=args.brand_category, recommender=rec)
    else:
        brand = rec.resolve(args.brand, "brand")
        recs = rec.recommend(brand, k, filters)
    _print_recommendations(recs, args.format, {"brand": brand, "model": rec.model.name, "k": k,
                                               "filters": filters.to_dict()})
    return 0


def _add_similar(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("similar", help="lookalike influencers: closest influencer-side embeddings (cosine)")
    p.add_argument("--influencer", required=True, metavar="ID_OR_HANDLE", help="an influencer of the dataset")
    _add_serving_filters(p)


def _run_similar(args: argparse.Namespace) -> int:
    k = _serving_k(args)
    filters = _serving_filters(args, exclude_partners=False)
    rec = _recommender(args)
    m = rec.resolve(args.influencer, "influencer")
    recs = rec.similar(m, k, filters)
    _print_recommendations(recs, args.format, {"influencer": m, "model": rec.model.name, "k": k,
                                               "filters": filters.to_dict()})
    return 0



# ---------------------------------------------------------------- embed (batch, local or Ray)


def _add_embed(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="every influencer's vector (model.embed) to Parquet, on the local engine or Ray")
    p.add_argument("--model-dir", type=Path, required=True, help="a model saved by `brandmatch train`")
    p.add_argument("--data", type=Path, required=True, help="the dataset directory the model was trained on")
    p.add_argument("--out", type=Path, default=None,
                   help="Parquet file to write (account_id, vector); required unless --index-kind projected "
                        "(which keeps no full vectors) builds an index")
    p.add_argument("--engine", default=None, metavar="local|ray",
                   help="local (this process) or ray; default $BRANDMATCH_ENGINE, else local (docs/engines.md)")
    p.add_argument("--shard-size", type=int, default=None, help="influencers per Ray shard (default 16384)")
    p.add_argument("--index-dir", type=Path, default=None,
                   help="also build the influencer index from these vectors and save it there "
                        "(`recommend --index-dir` then loads it)")
    p.add_argument("--index-kind", default="exact", help="exact, hnsw, ivf or projected (with --index-dir)")
    _add_projected(p)


def _run_embed(args: argparse.Namespace) -> int:
    import time as _time

    from brandmatch.data.store import load_dataset
    from brandmatch.features.engine import resolve_engine
    from brandmatch.models.base import load_model
    from brandmatch.serving.batch import (SHARD_INFLUENCERS, account_vectors, embed_influencers,
                                          project_influencers, write_vectors)
    from brandmatch.serving.index import KINDS, InnerProductIndex
    from brandmatch.serving.projected_index import KIND as PROJECTED, ProjectedIndex

    engine = resolve_engine(args.engine)
    shard = SHARD_INFLUENCERS if args.shard_size is None else args.shard_size
    if shard < 1:
        raise BrandmatchError(f"--shard-size must be an integer >= 1, got {args.shard_size}")
    if args.index_dir is not None and args.index_kind not in (*KINDS, PROJECTED):
        raise BrandmatchError(f"--index-kind {args.index_kind!r}: allowed values: {', '.join((*KINDS, PROJECTED))}")
    projected = args.index_kind == PROJECTED
    params = _projected_params(args)
    if projected and args.index_dir is None:
        raise BrandmatchError("--index-kind projected needs --index-dir (it builds an index, not a vectors file)")
    if projected and args.out is not None:
        raise BrandmatchError("--out: --index-kind projected keeps no full vectors (that is its point); omit --out")
    if not projected and args.out is None:
        raise BrandmatchError("--out is required (the Parquet file of every influencer's vector)")
    ds = load_dataset(args.data, tables=("accounts",))  # embedding reads the features and who is an influencer
    model = load_model(args.model_dir, ds.features)
    acc = ds.accounts
    ids = acc.loc[acc["role"] == "influencer", "account_id"].astype(str).tolist()
    t0 = _time.perf_counter()
    if projected:
        index = ProjectedIndex.build(
            ids, lambda rows: account_vectors(model, [ids[int(r)] for r in rows], "influencer"), params,
            project=lambda proj: project_influencers(model, ids, proj, engine, shard_size=shard))
        secs = _time.perf_counter() - t0
        index.save(args.index_dir)
        print(f"embedded {len(ids):,} influencers x {index.dim} on {engine} in {secs:.1f}s "
              f"({len(ids) / max(secs, 1e-9):,.0f}/s), projected to {index.reduced.shape[1]}; "
              f"projected index ({index.params.candidates} candidates, re-rank {index.params.rerank}) in {args.index_dir}")
        return 0
    vecs = embed_influencers(model, ids, engine, shard_size=shard)
    secs = _time.perf_counter() - t0
    write_vectors(args.out, ids, vecs)
    print(f"embedded {len(ids):,} influencers x {vecs.shape[1]} on {engine} in {secs:.1f}s "
          f"({len(ids) / max(secs, 1e-9):,.0f}/s); vectors in {args.out}")
    if args.index_dir is not None:
        InnerProductIndex(ids, vecs, args.index_kind).save(args.index_dir)
        print(f"{args.index_kind} index in {args.index_dir}")
    return 0


# ---------------------------------------------------------------- serve


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="the REST API (/api, docs at /api/docs) and the web app, one process")
    p.add_argument("--model-dir", type=Path, required=True, help="a model saved by `brandmatch train`")
    p.add_argument("--data", type=Path, required=True, help="the dataset directory the model was trained on")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    _add_index_kind(p)


def _run_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from brandmatch.serving.api import TOKEN_ENV, create_app
        from brandmatch.serving.server import uvicorn_config
    except ImportError as exc:
        raise BrandmatchError(f"serve needs the 'serve' extra: pip install 'brandmatch[serve]' ({exc})") from None
    from brandmatch.serving.recommend import Recommender

    if not 1 <= args.port <= 65535:
        raise BrandmatchError(f"--port must be between 1 and 65535, got {args.port}")
    import signal
    import socket
    import threading

    try:  # fail fast, before loading the model, when the address is taken or not ours
        with socket.create_server((args.host, args.port)):
            pass
    except OSError as exc:
        raise BrandmatchError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None

    def load() -> Recommender:  # also what a reload (POST /api/admin/reload or SIGHUP) reads again
        return Recommender.from_dirs(args.model_dir, args.data, **_index_options(args))

    rec = load()
    rec.index  # build the influencer index before the first request
    app = create_app(rec, loader=load)
    token = bool(os.environ.get(TOKEN_ENV))
    if not token and args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {args.host} without a token: set {TOKEN_ENV} to require one", file=sys.stderr)
    print(f"brandmatch serve: {rec.model.name} on {rec.dataset.name} at http://{args.host}:{args.port}/ "
          f"(API docs: /api/docs{'; bearer token required' if token else ''})", file=sys.stderr)
    if hasattr(signal, "SIGHUP"):  # reload in a thread: requests keep being served meanwhile
        def reload_in_background() -> None:
            try:
                print(f"brandmatch serve: reloaded {app.state.reload()}", file=sys.stderr, flush=True)
            except Exception as exc:  # the old model keeps serving
                print(f"brandmatch serve: reload failed: {getattr(exc, 'message', exc)}", file=sys.stderr, flush=True)

        signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=reload_in_background, daemon=True).start())
    # slow clients: a deadline for request heads, 16 KiB heads, keep-alive 5 s (brandmatch.serving.server)
    uvicorn.Server(uvicorn_config(app, args.host, args.port)).run()
    return 0

COMMANDS: dict[str, tuple[Callable[[argparse._SubParsersAction], None], Callable[[argparse.Namespace], int]]] = {
    "import": (_add_import, _run_import),
    "import-mir": (_add_import_mir, _run_import_mir),
    "info": (_add_info, _run_info),
    "models": (_add_models, _run_models),
    "evaluate": (_add_evaluate, _run_evaluate),
    "report": (_add_report, _run_report),
    "demo": (_add_demo, _run_demo),
    "generate": (_add_generate, _run_generate),
    "featurize": (_add_featurize, _run_featurize),
    "train": (_add_train, _run_train),
    "results": (_add_results, _run_results),
    "benchmark": (_add_benchmark, _run_benchmark),
    "recommend": (_add_recommend, _run_recommend),
    "similar": (_add_similar, _run_similar),
    "embed": (_add_embed, _run_embed),
    "serve": (_add_serve, _run_serve),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brandmatch",
        description="Find the right micro-influencers for a brand (MORNING, MIR and baselines).",
    )
    parser.add_argument("--version", action="version", version=f"brandmatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add, _ in COMMANDS.values():
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command][1](args)
    except BrandmatchError as exc:
        print(f"brandmatch {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"brandmatch {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`brandmatch ... | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141


if __name__ == "__main__":
    sys.exit(main())
