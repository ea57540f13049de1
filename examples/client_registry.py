"""A creator and a verifier talking to a running registry through ``nftreg.Client``.

Run against a registry:   NFTREG_REMOTE=http://127.0.0.1:8000 .venv/bin/python examples/client_registry.py
Without NFTREG_REMOTE the example starts ``nftreg serve`` on embedded defaults in a temporary
directory (managed anvil, embedded IPFS store, SQLite) and stops it at the end.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import nftreg
from eth_account import Account
from eth_account.messages import encode_defunct
from nftreg import StandardMerkleTree, cid_of


@contextmanager
def registry():
    if os.environ.get("NFTREG_REMOTE"):
        yield os.environ["NFTREG_REMOTE"]
        return
    with tempfile.TemporaryDirectory() as data, socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        server = subprocess.Popen([sys.executable, "-m", "nftreg", "serve", "--data-dir", data, "--port", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(url + "/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            yield url
        finally:
            server.terminate()
            server.wait(60)


with registry() as url, nftreg.Client(url) as client:
    # -- a creator: sign in with Ethereum (the key signs here; only the signature is sent) ----
    creator = Account.create()
    client.sign_in(creator)
    art = b"\x89PNG\r\n\x1a\n" + os.urandom(64)
    asset = client.register(art, name="ดอกบัว", description="Lotus, watercolour",
                            attributes={"ศิลปิน": "สมชาย", "year": 2026})
    print(f"token {asset.token_id}: {asset.token_uri} (content hash {asset.content_hash[:18]}…)")
    asset = client.wait(asset, status="final", timeout=60)
    print(f"final in block {asset.block_number}")
    try:
        client.register(art, name="the same bytes again")
    except nftreg.client.AlreadyRegistered as e:
        print(f"already registered as token {e.token_id}")
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:  # private: only hash + CID leave this machine
        f.write(os.urandom(2048))
        f.flush()
        private = client.register(f.name, name="private sketch", private=True)
        assert private.asset_cid == cid_of(f.name)
    print("my tokens:", [a.token_id for a in client.assets(owner=creator.address)])
    print("who holds the art?", client.lookup(art).owner == creator.address)
    print("ownership proven:", client.prove_ownership(asset.token_id, creator).verified)

    # -- a verifier: stream proofs from a JSON-lines file, results in input order -------------
    claims = [[Account.create().address, "0x" + os.urandom(32).hex(), cid_of(b"meta")] for _ in range(1000)]
    tree = StandardMerkleTree.of(claims, ["address", "bytes32", "string"])
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "proofs.jsonl"
        path.write_text("".join(json.dumps({"value": v, "proof": tree.get_proof(i)}) + "\n"
                                for i, v in tree.entries()))
        report = client.verify_proofs(tree.root, None, path)
    print(f"proofs: {report.valid}/{report.count} valid")

    holder = Account.create()
    msgs = [f"I hold token {asset.token_id} #{i}" for i in range(3)]
    items = [{"scheme": "eip191", "message": m, "address": holder.address,
              "signature": "0x" + bytes(holder.sign_message(encode_defunct(text=m)).signature).hex()} for m in msgs]
    items[1]["message"] += " (tampered)"
    print("signatures:", [r.valid for r in client.verify_signatures(items).results])  # [True, False, True]
