"""Parquet inputs: a task owns a run of whole row groups and turns its rows into the same
JSON lines the kernels read, in Arrow (no Python object per row for JSON-text columns).

Proof files: columns ``value`` and ``proof``, each either JSON text (``'["0x…", "5"]'``) or an
Arrow list of strings; optional ``root`` / ``leaf_encoding`` columns as JSON-text or strings are
not read — give them for the job. Signature files: one column per field of a signature line
(``scheme``, ``message``, ``signature``, ``address`` / ``public_key`` / ``typed_data``, …).
The line number of a row is its 1-based row index in the file."""

from __future__ import annotations

import json
from typing import Any

import fsspec

from nftreg.distributed.ranges import ByteRange

__all__ = ["is_parquet", "plan_row_groups", "read_rows_as_lines"]


def is_parquet(url: str) -> bool:
    return url.lower().rsplit("?", 1)[0].endswith((".parquet", ".pq"))


def _file(url: str) -> Any:
    import pyarrow.parquet as pq

    return pq.ParquetFile(fsspec.open(url, "rb").open())


def plan_row_groups(file_index: int, url: str, items_per_task: int) -> tuple[list[ByteRange], list[int]]:
    """Ranges of whole row groups holding about ``items_per_task`` rows (``start``/``end`` are
    row-group indices), and the 1-based number of each range's first row."""
    meta = _file(url).metadata
    ranges: list[ByteRange] = []
    first: list[int] = []
    start, rows, row0 = 0, 0, 0
    for g in range(meta.num_row_groups):
        rows += meta.row_group(g).num_rows
        if rows >= items_per_task or g == meta.num_row_groups - 1:
            ranges.append(ByteRange(file_index, url, start, g + 1, len(ranges)))
            first.append(row0 + 1)
            row0 += rows
            start, rows = g + 1, 0
    return ranges, first


def _json_text(col: Any) -> Any:
    """A column as JSON text: string columns are taken as already JSON, lists are encoded."""
    import pyarrow as pa

    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return col.cast(pa.string())
    return pa.array([None if v is None else json.dumps(v) for v in col.to_pylist()], pa.string())


def read_rows_as_lines(url: str, start: int, end: int, kind: str) -> bytes | None:
    """The rows of row groups ``[start, end)`` as JSON lines joined by ``\\n``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    f = _file(url)
    if kind == "proofs":
        table = f.read_row_groups(list(range(start, end)), columns=["value", "proof"])
        if table.num_rows == 0:
            return None
        value = _json_text(table.column("value").combine_chunks())
        proof = _json_text(table.column("proof").combine_chunks())
        lines = pc.binary_join_element_wise('{"value":', value, ',"proof":', proof, "}", "",
                                            null_handling="replace", null_replacement="null")
    else:
        table = f.read_row_groups(list(range(start, end)))
        if table.num_rows == 0:
            return None
        rows = table.to_pylist()
        lines = pa.array([json.dumps({k: v for k, v in r.items() if v is not None}, ensure_ascii=False)
                          for r in rows], pa.string())
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()), lines), "\n")
    return joined[0].as_buffer().to_pybytes()
