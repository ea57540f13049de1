"""`nftreg log monitor` against a real `nftreg serve` process: it agrees with an honest log as it
grows, and exits non-zero naming the fork when the operator swaps in a log with the same key
but other entries, or rolls the log back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
from api_server import serve_process
from nftreg.log import FileLog, LogEntry

ADMIN = "monitor-admin-key-0123456789"
ENV = {"NFTREG_ENV": "test", "NFTREG_ADMIN_API_KEY": ADMIN, "NFTREG_LOG_INTERVAL_S": "0.2",
       "NFTREG_LOG_ANCHOR_INTERVAL_S": "0"}


def monitor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nftreg", "log", "monitor", *args], capture_output=True, text=True,
                          timeout=120, check=False)


def register(url: str, key: str, n: int) -> list[str]:
    hashes = []
    with httpx.Client(base_url=url, timeout=60) as c:
        for i in range(n):
            ch = "0x" + os.urandom(32).hex()
            r = c.post("/v1/assets", headers={"X-API-Key": key},
                       data={"metadata": json.dumps({"name": f"ไฟล์ {i}"}), "content_hash": ch,
                             "owner": "0x" + "11" * 20, "onchain": "false"})
            assert r.status_code == 201, r.text
            hashes.append(ch)
        deadline = time.monotonic() + 30
        while c.get(f"/v1/assets/{hashes[-1]}/receipt").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    return hashes


def test_monitor_agrees_with_an_honest_log_and_catches_a_fork_and_a_rollback(tmp_path):
    data = tmp_path / "svc"
    state = tmp_path / "monitor.json"
    with serve_process(data, env=ENV) as (url, _proc):
        key = httpx.post(url + "/v1/admin/api-keys", json={"name": "m", "role": "minter"},
                         headers={"X-API-Key": ADMIN}, timeout=30).json()["api_key"]
        vkey = httpx.get(url + "/v1/log").json()["verifier_key"]
        register(url, key, 5)
        r = monitor(url, "--key", vkey, "--state", str(state), "--once", "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        first = json.loads(r.stdout)
        assert first["ok"] and first["size"] >= 5 and first["tiles_checked"] >= 1
        register(url, key, 300)  # past a full tile
        r = monitor(url, "--key", vkey, "--state", str(state), "--once", "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        second = json.loads(r.stdout)
        assert second["previous_size"] == first["size"] and second["size"] >= first["size"] + 300
        # a wrong key: the checkpoint is refused
        other = FileLog(tmp_path / "other", origin="nftreg.localhost/log").key.verifier_key
        r = monitor(url, "--key", other, "--once")
        assert r.returncode == 4 and "not signed by the log's key" in r.stdout
    snapshot = tmp_path / "snapshot"
    shutil.copytree(data / "log", snapshot)

    # the operator rewrites history: same key, other entries (and more of them)
    signer = (data / "log" / "log.key").read_text()
    shutil.rmtree(data / "log")
    forged = FileLog(data / "log", signer_key=signer)
    forged.integrate([LogEntry.of("private", owner="0x" + "22" * 20, content_hash=os.urandom(32)).encode()
                      for _ in range(second["size"] + 10)])
    forged.close()
    (data / "log" / "log.key").write_text(signer)
    with serve_process(data, env=ENV) as (url, _proc):
        r = monitor(url, "--key", vkey, "--state", str(state), "--once")
        assert r.returncode == 4, r.stdout + r.stderr
        assert "FORK" in r.stdout and f"size {second['size']}" in r.stdout
    # state untouched by the failed round; the honest log (restored) still agrees
    assert json.loads(state.read_text())["size"] == second["size"]

    # a rollback: the log served from an older copy is smaller than a checkpoint it signed
    shutil.rmtree(data / "log")
    shutil.copytree(snapshot, data / "log")
    with serve_process(data, env=ENV) as (url, _proc):
        r = monitor(url, "--key", vkey, "--state", str(state), "--once")
        assert r.returncode == 0, r.stdout + r.stderr
    st = json.loads(state.read_text())
    bigger = dict(st, size=st["size"] + 1000)
    rolled = tmp_path / "rolled.json"
    rolled.write_text(json.dumps(bigger))
    with serve_process(data, env=ENV) as (url, _proc):
        r = monitor(url, "--key", vkey, "--state", str(rolled), "--once")
        assert r.returncode == 4 and "rollback" in r.stdout, r.stdout


def test_monitor_unreachable_log_exits_2(tmp_path):
    r = monitor("http://127.0.0.1:9", "--key", "a+00000000+AQ", "--once")
    assert r.returncode in (1, 2), r.stdout + r.stderr
    assert Path(tmp_path).exists()


def test_monitor_checks_the_on_chain_anchors(tmp_path):
    """With --rpc/--contract: every LogAnchored root equals the log's root at that size; a log
    rewritten under the same key disagrees with the chain, and the monitor says where."""
    from nftreg.chain import AnvilProcess
    from nftreg.chain.anvil import ANVIL_DEV_KEY

    anvil = AnvilProcess(tmp_path / "anvil")
    anvil.start()
    try:
        data = tmp_path / "svc"
        env = {**ENV, "NFTREG_LOG_ANCHOR_INTERVAL_S": "0.5", "NFTREG_PRIVATE_KEY": ANVIL_DEV_KEY}
        with serve_process(data, env=env, args=["--rpc-url", anvil.url]) as (url, _proc):
            key = httpx.post(url + "/v1/admin/api-keys", json={"name": "m", "role": "minter"},
                             headers={"X-API-Key": ADMIN}, timeout=30).json()["api_key"]
            vkey = httpx.get(url + "/v1/log").json()["verifier_key"]
            contract = httpx.get(url + "/v1/info").json()["registry"]
            hashes = register(url, key, 3)
            deadline = time.monotonic() + 60
            while httpx.get(f"{url}/v1/assets/{hashes[-1]}").json()["status"] != "anchored":
                assert time.monotonic() < deadline
                time.sleep(0.2)
            register(url, key, 2)
            deadline = time.monotonic() + 60
            while True:  # a second anchor at a larger size
                r = monitor(url, "--key", vkey, "--rpc", anvil.url, "--contract", contract, "--once", "--json")
                assert r.returncode == 0, r.stdout + r.stderr
                rep = json.loads(r.stdout)
                if rep["anchors_checked"] >= 2:
                    break
                assert time.monotonic() < deadline, rep
                time.sleep(0.5)
            assert rep["anchored_size"] <= rep["size"]
        signer = (data / "log" / "log.key").read_text()
        shutil.rmtree(data / "log")
        forged = FileLog(data / "log", signer_key=signer)
        forged.integrate([LogEntry.of("private", owner="0x" + "44" * 20, content_hash=os.urandom(32)).encode()
                          for _ in range(rep["size"])])
        forged.close()
        (data / "log" / "log.key").write_text(signer)
        env["NFTREG_LOG_ANCHOR_INTERVAL_S"] = "0"
        with serve_process(data, env=env, args=["--rpc-url", anvil.url]) as (url, _proc):
            # no state file: only the chain knows what the log said before
            r = monitor(url, "--key", vkey, "--rpc", anvil.url, "--contract", contract, "--once")
            assert r.returncode == 4, r.stdout + r.stderr
            assert "FORK: the root anchored on-chain at tree size" in r.stdout
    finally:
        anvil.stop()
