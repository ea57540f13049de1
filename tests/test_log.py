"""The registration log as a library: entry encoding, tile layout, proofs, checkpoints, keys,
crash safety (kill -9 at each integration step) and corruption on disk."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from nftreg._core import tlog
from nftreg.errors import ConfigError, InvalidInputError
from nftreg.log import (
    EntryKind,
    FileLog,
    LogCorruptedError,
    LogEntry,
    RegistrationLog,
    Sequencer,
    leaf_hash,
    open_checkpoint,
    verify_consistency,
    verify_inclusion,
    verify_receipt,
)

OWNER = "0x" + "ab" * 20


def entry(i: int, kind: str = "private") -> bytes:
    return LogEntry.of(kind, owner=OWNER, content_hash=i.to_bytes(32, "big"), metadata_cid=f"bafy{i}",
                       chain_id=31337, log_time_ms=1_700_000_000_000 + i).encode()


def files_under(d: Path) -> set[str]:
    return {str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()}


# ---- entries -------------------------------------------------------------------------------

def test_entry_round_trip_every_field():
    e = LogEntry.of(EntryKind.MINT, owner=OWNER, content_hash="0x" + "11" * 32, chain_id=1, contract="0x" + "cd" * 20,
                    token_id=2**256 - 1, metadata_cid="bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
                    tx_hash=b"\x22" * 32, block=12345, log_time_ms=1_700_000_000_123)
    raw = e.encode()
    assert raw[0] == 1 and raw[1] == EntryKind.MINT and raw[2] == 0x0F and len(raw) == 165 + 59
    assert LogEntry.decode(raw) == e
    assert LogEntry.decode(raw).to_json()["token_id"] == str(2**256 - 1)
    bare = LogEntry.of("private", owner=OWNER, content_hash=b"\x01" * 32)
    assert LogEntry.decode(bare.encode()) == bare
    assert bare.encode()[2] == 0 and bare.contract is None and bare.token_id is None
    # token id 0 is a token id, not "absent"
    assert LogEntry.decode(LogEntry.of(1, owner=OWNER, content_hash=b"\0" * 32, token_id=0).encode()).token_id == 0


@pytest.mark.parametrize("mutate,needle", [
    (lambda b: b[:100], "shorter than"),
    (lambda b: bytes([2]) + b[1:], "format version"),
    (lambda b: b[:1] + bytes([9]) + b[2:], "unknown kind"),
    (lambda b: b[:2] + bytes([0x10]) + b[3:], "flag bits"),
    (lambda b: b[:11] + b"\x01" + b[12:], "contract is absent"),
    (lambda b: b + b"x", "CID length"),
    (lambda b: b[:-1] + b" ", "printable"),
])
def test_entry_decode_refuses_non_canonical_bytes(mutate, needle):
    raw = LogEntry.of("private", owner=OWNER, content_hash=b"\x01" * 32, metadata_cid="bafyz").encode()
    with pytest.raises(InvalidInputError, match=needle):
        LogEntry.decode(mutate(raw))


def test_entry_builder_names_the_bad_field():
    with pytest.raises(InvalidInputError, match="owner"):
        LogEntry.of("mint", owner="0x12", content_hash=b"\0" * 32)
    with pytest.raises(InvalidInputError, match="content_hash"):
        LogEntry.of("mint", owner=OWNER, content_hash="0xzz")
    with pytest.raises(InvalidInputError, match="kind"):
        LogEntry.of("burn", owner=OWNER, content_hash=b"\0" * 32)
    with pytest.raises(InvalidInputError, match="metadata_cid"):
        LogEntry.of("mint", owner=OWNER, content_hash=b"\0" * 32, metadata_cid="ไทย")
    with pytest.raises(InvalidInputError, match="token_id"):
        LogEntry.of("mint", owner=OWNER, content_hash=b"\0" * 32, token_id=-1)


# ---- tiles and proofs ----------------------------------------------------------------------

def test_spec_tile_layout_vector_on_disk(tmp_path):
    """70,000 entries: 273 full level-0 tiles + a partial of width 112, one full level-1 tile
    + a partial of width 17, a partial level-2 tile of width 1 (the tlog-tiles example)."""
    log = FileLog(tmp_path)
    log.integrate([entry(i) for i in range(70_000)])
    files = files_under(tmp_path / "tile")
    level = {lv: {f for f in files if f.startswith(f"{lv}/")} for lv in ("0", "1", "2", "3", "entries")}
    assert len([f for f in level["0"] if ".p/" not in f]) == 273
    assert [f for f in level["0"] if ".p/" in f] == ["0/273.p/112"]
    assert level["1"] == {"1/000", "1/001.p/17"}
    assert level["2"] == {"2/000.p/1"}
    assert level["3"] == set()
    assert len([f for f in level["entries"] if ".p/" not in f]) == 273 and "entries/273.p/112" in level["entries"]
    # tile bytes are the level hashes; the level-2 hash is the root of the first 65,536 entries
    assert (tmp_path / "tile/2/000.p/1").read_bytes() == log.tree.root(65_536)
    assert (tmp_path / "tile/0/x001/x234/067.p/1").exists() is False
    assert tlog.tile_path(0, 1234067, 112) == "tile/0/x001/x234/067.p/112"
    assert tlog.parse_tile_path("tile/entries/x001/000") == (None, 1000, 256)


def test_proofs_verify_and_tampering_fails(tmp_path):
    log = FileLog(tmp_path)
    log.integrate([entry(i) for i in range(1000)])
    cp1 = log.checkpoint
    log.integrate([entry(i) for i in range(1000, 1777)])
    cp2 = log.checkpoint
    for i in (0, 1, 255, 256, 999, 1776):
        proof = log.inclusion_proof(i)
        leaf = leaf_hash(entry(i))
        assert log.leaf_hash(i) == leaf
        assert verify_inclusion(leaf, i, cp2.size, proof, cp2.root)
        assert not verify_inclusion(leaf_hash(entry(i + 1)), i, cp2.size, proof, cp2.root)
        if i < cp1.size:
            assert verify_inclusion(leaf, i, cp1.size, log.inclusion_proof(i, cp1.size), cp1.root)
    c = log.consistency_proof(cp1.size)
    assert verify_consistency(cp1.size, cp2.size, cp1.root, cp2.root, c)
    assert not verify_consistency(cp1.size, cp2.size, cp2.root, cp2.root, c)
    assert log.entries(998, 1002) == [entry(i) for i in range(998, 1002)]
    with pytest.raises(InvalidInputError, match="not in the published log"):
        log.inclusion_proof(1777)


# ---- checkpoints and keys ------------------------------------------------------------------

def test_checkpoint_is_a_signed_note_go_can_read(tmp_path):
    log = FileLog(tmp_path, origin="example.test/log")
    log.integrate([entry(1)])
    note = (tmp_path / "checkpoint").read_text()
    lines = note.split("\n")
    assert lines[:3] == ["example.test/log", "1", lines[2]] and lines[3] == ""
    assert lines[4].startswith("\u2014 example.test/log ")
    vkey = log.key.verifier_key
    assert vkey.startswith(f"example.test/log+{log.key.key_id:08x}+")
    cp = open_checkpoint(note, vkey)
    assert (cp.size, cp.root) == (1, log.tree.root(1))
    with pytest.raises(InvalidInputError, match="does not verify"):
        open_checkpoint(note.replace("\n1\n", "\n2\n"), vkey)
    other = FileLog(tmp_path / "other", origin="example.test/log")
    with pytest.raises(InvalidInputError, match="no signature"):
        open_checkpoint(note, other.key.verifier_key)


def test_key_created_private_never_printed_and_fixed_to_origin(tmp_path):
    log = FileLog(tmp_path, origin="a.test/log")
    mode = stat.S_IMODE(os.stat(tmp_path / "log.key").st_mode)
    assert mode == 0o600
    skey = (tmp_path / "log.key").read_text().strip()
    assert skey.startswith("PRIVATE+KEY+a.test/log+")
    secret = skey.rsplit("+", 1)[1]
    assert secret not in repr(log.key) and secret not in str(log.key)
    with pytest.raises(TypeError):
        import pickle
        pickle.dumps(log.key)
    with pytest.raises(ConfigError, match="another process is writing"):
        FileLog(tmp_path)
    log.close()
    with pytest.raises(ConfigError, match="does not match"):
        FileLog(tmp_path, origin="b.test/log")
    # a configured key (env / keystore) is used instead of a file
    fresh = FileLog(tmp_path / "k", signer_key=skey)
    assert fresh.key.verifier_key == log.key.verifier_key and not (tmp_path / "k/log.key").exists()
    with pytest.raises(ConfigError, match="signer key"):
        FileLog(tmp_path / "bad", signer_key="PRIVATE+KEY+x+00000000+AAAA")


def test_restart_is_consistent_with_every_published_checkpoint(tmp_path):
    log = FileLog(tmp_path)
    seen = []
    for k in range(5):
        log.integrate([entry(i) for i in range(k * 300, k * 300 + 299)])
        seen.append(log.checkpoint)
    log.close()
    again = FileLog(tmp_path)
    assert again.checkpoint == seen[-1]
    again.integrate([entry(9999)])
    for cp in seen:
        assert verify_consistency(cp.size, again.size, cp.root, again.checkpoint.root,
                                  again.consistency_proof(cp.size))
    reader = FileLog(tmp_path, writer=False)
    assert reader.checkpoint == again.checkpoint
    again.integrate([entry(10000)])
    assert reader.refresh() == again.checkpoint


# ---- sequencing and receipts ---------------------------------------------------------------

def test_sequencer_integrates_within_the_interval_and_receipts_verify(tmp_path):
    rl = RegistrationLog(tmp_path, interval_s=0.1)
    try:
        t0 = time.monotonic()
        futs = [rl.append(LogEntry.of("private", owner=OWNER, content_hash=i.to_bytes(32, "big"))) for i in range(50)]
        idxs = [f.result(timeout=10) for f in futs]
        assert time.monotonic() - t0 < 5
        assert sorted(idxs) == list(range(50))
        r = rl.receipt_for((7).to_bytes(32, "big"))
        assert r is not None and r["entries"] == [r["index"]]
        cp = verify_receipt(r, rl.store.key.verifier_key)
        assert cp.size == 50
        assert LogEntry.decode(bytes.fromhex(r["entry"][2:])).content_hash == (7).to_bytes(32, "big")
        bad = json.loads(json.dumps(r))
        bad["proof"][0] = "0x" + "00" * 32
        with pytest.raises(InvalidInputError, match="inclusion proof"):
            verify_receipt(bad, rl.store.key.verifier_key)
        with pytest.raises(InvalidInputError, match="entry does not hash"):
            verify_receipt(r, rl.store.key.verifier_key, entry=b"other")
        bad = dict(r, index=r["index"] ^ 1)
        with pytest.raises(InvalidInputError):
            verify_receipt(bad, rl.store.key.verifier_key)
    finally:
        rl.close()


def test_failed_write_publishes_nothing_and_rolls_back(tmp_path):
    log = FileLog(tmp_path)
    log.integrate([entry(i) for i in range(10)])
    before = log.checkpoint
    seq = Sequencer(log, interval_s=1)
    f = seq.submit(b"x" * 70_000)  # over the entry-bundle limit: refused, nothing published
    seq.integrate_now()
    with pytest.raises(InvalidInputError, match="65535"):
        f.result()
    os.chmod(tmp_path / "tile/entries", 0o500)  # a write error mid-integration
    try:
        if os.geteuid() != 0:
            with pytest.raises(OSError):
                log.integrate([entry(i) for i in range(10, 300)])
            assert log.checkpoint == before and log.tree.size == 10
    finally:
        os.chmod(tmp_path / "tile/entries", 0o755)
    log.integrate([entry(10)])
    assert log.size == 11


# ---- crashes and corruption ----------------------------------------------------------------

CHILD = textwrap.dedent("""
    import json, os, sys
    from nftreg.log import FileLog, LogEntry
    d, step, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
    def entry(i):
        return LogEntry.of("private", owner="0x" + "ab" * 20, content_hash=i.to_bytes(32, "big"),
                           metadata_cid=f"bafy{i}", chain_id=31337, log_time_ms=1_700_000_000_000 + i).encode()
    log = FileLog(d)
    first, cp = log.integrate([entry(i) for i in range(start, start + 100)])
    print(json.dumps({"size": cp.size, "note": cp.note}), flush=True)   # a receipt was given
    os.environ["NFTREG_LOG_FAULT"] = step
    log.integrate([entry(i) for i in range(start + 100, start + 400)])
    print(json.dumps({"size": log.size, "note": log.checkpoint.note}), flush=True)
""")


@pytest.mark.parametrize("step", ["entries", "tiles", "signed", "published"])
def test_kill_9_at_each_integration_step(tmp_path, step):
    published = []
    start = 0
    runs = int(os.environ.get("NFTREG_LOG_FAULT_RUNS", "2"))  # RELIABILITY.md figures: 10
    for run in range(runs):
        proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), step, str(start)],
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == -9, proc.stderr
        published += [json.loads(line) for line in proc.stdout.splitlines()]
        log = FileLog(tmp_path)
        vkey = log.key.verifier_key
        size = log.size
        # the crashed batch is published only if its checkpoint was already signed
        want = start + (400 if step in ("signed", "published") else 100)
        assert size == want, (step, run, size)
        assert not (tmp_path / "checkpoint.staged").exists()
        for p in published:  # every checkpoint given out is consistent with the state now
            cp = open_checkpoint(p["note"], vkey)
            assert verify_consistency(cp.size, size, cp.root, log.checkpoint.root, log.consistency_proof(cp.size))
        # every entry ever given a receipt is there and proves
        for i in range(0, published[-1]["size"], 37):
            assert log.entry(i) == entry(i)
            assert verify_inclusion(leaf_hash(entry(i)), i, size, log.inclusion_proof(i), log.checkpoint.root)
        # nothing past the published size stays on disk
        for f in files_under(tmp_path / "tile"):
            lv, idx, w = tlog.parse_tile_path("tile/" + f)
            assert (idx * 256 + w) << (8 * (lv or 0)) <= size, f
        log.close()
        start = size
    print(f"\nFAULTS log kill-9 at {step}: runs={runs} receipts_lost=0 inconsistent_checkpoints=0 final_size={start}")


def test_corrupted_tile_is_detected_and_never_served(tmp_path):
    log = FileLog(tmp_path)
    log.integrate([entry(i) for i in range(600)])
    path = tmp_path / "tile/0/001"
    good = path.read_bytes()
    bad = bytearray(good)
    bad[40] ^= 0xFF
    path.write_bytes(bytes(bad))
    assert log.read_tile("tile/0/001") == good  # the tree's bytes, not the disk's
    assert log.corrupt_reads == 1 and path.read_bytes() == good  # repaired from the tree
    # a damaged entry bundle cannot be repaired: refused
    bpath = tmp_path / "tile/entries/000"
    b = bytearray(bpath.read_bytes())
    b[50] ^= 0x01
    bpath.write_bytes(bytes(b))
    with pytest.raises(LogCorruptedError, match="does not hash"):
        log.read_tile("tile/entries/000")
    with pytest.raises(LogCorruptedError):
        log.entry(3)
    log.close()
    # at start the entries must hash to the signed root: a damaged bundle stops the log
    with pytest.raises(LogCorruptedError, match="published root"):
        FileLog(tmp_path)
    bpath.write_bytes(bytes(b[:50]) + bytes([b[50] ^ 0x01]) + bytes(b[51:]))
    # a damaged upper tile is found and rewritten at start
    up = tmp_path / "tile/1/000.p/2"
    up.write_bytes(b"\0" * 64)
    again = FileLog(tmp_path)
    assert again.repaired_tiles == 1 and up.read_bytes() == again.tree.tile(1, 0, 2)
    with pytest.raises(FileNotFoundError):
        again.read_tile("tile/0/002")  # past the published size
    with pytest.raises(InvalidInputError, match="not canonical|3 digits"):
        again.read_tile("tile/0/2")


def test_cli_log_verify_checks_a_receipt_offline(tmp_path):
    rl = RegistrationLog(tmp_path / "log", start=False)
    for i in range(300):
        rl.sequencer.submit(entry(i))
    rl.sequencer.integrate_now()
    vkey = rl.store.key.verifier_key
    good = tmp_path / "r.json"
    good.write_text(json.dumps(rl.receipt(257)))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(rl.receipt(257), index=256)))
    rl.close()
    cmd = [sys.executable, "-m", "nftreg", "log", "verify", "--json", "--key", vkey]
    ok = subprocess.run([*cmd, str(good)], capture_output=True, text=True, timeout=120, check=False)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {"valid": True, "index": 257, "origin": "nftreg.localhost/log", "tree_size": 300}
    no = subprocess.run([*cmd, str(bad)], capture_output=True, text=True, timeout=120, check=False)
    assert no.returncode == 4 and "inclusion proof" in json.loads(no.stdout)["error"]
    other = FileLog(tmp_path / "other").key.verifier_key
    wrong = subprocess.run([sys.executable, "-m", "nftreg", "log", "verify", "--key", other, str(good)],
                           capture_output=True, text=True, timeout=120, check=False)
    assert wrong.returncode == 4 and "no signature" in wrong.stdout
