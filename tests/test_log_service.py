"""The registry feeding the registration log: every accepted registration becomes exactly one
log entry (mints through the outbox, off-chain registrations, claims and transfers seen on the
chain), receipts verify offline, and off-chain registration follows the duplicate rules.
Real managed anvil, embedded content store, SQLite, the app under uvicorn."""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest
from api_server import LiveServer
from eth_account import Account
from nftreg.log import LogEntry, verify_receipt
from nftreg.settings import Settings
from test_api import sign_in

ADMIN = "test-admin-key-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("logsvc")
    settings = Settings(data_dir=data, env="test", admin_api_key=ADMIN, reconcile_interval_s=0.5,
                        log_interval_s=0.2, finality_age_s=0.5)
    with LiveServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    with server.client() as c:
        c.chain_id = server.service.chain.chain_id
        yield c


@pytest.fixture(scope="module")
def creator(client):
    acct = Account.create()
    r = sign_in(client, acct)
    assert r.status_code == 200, r.text
    return acct, {"Authorization": f"Bearer {r.json()['token']}"}


def post(client, headers, data: bytes | None, meta: dict, **form):
    files = {"file": ("a.bin", data, "application/octet-stream")} if data is not None else None
    return client.post("/v1/assets", data={"metadata": json.dumps(meta), **form}, files=files, headers=headers)


