"""Properties and bad input for nftreg's Merkle trees (no reference library needed)."""

from __future__ import annotations

import json

import pytest
from eth_abi import encode as eth_abi_encode
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from merkle_values import ENCODINGS, gen_values
from nftreg import InvalidInputError, SimpleMerkleTree, StandardMerkleTree, verify_many
from nftreg.merkle import abi_encode, keccak256, leaf_hash, verify_many_json

ENC = ["address", "uint256"]
addr = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
amount = st.integers(min_value=0, max_value=2**256 - 1)
leaves = st.lists(st.tuples(addr, amount).map(list), min_size=1, max_size=40)


def test_readme_example_root():
    # The example in @openzeppelin/merkle-tree's README.
    values = [
        ["0x1111111111111111111111111111111111111111", "5000000000000000000"],
        ["0x2222222222222222222222222222222222222222", "2500000000000000000"],
    ]
    tree = StandardMerkleTree.of(values, ENC)
    assert tree.root == "0xd4dee0beab2d53f2cc83e567171bd2820e49898130a22622b10ead383e90bd77"


@pytest.mark.parametrize("encoding", ENCODINGS, ids=lambda e: ",".join(e))
def test_abi_encoding_matches_eth_abi(encoding):
    # eth-abi is an independent encoder: abi.encode and the leaf hash must agree with it.
    for value in gen_values(encoding, 30, seed=len(encoding)):
        py_value = [_to_eth_abi(t, v) for t, v in zip(encoding, value)]
        expected = eth_abi_encode(encoding, py_value)
        assert abi_encode(encoding, value) == expected
        assert leaf_hash(encoding, value) == "0x" + keccak(keccak(expected)).hex()


def _to_eth_abi(t, v):
    if t.endswith("]"):
        inner = t[: t.rindex("[")]
        return [_to_eth_abi(inner, x) for x in v]
    if t.startswith(("uint", "int")):
        return int(v, 0)
    if t.startswith("bytes"):
        return bytes.fromhex(v[2:])
    return v


def test_keccak_vector():
    assert keccak256(b"") == "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=leaves, data=st.data())
def test_proof_for_one_leaf_never_verifies_another(values, data):
    tree = StandardMerkleTree.of(values, ENC)
    i = data.draw(st.integers(0, len(values) - 1))
    j = data.draw(st.integers(0, len(values) - 1))
    proof = tree.get_proof(i)
    assert tree.verify(i, proof)
    assert StandardMerkleTree.verify(tree.root, ENC, values[i], proof)
    if tree.leaf_hash(values[i]) != tree.leaf_hash(values[j]):
        assert not StandardMerkleTree.verify(tree.root, ENC, values[j], proof)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.tuples(addr, amount).map(list), min_size=2, max_size=40), data=st.data())
