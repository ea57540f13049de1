"""``nftreg.Client`` / ``nftreg.AsyncClient`` against a real ``nftreg serve`` (its own process, on
embedded defaults: managed anvil, embedded store, SQLite): the creator story, the verifier
story, and the client's safety under faults (connections cut after the server answered, a 429
storm, the server restarted mid-stream, kill -9 during register)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from datetime import datetime, timedelta, timezone

import httpx
import nftreg
import pytest
from client_server import ADMIN, Server
from eth_account import Account
from eth_account.messages import encode_typed_data
from nacl.signing import SigningKey
from nftreg import StandardMerkleTree
from nftreg.chain.anvil import ANVIL_DEV_KEY
from nftreg.cid import cid_of, content_hash_hex
from nftreg.claims import CLAIM_LEAF_ENCODING
from nftreg.client import (
    AlreadyRegistered,
    InvalidInput,
    NotFound,
    RateLimited,
    RetryPolicy,
    TransportError,
    Unauthorized,
)
from nftreg.schemas import Asset, BatchProofs, PinsOut, ProofsReport, SignaturesReport

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # small verify limits, so that a few thousand items already take several requests
    with Server(tmp_path_factory.mktemp("client-serve"), NFTREG_RATE_LIMIT_PER_MINUTE="0",
                NFTREG_MAX_VERIFY_ITEMS="1000", NFTREG_MAX_VERIFY_BYTES="300000") as srv:
        yield srv


@pytest.fixture
def client(server):
    with nftreg.Client(server.url) as c:
        yield c


@pytest.fixture
def minter(server):
    with nftreg.Client(server.url, api_key=ADMIN) as c:
        yield c


# -- the creator story -------------------------------------------------------------------------
def test_creator_story(server, client, minter, tmp_path):
    creator_story(server, client, minter, tmp_path)


def test_creator_story_on_postgres(postgres, tmp_path):
    import psycopg

    # a database of its own: other tests' servers (other chains) use the fixture's database
    base, _, _ = postgres.rpartition("/")
    with psycopg.connect(base.replace("postgresql+psycopg", "postgresql") + "/nftreg", autocommit=True) as db:
        db.execute("CREATE DATABASE nftreg_client")
    with Server(tmp_path / "pg", NFTREG_RATE_LIMIT_PER_MINUTE="0", NFTREG_DATABASE_URL=base + "/nftreg_client") as srv, \
            nftreg.Client(srv.url) as client, nftreg.Client(srv.url, api_key=ADMIN) as minter:
        creator_story(srv, client, minter, tmp_path)
        tree, items = _claims_tree(1500)
        assert client.verify_proofs(tree.root, None, items).valid == 1500


def creator_story(server, client, minter, tmp_path):
    acct = Account.create()
    session = client.sign_in(acct)
    assert session.address == acct.address == client.address

    # register an upload: typed result, Thai metadata, one token
    data = PNG + os.urandom(16)
    before = datetime.now(timezone.utc)
    asset = client.register(data, name="ภาพวาดสีน้ำ", description="งานศิลปะ", attributes={"ศิลปิน": "สมชาย"})
    assert isinstance(asset, Asset) and asset.token_id is not None and asset.owner == acct.address
    # when the registry recorded it (a duplicate's "held since"), in UTC
    assert asset.registered_at is not None and asset.registered_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=5) <= asset.registered_at <= datetime.now(timezone.utc)
    assert asset.content_hash == content_hash_hex(data) and asset.asset_cid == cid_of(data)
    assert asset.media_type == "image/png" and asset.size == len(data)
    meta = json.loads(httpx.get(f"{server.direct}/ipfs/{asset.metadata_cid}").content)
    assert meta["name"] == "ภาพวาดสีน้ำ" and meta["attributes"] == [{"trait_type": "ศิลปิน", "value": "สมชาย"}]
    final = client.wait(asset, status="final", timeout=60, interval=0.5)
    assert final.final and final.token_id == asset.token_id
    # (log_index appears once the registration log integrates the entry: it may between the calls)
    assert client.asset(asset.token_id).model_dump(exclude={"log_index"}) == final.model_dump(exclude={"log_index"})
    assert final.registered_at == asset.registered_at

    # where its content is pinned: both CIDs in this node's store
    pins = client.pins(asset.token_id)
    assert isinstance(pins, PinsOut) and pins.token_id == asset.token_id
    assert pins.pins == {asset.asset_cid: {"local": True}, asset.metadata_cid: {"local": True}}
    with pytest.raises(NotFound):
        client.pins(10**9)

    # the same content again: the existing token comes with the error
    with pytest.raises(AlreadyRegistered) as ei:
        client.register(data, name="again")
    assert ei.value.token_id == asset.token_id and ei.value.status == 409

    # lookup hashes locally
    path = tmp_path / "art.png"
    path.write_bytes(data)
    found = client.lookup(path)
    assert found is not None and found.token_id == asset.token_id
    assert client.lookup(b"never registered " + os.urandom(8)) is None

    # a private registration: hash and CID computed here, the file never sent
    secret = tmp_path / "secret.bin"
    secret.write_bytes(os.urandom(5000))
    seen_before = server.proxy.seen["POST /v1/assets"]
    priv = client.register(secret, name="private", private=True)
    assert server.proxy.seen["POST /v1/assets"] == seen_before + 1
    assert priv.content_hash == content_hash_hex(secret) and priv.asset_cid == cid_of(str(secret))
    assert priv.size is None and priv.media_type is None  # nothing was uploaded
    assert httpx.get(f"{server.direct}/ipfs/{priv.asset_cid}").status_code == 404
    # its file is pinned nowhere here; its metadata is
    assert client.pins(priv.token_id).pins == {priv.asset_cid: {"local": False}, priv.metadata_cid: {"local": True}}

    # a third one, then the lazy iterator walks every page (page size 1)
    third = client.register(b"third " + os.urandom(8), name="three")
    mine = list(client.assets(owner=acct.address, page_size=1))
    assert [a.token_id for a in mine] == sorted([asset.token_id, priv.token_id, third.token_id])
    assert [a.token_id for a in client.assets(content_hash=priv.content_hash)] == [priv.token_id]

    # ownership: the holder proves it, somebody else does not
    own = client.prove_ownership(asset.token_id, acct)
    assert own.verified and own.owner == own.signer == acct.address
    other = client.prove_ownership(asset.token_id, Account.create().key.hex())
    assert not other.verified and other.owner == acct.address

    # a batch of claims: anchored, proofs served, and the proofs verify through the client
    mcid = cid_of(b"batch metadata")
    owners = [Account.create().address for _ in range(5)]
    claims = [{"owner": o, "content_hash": "0x" + os.urandom(32).hex(), "metadata_cid": mcid} for o in owners]
    batch = minter.create_batch(claims)
    assert batch.size == 5 and batch.status == "anchored"
    tree = StandardMerkleTree.of([[c["owner"], c["content_hash"], c["metadata_cid"]] for c in claims],
                                 CLAIM_LEAF_ENCODING)
    assert batch.root == tree.root
    p = minter.proof(batch.id, 3)
    assert isinstance(p, BatchProofs) and p.proofs[0].proof == tree.get_proof(3)
    by_owner = client.proof(batch.id, owners[2])
    assert [x.index for x in by_owner.proofs] == [2]
    csv = tmp_path / "claims.csv"
    csv.write_text("owner,content_hash,metadata_cid\n" + "".join(
        f"{o},0x{os.urandom(32).hex()},{mcid}\n" for o in owners))
    assert minter.create_batch(csv).size == 5
    dump = json.loads(client.content(batch.tree_cid))  # checked against its CID by the client
    assert StandardMerkleTree.load(dump).root == batch.root
    report = client.verify_proofs(batch.root, None, [(x.value, x.proof) for x in p.proofs + by_owner.proofs])
    assert report.results == [True, True]

    # a voucher the server's minter signed, checked here with eth-account
    v = minter.voucher(acct.address, "0x" + os.urandom(32).hex(), mcid)
    signer = Account.recover_message(encode_typed_data(full_message=v.typed_data), signature=v.signature)
    assert signer == v.signer and v.voucher.to == acct.address


def test_lookup_finds_an_off_chain_registration(server, client):
    client.sign_in(Account.create())
    data = b"off-chain lookup " + os.urandom(8)
    a = client.register(data, name="นอกเชน", onchain=False)
    found = client.lookup(data)
    assert found is not None and found.token_id is None and found.onchain is False
    assert found.content_hash == a.content_hash == content_hash_hex(data) and found.owner == client.address
    assert found.status in ("logging", "logged", "anchored")


def test_sign_in_with_keystore_and_errors(server, client, tmp_path):
    acct = Account.create()
    ks = tmp_path / "key.json"
    ks.write_text(json.dumps(Account.encrypt(acct.key, "correct horse")))
    with pytest.raises(nftreg.errors.ConfigError):
        client.sign_in(ks, password="wrong")
    assert client.sign_in(ks, password="correct horse").address == acct.address
    assert client.sign_in(Account.create().key).address != acct.address  # raw key bytes work too
    assert "correct horse" not in repr(client) and acct.key.hex() not in repr(client)

    with pytest.raises(NotFound) as nf:
        client.asset(10**9)
    assert nf.value.status == 404 and "10" in nf.value.detail
    with nftreg.Client(server.url) as anon, pytest.raises(Unauthorized):
        anon.register(b"anonymous " + os.urandom(8), name="x")
    with nftreg.Client(server.url, api_key=ADMIN) as m:
        with pytest.raises(InvalidInput) as ii:
            m.voucher(acct.address, "0x1234", "bafy")
        assert ii.value.field == "content_hash"
        with pytest.raises(InvalidInput) as ii:
            m.register(b"no owner " + os.urandom(8), name="x")  # an API key must name the owner
        assert ii.value.field == "owner"
    with pytest.raises(nftreg.InvalidInputError):
        client.register(b"x", name="")  # refused here, before any request


def test_async_client(server):
    async def story() -> None:
        acct = Account.create()
        async with nftreg.AsyncClient(server.url) as c:
            await c.sign_in(acct.key.hex())
            tokens = []
            for i in range(3):
                a = await c.register(f"async {i} ".encode() + os.urandom(8), name=f"แบบ async {i}")
                tokens.append(a.token_id)
            assert (await c.wait(tokens[0], status="minted", timeout=30)).token_id == tokens[0]
            assert [a.token_id async for a in c.assets(owner=acct.address, page_size=2)] == tokens
            pins = await c.pins(tokens[1])
            assert pins.token_id == tokens[1] and all(p == {"local": True} for p in pins.pins.values())
            assert len(pins.pins) == 2
            assert (await c.lookup(b"missing" + os.urandom(4))) is None
            items = _signature_items(50)
            rep = await c.verify_signatures(items)
            assert [r.valid for r in rep.results] == [it.pop("_expect") for it in items]
            with pytest.raises(NotFound):
                await c.asset(10**9)

    asyncio.run(story())


# -- the verifier story ------------------------------------------------------------------------
def _claims_tree(n: int) -> tuple[StandardMerkleTree, list[dict]]:
    mcid = cid_of(b"verifier")
    values = [[Account.create().address if i < 2 else f"0x{i:040x}", "0x" + os.urandom(32).hex(), mcid]
              for i in range(n)]
    tree = StandardMerkleTree.of(values, CLAIM_LEAF_ENCODING)
    items = [{"value": list(v), "proof": tree.get_proof(i)} for i, v in tree.entries()]
    return tree, items


def test_verify_proofs_streams_in_server_sized_requests(server, client, tmp_path):
    tree, items = _claims_tree(3500)
    bad = {7, 1000, 1001, 2999, 3499}
    for i in bad:
        items[i]["proof"] = items[i]["proof"][::-1] if len(items[i]["proof"]) > 1 else ["0x" + "00" * 32]
    expect = [i not in bad for i in range(len(items))]
    before = server.proxy.seen["POST /v1/verify/proofs"]
    seen: list[int] = []
    rep = client.verify_proofs(tree.root, CLAIM_LEAF_ENCODING, iter(items), progress=seen.append)
    assert isinstance(rep, ProofsReport) and rep.results == expect
    assert rep.count == 3500 and rep.valid == 3500 - len(bad) and rep.invalid_indices == sorted(bad)
    requests = server.proxy.seen["POST /v1/verify/proofs"] - before
    # 1,000 items per request at most, and the 300 kB body limit splits some further
    assert requests >= 4 and seen[-1] == 3500 and seen == sorted(seen)
    # (value, proof) pairs and a JSON-lines file give the same answer
    assert client.verify_proofs(tree.root, None, [(it["value"], it["proof"]) for it in items]).results == expect
    jl = tmp_path / "proofs.jsonl"
    jl.write_text("\ufeff" + "\n".join(json.dumps(it) for it in items) + "\n\n")
    assert client.verify_proofs(tree.root, CLAIM_LEAF_ENCODING, jl).results == expect
    assert client.verify_proofs(tree.root, None, []).results == []
    with pytest.raises(InvalidInput):
        client.verify_proofs("0x1234", None, items[:3])


def _signature_items(n: int) -> list[dict]:
    acct = Account.create()
    sk = SigningKey.generate()
    items = []
    for i in range(n):
        msg = f"ข้อความ {i}"
        if i % 3 == 0:
            sig = sk.sign(msg.encode()).signature
            items.append({"scheme": "ed25519", "message": msg, "signature": "0x" + sig.hex(),
                          "public_key": "0x" + bytes(sk.verify_key).hex(), "_expect": True})
        else:
            sig = acct.sign_message(encode_defunct_text(msg)).signature
            items.append({"scheme": "eip191", "message": msg, "signature": "0x" + bytes(sig).hex(),
                          "address": acct.address, "_expect": True})
        if i % 7 == 5:
            items[-1]["message"] += "!"  # tampered
            items[-1]["_expect"] = False
    items[4] = {"scheme": "nope", "_expect": False}
    return items


def encode_defunct_text(text: str):
    from eth_account.messages import encode_defunct

    return encode_defunct(text=text)


def test_verify_signatures_in_input_order(server, client, tmp_path):
    items = _signature_items(2300)
    expect = [it.pop("_expect") for it in items]
    rep = client.verify_signatures(items)
    assert isinstance(rep, SignaturesReport)
    assert [r.valid for r in rep.results] == expect and [r.index for r in rep.results] == list(range(2300))
    assert rep.results[4].error and "scheme" in rep.results[4].error
    assert rep.invalid_indices == [i for i, e in enumerate(expect) if not e]
    jl = tmp_path / "sigs.jsonl"
    jl.write_text("\n".join(json.dumps(it, ensure_ascii=False) for it in items))
    assert [r.valid for r in client.verify_signatures(str(jl)).results] == expect


# -- safety: cut connections, 429 storm, restart, kill -9 --------------------------------------
def test_cut_after_the_server_answered_is_retried_with_the_same_key(server, client, minter):
    client.sign_in(Account.create())
    data = b"cut " + os.urandom(16)
    server.proxy.cut("POST /v1/assets", times=2)
    cuts = server.proxy.cuts["POST /v1/assets"]
    asset = client.register(data, name="cut twice")
    assert server.proxy.cuts["POST /v1/assets"] == cuts + 2  # two answers lost, the third arrived
    assert [a.token_id for a in client.assets(content_hash=asset.content_hash)] == [asset.token_id]
    # the same for a batch: one anchored batch, not three
    claims = [[Account.create().address, "0x" + os.urandom(32).hex(), cid_of(b"m")] for _ in range(3)]
    server.proxy.cut("POST /v1/batches", times=2)
    batch = minter.create_batch(claims)
    assert minter.batch(batch.id).root == batch.root
    # and for a verify request
    tree, items = _claims_tree(50)
    server.proxy.cut("POST /v1/verify/proofs")
    assert client.verify_proofs(tree.root, None, items).valid == 50
    # a client that may not retry sees the transport failure
    server.proxy.cut("GET /v1/assets")
    with nftreg.Client(server.url, retry=RetryPolicy(attempts=1)) as once, pytest.raises(TransportError):
        once.asset(asset.token_id)


def test_rate_limit_storm(tmp_path):
    with Server(tmp_path / "storm", NFTREG_RATE_LIMIT_PER_MINUTE="120") as srv:
        with httpx.Client(base_url=srv.url) as raw:  # drain the bucket (burst 120, then 2/s)
            while raw.get("/v1/info").status_code != 429:
                pass
        errors: list[BaseException] = []
        done: list[int] = []

        def worker() -> None:
            try:
                with nftreg.Client(srv.url) as c:
                    for _ in range(3):
                        assert c.lookup(b"storm " + os.urandom(8)) is None
                        done.append(1)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and len(done) == 12
        # the bucket was empty: every thread met 429s and waited them out
        assert srv.metric("nftreg_http_requests_total", status="429") >= 5
        with nftreg.Client(srv.url, retry=RetryPolicy(attempts=1)) as once:
            with pytest.raises(RateLimited) as rl:
                for _ in range(10):
                    once.info()
            assert rl.value.retry_after is not None and rl.value.retry_after >= 1
            print(f"429 storm: 12 calls from 4 threads all answered; "
                  f"{srv.metric('nftreg_http_requests_total', status='429'):.0f} 429s")


def test_server_restarted_mid_stream(tmp_path, anvil):
    # killed (SIGKILL, so the request in flight really breaks) and started again; on an external
    # anvil, as a killed server cannot stop the devnet it manages
    with Server(tmp_path / "restart", NFTREG_RATE_LIMIT_PER_MINUTE="0", NFTREG_MAX_VERIFY_ITEMS="500",
                NFTREG_RPC_URL=anvil.url, NFTREG_PRIVATE_KEY=ANVIL_DEV_KEY) as srv:
        tree, items = _claims_tree(4000)
        items[1234]["proof"] = ["0x" + "11" * 32]
        restarted = threading.Event()

        def on_request(route: str) -> None:
            # the server goes down while the 4th request is on its way to it (killed before the
            # proxy passes the request on, so the batch is lost whatever the timing of the run);
            # it comes back on another port behind the same address
            if route == "POST /v1/verify/proofs" and srv.proxy.seen[route] == 4 and not restarted.is_set():
                restarted.set()
                srv.stop(kill=True)
                threading.Thread(target=srv.start, daemon=True).start()

        srv.proxy.on_request = on_request
        with nftreg.Client(srv.url, retry=RetryPolicy(attempts=200, deadline_s=180, cap_s=2)) as c:
            rep = c.verify_proofs(tree.root, None, items)
        assert restarted.is_set() and srv.proxy.seen["POST /v1/verify/proofs"] > 8  # 8 requests + resent ones
        assert rep.count == 4000 and rep.invalid_indices == [1234]
        assert rep.results == [i != 1234 for i in range(4000)]


@pytest.fixture
def slow_anvil(tmp_path):
    """An anvil that mines a block a second, so a register stays in flight long enough to be killed."""
    from nftreg.chain import AnvilProcess

    proc = AnvilProcess(tmp_path / "anvil", block_time=1)
    proc.start()
    yield proc
    proc.stop()


def test_kill9_during_register_mints_exactly_once(tmp_path, slow_anvil):
    from nftreg.chain import Chain, Registry

    anvil = slow_anvil
    with Server(tmp_path / "kill9", NFTREG_RATE_LIMIT_PER_MINUTE="0", NFTREG_RPC_URL=anvil.url,
                NFTREG_PRIVATE_KEY=ANVIL_DEV_KEY) as srv:
        acct = Account.create()
        plan: list[float] = []  # kill -9 this long after the server starts receiving the register
        crashes: list[tuple[threading.Thread, list[float]]] = []

        def on_request(route: str) -> None:
            if route == "POST /v1/assets" and plan:
                delay, killed_at = plan.pop(), []

                def crash() -> None:
                    time.sleep(delay)
                    killed_at.append(time.monotonic())
                    srv.stop(kill=True)
                    srv.start()
                t = threading.Thread(target=crash, daemon=True)
                crashes.append((t, killed_at))
                t.start()

        srv.proxy.on_request = on_request
        registered: list[Asset] = []
        during = 0
        with nftreg.Client(srv.url, retry=RetryPolicy(attempts=200, deadline_s=180, cap_s=2)) as c:
            c.sign_in(acct)
            for delay in (0.0, 0.05, 0.2, 0.4, 0.7):
                plan.append(delay)
                registered.append(c.register(f"kill -9 after {delay} s ".encode() + os.urandom(8), name="k9"))
                answered = time.monotonic()
                thread, killed_at = crashes[-1]
                thread.join(timeout=240)
                during += killed_at[0] < answered  # else the answer came before the kill
            mine = list(c.assets(owner=acct.address))
            contract = c.info().registry
        chain = Chain.connect(anvil.url, private_key=ANVIL_DEV_KEY)
        registry = Registry.at(chain, contract)
        for a in registered:
            assert registry.token_of_content(a.content_hash) == a.token_id  # on chain, once
        assert sorted(a.token_id for a in mine) == sorted(a.token_id for a in registered)
        assert registry.contract.functions.balanceOf(acct.address).call() == len(registered)  # no second token
        chain.close()
        assert during >= 3, f"only {during} of 5 kills landed while a register was in flight"
        print(f"kill -9 during register: {during} of 5 kills while the register was in flight; "
              f"{len(registered)} registers, {len(registered)} tokens")
