"""The registration log: every registration in a public, append-only C2SP tlog-tiles log
(RFC 6962 SHA-256 tree, Ed25519 signed-note checkpoints), verifiable by tools we did not write
(Go's ``golang.org/x/mod/sumdb/tlog`` and ``sumdb/note``).

- ``LogEntry`` / ``EntryKind``: the canonical, versioned entry encoding (``nftreg.log.entry``).
- ``FileLog``: the log on disk with its tree in memory; crash-safe integration.
- ``Sequencer``: pools entries and integrates them at least every ``interval_s``.
- ``RegistrationLog``: the two together, as the service and the library use them.
- ``verify_receipt``, ``open_checkpoint``, ``verify_inclusion``, ``verify_consistency``.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future
from typing import Any

from nftreg.errors import ConfigError, InvalidInputError
from nftreg.log.entry import ENTRY_VERSION, EntryKind, LogEntry
from nftreg.log.note import DEFAULT_ORIGIN, Checkpoint, LogKey
from nftreg.log.sequencer import Sequencer
from nftreg.log.store import FileLog
from nftreg.log.tiles import LogCorruptedError
from nftreg.log.verify import (
    leaf_hash,
    open_checkpoint,
    receipt_to_json,
    verify_consistency,
    verify_inclusion,
    verify_receipt,
)

__all__ = [
    "DEFAULT_ORIGIN", "ENTRY_VERSION", "Checkpoint", "EntryKind", "FileLog", "LogCorruptedError", "LogEntry",
    "LogKey", "RegistrationLog", "Sequencer", "leaf_hash", "open_checkpoint", "receipt_to_json",
    "verify_consistency", "verify_inclusion", "verify_receipt",
]

_REGISTRATION_KINDS = {EntryKind.MINT, EntryKind.PRIVATE, EntryKind.CLAIM, EntryKind.VOUCHER_REDEMPTION}


class RegistrationLog:
    """The log under ``directory`` as the service uses it: the writer (sequencer running) when
    this process gets the directory's lock, else a reader following the writer's checkpoints.
    Keeps a content hash -> entry indexes map for receipts."""

    def __init__(self, directory: str | os.PathLike[str], *, origin: str | None = None,
                 signer_key: str | None = None, key_file: str | os.PathLike[str] | None = None,
                 interval_s: float = 1.0, start: bool = True, allow_reader: bool = False):
        self._by_hash: dict[bytes, list[int]] = {}
        self._indexed = 0
        self._index_lock = threading.Lock()
        self._last_refresh = 0.0
        try:
            self.store = FileLog(directory, origin=origin, signer_key=signer_key, key_file=key_file)
        except ConfigError as e:
            if not allow_reader or "another process is writing" not in str(e):
                raise
            self.store = self._open_reader(directory, origin, signer_key, key_file)
        self.sequencer = Sequencer(self.store, interval_s=interval_s, on_integrated=self._index)
        self._catch_up()
        if start and self.store.writer:
            self.sequencer.start()

    @staticmethod
    def _open_reader(directory: str | os.PathLike[str], origin: str | None, signer_key: str | None,
                     key_file: str | os.PathLike[str] | None) -> FileLog:
        deadline = time.monotonic() + 30
        while True:  # the writer may still be creating the key and the first checkpoint
            try:
                return FileLog(directory, origin=origin, signer_key=signer_key, key_file=key_file, writer=False)
            except ConfigError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _index(self, first: int, entries: list[bytes]) -> None:
        with self._index_lock:
            if first != self._indexed:
                return  # _catch_up reads what is missing from disk
            for k, e in enumerate(entries):
                if len(e) >= 115 and e[0] == ENTRY_VERSION:
                    self._by_hash.setdefault(bytes(e[83:115]), []).append(first + k)
            self._indexed = first + len(entries)

    def _catch_up(self) -> None:
        size = self.store.size
        while self._indexed < size:
            stop = min(size, self._indexed + 65536)
            self._index(self._indexed, self.store.entries(self._indexed, stop))

    def refresh(self) -> Checkpoint:
        """A reader picks up the writer's newest checkpoint (at most every 0.2 s)."""
        if not self.store.writer and time.monotonic() - self._last_refresh > 0.2:
            self._last_refresh = time.monotonic()
            self.store.refresh()
            self._catch_up()
        return self.store.checkpoint

    def append(self, entry: LogEntry) -> Future[int]:
        """Stamp the log time on ``entry`` and pool it; the future gives its index once a
        published checkpoint covers it."""
        return self.append_bytes(entry.with_time(int(time.time() * 1000)).encode())

    def append_bytes(self, entry: bytes) -> Future[int]:
        if not self.store.writer:
            raise InvalidInputError("this process only reads the log (another process is its writer)")
        return self.sequencer.submit(entry)

    def indexes_for(self, content_hash: bytes) -> list[int]:
        self.refresh()
        return list(self._by_hash.get(content_hash, ()))

    def receipt(self, index: int) -> dict[str, Any]:
        """Index, leaf hash, inclusion proof and signed checkpoint of entry ``index``, with the
        entry itself (hex and decoded)."""
        self.refresh()
        entry = self.store.entry(index)
        out = receipt_to_json(self.store.receipt(index), entry)
        try:
            out["entry_fields"] = LogEntry.decode(entry).to_json()
        except InvalidInputError:
            out["entry_fields"] = None
        return out

    def receipt_for(self, content_hash: bytes) -> dict[str, Any] | None:
        """The receipt of the registration of ``content_hash`` (its first mint, private
        registration, claim or voucher redemption; else its first entry), with every index of
        entries about it."""
        idxs = self.indexes_for(content_hash)
        if not idxs:
            return None
        chosen = idxs[0]
        for i in idxs:
            if self.store.entry(i)[1] in _REGISTRATION_KINDS:
                chosen = i
                break
        out = self.receipt(chosen)
        out["entries"] = idxs
        return out

    @property
    def checkpoint(self) -> Checkpoint:
        return self.refresh()

    def info(self) -> dict[str, Any]:
        cp = self.refresh()
        key = self.store.key
        return {"origin": self.store.origin, "verifier_key": key.verifier_key,
                "public_key": "0x" + key.public_key.hex(), "key_id": f"{key.key_id:08x}",
                "tree_size": cp.size, "root": "0x" + cp.root.hex(), "checkpoint": cp.note,
                "integration_interval_s": self.sequencer.interval_s, "entry_format_version": ENTRY_VERSION,
                "tiles": "/log/", "writer": self.store.writer}

    def close(self) -> None:
        if self.store.writer:
            self.sequencer.close()
        self.store.close()
