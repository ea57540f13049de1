"""Domain operations behind the REST API: mint, batch registration, proofs, verification,
ownership challenges, vouchers, reindex and outbox reconciliation. Routes stay thin; this class
owns the chain, the content store and the database.

Chain writes go through a transactional outbox: the intent, nonce, signed raw transaction and
its hash are committed before the bytes are broadcast. After a crash, ``reconcile()`` looks each
pending row up by hash and rebroadcasts the very same bytes; it never signs again with a new
nonce, so a write can land at most once.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from eth_abi import decode as abi_decode
from sqlalchemy import CursorResult, Table, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from web3 import Web3

from nftreg import _core
from nftreg.chain import Chain, Registry, SignedTx, Voucher
from nftreg.chain.registry import REGISTERED_TOPIC, TRANSFER_TOPIC
from nftreg.cid import content_hash as sha256_of
from nftreg.claims import CLAIM_LEAF_ENCODING, build_claims_tree, read_claims, read_claims_text
from nftreg.db import Asset, Batch, ChainCursor, Database, OutboxTx, OwnershipChallenge, upgrade
from nftreg.db.models import utcnow
from nftreg.errors import ChainError, ContractRevert, InvalidInputError, IpfsError
from nftreg.ipfs import ContentStore, open_store
from nftreg.merkle import ProofStream, StandardMerkleTree, verify_many
from nftreg.metadata import canonical_json
from nftreg.services.auth import aware
from nftreg.services.errors import Conflict, NotFound, Unavailable, Unprocessable
from nftreg.settings import Settings
from nftreg.signatures import personal_sign_digest, recover_addresses
from nftreg.signatures.schemes import verify_items

__all__ = ["RegistryService"]

log = logging.getLogger("nftreg.service")

_INT64, _INT32 = 2**63, 2**31


def _hex32(v: str, what: str) -> str:
    s = v.lower()
    if not s.startswith("0x") or len(s) != 66:
        raise Unprocessable(f"{what}: expected 0x followed by 64 hex digits")
    try:
        bytes.fromhex(s[2:])
    except ValueError:
        raise Unprocessable(f"{what}: not hex") from None
    return s


def _address(v: str, what: str = "owner") -> str:
    if not isinstance(v, str) or not Web3.is_address(v):
        raise Unprocessable(f"{what}: not an Ethereum address")
    body = v[2:] if v[:2] in ("0x", "0X") else v
    if body != body.lower() and body != body.upper() and not Web3.is_checksum_address(v):
        raise Unprocessable(f"{what}: mixed-case address with a wrong EIP-55 checksum (a typo?)")
    return Web3.to_checksum_address(v)


def _cid(v: str, what: str) -> str:
    try:
        _core.cid_info(v)
    except (ValueError, TypeError):
        raise Unprocessable(f"{what}: not a valid CID") from None
    return v


def asset_view(a: Asset) -> dict[str, Any]:
    return {"token_id": a.token_id, "owner": a.owner, "content_hash": a.content_hash, "asset_cid": a.asset_cid,
            "metadata_cid": a.metadata_cid, "token_uri": f"ipfs://{a.metadata_cid}", "media_type": a.media_type,
            "size": a.size, "status": a.status, "final": bool(a.final), "tx_hash": a.tx_hash,
            "block_number": a.block_number}


class RegistryService:
    def __init__(self, settings: Settings, *, chain: Chain | None = None, store: ContentStore | None = None,
                 db: Database | None = None):
        self.settings = settings
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        self.db = db or Database(settings.db_url)
        upgrade(self.db)
        self._own_chain = chain is None
        self.chain = chain or Chain.connect(settings.rpc_url, private_key=settings.private_key,
                                            data_dir=settings.data_dir, rpc_timeout=settings.rpc_timeout_s)
        if settings.registry_address:
            self.registry = Registry.at(self.chain, settings.registry_address)
        else:
            self.registry = Registry.deploy_once(self.chain, Path(settings.data_dir) / "registry.json")
        self.store = store or open_store(api=settings.ipfs_api, data_dir=settings.data_dir,
                                         profile=settings.ipfs_profile)
        # nonce order must equal broadcast order, and the in-process EVM is not thread-safe
        self._send_lock = threading.RLock()
        self._io: AbstractContextManager[Any] = self._send_lock if self.chain.kind == "tester" else nullcontext()
        self._reconcile_lock = threading.Lock()
        devnet = self.chain.is_devnet
        self._finality_depth = settings.finality_depth or (1 if devnet else 12)
        self._finality_age_s = (settings.finality_age_s if settings.finality_age_s is not None
                                else 5.0 if devnet and self.chain.kind != "tester" else 0.0)
        self._bg: threading.Thread | None = None
        self.reconcile_totals: Counter[str] = Counter()  # outcomes since start, for /metrics and tests
        self.sync_totals: Counter[str] = Counter()  # index changes made by following contract events
        self._sync_lock = threading.Lock()
        self._stop = threading.Event()
        self._fees: tuple[float, dict[str, int]] | None = None
        self._trees: OrderedDict[int, StandardMerkleTree] = OrderedDict()
        self._trees_lock = threading.Lock()
        self._mint_q: list[_MintJob] = []
        self._mint_q_lock = threading.Lock()
        self._waiters: dict[int, _Waiter] = {}
        self._waiters_lock = threading.Lock()
        self._batching = settings.mint_batch and self.chain.kind != "tester" and self.registry.supports_mint_batch
        self._started_at = utcnow()
        if settings.shared_database:
            from nftreg.services import idempotency

            idempotency.SHARED_DATABASE = True
        self.reconcile()

    def close(self) -> None:
        self._stop.set()
        if self._bg is not None:
            self._bg.join(timeout=30)
        self.db.dispose()
        if self._own_chain:
            self.chain.close()

    # -- outbox ------------------------------------------------------------------------------
    @contextmanager
    def _rpc(self, what: str) -> Iterator[None]:
        """Serialise access to the in-process EVM and turn transport failures (requests'
        errors are OSErrors) into ChainError, which the API reports as 503."""
        with self._io:
            try:
                yield
            except ChainError:
                raise
            except OSError as e:
                raise ChainError(f"RPC unreachable ({what}): {e}") from None

    def _failpoint(self, point: str) -> None:
        """Fault injection for the test suite, honoured only with NFTREG_ENV=test: when
        NFTREG_TEST_CRASH_AT names this point (e.g. ``mint:after_sign``) the process dies here
        as under ``kill -9`` (or raises _SimulatedCrash with NFTREG_TEST_CRASH_MODE=raise)."""
        if self.settings.env != "test" or os.environ.get("NFTREG_TEST_CRASH_AT") != point:
            return
        if os.environ.get("NFTREG_TEST_CRASH_MODE") == "raise":
            raise _SimulatedCrash(point)
        os._exit(137)

    def _prepare(self, tx: dict[str, Any]) -> dict[str, Any]:
        """Gas and fees, outside the send lock: they do not depend on the nonce, and the
        estimate doubles as a dry run (ContentAlreadyRegistered surfaces here)."""
        with self._rpc("gas and fees"):
            gas = int(self.chain.estimate_gas(tx) * 1.25) + 20_000
            now = time.monotonic()
            if self._fees is None or now - self._fees[0] > 2.0:
                base = self.chain.w3.eth.get_block("latest").get("baseFeePerGas")
                # 2x base fee + tip survives several full blocks of base-fee growth
                fees = ({"maxPriorityFeePerGas": 10**9, "maxFeePerGas": int(base) * 2 + 10**9} if base is not None
                        else {"gasPrice": int(self.chain.w3.eth.gas_price)})
                self._fees = (now, fees)
        return {**tx, "to": tx["to"], "data": tx["data"], "value": 0, "chainId": self.chain.chain_id, "gas": gas,
                **self._fees[1]}

    def _nonce(self) -> int:
        """The next nonce: past both the chain's pending count and every nonce the outbox has
        ever signed. A signed row whose bytes have not reached the node yet keeps its nonce
        (the reconciler delivers it), so a failed broadcast never leads to a second nonce for
        one write, and the outbox's unique (chain, sender, nonce) makes replicas that share
        the database take turns instead of colliding."""
        with self._rpc("nonce"):
            pending = self.chain.pending_nonce()
        with self.db.read() as s:
            top = s.scalar(select(func.max(OutboxTx.nonce)).where(OutboxTx.chain_id == self.chain.chain_id,
                                                                 OutboxTx.sender == self.chain.address))
        return max(pending, -1 if top is None else int(top) + 1)

    def _sign_and_record(self, kind: str, intent: dict[str, Any], tx: dict[str, Any], link: Any) -> OutboxTx:
        """Sign, commit the outbox row, then broadcast. Called under the send lock."""
        if "gas" not in tx:
            tx = self._prepare(tx)
        self._failpoint(f"{kind}:before_sign")
        for attempt in range(8):
            nonce = self._nonce()
            signed = self.chain.signer.account.sign_transaction({**tx, "nonce": nonce})
            ob = OutboxTx(kind=kind, intent=json.dumps(intent), chain_id=self.chain.chain_id,
                          sender=self.chain.address, nonce=nonce, raw_tx=bytes(signed.raw_transaction),
                          tx_hash="0x" + bytes(signed.hash).hex(), status="signed")
            try:
                with self.db.write() as s:
                    s.add(ob)
                    s.flush()
                    link(s, ob)
                break
            except IntegrityError as e:
                # another replica signed this nonce first: its row is committed, take the next
                if attempt == 7 or "nonce" not in str(e.orig).lower():
                    raise
        self._failpoint(f"{kind}:after_sign")
        self._broadcast(ob)
        self._failpoint(f"{kind}:after_broadcast")
        return ob

    def _broadcast(self, ob: OutboxTx, *, attempts: int = 3) -> None:
        """Send the row's raw bytes; on a transport failure retry the very same bytes. The row
        stays 'signed' either way: 'signed' means "look it up by hash, else send again"."""
        for i in range(attempts):
            try:
                with self._io:
                    self.chain.broadcast(SignedTx(ob.raw_tx, ob.tx_hash, ob.nonce, ob.sender))
                return
            except ContractRevert:
                raise
            except ChainError as e:
                if "already used by another transaction" in str(e):
                    self._fail(ob.id, str(e))
                    raise
                if i == attempts - 1 or "unreachable" not in str(e):
                    raise
                time.sleep(0.25 * 2**i)

    def _fail(self, outbox_id: int, error: str) -> None:
        with self.db.write() as s:
            ob = s.get(OutboxTx, outbox_id)
            if ob is None:
                return
            ob.status, ob.error, ob.updated_at = "failed", error, utcnow()
            # release the content hash / root so the work can be submitted again
            for a in s.scalars(select(Asset).where(Asset.outbox_id == outbox_id)):
                s.delete(a)
            for b in s.scalars(select(Batch).where(Batch.outbox_id == outbox_id)):
                s.delete(b)

    def _is_final(self, block: int, mined_at: Any, head: int) -> bool:
        return (head - block + 1 >= self._finality_depth
                and (utcnow() - aware(mined_at)).total_seconds() >= self._finality_age_s)

    def _finalize(self, outbox_id: int, receipt: dict[str, Any], head: int | None = None) -> None:
        """Record the block a write landed in (again, after a reorg moved it)."""
        by_hash = self.registry.minted_by_content(receipt)
        tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
        block = int(receipt["blockNumber"])
        block_hash = "0x" + bytes(receipt["blockHash"]).hex()
        with self.db.write() as s:
            ob = s.get(OutboxTx, outbox_id)
            assert ob is not None
            if ob.mined_at is None or ob.block_hash != block_hash:
                ob.mined_at = utcnow()
            final = self._is_final(block, ob.mined_at, block if head is None else max(head, block))
            ob.status = "final" if final else "confirmed"
            ob.block_number, ob.block_hash, ob.updated_at = block, block_hash, utcnow()
            if ob.kind == "mint":
                # statements, not ORM objects: a group's rows are written in three statements
                if by_hash:
                    # a row of another write still holding one of these ids lost its block to a
                    # reorg; the reconciler will find its receipt gone and send it again
                    s.execute(update(Asset).where(Asset.token_id.in_(list(by_hash.values())),
                                                  or_(Asset.outbox_id != outbox_id, Asset.outbox_id.is_(None)))
                              .values(token_id=None, status="pending", final=False))
                    s.execute(update(Asset).where(Asset.outbox_id == outbox_id).values(token_id=None))
                    t = cast(Table, Asset.__table__)
                    s.connection().execute(update(t).where(t.c.content_hash == bindparam("ch"))
                                           .values(token_id=bindparam("tid")),
                                           [{"ch": ch, "tid": tid} for ch, tid in by_hash.items()])
                s.execute(update(Asset).where(Asset.outbox_id == outbox_id)
                          .values(status="minted", tx_hash=tx_hash, block_number=block, final=final))
            else:
                for b in s.scalars(select(Batch).where(Batch.outbox_id == outbox_id)):
                    b.status, b.tx_hash, b.block_number, b.final = "anchored", tx_hash, block, final

    def _demote(self, outbox_id: int) -> None:
        """The block that held this write is gone (reorg, devnet restart): back to 'signed' so it
        is sent again with the same bytes; nothing about it is shown as minted meanwhile."""
        with self.db.write() as s:
            ob = s.get(OutboxTx, outbox_id)
            assert ob is not None
            ob.status, ob.block_number, ob.block_hash, ob.mined_at, ob.updated_at = "signed", None, None, None, utcnow()
            for a in s.scalars(select(Asset).where(Asset.outbox_id == outbox_id)):
                a.status, a.token_id, a.block_number, a.final = "pending", None, None, False
            for b in s.scalars(select(Batch).where(Batch.outbox_id == outbox_id)):
                b.status, b.block_number, b.final = "pending", None, False

    def _await(self, ob: OutboxTx) -> dict[str, Any]:
        try:
            with self._io:
                receipt = self.chain.wait_receipt(ob.tx_hash, timeout=self.settings.tx_timeout_s)
        except ContractRevert as e:
            self._fail(ob.id, str(e))
            raise
        self._failpoint(f"{ob.kind}:after_receipt")
        self._finalize(ob.id, receipt)
        return receipt

    def reconcile(self, *, wait: bool = True) -> dict[str, int]:
        """One pass over every write that is not final yet: a signed one is looked up by hash and
        otherwise sent again with the same raw bytes; a confirmed one whose receipt vanished
        (reorg, devnet restart) goes back to signed and is sent again; one deep and old enough
        becomes final. With ``wait`` (start-up) the pass waits for receipts of what it sent.
        Returns counts by outcome."""
        counts = {"confirmed": 0, "failed": 0, "pending": 0, "released": 0, "reorged": 0, "final": 0}
        with self._reconcile_lock:
            # A reservation with no outbox row was made by a request whose process died before
            # it signed anything: no transaction exists, so releasing it lets the client's retry
            # register the work. Only rows older than this process are touched.
            with self.db.write() as s:
                for model in (Asset, Batch):
                    orphans = list(s.scalars(select(model).where(model.status == "pending", model.outbox_id.is_(None),
                                                                 model.created_at < self._orphan_cutoff())))
                    for o in orphans:
                        s.delete(o)
                    counts["released"] += len(orphans)
            with self.db.read() as s:
                rows = list(s.scalars(select(OutboxTx).where(OutboxTx.status.in_(("signed", "sent", "confirmed")),
                                                             OutboxTx.chain_id == self.chain.chain_id)
                                      .order_by(OutboxTx.nonce)))
            if not rows:
                return counts
            try:
                with self._rpc("head"):
                    head = self.chain.block_number()
            except ChainError:
                counts["pending"] = len(rows)
                return counts
            now = utcnow()
            if not wait:
                rows = [ob for ob in rows if not self._leave_for_now(ob, now)]
            try:
                with self._rpc("receipts"):
                    receipts = self.chain.receipts([ob.tx_hash for ob in rows])  # one round trip per 200
            except ChainError:
                counts["pending"] = len(rows)
                return counts
            for ob, receipt in zip(rows, receipts):
                try:
                    outcome = self._reconcile_one(ob, head, wait=wait, receipt=receipt)
                except ContractRevert:
                    outcome = "failed"
                except ChainError:
                    outcome = "pending"
                if outcome:
                    counts[outcome] += 1
                    self.reconcile_totals[outcome] += 1
        return counts

    def _orphan_cutoff(self) -> Any:
        """Reservations made before this moment with nothing signed belong to a dead request.
        Alone on its database that is anything older than this process; when other server
        processes share the database, only what is older than ``shared_stale_s``."""
        if self.settings.shared_database:
            return min(utcnow() - timedelta(seconds=self.settings.shared_stale_s), self._started_at)
        return self._started_at

    def _leave_for_now(self, ob: OutboxTx, now: Any) -> bool:
        """In the background pass, skip a write that a request of this process signed a moment
        ago: that request is sending it and waiting for its receipt."""
        if ob.status == "signed":
            return aware(ob.created_at) > aware(self._started_at) and (now - aware(ob.created_at)).total_seconds() < 2
        return False

    def _reconcile_one(self, ob: OutboxTx, head: int, *, wait: bool, receipt: dict[str, Any] | None) -> str | None:
        outcome = None
        if receipt is None:
            if ob.status == "confirmed":
                self._demote(ob.id)
                outcome = "reorged"
            with self._send_lock:
                self._broadcast(ob, attempts=1)
            if not wait:
                return outcome or "pending"
            self._await(ob)
            return outcome or "confirmed"
        if receipt.get("status") != 1:
            self._fail(ob.id, "transaction reverted")
            return "failed"
        block_hash = "0x" + bytes(receipt["blockHash"]).hex()
        if ob.status != "confirmed" or ob.block_hash != block_hash:
            self._finalize(ob.id, receipt, head)
            return "confirmed"
        if ob.mined_at is not None and self._is_final(int(receipt["blockNumber"]), ob.mined_at, head):
            self._finalize(ob.id, receipt, head)
            return "final"
        return None

    def start_background(self) -> None:
        """Run ``reconcile(wait=False)`` every ``reconcile_interval_s`` in a daemon thread, so
        writes whose broadcast failed, or whose block a reorg dropped, are finished without a
        restart. Idempotent."""
        if self.settings.reconcile_interval_s <= 0 or self._bg is not None:
            return

        lock_fd = os.open(Path(self.settings.data_dir) / "background.lock", os.O_RDWR | os.O_CREAT, 0o600)

        def loop() -> None:
            while not self._stop.wait(self.settings.reconcile_interval_s):
                try:  # one process at a time (a server with several workers shares the data dir)
                    fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                try:
                    try:
                        self.reconcile(wait=False)
                    except Exception:
                        log.exception("background reconcile pass failed")
                    try:
                        self.sync_events()
                    except Exception:
                        log.exception("background event sync failed")
                finally:
                    fcntl.flock(lock_fd, fcntl.LOCK_UN)
            os.close(lock_fd)

        self._bg = threading.Thread(target=loop, name="nftreg-reconcile", daemon=True)
        self._bg.start()

    # -- assets ------------------------------------------------------------------------------
    def mint(self, *, owner: str, metadata: dict[str, Any], upload_path: str | None = None,
             content_hash: str | None = None, asset_cid: str | None = None, media_type: str | None = None,
             size: int | None = None, upload_sha256: str | None = None) -> dict[str, Any]:
        """Pin the asset (when uploaded) and its metadata, then mint to ``owner``.
        ``upload_sha256``: the upload's 0x SHA-256 when the caller hashed it while receiving."""
        owner = _address(owner)
        if upload_path is not None:
            ch = upload_sha256 or "0x" + sha256_of(upload_path).hex()
        else:
            if content_hash is None:
                raise Unprocessable("send the asset file, or its content_hash for a private registration")
            ch = _hex32(content_hash, "content_hash")
            if asset_cid is not None:
                _cid(asset_cid, "asset_cid")
        self._refuse_registered(ch)  # before anything is pinned for a mint that cannot happen
        try:
            if upload_path is not None:
                asset_cid = self.store.add_file(upload_path)
            meta = dict(metadata)
            meta.setdefault("properties", {})
            if isinstance(meta["properties"], dict):
                meta["properties"] = {**meta["properties"], "content_hash": ch}
            if asset_cid and "image" not in meta and (media_type or "").startswith("image/"):
                meta["image"] = f"ipfs://{asset_cid}"
            metadata_cid = self.store.add_bytes(canonical_json(meta))
        except IpfsError as e:
            raise Unavailable(f"content store: {e}") from None
        except InvalidInputError as e:
            raise Unprocessable(str(e)) from None

        return self._mint_reserved(ch, owner, asset_cid, metadata_cid, media_type, size, batch=True)

    def _mint_reserved(self, ch: str, owner: str, asset_cid: str | None, metadata_cid: str, media_type: str | None,
                       size: int | None, *, batch: bool) -> dict[str, Any]:
        resume = self._reserve_asset(ch, owner, asset_cid, metadata_cid, media_type, size)
        if resume is not None:
            return self._resume_mint(ch, resume)
        job = _MintJob(owner, ch, metadata_cid)
        try:
            if not (batch and self._batching):
                # alone: the dry run (gas estimate) runs in parallel, outside the send lock
                job.tx = self._prepare(self.registry.build_mint(owner, ch, metadata_cid))
            ob = self._send_mint(job, batch=batch)
        except ContractRevert as e:
            self._release_asset(ch)
            if e.name == "ContentAlreadyRegistered":
                raise Conflict(f"content hash {ch} is already registered on-chain as token {e.args_[1]}",
                               token_id=int(e.args_[1])) from None
            raise Unprocessable(f"the registry contract refused the mint: {e}") from None
        except _SimulatedCrash:
            raise
        except ChainError as e:
            with self.db.read() as s:
                a = s.scalars(select(Asset).where(Asset.content_hash == ch)).one_or_none()
            if a is None or a.outbox_id is None:
                self._release_asset(ch)
            raise Unavailable(f"chain: {e}") from None
        except BaseException:
            self._release_asset(ch)
            raise
        try:
            self._await_shared(ob)
        except ContractRevert as e:
            if job.batch_size > 1:
                # the batch reverted as a whole (an item registered on-chain after its dry run):
                # its rows were released; this item goes again on its own
                return self._mint_reserved(ch, owner, asset_cid, metadata_cid, media_type, size, batch=False)
            raise Unprocessable(f"the registry contract reverted the mint: {e}") from None
        except ChainError as e:
            raise Unavailable(f"chain: {e}; the signed transaction is kept and will be reconciled") from None
        return self.get_asset_by_hash(ch, fresh=False)

    # -- group commit ------------------------------------------------------------------------
    def _send_mint(self, job: _MintJob, *, batch: bool) -> OutboxTx:
        """Sign and send this mint, together with every other mint queued meanwhile (leader/
        follower group commit): whichever request holds the send lock takes the whole queue
        into one ``mintBatch`` transaction and one outbox row, so N concurrent mints cost one
        nonce, one signature, one outbox commit, one broadcast and one receipt."""
        if not batch or not self._batching:
            with self._send_lock:
                self._sign_mints([job])
        else:
            with self._mint_q_lock:
                self._mint_q.append(job)
            with self._send_lock:
                while not job.sent.is_set():
                    with self._mint_q_lock:
                        take, self._mint_q[:] = self._mint_q[:MAX_MINT_BATCH], self._mint_q[MAX_MINT_BATCH:]
                    if take:  # else a leader took this job and is setting `sent`
                        self._sign_mints(take)
        if job.error is not None:
            raise job.error
        assert job.ob is not None
        return job.ob

    def _dry_run(self, jobs: list[_MintJob]) -> tuple[list[_MintJob], dict[str, Any]]:
        """Estimate the group's transaction (its dry run). An item whose hash the chain already
        holds (registered by a claim or voucher) is refused alone and the rest estimated again."""
        while jobs:
            if len(jobs) == 1 and jobs[0].tx:
                return jobs, jobs[0].tx  # prepared by its own request
            build = (self.registry.build_mint(jobs[0].owner, jobs[0].ch, jobs[0].metadata_cid) if len(jobs) == 1
                     else self.registry.build_mint_batch([(j.owner, j.ch, j.metadata_cid) for j in jobs]))
            try:
                return jobs, self._prepare(build)
            except ContractRevert as e:
                taken = _hash_arg(e) if e.name == "ContentAlreadyRegistered" else None
                refused = [j for j in jobs if j.ch == taken] if len(jobs) > 1 else []
                if not refused:
                    raise
                for j in refused:
                    j.error, j.batch_size = _copy_error(e), 1
                    j.sent.set()
                jobs = [j for j in jobs if j.ch != taken]
        return jobs, {}

    def _sign_mints(self, jobs: list[_MintJob]) -> None:
        try:
            jobs, tx = self._dry_run(jobs)
            if not jobs:
                return
            if len(jobs) == 1:
                j = jobs[0]
                intent: dict[str, Any] = {"owner": j.owner, "content_hash": j.ch, "metadata_cid": j.metadata_cid}
            else:
                intent = {"owners": [j.owner for j in jobs], "content_hashes": [j.ch for j in jobs],
                          "metadata_cids": [j.metadata_cid for j in jobs]}
            hashes = [j.ch for j in jobs]

            def link(s: Any, ob: OutboxTx) -> None:
                s.execute(update(Asset).where(Asset.content_hash.in_(hashes)).values(outbox_id=ob.id))

            ob = self._sign_and_record("mint", intent, tx, link)
        except BaseException as e:  # every request of the batch hears it
            for j in jobs:
                j.error = e if len(jobs) == 1 else _copy_error(e)
                j.batch_size = len(jobs)
                j.sent.set()
            if isinstance(e, _SimulatedCrash):
                raise
            return
        for j in jobs:
            j.ob, j.batch_size = ob, len(jobs)
            j.sent.set()

    def _await_shared(self, ob: OutboxTx) -> None:
        """Wait for a write's receipt once per write, however many requests share it: the first
        waiter reads and records it, the others wait for that."""
        with self._waiters_lock:
            w = self._waiters.get(ob.id)
            first = w is None
            if first:
                w = self._waiters[ob.id] = _Waiter()
        assert w is not None
        if first:
            try:
                self._await(ob)
            except BaseException as e:
                w.error = e
                raise
            finally:
                with self._waiters_lock:
                    self._waiters.pop(ob.id, None)
                w.done.set()
            return
        if not w.done.wait(self.settings.tx_timeout_s + 5):
            raise ChainError(f"no receipt for {ob.tx_hash} within {self.settings.tx_timeout_s} s")
        if w.error is not None:
            raise _copy_error(w.error)

    def _refuse_registered(self, ch: str) -> None:
        with self.db.read() as s:
            tid = s.scalar(select(Asset.token_id).where(Asset.content_hash == ch))
        if tid is not None:
            raise Conflict(f"content hash {ch} is already registered as token {tid}", token_id=tid)

    def _resume_mint(self, ch: str, outbox_id: int) -> dict[str, Any]:
        """The same mint (content, owner, metadata) was signed by an earlier request that did not
        see it through (crash, RPC failure): send those bytes again and wait for them."""
        with self.db.read() as s:
            ob = s.get(OutboxTx, outbox_id)
        assert ob is not None
        try:
            if ob.status == "signed":
                with self._send_lock:
                    self._broadcast(ob)
            self._await_shared(ob)
        except ContractRevert as e:
            raise Unprocessable(f"the registry contract reverted the mint: {e}") from None
        except ChainError as e:
            raise Unavailable(f"chain: {e}; the signed transaction is kept and will be reconciled") from None
        return self.get_asset_by_hash(ch, fresh=False)

    def _reserve_asset(self, ch: str, owner: str, asset_cid: str | None, metadata_cid: str,
                       media_type: str | None, size: int | None) -> int | None:
        """Claim the content hash for this request. Returns None when claimed, or the outbox id
        of an identical mint that is signed but not yet in a block (to be resumed)."""
        existing = None
        try:
            with self.db.write() as s:  # one INSERT; the unique content hash decides
                s.execute(insert(Asset).values(content_hash=ch, owner=owner, asset_cid=asset_cid,
                                               metadata_cid=metadata_cid, media_type=media_type, size=size,
                                               status="pending", final=False, created_at=utcnow()))
        except IntegrityError:
            with self.db.read() as s:
                existing = s.scalars(select(Asset).where(Asset.content_hash == ch)).one_or_none()
            if existing is None:  # released in between: the retry of the client finds it free
                raise Conflict(f"content hash {ch} is being registered by another request; retry",
                               token_id=None) from None
        if existing is not None:
            if existing.token_id is not None:
                raise Conflict(f"content hash {ch} is already registered as token {existing.token_id}",
                               token_id=existing.token_id)
            if (existing.outbox_id is not None and existing.owner == owner
                    and existing.metadata_cid == metadata_cid):
                return existing.outbox_id
            raise Conflict(f"content hash {ch} is being registered by another request", token_id=None)
        return None

    def _release_asset(self, ch: str) -> None:
        with self.db.write() as s:
            a = s.scalars(select(Asset).where(Asset.content_hash == ch)).one_or_none()
            if a is not None and a.status == "pending" and a.outbox_id is None:
                s.delete(a)

    def _recheck(self, a: Asset) -> bool:
        """A minted but not yet final row is checked against the chain before it is shown, so
        a mint whose block a reorg or devnet restart dropped reads as pending at once."""
        if a.status != "minted" or a.final or a.outbox_id is None:
            return False
        with self.db.read() as s:
            ob = s.get(OutboxTx, a.outbox_id)
        if ob is None or ob.status not in ("confirmed", "signed"):
            return False
        try:
            with self._rpc("head"):
                head = self.chain.block_number()
                receipt = self.chain.receipt(ob.tx_hash)
            outcome = self._reconcile_one(ob, head, wait=False, receipt=receipt)
            if outcome:
                self.reconcile_totals[outcome] += 1
        except ChainError:
            pass  # shown as last known; the background pass retries
        return True

    def _asset_where(self, cond: Any, missing: str, fresh: bool) -> dict[str, Any]:
        for _ in range(2):
            with self.db.read() as s:
                a = s.scalars(select(Asset).where(cond)).one_or_none()
            if a is None:
                raise NotFound(missing)
            if not (fresh and self._recheck(a)):
                break
            fresh = False
        return asset_view(a)

    def get_asset_by_hash(self, ch: str, *, fresh: bool = True) -> dict[str, Any]:
        return self._asset_where(Asset.content_hash == ch, f"no asset with content hash {ch}", fresh)

    def get_asset(self, token_id: int) -> dict[str, Any]:
        if not 0 <= token_id < _INT64:  # the index's column is 64-bit; nftreg's ids are sequential
            raise NotFound(f"no token {token_id} in the index")
        return self._asset_where(Asset.token_id == token_id, f"no token {token_id} in the index", True)

    def list_assets(self, *, owner: str | None, content_hash: str | None, after: int, limit: int) -> list[dict[str, Any]]:
        q = select(Asset).where(Asset.status == "minted", Asset.token_id > max(-1, min(after, _INT64 - 1)))
        if owner:
            q = q.where(Asset.owner == _address(owner))
        if content_hash:
            q = q.where(Asset.content_hash == _hex32(content_hash, "content_hash"))
        with self.db.read() as s:
            return [asset_view(a) for a in s.scalars(q.order_by(Asset.token_id).limit(limit))]

    # -- batches -----------------------------------------------------------------------------
    def create_batch(self, text: str, fmt: str) -> dict[str, Any]:
        try:
            return self._create_batch(read_claims_text(text, fmt=fmt))
        except InvalidInputError as e:
            raise Unprocessable(str(e)) from None

    def create_batch_file(self, path: str, fmt: str) -> dict[str, Any]:
        """Claims from a CSV / JSON-lines file, read as a stream."""
        try:
            with open(path, encoding="utf-8", newline="") as f:
                parsed = read_claims(f, fmt=fmt)
        except UnicodeDecodeError:
            raise Unprocessable("claims must be UTF-8 text") from None
        except InvalidInputError as e:
            raise Unprocessable(str(e)) from None
        return self._create_batch(parsed)

    def _create_batch(self, parsed: Any) -> dict[str, Any]:
        if parsed.errors:
            raise Unprocessable(f"{len(parsed.errors)} claim line(s) are invalid; nothing was registered",
                                errors=[e.to_dict() for e in parsed.errors[:1000]])
        if not parsed.claims:
            raise Unprocessable("the batch has no claims")
        if len(parsed.claims) > self.settings.max_batch_claims:
            raise Unprocessable(f"a batch holds at most {self.settings.max_batch_claims} claims")
        tree = build_claims_tree(parsed.claims)
        dump = json.dumps(tree.dump(), separators=(",", ":"), sort_keys=True).encode()
        try:
            tree_cid = self.store.add_bytes(dump)
        except IpfsError as e:
            raise Unavailable(f"content store: {e}") from None
        root = tree.root
        try:
            with self.db.write() as s:
                b = Batch(root=root, tree_cid=tree_cid, size=len(tree), status="pending")
                s.add(b)
                s.flush()
                batch_id = b.id
        except IntegrityError:
            with self.db.read() as s:
                old = s.scalars(select(Batch).where(Batch.root == root)).one()
            raise Conflict(f"a batch with root {root} already exists (id {old.id})", batch_id=old.id) from None

        def link(s: Any, ob: OutboxTx) -> None:
            s.get(Batch, batch_id).outbox_id = ob.id
        try:
            with self._send_lock:
                ob = self._sign_and_record("anchor", {"root": root, "tree_cid": tree_cid},
                                           self.registry.build_anchor(root, tree_cid), link)
        except ContractRevert as e:
            with self.db.write() as s:
                s.delete(s.get(Batch, batch_id))
            raise Conflict(f"the registry refused the anchor: {e}") from None
        except ChainError as e:
            raise Unavailable(f"chain: {e}") from None
        try:
            self._await(ob)
        except ChainError as e:
            raise Unavailable(f"chain: {e}; the anchor will be reconciled") from None
        with self._trees_lock:
            self._trees[batch_id] = tree
        return self.get_batch(batch_id)

    def get_batch(self, batch_id: int) -> dict[str, Any]:
        if not 0 < batch_id < _INT32:
            raise NotFound(f"no batch {batch_id}")
        with self.db.read() as s:
            b = s.get(Batch, batch_id)
        if b is None:
            raise NotFound(f"no batch {batch_id}")
        return {"id": b.id, "root": b.root, "tree_cid": b.tree_cid, "size": b.size, "status": b.status,
                "final": bool(b.final), "tx_hash": b.tx_hash, "block_number": b.block_number,
                "leaf_encoding": CLAIM_LEAF_ENCODING}

    def _tree(self, batch_id: int) -> StandardMerkleTree:
        with self._trees_lock:
            t = self._trees.get(batch_id)
            if t is not None:
                self._trees.move_to_end(batch_id)
                return t
        info = self.get_batch(batch_id)
        tree = StandardMerkleTree.load(json.loads(self.store.cat(info["tree_cid"])))
        with self._trees_lock:
            self._trees[batch_id] = tree
            while len(self._trees) > 8:
                self._trees.popitem(last=False)
        return tree

    def batch_proofs(self, batch_id: int, index_or_owner: str) -> dict[str, Any]:
        info = self.get_batch(batch_id)
        tree = self._tree(batch_id)
        if index_or_owner.isdigit():
            i = int(index_or_owner)
            if i >= len(tree):
                raise NotFound(f"batch {batch_id} has {len(tree)} claims; index {i} is out of range")
            indices = [i]
        else:
            owner = _address(index_or_owner, "index_or_owner")
            indices = [i for i, v in tree.entries() if Web3.to_checksum_address(v[0]) == owner]
            if not indices:
                raise NotFound(f"batch {batch_id} has no claim for {owner}")
        return {"batch_id": batch_id, "root": info["root"], "leaf_encoding": CLAIM_LEAF_ENCODING,
                "proofs": [{"index": i, "value": list(tree.at(i)), "leaf": tree.leaf_hash(tree.at(i)),
                            "proof": tree.get_proof(i)} for i in indices[:1000]]}

    # -- verification ------------------------------------------------------------------------
    def verify_proofs(self, root: str, leaf_encoding: list[str], values: list[Any], proofs: list[Any]) -> list[bool]:
        _hex32(root, "root")
        if len(values) > self.settings.max_verify_items:
            raise Unprocessable(f"at most {self.settings.max_verify_items} items per request")
        try:
            return verify_many(root, leaf_encoding, values, proofs)
        except InvalidInputError as e:
            raise Unprocessable(str(e)) from None

    def proof_stream(self) -> ProofStream:
        """A streaming verifier for one ``/v1/verify/proofs`` body (claims encoding by default)."""
        return ProofStream(leaf_encoding=CLAIM_LEAF_ENCODING, max_items=self.settings.max_verify_items)

    def verify_signatures(self, items: list[Any]) -> list[dict[str, Any]]:
        if len(items) > self.settings.max_verify_items:
            raise Unprocessable(f"at most {self.settings.max_verify_items} items per request")
        return [{"index": i, "valid": ok, **({"error": f"items[{i}]: {err}"} if err else {})}
                for i, (ok, err) in enumerate(verify_items(items))]

    # -- ownership ---------------------------------------------------------------------------
    def _owner_of(self, token_id: int) -> str:
        try:
            with self._io:
                return self.registry.owner_of(token_id)
        except ContractRevert as e:
            if e.name == "ERC721NonexistentToken":
                raise NotFound(f"token {token_id} does not exist on chain {self.chain.chain_id}") from None
            raise

    def challenge(self, token_id: int) -> dict[str, Any]:
        if not 0 <= token_id < _INT64:
            raise NotFound(f"token {token_id} does not exist on chain {self.chain.chain_id}")
        self._owner_of(token_id)
        nonce = secrets.token_hex(16)
        expires = utcnow() + timedelta(seconds=self.settings.nonce_ttl_s)
        message = (f"nftreg ownership challenge\nChain ID: {self.chain.chain_id}\nContract: {self.registry.address}\n"
                   f"Token ID: {token_id}\nNonce: {nonce}\nExpires: {expires.isoformat()}")
        with self.db.write() as s:
            s.add(OwnershipChallenge(nonce=nonce, token_id=token_id, message=message, expires_at=expires))
        return {"nonce": nonce, "token_id": token_id, "message": message, "expires_at": expires.isoformat()}

    def verify_ownership(self, nonce: str, signature: str) -> dict[str, Any]:
        try:
            sig = bytes.fromhex(signature.removeprefix("0x"))
        except ValueError:
            raise Unprocessable("signature: expected 0x-hex") from None
        with self.db.write() as s:
            ch = s.get(OwnershipChallenge, nonce)
            if ch is None or ch.used:
                raise NotFound("challenge unknown or already used; request a new one")
            ch.used = True  # single use even when the answer is wrong
            expired = aware(ch.expires_at) <= utcnow()
            token_id, message = ch.token_id, ch.message
        if expired:
            raise Unprocessable("challenge expired; request a new one")
        signer = recover_addresses([personal_sign_digest(message.encode())], [sig])[0]
        owner = self._owner_of(token_id)
        return {"token_id": token_id, "owner": owner, "signer": signer, "verified": signer == owner}

    # -- vouchers ----------------------------------------------------------------------------
    def issue_voucher(self, *, to: str, content_hash: str, metadata_cid: str, deadline: int | None) -> dict[str, Any]:
        v = Voucher(_address(to, "to"), bytes.fromhex(_hex32(content_hash, "content_hash")[2:]),
                    _cid(metadata_cid, "metadata_cid"), secrets.randbits(128),
                    deadline if deadline is not None else int(time.time()) + 86400)
        with self._io:
            sig = self.registry.sign_voucher(v, self.chain.signer)
            typed = self.registry.voucher_typed_data(v)
        return {"voucher": {"to": v.to, "content_hash": content_hash.lower(), "metadata_cid": v.metadata_cid,
                            "uid": str(v.uid), "deadline": v.deadline},
                "signature": "0x" + sig.hex(), "signer": self.chain.address,
                "typed_data": json.loads(json.dumps(typed, default=lambda o: "0x" + o.hex()))}

    # -- index -------------------------------------------------------------------------------
    def reindex(self) -> int:
        """Rebuild the asset index from Registered and Transfer events; returns tokens seen."""
        with self._rpc("events"):
            events = self.registry.events(0, "latest")
            head = self.chain.block_number()
        seen = 0
        with self.db.write() as s:
            for ev in events:
                if ev.name == "Registered":
                    tid = int(ev.args["tokenId"])
                    ch = "0x" + bytes(ev.args["contentHash"]).hex()
                    a = s.scalars(select(Asset).where(Asset.content_hash == ch)).one_or_none()
                    if a is None:
                        a = Asset(content_hash=ch, owner=ev.args["owner"], metadata_cid=ev.args["metadataCid"])
                        s.add(a)
                    a.token_id, a.status, a.tx_hash, a.block_number = tid, "minted", ev.tx_hash, ev.block_number
                    # events carry no time of their own: finality here is by depth alone
                    a.final = head - ev.block_number + 1 >= self._finality_depth
                    seen += 1
                elif ev.name == "Transfer":
                    s.flush()
                    a = s.scalars(select(Asset).where(Asset.token_id == int(ev.args["tokenId"]))).one_or_none()
                    if a is not None:
                        a.owner = ev.args["to"]
        return seen

    def sync_events(self, *, max_blocks: int = 10_000) -> dict[str, int]:
        """Follow the contract's events into the index, from where the last pass stopped:
        tokens that changed hands (a Transfer from a holder: the owner is read back with
        ``ownerOf``, so a transfer a reorg dropped is not believed) and tokens registered outside
        this service (claims, vouchers, another minter) become rows. The last
        ``finality_depth`` blocks are read again on every pass. Returns counts."""
        counts = {"owners": 0, "registered": 0}
        with self._sync_lock:
            name = f"events:{self.chain.chain_id}:{self.registry.address.lower()}"
            with self._rpc("head"):
                head = self.chain.block_number()
            with self.db.read() as s:
                cur = s.get(ChainCursor, name)
            start = 0 if cur is None else max(0, int(cur.block) - self._finality_depth + 1)
            end = min(head, start + max_blocks)
            if end < start:
                return counts
            with self._rpc("events"):
                logs = self.chain.logs(self.registry.address, start, end)
            registered: dict[str, tuple[int, bytes, bytes, int, str]] = {}
            moved: set[int] = set()
            known: set[str] = set()
            for log in logs:
                topics = log["topics"]
                if len(topics) == 4 and topics[0] == TRANSFER_TOPIC and any(topics[1]):
                    moved.add(int.from_bytes(topics[3], "big"))
                elif len(topics) == 4 and topics[0] == REGISTERED_TOPIC:
                    registered["0x" + topics[3].hex()] = (int.from_bytes(topics[1], "big"), topics[2][12:], log["data"],
                                                          log["blockNumber"], log["transactionHash"])
            if registered:
                with self.db.read() as s:
                    known = set(s.scalars(select(Asset.content_hash).where(Asset.content_hash.in_(list(registered)))))
            if registered.keys() - known:
                with self.db.write() as s:
                    for ch, (tid, owner_raw, data, block, txh) in registered.items():
                        if ch in known:  # ours (reserved or minted through the outbox)
                            continue
                        if s.scalar(select(Asset.id).where(Asset.content_hash == ch)) is not None:
                            continue  # reserved by a request meanwhile
                        if s.scalar(select(Asset.id).where(Asset.token_id == tid)) is not None:
                            continue  # the id is held by a row the reconciler is still settling
                        (cid,) = abi_decode(["string"], data)
                        owner = str(Web3.to_checksum_address(owner_raw))
                        s.add(Asset(content_hash=ch, owner=owner, metadata_cid=cid, token_id=tid, status="minted",
                                    tx_hash=txh, block_number=block, final=head - block + 1 >= self._finality_depth))
                        counts["registered"] += 1
            owners: dict[int, str] = {}  # token id -> holder (checksummed)
            for tid in sorted(moved):
                try:
                    with self._rpc("ownerOf"):
                        owners[tid] = str(self.registry.owner_of(tid))
                except ContractRevert:
                    continue  # burned or not (yet) there: nothing to record
            with self.db.write() as s:
                for tid, owner in owners.items():
                    r = cast(CursorResult[Any], s.execute(update(Asset).where(Asset.token_id == tid,
                                                                              Asset.owner != owner).values(owner=owner)))
                    counts["owners"] += r.rowcount or 0
                c = s.get(ChainCursor, name)
                if c is None:
                    s.add(ChainCursor(name=name, block=end, updated_at=utcnow()))
                else:
                    c.block, c.updated_at = end, utcnow()
        for k, v in counts.items():
            self.sync_totals[k] += v
        return counts

    # -- operations --------------------------------------------------------------------------
    def readiness(self) -> dict[str, Any]:
        checks: dict[str, Any] = {}
        try:
            with self._io:
                checks["chain"] = {"ok": True, "block": self.chain.block_number()}
        except Exception as e:  # readiness reports, it does not raise
            checks["chain"] = {"ok": False, "error": type(e).__name__}
        try:
            self.store.health()
            checks["ipfs"] = {"ok": True}
        except Exception as e:
            checks["ipfs"] = {"ok": False, "error": type(e).__name__}
        try:
            self.db.ping()
            checks["database"] = {"ok": True}
        except Exception as e:
            checks["database"] = {"ok": False, "error": type(e).__name__}
        return checks


