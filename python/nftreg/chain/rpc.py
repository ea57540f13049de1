"""One transport interface for everything nftreg asks a node, with two implementations:

* ``JsonRpc``: plain JSON-RPC over one pooled HTTP session (anvil, any node URL). The per-write
  calls (estimate, nonce, send, receipt, head) skip web3's middleware and formatters, which cost
  more CPU than the round trip itself under load; receipts are read in JSON-RPC batches.
* ``Web3Rpc``: the same operations through a ``Web3`` object (the in-process EVM, whose provider
  does not speak JSON-RPC on the wire).

Both raise ``ChainError("RPC unreachable …")`` when the node cannot be reached and ``NodeError``
(a ChainError carrying the node's ``data``) when the node answers with an error, so callers
never branch on the backend.
"""

from __future__ import annotations

from typing import Any, Protocol, cast
from urllib.parse import urlparse

from eth_typing import HexStr
from web3 import Web3
from web3._utils.method_formatters import receipt_formatter
from web3.exceptions import TransactionNotFound
from web3.types import TxParams

from nftreg.chain.reverts import is_revert, revert_data
from nftreg.errors import ChainError
from nftreg.net import is_loopback

__all__ = ["JsonRpc", "Log", "NodeError", "Rpc", "Web3Rpc", "http_web3", "rpc_for"]

Log = dict[str, Any]  # topics: list[bytes], data: bytes, blockNumber, logIndex: int, transactionHash: 0x-hex
RECEIPT_BATCH = 200  # receipts per JSON-RPC batch request


class NodeError(ChainError):
    """The node answered with an error object; ``data`` is its revert data, if any."""

    def __init__(self, message: str, data: Any = None, *, revert: bool = False):
        super().__init__(message)
        self.data = data
        self.revert = revert or data is not None or "revert" in message.lower()


class Rpc(Protocol):
    def block_number(self) -> int: ...
    def block_hash(self, number: int) -> str | None: ...
    def base_fee(self) -> int | None: ...
    def gas_price(self) -> int: ...
    def pending_nonce(self, address: str) -> int: ...
    def estimate_gas(self, call: dict[str, Any]) -> int: ...
    def eth_call(self, call: dict[str, Any], block: int | str) -> bytes: ...
    def send_raw(self, raw: bytes) -> None: ...
    def transaction(self, tx_hash: str) -> dict[str, Any] | None: ...
    def receipts(self, tx_hashes: list[str]) -> list[dict[str, Any] | None]: ...
    def logs(self, address: str, from_block: int, to_block: int) -> list[Log]: ...
    def client_version(self) -> str: ...
    def code(self, address: str) -> bytes: ...


def _hexdata(d: Any) -> str:
    if isinstance(d, str):
        return d if d.startswith("0x") else "0x" + d
    return "0x" + bytes(d).hex()


def _call_json(call: dict[str, Any]) -> dict[str, Any]:
    out = {"from": call["from"], "data": _hexdata(call.get("data", b"")), "value": hex(int(call.get("value", 0)))}
    if call.get("to"):
        out["to"] = call["to"]
    return out


