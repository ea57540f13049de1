"""Streaming verification through ``nftreg.Client`` next to its anchor: the very same request
bodies sent by a bare keep-alive ``http.client`` loop (prepared in memory before the clock
starts, so the anchor pays nothing for building them).

The server is ``nftreg serve`` in its own process on embedded defaults (rate limit off). The
client streams the items in requests of the server's maximum size (``/v1/info``: 100,000
items) and returns per-item results in input order; it is timed from a JSON-lines file (lines
passed through unparsed), from Python objects (encoded a block at a time while the request is
being sent) and through ``AsyncClient``. Runs alternate and the median of each is reported.

    .venv/bin/python bench/bench_client.py [--proofs 300000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from api_server import serve_process
from nftreg import AsyncClient, Client
from nftreg.claims import CLAIM_LEAF_ENCODING
from nftreg.merkle import StandardMerkleTree

SEP = (",", ":")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--proofs", type=int, default=300_000)
    ap.add_argument("--leaves", type=int, default=1 << 12, help="tree size (proof depth = log2)")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    owner = "0x" + secrets.token_bytes(20).hex()
    claims = [[owner, "0x" + secrets.token_bytes(32).hex(), f"cid{i}"] for i in range(a.leaves)]
    tree = StandardMerkleTree.of(claims, CLAIM_LEAF_ENCODING)
    tree_proofs = [tree.get_proof(i) for i in range(a.leaves)]
    items = [{"value": claims[i % a.leaves], "proof": tree_proofs[i % a.leaves]} for i in range(a.proofs)]
    lines = [json.dumps(it, separators=SEP).encode() for it in items]
    with tempfile.TemporaryDirectory() as d:
        jsonl = Path(d) / "proofs.jsonl"
        jsonl.write_bytes(b"\n".join(lines) + b"\n")
        env = {"NFTREG_ENV": "test", "NFTREG_ADMIN_API_KEY": "bench-admin-key-0123456789", "NFTREG_RATE_LIMIT_PER_MINUTE": "0"}
        with serve_process(Path(d) / "srv", env=env) as (url, _):
            with Client(url) as c:
                max_items = c.info().limits.max_verify_items
            head = json.dumps({"root": tree.root}, separators=SEP)[:-1].encode() + b',"items":['
            bodies = [head + b",".join(lines[i:i + max_items]) + b"]}" for i in range(0, a.proofs, max_items)]
            host, port = url.removeprefix("http://").split(":")

            def anchor() -> float:
                conn = http.client.HTTPConnection(host, int(port), timeout=600)
                c0 = time.process_time()
                t = time.perf_counter()
                valid = 0
                for body in bodies:
                    conn.request("POST", "/v1/verify/proofs", body=body, headers={"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    out = json.loads(resp.read())
                    assert resp.status == 200
                    valid += out["valid"]
                dt = time.perf_counter() - t
                cpu["anchor"].append(time.process_time() - c0)
                conn.close()
                assert valid == a.proofs
                return dt

            def with_client(source: object, name: str) -> float:
                with Client(url) as c:
                    c.info()  # the limits, once per client (not part of the stream)
                    c0 = time.process_time()
                    t = time.perf_counter()
                    rep = c.verify_proofs(tree.root, None, source)  # type: ignore[arg-type]
                    dt = time.perf_counter() - t
                    cpu[name].append(time.process_time() - c0)
                assert rep.valid == a.proofs and len(rep.results) == a.proofs
                return dt

            def with_async() -> float:
                async def go() -> float:
                    async with AsyncClient(url) as c:
                        await c.info()
                        c0 = time.process_time()
                        t = time.perf_counter()
                        rep = await c.verify_proofs(tree.root, None, jsonl)
                        dt = time.perf_counter() - t
                        cpu["async"].append(time.process_time() - c0)
                    assert rep.valid == a.proofs
                    return dt
                return asyncio.run(go())

            runs: dict[str, list[float]] = {k: [] for k in ("anchor", "jsonl", "objects", "async")}
            cpu: dict[str, list[float]] = {k: [] for k in runs}
            anchor()  # warm up the server (tree-independent code paths, allocator)
            cpu["anchor"].clear()
            for _ in range(a.runs):
                runs["anchor"].append(anchor())
                runs["jsonl"].append(with_client(jsonl, "jsonl"))
                runs["objects"].append(with_client(items, "objects"))
                runs["async"].append(with_async())
    rate = {k: a.proofs / statistics.median(v) for k, v in runs.items()}
    mib = sum(map(len, bodies)) / 2**20
    print(f"{a.proofs:,} depth-{a.leaves.bit_length() - 1} proofs in {len(bodies)} request(s) of up to "
          f"{max_items:,} items ({mib:.0f} MiB of JSON); median of {a.runs} alternating runs")
    per100k = {k: statistics.median(v) * 100_000 / a.proofs for k, v in cpu.items()}
    print("| sender | proofs/s | vs http.client anchor | client CPU per 100,000 items |")
    print("|---|---|---|---|")
    print(f"| bare http.client loop, bodies prepared beforehand (anchor) | {rate['anchor']:,.0f} | 1.00x "
          f"| {per100k['anchor']:.2f} s |")
    for k, label in (("jsonl", "`Client.verify_proofs(root, None, 'proofs.jsonl')`"),
                     ("objects", "`Client.verify_proofs(root, None, list_of_dicts)`"),
                     ("async", "`AsyncClient.verify_proofs(root, None, 'proofs.jsonl')`")):
        print(f"| {label} | {rate[k]:,.0f} | {rate[k] / rate['anchor']:.2f}x | {per100k[k]:.2f} s |")


if __name__ == "__main__":
    main()
