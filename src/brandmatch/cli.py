"""`brandmatch <command>`: the command-line front end.

Every command is a pair ``_add_<name>(subparsers)`` / ``_run_<name>(args) -> int`` registered in
:data:`COMMANDS`. Bad input raises a :class:`BrandmatchError`; :func:`main` prints its one-line
message and exits with code 2, leaving no partial output (writers are atomic).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

from brandmatch import __version__
from brandmatch.errors import BrandmatchError

DEFAULT_SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"


def shared_dir() -> Path:
    """The shared folder beside the repository (override with BRANDMATCH_SHARED)."""
    return Path(os.environ.get("BRANDMATCH_SHARED", DEFAULT_SHARED)).resolve()


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON to a temp file in the same directory, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2, sort_keys=False, allow_nan=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    from brandmatch.data.user_import import import_tables

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
    p = sub.add_parser("info", help="tables, feature views, splits and grids of a dataset")
    p.add_argument("data", type=Path)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


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

    s = load_dataset(args.data).summary()
    if args.json:
        print(json.dumps(s, indent=2, default=str))
    else:
        _print_summary(s)
    return 0


# ---------------------------------------------------------------- models


def _add_models(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("models", help="list the registered models")


def _run_models(args: argparse.Namespace) -> int:
    from brandmatch.models import MODELS

    for name in sorted(MODELS):
        print(f"{name:<12} {MODELS[name].summary}")
    return 0


# ---------------------------------------------------------------- evaluate


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="fit (or load) a model and evaluate it on a candidate grid")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="registered model name (see `brandmatch models`)")
    src.add_argument("--model-dir", type=Path, help="a trained model directory (config.json + weights)")
    p.add_argument("--data", type=Path, required=True, help="dataset directory")
    p.add_argument("--grid", default="test", help="candidate grid to rank (default: test)")
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
        model = load_model(args.model_dir, ds.features)
        ev = evaluate_model(model, ds, args.grid, n_bootstrap=args.bootstrap, seed=args.seed)
        result = ModelResult(ds.name, model.name, ev, params=model.get_params())
    else:
        result = run_model(args.model, ds, args.grid, params=_parse_params(args.param),
                           n_bootstrap=args.bootstrap, seed=args.seed)
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


# ---------------------------------------------------------------- demo


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the main job: build the default data, evaluate the models, print tables")
    p.add_argument("--data", choices=["mir"], default="mir",
                   help="mir: the real public release in ../shared (default)")
    p.add_argument("--workdir", type=Path, default=Path("data"), help="where datasets are built")
    p.add_argument("--out", type=Path, default=Path("reports"), help="report directory")


def _run_demo(args: argparse.Namespace) -> int:
    from brandmatch.data.mir_public import import_mir_to
    from brandmatch.data.store import load_dataset
    from brandmatch.evaluation.report import run_report

    target = args.workdir / "mir-public"
    if (target / "manifest.json").exists():
        ds = load_dataset(target)
        print(f"using {target} (delete it to re-import)", file=sys.stderr)
    else:
        ds = import_mir_to(shared_dir() / "datasets" / "mir-public", target, overwrite=True)
    text, written = run_report(ds, ["rand", "miv", "cosine"], args.out, grid="test")
    print(text)
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


COMMANDS: dict[str, tuple[Callable[[argparse._SubParsersAction], None], Callable[[argparse.Namespace], int]]] = {
    "import": (_add_import, _run_import),
    "import-mir": (_add_import_mir, _run_import_mir),
    "info": (_add_info, _run_info),
    "models": (_add_models, _run_models),
    "evaluate": (_add_evaluate, _run_evaluate),
    "report": (_add_report, _run_report),
    "demo": (_add_demo, _run_demo),
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


if __name__ == "__main__":
    sys.exit(main())
