"""JSON-lines proof files for the distributed verification tests and benchmark.

A pool of distinct lines (every leaf of one tree with its proof, plus planted bad items of
several kinds) is written in a seeded random order, so a file of 10^6 lines is cheap to make
and the expected verdict of every line is known from the pool."""

from __future__ import annotations

import json
import random
from pathlib import Path

from nftreg.merkle import StandardMerkleTree

ENCODING = ["address", "uint256"]


def pool(leaves: int = 256, seed: int = 7) -> tuple[str, list[bytes], list[bool]]:
    """(root, distinct lines, is each one good). Bad lines: a wrong amount, a proof with one
    sibling flipped, a truncated proof, an address that is not hex, a line that is not JSON."""
    rng = random.Random(seed)
    values = [[f"0x{rng.getrandbits(160):040x}", str(rng.getrandbits(64))] for _ in range(leaves)]
    tree = StandardMerkleTree.of(values, ENCODING)
    lines: list[bytes] = []
    good: list[bool] = []
    for i, v in enumerate(values):
        proof = tree.get_proof(i)
        lines.append(json.dumps({"value": v, "proof": proof}, separators=(",", ":")).encode())
        good.append(True)
    v0, p0 = values[0], tree.get_proof(0)
    flipped = list(p0)
    flipped[-1] = flipped[-1][:-1] + ("0" if flipped[-1][-1] != "0" else "1")
    bad = [
        {"value": [v0[0], str(int(v0[1]) + 1)], "proof": p0},
        {"value": v0, "proof": flipped},
        {"value": v0, "proof": p0[:-1]},
        {"value": ["0xnothex", v0[1]], "proof": p0},
    ]
    for b in bad:
        lines.append(json.dumps(b, separators=(",", ":")).encode())
        good.append(False)
    lines.append(b'{"value": [oops')
    good.append(False)
    return tree.root, lines, good


def write_files(directory: Path, n_files: int, lines_per_file: int, *, bad_every: int = 1000,
                leaves: int = 256, seed: int = 11) -> tuple[str, list[Path], list[list[int]], list[bytes], list[bool]]:
    """Write ``n_files`` files; about one line in ``bad_every`` is a planted bad one, and every
    file holds at least one of each kind. Returns (root, paths, pool index of each line per
    file, pool lines, pool goodness)."""
    root, lines, good = pool(leaves)
    n_good = sum(good)
    bad_ids = [i for i, g in enumerate(good) if not g]
    rng = random.Random(seed)
    paths, picks = [], []
    directory.mkdir(parents=True, exist_ok=True)
    for f in range(n_files):
        ids = [rng.randrange(n_good) for _ in range(lines_per_file)]
        for j in range(0, lines_per_file, bad_every):
            ids[min(lines_per_file - 1, j + rng.randrange(bad_every))] = rng.choice(bad_ids)
        for k, b in enumerate(bad_ids[: lines_per_file]):
            ids[(k * 7919) % lines_per_file] = b
        path = directory / f"proofs-{f:03d}.jsonl"
        with path.open("wb") as out:
            out.write(b"\n".join(lines[i] for i in ids))
            out.write(b"\n")
        paths.append(path)
        picks.append(ids)
    return root, paths, picks, lines, good
