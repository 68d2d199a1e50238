"""Every error the API returns is JSON ``{"error": ..., "field": ...}`` with a 4xx status.

Bad input names the field; a missing account or incident is 404; a conflicting repeat 409.
Only a bug gives a 500, and its body says nothing about the internals.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from slawatch.errors import ConflictError, NotFoundError, SlawatchError, ValidationError

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or wrong bearer token"},
    404: {"description": "No such account or incident"},
    409: {"description": "Conflicts with what is stored"},
    413: {"description": "Body too large"},
    422: {"description": "Invalid input; 'field' names it"},
}


def error_body(error: str, field: str | None = None) -> dict[str, Any]:
    return {"error": error, "field": field}


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    text = ""
    for part in parts:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ValidationError)
    async def _invalid(_: Request, exc: ValidationError) -> JSONResponse:
        return JSONResponse(error_body(exc.reason, exc.field), status_code=422)

    @app.exception_handler(ConflictError)
    async def _conflict(_: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse(error_body(exc.reason, exc.field), status_code=409)

    @app.exception_handler(NotFoundError)
    async def _missing(_: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse(error_body(str(exc), "id"), status_code=404)

    @app.exception_handler(SlawatchError)
    async def _other(_: Request, exc: SlawatchError) -> JSONResponse:
        return JSONResponse(error_body(str(exc)), status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
        field = _loc(tuple(first.get("loc", ())))
        message = str(first.get("msg", "invalid"))
        if first.get("type") == "json_invalid":
            field, message = "body", "the body is not valid JSON"
        return JSONResponse(error_body(message, field), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI's "error parsing the body" (e.g. not UTF-8)
            return JSONResponse(
                error_body("the body could not be parsed as UTF-8 JSON", "body"), status_code=422
            )
        return JSONResponse(
            error_body(str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )
