"""kill -9 of `nftreg serve` at each step of getting a registration into the log: after the
event's row is recorded (inside the transaction that finalizes a mint), after entry bundles,
after tiles, after the checkpoint is signed (staged), after it is published, and after a
published integration but before its indexes are recorded. Clients keep registering and
collecting receipts while the process dies; after a restart without the fault:

* every receipt ever given (in this run and every earlier one) still verifies, its entry is at
  its index in the log, and its checkpoint is consistent with the new one (no published
  checkpoint was lost or forked);
* every registration the API accepted (201) has exactly one entry (none lost, none twice),
  counted from the entry bundles the service serves, which hash to its signed root; one whose
  answer the crash cut off has at most one, and the log holds no entry nobody asked for;
* `nftreg log monitor`, holding the checkpoint it saw before the crash, agrees.

The runs of a step crash and recover the same service (data directory, database, contract), one
after the other, so each run also starts from the state the previous crash left. Real anvil,
real `nftreg serve` processes, SQLite and the embedded store. Runs per step:
NFTREG_LOG_FAULT_RUNS (default 10; RELIABILITY.md's figures); the figures printed go there.

Also here: a tile corrupted on disk under a running service is never served with wrong bytes."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from nftreg._core import tlog
from nftreg.chain import AnvilProcess
from nftreg.log import LogEntry, verify_consistency, verify_receipt
from nftreg.log.verify import open_checkpoint
from test_faults import ADMIN, ServiceProcess

RUNS = int(os.environ.get("NFTREG_LOG_FAULT_RUNS", "10"))
OWNER = "0x" + "33" * 20
TILE_WIDTH = 256

# let a few integrations through first, so receipts are given out during the fault phase
SKIP = {"NFTREG_LOG_FAULT_SKIP": "3"}
# (environment that kills the process, whether the step is reached by an on-chain mint)
STEPS = {
    "record": ({"NFTREG_TEST_CRASH_AT": "log:after_record", **SKIP}, True),
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


def _new_hashes(n: int) -> list[str]:
    return ["0x" + os.urandom(32).hex() for _ in range(n)]


@pytest.mark.anvil
@pytest.mark.parametrize("step", list(STEPS))
def test_kill_9_at_each_log_step_loses_nothing_and_forks_nothing(tmp_path, anvil, step):
    fault_env, onchain = STEPS[step]
    figures = {"runs": 0, "kills": 0, "accepted": 0, "accepted_in_fault_phase": 0, "receipts": 0,
               "receipts_in_fault_phase": 0, "lost": 0, "duplicated": 0, "forks": 0, "monitor_agreed": 0,
               "unanswered": 0, "log_size": 0}
    restarts: list[float] = []
    t_step = time.monotonic()
    # one service (data directory, database, contract) through all runs: the fault is set in its
    # environment but live only while the arm file exists (NFTREG_FAULT_ARM_FILE), so each
    # restart after a crash first serves the checks with the fault disarmed, then the next crash
    armed = tmp_path / "fault.armed"
    svc = ServiceProcess(tmp_path, anvil.url, **BASE_ENV, **fault_env, NFTREG_FAULT_ARM_FILE=str(armed))
    svc.start()
    key = httpx.post(svc.url + "/v1/admin/api-keys", json={"name": "m", "role": "minter"},
                     headers={"X-API-Key": ADMIN}, timeout=30).json()["api_key"]
    vkey = httpx.get(svc.url + "/v1/log", timeout=30).json()["verifier_key"]
    accepted: list[str] = []
    attempted: set[str] = set()  # every content hash ever sent, answered or not
    receipts: dict[str, dict] = {}  # every receipt the service ever gave, over all runs
    with httpx.Client(base_url=svc.url, timeout=30) as http:
        # some entries before the first fault, with receipts, and a monitor state at that size
        for ch in _new_hashes(4):
            assert _register(http, key, ch, False) == 201
            accepted.append(ch)
        attempted.update(accepted)
        _wait_receipts(http, accepted, receipts)
    state = tmp_path / "monitor.json"
    r = _monitor(svc.url, vkey, state)
    assert r.returncode == 0, r.stdout + r.stderr

    try:
        for _run in range(RUNS):
            # arm the fault; register (8 at a time: several share the integration the process
            # dies in) and collect receipts until the process dies
            armed.touch()
            before = len(accepted), len(receipts)
            run_accepted: list[str] = []
            with httpx.Client(base_url=svc.url, timeout=30) as http, ThreadPoolExecutor(8) as pool:
                deadline = time.monotonic() + 120
                while svc.proc.poll() is None and time.monotonic() < deadline:
                    batch = _new_hashes(8)
                    attempted.update(batch)
                    for ch, st in zip(batch, pool.map(lambda c, k=key: _register(http, k, c, onchain), batch),
                                      strict=True):
                        if st == 201:
                            run_accepted.append(ch)
                    # the oldest without one first: they are the next in the log (a mint once final)
                    for c in [c for c in run_accepted if c not in receipts][:16]:
                        try:
                            g = http.get(f"/v1/assets/{c}/receipt")
                        except httpx.HTTPError:
                            break
                        if g.status_code == 200:
                            receipts.setdefault(c, g.json())
            assert svc.proc.poll() is not None, f"the fault {fault_env} never fired"
            # SIGKILL (the log's fault points) or os._exit(137) (the service's failpoints): no cleanup
            assert svc.proc.wait() in (-9, 137), f"the process died otherwise: {svc.proc.returncode}"
            svc.kills += 1
            accepted += run_accepted
            armed.unlink()
            t0 = time.monotonic()
            svc.start()
            restarts.append(time.monotonic() - t0)
            with httpx.Client(base_url=svc.url, timeout=30) as http:
                # what was accepted but not yet in the log when the process died gets in now
                _wait_receipts(http, run_accepted, {}, timeout=120)
                # counted over everything ever given and accepted: the worst run is the figure
                for k, v in _check_log(http, vkey, accepted, attempted, receipts).items():
                    figures[k] = max(figures[k], v)
            r = _monitor(svc.url, vkey, state)  # its state: the checkpoint it saw before this crash
            assert r.returncode == 0, r.stdout + r.stderr
            figures["monitor_agreed"] += 1
            figures["runs"] += 1
            figures["kills"] += 1
            figures["accepted_in_fault_phase"] += len(accepted) - before[0]
            figures["receipts_in_fault_phase"] += len(receipts) - before[1]
    finally:
        svc.stop()
    figures["accepted"], figures["receipts"] = len(accepted), len(receipts)
    figures["unanswered"] = len(attempted) - len(accepted)  # no 201 (cut off by the kill, or refused)
    figures["restart_s"] = {"min": round(min(restarts), 2), "median": round(statistics.median(restarts), 2),
                            "max": round(max(restarts), 2)}
    figures["step_s"] = round(time.monotonic() - t_step, 1)
    print(f"\nlog fault {step}: {json.dumps(figures)}")
    assert figures["lost"] == figures["duplicated"] == figures["forks"] == 0, figures


def _check_log(http: httpx.Client, vkey: str, accepted: list[str], attempted: set[str],
               receipts: dict[str, dict]) -> dict[str, int]:
    """Read the whole published log through its entry bundles (verified against the signed
    root), then check every receipt ever given and every accepted registration against it."""
    cp = open_checkpoint(http.get("/log/checkpoint").text, vkey)
    entries: list[bytes] = []
    tree = tlog.LogTree()
    for n in range((cp.size + TILE_WIDTH - 1) // TILE_WIDTH):
        width = min(TILE_WIDTH, cp.size - n * TILE_WIDTH)
        g = http.get("/log/" + tlog.tile_path(None, n, width))
        assert g.status_code == 200, (g.status_code, g.text)
        bundle = tlog.decode_bundle(g.content)
        assert len(bundle) == width
        tree.append_leaf_hashes(tlog.leaf_hashes(bundle))
        entries += bundle
    assert tree.root(cp.size) == cp.root, "the served entries do not hash to the signed root"
    lost = forks = 0
    proofs: dict[int, bool] = {}  # old size -> consistent with the checkpoint now
    for rec in receipts.values():
        verify_receipt(rec, vkey)
        old = open_checkpoint(rec["checkpoint"], vkey)
        if rec["index"] >= cp.size or entries[rec["index"]] != bytes.fromhex(rec["entry"][2:]):
            lost += 1
        if old.size not in proofs:
            proof = http.get("/v1/log/consistency", params={"old": old.size, "new": cp.size}).json()["proof"]
            proofs[old.size] = verify_consistency(old.size, cp.size, old.root, cp.root,
                                                  [bytes.fromhex(p[2:]) for p in proof])
        # the proof is checked against this receipt's own root: same size, other root = a fork
        ok = proofs[old.size] and old.root == tree.root(old.size)
        forks += not ok
    counts: dict[str, int] = {}
    for e in entries:
        h = "0x" + LogEntry.decode(e).content_hash.hex()
        counts[h] = counts.get(h, 0) + 1
    dup = sum(n > 1 for n in counts.values())  # answered or not, no registration is in the log twice
    assert not set(counts) - attempted, "the log holds entries for content nobody registered"
    for ch in accepted:
        lost += counts.get(ch, 0) == 0
    return {"lost": lost, "forks": forks, "duplicated": dup, "log_size": cp.size}


def _wait_receipts(http: httpx.Client, hashes: list[str], out: dict[str, dict], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    for ch in hashes:
        while True:
            g = http.get(f"/v1/assets/{ch}/receipt")
            if g.status_code == 200:
                out[ch] = g.json()
                break
            assert time.monotonic() < deadline, f"no receipt for {ch}"
            time.sleep(0.05)


def _monitor(url: str, vkey: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nftreg", "log", "monitor", url, "--key", vkey, "--state", str(state),
                           "--once"], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.anvil
def test_corrupted_tile_under_a_running_service_is_never_served(tmp_path, anvil):
    """A byte flipped on disk under a running `nftreg serve`: a hash tile is served with the
    tree's bytes (and rewritten), a damaged entry bundle is refused with a problem naming the
    corruption, never served; receipts out of it likewise; the monitor reports it."""
    svc = ServiceProcess(tmp_path, anvil.url, **BASE_ENV)
    svc.start()
    try:
        key = httpx.post(svc.url + "/v1/admin/api-keys", json={"name": "m", "role": "minter"},
                         headers={"X-API-Key": ADMIN}, timeout=30).json()["api_key"]
        vkey = httpx.get(svc.url + "/v1/log", timeout=30).json()["verifier_key"]
        hashes = _new_hashes(6)
        receipts: dict[str, dict] = {}
        with httpx.Client(base_url=svc.url, timeout=30) as http:
            for ch in hashes:
                assert _register(http, key, ch, False) == 201
            _wait_receipts(http, hashes, receipts)
            size = open_checkpoint(http.get("/log/checkpoint").text, vkey).size
            tile, bundle = tlog.tile_path(0, 0, size), tlog.tile_path(None, 0, size)
            good_tile, good_bundle = http.get("/log/" + tile).content, http.get("/log/" + bundle).content
            assert tlog.leaf_hashes(tlog.decode_bundle(good_bundle)) == good_tile
            state = tmp_path / "monitor.json"
            r = _monitor(svc.url, vkey, state)
            assert r.returncode == 0, r.stdout + r.stderr

            # a hash tile: the tree in memory is the truth; the disk's bytes are never served
            path = tmp_path / "log" / tile
            assert path.read_bytes() == good_tile
            bad = bytearray(good_tile)
            bad[7] ^= 0x40
            path.write_bytes(bytes(bad))
            g = http.get("/log/" + tile)
            assert g.status_code == 200 and g.content == good_tile
            assert path.read_bytes() == good_tile  # rewritten from the tree

            # an entry bundle cannot be rebuilt from hashes: refused, with a problem naming it
            bpath = tmp_path / "log" / bundle
            bad = bytearray(good_bundle)
            es = tlog.decode_bundle(good_bundle)
            bad[sum(2 + len(e) for e in es[:2]) + 2 + 5] ^= 0x01  # a byte inside entry 2 (2-byte length prefixes)
            bpath.write_bytes(bytes(bad))
            for url in ["/log/" + bundle, "/v1/log/entries/2/receipt", f"/v1/assets/{hashes[2]}/receipt"]:
                g = http.get(url)
                assert g.status_code == 500, (url, g.status_code, g.text[:300])
                assert g.headers["content-type"].startswith("application/problem+json"), url
                body = g.json()
                assert body["title"] == "Log storage corrupted" and "does not hash" in body["detail"], (url, body)
                assert bytes(bad) not in g.content
            r = _monitor(svc.url, vkey, state)
            assert r.returncode != 0 and "corrupted" in (r.stdout + r.stderr), r.stdout + r.stderr
            # the bytes back: served again, every receipt given still verifies against them
            bpath.write_bytes(good_bundle)
            assert http.get("/log/" + bundle).content == good_bundle
            for ch, rec in receipts.items():
                verify_receipt(rec, vkey)
                assert http.get(f"/v1/log/entries/{rec['index']}/receipt").json()["entry"] == rec["entry"], ch
            r = _monitor(svc.url, vkey, state)
            assert r.returncode == 0, r.stdout + r.stderr
    finally:
        svc.stop()
