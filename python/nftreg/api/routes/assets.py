"""Creators: mint an asset (upload or private registration by content hash), read the index."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse

from nftreg.api.deps import (
    ApiKeyHeader,
    AuthDep,
    Authorization,
    IdempotencyKey,
    ServiceDep,
    SettingsDep,
)
from nftreg.api.jsonbody import JsonRoute
from nftreg.claims import parse_json
from nftreg.errors import InvalidInputError
from nftreg.metadata import build_metadata
from nftreg.schemas import (
    MAX_ASSET_BATCH,
    Asset,
    AssetBatchIn,
    AssetBatchOut,
    AssetPage,
    AssetStatusFilter,
)
from nftreg.services.errors import Forbidden, Unauthorized, Unprocessable
from nftreg.services.idempotency import fingerprint, run_idempotent
from nftreg.services.sniff import sniff

router = APIRouter(tags=["assets"], route_class=JsonRoute)


def _caller(auth: Any, authorization: str | None, api_key: str | None) -> tuple[str, str | None]:
    """('session', address) or ('minter', None)."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Authorization must be 'Bearer <session token>'")
        return "session", auth.session_address(token)
    if api_key:
        auth.require_role(api_key, "minter")
        return "minter", None
    raise Unauthorized("sign in with Ethereum (Bearer session) or send a minter API key")


def _metadata(raw: str) -> dict[str, Any]:
    try:
        m = parse_json(raw)
    except json.JSONDecodeError as e:
        raise Unprocessable(f"metadata: not JSON ({e.msg} at position {e.pos})") from None
    if not isinstance(m, dict):
        raise Unprocessable("metadata: expected a JSON object")
    return _fields(m)


def _fields(m: dict[str, Any]) -> dict[str, Any]:
    """The ERC-721 metadata fields of a JSON object, checked (NFC text, known field types)."""
    known = {"name", "description", "image", "attributes", "external_url", "animation_url"}
    if "name" not in m:
        raise Unprocessable('metadata: "name" is required (ERC-721 metadata names the asset)')
    try:
        return build_metadata(**{k: m[k] for k in known if k in m},
                              extra={k: v for k, v in m.items() if k not in known} or None)
    except InvalidInputError as e:
        raise Unprocessable(str(e)) from None
    except TypeError as e:
        raise Unprocessable(f"metadata: {e}") from None


@router.post("/v1/assets", status_code=201, response_model=Asset,
             responses={409: {"description": "content hash already registered"}, 413: {"description": "too large"}})
