"""The registry feeding the registration log: every accepted registration becomes exactly one
log entry (mints through the outbox, off-chain registrations, claims and transfers seen on the
chain), receipts verify offline, and off-chain registration follows the duplicate rules.
Real managed anvil, embedded content store, SQLite, the app under uvicorn."""

from __future__ import annotations

import hashlib
import json
import os
import time

import httpx
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
                        log_interval_s=0.2, finality_age_s=0.5, log_anchor_interval_s=1.0)
    with LiveServer(settings) as srv:
        yield srv


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
    # the anchoring scheduler runs every second here, so on a slow run it may be anchored already
    assert shown["status"] in ("logged", "anchored") and shown["log_index"] == rec["index"]
    # no transaction was sent for it
    with server.service.db.read() as s:
        from nftreg.db import OutboxTx
        from sqlalchemy import select

        assert not [i for i in s.scalars(select(OutboxTx.intent)) if ch in i]
    # and the chain holds no token for it (log anchors may have added blocks meanwhile)
    assert server.service.registry.token_of_content(ch) is None
    assert server.service.chain.block_number() >= before


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


def test_metadata_change_seen_on_chain_is_logged_once_with_a_verifying_receipt(server, client, creator):
    """A minter changes a token's metadata CID on the contract (``setMetadataCid``, sent by the
    service's own key as an operator tool would, outside the API): the event sync logs one
    METADATA_CHANGE entry naming the token, its content hash, the holder and the new CID, after
    the token's MINT entry, and its inclusion proof verifies against a signed checkpoint."""
    svc = server.service
    acct, h = creator
    data = os.urandom(200)
    ch = "0x" + hashlib.sha256(data).hexdigest()
    m = post(client, h, data, {"name": "แก้ไขได้ editable"})
    assert m.status_code == 201, m.text
    tid = m.json()["token_id"]
    old_cid = m.json()["metadata_cid"]
    # a new metadata document, pinned like any other; the contract gets its CID
    new_cid = svc.store.add_bytes(json.dumps({"name": "แก้ไขแล้ว edited", "image": f"ipfs://{m.json()['asset_cid']}"},
                                             ensure_ascii=False).encode())
    assert new_cid != old_cid
    receipt_tx = svc.chain.transact(svc.registry.build_set_metadata(tid, new_cid))
    assert receipt_tx["status"] == 1
    deadline = time.monotonic() + 30
    while "METADATA_CHANGE" not in (kinds := [e.kind.name for e in entries_about(server, ch)]):
        assert time.monotonic() < deadline, kinds
        time.sleep(0.2)
    time.sleep(1.5)  # more background passes over the same blocks add nothing
    entries = entries_about(server, ch)
    assert [e.kind.name for e in entries] == ["MINT", "METADATA_CHANGE"]
    change = entries[1]
    assert change.token_id == tid and change.metadata_cid == new_cid
    assert change.owner.hex() == acct.address.lower()[2:]
    assert change.tx_hash == bytes(receipt_tx["transactionHash"])
    assert change.block == int(receipt_tx["blockNumber"])
    assert change.chain_id == svc.chain.chain_id
    assert svc.registry.token_uri(tid) == f"ipfs://{new_cid}"
    # its receipt (by log index) verifies with the log's key; the entry in it is this change
    log = server.app.state.log
    index = log.indexes_for(bytes.fromhex(ch[2:]))[1]
    rec = client.get(f"/v1/log/entries/{index}/receipt").json()
    cp = verify_receipt(rec, client.get("/v1/log").json()["verifier_key"])
    assert rec["index"] == index and cp.size > index
    assert LogEntry.decode(bytes.fromhex(rec["entry"][2:])) == change


def _minter_key(client) -> str:
    r = client.post("/v1/admin/api-keys", json={"name": "m" + os.urandom(4).hex(), "role": "minter"},
                    headers={"X-API-Key": ADMIN})
    assert r.status_code in (200, 201), r.text
    return r.json()["api_key"]


# anvil's dev accounts 4 and 5 (account 3 is the transfer test's holder): they send their own
# claims and voucher redemptions straight to the contract, as a claimant's wallet would
_CLAIMANT_KEY = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a"
_REDEEMER_KEY = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"


def _their_registry(svc, key: str):
    """The registry contract as the holder of ``key`` reaches it (their own connection)."""
    from nftreg.chain import Chain, Registry

    them = Chain.connect(svc.chain.url, private_key=key)
    return them, Registry.at(them, svc.registry.address)


