"""``GET /metrics``: the Prometheus exposition of the daemon's ``obs.metrics.Metrics``.

Include it with ``app.include_router(metrics_router(metrics))``. It takes no API token, like most
Prometheus targets; the API listens on 127.0.0.1 by default. Pass ``dependencies=[...]`` to
``include_router`` to require one.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from slawatch.obs.metrics import Metrics, exposition

__all__ = ["metrics_router"]


def metrics_router(metrics: Metrics) -> APIRouter:
    """A router serving ``GET /metrics`` for ``metrics``."""
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    def get_metrics(request: Request) -> Response:
        body, content_type = exposition(metrics, request.headers.get("accept"))
        return Response(content=body, media_type=content_type)

    return router