def mint_asset(
    service: ServiceDep, auth: AuthDep, settings: SettingsDep,
    metadata: Annotated[str, Form(description='ERC-721 metadata JSON, e.g. {"name": "ภาพ"}')],
    file: Annotated[UploadFile | None, File(description="the asset; omit for a private registration")] = None,
    content_hash: Annotated[str | None, Form(description="0x SHA-256 of the asset (private registration)")] = None,
    asset_cid: Annotated[str | None, Form()] = None,
    owner: Annotated[str | None, Form(description="defaults to the signed-in address")] = None,
    onchain: Annotated[bool, Form(description="false: register off-chain (no transaction; a private entry in "
                                              "the registration log, mintable later with its log proof)")] = True,
    idempotency_key: IdempotencyKey = None, authorization: Authorization = None, x_api_key: ApiKeyHeader = None,
) -> JSONResponse:
    kind, address = _caller(auth, authorization, x_api_key)
    if kind == "session":
        assert address is not None
        if owner is not None and owner.lower() != address.lower():
            raise Forbidden(f"a session for {address} may only mint to that address")
        owner = address
    elif owner is None:
        raise Unprocessable("owner: required when minting with an API key")
    assert owner is not None
    meta = _metadata(metadata)
    tmp_path = None
    try:
        digest = media_type = size = None
        if file is not None:
            # files are stored by CID; the client's filename and content type are never used
            up = Path(settings.data_dir) / "uploads"
            up.mkdir(parents=True, exist_ok=True)
            fd, tmp_path = tempfile.mkstemp(dir=up)
            h, size, head = hashlib.sha256(), 0, b""
            with os.fdopen(fd, "wb") as out:
                while chunk := file.file.read(1 << 20):
                    if not head:
                        head = chunk[:4096]
                    size += len(chunk)
                    if size > settings.max_upload_bytes:
                        from nftreg.services.errors import TooLarge

                        raise TooLarge(f"asset exceeds the limit of {settings.max_upload_bytes} bytes")
                    h.update(chunk)
                    out.write(chunk)
            digest, media_type = "0x" + h.hexdigest(), sniff(head)
        fp = fingerprint(owner, digest or content_hash, asset_cid, meta, *(() if onchain else ("offchain",)))

        def run() -> tuple[int, dict[str, Any]]:
            # the key ties the reservation to this request: a retry after a crash finds its own work
            register = service.mint if onchain else service.register_offchain
            return 201, register(owner=owner, metadata=meta, upload_path=tmp_path, content_hash=content_hash,
                                     asset_cid=asset_cid, media_type=media_type, size=size, upload_sha256=digest,
                                     request_key=idempotency_key and fingerprint("assets", idempotency_key))

        status, body, replayed = run_idempotent(service.db, "assets", idempotency_key, fp, run)
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        if status >= 400:
            return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)
        return JSONResponse(body, status_code=status, headers=headers)
    finally:
        if tmp_path:
            os.unlink(tmp_path)


@router.post("/v1/assets/batch", response_model=AssetBatchOut,
             summary="Register many assets off-chain (hash-only) in one request",
             description=f"Up to {MAX_ASSET_BATCH} hash-only registrations, each registered off-chain as "
                         "`POST /v1/assets` with `onchain=false` would (a private entry in the registration log, "
                         "no transaction; mintable later with its log proof), sharing one parse, one sign-in check, "
                         "one metadata flush and one database transaction. Each registration succeeds or is refused "
                         "on its own: `results[i].status` is 201 with the asset, or the 4xx that refused it with "
                         "its problem details (a bad field, a content hash registered already or twice in this "
                         "request); the request itself answers 200. With a session, every owner must be the "
                         "signed-in address (or omitted).")
def register_batch(body: AssetBatchIn, service: ServiceDep, auth: AuthDep, idempotency_key: IdempotencyKey = None,
                   authorization: Authorization = None, x_api_key: ApiKeyHeader = None) -> JSONResponse:
    kind, address = _caller(auth, authorization, x_api_key)
    items: list[dict[str, Any]] = []
    refused: dict[int, Unprocessable | Forbidden] = {}
    for i, reg in enumerate(body.registrations):
        owner = reg.owner
        if kind == "session":
            if owner is not None and address is not None and owner.lower() != address.lower():
                refused[i] = Forbidden(f"a session for {address} may only register to that address")
            owner = address
        elif owner is None:
            refused[i] = Unprocessable("owner: required when registering with an API key")
        try:
            fields = _fields(reg.metadata)
        except Unprocessable as e:
            refused.setdefault(i, e)
            fields = {}
        items.append({"owner": owner, "content_hash": reg.content_hash, "asset_cid": reg.asset_cid,
                      "metadata": fields, "index": i})

    def run() -> tuple[int, dict[str, Any]]:
        todo = [i for i in range(len(items)) if i not in refused]
        done = service.register_offchain_many(
            [items[i] for i in todo], request_key=idempotency_key and fingerprint("assets-batch", idempotency_key))
        results: list[dict[str, Any]] = [{}] * len(items)
        for i, e in refused.items():
            results[i] = {"index": i, "status": e.status, "asset": None, "problem": e.problem()}
        for i, r in zip(todo, done, strict=True):
            results[i] = {"index": i, "status": r["status"], "asset": r.get("asset"), "problem": r.get("problem")}
        ok = sum(1 for r in results if r["status"] == 201)
        return 200, {"results": results, "registered": ok, "refused": len(results) - ok}

    fp = fingerprint(address, body.model_dump(mode="json"))
    status, out, replayed = run_idempotent(service.db, "assets-batch", idempotency_key, fp, run)
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    if status >= 400:
        return JSONResponse(out, status_code=status, media_type="application/problem+json", headers=headers)
    return JSONResponse(out, status_code=status, headers=headers)