def wait_kinds(server, ch: str, kinds: list[str], timeout: float = 30.0) -> list[LogEntry]:
    """The log's entries about ``ch`` once they are ``kinds``, then again after more background
    passes over the same blocks (each event is logged once however often it is read)."""
    deadline = time.monotonic() + timeout
    while [e.kind.name for e in entries_about(server, ch)] != kinds:
        assert time.monotonic() < deadline, [e.kind.name for e in entries_about(server, ch)]
        time.sleep(0.2)
    for _ in range(2):
        server.service.logfeed.follow_events()
    time.sleep(0.5)
    got = entries_about(server, ch)
    assert [e.kind.name for e in got] == kinds
    return got


def _check_receipt(client, ref: str, kind: str, *, owner: str, content_hash: str, token_id: int, tx_hash: str,
                   metadata_cid: str) -> dict:
    rec = receipt(client, ref)
    cp = verify_receipt(rec, client.get("/v1/log").json()["verifier_key"])
    assert cp.size >= rec["index"] + 1
    f = rec["entry_fields"]
    assert f["kind"] == kind and f["owner"].lower() == owner.lower() and f["content_hash"] == content_hash
    assert f["token_id"] == str(token_id) and f["tx_hash"] == tx_hash and f["metadata_cid"] == metadata_cid
    assert isinstance(f["block"], int) and f["block"] > 0
    return rec


def test_batch_anchor_and_claims_are_logged_with_verifying_receipts(server, client):
    """A claims batch registered through the API (its anchor: a batch-anchor entry from the
    outbox's final write), then claimed by the claimant's own wallet, one leaf with `claim` and
    two with `claimMany`: one claim entry each, receipts that verify offline."""
    from nftreg.cid import cid_of
    from nftreg.claims import build_claims_tree

    svc = server.service
    claimant = Account.from_key(_CLAIMANT_KEY).address
    others = [Account.create().address for _ in range(3)]
    rows = [[o, "0x" + os.urandom(32).hex(), cid_of(os.urandom(16))] for o in (claimant, others[0], claimant,
                                                                                 others[1], others[2])]
    csv = "owner,content_hash,metadata_cid\n" + "".join(f"{o},{h},{c}\n" for o, h, c in rows)
    r = client.post("/v1/batches", content=csv.encode(),
                    headers={"X-API-Key": _minter_key(client), "Content-Type": "text/csv"})
    assert r.status_code == 201, r.text
    b = r.json()
    tree = build_claims_tree(rows)
    assert tree.root == b["root"]  # the tree the service anchored is the one built here
    anchor = wait_kinds(server, b["root"], ["BATCH_ANCHOR"])[0]
    assert anchor.metadata_cid == b["tree_cid"] and anchor.tx_hash is not None

    them, reg = _their_registry(svc, _CLAIMANT_KEY)
    try:
        p = client.get(f"/v1/batches/{b['id']}/proofs/0").json()["proofs"][0]
        one = them.transact(reg.build_claim(b["root"], *rows[0], p["proof"]))
        assert one["status"] == 1
        mp = tree.get_multiproof([2, 4])
        many = them.transact(reg.build_claim_many(b["root"], [tuple(v) for v in mp["leaves"]], mp["proof"],
                                                  mp["proof_flags"]))
        assert many["status"] == 1
    finally:
        them.close()
    claimed = {rows[0][1]: (rows[0], one), **{v[1]: (v, many) for v in mp["leaves"]}}
    assert len(claimed) == 3
    for ch, ((owner, _h, cid), tx) in claimed.items():
        tid = svc.registry.token_of_content(ch)
        assert tid is not None and svc.registry.owner_of(tid) == owner
        e = wait_kinds(server, ch, ["CLAIM"])[0]
        assert e.token_id == tid and e.owner.hex() == owner.lower()[2:]
        tx_hash = "0x" + bytes(tx["transactionHash"]).hex().removeprefix("0x")
        _check_receipt(client, str(tid), "claim", owner=owner, content_hash=ch, token_id=tid, tx_hash=tx_hash,
                       metadata_cid=cid)
    # the unclaimed leaves have no entry of their own
    assert entries_about(server, rows[1][1]) == [] and entries_about(server, rows[3][1]) == []


