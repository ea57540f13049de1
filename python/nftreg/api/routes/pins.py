"""Where an asset's content is pinned: this node's store and, when the store is a
``RemotePinStore`` (``pinning+https://…``), each remote pinning service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from nftreg.api.deps import ServiceDep
from nftreg.api.jsonbody import JsonRoute
from nftreg.schemas import PinsOut

router = APIRouter(tags=["assets"], route_class=JsonRoute)


def _where(store: Any, cid: str) -> dict[str, Any]:
    where = getattr(store, "where_pinned", None)
    return where(cid) if callable(where) else {"local": store.is_pinned(cid)}


@router.get("/v1/assets/{token_id}/pins", response_model=PinsOut)
async def asset_pins(token_id: int, service: ServiceDep) -> dict[str, Any]:
    asset = await run_in_threadpool(service.get_asset, token_id)
    cids = [c for c in (asset.get("asset_cid"), asset.get("metadata_cid")) if c]
    pins = {c: await run_in_threadpool(_where, service.store, c) for c in cids}
    return {"token_id": token_id, "pins": pins}
