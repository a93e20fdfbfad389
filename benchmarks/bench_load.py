"""The API under load, abuse and a model reload (issue 14), the long form of tests/serving/test_load.py.

    python benchmarks/bench_load.py [--model-dir data/models/synthetic-paper-plus]
        [--data data/synthetic-paper-seed0] [--clients 64] [--seconds 60] [--abuse-seconds 20]
        [--reload-seconds 20]

The server runs in a child process (its own interpreter: the clients do not share its GIL) on a
free 127.0.0.1 port, with ``brandmatch serve``'s uvicorn settings (brandmatch.serving.server), the
bearer token set and a 1 MiB body limit. Without the synthetic paper world on disk it serves the
tests' tiny world with a COSINE model. Three bounded phases, each stopping by itself:

1. load: ``--clients`` clients, recommendations / similar / explain / search, for ``--seconds``;
2. abuse: the same good clients, plus 32 clients sending oversized bodies, wrong and missing
   tokens, k=0, k not a number, an unknown brand and malformed JSON, plus 16 slowloris connections;
3. reload: the good clients while ``POST /api/admin/reload`` loads the model directory again
   midway.

Counts of requests, statuses (0: a transport error), p50 / p99 latency (reported, not judged) go to
benchmarks/results/load.json (strict JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-load-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BODY_LIMIT = 2**20


def serve(model_dir: str | None, data: str | None, port: int) -> None:
    """The child: build the app and serve it until terminated."""
    import uvicorn

    from brandmatch.serving.api import Limits, create_app
    from brandmatch.serving.recommend import Recommender
    from brandmatch.serving.server import uvicorn_config

    if model_dir is None:  # the tests' tiny world, written to a temporary folder
        sys.path.insert(0, str(ROOT))
        from brandmatch.data.store import load_dataset, write_dataset
        from brandmatch.models.base import create
        from tests.conftest import make_tiny_dataset

        tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
        ds = make_tiny_dataset()
        write_dataset(ds, tmp / "data", features=ds.features)
        ds = load_dataset(tmp / "data")
        create("cosine").fit(ds.cooperations("train"), ds.features).save(tmp / "model")
        model_dir, data = str(tmp / "model"), str(tmp / "data")

    def load() -> Recommender:
        return Recommender.from_dirs(model_dir, data)

    rec = load()
    rec.index
    app = create_app(rec, token=TOKEN, limits=Limits(max_body_bytes=BODY_LIMIT), loader=load)
    uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, log_level="warning")).run()


async def phases(url: str, args: argparse.Namespace) -> dict:
    import httpx

    from brandmatch.serving.loadtest import bad_requests, good_requests, run_clients, slow_clients

    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as http:
        version = (await http.get("/api/version")).json()
        brands = [b["id"] for b in (await http.get("/api/brands", params={"limit": 100})).json()["results"]]
        infs = [m["id"] for m in (await http.get("/api/influencers", params={"limit": 100})).json()["results"]]
    good = good_requests(brands, infs, AUTH, k=args.k)
    bad = bad_requests(brands[0], AUTH, BODY_LIMIT)
    cap = 10_000_000
    out: dict = {"model": version.get("model"), "dataset": version.get("dataset"), "clients": args.clients,
                 "brands": len(brands), "influencers": len(infs), "k": args.k}

    load = await run_clients(url, good, clients=args.clients, seconds=args.seconds, max_requests=cap)
    out["load"] = load.summary()
    print(f"load: {out['load']}", flush=True)

    calm, abuse, slow = await asyncio.gather(
        run_clients(url, good, clients=args.clients, seconds=args.abuse_seconds, max_requests=cap),
        run_clients(url, bad, clients=32, seconds=args.abuse_seconds, max_requests=cap),
        slow_clients(url, clients=16, seconds=args.abuse_seconds + 2))
    out["abuse"] = {"good": calm.summary(), "bad": abuse.summary(), "slowloris": slow}
    print(f"abuse: {out['abuse']}", flush=True)

    async def reload_midway() -> dict:
        await asyncio.sleep(args.reload_seconds / 2)
        async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=600) as http:
            resp = await http.post("/api/admin/reload")
            return {"http_status": resp.status_code, **resp.json()}

    during, reload = await asyncio.gather(
        run_clients(url, good, clients=args.clients, seconds=args.reload_seconds, max_requests=cap), reload_midway())
    out["reload"] = {"good": during.summary(), "reload": reload}
    print(f"reload: {out['reload']}", flush=True)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model-dir", default="data/models/synthetic-paper-plus")
    p.add_argument("--data", default="data/synthetic-paper-seed0")
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--abuse-seconds", type=float, default=20.0)
    p.add_argument("--reload-seconds", type=float, default=20.0)
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "load.json"))
    p.add_argument("--serve-port", type=int, help=argparse.SUPPRESS)  # the child's mode
    args = p.parse_args()
    model_dir, data = args.model_dir, args.data
    if not (Path(model_dir).is_dir() and Path(data).is_dir()):
        print(f"{model_dir} or {data} missing: serving the tests' tiny world", file=sys.stderr)
        model_dir = data = None
    if args.serve_port:
        serve(model_dir, data, args.serve_port)
        return 0

    from brandmatch.atomic import write_json_atomic
    from brandmatch.serving.loadtest import wait_until_healthy
    from brandmatch.serving.server import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    child = [sys.executable, __file__, "--serve-port", str(port), "--model-dir", str(args.model_dir),
             "--data", str(args.data)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(child, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    try:
        wait_until_healthy(url, proc, 600, poll_s=0.5)
        started = time.perf_counter() - t0
        out = asyncio.run(phases(url, args))
        out["server_start_s"] = round(started, 2)
        out["cpus"] = os.cpu_count()
        out["load_average_1min"] = os.getloadavg()[0]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    write_json_atomic(args.out, out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
