"""Checking the log without trusting its operator: checkpoint signatures, receipts (inclusion
proofs against a signed checkpoint) and consistency between two checkpoints.

Receipts travel as JSON (``receipt_to_json``): hashes as 0x-hex, the checkpoint as the signed
note text. ``verify_receipt`` needs only the log's verifier key (``<name>+<hash>+<keydata>``,
shown by ``GET /v1/log``).
"""

from __future__ import annotations

from typing import Any

from nftreg._core import tlog
from nftreg.errors import InvalidInputError
from nftreg.log.note import Checkpoint

__all__ = [
    "leaf_hash", "open_checkpoint", "receipt_to_json", "verify_consistency", "verify_inclusion", "verify_receipt",
]


def leaf_hash(entry: bytes) -> bytes:
    """RFC 6962 leaf hash SHA-256(0x00 || entry)."""
    return tlog.leaf_hash(entry)


def open_checkpoint(note: str, verifier_key: str) -> Checkpoint:
    """Verify a checkpoint note's signature by ``verifier_key`` and parse it. Raises
    ``InvalidInputError`` naming what is wrong."""
    name, public_key = tlog.note_parse_verifier_key(verifier_key)
    try:
        return Checkpoint.open(note, name, public_key)
    except ValueError as e:
        raise InvalidInputError(f"checkpoint: {e}") from None


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    return tlog.verify_inclusion(leaf, index, size, proof, root)


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> bool:
    return tlog.verify_consistency(old_size, new_size, old_root, new_root, proof)


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def receipt_to_json(receipt: dict[str, Any], entry: bytes | None = None) -> dict[str, Any]:
    out = {
        "index": receipt["index"],
        "leaf_hash": _hex(receipt["leaf_hash"]),
        "tree_size": receipt["tree_size"],
        "root": _hex(receipt["root"]),
        "proof": [_hex(h) for h in receipt["proof"]],
        "checkpoint": receipt["checkpoint"],
    }
    if entry is not None:
        out["entry"] = _hex(entry)
    return out


def _b(v: Any, field: str) -> bytes:
    if not isinstance(v, str) or not v.startswith("0x"):
        raise InvalidInputError(f"receipt.{field}: expected 0x-hex")
    try:
        return bytes.fromhex(v[2:])
    except ValueError:
        raise InvalidInputError(f"receipt.{field}: not valid hex") from None


def verify_receipt(receipt: dict[str, Any], verifier_key: str, *, entry: bytes | None = None) -> Checkpoint:
    """Check a receipt offline: the checkpoint is signed by the log's key, the proof places the
    leaf at ``index`` under the checkpoint's root, and (when given or included) the entry hashes
    to the leaf. Returns the checkpoint; raises ``InvalidInputError`` saying what failed."""
    if not isinstance(receipt, dict):
        raise InvalidInputError("receipt: expected a JSON object")
    cp = open_checkpoint(str(receipt.get("checkpoint", "")), verifier_key)
    index = receipt.get("index")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise InvalidInputError("receipt.index: expected a non-negative integer")
    proof_raw = receipt.get("proof")
    if not isinstance(proof_raw, list):
        raise InvalidInputError("receipt.proof: expected a list of 0x-hex hashes")
    proof = [_b(h, f"proof[{i}]") for i, h in enumerate(proof_raw)]
    leaf = _b(receipt.get("leaf_hash"), "leaf_hash")
    if entry is None and receipt.get("entry") is not None:
        entry = _b(receipt["entry"], "entry")
    if entry is not None and leaf_hash(entry) != leaf:
        raise InvalidInputError("receipt: the entry does not hash to the receipt's leaf hash")
    if receipt.get("tree_size", cp.size) != cp.size:
        raise InvalidInputError("receipt.tree_size: does not match the signed checkpoint")
    if not verify_inclusion(leaf, index, cp.size, proof, cp.root):
        raise InvalidInputError(f"receipt: the inclusion proof does not place the leaf at index {index} "
                                f"in the signed tree of size {cp.size}")
    return cp
