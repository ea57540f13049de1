"""The transactional outbox: the one place that prepares, signs, records, broadcasts,
rebroadcasts, fee-bumps and finalizes chain writes.

A write's intent, nonce, signed raw transaction and hash are committed (``OutboxTx``) before
the bytes leave the process. After a crash, ``reconcile()`` looks each unsettled row up by hash
and sends the very same bytes again; it never signs the write's work under a second nonce, so
a write lands at most once. A row whose transaction sits unmined for ``fee_bump_after_s`` is
replaced by the same transaction with higher fees (same nonce: either version lands, never
both); the row keeps every hash it signed.

Life of a row: ``signed`` → ``confirmed`` (in a block) → ``final`` (deep and old enough);
``confirmed`` → ``signed`` again when its block vanishes (reorg, devnet restart); ``failed``
when it reverted or its nonce went to another transaction.

Other modules own what a write means and subscribe to its kind:

    outbox.subscribe("mint", WriteHooks(on_landed=..., on_dropped=..., on_failed=...))
    outbox.on_final(callback, kind="mint")      # kind=None: every kind

Every hook runs inside the database transaction that changes the row, so what it writes
commits (or not) together with the row's new status:

* ``on_landed(session, landed)``: the write is in a block (again, after a reorg moved it, and
  once more when it turns final; ``landed.final`` says which).
* ``on_final(session, landed)``: the write became final. Called once per write, after
  ``on_landed``; the place for consumers that must only ever see irreversible writes (e.g. a
  registration log).
* ``on_dropped(session, outbox_id)``: its block vanished; it will be sent again.
* ``on_failed(session, outbox_id)``: it will never land; release what it reserved.
* ``on_reconcile(callback)``: at the start of each reconcile pass, ``callback(cutoff)`` releases
  reservations made before ``cutoff`` by requests that died before signing; returns a count.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nftreg.chain import Chain, SignedTx
from nftreg.db import Database, OutboxTx
from nftreg.db.models import utcnow
from nftreg.errors import ChainError, ContractRevert
from nftreg.services.auth import aware
from nftreg.services.writes import (
    Finality,
    Landed,
    SimulatedCrash,
    Waiter,
    WriteHooks,
    copy_error,
    failpoint,
)
from nftreg.settings import Settings

__all__ = ["Finality", "Landed", "Outbox", "SimulatedCrash", "WriteHooks", "copy_error"]

log = logging.getLogger("nftreg.outbox")
UNSETTLED = ("signed", "sent", "confirmed")


def hashes_of(entry: OutboxTx) -> list[str]:
    """Every hash signed for this write: the current one first, then those it replaced."""
    return [entry.tx_hash, *json.loads(entry.replaced_hashes or "[]")]


class Outbox:
    def __init__(self, settings: Settings, db: Database, chain: Chain, finality: Finality):
        self.settings, self.db, self.chain, self.finality = settings, db, chain, finality
        self.send_lock = chain.sender.lock  # nonce order == broadcast order
        self.totals: Counter[str] = Counter()  # reconcile outcomes since start, for /metrics and tests
        self.started_at = utcnow()
        self._hooks: dict[str, WriteHooks] = {}
        self._final: list[tuple[str | None, Callable[[Session, Landed], None]]] = []
        self._orphan_releasers: list[Callable[[Any], int]] = []
        self._reconcile_lock = threading.Lock()
        self._waiters: dict[int, Waiter] = {}
        self._waiters_lock = threading.Lock()

    # -- subscriptions -----------------------------------------------------------------------
    def subscribe(self, kind: str, hooks: WriteHooks) -> None:
        self._hooks[kind] = hooks

    def on_final(self, callback: Callable[[Session, Landed], None], *, kind: str | None = None) -> None:
        self._final.append((kind, callback))

    def on_reconcile(self, release_orphans: Callable[[Any], int]) -> None:
        self._orphan_releasers.append(release_orphans)

    # -- helpers -----------------------------------------------------------------------------
    @contextmanager
    def rpc(self, what: str) -> Iterator[None]:
        """Serialise calls into the in-process EVM; transport failures surface as ChainError."""
        with self.chain.serialized():
            try:
                yield
            except ChainError:
                raise
            except OSError as e:
                raise ChainError(f"RPC unreachable ({what}): {e}") from None

    def failpoint(self, point: str) -> None:
        failpoint(self.settings.env, point)

    def get(self, outbox_id: int) -> OutboxTx | None:
        with self.db.read() as s:
            return s.get(OutboxTx, outbox_id)

    # -- writing -----------------------------------------------------------------------------
    def prepare(self, tx: dict[str, Any]) -> dict[str, Any]:
        """Gas and fees, outside the send lock (they do not depend on the nonce); the gas
        estimate doubles as the dry run (a revert such as ContentAlreadyRegistered surfaces here)."""
        with self.rpc("gas and fees"):
            return self.chain.prepare(tx)

    def send(self, kind: str, intent: dict[str, Any], tx: dict[str, Any],
             link: Callable[[Session, OutboxTx], None]) -> OutboxTx:
        """Sign, commit the row (``link`` ties the caller's rows to it in the same transaction),
        then broadcast. Hold ``send_lock``."""
        if "chainId" not in tx:
            tx = self.prepare(tx)
        self.failpoint(f"{kind}:before_sign")
        for attempt in range(8):
            with self.db.read() as s:  # past every nonce the outbox ever signed: a signed row
                top = s.scalar(select(func.max(OutboxTx.nonce)).where(  # keeps its nonce until delivered
                    OutboxTx.chain_id == self.chain.chain_id, OutboxTx.sender == self.chain.address))
            with self.rpc("nonce"):
                signed = self.chain.sign_transaction(tx, nonce_floor=0 if top is None else int(top) + 1)
            entry = OutboxTx(kind=kind, intent=json.dumps(intent), chain_id=self.chain.chain_id, sender=signed.sender,
                          nonce=signed.nonce, raw_tx=signed.raw, tx_hash=signed.hash, status="signed")
            try:
                with self.db.write() as s:
                    s.add(entry)
                    s.flush()
                    link(s, entry)
                break
            except IntegrityError as e:
                self.chain.reset_nonces()
                # another replica signed this nonce first: its row is committed, take the next
                if attempt == 7 or "nonce" not in str(e.orig).lower():
                    raise
            except BaseException:
                self.chain.reset_nonces()  # the nonce was never recorded: free again
                raise
        self.failpoint(f"{kind}:after_sign")
        self.broadcast(entry)
        self.failpoint(f"{kind}:after_broadcast")
        return entry

    def broadcast(self, entry: OutboxTx, *, attempts: int = 3) -> None:
        """Send the row's raw bytes; on a transport failure retry the very same bytes. The row
        stays 'signed' either way: 'signed' means "look it up by hash, else send again"."""
        for i in range(attempts):
            try:
                with self.chain.serialized():
                    self.chain.broadcast(SignedTx(entry.raw_tx, entry.tx_hash, entry.nonce, entry.sender))
                return
            except ContractRevert:
                raise
            except ChainError as e:
                if "already used by another transaction" in str(e):
                    # The nonce is used: by this very write (it landed after the caller looked
                    # for its receipt, e.g. a send that stalled and reached the node late, or an
                    # earlier fee-bumped version of it) or by another transaction. Only the
                    # second fails the write, and only when the receipts say so: if they cannot
                    # be read now, it stays 'signed' and the next pass looks again.
                    try:
                        ours = self._landed(entry)
                    except ChainError:
                        raise e from None
                    if ours:
                        return
                    self.fail(entry.id, str(e))
                    raise
                if i == attempts - 1 or "unreachable" not in str(e):
                    raise
                time.sleep(0.25 * 2**i)

    def _landed(self, entry: OutboxTx) -> bool:
        """Whether one of this write's transactions (the current one, or one a fee bump
        replaced) has a receipt. Raises ChainError when the node cannot tell now."""
        with self.rpc("receipts"):
            return any(r is not None for r in self.chain.receipts(hashes_of(entry)))

    def bump(self, entry: OutboxTx) -> bool:
        """Replace a stuck write by the same transaction with higher fees (same nonce). False
        when the configured fee ceiling leaves no room."""
        tx = self.chain.sender.bumped(entry.raw_tx)
        if tx is None:
            log.warning("write %s (nonce %s) is stuck and its fees are at the ceiling", entry.id, entry.nonce)
            return False
        with self.send_lock:
            signed = self.chain.sender.sign(tx, entry.nonce)
            with self.db.write() as s:
                row = s.get(OutboxTx, entry.id)
                if row is None or row.tx_hash != entry.tx_hash or row.status != "signed":
                    return False  # settled, or bumped by another process meanwhile
                row.replaced_hashes = json.dumps(hashes_of(row))
                row.raw_tx, row.tx_hash, row.bumped_at, row.updated_at = signed.raw, signed.hash, utcnow(), utcnow()
            entry.raw_tx, entry.tx_hash = signed.raw, signed.hash
            log.info("write %s (nonce %s): fees bumped, now %s", entry.id, entry.nonce, signed.hash)
            try:
                self.broadcast(entry, attempts=1)
            except ContractRevert:
                raise
            except ChainError as e:  # e.g. still below the base fee: the next passes send it again
                log.warning("write %s: the node refused its fee bump for now: %s", entry.id, e)
        return True

    def _stuck(self, entry: OutboxTx) -> bool:
        since = entry.bumped_at or entry.created_at
        return (self.settings.fee_bump_after_s > 0
                and (utcnow() - aware(since)).total_seconds() >= self.settings.fee_bump_after_s)

    # -- outcomes ----------------------------------------------------------------------------
    def fail(self, outbox_id: int, error: str) -> None:
        with self.db.write() as s:
            entry = s.get(OutboxTx, outbox_id)
            if entry is None:
                return
            entry.status, entry.error, entry.updated_at = "failed", error, utcnow()
            hooks = self._hooks.get(entry.kind)
            if hooks and hooks.on_failed:
                hooks.on_failed(s, outbox_id)

    def land(self, outbox_id: int, receipt: dict[str, Any], head: int | None = None) -> None:
        """Record the block a write landed in (again, after a reorg moved it)."""
        tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
        block = int(receipt["blockNumber"])
        block_hash = "0x" + bytes(receipt["blockHash"]).hex()
        with self.db.write() as s:
            entry = s.get(OutboxTx, outbox_id)
            assert entry is not None
            if entry.mined_at is None or entry.block_hash != block_hash:
                entry.mined_at = utcnow()
            if tx_hash != entry.tx_hash:  # an earlier version (before a fee bump) is the one that landed
                entry.replaced_hashes = json.dumps([h for h in hashes_of(entry) if h != tx_hash])
                entry.tx_hash = tx_hash
            was_final = entry.status == "final"
            final = self.finality.reached(block, entry.mined_at, block if head is None else max(head, block))
            entry.status = "final" if final else "confirmed"
            entry.block_number, entry.block_hash, entry.updated_at = block, block_hash, utcnow()
            landed = Landed(entry.id, entry.kind, json.loads(entry.intent), tx_hash, block, block_hash, final, receipt)
            hooks = self._hooks.get(entry.kind)
            if hooks and hooks.on_landed:
                hooks.on_landed(s, landed)
            if final and not was_final:
                for kind, callback in self._final:
                    if kind is None or kind == entry.kind:
                        callback(s, landed)

    def drop(self, outbox_id: int) -> None:
        """The block that held this write is gone (reorg, devnet restart): back to 'signed' so it
        is sent again with the same bytes; nothing about it is shown as done meanwhile."""
        with self.db.write() as s:
            entry = s.get(OutboxTx, outbox_id)
            assert entry is not None
            entry.status, entry.block_number, entry.block_hash, entry.mined_at, entry.updated_at = "signed", None, None, None, utcnow()
            hooks = self._hooks.get(entry.kind)
            if hooks and hooks.on_dropped:
                hooks.on_dropped(s, outbox_id)

    # -- waiting -----------------------------------------------------------------------------
    def wait(self, entry: OutboxTx) -> dict[str, Any]:
        """The write's receipt, recorded. Follows fee bumps made meanwhile (by the background
        pass, possibly in another process) by re-reading the row's hashes once a second."""
        deadline = time.monotonic() + self.settings.tx_timeout_s
        hashes, delay, reread = hashes_of(entry), 0.005, time.monotonic() + 1.0
        while True:
            with self.rpc("receipts"):
                receipt = next((r for r in self.chain.receipts(hashes) if r is not None), None)
            if receipt is not None:
                break
            now = time.monotonic()
            if now > deadline:
                raise ChainError(f"no receipt for {entry.tx_hash} within {self.settings.tx_timeout_s} s")
            if now >= reread:
                row, reread = self.get(entry.id), now + 1.0
                if row is not None and row.status == "failed":
                    raise ChainError(f"write {entry.id} failed: {row.error}")
                if row is not None and row.status in ("confirmed", "final"):
                    return {}  # recorded by the background pass
                if row is not None:
                    hashes = hashes_of(row)
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        if receipt.get("status") != 1:
            e = self.chain.revert_of("0x" + bytes(receipt["transactionHash"]).hex(), receipt)
            self.fail(entry.id, str(e))
            raise e
        self.failpoint(f"{entry.kind}:after_receipt")
        self.land(entry.id, receipt)
        return receipt

    def wait_shared(self, entry: OutboxTx) -> None:
        """Wait for a write's receipt once per write, however many requests share it: the first
        waiter reads and records it, the others wait for that."""
        with self._waiters_lock:
            w = self._waiters.get(entry.id)
            first = w is None
            if first:
                w = self._waiters[entry.id] = Waiter()
        assert w is not None
        if first:
            try:
                self.wait(entry)
            except BaseException as e:
                w.error = e
                raise
            finally:
                with self._waiters_lock:
                    self._waiters.pop(entry.id, None)
                w.done.set()
            return
        if not w.done.wait(self.settings.tx_timeout_s + 5):
            raise ChainError(f"no receipt for {entry.tx_hash} within {self.settings.tx_timeout_s} s")
        if w.error is not None:
            raise copy_error(w.error)

    # -- reconciliation ----------------------------------------------------------------------
    def orphan_cutoff(self) -> Any:
        """Reservations made before this moment with nothing signed belong to a dead request.
        Alone on its database that is anything older than this process; when other server
        processes share the database, only what is older than ``shared_stale_s``."""
        if self.settings.shared_database:
            return min(utcnow() - timedelta(seconds=self.settings.shared_stale_s), self.started_at)
        return self.started_at

    def reconcile(self, *, wait: bool = True) -> dict[str, int]:
        """One pass over every write that is not final yet: a signed one is looked up by hash and
        otherwise sent again with the same raw bytes (or, stuck, fee-bumped); a confirmed one
        whose receipt vanished (reorg, devnet restart) goes back to signed and is sent again;
        one deep and old enough becomes final. With ``wait`` (start-up) the pass waits for
        receipts of what it sent. Returns counts by outcome."""
        counts = {"confirmed": 0, "failed": 0, "pending": 0, "released": 0, "reorged": 0, "final": 0}
        with self._reconcile_lock:
            cutoff = self.orphan_cutoff()
            counts["released"] = sum(release(cutoff) for release in self._orphan_releasers)
            with self.db.read() as s:
                rows = list(s.scalars(select(OutboxTx).where(OutboxTx.status.in_(UNSETTLED),
                                                             OutboxTx.chain_id == self.chain.chain_id)
                                      .order_by(OutboxTx.nonce)))
            if not wait:
                now = utcnow()
                rows = [entry for entry in rows if not self._leave_for_now(entry, now)]
            if not rows:
                return counts
            try:
                with self.rpc("receipts"):
                    head = self.chain.block_number()
                    receipts = self.chain.receipts([entry.tx_hash for entry in rows])  # batched
                    for k, entry in enumerate(rows):
                        if receipts[k] is None and entry.replaced_hashes:
                            receipts[k] = next((r for r in self.chain.receipts(hashes_of(entry)[1:]) if r), None)
            except ChainError:
                counts["pending"] = len(rows)
                return counts
            may_bump = True  # only the lowest unmined nonce: the later ones wait behind it
            for entry, receipt in zip(rows, receipts):
                try:
                    outcome = self.reconcile_one(entry, head, wait=wait, receipt=receipt, may_bump=may_bump)
                except ContractRevert:
                    outcome = "failed"
                except ChainError:
                    outcome = "pending"
                if receipt is None:
                    may_bump = False
                if outcome:
                    counts[outcome] = counts.get(outcome, 0) + 1
                    self.totals[outcome] += 1
        return counts

    def _leave_for_now(self, entry: OutboxTx, now: Any) -> bool:
        """In the background pass, skip a write that a request of this process signed a moment
        ago: that request is sending it and waiting for its receipt."""
        if entry.status == "signed":
            return aware(entry.created_at) > aware(self.started_at) and (now - aware(entry.created_at)).total_seconds() < 2
        return False

    def reconcile_one(self, entry: OutboxTx, head: int, *, wait: bool, receipt: dict[str, Any] | None,
                      may_bump: bool = False) -> str | None:
        outcome = None
        if receipt is None:
            if entry.status == "confirmed":
                self.drop(entry.id)
                outcome = "reorged"
            if may_bump and entry.status == "signed" and not wait and self._stuck(entry) and self.bump(entry):
                return "bumped"
            with self.send_lock:
                self.broadcast(entry, attempts=1)
            if not wait:
                return outcome or "pending"
            self.wait(entry)
            return outcome or "confirmed"
        if receipt.get("status") != 1:
            self.fail(entry.id, "transaction reverted")
            return "failed"
        block_hash = "0x" + bytes(receipt["blockHash"]).hex()
        if entry.status != "confirmed" or entry.block_hash != block_hash:
            self.land(entry.id, receipt, head)
            return "confirmed"
        if entry.mined_at is not None and self.finality.reached(int(receipt["blockNumber"]), entry.mined_at, head):
            self.land(entry.id, receipt, head)
            return "final"
        return None

    def recheck(self, outbox_id: int) -> bool:
        """Check one unsettled write against the chain now (a reader is about to show it).
        Returns whether there was anything to check."""
        entry = self.get(outbox_id)
        if entry is None or entry.status not in ("confirmed", "signed"):
            return False
        try:
            with self.rpc("receipt"):
                head = self.chain.block_number()
                receipt = next((r for r in self.chain.receipts(hashes_of(entry)) if r is not None), None)
            outcome = self.reconcile_one(entry, head, wait=False, receipt=receipt)
            if outcome:
                self.totals[outcome] += 1
        except ChainError:
            pass  # shown as last known; the background pass retries
        return True
