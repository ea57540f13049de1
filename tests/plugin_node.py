"""The npm reference libraries, driven through a real `node` process (never reimplemented)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
JS = Path(__file__).resolve().parent / "js"


class OzMerkle:
    """Runs tests/js/oz_merkle.js against node_modules/@openzeppelin/merkle-tree."""

    def __init__(self, node: str):
        self.node = node

    def run(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        proc = subprocess.run(
            [self.node, str(JS / "oz_merkle.js")],
            input=json.dumps(requests).encode(),
            capture_output=True,
            cwd=ROOT,
            timeout=600,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"node failed: {proc.stderr.decode()[-2000:]}")
        return json.loads(proc.stdout)

    def one(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.run([request])[0]


@pytest.fixture(scope="session")
def oz_merkle() -> OzMerkle:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules/@openzeppelin/merkle-tree").is_dir():
        pytest.fail("node and node_modules/@openzeppelin/merkle-tree are required: run `npm ci`")
    return OzMerkle(node)
