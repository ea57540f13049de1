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
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pydantic_core

from nftreg import _core
from nftreg.errors import InvalidInputError
from nftreg.merkle import StandardMerkleTree

__all__ = [
    "CLAIM_FIELDS",
    "CLAIM_LEAF_ENCODING",
    "ClaimError",
    "ClaimsReadResult",
    "build_claims_tree",
    "parse_claim_lines",
    "parse_json",
    "read_claims",
]

CLAIM_LEAF_ENCODING = ["address", "bytes32", "string"]
CLAIM_FIELDS = ("owner", "content_hash", "metadata_cid")
MAX_CID_LEN = 256
MAX_JSON_DEPTH = 200  # the nesting limit of pydantic-core's parser; nothing nftreg reads comes close

_AT = re.compile(r" at line (\d+) column (\d+)$")


def parse_json(data: str | bytes) -> Any:
    """JSON text from an untrusted client, as ``json.loads`` would give it, with its limits made
    safe: nesting deeper than ``MAX_JSON_DEPTH``, integers of more than 4,300 digits, lone
    surrogates and text that is not UTF-8 are refused with ``json.JSONDecodeError`` (a
    ``ValueError``) naming the position.

    ``json.loads`` itself is not safe here: importing web3/py_ecc raises the interpreter's
    recursion limit to 100,000, so a few hundred KB of ``[`` recurse past the C stack and the
    whole process dies with SIGSEGV; and an over-long integer raises a bare ValueError. The
    parser of pydantic-core (jiter, already a dependency) has a fixed depth limit and is faster.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    try:
        return pydantic_core.from_json(raw)
    except ValueError as e:
        msg, pos = str(e), 0
        m = _AT.search(msg)
        if m:
            msg = msg[:m.start()]
            line, col = int(m.group(1)), int(m.group(2))
            start = 0
            for _ in range(line - 1):
                start = raw.find(b"\n", start) + 1
            pos = max(0, start + col - 1)
        if msg.startswith("recursion limit exceeded"):
            msg = f"nested deeper than {MAX_JSON_DEPTH} levels"
        elif msg == "number out of range":
            msg = "number out of range (more than 4300 digits)"
        doc = raw.decode("utf-8", "replace")
        raise json.JSONDecodeError(msg, doc, min(pos, len(doc))) from None


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
        _core.merkle.abi_encode(["address", "bytes32"], [owner, content_hash])
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
        if lineno == 1:
            line = line.removeprefix("\ufeff")  # a byte-order mark some editors write
        if not line.strip():
            continue
        try:
            yield lineno, parse_json(line)
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
    except csv.Error as e:
        raise InvalidInputError(f"CSV header (line 1) is malformed: {e}") from None
    if header:
        header[0] = header[0].removeprefix("\ufeff")  # Excel's "CSV UTF-8" starts with a byte-order mark
    missing = [f for f in CLAIM_FIELDS if f not in header]
    if missing:
        raise InvalidInputError(f"CSV header must name {', '.join(CLAIM_FIELDS)}; missing {', '.join(missing)}")
    idx = [header.index(f) for f in CLAIM_FIELDS]
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            # e.g. a field over the csv module's 128 KiB limit: that line is bad, the reader goes on
            yield reader.line_num, _Bad(f"malformed CSV: {e}")
            continue
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
