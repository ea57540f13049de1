"""Minting: the one mint flow (service, CLI and demo), and the service's group commit.

The flow: hash the asset (refusing an empty one), pin it, describe it (the caller's ERC-721
fields, plus ``properties.content_hash`` and, for images, ``image``), pin that metadata, mint.
``describe`` is the single rule for the metadata bytes, so the same file and fields give the same
metadata CID through the API, the CLI and the library. ``mint_file`` runs the flow directly on
a chain (CLI, demo); ``Minting`` runs it through the outbox for the REST API: concurrent mints
share one ``mintBatch`` transaction (leader/follower on the send lock), so N mints cost one
nonce, one signature, one outbox commit, one broadcast and one receipt.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Table, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nftreg.chain import Registry
from nftreg.cid import content_hash as sha256_of
from nftreg.db import Asset, Database, LogRecord, OutboxTx
from nftreg.db.models import utcnow
from nftreg.errors import ChainError, ContractRevert, InvalidInputError, IpfsError
from nftreg.ipfs import ContentStore
from nftreg.metadata import canonical_json
from nftreg.services import validate
from nftreg.services.errors import Conflict, Unavailable, Unprocessable, from_chain
from nftreg.services.outbox import Landed, Outbox, SimulatedCrash, WriteHooks, copy_error
from nftreg.services.sniff import sniff

__all__ = ["MAX_MINT_BATCH", "Minting", "PinnedAsset", "describe", "mint_file", "pin_asset", "private_hash",
           "registered_conflict"]

MAX_MINT_BATCH = 64  # items per mintBatch: ~64 x 190k gas stays well inside a 30M-gas block


# -- the mint flow ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PinnedAsset:
    content_hash: str  # 0x SHA-256
    asset_cid: str | None
    metadata_cid: str
    media_type: str | None
    size: int | None


def describe(fields: dict[str, Any], content_hash: str, asset_cid: str | None, media_type: str | None) -> bytes:
    """The metadata document minted for an asset: ``fields`` plus ``properties.content_hash``
    and, for an image whose fields name none, ``image``. Canonical bytes (same input, same CID)."""
    meta = dict(fields)
    props = meta.get("properties", {})
    meta["properties"] = {**props, "content_hash": content_hash} if isinstance(props, dict) else props
    if asset_cid and "image" not in meta and (media_type or "").startswith("image/"):
        meta["image"] = f"ipfs://{asset_cid}"
    return canonical_json(meta)


def hash_upload(path: str | Path) -> tuple[str, str | None, int]:
    """(0x SHA-256, sniffed media type, size) of an asset file; an empty one is refused."""
    size = Path(path).stat().st_size
    if size == 0:
        raise Unprocessable("file: the asset is empty (0 bytes); an empty file is nobody's asset")
    with open(path, "rb") as f:
        head = f.read(4096)
    return "0x" + sha256_of(str(path)).hex(), sniff(head), size


def private_hash(content_hash: str | None, asset_cid: str | None) -> str:
    """The content hash of a private registration (no upload)."""
    if content_hash is None:
        raise Unprocessable("send the asset file, or its content_hash for a private registration")
    hash_hex = validate.hex32(content_hash, "content_hash")
    if hash_hex == validate.EMPTY_SHA256:
        raise Unprocessable("content_hash: the SHA-256 of zero bytes; an empty file is nobody's asset")
    if asset_cid is not None:
        validate.cid(asset_cid, "asset_cid")
    return hash_hex


def pin_asset(store: ContentStore, fields: dict[str, Any], hash_hex: str, *, upload_path: str | Path | None,
              asset_cid: str | None, media_type: str | None, size: int | None) -> PinnedAsset:
    """Pin the upload (if any) and its metadata."""
    try:
        if upload_path is not None:
            asset_cid = store.add_file(upload_path)
        metadata_cid = store.add_bytes(describe(fields, hash_hex, asset_cid, media_type))
    except IpfsError as e:
        raise Unavailable(f"content store: {e}") from None
    except InvalidInputError as e:
        raise Unprocessable(str(e)) from None
    return PinnedAsset(hash_hex, asset_cid, metadata_cid, media_type, size)


def mint_file(registry: Registry, store: ContentStore, path: str | Path, fields: dict[str, Any],
              owner: str) -> dict[str, Any]:
    """Pin a file and its metadata and mint it straight on ``registry`` (no service, no
    database): the CLI's and the demo's mint."""
    hash_hex, media_type, size = hash_upload(path)
    existing = registry.token_of_content(hash_hex)
    if existing:
        raise Conflict(f"content hash {hash_hex} is already registered as token {existing}", token_id=existing)
    pinned = pin_asset(store, fields, hash_hex, upload_path=path, asset_cid=None, media_type=media_type, size=size)
    res = registry.mint(owner, hash_hex, pinned.metadata_cid)
    return {"token_id": res.token_id, "owner": owner, "content_hash": hash_hex, "asset_cid": pinned.asset_cid,
            "metadata_cid": pinned.metadata_cid, "token_uri": f"ipfs://{pinned.metadata_cid}",
            "media_type": media_type, "size": size, "tx_hash": res.tx_hash, "block": res.block_number}


# -- the service's mints ---------------------------------------------------------------------
class _MintJob:
    """One request's mint on its way through the group commit."""

    __slots__ = ("batch_size", "entry", "error", "hash_hex", "metadata_cid", "owner", "sent", "tx")

    def __init__(self, owner: str, hash_hex: str, metadata_cid: str):
        self.owner, self.hash_hex, self.metadata_cid = owner, hash_hex, metadata_cid
        self.tx: dict[str, Any] = {}
        self.sent = threading.Event()
        self.entry: OutboxTx | None = None
        self.error: BaseException | None = None
        self.batch_size = 1


