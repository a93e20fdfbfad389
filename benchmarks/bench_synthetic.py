"""Time and peak memory of synthetic-world generation (streaming to disk with generate_to).

    python benchmarks/bench_synthetic.py [--large-influencers 100000] [--large-posts 10]
                                         [--large-audience-size 25] [--large-audience-posts 2]
                                         [--skip-large] [--keep DIR]

Each run is a fresh subprocess (so peak RSS is that run's own, from getrusage). Prints wall time,
peak RSS and the rows written for the paper preset and for a large run, plus a linear
extrapolation of the large run's time to 1,000,000 influencers (generation is linear in accounts;
peak memory is bounded by the chunk size plus O(accounts) latent vectors kept in disk-backed
memmaps, and the candidate grids, which grow with the partners of the test brands).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {src!r})
from brandmatch.data.synthetic import generate_to
t = time.perf_counter()
stats = generate_to({out!r}, {preset!r}, 0, overwrite=True, **{overrides!r})
secs = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps({{"seconds": secs, "peak_rss_mib": rss, "stats": stats}}))
"""


def run(preset: str, out: Path, **overrides) -> dict:
    code = CHILD.format(src=str(SRC), out=str(out), preset=preset, overrides=overrides)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"generation failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    manifest = json.loads((out / "manifest.json").read_text())
    result["rows"] = {k: v["rows"] for k, v in manifest["tables"].items()}
    result["disk_mib"] = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    return result


def show(label: str, r: dict) -> None:
    rows = r["rows"]
    print(f"{label}: {r['seconds']:.1f} s, peak RSS {r['peak_rss_mib']:.0f} MiB, {r['disk_mib']:.0f} MiB on disk")
    print("   rows: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="time and peak RSS of synthetic generation")
    p.add_argument("--large-influencers", type=int, default=100_000)
    p.add_argument("--large-posts", type=int, default=10)
    p.add_argument("--large-audience-size", type=int, default=25)
    p.add_argument("--large-audience-posts", type=int, default=2)
    p.add_argument("--skip-large", action="store_true")
    p.add_argument("--keep", type=Path, default=None, help="write the datasets here instead of a temp dir")
    args = p.parse_args(argv)
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-synthetic-"))
    try:
        r = run("paper", base / "paper")
        show("paper preset (3,748 influencers, 50 posts, 25 x 2 audience)", r)
        if not args.skip_large:
            n = args.large_influencers
            r = run("paper", base / "large", influencers=n, posts_per_account=args.large_posts,
                    audience_size=args.large_audience_size, audience_posts=args.large_audience_posts)
            show(f"large run ({n:,} influencers, {args.large_posts} posts, "
                 f"{args.large_audience_size} x {args.large_audience_posts} audience)", r)
            scale = 1_000_000 / n
            print(f"   extrapolated to 1,000,000 influencers: ~{r['seconds'] * scale / 60:.0f} min "
                  f"(linear in accounts); peak RSS grows with the O(accounts) parts only")
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
