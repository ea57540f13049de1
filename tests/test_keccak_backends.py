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
from api_server import LiveServer
from Crypto.Hash import keccak as pycryptodome_keccak
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak as eth_hash_keccak
from nftreg import _core
from nftreg.claims import CLAIM_LEAF_ENCODING
from nftreg.merkle import ProofStream, StandardMerkleTree, verify_many, verify_many_json
from nftreg.settings import Settings

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


def _claim_rows(n: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [["0x" + rng.randbytes(20).hex(), "0x" + rng.randbytes(32).hex(), f"bafy-ทดสอบ-{rng.getrandbits(40):x}"]
            for _ in range(n)]


def _fold_eth_hash(root: str, value: object, proof: object) -> bool:
    """The item's answer computed without the Rust core (eth-abi, eth-hash): False for anything
    that is not a well-formed (address, bytes32, string) item with 0x-hex proof hashes."""
    try:
        assert isinstance(value, list) and isinstance(proof, list) and len(value) == 3
        assert all(isinstance(p, str) and p.startswith("0x") and len(p) == 66 for p in proof)
        addr, content, cid = value
        assert isinstance(addr, str) and len(addr) == 42 and isinstance(content, str) and len(content) == 66
        assert isinstance(cid, str)
        node = eth_hash_keccak(eth_hash_keccak(abi_encode(CLAIM_LEAF_ENCODING, [addr, bytes.fromhex(content[2:]), cid])))
        for p in proof:
            sib = bytes.fromhex(p[2:])
            node = eth_hash_keccak(min(node, sib) + max(node, sib))
    except (AssertionError, ValueError):
        return False
    return "0x" + node.hex() == root


def _proofs_body() -> tuple[bytes, list[bool]]:
    """A `/v1/verify/proofs` body of 1,100 items (more than four groups of 256): good proofs of
    depth 8 and 9, tampered values, proofs of another tree (depth 1 and 2), and malformed items
    of every kind, interleaved; with the expected answers computed by eth-hash."""
    big, small = _claim_rows(300, 1), _claim_rows(3, 2)
    tree, other = StandardMerkleTree.of(big, CLAIM_LEAF_ENCODING), StandardMerkleTree.of(small, CLAIM_LEAF_ENCODING)
    rng = random.Random(3)
    items: list[object] = []
    for k in range(1100):
        i = rng.randrange(300)
        good = {"value": list(tree.at(i)), "proof": tree.get_proof(i)}
        kind = k % 11
        if kind == 1:
            good["value"][2] += "x"  # tampered value
        elif kind == 2:
            j = rng.randrange(3)
            good = {"value": list(other.at(j)), "proof": other.get_proof(j)}  # another tree's proof
        elif kind == 3:
            good["proof"] = good["proof"][:-1]  # one step short
        elif kind == 4:
            good["proof"] = [p.replace("0x", "zz", 1) for p in good["proof"]]  # not hex
        elif kind == 5:
            good["value"] = good["value"][:2]  # wrong arity
        elif kind == 6:
            good = rng.choice(["junk", 7, [], None, {"value": "x", "proof": 7}])  # not an item
        elif kind == 7:
            good["proof"] = []  # no proof at all
        items.append(good)
    expected = [isinstance(it, dict) and _fold_eth_hash(tree.root, it.get("value"), it.get("proof")) for it in items]
    # eth-hash agrees with the construction: only the untouched items (4 kinds in 11) verify
    assert expected == [k % 11 in (0, 8, 9, 10) for k in range(len(items))]
    return json.dumps({"root": tree.root, "items": items}).encode(), expected


def test_proofs_route_and_verifiers_identical_on_every_backend(restore_backend, tmp_path):
    """The JSON proofs verifier hashes items in groups in keccak lanes (whole body, streamed,
    and through the route): every backend gives the eth-hash answers, item by item."""
    body, expected = _proofs_body()
    settings = Settings(data_dir=tmp_path, rpc_url="tester://", env="test", admin_api_key="test-admin-key-0123456789")
    with LiveServer(settings) as srv, srv.client() as client:
        for b in BACKENDS:
            _core.merkle.set_keccak_backend(b)
            assert verify_many_json(body, leaf_encoding=CLAIM_LEAF_ENCODING) == expected, b
            for chunk_size in (1, 777, 1 << 20):
                s = ProofStream(leaf_encoding=CLAIM_LEAF_ENCODING)
                for k in range(0, len(body), chunk_size):
                    s.feed(body[k:k + chunk_size])
                assert s.finish() == expected, f"{b}, streamed in chunks of {chunk_size}"
            r = client.post("/v1/verify/proofs", content=body, headers={"Content-Type": "application/json"})
            assert r.status_code == 200, r.text
            assert r.json()["results"] == expected, f"{b}: route"


@pytest.mark.parametrize("backend", BACKENDS[1:])
def test_merkle_suite_passes_on_other_backends(backend):
    """The Merkle tests (npm / OpenZeppelin cross-checks included) and the proofs-body oracle
    tests again with NFTREG_KECCAK."""
    env = dict(os.environ, NFTREG_KECCAK=backend)
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                          "tests/test_merkle.py", "tests/test_merkle_npm.py", "tests/test_verify_body.py"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200, check=False)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and " failed" not in out.stdout
