"""Verifiers: batches of Merkle proofs and signatures, per-item results."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from nftreg.api.deps import ServiceDep
from nftreg.api.jsonbody import JsonRoute
from nftreg.claims import CLAIM_LEAF_ENCODING, parse_json
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
# A body Rust refuses as a whole goes through the Python parser once more, so that every JSON
# route accepts the same JSON (NaN, 1e400) and words its errors the same way.
@router.post("/v1/verify/proofs", openapi_extra=_PROOFS, responses={200: {"model": ProofsReport}})
async def verify_proofs(request: Request, service: ServiceDep) -> Response:
    stream: ProofStream | None = service.proof_stream()
    chunks: list[bytes] = []
    async for chunk in request.stream():
        if not chunk:
            continue
        chunks.append(chunk)
        if stream is not None:
            try:
                stream.feed(chunk)
            except InvalidInputError:
                stream = None
    results: list[bool] | None = None
    if stream is not None:
        try:
            results = await run_in_threadpool(stream.finish)
        except InvalidInputError:
            results = None
    if results is None:
        request._body = b"".join(chunks)  # the Python path below reads the same bytes
        results = await _verify_parsed(await _json(request), service)
    return Response(json.dumps({"results": results, **_summary(results)}), media_type="application/json")


async def _verify_parsed(body: dict[str, Any], service: Any) -> list[bool]:
    root = body.get("root")
    enc = body.get("leaf_encoding", CLAIM_LEAF_ENCODING)
    if not isinstance(root, str):
        raise Unprocessable("root: required, 0x-hex")
    if not isinstance(enc, list) or not all(isinstance(t, str) for t in enc):
        raise Unprocessable("leaf_encoding: expected a list of ABI type names")
    values, proofs = [], []
    for it in body["items"]:
        ok = isinstance(it, dict) and isinstance(it.get("value"), list) and isinstance(it.get("proof"), list)
        values.append(it["value"] if ok else [])
        proofs.append(it["proof"] if ok else ["not a proof"])
    return await run_in_threadpool(service.verify_proofs, root, enc, values, proofs)


@router.post("/v1/verify/signatures", openapi_extra=_SIGS, responses={200: {"model": SignaturesReport}})
async def verify_signatures(request: Request, service: ServiceDep) -> Response:
    body = await _json(request)
    results = await run_in_threadpool(service.verify_signatures, body["items"])
    summary = _summary([r["valid"] for r in results])
    return Response(json.dumps({"results": results, **summary}), media_type="application/json")