class Minting:
    def __init__(self, db: Database, registry: Registry, store: ContentStore, outbox: Outbox, *, batching: bool):
        self.db, self.registry, self.store, self.outbox = db, registry, store, outbox
        self.batching = batching
        self.queue: list[_MintJob] = []
        self._queue_lock = threading.Lock()
        outbox.subscribe("mint", WriteHooks(on_landed=self._landed, on_dropped=self._dropped, on_failed=self._failed))
        outbox.on_reconcile(self._release_orphans)

    def mint(self, *, owner: str, metadata: dict[str, Any], upload_path: str | None = None,
             content_hash: str | None = None, asset_cid: str | None = None, media_type: str | None = None,
             size: int | None = None, upload_sha256: str | None = None, request_key: str | None = None) -> str:
        """Pin the asset (when uploaded) and its metadata, then mint to ``owner``. Returns the
        content hash (the caller reads the asset back); refusals raise.
        ``upload_sha256``: the upload's 0x SHA-256 when the caller hashed it while receiving.
        ``request_key``: the request's idempotency key; a retry with it finds its own work."""
        owner = validate.address(owner)
        hash_hex, media_type, size = hash_of(upload_path, upload_sha256, size, media_type, content_hash, asset_cid)
        own = self.own_earlier_attempt(hash_hex, request_key)
        if own is not None:
            if own.outbox_id is not None:  # signed (or minted) by this request's earlier attempt
                if own.token_id is None:
                    self.resume(own.outbox_id)
                return hash_hex
            self._release(hash_hex)  # reserved by it but never signed: start over
        self.refuse_registered(hash_hex)  # before anything is pinned for a mint that cannot happen
        pinned = pin_asset(self.store, metadata, hash_hex, upload_path=upload_path, asset_cid=asset_cid,
                           media_type=media_type, size=size)
        self._mint_reserved(pinned, owner, request_key, batch=True)
        return hash_hex

    # -- reservations --------------------------------------------------------------------------
    def own_earlier_attempt(self, hash_hex: str, request_key: str | None) -> Asset | None:
        """The row this request's earlier attempt (same Idempotency-Key and body) reserved, if
        that attempt died (crash, kill -9) and left it: its outcome is this request's outcome,
        whatever step it reached."""
        if request_key is None:
            return None
        with self.db.read() as s:
            return s.scalars(select(Asset).where(Asset.content_hash == hash_hex, Asset.request_key == request_key)).one_or_none()

    def refuse_registered(self, hash_hex: str) -> None:
        with self.db.read() as s:
            row = s.execute(select(Asset.token_id, Asset.status, Asset.owner)
                            .where(Asset.content_hash == hash_hex)).first()
        if row is not None and (e := registered_conflict(hash_hex, row.token_id, row.status, row.owner)):
            raise e

    def _reserve(self, p: PinnedAsset, owner: str, request_key: str | None) -> int | None:
        """Claim the content hash for this request. Returns None when claimed, or the outbox id
        of an identical mint that is signed but not yet in a block (to be resumed)."""
        existing = None
        try:
            with self.db.write() as s:  # one INSERT; the unique content hash decides
                s.execute(insert(Asset).values(content_hash=p.content_hash, owner=owner, asset_cid=p.asset_cid,
                                               metadata_cid=p.metadata_cid, media_type=p.media_type, size=p.size,
                                               status="pending", final=False, created_at=utcnow(),
                                               request_key=request_key))
        except IntegrityError:
            with self.db.read() as s:
                existing = s.scalars(select(Asset).where(Asset.content_hash == p.content_hash)).one_or_none()
            if existing is None:  # released in between: the retry of the client finds it free
                raise Conflict(f"content hash {p.content_hash} is being registered by another request; retry",
                               token_id=None) from None
        if existing is not None:
            if existing.token_id is not None:
                raise Conflict(f"content hash {p.content_hash} is already registered as token {existing.token_id}",
                               token_id=existing.token_id)
            if existing.outbox_id is not None and existing.owner == owner and existing.metadata_cid == p.metadata_cid:
                return existing.outbox_id
            raise Conflict(f"content hash {p.content_hash} is being registered by another request", token_id=None)
        return None

    def _release(self, hash_hex: str) -> None:
        with self.db.write() as s:
            a = s.scalars(select(Asset).where(Asset.content_hash == hash_hex)).one_or_none()
            if a is not None and a.status == "pending" and a.outbox_id is None:
                s.delete(a)

    def _release_orphans(self, cutoff: Any) -> int:
        """A reservation with no outbox row was made by a request whose process died before it
        signed anything: no transaction exists, so releasing it lets the client's retry
        register the work."""
        with self.db.write() as s:
            orphans = list(s.scalars(select(Asset).where(Asset.status == "pending", Asset.outbox_id.is_(None),
                                                         Asset.created_at < cutoff)))
            for o in orphans:
                s.delete(o)
        return len(orphans)

    # -- sending -------------------------------------------------------------------------------
    def _mint_reserved(self, p: PinnedAsset, owner: str, request_key: str | None, *, batch: bool) -> int:
        resume = self._reserve(p, owner, request_key)
        if resume is not None:
            return self.resume(resume)
        job = _MintJob(owner, p.content_hash, p.metadata_cid)
        try:
            if not (batch and self.batching):
                # alone: the dry run (gas estimate) runs in parallel, outside the send lock
                job.tx = self.outbox.prepare(self.registry.build_mint(owner, p.content_hash, p.metadata_cid))
            entry = self._send(job, batch=batch)
        except ContractRevert as e:
            self._release(p.content_hash)
            raise from_chain(e, "mint", sent=False, content_hash=p.content_hash) from None
        except SimulatedCrash:
            raise
        except ChainError as e:
            with self.db.read() as s:
                a = s.scalars(select(Asset).where(Asset.content_hash == p.content_hash)).one_or_none()
            if a is None or a.outbox_id is None:
                self._release(p.content_hash)
            raise from_chain(e, "mint", sent=False) from None
        except BaseException:
            self._release(p.content_hash)
            raise
        try:
            self.outbox.wait_shared(entry)
        except ContractRevert as e:
            if job.batch_size > 1:
                # the batch reverted as a whole (an item registered on-chain after its dry run):
                # its rows were released; this item goes again on its own
                return self._mint_reserved(p, owner, request_key, batch=False)
            raise from_chain(e, "mint", sent=True) from None
        except ChainError as e:
            raise from_chain(e, "mint", sent=True) from None
        return entry.id

    def resume(self, outbox_id: int) -> int:
        """The same mint (content, owner, metadata) was signed by an earlier request that did not
        see it through (crash, RPC failure): send those bytes again and wait for them."""
        entry = self.outbox.get(outbox_id)
        assert entry is not None
        try:
            if entry.status == "signed":
                with self.outbox.send_lock:
                    self.outbox.broadcast(entry)
            self.outbox.wait_shared(entry)
        except ChainError as e:
            raise from_chain(e, "mint", sent=True) from None
        return outbox_id

    def _send(self, job: _MintJob, *, batch: bool) -> OutboxTx:
        """Sign and send this mint, together with every other mint queued meanwhile: whichever
        request holds the send lock takes the whole queue into one ``mintBatch`` transaction."""
        if not batch or not self.batching:
            with self.outbox.send_lock:
                self._sign([job])
        else:
            with self._queue_lock:
                self.queue.append(job)
            with self.outbox.send_lock:
                while not job.sent.is_set():
                    with self._queue_lock:
                        take, self.queue[:] = self.queue[:MAX_MINT_BATCH], self.queue[MAX_MINT_BATCH:]
                    if take:  # else a leader took this job and is setting `sent`
                        self._sign(take)
        if job.error is not None:
            raise job.error
        assert job.entry is not None
        return job.entry

    def _dry_run(self, jobs: list[_MintJob]) -> tuple[list[_MintJob], dict[str, Any]]:
        """Estimate the group's transaction (its dry run). An item whose hash the chain already
        holds (registered by a claim or voucher) is refused alone and the rest estimated again."""
        while jobs:
            if len(jobs) == 1 and jobs[0].tx:
                return jobs, jobs[0].tx  # prepared by its own request
            build = (self.registry.build_mint(jobs[0].owner, jobs[0].hash_hex, jobs[0].metadata_cid) if len(jobs) == 1
                     else self.registry.build_mint_batch([(j.owner, j.hash_hex, j.metadata_cid) for j in jobs]))
            try:
                return jobs, self.outbox.prepare(build)
            except ContractRevert as e:
                taken = _hash_arg(e) if e.name == "ContentAlreadyRegistered" else None
                refused = [j for j in jobs if j.hash_hex == taken] if len(jobs) > 1 else []
                if not refused:
                    raise
                for j in refused:
                    j.error, j.batch_size = copy_error(e), 1
                    j.sent.set()
                jobs = [j for j in jobs if j.hash_hex != taken]
        return jobs, {}

    def _sign(self, jobs: list[_MintJob]) -> None:
        try:
            jobs, tx = self._dry_run(jobs)
            if not jobs:
                return
            if len(jobs) == 1:
                j = jobs[0]
                intent: dict[str, Any] = {"owner": j.owner, "content_hash": j.hash_hex, "metadata_cid": j.metadata_cid}
            else:
                intent = {"owners": [j.owner for j in jobs], "content_hashes": [j.hash_hex for j in jobs],
                          "metadata_cids": [j.metadata_cid for j in jobs]}
            hashes = [j.hash_hex for j in jobs]

            def link(s: Session, entry: OutboxTx) -> None:
                s.execute(update(Asset).where(Asset.content_hash.in_(hashes)).values(outbox_id=entry.id))

            entry = self.outbox.send("mint", intent, tx, link)
        except BaseException as e:  # every request of the batch hears it
            for j in jobs:
                j.error = e if len(jobs) == 1 else copy_error(e)
                j.batch_size = len(jobs)
                j.sent.set()
            if isinstance(e, SimulatedCrash):
                raise
            return
        for j in jobs:
            j.entry, j.batch_size = entry, len(jobs)
            j.sent.set()

    # -- outbox hooks --------------------------------------------------------------------------
    def _landed(self, s: Session, w: Landed) -> None:
        """Token ids from the receipt's Registered events; statements, not ORM objects: a
        group's rows are written in three statements."""
        by_hash = self.registry.minted_by_content(w.receipt)
        if by_hash:
            # a row of another write still holding one of these ids lost its block to a reorg;
            # the reconciler will find its receipt gone and send it again
            s.execute(update(Asset).where(Asset.token_id.in_(list(by_hash.values())),
                                          or_(Asset.outbox_id != w.outbox_id, Asset.outbox_id.is_(None)))
                      .values(token_id=None, status="pending", final=False))
            s.execute(update(Asset).where(Asset.outbox_id == w.outbox_id).values(token_id=None))
            t: Table = Asset.__table__  # type: ignore[assignment]
            s.connection().execute(update(t).where(t.c.content_hash == bindparam("h")).values(token_id=bindparam("tid")),
                                   [{"h": h, "tid": tid} for h, tid in by_hash.items()])
        s.execute(update(Asset).where(Asset.outbox_id == w.outbox_id)
                  .values(status="minted", tx_hash=w.tx_hash, block_number=w.block_number, final=w.final))

    def _dropped(self, s: Session, outbox_id: int) -> None:
        s.execute(update(Asset).where(Asset.outbox_id == outbox_id)
                  .values(status="pending", token_id=None, block_number=None, final=False))

    def _failed(self, s: Session, outbox_id: int) -> None:
        for a in s.scalars(select(Asset).where(Asset.outbox_id == outbox_id)):
            if s.scalar(select(LogRecord.id).where(LogRecord.key == f"private:{a.content_hash}")) is not None:
                # a mint from the log that will never land: still registered off-chain
                a.status, a.outbox_id, a.token_id, a.tx_hash, a.block_number = "offchain", None, None, None, None
                continue
            s.delete(a)  # the content hash is free to be submitted again


