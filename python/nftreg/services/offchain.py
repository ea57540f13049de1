"""Off-chain registration: an asset registered in the registration log without a transaction
(``onchain=false``), and its later mint on-chain with the log proof (``mint-from-log``).

A registration pins the asset as a mint does, then its metadata document and its rows go
through a group commit: whoever holds the commit lock checks every queued registration's content
hash in one SQL read (registered already, or this request's own earlier attempt), adds their
metadata documents in one grouped flush (``ipfs.base.add_many``: one journal commit for many
blocks) and writes their asset rows (status ``offchain``) and private log entries in one
transaction. The
owner mints it later with ``mintWithLogProof`` once an anchored checkpoint covers its entry,
through the outbox as a ``mint`` write (so ``Minting``'s hooks see it land).
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nftreg.chain import Registry
from nftreg.db import Asset, Database, OutboxTx
from nftreg.db.models import utcnow
from nftreg.errors import ChainError, InvalidInputError, IpfsError
from nftreg.ipfs import ContentStore
from nftreg.ipfs.base import add_many
from nftreg.log.entry import EntryKind
from nftreg.services import validate
from nftreg.services.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceError,
    Unavailable,
    Unprocessable,
    from_chain,
)
from nftreg.services.idempotency import fingerprint
from nftreg.services.logfeed import LogFeed
from nftreg.services.minting import (
    Minting,
    describe,
    hash_of,
    private_hash,
    registered_conflict,
)
from nftreg.services.outbox import Outbox, copy_error


class _OffchainJob:
    """One request's off-chain registration waiting for the group commit."""

    __slots__ = ("doc", "done", "error", "replayed", "row")

    def __init__(self, content_hash: str, owner: str, doc: bytes, *, asset_cid: str | None, request_key: str | None,
                 media_type: str | None = None, size: int | None = None):
        # the asset row to write; its metadata CID is set when ``doc`` (the metadata document) is added
        self.row: dict[str, Any] = {
            "content_hash": content_hash, "owner": owner, "asset_cid": asset_cid, "metadata_cid": None,
            "media_type": media_type, "size": size, "status": "offchain", "final": False, "created_at": utcnow(),
            "request_key": request_key}
        self.doc = doc
        self.replayed = False  # this request's earlier attempt wrote the row: nothing to write
        self.done = threading.Event()
        self.error: BaseException | None = None


