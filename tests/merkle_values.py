"""Random leaf values in the textual forms both nftreg and the npm library accept."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

THAI = json.loads((Path(__file__).parent / "data" / "thai_titles.json").read_text("utf-8"))["titles"]
WORDS = THAI + ["", "plain ascii", "emoji 🎨🖼️", "e\u0301 combining", "日本語", "ελληνικά", "a" * 100]

ENCODINGS: list[list[str]] = [
    ["address", "uint256"],
    ["bytes32"],
    ["string", "bool", "int64"],
    ["bytes", "uint8[]", "address[2]"],
    ["string[]", "bytes4", "int256"],
    ["address", "bytes32", "string"],
]


def gen(t: str, rng: random.Random) -> Any:
    if t.endswith("]"):
        inner, dim = t[: t.rindex("[")], t[t.rindex("[") + 1 : -1]
        n = int(dim) if dim else rng.randint(0, 4)
        return [gen(inner, rng) for _ in range(n)]
    if t == "address":
        a = "0x" + rng.randbytes(20).hex()
        return to_checksum_address(a) if rng.random() < 0.5 else a
    if t == "bool":
        return rng.random() < 0.5
    if t.startswith("uint"):
        bits = int(t[4:] or 256)
        v = rng.getrandbits(rng.choice([1, 8, bits]))
        return str(v) if rng.random() < 0.7 else hex(v)
    if t.startswith("int"):
        bits = int(t[3:] or 256)
        v = rng.getrandbits(bits - 1) * rng.choice([1, -1])
        return str(v)
    if t == "bytes":
        return "0x" + rng.randbytes(rng.randint(0, 70)).hex()
    if t.startswith("bytes"):
        return "0x" + rng.randbytes(int(t[5:])).hex()
    if t == "string":
        return rng.choice(WORDS) + str(rng.randint(0, 10**6))
    raise ValueError(t)


def gen_values(encoding: list[str], n: int, seed: int) -> list[list[Any]]:
    rng = random.Random(seed)
    return [[gen(t, rng) for t in encoding] for _ in range(n)]
