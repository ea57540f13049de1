"""``RegistryService``: the composition root behind the REST API. It opens the database, the
chain, the contract and the content store, wires one module per resource onto the outbox, runs
the background pass and exposes the operations the routes call.

    outbox.py        every chain write: prepare, sign, record, broadcast, fee-bump, finalize
    minting.py       the mint flow and group commit           (subscribes to "mint" writes)
    offchain.py      off-chain registration (a private log entry, no transaction) and mint-from-log
    logfeed.py       every registration into the registration log, exactly once (on_final, events)
    anchoring.py     the log's checkpoint anchored on-chain at an interval (a "log_anchor" write)
    batches.py       claims batches, anchors and proofs       (subscribes to "anchor" writes)
    assets.py        the asset index
    indexer.py       contract events into the index, reindex
    ownership.py     ownership challenges and vouchers
    verification.py  proofs and signatures off-chain
    validate.py      checks on client input
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import Any

from nftreg.chain import Chain, FeePolicy, Registry
from nftreg.db import Asset, Database, upgrade
from nftreg.ipfs import ContentStore, open_store
from nftreg.merkle import ProofStream
from nftreg.services.anchoring import LogAnchoring
from nftreg.services.assets import Assets, asset_view, new_row_view
from nftreg.services.batches import Batches
from nftreg.services.errors import ServiceError
from nftreg.services.indexer import Indexer
from nftreg.services.logfeed import LogFeed
from nftreg.services.minting import Minting
from nftreg.services.offchain import OffchainRegistration
from nftreg.services.outbox import Finality, Outbox
from nftreg.services.ownership import Ownership
from nftreg.services.verification import Verification
from nftreg.settings import Settings

__all__ = ["RegistryService"]

log = logging.getLogger("nftreg.service")


def fee_policy(settings: Settings) -> FeePolicy:
    cap = settings.max_fee_per_gas_gwei
    return FeePolicy(max_fee_per_gas=None if cap is None else int(cap * 10**9))


class RegistryService:
    def __init__(self, settings: Settings, *, chain: Chain | None = None, store: ContentStore | None = None,
                 db: Database | None = None):
        self.settings = settings
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        self.db = db or Database(settings.db_url)
        upgrade(self.db)
        self._own_chain = chain is None
        self.chain = chain or Chain.connect(settings.rpc_url, private_key=settings.private_key,
                                            data_dir=settings.data_dir, rpc_timeout=settings.rpc_timeout_s,
                                            fees=fee_policy(settings))
        if settings.registry_address:
            self.registry = Registry.at(self.chain, settings.registry_address)
        else:
            self.registry = Registry.deploy_once(self.chain, Path(settings.data_dir) / "registry.json")
        self.store = store or open_store(api=settings.ipfs_api, data_dir=settings.data_dir,
                                         profile=settings.ipfs_profile)
        devnet = self.chain.is_devnet
        finality = Finality(
            depth=settings.finality_depth or (1 if devnet else 12),
            age_s=(settings.finality_age_s if settings.finality_age_s is not None
                   else 5.0 if devnet and self.chain.kind != "tester" else 0.0))
        if settings.shared_database:
            from nftreg.services import idempotency

            idempotency.SHARED_DATABASE = True
        self.outbox = Outbox(settings, self.db, self.chain, finality)
        self.logfeed = LogFeed(self.db, self.chain, self.registry, finality, env=settings.env)
        self.outbox.on_final(self.logfeed.on_final_mint, kind="mint")
        self.outbox.on_final(self.logfeed.on_final_anchor, kind="anchor")
        self.anchoring = LogAnchoring(self.outbox, self.registry, interval_s=settings.log_anchor_interval_s)
        batching = settings.mint_batch and self.chain.kind != "tester" and self.registry.supports_mint_batch
        self.minting = Minting(self.db, self.registry, self.store, self.outbox, batching=batching)
        self.offchain = OffchainRegistration(self.db, self.registry, self.store, self.outbox, self.minting,
                                             self.logfeed)
        self.assets = Assets(self.db, self.outbox, self.logfeed)
        self.batches = Batches(self.db, self.registry, self.store, self.outbox, max_claims=settings.max_batch_claims)
        self.indexer = Indexer(self.db, self.chain, self.registry, self.outbox, finality)
        self.ownership = Ownership(self.db, self.chain, self.registry, challenge_ttl_s=settings.nonce_ttl_s)
        self.verification = Verification(max_items=settings.max_verify_items)
        self.reconcile_totals = self.outbox.totals  # outcomes since start, for /metrics and tests
        self.sync_totals = self.indexer.totals
        self._bg: threading.Thread | None = None
        self._stop = threading.Event()
        self.reconcile()

    def close(self) -> None:
        self._stop.set()
        if self._bg is not None:
            self._bg.join(timeout=30)
        self.anchoring.close()
        self.logfeed.close()
        self.db.dispose()
        if self._own_chain:
            self.chain.close()

    # -- the operations the routes call --------------------------------------------------------
    def mint(self, *, request_key: str | None = None, **kw: Any) -> dict[str, Any]:
        """See ``Minting.mint``; returns the asset as the index shows it."""
        return self.assets.by_hash(self.minting.mint(request_key=request_key, **kw), fresh=False)

    def register_offchain(self, *, request_key: str | None = None, **kw: Any) -> dict[str, Any]:
        """See ``OffchainRegistration.register``: no transaction, a private log entry."""
        ch, row = self.offchain.register(request_key=request_key, **kw)
        if row is not None:  # just written by this call: shown without reading it back
            return asset_view(Asset(**row))
        return self.assets.by_hash(ch, fresh=False)

    def register_offchain_many(self, items: list[dict[str, Any]], *,
                               request_key: str | None = None) -> list[dict[str, Any]]:
        """See ``OffchainRegistration.register_many``: per item, in order, ``{"index", "status":
        201, "asset"}`` or ``{"index", "status": 4xx, "problem"}``."""
        results: list[dict[str, Any]] = []
        for i, r in enumerate(self.offchain.register_many(items, request_key=request_key)):
            if isinstance(r, ServiceError):
                results.append({"index": i, "status": r.status, "problem": r.problem()})
                continue
            ch, row = r
            asset = new_row_view(row) if row is not None else self.assets.by_hash(ch, fresh=False)
            results.append({"index": i, "status": 201, "asset": asset})
        return results

    def mint_from_log(self, content_hash: str, *, caller: str | None) -> dict[str, Any]:
        """See ``OffchainRegistration.mint_from_log``."""
        return self.assets.by_hash(self.offchain.mint_from_log(content_hash, caller=caller), fresh=False)

    def get_asset(self, token_id: int) -> dict[str, Any]:
        return self.assets.by_token(token_id)

    def get_asset_by_hash(self, ch: str, *, fresh: bool = True) -> dict[str, Any]:
        return self.assets.by_hash(ch, fresh=fresh)

    def list_assets(self, *, owner: str | None, content_hash: str | None, status: str | None = None, after: int = 0,
                    limit: int = 100) -> list[dict[str, Any]]:
        return self.assets.list(owner=owner, content_hash=content_hash, status=status, after=after, limit=limit)

    def create_batch(self, text: str, fmt: str) -> dict[str, Any]:
        return self.batches.create(text, fmt)

    def create_batch_file(self, path: str, fmt: str) -> dict[str, Any]:
        return self.batches.create_from_file(path, fmt)

    def get_batch(self, batch_id: int) -> dict[str, Any]:
        return self.batches.get(batch_id)

    def batch_proofs(self, batch_id: int, index_or_owner: str) -> dict[str, Any]:
        return self.batches.proofs(batch_id, index_or_owner)

    def verify_proofs(self, root: str, leaf_encoding: list[str], values: list[Any], proofs: list[Any]) -> list[bool]:
        return self.verification.proofs(root, leaf_encoding, values, proofs)

    def proof_stream(self) -> ProofStream:
        return self.verification.proof_stream()

    def verify_signatures(self, items: list[Any]) -> list[dict[str, Any]]:
        return self.verification.signatures(items)

    def challenge(self, token_id: int) -> dict[str, Any]:
        return self.ownership.challenge(token_id)

    def verify_ownership(self, nonce: str, signature: str) -> dict[str, Any]:
        return self.ownership.verify(nonce, signature)

    def issue_voucher(self, *, to: str, content_hash: str, metadata_cid: str, deadline: int | None) -> dict[str, Any]:
        return self.ownership.issue_voucher(to=to, content_hash=content_hash, metadata_cid=metadata_cid,
                                            deadline=deadline)

    def reindex(self) -> int:
        return self.indexer.reindex()

    def sync_events(self, *, max_blocks: int = 10_000) -> dict[str, int]:
        return self.indexer.sync(max_blocks=max_blocks)

    def reconcile(self, *, wait: bool = True) -> dict[str, int]:
        return self.outbox.reconcile(wait=wait)

    # -- background pass and health ------------------------------------------------------------
    def start_background(self) -> None:
        """Every ``reconcile_interval_s``: reconcile the outbox (rebroadcast, fee-bump, finalize)
        and follow contract events, in a daemon thread; one process at a time when several
        share the data directory. Idempotent."""
        if self.settings.reconcile_interval_s <= 0 or self._bg is not None:
            return
        lock_fd = os.open(Path(self.settings.data_dir) / "background.lock", os.O_RDWR | os.O_CREAT, 0o600)

        def loop() -> None:
            while not self._stop.wait(self.settings.reconcile_interval_s):
                try:
                    fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                try:
                    for name, step in (("reconcile", lambda: self.reconcile(wait=False)), ("event sync", self.sync_events),
                                       ("log events", self.logfeed.follow_events)):
                        try:
                            step()
                        except Exception:
                            log.exception("background %s pass failed", name)
                finally:
                    fcntl.flock(lock_fd, fcntl.LOCK_UN)
            os.close(lock_fd)

        self._bg = threading.Thread(target=loop, name="nftreg-background", daemon=True)
        self._bg.start()

    def readiness(self) -> dict[str, Any]:
        checks: dict[str, Any] = {}
        for name, probe in (("chain", self._chain_probe), ("ipfs", self._store_probe), ("database", self._db_probe)):
            try:
                checks[name] = {"ok": True, **probe()}
            except Exception as e:  # noqa: BLE001 - readiness reports, it does not raise
                checks[name] = {"ok": False, "error": type(e).__name__}
        return checks

    def _store_probe(self) -> dict[str, Any]:
        self.store.health()
        return {}

    def _db_probe(self) -> dict[str, Any]:
        self.db.ping()
        return {}

    def _chain_probe(self) -> dict[str, Any]:
        with self.chain.serialized():
            return {"block": self.chain.block_number()}