def test_voucher_redemption_is_logged_with_a_verifying_receipt(server, client):
    """A voucher issued by the API (minter key) and redeemed by its recipient's own wallet: one
    voucher-redemption entry, whose receipt verifies offline."""
    from nftreg.chain import Voucher
    from nftreg.cid import cid_of

    svc = server.service
    to = Account.from_key(_REDEEMER_KEY).address
    data = os.urandom(200)
    ch, cid = "0x" + hashlib.sha256(data).hexdigest(), cid_of(data)
    r = client.post("/v1/vouchers", json={"to": to, "content_hash": ch, "metadata_cid": cid},
                    headers={"X-API-Key": _minter_key(client)})
    assert r.status_code == 201, r.text
    out = r.json()
    v = out["voucher"]
    voucher = Voucher(v["to"], bytes.fromhex(v["content_hash"][2:]), v["metadata_cid"], int(v["uid"]), v["deadline"])
    them, reg = _their_registry(svc, _REDEEMER_KEY)
    try:
        tx = them.transact(reg.build_redeem(voucher, bytes.fromhex(out["signature"][2:])))
        assert tx["status"] == 1
    finally:
        them.close()
    tid = svc.registry.token_of_content(ch)
    assert tid is not None and svc.registry.owner_of(tid) == to
    e = wait_kinds(server, ch, ["VOUCHER_REDEMPTION"])[0]
    assert e.token_id == tid and e.owner.hex() == to.lower()[2:]
    tx_hash = "0x" + bytes(tx["transactionHash"]).hex().removeprefix("0x")
    _check_receipt(client, ch, "voucher_redemption", owner=to, content_hash=ch, token_id=tid, tx_hash=tx_hash,
                   metadata_cid=cid)
    # by token id too, once the index has the token
    deadline = time.monotonic() + 30
    while client.get(f"/v1/assets/{tid}").status_code != 200:
        assert time.monotonic() < deadline, "the redeemed token never reached the index"
        time.sleep(0.2)
    assert receipt(client, str(tid))["entry_fields"]["kind"] == "voucher_redemption"


