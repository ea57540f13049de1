"""A managed anvil devnet (the binary shipped in the npm package @foundry-rs/anvil) whose state
is persisted under a data directory and survives graceful and `kill -9` restarts. Start, wait,
stop and status come from ``nftreg.managed.ManagedProcess``."""

from __future__ import annotations

import json
import os
import platform
import shutil
import threading
from pathlib import Path

from nftreg.errors import ChainError
from nftreg.managed import ManagedProcess

__all__ = ["ANVIL_DEV_KEY", "AnvilProcess", "anvil_binary"]

# anvil's first well-known development account: public test data, funded on every devnet.
ANVIL_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def anvil_binary() -> str:
    """Locate the anvil binary: $NFTREG_ANVIL, node_modules (project or cwd), then PATH."""
    env = os.environ.get("NFTREG_ANVIL")
    if env:
        if not (os.path.isfile(env) and os.access(env, os.X_OK)):
            raise ChainError(f"anvil not found: NFTREG_ANVIL={env} is not an executable file")
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
    raise ChainError("anvil not found: install it (`npm install -g @foundry-rs/anvil`, or foundryup from "
                     "https://getfoundry.sh) or set NFTREG_ANVIL to its path")


class AnvilProcess(ManagedProcess):
    """anvil on 127.0.0.1 with ``--state STATE_DIR/state.json`` written every second."""

    name = "anvil"
    error = ChainError

    def __init__(self, state_dir: str | os.PathLike[str], *, port: int | None = None, chain_id: int = 31337,
                 block_time: float | None = None):
        super().__init__(state_dir, port=port)
        self.state_file = self.state_dir / "state.json"
        self.chain_id = chain_id
        self.block_time = block_time
        # anvil rewrites --state in place once a second; a kill -9 in the middle of a write
        # leaves it truncated and anvil refuses to start. A copy of the last state that parsed
        # is kept beside it (written atomically) and restored in that case.
        self.good_state = self.state_dir / "state.good.json"
        self._checkpoints: threading.Thread | None = None
        self._stop = threading.Event()
        self._checkpoint_lock = threading.Lock()
        self.restored_from_checkpoint = 0

    def _checkpoint(self) -> bool:
        """Copy state.json to state.good.json if it is complete JSON. Returns whether it was."""
        with self._checkpoint_lock:
            try:
                data = self.state_file.read_bytes()
                json.loads(data)
            except (OSError, ValueError):
                return False
            tmp = self.good_state.with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, self.good_state)
            return True

    def _recover_state(self) -> None:
        if not self.state_file.exists() or self._checkpoint():
            return
        if self.good_state.exists():
            os.replace(self.state_file, self.state_dir / "state.corrupt.json")
            self.state_file.write_bytes(self.good_state.read_bytes())
            self.restored_from_checkpoint += 1
        else:
            raise ChainError(f"{self.state_file} is not valid JSON (anvil was killed while writing it) "
                             "and there is no earlier checkpoint to restore")

    def _checkpoint_loop(self) -> None:
        while not self._stop.wait(1.0):
            self._checkpoint()

    def command(self) -> list[str]:
        args = [anvil_binary(), "--host", "127.0.0.1", "--port", str(self.port), "--chain-id", str(self.chain_id),
                "--state", str(self.state_file), "--state-interval", "1", "--silent"]
        if self.block_time:
            args += ["--block-time", str(self.block_time)]
        return args

    def prepare(self) -> None:
        self._recover_state()

    def on_ready(self) -> None:
        self._stop.clear()
        if self._checkpoints is None or not self._checkpoints.is_alive():
            self._checkpoints = threading.Thread(target=self._checkpoint_loop, daemon=True,
                                                 name="anvil-state-checkpoint")
            self._checkpoints.start()

    def info(self) -> dict[str, str]:
        return {"state": str(self.state_file)}

    def stop(self, *, kill: bool = False, timeout: float = 20) -> None:
        self._stop.set()
        super().stop(kill=kill, timeout=timeout)
