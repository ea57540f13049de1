"""nftreg's Merkle trees against the real npm @openzeppelin/merkle-tree: roots, every proof,
multiproofs, renders and dumps must be identical, and dumps must load on the other side."""

from __future__ import annotations

import random
import zlib

import pytest
from merkle_values import ENCODINGS, gen_values
from nftreg import SimpleMerkleTree, StandardMerkleTree

pytestmark = pytest.mark.npm

SIZES = [1, 2, 3, 7, 8, 16, 33, 100]


def _multiproof_sets(n: int, rng: random.Random) -> list[list[int]]:
    sets = [[], list(range(n))]
    for _ in range(4):
        k = rng.randint(1, n)
        sets.append(rng.sample(range(n), k))
    return sets


@pytest.mark.parametrize("encoding", ENCODINGS, ids=lambda e: ",".join(e))
@pytest.mark.parametrize("sort_leaves", [True, False])
def test_trees_match_npm(oz_merkle, encoding, sort_leaves):
    requests, ours = [], []
    rng = random.Random(zlib.crc32(f"{encoding}{sort_leaves}".encode()))
    for n in SIZES:
        values = gen_values(encoding, n, seed=n * 7919 + len(encoding))
        mps = _multiproof_sets(n, rng)
        requests.append(
            {"op": "build", "values": values, "encoding": encoding, "sortLeaves": sort_leaves,
             "proofs": True, "multiproofs": mps, "render": n <= 16}
        )
        ours.append((values, mps))
    results = oz_merkle.run(requests)
    for (values, mps), ref in zip(ours, results):
        assert "error" not in ref, ref
        tree = StandardMerkleTree.of(values, encoding, sort_leaves=sort_leaves)
        assert tree.root == ref["root"]
        assert tree.dump() == ref["dump"]
        assert [tree.get_proof(i) for i in range(len(values))] == ref["proofs"]
        all_proofs = tree.all_proofs()
        assert [all_proofs[i] for i in range(len(values))] == ref["proofs"]
        if ref.get("render") is not None:
            assert tree.render() == ref["render"]
        for idx, ref_mp in zip(mps, ref["multiproofs"]):
            mp = tree.get_multiproof(idx)
            assert mp["proof"] == ref_mp["proof"]
            assert mp["proof_flags"] == ref_mp["proofFlags"]
            assert mp["leaves"] == ref_mp["leaves"]
            assert StandardMerkleTree.verify_multiproof(tree.root, encoding, mp)
            assert tree.verify_multiproof(mp)


def test_ten_thousand_leaves_match_npm(oz_merkle):
    enc = ["address", "uint256"]
    values = gen_values(enc, 10_000, seed=10_000)
    ref = oz_merkle.one({"op": "build", "values": values, "encoding": enc, "proofs": True,
                         "multiproofs": [list(range(0, 10_000, 97))]})
    tree = StandardMerkleTree.of(values, enc)
    assert tree.root == ref["root"]
    assert tree.dump() == ref["dump"]
    proofs = tree.all_proofs()
    assert len(proofs) == 10_000
    assert all(proofs[i] == ref["proofs"][i] for i in range(10_000))
    mp = tree.get_multiproof(list(range(0, 10_000, 97)))
    assert mp["proof"] == ref["multiproofs"][0]["proof"]
    assert mp["proof_flags"] == ref["multiproofs"][0]["proofFlags"]


@pytest.mark.parametrize("encoding", ENCODINGS[:4], ids=lambda e: ",".join(e))
def test_dumps_load_across_implementations(oz_merkle, encoding):
    values = gen_values(encoding, 37, seed=37)
    ours = StandardMerkleTree.of(values, encoding)
    ref_build, ref_load = oz_merkle.run(
        [{"op": "build", "values": values, "encoding": encoding}, {"op": "load", "dump": ours.dump()}]
    )
    # npm loads our dump and proves every value identically
    assert ref_load["root"] == ours.root
    assert ref_load["proofs"] == [ours.get_proof(i) for i in range(37)]
    # we load npm's dump
    loaded = StandardMerkleTree.load(ref_build["dump"])
    assert loaded.root == ours.root
    assert loaded.dump() == ref_build["dump"]
    assert [loaded.get_proof(i) for i in range(37)] == ref_load["proofs"]


def test_python_int_values_dump_as_decimal_strings(oz_merkle):
    values = [["0x" + "11" * 20, 5 * 10**18], ["0x" + "22" * 20, 2**255 + 1]]
    tree = StandardMerkleTree.of(values, ["address", "uint256"])
    ref = oz_merkle.one({"op": "load", "dump": tree.dump()})
    assert ref["root"] == tree.root
    assert tree.dump()["values"][0]["value"] == ["0x" + "11" * 20, str(5 * 10**18)]


@pytest.mark.parametrize("n", [1, 2, 5, 64])
def test_simple_tree_matches_npm(oz_merkle, n):
    rng = random.Random(n)
    values = ["0x" + rng.randbytes(32).hex() for _ in range(n)]
    ref, = oz_merkle.run([{"op": "buildSimple", "values": values, "proofs": True,
                           "multiproofs": [list(range(n))]}])
    tree = SimpleMerkleTree.of(values)
    assert tree.root == ref["root"]
    assert tree.dump() == ref["dump"]
    assert [tree.get_proof(i) for i in range(n)] == ref["proofs"]
    assert tree.get_multiproof(list(range(n)))["proof_flags"] == ref["multiproofs"][0]["proofFlags"]
    assert SimpleMerkleTree.load(ref["dump"]).root == tree.root
    assert all(SimpleMerkleTree.verify(tree.root, values[i], tree.get_proof(i)) for i in range(n))


def test_static_verify_matches_npm_on_good_and_bad_proofs(oz_merkle):
    enc = ["address", "uint256"]
    values = gen_values(enc, 50, seed=5)
    tree = StandardMerkleTree.of(values, enc)
    reqs, expected = [], []
    for i in range(50):
        proof = tree.get_proof(i)
        reqs.append({"op": "verify", "root": tree.root, "encoding": enc, "value": values[i], "proof": proof})
        expected.append(StandardMerkleTree.verify(tree.root, enc, values[i], proof))
        other = values[(i + 1) % 50]
        reqs.append({"op": "verify", "root": tree.root, "encoding": enc, "value": other, "proof": proof})
        expected.append(StandardMerkleTree.verify(tree.root, enc, other, proof))
    got = [r["ok"] for r in oz_merkle.run(reqs)]
    assert got == expected
    assert got[0::2] == [True] * 50 and got[1::2] == [False] * 50
