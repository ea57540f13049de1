"""The index follows the contract's events: ``sync`` (the background pass, from a cursor) and
``reindex`` (everything from block 0). Events are decoded by the contract's ABI
(``Registry.decode_logs``).

``sync`` records owners of tokens that changed hands (read back with ``ownerOf``, so a transfer
a reorg dropped is not believed) and makes rows for tokens registered outside this service
(claims, vouchers, another minter). The last ``finality_depth`` blocks are read again on every
pass. The cursor keeps the hash of its block: when the chain no longer has that block (a reorg
or a devnet restart rewrote history deeper than the finality depth), the owners of every
indexed token are read back from the chain and the events are followed again from block 0,
so a transfer that vanished with those blocks does not stay in the index.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nftreg.chain import Chain, ContractEvent, Registry
from nftreg.db import Asset, ChainCursor, Database
from nftreg.db.models import utcnow
from nftreg.errors import ContractRevert
from nftreg.services.outbox import Finality, Outbox

__all__ = ["Indexer"]


class Indexer:
    def __init__(self, db: Database, chain: Chain, registry: Registry, outbox: Outbox, finality: Finality):
        self.db, self.chain, self.registry, self.outbox, self.finality = db, chain, registry, outbox, finality
        self.totals: Counter[str] = Counter()  # index changes made by following events, for /metrics
        self._lock = threading.Lock()
        self.cursor_name = f"events:{chain.chain_id}:{registry.address.lower()}"

    def reindex(self) -> int:
        """Rebuild the asset index from Registered and Transfer events; returns tokens seen."""
        with self.outbox.rpc("events"):
            head = self.chain.block_number()
            events = self.registry.events(0, head)
        seen = 0
        with self.db.write() as s:
            for ev in events:
                if ev.name == "Registered":
                    self._register(s, ev, head, overwrite=True)
                    seen += 1
                elif ev.name == "Transfer":
                    s.flush()
                    a = s.scalars(select(Asset).where(Asset.token_id == int(ev.args["tokenId"]))).one_or_none()
                    if a is not None:
                        a.owner = ev.args["to"]
        return seen

    def _register(self, s: Session, ev: ContractEvent, head: int, *, overwrite: bool) -> bool:
        """The row of a Registered event; with ``overwrite`` an existing row takes the chain's view."""
        hash_hex = "0x" + bytes(ev.args["contentHash"]).hex()
        tid = int(ev.args["tokenId"])
        a = s.scalars(select(Asset).where(Asset.content_hash == hash_hex)).one_or_none()
        if a is None:
            a = Asset(content_hash=hash_hex, owner=ev.args["owner"], metadata_cid=ev.args["metadataCid"])
            s.add(a)
        elif not overwrite:
            return False
        a.token_id, a.status, a.tx_hash, a.block_number = tid, "minted", ev.tx_hash, ev.block_number
        a.final = self.finality.by_depth(ev.block_number, head)
        return True

    def sync(self, *, max_blocks: int = 10_000) -> dict[str, int]:
        """Follow the contract's events into the index from where the last pass stopped.
        Returns counts of rows changed (owners, registered) and deep rewrites repaired."""
        counts = {"owners": 0, "registered": 0, "rewrites": 0}
        with self._lock:
            with self.outbox.rpc("head"):
                head = self.chain.block_number()
            with self.db.read() as s:
                cur = s.get(ChainCursor, self.cursor_name)
            start = 0
            if cur is not None:
                start = max(0, int(cur.block) - self.finality.depth + 1)
                if cur.block_hash is not None and self._rewritten(int(cur.block), cur.block_hash):
                    counts["rewrites"] += 1
                    counts["owners"] += self._recheck_all_owners()
                    start = 0
            end = min(head, start + max_blocks)
            if end < start:
                return counts
            with self.outbox.rpc("events"):
                events = self.registry.decode_logs(self.chain.logs(self.registry.address, start, end))
                end_hash = self.chain.block_hash(end)
            moved = {int(e.args["tokenId"]) for e in events
                     if e.name == "Transfer" and int(e.args["from"], 16) != 0}
            registered = {"0x" + bytes(e.args["contentHash"]).hex(): e for e in events if e.name == "Registered"}
            counts["registered"] = self._register_outside(registered, head)
            counts["owners"] += self._set_owners(moved)
            with self.db.write() as s:
                c = s.get(ChainCursor, self.cursor_name)
                if c is None:
                    s.add(ChainCursor(name=self.cursor_name, block=end, block_hash=end_hash, updated_at=utcnow()))
                else:
                    c.block, c.block_hash, c.updated_at = end, end_hash, utcnow()
        for k, v in counts.items():
            self.totals[k] += v
        return counts

    def _rewritten(self, block: int, block_hash: str) -> bool:
        with self.outbox.rpc("block"):
            return self.chain.block_hash(block) != block_hash

    def _register_outside(self, registered: dict[str, ContractEvent], head: int) -> int:
        """Rows for tokens registered outside this service; rows reserved or minted through the
        outbox (or whose token id a row the reconciler is settling still holds) are left alone."""
        if not registered:
            return 0
        with self.db.read() as s:
            known = set(s.scalars(select(Asset.content_hash).where(Asset.content_hash.in_(list(registered)))))
        new = 0
        if registered.keys() - known:
            with self.db.write() as s:
                for hash_hex, ev in registered.items():
                    if hash_hex in known or s.scalar(select(Asset.id).where(Asset.token_id == int(ev.args["tokenId"]))):
                        continue
                    new += self._register(s, ev, head, overwrite=False)
        return new

    def _set_owners(self, token_ids: set[int]) -> int:
        owners: dict[int, str] = {}  # token id -> holder (checksummed)
        for tid in sorted(token_ids):
            try:
                with self.outbox.rpc("ownerOf"):
                    owners[tid] = str(self.registry.owner_of(tid))
            except ContractRevert:
                continue  # burned or not (yet) there: nothing to record
        changed = 0
        with self.db.write() as s:
            for tid, owner in owners.items():
                r: Any = s.execute(update(Asset).where(Asset.token_id == tid, Asset.owner != owner).values(owner=owner))
                changed += r.rowcount or 0
        return changed

    def _recheck_all_owners(self) -> int:
        with self.db.read() as s:
            tids = set(s.scalars(select(Asset.token_id).where(Asset.status == "minted", Asset.token_id.is_not(None))))
        return self._set_owners({int(t) for t in tids if t is not None})
