"""The IPFS Pinning Service API for this node's store, at ``/psa/pins`` (so Kubo's
``ipfs pin remote service add NAME http://host/psa KEY`` works). Bearer token = an nftreg API
key (any role). Errors are the spec's ``Failure`` objects, not problem details: pinning
clients read ``error.reason``."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from nftreg.errors import IpfsError, NftregError
from nftreg.ipfs.psa import PinRegistry, PsaError, check_pin, parse_query
from nftreg.services.auth import hash_secret

router = APIRouter(prefix="/psa", tags=["pinning service"])

_FAILURE = {"description": "Failure", "content": {"application/json": {"schema": {
    "type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["reason"],
        "properties": {"reason": {"type": "string"}, "details": {"type": "string"}}}}}}}}
_ERRORS: dict[int | str, dict[str, Any]] = {400: _FAILURE, 401: _FAILURE, 404: _FAILURE}


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _base58(b: bytes) -> str:
    n, out = int.from_bytes(b, "big"), ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    return "1" * (len(b) - len(b.lstrip(b"\0"))) + out


def _delegates(request: Request, store: Any) -> list[str]:
    """Where a client's node should connect to hand over content (``/p2p/`` multiaddrs, as
    Kubo requires). A Kubo store's own addresses; the embedded store has no libp2p host, so
    its one delegate is the API's address with a peer id derived from the data directory
    (a client dials it and fails, which pinning clients only log)."""
    addrs = getattr(store, "multiaddrs", None)
    if callable(addrs):
        return list(addrs())[:20]
    host, port = request.url.hostname or "127.0.0.1", request.url.port or 80
    proto = "ip6" if ":" in host else "ip4" if host.replace(".", "").isdigit() else "dns"
    seed = hashlib.sha256(str(request.app.state.settings.data_dir.resolve()).encode()).digest()
    peer = _base58(b"\x00\x24\x08\x01\x12\x20" + seed)  # identity multihash of an Ed25519 key
    return [f"/{proto}/{host}/tcp/{port}/p2p/{peer}"]


def _registry(request: Request) -> PinRegistry:
    reg = getattr(request.app.state, "psa", None)
    if reg is None:
        svc = request.app.state.service
        reg = PinRegistry(request.app.state.settings.data_dir / "psa.sqlite3", svc.store, delegates=_delegates(request, svc.store))
        request.app.state.psa = reg
    return reg


def _owner(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise PsaError(401, "UNAUTHORIZED", "send an nftreg API key as 'Authorization: Bearer <key>'")
    try:
        request.app.state.auth.api_key_role(token.strip())
    except NftregError:
        raise PsaError(401, "UNAUTHORIZED", "access token is missing or invalid") from None
    return hash_secret(token.strip())


async def _run(request: Request, fn: Any, ok: int = 200) -> Response:
    try:
        owner = await run_in_threadpool(_owner, request)
        out = await fn(owner)
    except PsaError as e:
        return JSONResponse(e.body(), status_code=e.status)
    except IpfsError as e:
        return JSONResponse(PsaError(503, "STORE_UNAVAILABLE", f"the content store failed: {e}").body(), status_code=503)
    if out is None:
        return Response(status_code=ok)
    return JSONResponse(out, status_code=ok)


async def _pin_body(request: Request) -> dict[str, Any]:
    try:
        return check_pin(json.loads(await request.body()))
    except (ValueError, UnicodeDecodeError) as e:
        if isinstance(e, PsaError):
            raise
        raise PsaError(400, "BAD_REQUEST", f"the body is not JSON: {e}") from None


@router.get("/pins", responses=_ERRORS, summary="List pin objects")
async def list_pins(request: Request) -> Response:
    async def go(owner: str) -> Any:
        q = parse_query({k: request.query_params.getlist(k) for k in request.query_params})
        return await run_in_threadpool(_registry(request).list, owner, q)
    return await _run(request, go)


@router.post("/pins", responses=_ERRORS, status_code=202, summary="Add pin object")
async def add_pin(request: Request) -> Response:
    async def go(owner: str) -> Any:
        pin = await _pin_body(request)
        return await run_in_threadpool(_registry(request).add, owner, pin)
    return await _run(request, go, 202)


@router.get("/pins/{requestid}", responses=_ERRORS, summary="Get pin object")
async def get_pin(requestid: str, request: Request) -> Response:
    async def go(owner: str) -> Any:
        return await run_in_threadpool(_registry(request).get, owner, requestid)
    return await _run(request, go)


@router.post("/pins/{requestid}", responses=_ERRORS, status_code=202, summary="Replace pin object")
async def replace_pin(requestid: str, request: Request) -> Response:
    async def go(owner: str) -> Any:
        pin = await _pin_body(request)
        reg = _registry(request)
        return await run_in_threadpool(lambda: reg.add(owner, pin, replacing=requestid))
    return await _run(request, go, 202)


@router.delete("/pins/{requestid}", responses=_ERRORS, status_code=202, summary="Remove pin object")
async def remove_pin(requestid: str, request: Request) -> Response:
    async def go(owner: str) -> Any:
        await run_in_threadpool(_registry(request).remove, owner, requestid)
        return None
    return await _run(request, go, 202)
