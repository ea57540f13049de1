"""CID benchmark: nftreg `cid_of` on a 1 GiB file, side by side with Kubo's
`ipfs add --only-hash` (same profile options) and Python's hashlib.sha256 over the same bytes
(the single-core SHA-256 ceiling). Each nftreg run is a separate process so its peak RSS can
be read; RAYON_NUM_THREADS=1 gives the one-core figure.

Run: `.venv/bin/python bench/bench_cid.py [--size-mib N]` after `maturin develop --release`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python"))
from nftreg.cid import KUBO_ADD_OPTIONS

CHILD = """
import resource, sys, time
from nftreg.cid import cid_of
t0 = time.perf_counter()
cid = cid_of(sys.argv[1], profile=sys.argv[2])
dt = time.perf_counter() - t0
print(cid, dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def nftreg_run(path: Path, profile: str, threads: int | None) -> tuple[str, float, int]:
    env = dict(os.environ)
    if threads:
        env["RAYON_NUM_THREADS"] = str(threads)
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), profile], env=env, capture_output=True, text=True, check=True)
    cid, dt, rss = out.stdout.split()
    return cid, float(dt), int(rss)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    args = ap.parse_args()
    size = args.size_mib << 20
    kubo = subprocess.run(["bash", str(ROOT / "scripts/install_kubo.sh")], capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data"
        with path.open("wb") as f:
            block = os.urandom(1 << 20)
            for i in range(args.size_mib):
                f.write(i.to_bytes(8, "big") + block[8:])
        repo = Path(tmp) / "repo"
        env = {**os.environ, "IPFS_PATH": str(repo)}
        subprocess.run([kubo, "init", "--profile=test"], env=env, capture_output=True, check=True)
        # warm the page cache so every tool reads from memory
        with path.open("rb") as f:
            while f.read(1 << 24):
                pass
        t0 = time.perf_counter()
        h = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        sha_t = time.perf_counter() - t0
        gb = size / 1e9
        print(f"file: {args.size_mib} MiB; cpus: {os.cpu_count()}")
        print(f"hashlib.sha256 (one core): {gb / sha_t:.2f} GB/s")
        print("| profile | nftreg 2 cores | nftreg 1 core | ipfs add --only-hash | ratio vs Kubo | 1 core / hashlib | nftreg peak RSS |")
        print("|---|---|---|---|---|---|---|")
        for profile, opts in KUBO_ADD_OPTIONS.items():
            flags = [f"--{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in opts.items()]
            t0 = time.perf_counter()
            kcid = subprocess.run([kubo, "add", "--only-hash", "-Q", *flags, str(path)], env=env, capture_output=True,
                                  text=True, check=True).stdout.strip()
            k_t = time.perf_counter() - t0
            cid2, t2, rss2 = min((nftreg_run(path, profile, None) for _ in range(2)), key=lambda r: r[1])
            cid1, t1, _ = nftreg_run(path, profile, 1)
            assert cid2 == cid1 == kcid, (cid2, cid1, kcid)
            print(f"| {profile} | {gb / t2:.2f} GB/s | {gb / t1:.2f} GB/s | {gb / k_t:.2f} GB/s | {k_t / t2:.1f}x "
                  f"| {sha_t / t1:.0%} | {rss2 / 2**20:.0f} MiB |")


if __name__ == "__main__":
    main()
