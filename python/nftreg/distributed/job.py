"""Plan a verification job over many files, run it on a Dask cluster, and write the results.

Two rounds of tasks, both reading their own byte ranges straight from the files (the client
sends paths and offsets only; proofs never pass through the scheduler):

1. ``count`` — how many lines start in each range (a newline count), so that every range
   knows the line number it starts at;
2. ``verify`` — read the range, verify its lines with the Rust kernel (GIL released), write
   ``parts/f{file}-c{chunk}.parquet`` (file, line, valid, reason) atomically, return counts.

A part's name is fixed by its range, and it is written to a temporary name then renamed, so a
task that runs twice (its worker died, the scheduler ran it again elsewhere) leaves one part
with identical content: each item is in the output exactly once. ``summary.json`` is written
last by the client from the tasks' counts and the parts actually on disk.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import fsspec

from nftreg.distributed.kernels import (
    ProofJob,
    Verdicts,
    verify_proof_block,
    verify_signature_block,
)
from nftreg.distributed.parquet import is_parquet, plan_row_groups, read_rows_as_lines
from nftreg.distributed.ranges import (
    ByteRange,
    count_line_starts,
    normalise_url,
    plan_ranges,
    read_block,
)
from nftreg.errors import InvalidInputError

__all__ = ["ITEMS_PER_TASK", "SUMMARY_FORMAT", "Summary", "part_name", "run_job"]

SUMMARY_FORMAT = "nftreg-verify-summary-v1"
ITEMS_PER_TASK = 100_000
_SAMPLE_BYTES = 1 << 20


@dataclass
class Summary:
    """What ``summary.json`` holds."""

    kind: str
    out: str
    items: int
    valid: int
    invalid: int
    tasks: int
    seconds: float
    workers: int
    files: list[dict[str, Any]] = field(default_factory=list)
    format: str = SUMMARY_FORMAT


def part_name(r: ByteRange) -> str:
    return f"f{r.file_index:05d}-c{r.chunk_index:05d}.parquet"


def _write_part(out: str, name: str, url: str, lines: list[int], verdicts: Verdicts) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    idx, valid, reasons = verdicts
    table = pa.table({
        "file": pa.DictionaryArray.from_arrays(pa.array([0] * len(idx), pa.int32()), pa.array([url])),
        "line": pa.array(lines, pa.int64()),
        "valid": pa.array(valid, pa.bool_()),
        "reason": pa.array(reasons, pa.string()),
    })
    fs, root = fsspec.core.url_to_fs(out)
    final = f"{root}/parts/{name}"
    tmp = f"{root}/parts/.{name}.{uuid.uuid4().hex}.tmp"
    with fs.open(tmp, "wb") as f:
        pq.write_table(table, f, compression="zstd")
    fs.mv(tmp, final)


def _count_task(r: ByteRange) -> int:
    return count_line_starts(r.url, r.start, r.end)


def _verify_task(r: ByteRange, first_line: int, kind: str, job: dict[str, Any], out: str) -> dict[str, Any]:
    """One task: read the range, verify, write its part. Returns plain numbers only."""
    t0 = time.perf_counter()
    block = read_rows_as_lines(r.url, r.start, r.end, kind) if is_parquet(r.url) else read_block(r.url, r.start, r.end)
    if kind == "proofs":
        verdicts = verify_proof_block(block, ProofJob(job.get("root"), job.get("leaf_encoding")))
    else:
        verdicts = verify_signature_block(block)
    del block
    t1 = time.perf_counter()
    numbers = [first_line + i for i in verdicts[0]]
    _write_part(out, part_name(r), r.url, numbers, verdicts)
    n_ok = sum(verdicts[1])
    return {"file_index": r.file_index, "chunk_index": r.chunk_index, "items": len(numbers),
            "valid": n_ok, "invalid": len(numbers) - n_ok, "verify_seconds": t1 - t0,
            "seconds": time.perf_counter() - t0, "pid": os.getpid()}


def _chunk_bytes(urls: Sequence[str], sizes: Sequence[int], items_per_task: int) -> int:
    """Bytes per range for about ``items_per_task`` lines, from the mean line length of the
    first MiB of the first non-empty file."""
    for url, size in zip(urls, sizes):
        if size:
            with fsspec.open(url, "rb") as f:
                sample = f.read(_SAMPLE_BYTES)
            per_line = len(sample) / max(1, sample.count(b"\n"))
            return max(1, int(per_line * items_per_task))
    return 1


def run_job(
    client: Any,
    kind: str,
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    job: dict[str, Any],
    items_per_task: int = ITEMS_PER_TASK,
) -> Summary:
    """Run a ``proofs`` or ``signatures`` job on ``client`` (a ``distributed.Client``)."""
    from distributed import as_completed

    if kind not in ("proofs", "signatures"):
        raise InvalidInputError(f"kind must be 'proofs' or 'signatures', got {kind!r}")
    if not inputs:
        raise InvalidInputError("no input files")
    if items_per_task < 1:
        raise InvalidInputError(f"items_per_task must be >= 1, got {items_per_task}")
    t0 = time.perf_counter()
    urls = [normalise_url(p) for p in inputs]
    sizes = []
    for u in urls:
        fs, path = fsspec.core.url_to_fs(u)
        if not fs.isfile(path):
            raise InvalidInputError(f"input {u}: not a readable file")
        sizes.append(int(fs.size(path)))
    out_url = normalise_url(out)
    ofs, oroot = fsspec.core.url_to_fs(out_url)
    ofs.makedirs(f"{oroot}/parts", exist_ok=True)
    for stale in ofs.glob(f"{oroot}/parts/*.parquet") + ofs.glob(f"{oroot}/parts/.*.tmp"):
        ofs.rm(stale)
    # JSON lines: byte ranges, numbered by a round of newline counts; Parquet: row groups
    text = [i for i, u in enumerate(urls) if not is_parquet(u)]
    ranges = plan_ranges([urls[i] for i in text], [sizes[i] for i in text],
                         _chunk_bytes([urls[i] for i in text], [sizes[i] for i in text], items_per_task))
    ranges = [ByteRange(text[r.file_index], r.url, r.start, r.end, r.chunk_index) for r in ranges]
    counts = client.gather(client.map(_count_task, ranges, pure=False))
    first: list[int] = []
    running: dict[int, int] = {}
    for r, c in zip(ranges, counts):
        first.append(running.get(r.file_index, 0) + 1)
        running[r.file_index] = running.get(r.file_index, 0) + c
    for i, u in enumerate(urls):
        if is_parquet(u):
            pr, pf = plan_row_groups(i, u, items_per_task)
            ranges += pr
            first += pf

    futures = client.map(_verify_task, ranges, first, kind=kind, job=job, out=out_url, pure=False,
                         key=[f"nftreg-verify-{uuid.uuid4().hex[:8]}-{part_name(r)}" for r in ranges])
    results: list[dict[str, Any]] = []
    for fut in as_completed(futures):
        results.append(fut.result())
        fut.release()
    results.sort(key=lambda x: (x["file_index"], x["chunk_index"]))

    written = {p.rsplit("/", 1)[-1] for p in ofs.glob(f"{oroot}/parts/*.parquet")}
    missing = [part_name(r) for r in ranges if part_name(r) not in written]
    if missing:
        raise RuntimeError(f"parts missing after the job: {missing[:5]}")
    for leftover in ofs.glob(f"{oroot}/parts/.*.tmp"):  # a worker killed while writing
        ofs.rm(leftover)

    per_file: list[dict[str, Any]] = [{"file": u, "bytes": s, "items": 0, "valid": 0, "invalid": 0}
                                      for u, s in zip(urls, sizes)]
    for res in results:
        pf = per_file[res["file_index"]]
        for k in ("items", "valid", "invalid"):
            pf[k] += res[k]
    summary = Summary(
        kind=kind, out=out_url,
        items=sum(int(p["items"]) for p in per_file), valid=sum(int(p["valid"]) for p in per_file),
        invalid=sum(int(p["invalid"]) for p in per_file), tasks=len(ranges),
        seconds=round(time.perf_counter() - t0, 3),
        workers=len(client.scheduler_info().get("workers", {})), files=per_file,
    )
    body = asdict(summary)
    body["job"] = {k: v for k, v in job.items() if v is not None}
    body["task_seconds"] = {"sum": round(sum(r["seconds"] for r in results), 3),
                            "max": round(max((r["seconds"] for r in results), default=0.0), 3)}
    with ofs.open(f"{oroot}/summary.json", "w") as f:
        json.dump(body, f, indent=1)
    return summary
