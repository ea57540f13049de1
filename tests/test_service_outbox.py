"""Transactional outbox: a crash after the signed transaction is committed but before it is
broadcast is finished on restart with the very same bytes (same hash, same nonce)."""

from __future__ import annotations

import json
import secrets
import time

import pytest
from nftreg.chain import Chain
from nftreg.db import Asset, OutboxTx
from nftreg.services import RegistryService
from nftreg.services.outbox import SimulatedCrash as _SimulatedCrash
from nftreg.settings import Settings
from plugin_postgres import own_database
from sqlalchemy import select


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request, tmp_path):
    url = None
    if request.param == "postgres":
        url = own_database(request.getfixturevalue("postgres"), "outbox")
    return Settings(data_dir=tmp_path, rpc_url="tester://", env="test", admin_api_key="test-admin-key-0123456789",
                    database_url=url)


def test_crash_before_broadcast_is_reconciled_with_the_same_raw_tx(settings, monkeypatch):
    chain = Chain.connect("tester://")
    owner = chain.address
    svc = RegistryService(settings, chain=chain)
    data = secrets.token_bytes(64)
    path = settings.data_dir / "asset.bin"
    path.write_bytes(data)
    monkeypatch.setenv("NFTREG_TEST_CRASH_AT", "mint:after_sign")
    monkeypatch.setenv("NFTREG_TEST_CRASH_MODE", "raise")
    with pytest.raises(_SimulatedCrash):
        svc.mint(owner=owner, metadata={"name": "crash"}, upload_path=str(path))
    monkeypatch.delenv("NFTREG_TEST_CRASH_AT")
    with svc.db.read() as s:
        ob = s.scalars(select(OutboxTx).order_by(OutboxTx.id.desc())).first()
        asset = s.scalars(select(Asset).where(Asset.outbox_id == ob.id)).one()
    assert ob.status == "signed" and asset.status == "pending" and asset.token_id is None
    assert chain.receipt(ob.tx_hash) is None  # nothing left the process
    minted_before = svc.registry.total_minted()
    # the same content for another owner while the write is pending cannot mint twice
    with pytest.raises(Exception, match="being registered"):
        svc.mint(owner=chain.w3.eth.accounts[1], metadata={"name": "crash"}, upload_path=str(path))
    svc.close()

    restarted = RegistryService(settings, chain=chain)  # start-up runs reconcile()
    with restarted.db.read() as s:
        ob2 = s.get(OutboxTx, ob.id)
        asset2 = s.scalars(select(Asset).where(Asset.outbox_id == ob.id)).one()
    assert ob2.status == "final" and ob2.tx_hash == ob.tx_hash and ob2.nonce == ob.nonce
    assert asset2.status == "minted" and asset2.final and asset2.tx_hash == ob.tx_hash
    assert restarted.registry.owner_of(asset2.token_id) == owner
    assert restarted.registry.total_minted() == minted_before + 1
    tx = chain.w3.eth.get_transaction(ob.tx_hash)
    assert tx["nonce"] == ob.nonce
    # reconciling again is a no-op
    again = restarted.reconcile()
    assert (again["confirmed"], again["failed"], again["pending"]) == (0, 0, 0)
    # the index can be rebuilt from contract events alone
    assert restarted.reindex() >= 1
    restarted.close()


