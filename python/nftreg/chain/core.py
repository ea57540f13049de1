"""One chain interface over three backends: the in-process EVM (``tester://``), an
nftreg-managed anvil (``anvil://``) and any JSON-RPC URL.

Writes go sign → broadcast → wait so that callers (the service's outbox) can store the signed
raw transaction and its hash before it leaves the process, and rebroadcast the very same bytes
after a crash. Nonces come from a thread-safe manager that never reuses a nonce and resyncs
with the chain's pending count.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from eth_account import Account
from eth_typing import HexStr
from web3 import Web3
from web3._utils.method_formatters import receipt_formatter
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
)
from web3.types import TxParams, Wei

from nftreg.chain.anvil import ANVIL_DEV_KEY, AnvilProcess
from nftreg.errors import ChainError, ConfigError, ContractRevert
from nftreg.keys import Signer, load_signer
from nftreg.net import is_loopback

__all__ = ["Chain", "ErrorDecoder", "SignedTx"]


@dataclass(frozen=True)
class SignedTx:
    raw: bytes
    hash: str
    nonce: int
    sender: str


class ErrorDecoder:
    """Maps revert data to (custom error name, decoded args) using contract ABIs."""

    def __init__(self) -> None:
        self._errors: dict[bytes, tuple[str, list[str]]] = {}

    def add_abi(self, abi: list[dict[str, Any]]) -> None:
        for item in abi:
            if item.get("type") == "error":
                types = [i["type"] for i in item["inputs"]]
                sig = f"{item['name']}({','.join(types)})"
                self._errors[Web3.keccak(text=sig)[:4]] = (item["name"], types)
        self._errors.setdefault(bytes.fromhex("08c379a0"), ("Error", ["string"]))
        self._errors.setdefault(bytes.fromhex("4e487b71"), ("Panic", ["uint256"]))

    def decode(self, data: bytes | str | None) -> ContractRevert:
        if isinstance(data, str):
            data = bytes.fromhex(data.removeprefix("0x"))
        if not data or len(data) < 4:
            return ContractRevert("Reverted", (), "execution reverted without data")
        sel, body = bytes(data[:4]), bytes(data[4:])
        if sel not in self._errors:
            return ContractRevert("UnknownError", ("0x" + bytes(data).hex(),))
        name, types = self._errors[sel]
        from eth_abi import decode as abi_decode

        try:
            args = tuple(abi_decode(types, body))
        except Exception:
            args = ("0x" + body.hex(),)
        args = tuple(
            Web3.to_checksum_address(a) if t == "address" else ("0x" + a.hex() if isinstance(a, bytes) else a)
            for t, a in zip(types, args)
        ) if len(args) == len(types) else args
        return ContractRevert(name, args)


def _revert_data(exc: Exception) -> Any:
    """Revert data from whichever shape the backend raised (web3 custom/logic errors, JSON-RPC
    error dicts, eth-tester's `TransactionFailed("execution reverted: b'...'")`)."""
    if isinstance(exc, (ContractCustomError, ContractLogicError)):
        return getattr(exc, "data", None) or (exc.args[1] if len(exc.args) > 1 else None)
    for a in getattr(exc, "args", ()):
        if isinstance(a, dict) and "data" in a:
            return a["data"]
        if isinstance(a, (bytes, bytearray)):
            return bytes(a)
        if isinstance(a, str) and a.startswith("execution reverted: b"):
            import ast

            try:
                return ast.literal_eval(a[len("execution reverted: "):])
            except (ValueError, SyntaxError):
                return None
    return None


def _hexdata(d: Any) -> str:
    if isinstance(d, str):
        return d if d.startswith("0x") else "0x" + d
    return "0x" + bytes(d).hex()


class _RpcError(Exception):
    """A JSON-RPC error object from the node (``args[0]`` is the dict, as web3 raises it)."""

    def __str__(self) -> str:
        e = self.args[0] if self.args else {}
        return str(e.get("message", e)) if isinstance(e, dict) else str(e)


def _http_web3(url: str, timeout: float) -> Web3:
    """Web3 over HTTP, trimmed for a write path that sends many small requests from many
    threads: one shared session with a connection pool as large as the service's thread pool
    (requests' default of 10 drops and reopens connections under load); no proxy/netrc lookups
    for a node on loopback (requests otherwise walks the whole environment on every call); and
    none of the middleware that only serves unsigned ``eth_sendTransaction`` calls or ENS names
    (the validation middleware alone cost an ``eth_chainId`` round trip per estimate and send;
    every transaction here is signed locally with the chain id read once at connect)."""
    from urllib.parse import urlparse

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
    w3.nftreg_session = session  # type: ignore[attr-defined]  # the lean path below shares it
    return w3


def _is_revert(exc: Exception) -> bool:
    if isinstance(exc, (ContractCustomError, ContractLogicError)):
        return True
    return type(exc).__name__ == "TransactionFailed" or "revert" in str(exc).lower()


class Chain:
    """A connection plus a signer and its nonce manager."""

    def __init__(self, w3: Web3, signer: Signer, *, anvil: AnvilProcess | None = None, kind: str = "rpc"):
        self.w3 = w3
        self.signer = signer
        self.kind = kind
        self.anvil = anvil
        self.errors = ErrorDecoder()
        self.chain_id = int(w3.eth.chain_id)
        # The per-write calls (estimate, nonce, send, receipt, head) skip web3's formatting
        # layers on HTTP nodes: they cost more CPU than the round trip itself under load.
        self._session = getattr(w3, "nftreg_session", None)
        provider = w3.provider
        self._url: str | None = str(getattr(provider, "endpoint_uri", "")) if self._session is not None else None
        self._timeout = (getattr(provider, "_request_kwargs", {}) or {}).get("timeout", 30)
        self._rpc_id = 0
        self._nonce_lock = threading.Lock()
        # Sign+broadcast happen under this lock in `transact` so nodes see nonces in order
        # (the in-process EVM rejects any gap; real nodes would park the later transaction).
        self._send_lock = threading.RLock()
        self._next_nonce: int | None = None

    def __repr__(self) -> str:
        return f"Chain({self.kind}, chain_id={self.chain_id}, signer={self.signer.address})"

    @property
    def address(self) -> str:
        return self.signer.address

    @property
    def is_devnet(self) -> bool:
        """A single-node development chain (in-process EVM, anvil, hardhat): blocks can vanish
        on restart or `anvil_reorg`, but no other party reorganises it."""
        if self.kind in ("tester", "anvil"):
            return True
        try:
            version = str(self.w3.client_version).lower()
        except Exception:  # noqa: BLE001 - an unknown node is treated as a real network
            return False
        return version.startswith(("anvil", "hardhat", "ganache"))

    @classmethod
    def connect(cls, url: str, *, private_key: str | None = None, data_dir: str | os.PathLike[str] | None = None,
                rpc_timeout: float = 30) -> Chain:
        signer = load_signer(private_key)
        if url.startswith("tester://"):
            from eth_tester import EthereumTester, PyEVMBackend
            from web3 import EthereumTesterProvider

            tester = EthereumTester(PyEVMBackend())
            w3 = Web3(EthereumTesterProvider(tester))
            if signer is None:
                signer = Signer(Account.from_key(tester.backend.account_keys[0].to_bytes()))
            else:
                funder = w3.eth.accounts[0]
                w3.eth.send_transaction({"from": funder, "to": signer.address, "value": Wei(10**21)})
            return cls(w3, signer, kind="tester")
        if url.startswith("anvil://"):
            base = Path(data_dir) if data_dir else Path(os.environ.get("NFTREG_DATA_DIR", ".nftreg"))
            proc = AnvilProcess(base / "anvil")
            proc.start()
            w3 = _http_web3(proc.url, rpc_timeout)
            return cls(w3, signer or Signer(Account.from_key(ANVIL_DEV_KEY)), anvil=proc, kind="anvil")
        if url.startswith(("http://", "https://")):
            if signer is None:
                raise ConfigError("an RPC chain needs a key: NFTREG_PRIVATE_KEY or NFTREG_KEYSTORE")
            return cls(_http_web3(url, rpc_timeout), signer, kind="rpc")
        raise ConfigError(f"unknown chain URL {url!r}: use tester://, anvil:// or http(s)://")

    def close(self) -> None:
        if self.anvil:
            self.anvil.stop()

    # -- the lean JSON-RPC path --------------------------------------------------------------
    def _raw(self, method: str, params: list[Any]) -> Any:
        """One JSON-RPC call without web3's middleware and formatters. Transport failures
        surface as requests' errors (OSErrors), node errors as _RpcError, as web3's would."""
        assert self._session is not None and self._url is not None
        self._rpc_id += 1
        r = self._session.post(self._url, json={"jsonrpc": "2.0", "id": self._rpc_id, "method": method,
                                                "params": params}, timeout=self._timeout)
        r.raise_for_status()
        try:
            body = r.json()
        except ValueError:
            raise ChainError(f"{method}: the node answered something that is not JSON-RPC") from None
        if not isinstance(body, dict):
            raise ChainError(f"{method}: the node answered something that is not JSON-RPC")
        if body.get("error") is not None:
            raise _RpcError(body["error"])
        return body.get("result")

    def block_number(self) -> int:
        if self._url is None:
            return int(self.w3.eth.block_number)
        return int(self._raw("eth_blockNumber", []), 16)

    def pending_nonce(self) -> int:
        """The signer's transaction count including the node's pending pool."""
        if self._url is None:
            return int(self.w3.eth.get_transaction_count(Web3.to_checksum_address(self.address), "pending"))
        return int(self._raw("eth_getTransactionCount", [self.address, "pending"]), 16)

    # -- nonces ------------------------------------------------------------------------------
    def _take_nonce(self) -> int:
        with self._nonce_lock:
            pending = int(self.w3.eth.get_transaction_count(Web3.to_checksum_address(self.address), "pending"))
            n = pending if self._next_nonce is None else max(self._next_nonce, pending)
            self._next_nonce = n + 1
            return n

    def reset_nonces(self) -> None:
        """Forget the local nonce (after a dropped transaction the chain's count is truth)."""
        with self._nonce_lock:
            self._next_nonce = None

    # -- writes ------------------------------------------------------------------------------
    def estimate_gas(self, tx: dict[str, Any]) -> int:
        if self._url is not None:
            call = {"from": self.address, "data": _hexdata(tx.get("data", b"")), "value": hex(int(tx.get("value", 0)))}
            if tx.get("to"):
                call["to"] = tx["to"]
            try:
                return int(self._raw("eth_estimateGas", [call]), 16)
            except _RpcError as e:
                err = e.args[0] if isinstance(e.args[0], dict) else {}
                if err.get("data") or "revert" in str(e).lower():
                    raise self.errors.decode(err.get("data")) from None
                raise ChainError(f"gas estimation failed: {e}") from None
        try:
            return int(self.w3.eth.estimate_gas(cast(TxParams, {**tx, "from": self.address})))
        except Exception as e:
            if _is_revert(e):
                raise self.errors.decode(_revert_data(e)) from None
            raise ChainError(f"gas estimation failed: {e}") from None

    def sign_transaction(self, tx: dict[str, Any]) -> SignedTx:
        tx = {k: v for k, v in tx.items() if k != "from"}
        tx.setdefault("value", 0)
        tx["chainId"] = self.chain_id
        if "gas" not in tx:
            tx["gas"] = int(self.estimate_gas(tx) * 1.25) + 20_000
        block = self.w3.eth.get_block("latest")
        base = block.get("baseFeePerGas")
        if base is not None:
            tip = 10**9
            tx.setdefault("maxPriorityFeePerGas", tip)
            tx.setdefault("maxFeePerGas", int(base) * 2 + tip)
        else:
            tx.setdefault("gasPrice", int(self.w3.eth.gas_price))
        tx["nonce"] = self._take_nonce()
        signed = self.signer.account.sign_transaction(tx)
        return SignedTx(bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex(), tx["nonce"], self.address)

    def broadcast(self, signed: SignedTx) -> str:
        """Send the raw transaction; sending the same bytes again is harmless."""
        try:
            if self._url is not None:
                self._raw("eth_sendRawTransaction", ["0x" + signed.raw.hex()])
            else:
                self.w3.eth.send_raw_transaction(signed.raw)
        except Exception as e:  # node-specific wording for "I have it already"
            msg = str(e).lower()
            if "already known" in msg or "already imported" in msg or "known transaction" in msg:
                return signed.hash
            try:
                if self.transaction_known(signed.hash):  # mined already (wording varies by node)
                    return signed.hash
            except Exception:  # noqa: BLE001 - fall through to the original error
                pass
            if "nonce too low" in msg or "nonce is too low" in msg:
                if self.transaction_known(signed.hash):
                    return signed.hash
                raise ChainError(f"nonce {signed.nonce} already used by another transaction") from None
            if isinstance(e, (ConnectionError, OSError)) or "connection" in msg:
                raise ChainError(f"RPC unreachable while broadcasting: {e}") from None
            raise ChainError(f"broadcast failed: {e}") from None
        return signed.hash

    def transaction_known(self, tx_hash: str) -> bool:
        try:
            self.w3.eth.get_transaction(HexStr(tx_hash))
            return True
        except TransactionNotFound:
            return False

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        if self._url is not None:
            try:
                raw = self._raw("eth_getTransactionReceipt", [tx_hash])
            except OSError as e:
                raise ChainError(f"RPC unreachable while reading a receipt: {e}") from None
            except _RpcError as e:
                raise ChainError(f"eth_getTransactionReceipt: {e}") from None
            return None if raw is None else dict(receipt_formatter(raw))
        try:
            return dict(self.w3.eth.get_transaction_receipt(HexStr(tx_hash)))
        except TransactionNotFound:
            return None
        except OSError as e:  # requests' errors are OSErrors: unreachable, reset, timed out
            raise ChainError(f"RPC unreachable while reading a receipt: {e}") from None

    def logs(self, address: str, from_block: int, to_block: int) -> list[dict[str, Any]]:
        """A contract's logs in a block range: ``topics`` (bytes), ``data`` (bytes),
        ``blockNumber`` (int), ``transactionHash`` (0x-hex)."""
        if self._url is None:
            raw = self.w3.eth.get_logs({"address": Web3.to_checksum_address(address), "fromBlock": from_block,
                                        "toBlock": to_block})
            return [{"topics": [bytes(t) for t in lg["topics"]], "data": bytes(lg["data"]),
                     "blockNumber": int(lg["blockNumber"]), "transactionHash": "0x" + bytes(lg["transactionHash"]).hex()}
                    for lg in raw]
        raw = self._raw("eth_getLogs", [{"address": address, "fromBlock": hex(from_block), "toBlock": hex(to_block)}])
        return [{"topics": [bytes.fromhex(t[2:]) for t in lg["topics"]], "data": bytes.fromhex(lg["data"][2:]),
                 "blockNumber": int(lg["blockNumber"], 16), "transactionHash": lg["transactionHash"]}
                for lg in raw or []]

    def receipts(self, tx_hashes: list[str]) -> list[dict[str, Any] | None]:
        """Receipts of many transactions (None where there is none), in JSON-RPC batches of 200
        on HTTP nodes: one round trip instead of one per transaction."""
        if self._url is None or not tx_hashes:
            return [self.receipt(h) for h in tx_hashes]
        assert self._session is not None
        out: list[dict[str, Any] | None] = []
        for i in range(0, len(tx_hashes), 200):
            part = tx_hashes[i:i + 200]
            batch = [{"jsonrpc": "2.0", "id": k, "method": "eth_getTransactionReceipt", "params": [h]}
                     for k, h in enumerate(part)]
            try:
                r = self._session.post(self._url, json=batch, timeout=self._timeout)
                r.raise_for_status()
                answers = r.json()
            except OSError as e:
                raise ChainError(f"RPC unreachable while reading receipts: {e}") from None
            except ValueError:
                raise ChainError("eth_getTransactionReceipt: the node answered something that is not JSON-RPC") from None
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

    def wait_receipt(self, tx_hash: str, *, timeout: float = 30) -> dict[str, Any]:
        if self._url is not None:
            deadline = time.monotonic() + timeout
            delay = 0.005
            while True:
                receipt = self.receipt(tx_hash)  # ChainError when unreachable
                if receipt is not None:
                    break
                if time.monotonic() > deadline:
                    raise ChainError(f"no receipt for {tx_hash} within {timeout} s")
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
            if receipt.get("status") != 1:
                raise self._revert_of(tx_hash, receipt)
            return receipt
        try:
            receipt = dict(self.w3.eth.wait_for_transaction_receipt(HexStr(tx_hash), timeout=timeout, poll_latency=0.05))
        except TimeExhausted:
            raise ChainError(f"no receipt for {tx_hash} within {timeout} s") from None
        except OSError as e:
            raise ChainError(f"RPC unreachable while waiting for {tx_hash}: {e}") from None
        if receipt.get("status") != 1:
            raise self._revert_of(tx_hash, receipt)
        return receipt

    def _revert_of(self, tx_hash: str, receipt: dict[str, Any]) -> ContractRevert:
        tx = self.w3.eth.get_transaction(HexStr(tx_hash))
        call = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "value": tx["value"]}
        try:
            self.w3.eth.call(cast(TxParams, call), receipt["blockNumber"] - 1)
        except Exception as e:
            return self.errors.decode(_revert_data(e))
        return ContractRevert("Reverted", (), f"transaction {tx_hash} reverted")

    def submit(self, tx: dict[str, Any]) -> SignedTx:
        """Sign and broadcast in nonce order; returns the signed transaction (hash, raw)."""
        with self._send_lock:
            signed = self.sign_transaction(tx)
            try:
                self.broadcast(signed)
            except ChainError:
                self.reset_nonces()  # the nonce was not consumed on-chain
                raise
            return signed

    def transact(self, tx: dict[str, Any], *, timeout: float = 30) -> dict[str, Any]:
        signed = self.submit(tx)
        return self.wait_receipt(signed.hash, timeout=timeout)

    def call(self, fn: Any) -> Any:
        """Run a contract view call, turning reverts into ContractRevert."""
        try:
            return fn.call()
        except Exception as e:
            if _is_revert(e):
                raise self.errors.decode(_revert_data(e)) from None
            raise ChainError(f"call failed: {e}") from None

    def wait_for(self, predicate: Any, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise ChainError("condition not met in time")
            time.sleep(0.05)
