"""The file-backed registration log: C2SP tlog-tiles on disk, one writer, crash-safe.

Layout under the log directory (served as-is below ``/log/``)::

    checkpoint            the published checkpoint (a signed note)
    checkpoint.staged     a signed checkpoint not yet published (rolled forward at start)
    tile/<L>/<N>[.p/<W>]  hash tiles          tile/entries/<N>[.p/<W>]  entry bundles
    log.key               the Ed25519 signer key, mode 0600, unless one is configured
    lock                  held (flock) by the one process that writes

Integration order, so that no checkpoint is ever signed over data that is not on disk and a
crash anywhere restarts to a state consistent with every checkpoint ever published: (1) entry
bundles written and fsynced, (2) tiles written and fsynced, (3) the checkpoint signed, written
to ``checkpoint.staged`` and fsynced, (4) renamed over ``checkpoint`` and the directory fsynced
(= published). At start a staged checkpoint whose data verifies is published (it was signed
over that data, so the log signs nothing new); otherwise it is dropped with the entries past
the published size, which nobody was ever given a receipt for. Files past the published size
are removed, so a tile is never served with content from an integration that did not publish.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
from pathlib import Path

from nftreg._core import tlog
from nftreg.errors import ConfigError, InvalidInputError, InvariantError
from nftreg.log.note import DEFAULT_ORIGIN, Checkpoint, LogKey
from nftreg.log.tiles import TILE_WIDTH, LogCorruptedError, TileFiles, fsync_dir

__all__ = ["DEFAULT_ORIGIN", "TILE_WIDTH", "Checkpoint", "FileLog", "LogCorruptedError", "LogKey"]

log = logging.getLogger("nftreg.log")

EMPTY_ROOT = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


_FAULT_SEEN: dict[str, int] = {}


def fault_armed() -> bool:
    """Whether the crash tests' fault points are live: always, unless ``NFTREG_FAULT_ARM_FILE``
    names a file, then only while that file exists (a test arms the fault in a running process
    after checking it, so one process serves a check and then the next crash)."""
    path = os.environ.get("NFTREG_FAULT_ARM_FILE")
    return path is None or os.path.exists(path)


def _fault(step: str) -> None:
    """Fault injection for the crash tests: ``NFTREG_LOG_FAULT=<step>`` kills this process
    with SIGKILL (kill -9: no cleanup, no flush) when integration reaches that step, after
    letting ``NFTREG_LOG_FAULT_SKIP`` (default 0) earlier armed passes through it."""
    if os.environ.get("NFTREG_LOG_FAULT") == step and fault_armed():
        seen = _FAULT_SEEN.get(step, 0)
        _FAULT_SEEN[step] = seen + 1
        if seen >= int(os.environ.get("NFTREG_LOG_FAULT_SKIP", "0")):
            os.kill(os.getpid(), signal.SIGKILL)


class FileLog(TileFiles):
    """The log on disk plus its tree in memory. ``writer=True`` takes the directory's lock
    (one writer at a time); a reader follows the published checkpoint (``refresh``)."""

    def __init__(self, directory: str | os.PathLike[str], *, origin: str | None = None,
                 signer_key: str | None = None, key_file: str | os.PathLike[str] | None = None,
                 writer: bool = True):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.writer = writer
        self._lock_fd: int | None = None
        if writer:
            self._lock_fd = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(self._lock_fd)
                self._lock_fd = None
                raise ConfigError(f"{self.dir}: another process is writing this log") from None
        self.tree = tlog.LogTree()
        self._tail: list[bytes] = []  # entries of the last, partial bundle of the published tree
        self._write_lock = threading.Lock()
        self.repaired_tiles = 0
        self.corrupt_reads = 0
        try:
            self.key = self._load_key(origin, signer_key, key_file)
            self.origin = self.key.name
            self._checkpoint = self._recover() if writer else self._follow_start()
        except BaseException:
            self.close()
            raise

    # ---- keys and start-up -------------------------------------------------------------

    def _load_key(self, origin: str | None, signer_key: str | None, key_file: str | os.PathLike[str] | None) -> LogKey:
        if signer_key:
            key = LogKey.from_signer_key(signer_key)
        else:
            path = Path(key_file) if key_file else self.dir / "log.key"
            if path.exists():
                key = LogKey.from_signer_key(path.read_text())
            elif key_file or not self.writer:
                raise ConfigError(f"log key file {path} does not exist")
            else:
                name = origin or DEFAULT_ORIGIN
                try:
                    skey = tlog.note_signer_key(name, os.urandom(32))
                except ValueError as e:
                    raise ConfigError(f"log origin {name!r}: {e}") from None
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(skey + "\n")
                    f.flush()
                    os.fsync(f.fileno())
                fsync_dir(self.dir)
                key = LogKey.from_signer_key(skey)
                log.info("created log key %s", key.verifier_key)
        if origin and origin != key.name:
            raise ConfigError(f"log origin {origin!r} does not match the log key's name {key.name!r}")
        return key

    def _read_checkpoint(self, name: str) -> Checkpoint | None:
        p = self.dir / name
        try:
            note = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            cp = Checkpoint.open(note, self.key.name, self.key.public_key)
        except ValueError as e:
            raise LogCorruptedError(f"{p}: {e}") from None
        if cp.origin != self.origin:
            raise LogCorruptedError(f"{p}: origin {cp.origin!r} is not this log's {self.origin!r}")
        return cp
    def _recover(self) -> Checkpoint:
        published = self._read_checkpoint("checkpoint")
        if published is None:
            if any((self.dir / "tile").glob("*")):
                raise LogCorruptedError(f"{self.dir}: tiles exist but there is no checkpoint")
            published = self._publish(0, EMPTY_ROOT)
        self._load_tree(self.tree, published.size)
        if self.tree.root(published.size) != published.root:
            raise LogCorruptedError(f"{self.dir}: the entries on disk do not hash to the published root at size {published.size}")
        staged = None
        try:
            staged = self._read_checkpoint("checkpoint.staged")
        except LogCorruptedError as e:
            log.warning("dropping staged checkpoint: %s", e)
        if staged is not None and staged.size > published.size:
            tail = list(self._tail)
            try:
                start = published.size - published.size % TILE_WIDTH
                self.tree.truncate(start)
                self._load_tree(self.tree, staged.size)
                if self.tree.root(staged.size) != staged.root or self.tree.root(published.size) != published.root:
                    raise LogCorruptedError("staged data does not hash to the staged root")
                os.replace(self.dir / "checkpoint.staged", self.dir / "checkpoint")
                fsync_dir(self.dir)
                log.info("published the staged checkpoint of size %d left by a crash", staged.size)
                published = staged
            except (LogCorruptedError, ValueError) as e:
                log.warning("dropping staged checkpoint of size %d: %s", staged.size, e)
                self.tree.truncate(published.size - published.size % TILE_WIDTH)
                self._load_tree(self.tree, published.size)
                self._tail = tail if published.size % TILE_WIDTH else []
        (self.dir / "checkpoint.staged").unlink(missing_ok=True)
        self._remove_unpublished(published.size)
        self._repair_tiles(published.size)
        return published
    def _follow_start(self) -> Checkpoint:
        cp = self._read_checkpoint("checkpoint")
        if cp is None:
            raise ConfigError(f"{self.dir}: no checkpoint yet (the writer has not started)")
        self._load_tree(self.tree, cp.size)
        if self.tree.root(cp.size) != cp.root:
            raise LogCorruptedError(f"{self.dir}: the entries on disk do not hash to the published root")
        return cp

    def refresh(self) -> Checkpoint:
        """Reader: follow the published checkpoint forward (verifying the new data)."""
        if self.writer:
            return self._checkpoint
        cp = self._read_checkpoint("checkpoint")
        if cp is None or cp.size <= self._checkpoint.size:
            return self._checkpoint
        with self._write_lock:
            old = self._checkpoint.size
            self.tree.truncate(old - old % TILE_WIDTH)
            self._load_tree(self.tree, cp.size)
            if self.tree.root(cp.size) != cp.root or self.tree.root(old) != self._checkpoint.root:
                self.tree.truncate(old - old % TILE_WIDTH)
                self._load_tree(self.tree, old)
                raise LogCorruptedError(f"checkpoint of size {cp.size} is not consistent with the one of size {old}")
            self._checkpoint = cp
        return cp
    def _publish(self, size: int, root: bytes) -> Checkpoint:
        note = self.key.sign(tlog.checkpoint_text(self.origin, size, root))
        staged = self.dir / "checkpoint.staged"
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, note.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        _fault("signed")
        os.replace(staged, self.dir / "checkpoint")
        fsync_dir(self.dir)
        _fault("published")
        return Checkpoint(self.origin, size, root, note)

    # ---- writing -----------------------------------------------------------------------

    def integrate(self, entries: list[bytes]) -> tuple[int, Checkpoint]:
        """Append ``entries`` and publish a checkpoint covering them; returns the first index
        and the checkpoint. Nothing is published when writing fails (the tree is rolled back)."""
        if not self.writer:
            raise InvariantError("this log was opened read-only")
        for i, e in enumerate(entries):
            if len(e) > 0xFFFF:
                raise InvalidInputError(f"entries[{i}]: {len(e)} bytes is over the 65535-byte entry limit")
        with self._write_lock:
            cp = self._checkpoint
            old = cp.size
            if not entries:
                return old, cp
            first = self.tree.append(entries)
            if first != old:
                self.tree.truncate(old)
                raise InvariantError(f"log tree holds {first} entries but the checkpoint {old}")
            new = self.tree.size
            start = old - old % TILE_WIDTH
            pending = self._tail + list(entries)  # pending[k] is entry start + k
            try:
                bundles: list[tuple[str, bytes]] = []
                tiles: list[tuple[str, bytes]] = []
                for level, index, width in tlog.new_tiles(old, new):
                    tiles.append((tlog.tile_path(level, index, width), self.tree.tile(level, index, width)))
                    if level == 0:
                        k = index * TILE_WIDTH - start
                        bundles.append((tlog.tile_path(None, index, width),
                                        tlog.encode_bundle(pending[k:k + width])))
                self._write_files(bundles)
                _fault("entries")
                self._write_files(tiles)
                _fault("tiles")
                new_cp = self._publish(new, self.tree.root(new))
            except BaseException:
                self.tree.truncate(old)
                raise
            cut = new - new % TILE_WIDTH - start
            self._tail = pending[cut:]
            self._checkpoint = new_cp
            return first, new_cp

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
