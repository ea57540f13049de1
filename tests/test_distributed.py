"""nftreg.distributed: byte ranges own every line once; a task's verdicts equal in-process
verify_many; a real Dask scheduler and two `dask worker` processes verify 20 files with planted
bad items, and the job completes with every item exactly once after kill -9 of a worker."""

from __future__ import annotations

import json
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("distributed", reason="the distributed extra is part of the test install")

from dask_cluster import dask_cluster
from nftreg import merkle
from nftreg.distributed import read_results, verify_proofs, verify_signatures
from nftreg.distributed.kernels import ProofJob, verify_proof_block, verify_signature_block
from nftreg.distributed.ranges import count_line_starts, plan_ranges, read_block
from nftreg.errors import ConfigError, InvalidInputError
from proof_files import ENCODING, pool, write_files


def _in_process(root: str, lines: list[bytes]) -> list[bool]:
    """The reference: parse each line in Python and call merkle.verify_many in one process
    (a line that is not a JSON object with value and proof is simply invalid)."""
    out = [False] * len(lines)
    vals, proofs, where = [], [], []
    for i, line in enumerate(lines):
        try:
            item = json.loads(line)
        except ValueError:
            continue
        vals.append(item["value"])
        proofs.append(item["proof"])
        where.append(i)
    for i, ok in zip(where, merkle.verify_many(root, ENCODING, vals, proofs)):
        out[i] = ok
    return out


@settings(max_examples=60, deadline=None)
@given(text=st.lists(st.sampled_from([b"a", b"bb", b"", b"\n", b"ccc\n", b"\n\n"]), max_size=40).map(b"".join),
       chunk=st.integers(1, 12))
def test_ranges_own_every_line_once(tmp_path_factory, text, chunk):
    path = tmp_path_factory.mktemp("r") / "f.jsonl"
    path.write_bytes(text)
    ranges = plan_ranges([str(path)], [len(text)], chunk)
    got: list[bytes] = []
    for r in ranges:
        block = read_block(r.url, r.start, r.end)
        lines = [] if block is None else block.split(b"\n")
        assert count_line_starts(r.url, r.start, r.end) == len(lines)
        got += lines
    expected = text.split(b"\n")
    if text.endswith(b"\n"):
        expected = expected[:-1]
    assert got == (expected if text else [])


def test_block_verdicts_equal_verify_many_and_name_the_reason():
    root, lines, good = pool(32)
    block_lines = lines * 3
    idx, valid, reasons = verify_proof_block(b"\n".join(block_lines), ProofJob(root, ENCODING))
    assert idx == list(range(len(block_lines)))
    assert valid == _in_process(root, block_lines) == good * 3
    why = {r for r in reasons if r}
    assert "proof does not lead to the root" in why
    assert any(r.startswith("malformed line") for r in why)
    assert any(r.startswith("bad value") and "0xnothex" in r for r in why)
    assert all(r is None for r, ok in zip(reasons, valid) if ok)


def test_block_slow_path_blank_lines_crlf_and_per_line_roots():
    root, lines, _ = pool(32)
    other_root, other_lines, _ = pool(8, seed=99)
    mixed = [lines[0], b"", other_lines[1], lines[2] + b"\r", b"   ", lines[-1]]
    # lines of the second tree carry their own root; the job's root applies to the rest
    mixed[2] = json.dumps({**json.loads(other_lines[1]), "root": other_root}).encode()
    idx, valid, reasons = verify_proof_block(b"\n".join(mixed), ProofJob(root, ENCODING))
    assert idx == [0, 2, 3, 5]
    assert valid == [True, True, True, False]
    assert reasons[3].startswith("malformed line")
    # no job root: a line without one is invalid and says why
    _, valid, reasons = verify_proof_block(lines[0], ProofJob(None, ENCODING))
    assert valid == [False] and "no root" in reasons[0]


