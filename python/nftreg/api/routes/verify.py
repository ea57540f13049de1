"""Verifiers: batches of Merkle proofs and signatures, per-item results."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from nftreg.api.deps import ServiceDep
from nftreg.api.jsonbody import JsonRoute
from nftreg.claims import parse_json
from nftreg.errors import InvalidInputError
from nftreg.merkle import ProofStream
from nftreg.schemas import ProofsReport, SignaturesReport
from nftreg.services.errors import Unprocessable
from nftreg.signatures.schemes import openapi_item_schema

router = APIRouter(tags=["verify"], route_class=JsonRoute)

_PROOFS = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["root", "items"],
    "properties": {"root": {"type": "string"}, "leaf_encoding": {"type": "array", "items": {"type": "string"}},
                   "items": {"type": "array", "items": {"type": "object", "required": ["value", "proof"], "properties": {
                       "value": {"type": "array"}, "proof": {"type": "array", "items": {"type": "string"}}}}}}}}}}}
_SIGS = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["items"], "properties": {"items": {"type": "array",
                                                                       "items": openapi_item_schema()}}}}}}}


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = parse_json(await request.body())
    except json.JSONDecodeError as e:
        raise Unprocessable(f"request body is not JSON ({e.msg} at position {e.pos})") from None
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise Unprocessable("request body must be an object with an 'items' array")
    return body


def _summary(valid: list[bool]) -> dict[str, Any]:
    bad = [i for i, v in enumerate(valid) if not v]
    return {"count": len(valid), "valid": len(valid) - len(bad), "invalid_indices": bad}


# 100,000 items through pydantic models (or even json.loads) would dominate the cost: the body
# is fed to Rust as it arrives (ProofStream), which parses, hashes and folds full batches of
# items on all cores with the GIL released while the rest of the body is still being received.
# Rust parses with the same JSON parser as every other JSON route (jiter, as in pydantic-core)
# and refuses a body with the same words, so there is no second parser here.
@router.post("/v1/verify/proofs", openapi_extra=_PROOFS, responses={200: {"model": ProofsReport}})
async def verify_proofs(request: Request, service: ServiceDep) -> Response:
    stream: ProofStream = service.proof_stream()
    async for chunk in request.stream():
        if chunk:
            stream.feed(chunk)
    try:
        results = await run_in_threadpool(stream.finish)
    except InvalidInputError as e:
        raise Unprocessable(str(e)) from None
    return Response(json.dumps({"results": results, **_summary(results)}), media_type="application/json")


@router.post("/v1/verify/signatures", openapi_extra=_SIGS, responses={200: {"model": SignaturesReport}})
async def verify_signatures(request: Request, service: ServiceDep) -> Response:
    body = await _json(request)
    results = await run_in_threadpool(service.verify_signatures, body["items"])
    summary = _summary([r["valid"] for r in results])
    return Response(json.dumps({"results": results, **summary}), media_type="application/json")
