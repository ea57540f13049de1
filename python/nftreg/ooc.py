"""StandardMerkleTrees larger than memory: built from a claims file into a tree file, and
served from that file memory-mapped read-only.

:meth:`OutOfCoreTree.build` streams a claims file (CSV or JSON lines, read exactly as
:func:`nftreg.claims.read_claims` reads them: same accepted claims, same refused line numbers),
hashes the leaves on all cores, sorts them with an external sort bounded by ``memory_budget``
and writes the tree (OpenZeppelin's array layout, so the root and every proof equal
``StandardMerkleTree.of`` on the same claims and the npm library's) plus the row → position
maps, to a temp file that is fsynced and renamed into place. :meth:`OutOfCoreTree.open` maps
a tree file without reading it; a proof reads a few pages.

The ``standard-v1`` JSON dump is not written for these trees (it would hold every value);
build a :class:`~nftreg.merkle.StandardMerkleTree` for trees that fit in memory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nftreg import _core
from nftreg.errors import InvalidInputError
from nftreg.merkle import StandardMerkleTree

__all__ = ["DEFAULT_MEMORY_BUDGET", "MAGIC", "BuildReport", "OutOfCoreTree"]

MAGIC = b"NFTREGOC"
"""The first bytes of a tree file."""

DEFAULT_MEMORY_BUDGET = 1 << 30
"""Bytes of leaf entries sorted in memory at once (40 bytes a leaf)."""

_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


@dataclass(frozen=True)
class BuildReport:
    """What a build did: ``errors`` holds the first 1000 refused lines as ``(line, message)``."""

    root: str
    claims: int
    lines: int
    errors: list[tuple[int, str]] = field(default_factory=list)
    error_count: int = 0
    runs: int = 0
    read_seconds: float = 0.0
    write_seconds: float = 0.0


class OutOfCoreTree:
    """A StandardMerkleTree in a tree file. Rows are the claims' indices among the accepted
    ones (the value indices of the in-memory tree)."""

    __slots__ = ("_file",)

    def __init__(self, file: Any):
        self._file = file

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> OutOfCoreTree:
        """Map a tree file read-only. A file that is not one, truncated, or whose header or
        root node is damaged raises ``InvalidInputError`` naming the file and the problem."""
        return cls(_core.ooc.TreeFile(os.fspath(path)))

    @classmethod
    def build(
        cls,
        claims: str | os.PathLike[str],
        output: str | os.PathLike[str],
        *,
        fmt: str | None = None,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        temp_dir: str | os.PathLike[str] | None = None,
    ) -> tuple[OutOfCoreTree, BuildReport]:
        """Build ``output`` from the claims file ``claims`` (format from the extension unless
        ``fmt`` is ``"csv"`` or ``"jsonl"``). Refused lines are left out and reported; a file
        without one valid claim raises ``InvalidInputError``. Run files go to ``temp_dir``
        (default: the output's directory)."""
        src = Path(claims)
        if fmt is None:
            fmt = _FORMATS.get(src.suffix.lower())
            if fmt is None:
                raise InvalidInputError(f"{src}: cannot tell the format from the extension; use .csv or .jsonl")
        r = _core.ooc.build_claims(
            os.fspath(src), os.fspath(output), fmt, memory_budget=memory_budget,
            temp_dir=None if temp_dir is None else os.fspath(temp_dir),
        )
        report = BuildReport(
            root=_hex(r["root"]), claims=r["n"], lines=r["lines"], errors=[tuple(e) for e in r["errors"]],
            error_count=r["error_count"], runs=r["runs"], read_seconds=r["read_seconds"],
            write_seconds=r["write_seconds"],
        )
        return cls.open(output), report

    def __len__(self) -> int:
        return len(self._file)

    @property
    def root(self) -> str:
        return _hex(self._file.root)

    @property
    def leaf_encoding(self) -> list[str]:
        return list(self._file.leaf_encoding)

    @property
    def path(self) -> str:
        return str(self._file.path)

    def leaf_hash(self, value: Sequence[Any]) -> str:
        return _hex(_core.merkle.standard_leaf_hash(self.leaf_encoding, value))

    def leaf(self, row: int) -> str:
        """The leaf hash of ``row``."""
        return _hex(self._file.leaf(self._row(row)))

    def position(self, row: int) -> int:
        """The tree index (``treeIndex`` in a dump) of ``row``."""
        return int(self._file.position(self._row(row)))

    def _row(self, row: int) -> int:
        if not isinstance(row, int) or isinstance(row, bool) or not 0 <= row < len(self):
            raise InvalidInputError(f"row {row!r} out of bounds (the tree has {len(self)} rows)")
        return row

    def leaf_lookup(self, value_or_leaf: Any) -> int:
        """Row of a value (a list of fields) or of a leaf hash (``bytes`` / ``0x`` string of 32
        bytes); of equal leaves the last row, as the npm library. ``InvalidInputError`` if absent."""
        if isinstance(value_or_leaf, (list, tuple)):
            leaf: Any = _core.merkle.standard_leaf_hash(self.leaf_encoding, value_or_leaf)
        else:
            leaf = value_or_leaf
        row = self._file.lookup(leaf)
        if row is None:
            raise InvalidInputError("leaf is not in tree")
        return int(row)

    def get_proof(self, row_or_value: Any) -> list[str]:
        """Sibling hashes (0x-hex) proving a row, a value, or a leaf hash."""
        if isinstance(row_or_value, int) and not isinstance(row_or_value, bool):
            return self._file.proof(self._row(row_or_value))
        return self._file.proof(self.leaf_lookup(row_or_value))

    def verify(self, row_or_value: Any, proof: Sequence[str | bytes]) -> bool:
        """Does ``proof`` prove this row or value against the root? (``StandardMerkleTree.verify``.)"""
        if isinstance(row_or_value, int) and not isinstance(row_or_value, bool):
            leaf = bytes(self._file.leaf(self._row(row_or_value)))
            return bytes(_core.merkle.process_proof(leaf, list(proof))) == bytes(self._file.root)
        return StandardMerkleTree.verify(self.root, self.leaf_encoding, row_or_value, proof)

    def validate(self) -> None:
        """Recheck the whole file (every node, the leaf order, the row maps); raises
        ``InvalidInputError`` naming the first problem."""
        self._file.validate()
