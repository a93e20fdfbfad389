"""uvicorn settings for ``brandmatch serve`` (and the load tests), and a server in a thread.

uvicorn's h11 protocol has no deadline for a request head: a client that opens a connection and
sends its headers a byte at a time (slowloris) holds the connection for as long as it likes.
:class:`HeadTimeoutH11Protocol` closes a connection whose request head is not complete
``HEAD_TIMEOUT_S`` seconds after the connection opened or after the previous response. The other
limits: 16 KiB for a request head (h11's incomplete-event size; larger heads get 400),
keep-alive 5 s, and at most ``LIMIT_CONCURRENCY`` connections + tasks (beyond: 503, never a hang).
The body size is limited by the app (``Limits.max_body_bytes``, 413).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from typing import Any, Iterator

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT_S = 10.0
KEEP_ALIVE_S = 5
MAX_HEAD_BYTES = 16 * 1024
LIMIT_CONCURRENCY = 1024


class HeadTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head (see the module docstring)."""

    head_timeout_s: float = HEAD_TIMEOUT_S
    _head_timer: asyncio.TimerHandle | None = None

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_expired)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()  # no response has started on this connection: just close it

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head is complete
            self._cancel_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.IDLE:  # waiting for the next request head
            self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)


def uvicorn_config(app: Any, host: str, port: int, **overrides: Any) -> Any:
    """The ``uvicorn.Config`` of ``brandmatch serve``: h11 with the head deadline and the limits above."""
    import uvicorn

    settings: dict[str, Any] = dict(
        host=host, port=port, http=HeadTimeoutH11Protocol, ws="none",
        timeout_keep_alive=KEEP_ALIVE_S, h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        limit_concurrency=LIMIT_CONCURRENCY, backlog=2048, log_level="info",
    )
    settings.update(overrides)
    return uvicorn.Config(app, **settings)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(app: Any, host: str = "127.0.0.1", port: int | None = None, *,
            start_timeout_s: float = 30.0, **overrides: Any) -> Iterator[str]:
    """Serve ``app`` with :func:`uvicorn_config` in a thread; yield its base URL; stop it on exit."""
    import uvicorn

    port = port or free_port(host)
    overrides.setdefault("log_level", "warning")
    server = uvicorn.Server(uvicorn_config(app, host, port, **overrides))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"uvicorn did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5)
