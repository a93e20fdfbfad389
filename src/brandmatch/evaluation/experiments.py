"""The results document, docs/results.md, assembled from the benchmark's JSON files.

``brandmatch results [--from reports] [--out docs/results.md]``

``brandmatch benchmark --data DIR ...`` (:mod:`brandmatch.evaluation.benchmark`) trains and
evaluates every method on one dataset and writes ``<out>/<dataset>/benchmark.json``; it is run once
per dataset (the real public data, the synthetic paper world), each run resumable through its
per-run cache. This module reads those JSON files and writes one markdown page: per dataset the
main table (mean and 95% interval over seeds on the official split, the paper's published numbers
beside ours on the real data, Holm-corrected p-values against COSINE), the table over repeated
brand-disjoint splits with its pooled p-values, the MORNING view ablations, and a reading
generated from the numbers (which methods are significantly better or worse than COSINE, which
method validation picks, how MIR's K compares). On the synthetic world, where the generator knows
the truth, a method the paper found strong that ranks below COSINE gets a fixed paragraph on why,
from how the world is generated (docs/synthetic-world.md). No measured number is typed into this
file: every figure comes from the JSON.

Also kept here for the benchmark: the paper's published rows (:data:`PAPER_ROWS`,
:data:`PAPER_METHODS`), MORNING's view ablations (:data:`ABLATIONS`) and :func:`mean_ci`.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from brandmatch.atomic import write_text_atomic
from brandmatch.errors import BrandmatchError

METRIC_COLUMNS = ("AUC", "cAUC", "R@10", "R@50", "MRR", "MAP", "MedR")

#: The MORNING paper's Table III / IV rows (TMM 2022), for reference beside ours.
PAPER_ROWS: dict[str, dict[str, float]] = {
    "MOR. (paper, full data)": {"AUC": 0.884, "cAUC": 0.727, "R@10": 0.213, "R@50": 0.551, "MRR": 0.565,
                                "MAP": 0.238, "MedR": 2},
    "MOR. c-only (paper)": {"AUC": 0.861, "cAUC": 0.699, "R@10": 0.158, "R@50": 0.472, "MRR": 0.391,
                            "MAP": 0.173, "MedR": 3},
    "MOR. att-only (paper)": {"AUC": 0.805, "cAUC": 0.682, "R@10": 0.164, "R@50": 0.410, "MRR": 0.364,
                              "MAP": 0.156, "MedR": 4},
    "MOR. c+att (paper)": {"AUC": 0.882, "cAUC": 0.715, "R@10": 0.205, "R@50": 0.540, "MRR": 0.559,
                           "MAP": 0.234, "MedR": 2},
}

_NA = math.nan
#: Published numbers per method of the benchmark (method key or model name -> (source, row)); MRR / MAP
#: nan where the source does not report them (baselines-spec sec. 9: MORNING Table III, MIR Table 1)
PAPER_METHODS: dict[str, tuple[str, dict[str, float]]] = {
    "rand": ("MORNING T.III", {"AUC": 0.494, "cAUC": 0.489, "R@10": 0.005, "R@50": 0.054, "MRR": 0.038,
                               "MAP": 0.019, "MedR": 54}),
    "miv": ("MORNING T.III", {"AUC": 0.499, "cAUC": 0.498, "R@10": 0.019, "R@50": 0.079, "MRR": 0.057,
                              "MAP": 0.027, "MedR": 49}),
    "mir:k2": ("MIR T.1", {"AUC": 0.841, "cAUC": 0.672, "R@10": 0.103, "R@50": 0.390, "MRR": _NA, "MAP": _NA,
                           "MedR": 9}),
    "mir:k3": ("MIR T.1", {"AUC": 0.845, "cAUC": 0.673, "R@10": 0.130, "R@50": 0.423, "MRR": _NA, "MAP": _NA,
                           "MedR": 6}),
    "mir:k4": ("MORNING T.III (= MIR T.1, K = 4)", {"AUC": 0.849, "cAUC": 0.675, "R@10": 0.135, "R@50": 0.428,
                                                    "MRR": 0.368, "MAP": 0.153, "MedR": 6}),
    "hptr": ("MORNING T.III", {"AUC": 0.804, "cAUC": 0.647, "R@10": 0.090, "R@50": 0.311, "MRR": 0.269,
                               "MAP": 0.101, "MedR": 7}),
    "catr": ("MORNING T.III", {"AUC": 0.781, "cAUC": 0.633, "R@10": 0.073, "R@50": 0.313, "MRR": 0.256,
                               "MAP": 0.099, "MedR": 8}),
    "camera": ("MORNING T.III", {"AUC": 0.811, "cAUC": 0.678, "R@10": 0.208, "R@50": 0.422, "MRR": 0.602,
                                 "MAP": 0.214, "MedR": 2}),
    "morning:paper": ("MORNING T.III", PAPER_ROWS["MOR. (paper, full data)"]),
}
#: MORNING Table IV rows beside our ablations (ablation label -> PAPER_ROWS name)
PAPER_ABLATION_ROWS = {"c-only": "MOR. c-only (paper)", "att-only": "MOR. att-only (paper)",
                       "c+att": "MOR. c+att (paper)", "full": "MOR. (paper, full data)"}

ABLATIONS = (("c-only", "c"), ("au-only", "au"), ("att-only", "att"), ("c+au", "c,au"), ("c+att", "c,att"),
             ("au+att", "au,att"), ("full", "c,au,att"))

#: significance level of the generated reading (Holm-adjusted p-values)
ALPHA = 0.05

#: Synthetic world: why a method the paper found strong can rank low here (from the generator,
#: docs/synthetic-world.md; printed only when the data show the method below COSINE). No numbers.
SYNTHETIC_WHY: dict[str, str] = {
    "mir": (
        "MIR fuses its modality towers by a Hadamard product, z = t_visual * t_text * t_attributes, so one "
        "modality whose tower output is noise scrambles the others' signal (a product, not a sum). On this world "
        "every account has the visual view: 1,365 object and scene class scores pooled from detections that "
        "include clutter drawn from the whole vocabulary (15% of the object slots, 20% of the scene slots: "
        "`object_clutter`, `scene_clutter`), off-topic posts and 30% of posts drawn from an account-level random "
        "theme mix (`content_observation_noise`); z-scored on the training "
        "accounts (our replacement for LRN), the rarely seen clutter classes become large inputs, and the visual "
        "towers learn from a few thousand pairs mostly that noise. On the public data influencers have no visual "
        "view, so there the product is text x attributes. A diagnostic run without the visual towers "
        "(`--param visual_views=[]`) ranks far above chance here (not in the tables). For K >= 3 the K-buckets "
        "labels add a second handicap: without brand posts mentioning influencers the competence label is the "
        "influencer's engagement rate (the spec's fallback), which the generator gives a tiny, "
        "brand-independent weight in the latent score that forms the cooperations."),
    "hptr": (
        "HPTR has MIR's representation, the Hadamard product of per-modality towers over the pooled content "
        "views and the attributes vector, with a triplet loss: the same visual view (1,365 pooled class scores "
        "with clutter and off-topic posts, z-scored, present for every account on this world but for brands only "
        "on the public data) multiplies the text and attribute towers' output, and it never sees the audience "
        "view, which the generator weights twice as much as content."),
    "catr": (
        "CATR ranks by the similarity of concept profiles built from what the posts show and say (visual "
        "classes, caption topics) and the attributes vector. The generator's cooperations are driven most by "
        "attribute-type compatibility (a brand type also likes three other influencer types, which no "
        "similarity of concept profiles expresses) and by audience overlap, which the concept representation "
        "does not see; the concept attention has to be learned from a few thousand pairs on top of that."),
    "camera": (
        "CAMERA is CATR's concept similarity multiplied by an endorsement score and an influence score. Here "
        "both are computed from label-free signals (content closeness times relative engagement, and the "
        "influencer's likes and comments per follower), and the generator gives engagement only a small, "
        "brand-independent weight in the latent score, so the multiplicative factors mostly add noise to a "
        "similarity that already misses the audience view and the attribute-type compatibility."),
    "morning:paper": (
        "The faithful MORNING recipe trains towers of 1,024 units on probability-vector inputs (1,365 visual "
        "class scores with entries around a thousandth, topic proportions) with every parameter initialised in "
        "U(-0.1, 0.1) and an L1 penalty whose gradient is as large as the ranking losses' (docs/morning.md): "
        "validation selection stops it in the first epochs, long before the towers recover the per-view "
        "similarities that the generator's latent score is a weighted sum of, and that COSINE reads directly."),
    "morning:code": (
        "The reference-code recipe has the paper recipe's towers, inputs and L1 (see MORNING paper); its "
        "pair-softmax loss does not change what the towers must first recover from probability-vector inputs "
        "to match the per-view cosine the generator's latent score is built from."),
}


class ResultsError(BrandmatchError):
    """No or unreadable benchmark JSON for the results document (exit code 2)."""


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% Student-t interval (0 for a single value)."""
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan")
    if len(v) == 1:
        return float(v[0]), 0.0
    from scipy import stats

    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean()), float(half)


