"""Start the real app on a loopback port: under uvicorn in a background thread (LiveServer), or
as `nftreg serve` in a process of its own (serve_process)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from nftreg.api import create_app
from nftreg.settings import Settings
from typing_extensions import Self


class LiveServer:
    def __init__(self, settings: Settings):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.app = create_app(settings)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    limit_concurrency=1000, backlog=2048))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + 120
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.05)
        return self

    @property
    def service(self):
        return self.app.state.service

    def client(self, **kw) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=120, **kw)

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_process(data_dir: str | os.PathLike[str], *, args: Sequence[str] = (), env: dict[str, str] | None = None,
                  cmd: Sequence[str] | None = None, timeout: float = 180, cwd: str | os.PathLike[str] | None = None,
                  inherit_env: bool = True) -> Iterator[tuple[str, subprocess.Popen]]:
    """`nftreg serve --data-dir D --port P [args]` in its own process (output in
    D/server.log); yields (base URL, process) once /readyz answers 200, stops it on exit.
    ``env`` is added to this process's environment, or is the whole of it without ``inherit_env``."""
    data = Path(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [*(cmd or [sys.executable, "-m", "nftreg", "serve"]), "--data-dir", str(data), "--port", str(port), *args]
    with (data / "server.log").open("wb") as log:
        proc = subprocess.Popen(command, env={**(os.environ if inherit_env else {}), **(env or {})}, cwd=cwd,
                                stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    if httpx.get(url + "/readyz", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("nftreg serve did not become ready: " + (data / "server.log").read_text())
                time.sleep(0.2)
            yield url, proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
