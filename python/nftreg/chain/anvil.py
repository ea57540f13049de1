"""A managed anvil devnet (the binary shipped in the npm package @foundry-rs/anvil) whose state
is persisted under a data directory and survives graceful and `kill -9` restarts."""

from __future__ import annotations

import os
import platform
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from nftreg.errors import ChainError

__all__ = ["ANVIL_DEV_KEY", "AnvilProcess", "anvil_binary"]

# anvil's first well-known development account: public test data, funded on every devnet.
ANVIL_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def anvil_binary() -> str:
    """Locate the anvil binary: $NFTREG_ANVIL, node_modules (project or cwd), then PATH."""
    env = os.environ.get("NFTREG_ANVIL")
    if env:
        return env
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "amd64")
    plat = {"Linux": "linux", "Darwin": "darwin"}.get(platform.system(), "linux")
    rel = Path("node_modules") / "@foundry-rs" / f"anvil-{plat}-{arch}" / "bin" / "anvil"
    for base in (Path(__file__).resolve().parents[3], Path.cwd()):
        if (base / rel).exists():
            return str(base / rel)
    found = shutil.which("anvil")
    if found:
        return found
    raise ChainError("anvil not found: run `npm install` (package @foundry-rs/anvil) or set NFTREG_ANVIL")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AnvilProcess:
    def __init__(self, state_dir: str | os.PathLike[str], *, port: int | None = None, chain_id: int = 31337,
                 block_time: float | None = None):
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_file = self.state_dir / "state.json"
        self.port = port or _free_port()
        self.chain_id = chain_id
        self.block_time = block_time
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        args = [anvil_binary(), "--host", "127.0.0.1", "--port", str(self.port), "--chain-id", str(self.chain_id),
                "--state", str(self.state_file), "--state-interval", "1", "--silent"]
        if self.block_time:
            args += ["--block-time", str(self.block_time)]
        log = open(self.state_dir / "anvil.log", "ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ChainError(f"anvil exited with {self.proc.returncode}; see {self.state_dir / 'anvil.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise ChainError(f"anvil did not open port {self.port} within {timeout} s")

    def stop(self, *, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, *, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()