def test_any_flipped_bit_or_reordered_sibling_fails(values, data):
    tree = StandardMerkleTree.of(values, ENC)
    i = data.draw(st.integers(0, len(values) - 1))
    proof = tree.get_proof(i)
    k = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    raw = bytearray(bytes.fromhex(proof[k][2:]))
    raw[bit // 8] ^= 1 << (bit % 8)
    flipped = proof[:k] + ["0x" + raw.hex()] + proof[k + 1 :]
    assert not StandardMerkleTree.verify(tree.root, ENC, values[i], flipped)
    if len(proof) >= 2 and proof[0] != proof[1]:
        swapped = [proof[1], proof[0], *proof[2:]]
        assert not StandardMerkleTree.verify(tree.root, ENC, values[i], swapped)
    # a flipped bit in the value itself fails too
    other = [values[i][0], (int(values[i][1]) ^ 1)]
    assert not StandardMerkleTree.verify(tree.root, ENC, other, proof)


@settings(max_examples=40, deadline=None)
@given(values=leaves, data=st.data())
def test_multiproofs_verify_and_reject_tampering(values, data):
    tree = StandardMerkleTree.of(values, ENC)
    idx = data.draw(st.lists(st.integers(0, len(values) - 1), unique=True, max_size=len(values)))
    mp = tree.get_multiproof(idx)
    assert StandardMerkleTree.verify_multiproof(tree.root, ENC, mp)
    if mp["proof_flags"]:
        k = data.draw(st.integers(0, len(mp["proof_flags"]) - 1))
        flags = list(mp["proof_flags"])
        flags[k] = not flags[k]
        assert not StandardMerkleTree.verify_multiproof(tree.root, ENC, {**mp, "proof_flags": flags})
    if mp["proof"] and mp["leaves"]:
        assert not StandardMerkleTree.verify_multiproof(tree.root, ENC, {**mp, "proof": mp["proof"][1:]})


def test_multiproof_duplicate_and_out_of_range_indices_are_rejected():
    tree = StandardMerkleTree.of(gen_values(ENC, 10, seed=1), ENC)
    with pytest.raises(InvalidInputError, match="duplicated"):
        tree.get_multiproof([3, 3])
    with pytest.raises(InvalidInputError, match="out of bounds"):
        tree.get_multiproof([10])
    with pytest.raises(InvalidInputError, match="out of bounds"):
        tree.get_proof(-1)


def test_multiproof_with_internal_node_as_leaf_is_not_a_forgery():
    # The 64-byte-leaf attack: present an internal node's children as a "leaf". Leaves are
    # double-hashed, so the pair's concatenation never hashes to a leaf and verification fails.
    values = gen_values(ENC, 8, seed=2)
    tree = StandardMerkleTree.of(values, ENC)
    dump = tree.dump()
    left, right = dump["tree"][3], dump["tree"][4]
    forged_value = [left, right]  # as if (bytes32, bytes32) were a leaf
    assert not StandardMerkleTree.verify(tree.root, ["bytes32", "bytes32"], forged_value, tree.get_proof(0)[1:])


def test_verify_many_mixes_good_and_bad_items():
    values = gen_values(ENC, 1000, seed=3)
    tree = StandardMerkleTree.of(values, ENC)
    proofs = [tree.get_proof(i) for i in range(1000)]
    assert verify_many(tree.root, ENC, values, proofs) == [True] * 1000
    bad_values = list(values)
    bad_values[5] = ["not an address", 1]
    bad_values[6] = values[7]
    bad_proofs = list(proofs)
    bad_proofs[8] = ["0x1234"]
    bad_proofs[9] = "not a list"
    result = verify_many(tree.root, ENC, bad_values, bad_proofs)
    assert [i for i, ok in enumerate(result) if not ok] == [5, 6, 8, 9]
    with pytest.raises(InvalidInputError, match="differ in length"):
        verify_many(tree.root, ENC, values, proofs[:-1])


@pytest.mark.parametrize("enc", ENCODINGS, ids=lambda e: ",".join(e))
def test_verify_many_json_agrees_with_verify_many(enc):
    """The Rust JSON path (the body of POST /v1/verify/proofs) gives the same answer per item as
    verify_many over the same items parsed by Python, for every leaf encoding, good and bad."""
    import random

    rng = random.Random(11)
    values = gen_values(enc, 200, seed=12)
    tree = StandardMerkleTree.of(values, enc)
    items: list = [{"value": v, "proof": tree.get_proof(i)} for i, v in enumerate(values)]
    other = gen_values(enc, 20, seed=13)
    for i in rng.sample(range(len(items)), 40):
        it = json.loads(json.dumps(items[i]))
        kind = rng.randrange(8)
        if kind == 0:
            it["value"] = other[i % 20]  # a value that is not in the tree
        elif kind == 1 and it["proof"]:
            it["proof"][0] = "0x" + "ab" * 32  # a wrong sibling
        elif kind == 2:
            it["proof"].append("0x1234")  # a short hash
        elif kind == 3:
            it["value"] = it["value"][:-1]  # wrong arity
        elif kind == 4:
            it["value"] = [None] * len(enc)  # wrong types
        elif kind == 5:
            it = [it]  # not an object
        elif kind == 6:
            it["proof"] = "not a list"
        else:
            it.pop("proof")
        items[i] = it
    body = json.dumps({"root": tree.root, "leaf_encoding": enc, "items": items}, ensure_ascii=rng.random() < 0.5)
    ok = [isinstance(it, dict) and isinstance(it.get("value"), list) and isinstance(it.get("proof"), list)
          for it in items]
    want = verify_many(tree.root, enc, [it["value"] if k else [] for it, k in zip(items, ok)],
                       [it["proof"] if k else ["x"] for it, k in zip(items, ok)])
    got = verify_many_json(body.encode(), leaf_encoding=["uint8"])
    assert got == want and 150 <= sum(got) < 200
    # the encoding argument is the default for a body without one
    del_enc = json.dumps({"root": tree.root, "items": items[:5]}).encode()
    assert verify_many_json(del_enc, leaf_encoding=enc) == want[:5]
    with pytest.raises(InvalidInputError, match="at most 10 items"):
        verify_many_json(body.encode(), leaf_encoding=enc, max_items=10)


def test_all_proofs_buffer_layout():
    values = gen_values(ENC, 300, seed=4)
    tree = StandardMerkleTree.of(values, ENC)
    ps = tree.all_proofs()
    flat, offs = ps.to_bytes(), ps.offsets()
    assert len(offs) == 301 and ps.nbytes == len(flat)
    for i in (0, 1, 150, 299):
        chunk = flat[offs[i] * 32 : offs[i + 1] * 32]
        assert ["0x" + chunk[k : k + 32].hex() for k in range(0, len(chunk), 32)] == tree.get_proof(i)
        assert ps.proof_bytes(i) == chunk
    assert ps[-1] == tree.get_proof(299)


def test_lookup_entries_at_and_validate():
    values = gen_values(ENCODINGS[2], 20, seed=6)
    tree = StandardMerkleTree.of(values, ENCODINGS[2])
    assert len(tree) == 20 and tree.at(3) == values[3] and tree.at(99) is None
    assert list(tree.entries())[4] == (4, values[4])
    assert tree.leaf_lookup(values[7]) == 7
    assert tree.get_proof(values[7]) == tree.get_proof(7)
    tree.validate()
    with pytest.raises(InvalidInputError, match="not in tree"):
        tree.leaf_lookup(["x", True, "1"])


def test_thai_strings_are_utf8_encoded():
    title = "ภูเก็ตเมืองอัจฉริยะ"
    enc = ["string"]
    assert abi_encode(enc, [title]) == eth_abi_encode(enc, [title])
    tree = StandardMerkleTree.of([[title], ["สามย่านสมาร์ทซิตี้"]], enc)
    assert tree.verify(0, tree.get_proof(0))


@pytest.mark.parametrize(
    ("encoding", "value", "match"),
    [
        (["address", "uint256"], ["0x1234", 1], r"values\[0\]\[0\] \(address\).*malformed address"),
        (["address", "uint256"], ["0x" + "zz" * 20, 1], r"values\[0\]\[0\].*malformed address"),
        (["address", "uint256"], ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", 1], "checksum"),
        (["address", "uint256"], ["0x" + "11" * 20, -1], r"values\[0\]\[1\] \(uint256\).*negative"),
        (["address", "uint256"], ["0x" + "11" * 20, 2**256], r"values\[0\]\[1\].*out of range"),
        (["uint8"], [256], r"out of range for uint8"),
        (["int8"], [-129], r"out of range for int8"),
        (["int8"], ["12x"], r"not a valid integer"),
        (["uint256"], [True], r"got bool"),
        (["bytes32"], ["0x1234"], r"bytes32 needs exactly 32 bytes"),
        (["bytes4"], ["0xzzzzzzzz"], r"not valid hex"),
        (["bytes"], ["1234"], r"0x-prefixed"),
        (["string"], [b"bytes"], r"expected a str"),
        (["bool"], [1], r"expected a bool"),
        (["uint8[2]"], [[1, 2, 3]], r"values\[0\]\[0\]\[\] ?.*exactly 2 items|exactly 2 items"),
        (["uint8[]"], [[1, 300]], r"values\[0\]\[0\]\[1\]"),
        (["address", "uint256"], ["0x" + "11" * 20], r"wrong arity"),
        (["address", "uint256"], "not a list", r"expected a list or tuple"),
    ],
)
def test_bad_values_name_index_and_field(encoding, value, match):
    with pytest.raises(InvalidInputError, match=match):
        StandardMerkleTree.of([value], encoding)


@pytest.mark.parametrize("encoding", [["uint7"], ["bytes33"], ["tuple"], ["address[x]"], [], "address"])
def test_unknown_types_rejected(encoding):
    with pytest.raises(InvalidInputError):
        StandardMerkleTree.of([["0x" + "11" * 20]], encoding)


def test_empty_value_list_rejected():
    with pytest.raises(InvalidInputError, match="non-zero"):
        StandardMerkleTree.of([], ENC)
    with pytest.raises(InvalidInputError, match="non-zero"):
        SimpleMerkleTree.of([])


def test_bad_value_error_names_the_right_index():
    values = gen_values(ENC, 50, seed=9)
    values[37] = [values[37][0], "-5"]
    with pytest.raises(InvalidInputError, match=r"values\[37\]\[1\]"):
        StandardMerkleTree.of(values, ENC)


def _dump():
    return json.loads(json.dumps(StandardMerkleTree.of(gen_values(ENC, 9, seed=11), ENC).dump()))


@pytest.mark.parametrize(
    ("tamper", "match"),
    [
        (lambda d: d.update(format="standard-v2"), "unknown format"),
        (lambda d: d.pop("leafEncoding"), "leafEncoding"),
        (lambda d: d["values"][4].update(value=[d["values"][4]["value"][0], "987654321987654321"]), r"values\[4\]"),
        (lambda d: d["tree"].__setitem__(2, "0x" + "00" * 32), "invalid"),
        (lambda d: d["values"][1].update(treeIndex=0), "not a leaf"),
        (lambda d: d["values"][1].update(treeIndex=d["values"][2]["treeIndex"]), "share a treeIndex"),
        (lambda d: d["tree"].pop(), "nodes"),
        (lambda d: d["tree"].__setitem__(0, "0x12"), "32 bytes"),
        (lambda d: d.update(values=[]), "values"),
    ],
)
def test_tampered_dumps_rejected(tamper, match):
    d = _dump()
    tamper(d)
    with pytest.raises(InvalidInputError, match=match):
        StandardMerkleTree.load(d)


def test_hybrid_verify_works_on_class_and_instance():
    values = gen_values(ENC, 5, seed=12)
    tree = StandardMerkleTree.of(values, ENC)
    assert tree.verify(values[2], tree.get_proof(2))
    assert StandardMerkleTree.verify(tree.root, ENC, values[2], tree.get_proof(2))
    assert not StandardMerkleTree.verify("0x" + "00" * 32, ENC, values[2], tree.get_proof(2))
    with pytest.raises(InvalidInputError, match="root"):
        StandardMerkleTree.verify("0x00", ENC, values[2], tree.get_proof(2))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), bits=st.sampled_from([8, 16, 64, 72, 128, 200, 256]), signed=st.booleans())
