"""The bad-input corpus in one place: hostile and malformed client input against the real REST
API. Every case must get a 4xx problem-details answer (or a per-item `valid: false`) that names
what is wrong, never a 500 — and after the whole corpus nothing was minted, anchored or written
under a client-chosen name."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable

import httpx
import pytest
from api_server import LiveServer
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys import keys
from nftreg.cid import cid_of
from nftreg.merkle import StandardMerkleTree
from nftreg.settings import Settings
from test_api import sign_in

ADMIN = "corpus-admin-key-0123456789"
SECP_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Settings(data_dir=tmp_path_factory.mktemp("corpus"), rpc_url="tester://", env="test", admin_api_key=ADMIN,
                 max_upload_bytes=4096, max_verify_bytes=8192, rate_limit_per_minute=0)
    with LiveServer(s) as server:
        yield server


@pytest.fixture(scope="module")
def c(srv):
    with srv.client() as client:
        client.chain_id = srv.service.chain.chain_id
        yield client


@pytest.fixture(scope="module")
def key(c):
    return c.post("/v1/admin/api-keys", json={"name": "m", "role": "minter"}, headers={"X-API-Key": ADMIN}).json()["api_key"]


def _mint(c, key, data, *, filename="a.bin", ctype="application/octet-stream", meta=None, owner=None, headers=None):
    return c.post("/v1/assets", headers={"X-API-Key": key, **(headers or {})},
                  data={"metadata": meta if meta is not None else json.dumps({"name": "ทดสอบ"}),
                        "owner": owner or Account.create().address},
                  files={"file": (filename, data, ctype)})


def _high_s(sig: bytes) -> bytes:
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    return r + (SECP_N - s).to_bytes(32, "big") + bytes([27 + (1 - (v - 27))])


def _compact(sig: bytes) -> bytes:
    s = int.from_bytes(sig[32:64], "big") | ((sig[64] - 27) << 255)
    return sig[:32] + s.to_bytes(32, "big")


def _sig_items():
    acct = Account.create()
    msg = "ยืนยันความเป็นเจ้าของ"
    good = bytes(acct.sign_message(encode_defunct(text=msg)).signature)
    return acct, msg, good


def case_oversize_with_content_length(c, key):
    return _mint(c, key, b"z" * 10_000), 413, "large"


def case_oversize_chunked_without_content_length(c, key):
    def body():
        for _ in range(40):
            yield b"q" * 1000
    r = c.post("/v1/verify/signatures", content=body(), headers={"Content-Type": "application/json"})
    return r, 413, "large"


def case_oversize_lying_content_length(c, key):
    # a small Content-Length in front of a big body (raw socket: httpx refuses to send it): the
    # server reads what it was promised and no more; what it got is not valid JSON
    host, port = c.base_url.host, c.base_url.port
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(b"POST /v1/verify/proofs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 10\r\nConnection: close\r\n\r\n{" + b"x" * 20_000)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return httpx.Response(int(lines[0].split()[1]), headers=headers, content=body), 422, "JSON"


def case_malformed_metadata_json(c, key):
    return _mint(c, key, os.urandom(100), meta='{"name": "ภาพ", '), 422, "metadata"


def case_metadata_not_an_object(c, key):
    return _mint(c, key, os.urandom(100), meta="[1, 2]"), 422, "metadata"


def case_owner_not_an_address(c, key):
    return _mint(c, key, os.urandom(100), owner="0x1234"), 422, "owner"


def case_bad_checksum_owner(c, key):
    addr = Account.create().address
    bad = addr[:2] + (addr[2:].swapcase() if addr[2:].swapcase() != addr[2:] else addr[2:])
    return _mint(c, key, os.urandom(100), owner=bad), 422, "owner"


def case_private_registration_bad_hash(c, key):
    r = c.post("/v1/assets", headers={"X-API-Key": key},
               data={"metadata": '{"name": "x"}', "owner": Account.create().address, "content_hash": "0x" + "zz" * 32})
    return r, 422, "content_hash"


def case_batch_csv_bad_lines_named(c, key):
    good = [(Account.create().address, "0x" + os.urandom(32).hex()) for _ in range(3)]
    lines = ["owner,content_hash,metadata_cid"] + [f"{o},{h},{cid_of(h.encode())}" for o, h in good]
    lines.insert(2, "0xnotanaddress,0x00,bafy")
    lines.insert(4, f"{good[0][0]},0x{'ab' * 32}")  # missing field
    r = c.post("/v1/batches", content="\n".join(lines).encode(), headers={"X-API-Key": key, "Content-Type": "text/csv"})
    assert r.status_code == 422, r.text
    assert sorted(e["line"] for e in r.json()["errors"]) == [3, 5], r.json()["errors"]
    return r, 422, "invalid"


def case_batch_jsonl_bad_line_named(c, key):
    o, h = Account.create().address, "0x" + os.urandom(32).hex()
    good = json.dumps({"owner": o, "content_hash": h, "metadata_cid": cid_of(h.encode())})
    body = "\n".join([good, '{"owner": "0x12"', good.replace(o, Account.create().address)])
    r = c.post("/v1/batches", content=body.encode(),
               headers={"X-API-Key": key, "Content-Type": "application/x-ndjson"})
    assert r.status_code == 422, r.text
    assert [e["line"] for e in r.json()["errors"]] == [2], r.json()["errors"]
    return r, 422, "invalid"


def case_siwe_nonce_replay(c, key):
    acct = Account.create()
    nonce = c.post("/v1/auth/nonce").json()["nonce"]
    assert sign_in(c, acct, nonce=nonce).status_code == 200
    return sign_in(c, acct, nonce=nonce), 401, "nonce"


def case_siwe_wrong_domain(c, key):
    return sign_in(c, Account.create(), domain="evil.example"), 401, "domain"


def case_siwe_wrong_chain(c, key):
    return sign_in(c, Account.create(), chain_id=c.chain_id + 1), 401, "chain"


def case_voucher_bad_content_hash(c, key):
    r = c.post("/v1/vouchers", headers={"X-API-Key": key},
               json={"to": Account.create().address, "content_hash": "0x12", "metadata_cid": "bafy"})
    return r, 422, "content_hash"


def case_ownership_challenge_replay(c, key):
    acct = Account.create()
    tid = _mint(c, key, os.urandom(300), owner=acct.address)
    assert tid.status_code == 201, tid.text
    ch = c.post("/v1/ownership/challenge", json={"token_id": tid.json()["token_id"]}).json()
    sig = "0x" + bytes(acct.sign_message(encode_defunct(text=ch["message"])).signature).hex()
    first = c.post("/v1/ownership/verify", json={"nonce": ch["nonce"], "signature": sig})
    assert first.status_code == 200 and first.json()["verified"] is True
    return c.post("/v1/ownership/verify", json={"nonce": ch["nonce"], "signature": sig}), 404, "already used"


def case_idempotency_key_reuse_other_body(c, key):
    data = os.urandom(200)
    owner = Account.create().address
    first = _mint(c, key, data, owner=owner, headers={"Idempotency-Key": "corpus-1"})
    assert first.status_code == 201
    return _mint(c, key, os.urandom(200), owner=owner, headers={"Idempotency-Key": "corpus-1"}), 422, "Idempotency-Key"


def case_verify_proofs_not_json(c, key):
    return c.post("/v1/verify/proofs", content=b"\xff\xfe not json"), 422, "JSON"


def case_verify_proofs_bad_root(c, key):
    return c.post("/v1/verify/proofs", json={"root": "0x1234", "items": []}), 422, "root"


CASES: list[Callable] = [v for k, v in dict(globals()).items() if k.startswith("case_")]


@pytest.mark.parametrize("case", CASES, ids=lambda f: f.__name__.removeprefix("case_"))
def test_client_mistake_gets_a_clear_4xx(c, key, case):
    r, status, words = case(c, key)
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith(("application/problem+json", "application/json")), r.headers
    body = r.json()
    assert body["status"] == status and words.lower() in json.dumps(body, ensure_ascii=False).lower(), body


def test_spoofed_types_and_traversal_names_are_ignored(srv, c, key):
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(200)
    elf = b"\x7fELF" + os.urandom(200)
    names = ["../../etc/passwd", "..\\..\\win.ini", "/abs/path.png", "ไฟล์ภาพ.png", "x" * 300]
    for data, claimed, expected in ((png, "application/pdf", "image/png"), (elf, "image/png", None)):
        for i, name in enumerate(names[:2]):
            r = _mint(c, key, data + bytes([i]), filename=name, ctype=claimed)
            assert r.status_code == 201, r.text
            assert r.json()["media_type"] != claimed
            if expected:
                assert r.json()["media_type"] == expected
    for name in names[2:]:
        assert _mint(c, key, os.urandom(150), filename=name).status_code == 201
    # nothing under the data dir (or outside it) carries a client-chosen name
    for root, dirs, files in os.walk(srv.service.settings.data_dir):
        for f in files + dirs:
            assert f not in ("passwd", "win.ini", "path.png", "ไฟล์ภาพ.png") and not f.startswith("xxxx"), f
    assert not os.path.exists(srv.service.settings.data_dir.parent / "etc" / "passwd")


def test_malleated_and_compact_signatures_are_invalid_items(c):
    acct, msg, good = _sig_items()
    pub = keys.PrivateKey(acct.key).public_key
    assert pub.to_checksum_address() == acct.address
    items = [{"scheme": "eip191", "message": msg, "signature": "0x" + s.hex(), "address": acct.address}
             for s in (good, _high_s(good), _compact(good), good[:-1])]
    items.append({"scheme": "eip191", "message": msg, "signature": "0xzz", "address": acct.address})
    items.append({"scheme": "nope"})
    r = c.post("/v1/verify/signatures", json={"items": items})
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["valid"] for x in res] == [True, False, False, False, False, False]
    assert "items[4]" in res[4]["error"] and "items[5]" in res[5]["error"]


def test_sixty_four_byte_leaf_and_bad_proofs_are_false(c):
    owners = [Account.create().address for _ in range(4)]
    rows = [[o, "0x" + os.urandom(32).hex(), "bafkqaaa"] for o in owners]
    tree = StandardMerkleTree.of(rows, ["address", "bytes32", "string"])
    good = {"value": rows[1], "proof": tree.get_proof(1)}
    items = [good, {"value": rows[1], "proof": tree.get_proof(2)}, {"value": rows[1], "proof": ["0x12"]},
             {"value": rows[1], "proof": ["not hex"]}, {"value": ["0x12", "0x00", "x"], "proof": []}]
    r = c.post("/v1/verify/proofs", json={"root": tree.root, "leaf_encoding": ["address", "bytes32", "string"],
                                          "items": items})
    assert r.status_code == 200, r.text
    assert r.json()["results"] == [True, False, False, False, False], r.json()
    # 64-byte-leaf forgery: the two children of an inner node presented as one leaf of
    # (bytes32, bytes32) with the proof from one level up; double-hashed leaves refuse it
    leaf, sib = tree.leaf_hash(rows[1]), tree.get_proof(1)[0]
    pair = sorted([leaf, sib])
    forged = {"value": pair, "proof": tree.get_proof(1)[1:]}
    r = c.post("/v1/verify/proofs", json={"root": tree.root, "leaf_encoding": ["bytes32", "bytes32"],
                                          "items": [forged]})
    assert r.status_code == 200 and r.json()["results"] == [False], r.text


def test_after_the_corpus_nothing_extra_was_minted_or_anchored(srv, c, key):
    # runs last in this module: mints made on purpose above are the only tokens
    items = c.get("/v1/assets", params={"limit": 500, "status": "minted"}).json()["items"]
    assert srv.service.registry.total_minted() == len(items)
    with srv.service.db.read() as s:
        from nftreg.db import Batch
        from sqlalchemy import select

        assert list(s.scalars(select(Batch))) == []
