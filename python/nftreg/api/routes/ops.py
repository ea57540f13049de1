"""Health, readiness, Prometheus metrics and the local IPFS gateway."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from nftreg import _core
from nftreg.api.deps import ServiceDep
from nftreg.api.jsonbody import JsonRoute
from nftreg.errors import IpfsError
from nftreg.services.errors import NotFound, Unprocessable
from nftreg.services.sniff import sniff

router = APIRouter(tags=["operations"], route_class=JsonRoute)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(service: ServiceDep) -> JSONResponse:
    checks = await run_in_threadpool(service.readiness)
    ok = all(c["ok"] for c in checks.values())
    return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)


@router.get("/ipfs/{cid}")
def gateway(cid: str, service: ServiceDep) -> StreamingResponse:
    try:
        _core.cid.cid_info(cid)
    except (ValueError, TypeError):
        raise Unprocessable(f"{cid!r} is not a valid CID") from None
    try:
        if not service.store.has(cid):
            raise NotFound(f"{cid} is not in this node's store")
        chunks = service.store.iter_chunks(cid)
        first = next(chunks, b"")
    except IpfsError as e:
        raise NotFound(f"{cid}: {e}") from None

    def body() -> Iterator[bytes]:
        yield first
        yield from chunks

    media_type = sniff(first[:4096])
    headers = {"Cache-Control": "public, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff",
               "Etag": f'"{cid}"'}
    if media_type in _SCRIPTABLE:
        # anyone may upload an SVG with <script>: opened from this origin it must not run
        headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    return StreamingResponse(body(), media_type=media_type, headers=headers)


_SCRIPTABLE = frozenset({"image/svg+xml", "application/xml"})