def test_signature_block(tmp_path):
    from eth_account import Account
    from eth_account.messages import encode_defunct
    from nacl.signing import SigningKey

    acct = Account.from_key(b"\x11" * 32)
    sig = acct.sign_message(encode_defunct(text="สวัสดี nftreg")).signature.hex()
    sk = SigningKey(b"\x22" * 32)
    ed = sk.sign(b"hello").signature.hex()
    rows = [
        {"scheme": "eip191", "message": "สวัสดี nftreg", "signature": "0x" + sig, "address": acct.address},
        {"scheme": "eip191", "message": "other text", "signature": "0x" + sig, "address": acct.address},
        {"scheme": "ed25519", "message": "0x" + b"hello".hex(), "encoding": "hex", "signature": "0x" + ed,
         "public_key": "0x" + sk.verify_key.encode().hex()},
        {"scheme": "rsa"},
    ]
    block = b"\n".join(json.dumps(r, ensure_ascii=False).encode() for r in rows) + b"\nnot json"
    _, valid, reasons = verify_signature_block(block)
    assert valid == [True, False, True, False, False]
    assert reasons[1] == "signature does not verify"
    assert "scheme must be one of" in reasons[3] and reasons[4].startswith("malformed line")


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(InvalidInputError, match="root"):
        verify_proofs([tmp_path / "x"], tmp_path / "o", root="0x12", cluster="local")
    with pytest.raises(InvalidInputError, match="tcp://"):
        verify_proofs([tmp_path / "x"], tmp_path / "o", cluster="nowhere")
    with pytest.raises(ConfigError, match="Dask scheduler"):
        verify_signatures([tmp_path / "x"], tmp_path / "o", cluster="tcp://127.0.0.1:9")


N_FILES = 20
LINES_PER_FILE = 500_000  # 10^7 items in all, as issue 17 asks (~4 GB of input under tmp_path)


@pytest.mark.slow
def test_real_cluster_survives_kill_9_and_verifies_every_item_once(tmp_path):
    root, paths, picks, pool_lines, _ = write_files(tmp_path / "in", N_FILES, LINES_PER_FILE, leaves=32)
    pool_verdicts = _in_process(root, pool_lines)  # verify_many in this process, per distinct line
    out = tmp_path / "out"
    with dask_cluster(2, log_dir=tmp_path / "logs") as cluster:
        from distributed import Client

        result: dict[str, object] = {}

        def job() -> None:
            with Client(cluster.address) as client:
                try:
                    result["summary"] = verify_proofs(paths, out, root=root, leaf_encoding=ENCODING,
                                                      cluster=client, items_per_task=100_000)
                except BaseException as e:  # noqa: BLE001 - reported below
                    result["error"] = e

        t = threading.Thread(target=job)
        t.start()
        deadline = time.monotonic() + 300
        while not list((out / "parts").glob("*.parquet")) and t.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        parts_at_kill = len(list((out / "parts").glob("*.parquet")))
        assert t.is_alive() and parts_at_kill < N_FILES, "the job ended before a worker could be killed"
        cluster.kill_worker(1)
        t.join(timeout=2400)  # one worker finishes the job alone: minutes on a loaded machine
        assert not t.is_alive()
        assert "error" not in result, result.get("error")
        with Client(cluster.address) as c:
            assert len(c.scheduler_info()["workers"]) == 1  # the killed worker is gone for good

    summary = result["summary"]
    total = N_FILES * LINES_PER_FILE
    table = read_results(out)  # sorted by (file, line)
    assert table.num_rows == total == summary.items
    # every item exactly once: file f's rows are LINES_PER_FILE distinct consecutive line
    # numbers of that file (Arrow compute over the columns: Python lists of 10^7 items would
    # cost gigabytes)
    import pyarrow as pa
    import pyarrow.compute as pc

    for f, path in enumerate(paths):
        part = table.slice(f * LINES_PER_FILE, LINES_PER_FILE)
        assert pc.count_distinct(part.column("file")).as_py() == 1
        assert str(part.column("file")[0].as_py()).endswith(path.name)
        lines = part.column("line")
        bounds = pc.min_max(lines).as_py()
        assert pc.count_distinct(lines).as_py() == LINES_PER_FILE == bounds["max"] - bounds["min"] + 1
    expected = pa.array(pool_verdicts).take(pa.array([i for ids in picks for i in ids]))
    assert pc.all(pc.equal(table.column("valid"), expected)).as_py()
    assert summary.invalid == pc.sum(pc.invert(expected)).as_py() > N_FILES * 5
    assert json.loads((out / "summary.json").read_text())["items"] == total
    assert not list((out / "parts").glob(".*.tmp"))


