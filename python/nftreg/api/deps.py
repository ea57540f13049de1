"""Typed dependencies shared by the routers.

The getters are ``async def``: they only read ``app.state``, and FastAPI runs a plain ``def``
dependency in the thread pool (one hand-off per dependency per request, ~1 ms of CPU each on
a loaded 2-core machine, for a dictionary read)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from nftreg.services import AuthService, RegistryService
from nftreg.settings import Settings


async def get_service(request: Request) -> RegistryService:
    return request.app.state.service


async def get_auth(request: Request) -> AuthService:
    return request.app.state.auth


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


ServiceDep = Annotated[RegistryService, Depends(get_service)]
AuthDep = Annotated[AuthService, Depends(get_auth)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", description="Retry-safe key for this POST")]
ApiKeyHeader = Annotated[str | None, Header(alias="X-API-Key", description="Operator API key")]
Authorization = Annotated[str | None, Header(description="Bearer <session token from /v1/auth/siwe>")]
