"""Python leaf values are copied out under the GIL and parsed/encoded on every core
(`convert_in_parallel=True`, the default) or converted whole on the GIL thread (the path
arrays always take): both give the same roots, the same per-item answers and the same error,
naming the same value, for good and bad values in any chunk."""

from __future__ import annotations

import random

import pytest
from nftreg import _core
from nftreg.errors import InvalidInputError
from nftreg.merkle import StandardMerkleTree, verify_many

CHUNK = 16 * 1024  # values per chunk in rust_core/py/src/merkle/pipeline.rs


def build(enc: list[str], values: object, parallel: bool) -> tuple[str, str]:
    try:
        return "ok", "0x" + _core.merkle.build_standard(enc, values, True, convert_in_parallel=parallel).root.hex()
    except (ValueError, TypeError) as e:
        return type(e).__name__, str(e)


def same(enc: list[str], values: object) -> tuple[str, str]:
    a, b = build(enc, values, True), build(enc, values, False)
    assert a == b
    return a


class Flaky(list):
    """A sequence whose __getitem__ raises for one index."""

    def __init__(self, items: list, bad: int):
        super().__init__(items)
        self.bad = bad

    def __getitem__(self, i):  # type: ignore[override]
        if i == self.bad:
            raise RuntimeError(f"field {i} is unreadable")
        return super().__getitem__(i)


def _rows(n: int, seed: int) -> list[list]:
    rng = random.Random(seed)
    return [["0x" + rng.randbytes(20).hex(), rng.getrandbits(rng.choice((8, 64, 96, 256))),
             rng.randbytes(32), f"ทดสอบ-{rng.getrandbits(30)}", rng.random() < 0.5] for _ in range(n)]


ENC = ["address", "uint256", "bytes32", "string", "bool"]


def test_good_values_same_root_across_chunks():
    values = _rows(2 * CHUNK + 5, 1)
    kind, root = same(ENC, values)
    assert kind == "ok" and root == StandardMerkleTree.of(values, ENC).root
    # every Python form a field may take
    ok_forms = [["0x" + "ab" * 20, 2**255, bytearray(32), "", True],
                [bytes(20), 2**256 - 1, memoryview(bytes(range(32))), "\u0e01" * 100, False],
                ("0x" + "ab" * 20, 0, "0x" + "11" * 32, "x", True)]
    assert same(ENC, ok_forms)[0] == "ok"
    assert same(["int8", "bytes", "string"], [[-128, b"", "a"], [127, "0x00ff", "b"]])[0] == "ok"


@pytest.mark.parametrize("bad", [
    ["0x" + "ab" * 19, 1, bytes(32), "s", True],  # short address
    ["0x" + "aB" * 20, 1, bytes(32), "s", True],  # bad checksum
    ["0x" + "ab" * 20, -1, bytes(32), "s", True],  # negative uint
    ["0x" + "ab" * 20, 2**256, bytes(32), "s", True],  # too wide
    ["0x" + "ab" * 20, True, bytes(32), "s", True],  # bool for uint
    ["0x" + "ab" * 20, 1.5, bytes(32), "s", True],  # float
    ["0x" + "ab" * 20, 1, bytes(31), "s", True],  # short bytes32
    ["0x" + "ab" * 20, 1, bytes(32), b"s", True],  # bytes for string
    ["0x" + "ab" * 20, 1, bytes(32), "\ud800", True],  # lone surrogate
    ["0x" + "ab" * 20, 1, bytes(32), "s", 1],  # int for bool
    ["0x" + "ab" * 20, 1, bytes(32), "s"],  # arity
    "not a list",
    Flaky(["0x" + "ab" * 20, 1, bytes(32), "s", True], 3),  # unreadable field
])
@pytest.mark.parametrize("at", [0, 7, CHUNK - 1, CHUNK, 2 * CHUNK + 1])
def test_bad_value_same_error_naming_the_same_value(bad, at):
    values = _rows(2 * CHUNK + 5, 2)
    values[at] = bad
    kind, msg = same(ENC, values)
    assert kind != "ok" and f"values[{at}]" in msg, msg
    # a later bad value never hides the first one, whichever side finds it
    values[-1] = ["0x12", 1, bytes(32), "s", True]
    assert same(ENC, values) == (kind, msg)


def test_first_error_wins_when_the_reader_fails_later():
    values = _rows(3 * CHUNK, 3)
    values[CHUNK + 3] = ["0x" + "ab" * 20, -5, bytes(32), "s", True]  # found by an encoding thread
    values[2 * CHUNK + 9] = "not a list"  # found while reading
    _, msg = same(ENC, values)
    assert f"values[{CHUNK + 3}][1]" in msg and "negative" in msg, msg


def test_lenient_verification_flags_exactly_the_bad_items():
    values = _rows(CHUNK + 100, 4)
    tree = StandardMerkleTree.of(values, ENC)
    proofs = [tree.get_proof(i) for i in range(len(values))]
    probe = list(values)
    bad_at = [0, 5, CHUNK - 1, CHUNK, CHUNK + 99]
    for i in bad_at:
        probe[i] = ["0x" + "ab" * 20, -1, bytes(32), "s", True] if i % 2 else "junk"
    ok = verify_many(tree.root, ENC, probe, proofs)
    assert [i for i, x in enumerate(ok) if not x] == bad_at
    with pytest.raises(InvalidInputError):
        StandardMerkleTree.of(probe, ENC)
