"""A bounded load and abuse generator for the API (asyncio + httpx), for tests and benchmarks.

Every loop stops by itself: at a deadline and at a request count, whichever comes first. Only the
given base URL is contacted (the tests and benchmarks give a 127.0.0.1 server).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

import httpx
import numpy as np


@dataclass(frozen=True)
class Req:
    """One request and the status it must get."""

    method: str
    path: str
    expect: int = 200
    params: dict[str, Any] | None = None
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] | None = None
    kind: str = "good"


@dataclass
class Tally:
    """What a group of clients got: per request, its kind, status (0: transport error) and latency."""

    kinds: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    expected: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: idempotent requests retried once after a stale keep-alive connection (see run_clients)
    retried: int = 0

    def add(self, req: Req, status: int, latency: float, error: str | None = None) -> None:
        self.kinds.append(req.kind)
        self.statuses.append(status)
        self.expected.append(req.expect)
        self.latencies.append(latency)
        if error is not None and len(self.errors) < 20:
            self.errors.append(f"{req.method} {req.path}: {error}")

    @property
    def n(self) -> int:
        return len(self.statuses)

    @property
    def wrong(self) -> int:
        """Requests whose status was not the expected one (transport errors included)."""
        return sum(s != e for s, e in zip(self.statuses, self.expected))

    def summary(self) -> dict[str, Any]:
        lat = np.asarray(self.latencies, dtype=float) * 1e3
        by_status: dict[str, int] = {}
        for s in self.statuses:
            by_status[str(s)] = by_status.get(str(s), 0) + 1
        by_kind: dict[str, int] = {}
        for k in self.kinds:
            by_kind[k] = by_kind.get(k, 0) + 1
        return {
            "requests": self.n, "wrong_status": self.wrong,
            "transport_errors": sum(s == 0 for s in self.statuses), "retried_stale_connection": self.retried,
            "by_status": by_status, "by_kind": by_kind, "seconds": round(self.seconds, 3),
            "requests_per_s": round(self.n / self.seconds, 1) if self.seconds > 0 else None,
            "p50_ms": round(float(np.percentile(lat, 50)), 2) if lat.size else None,
            "p99_ms": round(float(np.percentile(lat, 99)), 2) if lat.size else None,
            "max_ms": round(float(lat.max()), 2) if lat.size else None,
            "p50_ms_by_kind": {k: round(float(np.percentile(
                [x for x, kk in zip(lat, self.kinds) if kk == k], 50)), 2) for k in sorted(by_kind)},
            "first_errors": self.errors[:5],
        }


#: what a stale pooled connection looks like to httpx
STALE_CONNECTION = (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError)


async def run_clients(base_url: str, requests: Sequence[Req], *, clients: int, seconds: float,
                      max_requests: int, timeout_s: float = 30.0,
                      on_response: Callable[[Req, httpx.Response], None] | None = None) -> Tally:
    """``clients`` concurrent clients, each sending ``requests`` in turn (client i starts at item i),
    until ``seconds`` have passed or ``max_requests`` were sent in all. One keep-alive pool."""
    tally = Tally()
    sent = itertools.count()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    t0 = time.perf_counter()
    deadline = t0 + seconds

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout_s) as http:
        async def client(i: int) -> None:
            j = i
            while time.perf_counter() < deadline and next(sent) < max_requests:
                req = requests[j % len(requests)]
                j += 1
                start = time.perf_counter()
                try:
                    try:
                        resp = await http.request(req.method, req.path, params=req.params, json=req.json,
                                                  content=req.content, headers=req.headers)
                    except STALE_CONNECTION:
                        # a pooled keep-alive connection the server closed as it was reused (the
                        # keep-alive race of RFC 9112 sec. 9.3.1): an idempotent request is retried
                        # once on a fresh connection, as HTTP clients do; a second failure counts
                        if req.method not in ("GET", "HEAD"):
                            raise
                        tally.retried += 1
                        resp = await http.request(req.method, req.path, params=req.params, json=req.json,
                                                  content=req.content, headers=req.headers)
                except httpx.HTTPError as exc:
                    tally.add(req, 0, time.perf_counter() - start, f"{type(exc).__name__}: {exc}")
                    continue
                tally.add(req, resp.status_code, time.perf_counter() - start,
                          None if resp.status_code == req.expect else resp.text[:200])
                if on_response is not None:
                    on_response(req, resp)

        await asyncio.gather(*(client(i) for i in range(clients)))
    tally.seconds = time.perf_counter() - t0
    return tally


async def slow_clients(base_url: str, *, clients: int, seconds: float, byte_delay_s: float = 0.05) -> dict[str, Any]:
    """Slowloris: ``clients`` connections that send a request head a byte at a time and never finish
    it (the final blank line is never sent), for at most ``seconds``. Returns how many connections
    the server closed and after how long (a closed one costs the server nothing more)."""
    parts = urlsplit(base_url)
    head = (f"GET /api/health HTTP/1.1\r\nHost: {parts.hostname}\r\nUser-Agent: slow\r\n"
            + "".join(f"X-Pad-{i}: {'a' * 20}\r\n" for i in range(200))).encode()
    closed: list[float] = []
    answered = 0
    t0 = time.perf_counter()

    async def one() -> None:
        nonlocal answered
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        start = time.perf_counter()
        try:
            for b in head:
                if time.perf_counter() - t0 > seconds:
                    return
                writer.write(bytes([b]))
                await writer.drain()
                try:  # the server may close (EOF) or answer at any moment
                    data = await asyncio.wait_for(reader.read(1024), byte_delay_s)
                except asyncio.TimeoutError:
                    continue
                if data:
                    answered += 1
                closed.append(time.perf_counter() - start)
                return
        except (ConnectionError, OSError):
            closed.append(time.perf_counter() - start)
        finally:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            except (asyncio.TimeoutError, ConnectionError, OSError):
                pass

    await asyncio.gather(*(one() for _ in range(clients)))
    return {"clients": clients, "closed_by_server": len(closed), "answered": answered,
            "closed_after_s_max": round(max(closed), 2) if closed else None}


def wait_until_healthy(url: str, process: Any, timeout_s: float, poll_s: float = 0.2) -> None:
    """Poll ``url``/api/health until it answers 200; SystemExit when ``process`` (a Popen) exits first
    or ``timeout_s`` passes (benchmarks start `brandmatch serve` in a child process)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with code {process.returncode} before answering")
        try:
            if httpx.get(url.rstrip("/") + "/api/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"the server did not answer within {timeout_s:g} s")
        time.sleep(poll_s)


def good_requests(brands: Sequence[str], influencers: Sequence[str], headers: dict[str, str] | None,
                  k: int = 10) -> list[Req]:
    """A mix of the API's read endpoints over the given accounts (all must answer 200)."""
    out: list[Req] = []
    for i, b in enumerate(brands):
        m = influencers[i % len(influencers)]
        out += [Req("GET", f"/api/brands/{b}/recommendations", params={"k": k}, headers=headers),
                Req("GET", f"/api/influencers/{m}/similar", params={"k": k}, headers=headers),
                Req("GET", f"/api/brands/{b}/explain/{m}", headers=headers),
                Req("GET", "/api/brands", params={"q": b[:2]}, headers=headers)]
    return out


def bad_requests(brand: str, headers: dict[str, str], body_limit: int) -> list[Req]:
    """Hostile or broken requests and the 4xx each must get fast."""
    wrong = {"Authorization": "Bearer not-the-token"}
    return [
        Req("GET", f"/api/brands/{brand}/recommendations", 401, params={"k": 10}, headers=wrong, kind="bad token"),
        Req("GET", f"/api/brands/{brand}/recommendations", 401, params={"k": 10}, kind="no token"),
        Req("GET", f"/api/brands/{brand}/recommendations", 422, params={"k": 0}, headers=headers, kind="k=0"),
        Req("GET", f"/api/brands/{brand}/recommendations", 422, params={"k": "ten"}, headers=headers,
            kind="k not a number"),
        Req("GET", "/api/brands/no-such-brand/recommendations", 404, params={"k": 10}, headers=headers,
            kind="unknown brand"),
        Req("POST", "/api/recommendations", 422, content=b'{"captions": ["pasta", ', kind="malformed JSON",
            headers={**headers, "Content-Type": "application/json"}),
        Req("POST", "/api/recommendations", 413, content=b"x" * (body_limit + 1), kind="oversized body",
            headers={**headers, "Content-Type": "application/json"}),
    ]
