"""Revert reasons: custom errors decoded by their ABI, whichever backend raised them."""

from __future__ import annotations

import ast
from typing import Any

from eth_abi import decode as abi_decode
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError

from nftreg.errors import ContractRevert

__all__ = ["ErrorDecoder", "is_revert", "revert_data"]


class ErrorDecoder:
    """Maps revert data to (custom error name, decoded args) using contract ABIs."""

    def __init__(self) -> None:
        self._errors: dict[bytes, tuple[str, list[str]]] = {
            bytes.fromhex("08c379a0"): ("Error", ["string"]),
            bytes.fromhex("4e487b71"): ("Panic", ["uint256"]),
        }

    def add_abi(self, abi: list[dict[str, Any]]) -> None:
        for item in abi:
            if item.get("type") == "error":
                types = [i["type"] for i in item["inputs"]]
                self._errors[Web3.keccak(text=f"{item['name']}({','.join(types)})")[:4]] = (item["name"], types)

    def decode(self, data: bytes | str | None) -> ContractRevert:
        if isinstance(data, str):
            data = bytes.fromhex(data.removeprefix("0x"))
        if not data or len(data) < 4:
            return ContractRevert("Reverted", (), "execution reverted without data")
        sel, body = bytes(data[:4]), bytes(data[4:])
        if sel not in self._errors:
            return ContractRevert("UnknownError", ("0x" + bytes(data).hex(),))
        name, types = self._errors[sel]
        try:
            args = tuple(abi_decode(types, body))
        except Exception:  # noqa: BLE001 - malformed revert data is shown raw
            return ContractRevert(name, ("0x" + body.hex(),))
        return ContractRevert(name, tuple(
            Web3.to_checksum_address(a) if t == "address" else ("0x" + a.hex() if isinstance(a, bytes) else a)
            for t, a in zip(types, args)))


def revert_data(exc: BaseException) -> Any:
    """Revert data from whichever shape the backend raised (web3 custom/logic errors, JSON-RPC
    error dicts, eth-tester's ``TransactionFailed("execution reverted: b'...'")``)."""
    if isinstance(exc, (ContractCustomError, ContractLogicError)):
        return getattr(exc, "data", None) or (exc.args[1] if len(exc.args) > 1 else None)
    for a in getattr(exc, "args", ()):
        if isinstance(a, dict) and "data" in a:
            return a["data"]
        if isinstance(a, (bytes, bytearray)):
            return bytes(a)
        if isinstance(a, str) and a.startswith("execution reverted: b"):
            try:
                return ast.literal_eval(a[len("execution reverted: "):])
            except (ValueError, SyntaxError):
                return None
    return None


def is_revert(exc: BaseException) -> bool:
    if isinstance(exc, (ContractCustomError, ContractLogicError)):
        return True
    return type(exc).__name__ == "TransactionFailed" or "revert" in str(exc).lower()
