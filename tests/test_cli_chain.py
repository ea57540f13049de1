"""`nftreg demo`, `mint`, `devnet`, `cid` and `verify signatures` through the real console script."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from nacl.signing import SigningKey
from nftreg.cid import cid_of, content_hash

NFTREG = [sys.executable, "-m", "nftreg"]


def run(*args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NFTREG, *args], check=False, capture_output=True, text=True, input=stdin, timeout=600,
                          env={**os.environ, **(env or {})})


def test_demo_runs_the_whole_story_on_the_in_process_chain(tmp_path: Path):
    out = run("demo", "--data-dir", str(tmp_path), "--claims", "5000", "--signatures", "300", "--chain", "tester://", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["minted"][0]["name"] == "ภูเก็ตเมืองอัจฉริยะ"
    assert report["claimed"]["token_id"] == 4
    steps = {s["step"].split(" (")[0]: s for s in report["steps"]}
    assert steps["verify 5,000 proofs"]["valid"] == 5000
    assert report["signatures"]["count"] == 300


@pytest.mark.anvil
def test_devnet_mint_and_duplicate(tmp_path: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert run("devnet", "start", "--data-dir", str(tmp_path), "--port", str(port)).returncode == 0
    try:
        status = json.loads(run("devnet", "status", "--data-dir", str(tmp_path), "--json").stdout)
        assert status["running"] and status["chain_id"] == 31337
        art = tmp_path / "art.bin"
        art.write_bytes(os.urandom(3_000_000))
        out = run("mint", str(art), "--name", "ขอนแก่นเมืองอัจฉริยะ", "--attr", "เมือง=ขอนแก่น", "--data-dir", str(tmp_path), "--json")
        assert out.returncode == 0, out.stderr
        minted = json.loads(out.stdout)
        assert minted["asset_cid"] == cid_of(art) and minted["content_hash"] == "0x" + content_hash(art).hex()
        assert minted["token_uri"] == f"ipfs://{minted['metadata_cid']}"
        again = run("mint", str(art), "--name", "x", "--data-dir", str(tmp_path))
        assert again.returncode == 1 and "already registered as token" in again.stderr and "Traceback" not in again.stderr
        # a batch: build, anchor, claim every leaf of one owner with one multiproof
        claims = tmp_path / "claims.csv"
        assert run("batch", "sample", "-n", "2000", "-o", str(claims)).returncode == 0
        assert run("batch", "build", str(claims), "-o", str(tmp_path / "tree.json")).returncode == 0
        anchored = run("batch", "anchor", str(tmp_path / "tree.json"), "--data-dir", str(tmp_path), "--json")
        assert anchored.returncode == 0, anchored.stderr
        tree = json.loads((tmp_path / "tree.json").read_text())
        owner = tree["values"][0]["value"][0]
        claimed = run("claim", str(tmp_path / "tree.json"), "--owner", owner, "--data-dir", str(tmp_path), "--json")
        assert claimed.returncode == 0, claimed.stderr
        tokens = [json.loads(x) for x in claimed.stdout.splitlines()]
        assert tokens and all(t["owner"].lower() == owner.lower() for t in tokens)
        twice = run("claim", str(tmp_path / "tree.json"), "--owner", owner, "--data-dir", str(tmp_path))
        assert twice.returncode == 1 and "LeafAlreadyClaimed" in twice.stderr
        # state survives a devnet restart
        assert run("devnet", "stop", "--data-dir", str(tmp_path)).returncode == 0
        assert run("devnet", "start", "--data-dir", str(tmp_path), "--port", str(port)).returncode == 0
        again = run("mint", str(art), "--name", "x", "--data-dir", str(tmp_path))
        assert again.returncode == 1 and f"token {minted['token_id']}" in again.stderr
    finally:
        run("devnet", "stop", "--data-dir", str(tmp_path))


def test_cid_command_matches_library(tmp_path: Path):
    f = tmp_path / "a"
    f.write_bytes(os.urandom(2_000_000))
    out = json.loads(run("cid", str(f), "--json", "--profile", "unixfs-v0-2015").stdout)
    assert out["cid"] == cid_of(f, profile="unixfs-v0-2015") and out["content_hash"] == "0x" + content_hash(f).hex()


def test_verify_signatures_jsonl(tmp_path: Path):
    acct = Account.create()
    sig = acct.sign_message(encode_defunct(text="ภูเก็ต")).signature.hex()
    sk = SigningKey.generate()
    ed = sk.sign(b"hello").signature.hex()
    lines = [
        {"scheme": "eip191", "message": "ภูเก็ต", "signature": "0x" + sig.removeprefix("0x"), "address": acct.address},
        {"scheme": "eip191", "message": "other", "signature": "0x" + sig.removeprefix("0x"), "address": acct.address},
        {"scheme": "ed25519", "message": "0x" + b"hello".hex(), "encoding": "hex", "signature": "0x" + ed, "public_key": "0x" + bytes(sk.verify_key).hex()},
        {"scheme": "nope"},
    ]
    out = run("verify", "signatures", "-", stdin="\n".join(json.dumps(x) for x in lines) + "\n")
    res = [json.loads(x) for x in out.stdout.splitlines()]
    assert [r["valid"] for r in res] == [True, False, True, False]
    assert out.returncode == 4


def test_serve_listens_on_the_given_port(tmp_path: Path):
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([*NFTREG, "serve", "--port", str(port), "--data-dir", str(tmp_path), "--rpc-url", "tester://"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300  # start-up imports web3 and eth-account: slow on a loaded 2-core box
        body = None
        while time.monotonic() < deadline and body is None:
            try:
                body = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2).read())
            except OSError:
                time.sleep(0.2)
        assert body and body["status"] == "ready"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.anvil
def test_reindex_rebuilds_the_index_from_chain_events(tmp_path: Path):
    demo = run("demo", "--data-dir", str(tmp_path), "--claims", "50", "--signatures", "10", "--chain", "anvil://", "--json")
    assert demo.returncode == 0, demo.stderr
    contract = json.loads((tmp_path / "registry.json").read_text())
    out = run("reindex", "--data-dir", str(tmp_path), "--rpc-url", "anvil://", "--json", env={"NFTREG_ENV": "dev"})
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["tokens"] == 4 and res["contract"] == contract["31337"]


@pytest.mark.kubo
def test_ipfs_start_stop(kubo_bin, tmp_path: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = run("ipfs", "start", "--data-dir", str(tmp_path), "--port", str(port), env={"NFTREG_KUBO": kubo_bin})
    assert out.returncode == 0, out.stderr
    try:
        from nftreg.ipfs import KuboStore

        store = KuboStore(f"/ip4/127.0.0.1/tcp/{port}")
        cid = store.add_bytes("ภูเก็ต".encode())
        assert store.cat(cid) == "ภูเก็ต".encode()
    finally:
        assert run("ipfs", "stop", "--data-dir", str(tmp_path)).returncode == 0
