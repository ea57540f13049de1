"""Contract events decoded from the ABI: one decoder for receipts, log queries and the
index's event sync."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak
from web3 import Web3

__all__ = ["ContractEvent", "EventDecoder"]


@dataclass(frozen=True)
class ContractEvent:
    name: str
    args: dict[str, Any]  # addresses checksummed, bytesN as bytes, integers as int
    block_number: int
    tx_hash: str
    log_index: int


class EventDecoder:
    def __init__(self, abi: list[dict[str, Any]]):
        self._by_topic: dict[bytes, dict[str, Any]] = {}
        for e in abi:
            if e.get("type") == "event" and not e.get("anonymous"):
                types = ",".join(i["type"] for i in e["inputs"])
                self._by_topic[keccak(text=f"{e['name']}({types})")] = e

    def topic(self, name: str) -> bytes:
        return next(t for t, e in self._by_topic.items() if e["name"] == name)

    def decode(self, log: dict[str, Any]) -> ContractEvent | None:
        """A log (from a receipt or ``eth_getLogs``, raw or web3-formatted) as an event of this
        ABI, or None when it is not one (another contract's event, or a malformed log)."""
        topics = [_bytes(t) for t in log.get("topics") or []]
        event = self._by_topic.get(topics[0]) if topics else None
        if event is None:
            return None
        indexed = [i for i in event["inputs"] if i["indexed"]]
        plain = [i for i in event["inputs"] if not i["indexed"]]
        if len(topics) != len(indexed) + 1:
            return None  # same signature, different indexing (ERC-20 Transfer vs ERC-721 Transfer)
        args: dict[str, Any] = {}
        try:
            for i, t in zip(indexed, topics[1:]):
                args[i["name"]] = _value(i["type"], t)
            values = abi_decode([i["type"] for i in plain], _bytes(log.get("data") or b""))
        except Exception:  # noqa: BLE001 - a malformed log is not an event of ours
            return None
        for i, v in zip(plain, values):
            args[i["name"]] = Web3.to_checksum_address(v) if i["type"] == "address" else v
        tx = log.get("transactionHash")
        return ContractEvent(event["name"], args, _int(log.get("blockNumber")),
                             tx if isinstance(tx, str) else "0x" + _bytes(tx or b"").hex(), _int(log.get("logIndex")))


def _bytes(v: Any) -> bytes:
    return bytes.fromhex(v[2:]) if isinstance(v, str) else bytes(v)


def _int(v: Any) -> int:
    if v is None:
        return 0
    return int(v, 16) if isinstance(v, str) else int(v)


def _value(typ: str, topic: bytes) -> Any:
    """An indexed argument from its topic (dynamic types are topic hashes and stay bytes)."""
    if typ == "address":
        return Web3.to_checksum_address(topic[12:])
    if typ.startswith(("uint", "int")) or (typ.startswith("bytes") and typ != "bytes"):
        return abi_decode([typ], topic)[0]
    if typ == "bool":
        return topic[-1] == 1
    return topic
