"""`nftreg serve` in its own process behind a CutProxy (tests/http_cut_proxy.py), restartable:
the client and CLI tests talk to the registry through it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from api_server import free_port
from http_cut_proxy import CutProxy
from typing_extensions import Self

ADMIN = "client-admin-key-0123456789"


class Server:
    """`nftreg serve` in its own process behind a CutProxy; restartable (on a new port: the
    proxy's address, which the client uses, stays the same)."""

    def __init__(self, data_dir: Path, **env: str):
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "NFTREG_ENV": "test", "NFTREG_ADMIN_API_KEY": ADMIN, **env}
        self.proc: subprocess.Popen[bytes] | None = None
        self.proxy = CutProxy(0)
        self.url = self.proxy.url

    def start(self) -> None:
        port = free_port()
        with open(self.data_dir / "server.log", "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "nftreg", "serve", "--data-dir", str(self.data_dir),
                                          "--port", str(port)], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        direct = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(direct + "/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((self.data_dir / "server.log").read_text()[-4000:])
            time.sleep(0.1)
        self.direct = direct
        self.proxy.upstream_port = port

    def stop(self, *, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            if kill:
                self.proc.send_signal(signal.SIGKILL)
            else:
                self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Self:
        self.proxy.__enter__()
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.proxy.__exit__()

    def metric(self, name: str, **labels: str) -> float:
        text = httpx.get(self.direct + "/metrics", timeout=10).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total
