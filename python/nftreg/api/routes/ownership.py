"""Ownership challenge: a fresh single-use nonce, signed by the holder, checked against ownerOf."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from nftreg.api.deps import ServiceDep
from nftreg.api.jsonbody import JsonRoute
from nftreg.schemas import Challenge, ChallengeIn, Ownership, OwnershipIn

router = APIRouter(tags=["ownership"], route_class=JsonRoute)


@router.post("/v1/ownership/challenge", response_model=Challenge, status_code=201)
def challenge(body: ChallengeIn, service: ServiceDep) -> dict[str, Any]:
    return service.challenge(body.token_id)


@router.post("/v1/ownership/verify", response_model=Ownership)
def verify(body: OwnershipIn, service: ServiceDep) -> dict[str, Any]:
    return service.verify_ownership(body.nonce, body.signature)