def hash_of(upload_path: str | None, upload_sha256: str | None, size: int | None, media_type: str | None,
             content_hash: str | None, asset_cid: str | None) -> tuple[str, str | None, int | None]:
    """(content hash, media type, size) of an upload or a private registration's hash."""
    if upload_path is not None:
        if upload_sha256 is None or size is None:
            upload_sha256, sniffed, size = hash_upload(upload_path)
            media_type = media_type or sniffed
        elif size == 0:
            raise Unprocessable("file: the asset is empty (0 bytes); an empty file is nobody's asset")
        return upload_sha256, media_type, size
    return private_hash(content_hash, asset_cid), media_type, size


def registered_conflict(hash_hex: str, token_id: int | None, status: str, owner: str) -> Conflict | None:
    """The refusal for a content hash whose asset row says it is registered (minted, or
    off-chain in the log); None while its mint is still pending."""
    if token_id is not None:
        return Conflict(f"content hash {hash_hex} is already registered as token {token_id}", token_id=token_id)
    if status == "offchain":
        return Conflict(f"content hash {hash_hex} is already registered off-chain by {owner} (in the "
                        f"registration log); its owner mints it with POST /v1/assets/{hash_hex}/mint-from-log",
                        token_id=None, registered="offchain")
    return None


def _hash_arg(e: ContractRevert) -> str | None:
    """The bytes32 content hash a ContentAlreadyRegistered revert names, as 0x + lower hex."""
    if not e.args_:
        return None
    a = e.args_[0]
    return "0x" + bytes(a).hex() if isinstance(a, (bytes, bytearray)) else str(a).lower()




