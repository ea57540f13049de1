"""What a client needs to check results without trusting this server: the chain, the registry
contract and the CID profile (the web app computes CIDs in the browser with it)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from nftreg.api.deps import ServiceDep
from nftreg.api.jsonbody import JsonRoute

router = APIRouter(tags=["operations"], route_class=JsonRoute)


class InfoOut(BaseModel):
    chain_id: int
    registry: str = Field(description="the registry contract's address (EIP-55)")
    ipfs_profile: str = Field(description="the UnixFS import profile asset CIDs are computed with")


@router.get("/v1/info", response_model=InfoOut)
def info(service: ServiceDep) -> InfoOut:
    return InfoOut(chain_id=service.chain.chain_id, registry=service.registry.address,
                   ipfs_profile=service.settings.ipfs_profile)
