"""REST API load benchmark: mints/s and verified proofs/s through the API on loopback, with
p50/p99 latency, next to their in-process anchors (the same chain write without HTTP, DB and
IPFS; the same verify_many call without HTTP and JSON) in one run.

The server is `nftreg serve` in its own process (embedded defaults: managed anvil, embedded
IPFS store, SQLite), as a deployment runs it; the load comes from this process over loopback.

    .venv/bin/python bench/bench_api.py [--mints 400] [--threads 32] [--proofs 100000] [--batch 100000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from api_server import serve_process
from nftreg.chain import Chain
from nftreg.chain.contract import Registry
from nftreg.claims import CLAIM_LEAF_ENCODING
from nftreg.merkle import StandardMerkleTree, verify_many, verify_many_json

KEY = "bench-admin-key-0123456789"
SERVER_CMD = [sys.executable, "-m", "nftreg", "serve"]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


@contextmanager
def server(data_dir: str, rpc: str, workers: int | None = None) -> Iterator[str]:
    """`nftreg serve` in its own process; yields its base URL once /readyz says ready."""
    env = {"NFTREG_ENV": "test", "NFTREG_ADMIN_API_KEY": KEY, "NFTREG_RATE_LIMIT_PER_MINUTE": "0", "NFTREG_RPC_URL": rpc}
    with serve_process(data_dir, env=env, args=["--workers", str(workers or 1)], cmd=SERVER_CMD) as (url, _):
        yield url


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mints", type=int, default=400)
    ap.add_argument("--threads", type=int, default=32)
    ap.add_argument("--proofs", type=int, default=100_000)
    ap.add_argument("--rpc", default="anvil://")
    ap.add_argument("--batch", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=1, help="server processes (nftreg serve --workers)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        # anchor: the same mint transaction straight to a chain of the same kind, serially
        chain = Chain.connect(a.rpc, data_dir=Path(d) / "anchor")
        try:
            reg = Registry.deploy(chain)
            owner = chain.address
            t0 = time.perf_counter()
            n_anchor = max(20, a.mints // 5)
            for _ in range(n_anchor):
                reg.mint(owner, secrets.token_bytes(32), "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
            anchor_rate = n_anchor / (time.perf_counter() - t0)
        finally:
            chain.close()
        (Path(d) / "srv").mkdir()
        with server(str(Path(d) / "srv"), a.rpc, a.workers) as url, httpx.Client(
                base_url=url, timeout=300, limits=httpx.Limits(max_connections=a.threads + 4)) as c:
            def one(i: int) -> float:
                t = time.perf_counter()
                r = c.post("/v1/assets", data={"metadata": json.dumps({"name": f"bench {i}"}), "owner": owner},
                           files={"file": ("f", secrets.token_bytes(1024))},
                           headers={"X-API-Key": KEY, "Idempotency-Key": f"b{i}-{secrets.token_hex(4)}"})
                assert r.status_code == 201, r.text
                return time.perf_counter() - t

            t0 = time.perf_counter()
            with ThreadPoolExecutor(a.threads) as pool:
                lat = list(pool.map(one, range(a.mints)))
            mint_rate = a.mints / (time.perf_counter() - t0)

            n_leaves = min(a.proofs, 1 << 12)  # depth-12 proofs keep 100,000 items near 60 MiB of JSON
            claims = [[owner, "0x" + secrets.token_bytes(32).hex(), f"cid{i}"] for i in range(n_leaves)]
            tree = StandardMerkleTree.of(claims, CLAIM_LEAF_ENCODING)
            items = [{"value": claims[i % n_leaves], "proof": tree.get_proof(i % n_leaves)} for i in range(a.proofs)]
            body = json.dumps({"root": tree.root, "items": items}).encode()
            t0 = time.perf_counter()
            ok = verify_many(tree.root, CLAIM_LEAF_ENCODING, [it["value"] for it in items], [it["proof"] for it in items])
            direct = a.proofs / (time.perf_counter() - t0)
            assert all(ok)
            direct_json = []
            for _ in range(3):
                t0 = time.perf_counter()
                assert all(verify_many_json(body, leaf_encoding=CLAIM_LEAF_ENCODING))
                direct_json.append(a.proofs / (time.perf_counter() - t0))
            # the verifier's client: one keep-alive connection, the prepared body sent as is
            # (http.client adds no per-chunk work of its own; httpx costs ~250 ms more per 95 MiB)
            host, port = url.removeprefix("http://").split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=300)
            vlat = []
            for _ in range(7):
                t = time.perf_counter()
                conn.request("POST", "/v1/verify/proofs", body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                vlat.append(time.perf_counter() - t)
                assert resp.status == 200 and json.loads(data)["valid"] == a.proofs
            conn.close()
            from nftreg.cid import cid_of

            mcid = cid_of(b"bench metadata")
            csv = "owner,content_hash,metadata_cid\n" + "".join(
                f"{owner},0x{secrets.token_bytes(32).hex()},{mcid}\n" for _ in range(a.batch))
            t = time.perf_counter()
            r = c.post("/v1/batches", content=csv.encode(), headers={"X-API-Key": KEY, "Content-Type": "text/csv"})
            batch_s = time.perf_counter() - t
            assert r.status_code == 201, r.text
            bid = r.json()["id"]
            t = time.perf_counter()
            for i in range(200):
                assert c.get(f"/v1/batches/{bid}/proofs/{i * 97 % a.batch}").status_code == 200
            proof_get = 200 / (time.perf_counter() - t)
    print(f"chain {a.rpc}; nftreg serve --workers {a.workers}; {a.mints} REST mints with {a.threads} client threads "
          "(1 KiB assets, embedded IPFS, SQLite)")
    print("| what | nftreg REST | anchor | ratio |")
    print("|---|---|---|---|")
    print(f"| mints/s | {mint_rate:,.1f} (p50 {pct(lat, 50)*1e3:.0f} ms, p99 {pct(lat, 99)*1e3:.0f} ms) "
          f"| direct Registry.mint, serial: {anchor_rate:,.1f}/s | {mint_rate / anchor_rate:.2f}x |")
    vr = [a.proofs / x for x in vlat]
    print(f"| verified proofs/s ({a.proofs:,} per request, {len(body) / 2**20:.1f} MiB JSON) | "
          f"{statistics.median(vr):,.0f} (p50 {pct(vlat, 50)*1e3:.0f} ms, p99 {pct(vlat, 99)*1e3:.0f} ms) "
          f"| in-process verify_many_json (same bytes): {max(direct_json):,.0f}/s; verify_many (Python lists): "
          f"{direct:,.0f}/s | {statistics.median(vr) / max(direct_json):.2f}x |")
    print(f"| POST /v1/batches, {a.batch:,} claims (CSV, tree, dump pinned, root anchored) | {batch_s:.2f} s "
          f"({a.batch / batch_s:,.0f} claims/s) | | |")
    print(f"| GET proof by index (serial) | {proof_get:,.0f}/s | | |")


if __name__ == "__main__":
    main()
