"""The content-store roles and CARv1 writing shared by the stores.

Two roles, separate on purpose: a ``BlockStore`` holds and serves UnixFS blocks (add, read,
export); a ``Pinner`` keeps content from being collected (pin, unpin, is_pinned). The embedded
store and Kubo play both (``ContentStore``); a remote pinning service (IPFS Pinning Service API)
would be a ``Pinner`` over a ``BlockStore`` that holds the blocks."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import BinaryIO, Protocol, runtime_checkable

from nftreg import _core

__all__ = ["BlockStore", "ContentStore", "Pinner", "add_many", "walk_dag", "write_car"]


@runtime_checkable
class BlockStore(Protocol):
    """Stores and serves content by CID (every block checked against its CID on read)."""

    profile: str

    def add_bytes(self, data: bytes, *, pin: bool = True) -> str: ...
    def add_file(self, path: str | os.PathLike[str], *, pin: bool = True) -> str: ...
    def cat(self, cid: str) -> bytes: ...
    def iter_chunks(self, cid: str) -> Iterator[bytes]: ...
    def has(self, cid: str) -> bool: ...
    def export_car(self, cid: str, out: BinaryIO) -> None: ...
    def health(self) -> dict: ...


@runtime_checkable
class Pinner(Protocol):
    """Keeps content by CID from being garbage-collected."""

    def pin(self, cid: str) -> None: ...
    def unpin(self, cid: str) -> None: ...
    def is_pinned(self, cid: str) -> bool: ...


@runtime_checkable
class ContentStore(BlockStore, Pinner, Protocol):
    """A store that plays both roles (the embedded store, Kubo)."""


def add_many(store: BlockStore, documents: list[bytes], *, pin: bool = True) -> list[str]:
    """Add (and pin) many small documents; their CIDs in order. A store with its own
    ``add_many`` (the embedded store: one group flush for all) does it in one call; any other
    adds them one by one."""
    own = getattr(store, "add_many", None)
    if own is not None:
        return list(own(documents, pin=pin))
    return [store.add_bytes(d, pin=pin) for d in documents]


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _car_header(root_cid_bytes: bytes) -> bytes:
    # DAG-CBOR {"roots": [CID], "version": 1}; keys in canonical order (length, then bytes).
    cid = b"\x00" + root_cid_bytes  # tag-42 CIDs carry a leading multibase-identity 0x00
    if len(cid) < 24:
        cid_item = bytes([0x40 + len(cid)]) + cid
    else:
        cid_item = b"\x58" + bytes([len(cid)]) + cid
    return b"\xa2" + b"\x65roots" + b"\x81" + b"\xd8\x2a" + cid_item + b"\x67version" + b"\x01"


def walk_dag(root: str, get_block: Callable[[str], bytes]) -> Iterator[tuple[str, bytes]]:
    """Every (cid, block) of a UnixFS file DAG, parents before children, each once."""
    seen: set[str] = set()
    stack = [root]
    while stack:
        cid = stack.pop()
        if cid in seen:
            continue
        seen.add(cid)
        block = get_block(cid)
        yield cid, block
        _, codec, _, _ = _core.cid.cid_info(cid)
        if codec == 0x70:
            links, _ = _core.cid.decode_dag_pb(block)
            stack.extend(reversed(links))


def iter_file_chunks(root: str, get_block: Callable[[str], bytes]) -> Iterator[bytes]:
    """A UnixFS file's bytes in order, leaf by leaf, each block fetched (and checked against its
    CID) by ``get_block`` just before its data is yielded."""
    stack = [root]
    while stack:
        c = stack.pop()
        block = get_block(c)
        if _core.cid.cid_info(c)[1] == 0x55:  # raw leaf
            yield block
            continue
        links, data = _core.cid.decode_dag_pb(block)
        if links:
            stack.extend(reversed(links))
        elif data:
            yield bytes(data)


def write_car(root: str, get_block: Callable[[str], bytes], out: BinaryIO) -> None:
    """Write a CARv1 file (header, then varint-framed cid+block sections)."""
    _, _, root_bytes, _ = _core.cid.cid_info(root)
    header = _car_header(root_bytes)
    out.write(_varint(len(header)) + header)
    for cid, block in walk_dag(root, get_block):
        cid_bytes = _core.cid.cid_info(cid)[2]
        out.write(_varint(len(cid_bytes) + len(block)) + cid_bytes + block)
