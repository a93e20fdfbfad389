"""Training-free study of the hubness correction on the public data (issue 12; numbers in docs/morning.md).

    python benchmarks/real_hubness.py --data data/mir-public [--splits 5] [--out benchmarks/results/real_hubness.json]

For the official split and ``--splits`` derived brand-disjoint splits (the benchmark's
:func:`~brandmatch.evaluation.benchmark.derived_split`), scores the validation and the test grid with

- COSINE (every view; the benchmark's reference),
- HELLINGER: COSINE with the square root of the content_text topic shares,
- HELLINGER - alpha * r_k(m): the CSLS correction of :mod:`brandmatch.models.terms.hubness`, r_k(m)
  the mean HELLINGER similarity of influencer m to its k nearest training brands,
  for k in (10, 30) and alpha in (0.25, 0.5, 1.0),

through the models themselves (``cosine``; ``morning`` with the fixed cosine and hubness terms, no
training), and prints AUC / cAUC / MAP per grid. A study, not a selection: the default recipe picks
its hubness strength on the validation grid alone (training/selection.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from brandmatch.atomic import write_json_atomic
from brandmatch.data.store import load_dataset
from brandmatch.evaluation.benchmark import derived_split
from brandmatch.evaluation.runner import evaluate_model, fit_model
from brandmatch.models.base import create
from brandmatch.training.workflow import account_info

KS = (10, 30)
ALPHAS = (0.25, 0.5, 1.0)
METRICS = ("AUC", "cAUC", "MAP")


def variants() -> dict[str, tuple[str, dict]]:
    """name -> (model, params) of every scorer of the study (none of them trains)."""
    fixed = {"select": False, "cosine.weights": "fixed", "cosine.sqrt": ["content_text"]}
    out = {"COSINE": ("cosine", {}), "HELLINGER": ("morning", {**fixed, "terms": ["cosine"]})}
    for k in KS:
        for a in ALPHAS:
            out[f"HELLINGER-hub k{k} a{a}"] = ("morning", {
                **fixed, "terms": ["cosine", "hubness"], "hubness.k": k, "hubness.alpha": a,
                "hubness.sqrt": ["content_text"]})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/real_hubness.json"))
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    ds0 = load_dataset(args.data)
    rows = []
    for split in range(args.splits + 1):
        ds = ds0 if split == 0 else derived_split(ds0, split)
        for name, (model_name, params) in variants().items():
            model = create(model_name, **params)
            if model_name == "morning":  # terms built from the training data; no gradient step
                train, info = ds.cooperations("train"), account_info(ds)
                model.prepare(train, ds.features, info, train.brands,
                              list(dict.fromkeys([*train.influencers, *info.influencers])))
            else:
                fit_model(model, ds, None)
            row = {"split": split, "method": name}
            for grid in ("validation", "test"):
                m = evaluate_model(model, ds, grid, n_bootstrap=0).metrics
                row[grid] = {k: m[k] for k in METRICS}
            rows.append(row)
            print(f"split {split} {name:<26} " + "  ".join(
                f"{g[:5]} " + "/".join(f"{row[g][k]:.3f}" for k in METRICS) for g in ("validation", "test")),
                flush=True)
    write_json_atomic(args.out, {"description": "training-free hubness study on the public data "
                                                "(benchmarks/real_hubness.py)", "metrics": list(METRICS),
                                 "results": rows})
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
