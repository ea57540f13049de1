"""A log monitor: what an auditor runs against a registry's log, trusting nothing it serves.

Each check: fetch ``/log/checkpoint`` and verify its signature with the log's verifier key;
fetch every entry bundle and rebuild the RFC 6962 tree from the entries (so the entries are
exactly what the checkpoint signs); check every hash tile the log serves against that tree;
check the tree extends the last checkpoint this monitor saw (the same root at the old size:
no fork, no rewrite, no shrink; state kept in a JSON file); and, given a chain RPC URL and the
registry contract, that every ``LogAnchored(treeSize, rootHash, timestamp)`` event's root is
the log's root at that size. Any disagreement raises ``LogInconsistent`` with what differs.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from nftreg._core import tlog
from nftreg.errors import InvalidInputError, NftregError
from nftreg.log.tiles import TILE_WIDTH
from nftreg.log.verify import open_checkpoint

__all__ = ["LOG_ANCHORED_TOPIC", "LogInconsistent", "Monitor", "MonitorState"]


def _keccak(text: str) -> bytes:
    from eth_utils import keccak

    return bytes(keccak(text=text))


LOG_ANCHORED_TOPIC = "0x" + _keccak("LogAnchored(uint64,bytes32,uint64)").hex()


class LogInconsistent(NftregError):
    """The log contradicts itself, an earlier checkpoint, or the chain's anchors."""


@dataclass
class MonitorState:
    origin: str | None = None
    size: int = 0
    root: str | None = None  # 0x-hex root at `size`
    checkpoint: str | None = None
    anchors_checked: int = 0  # LogAnchored events verified so far
    anchor_block: int = 0  # the next block to read LogAnchored events from
    anchored_size: int = 0  # the largest anchored tree size seen

    @classmethod
    def load(cls, path: Path | None) -> MonitorState:
        if path is None or not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        except (ValueError, TypeError) as e:
            raise InvalidInputError(f"{path}: not a monitor state file ({e})") from None

    def save(self, path: Path | None) -> None:
        if path is None:
            return
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.__dict__, indent=2), encoding="utf-8")
        os.replace(tmp, path)


