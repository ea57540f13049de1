"""The registration log over HTTP from a real `nftreg serve`, read and checked by Go's own
transparency-log code (golang.org/x/mod/sumdb/tlog and sumdb/note, in tests/go/tlogcheck):
checkpoint signature, tree hash of the tiles, inclusion of random entries, consistency between
two checkpoints across a restart, and the inclusion proofs of nftreg's receipts."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest
from api_server import serve_process
from nftreg._core import tlog
from nftreg.log import LogEntry, RegistrationLog, open_checkpoint, verify_receipt

GO_DIR = Path(__file__).parent / "go" / "tlogcheck"


@pytest.fixture(scope="module")
def tlogcheck(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("go") / "tlogcheck"
    subprocess.run(["go", "build", "-o", str(out), "."], cwd=GO_DIR, check=True, timeout=600,
                   env={**os.environ, "GOFLAGS": "-mod=readonly -buildvcs=false"})
    return str(out)


def fill(log_dir: Path, start: int, n: int) -> str:
    rl = RegistrationLog(log_dir, start=False)
    rl.sequencer.submit_batch([
        LogEntry.of("private", owner="0x" + "12" * 20, content_hash=i.to_bytes(32, "big"), metadata_cid=f"bafy{i}",
                    log_time_ms=1_700_000_000_000 + i).encode()
        for i in range(start, start + n)])
    rl.sequencer.integrate_now()
    vkey = rl.store.key.verifier_key
    rl.close()
    return vkey


def go(binary: str, *args: str) -> dict:
    proc = subprocess.run([binary, *args], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_go_sumdb_tlog_checks_tiles_checkpoints_and_receipts(tmp_path, tlogcheck):
    data = tmp_path / "data"
    vkey = fill(data / "log", 0, 70_000)  # the tlog-tiles layout example
    old = tmp_path / "old_checkpoint"
    receipts = tmp_path / "receipts.jsonl"
    with serve_process(data) as (url, _proc):
        info = httpx.get(url + "/v1/log").json()
        assert info["verifier_key"] == vkey and info["tree_size"] == 70_000 and info["origin"] == "nftreg.localhost/log"
        r = httpx.get(url + "/log/checkpoint")
        assert r.headers["content-type"] == "text/plain; charset=utf-8" and r.headers["cache-control"] == "no-cache"
        old.write_text(r.text)
        assert open_checkpoint(r.text, vkey).size == 70_000
        t = httpx.get(url + "/log/tile/0/273.p/112")
        assert t.status_code == 200 and len(t.content) == 112 * 32
        assert t.headers["content-type"] == "application/octet-stream" and "immutable" in t.headers["cache-control"]
        assert len(httpx.get(url + "/log/tile/1/001.p/17").content) == 17 * 32
        assert len(httpx.get(url + "/log/tile/2/000.p/1").content) == 32
        raw = httpx.get(url + "/log/tile/entries/000", headers={"Accept-Encoding": "gzip"})
        assert raw.headers.get("content-encoding") == "gzip"  # httpx decoded it
        bundle = tlog.decode_bundle(raw.content)
        assert len(bundle) == 256 and LogEntry.decode(bundle[5]).metadata_cid == "bafy5"
        plain = httpx.get(url + "/log/tile/entries/000", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.content == raw.content
        assert httpx.get(url + "/log/tile/0/274").status_code == 404
        assert httpx.get(url + "/log/tile/0/1").status_code == 400
        assert httpx.get(url + "/log/tile/entries/273.p/113").status_code == 404
        lines = []
        for i in (0, 255, 256, 69_999):
            rc = httpx.get(url + f"/v1/log/entries/{i}/receipt").json()
            assert verify_receipt(rc, vkey).size == 70_000
            lines.append(json.dumps(rc))
        by_hash = httpx.get(url + "/v1/assets/0x" + (256).to_bytes(32, "big").hex() + "/receipt").json()
        assert by_hash["index"] == 256 and by_hash["entry_fields"]["kind"] == "private"
        assert httpx.get(url + "/v1/assets/0x" + "ff" * 32 + "/receipt").status_code == 404
        assert httpx.get(url + "/v1/assets/0xnothex/receipt").status_code == 422
        receipts.write_text("\n".join(lines) + "\n")
        res = go(tlogcheck, "-url", url + "/log/", "-vkey", vkey, "-n", "40", "-receipts", str(receipts))
        assert res["size"] == 70_000 and res["inclusion_checked"] == 40 and res["receipts_checked"] == 4
        assert res["max_tile_reads_per_proof"] <= 5
        # a wrong key is refused by Go's note package
        bad = subprocess.run([tlogcheck, "-url", url + "/log/", "-vkey",
                              RegistrationLog(tmp_path / "other", start=False).store.key.verifier_key],
                             capture_output=True, text=True, timeout=60, check=False)
        assert bad.returncode == 1 and "checkpoint" in bad.stderr
    # the log grows while the service is down; after a restart Go checks consistency with the
    # checkpoint it saw before
    fill(data / "log", 70_000, 3_001)
    with serve_process(data) as (url, _proc):
        res = go(tlogcheck, "-url", url + "/log/", "-vkey", vkey, "-n", "30", "-old-checkpoint", str(old), "-seed", "7")
        assert res["size"] == 73_001 and res["consistent_from"] == 70_000 and res["inclusion_checked"] == 30
        p = httpx.get(url + "/v1/log/consistency", params={"old": 70_000}).json()
        assert len(p["proof"]) > 0
