"""A real anvil devnet for the test session (the binary from the npm package @foundry-rs/anvil),
with its state persisted (--state, --state-interval 1) so restarts can be tested."""

from __future__ import annotations

import pytest
from nftreg.chain.anvil import ANVIL_DEV_KEY, AnvilProcess


class AnvilNode:
    def __init__(self, proc: AnvilProcess):
        self.proc = proc
        self.dev_key = ANVIL_DEV_KEY

    @property
    def url(self) -> str:
        return self.proc.url

    def restart(self, graceful: bool = True) -> None:
        self.proc.restart(kill=not graceful)

    def stop(self) -> None:
        self.proc.stop()


@pytest.fixture(scope="session")
def anvil(tmp_path_factory):
    proc = AnvilProcess(tmp_path_factory.mktemp("anvil"))
    proc.start()
    node = AnvilNode(proc)
    yield node
    proc.stop()
