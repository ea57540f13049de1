"""Out-of-core trees (nftreg.ooc): built from claims files on disk, served from the tree file.
Every result is compared with the in-memory StandardMerkleTree, the Python claims reader, and
(in the npm-marked test) the real npm @openzeppelin/merkle-tree."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from nftreg import StandardMerkleTree
from nftreg.claims import CLAIM_LEAF_ENCODING, read_claims
from nftreg.errors import InvalidInputError
from nftreg.merkle import verify_many
from nftreg.ooc import OutOfCoreTree

NFTREG = [sys.executable, "-m", "nftreg"]
B32 = str.maketrans("0189", "wxyz")
SMALL_BUDGET = 1 << 20  # 26,214 leaves a run: larger trees spill runs and position buckets


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NFTREG, *args], capture_output=True, text=True, timeout=300, check=False)


def gen_claims(n: int, seed: int, *, dup_every: int = 0) -> list[list[str]]:
    """``n`` claims; with ``dup_every``, every such claim repeats an earlier one (duplicate leaves)."""
    rng = random.Random(seed)
    hx = rng.randbytes(52 * n).hex()
    # CID-like base32 text: hex digits with 0, 1, 8, 9 (not in the base32 alphabet) replaced
    cids = rng.randbytes(26 * n).hex().translate(B32)
    out = [["0x" + hx[104 * i : 104 * i + 40], "0x" + hx[104 * i + 40 : 104 * i + 104], "bafkrei" + cids[52 * i : 52 * i + 52]]
           for i in range(n)]
    if dup_every:
        for i in range(dup_every - 1, n, dup_every):
            out[i] = list(out[rng.randrange(i)])
    return out


def write_csv(path: Path, claims: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        f.write("owner,content_hash,metadata_cid\n")
        f.writelines(f"{o},{h},{c}\n" for o, h, c in claims)
    return path


def build(tmp_path: Path, claims: list[list[str]], **kw) -> OutOfCoreTree:
    src = write_csv(tmp_path / "claims.csv", claims)
    tree, report = OutOfCoreTree.build(src, tmp_path / "tree.bin", **kw)
    assert report.claims == len(claims) and report.error_count == 0
    assert report.root == tree.root
    return tree


def check_against_memory(tree: OutOfCoreTree, claims: list[list[str]], rows: list[int]) -> None:
    mem = StandardMerkleTree.of(claims, CLAIM_LEAF_ENCODING)
    assert tree.root == mem.root
    assert len(tree) == len(mem)
    positions = mem._core.positions()
    for r in rows:
        assert tree.get_proof(r) == mem.get_proof(r), r
        assert tree.position(r) == positions[r]
        assert tree.leaf(r) == mem.leaf_hash(claims[r])
        # by value: the in-memory lookup (the npm rule: of equal leaves the last row)
        assert tree.leaf_lookup(claims[r]) == mem.leaf_lookup(claims[r])
        assert tree.get_proof(claims[r]) == mem.get_proof(claims[r])


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 33, 100, 1001])
def test_small_and_odd_sizes_equal_in_memory_tree(tmp_path: Path, n: int):
    claims = gen_claims(n, seed=n)
    tree = build(tmp_path, claims)
    check_against_memory(tree, claims, list(range(n)))
    tree.validate()


def test_duplicate_leaves_keep_the_npm_order_and_lookup(tmp_path: Path):
    claims = gen_claims(3000, seed=5, dup_every=4)
    claims += [claims[0]] * 5 + [claims[1]]  # a leaf five more times, one at the very end
    tree = build(tmp_path, claims, memory_budget=SMALL_BUDGET)
    check_against_memory(tree, claims, list(range(len(claims))))
    assert tree.leaf_lookup(claims[0]) == len(claims) - 2
    assert tree.leaf_lookup(tree.leaf(1)) == len(claims) - 1


def test_one_million_claims_equal_in_memory_build(tmp_path: Path):
    """10^6 claims through spilled runs and position buckets (a 4 MiB budget: 10 runs, 2
    buckets) against StandardMerkleTree.of, sampled proofs checked by the batch verifier too."""
    n = 1_000_000
    claims = gen_claims(n, seed=6, dup_every=10_007)
    tree = build(tmp_path, claims, memory_budget=4 << 20, temp_dir=tmp_path)
    rows = random.Random(6).sample(range(n), 300) + [0, n - 1]
    check_against_memory(tree, claims, rows)
    ok = verify_many(tree.root, CLAIM_LEAF_ENCODING, [claims[r] for r in rows], [tree.get_proof(r) for r in rows])
    assert all(ok)
    wrong = verify_many(tree.root, CLAIM_LEAF_ENCODING, [claims[r] for r in rows[1:]], [tree.get_proof(r) for r in rows[:-1]])
    assert not any(wrong)
    assert sorted(os.listdir(tmp_path)) == ["claims.csv", "tree.bin"]  # no run files left


@pytest.mark.npm
def test_hundred_thousand_claims_match_npm(tmp_path: Path, oz_merkle):
    n = 100_000
    claims = gen_claims(n, seed=7, dup_every=997)
    tree = build(tmp_path, claims, memory_budget=SMALL_BUDGET)
    rows = random.Random(7).sample(range(n), 200) + [0, n - 1]
    dups = [claims[r] for r in range(996, n, 997)][:50]
    ref = oz_merkle.one({"op": "build", "values": claims, "encoding": CLAIM_LEAF_ENCODING, "noDump": True,
                         "proofIndices": rows, "lookups": dups})
    assert "error" not in ref, ref
    assert tree.root == ref["root"]
    assert [tree.get_proof(r) for r in rows] == ref["proofsAt"]
    assert [tree.leaf_lookup(v) for v in dups] == ref["lookups"]


def test_jsonl_and_csv_build_the_same_tree(tmp_path: Path):
    claims = gen_claims(500, seed=8)
    csv_tree = build(tmp_path, claims)
    src = tmp_path / "claims.jsonl"
    with src.open("w") as f:
        for i, (o, h, c) in enumerate(claims):
            f.write(json.dumps({"owner": o, "content_hash": h, "metadata_cid": c} if i % 2 else [o, h, c]) + "\n")
    tree, report = OutOfCoreTree.build(src, tmp_path / "tree2.bin")
    assert report.claims == 500 and tree.root == csv_tree.root


BAD_CSV = "\n".join([
    "\ufeffExtra, Metadata_CID ,OWNER,content_hash",
    f"x,bafy1,0x{'11' * 20},0x{'22' * 32}",
    "",
    f"x,bafy2,0x1234,0x{'22' * 32}",                     # bad address
    f"x,bafy3,0x{'33' * 20},0x{'44' * 31}",               # short hash
    f"x,bafy4,0x{'55' * 20}",                             # missing column
    f"x,\"two\nlines\",0x{'66' * 20},0x{'77' * 32}",      # whitespace in the CID (lines 7-8)
    f"x,\"q\"\"uote\",0x{'66' * 20},0x{'77' * 32}",       # a quoted quote: fine
    "  ,  , ,",                                           # blank row: skipped
    f"x,,0x{'88' * 20},0x{'99' * 32}",                    # empty CID
    f"x,cid,0xAbCdEf0000000000000000000000000000000000,0x{'99' * 32}",  # bad checksum
    f"x,{'c' * 300},0x{'88' * 20},0x{'99' * 32}",         # CID too long
    f"x,  padded  ,0x{'aa' * 20},0x{'bb' * 32}",
])

BAD_JSONL = "\n".join([
    json.dumps({"owner": "0x" + "11" * 20, "content_hash": "0x" + "22" * 32, "metadata_cid": "c1"}),
    "",
    json.dumps(["0x" + "11" * 20, "0x" + "22" * 32, "c2"]),
    json.dumps({"owner": "0x" + "11" * 20}),
    json.dumps([1, 2]),
    json.dumps({"owner": 5, "content_hash": "0x" + "22" * 32, "metadata_cid": "c"}),
    "{not json",
    json.dumps(["0x" + "11" * 20, "0x11", "c3"]),
    "42",
    json.dumps(["0x" + "11" * 20, "0x" + "22" * 32, None]),
    json.dumps(["0x" + "11" * 20, "0x" + "33" * 32, "c4"]),
])


@pytest.mark.parametrize(("name", "text"), [("bad.csv", BAD_CSV), ("bad.jsonl", BAD_JSONL)])
def test_bad_lines_named_like_the_python_reader(tmp_path: Path, name: str, text: str):
    src = tmp_path / name
    src.write_text(text, encoding="utf-8")
    want = read_claims(src)
    tree, report = OutOfCoreTree.build(src, tmp_path / "tree.bin")
    assert [line for line, _ in report.errors] == [e.line for e in want.errors]
    for (_, msg), e in zip(report.errors, want.errors):
        if e.message.startswith("malformed JSON"):
            assert msg.startswith("malformed JSON"), msg
        else:
            assert msg == e.message
    assert report.claims == len(want.claims) and report.error_count == len(want.errors)
    assert tree.root == StandardMerkleTree.of(want.claims, CLAIM_LEAF_ENCODING).root
    assert [tree.leaf(r) for r in range(len(tree))] == [tree.leaf_hash(c) for c in want.claims]


def test_files_without_claims_are_refused_and_nothing_is_written(tmp_path: Path):
    out = tmp_path / "tree.bin"
    out.write_bytes(b"previous contents")
    for text, msg in [
        ("owner,content_hash\n0x1,0x2\n", "missing metadata_cid"),
        ("", "no valid claims"),
        ("owner,content_hash,metadata_cid\n0x12,0x34,cid\n", "line 2: owner: malformed address"),
    ]:
        src = tmp_path / "c.csv"
        src.write_text(text)
        with pytest.raises(InvalidInputError, match=msg):
            OutOfCoreTree.build(src, out)
        assert out.read_bytes() == b"previous contents"
    assert sorted(os.listdir(tmp_path)) == ["c.csv", "tree.bin"]
    with pytest.raises(InvalidInputError, match="extension"):
        OutOfCoreTree.build(tmp_path / "c.txt", out)
    with pytest.raises(InvalidInputError, match="memory budget"):
        OutOfCoreTree.build(src, out, memory_budget=1000)


def test_damaged_tree_files_are_refused(tmp_path: Path):
    claims = gen_claims(2000, seed=9)
    tree = build(tmp_path, claims)
    good = (tmp_path / "tree.bin").read_bytes()

    def opened(data: bytes) -> OutOfCoreTree:
        p = tmp_path / "damaged.bin"
        p.write_bytes(data)
        return OutOfCoreTree.open(p)

    with pytest.raises(InvalidInputError, match="damaged.bin: truncated"):
        opened(good[:-1])
    with pytest.raises(InvalidInputError, match="shorter than the 4096-byte header"):
        opened(good[:10])
    with pytest.raises(InvalidInputError, match="not an nftreg out-of-core tree file"):
        opened(json.dumps({"format": "standard-v1"}).encode().ljust(5000))
    with pytest.raises(InvalidInputError, match="checksum"):
        opened(good[:30] + bytes([good[30] ^ 1]) + good[31:])
    # One flipped bit in a leaf: the file opens, the proofs through that leaf are refused
    # (every proof is folded back to the root before it is served), validate() names the node.
    row = 123
    at = 4096 + 32 * tree.position(row) + 7
    t = opened(good[:at] + bytes([good[at] ^ 4]) + good[at + 1 :])
    with pytest.raises(InvalidInputError, match="corrupted"):
        t.get_proof(row)
    far = next(r for r in range(len(claims)) if abs(tree.position(r) - tree.position(row)) > 2)
    assert t.get_proof(far) == tree.get_proof(far)  # paths that miss the damaged node are fine
    with pytest.raises(InvalidInputError, match="differs from the hash of its children"):
        t.validate()
    with pytest.raises(InvalidInputError, match="out of bounds"):
        tree.get_proof(len(claims))
    with pytest.raises(InvalidInputError, match="not in tree"):
        tree.get_proof(["0x" + "00" * 20, "0x" + "00" * 32, "nope"])


def test_cli_build_and_proof(tmp_path: Path):
    claims = gen_claims(300, seed=10)
    src = write_csv(tmp_path / "claims.csv", claims)
    with src.open("a") as f:
        f.write("0x12,0x34,cid\n")  # line 302: refused, the rest is built
    out = tmp_path / "tree.bin"
    res = subprocess.run([*NFTREG, "batch", "build", str(src), "--out-of-core", "-o", str(out), "--verify", "--json",
                          "--memory-budget", "16M", "--temp-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 3, res.stderr  # EXIT_PARTIAL: lines were rejected
    summary = json.loads(res.stdout)
    assert summary["claims"] == 300 and summary["verified"] == 300
    assert summary["rejected"][0]["line"] == 302 and f"{src}:302: owner" in res.stderr
    assert summary["root"] == StandardMerkleTree.of(claims, CLAIM_LEAF_ENCODING).root
    for args in (["--index", "17"], ["--leaf", OutOfCoreTree.open(out).leaf(17)]):
        res = subprocess.run([*NFTREG, "batch", "proof", str(out), *args], capture_output=True, text=True, timeout=300, check=False)
        assert res.returncode == 0, res.stderr
        p = json.loads(res.stdout)
        assert p["index"] == 17
        assert StandardMerkleTree.verify(summary["root"], CLAIM_LEAF_ENCODING, claims[17], p["proof"])
    res = subprocess.run([*NFTREG, "batch", "proof", str(out), "--owner", claims[0][0]], capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode != 0 and "holds leaf hashes, not owners" in res.stderr
