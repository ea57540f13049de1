"""EIP-712 mint vouchers for lazy minting (minter API key only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from nftreg.api.deps import ApiKeyHeader, AuthDep, ServiceDep
from nftreg.api.jsonbody import JsonRoute
from nftreg.schemas import Voucher, VoucherIn

router = APIRouter(tags=["vouchers"], route_class=JsonRoute)


@router.post("/v1/vouchers", status_code=201, response_model=Voucher)
def issue(body: VoucherIn, service: ServiceDep, auth: AuthDep, x_api_key: ApiKeyHeader = None) -> dict[str, Any]:
    auth.require_role(x_api_key, "minter")
    return service.issue_voucher(to=body.to, content_hash=body.content_hash, metadata_cid=body.metadata_cid,
                                 deadline=body.deadline)
