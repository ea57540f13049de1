"""One helper for the programs nftreg runs itself (anvil, Kubo): start, wait until ready, stop,
status, all under one state directory.

A ``ManagedProcess`` subclass names its program and says how to run it (``command``), what to
do first (``prepare``: create a repo, restore a state file) and when it is ready (by default:
its TCP port on 127.0.0.1 accepts connections). Output goes to ``STATE_DIR/<name>.log``. While
it runs, ``STATE_DIR/process.json`` records its pid, port and URL, so another nftreg process
(``nftreg devnet status`` / ``stop``) can find it: ``ManagedProcess.running(state_dir)``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from nftreg.errors import NftregError

__all__ = ["ManagedProcess", "free_port", "port_open"]

INFO_FILE = "process.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ManagedProcess:
    """A program nftreg starts in its own session, with its files under ``state_dir``."""

    name = "process"
    error: type[NftregError] = NftregError  # what start-up failures raise

    def __init__(self, state_dir: str | os.PathLike[str], *, port: int | None = None):
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    # -- what a subclass says ----------------------------------------------------------------
    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str] | None:
        return None

    def prepare(self) -> None:
        """Run before every start (create a repo, repair a state file)."""

    def is_ready(self) -> bool:
        return port_open(self.port)

    def on_ready(self) -> None:
        """Run once the process is ready (start helper threads)."""

    def info(self) -> dict[str, Any]:
        """What ``process.json`` records besides pid, port and URL."""
        return {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- the shared part ---------------------------------------------------------------------
    @property
    def log_file(self) -> Path:
        return self.state_dir / f"{self.name}.log"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, timeout: float = 30) -> None:
        """Start the program and wait until it is ready; raises ``self.error`` naming the log
        if it exits or is not ready within ``timeout`` seconds."""
        self.prepare()
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=log, env=self.environment(),
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                raise self.error(f"{self.name} exited with {code} at start-up; see {self.log_file}")
            if self.is_ready():
                self._write_info()
                self.on_ready()
                return
            time.sleep(0.05)
        self.stop(kill=True)
        raise self.error(f"{self.name} was not ready within {timeout:g} s; see {self.log_file}")

    def _write_info(self) -> None:
        assert self.proc is not None
        info = {"name": self.name, "pid": self.proc.pid, "port": self.port, "url": self.url, **self.info()}
        tmp = self.state_dir / (INFO_FILE + ".tmp")
        tmp.write_text(json.dumps(info))
        os.replace(tmp, self.state_dir / INFO_FILE)

    def stop(self, *, kill: bool = False, timeout: float = 20) -> None:
        """Stop the process this object started (SIGTERM, or SIGKILL with ``kill``)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            (self.state_dir / INFO_FILE).unlink(missing_ok=True)
        self.proc = None

    def restart(self, *, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    # -- a process another nftreg command started --------------------------------------------
    @staticmethod
    def running(state_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
        """``process.json`` of the process running under ``state_dir``, or None (a record whose
        pid is gone is stale and removed)."""
        f = Path(state_dir) / INFO_FILE
        try:
            info = json.loads(f.read_text())
            pid = int(info["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not _alive(pid):
            f.unlink(missing_ok=True)
            return None
        return dict(info)

    @staticmethod
    def stop_running(state_dir: str | os.PathLike[str], timeout: float = 20) -> bool:
        """SIGTERM the process running under ``state_dir`` and wait for it to exit. Returns
        whether one was running."""
        info = ManagedProcess.running(state_dir)
        if info is None:
            return False
        pid = int(info["pid"])
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        (Path(state_dir) / INFO_FILE).unlink(missing_ok=True)
        return True
