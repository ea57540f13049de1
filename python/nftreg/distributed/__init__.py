"""Verification past one machine, on Dask (``dask.distributed``).

``verify_proofs(inputs, out, root=..., leaf_encoding=..., cluster=...)`` and
``verify_signatures(inputs, out, cluster=...)`` verify many JSON-lines or Parquet files (local
paths or fsspec URLs every worker can read; Parquet: see ``nftreg.distributed.parquet``). Each task owns a byte range of one file holding about
``items_per_task`` (default 10^5) lines, reads it itself, verifies it with the Rust kernel (GIL
released) and writes ``out/parts/*.parquet`` with one row per item: ``file``, ``line`` (1-based,
as ``nftreg verify`` numbers them; blank lines are not items), ``valid``, ``reason`` (why an
invalid item failed). ``out/summary.json`` totals them. Only paths, offsets and counts cross
process boundaries; no pyo3 object does.

``cluster``: ``"local"`` (default) starts a ``LocalCluster`` sized to the machine — one
single-threaded worker process per core, each kernel on one thread; ``"tcp://host:8786"``
connects to a running scheduler; or pass a ``distributed.Client``.

Needs the ``distributed`` extra (``pip install nftreg[distributed]``: dask, distributed, pyarrow).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

from nftreg.distributed.job import ITEMS_PER_TASK, SUMMARY_FORMAT, Summary, run_job
from nftreg.errors import ConfigError, InvalidInputError

__all__ = [
    "ITEMS_PER_TASK",
    "SUMMARY_FORMAT",
    "Summary",
    "connect",
    "read_results",
    "verify_proofs",
    "verify_signatures",
]

PathLike = str | os.PathLike[str]


def _import_distributed() -> Any:
    try:
        import distributed
        import pyarrow  # noqa: F401
    except ImportError as e:
        raise ConfigError(
            f"distributed verification needs dask.distributed and pyarrow ({e.name} is missing): "
            "pip install 'nftreg[distributed]'"
        ) from None
    return distributed


@contextlib.contextmanager
def connect(cluster: Any = "local", *, n_workers: int | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` for ``cluster`` (see the module doc); a local cluster it
    started is closed on exit."""
    distributed = _import_distributed()
    if isinstance(cluster, distributed.Client):
        yield cluster
        return
    if not isinstance(cluster, str) or not cluster:
        raise InvalidInputError(f"cluster must be 'local', a scheduler address or a Client, got {cluster!r}")
    if cluster == "local":
        n = n_workers or os.cpu_count() or 1
        # one kernel thread per worker process: the workers are the parallelism
        with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                      dashboard_address=":0", env={"RAYON_NUM_THREADS": "1"}) as lc, \
                distributed.Client(lc) as client:
            yield client
        return
    if "://" not in cluster:
        raise InvalidInputError(f"cluster address must look like tcp://HOST:PORT, got {cluster!r}")
    try:
        client = distributed.Client(cluster, timeout="20s")
    except OSError as e:
        raise ConfigError(f"cannot reach the Dask scheduler at {cluster}: {e}") from None
    with client:
        yield client


def verify_proofs(
    inputs: Sequence[PathLike],
    out: PathLike,
    *,
    root: str | None = None,
    leaf_encoding: Sequence[str] | None = None,
    cluster: Any = "local",
    items_per_task: int = ITEMS_PER_TASK,
) -> Summary:
    """Verify the inclusion proofs in ``inputs`` (lines ``{"value", "proof"}``, optionally with
    their own ``root`` / ``leaf_encoding``, which otherwise come from the arguments)."""
    if root is not None and (not isinstance(root, str) or not root.startswith("0x") or len(root) != 66):
        raise InvalidInputError(f"root must be 0x + 64 hex digits, got {root!r}")
    job = {"root": root, "leaf_encoding": list(leaf_encoding) if leaf_encoding else None}
    with connect(cluster) as client:
        return run_job(client, "proofs", list(inputs), out, job=job, items_per_task=items_per_task)


def verify_signatures(
    inputs: Sequence[PathLike],
    out: PathLike,
    *,
    cluster: Any = "local",
    items_per_task: int = ITEMS_PER_TASK,
) -> Summary:
    """Verify the signatures in ``inputs`` (the lines of ``nftreg verify signatures``)."""
    with connect(cluster) as client:
        return run_job(client, "signatures", list(inputs), out, job={}, items_per_task=items_per_task)


def read_results(out: PathLike) -> Any:
    """All parts of a finished job as one ``pyarrow.Table`` ordered by (file, line)."""
    _import_distributed()
    import fsspec
    import pyarrow as pa
    import pyarrow.parquet as pq

    from nftreg.distributed.ranges import normalise_url

    fs, root = fsspec.core.url_to_fs(normalise_url(out))
    parts = sorted(fs.glob(f"{root}/parts/*.parquet"))
    tables = []
    for p in parts:
        with fs.open(p, "rb") as f:
            t = pq.read_table(f)
        tables.append(t.set_column(0, "file", t.column("file").cast(pa.string())))
    if not tables:
        return pa.table({"file": pa.array([], pa.string()), "line": pa.array([], pa.int64()),
                         "valid": pa.array([], pa.bool_()), "reason": pa.array([], pa.string())})
    return pa.concat_tables(tables).sort_by([("file", "ascending"), ("line", "ascending")])
