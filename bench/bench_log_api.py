"""Registration log through the REST API: off-chain (hash-only, private) registrations through
`POST /v1/assets` (`onchain=false`: pinned metadata, one log entry, no transaction) against
on-chain mints through the same endpoint in the same run (the anchor: each is a mint in a
group-committed `mintBatch` on anvil), and the latency from the API's answer to the receipt
being served (`GET /v1/assets/{hash}/receipt` answering 200).

A real `nftreg serve` process (managed anvil, embedded store, SQLite, one data directory) and
an asyncio load generator on the same machine (it competes for the same cores: say so when
quoting). The POSTs go through a minimal raw HTTP/1.1 client (``RawClient``, ~0.7 ms of CPU per
request) rather than httpx (~10 ms, more than the server spends: ``--httpx`` to compare); each
phase prints the CPU the server and the load generator spent per request. A third phase sends
the same hash-only registrations in JSON batches through `POST /v1/assets/batch` (one request
carries `--batch-size` of them; each is registered exactly as a single `onchain=false` POST).
Run: `.venv/bin/python bench/bench_log_api.py [--seconds 10] [--concurrency 64] [--httpx]
[--batch-size 200] [--batch-concurrency 4]`.
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
from typing import Any
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from api_server import serve_process

ADMIN = "bench-admin-key-0123456789"
OWNER = "0x" + "ab" * 20


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds so far of process ``pid`` and its live children (the uvicorn
    workers with --workers > 1; anvil too, which the on-chain phase uses) (Linux /proc)."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK") + sum(_cpu_s(int(k)) for k in kids)


class RawClient:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: the request bytes are built
    by hand and only the status line and Content-Length are parsed. httpx costs ~10 ms of CPU
    per request on this machine (more than the server's whole request), so with it on the
    same cores the benchmark measured the load generator, not the server."""

    def __init__(self, url: str):
        host, _, port = url.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port)
        self.conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post_form(self, path: str, form: dict[str, str], headers: dict[str, str]) -> int:
        return (await self.post(path, urlencode(form).encode(), "application/x-www-form-urlencoded", headers))[0]

    async def post(self, path: str, body: bytes, content_type: str, headers: dict[str, str]) -> tuple[int, bytes]:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        req = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{head}"
               f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        if self.conn is None:
            self.conn = await asyncio.open_connection(self.host, self.port)
        r, w = self.conn
        w.write(req)
        status_head = await r.readuntil(b"\r\n\r\n")
        status = int(status_head[9:12])
        length = 0
        for line in status_head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        return status, await r.readexactly(length)

    async def close(self) -> None:
        if self.conn is not None:
            self.conn[1].close()


def latency(lat: list[float]) -> dict[str, float]:
    """n, p50, p99 and max of the latencies (none when there are none)."""
    lat = sorted(lat)
    if not lat:
        return {}
    return {"n_lat": len(lat), "p50_s": lat[len(lat) // 2], "p99_s": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
            "max_s": lat[-1]}


async def receipt_after(c: httpx.AsyncClient, ch: str, t0: float, lat: list[float]) -> None:
    """Poll until the receipt of ``ch`` is served; add the seconds since ``t0`` to ``lat``."""
    while True:
        r = await c.get(f"/v1/assets/{ch}/receipt")
        if r.status_code == 200:
            lat.append(time.perf_counter() - t0)
            return
        await asyncio.sleep(0.05)


async def run_phase(url: str, key: str, seconds: float, concurrency: int, onchain: bool,
                    sample_every: int = 0, raw: bool = True) -> dict[str, float]:
    ok = errors = 0
    lat: list[float] = []
    meta = json.dumps({"name": "ภาพ bench"})
    t_end = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as c:

        pollers: list[asyncio.Task[None]] = []

        async def worker() -> None:
            nonlocal ok, errors
            rc = RawClient(url) if raw else None
            try:
                while time.perf_counter() < t_end:
                    ch = "0x" + os.urandom(32).hex()
                    form = {"metadata": meta, "content_hash": ch, "owner": OWNER}
                    if not onchain:
                        form["onchain"] = "false"
                    if rc is not None:
                        status = await rc.post_form("/v1/assets", form, {"X-API-Key": key})
                    else:
                        status = (await c.post("/v1/assets", data=form, headers={"X-API-Key": key})).status_code
                    if status == 201:
                        ok += 1
                        if sample_every and ok % sample_every == 0:
                            pollers.append(asyncio.create_task(receipt_after(c, ch, time.perf_counter(), lat)))
                    else:
                        errors += 1
            finally:
                if rc is not None:
                    await rc.close()

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        dt = time.perf_counter() - t0
        await asyncio.gather(*pollers)
    return {"ok": ok, "errors": errors, "per_s": ok / dt, "seconds": dt, **latency(lat)}


async def run_batch_phase(url: str, key: str, seconds: float, concurrency: int, batch_size: int) -> dict[str, float]:
    """Off-chain registrations in JSON batches of ``batch_size`` through ``POST /v1/assets/batch``
    (``concurrency`` requests in flight); the receipt of one registration per batch is timed from
    the batch's answer."""
    ok = errors = requests = 0
    lat: list[float] = []
    meta = {"name": "ภาพ bench"}
    t_end = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=url, timeout=120) as c:

        pollers: list[asyncio.Task[None]] = []

        async def worker() -> None:
            nonlocal ok, errors, requests
            rc = RawClient(url)
            try:
                while time.perf_counter() < t_end:
                    regs = [{"content_hash": "0x" + os.urandom(32).hex(), "owner": OWNER, "metadata": meta}
                            for _ in range(batch_size)]
                    status, body = await rc.post("/v1/assets/batch", json.dumps({"registrations": regs}).encode(),
                                                 "application/json", {"X-API-Key": key})
                    requests += 1
                    if status != 200:
                        errors += batch_size
                        continue
                    out = json.loads(body)
                    ok += out["registered"]
                    errors += out["refused"]
                    pollers.append(asyncio.create_task(receipt_after(c, regs[-1]["content_hash"], time.perf_counter(),
                                                                      lat)))
            finally:
                await rc.close()

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        dt = time.perf_counter() - t0
        await asyncio.gather(*pollers)
    return {"ok": ok, "errors": errors, "per_s": ok / dt, "seconds": dt, "requests": requests, **latency(lat)}