class _SimulatedCrash(BaseException):
    """Test hook (NFTREG_TEST_CRASH_AT with NFTREG_TEST_CRASH_MODE=raise): the process 'dies'
    at the named point without unwinding through the service's error handling."""


MAX_MINT_BATCH = 64  # items per mintBatch: ~64 x 190k gas stays well inside a 30M-gas block


class _MintJob:
    """One request's mint on its way through the group commit."""

    __slots__ = ("batch_size", "ch", "error", "metadata_cid", "ob", "owner", "sent", "tx")

    def __init__(self, owner: str, ch: str, metadata_cid: str):
        self.owner, self.ch, self.metadata_cid = owner, ch, metadata_cid
        self.tx: dict[str, Any] = {}
        self.sent = threading.Event()
        self.ob: OutboxTx | None = None
        self.error: BaseException | None = None
        self.batch_size = 1


class _Waiter:
    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None


def _hash_arg(e: ContractRevert) -> str | None:
    """The bytes32 content hash a ContentAlreadyRegistered revert names, as 0x + lower hex."""
    if not e.args_:
        return None
    a = e.args_[0]
    return "0x" + bytes(a).hex() if isinstance(a, (bytes, bytearray)) else str(a).lower()


def _copy_error(e: BaseException) -> BaseException:
    """The same error for another thread to raise (one exception object raised in several
    threads would share, and garble, one traceback)."""
    import copy

    try:
        c = copy.copy(e)
        c.__traceback__ = None
        return c
    except Exception:  # noqa: BLE001 - an uncopyable error still reaches the caller
        return ChainError(str(e))
