"""The million-influencer run (`make scale`): every step of brandmatch at scale, timed and measured.

    python benchmarks/scale.py [--influencers 1000000] [--posts 10] [--out build/scale]
                               [--audience-size 25] [--audience-posts 2] [--topics 20] [--fit-accounts 20000]
                               [--train-brands 60] [--train-pairs 20000] [--epochs 5] [--valid-candidates 20000]
                               [--queries 50]
                               [--index-kind auto|exact|ivf|hnsw|projected] [--engine ray] [--embed-engine local]
                               [--results benchmarks/results/scale.json] [--stages generate,...]

Stages, each a fresh child process (so its memory is its own):

1. ``generate``  -- ``brandmatch generate --preset paper`` with audiences, streamed to OUT/data;
2. ``featurize`` -- ``brandmatch featurize --engine ray --fit-accounts N`` (fitting on the driver over
   N accounts of randomly chosen account blocks, transforms on Ray workers that read their blocks
   from the dataset's files: the driver never loads posts, audiences or detections; no optional
   stages: the default recipe reads the five standard views);
3. ``train``     -- the default recipe (``morning``, recipe ``plus``) on a sample of the training
   brands (``--train-brands``) and of their cooperations (``--train-pairs``), selecting on the validation grid with its candidates sampled
   (``--valid-candidates``: a seeded uniform sample of the candidates), saved to OUT/model;
4. ``embed``     -- ``brandmatch embed --index-dir``: every influencer's vector and the influencer
   index (``--index-kind auto``: ``projected`` from 200,000 influencers, where the full vectors do
   not fit in memory: projected to 256 dimensions, candidates re-ranked exactly; IVF from 10,000;
   else exact);
5. ``recommend`` -- the saved index loaded once, then ``--queries`` top-20 queries for test brands
   (latency p50 / p99), and one ``brandmatch recommend`` on the command line.

Per stage: wall time, peak memory (the child's own peak RSS from ``wait4``'s rusage, and the
peak sum of RSS over its whole process tree, Ray's workers included, sampled every 0.25 s from
/proc) and throughput. The steps after ``featurize`` load only the tables they read
(no audiences, audience posts or detections; train: no posts and only the validation grid; embed: the
accounts table). Results go to
``--results`` (strict JSON, written atomically) with the machine's CPUs and memory.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from brandmatch.atomic import write_json_atomic  # noqa: E402

STAGES = ("generate", "featurize", "train", "embed", "recommend")
#: from this many influencers the auto index is ``projected``: the default recipe's full float32
#: vectors (about 5,700 wide) would take 4 GiB at 200,000 and 21 GiB at a million
PROJECTED_FROM = 200_000
PAGE = os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------------- memory of a process tree


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: the ppid follows the last ')'
        fields = stat[stat.rfind(b")") + 2:].split()
        kids.setdefault(int(fields[1]), []).append(int(entry))
    return kids


def tree_rss(pid: int) -> int:
    """Bytes resident in ``pid`` and all its descendants (0 when gone)."""
    kids = _children_map()
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            pass
        todo.extend(kids.get(p, ()))
    return total


def run_stage(name: str, argv: list[str], log_dir: Path, env: dict[str, str] | None = None,
              sample_every: float = 0.25) -> dict[str, Any]:
    """Run one stage as a child process; its output goes to LOG_DIR/<name>.log.

    Returns seconds, exit code, peak_rss_mib (the child's own, from rusage), peak_tree_rss_mib
    (sampled over the child and its descendants) and the last line of output that is a JSON object
    (``figures``, what Python stages report), plus the output's tail."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    t0 = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        peak_tree = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak_tree = max(peak_tree, tree_rss(proc.pid))
            time.sleep(sample_every)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace")
    figures = None
    for line in reversed(text.splitlines()):
        if line.startswith("{") and line.endswith("}"):
            try:
                figures = json.loads(line)
                break
            except json.JSONDecodeError:
                continue
    peak_self = usage.ru_maxrss / 1024.0  # KiB on Linux
    return {
        "stage": name,
        "command": shlex.join(argv),
        "exit_code": proc.returncode,
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(peak_self, 1),
        "peak_tree_rss_mib": round(max(peak_tree / 2**20, peak_self), 1),
        "figures": figures,
        "output_tail": text.splitlines()[-6:],
        "log": str(log),
    }


# ---------------------------------------------------------------------- Python stages (children)

TRAIN_CHILD = r"""
import json, sys, time
import numpy as np
from brandmatch.data.store import TRAINING_GRIDS, TRAINING_TABLES, load_dataset
from brandmatch.models.base import create
from brandmatch.training.trainer import TrainingOptions
from brandmatch.training.workflow import train_to_directory
data, out, k, epochs, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
cap, pair_cap = int(sys.argv[6]), int(sys.argv[7])
t = time.perf_counter()
ds = load_dataset(data, tables=TRAINING_TABLES, grids=TRAINING_GRIDS)
load_s = time.perf_counter() - t
sp = ds.tables.splits
train = sorted(sp.loc[sp["split"] == "train", "brand_id"].astype(str))
rng = np.random.default_rng(seed)
keep = set(rng.choice(train, size=min(k, len(train)), replace=False).tolist()) if k > 0 else set(train)
ds.tables.splits = sp[(sp["split"] != "train") | sp["brand_id"].isin(keep)].reset_index(drop=True)
# the sampled brands' cooperations, at most `pair_cap` of them (seeded; ~3,100 per brand at a million)
co = ds.tables.cooperations
mine = co["brand_id"].isin(keep).to_numpy()
pairs_full = int(mine.sum())
if pair_cap > 0 and pairs_full > pair_cap:
    drop = np.flatnonzero(mine)[rng.choice(pairs_full, size=pairs_full - pair_cap, replace=False)]
    co = co.drop(index=co.index[drop]).reset_index(drop=True)
    ds.tables.cooperations = co
# the validation grid's candidates: a seeded uniform sample of at most `cap` of them (model selection on
# a sampled grid; the grid's candidates are the validation brands' partners, so every candidate is some
# brand's positive and each brand keeps about cap / candidates of its own); the test grid is not loaded
g = ds.tables.grids
valid = g[g["grid"] == "validation"]
cands = valid["influencer_id"].unique()
grid_full = len(cands)
if cap > 0 and len(cands) > cap:
    valid = valid[valid["influencer_id"].isin(rng.choice(cands, size=cap, replace=False))]
ds.tables.grids = valid.reset_index(drop=True)
pairs = len(ds.cooperations("train"))
model = create("morning", epochs=epochs, seed=seed)
t = time.perf_counter()
model = train_to_directory(model, ds, out, options=TrainingOptions(progress=False))
secs = time.perf_counter() - t
hist = (getattr(model, "history_", None) or [])
print(json.dumps({"load_seconds": round(load_s, 2), "train_brands": len(keep), "train_pairs": pairs, "train_pairs_full": pairs_full,
                  "validation_candidates": int(valid["influencer_id"].nunique()), "validation_candidates_full": int(grid_full),
                  "validation_positives": int((valid["label"] == 1).sum()),
                  "epochs": epochs, "best_epoch": getattr(model, "best_epoch_", None),
                  "fit_seconds": round(secs, 2), "recipe": getattr(model, "recipe", None)}))
"""

QUERY_CHILD = r"""
import json, sys, time
import numpy as np
from brandmatch.serving.recommend import Recommender
model_dir, data, index_dir, kind, queries = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
t = time.perf_counter()
rec = Recommender.from_dirs(model_dir, data, index_dir=index_dir, index_kind=kind)
load_s = time.perf_counter() - t
brands = rec.dataset.brands("test") or rec.dataset.brands()
lat = []
first = None
for i in range(queries):
    b = brands[i % len(brands)]
    t = time.perf_counter()
    recs = rec.recommend(b, 20)
    lat.append(time.perf_counter() - t)
    if first is None:
        first = {"brand": b, "top": [r.influencer_id if hasattr(r, "influencer_id") else str(r) for r in recs[:5]]}
lat_ms = np.array(lat) * 1000.0
warm = lat_ms[1:] if len(lat_ms) > 1 else lat_ms  # the first query does one-time work (per-part vectors)
print(json.dumps({"load_seconds": round(load_s, 2), "queries": queries, "influencers": len(rec.influencer_ids),
                  "index_kind": rec.index.kind if hasattr(rec.index, "kind") else kind,
                  "latency_ms_p50": round(float(np.percentile(lat_ms, 50)), 2),
                  "latency_ms_p99": round(float(np.percentile(lat_ms, 99)), 2),
                  "latency_ms_first": round(float(lat_ms[0]), 2),
                  "warm_latency_ms_p50": round(float(np.percentile(warm, 50)), 2),
                  "warm_latency_ms_p99": round(float(np.percentile(warm, 99)), 2), "example": first}))
"""


# ---------------------------------------------------------------------- the run


def machine() -> dict[str, Any]:
    mem = None
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "memory_gib": mem, "python": sys.version.split()[0]}


