"""Every keccak backend this CPU runs (avx512 ×8, avx2 ×4, scalar ×1; see
rust_core/eth/src/keccak/dispatch.rs) gives the same bytes as independent keccak-256
implementations (pycryptodome, eth-hash) and the same trees, proofs and verification results
as every other backend. The rest of the suite runs on the default (fastest) backend; the Merkle
tests are re-run here once per other backend, in a child pytest with NFTREG_KECCAK set."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from Crypto.Hash import keccak as pycryptodome_keccak
from eth_hash.auto import keccak as eth_hash_keccak
from nftreg import _core
from nftreg.merkle import StandardMerkleTree, verify_many, verify_many_json

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = _core.merkle.keccak_backends()
ALL = ["avx512", "avx2", "scalar"]
ENC = ["address", "uint256"]


def pycryptodome(data: bytes) -> bytes:
    h = pycryptodome_keccak.new(digest_bits=256)
    h.update(data)
    return h.digest()


@pytest.fixture
def restore_backend():
    before = _core.merkle.keccak_backend()
    yield
    _core.merkle.set_keccak_backend(before)


def test_backends_listed_fastest_first_and_default_is_fastest():
    assert BACKENDS[-1] == "scalar"
    assert BACKENDS == [b for b in ALL if b in BACKENDS]
    if "NFTREG_KECCAK" not in os.environ:
        assert _core.merkle.keccak_backend() == BACKENDS[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_length_matches_pycryptodome_and_eth_hash(backend):
    rng = random.Random(13)
    items = [rng.randbytes(n) for n in range(301)]
    items += [rng.randbytes(n) for n in (135, 136, 137, 271, 272, 273, 407, 408, 409, 1000)] * 3
    rng.shuffle(items)
    got = _core.merkle.keccak256_many(items, backend)
    assert len(got) == len(items)
    for data, h in zip(items, got):
        assert h == pycryptodome(data) == eth_hash_keccak(data), f"{backend}: length {len(data)}"
    # equal lengths fill every lane
    for n in (0, 32, 64, 135, 136, 137):
        same = [rng.randbytes(n) for _ in range(19)]
        assert _core.merkle.keccak256_many(same, backend) == [pycryptodome(x) for x in same]


def test_unknown_and_unavailable_backends_are_refused(restore_backend):
    with pytest.raises(ValueError, match="unknown keccak backend"):
        _core.merkle.set_keccak_backend("avx1024")
    with pytest.raises(ValueError, match="unknown keccak backend"):
        _core.merkle.keccak256_many([b""], "sse9")
    for b in ALL:
        if b not in BACKENDS:
            with pytest.raises(ValueError, match=f"'{b}' is not available on this CPU"):
                _core.merkle.set_keccak_backend(b)
    for b in BACKENDS:
        _core.merkle.set_keccak_backend(b)
        assert _core.merkle.keccak_backend() == b


def _backend_in_child(value: str) -> tuple[str, str]:
    env = dict(os.environ, NFTREG_KECCAK=value)
    out = subprocess.run([sys.executable, "-c", "from nftreg import _core; print(_core.merkle.keccak_backend())"],
                         env=env, capture_output=True, text=True, check=True, timeout=60)
    return out.stdout.strip(), out.stderr


def test_env_var_forces_each_backend_and_bad_values_fall_back_loudly():
    for b in BACKENDS:
        assert _backend_in_child(b) == (b, "")
    chosen, err = _backend_in_child("avx1024")
    assert chosen == BACKENDS[0] and "NFTREG_KECCAK=avx1024 is not one of" in err
    for b in ALL:
        if b not in BACKENDS:
            chosen, err = _backend_in_child(b)
            assert chosen == BACKENDS[0] and f"'{b}' is not available on this CPU" in err


def _values(n: int, seed: int) -> list[list]:
    rng = random.Random(seed)
    return [["0x" + rng.randbytes(20).hex(), rng.getrandbits(rng.choice((8, 96, 256)))] for _ in range(n)]


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 9, 100, 1001, 4097, 20_001, 100_000])
def test_trees_proofs_and_verification_identical_on_every_backend(n, restore_backend):
    values = _values(n, seed=n)
    seen = {}
    for b in BACKENDS:
        _core.merkle.set_keccak_backend(b)
        tree = StandardMerkleTree.of(values, ENC)
        proofs = tree.all_proofs()
        proof_lists = [proofs[i] for i in range(0, n, max(1, n // 300))]
        # every third probe gets a wrong value: each must fail, on every backend
        probe_values = [v if k % 3 else [v[0], v[1] + 1] for k, v in enumerate(values[0:n:max(1, n // 300)])]
        ok_set = verify_many(tree.root, ENC, values, proofs)
        ok_lists = verify_many(tree.root, ENC, probe_values, proof_lists)
        picks = list(range(0, n, max(1, n // 7)))
        multi = tree.get_multiproof(picks)
        body = json.dumps({"root": tree.root, "leaf_encoding": ENC,
                           "items": [{"value": v, "proof": p} for v, p in zip(probe_values, proof_lists)]}).encode()
        seen[b] = (tree.root, tree.dump()["tree"], proofs.to_bytes(), ok_set, ok_lists, multi,
                   StandardMerkleTree.verify_multiproof(tree.root, ENC, multi), verify_many_json(body, leaf_encoding=ENC))
        assert all(ok_set)
        assert ok_lists == [k % 3 != 0 for k in range(len(proof_lists))]
        assert seen[b][6] is True
    first = seen[BACKENDS[0]]
    for b in BACKENDS[1:]:
        assert seen[b] == first, f"{b} differs from {BACKENDS[0]} on {n} leaves"


@pytest.mark.parametrize("backend", BACKENDS[1:])
def test_merkle_suite_passes_on_other_backends(backend):
    """The Merkle tests (npm / OpenZeppelin cross-checks included) again with NFTREG_KECCAK."""
    env = dict(os.environ, NFTREG_KECCAK=backend)
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                          "tests/test_merkle.py", "tests/test_merkle_npm.py"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200, check=False)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and " failed" not in out.stdout
