"""kill -9 of `nftreg serve` at each step of getting a registration into the log: after the
event's row is recorded (inside the transaction that finalizes a mint), after entry bundles,
after tiles, after the checkpoint is signed (staged), after it is published, and after a
published integration but before its indexes are recorded. Clients keep registering and
collecting receipts while the process dies; after a restart without the fault:

* every receipt ever given still verifies, its entry is at its index in the log, and its
  checkpoint is consistent with the new one (no published checkpoint was lost or forked);
* every registration the API accepted (201) has exactly one entry (none lost, none twice);
* `nftreg log monitor`, holding the checkpoint it saw before the crash, agrees.

Real anvil, real `nftreg serve` processes, SQLite and the embedded store. Runs per step:
NFTREG_LOG_FAULT_RUNS (default 1); the figures printed go into RELIABILITY.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from nftreg.chain import AnvilProcess
from nftreg.log import LogEntry, verify_consistency, verify_receipt
from nftreg.log.verify import open_checkpoint
from test_faults import ADMIN, ServiceProcess

RUNS = int(os.environ.get("NFTREG_LOG_FAULT_RUNS", "1"))
OWNER = "0x" + "33" * 20

# let a few integrations through first, so receipts are given out during the fault phase
SKIP = {"NFTREG_LOG_FAULT_SKIP": "3"}
# (environment that kills the process, whether the step is reached by an on-chain mint)
STEPS = {
    "record": ({"NFTREG_TEST_CRASH_AT": "log:after_record"}, True),
    "entries": ({"NFTREG_LOG_FAULT": "entries", **SKIP}, False),
    "tiles": ({"NFTREG_LOG_FAULT": "tiles", **SKIP}, False),
    "signed": ({"NFTREG_LOG_FAULT": "signed", **SKIP}, False),
    "published": ({"NFTREG_LOG_FAULT": "published", **SKIP}, False),
    "before-index": ({"NFTREG_TEST_CRASH_AT": "log:after_integrate", **SKIP}, False),
}
BASE_ENV = {"NFTREG_LOG_INTERVAL_S": "0.2", "NFTREG_FINALITY_AGE_S": "0.5", "NFTREG_RECONCILE_INTERVAL_S": "0.5",
            "NFTREG_LOG_ANCHOR_INTERVAL_S": "0", "NFTREG_RATE_LIMIT_PER_MINUTE": "0"}


@pytest.fixture(scope="module")
def anvil(tmp_path_factory):
    a = AnvilProcess(tmp_path_factory.mktemp("anvil-log-faults"))
    a.start()
    yield a
    a.stop()


def _register(http: httpx.Client, key: str, ch: str, onchain: bool) -> int | None:
    form = {"metadata": json.dumps({"name": "บันทึก"}), "content_hash": ch, "owner": OWNER}
    if not onchain:
        form["onchain"] = "false"
    try:
        r = http.post("/v1/assets", data=form, headers={"X-API-Key": key, "Idempotency-Key": "k" + ch[2:34]})
    except httpx.HTTPError:
        return None
    return r.status_code


@pytest.mark.anvil
@pytest.mark.parametrize("step", list(STEPS))
def test_kill_9_at_each_log_step_loses_nothing_and_forks_nothing(tmp_path, anvil, step):
    fault_env, onchain = STEPS[step]
    figures = {"runs": 0, "kills": 0, "accepted": 0, "receipts": 0, "lost": 0, "duplicated": 0, "forks": 0}
    for run in range(RUNS):
        data = tmp_path / f"run{run}"
        data.mkdir()
        svc = ServiceProcess(data, anvil.url, **BASE_ENV)
        svc.start()
        key = httpx.post(svc.url + "/v1/admin/api-keys", json={"name": "m", "role": "minter"},
                         headers={"X-API-Key": ADMIN}, timeout=30).json()["api_key"]
        vkey = httpx.get(svc.url + "/v1/log", timeout=30).json()["verifier_key"]
        accepted: list[str] = []
        receipts: dict[str, dict] = {}
        with httpx.Client(base_url=svc.url, timeout=30) as http:
            # some entries before the fault, with receipts, and a monitor state at that size
            for _ in range(4):
                ch = "0x" + os.urandom(32).hex()
                assert _register(http, key, ch, False) == 201
                accepted.append(ch)
            _wait_receipts(http, accepted, receipts)
        state = data / "monitor.json"
        r = _monitor(svc.url, vkey, state)
        assert r.returncode == 0, r.stdout + r.stderr
        svc.stop()

        # restart with the fault armed; register until the process dies
        svc.env.update(fault_env)
        svc.start()
        with httpx.Client(base_url=svc.url, timeout=30) as http, ThreadPoolExecutor(8) as pool:
            deadline = time.monotonic() + 120
            while svc.proc.poll() is None and time.monotonic() < deadline:
                # 8 at once: several registrations share the integration the process dies in
                batch = ["0x" + os.urandom(32).hex() for _ in range(8)]
                for ch, st in zip(batch, pool.map(lambda c, k=key: _register(http, k, c, onchain), batch), strict=True):
                    if st == 201:
                        accepted.append(ch)
                for c in accepted[-3:]:
                    try:
                        g = http.get(f"/v1/assets/{c}/receipt")
                    except httpx.HTTPError:
                        break
                    if g.status_code == 200:
                        receipts.setdefault(c, g.json())
                time.sleep(0.05)
        assert svc.proc.poll() is not None, f"the fault {fault_env} never fired"
        svc.proc.wait()
        svc.kills += 1
        for k in fault_env:
            svc.env.pop(k)
        svc.start()
        try:
            with httpx.Client(base_url=svc.url, timeout=30) as http:
                _wait_receipts(http, accepted, {}, timeout=120)
                cp = open_checkpoint(http.get("/log/checkpoint").text, vkey)
                for ch, rec in receipts.items():
                    verify_receipt(rec, vkey)
                    again = http.get(f"/v1/log/entries/{rec['index']}/receipt").json()
                    if again["entry"] != rec["entry"]:
                        figures["lost"] += 1
                    old = open_checkpoint(rec["checkpoint"], vkey)
                    proof = http.get("/v1/log/consistency", params={"old": old.size, "new": cp.size}).json()["proof"]
                    if not verify_consistency(old.size, cp.size, old.root, cp.root,
                                              [bytes.fromhex(p[2:]) for p in proof]):
                        figures["forks"] += 1
                log = http.get("/v1/log").json()
                size = log["tree_size"]
                counts: dict[str, int] = {}
                for i in range(size):
                    e = LogEntry.decode(bytes.fromhex(http.get(f"/v1/log/entries/{i}/receipt").json()["entry"][2:]))
                    h = "0x" + e.content_hash.hex()
                    counts[h] = counts.get(h, 0) + 1
                for ch in accepted:
                    n = counts.get(ch, 0)
                    figures["lost"] += n == 0
                    figures["duplicated"] += n > 1
            r = _monitor(svc.url, vkey, state)
            assert r.returncode == 0, r.stdout + r.stderr
        finally:
            svc.stop()
        figures["runs"] += 1
        figures["kills"] += 1
        figures["accepted"] += len(accepted)
        figures["receipts"] += len(receipts)
    print(f"\nlog fault {step}: {json.dumps(figures)}")
    assert figures["lost"] == figures["duplicated"] == figures["forks"] == 0, figures


def _wait_receipts(http: httpx.Client, hashes: list[str], out: dict[str, dict], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    for ch in hashes:
        while True:
            g = http.get(f"/v1/assets/{ch}/receipt")
            if g.status_code == 200:
                out[ch] = g.json()
                break
            assert time.monotonic() < deadline, f"no receipt for {ch}"
            time.sleep(0.1)


def _monitor(url: str, vkey: str, state) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nftreg", "log", "monitor", url, "--key", vkey, "--state", str(state),
                           "--once"], capture_output=True, text=True, timeout=120, check=False)