def _manifest_rows(data: Path) -> dict[str, int]:
    m = json.loads((data / "manifest.json").read_text())
    return {k: int(v["rows"]) for k, v in m["tables"].items()}


def _per_s(n: float, secs: float) -> float:
    return round(n / secs, 1) if secs > 0 else None


def run(args: argparse.Namespace) -> dict[str, Any]:
    out = Path(args.out).resolve()
    data, model_dir, index_dir = out / "data", out / "model", out / "index"
    logs = out / "logs"
    bm = [str(Path(sys.executable).parent / "brandmatch")]
    if not Path(bm[0]).exists():
        bm = [sys.executable, "-m", "brandmatch.cli"]
    py = [sys.executable]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    kind = args.index_kind
    if kind == "auto":
        kind = "projected" if args.influencers >= PROJECTED_FROM else "ivf" if args.influencers >= 10_000 else "exact"
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    bad = [s for s in stages if s not in STAGES]
    if bad:
        raise SystemExit(f"--stages: unknown stage {bad[0]!r} (allowed: {', '.join(STAGES)})")
    result: dict[str, Any] = {
        "benchmark": "scale",
        "created_unix": int(time.time()),
        "machine": machine(),
        "config": {"influencers": args.influencers, "posts_per_account": args.posts,
                   "brands_per_category": args.brands_per_category or 30, "audience_size": args.audience_size, "audience_posts": args.audience_posts,
                   "topics": args.topics, "fit_accounts": args.fit_accounts, "train_brands": args.train_brands,
                   "epochs": args.epochs, "valid_candidates": args.valid_candidates, "train_pairs": args.train_pairs, "embed_engine": args.embed_engine,
                   "queries": args.queries, "index_kind": kind, "engine": args.engine, "out": str(out)},
        "stages": [],
    }
    t_all = time.perf_counter()

    def record(r: dict[str, Any]) -> dict[str, Any]:
        result["stages"].append(r)
        print(f"{r['stage']:<14} exit {r['exit_code']}  {r['seconds']:>8.1f} s  peak RSS {r['peak_rss_mib']:>8.0f} MiB"
              f"  (tree {r['peak_tree_rss_mib']:.0f} MiB)", flush=True)
        if r["exit_code"] != 0:
            print("\n".join(r["output_tail"]), file=sys.stderr)
        return r

    ok = True
    if "generate" in stages:
        r = record(run_stage("generate", bm + [
            "generate", "--preset", "paper", "--seed", str(args.seed), "--influencers", str(args.influencers),
            "--posts-per-account", str(args.posts), "--audience-size", str(args.audience_size),
            "--audience-posts", str(args.audience_posts), "--out", str(data), "--force", "--no-progress"]
            + (["--brands-per-category", str(args.brands_per_category)] if args.brands_per_category else []),
            logs, env))
        ok = r["exit_code"] == 0
        if ok:
            rows = _manifest_rows(data)
            posts = rows["posts"] + rows["audience_posts"]
            r["rows"] = rows
            r["throughput"] = {"influencers_per_s": _per_s(args.influencers, r["seconds"]),
                               "posts_per_s": _per_s(posts, r["seconds"]),
                               "rows_per_s": _per_s(sum(rows.values()), r["seconds"])}
            r["disk_mib"] = round(sum(p.stat().st_size for p in data.rglob("*") if p.is_file()) / 2**20, 1)
    if ok and "featurize" in stages:
        fenv = dict(env)
        fenv["BRANDMATCH_ENGINE"] = args.engine
        r = record(run_stage("featurize", bm + [
            "featurize", str(data), "--engine", args.engine, "--with", "", "--topics", str(args.topics),
            "--no-progress", "--force"] + (["--fit-accounts", str(args.fit_accounts)] if args.fit_accounts else []),
            logs, fenv))
        ok = r["exit_code"] == 0
        if ok:
            rows = _manifest_rows(data)
            posts = rows["posts"] + rows["audience_posts"]
            r["throughput"] = {"accounts_per_s": _per_s(rows["accounts"], r["seconds"]),
                               "posts_per_s": _per_s(posts, r["seconds"])}
            r["views"] = {m.group(1): int(m.group(3)) for m in re.finditer(
                r"^\s+(\S+)\s+(\d+) x (\d+)\s+present", Path(r["log"]).read_text(), re.M)}
    if ok and "train" in stages:
        r = record(run_stage("train", py + ["-c", TRAIN_CHILD, str(data), str(model_dir), str(args.train_brands),
                                            str(args.epochs), str(args.seed), str(args.valid_candidates), str(args.train_pairs)], logs, env))
        ok = r["exit_code"] == 0
        if ok and r["figures"]:
            f = r["figures"]
            r["throughput"] = {"pairs_epochs_per_s": _per_s(f["train_pairs"] * f["epochs"], f["fit_seconds"])}
    if ok and "embed" in stages:
        eenv = dict(env)
        vectors = [] if kind == "projected" else ["--out", str(out / "vectors.parquet")]
        r = record(run_stage("embed", bm + [
            "embed", "--model-dir", str(model_dir), "--data", str(data), *vectors,
            "--engine", args.embed_engine, "--index-dir", str(index_dir), "--index-kind", kind], logs, eenv))
        ok = r["exit_code"] == 0
        if ok:
            m = re.search(r"embedded ([\d,]+) influencers x (\d+) on (\w+) in ([\d.]+)s", "\n".join(r["output_tail"]))
            if m:
                n, dim, secs = int(m.group(1).replace(",", "")), int(m.group(2)), float(m.group(4))
                r["embedding_dim"] = dim
                r["embed_seconds"] = secs
                r["vectors_gib"] = round(n * dim * 4 / 2**30, 3)  # what the full float32 vectors would take
                m = re.search(r"projected to (\d+)", "\n".join(r["output_tail"]))
                if m:
                    r["reduced_dim"] = int(m.group(1))
                    r["reduced_gib"] = round(n * int(m.group(1)) * 4 / 2**30, 3)
                r["throughput"] = {"influencers_per_s": _per_s(n, secs)}
                result["embedding_dim"] = dim
    if ok and "recommend" in stages:
        r = record(run_stage("recommend", py + ["-c", QUERY_CHILD, str(model_dir), str(data), str(index_dir), kind,
                                                str(args.queries)], logs, env))
        ok = r["exit_code"] == 0
        if ok and r["figures"]:
            r["throughput"] = {"queries_per_s": _per_s(1000.0, r["figures"]["warm_latency_ms_p50"])}
            brand = r["figures"]["example"]["brand"]
            rc = record(run_stage("recommend_cli", bm + [
                "recommend", "--model-dir", str(model_dir), "--data", str(data), "--index-dir", str(index_dir),
                "--index-kind", kind, "--brand", brand, "--k", "10", "--format", "json"], logs, env))
            ok = rc["exit_code"] == 0
    result["total_seconds"] = round(time.perf_counter() - t_all, 1)
    result["completed"] = ok and all(s in {r["stage"] for r in result["stages"]} for s in stages)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="the million-influencer run: generate, featurize, train, embed, recommend")
    p.add_argument("--influencers", type=int, default=1_000_000)
    p.add_argument("--posts", type=int, default=10, help="posts per account")
    p.add_argument("--brands-per-category", type=int, default=None, help="default: the paper preset's 30")
    p.add_argument("--audience-size", type=int, default=25)
    p.add_argument("--audience-posts", type=int, default=2)
    p.add_argument("--topics", type=int, default=20, help="LDA topics (fixed: no topic-number search at scale)")
    p.add_argument("--fit-accounts", type=int, default=20_000,
                   help="accounts the caption stages fit on (featurize --fit-accounts; 0: all); the generator "
                        "writes account blocks, so the other blocks are read by the engine's workers only")
    p.add_argument("--train-brands", type=int, default=60, help="training brands sampled for the train stage (0: all)")
    p.add_argument("--epochs", type=int, default=5, help="maximum training epochs")
    p.add_argument("--train-pairs", type=int, default=20_000,
                   help="training cooperations kept of the sampled brands (seeded sample; 0: all; about "
                        "3,100 per brand at a million influencers)")
    p.add_argument("--valid-candidates", type=int, default=20_000,
                   help="validation grid candidates kept for model selection, a seeded uniform sample (0: all; "
                        "the full grid at a million is 46 brands x ~143,000)")
    p.add_argument("--queries", type=int, default=50, help="recommendation queries timed")
    p.add_argument("--index-kind", default="auto", choices=("auto", "exact", "ivf", "hnsw", "projected"),
                   help="influencer index (auto: projected from 200,000 influencers, ivf from 10,000, else exact)")
    p.add_argument("--engine", default="ray", choices=("ray", "local"), help="featurize engine")
    p.add_argument("--embed-engine", default="local", choices=("ray", "local"),
                   help="embed engine (default local: Ray ships the model with its feature views through the "
                        "object store once per worker, 12 GB at a million influencers; docs/scaling.md)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "build" / "scale")
    p.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "scale.json",
                   help="JSON written here (atomically); 'none' to skip")
    p.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {', '.join(STAGES)}")
    args = p.parse_args(argv)
    result = run(args)
    if str(args.results).lower() != "none":
        args.results.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(args.results, result)
        print(f"results in {args.results}")
    print(f"total {result['total_seconds']:.1f} s; completed: {result['completed']}")
    return 0 if result["completed"] else 1


if __name__ == "__main__":
    sys.exit(main())
