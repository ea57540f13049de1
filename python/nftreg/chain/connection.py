"""``Chain``: a node connection (``rpc``), a signer with its nonces and fees (``sender``) and
the revert decoder, over three backends: the in-process EVM (``tester://``), an
nftreg-managed anvil (``anvil://``) and any JSON-RPC URL.

Writes are sign → broadcast → wait, so that a caller (the service's outbox) can store the
signed raw transaction and its hash before it leaves the process, and broadcast the very same
bytes again after a crash. ``transact`` does the three in one call for scripts and the CLI.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3
from web3.types import Wei

from nftreg.chain.anvil import ANVIL_DEV_KEY, AnvilProcess
from nftreg.chain.reverts import ErrorDecoder, is_revert, revert_data
from nftreg.chain.rpc import Log, NodeError, http_web3, rpc_for
from nftreg.chain.sender import FeePolicy, Sender, SignedTx
from nftreg.errors import ChainError, ConfigError, ContractRevert
from nftreg.keys import Signer, load_signer

__all__ = ["Chain", "SignedTx"]

_ALREADY_KNOWN = ("already known", "already imported", "known transaction")


class Chain:
    def __init__(self, w3: Web3, signer: Signer, *, anvil: AnvilProcess | None = None, kind: str = "rpc",
                 fees: FeePolicy | None = None):
        self.w3 = w3  # for contract objects (ABI encoding, view calls); node traffic goes through rpc
        self.kind = kind
        self.anvil = anvil
        self.errors = ErrorDecoder()
        self.rpc = rpc_for(w3)
        self.url: str | None = getattr(self.rpc, "url", None)  # the node's JSON-RPC URL (None in-process)
        self.chain_id = int(w3.eth.chain_id)
        self.sender = Sender(signer, self.rpc, self.chain_id, fees)
        # the in-process EVM is not thread-safe: every call into it is serialised on the send lock
        self._serial: Any = self.sender.lock if kind == "tester" else nullcontext()

    def __repr__(self) -> str:
        return f"Chain({self.kind}, chain_id={self.chain_id}, signer={self.address})"

    @property
    def address(self) -> str:
        return self.sender.address

    @property
    def signer(self) -> Signer:
        return self.sender.signer

    @contextmanager
    def serialized(self) -> Iterator[None]:
        """Hold around calls that may reach the in-process EVM from several threads (a no-op on
        real nodes, which serve concurrent requests)."""
        with self._serial:
            yield

    @property
    def is_devnet(self) -> bool:
        """A single-node development chain (in-process EVM, anvil, hardhat): blocks can vanish
        on restart or `anvil_reorg`, but no other party reorganises it."""
        if self.kind in ("tester", "anvil"):
            return True
        try:
            version = self.rpc.client_version().lower()
        except ChainError:  # an unknown node is treated as a real network
            return False
        return version.startswith(("anvil", "hardhat", "ganache"))

    @classmethod
    def connect(cls, url: str, *, private_key: str | None = None, data_dir: str | os.PathLike[str] | None = None,
                rpc_timeout: float = 30, fees: FeePolicy | None = None) -> Chain:
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
            return cls(w3, signer, kind="tester", fees=fees)
        if url.startswith("anvil://"):
            base = Path(data_dir) if data_dir else Path(os.environ.get("NFTREG_DATA_DIR", ".nftreg"))
            proc = AnvilProcess(base / "anvil")
            proc.start()
            return cls(http_web3(proc.url, rpc_timeout), signer or Signer(Account.from_key(ANVIL_DEV_KEY)),
                       anvil=proc, kind="anvil", fees=fees)
        if url.startswith(("http://", "https://")):
            if signer is None:
                raise ConfigError("an RPC chain needs a key: NFTREG_PRIVATE_KEY or NFTREG_KEYSTORE")
            return cls(http_web3(url, rpc_timeout), signer, kind="rpc", fees=fees)
        raise ConfigError(f"unknown chain URL {url!r}: use tester://, anvil:// or http(s)://")

    def close(self) -> None:
        if self.anvil:
            self.anvil.stop()

    # -- reads -------------------------------------------------------------------------------
    def block_number(self) -> int:
        return self.rpc.block_number()

    def block_hash(self, number: int) -> str | None:
        return self.rpc.block_hash(number)

    def pending_nonce(self) -> int:
        """The signer's transaction count including the node's pending pool."""
        return self.rpc.pending_nonce(self.address)

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        return self.rpc.receipts([tx_hash])[0]

    def receipts(self, tx_hashes: list[str]) -> list[dict[str, Any] | None]:
        """Receipts of many transactions (None where there is none), batched where the node can."""
        return self.rpc.receipts(tx_hashes) if tx_hashes else []

    def logs(self, address: str, from_block: int, to_block: int) -> list[Log]:
        """A contract's logs in a block range: ``topics`` (bytes), ``data`` (bytes),
        ``blockNumber`` (int), ``transactionHash`` (0x-hex)."""
        return self.rpc.logs(address, from_block, to_block)

    def transaction_known(self, tx_hash: str) -> bool:
        return self.rpc.transaction(tx_hash) is not None

    def call(self, fn: Any) -> Any:
        """Run a contract view call (a web3 contract function), reverts as ContractRevert."""
        try:
            return fn.call()
        except Exception as e:  # noqa: BLE001 - every backend's revert shape, else a ChainError
            if is_revert(e):
                raise self.errors.decode(revert_data(e)) from None
            raise ChainError(f"call failed: {e}") from None

    # -- writes ------------------------------------------------------------------------------
    def estimate_gas(self, tx: dict[str, Any]) -> int:
        """The gas ``tx`` needs; doubles as its dry run (a revert raises ContractRevert)."""
        try:
            return self.rpc.estimate_gas({**tx, "from": self.address})
        except NodeError as e:
            if e.revert:
                raise self.errors.decode(e.data) from None
            raise ChainError(f"gas estimation failed: {e}") from None

    def prepare(self, tx: dict[str, Any]) -> dict[str, Any]:
        """``tx`` (to, data) ready to sign but for its nonce: gas and fees. Needs no nonce, so it
        runs outside the send lock; the estimate is the dry run."""
        return self.sender.prepare(tx, 0 if "gas" in tx else self.estimate_gas(tx))

    def sign_transaction(self, tx: dict[str, Any], *, nonce_floor: int = 0) -> SignedTx:
        """Prepare ``tx`` if needed and sign it with the next nonce."""
        if "chainId" not in tx:
            tx = self.prepare(tx)
        return self.sender.sign(tx, self.sender.take_nonce(nonce_floor))

    def reset_nonces(self) -> None:
        self.sender.reset_nonces()

    def broadcast(self, signed: SignedTx) -> str:
        """Send the raw transaction; sending the same bytes again is harmless."""
        try:
            self.rpc.send_raw(signed.raw)
        except NodeError as e:
            msg = str(e).lower()
            if any(w in msg for w in _ALREADY_KNOWN):
                return signed.hash
            try:
                if self.transaction_known(signed.hash):  # mined already (wording varies by node)
                    return signed.hash
            except ChainError:
                pass  # fall through to the node's error
            if "nonce too low" in msg or "nonce is too low" in msg:
                raise ChainError(f"nonce {signed.nonce} already used by another transaction") from None
            raise ChainError(f"broadcast failed: {e}") from None
        except ChainError as e:
            if "unreachable" in str(e):
                raise ChainError(f"RPC unreachable while broadcasting: {e}") from None
            raise
        return signed.hash

    def wait_receipt(self, tx_hash: str, *, timeout: float = 30) -> dict[str, Any]:
        """The receipt once mined; a reverted transaction raises its decoded ContractRevert."""
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            with self.serialized():
                receipt = self.receipt(tx_hash)  # ChainError when unreachable
            if receipt is not None:
                break
            if time.monotonic() > deadline:
                raise ChainError(f"no receipt for {tx_hash} within {timeout} s")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        if receipt.get("status") != 1:
            raise self.revert_of(tx_hash, receipt)
        return receipt

    def revert_of(self, tx_hash: str, receipt: dict[str, Any]) -> ContractRevert:
        """Why a mined transaction reverted: its call replayed on the state before its block."""
        tx = self.rpc.transaction(tx_hash)
        if tx is not None:
            try:
                self.rpc.eth_call({k: tx[k] for k in ("from", "to", "data", "value")}, int(receipt["blockNumber"]) - 1)
            except NodeError as e:
                return self.errors.decode(e.data)
        return ContractRevert("Reverted", (), f"transaction {tx_hash} reverted")

    def submit(self, tx: dict[str, Any]) -> SignedTx:
        """Sign and broadcast in nonce order; returns the signed transaction (hash, raw)."""
        tx = self.prepare(tx)
        with self.sender.lock:
            signed = self.sign_transaction(tx)
            try:
                self.broadcast(signed)
            except ChainError:
                self.reset_nonces()  # the nonce was not consumed on-chain
                raise
            return signed

    def transact(self, tx: dict[str, Any], *, timeout: float = 30) -> dict[str, Any]:
        with self.serialized():
            signed = self.submit(tx)
        return self.wait_receipt(signed.hash, timeout=timeout)


