"""A real Dask cluster on loopback for tests and benchmarks: `dask scheduler` and `dask worker`
started as subprocesses (the same commands an operator runs), stopped on exit."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DASK = str(Path(sys.executable).with_name("dask"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, address: str, scheduler: subprocess.Popen[bytes], workers: list[subprocess.Popen[bytes]]):
        self.address = address
        self.scheduler = scheduler
        self.workers = workers

    def kill_worker(self, i: int) -> None:
        """kill -9: no goodbye to the scheduler, the in-flight task dies with the process."""
        os.kill(self.workers[i].pid, signal.SIGKILL)
        self.workers[i].wait(timeout=30)

    def worker_pids(self) -> list[int]:
        return [w.pid for w in self.workers]


def _wait_for_workers(address: str, n: int, timeout: float) -> None:
    from distributed import Client

    with Client(address, timeout="30s") as c:
        c.wait_for_workers(n, timeout=timeout)


@contextmanager
def dask_cluster(n_workers: int, *, nthreads: int = 1, rayon_threads: int = 1, log_dir: Path,
                 timeout: float = 120) -> Iterator[Cluster]:
    """A scheduler and ``n_workers`` worker processes (no nanny: a killed worker stays dead)."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "RAYON_NUM_THREADS": str(rayon_threads), "PYTHONUNBUFFERED": "1"}
    log_dir.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with open(log_dir / "scheduler.log", "ab") as log:
            sched = subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                      "--no-dashboard"],
                                     env=env, stdout=log, stderr=log)
        procs.append(sched)
        workers = []
        for i in range(n_workers):
            with open(log_dir / f"worker-{i}.log", "ab") as log:
                w = subprocess.Popen([DASK, "worker", address, "--nthreads", str(nthreads), "--no-nanny",
                                      "--memory-limit", "0", "--host", "127.0.0.1", "--name", f"w{i}",
                                      "--no-dashboard"],
                                     env=env, stdout=log, stderr=log)
            procs.append(w)
            workers.append(w)
        deadline = time.monotonic() + timeout
        while True:
            try:
                _wait_for_workers(address, n_workers, max(1.0, deadline - time.monotonic()))
                break
            except (OSError, TimeoutError):
                if time.monotonic() > deadline or sched.poll() is not None:
                    raise RuntimeError(f"dask cluster did not start; logs in {log_dir}") from None
                time.sleep(0.5)
        yield Cluster(address, sched, workers)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
