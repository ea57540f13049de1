"""Checks on client input shared by the service modules: each returns the normalised value or
raises Unprocessable naming the field."""

from __future__ import annotations

from functools import lru_cache

from web3 import Web3

from nftreg import _core
from nftreg.services.errors import NotFound, Unprocessable

__all__ = ["EMPTY_SHA256", "INT32", "INT64", "address", "cid", "hex32", "token_id"]

INT64, INT32 = 2**63, 2**31
# SHA-256 of zero bytes: an empty file is nobody's asset
EMPTY_SHA256 = "0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def hex32(v: str, what: str) -> str:
    s = v.lower()
    if not s.startswith("0x") or len(s) != 66:
        raise Unprocessable(f"{what}: expected 0x followed by 64 hex digits")
    try:
        bytes.fromhex(s[2:])
    except ValueError:
        raise Unprocessable(f"{what}: not hex") from None
    return s


def address(v: object, what: str = "owner") -> str:
    if not isinstance(v, str):
        raise Unprocessable(f"{what}: not an Ethereum address")
    return _address(v, what)


# a minter registers many assets for few owners: EIP-55 (keccak in Python, ~0.14 ms) once per
# address, not per request; only valid addresses are cached (an exception is never cached)
@lru_cache(maxsize=4096)
def _address(v: str, what: str) -> str:
    if not Web3.is_address(v):
        raise Unprocessable(f"{what}: not an Ethereum address")
    body = v[2:] if v[:2] in ("0x", "0X") else v
    if body != body.lower() and body != body.upper() and not Web3.is_checksum_address(v):
        raise Unprocessable(f"{what}: mixed-case address with a wrong EIP-55 checksum (a typo?)")
    return Web3.to_checksum_address(v)


def cid(v: str, what: str) -> str:
    try:
        _core.cid.cid_info(v)
    except (ValueError, TypeError):
        raise Unprocessable(f"{what}: not a valid CID") from None
    return v


def token_id(v: int, missing: str) -> int:
    """A token id the 64-bit index column can hold (nftreg's ids are sequential)."""
    if not 0 <= v < INT64:
        raise NotFound(missing)
    return v
