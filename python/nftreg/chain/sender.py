"""The only place that decides nonces and fees, and signs.

``Sender`` hands out nonces in order (never one twice; past the node's pending count and past a
floor the caller knows of, such as the highest nonce its outbox ever signed), prices a
transaction (gas from the estimate, EIP-1559 fees from the latest base fee, or a legacy gas
price where the chain has no base fee), signs it, and prices a replacement for a transaction
that is stuck (same nonce, every fee raised by at least ``FeePolicy.bump_percent``, never above
``FeePolicy.max_fee_per_gas``). ``lock`` is held while a nonce is taken and its transaction
broadcast, so nodes see nonces in order.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import rlp
from eth_utils import keccak, to_checksum_address

from nftreg.chain.rpc import Rpc
from nftreg.keys import Signer

__all__ = ["FeePolicy", "Sender", "SignedTx", "decode_raw_tx"]

GWEI = 10**9


@dataclass(frozen=True)
class SignedTx:
    raw: bytes
    hash: str
    nonce: int
    sender: str


@dataclass(frozen=True)
class FeePolicy:
    tip_wei: int = GWEI  # maxPriorityFeePerGas of a new transaction
    base_fee_multiplier: int = 2  # maxFeePerGas = base fee x this + tip: survives several full blocks
    gas_margin: float = 1.25  # gas limit = estimate x this + gas_headroom
    gas_headroom: int = 20_000
    bump_percent: float = 12.5  # a replacement raises every fee by at least this (nodes require 10-12.5 %)
    max_fee_per_gas: int | None = None  # a bump never goes above this (None: no ceiling)
    fee_cache_s: float = 2.0  # how long a read of the base fee is reused


class Sender:
    def __init__(self, signer: Signer, rpc: Rpc, chain_id: int, policy: FeePolicy | None = None):
        self.signer, self.rpc, self.chain_id = signer, rpc, chain_id
        self.policy = policy or FeePolicy()
        self.lock = threading.RLock()
        self._nonce_lock = threading.Lock()
        self._next_nonce: int | None = None
        self._fees: tuple[float, dict[str, int]] | None = None

    @property
    def address(self) -> str:
        return self.signer.address

    # -- nonces ------------------------------------------------------------------------------
    def take_nonce(self, floor: int = 0) -> int:
        """The next nonce: past the node's pending count, past every nonce handed out here and
        past ``floor``."""
        with self._nonce_lock:
            n = max(self.rpc.pending_nonce(self.address), floor,
                    0 if self._next_nonce is None else self._next_nonce)
            self._next_nonce = n + 1
            return n

    def reset_nonces(self) -> None:
        """Forget the nonces handed out (one was taken but its transaction never reached the node:
        the node's count and the caller's floor are the truth again)."""
        with self._nonce_lock:
            self._next_nonce = None

    # -- fees --------------------------------------------------------------------------------
    def market_fees(self) -> dict[str, int]:
        """Fee fields for a new transaction, from a base fee read at most ``fee_cache_s`` ago."""
        now = time.monotonic()
        cached = self._fees
        if cached is not None and now - cached[0] <= self.policy.fee_cache_s:
            return cached[1]
        base = self.rpc.base_fee()
        p = self.policy
        fees = ({"maxPriorityFeePerGas": p.tip_wei, "maxFeePerGas": base * p.base_fee_multiplier + p.tip_wei}
                if base is not None else {"gasPrice": self.rpc.gas_price()})
        if p.max_fee_per_gas is not None:
            fees = {k: min(v, p.max_fee_per_gas) for k, v in fees.items()}
        self._fees = (now, fees)
        return fees

    def prepare(self, tx: dict[str, Any], gas_estimate: int) -> dict[str, Any]:
        """The unsigned transaction: ``tx`` (to, data, value) with chain id, gas limit and fees."""
        p = self.policy
        out = {k: v for k, v in tx.items() if k not in ("from", "nonce")}
        out.setdefault("value", 0)
        out["chainId"] = self.chain_id
        out.setdefault("gas", int(gas_estimate * p.gas_margin) + p.gas_headroom)
        if not any(k in out for k in ("gasPrice", "maxFeePerGas")):
            out.update(self.market_fees())
        return out

    def bumped(self, raw: bytes) -> dict[str, Any] | None:
        """The replacement of a stuck signed transaction: the same transaction and nonce with
        every fee raised by ``bump_percent`` or to today's market fee, whichever is higher,
        capped at ``max_fee_per_gas``. None when the cap leaves no room for a valid bump."""
        tx = decode_raw_tx(raw)
        market = self.market_fees()
        factor = 1 + self.policy.bump_percent / 100
        cap = self.policy.max_fee_per_gas
        out = dict(tx)
        keys = ("maxPriorityFeePerGas", "maxFeePerGas") if "maxFeePerGas" in tx else ("gasPrice",)
        for k in keys:
            want = max(math.ceil(tx[k] * factor), market.get(k, market.get("maxFeePerGas", 0)))
            out[k] = want if cap is None else min(want, cap)
            if out[k] < math.ceil(tx[k] * factor):
                return None  # the node would refuse a smaller raise as an underpriced replacement
        if "maxFeePerGas" in out and out["maxPriorityFeePerGas"] > out["maxFeePerGas"]:
            out["maxPriorityFeePerGas"] = out["maxFeePerGas"]
        return out

    # -- signing -----------------------------------------------------------------------------
    def sign(self, tx: dict[str, Any], nonce: int) -> SignedTx:
        signed = self.signer.account.sign_transaction({**tx, "nonce": nonce})
        return SignedTx(bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex(), nonce, self.address)


def decode_raw_tx(raw: bytes) -> dict[str, Any]:
    """The unsigned fields of a signed legacy or EIP-1559 transaction (as ``sign`` takes them)."""
    def to_int(b: bytes) -> int:
        return int.from_bytes(b, "big")

    if raw[:1] == b"\x02":
        f = rlp.decode(raw[1:])
        tx: dict[str, Any] = {"chainId": to_int(f[0]), "nonce": to_int(f[1]), "maxPriorityFeePerGas": to_int(f[2]),
                              "maxFeePerGas": to_int(f[3]), "gas": to_int(f[4]), "value": to_int(f[6]),
                              "data": "0x" + bytes(f[7]).hex(), "type": 2}
        if f[8]:
            tx["accessList"] = [{"address": to_checksum_address(bytes(a)), "storageKeys": ["0x" + bytes(k).hex() for k in ks]}
                                for a, ks in f[8]]
        to = f[5]
    elif raw[:1] >= b"\xc0":
        f = rlp.decode(raw)
        v = to_int(f[6])
        tx = {"nonce": to_int(f[0]), "gasPrice": to_int(f[1]), "gas": to_int(f[2]), "value": to_int(f[4]),
              "data": "0x" + bytes(f[5]).hex()}
        if v >= 35:
            tx["chainId"] = (v - 35) // 2
        to = f[3]
    else:
        raise ValueError(f"transaction type 0x{raw[:1].hex()} is not supported")
    if to:
        tx["to"] = to_checksum_address(bytes(to))
    return tx


def tx_hash(raw: bytes) -> str:
    return "0x" + keccak(raw).hex()
