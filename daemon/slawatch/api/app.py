"""The FastAPI application: ``create_app(db, settings, ...)``.

The daemon builds it through :mod:`slawatch.wiring` (with its intake, whose ``on_change``
evaluates a changed incident at once, and a ``scheduler_running`` callable for ``/healthz``);
``slawatch api`` serves it alone. Handlers are plain functions run in a worker thread, each one
unit of work through :class:`~slawatch.service.intake.Intake`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Response

from slawatch import __version__
from slawatch.api.auth import TokenCheck
from slawatch.api.entitlements_routes import entitlements_router
from slawatch.api.errors import ERROR_RESPONSES, install_error_handlers
from slawatch.api.limits import BodyLimit
from slawatch.api.schemas import (
    AccountBody,
    AccountOut,
    ErrorOut,
    EventBody,
    HealthOut,
    IncidentBody,
    IncidentOut,
)
from slawatch.config.loader import Settings
from slawatch.config.secrets import Secret, resolve_secret
from slawatch.service.incidents import EventInput, IncidentInput, parse_timestamp
from slawatch.service.intake import MAX_PAGE, Intake
from slawatch.store.db import Database

AccountId = Annotated[str, Path(min_length=1, max_length=100, description="The account id.")]
IncidentId = Annotated[str, Path(min_length=1, max_length=200, description="The helpdesk key.")]


def _responses(
    *codes: int, extra: dict[int | str, dict[str, Any]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The documented error responses (and ``extra`` success ones) of an operation."""
    result: dict[int | str, dict[str, Any]] = dict(extra or {})
    for code in codes:
        result[code] = {**ERROR_RESPONSES[code], "model": ErrorOut}
    return result


def create_app(
    db: Database,
    settings: Settings,
    *,
    intake: Intake | None = None,
    scheduler_running: Callable[[], bool] | None = None,
    environ: Mapping[str, str] | None = None,
) -> FastAPI:
    """The API over ``db``. Settings are read from ``intake.settings`` at request time, so a
    daemon reload (which replaces them) changes tokens and limits without a restart.
    """
    service = intake or Intake(db, settings)

    def resolve(ref: str) -> Secret:
        return resolve_secret(ref, environ)

    check_token = TokenCheck(lambda: tuple(service.settings.file.api.tokens), resolve)
    app = FastAPI(
        title="slawatch",
        version=__version__,
        description="SLA escalation for tiered support plans: accounts and incidents.",
    )
    install_error_handlers(app)
    # Other routers (e.g. the daemon's extras) can require the same tokens with
    # ``dependencies=[Depends(app.state.require_token)]``.
    app.state.require_token = check_token
    app.add_middleware(BodyLimit, limit=lambda: service.settings.file.api.max_body_bytes)

    api = APIRouter(prefix="/api/v1", dependencies=[Depends(check_token)])

    @api.put(
        "/accounts/{id}",
        response_model=AccountOut,
        responses=_responses(
            401, 413, 422, extra={201: {"model": AccountOut, "description": "Created"}}
        ),
        summary="Create or replace an account",
    )
    def put_account(id: AccountId, body: AccountBody, response: Response) -> Any:
        data = body.model_dump(exclude={"id"} if body.id is None else set())
        view, created = service.put_account(id, data)
        response.status_code = 201 if created else 200
        return view

    @api.get(
        "/accounts/{id}",
        response_model=AccountOut,
        responses=_responses(401, 404, 422),
        summary="One account",
    )
    def get_account(id: AccountId) -> Any:
        return service.get_account(id)

    @api.get(
        "/accounts",
        response_model=list[AccountOut],
        responses=_responses(401),
        summary="Every account",
    )
    def list_accounts() -> Any:
        return service.list_accounts()

    @api.post(
        "/incidents",
        response_model=IncidentOut,
        status_code=201,
        responses=_responses(
            401,
            409,
            413,
            422,
            extra={200: {"model": IncidentOut, "description": "Already exists, same data"}},
        ),
        summary="Open an incident (idempotent on its id)",
    )
    def open_incident(body: IncidentBody, response: Response) -> Any:
        data = IncidentInput(
            external_id=body.id,
            account=body.account,
            priority=body.priority,
            title=body.title,
            opened_at=parse_timestamp(body.opened_at, "opened_at"),
            via_hotline=body.via_hotline,
            assignee=body.assignee,
        )
        view, created = service.open_incident(data)
        response.status_code = 201 if created else 200
        return view

    @api.get(
        "/incidents/{id}",
        response_model=IncidentOut,
        responses=_responses(401, 404, 422),
        summary="An incident with every SLA clock, its history and its notifications",
    )
    def get_incident(id: IncidentId) -> Any:
        return service.get_incident(id, with_notifications=True)

    @api.get(
        "/incidents",
        response_model=list[IncidentOut],
        responses=_responses(401, 422),
        summary="Incidents in queue order (plan rank, priority, earliest due)",
    )
    def list_incidents(
        state: Annotated[Literal["open", "resolved", "all"], Query()] = "open",
        limit: Annotated[
            int | None,
            Query(ge=1, le=MAX_PAGE, description="at most this many (one page of the queue)"),
        ] = None,
        offset: Annotated[int, Query(ge=0, description="skip this many first")] = 0,
    ) -> Any:
        return service.queue(None if state == "all" else state, limit=limit, offset=offset)

    @api.post(
        "/incidents/{id}/events",
        response_model=IncidentOut,
        status_code=201,
        responses=_responses(
            401,
            404,
            413,
            422,
            extra={200: {"model": IncidentOut, "description": "Already recorded"}},
        ),
        summary="Record an event (idempotent on type and time)",
    )
    def post_event(id: IncidentId, body: EventBody, response: Response) -> Any:
        data = EventInput(
            type=body.type,
            at=parse_timestamp(body.at, "at"),
            by=body.by,
            priority=body.priority,
            text=body.text,
        )
        view, changed = service.record_event(id, data)
        response.status_code = 201 if changed else 200
        return view

    app.include_router(api)
    app.include_router(
        entitlements_router(db, lambda: service.settings), dependencies=[Depends(check_token)]
    )

    @app.get(
        "/healthz",
        response_model=HealthOut,
        responses={503: {"model": HealthOut, "description": "Database or scheduler down"}},
        summary="200 when the database answers (and the scheduler runs)",
    )
    def healthz(response: Response) -> Any:
        database = db.ping()
        scheduler = scheduler_running() if scheduler_running is not None else None
        healthy = database and scheduler is not False
        response.status_code = 200 if healthy else 503
        return {
            "status": "ok" if healthy else "unavailable",
            "database": database,
            "scheduler": scheduler,
        }

    return app
