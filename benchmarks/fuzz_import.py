"""Long run of the hostile-input property tests (tests/data/test_hostile_input.py).

    python benchmarks/fuzz_import.py [--examples 1000] [--seed N] [-n 2] [-k instaloader]

The test suite runs each property with 30 fixed examples; this runs them with ``--examples``
random ones (``BRANDMATCH_FUZZ_EXAMPLES``), so new shapes of bad input turn up. A failure prints
the shrunk input and a ``@reproduce_failure`` blob; add the case as a plain test next to the
property before fixing it. The exit status is pytest's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1000, help="examples per property (default 1000)")
    parser.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: random)")
    parser.add_argument("-n", "--workers", type=int, default=1, help="pytest-xdist workers (default 1)")
    parser.add_argument("-k", dest="select", default=None, help="only the properties matching this pytest -k")
    args = parser.parse_args(argv)
    if args.examples < 1:
        parser.error("--examples must be at least 1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           str(ROOT / "tests" / "data" / "test_hostile_input.py")]
    if args.workers > 1:
        cmd += ["-n", str(args.workers)]
    if args.select:
        cmd += ["-k", args.select]
    if args.seed is not None:
        cmd += [f"--hypothesis-seed={args.seed}"]
    env = {**os.environ, "BRANDMATCH_FUZZ_EXAMPLES": str(args.examples)}
    t0 = time.perf_counter()
    rc = subprocess.call(cmd, cwd=ROOT, env=env)
    print(f"fuzz_import: {args.examples} examples per property, {time.perf_counter() - t0:.0f} s, "
          f"{'ok' if rc == 0 else 'FAILED'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