def test_python_ints_encode_like_eth_abi_across_ranges(data, bits, signed):
    t = f"{'int' if signed else 'uint'}{bits}"
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    v = data.draw(st.one_of(st.integers(lo, hi), st.sampled_from([lo, hi, 0, -1 if signed else 1])))
    assert abi_encode([t], [v]) == eth_abi_encode([t], [v])
    assert abi_encode([t], [str(v)]) == eth_abi_encode([t], [v])
    out_of_range = data.draw(st.sampled_from([hi + 1, lo - 1, hi + 2**bits, lo - 2**300]))
    with pytest.raises(InvalidInputError, match=t):
        abi_encode([t], [out_of_range])


def test_verify_many_accepts_a_proofset_and_bytes_proofs():
    values = gen_values(ENC, 3000, seed=13)
    tree = StandardMerkleTree.of(values, ENC)
    proofs = tree.all_proofs()
    assert verify_many(tree.root, ENC, values, proofs) == [True] * 3000
    shuffled = values[1:] + values[:1]
    assert not any(verify_many(tree.root, ENC, shuffled, proofs))
    as_bytes = [[bytes.fromhex(h[2:]) for h in tree.get_proof(i)] for i in range(3000)]
    assert all(verify_many(bytes.fromhex(tree.root[2:]), ENC, tuple(values), as_bytes))
    with pytest.raises(InvalidInputError, match="differ in length"):
        verify_many(tree.root, ENC, values[:-1], proofs)


