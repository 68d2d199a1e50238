"""The HTTP API (FastAPI): accounts and incidents for helpdesks and scripts, and ``/healthz``.

Build it with :func:`slawatch.api.app.create_app`; the daemon serves it on ``[api] listen`` and
``slawatch api`` serves it alone.
"""
