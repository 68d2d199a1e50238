"""A threaded HTTP server on 127.0.0.1:0 with request recording and failure injection."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


@dataclass
class Failure:
    """An injected failure: answer ``status`` with ``body``/``headers``, or sleep ``delay_s``
    first (longer than the client's timeout makes a timeout)."""

    status: int = 500
    body: Any = "<html><body>Internal Server Error</body></html>"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    match: Callable[[Recorded], bool] | None = None


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class FakeHttpServer:
    """Subclasses implement :meth:`handle` (return a :class:`Reply`)."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._failures: deque[Failure] = deque()
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                params: dict[str, Any] = dict(parse_qsl(parts.query))
                ctype = self.headers.get("Content-Type", "")
                if body and "json" in ctype:
                    with contextlib.suppress(ValueError):
                        params.update(json.loads(body))
                elif body:
                    params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
                rec = Recorded(self.command, parts.path, dict(self.headers.items()), body, params)
                with outer._lock:
                    outer.requests.append(rec)
                    failure = outer._take_failure(rec)
                if failure is not None:
                    if failure.delay_s:
                        time.sleep(failure.delay_s)
                    reply = Reply(failure.status, failure.body, failure.headers)
                else:
                    reply = outer.handle(rec)
                payload = reply.body
                if isinstance(payload, dict | list):
                    data = json.dumps(payload).encode()
                    ctype_out = "application/json; charset=utf-8"
                else:
                    data = str(payload).encode()
                    ctype_out = "text/html; charset=utf-8"
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", ctype_out)
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout test)

            do_GET = _serve
            do_POST = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # ------------------------------------------------------------------------- lifecycle
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeHttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeHttpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------------- injection
    def fail_next(self, failure: Failure, times: int = 1) -> None:
        """Answer the next ``times`` matching requests with ``failure``."""
        with self._lock:
            self._failures.extend([failure] * times)

    def _take_failure(self, rec: Recorded) -> Failure | None:
        for index, failure in enumerate(self._failures):
            if failure.match is None or failure.match(rec):
                del self._failures[index]
                return failure
        return None

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self._failures.clear()

    def handle(self, rec: Recorded) -> Reply:  # pragma: no cover - abstract
        raise NotImplementedError
