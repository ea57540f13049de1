"""Merkle benchmark: nftreg side by side with the npm @openzeppelin/merkle-tree, the PyPI
`multiproof` port and a plain eth-abi + eth-hash reference, on the same values, in one run.

Run: `.venv/bin/python bench/bench_merkle.py [--quick]` after `maturin develop --release`.
Prints leaves/s for builds, proofs/s, verifications/s, the keccak-f1600 ceiling of the same
binary and peak memory per leaf, with ratios. Roots are compared so that every anchor is
known to have done the same work.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from eth_abi import encode as abi_encode
from eth_hash.auto import keccak
from nftreg import StandardMerkleTree, _core, verify_many

ROOT = Path(__file__).resolve().parent.parent
ENC = ["address", "uint256"]


def values_for(n: int, seed: int = 1) -> list[list]:
    rng = random.Random(seed)
    return [["0x" + rng.randbytes(20).hex(), rng.getrandbits(96)] for _ in range(n)]


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def eth_abi_reference_root(values: list[list]) -> str:
    leaves = sorted(keccak(keccak(abi_encode(ENC, v))) for v in values)
    n = len(leaves)
    tree = [b""] * (2 * n - 1)
    for i, leaf in enumerate(leaves):
        tree[len(tree) - 1 - i] = leaf
    for i in range(len(tree) - 1 - n, -1, -1):
        a, b = sorted((tree[2 * i + 1], tree[2 * i + 2]))
        tree[i] = keccak(a + b)
    return "0x" + tree[0].hex()


def npm_run(values: list[list], k: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"values": [[a, str(x)] for a, x in values], "encoding": ENC, "k": k}, f)
    try:
        out = subprocess.run(["node", str(ROOT / "bench/js/oz_merkle_bench.js"), f.name],
                             capture_output=True, check=True, cwd=ROOT, timeout=3600)
        return json.loads(out.stdout)
    finally:
        os.unlink(f.name)


def keccak_rates(n: int = 2_000_000) -> tuple[float, float]:
    dt1, _ = timed(_core.merkle.keccak_permutations, n)
    threads = [threading.Thread(target=_core.merkle.keccak_permutations, args=(n,)) for _ in range(os.cpu_count() or 1)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dtn = time.perf_counter() - t0
    return n / dt1, n * len(threads) / dtn


def peak_bytes_per_leaf(n: int) -> float:
    """Peak RSS growth while building, beyond the Python values list, per leaf (subprocess)."""
    code = f"""
import random, sys
sys.path.insert(0, {str(ROOT / 'bench')!r})
from bench_merkle import values_for
from nftreg import StandardMerkleTree
def hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM'):
            return int(line.split()[1]) * 1024
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS'):
            return int(line.split()[1]) * 1024
v = values_for({n})
base = rss()
open('/proc/self/clear_refs', 'w').write('5')
t = StandardMerkleTree.of(v, ['address', 'uint256'])
print((hwm() - base) / {n})
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, text=True)
    return float(out.stdout.strip())


