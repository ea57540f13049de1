"""Multi-lane keccak benchmark: every keccak backend this CPU runs (avx512 ×8, avx2 ×4,
scalar ×1), side by side in one run, on the same inputs, with ratios.

    .venv/bin/python bench/bench_keccak.py [--quick]

1. Keccak-f[1600] permutations/s on one core per backend, against the one-lane `keccak::f1600`
   of the same binary (the old ceiling, `keccak_permutations`).
2. StandardMerkleTree build of 10^6 `["address","uint256"]` leaves from Python values, per
   backend, against npm @openzeppelin/merkle-tree (run on 10^5 and extrapolated linearly, as
   bench_merkle.py does): values converted on the GIL thread (before) and only copied out
   under the GIL, parsed and encoded on every core (after), same run.
3. The same tree from packed ABI bytes (`build_standard_packed`: 64 bytes per leaf, no Python
   objects) and from a `standard-v1` dump (`StandardMerkleTree.load`), per backend.
4. verify_many of 2^20 depth-20 proofs from a ProofSet, and `verify_many_json` of a 100,000-item
   proofs body (the work of POST /v1/verify/proofs without HTTP), per backend: item by item in
   one lane (the reference, as before the lanes) against groups of 256 in lanes, same run.

Every backend's roots and verification results are asserted equal before a rate counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_merkle import ENC, npm_run, values_for
from nftreg import _core
from nftreg.merkle import StandardMerkleTree, verify_many, verify_many_json


def best(fn, *args, rounds: int = 3):
    """Best wall time of `rounds` calls (the machine is shared) and the last result."""
    times, out = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - t0)
    return min(times), out


def fmt(x: float) -> str:
    return f"{x:,.0f}"


def per_core_and_all(fn, *args) -> tuple[float, float]:
    """Seconds for one call on one core, and for one call per core run together."""
    t1, _ = best(fn, *args)
    threads = [threading.Thread(target=fn, args=args) for _ in range(os.cpu_count() or 1)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return t1, time.perf_counter() - t0


def packed(values: list[list]) -> bytes:
    """abi.encode(address, uint256) of every value, concatenated (64 bytes each)."""
    out = bytearray()
    for a, x in values:
        out += bytes(12) + bytes.fromhex(a[2:]) + x.to_bytes(32, "big")
    return bytes(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="10^5 leaves instead of 10^6, 2^17 proofs instead of 2^20")
    ap.add_argument("--no-npm", action="store_true")
    args = ap.parse_args()
    n_big = 100_000 if args.quick else 1_000_000
    depth = 17 if args.quick else 20
    backends = _core.merkle.keccak_backends()
    ncpu = os.cpu_count() or 1
    print(f"cpus: {ncpu}  backends on this CPU: {backends}  (default: {_core.merkle.keccak_backend()})  "
          f"load average at start: {os.getloadavg()}")
    rows: list[tuple[str, ...]] = []

    # 1. permutations per core
    n_perm = 2_000_000
    t_old, t_old_all = per_core_and_all(_core.merkle.keccak_permutations, n_perm)
    rows.append(("keccak-f1600 perms/s, one core", "f1600 (old path)", fmt(n_perm / t_old), "1.00x"))
    perm_rate = {}
    for b in backends:
        t1, t_all = per_core_and_all(_core.merkle.keccak_permutations_with, b, n_perm)
        perm_rate[b] = n_perm / t1
        rows.append(("keccak-f1600 perms/s, one core", b, fmt(n_perm / t1), f"{t_old / t1:.2f}x f1600"))
        rows.append((f"keccak-f1600 perms/s, all {ncpu} cores", b, fmt(n_perm * ncpu / t_all), f"{t_old_all / t_all:.2f}x f1600"))

    # 2. build from Python values
    values = values_for(n_big, seed=2)
    npm = None
    if not args.no_npm:
        anchor = values[:100_000] if not args.quick else values[:10_000]
        npm = npm_run(anchor, k=100)
        npm_rate = len(anchor) / npm["build"]
    roots = {}
    build_rate = {}
    for b in backends:
        _core.merkle.set_keccak_backend(b)
        # before: values converted on the GIL thread; after: only copied out there, parsed and
        # encoded on every core (both hash in lanes on every core)
        t_gil, core = best(lambda: _core.merkle.build_standard(ENC, values, True, convert_in_parallel=False))
        t, tree = best(StandardMerkleTree.of, values, ENC)
        assert "0x" + core.root.hex() == tree.root
        roots[b] = tree.root
        build_rate[b] = n_big / t
        ratio = f"{n_big / t_gil / npm_rate:,.0f}x npm" if npm else ""
        rows.append((f"build {n_big:,} leaves from Python values, converted under the GIL", b, fmt(n_big / t_gil), ratio))
        ratio = f"{n_big / t / npm_rate:,.0f}x npm; " if npm else ""
        rows.append((f"build {n_big:,} leaves from Python values, converted in parallel", b, fmt(n_big / t),
                     f"{ratio}{t_gil / t:.2f}x under the GIL"))
    assert len(set(roots.values())) == 1, f"backends disagree: {roots}"
    if npm:
        assert npm["root"] == StandardMerkleTree.of(values[: len(anchor)], ENC).root, "npm disagrees"
        rows.append((f"build {len(anchor):,} leaves (anchor)", "npm @openzeppelin/merkle-tree", fmt(npm_rate), "1x"))

    # 3. from packed bytes and from a dump
    data = packed(values)
    dump = tree.dump()
    for b in backends:
        _core.merkle.set_keccak_backend(b)
        t, core = best(_core.merkle.build_standard_packed, ENC, data, True)
        assert "0x" + core.root.hex() == roots[b]
        rows.append((f"build {n_big:,} leaves from packed ABI bytes", b, fmt(n_big / t), f"{n_big / t / build_rate[b]:.1f}x from values"))
        t, loaded = best(StandardMerkleTree.load, dump, rounds=2)
        assert loaded.root == roots[b]
        rows.append((f"load a {n_big:,}-leaf standard-v1 dump (rehash + check)", b, fmt(n_big / t), ""))
    del data, dump, tree

    # 4. proofs
    pow_values = values_for(1 << depth, seed=3)
    t_big = StandardMerkleTree.of(pow_values, ENC)
    proofs = t_big.all_proofs()
    for b in backends:
        _core.merkle.set_keccak_backend(b)
        t, ok = best(verify_many, t_big.root, ENC, pow_values, proofs, rounds=2)
        assert all(ok)
        perms = 2 + depth
        ceiling = perm_rate["scalar"] * ncpu / perms
        rows.append((f"verify 2^{depth} proofs, depth {depth} (ProofSet)", b, fmt((1 << depth) / t),
                     f"{(1 << depth) / t / ceiling:.2f}x the one-lane ceiling ({fmt(ceiling)})"))
    n_items = 100_000
    body = json.dumps({"root": t_big.root, "leaf_encoding": ENC,
                       "items": [{"value": pow_values[i], "proof": proofs[i]} for i in range(n_items)]}).encode()
    for b in backends:
        _core.merkle.set_keccak_backend(b)
        # before: item by item, one lane each (the reference); after: groups of 256 in lanes
        t_ref, ok_ref = best(lambda: _core.merkle.verify_proofs_json(body, ENC, 1 << 62, item_by_item=True))
        t, ok = best(lambda: verify_many_json(body, leaf_encoding=ENC))
        assert all(ok) and len(ok) == n_items and ok == ok_ref
        rows.append((f"verify_many_json, {n_items:,} items (/v1/verify/proofs work), item by item", b,
                     fmt(n_items / t_ref), f"{len(body) / 2**20:.0f} MiB body"))
        rows.append((f"verify_many_json, {n_items:,} items, groups of 256 in lanes", b, fmt(n_items / t),
                     f"{t_ref / t:.2f}x item by item"))
    _core.merkle.set_keccak_backend(backends[0])

    print(f"load average at end: {os.getloadavg()}")
    head = ("what", "backend", "rate /s", "ratio")
    w = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
    line = lambda r: "| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(r)) + " |"
    print(line(head))
    print("|" + "|".join("-" * (x + 2) for x in w) + "|")
    for r in rows:
        print(line(r))


if __name__ == "__main__":
    main()
