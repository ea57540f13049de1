"""`POST /v1/verify/proofs` bodies have one parser: the Rust request verifier. Until it took the
whole job, a body Rust refused was parsed again in Python (``parse_json``, the parser of every
other JSON route) and judged by Python rules. That Python path is kept here, frozen, as the
oracle: for every body — valid, refused, or mutated at random — the Rust verifier (whole and
streamed in random chunks) must give the same per-item results or the same error message."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from nftreg.claims import CLAIM_LEAF_ENCODING, parse_json
from nftreg.errors import InvalidInputError
from nftreg.merkle import ProofStream, StandardMerkleTree, verify_many, verify_many_json

MAX = 50


def python_path(body: bytes, max_items: int) -> tuple[str, Any]:
    """The route's Python fallback and the service's checks as they were (a frozen copy)."""
    try:
        doc = parse_json(body)
    except json.JSONDecodeError as e:
        return "error", f"request body is not JSON ({e.msg} at position {e.pos})"
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        return "error", "request body must be an object with an 'items' array"
    root = doc.get("root")
    enc = doc.get("leaf_encoding", CLAIM_LEAF_ENCODING)
    if enc is None:  # the Rust verifier always read a null encoding as "the default"
        enc = CLAIM_LEAF_ENCODING
    if not isinstance(root, str):
        return "error", "root: required, 0x-hex"
    if not isinstance(enc, list) or not all(isinstance(t, str) for t in enc):
        return "error", "leaf_encoding: expected a list of ABI type names"
    values, proofs = [], []
    for it in doc["items"]:
        ok = isinstance(it, dict) and isinstance(it.get("value"), list) and isinstance(it.get("proof"), list)
        values.append(it["value"] if ok else [])
        proofs.append(it["proof"] if ok else ["not a proof"])
    s = root.lower()
    if not s.startswith("0x") or len(s) != 66:
        return "error", "root: expected 0x followed by 64 hex digits"
    try:
        bytes.fromhex(s[2:])
    except ValueError:
        return "error", "root: not hex"
    if len(values) > max_items:
        return "error", f"at most {max_items} items per request"
    try:
        return "ok", verify_many(root, enc, values, proofs)
    except InvalidInputError as e:
        return "error", str(e)


def rust_whole(body: bytes, max_items: int) -> tuple[str, Any]:
    try:
        return "ok", verify_many_json(body, leaf_encoding=CLAIM_LEAF_ENCODING, max_items=max_items)
    except InvalidInputError as e:
        return "error", str(e)


def rust_streamed(body: bytes, max_items: int, rng: random.Random) -> tuple[str, Any]:
    s = ProofStream(leaf_encoding=CLAIM_LEAF_ENCODING, max_items=max_items)
    i = 0
    while i < len(body):
        j = min(len(body), i + 1 + rng.randrange(64 if rng.random() < 0.8 else 4096))
        s.feed(body[i:j])
        i = j
    try:
        return "ok", s.finish()
    except InvalidInputError as e:
        return "error", str(e)


def check(body: bytes, rng: random.Random, max_items: int = MAX) -> tuple[str, Any]:
    want = python_path(body, max_items)
    got = rust_whole(body, max_items)
    assert got == want, f"body {body[:300]!r}"
    assert rust_streamed(body, max_items, rng) == want, f"streamed body {body[:300]!r}"
    return want


@pytest.fixture(scope="module")
def good() -> dict[str, Any]:
    rows = [[f"0x{i + 1:040x}", "0x" + f"{i:02x}" * 32, f"bafy-ทดสอบ-{i}"] for i in range(12)]
    tree = StandardMerkleTree.of(rows, CLAIM_LEAF_ENCODING)
    items = [{"value": list(tree.at(i)), "proof": tree.get_proof(i)} for i in range(len(rows))]
    return {"root": tree.root, "items": items}


def _with(body: dict[str, Any], field: str, raw: str) -> bytes:
    return json.dumps({**body, field: "@@"}).replace('"@@"', raw).encode()


RAW_VALUES = ['{"nested": [1]}', str(10**80), "NaN", "-Infinity", "1e400", "[" * 300 + "]" * 300,
              "[" * 199 + "]" * 199, "[" * 198 + "]" * 198, "9" * 5000, "9" * 4300, '"\\ud800"',
              '"\\udc00\\ud800"', '"\\u00e9\\n"', "null", "true", "[]", '["address"]', '["uint7"]', "[1]",
              '"0X' + "AB" * 32 + '"', '"0x' + "ab" * 31 + ' ab"', '"0x' + "a b" * 21 + 'a"', '"0x' + "zz" * 32 + '"',
              '"0x' + "11" * 33 + '"', '"İ' + "1" * 65 + '"', "-0", "1.5", '"\\x"', "tru", '"a\tb"']


def test_good_body_verifies(good):
    kind, results = check(json.dumps(good).encode(), random.Random(1))
    assert kind == "ok" and results == [True] * len(good["items"])


@pytest.mark.parametrize("raw", RAW_VALUES)
@pytest.mark.parametrize("field", ["root", "leaf_encoding", "items", "other"])
def test_each_field_refused_or_read_alike(good, field, raw):
    check(_with(good, field, raw), random.Random(hash((field, raw)) & 0xFFFF))


@pytest.mark.parametrize("raw", RAW_VALUES)
def test_inside_an_item_alike(good, raw):
    rng = random.Random(7)
    body = json.dumps(good)
    for at, insert in ((body.index('"value": [') + len('"value": ['), f"{raw}, "),
                       (body.index('"proof": [') + len('"proof": ['), f"{raw}, "),
                       (body.index('{"value"') + 1, f'"k": {raw}, ')):
        check((body[:at] + insert + body[at:]).encode(), rng)


@pytest.mark.parametrize("body", [b"", b" ", b"{", b"[1]", b"[]", b"{}", b"null", b"\xff", b'{"items": []}',
                                  b'{"items": {}}', b'{"root": 1, "items": []}', b'\n\n {"items": [1,]}',
                                  b'{"root": "0x", "items": [], "items": 5}', b'{"a" 1}', b'{"items": []} x'])
def test_small_bodies_alike(body):
    check(body, random.Random(3))


def test_duplicate_keys_last_one_wins(good):
    rng = random.Random(4)
    body = json.dumps(good)
    bad_root = '"root": "0x' + "11" * 32 + '", '
    kind, results = check(("{" + bad_root + body[1:]).encode(), rng)  # the good root comes last
    assert kind == "ok" and all(results)
    item = json.dumps(good["items"][0])
    dup = '{"value": [], ' + item[1:]
    kind, results = check(body.replace(item, dup, 1).encode(), rng)
    assert kind == "ok" and results[0] is True


def test_too_many_items(good):
    kind, msg = check(json.dumps(good).encode(), random.Random(5), max_items=3)
    assert (kind, msg) == ("error", "at most 3 items per request")


def test_random_mutations_alike(good):
    rng = random.Random(0xC0FFEE)
    base = json.dumps({**good, "items": good["items"][:4], "leaf_encoding": CLAIM_LEAF_ENCODING}).encode()
    alphabet = b'{}[]",:\\ 0x1aeE-.ntuN\n\xc3\xa9\xff'
    kinds = set()
    for _ in range(1500):
        b = bytearray(base)
        for _ in range(1 + rng.randrange(3)):
            at = rng.randrange(len(b) + 1)
            op = rng.randrange(3)
            if op == 0 and at < len(b):
                del b[at]
            elif op == 1 and at < len(b):
                b[at] = rng.choice(alphabet)
            else:
                b[at:at] = bytes([rng.choice(alphabet)])
        kinds.add(check(bytes(b), rng)[0])
    assert kinds == {"ok", "error"}
