"""What a client needs to check results without trusting this server: the chain, the registry
contract and the CID profile (the web app computes CIDs in the browser with it), plus the SIWE
domain and the request limits (the Python client sizes its verify requests from these)."""

from __future__ import annotations

from fastapi import APIRouter

from nftreg.api.deps import ServiceDep, SettingsDep
from nftreg.api.jsonbody import JsonRoute
from nftreg.schemas import Limits, ServerInfo

router = APIRouter(tags=["operations"], route_class=JsonRoute)


@router.get("/v1/info", response_model=ServerInfo)
def info(service: ServiceDep, settings: SettingsDep) -> ServerInfo:
    return ServerInfo(chain_id=service.chain.chain_id, registry=service.registry.address,
                      ipfs_profile=settings.ipfs_profile, siwe_domain=settings.siwe_domain,
                      limits=Limits(max_verify_items=settings.max_verify_items,
                                    max_verify_bytes=settings.max_verify_bytes,
                                    max_batch_claims=settings.max_batch_claims,
                                    max_batch_bytes=settings.max_batch_bytes,
                                    max_upload_bytes=settings.max_upload_bytes))
