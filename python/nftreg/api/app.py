"""FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram

from nftreg.api import problems
from nftreg.api.middleware import BodyLimit, RateLimit
from nftreg.api.routes import assets, auth, batches, ops, ownership, verify, vouchers
from nftreg.services import AuthService, RegistryService
from nftreg.settings import Settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, *, service: RegistryService | None = None) -> FastAPI:
    """The REST app. The registry service (chain, content store, database) starts in the
    lifespan unless one is handed in."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from starlette.concurrency import run_in_threadpool

        own = service is None
        svc = service or await run_in_threadpool(RegistryService, settings)
        app.state.service = svc
        app.state.auth = AuthService(svc.db, chain_id=svc.chain.chain_id, nonce_ttl_s=settings.nonce_ttl_s,
                                     session_ttl_s=settings.session_ttl_s, admin_api_key=settings.admin_api_key)
        try:
            yield
        finally:
            if own:
                svc.close()

    app = FastAPI(title="nftreg", version="1", lifespan=lifespan,
                  description="NFT asset-ownership registry: mint, batch-register, prove and verify.")
    app.state.settings = settings
    metrics = CollectorRegistry()
    app.state.metrics = metrics
    requests = Counter("nftreg_http_requests", "HTTP requests", ["method", "route", "status"], registry=metrics)
    latency = Histogram("nftreg_http_request_seconds", "HTTP request latency", ["route"], registry=metrics)

    @app.middleware("http")
    async def _observe(request: Any, call_next: Any) -> Any:
        import time

        t0 = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        requests.labels(request.method, route, str(response.status_code)).inc()
        latency.labels(route).observe(time.perf_counter() - t0)
        return response

    problems.install(app)
    for r in (auth.router, assets.router, batches.router, verify.router, ownership.router, vouchers.router, ops.router):
        app.include_router(r)
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(RateLimit, per_minute=settings.rate_limit_per_minute)
    return app