def wait_status(client, ch: str, status: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        a = client.get(f"/v1/assets/{ch}").json()
        if a["status"] == status:
            return a
        assert time.monotonic() < deadline, f"{ch} is {a['status']}, not {status}, after {timeout} s"
        time.sleep(0.2)


def test_log_is_anchored_on_chain_and_the_owner_mints_from_the_log(server, client, creator):
    """The scheduler anchors the published checkpoint (anchorLog through the outbox); the
    off-chain registration turns `anchored`; its owner mints it with the log proof
    (mintWithLogProof on anvil); the token is the owner's, the mint is logged once more."""
    svc = server.service
    acct, h = creator
    data = os.urandom(512)
    ch = "0x" + hashlib.sha256(data).hexdigest()
    r = post(client, h, data, {"name": "สมอ"}, onchain="false")
    assert r.status_code == 201, r.text
    rec = receipt(client, ch)
    a = wait_status(client, ch, "anchored")
    assert a["log_index"] == rec["index"]
    listed = client.get("/v1/assets", params={"owner": acct.address, "status": "anchored", "limit": 1000}).json()
    assert ch in [x["content_hash"] for x in listed["items"]]
    assert all(x["status"] == "anchored" and x["token_id"] is None for x in listed["items"])
    anchor = svc.registry.latest_log_anchor()
    assert anchor is not None and anchor.tree_size > rec["index"]
    log = server.app.state.log
    assert svc.registry.log_root_at(anchor.tree_size) == log.store.tree.root(anchor.tree_size)
    # the anchors went through the outbox, one write each, sizes increasing
    from nftreg.db import OutboxTx
    from sqlalchemy import select

    with svc.db.read() as s:
        rows = list(s.scalars(select(OutboxTx).where(OutboxTx.kind == "log_anchor").order_by(OutboxTx.nonce)))
    sizes = [json.loads(x.intent)["tree_size"] for x in rows]
    assert sizes == sorted(set(sizes)) and anchor.tree_size in sizes

    # someone else may not mint it; the owner may
    other = Account.create()
    tok = sign_in(client, other).json()["token"]
    denied = client.post(f"/v1/assets/{ch}/mint-from-log", headers={"Authorization": f"Bearer {tok}"})
    assert denied.status_code == 403, denied.text
    m = client.post(f"/v1/assets/{ch}/mint-from-log", headers=h)
    assert m.status_code == 200, m.text
    minted = m.json()
    assert minted["onchain"] is True and minted["token_id"] is not None and minted["status"] == "minted"
    tid = minted["token_id"]
    assert svc.registry.owner_of(tid) == acct.address
    assert svc.registry.token_of_content(ch) == tid
    receipt_tx = svc.chain.receipt(minted["tx_hash"])
    print(f"\nmintWithLogProof gas: {receipt_tx['gasUsed']} (log index {rec['index']}, tree size "
          f"{anchor.tree_size})")
    again = client.post(f"/v1/assets/{ch}/mint-from-log", headers=h)
    assert again.status_code == 409 and again.json()["token_id"] == tid
    deadline = time.monotonic() + 30
    while [e.kind.name for e in entries_about(server, ch)] != ["PRIVATE", "MINT"]:
        assert time.monotonic() < deadline, [e.kind.name for e in entries_about(server, ch)]
        time.sleep(0.2)
    mint_entry = entries_about(server, ch)[1]
    assert mint_entry.token_id == tid and mint_entry.owner.hex() == acct.address.lower()[2:]
    # its receipt stays the registration (the private entry, the first)
    assert client.get(f"/v1/assets/{tid}/receipt").json()["index"] == rec["index"]


def test_python_client_and_cli_register_off_chain_fetch_receipts_and_mint_from_the_log(server, tmp_path):
    """nftreg.Client(onchain=False), .receipt, .asset(hash), .mint_from_log; the CLI's
    `mint --off-chain`, `log receipt` and `log verify` against the same registry."""
    import subprocess
    import sys

    import nftreg
    from nftreg.client import AlreadyRegistered

    acct = Account.create()
    data = os.urandom(333)
    ch = "0x" + hashlib.sha256(data).hexdigest()
    with nftreg.Client(server.url) as c:
        c.sign_in(acct)
        a = c.register(data, name="ลูกค้า", onchain=False)
        assert a.onchain is False and a.token_id is None and a.content_hash == ch
        with pytest.raises(AlreadyRegistered) as e:
            c.register(data, name="ลูกค้า", onchain=False, idempotency_key="other-key")
        assert e.value.token_id is None and "off-chain" in str(e.value.problem["detail"])
        deadline = time.monotonic() + 30
        while c.asset(ch).status != "anchored":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        rec = c.receipt(ch)
        verify_receipt(rec, httpx.get(server.url + "/v1/log").json()["verifier_key"])
        minted = c.mint_from_log(a)
        assert minted.token_id is not None and minted.owner == acct.address
        assert c.receipt(minted)["index"] == rec["index"]

    # the CLI, remote: off-chain mint of a file, then its receipt, verified offline
    f = tmp_path / "art.bin"
    f.write_bytes(os.urandom(444))
    env = {**os.environ, "NFTREG_PRIVATE_KEY": Account.create().key.hex(), "NFTREG_REMOTE": server.url}
    out = subprocess.run([sys.executable, "-m", "nftreg", "mint", str(f), "--name", "cli", "--off-chain", "--json"],
                         capture_output=True, text=True, env=env, timeout=120, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    got = json.loads(out.stdout)
    assert got["onchain"] is False and got["token_id"] is None
    rfile = tmp_path / "receipt.json"
    out = subprocess.run([sys.executable, "-m", "nftreg", "log", "receipt", got["content_hash"], "--out", str(rfile),
                          "--wait", "30"], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    vkey = server.app.state.log.info()["verifier_key"]
    out = subprocess.run([sys.executable, "-m", "nftreg", "log", "verify", str(rfile), "--key", vkey],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0 and "valid" in out.stdout, out.stdout + out.stderr
    out = subprocess.run([sys.executable, "-m", "nftreg", "mint", str(f), "--name", "cli", "--off-chain"],
                         capture_output=True, text=True, env=env, timeout=120, check=False)
    assert out.returncode == 1 and "off-chain" in out.stderr, out.stdout + out.stderr


def test_async_client_registers_off_chain_and_fetches_the_receipt(server):
    import asyncio

    import nftreg

    async def go() -> tuple[object, dict]:
        async with nftreg.AsyncClient(server.url) as c:
            await c.sign_in(Account.create())
            a = await c.register(os.urandom(99), name="อะซิงค์", onchain=False)
            deadline = time.monotonic() + 30
            while True:
                try:
                    return a, await c.receipt(a)
                except nftreg.client.NotFound:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.1)

    a, rec = asyncio.run(go())
    assert a.onchain is False and rec["entry_fields"]["content_hash"] == a.content_hash
    verify_receipt(rec, httpx.get(server.url + "/v1/log").json()["verifier_key"])
