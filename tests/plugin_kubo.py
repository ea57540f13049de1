"""A real Kubo daemon for the test session: built (once, cached) from its Go module by
scripts/install_kubo.sh, `ipfs init --profile=test` in a temporary repo, `ipfs daemon --offline`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


class Kubo:
    def __init__(self, bin_path: str, ipfs_path: Path):
        self.bin = bin_path
        self.ipfs_path = ipfs_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.api = ""

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "IPFS_PATH": str(self.ipfs_path)}

    def cli(self, *args: str, check: bool = True, timeout: float = 600) -> str:
        out = subprocess.run([self.bin, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False)
        if check and out.returncode != 0:
            raise RuntimeError(f"ipfs {' '.join(args)} failed: {out.stderr}")
        return out.stdout

    def start(self) -> None:
        api_file = self.ipfs_path / "api"
        api_file.unlink(missing_ok=True)
        with open(self.ipfs_path / "daemon.log", "ab") as log:
            # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen([self.bin, "daemon", "--offline"], env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if api_file.exists() and api_file.read_text().strip():
                self.api = api_file.read_text().strip()
                try:
                    self.cli("version", timeout=10)
                    return
                except RuntimeError:
                    pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"kubo exited: {(self.ipfs_path / 'daemon.log').read_text()[-2000:]}")
            time.sleep(0.1)
        raise RuntimeError("kubo did not start within 60 s")

    def stop(self, *, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, *, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    def add_only_hash(self, path: Path, opts: dict[str, object]) -> str:
        flags = [f"--{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in opts.items()]
        return self.cli("add", "--only-hash", "-Q", *flags, str(path)).strip()


@pytest.fixture(scope="session")
def kubo_bin() -> str:
    out = subprocess.run(["bash", str(ROOT / "scripts/install_kubo.sh")], capture_output=True, text=True, timeout=3000,
                         check=False)
    if out.returncode != 0:
        pytest.fail(f"could not build/locate Kubo: {out.stderr[-2000:]}")
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def kubo(kubo_bin, tmp_path_factory):
    ipfs_path = tmp_path_factory.mktemp("kubo-repo")
    node = Kubo(kubo_bin, ipfs_path)
    node.cli("init", "--profile=test")
    node.start()
    yield node
    node.stop()
    shutil.rmtree(ipfs_path, ignore_errors=True)