def fmt(x: float) -> str:
    return f"{x:,.0f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="10^4 instead of 10^5 for the anchors")
    args = ap.parse_args()
    n_anchor = 10_000 if args.quick else 100_000
    rows: list[tuple[str, str, str, str]] = []

    print(f"cpus: {os.cpu_count()}  python {sys.version.split()[0]}")
    single, multi = keccak_rates()
    ceiling = multi / 3
    print(f"keccak-f1600: {fmt(single)}/s on one core, {fmt(multi)}/s on all cores -> ceiling {fmt(ceiling)} leaves/s (3 permutations per leaf)")

    values = values_for(n_anchor)
    ours_t, tree = timed(StandardMerkleTree.of, values, ENC)
    npm = npm_run(values, k=10_000)
    assert npm["root"] == tree.root, "npm disagrees"
    mp_mod = __import__("multiproof")
    mp_t, mp_tree = timed(mp_mod.StandardMerkleTree.of, values, ENC)
    assert "0x" + mp_tree.tree[0].hex() == tree.root, "multiproof disagrees"
    ref_t, ref_root = timed(eth_abi_reference_root, values)
    assert ref_root == tree.root, "eth-abi reference disagrees"
    rows.append((f"build {n_anchor:,} leaves", fmt(n_anchor / ours_t),
                 f"npm {fmt(n_anchor / npm['build'])} | multiproof {fmt(n_anchor / mp_t)} | eth-abi {fmt(n_anchor / ref_t)}",
                 f"{npm['build'] / ours_t:,.0f}x npm, {mp_t / ours_t:,.0f}x multiproof, {ref_t / ours_t:,.0f}x eth-abi"))

    big = values_for(1_000_000, seed=2)
    runs = [timed(StandardMerkleTree.of, big, ENC)[0] for _ in range(3)]
    big_t = min(runs)
    npm_big = npm["build"] * (1_000_000 / n_anchor)  # linear extrapolation
    rows.append(("build 1,000,000 leaves", fmt(1e6 / big_t),
                 f"npm ~{fmt(1e6 / npm_big)} (extrapolated from {n_anchor:,})",
                 f"{npm_big / big_t:,.0f}x npm; {1e6 / big_t / ceiling:.0%} of keccak ceiling"))

    # proofs
    k = 10_000
    t_single, _ = timed(lambda: [tree.get_proof(i) for i in range(k)])
    rows.append((f"get_proof x{k:,} ({n_anchor:,}-leaf tree)", fmt(k / t_single),
                 f"npm {fmt(k / npm['prove'])}", f"{npm['prove'] / t_single:,.1f}x npm"))
    del big
    pow20 = values_for(1 << 20, seed=3)
    t20 = StandardMerkleTree.of(pow20, ENC)
    all_t, proofs = min((timed(t20.all_proofs) for _ in range(3)), key=lambda r: r[0])
    rows.append(("all proofs of a 2^20-leaf tree", f"{all_t:.3f} s", f"{fmt((1 << 20) / all_t)} proofs/s",
                 f"{proofs.nbytes / 2**20:,.0f} MiB of proofs"))

    # verification (depth 20)
    proof_lists = [proofs[i] for i in range(1 << 20)]
    ver_t, ok = timed(verify_many, t20.root, ENC, pow20, proof_lists)
    assert all(ok)
    mp_v = min(2000, k)
    mp_proofs = proof_lists[:mp_v]
    mpv_t, _ = timed(lambda: [mp_mod.StandardMerkleTree.verify(t20.root, ENC, pow20[i], mp_proofs[i]) for i in range(mp_v)])
    rows.append(("verify 2^20 proofs, depth 20 (0x-hex lists)", fmt((1 << 20) / ver_t),
                 f"npm {fmt(k / npm['verify'])} (depth 17) | multiproof {fmt(mp_v / mpv_t)}",
                 f"{(1 << 20) / ver_t / (k / npm['verify']):,.0f}x npm"))
    del proof_lists
    pset_t, ok = min((timed(verify_many, t20.root, ENC, pow20, proofs) for _ in range(2)), key=lambda r: r[0])
    assert all(ok)
    perm_ceiling = multi / 22  # 2 permutations for the leaf + 20 for the path
    rows.append(("verify 2^20 proofs, depth 20 (ProofSet)", fmt((1 << 20) / pset_t),
                 f"keccak ceiling {fmt(perm_ceiling)} (22 perms/proof)",
                 f"{(1 << 20) / pset_t / perm_ceiling:.0%} of ceiling"))

    mem = peak_bytes_per_leaf(1_000_000)
    rows.append(("peak memory per leaf (build 10^6)", f"{mem:,.0f} B", "target <= 200 B", "beyond the input values"))

    w = [max(len(r[i]) for r in rows + [("what", "nftreg", "anchors", "ratio")]) for i in range(4)]
    line = lambda r: "| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(r)) + " |"
    print(line(("what", "nftreg", "anchors", "ratio")))
    print("|" + "|".join("-" * (x + 2) for x in w) + "|")
    for r in rows:
        print(line(r))


if __name__ == "__main__":
    main()
