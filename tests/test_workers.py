"""`nftreg serve --workers 2`: two server processes share one chain, one database and one
content store. Concurrent mints (some repeating an Idempotency-Key) through both must give
exactly one token each, with the index and the chain agreeing, on the embedded defaults
(managed anvil started by the parent, SQLite shared through a file lock)."""

from __future__ import annotations

import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
from api_server import serve_process
from nftreg.cid import content_hash

KEY = "workers-admin-key-0123456789"


def test_two_workers_mint_exactly_once(tmp_path):
    env = {"NFTREG_ENV": "test", "NFTREG_ADMIN_API_KEY": KEY, "NFTREG_RATE_LIMIT_PER_MINUTE": "0"}
    with serve_process(tmp_path / "data", env=env, args=["--workers", "2"]) as (url, proc):
        assert len([c for c in psutil.Process(proc.pid).children(recursive=True) if "anvil" not in c.name()]) >= 2
        assets = [secrets.token_bytes(200 + i) for i in range(60)]
        owner = "0x" + "22" * 20
        reqs = [(i, f"k{i}") for i in range(60)] + [(i, f"k{i}") for i in range(0, 60, 4)]  # 15 repeated keys

        def go(req):
            i, key = req
            with httpx.Client(base_url=url, timeout=120) as c:
                while True:
                    r = c.post("/v1/assets", data={"metadata": json.dumps({"name": f"งาน {i}"}), "owner": owner},
                               files={"file": ("a", assets[i])}, headers={"X-API-Key": KEY, "Idempotency-Key": key})
                    if r.status_code == 409 and "in progress" in r.json()["detail"]:
                        time.sleep(0.05)
                        continue
                    return i, r

        with ThreadPoolExecutor(24) as pool:
            results = list(pool.map(go, reqs))
        assert all(r.status_code == 201 for _, r in results), [r.text for _, r in results if r.status_code != 201][:3]
        by_asset: dict[int, int] = {}
        for i, r in results:
            assert by_asset.setdefault(i, r.json()["token_id"]) == r.json()["token_id"]  # a replay: the same token
        assert len(set(by_asset.values())) == 60
        listing = httpx.get(url + "/v1/assets", params={"owner": owner, "limit": 1000}).json()["items"]
        assert sorted(a["token_id"] for a in listing) == sorted(by_asset.values())
        for i, tid in by_asset.items():
            row = httpx.get(f"{url}/v1/assets/{tid}").json()
            assert row["content_hash"] == "0x" + content_hash(assets[i]).hex() and row["owner"] == owner
        # the chain agrees: exactly 60 tokens, each owned as the index says
        from nftreg.chain import Chain, Registry
        from nftreg.chain.anvil import ANVIL_DEV_KEY

        address = json.loads((tmp_path / "data" / "registry.json").read_text())["31337"]
        anvil = next(c for c in psutil.Process(proc.pid).children(recursive=True) if "anvil" in c.name())
        rpc_port = anvil.cmdline()[anvil.cmdline().index("--port") + 1]
        reg = Registry.at(Chain.connect(f"http://127.0.0.1:{rpc_port}", private_key=ANVIL_DEV_KEY), address)
        assert reg.total_minted() == 60
        for i, tid in by_asset.items():
            assert reg.token_of_content(content_hash(assets[i])) == tid and reg.owner_of(tid) == owner
    # the parent stopped the devnet it started
    assert not any(p.info["name"] == "anvil" and str(tmp_path) in " ".join(p.info["cmdline"] or [])
                   for p in psutil.process_iter(["name", "cmdline"]))
    assert "Traceback" not in (tmp_path / "data" / "server.log").read_text()
