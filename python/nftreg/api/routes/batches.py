"""Batch registration: claims → Merkle tree → dump pinned → root anchored; proofs served."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from nftreg.api.deps import ApiKeyHeader, AuthDep, IdempotencyKey, ServiceDep
from nftreg.services.errors import Unprocessable
from nftreg.services.idempotency import fingerprint, run_idempotent

router = APIRouter(tags=["batches"])

_BODY = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string"}, "example": "owner,content_hash,metadata_cid\n0x…,0x…,bafy…\n"},
    "application/x-ndjson": {"schema": {"type": "string"}}}}}


@router.post("/v1/batches", status_code=201, openapi_extra=_BODY)
async def create_batch(request: Request, service: ServiceDep, auth: AuthDep, idempotency_key: IdempotencyKey = None,
                       x_api_key: ApiKeyHeader = None) -> JSONResponse:
    auth.require_role(x_api_key, "minter")
    ctype = request.headers.get("content-type", "").split(";")[0].strip()
    fmt = {"text/csv": "csv", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl"}.get(ctype)
    if fmt is None:
        raise Unprocessable("Content-Type must be text/csv or application/x-ndjson")
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Unprocessable("claims must be UTF-8 text") from None

    def run() -> tuple[int, dict[str, Any]]:
        return 201, service.create_batch(text, fmt)

    status, body, _ = await run_in_threadpool(run_idempotent, service.db, "batches", idempotency_key,
                                              fingerprint(fmt, raw), run)
    return JSONResponse(body, status_code=status)


@router.get("/v1/batches/{batch_id}")
def get_batch(batch_id: int, service: ServiceDep) -> dict[str, Any]:
    return service.get_batch(batch_id)


@router.get("/v1/batches/{batch_id}/proofs/{index_or_owner}")
def get_proofs(batch_id: int, index_or_owner: str, service: ServiceDep) -> dict[str, Any]:
    return service.batch_proofs(batch_id, index_or_owner)
