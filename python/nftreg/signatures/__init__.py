"""Batch signature verification: EIP-191 ``personal_sign``, EIP-712 typed data, raw
secp256k1 recovery and Ed25519 — in Rust, on all cores, with the GIL released.

Rules (each enforced in Rust and tested): signatures are 65-byte ``r ‖ s ‖ v`` with ``v`` in
{0, 1, 27, 28}; ``0 < r, s < n`` and low-s only (EIP-2); a recovery yielding the zero address
is invalid. EIP-2098 64-byte compact signatures are refused unless ``allow_compact=True``,
matching OpenZeppelin's ``ECDSA.recover(bytes32, bytes)``, which also refuses them.

EIP-712 follows eth-account's ``encode_typed_data(full_message=...)``: same digest, and the
same refusals (a domain key outside name/version/chainId/verifyingContract/salt, a declared
``EIP712Domain`` that does not name exactly the domain's keys, a ``primaryType`` that is not the
root of the types). Where eth-account is lax, nftreg refuses: a missing or null field, a bool
given as anything but True/False, text where 0x-hex bytes are expected, a ``T[k]`` array of
another length, floats.

Inputs: digests, signatures and keys as ``bytes`` (or any buffer) or 0x-hex strings; messages as
``bytes`` or ``str`` (UTF-8 text, as wallets sign it). Addresses are returned EIP-55
checksummed. Mismatched batch lengths raise ``InvalidInputError``; a malformed or invalid
*item* never raises: it yields ``None`` / ``False`` at its index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nftreg import _core

__all__ = [
    "eip712_digest",
    "personal_sign_digest",
    "recover_addresses",
    "recover_addresses_packed",
    "verify_ed25519",
    "verify_personal_sign",
    "verify_typed_data",
]

BytesLike = bytes | bytearray | memoryview | str


def recover_addresses(
    digests: Sequence[BytesLike], signatures: Sequence[BytesLike], *, allow_compact: bool = False
) -> list[str | None]:
    """Signer address of each (32-byte digest, signature), or ``None`` where invalid."""
    return _core.sig.recover_addresses(digests, signatures, allow_compact=allow_compact)


def recover_addresses_packed(digests: BytesLike, signatures: BytesLike) -> tuple[bytes, bytes]:
    """Packed path for very large batches: ``digests`` is n×32 contiguous bytes and
    ``signatures`` n×65. Returns (n×20 address bytes, n validity bytes: 1 valid / 0 invalid)."""
    return _core.sig.recover_addresses_packed(digests, signatures)


def personal_sign_digest(message: bytes | str) -> bytes:
    """EIP-191 version 0x45 digest of ``message``."""
    return _core.sig.personal_sign_digest(message)


def verify_personal_sign(
    messages: Sequence[bytes | str],
    signatures: Sequence[BytesLike],
    addresses: Sequence[BytesLike],
    *,
    allow_compact: bool = False,
) -> list[bool]:
    """Did ``addresses[i]`` sign ``messages[i]`` with ``personal_sign`` (EIP-191)?"""
    return _core.sig.verify_personal_sign(messages, signatures, addresses, allow_compact=allow_compact)


def eip712_digest(typed_data: Mapping[str, Any] | str) -> bytes:
    """EIP-712 digest of a full typed-data message (``types``, ``primaryType``, ``domain``,
    ``message``) given as a mapping or as its JSON text; identical to eth-account's
    ``encode_typed_data(full_message=...)``. Integers are exact at any size; ``bytes`` values
    stand for their 0x-hex; floats are refused. Raises ``InvalidInputError`` naming the bad
    value (e.g. ``message.from.wallet``)."""
    return _core.sig.eip712_digest(typed_data)


def verify_typed_data(
    typed_data_list: Sequence[Mapping[str, Any] | str],
    signatures: Sequence[BytesLike],
    addresses: Sequence[BytesLike],
    *,
    allow_compact: bool = False,
) -> list[bool]:
    """Did ``addresses[i]`` sign ``typed_data_list[i]`` (EIP-712)? The domain's chainId and
    verifyingContract are part of the digest, so a signature for another chain or contract fails.

    Items that share ``types`` and ``domain`` (the usual batch) share their type hashes and
    domain separator, so only each ``message`` is hashed per item. An item that is not valid
    typed data is ``False``; it never raises."""
    return _core.sig.verify_typed_data(typed_data_list, signatures, addresses, allow_compact=allow_compact)


def verify_ed25519(
    messages: Sequence[bytes | str], signatures: Sequence[BytesLike], public_keys: Sequence[BytesLike]
) -> list[bool]:
    """RFC 8032 Ed25519 verification, in batches, with per-item fallback when a batch fails."""
    return _core.sig.verify_ed25519(messages, signatures, public_keys)
