"""`nftreg batch` and `nftreg verify proofs` through the real console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from nftreg import StandardMerkleTree

NFTREG = [sys.executable, "-m", "nftreg"]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NFTREG, *args], check=False, capture_output=True, text=True, input=stdin, timeout=300)


def test_sample_build_verify_and_proof_round_trip(tmp_path: Path):
    claims = tmp_path / "claims.jsonl"
    assert run("batch", "sample", "-n", "500", "-o", str(claims)).returncode == 0
    out = run("batch", "build", str(claims), "-o", str(tmp_path / "tree.json"), "--verify", "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["claims"] == 500 and summary["verified"] == 500 and summary["rejected"] == []
    tree = StandardMerkleTree.load(json.loads((tmp_path / "tree.json").read_text()))
    assert tree.root == summary["root"]
    owner = tree.at(7)[0]
    proofs = [json.loads(line) for line in run("batch", "proof", str(tmp_path / "tree.json"), "--owner", owner).stdout.splitlines()]
    assert any(p["index"] == 7 for p in proofs)
    lines = "\n".join(
        json.dumps({"root": tree.root, "leaf_encoding": tree.leaf_encoding, "value": p["value"], "proof": p["proof"]})
        for p in proofs
    )
    bad = json.dumps({"root": tree.root, "leaf_encoding": tree.leaf_encoding, "value": tree.at(8), "proof": proofs[0]["proof"]})
    res = run("verify", "proofs", "-", stdin=lines + "\n" + bad + "\n{not json\n")
    results = [json.loads(x) for x in res.stdout.splitlines()]
    assert [r["valid"] for r in results] == [True] * len(proofs) + [False, False]
    assert "malformed line" in results[-1]["error"] and results[-1]["line"] == len(proofs) + 2
    assert res.returncode == 4


def test_bad_lines_reported_by_number_and_rest_kept(tmp_path: Path):
    good = f"0x{'11' * 20},0x{'22' * 32},bafkreiexample"
    text = "\n".join([
        "owner,content_hash,metadata_cid",
        good,
        "0x1234,0x00,cid",                      # line 3: bad address
        f"0x{'33' * 20},0x{'44' * 31},cid",     # line 4: short hash
        f"0x{'55' * 20},0x{'66' * 32}",         # line 5: missing column
        f"0x{'77' * 20},0x{'88' * 32},ภูเก็ต",   # line 6: Thai text is a fine string
    ])
    path = tmp_path / "c.csv"
    path.write_text(text + "\n", encoding="utf-8")
    out = run("batch", "build", str(path), "-o", str(tmp_path / "t.json"), "--json")
    assert out.returncode == 3
    summary = json.loads(out.stdout)
    assert summary["claims"] == 2
    assert [r["line"] for r in summary["rejected"]] == [3, 4, 5]
    assert "owner" in summary["rejected"][0]["error"] and "bytes32" in summary["rejected"][1]["error"]


def test_user_errors_are_one_line_not_tracebacks(tmp_path: Path):
    p = tmp_path / "claims.txt"
    p.write_text("x")
    out = run("batch", "build", str(p), "-o", str(tmp_path / "t.json"))
    assert out.returncode == 1
    assert out.stderr.strip().startswith("nftreg: error:") and "Traceback" not in out.stderr
    tampered = tmp_path / "tree.json"
    tampered.write_text(json.dumps({"format": "standard-v1", "leafEncoding": ["address"], "tree": ["0x00"], "values": [{"value": ["0x" + "11" * 20], "treeIndex": 0}]}))
    out = run("batch", "proof", str(tampered), "--index", "0")
    assert out.returncode == 1 and "Traceback" not in out.stderr
