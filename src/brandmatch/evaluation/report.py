"""Markdown and JSON reports of model results (Table III / Table V style)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from brandmatch.atomic import strict_json, write_text_atomic
from brandmatch.data.store import Dataset
from brandmatch.evaluation.metrics import METRICS
from brandmatch.evaluation.protocol import format_metrics_table
from brandmatch.evaluation.runner import ModelResult, run_model

#: Display names of the papers' tables.
DISPLAY = {"rand": "RAND", "miv": "MIV", "cosine": "COSINE", "oracle": "ORACLE", "morning": "MORNING",
           "mir": "MIR", "hptr": "HPTR", "catr": "CATR", "camera": "CAMERA",
           "tuned-cosine": "TUNED-COSINE", "knn": "KNN", "lambdarank": "LAMBDARANK"}


def display_name(model: str) -> str:
    return DISPLAY.get(model, model)


def result_json(result: ModelResult) -> dict:
    """The `evaluate --json` document: dataset, model, metrics, ci95, per_category (+ counts)."""
    return result.to_json_dict()


def format_results(results: Sequence[ModelResult], title: str | None = None) -> str:
    """One markdown table, a row per model (n/a rows name why underneath), plus 95% CIs."""
    rows: dict[str, dict[str, float | None]] = {}
    notes = []
    for r in results:
        name = display_name(r.model)
        if r.evaluation is None:
            rows[name] = {}
            notes.append(f"- {name}: n/a ({r.unavailable})")
        else:
            rows[name] = r.evaluation.metrics
    text = format_metrics_table(rows, METRICS, title=title, row_header="Method")
    ci_rows = {
        display_name(r.model): {
            m: f"[{lo:.3f}, {hi:.3f}]" if m != "MedR" else f"[{lo:g}, {hi:g}]"
            for m, (lo, hi) in r.evaluation.ci95.items()
        }
        for r in results
        if r.evaluation is not None and r.evaluation.n_bootstrap > 0
    }
    if ci_rows:
        text += "\n95% bootstrap confidence intervals over brands:\n\n"
        header = "| Method | " + " | ".join(METRICS) + " |"
        text += header + "\n|" + "---|" * (len(METRICS) + 1) + "\n"
        for name, cis in ci_rows.items():
            text += f"| {name} | " + " | ".join(cis.get(m, "n/a") for m in METRICS) + " |\n"
    if notes:
        text += "\n" + "\n".join(notes) + "\n"
    warned = [(display_name(r.model), w) for r in results if r.evaluation is not None for w in r.evaluation.warnings]
    if warned:
        text += "\nWarnings:\n" + "".join(
            f"- {name}: {w}\n" if len(results) > 1 else f"- {w}\n" for name, w in warned)
    return text


def format_per_category(result: ModelResult) -> str:
    """Table V: one row per brand category, then 'all'."""
    assert result.evaluation is not None
    return format_metrics_table(
        result.evaluation.per_category, METRICS,
        title=f"{display_name(result.model)} per brand category", row_header="Category",
    )


def write_report(results: Sequence[ModelResult], out: Path, dataset: Dataset, grid: str) -> tuple[str, list[Path]]:
    """Write ``out/<dataset>/results.md`` and ``results.json``; return the markdown and the paths."""
    g = dataset.grid(grid)
    title = (f"{dataset.name}: {len(g.brand_ids)} test brands x {len(g.influencer_ids)} candidates, "
             f"{g.n_positives} positives (grid {grid!r})")
    text = format_results(results, title=title)
    for r in results:
        if r.evaluation is not None and r.model not in ("rand",):
            text += "\n" + format_per_category(r)
    target = out / dataset.name
    md, js = target / "results.md", target / "results.json"
    write_text_atomic(md, text)
    doc = {"dataset": dataset.name, "grid": grid, "results": [result_json(r) for r in results]}
    write_text_atomic(js, strict_json(doc, indent=2) + "\n")
    return text, [md, js]


def run_report(
    dataset: Dataset,
    models: Sequence[str],
    out: Path,
    *,
    grid: str = "test",
    n_bootstrap: int = 1000,
    progress: bool = True,
) -> tuple[str, list[Path]]:
    """Fit and evaluate each model on ``dataset`` and write the report."""
    from tqdm import tqdm

    results = []
    for name in tqdm(list(models), desc="models", unit="model", disable=not progress):
        results.append(run_model(name, dataset, grid, n_bootstrap=n_bootstrap))
    return write_report(results, out, dataset, grid)