def test_a_retry_of_a_signed_but_unsent_mint_resumes_the_same_transaction(settings, monkeypatch):
    chain = Chain.connect("tester://")
    svc = RegistryService(settings, chain=chain)
    path = settings.data_dir / "asset.bin"
    path.write_bytes(secrets.token_bytes(64))
    monkeypatch.setenv("NFTREG_TEST_CRASH_AT", "mint:after_sign")
    monkeypatch.setenv("NFTREG_TEST_CRASH_MODE", "raise")
    with pytest.raises(_SimulatedCrash):
        svc.mint(owner=chain.address, metadata={"name": "ภาพ"}, upload_path=str(path))
    monkeypatch.delenv("NFTREG_TEST_CRASH_AT")
    with svc.db.read() as s:
        ob = s.scalars(select(OutboxTx).order_by(OutboxTx.id.desc())).first()
    before = svc.registry.total_minted()
    out = svc.mint(owner=chain.address, metadata={"name": "ภาพ"}, upload_path=str(path))  # the client's retry
    assert out["status"] == "minted" and out["final"] is True and out["tx_hash"] == ob.tx_hash
    assert svc.registry.total_minted() == before + 1
    with svc.db.read() as s:
        rows = list(s.scalars(select(OutboxTx).where(OutboxTx.kind == "mint")))
    assert [r.nonce for r in rows] == [ob.nonce] and rows[0].status == "final"
    svc.close()


@pytest.mark.parametrize("when", ["before_dry_run", "after_dry_run"])
def test_group_commit_refuses_an_item_registered_elsewhere_and_mints_the_rest(tmp_path, when):
    """Group commit: eight mints queued behind the send lock go out as one mintBatch. One of
    their hashes is registered on-chain by someone else. Before the group's dry run: that item
    is refused alone (409) and the other seven go out as one batch. After the dry run: the
    batch reverts, and every item is sent again on its own (that one gets its 409 then)."""
    import threading

    from nftreg.services.errors import Conflict

    svc = RegistryService(Settings(data_dir=tmp_path, rpc_url="anvil://", env="test",
                                   admin_api_key="test-admin-key-0123456789", reconcile_interval_s=0))
    try:
        assert svc.minting.batching
        owner = svc.chain.address
        hashes = ["0x" + secrets.token_bytes(32).hex() for _ in range(8)]
        cid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
        results: dict[int, object] = {}
        outside: list = []
        prepare = svc.outbox.prepare

        def racing_prepare(tx):
            out = prepare(tx)
            if when == "after_dry_run" and not outside and len(tx["data"]) > 2000:  # the batch's dry run
                outside.append(svc.registry.mint(owner, hashes[3], cid))
            return out

        svc.outbox.prepare = racing_prepare

        def go(i: int) -> None:
            try:
                results[i] = svc.mint(owner=owner, metadata={"name": f"ชิ้นที่ {i}"}, content_hash=hashes[i])
            except Conflict as e:
                results[i] = e

        with svc.outbox.send_lock:  # hold the door until all eight are queued
            ts = [threading.Thread(target=go, args=(i,)) for i in range(8)]
            for t in ts:
                t.start()
            deadline = time.monotonic() + 60
            while len(svc.minting.queue) < 8:
                assert time.monotonic() < deadline, len(svc.minting.queue)
                time.sleep(0.01)
            if when == "before_dry_run":
                outside.append(svc.registry.mint(owner, hashes[3], cid))
        for t in ts:
            t.join(120)
        assert outside, "the race was not staged"
        assert isinstance(results[3], Conflict) and results[3].extra.get("token_id") == outside[0].token_id, results[3]
        minted = [results[i] for i in range(8) if i != 3]
        assert all(isinstance(r, dict) and r["status"] == "minted" for r in minted), minted
        assert len({r["token_id"] for r in minted}) == 7
        for i in (0, 1, 2, 4, 5, 6, 7):
            assert svc.registry.token_of_content(hashes[i]) == results[i]["token_id"]
            assert svc.registry.owner_of(results[i]["token_id"]) == owner
        assert svc.registry.total_minted() == 8
        with svc.db.read() as s:
            rows = list(s.scalars(select(OutboxTx).where(OutboxTx.kind == "mint")))
        sizes = sorted(len(json.loads(r.intent).get("content_hashes", [0])) for r in rows)
        failed = [r for r in rows if r.status == "failed"]
        if when == "before_dry_run":
            assert sizes == [7] and not failed  # one batch of the seven
        else:
            assert len(failed) == 1 and sizes == [1] * 7 + [8]  # the reverted batch, then one by one
    finally:
        svc.close()
