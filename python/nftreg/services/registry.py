"""Domain operations behind the REST API: mint, batch registration, proofs, verification,
ownership challenges, vouchers, reindex and outbox reconciliation. Routes stay thin; this class
owns the chain, the content store and the database.

Chain writes go through a transactional outbox: the intent, nonce, signed raw transaction and
its hash are committed before the bytes are broadcast. After a crash, ``reconcile()`` looks each
pending row up by hash and rebroadcasts the very same bytes; it never signs again with a new
nonce, so a write can land at most once.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections import OrderedDict
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from web3 import Web3

from nftreg import _core
from nftreg.chain import Chain, Registry, SignedTx, Voucher
from nftreg.cid import content_hash as sha256_of
from nftreg.claims import CLAIM_LEAF_ENCODING, build_claims_tree, read_claims, read_claims_text
from nftreg.db import Asset, Batch, Database, OutboxTx, OwnershipChallenge, upgrade
from nftreg.db.models import utcnow
from nftreg.errors import ChainError, ContractRevert, InvalidInputError, IpfsError
from nftreg.ipfs import ContentStore, open_store
from nftreg.merkle import StandardMerkleTree, verify_many
from nftreg.metadata import canonical_json
from nftreg.services.auth import aware
from nftreg.services.errors import Conflict, NotFound, Unavailable, Unprocessable
from nftreg.settings import Settings
from nftreg.signatures import (
    personal_sign_digest,
    recover_addresses,
    verify_ed25519,
    verify_personal_sign,
    verify_typed_data,
)

__all__ = ["RegistryService"]

_INT64, _INT32 = 2**63, 2**31


def _hex32(v: str, what: str) -> str:
    s = v.lower()
    if not s.startswith("0x") or len(s) != 66:
        raise Unprocessable(f"{what}: expected 0x followed by 64 hex digits")
    try:
        bytes.fromhex(s[2:])
    except ValueError:
        raise Unprocessable(f"{what}: not hex") from None
    return s


def _address(v: str, what: str = "owner") -> str:
    if not isinstance(v, str) or not Web3.is_address(v):
        raise Unprocessable(f"{what}: not an Ethereum address")
    return Web3.to_checksum_address(v)


def _cid(v: str, what: str) -> str:
    try:
        _core.cid_info(v)
    except (ValueError, TypeError):
        raise Unprocessable(f"{what}: not a valid CID") from None
    return v


def asset_view(a: Asset) -> dict[str, Any]:
    return {"token_id": a.token_id, "owner": a.owner, "content_hash": a.content_hash, "asset_cid": a.asset_cid,
            "metadata_cid": a.metadata_cid, "token_uri": f"ipfs://{a.metadata_cid}", "media_type": a.media_type,
            "size": a.size, "status": a.status, "tx_hash": a.tx_hash, "block_number": a.block_number}


class RegistryService:
    def __init__(self, settings: Settings, *, chain: Chain | None = None, store: ContentStore | None = None,
                 db: Database | None = None):
        self.settings = settings
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        self.db = db or Database(settings.db_url)
        upgrade(self.db)
        self._own_chain = chain is None
        self.chain = chain or Chain.connect(settings.rpc_url, private_key=settings.private_key,
                                            data_dir=settings.data_dir)
        if settings.registry_address:
            self.registry = Registry.at(self.chain, settings.registry_address)
        else:
            self.registry = Registry.deploy_once(self.chain, Path(settings.data_dir) / "registry.json")
        self.store = store or open_store(api=settings.ipfs_api, data_dir=settings.data_dir,
                                         profile=settings.ipfs_profile)
        # nonce order must equal broadcast order, and the in-process EVM is not thread-safe
        self._send_lock = threading.RLock()
        self._io: AbstractContextManager[Any] = self._send_lock if self.chain.kind == "tester" else nullcontext()
        self._next_nonce: int | None = None
        self._fees: tuple[float, dict[str, int]] | None = None
        self._trees: OrderedDict[int, StandardMerkleTree] = OrderedDict()
        self._trees_lock = threading.Lock()
        self._started_at = utcnow()
        self.reconcile()

    def close(self) -> None:
        self.db.dispose()
        if self._own_chain:
            self.chain.close()

    # -- outbox ------------------------------------------------------------------------------
    def _prepare(self, tx: dict[str, Any]) -> dict[str, Any]:
        """Gas and fees, outside the send lock: they do not depend on the nonce, and the
        estimate doubles as a dry run (ContentAlreadyRegistered surfaces here)."""
        with self._io:
            gas = int(self.chain.estimate_gas(tx) * 1.25) + 20_000
            now = time.monotonic()
            if self._fees is None or now - self._fees[0] > 2.0:
                base = self.chain.w3.eth.get_block("latest").get("baseFeePerGas")
                # 2x base fee + tip survives several full blocks of base-fee growth
                fees = ({"maxPriorityFeePerGas": 10**9, "maxFeePerGas": int(base) * 2 + 10**9} if base is not None
                        else {"gasPrice": int(self.chain.w3.eth.gas_price)})
                self._fees = (now, fees)
        return {**tx, "to": tx["to"], "data": tx["data"], "value": 0, "chainId": self.chain.chain_id, "gas": gas,
                **self._fees[1]}

    def _sign(self, tx: dict[str, Any]) -> SignedTx:
        """Sign with the next nonce; called under the send lock. The nonce is the larger of our
        own counter and the chain's pending count, so writes made through the same key
        elsewhere (deploys, the CLI) are never collided with."""
        if "gas" not in tx:
            tx = self._prepare(tx)
        with self._io:
            pending = int(self.chain.w3.eth.get_transaction_count(Web3.to_checksum_address(self.chain.address),
                                                                  "pending"))
        nonce = pending if self._next_nonce is None else max(self._next_nonce, pending)
        signed = self.chain.signer.account.sign_transaction({**tx, "nonce": nonce})
        self._next_nonce = nonce + 1
        return SignedTx(bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex(), nonce, self.chain.address)

    def _sign_and_record(self, kind: str, intent: dict[str, Any], tx: dict[str, Any], link: Any) -> OutboxTx:
        """Sign, commit the outbox row, then broadcast. Called under the send lock."""
        signed = self._sign(tx)
        ob = OutboxTx(kind=kind, intent=json.dumps(intent), chain_id=self.chain.chain_id, sender=signed.sender,
                      nonce=signed.nonce, raw_tx=signed.raw, tx_hash=signed.hash, status="signed")
        try:
            with self.db.write() as s:
                s.add(ob)
                s.flush()
                link(s, ob)
        except Exception:
            # the bytes never left the process: forget the nonce so the next write reuses it
            self._next_nonce = None
            raise
        if os.environ.get("NFTREG_TEST_CRASH_BEFORE_BROADCAST") == kind:
            raise _SimulatedCrash()
        self._broadcast(ob)
        return ob

    def _broadcast(self, ob: OutboxTx) -> None:
        try:
            self.chain.broadcast(SignedTx(ob.raw_tx, ob.tx_hash, ob.nonce, ob.sender))
        except ChainError as e:
            self._next_nonce = None  # resync with the chain's pending count before the next write
            if "already used by another transaction" in str(e):
                self._fail(ob.id, str(e))
            raise
        # 'signed' and 'sent' reconcile alike (look up by hash, else rebroadcast), so the
        # status is not updated here: one commit less while the send lock is held

    def _fail(self, outbox_id: int, error: str) -> None:
        with self.db.write() as s:
            ob = s.get(OutboxTx, outbox_id)
            if ob is None:
                return
            ob.status, ob.error, ob.updated_at = "failed", error, utcnow()
            # release the content hash / root so the work can be submitted again
            for a in s.scalars(select(Asset).where(Asset.outbox_id == outbox_id)):
                s.delete(a)
            for b in s.scalars(select(Batch).where(Batch.outbox_id == outbox_id)):
                s.delete(b)

    def _finalize(self, outbox_id: int, receipt: dict[str, Any]) -> None:
        with self._io:
            token_ids = self.registry.minted_token_ids(receipt)
        tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
        block = int(receipt["blockNumber"])
        with self.db.write() as s:
            ob = s.get(OutboxTx, outbox_id)
            assert ob is not None
            ob.status, ob.block_number, ob.updated_at = "confirmed", block, utcnow()
            for a in s.scalars(select(Asset).where(Asset.outbox_id == outbox_id)):
                a.status, a.tx_hash, a.block_number = "minted", tx_hash, block
                if token_ids:
                    a.token_id = token_ids[0]
            for b in s.scalars(select(Batch).where(Batch.outbox_id == outbox_id)):
                b.status, b.tx_hash, b.block_number = "anchored", tx_hash, block

    def _await(self, ob: OutboxTx) -> dict[str, Any]:
        try:
            with self._io:
                receipt = self.chain.wait_receipt(ob.tx_hash, timeout=self.settings.tx_timeout_s)
        except ContractRevert as e:
            self._fail(ob.id, str(e))
            raise
        self._finalize(ob.id, receipt)
        return receipt

    def reconcile(self) -> dict[str, int]:
        """Finish every write that was signed but not confirmed: look it up by hash, else
        rebroadcast the same raw bytes. Returns counts by outcome."""
        counts = {"confirmed": 0, "failed": 0, "pending": 0, "released": 0}
        # A reservation with no outbox row was made by a request whose process died before it
        # signed anything: no transaction exists, so releasing it lets the client's retry (same
        # Idempotency-Key) register the asset. Only rows older than this process are touched.
        with self.db.write() as s:
            orphans = list(s.scalars(select(Asset).where(Asset.status == "pending", Asset.outbox_id.is_(None),
                                                         Asset.created_at < self._started_at)))
            for a in orphans:
                s.delete(a)
            counts["released"] = len(orphans)
        with self.db.read() as s:
            pending = list(s.scalars(select(OutboxTx).where(OutboxTx.status.in_(("signed", "sent")),
                                                            OutboxTx.chain_id == self.chain.chain_id)
                                     .order_by(OutboxTx.nonce)))
        for ob in pending:
            with self._io:
                receipt = self.chain.receipt(ob.tx_hash)
            try:
                if receipt is None:
                    with self._send_lock:
                        self._broadcast(ob)
                if receipt is not None and receipt.get("status") != 1:
                    self._fail(ob.id, "transaction reverted")
                    counts["failed"] += 1
                    continue
                self._await(ob)
                counts["confirmed"] += 1
            except ContractRevert:
                counts["failed"] += 1
            except ChainError:
                counts["pending"] += 1
        if pending:
            self.chain.reset_nonces()
            self._next_nonce = None
        return counts

    # -- assets ------------------------------------------------------------------------------
    def mint(self, *, owner: str, metadata: dict[str, Any], upload_path: str | None = None,
             content_hash: str | None = None, asset_cid: str | None = None, media_type: str | None = None,
             size: int | None = None) -> dict[str, Any]:
        owner = _address(owner)
        try:
            if upload_path is not None:
                ch = "0x" + sha256_of(upload_path).hex()
                asset_cid = self.store.add_file(upload_path)
            else:
                if content_hash is None:
                    raise Unprocessable("send the asset file, or its content_hash for a private registration")
                ch = _hex32(content_hash, "content_hash")
                if asset_cid is not None:
                    _cid(asset_cid, "asset_cid")
            meta = dict(metadata)
            meta.setdefault("properties", {})
            if isinstance(meta["properties"], dict):
                meta["properties"] = {**meta["properties"], "content_hash": ch}
            if asset_cid and "image" not in meta and (media_type or "").startswith("image/"):
                meta["image"] = f"ipfs://{asset_cid}"
            metadata_cid = self.store.add_bytes(canonical_json(meta))
        except IpfsError as e:
            raise Unavailable(f"content store: {e}") from None
        except InvalidInputError as e:
            raise Unprocessable(str(e)) from None

        self._reserve_asset(ch, owner, asset_cid, metadata_cid, media_type, size)
        try:
            tx = self._prepare(self.registry.build_mint(owner, ch, metadata_cid))
            with self._send_lock:
                def link(s: Any, ob: OutboxTx) -> None:
                    a = s.scalars(select(Asset).where(Asset.content_hash == ch)).one()
                    a.outbox_id = ob.id
                ob = self._sign_and_record("mint", {"owner": owner, "content_hash": ch, "metadata_cid": metadata_cid},
                                           tx, link)
        except ContractRevert as e:
            self._release_asset(ch)
            if e.name == "ContentAlreadyRegistered":
                raise Conflict(f"content hash {ch} is already registered on-chain as token {e.args_[1]}",
                               token_id=int(e.args_[1])) from None
            raise Unprocessable(f"the registry contract refused the mint: {e}") from None
        except _SimulatedCrash:
            raise
        except ChainError as e:
            with self.db.read() as s:
                a = s.scalars(select(Asset).where(Asset.content_hash == ch)).one_or_none()
            if a is None or a.outbox_id is None:
                self._release_asset(ch)
            raise Unavailable(f"chain: {e}") from None
        except BaseException:
            self._release_asset(ch)
            raise
        try:
            self._await(ob)
        except ContractRevert as e:
            raise Unprocessable(f"the registry contract reverted the mint: {e}") from None
        except ChainError as e:
            raise Unavailable(f"chain: {e}; the signed transaction is kept and will be reconciled") from None
        return self.get_asset_by_hash(ch)

    def _reserve_asset(self, ch: str, owner: str, asset_cid: str | None, metadata_cid: str,
                       media_type: str | None, size: int | None) -> None:
        try:
            with self.db.write() as s:
                existing = s.scalars(select(Asset).where(Asset.content_hash == ch)).one_or_none()
                if existing is None:
                    s.add(Asset(content_hash=ch, owner=owner, asset_cid=asset_cid, metadata_cid=metadata_cid,
                                media_type=media_type, size=size, status="pending"))
        except IntegrityError:
            existing = None
            with self.db.read() as s:
                existing = s.scalars(select(Asset).where(Asset.content_hash == ch)).one_or_none()
        if existing is not None:
            if existing.token_id is not None:
                raise Conflict(f"content hash {ch} is already registered as token {existing.token_id}",
                               token_id=existing.token_id)
            raise Conflict(f"content hash {ch} is being registered by another request", token_id=None)

    def _release_asset(self, ch: str) -> None:
        with self.db.write() as s:
            a = s.scalars(select(Asset).where(Asset.content_hash == ch)).one_or_none()
            if a is not None and a.status == "pending" and a.outbox_id is None:
                s.delete(a)

    def get_asset_by_hash(self, ch: str) -> dict[str, Any]:
        with self.db.read() as s:
            a = s.scalars(select(Asset).where(Asset.content_hash == ch)).one_or_none()
        if a is None:
            raise NotFound(f"no asset with content hash {ch}")
        return asset_view(a)

    def get_asset(self, token_id: int) -> dict[str, Any]:
        if not 0 <= token_id < _INT64:  # the index's column is 64-bit; nftreg's ids are sequential
            raise NotFound(f"no token {token_id} in the index")
        with self.db.read() as s:
            a = s.scalars(select(Asset).where(Asset.token_id == token_id)).one_or_none()
        if a is None:
            raise NotFound(f"no token {token_id} in the index")
        return asset_view(a)

    def list_assets(self, *, owner: str | None, content_hash: str | None, after: int, limit: int) -> list[dict[str, Any]]:
        q = select(Asset).where(Asset.status == "minted", Asset.token_id > max(-1, min(after, _INT64 - 1)))
        if owner:
            q = q.where(Asset.owner == _address(owner))
        if content_hash:
            q = q.where(Asset.content_hash == _hex32(content_hash, "content_hash"))
        with self.db.read() as s:
            return [asset_view(a) for a in s.scalars(q.order_by(Asset.token_id).limit(limit))]

    # -- batches -----------------------------------------------------------------------------
    def create_batch(self, text: str, fmt: str) -> dict[str, Any]:
        try:
            return self._create_batch(read_claims_text(text, fmt=fmt))
        except InvalidInputError as e:
            raise Unprocessable(str(e)) from None

    def create_batch_file(self, path: str, fmt: str) -> dict[str, Any]:
        """Claims from a CSV / JSON-lines file, read as a stream."""
        try:
            with open(path, encoding="utf-8", newline="") as f:
                parsed = read_claims(f, fmt=fmt)
        except UnicodeDecodeError:
            raise Unprocessable("claims must be UTF-8 text") from None
        except InvalidInputError as e:
            raise Unprocessable(str(e)) from None
        return self._create_batch(parsed)

    def _create_batch(self, parsed: Any) -> dict[str, Any]:
        if parsed.errors:
            raise Unprocessable(f"{len(parsed.errors)} claim line(s) are invalid; nothing was registered",
                                errors=[e.to_dict() for e in parsed.errors[:1000]])
        if not parsed.claims:
            raise Unprocessable("the batch has no claims")
        if len(parsed.claims) > self.settings.max_batch_claims:
            raise Unprocessable(f"a batch holds at most {self.settings.max_batch_claims} claims")
        tree = build_claims_tree(parsed.claims)
        dump = json.dumps(tree.dump(), separators=(",", ":"), sort_keys=True).encode()
        try:
            tree_cid = self.store.add_bytes(dump)
        except IpfsError as e:
            raise Unavailable(f"content store: {e}") from None
        root = tree.root
        try:
            with self.db.write() as s:
                b = Batch(root=root, tree_cid=tree_cid, size=len(tree), status="pending")
                s.add(b)
                s.flush()
                batch_id = b.id
        except IntegrityError:
            with self.db.read() as s:
                old = s.scalars(select(Batch).where(Batch.root == root)).one()
            raise Conflict(f"a batch with root {root} already exists (id {old.id})", batch_id=old.id) from None

        def link(s: Any, ob: OutboxTx) -> None:
            s.get(Batch, batch_id).outbox_id = ob.id
        try:
            with self._send_lock:
                ob = self._sign_and_record("anchor", {"root": root, "tree_cid": tree_cid},
                                           self.registry.build_anchor(root, tree_cid), link)
        except ContractRevert as e:
            with self.db.write() as s:
                s.delete(s.get(Batch, batch_id))
            raise Conflict(f"the registry refused the anchor: {e}") from None
        except ChainError as e:
            raise Unavailable(f"chain: {e}") from None
        try:
            self._await(ob)
        except ChainError as e:
            raise Unavailable(f"chain: {e}; the anchor will be reconciled") from None
        with self._trees_lock:
            self._trees[batch_id] = tree
        return self.get_batch(batch_id)

    def get_batch(self, batch_id: int) -> dict[str, Any]:
        if not 0 < batch_id < _INT32:
            raise NotFound(f"no batch {batch_id}")
        with self.db.read() as s:
            b = s.get(Batch, batch_id)
        if b is None:
            raise NotFound(f"no batch {batch_id}")
        return {"id": b.id, "root": b.root, "tree_cid": b.tree_cid, "size": b.size, "status": b.status,
                "tx_hash": b.tx_hash, "block_number": b.block_number, "leaf_encoding": CLAIM_LEAF_ENCODING}

    def _tree(self, batch_id: int) -> StandardMerkleTree:
        with self._trees_lock:
            t = self._trees.get(batch_id)
            if t is not None:
                self._trees.move_to_end(batch_id)
                return t
        info = self.get_batch(batch_id)
        tree = StandardMerkleTree.load(json.loads(self.store.cat(info["tree_cid"])))
        with self._trees_lock:
            self._trees[batch_id] = tree
            while len(self._trees) > 8:
                self._trees.popitem(last=False)
        return tree

    def batch_proofs(self, batch_id: int, index_or_owner: str) -> dict[str, Any]:
        info = self.get_batch(batch_id)
        tree = self._tree(batch_id)
        if index_or_owner.isdigit():
            i = int(index_or_owner)
            if i >= len(tree):
                raise NotFound(f"batch {batch_id} has {len(tree)} claims; index {i} is out of range")
            indices = [i]
        else:
            owner = _address(index_or_owner, "index_or_owner")
            indices = [i for i, v in tree.entries() if Web3.to_checksum_address(v[0]) == owner]
            if not indices:
                raise NotFound(f"batch {batch_id} has no claim for {owner}")
        return {"batch_id": batch_id, "root": info["root"], "leaf_encoding": CLAIM_LEAF_ENCODING,
                "proofs": [{"index": i, "value": list(tree.at(i)), "leaf": tree.leaf_hash(tree.at(i)),
                            "proof": tree.get_proof(i)} for i in indices[:1000]]}

    # -- verification ------------------------------------------------------------------------
    def verify_proofs(self, root: str, leaf_encoding: list[str], values: list[Any], proofs: list[Any]) -> list[bool]:
        _hex32(root, "root")
        if len(values) > self.settings.max_verify_items:
            raise Unprocessable(f"at most {self.settings.max_verify_items} items per request")
        try:
            return verify_many(root, leaf_encoding, values, proofs)
        except InvalidInputError as e:
            raise Unprocessable(str(e)) from None

    def verify_signatures(self, items: list[Any]) -> list[dict[str, Any]]:
        if len(items) > self.settings.max_verify_items:
            raise Unprocessable(f"at most {self.settings.max_verify_items} items per request")
        results: list[dict[str, Any]] = [{"index": i, "valid": False} for i in range(len(items))]
        groups: dict[str, list[tuple[int, Any, bytes, Any]]] = {"eip191": [], "eip712": [], "ed25519": []}
        for i, it in enumerate(items):
            try:
                if not isinstance(it, dict):
                    raise ValueError("item must be an object")
                scheme = it.get("scheme")
                if scheme not in groups:
                    raise ValueError("scheme must be eip191, eip712 or ed25519")
                sig = bytes.fromhex(str(it["signature"]).removeprefix("0x"))
                who: Any
                if scheme == "ed25519":
                    who = bytes.fromhex(str(it["public_key"]).removeprefix("0x"))
                    msg: Any = _message_bytes(it)
                elif scheme == "eip191":
                    who = _address(it["address"], "address")
                    msg = _message_bytes(it)
                else:
                    who = _address(it["address"], "address")
                    msg = it["typed_data"]
                    if not isinstance(msg, dict):
                        raise ValueError("typed_data must be an object")
                groups[scheme].append((i, msg, sig, who))
            except (KeyError, ValueError, TypeError, Unprocessable) as e:
                results[i]["error"] = f"items[{i}]: {e.detail if isinstance(e, Unprocessable) else e}"
        for scheme, g in groups.items():
            if not g:
                continue
            idx, msgs, sigs, whos = zip(*g)
            if scheme == "eip191":
                ok = verify_personal_sign(list(msgs), list(sigs), [bytes.fromhex(w[2:]) for w in whos])
            elif scheme == "eip712":
                ok = verify_typed_data(list(msgs), list(sigs), [bytes.fromhex(w[2:]) for w in whos])
            else:
                ok = verify_ed25519(list(msgs), list(sigs), list(whos))
            for i, v in zip(idx, ok):
                results[i]["valid"] = bool(v)
        return results

    # -- ownership ---------------------------------------------------------------------------
    def _owner_of(self, token_id: int) -> str:
        try:
            with self._io:
                return self.registry.owner_of(token_id)
        except ContractRevert as e:
            if e.name == "ERC721NonexistentToken":
                raise NotFound(f"token {token_id} does not exist on chain {self.chain.chain_id}") from None
            raise

    def challenge(self, token_id: int) -> dict[str, Any]:
        if not 0 <= token_id < _INT64:
            raise NotFound(f"token {token_id} does not exist on chain {self.chain.chain_id}")
        self._owner_of(token_id)
        nonce = secrets.token_hex(16)
        expires = utcnow() + timedelta(seconds=self.settings.nonce_ttl_s)
        message = (f"nftreg ownership challenge\nChain ID: {self.chain.chain_id}\nContract: {self.registry.address}\n"
                   f"Token ID: {token_id}\nNonce: {nonce}\nExpires: {expires.isoformat()}")
        with self.db.write() as s:
            s.add(OwnershipChallenge(nonce=nonce, token_id=token_id, message=message, expires_at=expires))
        return {"nonce": nonce, "token_id": token_id, "message": message, "expires_at": expires.isoformat()}

    def verify_ownership(self, nonce: str, signature: str) -> dict[str, Any]:
        try:
            sig = bytes.fromhex(signature.removeprefix("0x"))
        except ValueError:
            raise Unprocessable("signature: expected 0x-hex") from None
        with self.db.write() as s:
            ch = s.get(OwnershipChallenge, nonce)
            if ch is None or ch.used:
                raise NotFound("challenge unknown or already used; request a new one")
            ch.used = True  # single use even when the answer is wrong
            expired = aware(ch.expires_at) <= utcnow()
            token_id, message = ch.token_id, ch.message
        if expired:
            raise Unprocessable("challenge expired; request a new one")
        signer = recover_addresses([personal_sign_digest(message.encode())], [sig])[0]
        owner = self._owner_of(token_id)
        return {"token_id": token_id, "owner": owner, "signer": signer, "verified": signer == owner}

    # -- vouchers ----------------------------------------------------------------------------
    def issue_voucher(self, *, to: str, content_hash: str, metadata_cid: str, deadline: int | None) -> dict[str, Any]:
        v = Voucher(_address(to, "to"), bytes.fromhex(_hex32(content_hash, "content_hash")[2:]),
                    _cid(metadata_cid, "metadata_cid"), secrets.randbits(128),
                    deadline if deadline is not None else int(time.time()) + 86400)
        with self._io:
            sig = self.registry.sign_voucher(v, self.chain.signer)
            typed = self.registry.voucher_typed_data(v)
        return {"voucher": {"to": v.to, "content_hash": content_hash.lower(), "metadata_cid": v.metadata_cid,
                            "uid": str(v.uid), "deadline": v.deadline},
                "signature": "0x" + sig.hex(), "signer": self.chain.address,
                "typed_data": json.loads(json.dumps(typed, default=lambda o: "0x" + o.hex()))}

    # -- index -------------------------------------------------------------------------------
    def reindex(self) -> int:
        """Rebuild the asset index from Registered and Transfer events; returns tokens seen."""
        with self._io:
            events = self.registry.events(0, "latest")
        seen = 0
        with self.db.write() as s:
            for ev in events:
                if ev.name == "Registered":
                    tid = int(ev.args["tokenId"])
                    ch = "0x" + bytes(ev.args["contentHash"]).hex()
                    a = s.scalars(select(Asset).where(Asset.content_hash == ch)).one_or_none()
                    if a is None:
                        a = Asset(content_hash=ch, owner=ev.args["owner"], metadata_cid=ev.args["metadataCid"])
                        s.add(a)
                    a.token_id, a.status, a.tx_hash, a.block_number = tid, "minted", ev.tx_hash, ev.block_number
                    seen += 1
                elif ev.name == "Transfer":
                    s.flush()
                    a = s.scalars(select(Asset).where(Asset.token_id == int(ev.args["tokenId"]))).one_or_none()
                    if a is not None:
                        a.owner = ev.args["to"]
        return seen

    # -- operations --------------------------------------------------------------------------
    def readiness(self) -> dict[str, Any]:
        checks: dict[str, Any] = {}
        try:
            with self._io:
                checks["chain"] = {"ok": True, "block": int(self.chain.w3.eth.block_number)}
        except Exception as e:  # readiness reports, it does not raise
            checks["chain"] = {"ok": False, "error": type(e).__name__}
        try:
            self.store.health()
            checks["ipfs"] = {"ok": True}
        except Exception as e:
            checks["ipfs"] = {"ok": False, "error": type(e).__name__}
        try:
            self.db.ping()
            checks["database"] = {"ok": True}
        except Exception as e:
            checks["database"] = {"ok": False, "error": type(e).__name__}
        return checks


def _message_bytes(it: dict[str, Any]) -> bytes:
    m = it["message"]
    if not isinstance(m, str):
        raise ValueError("message must be a string")
    if it.get("encoding", "utf8") == "hex":
        return bytes.fromhex(m.removeprefix("0x"))
    return m.encode("utf-8")


class _SimulatedCrash(BaseException):
    """Test hook (NFTREG_TEST_CRASH_BEFORE_BROADCAST): the process 'dies' after the outbox commit."""
