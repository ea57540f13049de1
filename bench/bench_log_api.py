"""Registration log through the REST API: off-chain (hash-only, private) registrations through
`POST /v1/assets` (`onchain=false`: pinned metadata, one log entry, no transaction) against
on-chain mints through the same endpoint in the same run (the anchor: each is a mint in a
group-committed `mintBatch` on anvil), and the latency from the API's answer to the receipt
being served (`GET /v1/assets/{hash}/receipt` answering 200).

A real `nftreg serve` process (managed anvil, embedded store, SQLite, one data directory) and
an asyncio load generator on the same machine (it competes for the same cores: say so when
quoting). Run: `.venv/bin/python bench/bench_log_api.py [--seconds 10] [--concurrency 64]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from api_server import serve_process

ADMIN = "bench-admin-key-0123456789"
OWNER = "0x" + "ab" * 20


async def run_phase(url: str, key: str, seconds: float, concurrency: int, onchain: bool,
                    sample_every: int = 0) -> dict[str, float]:
    ok = errors = 0
    lat: list[float] = []
    meta = json.dumps({"name": "ภาพ bench"})
    t_end = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as c:

        async def receipt_after(ch: str, t0: float) -> None:
            while True:
                r = await c.get(f"/v1/assets/{ch}/receipt")
                if r.status_code == 200:
                    lat.append(time.perf_counter() - t0)
                    return
                await asyncio.sleep(0.05)

        pollers: list[asyncio.Task[None]] = []

        async def worker() -> None:
            nonlocal ok, errors
            while time.perf_counter() < t_end:
                ch = "0x" + os.urandom(32).hex()
                form = {"metadata": meta, "content_hash": ch, "owner": OWNER}
                if not onchain:
                    form["onchain"] = "false"
                r = await c.post("/v1/assets", data=form, headers={"X-API-Key": key})
                if r.status_code == 201:
                    ok += 1
                    if sample_every and ok % sample_every == 0:
                        pollers.append(asyncio.create_task(receipt_after(ch, time.perf_counter())))
                else:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        dt = time.perf_counter() - t0
        await asyncio.gather(*pollers)
    lat.sort()
    out = {"ok": ok, "errors": errors, "per_s": ok / dt, "seconds": dt}
    if lat:
        out.update(n_lat=len(lat), p50_s=lat[len(lat) // 2], p99_s=lat[min(len(lat) - 1, int(len(lat) * 0.99))],
                   max_s=lat[-1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    env = {"NFTREG_ENV": "test", "NFTREG_ADMIN_API_KEY": ADMIN, "NFTREG_RATE_LIMIT_PER_MINUTE": "0",
           "NFTREG_LOG_ANCHOR_INTERVAL_S": "0"}
    with tempfile.TemporaryDirectory() as d, serve_process(Path(d), env=env,
                                                          args=["--workers", str(args.workers)]) as (url, _p):
        key = httpx.post(url + "/v1/admin/api-keys", json={"name": "bench", "role": "minter"},
                         headers={"X-API-Key": ADMIN}, timeout=60).json()["api_key"]
        asyncio.run(run_phase(url, key, 2, 8, onchain=False))  # warm-up
        load0 = os.getloadavg()
        off = asyncio.run(run_phase(url, key, args.seconds, args.concurrency, onchain=False, sample_every=10))
        on = asyncio.run(run_phase(url, key, args.seconds, args.concurrency, onchain=True))
        load1 = os.getloadavg()
        size = httpx.get(url + "/v1/log", timeout=30).json()["tree_size"]
    print(f"load average before/after: {load0[0]:.1f} / {load1[0]:.1f} (1 min), {os.cpu_count()} cores, "
          f"load generator on the same machine, {args.workers} server process(es), concurrency {args.concurrency}")
    print(f"off-chain registrations (hash-only, onchain=false) through POST /v1/assets: {off['per_s']:,.0f}/s "
          f"({off['ok']:,} in {off['seconds']:.1f} s, {off['errors']} errors)")
    print(f"anchor: on-chain mints (hash-only, group-committed mintBatch on anvil) through the same endpoint: "
          f"{on['per_s']:,.0f}/s ({on['ok']:,} in {on['seconds']:.1f} s, {on['errors']} errors) -> "
          f"off-chain {off['per_s'] / max(on['per_s'], 1e-9):.1f}x; target >= 1,000/s")
    if "p99_s" in off:
        print(f"API answer -> receipt served (GET /v1/assets/{{hash}}/receipt = 200), every 10th registration: "
              f"p50 {off['p50_s'] * 1000:.0f} ms, p99 {off['p99_s'] * 1000:.0f} ms, max {off['max_s'] * 1000:.0f} ms "
              f"(n={off['n_lat']}); target p99 <= 1 s")
    print(f"log size at the end: {size:,}")


if __name__ == "__main__":
    main()