junk = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=80),
              st.binary(max_size=40), st.just("0x"), st.just("0x" + "ab" * 20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=3), inner, max_size=2),
                            st.tuples(inner, inner)),
    max_leaves=10,
)
type_names = st.sampled_from(["address", "bool", "uint8", "uint256", "int16", "int256", "bytes1", "bytes32",
                              "bytes", "string", "uint8[]", "address[2]", "string[]", "bytes32[1][]"])


@settings(max_examples=400, deadline=None)
@given(encoding=st.lists(type_names, min_size=1, max_size=3), values=st.lists(junk, min_size=1, max_size=5))
def test_arbitrary_python_objects_never_crash_the_extension(encoding, values):
    # Whatever arrives from Python, the binding either builds a tree or raises InvalidInputError.
    try:
        tree = StandardMerkleTree.of(values, encoding)
    except InvalidInputError:
        return
    assert all(tree.verify(i, tree.get_proof(i)) for i in range(len(values)))
    assert verify_many(tree.root, encoding, values, tree.all_proofs()) == [True] * len(values)


@settings(max_examples=200, deadline=None)
@given(dump=st.fixed_dictionaries({"format": st.just("standard-v1"), "leafEncoding": st.lists(type_names, max_size=2),
                                   "tree": st.lists(st.one_of(st.text(max_size=70), st.integers()), max_size=5),
                                   "values": st.lists(junk, max_size=3)}))