@dataclass
class Monitor:
    url: str
    verifier_key: str
    rpc_url: str | None = None
    contract: str | None = None
    state_file: Path | None = None
    timeout_s: float = 30.0
    state: MonitorState = field(init=False)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.base = self.url if self.url.endswith("/log") else self.url + "/log"
        self.state = MonitorState.load(self.state_file)
        self._http = httpx.Client(timeout=self.timeout_s)
        self._bundles: dict[int, list[bytes]] = {}  # full bundles already fetched (immutable)
        if (self.rpc_url is None) != (self.contract is None):
            raise InvalidInputError("--rpc and --contract go together")

    def close(self) -> None:
        self._http.close()

    # -- fetching --------------------------------------------------------------------------------
    def _get(self, path: str) -> bytes:
        r = self._http.get(f"{self.base}/{path}")
        if r.status_code != 200:
            raise LogInconsistent(f"GET {self.base}/{path}: HTTP {r.status_code} {r.text[:200]}")
        return r.content

    def _checkpoint(self) -> tuple[Any, str]:
        note = self._get("checkpoint").decode("utf-8", "replace")
        try:
            cp = open_checkpoint(note, self.verifier_key)
        except InvalidInputError as e:
            raise LogInconsistent(f"the checkpoint is not signed by the log's key: {e}") from None
        return cp, note

    def _tree(self, size: int) -> Any:
        tree = tlog.LogTree()
        n = 0
        while n * TILE_WIDTH < size:
            width = min(TILE_WIDTH, size - n * TILE_WIDTH)
            entries = self._bundles.get(n)
            if entries is None:
                path = tlog.tile_path(None, n, width)
                try:
                    entries = tlog.decode_bundle(self._get(path))
                except ValueError as e:
                    raise LogInconsistent(f"{path}: not an entry bundle ({e})") from None
                if len(entries) != width:
                    raise LogInconsistent(f"{path}: {len(entries)} entries, expected {width}")
                if width == TILE_WIDTH:
                    self._bundles[n] = entries
            tree.append_leaf_hashes(tlog.leaf_hashes(entries))
            n += 1
        return tree

    def _check_tiles(self, tree: Any, old: int, size: int) -> int:
        """Every hash tile new since ``old`` equals the tree rebuilt from the entries."""
        checked = 0
        for level, index, width in tlog.new_tiles(old, size):
            path = tlog.tile_path(level, index, width)
            if self._get(path) != tree.tile(level, index, width):
                raise LogInconsistent(f"hash tile {path} does not match the tree of the log's own entries")
            checked += 1
        return checked

    def _anchors(self) -> list[tuple[int, bytes, int]]:
        """(tree size, root, block) of LogAnchored events from the state's block on."""
        assert self.rpc_url is not None and self.contract is not None

        def rpc(method: str, params: list[Any]) -> Any:
            r = self._http.post(self.rpc_url or "", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
            body = r.json()
            if "error" in body:
                raise LogInconsistent(f"chain RPC {method}: {body['error']}")
            return body["result"]

        try:
            head = int(rpc("eth_blockNumber", []), 16)
            logs = rpc("eth_getLogs", [{"address": self.contract, "fromBlock": hex(self.state.anchor_block),
                                        "toBlock": hex(head), "topics": [LOG_ANCHORED_TOPIC]}])
        except httpx.HTTPError as e:
            raise NftregError(f"chain RPC {self.rpc_url} unreachable: {e}") from None
        out = []
        for lg in logs:
            size = int(lg["topics"][1], 16)
            data = bytes.fromhex(lg["data"][2:])
            out.append((size, data[:32], int(lg["blockNumber"], 16)))
        self._head = head
        return out

    # -- the check -------------------------------------------------------------------------------
    def check(self) -> dict[str, Any]:
        """One round; raises ``LogInconsistent`` on any fork or inconsistency, else updates the
        state (and its file) and returns a report."""
        cp, note = self._checkpoint()
        st = self.state
        if st.origin is not None and cp.origin != st.origin:
            raise LogInconsistent(f"origin changed from {st.origin!r} to {cp.origin!r}")
        if cp.size < st.size:
            raise LogInconsistent(f"FORK: the log's checkpoint has size {cp.size}, smaller than the size {st.size} "
                                  "of a checkpoint it signed before (a rollback)")
        tree = self._tree(cp.size)
        if tree.root(cp.size) != cp.root:
            raise LogInconsistent(f"the entries the log serves do not hash to its signed root at size {cp.size}")
        if st.root is not None and tree.root(st.size) != bytes.fromhex(st.root[2:]):
            raise LogInconsistent(
                f"FORK: the log at size {cp.size} is not an extension of the checkpoint it signed earlier at size "
                f"{st.size} (root there is now 0x{tree.root(st.size).hex()}, was {st.root})")
        tiles = self._check_tiles(tree, 0 if st.root is None else st.size, cp.size)
        anchors = 0
        if self.rpc_url is not None:
            for size, root, block in self._anchors():
                if size > cp.size:  # anchored after we fetched the checkpoint? fetch it again once
                    cp2, _ = self._checkpoint()
                    if cp2.size < size:
                        raise LogInconsistent(f"the chain holds an anchor at tree size {size} (block {block}) but the "
                                              f"log's checkpoint has only {cp2.size} entries")
                    return self.check()
                if tree.root(size) != root:
                    raise LogInconsistent(
                        f"FORK: the root anchored on-chain at tree size {size} (block {block}) is 0x{root.hex()}, but "
                        f"the log's root at that size is 0x{tree.root(size).hex()}")
                anchors += 1
                st.anchored_size = max(st.anchored_size, size)
            st.anchor_block = self._head + 1
            st.anchors_checked += anchors
        old = st.size
        st.origin, st.size, st.root, st.checkpoint = cp.origin, cp.size, "0x" + cp.root.hex(), note
        st.save(self.state_file)
        return {"ok": True, "origin": cp.origin, "size": cp.size, "root": st.root, "previous_size": old,
                "tiles_checked": tiles, "anchors_checked": anchors, "anchored_size": st.anchored_size,
                "checked_at": int(time.time())}