def measured(pid: int, phase: Any) -> dict[str, float]:
    """Run ``phase()`` and add the server's and this load generator's CPU ms per request."""
    s0, c0 = _cpu_s(pid), time.process_time()
    out = asyncio.run(phase())
    n = max(out["ok"] + out["errors"], 1)  # per registration (a batch request carries many)
    out.update(server_ms=1000 * (_cpu_s(pid) - s0) / n, client_ms=1000 * (time.process_time() - c0) / n)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=200, help="registrations per POST /v1/assets/batch")
    ap.add_argument("--batch-concurrency", type=int, default=4)
    ap.add_argument("--httpx", action="store_true", help="drive the POSTs with httpx (as before) instead of the raw client")
    args = ap.parse_args()
    env = {"NFTREG_ENV": "test", "NFTREG_ADMIN_API_KEY": ADMIN, "NFTREG_RATE_LIMIT_PER_MINUTE": "0",
           "NFTREG_LOG_ANCHOR_INTERVAL_S": "0"}
    with tempfile.TemporaryDirectory() as d, serve_process(Path(d), env=env,
                                                          args=["--workers", str(args.workers)]) as (url, proc):
        key = httpx.post(url + "/v1/admin/api-keys", json={"name": "bench", "role": "minter"},
                         headers={"X-API-Key": ADMIN}, timeout=60).json()["api_key"]
        asyncio.run(run_phase(url, key, 2, 8, onchain=False))  # warm-up
        load0 = os.getloadavg()
        raw = not args.httpx
        off = measured(proc.pid, lambda: run_phase(url, key, args.seconds, args.concurrency, onchain=False,
                                                   sample_every=10, raw=raw))
        bat = measured(proc.pid, lambda: run_batch_phase(url, key, args.seconds, args.batch_concurrency,
                                                         args.batch_size))
        on = measured(proc.pid, lambda: run_phase(url, key, args.seconds, args.concurrency, onchain=True, raw=raw))
        load1 = os.getloadavg()
        size = httpx.get(url + "/v1/log", timeout=30).json()["tree_size"]
    print(f"load average before/after: {load0[0]:.1f} / {load1[0]:.1f} (1 min), {os.cpu_count()} cores, "
          f"load generator ({'httpx' if args.httpx else 'raw asyncio HTTP/1.1'}) on the same machine, "
          f"{args.workers} server process(es), concurrency {args.concurrency}")
    print(f"off-chain registrations (hash-only, onchain=false) through POST /v1/assets: {off['per_s']:,.0f}/s "
          f"({off['ok']:,} in {off['seconds']:.1f} s, {off['errors']} errors); CPU per request: server "
          f"{off['server_ms']:.1f} ms (with its child processes), load generator {off['client_ms']:.1f} ms")
    print(f"anchor: on-chain mints (hash-only, group-committed mintBatch on anvil) through the same endpoint: "
          f"{on['per_s']:,.0f}/s ({on['ok']:,} in {on['seconds']:.1f} s, {on['errors']} errors) -> "
          f"off-chain {off['per_s'] / max(on['per_s'], 1e-9):.1f}x; target >= 1,000/s")
    if "p99_s" in off:
        print(f"API answer -> receipt served (GET /v1/assets/{{hash}}/receipt = 200), every 10th registration: "
              f"p50 {off['p50_s'] * 1000:.0f} ms, p99 {off['p99_s'] * 1000:.0f} ms, max {off['max_s'] * 1000:.0f} ms "
              f"(n={off['n_lat']}); target p99 <= 1 s")
    print(f"off-chain registrations in JSON batches of {args.batch_size} through POST /v1/assets/batch "
          f"({args.batch_concurrency} in flight): {bat['per_s']:,.0f}/s ({bat['ok']:,} in {bat['seconds']:.1f} s, "
          f"{bat['requests']:,} requests, {bat['errors']} refused); CPU per registration: server "
          f"{bat['server_ms']:.2f} ms, load generator {bat['client_ms']:.2f} ms -> "
          f"{bat['per_s'] / max(on['per_s'], 1e-9):.1f}x the on-chain anchor, "
          f"{bat['per_s'] / max(off['per_s'], 1e-9):.1f}x one per request; target >= 1,000/s")
    if "p99_s" in bat:
        print(f"batch answer -> receipt served (last registration of each batch): p50 {bat['p50_s'] * 1000:.0f} ms, "
              f"p99 {bat['p99_s'] * 1000:.0f} ms, max {bat['max_s'] * 1000:.0f} ms (n={bat['n_lat']}); "
              f"target p99 <= 1 s")
    print(f"log size at the end: {size:,}")


if __name__ == "__main__":
    main()
