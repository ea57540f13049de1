"""What `nftreg serve` / `nftreg demo` do when a part is missing, run as the real console
script: without anvil both run on the in-process chain after one warning; a chain RPC, Kubo or
PostgreSQL that cannot be reached is one line naming what, where and what to do, exit code 2,
never a traceback. Also `nftreg --version` and `open_store(url)`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from api_server import free_port, serve_process
from nftreg.errors import ConfigError
from nftreg.ipfs import EmbeddedStore, KuboStore, open_store

NFTREG = [sys.executable, "-m", "nftreg"]
NO_ANVIL = {"NFTREG_ANVIL": "/nonexistent/anvil"}  # an anvil that is not there


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NFTREG, *args], capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, **(env or {})})


def _one_line_exit_2(out: subprocess.CompletedProcess[str], *words: str) -> None:
    assert out.returncode == 2, (out.returncode, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nftreg: error: "), out.stderr
    assert "Traceback" not in out.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_serve_with_unreachable_rpc(tmp_path: Path):
    port = free_port()
    out = run("serve", "--data-dir", str(tmp_path), "--rpc-url", f"http://127.0.0.1:{port}")
    _one_line_exit_2(out, "chain RPC", f"http://127.0.0.1:{port}", "Connection refused", "--rpc-url")


def test_demo_with_unreachable_rpc(tmp_path: Path):
    port = free_port()
    out = run("demo", "--data-dir", str(tmp_path), "--chain", f"http://127.0.0.1:{port}", "--claims", "10")
    _one_line_exit_2(out, "chain RPC", f"http://127.0.0.1:{port}")


def test_serve_with_unreachable_kubo(tmp_path: Path):
    port = free_port()
    out = run("serve", "--data-dir", str(tmp_path), "--rpc-url", "tester://", "--ipfs-api", f"/ip4/127.0.0.1/tcp/{port}")
    _one_line_exit_2(out, "Kubo API", f"/ip4/127.0.0.1/tcp/{port}", "nftreg ipfs start", "NFTREG_IPFS_API")


def test_serve_with_unreachable_postgres(tmp_path: Path):
    port = free_port()
    url = f"postgresql+psycopg://nftreg:hunter2secret@127.0.0.1:{port}/nftreg"
    out = run("serve", "--data-dir", str(tmp_path), "--rpc-url", "tester://", "--database-url", url)
    _one_line_exit_2(out, "database", f"127.0.0.1:{port}/nftreg", "NFTREG_DATABASE_URL")
    assert "hunter2secret" not in out.stderr  # the password is not printed


def test_serve_without_anvil_runs_on_the_in_process_chain_with_one_warning(tmp_path: Path):
    with serve_process(tmp_path, env=NO_ANVIL) as (url, _proc):
        assert httpx.get(url + "/readyz", timeout=10).json()["status"] == "ready"
        assert httpx.get(url + "/healthz", timeout=10).status_code == 200
    log = (tmp_path / "server.log").read_text()
    warnings = [line for line in log.splitlines() if line.startswith("nftreg: warning:")]
    assert len(warnings) == 1 and "in-process chain" in warnings[0] and "persists" in warnings[0]
    assert "npm install -g @foundry-rs/anvil" in warnings[0] and "Traceback" not in log
    assert not (tmp_path / "nftreg.sqlite3").exists()  # the index lived with the chain, in a temporary directory


def test_serve_without_anvil_refuses_what_the_in_process_chain_cannot_do(tmp_path: Path):
    out = run("serve", "--data-dir", str(tmp_path), "--workers", "2", env=NO_ANVIL)
    _one_line_exit_2(out, "anvil not found", "several worker processes", "--rpc-url")


def test_demo_without_anvil_runs_on_the_in_process_chain_with_one_warning(tmp_path: Path):
    out = run("demo", "--data-dir", str(tmp_path), "--claims", "200", "--signatures", "20", "--json", env=NO_ANVIL)
    assert out.returncode == 0, out.stderr
    warnings = [line for line in out.stderr.splitlines() if line.startswith("nftreg: warning:")]
    assert len(warnings) == 1 and "in-process chain" in warnings[0], out.stderr
    report = json.loads(out.stdout)
    assert report["steps"][0]["chain"] == "tester://" and len(report["minted"]) == 3


def test_chain_commands_without_a_chain(tmp_path: Path):
    art = tmp_path / "art.bin"
    art.write_bytes(b"an asset")
    out = run("mint", str(art), "--name", "x", "--data-dir", str(tmp_path), env=NO_ANVIL)
    _one_line_exit_2(out, "anvil not found", "writes to a chain", "--rpc-url")
    port = free_port()
    out = run("mint", str(art), "--name", "x", "--data-dir", str(tmp_path), "--rpc-url", f"http://127.0.0.1:{port}")
    _one_line_exit_2(out, "chain RPC", f"http://127.0.0.1:{port}")
    out = run("mint", str(art), "--name", "x", "--data-dir", str(tmp_path), "--ipfs-api", f"/ip4/127.0.0.1/tcp/{port}",
              "--rpc-url", "tester://")
    _one_line_exit_2(out, "IPFS daemon", f"/ip4/127.0.0.1/tcp/{port}")


def test_version():
    out = run("--version")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    from nftreg import __version__

    assert lines[0].startswith(f"nftreg {__version__} (Rust core ")
    assert lines[1].startswith("cpu backends: ") and lines[2].startswith("cpu features detected: ")
    from nftreg.version import _core_function

    active = _core_function("keccak_backend")
    if active is not None:  # a core that reports its keccak backend names it
        assert f"keccak {active()}" in lines[1], lines[1]
    assert lines[3].startswith("contract NftRegistry: solc 0.8.30, OpenZeppelin Contracts 5.4.0")


def test_open_store_urls(tmp_path: Path):
    s = open_store(f"embedded://{tmp_path / 'blocks'}")
    assert isinstance(s, EmbeddedStore) and s.root == tmp_path / "blocks"
    cid = s.add_bytes("ขอนแก่น".encode())
    assert s.cat(cid) == "ขอนแก่น".encode() and s.is_pinned(cid)
    assert isinstance(open_store(api=None, data_dir=tmp_path), EmbeddedStore)  # the older form
    assert isinstance(open_store(api=f"embedded://{tmp_path}"), EmbeddedStore)  # a URL in NFTREG_IPFS_API
    k = open_store("kubo+http://127.0.0.1:5001")
    assert isinstance(k, KuboStore) and k.api == "/ip4/127.0.0.1/tcp/5001/http"
    with pytest.raises(ConfigError, match="needs \\?local=STORE_URL"):
        open_store("pinning+https://pins.example/psa")
    from nftreg.ipfs.remote import RemotePinStore

    os.environ["NFTREG_TEST_PIN_TOKEN"] = "t" * 20
    try:
        remote = open_store(f"pinning+https://pins.example/psa?local=embedded://{tmp_path / 'local'}"
                            "&token_env=NFTREG_TEST_PIN_TOKEN")
    finally:
        del os.environ["NFTREG_TEST_PIN_TOKEN"]
    assert isinstance(remote, RemotePinStore)
    with pytest.raises(ConfigError, match="unknown scheme 'ftp'"):
        open_store("ftp://x")
    with pytest.raises(ConfigError, match="needs a directory"):
        open_store("embedded://")


@pytest.mark.kubo
def test_open_store_kubo_url_talks_to_the_daemon(kubo):
    host_port = kubo.api.split("/")[2] + ":" + kubo.api.split("/")[4]
    store = open_store(f"kubo+http://{host_port}")
    cid = store.add_bytes("ภูเก็ต".encode())
    assert store.cat(cid) == "ภูเก็ต".encode() and store.is_pinned(cid)
