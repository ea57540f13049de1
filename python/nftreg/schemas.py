"""The REST API's request and response models, one definition for the server (FastAPI
validates and documents with them) and the Python client (``nftreg.Client`` returns them).
Plain pydantic: importing this module does not pull in FastAPI."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "ApiKeyIn", "ApiKeyOut", "Asset", "AssetBatchIn", "AssetBatchItem", "AssetBatchOut", "AssetBatchResult",
    "AssetPage", "AssetStatusFilter", "Batch", "BatchProof", "BatchProofs", "Challenge", "ChallengeIn",
    "Limits", "Nonce", "Ownership", "OwnershipIn", "PinsOut", "ProofsReport", "ServerInfo", "Session", "SignatureResult",
    "SignaturesReport", "SiweIn", "Voucher", "VoucherFields", "VoucherIn",
]


# -- auth --------------------------------------------------------------------------------------
class Nonce(BaseModel):
    nonce: str
    expires_at: str
    chain_id: int | None = Field(None, description="the chain id a sign-in message must name")
    domain: str | None = Field(None, description="the domain a sign-in message must name (NFTREG_SIWE_DOMAIN); "
                                                 "null: the loopback Host the request was sent to")


class SiweIn(BaseModel):
    message: str = Field(..., max_length=4096, description="EIP-4361 message")
    signature: str = Field(..., max_length=200, examples=["0x…65 bytes"])


class Session(BaseModel):
    token: str
    address: str
    expires_at: str


class ApiKeyIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=100)
    role: str = Field("minter", pattern="^(admin|minter)$")


class ApiKeyOut(BaseModel):
    name: str
    role: str
    api_key: str = Field(description="shown once; only its SHA-256 is stored")


# -- assets ------------------------------------------------------------------------------------
class Asset(BaseModel):
    token_id: int | None
    owner: str
    content_hash: str
    asset_cid: str | None
    metadata_cid: str
    token_uri: str
    media_type: str | None
    size: int | None
    status: str = Field(description="pending (signed, not in a block) | minted (in a block) | failed (its "
                                    "mint reverted or was dropped; listed only on request); registered off-chain: "
                                    "logging (accepted) | logged (in the registration log) | anchored (a checkpoint "
                                    "covering it is anchored on-chain)")
    final: bool = Field(description="minted and deep/old enough that a reorg or devnet restart cannot undo it")
    tx_hash: str | None
    block_number: int | None
    onchain: bool = Field(True, description="false: registered off-chain (a log entry, no token yet)")
    log_index: int | None = Field(None, description="the registration's index in the registration log, once "
                                                    "a published checkpoint covers it")
    receipt: str | None = Field(None, description="where its log receipt is served")
    registered_at: datetime | None = Field(None, description="when this registry recorded the registration "
                                                             "(accepted it, or indexed a mint made elsewhere), UTC")


# GET /v1/assets?status=: a status as Asset shows it; offchain = any of logging, logged, anchored
AssetStatusFilter = Literal["pending", "minted", "failed", "offchain", "logging", "logged", "anchored"]


class AssetPage(BaseModel):
    items: list[Asset]
    next_cursor: str | None


MAX_ASSET_BATCH = 1000  # registrations per POST /v1/assets/batch


class AssetBatchItem(BaseModel):
    content_hash: str = Field(..., max_length=66, description="0x SHA-256 of the asset")
    metadata: dict[str, Any] = Field(description='ERC-721 metadata fields, e.g. {"name": "ภาพ"}')
    owner: str | None = Field(None, max_length=42, description="defaults to the signed-in address")
    asset_cid: str | None = Field(None, max_length=128, description="where the asset is, if it is on IPFS")


class AssetBatchIn(BaseModel):
    registrations: list[AssetBatchItem] = Field(..., min_length=1, max_length=MAX_ASSET_BATCH)


class AssetBatchResult(BaseModel):
    index: int = Field(description="the registration's position in the request")
    status: int = Field(description="201 registered, or the 4xx status that refused this one registration")
    asset: Asset | None = Field(None, description="the registration (status 201)")
    problem: dict[str, Any] | None = Field(None, description="why it was refused (RFC 9457 problem details)")


class AssetBatchOut(BaseModel):
    results: list[AssetBatchResult]
    registered: int
    refused: int


class PinsOut(BaseModel):
    token_id: int
    pins: dict[str, dict[str, Any]] = Field(
        description="per CID (asset, metadata): {local: bool, <service>: queued|pinning|pinned|failed|null}")


# -- batches -----------------------------------------------------------------------------------
class Batch(BaseModel):
    id: int
    root: str
    tree_cid: str
    size: int
    status: str = Field(description="pending (signed, not in a block) | anchored (in a block)")
    final: bool
    tx_hash: str | None
    block_number: int | None
    leaf_encoding: list[str]


class BatchProof(BaseModel):
    index: int
    value: list[Any] = Field(description="the claim: [owner, content hash, metadata CID]")
    leaf: str
    proof: list[str]


class BatchProofs(BaseModel):
    batch_id: int
    root: str
    leaf_encoding: list[str]
    proofs: list[BatchProof]


# -- vouchers ----------------------------------------------------------------------------------
class VoucherIn(BaseModel):
    to: str
    content_hash: str = Field(..., pattern="^0x[0-9a-fA-F]{64}$")
    metadata_cid: str = Field(..., max_length=128)
    deadline: int | None = Field(None, ge=0, lt=2**256, description="unix time; default one day from now")


class VoucherFields(BaseModel):
    to: str
    content_hash: str
    metadata_cid: str
    uid: str = Field(description="decimal uint256")
    deadline: int


class Voucher(BaseModel):
    voucher: VoucherFields
    signature: str
    signer: str
    typed_data: dict[str, Any] = Field(description="the EIP-712 typed data the signature covers")


# -- ownership ---------------------------------------------------------------------------------
class ChallengeIn(BaseModel):
    token_id: int = Field(..., ge=0, lt=2**256)


class Challenge(BaseModel):
    nonce: str
    token_id: int
    message: str = Field(description="sign this text with personal_sign (EIP-191)")
    expires_at: str


class OwnershipIn(BaseModel):
    nonce: str = Field(..., max_length=64)
    signature: str = Field(..., max_length=200)


class Ownership(BaseModel):
    token_id: int
    owner: str
    signer: str | None
    verified: bool


# -- verification ------------------------------------------------------------------------------
class ProofsReport(BaseModel):
    results: list[bool] = Field(description="one per item, in input order")
    count: int
    valid: int
    invalid_indices: list[int]


class SignatureResult(BaseModel):
    index: int
    valid: bool
    error: str | None = Field(None, description="why the item could not be checked (malformed item)")


class SignaturesReport(BaseModel):
    results: list[SignatureResult]
    count: int
    valid: int
    invalid_indices: list[int]


# -- server ------------------------------------------------------------------------------------
class Limits(BaseModel):
    max_verify_items: int = Field(description="items per /v1/verify/* request")
    max_verify_bytes: int
    max_batch_claims: int
    max_batch_bytes: int
    max_upload_bytes: int


class ServerInfo(BaseModel):
    chain_id: int
    registry: str = Field(description="the registry contract's address (EIP-55)")
    ipfs_profile: str = Field(description="the UnixFS import profile asset CIDs are computed with")
    siwe_domain: str | None = Field(description="the domain sign-in messages must name; null: the loopback Host")
    limits: Limits
