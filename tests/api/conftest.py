"""A real HTTP server (uvicorn on 127.0.0.1, a free port) serving the API over each backend."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn

from slawatch.api.app import create_app
from slawatch.config.loader import Settings
from slawatch.service.intake import Intake
from slawatch.store.db import Database

TOKEN = "s3cret-token"
ENVIRON = {"SLAWATCH_TEST_TOKEN": TOKEN}


@dataclass
class Served:
    url: str
    client: httpx.Client
    changes: list[int] = field(default_factory=list)

    def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {TOKEN}", **kw.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kw)


def serve(app: Any) -> Iterator[str]:
    """Run ``app`` on a free local port until the generator is closed."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


@pytest.fixture
def make_server(db: Database, sample_settings: Settings) -> Iterator[Callable[..., Served]]:
    started: list[Iterator[str]] = []
    clients: list[httpx.Client] = []

    def start(**kw: Any) -> Served:
        changes: list[int] = []
        intake = Intake(db, sample_settings, on_change=changes.append)
        app = create_app(db, sample_settings, intake=intake, environ=ENVIRON, **kw)
        gen = serve(app)
        url = next(gen)
        started.append(gen)
        client = httpx.Client(base_url=url, timeout=30)
        clients.append(client)
        return Served(url, client, changes)

    yield start
    for client in clients:
        client.close()
    for gen in started:
        gen.close()


@pytest.fixture
def http(make_server: Callable[..., Served]) -> Served:
    return make_server()
