"""The web app's JavaScript (CID, EIP-55 checksum, QR code) run under node and checked against
independent implementations: Kubo's `ipfs add`, nftreg's Rust CID code, eth-utils, zxing-cpp."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from eth_utils import keccak, to_checksum_address
from nftreg.cid import KUBO_ADD_OPTIONS, cid_of, content_hash_hex

ROOT = Path(__file__).resolve().parent.parent


def run_js(requests: list[dict]) -> list[dict]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is required (scripts/setup.sh installs the npm tools with it)")
    proc = subprocess.run([node, "--no-warnings", str(ROOT / "tests/js/web_modules.mjs")],
                          input="".join(json.dumps(r) + "\n" for r in requests).encode(), capture_output=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    answers = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(answers) == len(requests)
    for a in answers:
        assert "error" not in a, a
    return answers


def _files(tmp_path: Path, sizes: list[int]) -> list[Path]:
    rng = random.Random(15)
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = []
    for n in sizes:
        p = tmp_path / f"f{n}"
        p.write_bytes(rng.randbytes(n))
        out.append(p)
    return out


TINY = {"v1": ({"cidVersion": 1, "rawLeaves": True, "chunkSize": 1024, "maxLinks": 3},
               {"cid-version": 1, "raw-leaves": True, "chunker": "size-1024", "max-file-links": 3}),
        "v0": ({"cidVersion": 0, "rawLeaves": False, "chunkSize": 1024, "maxLinks": 3},
               {"cid-version": 0, "raw-leaves": False, "chunker": "size-1024", "max-file-links": 3})}


@pytest.mark.kubo
def test_js_cids_equal_kubo_and_rust(kubo, tmp_path):
    # named profiles around their chunk boundary, compared with Kubo and the Rust code
    named = [(profile, p) for profile, chunk in (("unixfs-v1-2025", 1 << 20), ("unixfs-v0-2015", 256 << 10))
             for p in _files(tmp_path / profile.replace("-", "_"), [0, 1, 1000, chunk - 1, chunk, chunk + 1, 3 * chunk + 7])
             ]
    # tiny chunks and 3 links per node: every DAG depth from a single leaf to four levels
    tiny = [(name, p) for name in TINY
            for p in _files(tmp_path / f"tiny_{name}", [0, 1, 1023, 1024, 1025, 3072, 3073, 9216, 9217, 27648, 27649, 100_000])]
    answers = run_js([{"op": "cid", "path": str(p), "profile": prof} for prof, p in named]
                     + [{"op": "cid", "path": str(p), "profile": TINY[name][0]} for name, p in tiny])
    for (profile, p), a in zip(named, answers[:len(named)]):
        want = kubo.add_only_hash(p, KUBO_ADD_OPTIONS[profile])
        assert a["cid"] == want == cid_of(str(p), profile=profile), f"{profile} {p.stat().st_size} bytes"
        assert a["content_hash"] == content_hash_hex(str(p))
    for (name, p), a in zip(tiny, answers[len(named):]):
        assert a["cid"] == kubo.add_only_hash(p, TINY[name][1]), f"tiny {name} {p.stat().st_size} bytes"


def test_js_checksum_addresses_equal_eth_utils():
    rng = random.Random(55)
    addrs = ["0x" + rng.randbytes(20).hex() for _ in range(50)] + ["0x" + "0" * 40, "0x" + "f" * 40]
    blobs = [rng.randbytes(n) for n in (0, 1, 135, 136, 137, 300)]
    answers = run_js([{"op": "checksum", "address": a} for a in addrs] + [{"op": "keccak", "hex": b.hex()} for b in blobs])
    assert [a["address"] for a in answers[:len(addrs)]] == [to_checksum_address(a) for a in addrs]
    assert [a["hash"] for a in answers[len(addrs):]] == [keccak(b).hex() for b in blobs]


def test_js_qr_codes_decode_with_zxing():
    import zxingcpp
    from PIL import Image

    texts = ["http://127.0.0.1:8000/#/lookup?hash=0x" + "ab" * 32, "a", "x" * 213, "ภาพวาดช้างไทย " * 4,
             "https://registry.example.org:8443/#/lookup?hash=0x" + "cd" * 32]
    for text, a in zip(texts, run_js([{"op": "qr", "text": t} for t in texts])):
        rows = a["rows"]
        n, scale = len(rows), 6
        img = Image.new("L", ((n + 8) * scale, (n + 8) * scale), 255)
        for y, row in enumerate(rows):
            for x, c in enumerate(row):
                if c == "1":
                    img.paste(0, ((x + 4) * scale, (y + 4) * scale, (x + 5) * scale, (y + 5) * scale))
        found = zxingcpp.read_barcodes(img)
        assert [b.text for b in found] == [text]
        assert found[0].format == zxingcpp.BarcodeFormat.QRCode
