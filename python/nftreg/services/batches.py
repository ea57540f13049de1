"""Batch registration: a claims file becomes a Merkle tree (its dump pinned), its root is
anchored on-chain through the outbox, and proofs are served from the tree."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from web3 import Web3

from nftreg.chain import Registry
from nftreg.claims import CLAIM_LEAF_ENCODING, build_claims_tree, read_claims, read_claims_text
from nftreg.db import Batch, Database, OutboxTx
from nftreg.errors import ChainError, ContractRevert, InvalidInputError, IpfsError
from nftreg.ipfs import ContentStore
from nftreg.merkle import StandardMerkleTree
from nftreg.services import validate
from nftreg.services.errors import Conflict, NotFound, Unavailable, Unprocessable, from_chain
from nftreg.services.outbox import Landed, Outbox, WriteHooks

__all__ = ["Batches"]

TREE_CACHE = 8  # trees kept in memory for proof requests


class Batches:
    def __init__(self, db: Database, registry: Registry, store: ContentStore, outbox: Outbox, *, max_claims: int):
        self.db, self.registry, self.store, self.outbox = db, registry, store, outbox
        self.max_claims = max_claims
        self._trees: OrderedDict[int, StandardMerkleTree] = OrderedDict()
        self._trees_lock = threading.Lock()
        outbox.subscribe("anchor", WriteHooks(on_landed=self._landed, on_dropped=self._dropped, on_failed=self._failed))
        outbox.on_reconcile(self._release_orphans)

    def create(self, text: str, fmt: str) -> dict[str, Any]:
        try:
            return self._create(read_claims_text(text, fmt=fmt))
        except InvalidInputError as e:
            raise Unprocessable(str(e)) from None

    def create_from_file(self, path: str, fmt: str) -> dict[str, Any]:
        """Claims from a CSV / JSON-lines file, read as a stream."""
        try:
            with open(path, encoding="utf-8", newline="") as f:
                parsed = read_claims(f, fmt=fmt)
        except UnicodeDecodeError:
            raise Unprocessable("claims must be UTF-8 text") from None
        except InvalidInputError as e:
            raise Unprocessable(str(e)) from None
        return self._create(parsed)

    def _create(self, parsed: Any) -> dict[str, Any]:
        if parsed.errors:
            raise Unprocessable(f"{len(parsed.errors)} claim line(s) are invalid; nothing was registered",
                                errors=[e.to_dict() for e in parsed.errors[:1000]])
        if not parsed.claims:
            raise Unprocessable("the batch has no claims")
        if len(parsed.claims) > self.max_claims:
            raise Unprocessable(f"a batch holds at most {self.max_claims} claims")
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

        def link(s: Session, entry: OutboxTx) -> None:
            b = s.get(Batch, batch_id)
            assert b is not None
            b.outbox_id = entry.id

        try:
            with self.outbox.send_lock:
                entry = self.outbox.send("anchor", {"root": root, "tree_cid": tree_cid},
                                      self.registry.build_anchor(root, tree_cid), link)
        except ChainError as e:
            if isinstance(e, ContractRevert):
                with self.db.write() as s:
                    s.delete(s.get(Batch, batch_id))
            raise from_chain(e, "anchor", sent=False, refused=Conflict) from None
        try:
            self.outbox.wait(entry)
        except ChainError as e:
            raise Unavailable(f"chain: {e}; the anchor will be reconciled") from None
        with self._trees_lock:
            self._trees[batch_id] = tree
        return self.get(batch_id)

    def get(self, batch_id: int) -> dict[str, Any]:
        if not 0 < batch_id < validate.INT32:
            raise NotFound(f"no batch {batch_id}")
        with self.db.read() as s:
            b = s.get(Batch, batch_id)
        if b is None:
            raise NotFound(f"no batch {batch_id}")
        return {"id": b.id, "root": b.root, "tree_cid": b.tree_cid, "size": b.size, "status": b.status,
                "final": bool(b.final), "tx_hash": b.tx_hash, "block_number": b.block_number,
                "leaf_encoding": CLAIM_LEAF_ENCODING}

    def _tree(self, batch_id: int) -> StandardMerkleTree:
        with self._trees_lock:
            t = self._trees.get(batch_id)
            if t is not None:
                self._trees.move_to_end(batch_id)
                return t
        info = self.get(batch_id)
        tree = StandardMerkleTree.load(json.loads(self.store.cat(info["tree_cid"])))
        with self._trees_lock:
            self._trees[batch_id] = tree
            while len(self._trees) > TREE_CACHE:
                self._trees.popitem(last=False)
        return tree

    def proofs(self, batch_id: int, index_or_owner: str) -> dict[str, Any]:
        info = self.get(batch_id)
        tree = self._tree(batch_id)
        if index_or_owner.isascii() and index_or_owner.isdigit():
            i = int(index_or_owner)
            if i >= len(tree):
                raise NotFound(f"batch {batch_id} has {len(tree)} claims; index {i} is out of range")
            indices = [i]
        else:
            owner = validate.address(index_or_owner, "index_or_owner")
            indices = [i for i, v in tree.entries() if Web3.to_checksum_address(v[0]) == owner]
            if not indices:
                raise NotFound(f"batch {batch_id} has no claim for {owner}")
        return {"batch_id": batch_id, "root": info["root"], "leaf_encoding": CLAIM_LEAF_ENCODING,
                "proofs": [{"index": i, "value": list(tree.at(i)), "leaf": tree.leaf_hash(tree.at(i)),
                            "proof": tree.get_proof(i)} for i in indices[:1000]]}

    # -- outbox hooks --------------------------------------------------------------------------
    def _landed(self, s: Session, w: Landed) -> None:
        for b in s.scalars(select(Batch).where(Batch.outbox_id == w.outbox_id)):
            b.status, b.tx_hash, b.block_number, b.final = "anchored", w.tx_hash, w.block_number, w.final

    def _dropped(self, s: Session, outbox_id: int) -> None:
        for b in s.scalars(select(Batch).where(Batch.outbox_id == outbox_id)):
            b.status, b.block_number, b.final = "pending", None, False

    def _failed(self, s: Session, outbox_id: int) -> None:
        for b in s.scalars(select(Batch).where(Batch.outbox_id == outbox_id)):
            s.delete(b)  # the root is free to be submitted again

    def _release_orphans(self, cutoff: Any) -> int:
        with self.db.write() as s:
            orphans = list(s.scalars(select(Batch).where(Batch.status == "pending", Batch.outbox_id.is_(None),
                                                         Batch.created_at < cutoff)))
            for o in orphans:
                s.delete(o)
        return len(orphans)
