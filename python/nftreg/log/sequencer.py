"""Sequencing: entries are pooled and integrated in one step at least every ``interval_s``.

``submit`` returns a future that resolves to the entry's index once a published checkpoint
covers it (so a receipt is available the moment the future is done) and fails if the
integration failed (nothing of that batch was published; the caller may submit again).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from nftreg.log.store import Checkpoint, FileLog

__all__ = ["Sequencer"]

log = logging.getLogger("nftreg.log")


class Sequencer:
    def __init__(self, store: FileLog, *, interval_s: float = 1.0, max_batch: int = 65536,
                 on_integrated: Callable[[int, list[bytes]], None] | None = None):
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.store = store
        self.interval_s = interval_s
        self.max_batch = max_batch
        self.on_integrated = on_integrated
        # (entry, future of its index) or (list of entries, future of the first index)
        self._pool: list[tuple[bytes | list[bytes], Future[int]]] = []
        self._pooled = 0
        self._pool_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.integrations = 0
        self.last_integration_s = 0.0  # wall time the last integration took

    def submit(self, entry: bytes) -> Future[int]:
        fut: Future[int] = Future()
        with self._pool_lock:
            self._pool.append((entry, fut))
            self._pooled += 1
        return fut

    def submit_batch(self, entries: list[bytes]) -> Future[int]:
        """Pool entries that are integrated together, in order; the future gives the first
        one's index (the library's bulk path: one future, not one per entry)."""
        fut: Future[int] = Future()
        with self._pool_lock:
            self._pool.append((list(entries), fut))
            self._pooled += len(entries)
        return fut

    @property
    def pending(self) -> int:
        return self._pooled

    def integrate_now(self) -> Checkpoint:
        """Integrate everything pooled so far, in this thread."""
        while True:
            with self._pool_lock:
                k = n = 0
                while k < len(self._pool) and (n < self.max_batch or k == 0):
                    e = self._pool[k][0]
                    n += len(e) if isinstance(e, list) else 1
                    k += 1
                batch = self._pool[:k]
                del self._pool[:k]
                self._pooled -= n
            if not batch:
                return self.store.checkpoint
            self._integrate(batch)

    def _integrate(self, batch: list[tuple[bytes | list[bytes], Future[int]]]) -> None:
        t0 = time.perf_counter()
        entries: list[bytes] = []
        offsets: list[int] = []
        for e, _ in batch:
            offsets.append(len(entries))
            if isinstance(e, list):
                entries.extend(e)
            else:
                entries.append(e)
        try:
            first, _cp = self.store.integrate(entries)
        except BaseException as exc:
            log.error("log integration of %d entries failed: %s", len(batch), exc)
            for _, f in batch:
                f.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        self.last_integration_s = time.perf_counter() - t0
        self.integrations += 1
        if self.on_integrated is not None:
            self.on_integrated(first, entries)
        for off, (_, f) in zip(offsets, batch):
            f.set_result(first + off)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(self.interval_s)
            try:
                self.integrate_now()
            except Exception:  # already reported to the callers; keep sequencing
                log.exception("log sequencer step failed")

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="nftreg-log-sequencer", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the thread after integrating what is pooled."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.integrate_now()