class JsonRpc:
    def __init__(self, url: str, session: Any, timeout: float):
        self.url, self.session, self.timeout = url, session, timeout
        self._id = 0

    def _post(self, payload: Any, what: str) -> Any:
        try:
            r = self.session.post(self.url, json=payload, timeout=self.timeout)
            r.raise_for_status()
        except OSError as e:  # requests' errors are OSErrors: refused, reset, timed out, HTTP 5xx
            raise ChainError(f"RPC unreachable ({what}): {e}") from None
        try:
            return r.json()
        except ValueError:
            raise ChainError(f"{what}: the node answered something that is not JSON-RPC") from None

    def request(self, method: str, params: list[Any]) -> Any:
        self._id += 1
        body = self._post({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params}, method)
        if not isinstance(body, dict):
            raise ChainError(f"{method}: the node answered something that is not JSON-RPC")
        err = body.get("error")
        if err is not None:
            msg = str(err.get("message", err)) if isinstance(err, dict) else str(err)
            raise NodeError(msg, err.get("data") if isinstance(err, dict) else None)
        return body.get("result")

    def block_number(self) -> int:
        return int(self.request("eth_blockNumber", []), 16)

    def block_hash(self, number: int) -> str | None:
        b = self.request("eth_getBlockByNumber", [hex(number), False])
        return None if b is None else str(b["hash"])

    def base_fee(self) -> int | None:
        b = self.request("eth_getBlockByNumber", ["latest", False])
        fee = (b or {}).get("baseFeePerGas")
        return None if fee is None else int(fee, 16)

    def gas_price(self) -> int:
        return int(self.request("eth_gasPrice", []), 16)

    def pending_nonce(self, address: str) -> int:
        return int(self.request("eth_getTransactionCount", [address, "pending"]), 16)

    def estimate_gas(self, call: dict[str, Any]) -> int:
        return int(self.request("eth_estimateGas", [_call_json(call)]), 16)

    def eth_call(self, call: dict[str, Any], block: int | str) -> bytes:
        res = self.request("eth_call", [_call_json(call), hex(block) if isinstance(block, int) else block])
        return bytes.fromhex(str(res)[2:])

    def send_raw(self, raw: bytes) -> None:
        self.request("eth_sendRawTransaction", ["0x" + raw.hex()])

    def transaction(self, tx_hash: str) -> dict[str, Any] | None:
        tx = self.request("eth_getTransactionByHash", [tx_hash])
        if tx is None:
            return None
        return {"from": tx["from"], "to": tx.get("to"), "data": tx["input"], "value": int(tx["value"], 16),
                "nonce": int(tx["nonce"], 16), "blockNumber": None if tx.get("blockNumber") is None
                else int(tx["blockNumber"], 16)}

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        raw = self.request("eth_getTransactionReceipt", [tx_hash])
        return None if raw is None else dict(receipt_formatter(raw))

    def receipts(self, tx_hashes: list[str]) -> list[dict[str, Any] | None]:
        """One round trip per RECEIPT_BATCH receipts (None where there is none)."""
        out: list[dict[str, Any] | None] = []
        for i in range(0, len(tx_hashes), RECEIPT_BATCH):
            part = tx_hashes[i:i + RECEIPT_BATCH]
            if len(part) == 1:
                out.append(self.receipt(part[0]))
                continue
            answers = self._post([{"jsonrpc": "2.0", "id": k, "method": "eth_getTransactionReceipt", "params": [h]}
                                  for k, h in enumerate(part)], "eth_getTransactionReceipt")
            if not isinstance(answers, list):  # a node without batch support answers one error object
                out.extend(self.receipt(h) for h in part)
                continue
            by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
            for k, h in enumerate(part):
                a = by_id.get(k)
                if a is None or a.get("error") is not None:
                    out.append(self.receipt(h))  # ask again alone: its error (or answer) is its own
                else:
                    res = a.get("result")
                    out.append(None if res is None else dict(receipt_formatter(res)))
        return out

    def logs(self, address: str, from_block: int, to_block: int) -> list[Log]:
        raw = self.request("eth_getLogs", [{"address": address, "fromBlock": hex(from_block), "toBlock": hex(to_block)}])
        return [{"topics": [bytes.fromhex(t[2:]) for t in lg["topics"]], "data": bytes.fromhex(lg["data"][2:]),
                 "blockNumber": int(lg["blockNumber"], 16), "transactionHash": lg["transactionHash"],
                 "logIndex": int(lg["logIndex"], 16)}
                for lg in raw or []]

    def client_version(self) -> str:
        return str(self.request("web3_clientVersion", []))

    def code(self, address: str) -> bytes:
        return bytes.fromhex(str(self.request("eth_getCode", [address, "latest"]))[2:])


