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

Every tile read for serving is compared with the tree in memory (rebuilt from the tiles and
checked against the signed root at start): a corrupted hash tile is detected, rewritten from
memory and never served; a corrupted entry bundle (its entries' leaf hashes disagree) is
refused with ``LogCorruptedError``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nftreg._core import tlog
from nftreg.errors import ConfigError, InvalidInputError, InvariantError

__all__ = ["DEFAULT_ORIGIN", "TILE_WIDTH", "Checkpoint", "FileLog", "LogCorruptedError", "LogKey"]

log = logging.getLogger("nftreg.log")

DEFAULT_ORIGIN = "nftreg.localhost/log"
TILE_WIDTH = 256
EMPTY_ROOT = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


class LogCorruptedError(InvariantError):
    """Log data on disk does not hash to what the signed checkpoint commits to."""


class LogKey:
    """The log's Ed25519 signing key; the seed never appears in repr, str or logs."""

    __slots__ = ("_seed", "name", "public_key")

    def __init__(self, name: str, seed: bytes):
        self.name = name
        self._seed = seed
        self.public_key: bytes = tlog.note_public_key(seed)

    @classmethod
    def from_signer_key(cls, skey: str) -> LogKey:
        try:
            name, seed = tlog.note_parse_signer_key(skey.strip())
        except ValueError as e:
            raise ConfigError(f"log signer key: {e}") from None
        return cls(name, seed)

    @property
    def verifier_key(self) -> str:
        """``<name>+<hash>+<keydata>``: what Go's ``note.NewVerifier`` and ``nftreg log`` take."""
        return tlog.note_verifier_key(self.name, self.public_key)

    @property
    def key_id(self) -> int:
        return tlog.note_key_id(self.name, self.public_key)

    def sign(self, text: str) -> str:
        return tlog.note_sign(text, self.name, self._seed)

    def signer_key(self) -> str:
        return tlog.note_signer_key(self.name, self._seed)

    def __repr__(self) -> str:
        return f"LogKey({self.verifier_key}, seed=<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("LogKey cannot be pickled")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    note: str  # the whole signed note, as served

    @classmethod
    def open(cls, note: str, key_name: str, public_key: bytes) -> Checkpoint:
        """Verify the signature by (key_name, public_key) and parse the checkpoint."""
        text = tlog.note_open(note, key_name, public_key)
        origin, size, root, _ext = tlog.parse_checkpoint(text)
        return cls(origin, size, root, note)


_FAULT_SEEN: dict[str, int] = {}


def _fault(step: str) -> None:
    """Fault injection for the crash tests: ``NFTREG_LOG_FAULT=<step>`` kills this process
    with SIGKILL (kill -9: no cleanup, no flush) when integration reaches that step, after
    letting ``NFTREG_LOG_FAULT_SKIP`` (default 0) earlier passes through it."""
    if os.environ.get("NFTREG_LOG_FAULT") == step:
        seen = _FAULT_SEEN.get(step, 0)
        _FAULT_SEEN[step] = seen + 1
        if seen >= int(os.environ.get("NFTREG_LOG_FAULT_SKIP", "0")):
            os.kill(os.getpid(), signal.SIGKILL)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_POOL: ThreadPoolExecutor | None = None


def _fsync_pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(16, thread_name_prefix="nftreg-log-fsync")
    return _POOL


def _tile_end(level: int | None, index: int, width: int) -> int:
    """Entries a tile covers up to (exclusive): it exists only in trees at least this big."""
    return (index * TILE_WIDTH + width) << (8 * (level or 0))


class FileLog:
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
                _fsync_dir(self.dir)
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

    def _load_tree(self, tree: Any, size: int) -> None:
        """Extend ``tree`` to ``size`` entries by hashing the entry bundles (the entries are what
        a checkpoint commits to; the hash tiles are checked against them afterwards)."""
        while tree.size < size:
            idx = tree.size // TILE_WIDTH
            if tree.size % TILE_WIDTH:
                raise InvariantError("tree loading must start at a tile boundary")
            width = min(TILE_WIDTH, size - idx * TILE_WIDTH)
            bundle = self._read_file(tlog.tile_path(None, idx, width))
            if bundle is None:
                raise LogCorruptedError(f"entry bundle {tlog.tile_path(None, idx, width)} is missing")
            try:
                entries = tlog.decode_bundle(bundle)
            except ValueError as e:
                raise LogCorruptedError(f"{tlog.tile_path(None, idx, width)}: {e}") from None
            if len(entries) != width:
                raise LogCorruptedError(f"{tlog.tile_path(None, idx, width)}: {len(entries)} entries, expected {width}")
            tree.append_leaf_hashes(tlog.leaf_hashes(entries))
            self._tail = entries if width < TILE_WIDTH else []

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
                _fsync_dir(self.dir)
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

    def _remove_unpublished(self, size: int) -> None:
        """Delete tiles and bundles no published checkpoint covers (left by a crash)."""
        base = self.dir / "tile"
        if not base.exists():
            return
        removed = 0
        for dirpath, _dirs, files in os.walk(base):
            for f in files:
                rel = os.path.relpath(os.path.join(dirpath, f), self.dir)
                try:
                    level, index, width = tlog.parse_tile_path(rel)
                except ValueError:
                    continue
                if _tile_end(level, index, width) > size:
                    os.unlink(os.path.join(dirpath, f))
                    removed += 1
        if removed:
            log.info("removed %d tile files past the published size %d", removed, size)

    def _repair_tiles(self, size: int) -> None:
        """Every hash tile of the published tree equals the tree in memory; rewrite the ones that
        do not (missing or damaged)."""
        bad = []
        for level, index, width in tlog.new_tiles(0, size):
            rel = tlog.tile_path(level, index, width)
            want = self.tree.tile(level, index, width)
            if self._read_file(rel) != want:
                bad.append((rel, want))
        if bad:
            log.warning("rewriting %d damaged or missing tiles (first: %s)", len(bad), bad[0][0])
            self._write_files(bad)
            self.repaired_tiles += len(bad)

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

    # ---- files -------------------------------------------------------------------------

    def _read_file(self, rel: str) -> bytes | None:
        try:
            return (self.dir / rel).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _write_files(self, files: list[tuple[str, bytes]]) -> None:
        """Write every file, fsync them all (in parallel: the filesystem groups concurrent
        fsyncs into few journal commits), then fsync every directory that gained an entry."""
        dirs: set[Path] = set()
        for k in range(0, len(files), 256):
            fds: list[int] = []
            try:
                for rel, data in files[k:k + 256]:
                    p = self.dir / rel
                    if not p.parent.is_dir():
                        p.parent.mkdir(parents=True, exist_ok=True)
                        q = p.parent
                        while q != self.dir:
                            dirs.add(q.parent)
                            q = q.parent
                    dirs.add(p.parent)
                    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                    fds.append(fd)
                    view = memoryview(data)
                    while view:
                        n = os.write(fd, view)
                        view = view[n:]
                if len(fds) > 2:
                    list(_fsync_pool().map(os.fsync, fds))
                else:
                    for fd in fds:
                        os.fsync(fd)
            finally:
                for fd in fds:
                    os.close(fd)
        if len(dirs) > 2:
            list(_fsync_pool().map(_fsync_dir, dirs))
        else:
            for d in dirs:
                _fsync_dir(d)

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
        _fsync_dir(self.dir)
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

    # ---- reading -----------------------------------------------------------------------

    @property
    def checkpoint(self) -> Checkpoint:
        return self._checkpoint

    @property
    def size(self) -> int:
        return self._checkpoint.size

    def leaf_hash(self, index: int) -> bytes:
        return self.tree.leaf_hash(index)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        cp = self._checkpoint
        size = cp.size if size is None else size
        if not 0 <= index < size or size > cp.size:
            raise InvalidInputError(f"index {index} is not in the published log of size {cp.size}")
        return self.tree.inclusion_proof(index, size)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        cp = self._checkpoint
        new = cp.size if new is None else new
        if not 0 <= old <= new <= cp.size:
            raise InvalidInputError(f"sizes {old} -> {new} are not within the published log of size {cp.size}")
        return self.tree.consistency_proof(old, new)

    def read_tile(self, path: str) -> bytes:
        """The bytes of a hash tile or entry bundle of the published tree, verified against the
        tree in memory. ``path`` is below the log prefix, e.g. ``tile/0/x001/234.p/7``.
        Raises ``InvalidInputError`` for a malformed path, ``FileNotFoundError`` for a tile the
        published tree does not have, ``LogCorruptedError`` for damaged entries."""
        level, index, width = tlog.parse_tile_path(path)
        cp = self._checkpoint
        if _tile_end(level, index, width) > cp.size:
            raise FileNotFoundError(path)
        data = self._read_file(path)
        if level is not None:
            want = self.tree.tile(level, index, width)
            if data != want:
                if data is None:
                    raise FileNotFoundError(path)
                self.corrupt_reads += 1
                log.error("tile %s on disk does not match the log's hashes; rewriting it from the tree", path)
                if self.writer:
                    with self._write_lock:
                        self._write_files([(path, want)])
                    self.repaired_tiles += 1
            return want
        if data is None:
            raise FileNotFoundError(path)
        try:
            entries = tlog.decode_bundle(data)
        except ValueError as e:
            self.corrupt_reads += 1
            raise LogCorruptedError(f"entry bundle {path}: {e}") from None
        if len(entries) != width or tlog.leaf_hashes(entries) != self.tree.tile(0, index, width):
            self.corrupt_reads += 1
            log.error("entry bundle %s on disk does not hash to the log's leaves; refusing to serve it", path)
            raise LogCorruptedError(f"entry bundle {path} does not hash to the log's leaves")
        return data

    def entry(self, index: int) -> bytes:
        """Entry ``index`` of the published log, read from its bundle and verified."""
        cp = self._checkpoint
        if not 0 <= index < cp.size:
            raise InvalidInputError(f"index {index} is not in the published log of size {cp.size}")
        n = index // TILE_WIDTH
        width = min(TILE_WIDTH, cp.size - n * TILE_WIDTH)
        # the newest bundle of a tile is the full one or the partial of the current size
        data = self.read_tile(tlog.tile_path(None, n, width))
        return tlog.decode_bundle(data)[index % TILE_WIDTH]

    def entries(self, start: int, stop: int) -> list[bytes]:
        """Entries [start, stop) of the published log, verified bundle by bundle."""
        cp = self._checkpoint
        if not 0 <= start <= stop <= cp.size:
            raise InvalidInputError(f"range [{start}, {stop}) is not within the published log of size {cp.size}")
        out: list[bytes] = []
        n = start // TILE_WIDTH
        while n * TILE_WIDTH < stop:
            width = min(TILE_WIDTH, cp.size - n * TILE_WIDTH)
            es = tlog.decode_bundle(self.read_tile(tlog.tile_path(None, n, width)))
            lo = max(start - n * TILE_WIDTH, 0)
            hi = min(stop - n * TILE_WIDTH, width)
            out.extend(es[lo:hi])
            n += 1
        return out

    def receipt(self, index: int) -> dict[str, Any]:
        """What a registrant keeps: the entry's index, leaf hash, inclusion proof and the signed
        checkpoint the proof is against."""
        cp = self._checkpoint
        proof = self.inclusion_proof(index, cp.size)
        return {
            "index": index,
            "leaf_hash": self.tree.leaf_hash(index),
            "tree_size": cp.size,
            "root": cp.root,
            "proof": proof,
            "checkpoint": cp.note,
        }