def test_arbitrary_dumps_never_crash_load(dump):
    try:
        StandardMerkleTree.load(dump)
    except InvalidInputError:
        pass


def test_integers_are_not_taken_as_buffer_sizes():
    with pytest.raises(InvalidInputError):
        StandardMerkleTree.load({"format": "standard-v1", "leafEncoding": ["bool"], "tree": [10**12],
                                 "values": [{"value": [True], "treeIndex": 0}]})
    with pytest.raises(InvalidInputError):
        StandardMerkleTree.of([[10**12]], ["bytes"])
    tree = StandardMerkleTree.of([[memoryview(b"\x01" * 32)], [bytearray(b"\x02" * 32)]], ["bytes32"])
    assert tree.verify(0, tree.get_proof(0))


@pytest.mark.parametrize("enc", ENCODINGS[:4], ids=lambda e: ",".join(e))
def test_proof_stream_agrees_with_verify_many_json_however_split(enc):
    """ProofStream (the streaming form of verify_many_json) gives the same items or the same error
    for good and bad bodies, whatever the chunking: whole, single bytes, random sizes."""
    import random

    from nftreg.merkle import ProofStream

    rng = random.Random(21)
    values = gen_values(enc, 300, seed=22)
    tree = StandardMerkleTree.of(values, enc)
    items: list = [{"value": v, "proof": tree.get_proof(i)} for i, v in enumerate(values)]
    for i in rng.sample(range(len(items)), 30):
        items[i] = rng.choice([[items[i]], {"value": values[i], "proof": ["0x12"]}, {"value": None}, 7, "s\"}]"])
    good = json.dumps({"items": items, "x": {"a": ["\\\"}"]}, "root": tree.root}, ensure_ascii=False).encode()
    bad = [
        b"", b"{", b"[1]", good + b" x", good[:-1], good.replace(b'"root"', b'"rooot"'),
        good.replace(b'"value": ', b'"value": tru', 1), good.replace(b"0x", b"0X", 1) if b'"root": "0x' in good else b"{}",
        json.dumps({"root": tree.root, "leaf_encoding": ["uint7"], "items": []}).encode(),
        json.dumps({"root": "0x12", "items": []}).encode(),
        b"\xff" + good,
    ]

    def streamed(body: bytes, mode: int, max_items: int) -> object:
        s = ProofStream(leaf_encoding=enc, max_items=max_items)
        i = 0
        while i < len(body):
            k = len(body) if mode == 0 else 1 if mode == 1 else rng.randint(1, 5000)
            s.feed(body[i:i + k])
            i += k
        try:
            return s.finish()
        except InvalidInputError as e:
            return ("error", str(e))

    def whole(body: bytes, max_items: int) -> object:
        try:
            return verify_many_json(body, leaf_encoding=enc, max_items=max_items)
        except InvalidInputError as e:
            return ("error", str(e))

    want = whole(good, 1000)
    assert isinstance(want, list) and 270 <= sum(want) < 300
    for body in [good, *bad]:
        for max_items in (1000, 100):
            w = whole(body, max_items)
            modes = (0, 1, 2) if len(body) < 200_000 else (0, 2)
            for mode in modes:
                assert streamed(body, mode, max_items) == w, (body[:80], mode, max_items)
    s = ProofStream(leaf_encoding=enc)
    s.feed(memoryview(good))
    assert s.finish() == want
    with pytest.raises(InvalidInputError):
        s.feed(b"{}")
    with pytest.raises(InvalidInputError):
        s.finish()
