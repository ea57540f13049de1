"""Distributed verification benchmark: the same JSON-lines proof files verified by a real Dask
cluster of 2 single-threaded workers, by 1 such worker, and in this process by the Rust kernel
on all cores (2 rayon threads) — side by side in one run, results compared item by item.

Run: `.venv/bin/python bench/bench_distributed.py [--files 8 --lines 100000 --leaves 4096]`.
Prints items/s per setup with ratios, per-task cost, the scheduler's per-task overhead (a map
of empty tasks), each worker's peak RSS, and the throughput expected at 8/64/512 workers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from dask_cluster import dask_cluster
from nftreg import merkle
from nftreg.distributed import read_results, verify_proofs
from nftreg.distributed.kernels import ProofJob, verify_proof_block
from proof_files import ENCODING, write_files


class PeakRss:
    """Peak resident memory of some processes, sampled every 20 ms."""

    def __init__(self, pids: list[int]):
        self.procs = [psutil.Process(p) for p in pids]
        self.peak = [0] * len(pids)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for i, p in enumerate(self.procs):
                try:
                    self.peak[i] = max(self.peak[i], p.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:  # noqa: PYI034
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def in_process_json(root: str, paths: list[Path]) -> tuple[float, list[bool]]:
    """The Rust kernel in this process over each whole file (verify_many_json, 2 threads)."""
    t0 = time.perf_counter()
    out: list[bool] = []
    for p in paths:
        out += verify_proof_block(p.read_bytes().rstrip(b"\n"), ProofJob(root, ENCODING))[1]
    return time.perf_counter() - t0, out


def in_process_verify_many(root: str, paths: list[Path]) -> tuple[float, list[bool]]:
    """merkle.verify_many on Python values: json.loads per line, then one call per file."""
    t0 = time.perf_counter()
    out: list[bool] = []
    for p in paths:
        vals, proofs, where, n = [], [], [], 0
        with p.open("rb") as f:
            for i, line in enumerate(f):
                n += 1
                try:
                    item = json.loads(line)
                except ValueError:
                    continue
                vals.append(item["value"])
                proofs.append(item["proof"])
                where.append(i)
        res = [False] * n
        for i, ok in zip(where, merkle.verify_many(root, ENCODING, vals, proofs)):
            res[i] = ok
        out += res
    return time.perf_counter() - t0, out


def scheduler_overhead(address: str, n: int = 2000) -> float:
    """Seconds of scheduler + transport per task, from a map of no-op tasks."""
    from distributed import Client

    with Client(address) as c:
        c.gather(c.map(int, range(50), pure=False))  # warm up
        t0 = time.perf_counter()
        c.gather(c.map(int, range(n), pure=False))
        return (time.perf_counter() - t0) / n


def cluster_run(n_workers: int, root: str, paths: list[Path], out: Path, items_per_task: int,
                logs: Path) -> dict[str, object]:
    from distributed import Client

    with dask_cluster(n_workers, log_dir=logs) as cluster, Client(cluster.address) as client:
        with PeakRss(cluster.worker_pids()) as rss:
            idle = list(rss.peak)
            time.sleep(0.1)
            idle = [psutil.Process(p).memory_info().rss for p in cluster.worker_pids()]
            t0 = time.perf_counter()
            summary = verify_proofs(paths, out, root=root, leaf_encoding=ENCODING, cluster=client,
                                    items_per_task=items_per_task)
            wall = time.perf_counter() - t0
        overhead = scheduler_overhead(cluster.address)
    body = json.loads((out / "summary.json").read_text())
    return {"wall": wall, "summary": summary, "peak_rss": rss.peak, "idle_rss": idle,
            "task_sum": body["task_seconds"]["sum"], "overhead": overhead}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--lines", type=int, default=100_000, help="lines per file")
    ap.add_argument("--leaves", type=int, default=4096, help="tree size (proof depth = log2)")
    ap.add_argument("--items-per-task", type=int, default=100_000)
    ap.add_argument("--skip-verify-many", action="store_true")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_distributed_"))
    root, paths, picks, _, good = write_files(tmp / "in", args.files, args.lines, leaves=args.leaves)
    total = args.files * args.lines
    size = sum(p.stat().st_size for p in paths)
    print(f"{args.files} files x {args.lines:,} lines = {total:,} proofs of depth "
          f"{args.leaves.bit_length() - 1}, {size / 2**20:,.0f} MiB, {os.cpu_count()} cores")
    expected = [good[i] for ids in picks for i in ids]

    t_json, got = in_process_json(root, paths)
    assert got == expected
    rows = [("in-process verify_many_json (Rust parses, 2 threads)", t_json, None)]
    if not args.skip_verify_many:
        t_vm, got = in_process_verify_many(root, paths)
        assert got == expected
        rows.append(("in-process json.loads + verify_many (2 threads)", t_vm, None))
    runs = {}
    for n in (1, 2):
        r = cluster_run(n, root, paths, tmp / f"out{n}", args.items_per_task, tmp / f"logs{n}")
        table = read_results(tmp / f"out{n}")
        assert table.num_rows == total and table.column("valid").to_pylist() == expected
        runs[n] = r
        rows.append((f"Dask, {n} single-threaded worker{'s' if n > 1 else ''}", r["wall"], r))

    print("\n| setup | seconds | proofs/s | vs 1 worker | vs in-process verify_many_json |")
    print("|---|---|---|---|---|")
    for name, secs, _ in rows:
        print(f"| {name} | {secs:.2f} | {total / secs:,.0f} | {runs[1]['wall'] / secs:.2f}x | {t_json / secs:.0%} |")

    r2 = runs[2]
    s2 = r2["summary"]
    per_task = r2["task_sum"] / s2.tasks
    items_per_task = total / s2.tasks
    per_item = r2["task_sum"] / total
    overhead = statistics.mean([runs[1]["overhead"], runs[2]["overhead"]])
    print(f"\ntasks: {s2.tasks} of ~{items_per_task:,.0f} items; task cost {per_task:.3f} s "
          f"({1 / per_item:,.0f} proofs/s per single-threaded worker, read + verify + Parquet)")
    print(f"scheduler overhead per task (no-op map): {overhead * 1e3:.2f} ms")
    for n in (1, 2):
        r = runs[n]
        print(f"worker peak RSS, {n} worker(s): " + ", ".join(
            f"{p / 2**20:,.0f} MiB (idle {i / 2**20:,.0f} MiB)" for p, i in zip(r["peak_rss"], r["idle_rss"])))
    fixed = r2["wall"] - per_task * s2.tasks / 2
    print(f"job fixed cost (plan, count round, summary) with 2 workers: {fixed:.2f} s")
    bytes_per_item = size / total
    print("\nexpected throughput (same task size, storage and network not limiting):")
    print("| workers | compute bound proofs/s | scheduler bound proofs/s (1 task / overhead) | input read |")
    for w in (8, 64, 512):
        compute = w / per_item
        sched = items_per_task / overhead
        print(f"| {w} | {compute:,.0f} | {sched:,.0f} | {compute * bytes_per_item / 2**30:,.1f} GiB/s |")


if __name__ == "__main__":
    main()
