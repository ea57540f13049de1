"""The NftRegistry contract from Python: deploy, transaction builders (for the outbox), convenience
writes, EIP-712 vouchers, reads and decoded events (``nftreg.chain.events``, from the ABI)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from nftreg.chain.connection import Chain
from nftreg.chain.events import ContractEvent, EventDecoder
from nftreg.errors import ChainError, InvalidInputError

__all__ = ["AnchorInfo", "LogAnchor", "MintResult", "Registry", "RegistryEvent", "TxResult", "Voucher", "artifact"]

RegistryEvent = ContractEvent  # the name callers know

CLAIM_LEAF_ENCODING = ["address", "bytes32", "string"]


@cache
def artifact(name: str = "NftRegistry") -> dict[str, Any]:
    """ABI and bytecode shipped in the package (compiled by scripts/compile_contracts.js)."""
    return json.loads(resources.files("nftreg.contracts").joinpath(f"{name}.json").read_text())


def _b32(v: bytes | str, what: str) -> bytes:
    if isinstance(v, str):
        try:
            v = bytes.fromhex(v.removeprefix("0x"))
        except ValueError:
            raise InvalidInputError(f"{what}: not 0x-hex") from None
    if len(v) != 32:
        raise InvalidInputError(f"{what}: expected 32 bytes, got {len(v)}")
    return bytes(v)


@dataclass(frozen=True)
class Voucher:
    to: str
    content_hash: bytes
    metadata_cid: str
    uid: int
    deadline: int

    def as_tuple(self) -> tuple[Any, ...]:
        return (Web3.to_checksum_address(self.to), _b32(self.content_hash, "content_hash"), self.metadata_cid, self.uid, self.deadline)


@dataclass(frozen=True)
class MintResult:
    token_id: int
    tx_hash: str
    block_number: int
    gas_used: int


@dataclass(frozen=True)
class TxResult:
    tx_hash: str
    block_number: int
    gas_used: int


@dataclass(frozen=True)
class AnchorInfo:
    root: str
    tree_cid: str
    block_number: int
    anchorer: str


@dataclass(frozen=True)
class LogAnchor:
    """A registration-log checkpoint anchored in the contract (``anchorLog``)."""

    tree_size: int
    root: bytes
    timestamp: int  # block time of the anchor, seconds


def _u64(v: int, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 1 << 64:
        raise InvalidInputError(f"{what}: expected an integer in [0, 2^64)")
    return v


def _entry_bytes(entry: bytes | str) -> bytes:
    if isinstance(entry, str):
        try:
            entry = bytes.fromhex(entry.removeprefix("0x"))
        except ValueError:
            raise InvalidInputError("entry: not 0x-hex") from None
    return bytes(entry)


class Registry:
    def __init__(self, chain: Chain, address: str):
        self.chain = chain
        self.address = Web3.to_checksum_address(address)
        art = artifact()
        chain.errors.add_abi(art["abi"])
        self.contract = chain.w3.eth.contract(address=self.address, abi=art["abi"])
        self._flat = _flat_encoders(art["abi"])
        self.event_decoder = _event_decoder()
        self._name: str | None = None  # the token name never changes: read once per instance

    def __repr__(self) -> str:
        return f"Registry({self.address} on chain {self.chain.chain_id})"

    # -- deployment --------------------------------------------------------------------------
    @classmethod
    def deploy(cls, chain: Chain, *, name: str = "nftreg", symbol: str = "NFTREG",
               royalty_receiver: str | None = None, royalty_bps: int = 0) -> Registry:
        art = artifact()
        chain.errors.add_abi(art["abi"])
        factory = chain.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        ctor = factory.constructor(name, symbol, chain.address,
                                   royalty_receiver or "0x0000000000000000000000000000000000000000", royalty_bps)
        # gas and fees given so that building needs no node round trip; only `data` is used
        data = ctor.build_transaction({"from": chain.address, "nonce": 0, "gas": 1, "gasPrice": 0, "chainId": chain.chain_id})["data"]
        receipt = chain.transact({"data": data}, timeout=60)
        return cls(chain, receipt["contractAddress"])

    @classmethod
    def at(cls, chain: Chain, address: str) -> Registry:
        if not chain.rpc.code(Web3.to_checksum_address(address)):
            raise ChainError(f"no contract at {address} on chain {chain.chain_id}")
        return cls(chain, address)

    @classmethod
    def deploy_once(cls, chain: Chain, state_file: str | os.PathLike[str]) -> Registry:
        """Deploy on first use per chain id and remember the address in ``state_file``."""
        path = Path(state_file)
        known = json.loads(path.read_text()) if path.exists() else {}
        addr = known.get(str(chain.chain_id))
        if addr and chain.rpc.code(Web3.to_checksum_address(addr)):
            return cls(chain, addr)
        reg = cls.deploy(chain)
        known[str(chain.chain_id)] = reg.address
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(known, indent=1))
        tmp.replace(path)
        return reg

    # -- transaction builders ----------------------------------------------------------------
    def _tx(self, fn: str, *args: Any) -> dict[str, Any]:
        enc = self._flat.get(fn)
        if enc is not None:  # eth-abi directly: web3's encode_abi re-resolves the ABI on every call
            selector, types = enc
            return {"to": self.address, "data": "0x" + (selector + abi_encode(types, list(args))).hex()}
        return {"to": self.address, "data": self.contract.encode_abi(fn, args=list(args))}

    def build_mint(self, to: str, content_hash: bytes | str, metadata_cid: str) -> dict[str, Any]:
        return self._tx("mint", Web3.to_checksum_address(to), _b32(content_hash, "content_hash"), metadata_cid)

    def build_mint_batch(self, items: list[tuple[str, bytes | str, str]]) -> dict[str, Any]:
        """One ``mintBatch`` call for (owner, content hash, metadata CID) items."""
        return self._tx("mintBatch", [Web3.to_checksum_address(o) for o, _, _ in items],
                        [_b32(h, "content_hash") for _, h, _ in items], [c for _, _, c in items])

    @property
    def supports_mint_batch(self) -> bool:
        """Whether the deployed code has ``mintBatch`` (a registry deployed by an older nftreg
        does not): its selector appears in the dispatcher of the runtime code."""
        if not hasattr(self, "_batch_ok"):
            enc = self._flat.get("mintBatch")
            code = self.chain.rpc.code(self.address)
            self._batch_ok = enc is not None and enc[0] in code
        return self._batch_ok

    def build_anchor(self, root: bytes | str, tree_cid: str) -> dict[str, Any]:
        return self._tx("anchor", _b32(root, "root"), tree_cid)

    def build_claim(self, root: bytes | str, owner: str, content_hash: bytes | str, metadata_cid: str,
                    proof: list[bytes | str]) -> dict[str, Any]:
        return self._tx("claim", _b32(root, "root"), Web3.to_checksum_address(owner), _b32(content_hash, "content_hash"),
                        metadata_cid, [_b32(p, "proof") for p in proof])

    def build_claim_many(self, root: bytes | str, leaves: list[tuple[str, bytes | str, str]],
                         proof: list[bytes | str], proof_flags: list[bool]) -> dict[str, Any]:
        lv = [(Web3.to_checksum_address(o), _b32(h, "content_hash"), c) for o, h, c in leaves]
        return self._tx("claimMany", _b32(root, "root"), lv, [_b32(p, "proof") for p in proof], list(proof_flags))

    def build_redeem(self, voucher: Voucher, signature: bytes) -> dict[str, Any]:
        return self._tx("redeem", voucher.as_tuple(), bytes(signature))

    def build_transfer(self, from_: str, to: str, token_id: int) -> dict[str, Any]:
        return self._tx("transferFrom", Web3.to_checksum_address(from_), Web3.to_checksum_address(to), token_id)

    def build_set_metadata(self, token_id: int, metadata_cid: str) -> dict[str, Any]:
        return self._tx("setMetadataCid", token_id, metadata_cid)

    def build_anchor_log(self, tree_size: int, root: bytes | str) -> dict[str, Any]:
        """``anchorLog(treeSize, rootHash)``: anchor a registration-log checkpoint (the outbox
        sends it as a write of its own kind; sizes must strictly increase on-chain)."""
        return self._tx("anchorLog", _u64(tree_size, "tree_size"), _b32(root, "root"))

    def build_mint_with_log_proof(self, entry: bytes | str, index: int, tree_size: int, proof: list[bytes | str],
                                  metadata_cid: str = "") -> dict[str, Any]:
        """``mintWithLogProof``: mint the token of a private registration (log entry of kind 2)
        from its inclusion proof at an anchored ``tree_size``. Leave ``metadata_cid`` empty
        when the entry names its CID; when it names none, only the entry's owner may send this
        and ``metadata_cid`` is required."""
        return self._tx("mintWithLogProof", _entry_bytes(entry), _u64(index, "index"), _u64(tree_size, "tree_size"),
                        [_b32(p, "proof") for p in proof], metadata_cid)

    def build_mint_with_log_receipt(self, receipt: dict[str, Any], metadata_cid: str = "") -> dict[str, Any]:
        """``mintWithLogProof`` from a log receipt as ``nftreg.log.receipt_to_json`` writes it
        (``entry``, ``index``, ``tree_size``, ``proof``), whose tree size must be anchored here
        with the receipt's root. A receipt is made against the newest checkpoint, which is
        usually not anchored yet: ask the log for a proof at ``latest_log_anchor().tree_size``."""
        if not isinstance(receipt, dict) or not isinstance(receipt.get("entry"), str):
            raise InvalidInputError("receipt: expected a log receipt object with its 'entry' (0x-hex)")
        size, index, proof = receipt.get("tree_size"), receipt.get("index"), receipt.get("proof")
        if not isinstance(size, int) or not isinstance(index, int) or not isinstance(proof, list):
            raise InvalidInputError("receipt: expected integer 'index' and 'tree_size' and a 'proof' list")
        anchored = self.log_root_at(size)
        if anchored is None:
            latest = self.latest_log_anchor()
            raise InvalidInputError(
                f"receipt: log size {size} is not anchored in {self.address} "
                + (f"(latest anchor: size {latest.tree_size}; get a proof at that size)" if latest
                   else "(no log checkpoint is anchored yet)"))
        if "root" in receipt and _b32(receipt["root"], "receipt.root") != anchored:
            raise InvalidInputError(f"receipt: its root differs from the root anchored at size {size} (another log?)")
        return self.build_mint_with_log_proof(receipt["entry"], index, size, proof, metadata_cid)

    # -- convenience writes ------------------------------------------------------------------
    def _mint_result(self, receipt: dict[str, Any]) -> MintResult:
        ids = self.minted_token_ids(receipt)
        return MintResult(ids[0], "0x" + bytes(receipt["transactionHash"]).hex(), receipt["blockNumber"], receipt["gasUsed"])

    def mint(self, to: str, content_hash: bytes | str, metadata_cid: str) -> MintResult:
        return self._mint_result(self.chain.transact(self.build_mint(to, content_hash, metadata_cid)))

    def anchor(self, root: bytes | str, tree_cid: str) -> TxResult:
        r = self.chain.transact(self.build_anchor(root, tree_cid))
        return TxResult("0x" + bytes(r["transactionHash"]).hex(), r["blockNumber"], r["gasUsed"])

    def claim(self, root: bytes | str, owner: str, content_hash: bytes | str, metadata_cid: str, proof: list[Any]) -> MintResult:
        return self._mint_result(self.chain.transact(self.build_claim(root, owner, content_hash, metadata_cid, proof)))

    def claim_many(self, root: bytes | str, leaves: list[tuple[str, Any, str]], proof: list[Any], proof_flags: list[bool]) -> list[MintResult]:
        r = self.chain.transact(self.build_claim_many(root, leaves, proof, proof_flags), timeout=60)
        h = "0x" + bytes(r["transactionHash"]).hex()
        return [MintResult(t, h, r["blockNumber"], r["gasUsed"]) for t in self.minted_token_ids(r)]

    def redeem(self, voucher: Voucher, signature: bytes) -> MintResult:
        return self._mint_result(self.chain.transact(self.build_redeem(voucher, signature)))

    def anchor_log(self, tree_size: int, root: bytes | str) -> TxResult:
        r = self.chain.transact(self.build_anchor_log(tree_size, root))
        return TxResult("0x" + bytes(r["transactionHash"]).hex(), r["blockNumber"], r["gasUsed"])

    def mint_with_log_proof(self, entry: bytes | str, index: int, tree_size: int, proof: list[Any],
                            metadata_cid: str = "") -> MintResult:
        return self._mint_result(self.chain.transact(
            self.build_mint_with_log_proof(entry, index, tree_size, proof, metadata_cid)))

    def mint_with_log_receipt(self, receipt: dict[str, Any], metadata_cid: str = "") -> MintResult:
        return self._mint_result(self.chain.transact(self.build_mint_with_log_receipt(receipt, metadata_cid)))

    def grant_role(self, role: str, account: str) -> TxResult:
        r = self.chain.transact(self._tx("grantRole", self.role_id(role), Web3.to_checksum_address(account)))
        return TxResult("0x" + bytes(r["transactionHash"]).hex(), r["blockNumber"], r["gasUsed"])

    # -- vouchers ----------------------------------------------------------------------------
    def voucher_typed_data(self, voucher: Voucher) -> dict[str, Any]:
        return {
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"},
                ],
                "MintVoucher": [
                    {"name": "to", "type": "address"}, {"name": "contentHash", "type": "bytes32"},
                    {"name": "metadataCid", "type": "string"}, {"name": "uid", "type": "uint256"},
                    {"name": "deadline", "type": "uint256"},
                ],
            },
            "primaryType": "MintVoucher",
            "domain": {"name": self.name(), "version": "1", "chainId": self.chain.chain_id, "verifyingContract": self.address},
            "message": {"to": Web3.to_checksum_address(voucher.to), "contentHash": "0x" + _b32(voucher.content_hash, "content_hash").hex(),
                        "metadataCid": voucher.metadata_cid, "uid": voucher.uid, "deadline": voucher.deadline},
        }

    def sign_voucher(self, voucher: Voucher, private_key: Any) -> bytes:
        key = private_key.account.key if hasattr(private_key, "account") else private_key
        return bytes(Account.sign_typed_data(key, full_message=self.voucher_typed_data(voucher)).signature)

    # -- reads -------------------------------------------------------------------------------
    def _call(self, fn: str, *args: Any) -> Any:
        return self.chain.call(getattr(self.contract.functions, fn)(*args))

    def name(self) -> str:
        if self._name is None:
            self._name = self._call("name")
        return self._name

    def owner_of(self, token_id: int) -> str:
        return self._call("ownerOf", token_id)

    def token_uri(self, token_id: int) -> str:
        return self._call("tokenURI", token_id)

    def content_hash_of(self, token_id: int) -> bytes:
        return bytes(self._call("contentHashOf", token_id))

    def token_of_content(self, content_hash: bytes | str) -> int | None:
        t = self._call("tokenOfContent", _b32(content_hash, "content_hash"))
        return t or None

    def total_minted(self) -> int:
        return self._call("totalMinted")

    def anchored(self, root: bytes | str) -> AnchorInfo | None:
        cid, block, who = self._call("anchorOf", _b32(root, "root"))
        if block == 0:
            return None
        return AnchorInfo("0x" + _b32(root, "root").hex(), cid, block, who)

    def is_claimed(self, root: bytes | str, leaf_hash: bytes | str) -> bool:
        return self._call("isClaimed", _b32(root, "root"), _b32(leaf_hash, "leaf"))

    def verify_proof(self, root: bytes | str, proof: list[Any], leaf: bytes | str) -> bool:
        return self._call("verifyProof", _b32(root, "root"), [_b32(p, "proof") for p in proof], _b32(leaf, "leaf"))

    def verify_multiproof(self, root: bytes | str, proof: list[Any], flags: list[bool], leaves: list[Any]) -> bool:
        return self._call("verifyMultiProof", _b32(root, "root"), [_b32(p, "proof") for p in proof], list(flags),
                          [_b32(x, "leaf") for x in leaves])

    def log_root_at(self, tree_size: int) -> bytes | None:
        """The log root anchored at ``tree_size``, or None when that size was never anchored."""
        r = bytes(self._call("logRootAt", _u64(tree_size, "tree_size")))
        return None if r == bytes(32) else r

    def latest_log_anchor(self) -> LogAnchor | None:
        """The latest anchored log checkpoint, or None before the first."""
        size, root, ts = self._call("latestLogAnchor")
        return None if size == 0 else LogAnchor(size, bytes(root), ts)

    def verify_log_inclusion(self, entry: bytes | str, index: int, tree_size: int, proof: list[Any],
                             root: bytes | str) -> bool:
        """The contract's RFC 9162 inclusion check (``verifyLogInclusion``), for comparing with
        ``nftreg.log.verify_inclusion``."""
        return self._call("verifyLogInclusion", _entry_bytes(entry), _u64(index, "index"), _u64(tree_size, "tree_size"),
                          [_b32(p, "proof") for p in proof], _b32(root, "root"))

    def log_leaf_hash(self, entry: bytes | str) -> bytes:
        return bytes(self._call("logLeafHash", _entry_bytes(entry)))

    def leaf_hash(self, owner: str, content_hash: bytes | str, metadata_cid: str) -> bytes:
        return bytes(self._call("leafHash", Web3.to_checksum_address(owner), _b32(content_hash, "content_hash"), metadata_cid))

    @staticmethod
    def role_id(role: str) -> bytes:
        return b"\x00" * 32 if role in ("DEFAULT_ADMIN_ROLE", "admin") else Web3.keccak(text=role)

    def has_role(self, role: str, account: str) -> bool:
        return self._call("hasRole", self.role_id(role), Web3.to_checksum_address(account))

    # -- events ---------------------------------------------------------------------------
    def decode_logs(self, logs: list[dict[str, Any]]) -> list[ContractEvent]:
        """This contract's events among ``logs`` (a receipt's, or ``Chain.logs``), in order."""
        me = self.address.lower()
        out = []
        for log in logs:
            addr = log.get("address")
            if addr is not None and str(addr).lower() != me:
                continue
            ev = self.event_decoder.decode(log)
            if ev is not None:
                out.append(ev)
        return out

    def minted_by_content(self, receipt: dict[str, Any]) -> dict[str, int]:
        """{content hash (0x, lower case): token id} of every Registered event in the receipt."""
        return {"0x" + bytes(e.args["contentHash"]).hex(): int(e.args["tokenId"])
                for e in self.decode_logs(receipt.get("logs", [])) if e.name == "Registered"}

    def minted_token_ids(self, receipt: dict[str, Any]) -> list[int]:
        """Token ids of the receipt's Registered events, in log order."""
        return list(self.minted_by_content(receipt).values())

    def events(self, from_block: int = 0, to_block: int | str = "latest") -> list[ContractEvent]:
        end = self.chain.block_number() if to_block == "latest" else int(to_block)
        return self.decode_logs(self.chain.logs(self.address, from_block, end))


@cache
def _event_decoder() -> EventDecoder:
    return EventDecoder(artifact()["abi"])


def _flat_encoders(abi: list[dict[str, Any]]) -> dict[str, tuple[bytes, tuple[str, ...]]]:
    """{name: (selector, input types)} of the functions without tuple inputs and without
    overloads: their calldata is the selector and eth-abi's encoding of the arguments."""
    fns = [e for e in abi if e.get("type") == "function"]
    names = [f["name"] for f in fns]
    out = {}
    for f in fns:
        if names.count(f["name"]) == 1 and not any(i["type"].startswith("tuple") for i in f["inputs"]):
            types = tuple(i["type"] for i in f["inputs"])
            out[f["name"]] = (keccak(text=f"{f['name']}({','.join(types)})")[:4], types)
    return out
