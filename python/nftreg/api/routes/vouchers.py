"""EIP-712 mint vouchers for lazy minting (minter API key only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from nftreg.api.deps import ApiKeyHeader, AuthDep, ServiceDep
from nftreg.api.jsonbody import JsonRoute

router = APIRouter(tags=["vouchers"], route_class=JsonRoute)


class VoucherIn(BaseModel):
    to: str
    content_hash: str = Field(..., pattern="^0x[0-9a-fA-F]{64}$")
    metadata_cid: str = Field(..., max_length=128)
    deadline: int | None = Field(None, ge=0, lt=2**256, description="unix time; default one day from now")


@router.post("/v1/vouchers", status_code=201)
def issue(body: VoucherIn, service: ServiceDep, auth: AuthDep, x_api_key: ApiKeyHeader = None) -> dict[str, Any]:
    auth.require_role(x_api_key, "minter")
    return service.issue_voucher(to=body.to, content_hash=body.content_hash, metadata_cid=body.metadata_cid,
                                 deadline=body.deadline)
