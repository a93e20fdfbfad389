"""Training throughput of a MORNING-sized network against the number of torch threads (not a test).

    .venv/bin/python benchmarks/bench_threads.py [--threads-list 1,2] [--batch-sizes 16,128]
        [--busy 1] [--steps 30] [--warmup 5] [--max-seconds 12] [--repeats 1] [--retries 1]
        [--out benchmarks/results/threads.json]

What it answers: how many intra-op threads should training use by default? It measures training
batches per second for every thread count of ``--threads-list`` in two kinds of condition:

- ``idle``: nothing else started by this script runs (the load average is recorded next to every
  measurement, so a machine that was not idle shows in the report);
- ``busy-K``: K CPU-burning child processes (``while True: pass``) run for the whole condition, as
  on a shared machine where other work occupies K cores (``--busy 1,2`` runs K=1 and K=2;
  ``--busy ''`` skips the busy conditions).

The workload is built from torch alone (it does not import brandmatch, so it measures the same
thing while the package's models are refactored): a replica of one MORNING training step with
the paper's sizes (sec. V-A) -- content and audience views, each a visual tower
1365-1024-1024-1024-512 and a text tower (22- resp. 21-d inputs) 128-512 with leaky ReLU and
dropout 0.5, 512x512 projections fused by a Hadamard product, co-attention (two 512x512 layers),
an attribute tower 128-1024-512; ~10.4 M parameters. A batch of B (brand, positive, negative)
triples encodes 3B accounts in one pass; the loss is the three-view hinge triplet loss plus the
binary cross-entropy on the summed score; then backward, the L1 subgradient on the weight
matrices (``torch._foreach_add_(grads, torch._foreach_sign(weights), alpha=1e-3)``) and a fused
Adam step. Random inputs are generated before timing.

Each (condition, batch size, thread count) measurement runs in a fresh python subprocess
(``torch.set_num_threads(N)`` and ``torch.set_num_interop_threads(1)`` are per-process settings,
so nothing leaks between measurements): ``--warmup`` steps, then ``--steps`` timed steps, cut
short once ``--max-seconds`` have passed (the steps done so far count), so every measurement is
bounded. Thread counts are interleaved inside each (condition, batch size) and ``--repeats``
repeats the whole sweep (the median is reported). The result is the ratio of throughput with N
threads to throughput with 1 thread under the same condition in the same run -- absolute timings
depend on the machine and on what else runs on it.

Every measurement also records how many cores other processes kept busy during its timed steps
(system-wide busy CPU time from /proc/stat minus the measurement's own CPU time, per second of
wall time: ~0 when idle, ~K with K burners), so a run disturbed by foreign work shows in the
table's last column instead of passing for "idle".

Output: a table on stdout and ``--out`` (strict JSON, written atomically).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "threads.json"

# MORNING's sizes (paper sec. V-A; docs/morning.md): X^p, Y^p 1,365-d; X^t 22-d; Y^t 21-d;
# attributes 128-d; d_a = 512.
VISUAL_IN, CONTENT_TEXT_IN, AUDIENCE_TEXT_IN, ATTR_IN = 1365, 22, 21, 128
VISUAL_LAYERS, TEXT_LAYERS, ATTR_LAYERS, D_A = (1024, 1024, 1024, 512), (128, 512), (1024, 512), 512
L1, LR, SLOPE, DROPOUT = 1e-3, 2e-3, 0.01, 0.5


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def cpu_busy_seconds() -> float | None:
    """CPU-seconds all cores have spent busy since boot (Linux /proc/stat), or None elsewhere."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:  # pragma: no cover - non-Linux
        return None
    # cpu user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
    ticks = [int(x) for x in fields[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return []


# ---------------------------------------------------------------------------------- worker


def build_net():
    """The replica network (torch only); returns (module, weight matrices for the L1 term)."""
    import torch
    from torch import nn
    from torch.nn import functional as tf

    class MLP(nn.Module):
        def __init__(self, d_in, widths, final_activation):
            super().__init__()
            dims = [d_in, *widths]
            self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
            self.final_activation = final_activation

        def forward(self, x):
            n = len(self.layers)
            for i, layer in enumerate(self.layers):
                x = layer(x)
                if i < n - 1 or self.final_activation:
                    x = tf.leaky_relu(x, SLOPE)
                if i < n - 1:
                    x = tf.dropout(x, DROPOUT, self.training)
            return x

    class View(nn.Module):
        def __init__(self, d_text):
            super().__init__()
            self.visual = MLP(VISUAL_IN, VISUAL_LAYERS, True)
            self.text = MLP(d_text, TEXT_LAYERS, True)
            self.proj_p = nn.Linear(VISUAL_LAYERS[-1], D_A)
            self.proj_t = nn.Linear(TEXT_LAYERS[-1], D_A)

        def forward(self, xp, xt):
            return self.proj_p(self.visual(xp)) * self.proj_t(self.text(xt))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.content = View(CONTENT_TEXT_IN)
            self.audience = View(AUDIENCE_TEXT_IN)
            self.attributes = MLP(ATTR_IN, ATTR_LAYERS, False)
            self.f1 = nn.Linear(D_A, D_A)
            self.f2 = nn.Linear(D_A, D_A)

        def forward(self, cp, ct, ap, at, s):
            e_c, e_u = self.content(cp, ct), self.audience(ap, at)
            e_f = torch.sigmoid(self.f1(e_c)) * torch.sigmoid(self.f2(e_u))
            w_c = torch.softmax(e_c * e_f, dim=-1) * D_A
            w_u = torch.softmax(e_u * e_f, dim=-1) * D_A
            return e_c * w_c, e_u * w_u, self.attributes(s)

    net = Net()
    weights = [m.weight for m in net.modules() if isinstance(m, nn.Linear)]
    return net, weights


def worker(threads: int, batch: int, steps: int, warmup: int, max_seconds: float, seed: int) -> dict:
    """One measurement in this (fresh) process; returns its figures."""
    import torch
    from torch.nn import functional as tf

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # pragma: no cover - already set
        pass
    torch.manual_seed(seed)
    net, weights = build_net()
    net.train()
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=LR, fused=True)
    n = 3 * batch  # brands, positives, negatives of the batch, encoded in one pass

    def simplex(d):
        x = torch.rand(n, d) ** 4
        return x / x.sum(1, keepdim=True)

    data = [(simplex(VISUAL_IN), simplex(CONTENT_TEXT_IN), simplex(VISUAL_IN), simplex(AUDIENCE_TEXT_IN),
             torch.randn(n, ATTR_IN)) for _ in range(4)]

    def step(i: int) -> float:
        e_c, e_u, e_s = net(*data[i % len(data)])
        loss = 0.0
        total = 0.0
        for e, margin in zip((e_c, e_u, e_s), (4.0, 2.0, 2.0)):
            b, p, q = e[:batch], e[batch:2 * batch], e[2 * batch:]
            f_pos, f_neg = (b * p).sum(1), (b * q).sum(1)
            loss = loss + tf.relu(margin - f_pos + f_neg).mean()
            total = total + torch.stack([f_pos, f_neg])
        loss = loss + (tf.softplus(-total[0]) + tf.softplus(total[1])).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grads = [w.grad for w in weights]
        torch._foreach_add_(grads, torch._foreach_sign(weights), alpha=L1)
        opt.step()
        return float(loss.detach())

    for i in range(warmup):
        step(i)
    done = 0
    busy0, cpu0 = cpu_busy_seconds(), time.process_time()
    t0 = time.perf_counter()
    elapsed = 0.0
    for i in range(steps):
        step(warmup + i)
        done += 1
        elapsed = time.perf_counter() - t0
        if elapsed > max_seconds and done >= 3:
            break
    own = time.process_time() - cpu0
    busy1 = cpu_busy_seconds()
    # cores kept busy by other processes meanwhile (the busy condition's burners included)
    others = None if busy0 is None or busy1 is None else max(0.0, (busy1 - busy0 - own) / elapsed)
    return {"threads": threads, "torch_threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(), "batch_size": batch, "steps": done,
            "seconds": round(elapsed, 4), "batches_per_s": done / elapsed, "own_cores": own / elapsed,
            "other_cores": others, "params": sum(p.numel() for p in params)}


# ---------------------------------------------------------------------------------- driver


def start_burners(k: int, limit_s: float) -> list[subprocess.Popen]:
    """K CPU-burning processes; each also stops by itself after ``limit_s`` (bounded even if we die)."""
    code = f"import time\nend = time.monotonic() + {float(limit_s)!r}\nwhile time.monotonic() < end:\n    pass\n"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL) for _ in range(k)]
    time.sleep(1.0)  # let them start spinning
    return procs


