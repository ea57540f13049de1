"""Content addressing: CIDs identical to Kubo's ``ipfs add`` and the SHA-256 content hash that
identifies an asset on-chain. Files are streamed from disk (bounded memory) with the GIL released.

Profiles (Kubo's names): ``unixfs-v1-2025`` (IPIP-499: CIDv1, raw leaves, 1 MiB chunks,
1024 links; nftreg's default) and ``unixfs-v0-2015`` (CIDv0, dag-pb leaves, 256 KiB chunks,
174 links; Kubo's default). ``KUBO_ADD_OPTIONS`` gives the explicit ``ipfs add`` options that
produce the same CIDs whatever the daemon's own configuration.
"""

from __future__ import annotations

import os
from typing import Union

from nftreg import _core

__all__ = ["DEFAULT_PROFILE", "KUBO_ADD_OPTIONS", "PROFILES", "cid_of", "content_hash", "content_hash_hex"]

DEFAULT_PROFILE = "unixfs-v1-2025"
PROFILES = ("unixfs-v1-2025", "unixfs-v0-2015")
KUBO_ADD_OPTIONS: dict[str, dict[str, object]] = {
    "unixfs-v1-2025": {"cid-version": 1, "raw-leaves": True, "chunker": "size-1048576", "max-file-links": 1024},
    "unixfs-v0-2015": {"cid-version": 0, "raw-leaves": False, "chunker": "size-262144", "max-file-links": 174},
}

DataOrPath = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"]


def cid_of(data_or_path: DataOrPath, *, profile: str = DEFAULT_PROFILE) -> str:
    """The CID Kubo's ``ipfs add`` gives these bytes (or this file) under ``profile``.
    A ``str`` is a path; pass bytes for content."""
    return _core.cid.cid_of(data_or_path, profile)


def content_hash(data_or_path: DataOrPath) -> bytes:
    """SHA-256 of the content: the 32-byte hash the registry records on-chain."""
    return _core.cid.content_hash(data_or_path)


def content_hash_hex(data_or_path: DataOrPath) -> str:
    return "0x" + content_hash(data_or_path).hex()
