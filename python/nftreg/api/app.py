"""FastAPI application factory."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram

from nftreg import web
from nftreg.api import docs, problems
from nftreg.api.middleware import BodyLimit, HeaderLimit, RateLimit
from nftreg.api.routes import (
    assets,
    auth,
    batches,
    info,
    log,
    ops,
    ownership,
    pins,
    psa,
    verify,
    vouchers,
)
from nftreg.services import AuthService, RegistryService
from nftreg.settings import Settings

__all__ = ["create_app"]


class _ReconcileCollector:
    """Outbox reconcile outcomes since start (rebroadcasts, reorged writes, finality)."""

    def __init__(self, svc: RegistryService):
        self.svc = svc

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily

        c = CounterMetricFamily("nftreg_reconcile_outcomes", "Outbox reconcile outcomes since start",
                                labels=["outcome"])
        for outcome, n in sorted(self.svc.reconcile_totals.items()):
            c.add_metric([outcome], n)
        yield c
        e = CounterMetricFamily("nftreg_index_event_updates", "Index rows changed by following contract events "
                                "(owners: transfers; registered: tokens minted outside this service)", labels=["kind"])
        for kind, n in sorted(self.svc.sync_totals.items()):
            e.add_metric([kind], n)
        yield e


def _open_log(settings: Settings) -> Any:
    from nftreg.log import RegistrationLog

    return RegistrationLog(settings.log_dir, origin=settings.log_origin, signer_key=settings.log_key,
                           key_file=settings.log_key_file, interval_s=settings.log_interval_s, allow_reader=True)


def create_app(settings: Settings | None = None, *, service: RegistryService | None = None) -> FastAPI:
    """The REST app. The registry service (chain, content store, database) starts in the
    lifespan unless one is handed in."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from starlette.concurrency import run_in_threadpool

        own = service is None
        svc: RegistryService = service if service is not None else await run_in_threadpool(RegistryService, settings)
        app.state.service = svc
        app.state.log = await run_in_threadpool(_open_log, settings)
        await run_in_threadpool(svc.logfeed.attach, app.state.log)
        svc.anchoring.attach(app.state.log)
        svc.start_background()
        app.state.metrics.register(_ReconcileCollector(svc))
        app.state.auth = AuthService(svc.db, chain_id=svc.chain.chain_id, nonce_ttl_s=settings.nonce_ttl_s,
                                     session_ttl_s=settings.session_ttl_s, admin_api_key=settings.admin_api_key)
        try:
            yield
        finally:
            await run_in_threadpool(svc.anchoring.close)
            await run_in_threadpool(svc.logfeed.close)
            await run_in_threadpool(app.state.log.close)
            if own:
                svc.close()

    app = FastAPI(title="nftreg", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="NFT asset-ownership registry: mint, batch-register, prove and verify.")
    docs.install(app)  # /docs and /redoc from assets in the package (no CDN)
    app.state.settings = settings
    metrics = CollectorRegistry()
    app.state.metrics = metrics
    requests = Counter("nftreg_http_requests", "HTTP requests", ["method", "route", "status"], registry=metrics)
    latency = Histogram("nftreg_http_request_seconds", "HTTP request latency", ["route"], registry=metrics)

    # pure ASGI (not @app.middleware): BaseHTTPMiddleware wraps the body stream in a task group,
    # which would turn the streaming 413 into an exception group and a 500
    class Observe:
        def __init__(self, inner: Any):
            self.inner = inner

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return await self.inner(scope, receive, send)
            t0 = time.perf_counter()
            status = [500]

            async def send_(msg: Any) -> None:
                if msg["type"] == "http.response.start":
                    status[0] = msg["status"]
                await send(msg)

            try:
                await self.inner(scope, receive, send_)
            finally:
                route = getattr(scope.get("route"), "path", "unmatched")
                requests.labels(scope["method"], route, str(status[0])).inc()
                latency.labels(route).observe(time.perf_counter() - t0)

    problems.install(app)
    _document_problems(app)
    for r in (auth.router, log.router, assets.router, batches.router, verify.router, ownership.router, vouchers.router,
              ops.router,
              info.router):
        app.include_router(r)
    app.include_router(psa.router)
    app.include_router(pins.router)
    web.install(app)  # the web app at /
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes,
                       per_prefix={"/v1/batches": settings.max_batch_bytes, "/v1/verify/": settings.max_verify_bytes})
    app.add_middleware(RateLimit, per_minute=settings.rate_limit_per_minute)
    app.add_middleware(HeaderLimit, max_bytes=settings.max_header_bytes)
    app.add_middleware(Observe)
    app.add_middleware(docs.SecurityHeaders)
    return app


_PROBLEM_SCHEMA = {"type": "object", "required": ["title", "status", "detail"], "properties": {
    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
    "detail": {"type": "string"}}, "additionalProperties": True}


def _document_problems(app: FastAPI) -> None:
    """Every error is a problem-details document: say so in the OpenAPI schema, replacing
    FastAPI's default 422 body (which our handlers never send)."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = base()
        spec.setdefault("components", {}).setdefault("schemas", {})["Problem"] = _PROBLEM_SCHEMA
        problem = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        for path_item in spec.get("paths", {}).values():
            for op in path_item.values():
                responses = op.setdefault("responses", {})
                for code in list(responses):
                    if code.startswith(("4", "5")):
                        responses[code] = {"description": responses[code].get("description", "error"), **problem}
                for code, desc in (("422", "Unprocessable request"), ("429", "Too many requests"),
                                   ("500", "Server error"), ("503", "Dependency unavailable")):
                    responses.setdefault(code, {"description": desc, **problem})
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
