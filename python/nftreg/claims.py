"""Batch claims: read a CSV or JSON-lines file of claims, build the StandardMerkleTree the
registry contract verifies, and check every proof.

A claim is one leaf of the contract's claim tree, encoded ``["address", "bytes32", "string"]``:
``(owner, content_hash, metadata_cid)``, where ``content_hash`` is the SHA-256 of the asset's
bytes and ``metadata_cid`` the CID of its ERC-721 metadata JSON. Files:

- CSV with a header row naming ``owner,content_hash,metadata_cid`` (any column order, extra
  columns ignored);
- JSON lines, one object per line with those keys (or a 3-item array).

Malformed lines are reported with their line number and skipped; the rest of the batch is kept.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from nftreg import _core
from nftreg.errors import InvalidInputError
from nftreg.merkle import StandardMerkleTree

__all__ = [
    "CLAIM_LEAF_ENCODING",
    "CLAIM_FIELDS",
    "ClaimError",
    "ClaimsReadResult",
    "read_claims",
    "parse_claim_lines",
    "build_claims_tree",
]

CLAIM_LEAF_ENCODING = ["address", "bytes32", "string"]
CLAIM_FIELDS = ("owner", "content_hash", "metadata_cid")
MAX_CID_LEN = 256


@dataclass(frozen=True)
class ClaimError:
    """A rejected input line: 1-based line number and what is wrong with it."""

    line: int
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "error": self.message}


@dataclass
class ClaimsReadResult:
    claims: list[list[str]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # source line of each claim
    errors: list[ClaimError] = field(default_factory=list)


def _normalise(raw: Any) -> list[str]:
    if isinstance(raw, dict):
        missing = [f for f in CLAIM_FIELDS if f not in raw]
        if missing:
            raise InvalidInputError(f"missing field(s): {', '.join(missing)}")
        vals = [raw[f] for f in CLAIM_FIELDS]
    elif isinstance(raw, (list, tuple)):
        if len(raw) != 3:
            raise InvalidInputError(f"expected 3 fields (owner, content_hash, metadata_cid), got {len(raw)}")
        vals = list(raw)
    else:
        raise InvalidInputError("expected an object or a 3-item array")
    owner, content_hash, cid = vals
    for name, v in zip(CLAIM_FIELDS, vals):
        if not isinstance(v, str):
            raise InvalidInputError(f"{name}: expected a string, got {type(v).__name__}")
    owner, content_hash, cid = owner.strip(), content_hash.strip(), cid.strip()
    if not cid or len(cid) > MAX_CID_LEN or any(c.isspace() for c in cid):
        raise InvalidInputError(f"metadata_cid: not a CID: {cid!r}")
    # Validate owner and content hash with the same encoder the tree uses.
    try:
        _core.abi_encode(["address", "bytes32"], [owner, content_hash])
    except InvalidInputError as e:
        msg = str(e).replace("values[0][0] (address)", "owner").replace("values[0][1] (bytes32)", "content_hash")
        raise InvalidInputError(msg) from None
    return [owner, content_hash, cid]


def parse_claim_lines(lines: Iterable[tuple[int, Any]], result: ClaimsReadResult) -> None:
    for lineno, raw in lines:
        try:
            result.claims.append(_normalise(raw))
            result.lines.append(lineno)
        except InvalidInputError as e:
            result.errors.append(ClaimError(lineno, str(e)))


def _jsonl(stream: IO[str]) -> Iterator[tuple[int, Any]]:
    for lineno, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as e:
            yield lineno, _Bad(f"malformed JSON: {e.msg} at column {e.colno}")


class _Bad:
    def __init__(self, msg: str):
        self.msg = msg


def _csv(stream: IO[str]) -> Iterator[tuple[int, Any]]:
    reader = csv.reader(stream)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return
    missing = [f for f in CLAIM_FIELDS if f not in header]
    if missing:
        raise InvalidInputError(f"CSV header must name {', '.join(CLAIM_FIELDS)}; missing {', '.join(missing)}")
    idx = [header.index(f) for f in CLAIM_FIELDS]
    for row in reader:
        lineno = reader.line_num
        if not any(c.strip() for c in row):
            continue
        if len(row) < len(header):
            yield lineno, _Bad(f"expected {len(header)} columns, got {len(row)}")
            continue
        yield lineno, {f: row[i] for f, i in zip(CLAIM_FIELDS, idx)}


def read_claims(source: str | Path | IO[str], *, fmt: str | None = None) -> ClaimsReadResult:
    """Read claims from a path or text stream. ``fmt`` is ``"csv"`` or ``"jsonl"``; by default
    it is taken from the file extension (``.csv`` / ``.jsonl`` / ``.ndjson``)."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if fmt is None:
            ext = path.suffix.lower()
            fmt = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}.get(ext)
            if fmt is None:
                raise InvalidInputError(f"{path}: cannot tell the format from the extension; use .csv or .jsonl")
        with path.open("r", encoding="utf-8", newline="") as f:
            return read_claims(f, fmt=fmt)
    if fmt not in ("csv", "jsonl"):
        raise InvalidInputError(f"unknown claims format {fmt!r} (expected 'csv' or 'jsonl')")
    result = ClaimsReadResult()
    rows = _csv(source) if fmt == "csv" else _jsonl(source)

    def good_rows() -> Iterator[tuple[int, Any]]:
        for lineno, raw in rows:
            if isinstance(raw, _Bad):
                result.errors.append(ClaimError(lineno, raw.msg))
            else:
                yield lineno, raw

    parse_claim_lines(good_rows(), result)
    return result


def read_claims_text(text: str, *, fmt: str) -> ClaimsReadResult:
    return read_claims(io.StringIO(text), fmt=fmt)


def build_claims_tree(claims: list[list[str]]) -> StandardMerkleTree:
    """The contract's claim tree over already validated claims."""
    if not claims:
        raise InvalidInputError("no valid claims to build a tree from")
    return StandardMerkleTree.of(claims, CLAIM_LEAF_ENCODING)
