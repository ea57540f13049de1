"""Transactional outbox: a crash after the signed transaction is committed but before it is
broadcast is finished on restart with the very same bytes (same hash, same nonce)."""

from __future__ import annotations

import secrets

import pytest
import sqlalchemy as sa
from nftreg.chain import Chain
from nftreg.db import Asset, OutboxTx
from nftreg.services import RegistryService
from nftreg.services.registry import _SimulatedCrash
from nftreg.settings import Settings
from sqlalchemy import select


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request, tmp_path):
    url = None
    if request.param == "postgres":
        # a database of its own: token ids in an index are only unique per registry contract
        base = request.getfixturevalue("postgres")
        name = f"outbox_{secrets.token_hex(4)}"
        eng = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(sa.text(f"CREATE DATABASE {name}"))
        eng.dispose()
        url = base.rsplit("/", 1)[0] + "/" + name
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