@router.post("/v1/assets/{asset_id}/mint-from-log", response_model=Asset,
             responses={409: {"description": "already minted, or not covered by an on-chain log anchor yet"}},
             summary="Mint an off-chain registration on-chain with its log inclusion proof",
             description="`asset_id`: the 0x content hash. The token goes to the registration's owner; a "
                         "session must be that owner (or send a minter API key). Needs a checkpoint covering the "
                         "entry anchored on-chain (`status: anchored`).")
def mint_from_log(asset_id: str, service: ServiceDep, auth: AuthDep, idempotency_key: IdempotencyKey = None,
                  authorization: Authorization = None, x_api_key: ApiKeyHeader = None) -> JSONResponse:
    kind, address = _caller(auth, authorization, x_api_key)
    if not (len(asset_id) == 66 and asset_id[:2] == "0x"):
        raise Unprocessable("asset_id: expected the 0x 32-byte content hash of an off-chain registration")

    def run() -> tuple[int, dict[str, Any]]:
        return 200, service.mint_from_log(asset_id.lower(), caller=address if kind == "session" else None)

    status, body, replayed = run_idempotent(service.db, "mint-from-log", idempotency_key,
                                            fingerprint(asset_id.lower(), address), run)
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    if status >= 400:
        return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)


@router.get("/v1/assets/{asset_id}", response_model=Asset,
            description="`asset_id`: a token id, or the asset's 0x content hash (off-chain registrations have "
                        "no token id)")
def get_asset(asset_id: str, service: ServiceDep) -> dict[str, Any]:
    if asset_id.isascii() and asset_id.isdigit() and len(asset_id) <= 78:
        return service.get_asset(int(asset_id))
    if len(asset_id) == 66 and asset_id[:2] == "0x":
        try:
            bytes.fromhex(asset_id[2:])
        except ValueError:
            pass
        else:
            return service.get_asset_by_hash(asset_id.lower())
    raise Unprocessable("asset_id: expected a token id or a 0x 32-byte content hash")


_CURSOR = "rows-after:"  # a cursor is base64url of this and an assets row id (the order of registration)


def _after(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
    except (ValueError, UnicodeError):
        raise Unprocessable("cursor: not a cursor this API returned") from None
    if text.isascii() and text.isdigit():
        raise Unprocessable("cursor: a cursor from before the listing included pending and off-chain registrations "
                            "(it counted token ids); list again without a cursor")
    rest = text.removeprefix(_CURSOR)
    if rest == text or not (rest.isascii() and rest.isdigit()) or len(rest) > 19:
        raise Unprocessable("cursor: not a cursor this API returned")
    return int(rest)


@router.get("/v1/assets", response_model=AssetPage)
def list_assets(service: ServiceDep, owner: str | None = None, content_hash: str | None = None,
                status: Annotated[AssetStatusFilter | None, Query(
                    description="only assets shown with this status (offchain: logging, logged or anchored); "
                                "without it every registration but a failed mint")] = None,
                cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """Registrations in the order the registry recorded them: minted, pending and off-chain
    (no token yet), each with its status; page on with ``next_cursor``."""
    items = service.list_assets(owner=owner, content_hash=content_hash, status=status, after=_after(cursor),
                                limit=limit)
    last = items[-1]["row_id"] if items else None
    nxt = base64.urlsafe_b64encode(f"{_CURSOR}{last}".encode()).decode() if len(items) == limit else None
    return {"items": [{k: v for k, v in i.items() if k != "row_id"} for i in items], "next_cursor": nxt}
