"""The log's tiles on disk (C2SP tlog-tiles: hash tiles and entry bundles below ``tile/``) and
their integrity checks against the tree in memory.

Every tile read for serving is compared with the tree in memory (rebuilt from the tiles and
checked against the signed root at start): a corrupted hash tile is detected, rewritten from
memory and never served; a corrupted entry bundle (its entries' leaf hashes disagree) is
refused with ``LogCorruptedError``. ``FileLog`` (``nftreg.log.store``) adds the
writer's crash-safe integration on top.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from nftreg._core import tlog
from nftreg.errors import InvalidInputError, InvariantError
from nftreg.log.note import Checkpoint

__all__ = ["TILE_WIDTH", "LogCorruptedError", "TileFiles"]

log = logging.getLogger("nftreg.log")

TILE_WIDTH = 256


class LogCorruptedError(InvariantError):
    """Log data on disk does not hash to what the signed checkpoint commits to."""


def fsync_dir(path: Path) -> None:
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


def tile_end(level: int | None, index: int, width: int) -> int:
    """Entries a tile covers up to (exclusive): it exists only in trees at least this big."""
    return (index * TILE_WIDTH + width) << (8 * (level or 0))


class TileFiles:
    """The tiles under ``dir`` of the tree ``tree`` (published up to ``_checkpoint``): reading
    them verified, writing them durably, loading the tree from the entry bundles."""

    dir: Path
    tree: Any
    writer: bool
    _checkpoint: Checkpoint
    _tail: list[bytes]  # entries of the last, partial bundle of the published tree
    _write_lock: threading.Lock
    repaired_tiles: int
    corrupt_reads: int

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
                if tile_end(level, index, width) > size:
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

    def _read_file(self, rel: str) -> bytes | None:
        try:
            return (self.dir / rel).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _write_files(self, files: list[tuple[str, bytes]]) -> None:
        """Write every file, then fsync them all and every directory that gained an entry, all
        at once (in parallel: the filesystem groups concurrent fsyncs into few journal commits;
        a file's data and its directory entry are independent, so one round covers both).
        Returns when all are durable."""
        dirs: set[Path] = set()
        for k in range(0, len(files), 256):  # at most 256 open files at a time
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
                last = k + 256 >= len(files)
                jobs: list[Callable[[], None]] = [partial(os.fsync, fd) for fd in fds]
                if last:
                    jobs += [partial(fsync_dir, d) for d in dirs]
                if len(jobs) > 1:
                    list(_fsync_pool().map(lambda job: job(), jobs))
                else:
                    for job in jobs:
                        job()
            finally:
                for fd in fds:
                    os.close(fd)

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
        if tile_end(level, index, width) > cp.size:
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