def stop_burners(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass


def measure_timeout(args) -> float:
    """Seconds one measurement subprocess may take (start-up, warm-up and the capped timed steps)."""
    # warm-up steps are not capped: allow them a generous bound on a badly oversubscribed machine
    return 60 + 4 * args.max_seconds * (1 + args.warmup / max(1, args.steps))


def measure(threads: int, batch: int, args) -> dict | None:
    """Run one measurement in a fresh subprocess; None when it failed or ran out of time."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--threads", str(threads),
           "--batch", str(batch), "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--max-seconds", str(args.max_seconds), "--seed", str(args.seed)]
    timeout = measure_timeout(args)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"  threads {threads} batch {batch}: timed out after {timeout:.0f}s", file=sys.stderr)
        return None
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        print(f"  threads {threads} batch {batch}: failed ({proc.returncode}): {' | '.join(tail)}", file=sys.stderr)
        return None
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        print(f"  threads {threads} batch {batch}: no result in the output", file=sys.stderr)
        return None


def int_list(text: str) -> list[int]:
    out = [int(x) for x in text.split(",") if x.strip()]
    if any(x < 0 for x in out):
        raise argparse.ArgumentTypeError(f"expected non-negative integers, got {text!r}")
    return out


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1, allow_nan=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def fmt(x: float | None, spec: str) -> str:
    return "failed" if x is None else format(x, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads-list", type=int_list, default=[1, 2], help="thread counts (default 1,2)")
    ap.add_argument("--batch-sizes", type=int_list, default=[16, 128],
                    help="batch sizes (default 16,128: the paper's and the throughput setting)")
    ap.add_argument("--busy", type=int_list, default=[1],
                    help="numbers K of CPU-burning processes for the busy conditions (default 1; '' for none)")
    ap.add_argument("--no-idle", action="store_true", help="skip the idle condition")
    ap.add_argument("--steps", type=int, default=30, help="timed steps per measurement (default 30)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first (default 5)")
    ap.add_argument("--max-seconds", type=float, default=12.0,
                    help="stop a measurement's timed steps after this many seconds (default 12)")
    ap.add_argument("--repeats", type=int, default=1, help="repeat the sweep; the median counts (default 1)")
    ap.add_argument("--retries", type=int, default=1,
                    help="measure again (up to this many times) when other processes kept more than K + "
                         "--tolerance cores busy during a measurement (default 1)")
    ap.add_argument("--tolerance", type=float, default=0.25,
                    help="cores of foreign load tolerated beyond the condition's K burners (default 0.25)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    # internal: one measurement in this process
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=16, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        print(json.dumps(worker(args.threads, args.batch, args.steps, args.warmup, args.max_seconds, args.seed)))
        return
    if not args.threads_list or 0 in args.threads_list or not args.batch_sizes or 0 in args.batch_sizes:
        ap.error("--threads-list and --batch-sizes need positive integers")
    if args.steps < 1 or args.repeats < 1 or args.max_seconds <= 0:
        ap.error("--steps, --repeats and --max-seconds must be positive")
    if args.retries < 0 or args.tolerance < 0:
        ap.error("--retries and --tolerance must not be negative")

    threads_list = sorted(set(args.threads_list) | {1})  # 1 thread: the reference of the ratios
    conditions = ([] if args.no_idle else [("idle", 0)]) + [(f"busy-{k}", k) for k in args.busy if k > 0]
    if not conditions:
        ap.error("no condition to run (--no-idle and no --busy K > 0)")
    cores = usable_cores()
    import torch  # only for the version and build information

    print(f"bench_threads: {cores} usable cores, torch {torch.__version__}, conditions "
          f"{', '.join(c for c, _ in conditions)}, batch sizes {args.batch_sizes}, threads {threads_list}, "
          f"{args.warmup} warm-up + up to {args.steps} timed steps (<= {args.max_seconds:g}s) per measurement, "
          f"{args.repeats} repeat(s); load {loadavg()}", flush=True)
    start_load = loadavg()
    if start_load and start_load[0] >= 0.5 and not args.no_idle:
        print(f"note: 1-minute load average {start_load[0]} at the start (it lags: recent work counts); whether "
              f"other processes ran during a measurement shows in its 'others' figure", flush=True)
    n_meas = len(conditions) * len(args.batch_sizes) * len(threads_list) * args.repeats
    # each condition's burners stop by themselves after a bound on that condition's measurements
    burner_limit = 60 + (len(args.batch_sizes) * len(threads_list) * args.repeats * (1 + args.retries)
                         * measure_timeout(args))

    # SIGTERM -> SystemExit, so the finally blocks stop the burners (which also stop by themselves)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    raw: list[dict] = []
    t_start = time.perf_counter()
    done = 0
    for name, k in conditions:
        burners: list[subprocess.Popen] = []
        try:
            if k:
                burners = start_burners(k, burner_limit)
            for rep in range(args.repeats):
                for batch in args.batch_sizes:
                    for threads in threads_list:
                        kept = None  # (r, disturbed, load before): the clean attempt, else the least disturbed
                        for attempt in range(1 + args.retries):
                            before = loadavg()
                            r = measure(threads, batch, args)
                            disturbed = (r is not None and r["other_cores"] is not None
                                         and r["other_cores"] > k + args.tolerance)
                            if kept is None or kept[0] is None or (
                                    r is not None and r["other_cores"] is not None
                                    and r["other_cores"] < kept[0]["other_cores"]):
                                kept = (r, disturbed, before)
                            if not disturbed or attempt == args.retries:
                                break
                            print(f"  {name:>7} batch {batch:>4} threads {threads}: {r['batches_per_s']:.2f} "
                                  f"batches/s but other processes kept {r['other_cores']:.2f} cores busy "
                                  f"(expected <= {k} + {args.tolerance:g}): disturbed, measuring again", flush=True)
                        r, disturbed, before = kept
                        done += 1
                        raw.append({"condition": name, "busy_processes": k, "repeat": rep, "batch_size": batch,
                                    "threads": threads, "load_before": before, "attempts": attempt + 1,
                                    "disturbed": disturbed,
                                    "batches_per_s": None if r is None else r["batches_per_s"],
                                    "steps": None if r is None else r["steps"],
                                    "seconds": None if r is None else r["seconds"],
                                    "params": None if r is None else r["params"],
                                    "own_cores": None if r is None else r["own_cores"],
                                    "other_cores": None if r is None else r["other_cores"]})
                        m = raw[-1]
                        print(f"  [{done}/{n_meas}] {name:>7} batch {batch:>4} threads {threads}: "
                              f"{fmt(m['batches_per_s'], '.2f')} batches/s, cores busy: this "
                              f"{fmt(m['own_cores'], '.2f')} others {fmt(m['other_cores'], '.2f')}"
                              f"{' DISTURBED' if disturbed else ''} (load before {before})", flush=True)
        finally:
            stop_burners(burners)

    # median over repeats, then ratios against 1 thread in the same condition
    rows = []
    for name, k in conditions:
        for batch in args.batch_sizes:
            ref = None
            for threads in threads_list:
                vals = [r["batches_per_s"] for r in raw if r["condition"] == name and r["batch_size"] == batch
                        and r["threads"] == threads and r["batches_per_s"] is not None]
                bps = statistics.median(vals) if vals else None
                oth = [r["other_cores"] for r in raw if r["condition"] == name and r["batch_size"] == batch
                       and r["threads"] == threads and r["other_cores"] is not None]
                if threads == 1:
                    ref = bps
                ratio = bps / ref if (bps is not None and ref) else None
                rows.append({"condition": name, "busy_processes": k, "batch_size": batch, "threads": threads,
                             "batches_per_s": bps, "ratio_vs_1_thread": ratio, "repeats_ok": len(vals),
                             "disturbed": any(r["disturbed"] for r in raw if r["condition"] == name
                                              and r["batch_size"] == batch and r["threads"] == threads),
                             "other_cores": max(oth) if oth else None})

    print(f"\nbatches/s (median of {args.repeats}) and the ratio to 1 thread in the same condition:")
    header = (f"| {'condition':<9} | {'batch':>5} | {'threads':>7} | {'batches/s':>9} | {'vs 1 thread':>11} "
              f"| {'other cores busy':>16} |")
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for r in rows:
        other = fmt(r["other_cores"], ".2f") + (" !" if r["disturbed"] else "")
        print(f"| {r['condition']:<9} | {r['batch_size']:>5} | {r['threads']:>7} | {fmt(r['batches_per_s'], '.2f'):>9} "
              f"| {fmt(r['ratio_vs_1_thread'], '.2f'):>11} | {other:>16} |")
    if any(r["disturbed"] for r in rows):
        print("! disturbed: other processes kept more cores busy than the condition's burners, even after "
              f"{args.retries} retr{'y' if args.retries == 1 else 'ies'}; rerun on a quieter machine")
    wall = time.perf_counter() - t_start
    print(f"\n{wall:.0f}s in all; load {loadavg()}")

    result = {
        "benchmark": "benchmarks/bench_threads.py",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"usable_cores": cores, "cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "torch_parallel_info": torch.__config__.parallel_info().splitlines()[:6]},
        "settings": {"threads_list": threads_list, "batch_sizes": args.batch_sizes,
                     "conditions": [c for c, _ in conditions], "steps": args.steps, "warmup": args.warmup,
                     "max_seconds": args.max_seconds, "repeats": args.repeats, "retries": args.retries,
                     "tolerance": args.tolerance, "seed": args.seed},
        "note": "ratio_vs_1_thread = batches/s with N threads / batches/s with 1 thread, same condition, same "
                "run; other_cores = cores kept busy by other processes during the timed steps (/proc/stat minus "
                "this measurement's CPU time; the busy condition's burners included; max over repeats)",
        "results": rows,
        "measurements": raw,
        "load_at_start": start_load,
        "wall_seconds": round(wall, 1),
    }
    write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
