"""The signature schemes nftreg verifies in batches, in one registry that the service
(``POST /v1/verify/signatures``), the CLI (``nftreg verify signatures``) and the OpenAPI schema
all read. Adding a scheme is one ``register(Scheme(...))`` entry here.

An item is a JSON object ``{"scheme": NAME, ...}``. Every scheme reads its fields with the
same rules:

- ``message``: a string, UTF-8 text unless ``"encoding": "hex"`` says it is 0x-hex bytes (a
  text message that happens to start with ``0x`` is still text: the encoding is never guessed);
- ``signature`` / ``public_key``: hex, with or without ``0x``;
- ``address``: an Ethereum address; mixed case must be a valid EIP-55 checksum.

A bad item gets ``valid: false`` and an ``error`` naming the field; it never fails the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nftreg import signatures as sig

__all__ = ["SCHEMES", "ItemError", "Scheme", "message_bytes", "openapi_item_schema", "register", "verify_items"]


class ItemError(ValueError):
    """One item is malformed; the message names the field."""


@dataclass(frozen=True)
class Scheme:
    name: str
    signer_field: str  # "address" or "public_key"
    payload_field: str  # "message" or "typed_data"
    parse: Callable[[Mapping[str, Any]], tuple[Any, bytes, bytes]]  # item -> (payload, signature, signer)
    verify: Callable[[list[Any], list[bytes], list[bytes]], list[bool]]  # a batch of parsed items
    description: str


SCHEMES: dict[str, Scheme] = {}


def register(scheme: Scheme) -> Scheme:
    if scheme.name in SCHEMES:
        raise ValueError(f"signature scheme {scheme.name!r} is already registered")
    SCHEMES[scheme.name] = scheme
    return scheme


# -- field readers shared by every scheme ----------------------------------------------------
def _field(item: Mapping[str, Any], name: str) -> Any:
    if name not in item:
        raise ItemError(f"{name}: required")
    return item[name]


def _hex(item: Mapping[str, Any], name: str) -> bytes:
    v = _field(item, name)
    if not isinstance(v, str):
        raise ItemError(f"{name}: expected a hex string")
    try:
        return bytes.fromhex(v.removeprefix("0x"))
    except ValueError:
        raise ItemError(f"{name}: not hex") from None


def message_bytes(item: Mapping[str, Any]) -> bytes:
    """The signed bytes of ``item["message"]``: UTF-8 text, or 0x-hex with ``encoding: hex``."""
    m = _field(item, "message")
    if not isinstance(m, str):
        raise ItemError("message: must be a string")
    encoding = item.get("encoding", "utf8")
    if encoding == "hex":
        try:
            return bytes.fromhex(m.removeprefix("0x"))
        except ValueError:
            raise ItemError("message: encoding is hex but the message is not hex") from None
    if encoding != "utf8":
        raise ItemError("encoding: must be utf8 or hex")
    try:
        return m.encode("utf-8")
    except UnicodeEncodeError:
        raise ItemError("message: not valid Unicode text (a lone surrogate)") from None


def _address(item: Mapping[str, Any]) -> bytes:
    v = _field(item, "address")
    body = v[2:] if isinstance(v, str) and v[:2] in ("0x", "0X") else None
    try:
        raw = bytes.fromhex(body) if body is not None and len(body) == 40 else None
    except ValueError:
        raw = None
    if raw is None:
        raise ItemError("address: not an Ethereum address")
    if body != body.lower() and body != body.upper():  # type: ignore[union-attr]
        from eth_utils import to_checksum_address

        if to_checksum_address(raw) != "0x" + body:  # type: ignore[operator]
            raise ItemError("address: mixed-case address with a wrong EIP-55 checksum (a typo?)")
    return raw


def _typed_data(item: Mapping[str, Any]) -> Mapping[str, Any]:
    td = _field(item, "typed_data")
    if not isinstance(td, Mapping):
        raise ItemError("typed_data: must be an object")
    return td


# -- the schemes -----------------------------------------------------------------------------
register(Scheme(
    name="eip191", signer_field="address", payload_field="message",
    parse=lambda it: (message_bytes(it), _hex(it, "signature"), _address(it)),
    verify=lambda msgs, sigs, who: sig.verify_personal_sign(msgs, sigs, who),
    description="EIP-191 personal_sign (version 0x45) by an Ethereum address",
))
register(Scheme(
    name="eip712", signer_field="address", payload_field="typed_data",
    parse=lambda it: (_typed_data(it), _hex(it, "signature"), _address(it)),
    verify=lambda tds, sigs, who: sig.verify_typed_data(tds, sigs, who),
    description="EIP-712 typed data (types, primaryType, domain, message) by an Ethereum address",
))
register(Scheme(
    name="ed25519", signer_field="public_key", payload_field="message",
    parse=lambda it: (message_bytes(it), _hex(it, "signature"), _hex(it, "public_key")),
    verify=lambda msgs, sigs, keys: sig.verify_ed25519(msgs, sigs, keys),
    description="RFC 8032 Ed25519 by a 32-byte public key",
))


def verify_items(items: Sequence[Any]) -> list[tuple[bool, str | None]]:
    """(valid, error) for each item, in order: items are parsed one by one, then each scheme
    verifies its items as one batch on all cores."""
    results: list[tuple[bool, str | None]] = [(False, None)] * len(items)
    groups: dict[str, list[tuple[int, Any, bytes, bytes]]] = {}
    for i, it in enumerate(items):
        try:
            if not isinstance(it, Mapping):
                raise ItemError("item must be an object")
            name = it.get("scheme")
            scheme = SCHEMES.get(name) if isinstance(name, str) else None
            if scheme is None:
                raise ItemError(f"scheme must be one of {', '.join(SCHEMES)}")
            parsed = scheme.parse(it)
        except (ValueError, TypeError) as e:  # ItemError, or anything a field's value trips
            results[i] = (False, str(e))
            continue
        groups.setdefault(scheme.name, []).append((i, *parsed))
    for name, group in groups.items():
        idx, payloads, sigs, signers = zip(*group)
        for i, ok in zip(idx, SCHEMES[name].verify(list(payloads), list(sigs), list(signers))):
            results[i] = (bool(ok), None)
    return results


def openapi_item_schema() -> dict[str, Any]:
    """The JSON schema of one item, from the registry (the OpenAPI document uses it)."""
    return {
        "type": "object",
        "properties": {
            "scheme": {"enum": list(SCHEMES), "description": "; ".join(f"{s.name}: {s.description}" for s in SCHEMES.values())},
            "message": {"type": "string"}, "encoding": {"enum": ["utf8", "hex"], "default": "utf8"},
            "typed_data": {"type": "object"}, "signature": {"type": "string"},
            "address": {"type": "string"}, "public_key": {"type": "string"},
        },
    }
