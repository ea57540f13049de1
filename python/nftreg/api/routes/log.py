"""The registration log over HTTP: the C2SP tlog-tiles static resources under ``/log/``
(checkpoint, hash tiles, entry bundles), ``GET /v1/log`` (key and origin) and receipts."""

from __future__ import annotations

import gzip
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response

from nftreg.api.deps import ServiceDep
from nftreg.api.problems import problem
from nftreg.errors import InvalidInputError
from nftreg.log import LogCorruptedError, RegistrationLog

router = APIRouter(tags=["log"])

IMMUTABLE = "public, max-age=31536000, immutable"
_HASH_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")


async def get_log(request: Request) -> RegistrationLog:  # no thread-pool hop (see api.deps)
    return request.app.state.log


LogDep = Annotated[RegistrationLog, Depends(get_log)]


@router.get("/log/checkpoint", response_class=Response, summary="The log's signed checkpoint (C2SP tlog-checkpoint)")
def checkpoint(log: LogDep) -> Response:
    return Response(log.checkpoint.note, media_type="text/plain; charset=utf-8",
                    headers={"Cache-Control": "no-cache"})


@router.get("/log/tile/{path:path}", response_class=Response,
            summary="A hash tile or entry bundle (C2SP tlog-tiles); immutable")
def tile(path: str, log: LogDep, accept_encoding: Annotated[str | None, Header()] = None) -> Response:
    log.refresh()
    try:
        data = log.store.read_tile("tile/" + path)
    except InvalidInputError as e:
        return problem(400, "Bad tile path", str(e))
    except FileNotFoundError:
        return problem(404, "Not found", f"tile/{path} is not part of the published log "
                       f"(size {log.store.size})")
    except LogCorruptedError as e:
        return problem(500, "Log storage corrupted", str(e))
    headers = {"Cache-Control": IMMUTABLE}
    if path.startswith("entries/"):
        headers["Vary"] = "Accept-Encoding"
        if accept_encoding and "gzip" in accept_encoding:
            return Response(gzip.compress(data, 6), media_type="application/octet-stream",
                            headers={**headers, "Content-Encoding": "gzip"})
    return Response(data, media_type="application/octet-stream", headers=headers)


@router.get("/v1/log", summary="The log's origin, public key (Go note verifier key) and current checkpoint")
def log_info(log: LogDep) -> dict[str, Any]:
    return log.info()


@router.get("/v1/log/entries/{index}/receipt", summary="Receipt of log entry `index`")
def entry_receipt(index: int, log: LogDep) -> Any:
    cp = log.checkpoint
    if not 0 <= index < cp.size:
        return problem(404, "Not found", f"entry {index} is not in the published log (size {cp.size})")
    return log.receipt(index)


@router.get("/v1/log/consistency", summary="Consistency proof between two tree sizes of the log")
def consistency(old: int, log: LogDep, new: int | None = None) -> Any:
    cp = log.checkpoint
    new = cp.size if new is None else new
    if not 0 <= old <= new <= cp.size:
        return problem(422, "Unprocessable request", f"need 0 <= old <= new <= {cp.size}")
    return {"old": old, "new": new, "proof": ["0x" + h.hex() for h in log.store.consistency_proof(old, new)],
            "checkpoint": cp.note}


@router.get("/v1/assets/{asset_id}/receipt",
            summary="Log receipt of an asset's registration: index, inclusion proof, signed checkpoint",
            description="`asset_id` is a token id or the asset's 0x content hash (off-chain registrations "
                        "have no token id).")
def asset_receipt(asset_id: str, log: LogDep, request: Request) -> Any:
    if _HASH_RE.match(asset_id):
        content_hash = bytes.fromhex(asset_id[2:])
    elif asset_id.isascii() and asset_id.isdigit() and len(asset_id) <= 78:
        service: ServiceDep = request.app.state.service
        asset = service.get_asset(int(asset_id))
        content_hash = bytes.fromhex(str(asset["content_hash"])[2:])
    else:
        return problem(422, "Unprocessable request", "asset_id: expected a token id or a 0x 32-byte content hash")
    receipt = log.receipt_for(content_hash)
    if receipt is None:
        return problem(404, "Not found", f"no log entry for content hash 0x{content_hash.hex()} yet "
                       "(entries are integrated about once a second)")
    return receipt