# ---------------------------------------------------------------- reading the JSON


def find_benchmarks(sources: Sequence[str | os.PathLike]) -> list[Path]:
    """``benchmark.json`` files: each source is such a file, or a folder holding ``<dataset>/benchmark.json``."""
    found: list[Path] = []
    for src in sources:
        p = Path(src)
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            found += sorted(p.glob("*/benchmark.json"))
            if (p / "benchmark.json").is_file():
                found.append(p / "benchmark.json")
        else:
            raise ResultsError(f"{p}: no such file or folder")
    if not found:
        raise ResultsError("no benchmark.json found in " + ", ".join(str(s) for s in sources)
                           + " (run `brandmatch benchmark --data DIR` first)")
    return list(dict.fromkeys(found))


def load_benchmark(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: unreadable benchmark JSON ({exc})") from None
    for key in ("dataset", "methods", "official", "derived", "significance"):
        if key not in doc:
            raise ResultsError(f"{path}: not a benchmark.json (no {key!r} key)")
    doc["_path"] = str(path)
    return doc


# ---------------------------------------------------------------- formatting


def _num(metric: str, x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.1f}" if metric == "MedR" else f"{x:.3f}"


def _cell(metric: str, s: dict[str, Any] | None) -> str:
    if not s or s.get("mean") is None or math.isnan(s["mean"]):
        return "n/a"
    if s.get("lo") is None:
        return _num(metric, s["mean"])
    return f"{_num(metric, s['mean'])} [{_num(metric, s['lo'])}, {_num(metric, s['hi'])}]"


def _p(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("p_holm") is None or math.isnan(entry["p_holm"]):
        return "–"
    mark = "**" if entry["p_holm"] <= ALPHA else ""
    sign = "+" if entry.get("diff", 0) > 0 else "−"
    return f"{mark}{entry['p_holm']:.3g}{mark} ({sign})"


def _mean(row: dict[str, Any] | None, metric: str) -> float:
    if not row or not row.get("available"):
        return math.nan
    v = row["metrics"][metric]["mean"]
    return math.nan if v is None else float(v)


def paper_row(key: str, model: str) -> tuple[str, dict[str, float]] | None:
    """The published row for a method key (or its model), if any."""
    return PAPER_METHODS.get(key) or PAPER_METHODS.get(model)


def _keys(doc: dict[str, Any], table: str) -> list[str]:
    return [k for k, m in doc["methods"].items() if m["table"] == table]


def _table(doc: dict[str, Any], keys: list[str], where: str, paper: bool) -> str:
    """One row per method: cells, (paper AUC / MAP), Holm p vs COSINE on AP and AUC."""
    sig = (doc["significance"].get(where) or {}).get("vs_cosine") or {}
    rows = doc[where]
    head = ["method", "runs" if where == "official" else "splits", *METRIC_COLUMNS]
    if paper:
        head += ["paper AUC", "paper MAP", "paper source"]
    head += ["Holm p AP vs COSINE", "Holm p AUC vs COSINE"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for k in keys:
        s = rows.get(k) or {}
        m = doc["methods"][k]
        if s.get("available"):
            cells = [_cell(c, s["metrics"][c]) for c in METRIC_COLUMNS]
            n = str(s.get("runs", s.get("splits", "")))
        else:
            cells, n = ["n/a"] * len(METRIC_COLUMNS), "0"
        extra = []
        if paper:
            pr = paper_row(k, m["model"])
            extra = ([_num("AUC", pr[1]["AUC"]), _num("MAP", pr[1]["MAP"]), pr[0]] if pr else ["–", "–", "–"])
        ps = [_p((sig.get(t) or {}).get(k)) for t in ("AP", "AUC")]
        lines.append("| " + " | ".join([m["label"], n, *cells, *extra, *ps]) + " |")
    return "\n".join(lines)


def _ablation_table(doc: dict[str, Any], keys: list[str], paper: bool) -> str:
    text = _table(doc, keys, "official", False)
    if paper:
        rows = ["| *" + name + "* | – | " + " | ".join(_num(c, PAPER_ROWS[name][c]) for c in METRIC_COLUMNS)
                + " | – | – |" for name in PAPER_ABLATION_ROWS.values()]
        text += "\n" + "\n".join(rows)
    return text


# ---------------------------------------------------------------- the generated reading


def _significant(doc: dict[str, Any], where: str, keys: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(better, worse, not distinguishable) than COSINE: Holm p <= ALPHA on AP or AUC, by the sign of the
    mean per-brand difference; a method better on one and worse on the other counts as both."""
    sig = (doc["significance"].get(where) or {}).get("vs_cosine") or {}
    ref = sig.get("reference")
    better, worse, same = [], [], []
    for k in keys:
        if k == ref:
            continue
        entries = [(sig.get(t) or {}).get(k) for t in ("AP", "AUC")]
        entries = [e for e in entries if e and e.get("p_holm") is not None and not math.isnan(e["p_holm"])]
        if not entries:
            continue
        up = [e for e in entries if e["p_holm"] <= ALPHA and e["diff"] > 0]
        down = [e for e in entries if e["p_holm"] <= ALPHA and e["diff"] < 0]
        if up:
            better.append(k)
        if down:
            worse.append(k)
        if not up and not down:
            same.append(k)
    return better, worse, same


def _names(doc: dict[str, Any], keys: list[str]) -> str:
    return ", ".join(doc["methods"][k]["label"] for k in keys) if keys else "none"


def reading(doc: dict[str, Any]) -> list[str]:
    """Bullet points generated from one benchmark document."""
    main = _keys(doc, "main")
    off = doc["official"]
    label = lambda k: doc["methods"][k]["label"]  # noqa: E731
    out: list[str] = []
    ref = next((k for k in main if doc["methods"][k]["model"] == "cosine"), None)
    if ref is None or not (off.get(ref) or {}).get("available"):
        return ["- COSINE did not run: no comparison against it."]
    n_brands = len((doc.get("per_brand") or {}).get("brands") or [])
    better, worse, same = _significant(doc, "official", main)
    out.append(f"- Official split ({n_brands} test brands), Holm-adjusted p <= {ALPHA} on per-brand AP or AUC: "
               f"significantly better than COSINE: {_names(doc, better)}; significantly worse: "
               f"{_names(doc, worse)}; not distinguishable from COSINE: {_names(doc, same)}.")
    if doc.get("splits"):
        b2, w2, s2 = _significant(doc, "derived", main)
        out.append(f"- Pooled over the {doc['splits']} derived brand-disjoint splits: better than COSINE: "
                   f"{_names(doc, b2)}; worse: {_names(doc, w2)}; not distinguishable: {_names(doc, s2)}.")
        tested = set(b2) | set(w2) | set(s2)  # methods run on the derived splits
        flips = [k for k in main if k in tested and ((k in better) != (k in b2) or (k in worse) != (k in w2))]
        untested = [k for k in main if k not in tested and k != ref and (off.get(k) or {}).get("available")]
        if untested:
            out.append(f"- Not run on the derived splits (CPU budget): {_names(doc, untested)}.")
        if flips:
            out.append(f"- The verdict against COSINE changes between the official split and the derived splits "
                       f"for: {_names(doc, flips)} (one split of 74 brands is a small sample).")
    vmaps = {k: off[k]["valid"]["MAP"]["mean"] for k in main
             if (off.get(k) or {}).get("available") and doc["methods"][k]["model"] != "oracle"
             and (off[k].get("valid") or {}).get("MAP", {}).get("mean") is not None}
    vmaps = {k: v for k, v in vmaps.items() if not math.isnan(v)}
    best = max(vmaps, key=lambda k: vmaps[k]) if vmaps else None  # the oracle knows the truth: not a choice
    if best:
        vmap = off[best]["valid"]["MAP"]["mean"]
        out.append(f"- Validation picks {label(best)} (highest mean validation MAP, {_num('MAP', vmap)}); on the "
                   f"test grid it has AUC {_num('AUC', _mean(off[best], 'AUC'))} and MAP "
                   f"{_num('MAP', _mean(off[best], 'MAP'))}, against COSINE's {_num('AUC', _mean(off[ref], 'AUC'))} "
                   f"and {_num('MAP', _mean(off[ref], 'MAP'))}.")
    ranked = sorted((k for k in main if not math.isnan(_mean(off.get(k), "MAP"))
                     and doc["methods"][k]["model"] != "oracle"), key=lambda k: -_mean(off[k], "MAP"))
    if ranked:
        out.append("- By mean test MAP on the official split (not a selection: the test grid picks nothing): "
                   + " > ".join(f"{label(k)} {_num('MAP', _mean(off[k], 'MAP'))}" for k in ranked) + ".")
    oracle = next((k for k in main if doc["methods"][k]["model"] == "oracle" and (off.get(k) or {}).get("available")),
                  None)
    if oracle:
        out.append(f"- {label(oracle)} (the generator's own latent score, an upper bound rather than a method): AUC "
                   f"{_num('AUC', _mean(off[oracle], 'AUC'))}, MAP {_num('MAP', _mean(off[oracle], 'MAP'))}.")
    mirs = [k for k in main if doc["methods"][k]["model"] == "mir" and (off.get(k) or {}).get("available")]
    if len(mirs) > 1:
        order = sorted(mirs, key=lambda k: -_mean(off[k], "MAP"))
        spread = max(_mean(off[k], "MAP") for k in mirs) - min(_mean(off[k], "MAP") for k in mirs)
        out.append("- MIR over K, by mean test MAP: " + ", ".join(
            f"{label(k)} AUC {_num('AUC', _mean(off[k], 'AUC'))} / MAP {_num('MAP', _mean(off[k], 'MAP'))}"
            for k in order) + f" (the MAP means span {_num('MAP', spread)}; the paper: K = 4 best).")
    if doc.get("paper_rows"):
        gaps = []
        for k in main:
            pr = paper_row(k, doc["methods"][k]["model"])
            if pr and (off.get(k) or {}).get("available"):
                gaps.append(f"{label(k)} {_mean(off[k], 'AUC') - pr[1]['AUC']:+.3f}")
        if gaps:
            out.append("- Ours minus the paper's AUC (the same official test grid; our features, CPU recipes and "
                       "validation-based selection differ from the paper's: see the notes): " + ", ".join(gaps) + ".")
    na = [k for k in main if not (off.get(k) or {}).get("available")]
    if na:
        out.append("- Not available on this data: " + "; ".join(f"{label(k)} ({_short(off[k].get('reason'))})"
                                                               for k in na if off.get(k)) + ".")
    return out


def _short(reason: Any, limit: int = 160) -> str:
    text = str(reason)
    return text if len(text) <= limit else text[:limit].rstrip() + " ..."


def synthetic_why(doc: dict[str, Any]) -> list[str]:
    """One fixed paragraph per method the paper found strong that ranks below COSINE here (test MAP mean);
    the rows of one model (MIR's K) share their paragraph."""
    main = _keys(doc, "main")
    off = doc["official"]
    ref = next((k for k in main if doc["methods"][k]["model"] == "cosine"), None)
    if ref is None:
        return []
    cos = _mean(off.get(ref), "MAP")
    groups: dict[str, list[str]] = {}
    for k in main:
        which = k if k in SYNTHETIC_WHY else doc["methods"][k]["model"]
        v = _mean(off.get(k), "MAP")
        if which in SYNTHETIC_WHY and not math.isnan(v) and not math.isnan(cos) and v < cos:
            groups.setdefault(which, []).append(k)
    return [f"- **{', '.join(doc['methods'][k]['label'] for k in keys)}** (test MAP "
            f"{', '.join(_num('MAP', _mean(off[k], 'MAP')) for k in keys)}; COSINE {_num('MAP', cos)}): "
            f"{SYNTHETIC_WHY[which]}" for which, keys in groups.items()]


# ---------------------------------------------------------------- the page


HEADER = """# Results

Generated by `{command}` from the benchmark JSON files listed below; do not edit by hand. Each dataset's
numbers come from one `brandmatch benchmark` run (src/brandmatch/evaluation/benchmark.py): every method
fits on the training brands (validation brands, carved from them, for model selection and early
stopping) and only scores the test grid. Cells: mean [95% Student-t interval] over seeds on the official
split, over splits (each split's mean over seeds) on the derived brand-disjoint splits; no interval with
one run. p-values: paired sign-flip randomization test over test brands of per-brand AP / AUC against
COSINE, Holm-corrected within each table; **bold** = p <= {alpha}, (+) / (−) the sign of the mean
difference. On the derived splits the test pools the (split, brand) units. Per-category tables,
p-values against the best method and plots: `reports/<dataset>/benchmark.md` and PNGs, written next to
the JSON by the benchmark (reports/ is not committed; re-run the commands to get them).
"""

REAL_NOTES = """Notes on the comparison with the paper: the public release has content text (LDA topics) and
attributes (node2vec) for every account, content visual for brands only and no audience view, so every
method runs on less than the paper's data; the paper's numbers were selected on the test list (its
scripts evaluated on the test set), ours on validation brands. MIR rows: K-buckets lists labelled by MIR's
own competence scores (training brands only). CAMERA's endorsement inputs are computed from label-free
signals (the authors' likely leak the test labels; src/brandmatch/models/camera.py)."""


def dataset_section(doc: dict[str, Any]) -> str:
    from brandmatch.evaluation.benchmark import _seed_note

    real = bool(doc.get("paper_rows"))
    main, abl = _keys(doc, "main"), _keys(doc, "ablation")
    kind = "real public data" if real else "synthetic world"
    parts = [f"## {doc['dataset']} ({kind})", "",
             f"Source: `{doc['_path']}`, written by `{doc['command']}`. Official test grid: "
             f"{doc['grids']['official']}. Derived splits: {doc['splits']}"
             + (f" ({doc['grids'].get('derived')})" if doc.get("splits") else "") + ".", "",
             *_seed_note(doc),
             "### All methods, official split" + (", with the paper's published numbers" if real else ""), "",
             _table(doc, main, "official", real), ""]
    if real:
        parts += [REAL_NOTES, ""]
    if doc.get("splits"):
        parts += [f"### All methods over {doc['splits']} repeated brand-disjoint splits", "",
                  _table(doc, main, "derived", False), ""]
    if abl:
        parts += ["### MORNING view ablations (Table IV analogue), official split", "",
                  _ablation_table(doc, abl, real), ""]
        if doc.get("splits"):
            parts += [f"Over the {doc['splits']} derived splits:", "", _table(doc, abl, "derived", False), ""]
    parts += ["### Reading (generated from the numbers above)", "", *reading(doc), ""]
    if not real:
        why = synthetic_why(doc)
        if why:
            parts += ["### Why methods the papers found strong rank below COSINE on this world", "",
                      "The world's cooperations come from a latent score, a weighted sum of content affinity, "
                      "audience overlap (twice content's weight), attribute-type compatibility (four times "
                      "content's weight; a type also likes three other types) and a small engagement term, then a "
                      "competitive matching (docs/synthetic-world.md). COSINE reads per-view similarities, the "
                      "very terms of that sum, without training.", "", *why, ""]
    return "\n".join(parts)


def results_markdown(docs: Sequence[dict[str, Any]], command: str = "brandmatch results") -> str:
    ordered = sorted(docs, key=lambda d: (not d.get("paper_rows"), d["dataset"]))
    parts = [HEADER.format(command=command, alpha=ALPHA), "Benchmarks: "
             + ", ".join(f"`{d['_path']}` ({d['dataset']})" for d in ordered) + ".", ""]
    parts += [dataset_section(d) for d in ordered]
    return "\n".join(parts).rstrip("\n") + "\n"


def write_results(sources: Sequence[str | os.PathLike], out: str | os.PathLike,
                  command: str = "brandmatch results") -> str:
    """Read the benchmark JSON files (files or report folders), write the markdown to ``out``, return it."""
    docs = [load_benchmark(p) for p in find_benchmarks(sources)]
    text = results_markdown(docs, command)
    write_text_atomic(out, text)
    return text


__all__ = ["PAPER_ROWS", "PAPER_METHODS", "ABLATIONS", "mean_ci", "find_benchmarks", "load_benchmark",
           "results_markdown", "write_results", "reading", "synthetic_why", "ResultsError"]