def receipt(client, asset_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/v1/assets/{asset_id}/receipt")
        if r.status_code == 200:
            return r.json()
        assert r.status_code == 404, r.text
        assert time.monotonic() < deadline, f"no receipt for {asset_id} within {timeout} s"
        time.sleep(0.1)


def entries_about(server, content_hash: str) -> list[LogEntry]:
    log = server.app.state.log
    return [LogEntry.decode(log.store.entry(i)) for i in log.indexes_for(bytes.fromhex(content_hash[2:]))]


def test_mint_gets_exactly_one_log_entry_with_a_verifying_receipt(server, client, creator):
    acct, h = creator
    data = os.urandom(256)
    r = post(client, h, data, {"name": "ภาพ"})
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["onchain"] is True and a["token_id"] is not None
    rec = receipt(client, str(a["token_id"]))
    key = client.get("/v1/log").json()["verifier_key"]
    cp = verify_receipt(rec, key)
    assert cp.size >= rec["index"] + 1
    f = rec["entry_fields"]
    assert f["kind"] == "mint" and f["owner"].lower() == acct.address.lower()
    assert f["content_hash"] == "0x" + hashlib.sha256(data).hexdigest()
    assert f["token_id"] == str(a["token_id"]) and f["tx_hash"] == a["tx_hash"] and f["block"] == a["block_number"]
    assert f["metadata_cid"] == a["metadata_cid"]
    # the background pass reads the same Registered event again (and again): still one entry
    svc = server.service
    for _ in range(3):
        svc.logfeed.follow_events()
        svc.reconcile(wait=False)
    time.sleep(0.6)
    assert len(entries_about(server, a["content_hash"])) == 1
    shown = client.get(f"/v1/assets/{a['token_id']}").json()
    assert shown["log_index"] == rec["index"]


def test_offchain_registration_logs_a_private_entry_and_no_transaction(server, client, creator):
    acct, h = creator
    data = os.urandom(300)
    ch = "0x" + hashlib.sha256(data).hexdigest()
    before = server.service.chain.block_number()
    r = post(client, h, data, {"name": "off-chain ลงทะเบียน"}, onchain="false")
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["onchain"] is False and a["token_id"] is None and a["tx_hash"] is None
    assert a["status"] in ("logging", "logged") and a["content_hash"] == ch
    assert server.service.store.cat(a["asset_cid"]) == data  # content pinned as for a mint
    meta = json.loads(server.service.store.cat(a["metadata_cid"]))
    assert meta["properties"]["content_hash"] == ch and meta["name"] == "off-chain ลงทะเบียน"
    rec = receipt(client, ch)
    verify_receipt(rec, client.get("/v1/log").json()["verifier_key"])
    f = rec["entry_fields"]
    assert f["kind"] == "private" and f["owner"].lower() == acct.address.lower() and f["content_hash"] == ch
    assert f["metadata_cid"] == a["metadata_cid"] and f["tx_hash"] is None and f["token_id"] is None
    assert f["contract"].lower() == server.service.registry.address.lower()
    shown = client.get(f"/v1/assets/{ch}").json()
    assert shown["status"] == "logged" and shown["log_index"] == rec["index"]
    # no transaction was sent for it
    with server.service.db.read() as s:
        from nftreg.db import OutboxTx
        from sqlalchemy import select

        assert not [i for i in s.scalars(select(OutboxTx.intent)) if ch in i]
    assert server.service.chain.block_number() - before <= 1  # (another test's write at most)


def test_offchain_duplicate_rules(server, client, creator):
    _acct, h = creator
    data = os.urandom(200)
    ch = "0x" + hashlib.sha256(data).hexdigest()
    assert post(client, h, data, {"name": "x"}, onchain="false").status_code == 201
    again = post(client, h, data, {"name": "x"}, onchain="false")
    assert again.status_code == 409 and "off-chain" in again.json()["detail"]
    onchain = post(client, h, data, {"name": "x"})
    assert onchain.status_code == 409 and "mint-from-log" in onchain.json()["detail"]
    # on-chain first, then off-chain: refused with the token id
    data2 = os.urandom(200)
    m = post(client, h, data2, {"name": "y"})
    assert m.status_code == 201
    off = post(client, h, data2, {"name": "y"}, onchain="false")
    assert off.status_code == 409 and str(m.json()["token_id"]) in off.json()["detail"]
    # hash-only off-chain registration (no upload)
    ch3 = "0x" + os.urandom(32).hex()
    r = post(client, h, None, {"name": "z"}, content_hash=ch3, onchain="false")
    assert r.status_code == 201, r.text
    assert receipt(client, ch3)["entry_fields"]["kind"] == "private"
    assert len(entries_about(server, ch)) == 1
    bad = client.get("/v1/assets/0xzz")
    assert bad.status_code == 422


def test_offchain_idempotent_retry_replays_one_entry(server, client, creator):
    _acct, h = creator
    ch = "0x" + os.urandom(32).hex()
    hh = {**h, "Idempotency-Key": "k-" + ch[2:18]}
    r1 = post(client, hh, None, {"name": "r"}, content_hash=ch, onchain="false")
    r2 = post(client, hh, None, {"name": "r"}, content_hash=ch, onchain="false")
    assert r1.status_code == r2.status_code == 201
    receipt(client, ch)
    assert len(entries_about(server, ch)) == 1


def test_transfer_and_claim_seen_on_chain_are_logged_once(server, client, creator):
    """Events the service did not send: a claim of a batch (sent straight to the contract) and
    a transfer by the holder."""
    from nftreg.chain import Chain, Registry

    svc = server.service
    acct, _h = creator
    holder_key = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"  # anvil dev account 3
    holder = Account.from_key(holder_key).address
    data = os.urandom(128)
    ch = "0x" + hashlib.sha256(data).hexdigest()
    m = post(client, {"X-API-Key": _minter_key(client)}, data, {"name": "t"}, owner=holder)
    assert m.status_code == 201, m.text
    tid = m.json()["token_id"]
    them = Chain.connect(svc.chain.url, private_key=holder_key)
    try:
        reg = Registry.at(them, svc.registry.address)
        assert them.transact(reg.build_transfer(holder, acct.address, tid))["status"] == 1
    finally:
        them.close()
    deadline = time.monotonic() + 30
    while True:
        kinds = [e.kind.name for e in entries_about(server, ch)]
        if "TRANSFER" in kinds:
            break
        assert time.monotonic() < deadline, kinds
        time.sleep(0.2)
    time.sleep(1.5)  # more background passes over the same blocks
    kinds = [e.kind.name for e in entries_about(server, ch)]
    assert kinds == ["MINT", "TRANSFER"], kinds
    t = entries_about(server, ch)[1]
    assert t.owner.hex() == acct.address.lower()[2:] and t.token_id == tid


def _minter_key(client) -> str:
    r = client.post("/v1/admin/api-keys", json={"name": "m" + os.urandom(4).hex(), "role": "minter"},
                    headers={"X-API-Key": ADMIN})
    assert r.status_code in (200, 201), r.text
    return r.json()["api_key"]
