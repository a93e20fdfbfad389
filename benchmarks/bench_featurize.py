"""Benchmark `brandmatch featurize`: per-stage wall time, LDA captions/s, classifier images/s,
MiniLM sentences/s and peak memory.

    .venv/bin/python benchmarks/bench_featurize.py DATA [--out DIR] [--json FILE] [--images 64]
        [--minilm 2000] [--with w2v,effnet]

DATA is a dataset directory (e.g. one made by `brandmatch generate --preset paper`). Features go
to a fresh temporary directory unless --out is given (the dataset is never modified); every stage
is computed (force). Not a test: run it by hand and record the numbers in docs/features.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def peak_rss_mib() -> dict:
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"self": round(self_kb / 1024, 1), "children": round(child_kb / 1024, 1)}


def bench_classifier(n_images: int) -> dict:
    import numpy as np
    from sklearn.datasets import load_sample_images

    from brandmatch.features.visual import EfficientNetLite0

    imgs = load_sample_images().images
    batch = [imgs[i % len(imgs)] for i in range(n_images)]
    model = EfficientNetLite0(batch_size=32)
    model.predict(batch[:2])  # warm-up
    t0 = time.perf_counter()
    probs, _ = model.predict(batch)
    dt = time.perf_counter() - t0
    assert probs.shape == (n_images, 1000) and np.isfinite(probs).all()
    return {"images": n_images, "seconds": round(dt, 2), "images_per_second": round(n_images / dt, 2)}


def bench_minilm(captions: list[str]) -> dict:
    from brandmatch.features.text_embed import MiniLMEncoder

    enc = MiniLMEncoder()
    enc.encode(captions[:16])
    _, rate = enc.encode(captions)
    return {"sentences": len(captions), "sentences_per_second": round(rate, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", type=Path)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--with", dest="with_", default="w2v,effnet")
    p.add_argument("--images", type=int, default=64, help="images for the classifier benchmark (0: skip)")
    p.add_argument("--minilm", type=int, default=2000, help="captions for the MiniLM benchmark (0: skip)")
    args = p.parse_args(argv)

    from brandmatch.data.store import load_dataset
    from brandmatch.features.pipeline import FeaturizeOptions, featurize
    from brandmatch.features.store import FeatureSet

    ds = load_dataset(args.data)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-features-"))
    opts = FeaturizeOptions(with_=tuple(w for w in args.with_.split(",") if w), force=True, progress=False)
    t0 = time.perf_counter()
    reports = featurize(ds, out, opts, log=lambda line: print(line, file=sys.stderr))
    total = time.perf_counter() - t0
    fs = FeatureSet.load(out)
    result: dict = {
        "dataset": str(args.data),
        "tables": {k: int(len(v)) for k, v in ds.tables.items()},
        "cpus": os.cpu_count(),
        "featurize_seconds": round(total, 1),
        "stages": {r.stage: {"status": r.status, "seconds": r.seconds, "note": r.note} for r in reports},
    }
    for view in ("content_text", "audience_text"):
        if view in fs:
            m = fs[view].meta
            n = m.get("captions", 0)
            result[view] = {
                "num_topics": m.get("num_topics"), "captions": n, "vocabulary": m.get("vocabulary"),
                "selection_seconds": m.get("selection_seconds"), "train_seconds": m.get("train_seconds"),
                "infer_seconds": m.get("infer_seconds"),
                "train_captions_per_second": round(n / m["train_seconds"], 1) if m.get("train_seconds") else None,
                "infer_captions_per_second": round(n / m["infer_seconds"], 1) if m.get("infer_seconds") else None,
                "selection_curve": m.get("selection_curve"),
            }
    if "attributes" in fs:
        m = fs["attributes"].meta
        result["attributes"] = {k: m.get(k) for k in ("n_keywords", "n_attributes", "n_edges", "training_cooperations")}
    result["peak_rss_mib_featurize"] = peak_rss_mib()
    if args.images:
        result["classifier"] = bench_classifier(args.images)
    if args.minilm:
        caps = ds.tables.posts["caption"].dropna().astype(str).tolist()[: args.minilm]
        if caps:
            result["minilm"] = bench_minilm(caps)
    result["peak_rss_mib_total"] = peak_rss_mib()
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
