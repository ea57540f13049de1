"""The registry's registrations into the registration log, each exactly once.

Every registration event the registry accepts becomes one ``log_entries`` row (``LogRecord``),
written in the database transaction that accepts it:

* the outbox's final writes (``on_final``): ``mint`` (one entry per token, also for a
  mint-from-log) and ``anchor`` (a claims batch's root);
* an off-chain registration (``OffchainRegistration.register``): kind 2, private;
* contract events the service did not send, once final (``follow_events``, the background
  pass): claims, voucher redemptions, mints by another minter, batch anchors by another
  anchorer, metadata changes and transfers.

A row's ``key`` names the event (``reg:<content hash>`` for the one on-chain registration of a
content hash, ``private:<content hash>``, ``anchor:<root>``, ``transfer:<tx>:<log index>``,
``meta:<tx>:<log index>``) and is unique, so whichever path sees an event first records it and
every replay (a reconcile after kill -9, an event read twice) is a no-op.

The process that writes the log runs the pump: rows without a ``log_index`` are appended in
id order (at most every ``interval``), and their indexes recorded once the published checkpoint
covers them. A crash between publishing and recording is repaired at start (``catch_up``): the
entries past the highest recorded index are matched to pending rows by their exact bytes (the
row holds the bytes, log time included), so nothing is appended twice and nothing is lost.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from nftreg.chain import Chain, ContractEvent, Registry
from nftreg.db import Asset, ChainCursor, Database, LogRecord, OutboxTx
from nftreg.db.models import utcnow
from nftreg.errors import ChainError
from nftreg.log.entry import EntryKind, LogEntry
from nftreg.log.store import fault_armed
from nftreg.services.writes import Finality, Landed, failpoint

__all__ = ["LogFeed"]

log = logging.getLogger("nftreg.logfeed")

_ZERO_ADDR = "0x" + "00" * 20
MIN_INTEGRATION_GAP_S = 0.1


def now_ms() -> int:
    return int(time.time() * 1000)


def _insert_new_keys(s: Session, table: Table) -> Any:
    """INSERT into ``log_entries`` that skips rows whose ``key`` exists (committed or being
    inserted by a concurrent transaction, which it waits for) and returns the keys it added."""
    name = s.get_bind().dialect.name
    if name == "postgresql":
        return (postgresql.insert(table).on_conflict_do_nothing(index_elements=[table.c.key])
                .returning(table.c.key))
    if name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=[table.c.key]).returning(table.c.key)
    raise RuntimeError(f"log entries: unsupported database dialect {name!r}")  # pragma: no cover


class LogFeed:
    def __init__(self, db: Database, chain: Chain, registry: Registry, finality: Finality, *, env: str = "dev"):
        self.db, self.chain, self.registry, self.finality = db, chain, registry, finality
        self.env = env
        self.cursor_name = f"log:{chain.chain_id}:{registry.address.lower()}"
        self._heads: deque[tuple[float, int]] = deque(maxlen=4096)  # (when seen, head) for the age rule
        self._log: Any = None
        self._pump: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.appended = 0
        self.integrations = 0
        self._armed_passes: dict[str, int] = {}  # crash tests: passes through a fault point while armed
        self.recovered = 0

    # -- recording (inside the accepting transaction) ---------------------------------------------
    def record(self, s: Session, key: str, entry: LogEntry) -> bool:
        """Add the entry for event ``key`` unless that event already has one. Returns whether
        this call added it. Race-free: two transactions recording the same event at once (the
        event sync and the outbox's final write both seeing a mint) insert with ``ON CONFLICT
        (key) DO NOTHING``, so the loser waits for the winner and adds nothing instead of failing
        (on PostgreSQL an IntegrityError would abort the loser's whole transaction)."""
        if s.scalar(select(LogRecord.id).where(LogRecord.key == key)) is not None:
            return False  # the common replay: no write at all
        return self.record_many(s, [(key, entry)]) == 1

    def record_many(self, s: Session, items: list[tuple[str, LogEntry]], *, new: bool = False) -> int:
        """``record`` for many events in one statement; returns how many were added. Keys
        already recorded (or recorded meanwhile by a concurrent transaction) are skipped;
        ``new``: the caller knows none is, and a duplicate key fails the transaction."""
        t = now_ms()
        rows, seen = [], set()
        for key, entry in items:
            if key in seen:
                continue
            seen.add(key)
            e = entry.with_time(t)
            rows.append({"key": key, "kind": int(e.kind), "content_hash": "0x" + e.content_hash.hex(),
                         "entry": e.encode(), "created_at": utcnow()})
        if not rows:
            return 0
        table: Table = LogRecord.__table__  # type: ignore[assignment]
        if new:
            s.execute(insert(table), rows)
            added = len(rows)
        else:
            added = len(s.execute(_insert_new_keys(s, table), rows).all())
        if added:
            self._wake.set()
        return added

    def entry(self, kind: EntryKind, *, owner: str, content_hash: str | bytes, token_id: int | None = None,
              metadata_cid: str = "", tx_hash: str | None = None, block: int | None = None) -> LogEntry:
        """An entry about this registry (its chain id and contract)."""
        return LogEntry.of(kind, owner=owner, content_hash=content_hash, chain_id=self.chain.chain_id,
                           contract=self.registry.address, token_id=token_id, metadata_cid=metadata_cid,
                           tx_hash=tx_hash, block=block)

    # -- the outbox's final writes ----------------------------------------------------------------
    def on_final_mint(self, s: Session, w: Landed) -> None:
        by_hash = self.registry.minted_by_content(w.receipt) if w.receipt else {}
        intent = w.intent
        if "content_hashes" in intent:
            items = list(zip(intent["owners"], intent["content_hashes"], intent["metadata_cids"], strict=True))
        else:
            items = [(intent["owner"], intent["content_hash"], intent["metadata_cid"])]
        for owner, hash_hex, cid in items:
            tid = by_hash.get(hash_hex.lower())
            if tid is None:
                tid = s.scalar(select(Asset.token_id).where(Asset.content_hash == hash_hex))
            self.record(s, f"reg:{hash_hex.lower()}",
                        self.entry(EntryKind.MINT, owner=owner, content_hash=hash_hex, token_id=tid, metadata_cid=cid,
                                   tx_hash=w.tx_hash, block=w.block_number))
        self._failpoint("log:after_record")

    def on_final_anchor(self, s: Session, w: Landed) -> None:
        root = w.intent["root"]
        self.record(s, f"anchor:{root.lower()}",
                    self.entry(EntryKind.BATCH_ANCHOR, owner=self.chain.address, content_hash=root,
                               metadata_cid=w.intent.get("tree_cid", ""), tx_hash=w.tx_hash, block=w.block_number))

    def _failpoint(self, point: str) -> None:
        """The crash tests' ``failpoint``, live while armed (``fault_armed``) and after letting
        ``NFTREG_LOG_FAULT_SKIP`` (default 0) armed passes through it."""
        if self.env != "test" or os.environ.get("NFTREG_TEST_CRASH_AT") != point or not fault_armed():
            return
        seen = self._armed_passes.get(point, 0)
        self._armed_passes[point] = seen + 1
        if seen >= int(os.environ.get("NFTREG_LOG_FAULT_SKIP", "0")):
            failpoint(self.env, point)

    # -- contract events the service did not send --------------------------------------------------
    def follow_events(self, *, max_blocks: int = 10_000) -> int:
        """Record final contract events past the log cursor (deep enough, and at least
        ``finality.age_s`` old by this process's clock). Returns entries added."""
        with self.chain.serialized():
            head = self.chain.block_number()
        now = time.monotonic()
        self._heads.append((now, head))
        aged = max((h for t, h in self._heads if now - t >= self.finality.age_s), default=-1)
        safe = min(head - self.finality.depth + 1, aged)
        with self.db.read() as s:
            cur = s.get(ChainCursor, self.cursor_name)
            start = 0 if cur is None else int(cur.block) + 1
        end = min(safe, start + max_blocks - 1)
        if end < start:
            return 0
        with self.chain.serialized():
            events = self.registry.decode_logs(self.chain.logs(self.registry.address, start, end))
        added = 0
        with self.db.write() as s:
            added = self._record_events(s, events)
            c = s.get(ChainCursor, self.cursor_name)
            if c is None:
                s.add(ChainCursor(name=self.cursor_name, block=end, block_hash=None, updated_at=utcnow()))
            else:
                c.block, c.updated_at = end, utcnow()
        return added

    def _record_events(self, s: Session, events: list[ContractEvent]) -> int:
        claimed = {(e.tx_hash, int(e.args["tokenId"])) for e in events if e.name == "Claimed"}
        redeemed = {(e.tx_hash, int(e.args["tokenId"])) for e in events if e.name == "VoucherRedeemed"}
        added = 0
        for e in events:
            if e.name == "Registered":
                tid = int(e.args["tokenId"])
                kind = (EntryKind.CLAIM if (e.tx_hash, tid) in claimed
                        else EntryKind.VOUCHER_REDEMPTION if (e.tx_hash, tid) in redeemed else EntryKind.MINT)
                h = "0x" + bytes(e.args["contentHash"]).hex()
                added += self.record(s, f"reg:{h}", self.entry(kind, owner=e.args["owner"], content_hash=h, token_id=tid,
                                                               metadata_cid=e.args["metadataCid"], tx_hash=e.tx_hash,
                                                               block=e.block_number))
            elif e.name == "Anchored":
                root = "0x" + bytes(e.args["root"]).hex()
                added += self.record(s, f"anchor:{root}", self.entry(
                    EntryKind.BATCH_ANCHOR, owner=e.args["anchorer"], content_hash=root, metadata_cid=e.args["treeCid"],
                    tx_hash=e.tx_hash, block=e.block_number))
            elif e.name == "Transfer" and int(e.args["from"], 16) != 0:
                tid = int(e.args["tokenId"])
                held = self._content_of(s, tid)
                if held is not None:
                    added += self.record(s, f"transfer:{e.tx_hash}:{e.log_index}", self.entry(
                        EntryKind.TRANSFER, owner=e.args["to"], content_hash=held, token_id=tid, tx_hash=e.tx_hash,
                        block=e.block_number))
            elif e.name == "MetadataCidUpdated":
                tid = int(e.args["tokenId"])
                changed = self._content_of(s, tid)
                if changed is not None:
                    owner = s.scalar(select(Asset.owner).where(Asset.token_id == tid)) or _ZERO_ADDR
                    added += self.record(s, f"meta:{e.tx_hash}:{e.log_index}", self.entry(
                        EntryKind.METADATA_CHANGE, owner=owner, content_hash=changed, token_id=tid,
                        metadata_cid=e.args["metadataCid"], tx_hash=e.tx_hash, block=e.block_number))
        return added

    def _content_of(self, s: Session, token_id: int) -> str | None:
        h = s.scalar(select(Asset.content_hash).where(Asset.token_id == token_id))
        if h is not None:
            return str(h)
        try:
            with self.chain.serialized():
                raw = self.registry.content_hash_of(token_id)
        except (ChainError, AttributeError):
            return None
        return "0x" + bytes(raw).hex() if isinstance(raw, (bytes, bytearray)) else str(raw)

    # -- the pump (in the process that writes the log) --------------------------------------------
    @property
    def log(self) -> Any:
        """The ``RegistrationLog`` this process serves (writer or reader), once attached."""
        return self._log

    def attach(self, reglog: Any, *, interval_s: float = 0.05) -> None:
        """Start appending recorded rows to ``reglog`` (a ``RegistrationLog``) when this process
        is its writer; first repair what a crash left between publishing and recording."""
        self._log = reglog
        if not reglog.store.writer:
            return
        self.catch_up()
        self._stop.clear()
        self._pump = threading.Thread(target=self._run, args=(interval_s,), name="nftreg-log-pump", daemon=True)
        self._pump.start()

    def catch_up(self) -> int:
        """Entries the log published past the highest recorded index: find their rows by bytes
        and record the index (a crash came between the two). Returns how many."""
        store = self._log.store
        with self.db.read() as s:
            top = s.scalar(select(func.max(LogRecord.log_index)))
        start = 0 if top is None else int(top) + 1
        size = store.size
        if start >= size:
            return 0
        found = 0
        for lo in range(start, size, 4096):
            entries = store.entries(lo, min(size, lo + 4096))
            with self.db.write() as s:
                pending = {bytes(r.entry): r.id for r in s.scalars(
                    select(LogRecord).where(LogRecord.log_index.is_(None)).order_by(LogRecord.id))}
                for k, e in enumerate(entries):
                    rid = pending.pop(bytes(e), None)
                    if rid is not None:
                        s.execute(update(LogRecord).where(LogRecord.id == rid).values(log_index=lo + k))
                        found += 1
        if found:
            log.info("recorded the log indexes of %d entries published before a crash", found)
        self.recovered += found
        return found

    def pump_once(self, limit: int = 65536) -> int:
        """Append the recorded rows that have no index yet; wait until a published checkpoint
        covers them and record their indexes. Returns how many."""
        with self.db.read() as s:
            rows = list(s.execute(select(LogRecord.id, LogRecord.entry).where(LogRecord.log_index.is_(None))
                                  .order_by(LogRecord.id).limit(limit)))
        if not rows:
            return 0
        fut = self._log.sequencer.submit_batch([bytes(r.entry) for r in rows])
        # integrate now (group commit: rows recorded meanwhile go into the next one) rather
        # than waiting for the sequencer's timer, so a receipt follows the API's answer closely
        self._log.sequencer.integrate_now()
        first = fut.result(timeout=120)
        self.integrations += 1
        self._failpoint("log:after_integrate")
        t: Table = LogRecord.__table__  # type: ignore[assignment]
        with self.db.write() as s:
            s.connection().execute(update(t).where(t.c.id == bindparam("rid")).values(log_index=bindparam("idx")),
                                   [{"rid": r.id, "idx": first + k} for k, r in enumerate(rows)])
        self.appended += len(rows)
        return len(rows)

    def _run(self, interval_s: float) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                n = self.pump_once()
            except Exception:
                log.exception("log pump step failed")
                n = 0
            if n == 0:
                self._wake.wait(interval_s)
                self._wake.clear()
            else:  # at most ~10 integrations a second: under load each takes in more rows
                self._stop.wait(max(0.0, MIN_INTEGRATION_GAP_S - (time.monotonic() - t0)))

    def close(self) -> None:
        """Stop the pump after appending what is recorded (call before the log closes)."""
        self._stop.set()
        self._wake.set()
        if self._pump is not None:
            self._pump.join(timeout=30)
            self._pump = None
        if self._log is not None and self._log.store.writer:
            try:
                self.pump_once()
            except Exception:
                log.exception("log pump: final step failed")
        self._log = None

    # -- reads ------------------------------------------------------------------------------------
    def registration_index(self, content_hash: str) -> int | None:
        """Log index of the registration of ``content_hash`` (off-chain first, else on-chain)."""
        with self.db.read() as s:
            rows: dict[str, Any] = dict(s.execute(select(LogRecord.key, LogRecord.log_index).where(
                LogRecord.key.in_([f"private:{content_hash}", f"reg:{content_hash}"]))).all())
        v = rows.get(f"private:{content_hash}", rows.get(f"reg:{content_hash}"))
        return None if v is None else int(v)

    def anchored_size(self) -> int:
        """The largest log tree size whose root this registry anchored on-chain (in a block)."""
        import json

        with self.db.read() as s:
            intents = list(s.scalars(select(OutboxTx.intent).where(
                OutboxTx.kind == "log_anchor", OutboxTx.status.in_(("confirmed", "final")))
                .order_by(OutboxTx.nonce.desc()).limit(8)))
        return max((int(json.loads(i)["tree_size"]) for i in intents), default=0)

    def index_of(self, key: str) -> tuple[bool, int | None]:
        """(recorded, log index) of event ``key``."""
        with self.db.read() as s:
            r = s.execute(select(LogRecord.id, LogRecord.log_index).where(LogRecord.key == key)).first()
        return (False, None) if r is None else (True, r.log_index)