class Web3Rpc:
    def __init__(self, w3: Web3):
        self.w3 = w3

    def _do(self, what: str, fn: Any) -> Any:
        try:
            return fn()
        except ChainError:
            raise
        except OSError as e:
            raise ChainError(f"RPC unreachable ({what}): {e}") from None
        except Exception as e:  # noqa: BLE001 - every backend's revert shape, else a ChainError
            if is_revert(e):
                raise NodeError(str(e), revert_data(e), revert=True) from None
            raise NodeError(f"{what}: {e}") from None

    def block_number(self) -> int:
        return int(self._do("eth_blockNumber", lambda: self.w3.eth.block_number))

    def block_hash(self, number: int) -> str | None:
        try:
            b = self.w3.eth.get_block(number)
        except Exception:  # noqa: BLE001 - web3 raises BlockNotFound past the head
            return None
        return "0x" + bytes(b["hash"]).hex()

    def base_fee(self) -> int | None:
        fee = self._do("eth_getBlockByNumber", lambda: self.w3.eth.get_block("latest").get("baseFeePerGas"))
        return None if fee is None else int(fee)

    def gas_price(self) -> int:
        return int(self._do("eth_gasPrice", lambda: self.w3.eth.gas_price))

    def pending_nonce(self, address: str) -> int:
        return int(self._do("eth_getTransactionCount", lambda: self.w3.eth.get_transaction_count(
            Web3.to_checksum_address(address), "pending")))

    def estimate_gas(self, call: dict[str, Any]) -> int:
        return int(self._do("eth_estimateGas", lambda: self.w3.eth.estimate_gas(cast(TxParams, call))))

    def eth_call(self, call: dict[str, Any], block: int | str) -> bytes:
        return bytes(self._do("eth_call", lambda: self.w3.eth.call(cast(TxParams, call), cast(Any, block))))

    def send_raw(self, raw: bytes) -> None:
        self._do("eth_sendRawTransaction", lambda: self.w3.eth.send_raw_transaction(raw))

    def transaction(self, tx_hash: str) -> dict[str, Any] | None:
        try:
            tx = self._do("eth_getTransactionByHash", lambda: self.w3.eth.get_transaction(HexStr(tx_hash)))
        except NodeError:
            return None
        return {"from": tx["from"], "to": tx.get("to"), "data": tx["input"], "value": int(tx["value"]),
                "nonce": int(tx["nonce"]), "blockNumber": tx.get("blockNumber")}

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        try:
            return dict(self.w3.eth.get_transaction_receipt(HexStr(tx_hash)))
        except TransactionNotFound:
            return None
        except OSError as e:
            raise ChainError(f"RPC unreachable (eth_getTransactionReceipt): {e}") from None

    def receipts(self, tx_hashes: list[str]) -> list[dict[str, Any] | None]:
        return [self.receipt(h) for h in tx_hashes]

    def logs(self, address: str, from_block: int, to_block: int) -> list[Log]:
        raw = self._do("eth_getLogs", lambda: self.w3.eth.get_logs(
            {"address": Web3.to_checksum_address(address), "fromBlock": from_block, "toBlock": to_block}))
        return [{"topics": [bytes(t) for t in lg["topics"]], "data": bytes(lg["data"]),
                 "blockNumber": int(lg["blockNumber"]), "transactionHash": "0x" + bytes(lg["transactionHash"]).hex(),
                 "logIndex": int(lg["logIndex"])}
                for lg in raw]

    def client_version(self) -> str:
        return str(self._do("web3_clientVersion", lambda: self.w3.client_version))

    def code(self, address: str) -> bytes:
        return bytes(self._do("eth_getCode", lambda: self.w3.eth.get_code(Web3.to_checksum_address(address))))


def http_web3(url: str, timeout: float) -> Web3:
    """Web3 over HTTP, trimmed for a write path that sends many small requests from many
    threads: one shared session with a connection pool as large as the service's thread pool
    (requests' default of 10 drops and reopens connections under load); no proxy/netrc lookups
    for a node on loopback (requests otherwise walks the whole environment on every call); and
    none of the middleware that only serves unsigned ``eth_sendTransaction`` calls or ENS names
    (every transaction here is signed locally with the chain id read once at connect)."""
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=64)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if is_loopback(urlparse(url).hostname or ""):
        session.trust_env = False
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}, session=session))
    for name in ("validation", "ens_name_to_address", "gas_price_strategy", "gas_estimate"):
        w3.middleware_onion.remove(name)
    w3.nftreg_session = session  # type: ignore[attr-defined]  # JsonRpc shares it
    return w3


def rpc_for(w3: Web3) -> Rpc:
    """The lean JSON-RPC transport for a Web3 made by ``http_web3``, else Web3 itself."""
    session = getattr(w3, "nftreg_session", None)
    if session is None:
        return Web3Rpc(w3)
    provider = w3.provider
    timeout = (getattr(provider, "_request_kwargs", {}) or {}).get("timeout", 30)
    return JsonRpc(str(getattr(provider, "endpoint_uri", "")), session, timeout)
