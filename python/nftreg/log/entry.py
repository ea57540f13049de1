"""The registration log's entry: one canonical byte encoding, versioned and documented.

Format version 1 (``ENTRY_VERSION``), all integers big-endian, every field at a fixed offset
so a contract can read it with ``calldataload`` (see ``contracts/NftRegistry.sol``)::

    offset size  field
    0      1     version         = 1
    1      1     kind            1 mint, 2 private (hash-only) registration, 3 batch anchor,
                                 4 claim, 5 voucher redemption, 6 metadata change, 7 transfer
    2      1     flags           bit 0 contract, bit 1 token id, bit 2 tx hash, bit 3 block
                                 present; other bits zero. An absent field is all zero bytes.
    3      8     chain id        uint64 (0 when off-chain and no chain is named)
    11     20    contract        address
    31     32    token id        uint256
    63     20    owner           address (the registrant / holder)
    83     32    content hash    SHA-256 of the asset (for a batch anchor: the Merkle root)
    115    32    tx hash
    147    8     block           uint64
    155    8     log time        uint64, milliseconds since the Unix epoch (UTC), set by the log
    163    2     CID length      uint16, n <= 255
    165    n     metadata CID    ASCII (printable, no spaces); may be empty

The entry's leaf in the log is SHA-256(0x00 || entry) (RFC 6962). Decoding refuses anything
that is not exactly what ``encode`` would write (unknown version, kind or flag bits, non-zero
bytes in an absent field, trailing bytes), so one registration has one encoding.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from nftreg.errors import InvalidInputError

__all__ = ["ENTRY_VERSION", "HEADER_SIZE", "EntryKind", "LogEntry"]

ENTRY_VERSION = 1
HEADER_SIZE = 165
MAX_CID = 255

_F_CONTRACT, _F_TOKEN, _F_TX, _F_BLOCK = 1, 2, 4, 8
_CID_RE = re.compile(r"^[\x21-\x7e]*$")
_ZERO20, _ZERO32 = bytes(20), bytes(32)


class EntryKind(enum.IntEnum):
    MINT = 1
    PRIVATE = 2
    BATCH_ANCHOR = 3
    CLAIM = 4
    VOUCHER_REDEMPTION = 5
    METADATA_CHANGE = 6
    TRANSFER = 7


def _address(v: str | bytes | None, field: str) -> bytes:
    if v is None:
        return _ZERO20
    if isinstance(v, (bytes, bytearray)):
        b = bytes(v)
    else:
        s = v[2:] if v[:2] in ("0x", "0X") else v
        try:
            b = bytes.fromhex(s)
        except ValueError:
            raise InvalidInputError(f"{field}: not a hex address") from None
    if len(b) != 20:
        raise InvalidInputError(f"{field}: an address is 20 bytes, got {len(b)}")
    return b


def _b32(v: str | bytes | None, field: str) -> bytes:
    if v is None:
        return _ZERO32
    if isinstance(v, (bytes, bytearray)):
        b = bytes(v)
    else:
        s = v[2:] if v[:2] in ("0x", "0X") else v
        try:
            b = bytes.fromhex(s)
        except ValueError:
            raise InvalidInputError(f"{field}: not 0x-hex") from None
    if len(b) != 32:
        raise InvalidInputError(f"{field}: expected 32 bytes, got {len(b)}")
    return b


def _uint(v: int, bits: int, field: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v >= 1 << bits:
        raise InvalidInputError(f"{field}: expected an integer in [0, 2^{bits})")
    return v


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One registration event. Addresses and hashes are held as bytes; ``None`` = absent."""

    kind: EntryKind
    owner: bytes
    content_hash: bytes
    chain_id: int = 0
    contract: bytes | None = None
    token_id: int | None = None
    metadata_cid: str = ""
    tx_hash: bytes | None = None
    block: int | None = None
    log_time_ms: int = 0

    @classmethod
    def of(cls, kind: EntryKind | int | str, *, owner: str | bytes, content_hash: str | bytes,
           chain_id: int = 0, contract: str | bytes | None = None, token_id: int | None = None,
           metadata_cid: str = "", tx_hash: str | bytes | None = None, block: int | None = None,
           log_time_ms: int = 0) -> LogEntry:
        """Build an entry from user-shaped values (0x-hex strings or bytes), checking each."""
        try:
            k = EntryKind[kind.upper()] if isinstance(kind, str) else EntryKind(kind)
        except (KeyError, ValueError):
            raise InvalidInputError(f"kind: unknown entry kind {kind!r}") from None
        if not isinstance(metadata_cid, str) or len(metadata_cid) > MAX_CID or not _CID_RE.match(metadata_cid):
            raise InvalidInputError("metadata_cid: expected printable ASCII without spaces, at most 255 characters")
        return cls(
            kind=k, owner=_address(owner, "owner"), content_hash=_b32(content_hash, "content_hash"),
            chain_id=_uint(chain_id, 64, "chain_id"),
            contract=None if contract is None else _address(contract, "contract"),
            token_id=None if token_id is None else _uint(token_id, 256, "token_id"),
            metadata_cid=metadata_cid, tx_hash=None if tx_hash is None else _b32(tx_hash, "tx_hash"),
            block=None if block is None else _uint(block, 64, "block"),
            log_time_ms=_uint(log_time_ms, 64, "log_time_ms"),
        )

    def with_time(self, log_time_ms: int) -> LogEntry:
        return LogEntry(self.kind, self.owner, self.content_hash, self.chain_id, self.contract, self.token_id,
                        self.metadata_cid, self.tx_hash, self.block, _uint(log_time_ms, 64, "log_time_ms"))

    def encode(self) -> bytes:
        flags = ((_F_CONTRACT if self.contract is not None else 0) | (_F_TOKEN if self.token_id is not None else 0)
                 | (_F_TX if self.tx_hash is not None else 0) | (_F_BLOCK if self.block is not None else 0))
        cid = self.metadata_cid.encode("ascii")
        return b"".join((
            bytes((ENTRY_VERSION, int(self.kind), flags)),
            self.chain_id.to_bytes(8, "big"),
            self.contract if self.contract is not None else _ZERO20,
            (self.token_id or 0).to_bytes(32, "big"),
            self.owner,
            self.content_hash,
            self.tx_hash if self.tx_hash is not None else _ZERO32,
            (self.block or 0).to_bytes(8, "big"),
            self.log_time_ms.to_bytes(8, "big"),
            len(cid).to_bytes(2, "big"),
            cid,
        ))

    @classmethod
    def decode(cls, data: bytes) -> LogEntry:
        """Parse an entry, refusing every non-canonical encoding with a reason."""
        if len(data) < HEADER_SIZE:
            raise InvalidInputError(f"log entry: {len(data)} bytes is shorter than the {HEADER_SIZE}-byte header")
        if data[0] != ENTRY_VERSION:
            raise InvalidInputError(f"log entry: unknown format version {data[0]}")
        try:
            kind = EntryKind(data[1])
        except ValueError:
            raise InvalidInputError(f"log entry: unknown kind {data[1]}") from None
        flags = data[2]
        if flags & ~0x0F:
            raise InvalidInputError(f"log entry: unknown flag bits {flags:#04x}")
        n = int.from_bytes(data[163:165], "big")
        if len(data) != HEADER_SIZE + n:
            raise InvalidInputError(f"log entry: CID length {n} does not match the {len(data)}-byte entry")
        cid_b = data[165:]
        try:
            cid = cid_b.decode("ascii")
        except UnicodeDecodeError:
            raise InvalidInputError("log entry: metadata CID is not ASCII") from None
        if n > MAX_CID or not _CID_RE.match(cid):
            raise InvalidInputError("log entry: metadata CID is not printable ASCII of at most 255 characters")

        def field(flag: int, raw: bytes, name: str) -> bytes | None:
            if flags & flag:
                return raw
            if any(raw):
                raise InvalidInputError(f"log entry: {name} is absent (flag clear) but not zero")
            return None

        contract = field(_F_CONTRACT, data[11:31], "contract")
        token = field(_F_TOKEN, data[31:63], "token id")
        tx = field(_F_TX, data[115:147], "tx hash")
        block = field(_F_BLOCK, data[147:155], "block")
        return cls(
            kind=kind, owner=data[63:83], content_hash=data[83:115], chain_id=int.from_bytes(data[3:11], "big"),
            contract=contract, token_id=None if token is None else int.from_bytes(token, "big"), metadata_cid=cid,
            tx_hash=tx, block=None if block is None else int.from_bytes(block, "big"),
            log_time_ms=int.from_bytes(data[155:163], "big"),
        )

    def to_json(self) -> dict[str, object]:
        """A JSON view (0x-hex strings, the kind by name)."""
        return {
            "version": ENTRY_VERSION,
            "kind": self.kind.name.lower(),
            "chain_id": self.chain_id,
            "contract": None if self.contract is None else "0x" + self.contract.hex(),
            "token_id": None if self.token_id is None else str(self.token_id),
            "owner": "0x" + self.owner.hex(),
            "content_hash": "0x" + self.content_hash.hex(),
            "metadata_cid": self.metadata_cid,
            "tx_hash": None if self.tx_hash is None else "0x" + self.tx_hash.hex(),
            "block": self.block,
            "log_time_ms": self.log_time_ms,
        }
