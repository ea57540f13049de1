"""The index and the work journal. The chain is the source of truth for ownership; these rows
are rebuildable from contract events, except the outbox and idempotency records, which exist
precisely so that work in flight survives a crash."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ApiKey",
    "Asset",
    "AuthNonce",
    "Base",
    "Batch",
    "ChainCursor",
    "IdempotencyRecord",
    "LogRecord",
    "OutboxTx",
    "OwnershipChallenge",
    "SessionToken",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Asset(Base):
    """One registered content hash. The unique constraint is the database half of "one content
    hash, one token, ever"; the contract's ContentAlreadyRegistered is the other half."""

    __tablename__ = "assets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    content_hash: Mapped[str] = mapped_column(String(66), unique=True, nullable=False)
    token_id: Mapped[int | None] = mapped_column(BigInteger, unique=True, nullable=True)
    owner: Mapped[str] = mapped_column(String(42), index=True, nullable=False)
    asset_cid: Mapped[str | None] = mapped_column(String(128), nullable=True)
    metadata_cid: Mapped[str] = mapped_column(String(128), nullable=False)
    media_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")  # pending|minted|failed
    # minted and deep enough (confirmations and age) that a reorg or devnet restart cannot undo it
    final: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), nullable=True)
    # scope:Idempotency-Key of the request that reserved the row: its retry resumes its own work
    request_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class OutboxTx(Base):
    """A chain write: intent, nonce, signed raw transaction and hash are committed here before
    the bytes leave the process; restart reconciliation rebroadcasts these exact bytes."""

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("chain_id", "sender", "nonce", name="uq_outbox_nonce"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # mint|anchor
    intent: Mapped[str] = mapped_column(Text, nullable=False)  # JSON of what the write means
    chain_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sender: Mapped[str] = mapped_column(String(42), nullable=False)
    nonce: Mapped[int] = mapped_column(BigInteger, nullable=False)
    raw_tx: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    tx_hash: Mapped[str] = mapped_column(String(66), unique=True, nullable=False)
    # signed -> confirmed (in a block) -> final (deep enough); confirmed -> signed again when a
    # reorg or a devnet restart drops the block; failed when reverted or the nonce went elsewhere
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="signed", index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    block_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    mined_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)  # first seen in a block
    # JSON list of the hashes this write had before fee bumps replaced them (same nonce)
    replaced_hashes: Mapped[str | None] = mapped_column(Text, nullable=True)
    bumped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class IdempotencyRecord(Base):
    __tablename__ = "idempotency"
    key: Mapped[str] = mapped_column(String(300), primary_key=True)  # scope + client key
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)  # in_flight|done
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class AuthNonce(Base):
    """Single-use Sign-In with Ethereum nonces issued by this server."""

    __tablename__ = "auth_nonces"
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class SessionToken(Base):
    __tablename__ = "sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the bearer token
    address: Mapped[str] = mapped_column(String(42), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ApiKey(Base):
    __tablename__ = "api_keys"
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256; the key itself is never stored
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)  # admin|minter
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class Batch(Base):
    __tablename__ = "batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    root: Mapped[str] = mapped_column(String(66), unique=True, nullable=False)
    tree_cid: Mapped[str] = mapped_column(String(128), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")  # pending|anchored|failed
    final: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class OwnershipChallenge(Base):
    __tablename__ = "ownership_challenges"
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class ChainCursor(Base):
    """How far the index has followed a contract's events (the last block read)."""

    __tablename__ = "chain_cursors"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)  # events:<chain id>:<contract>
    block: Mapped[int] = mapped_column(BigInteger, nullable=False)
    block_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)  # of `block`, when read
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class LogRecord(Base):
    """One registration event on its way into the registration log: written in the database
    transaction that accepts the event (a final write, an off-chain registration, a final
    contract event), so the event and its log entry commit together; ``key`` says which event
    it is (``private:<hash>``, ``reg:<hash>``, ``anchor:<root>``, ``transfer:<tx>:<log index>``,
    ...) and is unique: the same event never gets a second entry, however often it is seen or
    replayed. ``entry`` holds the exact bytes appended (log time included), so after a crash
    between publishing a checkpoint and recording ``log_index`` the entry is found in the log by
    its bytes instead of being appended again."""

    __tablename__ = "log_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    kind: Mapped[int] = mapped_column(Integer, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(66), index=True, nullable=False)
    entry: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    log_index: Mapped[int | None] = mapped_column(BigInteger, unique=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
