"""RFC 9457 problem details for every error; a client mistake is never a 500."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from nftreg.errors import InvalidInputError
from nftreg.log.tiles import LogCorruptedError
from nftreg.services.errors import ServiceError

log = logging.getLogger("nftreg.api")
PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _msg(err: Any) -> str:
    msg = str(err.get("msg"))
    ctx = err.get("ctx") or {}
    if err.get("type") == "json_invalid" and ctx.get("error"):
        msg += f" ({ctx['error']})"  # what is wrong, not only where
    return msg


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service(_: Request, e: ServiceError) -> JSONResponse:
        # a dependency (chain, IPFS) is down: tell clients when to retry; nothing was recorded
        headers = {"Retry-After": "5"} if e.status == 503 else None
        return problem(e.status, e.title, e.detail, headers=headers, **e.extra)

    @app.exception_handler(InvalidInputError)
    async def _invalid(_: Request, e: InvalidInputError) -> JSONResponse:
        return problem(422, "Unprocessable request", str(e))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, e: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(map(str, err.get("loc", ()))), "msg": _msg(err)} for err in e.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        return problem(422, "Unprocessable request", f"{'.'.join(first['loc'])}: {first['msg']}", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        title = "Payload too large" if e.status_code == 413 else str(e.detail)
        return problem(e.status_code, title, str(e.detail), headers=getattr(e, "headers", None))

    @app.exception_handler(LogCorruptedError)
    async def _log_corrupted(_: Request, e: LogCorruptedError) -> JSONResponse:
        # the log's data on disk no longer hashes to its signed root: never serve it, say so
        log.error("registration log storage corrupted: %s", e)
        return problem(500, "Log storage corrupted", str(e))

    @app.exception_handler(Exception)
    async def _crash(_: Request, e: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return problem(500, "Internal server error", "the server failed; the error was logged")
