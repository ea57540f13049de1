"""Registration-log benchmark: sustained append through the library (sequencer integrating
every second, every tile and bundle fsynced before each checkpoint is signed), inclusion proofs
from the library, and the latency from `append` to an available receipt.

Anchors in the same run: the SHA-256 leaf-hash ceiling of this machine (hashlib over the same
entries: a log cannot integrate faster than it hashes) and Go's own `sumdb/tlog.ProveRecord`
over the same tiles read from the same directory (tests/go/tlogcheck `-bench`). Published
figures quoted, not run here: Tessera ~2,900 entries/s on 12 cores (POSIX driver), TesseraCT
~10,000/s on <= 7 cores (NVMe); Sunlight sequences every 1 s, Rekor v2 every 2-10 s.

Run: `.venv/bin/python bench/bench_log.py [--seconds 10] [--tree 1000000]` after
`maturin develop --release`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python"))
from nftreg.log import FileLog, LogEntry, RegistrationLog

OWNER = "0x" + "ab" * 20


def entries(start: int, n: int) -> list[bytes]:
    base = LogEntry.of("private", owner=OWNER, content_hash=bytes(32), chain_id=31337,
                       metadata_cid="bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy").encode()
    # vary the content hash per entry without re-encoding everything in Python
    return [base[:83] + i.to_bytes(32, "big") + base[115:] for i in range(start, start + n)]


def bench_append(seconds: float, batch: int) -> dict[str, float]:
    """A producer appends as fast as it can for `seconds` while the sequencer integrates once a
    second; the rate counts entries covered by a published checkpoint."""
    with tempfile.TemporaryDirectory() as d:
        rl = RegistrationLog(d, interval_s=1.0)
        done = threading.Event()
        produced = [0]

        def produce() -> None:
            i = 0
            while not done.is_set():
                if rl.sequencer.pending > 200_000:  # back-pressure: the producer outruns the disk
                    time.sleep(0.01)
                    continue
                rl.sequencer.submit_batch(entries(i, batch))
                i += batch
            produced[0] = i

        t0 = time.perf_counter()
        th = threading.Thread(target=produce)
        th.start()
        time.sleep(seconds)
        done.set()
        th.join()
        size_at_end = rl.store.size
        elapsed = time.perf_counter() - t0
        rl.close()
        return {"entries_per_s": size_at_end / elapsed, "integrations": rl.sequencer.integrations,
                "last_integration_s": rl.sequencer.last_integration_s, "size": size_at_end}


def bench_single_appends(n: int) -> float:
    """One future per entry (the service's path: each registration waits for its index)."""
    with tempfile.TemporaryDirectory() as d:
        rl = RegistrationLog(d, start=False)
        es = entries(0, n)
        t0 = time.perf_counter()
        futs = [rl.sequencer.submit(e) for e in es]
        rl.sequencer.integrate_now()
        for f in futs:
            f.result()
        dt = time.perf_counter() - t0
        rl.close()
        return n / dt


def hash_ceiling(n: int) -> float:
    es = entries(0, n)
    t0 = time.perf_counter()
    for e in es:
        hashlib.sha256(b"\x00" + e).digest()
    return n / (time.perf_counter() - t0)


def bench_proofs(tree_size: int, n: int, directory: str) -> dict[str, float]:
    log = FileLog(directory)
    step = 100_000
    for k in range(0, tree_size, step):
        log.integrate(entries(k, min(step, tree_size - k)))
    rng = random.Random(1)
    idx = [rng.randrange(tree_size) for _ in range(n)]
    tree = log.tree
    t0 = time.perf_counter()
    for i in idx:
        tree.inclusion_proof(i, tree_size)
    raw = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for i in idx[: n // 10]:
        log.receipt(i)
    receipts = (n // 10) / (time.perf_counter() - t0)
    log.close()
    return {"proofs_per_s": raw, "receipts_per_s": receipts}


def go_proofs(directory: str, n: int) -> dict[str, float] | None:
    go_dir = ROOT / "tests" / "go" / "tlogcheck"
    with tempfile.TemporaryDirectory() as t:
        exe = Path(t) / "tlogcheck"
        try:
            subprocess.run(["go", "build", "-o", str(exe), "."], cwd=go_dir, check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            return None
        vkey = (Path(directory) / "log.key").read_text().strip()
        from nftreg._core import tlog

        name, seed = tlog.note_parse_signer_key(vkey)
        v = tlog.note_verifier_key(name, tlog.note_public_key(seed))
        out = subprocess.run([str(exe), "-dir", directory, "-vkey", v, "-bench", str(n)],
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout)


def bench_latency(seconds: float, rate: int) -> dict[str, float]:
    """Entries arrive at `rate`/s; latency = time from append to the future giving the index
    (a receipt can be built from that moment on), sequencer integrating every second."""
    with tempfile.TemporaryDirectory() as d:
        rl = RegistrationLog(d, interval_s=1.0)
        lat: list[float] = []
        lock = threading.Lock()
        es = entries(0, int(seconds * rate) + 1)
        t_end = time.perf_counter() + seconds
        k = 0
        while time.perf_counter() < t_end:
            t0 = time.perf_counter()
            f = rl.sequencer.submit(es[k])
            k += 1

            def cb(_f: object, t0: float = t0) -> None:
                with lock:
                    lat.append(time.perf_counter() - t0)

            f.add_done_callback(cb)
            time.sleep(1 / rate)
        rl.close()
        # a receipt is served right after: measure receipt() on the last index too
        lat.sort()
        return {"n": len(lat), "p50_s": lat[len(lat) // 2], "p99_s": lat[int(len(lat) * 0.99)], "max_s": lat[-1]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--tree", type=int, default=1_000_000)
    ap.add_argument("--proofs", type=int, default=100_000)
    args = ap.parse_args()
    ceiling = hash_ceiling(200_000)
    app = bench_append(args.seconds, 2000)
    single = bench_single_appends(50_000)
    print(f"append, sustained (library, batches of 2,000, fsync every integration): {app['entries_per_s']:,.0f} entries/s "
          f"({app['size']:,} entries, {app['integrations']} integrations, last took {app['last_integration_s']:.2f} s)")
    print(f"append, one future per entry: {single:,.0f} entries/s")
    print(f"anchor: SHA-256 leaf hashing ceiling (hashlib, one core): {ceiling:,.0f} entries/s "
          f"-> append at {app['entries_per_s'] / ceiling:.0%} of it")
    print(f"anchor: Tessera ~2,900/s (12 cores), TesseraCT ~10,000/s (<=7 cores) -> "
          f"{app['entries_per_s'] / 2900:.1f}x Tessera, {app['entries_per_s'] / 10_000:.1f}x TesseraCT")
    with tempfile.TemporaryDirectory() as d:
        pr = bench_proofs(args.tree, args.proofs, d)
        go = go_proofs(d, args.proofs // 10)
    print(f"inclusion proofs ({args.tree:,}-entry tree): {pr['proofs_per_s']:,.0f}/s from the library; "
          f"receipt objects (proof + signed checkpoint): {pr['receipts_per_s']:,.0f}/s")
    if go:
        print(f"anchor: Go sumdb/tlog ProveRecord over the same tiles (its TileHashReader re-verifies the tiles "
              f"against the signed root on every read): {go['proofs_per_s']:,.0f}/s "
              f"(max {go['max_tile_reads_per_proof']} tile reads/proof) -> {pr['proofs_per_s'] / go['proofs_per_s']:.1f}x")
    lat = bench_latency(min(args.seconds, 10), 200)
    print(f"append -> receipt latency at 200 entries/s, 1 s interval: p50 {lat['p50_s'] * 1000:.0f} ms, "
          f"p99 {lat['p99_s'] * 1000:.0f} ms, max {lat['max_s'] * 1000:.0f} ms (n={lat['n']}); "
          f"anchors: Sunlight 1 s, Rekor v2 2-10 s")
    print(f"pid {os.getpid()} done")


if __name__ == "__main__":
    main()
