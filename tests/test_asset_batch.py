"""`POST /v1/assets/batch`: many hash-only registrations off-chain in one request. Each item is
registered exactly as `POST /v1/assets` with `onchain=false` would register it (the same asset
row, metadata document and private log entry with a verifying receipt) or refused on its own
with the status and problem that request would get; nothing is registered twice, whatever the
mix, the concurrency or the retries. Also the embedded store's grouped import (`add_many`).
Real managed anvil, embedded content store, SQLite, the app under uvicorn."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import httpx
import pytest
from api_server import LiveServer
from eth_account import Account
from nftreg import _core
from nftreg.chain.anvil import ANVIL_DEV_KEY
from nftreg.db import OutboxTx
from nftreg.ipfs import EmbeddedStore
from nftreg.log import LogEntry, verify_receipt
from nftreg.metadata import canonical_json
from nftreg.settings import Settings
from sqlalchemy import func, select
from test_api import sign_in
from test_log_service import receipt

ADMIN = "test-admin-key-0123456789"
OWNER = "0x" + "5a" * 20


@pytest.fixture(scope="module", params=["embedded", "anvil-kubo-postgres"])
def server(request, tmp_path_factory):
    """The embedded defaults (managed anvil, embedded store, SQLite), and the same path on a
    real Kubo (one `ipfs add` per batch) and PostgreSQL."""
    common = {"data_dir": tmp_path_factory.mktemp("assetbatch"), "env": "test", "admin_api_key": ADMIN,
              "reconcile_interval_s": 0.5, "log_interval_s": 0.2, "finality_age_s": 0.5, "log_anchor_interval_s": 0}
    if request.param == "embedded":
        settings = Settings(**common)
    else:
        anvil, kubo, pg = (request.getfixturevalue(n) for n in ("anvil", "kubo", "postgres"))
        settings = Settings(**common, rpc_url=anvil.url, private_key=ANVIL_DEV_KEY, ipfs_api=kubo.api, database_url=pg)
    with LiveServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def minter(client):
    r = client.post("/v1/admin/api-keys", json={"name": "batch", "role": "minter"}, headers={"X-API-Key": ADMIN})
    assert r.status_code == 201, r.text
    return {"X-API-Key": r.json()["api_key"]}


def rand_hash() -> str:
    return "0x" + os.urandom(32).hex()


def batch(client, headers, regs, **kw) -> httpx.Response:
    return client.post("/v1/assets/batch", json={"registrations": regs}, headers=headers, **kw)


def log_entries(server, content_hash: str) -> list[LogEntry]:
    log = server.app.state.log
    return [LogEntry.decode(log.store.entry(i)) for i in log.indexes_for(bytes.fromhex(content_hash[2:]))]


def outbox_count(server) -> int:
    with server.service.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(OutboxTx)) or 0)


def test_a_batch_registers_each_item_as_a_single_offchain_post_would(server, client, minter):
    regs = [{"content_hash": rand_hash(), "owner": OWNER, "metadata": {"name": f"ผ้าไหม {i}", "description": "ลาย"}}
            for i in range(40)]
    regs[3]["asset_cid"] = "bafkreiablk6x6xgfpiw5ss3vsdyevwaiijzzaxxdh3c45pvomitwvf7ymi"
    txs = outbox_count(server)
    r = batch(client, minter, regs)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["registered"] == 40 and out["refused"] == 0
    assert [x["index"] for x in out["results"]] == list(range(40))
    key = client.get("/v1/log").json()["verifier_key"]
    store = server.service.store
    for reg, res in zip(regs, out["results"], strict=True):
        assert res["status"] == 201, res
        a = res["asset"]
        assert a["content_hash"] == reg["content_hash"] and a["owner"].lower() == OWNER.lower()
        assert a["onchain"] is False and a["token_id"] is None and a["tx_hash"] is None
        assert a["asset_cid"] == reg.get("asset_cid")
        # the metadata document is the one a single POST would pin: the fields + the content hash
        meta = json.loads(store.cat(a["metadata_cid"]))
        assert meta == {**reg["metadata"], "properties": {"content_hash": reg["content_hash"]}}
        assert store.is_pinned(a["metadata_cid"])
        assert client.get(f"/v1/assets/{reg['content_hash']}").json()["metadata_cid"] == a["metadata_cid"]
    # every one gets its receipt, and exactly one private entry in the log
    for reg, res in zip(regs[:: 7], out["results"][:: 7], strict=True):
        rec = receipt(client, reg["content_hash"])
        verify_receipt(rec, key)
        f = rec["entry_fields"]
        assert f["kind"] == "private" and f["content_hash"] == reg["content_hash"]
        assert f["metadata_cid"] == res["asset"]["metadata_cid"] and f["owner"].lower() == OWNER.lower()
        assert len(log_entries(server, reg["content_hash"])) == 1
    assert outbox_count(server) == txs  # no transaction for any of them


def test_one_document_gets_the_same_metadata_cid_in_a_batch_and_in_a_single_post(server, client, minter):
    meta = {"name": "ภาพเดียวกัน", "attributes": [{"trait_type": "สี", "value": "แดง"}]}
    a, b = rand_hash(), rand_hash()
    single = client.post("/v1/assets", data={"metadata": json.dumps(meta), "content_hash": a, "owner": OWNER,
                                             "onchain": "false"}, headers=minter)
    assert single.status_code == 201, single.text
    many = batch(client, minter, [{"content_hash": b, "owner": OWNER, "metadata": meta}])
    assert many.status_code == 200, many.text
    store = server.service.store
    # same fields, different content hash: the documents differ only in properties.content_hash
    da = json.loads(store.cat(single.json()["metadata_cid"]))
    db = json.loads(store.cat(many.json()["results"][0]["asset"]["metadata_cid"]))
    assert da["properties"]["content_hash"] == a and db["properties"]["content_hash"] == b
    da["properties"] = db["properties"] = None
    assert da == db
    assert many.json()["results"][0]["asset"]["metadata_cid"] == _core.cid.cid_of(
        canonical_json({**meta, "properties": {"content_hash": b}}))


def test_each_refused_item_gets_its_own_problem_and_the_rest_register(server, client, minter):
    minted = client.post("/v1/assets", data={"metadata": '{"name": "on chain"}', "content_hash": rand_hash(),
                                             "owner": OWNER}, headers=minter)
    assert minted.status_code == 201, minted.text
    earlier = rand_hash()
    assert batch(client, minter, [{"content_hash": earlier, "owner": OWNER, "metadata": {"name": "x"}}]).status_code == 200
    dup = rand_hash()
    good = [rand_hash() for _ in range(3)]
    regs = [
        {"content_hash": good[0], "owner": OWNER, "metadata": {"name": "ok 0"}},
        {"content_hash": minted.json()["content_hash"], "owner": OWNER, "metadata": {"name": "minted already"}},
        {"content_hash": earlier, "owner": OWNER, "metadata": {"name": "registered off-chain already"}},
        {"content_hash": dup, "owner": OWNER, "metadata": {"name": "first"}},
        {"content_hash": dup, "owner": OWNER, "metadata": {"name": "twice in this request"}},
        {"content_hash": "0x1234", "owner": OWNER, "metadata": {"name": "short hash"}},
        {"content_hash": "0x" + hashlib.sha256(b"").hexdigest(), "owner": OWNER, "metadata": {"name": "empty"}},
        {"content_hash": rand_hash(), "owner": "0xnot-an-address", "metadata": {"name": "bad owner"}},
        {"content_hash": rand_hash(), "metadata": {"name": "no owner"}},
        {"content_hash": rand_hash(), "owner": OWNER, "metadata": {"name": 5}},
        {"content_hash": good[1], "owner": OWNER.upper().replace("0X", "0x"), "metadata": {"name": "ok 1"}},
        {"content_hash": good[2], "owner": OWNER, "metadata": {"name": "ok 2", "ลาย": "extra fields kept"}},
        {"content_hash": rand_hash(), "owner": OWNER, "metadata": {}},
    ]
    r = batch(client, minter, regs)
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    status = [x["status"] for x in res]
    assert status == [201, 409, 409, 201, 409, 422, 422, 422, 422, 422, 201, 201, 422], res
    assert r.json()["registered"] == 4 and r.json()["refused"] == 9
    assert res[1]["problem"]["token_id"] == minted.json()["token_id"]
    assert res[2]["problem"]["registered"] == "offchain"
    assert "twice in this request" in res[4]["problem"]["detail"] and "items 3 and 4" in res[4]["problem"]["detail"]
    assert "content_hash" in res[5]["problem"]["detail"]
    assert "zero bytes" in res[6]["problem"]["detail"]
    assert "owner" in res[7]["problem"]["detail"] and "owner" in res[8]["problem"]["detail"]
    assert "name" in res[9]["problem"]["detail"] and '"name" is required' in res[12]["problem"]["detail"]
    for x in res:
        assert (x["asset"] is None) == (x["status"] != 201) and (x["problem"] is None) == (x["status"] == 201)
        if x["problem"]:
            assert x["problem"]["status"] == x["status"] and x["problem"]["detail"]
    # the registered ones are in, once; the refused ones changed nothing
    for h in (good[0], dup, good[1], good[2]):
        assert len(log_entries(server, receipt(client, h)["entry_fields"]["content_hash"])) == 1
    assert client.get(f"/v1/assets/{dup}").json()["owner"].lower() == OWNER.lower()
    assert json.loads(server.service.store.cat(client.get(f"/v1/assets/{dup}").json()["metadata_cid"]))["name"] == "first"
    assert client.get(f"/v1/assets/{minted.json()['content_hash']}").json()["onchain"] is True
    assert client.get(f"/v1/assets/{regs[9]['content_hash']}").status_code == 404


def test_the_request_itself_is_checked(client, minter):
    one = [{"content_hash": rand_hash(), "owner": OWNER, "metadata": {"name": "x"}}]
    assert batch(client, {}, one).status_code == 401
    assert batch(client, {"X-API-Key": "wrong"}, one).status_code == 401
    assert batch(client, minter, []).status_code == 422
    too_many = [{"content_hash": rand_hash(), "owner": OWNER, "metadata": {"name": "x"}} for _ in range(1001)]
    r = batch(client, minter, too_many)
    assert r.status_code == 422 and "1000" in r.text
    for body in (b"{", b"[]", b'{"registrations": [{"owner": "0x"}]}', b'{"registrations": "x"}'):
        r = client.post("/v1/assets/batch", content=body, headers={**minter, "Content-Type": "application/json"})
        assert r.status_code == 422, (body, r.text)
    assert client.get("/v1/assets/batch").status_code == 422  # not a token id or a content hash


def test_a_session_registers_only_to_its_own_address(client):
    acct = Account.create()
    r = sign_in(client, acct)
    assert r.status_code == 200, r.text
    h = {"Authorization": f"Bearer {r.json()['token']}"}
    mine, other = rand_hash(), rand_hash()
    r = batch(client, h, [{"content_hash": mine, "metadata": {"name": "ของฉัน"}},
                          {"content_hash": other, "owner": OWNER, "metadata": {"name": "not mine"}}])
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert res[0]["status"] == 201 and res[0]["asset"]["owner"].lower() == acct.address.lower()
    assert res[1]["status"] == 403 and acct.address.lower() in res[1]["problem"]["detail"].lower()
    assert client.get(f"/v1/assets/{other}").status_code == 404


def test_idempotent_retry_replays_and_registers_nothing_twice(server, client, minter):
    regs = [{"content_hash": rand_hash(), "owner": OWNER, "metadata": {"name": f"retry {i}"}} for i in range(5)]
    key = {"Idempotency-Key": "batch-" + os.urandom(8).hex(), **minter}
    first = batch(client, key, regs)
    assert first.status_code == 200 and first.json()["registered"] == 5
    again = batch(client, key, regs)
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    other = batch(client, key, regs[:4])
    assert other.status_code == 422 and "different request body" in other.text
    # without the key, the same items are refused as registered (409 each), not registered again
    plain = batch(client, minter, regs)
    assert [x["status"] for x in plain.json()["results"]] == [409] * 5
    for reg in regs:
        receipt(client, reg["content_hash"])
        assert len(log_entries(server, reg["content_hash"])) == 1


def test_a_retry_after_a_crash_finds_its_own_earlier_work(server):
    """The service call a request runs, repeated with the same request key (as a retry after a
    kill -9 between the commit and the answer does): its own rows come back as registered, not
    as conflicts, and nothing is written twice."""
    svc = server.service
    items = [{"owner": OWNER, "content_hash": rand_hash(), "metadata": {"name": f"crash {i}"}} for i in range(6)]
    first = svc.register_offchain_many(items, request_key="k-" + os.urandom(8).hex())
    assert [x["status"] for x in first] == [201] * 6
    key = "k2-" + os.urandom(8).hex()
    items2 = [{"owner": OWNER, "content_hash": rand_hash(), "metadata": {"name": f"crash2 {i}"}} for i in range(4)]
    a = svc.register_offchain_many(items2, request_key=key)
    b = svc.register_offchain_many(items2, request_key=key)
    assert [x["status"] for x in b] == [201] * 4
    assert [x["asset"]["metadata_cid"] for x in a] == [x["asset"]["metadata_cid"] for x in b]
    # another request (another key) with the same items is refused
    c = svc.register_offchain_many(items2, request_key="k3")
    assert [x["status"] for x in c] == [409] * 4


def test_a_single_registration_retried_after_a_crash_finds_its_own_earlier_work(server):
    """The same for one off-chain registration (POST /v1/assets, hash-only): the group commit's
    one read sees this request's own row and answers with it; another key is refused, naming the
    registration; nothing is written twice."""
    from nftreg.services.errors import Conflict

    svc = server.service
    h, key = rand_hash(), "k-single-" + os.urandom(8).hex()
    a = svc.register_offchain(owner=OWNER, metadata={"name": "once"}, content_hash=h, request_key=key)
    b = svc.register_offchain(owner=OWNER, metadata={"name": "once"}, content_hash=h, request_key=key)
    assert a["content_hash"] == b["content_hash"] == h and a["metadata_cid"] == b["metadata_cid"]
    assert b["onchain"] is False and b["token_id"] is None
    with pytest.raises(Conflict, match="already registered off-chain"):
        svc.register_offchain(owner=OWNER, metadata={"name": "once"}, content_hash=h, request_key="another")
    with pytest.raises(Conflict, match="already registered off-chain"):
        svc.register_offchain(owner=OWNER, metadata={"name": "once"}, content_hash=h)
    assert len(log_entries_when_logged(server, h)) == 1
    import time

    time.sleep(0.5)  # a few more integrations: still one
    assert len(log_entries(server, h)) == 1


def log_entries_when_logged(server, content_hash: str, timeout: float = 30.0) -> list[LogEntry]:
    import time

    deadline = time.monotonic() + timeout
    while not (found := log_entries(server, content_hash)):
        assert time.monotonic() < deadline, f"{content_hash} not in the log within {timeout} s"
        time.sleep(0.1)
    return found


def test_concurrent_overlapping_batches_register_each_hash_once(server, client, minter):
    hashes = [rand_hash() for _ in range(60)]
    results: list[dict] = []
    lock = threading.Lock()

    def send(part: list[str], tag: str) -> None:
        with server.client() as c:
            r = batch(c, minter, [{"content_hash": h, "owner": OWNER, "metadata": {"name": tag}} for h in part])
        assert r.status_code == 200, r.text
        with lock:
            results.extend(r.json()["results"][i] | {"hash": h} for i, h in enumerate(part))

    parts = [hashes[0:40], hashes[20:60], hashes[10:50], hashes[::-1]]
    threads = [threading.Thread(target=send, args=(p, f"t{i}")) for i, p in enumerate(parts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == sum(len(p) for p in parts)
    for h in hashes:
        mine = [x for x in results if x["hash"] == h]
        assert sorted(x["status"] for x in mine) == [201] + [409] * (len(mine) - 1), mine
    for h in hashes[::9]:
        receipt(client, h)
        assert len(log_entries(server, h)) == 1


def _single(c, headers, content_hash: str, meta: dict) -> httpx.Response:
    return c.post("/v1/assets", data={"metadata": json.dumps(meta, ensure_ascii=False), "content_hash": content_hash,
                                      "owner": OWNER, "onchain": "false"}, headers=headers)


def test_concurrent_single_posts_share_the_grouped_flush_each_with_its_own_document(server, client, minter):
    """Single off-chain POSTs arriving together have their metadata documents added in grouped
    flushes by the group commit: each still gets its own document's CID (pinned, readable), one
    private entry, and the same content hash sent twice at once registers once."""
    store = server.service.offchain.store
    calls: list[int] = []
    real = store.add_many

    def counted(docs, **kw):
        calls.append(len(docs))
        return real(docs, **kw)

    hashes = [rand_hash() for _ in range(24)]
    sends = [(h, {"name": f"ชิ้นที่ {i}", "description": "พร้อมกัน"}) for i, h in enumerate(hashes)]
    sends.append((hashes[5], {"name": "the same hash again"}))
    out: dict[int, httpx.Response] = {}
    barrier = threading.Barrier(len(sends))

    def send(i: int) -> None:
        with server.client() as c:
            barrier.wait()
            out[i] = _single(c, minter, *sends[i])

    store.add_many = counted
    try:
        threads = [threading.Thread(target=send, args=(i,)) for i in range(len(sends))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        del store.add_many  # the bound method again
    assert sum(calls) >= len(hashes) and len(calls) <= len(sends), calls
    by_hash: dict[str, list[httpx.Response]] = {}
    for i, (h, _meta) in enumerate(sends):
        by_hash.setdefault(h, []).append(out[i])
    for i, (h, meta) in enumerate(sends[:-1]):
        answers = by_hash[h]
        assert sorted(r.status_code for r in answers) == [201] + [409] * (len(answers) - 1), [r.text for r in answers]
        won = next(r for r in answers if r.status_code == 201).json()
        sent = meta if out[i].status_code == 201 else sends[-1][1]
        assert won["metadata_cid"] == _core.cid.cid_of(canonical_json({**sent, "properties": {"content_hash": h}}))
        assert json.loads(store.cat(won["metadata_cid"]))["name"] == sent["name"] and store.is_pinned(won["metadata_cid"])
    for h in hashes[::6]:
        assert receipt(client, h)["entry_fields"]["metadata_cid"] == client.get(f"/v1/assets/{h}").json()["metadata_cid"]
        assert len(log_entries(server, h)) == 1


def test_a_store_failure_in_the_grouped_flush_refuses_the_waiting_posts_and_writes_nothing(server, client, minter):
    from nftreg.errors import IpfsError

    store = server.service.offchain.store

    def down(docs, **kw):
        raise IpfsError("the content store is down (test)")

    hashes = [rand_hash() for _ in range(6)]
    out: list[httpx.Response] = []

    def send(h: str) -> None:
        with server.client() as c:
            out.append(_single(c, minter, h, {"name": "x"}))

    store.add_many = down
    try:
        threads = [threading.Thread(target=send, args=(h,)) for h in hashes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        del store.add_many
    assert [r.status_code for r in out] == [503] * len(hashes), [r.text for r in out]
    assert all("content store" in r.json()["detail"] for r in out)
    for h in hashes:
        assert client.get(f"/v1/assets/{h}").status_code == 404
        assert log_entries(server, h) == []
    # the store back: the same registrations go through
    for h in hashes[:2]:
        assert _single(client, minter, h, {"name": "x"}).status_code == 201


def test_embedded_store_add_many_matches_add_bytes_and_leaves_no_temporary_files(tmp_path: Path):
    store = EmbeddedStore(tmp_path / "ipfs")
    docs = [canonical_json({"name": f"เอกสาร {i}"}) for i in range(30)] + [b"same", b"same", os.urandom(600_000)]
    cids = store.add_many(docs)
    assert cids == [_core.cid.cid_of(d) for d in docs]  # Kubo's CIDs (cross-checked in test_cid_kubo)
    assert cids[30] == cids[31]
    for c, d in zip(cids, docs, strict=True):
        assert store.cat(c) == d and store.is_pinned(c)
    assert not [p for p in (tmp_path / "ipfs").rglob("*") if ".tmp" in p.name or p.name.startswith("tmp")]
    # again: blocks already present and intact are kept, the CIDs are the same
    assert store.add_many(docs[:5]) == cids[:5]
    # a corrupted block is replaced by the next import of its document
    path = Path(_core.cid.blockstore_path(store.blocks, cids[0]))
    path.write_bytes(b"rot")
    assert store.add_many([docs[0]]) == [cids[0]] and store.cat(cids[0]) == docs[0]
    # a block that cannot be written (its shard directory is a file here) is a clear error, and
    # no block of that call is put in place: the group lands whole or not at all
    ok, blocked = canonical_json({"name": "would land"}), b"cannot land"
    shard = Path(_core.cid.blockstore_path(store.blocks, _core.cid.cid_of(blocked))).parent
    if shard.exists():
        for f in shard.iterdir():
            f.unlink()
        shard.rmdir()
    shard.write_bytes(b"")
    with pytest.raises(Exception, match="(?i)exists|directory|write"):
        store.add_many([ok, blocked])
    assert not store.has(_core.cid.cid_of(ok))
    assert not [p for p in (tmp_path / "ipfs").rglob("*") if ".tmp" in p.name]


def test_python_client_registers_many_in_chunks_and_a_retry_replays(server, client, minter):
    import nftreg

    regs = [{"content_hash": rand_hash(), "owner": OWNER, "metadata": {"name": f"ลำดับ {i}"}} for i in range(1205)]
    regs[1100]["content_hash"] = regs[5]["content_hash"]  # twice: in different requests
    key = "many-" + os.urandom(6).hex()
    with nftreg.Client(server.url, api_key=minter["X-API-Key"]) as c:
        out = c.register_many(regs, idempotency_key=key)
        assert [r.index for r in out.results] == list(range(1205))
        assert out.registered == 1204 and out.refused == 1
        assert out.results[1100].status == 409 and out.results[1100].problem["registered"] == "offchain"
        assert all(r.asset is not None and r.asset.content_hash == g["content_hash"]
                   for r, g in zip(out.results, regs, strict=True) if r.status == 201)
        again = c.register_many(regs, idempotency_key=key)  # the whole call retried: replayed
        assert again == out
        with pytest.raises(Exception, match="nothing to register"):
            c.register_many([])
    for i in (0, 999, 1000, 1204):
        verify_receipt(receipt(client, regs[i]["content_hash"]), client.get("/v1/log").json()["verifier_key"])
        assert len(log_entries(server, regs[i]["content_hash"])) == 1


def test_async_client_registers_many(server, minter):
    import asyncio

    import nftreg

    regs = [{"content_hash": rand_hash(), "owner": OWNER, "metadata": {"name": "async"}} for _ in range(3)]

    async def go():
        async with nftreg.AsyncClient(server.url, api_key=minter["X-API-Key"]) as c:
            return await c.register_many(regs)

    out = asyncio.run(go())
    assert [r.status for r in out.results] == [201, 201, 201] and out.registered == 3


def test_cli_log_register_hashes_files_here_and_registers_them_off_chain(server, client, tmp_path):
    import subprocess
    import sys

    acct = Account.create()
    files = []
    for i in range(5):
        f = tmp_path / f"ภาพ-{i}.bin"
        f.write_bytes(os.urandom(100 + i))
        files.append(f)
    env = {**os.environ, "NFTREG_PRIVATE_KEY": acct.key.hex(), "NFTREG_REMOTE": server.url}
    env.pop("NFTREG_API_KEY", None)
    run = [sys.executable, "-m", "nftreg", "log", "register", *map(str, files), "--description", "แคตตาล็อก", "--json"]
    out = subprocess.run(run, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    got = json.loads(out.stdout)
    assert got["registered"] == 5 and got["refused"] == 0
    for f, item in zip(files, got["items"], strict=True):
        h = "0x" + hashlib.sha256(f.read_bytes()).hexdigest()
        assert item["content_hash"] == h and item["status"] == 201
        a = client.get(f"/v1/assets/{h}").json()
        assert a["owner"].lower() == acct.address.lower() and a["asset_cid"] is None  # nothing uploaded
        meta = json.loads(server.service.store.cat(a["metadata_cid"]))
        assert meta["name"] == f.name and meta["description"] == "แคตตาล็อก"
    assert private_key_not_in(out.stdout + out.stderr, acct.key.hex())
    # again: every one is refused as registered, exit 3 (partial), with the reason for each
    out = subprocess.run(run[:-1], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert out.returncode == 3, out.stdout + out.stderr
    assert out.stdout.count("already registered off-chain") == 5 and "0 registered off-chain, 5 refused" in out.stdout


def private_key_not_in(text: str, key_hex: str) -> bool:
    return key_hex.removeprefix("0x").lower() not in text.lower()
