"""Batch registration: claims → Merkle tree → dump pinned → root anchored; proofs served."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from nftreg.api.deps import ApiKeyHeader, AuthDep, IdempotencyKey, ServiceDep
from nftreg.api.jsonbody import JsonRoute
from nftreg.schemas import Batch, BatchProofs
from nftreg.services.errors import Unprocessable
from nftreg.services.idempotency import fingerprint, run_idempotent

router = APIRouter(tags=["batches"], route_class=JsonRoute)

_BODY = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string"}, "example": "owner,content_hash,metadata_cid\n0x…,0x…,bafy…\n"},
    "application/x-ndjson": {"schema": {"type": "string"}}}}}


@router.post("/v1/batches", status_code=201, response_model=Batch, openapi_extra=_BODY)
async def create_batch(request: Request, service: ServiceDep, auth: AuthDep, idempotency_key: IdempotencyKey = None,
                       x_api_key: ApiKeyHeader = None) -> JSONResponse:
    auth.require_role(x_api_key, "minter")
    ctype = request.headers.get("content-type", "").split(";")[0].strip()
    fmt = {"text/csv": "csv", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl"}.get(ctype)
    if fmt is None:
        raise Unprocessable("Content-Type must be text/csv or application/x-ndjson")
    # streamed to a temporary file (never held whole in memory), hashed on the way for the
    # Idempotency-Key fingerprint
    settings = request.app.state.settings
    up = Path(settings.data_dir) / "uploads"
    up.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=up, suffix=".claims")
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                h.update(chunk)
                out.write(chunk)

        def run() -> tuple[int, dict[str, Any]]:
            return 201, service.create_batch_file(tmp, fmt)

        status, body, _ = await run_in_threadpool(run_idempotent, service.db, "batches", idempotency_key,
                                                  fingerprint(fmt, h.hexdigest()), run)
    finally:
        os.unlink(tmp)
    return JSONResponse(body, status_code=status)


@router.get("/v1/batches/{batch_id}", response_model=Batch)
def get_batch(batch_id: int, service: ServiceDep) -> dict[str, Any]:
    return service.get_batch(batch_id)


@router.get("/v1/batches/{batch_id}/proofs/{index_or_owner}", response_model=BatchProofs)
def get_proofs(batch_id: int, index_or_owner: str, service: ServiceDep) -> dict[str, Any]:
    return service.batch_proofs(batch_id, index_or_owner)