class OffchainRegistration:
    """Off-chain registrations and their mints from the log; shares ``Minting``'s checks
    (one content hash, one registration; a retried request finds its own earlier attempt)."""

    def __init__(self, db: Database, registry: Registry, store: ContentStore, outbox: Outbox, minting: Minting,
                 logfeed: LogFeed | None):
        self.db, self.registry, self.store, self.outbox = db, registry, store, outbox
        self.minting = minting
        self.logfeed = logfeed
        self._queue: list[_OffchainJob] = []
        self._queue_lock = threading.Lock()
        self._commit_lock = threading.Lock()

    def register(self, *, owner: str, metadata: dict[str, Any], upload_path: str | None = None,
                 content_hash: str | None = None, asset_cid: str | None = None, media_type: str | None = None,
                 size: int | None = None, upload_sha256: str | None = None,
                 request_key: str | None = None) -> tuple[str, dict[str, Any] | None]:
        """Register off-chain: pin the asset (when uploaded) and its metadata as for a mint, then
        record the asset row (status ``offchain``) and its private log entry (kind 2: owner, the
        asset's SHA-256, metadata CID, this registry's chain and contract) in one transaction. No
        transaction is sent; the receipt is the entry's inclusion proof, and the owner can mint
        it later with the log proof once a checkpoint covering it is anchored. The same content
        hash is refused when it is registered either way (one content hash, one registration).
        Returns the content hash and the row written (None when an earlier attempt of this
        request wrote it)."""
        if self.logfeed is None:
            raise Unavailable("off-chain registration needs the registration log")
        owner = validate.address(owner)
        hash_hex, media_type, size = hash_of(upload_path, upload_sha256, size, media_type, content_hash, asset_cid)
        if upload_path is not None:  # checked before the upload is stored (hash-only: by the group commit)
            own = self.minting.own_earlier_attempt(hash_hex, request_key)
            if own is not None and own.status == "offchain":
                return hash_hex, None  # this request's earlier attempt committed: same outcome
            self.minting.refuse_registered(hash_hex)
        try:
            if upload_path is not None:
                asset_cid = self.store.add_file(upload_path)
            doc = describe(metadata, hash_hex, asset_cid, media_type)
        except IpfsError as e:
            raise Unavailable(f"content store: {e}") from None
        except InvalidInputError as e:
            raise Unprocessable(str(e)) from None
        # the metadata document is added by the group commit, with the other queued ones
        job = _OffchainJob(hash_hex, owner, doc, asset_cid=asset_cid, request_key=request_key,
                           media_type=media_type, size=size)
        self._group_commit([job])
        if job.error is not None:
            raise job.error
        return hash_hex, None if job.replayed else job.row

    def register_many(self, items: list[dict[str, Any]], *,
                      request_key: str | None = None) -> list[tuple[str, dict[str, Any] | None] | ServiceError]:
        """Register many hash-only assets off-chain in one call, each as ``register`` would
        (``items``: ``owner``, ``content_hash``, ``metadata`` -- the ERC-721 fields, already
        checked -- and optionally ``asset_cid``, and ``index``, the item's position in the
        client's request, for messages), sharing the work: one SQL read for all the
        registration checks, one group flush for all the metadata blocks, one transaction for
        the rows and log entries (the group commit's). Each item succeeds or is refused on its
        own: the result, in input order, is (content hash, row written or None when an earlier
        attempt of this request wrote it) or the error that refused it (a bad field, a content
        hash registered already or twice in this call). ``request_key``: the request's idempotency key; item
        ``i`` is keyed by it and ``i``, so a retry after a crash finds its own earlier work."""
        if self.logfeed is None:
            raise Unavailable("off-chain registration needs the registration log")
        out: list[tuple[str, dict[str, Any] | None] | ServiceError | None] = [None] * len(items)
        first: dict[str, int] = {}
        jobs: list[tuple[int, _OffchainJob]] = []
        for i, it in enumerate(items):
            try:
                owner = validate.address(it.get("owner"), "owner")
                hash_hex = private_hash(it.get("content_hash"), it.get("asset_cid"))
            except ServiceError as e:
                out[i] = e
                continue
            if hash_hex in first:
                at = (items[first[hash_hex]].get("index", first[hash_hex]), it.get("index", i))
                out[i] = Conflict(f"content hash {hash_hex} is registered twice in this request (items "
                                  f"{at[0]} and {at[1]})", token_id=None)
                continue
            first[hash_hex] = i
            try:
                doc = describe(it["metadata"], hash_hex, it.get("asset_cid"), None)
            except InvalidInputError as e:
                out[i] = Unprocessable(f"metadata: {e}")
                continue
            jobs.append((i, _OffchainJob(hash_hex, owner, doc, asset_cid=it.get("asset_cid"),
                                         request_key=request_key and fingerprint(request_key, i))))
        # checked and flushed here, in parallel with other batches; written by the group commit
        ready = self._prepare([job for _, job in jobs])
        if ready:
            self._group_commit(ready)
        for i, job in jobs:
            err = job.error
            if err is None:
                out[i] = (job.row["content_hash"], None if job.replayed else job.row)
            elif isinstance(err, ServiceError) and err.status < 500:
                out[i] = err
            else:
                raise err
        return [r for r in out if r is not None]

    def mint_from_log(self, hash_hex: str, *, caller: str | None) -> str:
        """Mint an off-chain registration on-chain with its log inclusion proof against the
        newest anchored checkpoint (``mintWithLogProof``, through the outbox as a ``mint``
        write; the token goes to the entry's owner). ``caller``: the signed-in address, which
        must be the owner (None: a minter API key). Returns the content hash."""
        if self.logfeed is None or self.logfeed.log is None:
            raise Unavailable("minting from the log needs the registration log")
        if not hasattr(self.registry, "build_mint_with_log_proof"):
            raise Unavailable("this registry contract cannot mint from a log proof")
        hash_hex = validate.hex32(hash_hex, "asset_id")
        with self.db.read() as s:
            row = s.scalars(select(Asset).where(Asset.content_hash == hash_hex)).one_or_none()
        if row is None:
            raise NotFound(f"no asset with content hash {hash_hex}")
        if caller is not None and caller.lower() != row.owner.lower():
            raise Forbidden(f"only its owner {row.owner} may mint {hash_hex} from the log")
        if row.token_id is not None:
            raise Conflict(f"content hash {hash_hex} is already registered as token {row.token_id}",
                           token_id=row.token_id)
        if row.status != "offchain":
            if row.outbox_id is not None:
                self.minting.resume(row.outbox_id)
                return hash_hex
            raise Conflict(f"content hash {hash_hex} was not registered off-chain", registered="onchain")
        idx = self.logfeed.registration_index(hash_hex)
        if idx is None:
            raise Conflict(f"{hash_hex} is not in a published checkpoint yet; retry in a second", token_id=None)
        anchored = self.logfeed.anchored_size()
        if anchored <= idx:
            raise Conflict(f"log entry {idx} is not covered by an on-chain anchor yet (anchored tree size "
                           f"{anchored}); the log is anchored every NFTREG_LOG_ANCHOR_INTERVAL_S seconds",
                           registered="offchain", log_index=idx, anchored_size=anchored)
        reglog = self.logfeed.log
        reglog.refresh()
        entry = reglog.store.entry(idx)
        proof = reglog.store.inclusion_proof(idx, anchored)
        intent = {"owner": row.owner, "content_hash": hash_hex, "metadata_cid": row.metadata_cid,
                  "log_index": idx, "tree_size": anchored}
        build = getattr(self.registry, "build_mint_with_log_proof")  # noqa: B009 (newer wrapper)
        try:
            tx = self.outbox.prepare(build(entry, idx, anchored, proof))

            def link(s: Session, e: OutboxTx) -> None:
                r: Any = s.execute(update(Asset).where(Asset.content_hash == hash_hex, Asset.status == "offchain")
                                   .values(outbox_id=e.id, status="pending"))
                if not r.rowcount:
                    raise Conflict(f"{hash_hex} is being minted from the log by another request", token_id=None)

            with self.outbox.send_lock:
                sent = self.outbox.send("mint", intent, tx, link)
        except ChainError as e:
            raise from_chain(e, "mint from the log", sent=False, content_hash=hash_hex) from None
        try:
            self.outbox.wait_shared(sent)
        except ChainError as e:
            raise from_chain(e, "mint from the log", sent=True) from None
        return hash_hex

    def _group_commit(self, jobs: list[_OffchainJob]) -> None:
        """Write ``jobs`` with every other queued registration: whoever holds the commit lock
        prepares the queued single registrations together (``_prepare``: one read, one grouped
        flush) and writes them all in one transaction (one fsync for many), the others wait for
        it. Returns when every job of ``jobs`` is done (its ``error`` set or not)."""
        with self._queue_lock:
            self._queue.extend(jobs)
        with self._commit_lock:
            if not all(j.done.is_set() for j in jobs):
                with self._queue_lock:
                    take, self._queue[:] = self._queue[:], []
                # single registrations come unprepared (no metadata CID yet), register_many's prepared
                left = [j for j in take if j.row["metadata_cid"] is not None]
                left += self._prepare([j for j in take if j.row["metadata_cid"] is None])
                if left:
                    self._commit(left)
        for j in jobs:
            j.done.wait()

    def _prepare(self, jobs: list[_OffchainJob]) -> list[_OffchainJob]:
        """Check the content hashes of ``jobs`` (one read) and add the metadata documents of those
        still to write (one grouped flush, which sets their metadata CIDs); returns those, the
        others are done (refused, replayed or failed)."""
        left = self._check_registered(jobs) if jobs else []
        return self._add_documents(left) if left else []

    def _check_registered(self, jobs: list[_OffchainJob]) -> list[_OffchainJob]:
        """One SQL read for the content hashes of ``jobs``: a hash with a row is refused (409),
        unless the row is this request's own earlier attempt (same request key, off-chain),
        which is its outcome. Those jobs are done; returns the others."""
        try:
            with self.db.read() as s:
                have = {r.content_hash: r for r in s.execute(
                    select(Asset.content_hash, Asset.token_id, Asset.status, Asset.owner, Asset.request_key)
                    .where(Asset.content_hash.in_(sorted({j.row["content_hash"] for j in jobs}))))}
        except BaseException as e:  # noqa: BLE001 - every request of the batch hears it
            self._fail(jobs, e)
            return []
        left = []
        for j in jobs:
            h = j.row["content_hash"]
            r = have.get(h)
            if r is None:
                left.append(j)
                continue
            key = j.row["request_key"]
            if key is not None and r.request_key == key and r.status == "offchain":
                j.replayed = True
            else:
                j.error = registered_conflict(h, r.token_id, r.status, r.owner) or Conflict(
                    f"content hash {h} is being registered by another request", token_id=None)
            j.done.set()
        return left

    def _add_documents(self, jobs: list[_OffchainJob]) -> list[_OffchainJob]:
        """Add the metadata documents of ``jobs`` in one grouped flush and put their CIDs in the
        rows; returns the jobs to write (none when the store failed: they are all done)."""
        try:
            cids = add_many(self.store, [j.doc for j in jobs])
        except IpfsError as e:
            self._fail(jobs, Unavailable(f"content store: {e}"))
            return []
        except BaseException as e:  # noqa: BLE001 - every request of the batch hears it
            self._fail(jobs, e)
            return []
        for j, cid in zip(jobs, cids, strict=True):
            j.row["metadata_cid"] = cid
        return jobs

    @staticmethod
    def _fail(jobs: list[_OffchainJob], e: BaseException) -> None:
        """Every job of ``jobs`` is done with ``e`` (each its own copy when there are several)."""
        for j in jobs:
            j.error = e if len(jobs) == 1 else copy_error(e)
            j.done.set()

    def _commit(self, jobs: list[_OffchainJob]) -> None:
        """The asset rows and private log entries of ``jobs`` in one transaction; when that
        conflicts (content registered meanwhile, or twice in the batch), each on its own."""
        assert self.logfeed is not None
        feed = self.logfeed

        def write(s: Session, batch: list[_OffchainJob]) -> None:
            assets: Table = Asset.__table__  # type: ignore[assignment]
            s.execute(insert(assets), [j.row for j in batch])  # Core: none of the ORM's bulk-insert bookkeeping
            # a new asset row has no private entry yet (the content hash is unique): no lookup
            feed.record_many(s, [(f"private:{j.row['content_hash']}", feed.entry(
                EntryKind.PRIVATE, owner=j.row["owner"], content_hash=j.row["content_hash"],
                metadata_cid=j.row["metadata_cid"])) for j in batch], new=True)

        try:
            try:
                with self.db.write() as s:
                    write(s, jobs)
            except IntegrityError:
                if len(jobs) == 1:
                    raise
                for j in jobs:
                    try:
                        with self.db.write() as s:
                            write(s, [j])
                    except IntegrityError:
                        j.error = self._conflict_of(j.row["content_hash"])
                    except BaseException as e:  # noqa: BLE001 - every request of the batch hears it
                        j.error = copy_error(e)
                    j.done.set()
                return
        except IntegrityError:
            jobs[0].error = self._conflict_of(jobs[0].row["content_hash"])
        except BaseException as e:  # noqa: BLE001 - every request of the batch hears it
            self._fail(jobs, e)
            return
        for j in jobs:
            j.done.set()

    def _conflict_of(self, hash_hex: str) -> BaseException:
        try:
            self.minting.refuse_registered(hash_hex)
        except Conflict as e:
            return e
        return Conflict(f"content hash {hash_hex} is being registered by another request", token_id=None)
