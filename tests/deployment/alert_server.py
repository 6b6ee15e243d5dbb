"""A local webhook receiver (stdlib ``http.server`` in a thread) that records what it gets and, on demand,
fails, times out or rate-limits: the Slack, Discord and generic JSON webhooks' stand-in."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    body: Any
    at: float


@dataclass
class AlertServer:
    """``plan`` is consumed one answer per request: ``("ok",)``, ``("fail", status)``,
    ``("slow", seconds)`` (answers after the client gave up) or ``("429", retry_after)``; then ``ok``."""

    received: list[Received] = field(default_factory=list)
    attempts: list[tuple[str, str, float]] = field(default_factory=list)
    plan: list[tuple[Any, ...]] = field(default_factory=list)
    url: str = ""

    def hook(self, name: str) -> str:
        return f"{self.url}/{name}"

    def bodies(self, name: str) -> list[Any]:
        return [item.body for item in self.received if item.path == f"/{name}"]


def _handler(server: AlertServer) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            del format, args

        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(size)
            with lock:
                answer = server.plan.pop(0) if server.plan else ("ok",)
                server.attempts.append((self.path, answer[0], time.monotonic()))
            if answer[0] == "slow":
                time.sleep(float(answer[1]))
                self._answer(500)
                return
            if answer[0] == "fail":
                self._answer(int(answer[1]))
                return
            if answer[0] == "429":
                self._answer(429, {"Retry-After": str(answer[1])})
                return
            with lock:
                server.received.append(Received(self.path, json.loads(raw), time.monotonic()))
            self._answer(204)

        def _answer(self, status: int, headers: dict[str, str] | None = None) -> None:
            # A client that timed out has hung up before the answer: that is the case under test.
            with suppress(BrokenPipeError, ConnectionResetError):
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

    return Handler


@contextmanager
def serve() -> Iterator[AlertServer]:
    """A running :class:`AlertServer` (use it as a fixture's body)."""
    state = AlertServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