def test_embedded_local_cluster_mixes_jsonl_and_parquet_inputs(tmp_path):
    """cluster="local" (a LocalCluster sized to the machine) over a JSON-lines file and two
    Parquet files (JSON-text columns; list columns), row groups as tasks."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root, paths, picks, pool_lines, _ = write_files(tmp_path / "in", 1, 3000, leaves=32, bad_every=100)
    verdicts = _in_process(root, pool_lines)
    parsed = [json.loads(line) if verdicts[i] or line.startswith(b'{"value":[') else None
              for i, line in enumerate(pool_lines)]
    rows = [parsed[i] for i in picks[0]]
    text_path = tmp_path / "in" / "text.parquet"
    pq.write_table(pa.table({
        "value": [None if r is None else json.dumps(r["value"]) for r in rows],
        "proof": [None if r is None else json.dumps(r["proof"]) for r in rows]}), text_path, row_group_size=700)
    list_path = tmp_path / "in" / "lists.parquet"
    pq.write_table(pa.table({
        "value": pa.array([None if r is None else [str(x) for x in r["value"]] for r in rows], pa.list_(pa.string())),
        "proof": pa.array([None if r is None else r["proof"] for r in rows], pa.list_(pa.string()))}),
        list_path, row_group_size=1000)
    summary = verify_proofs([paths[0], text_path, list_path], tmp_path / "out", root=root, leaf_encoding=ENCODING,
                            cluster="local", items_per_task=1000)
    table = read_results(tmp_path / "out")
    expected = [verdicts[i] for i in picks[0]]
    by_file: dict[str, list[tuple[int, bool]]] = {}
    for f, line, ok in zip(table.column("file").to_pylist(), table.column("line").to_pylist(),
                           table.column("valid").to_pylist()):
        by_file.setdefault(f, []).append((line, ok))
    for p in (paths[0], text_path, list_path):
        got = sorted(by_file[str(p)])
        assert [line for line, _ in got] == list(range(1, 3001))
        assert [ok for _, ok in got] == expected, p
    assert summary.items == 9000 and summary.tasks >= 3 + 3 + 3  # ~1000 rows or lines a task


def test_cli_verify_proofs_on_a_cluster(tmp_path):
    """`nftreg verify proofs --cluster local --out DIR FILES…` prints the summary, exits 4 when
    an item is invalid, and writes the same verdicts as in-process verify_many."""
    import subprocess
    import sys

    root, paths, picks, pool_lines, _ = write_files(tmp_path / "in", 2, 2000, leaves=32, bad_every=500)
    verdicts = _in_process(root, pool_lines)
    cmd = [sys.executable, "-m", "nftreg", "verify", "proofs"]
    r = subprocess.run([*cmd, "--cluster", "local", "--out", str(tmp_path / "out"), "--root", root,
                        "--encoding", ",".join(ENCODING), "--items-per-task", "500", *map(str, paths)],
                       capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 4, r.stderr[-2000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["items"] == 4000 and summary["tasks"] >= 8
    table = read_results(tmp_path / "out")
    assert table.column("valid").to_pylist() == [verdicts[i] for ids in picks for i in ids]
    r = subprocess.run([*cmd, "--cluster", "local", str(paths[0])], capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.returncode == 1 and "--out" in r.stderr
    r = subprocess.run([*cmd, str(paths[0]), str(paths[1])], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 1 and "--cluster" in r.stderr


def test_signatures_on_the_embedded_cluster(tmp_path):
    """verify_signatures over two files on cluster="local": the verdicts equal the scheme
    registry's in one process (which the service and `nftreg verify signatures` use)."""
    from eth_account import Account
    from eth_account.messages import encode_defunct
    from nacl.signing import SigningKey
    from nftreg.signatures.schemes import verify_items

    acct = Account.from_key(b"\x33" * 32)
    sk = SigningKey(b"\x44" * 32)
    pk = "0x" + sk.verify_key.encode().hex()
    rows = []
    for i in range(300):
        text = f"ลายเซ็น {i}"
        if i % 3 == 0:
            sig = "0x" + sk.sign(text.encode()).signature.hex()
            rows.append({"scheme": "ed25519", "message": text, "signature": sig, "public_key": pk})
        else:
            sig = "0x" + acct.sign_message(encode_defunct(text=text)).signature.hex()
            rows.append({"scheme": "eip191", "message": text, "signature": sig, "address": acct.address})
        if i % 37 == 0:
            rows[-1]["message"] += "!"  # planted: signed text differs
    files = []
    for f in range(2):
        p = tmp_path / f"sigs-{f}.jsonl"
        p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
        files.append(p)
    summary = verify_signatures(files, tmp_path / "out", cluster="local", items_per_task=100)
    table = read_results(tmp_path / "out")
    expected = [ok for ok, _ in verify_items(rows)] * 2
    assert table.column("valid").to_pylist() == expected
    assert summary.invalid == expected.count(False) == 2 * 9
    reasons = {r for r, ok in zip(table.column("reason").to_pylist(), expected) if not ok}
    assert reasons == {"signature does not verify"}
