"""Ownership challenge: a fresh single-use nonce, signed by the holder, checked against ownerOf."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from nftreg.api.deps import ServiceDep
from nftreg.api.jsonbody import JsonRoute

router = APIRouter(tags=["ownership"], route_class=JsonRoute)


class ChallengeIn(BaseModel):
    token_id: int = Field(..., ge=0, lt=2**256)


class ChallengeOut(BaseModel):
    nonce: str
    token_id: int
    message: str = Field(description="sign this text with personal_sign (EIP-191)")
    expires_at: str


class OwnershipIn(BaseModel):
    nonce: str = Field(..., max_length=64)
    signature: str = Field(..., max_length=200)


class OwnershipOut(BaseModel):
    token_id: int
    owner: str
    signer: str | None
    verified: bool


@router.post("/v1/ownership/challenge", response_model=ChallengeOut, status_code=201)
def challenge(body: ChallengeIn, service: ServiceDep) -> dict[str, Any]:
    return service.challenge(body.token_id)


@router.post("/v1/ownership/verify", response_model=OwnershipOut)
def verify(body: OwnershipIn, service: ServiceDep) -> dict[str, Any]:
    return service.verify_ownership(body.nonce, body.signature)
