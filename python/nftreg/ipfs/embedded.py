"""The embedded content store: real UnixFS blocks in a local directory, CIDs identical to
Kubo's. Every block read is re-hashed and a corrupted block is never served."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from nftreg import _core
from nftreg.cid import DEFAULT_PROFILE, PROFILES
from nftreg.errors import ContentIntegrityError, InvalidInputError, IpfsError, IpfsUnavailableError
from nftreg.ipfs.base import iter_file_chunks, walk_dag, write_car

__all__ = ["EmbeddedStore"]


class EmbeddedStore:
    """Blocks under ``root/blocks`` (one file per block), pins under ``root/pins``."""

    def __init__(self, root: str | os.PathLike[str], *, profile: str = DEFAULT_PROFILE):
        if profile not in PROFILES:
            raise InvalidInputError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
        self.profile = profile
        self.root = Path(root)
        self.blocks = self.root / "blocks"
        self.pins = self.root / "pins"
        self.blocks.mkdir(parents=True, exist_ok=True)
        self.pins.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.root)!r}, profile={self.profile!r})"

    # -- writing ---------------------------------------------------------------------------
    def add_bytes(self, data: bytes, *, pin: bool = True) -> str:
        cid, _, _ = _core.cid.import_to_blockstore(bytes(data), self.blocks, self.profile)
        if pin:
            self.pin(cid)
        return cid

    def add_many(self, documents: list[bytes], *, pin: bool = True) -> list[str]:
        """Add (and pin) many small documents with one group flush
        (``import_many_to_blockstore``: all blocks fdatasynced together on I/O threads, then
        renamed into place, then the pins written); their CIDs in order."""
        cids: list[str] = _core.cid.import_many_to_blockstore([bytes(d) for d in documents], self.blocks,
                                                              self.profile, self.pins if pin else None)
        return cids

    def add_file(self, path: str | os.PathLike[str], *, pin: bool = True) -> str:
        if not os.path.isfile(path):
            raise InvalidInputError(f"not a readable file: {os.fspath(path)!r}")
        cid, _, _ = _core.cid.import_to_blockstore(os.fspath(path), self.blocks, self.profile)
        if pin:
            self.pin(cid)
        return cid

    # -- reading ---------------------------------------------------------------------------
    def _path(self, cid: str) -> Path:
        return Path(_core.cid.blockstore_path(self.blocks, cid))

    def get_block(self, cid: str) -> bytes:
        path = self._path(cid)
        try:
            block = path.read_bytes()
        except FileNotFoundError:
            raise IpfsError(f"block {cid} is not in the local store") from None
        if not _core.cid.block_matches(cid, block):
            raise ContentIntegrityError(f"block {cid} is corrupted: its bytes do not hash to its CID")
        return block

    def has(self, cid: str) -> bool:
        return self._path(cid).exists()

    def iter_chunks(self, cid: str) -> Iterator[bytes]:
        """The file's bytes, leaf by leaf, each block verified before it is yielded."""
        yield from iter_file_chunks(cid, self.get_block)

    def cat(self, cid: str) -> bytes:
        return b"".join(self.iter_chunks(cid))

    # -- pins ------------------------------------------------------------------------------
    def _pin_path(self, cid: str) -> Path:
        return self.pins / _core.cid.cid_info(cid)[3]

    def pin(self, cid: str) -> None:
        if not self.has(cid):
            raise IpfsError(f"cannot pin {cid}: not in the local store")
        p = self._pin_path(cid)
        if not p.exists():
            fd, tmp = tempfile.mkstemp(dir=self.pins)
            os.close(fd)
            os.replace(tmp, p)

    def unpin(self, cid: str) -> None:
        self._pin_path(cid).unlink(missing_ok=True)

    def is_pinned(self, cid: str) -> bool:
        return self._pin_path(cid).exists()

    def pinned(self) -> list[str]:
        return sorted(p.name for p in self.pins.iterdir() if not p.name.startswith("tmp"))

    def gc(self) -> int:
        """Delete every block no pinned DAG reaches (like ``ipfs repo gc``); returns how many.
        A pinned DAG with a missing or corrupted block stops the collection (nothing deleted).
        Run it while nothing is adding: an add's blocks are unpinned until the add returns."""
        live: set[str] = set()
        for root in self.pinned():
            live.update(cid for cid, _ in walk_dag(root, self.get_block))
        live_files = {self._path(cid).name for cid in live}
        removed = 0
        for f in self.blocks.rglob("*.data"):
            if f.name not in live_files:
                f.unlink(missing_ok=True)
                removed += 1
        return removed

    # -- export ----------------------------------------------------------------------------
    def export_car(self, cid: str, out: BinaryIO) -> None:
        """CARv1 of the whole DAG, importable with ``ipfs dag import``."""
        write_car(cid, self.get_block, out)

    def health(self) -> dict:
        if not (self.blocks.is_dir() and os.access(self.blocks, os.W_OK)):
            raise IpfsUnavailableError(f"embedded store {self.blocks} is missing or not writable")
        return {"kind": "embedded", "path": str(self.root), "profile": self.profile}
