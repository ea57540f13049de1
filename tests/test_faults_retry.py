"""Idempotency across a crash: `kill -9` of `nftreg serve` while 192 clients mint at once, a
restart on the same data directory, and every client retrying with its same Idempotency-Key
and body. Each retry must get its first attempt's outcome — 201 with the token that attempt
minted — never "already registered as token N" for its own token N. Prints its figures;
RELIABILITY.md records them."""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid

import httpx
import pytest
from eth_account import Account
from nftreg.chain import AnvilProcess, Chain, Registry
from nftreg.chain.anvil import ANVIL_DEV_KEY
from nftreg.cid import content_hash
from test_faults import ADMIN, ServiceProcess

CLIENTS = 192


def _mint_until_201(url: str, key: str, data: bytes, owner: str, idem: str, deadline: float, stats: dict) -> dict:
    """A persistent client: the same request, same Idempotency-Key, until a final answer."""
    with httpx.Client(timeout=60) as http:  # one per client: a fresh httpx.Client per retry costs ~30 ms of CPU
        while time.monotonic() < deadline:
            try:
                r = http.post(url + "/v1/assets", headers={"X-API-Key": key, "Idempotency-Key": idem},
                               data={"metadata": json.dumps({"name": f"ลูกค้า {idem[:8]}"}), "owner": owner},
                               files={"file": ("a.bin", data, "application/octet-stream")})
            except httpx.HTTPError:
                stats["retries"] += 1
                time.sleep(0.5)
                continue
            if r.status_code == 201:
                return {**r.json(), "http": 201}
            if r.status_code == 409 and r.json().get("token_id") is not None:
                return {"http": 409, "detail": r.json()["detail"], "token_id": r.json()["token_id"]}
            stats["retries"] += 1  # 409 in progress, 503 while restarting: retry
            time.sleep(0.3)
    raise AssertionError(f"no final answer for {idem}")


@pytest.mark.anvil
def test_kill_9_during_192_concurrent_mints_every_retry_gets_its_own_201(tmp_path):
    anvil = AnvilProcess(tmp_path / "anvil")
    anvil.start()
    (tmp_path / "svc").mkdir()
    svc = ServiceProcess(tmp_path / "svc", anvil.url)
    svc.start()
    try:
        key = httpx.post(svc.url + "/v1/admin/api-keys", json={"name": "m", "role": "minter"},
                         headers={"X-API-Key": ADMIN}, timeout=30).json()["api_key"]
        assets = [os.urandom(1000 + i) for i in range(CLIENTS)]
        owners = [Account.create().address for _ in range(CLIENTS)]
        results: dict[int, dict] = {}
        stats = {"retries": 0}
        deadline = time.monotonic() + 420
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, _mint_until_201(
            svc.url, key, assets[i], owners[i], str(uuid.uuid4()), deadline, stats))) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        rng = random.Random(12)
        for _ in range(2):  # kill -9 while requests are at every step of their mints
            time.sleep(rng.uniform(1.0, 3.0))
            svc.kill9()
            svc.start()
        for t in threads:
            t.join()
        chain = Chain.connect(anvil.url, private_key=ANVIL_DEV_KEY)
        reg = Registry.at(chain, json.loads((tmp_path / "svc" / "registry.json").read_text())[str(chain.chain_id)])
        told_taken = [(i, r) for i, r in results.items() if r["http"] != 201]
        assert not told_taken, f"{len(told_taken)} retries were told their own token is someone else's: {told_taken[:3]}"
        token_ids = [results[i]["token_id"] for i in range(CLIENTS)]
        lost = sum(1 for a in assets if reg.token_of_content(content_hash(a)) is None)
        duplicated = reg.total_minted() - CLIENTS
        assert lost == 0 and duplicated == 0 and len(set(token_ids)) == CLIENTS
        for i in range(CLIENTS):
            assert reg.token_of_content(content_hash(assets[i])) == token_ids[i]
            assert results[i]["owner"] == owners[i] and results[i]["content_hash"] == "0x" + content_hash(assets[i]).hex()
        print(f"\nFAULTS kill-9 + same-key retries: clients={CLIENTS} faults={svc.kills} retries={stats['retries']} "
              f"told_taken=0 lost={lost} duplicated={duplicated}")
    finally:
        svc.stop()
        anvil.stop()
