"""Anchoring the registration log on-chain: every ``interval_s`` (when the log grew), the
published checkpoint's (tree size, root) is written to the registry contract
(``anchorLog``) through the outbox, like every other chain write (kind ``log_anchor``: signed and
recorded before it is sent, rebroadcast after a crash, fee-bumped when stuck). One anchor is in
flight at a time; the chain's timeline then bounds the time of every entry it covers, and an
off-chain registration becomes mintable with its log proof.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nftreg.chain import Registry
from nftreg.db import OutboxTx
from nftreg.errors import ChainError, ContractRevert
from nftreg.services.outbox import UNSETTLED, Outbox

__all__ = ["LogAnchoring"]

log = logging.getLogger("nftreg.anchoring")


class LogAnchoring:
    def __init__(self, outbox: Outbox, registry: Registry, *, interval_s: float):
        self.outbox, self.registry, self.interval_s = outbox, registry, interval_s
        self._log: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.sent = 0
        self._supported: bool | None = None

    @property
    def supported(self) -> bool:
        """Whether the deployed registry has ``anchorLog`` (one deployed by an older nftreg does
        not): the wrapper knows it and its selector is in the runtime code."""
        if self._supported is None:
            enc = getattr(self.registry, "_flat", {}).get("anchorLog")
            try:
                with self.outbox.chain.serialized():
                    code = self.registry.chain.rpc.code(self.registry.address)
            except ChainError:
                return False
            self._supported = bool(hasattr(self.registry, "build_anchor_log") and enc is not None and enc[0] in code)
        return self._supported

    def in_flight(self) -> bool:
        with self.outbox.db.read() as s:
            return s.scalar(select(OutboxTx.id).where(OutboxTx.kind == "log_anchor",
                                                      OutboxTx.status.in_(UNSETTLED[:2])).limit(1)) is not None

    def last_sent_size(self) -> int:
        """The largest tree size an anchor was signed for and has not failed."""
        with self.outbox.db.read() as s:
            intents = list(s.scalars(select(OutboxTx.intent).where(
                OutboxTx.kind == "log_anchor", OutboxTx.status != "failed").order_by(OutboxTx.nonce.desc()).limit(8)))
        return max((int(json.loads(i)["tree_size"]) for i in intents), default=0)

    def anchor_now(self, *, wait: bool = True) -> dict[str, Any] | None:
        """Anchor the log's current checkpoint if it grew since the last anchor and none is in
        flight. Returns the intent sent, or None."""
        if self._log is None or not self.supported:
            return None
        cp = self._log.checkpoint
        if cp.size == 0 or cp.size <= self.last_sent_size() or self.in_flight():
            return None
        intent = {"tree_size": cp.size, "root": "0x" + cp.root.hex()}

        def link(_s: Session, _entry: OutboxTx) -> None:
            return None

        tx = getattr(self.registry, "build_anchor_log")(cp.size, cp.root)  # noqa: B009 (the wrapper is new)
        with self.outbox.send_lock:
            entry = self.outbox.send("log_anchor", intent, tx, link)
        self.sent += 1
        if wait:
            self.outbox.wait(entry)
        return intent

    def attach(self, reglog: Any) -> None:
        """Start the schedule in the process that writes ``reglog`` (interval 0: off)."""
        self._log = reglog
        if self.interval_s <= 0 or not reglog.store.writer or self._thread is not None:
            return
        if not self.supported:
            log.warning("the registry contract has no anchorLog: the log is not anchored on-chain")
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="nftreg-log-anchor", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.anchor_now()
            except (ChainError, ContractRevert) as e:
                log.warning("log anchor not sent this round: %s", e)
            except Exception:
                log.exception("log anchor step failed")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self._log = None
